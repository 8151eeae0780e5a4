//! Append, read, reopen, roll, retention and timestamp lookups on a real
//! directory.

mod support;

use skein_engine::{AppendError, FlushPolicy, LogConfig, PartitionLog, ReadError, TimestampType};
use support::{batch, patched, read_all, run, small_config, BatchBuilder};

#[test]
fn append_then_read_returns_identical_patched_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let log = PartitionLog::open(path.clone(), LogConfig::default())
            .await
            .expect("open");
        assert_eq!(log.log_end_offset(), 0);
        let first = batch(3, 100, 1);
        let second = batch(2, 5_000, 2);
        let info = log.append(&first, 7, 1_000).await.expect("append");
        assert_eq!(
            (info.base_offset, info.last_offset, info.record_count),
            (0, 2, 3)
        );
        assert_eq!(info.log_append_time_ms, -1);
        let info = log.append(&second, 7, 1_000).await.expect("append");
        assert_eq!((info.base_offset, info.last_offset), (3, 4));
        assert_eq!(log.durable_end_offset(), 5);
        let all = read_all(&log, 0).await;
        assert_eq!(
            all,
            vec![(0, patched(&first, 0, 7)), (3, patched(&second, 3, 7))]
        );
        log.close().await.expect("close");

        let log = PartitionLog::open(path.clone(), LogConfig::default())
            .await
            .expect("reopen");
        assert_eq!(log.log_end_offset(), 5);
        // After reopen the tail cache is empty: this reads from disk.
        let all = read_all(&log, 1).await;
        assert_eq!(
            all,
            vec![(0, patched(&first, 0, 7)), (3, patched(&second, 3, 7))]
        );
        let third = batch(1, 10, 3);
        let info = log
            .append(&third, 8, 1_000)
            .await
            .expect("append after reopen");
        assert_eq!(info.base_offset, 5);
        drop(log);
        // Unclean: no close.
        let log = PartitionLog::open(path, LogConfig::default())
            .await
            .expect("recover");
        assert_eq!(log.log_end_offset(), 6);
        assert_eq!(read_all(&log, 5).await, vec![(5, patched(&third, 5, 8))]);
    });
}

#[test]
fn multi_batch_append_is_all_or_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let log = PartitionLog::open(path, LogConfig::default())
            .await
            .expect("open");
        let good = batch(2, 10, 1);
        let mut bad = batch(2, 10, 2);
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let records = [good.clone(), bad].concat();
        let error = log.append(&records, 0, 0).await.expect_err("corrupt");
        assert!(
            matches!(error, AppendError::CorruptBatch { position, .. } if position == good.len())
        );
        assert_eq!(log.log_end_offset(), 0);
        let records = [good.clone(), good.clone()].concat();
        let info = log.append(&records, 0, 0).await.expect("two batches");
        assert_eq!(
            (info.base_offset, info.last_offset, info.record_count),
            (0, 3, 4)
        );
        let error = log.append(&[], 0, 0).await.expect_err("empty");
        assert!(matches!(error, AppendError::Empty));
    });
}

#[test]
fn too_large_batch_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = LogConfig {
            max_message_bytes: 1_000,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(path, config).await.expect("open");
        let error = log
            .append(&batch(1, 2_000, 1), 0, 0)
            .await
            .expect_err("too large");
        assert!(matches!(
            error,
            AppendError::BatchTooLarge { max: 1_000, .. }
        ));
    });
}

