//! A measured series over time: the collector thread closes one interval a
//! second, sums the series' meters into a [`TimelinePoint`], and keeps the
//! run's totals. Throughput counts only intervals inside the measured
//! window; latency samples were already filtered by intended time when
//! recorded, so every interval's histogram adds to the total.
use std::sync::Arc;

use hdrhistogram::Histogram;

use super::meter::{latency_histogram, Meter, Tally};

/// Throughput and latency over one interval.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TimelinePoint {
    /// End of the interval, seconds since load started.
    pub elapsed_s: f64,
    /// Whether the interval lies in the measured window (after warm-up, before the end).
    pub measured: bool,
    /// Records delivered per second.
    pub records_per_s: f64,
    /// Bytes delivered per second.
    pub bytes_per_s: f64,
    /// Median latency of the interval's samples, in microseconds.
    pub latency_p50_us: Option<u64>,
    /// 99th percentile latency of the interval's samples, in microseconds.
    pub latency_p99_us: Option<u64>,
    /// Largest latency of the interval's samples, in microseconds.
    pub latency_max_us: Option<u64>,
    /// Failed batches, timeouts and transport errors in the interval.
    pub errors: u64,
}

/// One stream of measurements (produce acknowledgements, consumed records).
#[derive(Debug)]
pub struct Series {
    /// Short name: `produce`, `consume`, `e2e`.
    pub name: &'static str,
    /// What `bytes` counts: `payload` (key + value) or `record_batches` (bytes fetched).
    pub bytes_kind: &'static str,
    /// What the latency measures, if the series has one.
    pub latency_kind: Option<&'static str>,
    meters: Vec<Arc<Meter>>,
    /// Everything over the whole run (warm-up, window and drain).
    pub all: Tally,
    /// Records and bytes inside the measured window.
    pub measured_records: u64,
    /// Bytes inside the measured window.
    pub measured_bytes: u64,
    /// Seconds of measured window covered by intervals.
    pub measured_seconds: f64,
    /// One point per interval.
    pub points: Vec<TimelinePoint>,
    /// Each interval's latency histogram with its start and length in
    /// seconds since load started, kept when an HDR log is wanted.
    pub interval_histograms: Option<Vec<(f64, f64, Histogram<u64>)>>,
}

impl Series {
    /// A series over `meters`.
    pub fn new(
        name: &'static str,
        bytes_kind: &'static str,
        latency_kind: Option<&'static str>,
        meters: Vec<Arc<Meter>>,
        keep_histograms: bool,
    ) -> Self {
        Self {
            name,
            bytes_kind,
            latency_kind,
            meters,
            all: Tally::default(),
            measured_records: 0,
            measured_bytes: 0,
            measured_seconds: 0.0,
            points: Vec::new(),
            interval_histograms: keep_histograms.then(Vec::new),
        }
    }

    /// Closes the interval `[start_s, end_s)` (seconds since load started)
    /// and returns its point.
    pub fn close_interval(&mut self, start_s: f64, end_s: f64, measured: bool) -> TimelinePoint {
        let mut interval = Tally::default();
        for meter in &self.meters {
            interval.merge(&meter.take());
        }
        let seconds = (end_s - start_s).max(1e-9);
        let latency = &interval.latency_us;
        let has_latency = !latency.is_empty();
        let point = TimelinePoint {
            elapsed_s: end_s,
            measured,
            records_per_s: interval.records as f64 / seconds,
            bytes_per_s: interval.bytes as f64 / seconds,
            latency_p50_us: has_latency.then(|| latency.value_at_quantile(0.5)),
            latency_p99_us: has_latency.then(|| latency.value_at_quantile(0.99)),
            latency_max_us: has_latency.then(|| latency.max()),
            errors: interval.errors.values().sum::<u64>()
                + interval.timeouts
                + interval.transport_errors,
        };
        if measured {
            self.measured_records += interval.records;
            self.measured_bytes += interval.bytes;
            self.measured_seconds += seconds;
        }
        if let Some(histograms) = &mut self.interval_histograms {
            let mut histogram = latency_histogram();
            // Same bounds: cannot fail.
            histogram
                .add(latency)
                .expect("histograms with equal bounds");
            histograms.push((start_s, seconds, histogram));
        }
        self.all.merge(&interval);
        self.points.push(point.clone());
        point
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_measured_intervals_count_toward_throughput_but_all_count_toward_latency() {
        let meter = Arc::new(Meter::default());
        let mut series = Series::new(
            "produce",
            "payload",
            Some("ack"),
            vec![Arc::clone(&meter)],
            true,
        );
        meter.update(|tally| {
            tally.records = 100;
            tally.bytes = 1_000;
        });
        let warmup = series.close_interval(0.0, 1.0, false);
        assert_eq!(warmup.records_per_s, 100.0);
        meter.update(|tally| {
            tally.records = 50;
            tally.bytes = 500;
            tally.record_latency_us(2_000);
        });
        let measured = series.close_interval(1.0, 1.5, true);
        assert_eq!(measured.records_per_s, 100.0);
        assert_eq!(measured.latency_p99_us, Some(2_000));
        assert_eq!(series.measured_records, 50);
        assert_eq!(series.measured_seconds, 0.5);
        assert_eq!(series.all.records, 150);
        assert_eq!(series.all.latency_us.len(), 1);
        assert_eq!(series.interval_histograms.as_ref().map(Vec::len), Some(2));
    }
}
