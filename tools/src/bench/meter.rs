//! What a worker measured: counts, a latency histogram and errors, per
//! connection. A worker adds to its [`Meter`] under an uncontended mutex;
//! once a second the collector swaps the [`Tally`] out, so each tally covers
//! one interval.
use std::collections::BTreeMap;
use std::sync::Mutex;

use hdrhistogram::Histogram;

/// Highest latency the histograms track, in microseconds (one hour).
pub const LATENCY_US_MAX: u64 = 3_600_000_000;

/// Significant decimal digits the histograms keep.
pub const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// A new, empty latency histogram in microseconds.
pub fn latency_histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_SIGNIFICANT_DIGITS)
        .expect("valid histogram bounds")
}

/// Counts and latencies over some interval.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Records delivered (acknowledged, or fetched).
    pub records: u64,
    /// Bytes delivered (see the series' `bytes_kind`).
    pub bytes: u64,
    /// Requests completed.
    pub requests: u64,
    /// Latencies in microseconds of records intended after the warm-up.
    pub latency_us: Histogram<u64>,
    /// Failed batches (partition responses) by Kafka error code.
    pub errors: BTreeMap<i16, u64>,
    /// Records in failed batches.
    pub failed_records: u64,
    /// Requests that got no response within the request timeout.
    pub timeouts: u64,
    /// Connection, framing and decoding failures.
    pub transport_errors: u64,
    /// The text of the last transport error.
    pub last_error: Option<String>,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            records: 0,
            bytes: 0,
            requests: 0,
            latency_us: latency_histogram(),
            errors: BTreeMap::new(),
            failed_records: 0,
            timeouts: 0,
            transport_errors: 0,
            last_error: None,
        }
    }
}

impl Tally {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Tally) {
        self.records += other.records;
        self.bytes += other.bytes;
        self.requests += other.requests;
        // Both histograms share the same bounds, so adding cannot fail.
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms with equal bounds");
        for (code, count) in &other.errors {
            *self.errors.entry(*code).or_default() += count;
        }
        self.failed_records += other.failed_records;
        self.timeouts += other.timeouts;
        self.transport_errors += other.transport_errors;
        if other.last_error.is_some() {
            self.last_error.clone_from(&other.last_error);
        }
    }

    /// Records one latency sample, clamped into the histogram's range.
    pub fn record_latency_us(&mut self, latency_us: u64) {
        let clamped = latency_us.clamp(1, LATENCY_US_MAX);
        // In range by construction.
        self.latency_us
            .record(clamped)
            .expect("latency within bounds");
    }

    /// Counts a transport failure.
    pub fn record_transport_error(&mut self, error: String) {
        self.transport_errors += 1;
        self.last_error = Some(error);
    }
}

/// One connection's running tally.
#[derive(Debug, Default)]
pub struct Meter {
    current: Mutex<Tally>,
}

impl Meter {
    /// Runs `update` on the current interval's tally.
    pub fn update<T>(&self, update: impl FnOnce(&mut Tally) -> T) -> T {
        let mut tally = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        update(&mut tally)
    }

    /// Ends the current interval: returns its tally and starts a new one.
    pub fn take(&self) -> Tally {
        // Allocate the fresh histogram outside the lock.
        let fresh = Tally::default();
        let mut tally = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        std::mem::replace(&mut *tally, fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_returns_the_interval_and_resets() {
        let meter = Meter::default();
        meter.update(|tally| {
            tally.records += 3;
            tally.record_latency_us(250);
        });
        let first = meter.take();
        assert_eq!(first.records, 3);
        assert_eq!(first.latency_us.len(), 1);
        let second = meter.take();
        assert_eq!(second.records, 0);
        assert!(second.latency_us.is_empty());
    }

    #[test]
    fn merge_adds_counts_errors_and_histograms() {
        let mut total = Tally::default();
        let mut part = Tally {
            records: 2,
            ..Tally::default()
        };
        part.errors.insert(6, 1);
        part.record_latency_us(0);
        part.record_latency_us(LATENCY_US_MAX * 2);
        total.merge(&part);
        total.merge(&part);
        assert_eq!(total.records, 4);
        assert_eq!(total.errors[&6], 2);
        assert_eq!(total.latency_us.len(), 4);
        assert_eq!(total.latency_us.min(), 1);
    }
}