#[test]
fn read_out_of_range_and_at_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let log = PartitionLog::open(path, LogConfig::default())
            .await
            .expect("open");
        log.append(&batch(5, 10, 1), 0, 0).await.expect("append");
        let mut out = Vec::new();
        let info = log
            .read(5, 1_000, i64::MAX, &mut out)
            .await
            .expect("at end");
        assert_eq!(info.bytes, 0);
        assert!(out.is_empty());
        let error = log
            .read(6, 1_000, i64::MAX, &mut out)
            .await
            .expect_err("past end");
        assert!(matches!(
            error,
            ReadError::OffsetOutOfRange {
                requested: 6,
                log_end_offset: 5,
                ..
            }
        ));
        let error = log
            .read(-1, 1_000, i64::MAX, &mut out)
            .await
            .expect_err("negative");
        assert!(matches!(error, ReadError::OffsetOutOfRange { .. }));
        // max_offset bounds whole batches.
        let info = log.read(0, 1_000, 4, &mut out).await.expect("bounded");
        assert_eq!(info.bytes, 0);
    });
}

#[test]
fn rolls_segments_and_reads_across_them_from_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let log = PartitionLog::open(path.clone(), small_config(10_000))
            .await
            .expect("open");
        let mut expected = Vec::new();
        for i in 0..40u64 {
            let b = batch(3, 700, i);
            let info = log.append(&b, 1, 0).await.expect("append");
            expected.push((info.base_offset, patched(&b, info.base_offset, 1)));
        }
        let files = support::list(&path);
        assert!(
            files.iter().filter(|f| f.ends_with(".log")).count() > 5,
            "{files:?}"
        );
        log.close().await.expect("close");
        let log = PartitionLog::open(path.clone(), small_config(10_000))
            .await
            .expect("reopen");
        assert_eq!(read_all(&log, 0).await, expected);
        // Mid-batch offsets return the batch holding them.
        let all = read_all(&log, 61).await;
        assert_eq!(all[0].0, 60);
        drop(log);
        let log = PartitionLog::open(path, small_config(10_000))
            .await
            .expect("unclean reopen");
        assert_eq!(read_all(&log, 0).await, expected);
    });
}

#[test]
fn retention_and_delete_records_remove_whole_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = LogConfig {
            retention_bytes: 20_000,
            retention_ms: -1,
            ..small_config(10_000)
        };
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("open");
        for i in 0..40u64 {
            log.append(&batch(3, 700, i), 1, 0).await.expect("append");
        }
        log.enforce_retention(0).await.expect("retention");
        let start = log.log_start_offset();
        assert!(start > 0);
        let logs = support::list(&path)
            .into_iter()
            .filter(|f| f.ends_with(".log"))
            .count();
        assert!(logs <= 4, "{logs} segments left");
        let mut out = Vec::new();
        let error = log
            .read(start - 1, 100, i64::MAX, &mut out)
            .await
            .expect_err("below start");
        assert!(matches!(error, ReadError::OffsetOutOfRange { .. }));
        let new_start = log.delete_records(start + 10).await.expect("delete");
        assert_eq!(new_start, start + 10);
        assert!(log
            .delete_records(log.durable_end_offset() + 1)
            .await
            .is_err());
        assert_eq!(
            read_all(&log, new_start)
                .await
                .first()
                .map(|b| b.0 <= new_start),
            Some(true)
        );
        log.close().await.expect("close");
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("reopen");
        assert_eq!(log.log_start_offset(), new_start);
        // Time retention: everything sealed is older than now + 1 day.
        let config = LogConfig {
            retention_ms: 1_000,
            retention_bytes: -1,
            ..config
        };
        log.set_config(config);
        log.enforce_retention(1_700_000_000_000 + 86_400_000)
            .await
            .expect("retention");
        let logs = support::list(&path)
            .into_iter()
            .filter(|f| f.ends_with(".log"))
            .count();
        assert_eq!(logs, 1);
        log.remove().await.expect("remove");
        assert!(!path.exists());
    });
}

