//! The shard's budget of open segment files: logs with far more segments
//! than the budget append, read, roll, recover and apply retention
//! correctly, reopening files as they need them, and the shard never holds
//! more segment files open than its budget once its IOs are done.

mod support;

use std::sync::atomic::Ordering;

use skein_engine::{
    set_shard_segment_files_max, shard_log_stats, shard_segment_files_open, FlushPolicy, LogConfig,
    PartitionLog,
};
use support::{batch, patched, read_all, run, small_config_with};

const BUDGET: usize = 4;
const LOGS: usize = 12;

fn reopens() -> u64 {
    shard_log_stats()
        .segment_file_reopens
        .load(Ordering::Relaxed)
}

fn assert_within_budget() {
    let open = shard_segment_files_open();
    assert!(open <= BUDGET, "{open} segment files open, budget {BUDGET}");
    assert_eq!(
        shard_log_stats().segment_files_open.load(Ordering::Relaxed),
        open as u64,
        "the gauge follows the count"
    );
}

async fn open_all(root: &std::path::Path, config: LogConfig) -> Vec<PartitionLog> {
    let mut logs = Vec::with_capacity(LOGS);
    for i in 0..LOGS {
        let log = PartitionLog::open(root.join(format!("t-{i}")), config)
            .await
            .expect("open");
        logs.push(log);
        assert_within_budget();
    }
    logs
}

#[test]
fn many_logs_append_read_and_restart_within_a_small_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    run(move || async move {
        set_shard_segment_files_max(BUDGET);
        for policy in [FlushPolicy::Batch, FlushPolicy::None] {
            let root = root.join(format!("{policy:?}"));
            // ~3 batches per segment: every log rolls several times.
            let config = small_config_with(policy, 12_000);
            let logs = open_all(&root, config).await;
            let mut expected: Vec<Vec<(i64, Vec<u8>)>> = vec![Vec::new(); LOGS];
            let before = reopens();
            for round in 0..8u64 {
                for (i, log) in logs.iter().enumerate() {
                    let b = batch(3, 1_000, round * 100 + i as u64);
                    let info = log.append(&b, 1, 0).await.expect("append");
                    expected[i].push((info.base_offset, patched(&b, info.base_offset, 1)));
                    assert_within_budget();
                }
            }
            assert!(logs.iter().all(|log| log.segment_count() >= 3));
            for (log, expected) in logs.iter().zip(&expected) {
                assert_eq!(&read_all(log, 0).await, expected);
                assert_within_budget();
            }
            assert!(
                reopens() > before,
                "round-robin appends over more active segments than the budget reopen files"
            );
            // A clean restart, then a crash (no close) and recovery.
            for log in logs {
                log.close().await.expect("close");
            }
            let logs = open_all(&root, config).await;
            for (log, expected) in logs.iter().zip(&expected) {
                assert_eq!(&read_all(log, 0).await, expected, "after a clean restart");
            }
            drop(logs);
            let logs = open_all(&root, config).await;
            for (log, expected) in logs.iter().zip(&expected) {
                assert_eq!(&read_all(log, 0).await, expected, "after recovery");
                assert_within_budget();
            }
            for log in logs {
                log.close().await.expect("close");
            }
        }
    });
}

#[test]
fn retention_and_truncation_work_on_closed_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    run(move || async move {
        set_shard_segment_files_max(BUDGET);
        let config = LogConfig {
            retention_bytes: 15_000,
            ..small_config_with(FlushPolicy::Batch, 12_000)
        };
        let logs = open_all(&root, config).await;
        let mut ends = Vec::with_capacity(LOGS);
        for log in &logs {
            let mut end = 0;
            for round in 0..10u64 {
                end = log
                    .append(&batch(3, 1_000, round), 1, 0)
                    .await
                    .expect("append")
                    .last_offset
                    + 1;
            }
            ends.push(end);
        }
        for (log, end) in logs.iter().zip(&ends) {
            log.enforce_retention(0).await.expect("retention");
            assert!(log.log_start_offset() > 0, "old segments went");
            assert_eq!(log.log_end_offset(), *end);
            assert_within_budget();
        }
        for log in &logs {
            // A follower's truncation into a sealed segment of a log whose
            // files the budget closed.
            let base = log.segment_base_offsets()[1];
            log.truncate_to(base + 1).await.expect("truncate");
            assert_eq!(
                log.log_end_offset(),
                base,
                "cut before the batch holding it"
            );
            let next = log
                .append(&batch(3, 1_000, 99), 1, 0)
                .await
                .expect("append after truncation");
            assert_eq!(next.base_offset, log.log_end_offset() - 3);
            assert_within_budget();
        }
        for log in logs {
            log.close().await.expect("close");
        }
    });
}
