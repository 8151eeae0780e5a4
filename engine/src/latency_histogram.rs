//! A fixed-bucket latency histogram that one shard writes and any thread
//! reads (the admin listener, at scrape).
//!
//! Invariant: exactly one thread calls [`LatencyHistogram::record`] on a
//! given histogram (its owner shard), so every counter is updated with a
//! relaxed load and store — a plain `mov` on x86, no locked instruction and
//! no allocation. Readers see each counter's latest value; a scrape racing
//! a record may see the bucket before the sum, which Prometheus tolerates.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds (the last bucket, +Inf, is
/// implicit). From 50 µs (an fdatasync on NVMe) to 5 s.
pub const LATENCY_BUCKETS_US: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
    5_000_000,
];

/// Buckets including +Inf.
pub const LATENCY_BUCKETS: usize = LATENCY_BUCKETS_US.len() + 1;

const _: () = assert!(LATENCY_BUCKETS_US[0] > 0);

/// Adds `by` to a counter only this thread writes.
fn bump(counter: &AtomicU64, by: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

/// A latency histogram. Written by: one shard only. Read by: any thread.
#[derive(Debug)]
pub struct LatencyHistogram {
    sum_us: AtomicU64,
    /// Non-cumulative: bucket `i` counts samples in `(bound[i-1], bound[i]]`.
    buckets: [AtomicU64; LATENCY_BUCKETS],
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            sum_us: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A histogram's values at one instant, as read by [`LatencyHistogram::snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistogramSnapshot {
    /// Sum of the samples, in microseconds.
    pub sum_us: u64,
    /// Samples per bucket (not cumulative), the last being +Inf.
    pub counts: [u64; LATENCY_BUCKETS],
}

impl HistogramSnapshot {
    /// How many samples.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds `other`'s samples to these (merging shards at scrape).
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        self.sum_us = self.sum_us.wrapping_add(other.sum_us);
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine = mine.wrapping_add(theirs);
        }
    }
}

impl LatencyHistogram {
    /// Records one sample. Must be called from the histogram's owner shard
    /// only (see the module invariant).
    pub fn record(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BUCKETS_US.partition_point(|bound| *bound < micros);
        assert!(bucket < LATENCY_BUCKETS);
        bump(&self.sum_us, micros);
        bump(&self.buckets[bucket], 1);
    }

    /// The current values.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            sum_us: self.sum_us.load(Ordering::Relaxed),
            counts: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_land_in_the_first_bucket_whose_bound_holds_them() {
        let histogram = LatencyHistogram::default();
        histogram.record(Duration::from_micros(50));
        histogram.record(Duration::from_micros(51));
        histogram.record(Duration::from_secs(60));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.counts[0], 1, "50 µs is within the 50 µs bound");
        assert_eq!(snapshot.counts[1], 1);
        assert_eq!(snapshot.counts[LATENCY_BUCKETS - 1], 1, "+Inf");
        assert_eq!(snapshot.count(), 3);
        assert_eq!(snapshot.sum_us, 50 + 51 + 60_000_000);
    }

    #[test]
    fn merging_snapshots_adds_counts_and_sums() {
        let first = LatencyHistogram::default();
        let second = LatencyHistogram::default();
        first.record(Duration::from_micros(10));
        second.record(Duration::from_millis(3));
        let mut merged = first.snapshot();
        merged.merge(&second.snapshot());
        assert_eq!(merged.count(), 2);
        assert_eq!(merged.sum_us, 3_010);
        assert_eq!(merged.counts[0], 1);
        assert_eq!(merged.counts[6], 1, "3 ms falls in (2.5 ms, 5 ms]");
    }
}