#[test]
fn offset_for_timestamp_is_exact_for_uncompressed_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let log = PartitionLog::open(path.clone(), small_config(2_000))
            .await
            .expect("open");
        for i in 0..20i64 {
            let b = BatchBuilder::new(10_000 + i * 100)
                .record(b"", &[0; 200], 0)
                .record(b"", &[1; 200], 10)
                .record(b"", &[2; 200], 20)
                .build();
            log.append(&b, 0, 0).await.expect("append");
        }
        assert_eq!(
            log.offset_for_timestamp(0).await.expect("lookup"),
            Some((0, 10_000))
        );
        assert_eq!(
            log.offset_for_timestamp(10_505).await.expect("lookup"),
            Some((16, 10_510))
        );
        assert_eq!(
            log.offset_for_timestamp(11_920).await.expect("lookup"),
            Some((59, 11_920))
        );
        assert_eq!(
            log.offset_for_timestamp(11_921).await.expect("lookup"),
            None
        );
        assert_eq!(log.max_timestamp(), Some((59, 11_920)));
        log.close().await.expect("close");
        let log = PartitionLog::open(path, small_config(2_000))
            .await
            .expect("reopen");
        assert_eq!(
            log.offset_for_timestamp(10_505).await.expect("lookup"),
            Some((16, 10_510))
        );
        assert_eq!(log.max_timestamp(), Some((59, 11_920)));
    });
}

#[test]
fn log_append_time_stamps_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(path, config).await.expect("open");
        let info = log
            .append(&batch(2, 10, 1), 0, 55_555)
            .await
            .expect("append");
        assert_eq!(info.log_append_time_ms, 55_555);
        let all = read_all(&log, 0).await;
        let header = skein_engine::BatchHeader::read(&all[0].1).expect("header");
        assert_eq!(header.max_timestamp.get(), 55_555);
        assert!(header.is_log_append_time());
        assert_eq!(
            log.offset_for_timestamp(55_000).await.expect("lookup"),
            Some((0, 55_555))
        );
    });
}

#[test]
fn flush_policies_acknowledge_and_survive_reopen() {
    for policy in [
        FlushPolicy::None,
        FlushPolicy::Interval { ms: 5 },
        FlushPolicy::Batch,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t-0");
        run(move || async move {
            let config = LogConfig {
                flush_policy: policy,
                ..LogConfig::default()
            };
            let log = std::rc::Rc::new(
                PartitionLog::open(path.clone(), config)
                    .await
                    .expect("open"),
            );
            let mut tasks = Vec::new();
            for i in 0..32u64 {
                let log = log.clone();
                tasks.push(glommio::spawn_local(async move {
                    log.append(&batch(4, 300, i), 0, 0).await
                }));
            }
            let mut bases = Vec::new();
            for task in tasks {
                bases.push(task.await.expect("append").base_offset);
            }
            bases.sort_unstable();
            assert_eq!(bases, (0..32).map(|i| i * 4).collect::<Vec<_>>());
            assert_eq!(log.durable_end_offset(), 128);
            glommio::timer::sleep(std::time::Duration::from_millis(20)).await;
            drop(log);
            let log = PartitionLog::open(path, config).await.expect("reopen");
            assert_eq!(log.log_end_offset(), 128);
            assert_eq!(read_all(&log, 0).await.len(), 32);
        });
    }
}

