//! Shard-wide statistics of the partition logs, for metrics: the latency of
//! the syncer's fdatasyncs, the read-ahead's windows, and the segment files
//! the shard holds open (`segment_files`).
//!
//! One [`LogStats`] per shard thread, reached through a thread-local rather
//! than threaded through `PartitionLog::open`: a shard is one thread, so the
//! thread-local *is* shard-local state, and every log the shard opens
//! records into it without a new parameter. Only that thread writes it;
//! whoever holds the `Arc` from [`shard_log_stats`] (the metrics registry)
//! reads it at scrape. Recording allocates nothing and takes no lock.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::latency_histogram::LatencyHistogram;

/// The log statistics of one shard. Written by: that shard's logs only.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Latency of each fdatasync the syncer issues (group commits under
    /// `flush = batch`, deadline syncs under `interval`), successful ones only.
    pub fsync: LatencyHistogram,
    /// Windows the read-ahead read from disk.
    pub read_ahead_windows_read: AtomicU64,
    /// Bytes of those windows (whole aligned reads): against the bytes the
    /// readers consumed, what the read-ahead read more than once.
    pub read_ahead_bytes_read: AtomicU64,
    /// Read-ahead windows a read took (the rest were dropped unused).
    pub read_ahead_windows_used: AtomicU64,
    /// Segment files the shard holds open now (a gauge): at most its
    /// budget (`log.open.files.max` split over the data shards) unless
    /// every open file is busy with an IO.
    pub segment_files_open: AtomicU64,
    /// Segment files reopened after the budget closed them: a count that
    /// climbs fast means the budget is too small for the working set.
    pub segment_file_reopens: AtomicU64,
}

/// What happened to a read-ahead window.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReadAheadEvent {
    /// A window of `bytes` landed.
    Read {
        bytes: u64,
    },
    Used,
}

thread_local! {
    static SHARD_LOG_STATS: Arc<LogStats> = Arc::new(LogStats::default());
}

/// This shard's (thread's) log statistics, for the metrics registry to read.
pub fn shard_log_stats() -> Arc<LogStats> {
    SHARD_LOG_STATS.with(Arc::clone)
}

/// Records one syncer fdatasync that took `elapsed`, on the calling shard.
pub(crate) fn record_fsync(elapsed: Duration) {
    SHARD_LOG_STATS.with(|stats| stats.fsync.record(elapsed));
}

/// Counts one read-ahead window `event` on the calling shard.
pub(crate) fn record_read_ahead(event: ReadAheadEvent) {
    // Single writer (this shard): a load and a store, no read-modify-write.
    let add = |counter: &AtomicU64, n: u64| {
        counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    };
    SHARD_LOG_STATS.with(|stats| match event {
        ReadAheadEvent::Read { bytes } => {
            add(&stats.read_ahead_windows_read, 1);
            add(&stats.read_ahead_bytes_read, bytes);
        }
        ReadAheadEvent::Used => add(&stats.read_ahead_windows_used, 1),
    });
}

/// Sets the calling shard's count of open segment files.
pub(crate) fn record_segment_files_open(files: usize) {
    // Segments dropped at thread exit may outlive the statistics (an
    // `AccessError`, not an IO error): nothing reads them any more.
    let _ = SHARD_LOG_STATS.try_with(|stats| {
        stats
            .segment_files_open
            .store(files as u64, Ordering::Relaxed);
    });
}

/// Counts one reopen of a segment file the budget had closed.
pub(crate) fn record_segment_file_reopen() {
    SHARD_LOG_STATS.with(|stats| {
        let reopens = &stats.segment_file_reopens;
        reopens.store(reopens.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_records_into_its_own_stats() {
        record_fsync(Duration::from_micros(70));
        let here = shard_log_stats();
        assert_eq!(here.fsync.snapshot().count(), 1);
        let elsewhere = std::thread::spawn(|| {
            let stats = shard_log_stats();
            let before = stats.fsync.snapshot().count();
            record_fsync(Duration::from_micros(70));
            (before, stats.fsync.snapshot().count())
        })
        .join()
        .expect("thread");
        assert_eq!(elsewhere, (0, 1));
        assert_eq!(
            here.fsync.snapshot().count(),
            1,
            "untouched by the other thread"
        );
    }
}
