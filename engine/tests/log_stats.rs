//! What a log reports for metrics: its size and segment count match the
//! segment files, and the shard's fdatasync histogram counts the syncer's
//! group commits under `flush = batch` and nothing under `none`.

mod support;

use skein_engine::{shard_log_stats, FlushPolicy, LogConfig, PartitionLog};
use support::{batch, run, small_config};

#[test]
fn size_and_segment_count_follow_appends_rolls_and_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let log = PartitionLog::open(path.clone(), small_config(10_000))
            .await
            .expect("open");
        assert_eq!((log.size_bytes(), log.segment_count()), (0, 1));
        let mut appended = 0u64;
        for i in 0..40u64 {
            let b = batch(3, 700, i);
            appended += b.len() as u64;
            log.append(&b, 1, 0).await.expect("append");
        }
        assert_eq!(log.size_bytes(), appended, "batches are stored verbatim");
        let files = support::list(&path);
        let log_files = files.iter().filter(|f| f.ends_with(".log")).count();
        assert!(log_files > 5, "{files:?}");
        assert_eq!(log.segment_count(), log_files);
        log.close().await.expect("close");
        let on_disk: u64 = std::fs::read_dir(&path)
            .expect("list")
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".log"))
            .map(|entry| entry.metadata().expect("metadata").len())
            .sum();
        assert_eq!(on_disk, appended, "sealed segments are cut to size");
        let log = PartitionLog::open(path, small_config(10_000))
            .await
            .expect("reopen");
        assert_eq!(log.size_bytes(), appended);
        assert_eq!(log.segment_count(), log_files);
    });
}

#[test]
fn batch_flush_records_fsync_latency_and_none_does_not() {
    for (policy, synced) in [(FlushPolicy::Batch, true), (FlushPolicy::None, false)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t-0");
        let samples = run(move || async move {
            let config = LogConfig {
                flush_policy: policy,
                ..LogConfig::default()
            };
            let stats = shard_log_stats();
            let before = stats.fsync.snapshot().count();
            let log = PartitionLog::open(path, config).await.expect("open");
            for i in 0..5u64 {
                log.append(&batch(2, 100, i), 0, 0).await.expect("append");
            }
            stats.fsync.snapshot().count() - before
        });
        if synced {
            assert!(samples >= 1, "{policy:?}: {samples}");
            assert!(samples <= 5, "one fdatasync per append at most");
        } else {
            assert_eq!(samples, 0, "{policy:?}");
        }
    }
}