#[test]
fn overlapping_writes_from_a_full_buffer_keep_every_batch_in_order() {
    for policy in [FlushPolicy::None, FlushPolicy::Batch] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t-0");
        run(move || async move {
            let config = LogConfig {
                flush_policy: policy,
                ..LogConfig::default()
            };
            // Two pages of buffer for 64 appenders of ~1.2 KiB batches:
            // appends wait for room all the time, so writes are closed and
            // two are in flight.
            let tuning = skein_engine::LogTuning {
                write_buffer_bytes: 8 << 10,
                ..skein_engine::LogTuning::default()
            };
            let log = std::rc::Rc::new(
                PartitionLog::open_with(path.clone(), config, tuning)
                    .await
                    .expect("open"),
            );
            let mut tasks = Vec::new();
            for i in 0..64u64 {
                let log = log.clone();
                tasks.push(glommio::spawn_local(async move {
                    let mut acked = Vec::new();
                    for round in 0..8u64 {
                        let bytes =
                            batch(1 + (i % 3) as usize, 300 + (i * 13) as usize, i * 8 + round);
                        let info = log.append(&bytes, 0, 0).await.expect("append");
                        // Acknowledged means readable up to the durable end offset.
                        assert!(log.durable_end_offset() > info.last_offset);
                        acked.push((info.base_offset, bytes));
                    }
                    acked
                }));
            }
            let mut acked = Vec::new();
            for task in tasks {
                acked.extend(task.await);
            }
            acked.sort_by_key(|(base, _)| *base);
            let expected: Vec<(i64, Vec<u8>)> = acked
                .iter()
                .map(|(base, bytes)| (*base, patched(bytes, *base, 0)))
                .collect();
            let end = expected.last().map(|(base, bytes)| {
                base + i64::from(u32::from_be_bytes(bytes[57..61].try_into().expect("count")))
            });
            assert_eq!(Some(log.log_end_offset()), end);
            assert_eq!(read_all(&log, 0).await, expected, "{policy}");
            // Dropped without close (an unclean stop after every ack):
            // recovery finds every batch, byte for byte.
            drop(log);
            let log = PartitionLog::open(path, config).await.expect("reopen");
            assert_eq!(read_all(&log, 0).await, expected, "{policy} reopened");
        });
    }
}

#[test]
fn wait_for_append_resolves_when_durable_end_offset_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let log = std::rc::Rc::new(
            PartitionLog::open(path, LogConfig::default())
                .await
                .expect("open"),
        );
        let waiter = {
            let log = log.clone();
            glommio::spawn_local(async move {
                log.wait_for_append(0).await;
                log.durable_end_offset()
            })
        };
        // A cancelled wait leaves nothing behind.
        let cancelled = futures_lite::future::or(
            async {
                log.wait_for_append(100).await;
                false
            },
            async {
                glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
                true
            },
        );
        assert!(cancelled.await);
        log.append(&batch(1, 10, 1), 0, 0).await.expect("append");
        assert_eq!(waiter.await, 1);
    });
}

#[test]
fn segment_ms_rolls_by_wall_clock_of_first_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = LogConfig {
            segment_ms: 1_000,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("open");
        log.append(&batch(1, 10, 1), 0, 10_000)
            .await
            .expect("append");
        log.append(&batch(1, 10, 2), 0, 10_900)
            .await
            .expect("append");
        let logs = || {
            support::list(&path)
                .into_iter()
                .filter(|f| f.ends_with(".log"))
                .count()
        };
        assert_eq!(logs(), 1);
        log.append(&batch(1, 10, 3), 0, 11_001)
            .await
            .expect("append");
        assert_eq!(logs(), 2, "segment older than segment.ms rolls");
        assert_eq!(log.config().segment_ms, 1_000);
        log.set_config(LogConfig {
            segment_bytes: 14,
            ..config
        });
        log.append(&batch(1, 10, 4), 0, 11_002)
            .await
            .expect("append");
        assert_eq!(
            logs(),
            3,
            "a lowered segment.bytes applies to the next append"
        );
        assert_eq!(read_all(&log, 0).await.len(), 4);
    });
}

#[test]
fn tailing_readers_are_served_from_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let log = PartitionLog::open(path, LogConfig::default())
            .await
            .expect("open");
        log.append(&batch(2, 100, 1), 0, 0).await.expect("append");
        let mut out = Vec::new();
        // No reader yet: the batch was not cached, so this read goes to disk.
        log.read(0, 1 << 20, i64::MAX, &mut out)
            .await
            .expect("read");
        assert!(matches!(out.as_slice(), [skein_engine::LogChunk::Disk(_)]));
        // That read marked the tail as wanted: the next append is cached.
        log.append(&batch(2, 100, 2), 0, 0).await.expect("append");
        out.clear();
        log.read(2, 1 << 20, i64::MAX, &mut out)
            .await
            .expect("read");
        assert!(matches!(
            out.as_slice(),
            [skein_engine::LogChunk::Memory(_)]
        ));
        assert_eq!(out[0].clone().into_bytes().len(), out[0].len());
    });
}

