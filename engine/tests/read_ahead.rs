//! The log's read-ahead: sequential readers from disk take windows read
//! ahead for them and get exactly the bytes the log holds, also while the
//! active segment grows under them, after a seek, and across segments.

mod support;

use std::sync::atomic::Ordering;

use skein_engine::{shard_log_stats, FlushPolicy, LogChunk, LogTuning, PartitionLog};
use support::{batch, patched, read_all, run, small_config_with, split_batches};

fn windows() -> (u64, u64) {
    let stats = shard_log_stats();
    (
        stats.read_ahead_windows_read.load(Ordering::Relaxed),
        stats.read_ahead_windows_used.load(Ordering::Relaxed),
    )
}

#[test]
fn sequential_cold_reads_use_read_ahead_and_return_the_log_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = small_config_with(FlushPolicy::None, 400_000);
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("open");
        let mut expected = Vec::new();
        for i in 0..300u64 {
            let b = batch(4, 1_000 + (i as usize % 7) * 50, i);
            let info = log.append(&b, 2, 0).await.expect("append");
            expected.push((info.base_offset, patched(&b, info.base_offset, 2)));
        }
        log.close().await.expect("close");
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("reopen");
        assert_eq!(windows(), (0, 0));
        // 64 KiB reads of ~1.3 MB in ~400 KB segments: ~20 reads.
        assert_eq!(read_all(&log, 0).await, expected);
        let (read, used) = windows();
        assert!(used >= 12, "read {read} used {used}");
        assert!(
            read >= used && read <= used + 2 * 4,
            "read {read} used {used}"
        );
        // A seek while windows are read ahead of another position.
        let mut chunks: Vec<LogChunk> = Vec::new();
        let mut offset = 0;
        for _ in 0..3 {
            chunks.clear();
            log.read(offset, 64 * 1024, i64::MAX, &mut chunks)
                .await
                .expect("read");
            let batches = split_batches(chunks[0].as_slice());
            let (base, bytes) = batches.last().expect("a batch");
            offset = base + i64::from(i32::from_be_bytes(bytes[57..61].try_into().expect("4")));
        }
        for seek in [41, offset + 400, 2] {
            chunks.clear();
            log.read(seek, 64 * 1024, i64::MAX, &mut chunks)
                .await
                .expect("read");
            let first = &split_batches(chunks[0].as_slice())[0];
            let holding = expected
                .iter()
                .find(|(base, _)| *base <= seek && seek < base + 4)
                .expect("a batch holds it");
            assert_eq!(first, holding, "seek to {seek}");
        }
        // A seek mid-batch drops the chain and returns the batch holding it.
        let from_middle = read_all(&log, 601).await;
        assert_eq!(from_middle[0].0, 600);
        assert_eq!(from_middle, expected[150..]);
        let (_, used_after_seek) = windows();
        assert!(used_after_seek > used, "the second scan reads ahead too");
    });
}

/// Batches a little over half the read size: a window of the read size
/// holds one whole batch and most of the next. The next window starts at
/// the batch boundary the read ended on, so a window must end there too,
/// not re-read the cut-off batch (which read every byte ~1.7 times).
#[test]
fn read_ahead_windows_end_on_the_batch_boundary_their_read_ends_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = small_config_with(FlushPolicy::None, 8 << 20);
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("open");
        let mut log_bytes = 0u64;
        for i in 0..40u64 {
            let b = batch(75, 2_000, i);
            log_bytes += b.len() as u64;
            log.append(&b, 2, 0).await.expect("append");
        }
        log.close().await.expect("close");
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("reopen");
        let read_size = 256 * 1024;
        let mut chunks: Vec<LogChunk> = Vec::new();
        let (mut offset, mut batches) = (0, 0);
        while offset < log.durable_end_offset() {
            chunks.clear();
            log.read(offset, read_size, i64::MAX, &mut chunks)
                .await
                .expect("read");
            let read = split_batches(chunks[0].as_slice());
            assert_eq!(read.len(), 1, "one ~150 KB batch per 256 KiB read");
            batches += 1;
            offset = read[0].0 + 75;
        }
        assert_eq!(batches, 40);
        let stats = shard_log_stats();
        let window_bytes = stats.read_ahead_bytes_read.load(Ordering::Relaxed);
        let (read, used) = windows();
        assert!(used >= 35, "read {read} used {used}");
        // Each window reads its batch plus at most a page on either side.
        assert!(
            window_bytes <= log_bytes + read * 8192,
            "windows read {window_bytes} bytes for a {log_bytes}-byte log"
        );
    });
}

#[test]
fn read_ahead_of_the_active_segment_never_serves_bytes_appended_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = small_config_with(FlushPolicy::None, 1 << 30);
        // No tail cache: every read goes to disk, through the read-ahead.
        let tuning = LogTuning {
            write_buffer_bytes: 64 * 1024,
            tail_cache_bytes: 0,
            ..LogTuning::default()
        };
        let log = PartitionLog::open_with(path.clone(), config, tuning)
            .await
            .expect("open");
        let mut expected = Vec::new();
        let mut got = Vec::new();
        let mut offset = 0;
        let mut chunks: Vec<LogChunk> = Vec::new();
        for round in 0..200u64 {
            for i in 0..3 {
                let seed = round * 3 + i;
                let b = batch(
                    1 + (seed as usize % 3),
                    300 + (seed as usize * 37) % 900,
                    seed,
                );
                let info = log.append(&b, 0, 0).await.expect("append");
                expected.push((info.base_offset, patched(&b, info.base_offset, 0)));
            }
            // Two small reads per round: the reader trails the appends, so
            // windows land, the segment grows, and the reader takes them.
            for _ in 0..2 {
                if offset >= log.durable_end_offset() {
                    break;
                }
                chunks.clear();
                let info = log
                    .read(offset, 3_000, i64::MAX, &mut chunks)
                    .await
                    .expect("read");
                assert!(info.bytes > 0);
                for chunk in &chunks {
                    for (base, bytes) in split_batches(chunk.as_slice()) {
                        let records = i32::from_be_bytes(bytes[57..61].try_into().expect("4"));
                        offset = base + i64::from(records);
                        got.push((base, bytes));
                    }
                }
            }
        }
        got.extend(read_all(&log, offset).await);
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "every batch identical, in order");
        let (read, used) = windows();
        assert!(used > 50, "read {read} used {used}");
    });
}