#[test]
fn a_reader_waiting_at_the_end_gets_the_next_appends_from_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let log = PartitionLog::open(path, LogConfig::default())
            .await
            .expect("open");
        let mut out = Vec::new();
        // A caught-up consumer's fetch at the end returns nothing...
        let info = log
            .read(0, 1 << 20, i64::MAX, &mut out)
            .await
            .expect("read");
        assert_eq!((info.bytes, out.len()), (0, 0));
        // ...and marks the tail as wanted, so what it reads next is cached.
        log.append(&batch(2, 100, 1), 0, 0).await.expect("append");
        log.read(0, 1 << 20, i64::MAX, &mut out)
            .await
            .expect("read");
        assert!(matches!(
            out.as_slice(),
            [skein_engine::LogChunk::Memory(_)]
        ));
    });
}

#[test]
fn create_time_batches_outside_the_timestamp_bounds_are_refused_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = LogConfig {
            message_timestamp_before_max_ms: 1_000,
            message_timestamp_after_max_ms: 500,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(path, config).await.expect("open");
        let now_ms = 1_700_000_000_000;
        let at = |timestamp: i64| BatchBuilder::new(timestamp).record(b"k", b"v", 0).build();
        assert!(log.append(&at(now_ms - 1_000), 0, now_ms).await.is_ok());
        assert!(log.append(&at(now_ms + 500), 0, now_ms).await.is_ok());
        for (timestamp, direction) in [(now_ms - 1_001, "before"), (now_ms + 501, "after")] {
            match log.append(&at(timestamp), 0, now_ms).await {
                Err(AppendError::InvalidTimestamp {
                    timestamp: refused,
                    direction: refused_direction,
                    ..
                }) => {
                    assert_eq!(refused, timestamp);
                    assert_eq!(refused_direction, direction);
                }
                other => panic!("{timestamp}: {other:?}"),
            }
        }
        assert_eq!(
            log.log_end_offset(),
            2,
            "nothing of a refused batch was written"
        );
        // LogAppendTime stamps the broker's clock: nothing to bound.
        let stamped = LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            message_timestamp_before_max_ms: 1_000,
            ..LogConfig::default()
        };
        log.set_config(stamped);
        assert!(log.append(&at(0), 0, now_ms).await.is_ok());
    });
}

#[test]
fn retention_with_a_delete_delay_renames_segments_then_removes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = LogConfig {
            retention_bytes: 20_000,
            retention_ms: -1,
            file_delete_delay_ms: 200,
            ..small_config(10_000)
        };
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("open");
        for i in 0..40u64 {
            log.append(&batch(3, 700, i), 1, 0).await.expect("append");
        }
        let deleted = |path: &std::path::Path| {
            support::list(path)
                .into_iter()
                .filter(|f| f.ends_with(".log.deleted"))
                .count()
        };
        log.enforce_retention(0).await.expect("retention");
        assert!(log.log_start_offset() > 0);
        let renamed = deleted(&path);
        assert!(renamed > 0, "segments are renamed, not removed at once");
        glommio::timer::sleep(std::time::Duration::from_millis(400)).await;
        assert_eq!(deleted(&path), 0, "removed after the delay");
        // A crash before the delay ran out leaves .deleted files: the next
        // open removes them.
        for i in 40..80u64 {
            log.append(&batch(3, 700, i), 1, 0).await.expect("append");
        }
        log.enforce_retention(0).await.expect("retention");
        assert!(deleted(&path) > 0);
        let start = log.log_start_offset();
        drop(log);
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("reopen");
        assert_eq!(deleted(&path), 0);
        assert_eq!(log.log_start_offset(), start);
        log.close().await.expect("close");
    });
}
