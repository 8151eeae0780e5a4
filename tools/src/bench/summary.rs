//! The result of a run: per series throughput, latency percentiles and
//! errors, with the full configuration; printed for people and written as
//! JSON for machines. A run with any error is *invalid*: its summary says
//! so and the process exits non-zero.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::timeline::{Series, TimelinePoint};
use crate::client::error_code_name;

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Smallest sample.
    pub min_us: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p99_9_us: u64,
    /// 99.99th percentile.
    pub p99_99_us: u64,
    /// Largest sample.
    pub max_us: u64,
}

impl LatencySummary {
    /// Summarises `histogram`; `None` if it is empty.
    pub fn from_histogram(histogram: &Histogram<u64>) -> Option<Self> {
        if histogram.is_empty() {
            return None;
        }
        Some(Self {
            count: histogram.len(),
            mean_us: histogram.mean(),
            min_us: histogram.min(),
            p50_us: histogram.value_at_quantile(0.5),
            p90_us: histogram.value_at_quantile(0.9),
            p99_us: histogram.value_at_quantile(0.99),
            p99_9_us: histogram.value_at_quantile(0.999),
            p99_99_us: histogram.value_at_quantile(0.9999),
            max_us: histogram.max(),
        })
    }
}

/// One series' results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeriesSummary {
    /// `produce`, `consume` or `e2e`.
    pub name: String,
    /// What `bytes` counts: `payload` or `record_batches`.
    pub bytes_kind: String,
    /// What latency measures, if anything.
    pub latency_kind: Option<String>,
    /// Records delivered in the measured window.
    pub records: u64,
    /// Bytes delivered in the measured window.
    pub bytes: u64,
    /// Seconds the measured window covered.
    pub measured_seconds: f64,
    /// Records per second over the measured window.
    pub records_per_s: f64,
    /// Bytes per second over the measured window.
    pub bytes_per_s: f64,
    /// Records delivered over the whole run, warm-up and drain included.
    pub records_total: u64,
    /// Latency of records intended after the warm-up.
    pub latency: Option<LatencySummary>,
    /// Failed batches per Kafka error, keyed `NAME (code)`.
    pub errors: BTreeMap<String, u64>,
    /// Records in failed batches or abandoned on a failed connection.
    pub failed_records: u64,
    /// Requests without a response within the request timeout.
    pub timeouts: u64,
    /// Connection, framing and decoding failures.
    pub transport_errors: u64,
    /// The last transport error's text.
    pub last_error: Option<String>,
    /// One point per second.
    pub timeline: Vec<TimelinePoint>,
}

impl SeriesSummary {
    /// Summarises a finished series.
    pub fn from_series(series: &Series) -> Self {
        let seconds = series.measured_seconds.max(1e-9);
        Self {
            name: series.name.to_owned(),
            bytes_kind: series.bytes_kind.to_owned(),
            latency_kind: series.latency_kind.map(str::to_owned),
            records: series.measured_records,
            bytes: series.measured_bytes,
            measured_seconds: series.measured_seconds,
            records_per_s: series.measured_records as f64 / seconds,
            bytes_per_s: series.measured_bytes as f64 / seconds,
            records_total: series.all.records,
            latency: LatencySummary::from_histogram(&series.all.latency_us),
            errors: series
                .all
                .errors
                .iter()
                .map(|(code, count)| (format!("{} ({code})", error_code_name(*code)), *count))
                .collect(),
            failed_records: series.all.failed_records,
            timeouts: series.all.timeouts,
            transport_errors: series.all.transport_errors,
            last_error: series.all.last_error.clone(),
            timeline: series.points.clone(),
        }
    }

    /// Whether anything failed in this series.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
            || self.timeouts > 0
            || self.transport_errors > 0
            || self.failed_records > 0
    }
}

/// Everything a run produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// `produce`, `consume` or `e2e`.
    pub command: String,
    /// Version of the tool.
    pub tool_version: String,
    /// Wall-clock start, milliseconds since the UNIX epoch.
    pub started_at_unix_ms: u64,
    /// The topic used.
    pub topic: String,
    /// Its partition count.
    pub partitions: usize,
    /// Whether this run created it.
    pub topic_created: bool,
    /// Every option as given or defaulted.
    pub configuration: serde_json::Value,
    /// Whether Ctrl-C ended the load before `--duration` was over.
    pub interrupted: bool,
    /// Results per series.
    pub series: Vec<SeriesSummary>,
    /// Why the run is invalid; empty for a valid run.
    pub problems: Vec<String>,
    /// `problems.is_empty()`.
    pub valid: bool,
}

impl Report {
    /// Fills in `problems` and `valid` from the series.
    pub fn judge(&mut self) {
        for series in &self.series {
            if series.has_errors() {
                let mut problem = format!("{}: ", series.name);
                let mut parts = Vec::new();
                for (error, count) in &series.errors {
                    parts.push(format!("{count} × {error}"));
                }
                if series.timeouts > 0 {
                    parts.push(format!("{} timeouts", series.timeouts));
                }
                if series.transport_errors > 0 {
                    parts.push(format!(
                        "{} connection errors (last: {})",
                        series.transport_errors,
                        series.last_error.as_deref().unwrap_or("?")
                    ));
                }
                if series.failed_records > 0 {
                    parts.push(format!("{} records failed", series.failed_records));
                }
                problem.push_str(&parts.join(", "));
                self.problems.push(problem);
            }
            if series.records_total == 0 {
                self.problems
                    .push(format!("{}: no records delivered", series.name));
            }
        }
        self.valid = self.problems.is_empty();
    }

    /// The human summary, several lines.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        writeln!(
            text,
            "skein bench {}: topic {} ({} partitions{})",
            self.command,
            self.topic,
            self.partitions,
            if self.topic_created { ", created" } else { "" }
        )
        .expect("write to String");
        if self.interrupted {
            writeln!(text, "  interrupted: the load ended early (Ctrl-C)")
                .expect("write to String");
        }
        let settings = settings_line(&self.configuration);
        if !settings.is_empty() {
            writeln!(text, "  {settings}").expect("write to String");
        }
        for series in &self.series {
            writeln!(
                text,
                "  {:<8} {:>12} records/s  {:>9.2} MB/s ({})  {} records in {:.1} s",
                series.name,
                group_thousands(series.records_per_s.round() as u64),
                series.bytes_per_s / 1e6,
                series.bytes_kind.replace('_', " "),
                group_thousands(series.records),
                series.measured_seconds,
            )
            .expect("write to String");
            if let Some(latency) = &series.latency {
                writeln!(
                    text,
                    "  {:<8} {} latency ms: p50 {}  p90 {}  p99 {}  p99.9 {}  p99.99 {}  max {}  (mean {}, n {})",
                    "",
                    series.latency_kind.as_deref().unwrap_or(""),
                    millis(latency.p50_us),
                    millis(latency.p90_us),
                    millis(latency.p99_us),
                    millis(latency.p99_9_us),
                    millis(latency.p99_99_us),
                    millis(latency.max_us),
                    millis(latency.mean_us.round() as u64),
                    group_thousands(latency.count),
                )
            .expect("write to String");
            }
        }
        if self.valid {
            writeln!(text, "  errors: none").expect("write to String");
        } else {
            writeln!(text, "  INVALID RUN — errors:").expect("write to String");
            for problem in &self.problems {
                writeln!(text, "    {problem}").expect("write to String");
            }
        }
        text
    }
}

/// The producer and consumer settings as `name=value` pairs, one line.
fn settings_line(configuration: &serde_json::Value) -> String {
    let mut pairs = Vec::new();
    for section in ["producer", "consumer"] {
        let Some(options) = configuration
            .get(section)
            .and_then(serde_json::Value::as_object)
        else {
            continue;
        };
        for (name, value) in options {
            let value = match value {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Object(map) => compact_quantity(map),
                other => other.to_string(),
            };
            pairs.push(format!("{}={value}", name.replace('_', "-")));
        }
    }
    pairs.join(" ")
}

/// `{"fixed":100}` → `100`, `{"range":{"min":1,"max":9}}` → `1..9`,
/// `{"records_per_second":5.0}` → `5/s`, `{"bytes_per_second":5.0}` → `5B/s`.
fn compact_quantity(map: &serde_json::Map<String, serde_json::Value>) -> String {
    map.iter()
        .map(|(kind, amount)| match (kind.as_str(), amount) {
            ("range", serde_json::Value::Object(range)) => {
                format!(
                    "{}..{}",
                    range.get("min").unwrap_or(&serde_json::Value::Null),
                    range.get("max").unwrap_or(&serde_json::Value::Null)
                )
            }
            ("records_per_second", amount) => format!("{amount}/s"),
            ("bytes_per_second", amount) => format!("{amount}B/s"),
            (_, amount) => amount.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Microseconds as milliseconds with 3 decimals.
pub fn millis(us: u64) -> String {
    format!("{:.3}", us as f64 / 1_000.0)
}

/// `1234567` → `1,234,567`.
pub fn group_thousands(value: u64) -> String {
    let reversed: Vec<u8> = value.to_string().bytes().rev().collect();
    let groups: Vec<String> = reversed
        .chunks(3)
        .map(|group| group.iter().rev().map(|&digit| char::from(digit)).collect())
        .rev()
        .collect();
    groups.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::meter::{latency_histogram, Meter};
    use std::sync::Arc;

    fn report_with(series: Vec<SeriesSummary>) -> Report {
        let mut report = Report {
            command: "produce".to_owned(),
            tool_version: "0".to_owned(),
            started_at_unix_ms: 0,
            topic: "t".to_owned(),
            partitions: 1,
            topic_created: false,
            configuration: serde_json::json!({"acks": "1"}),
            interrupted: false,
            series,
            problems: Vec::new(),
            valid: false,
        };
        report.judge();
        report
    }

    fn series_with(update: impl FnOnce(&mut crate::bench::meter::Tally)) -> SeriesSummary {
        let meter = Arc::new(Meter::default());
        meter.update(update);
        let mut series = Series::new("produce", "payload", Some("ack"), vec![meter], false);
        series.close_interval(0.0, 2.0, true);
        SeriesSummary::from_series(&series)
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut histogram = latency_histogram();
        for us in 1..=10_000 {
            histogram.record(us).unwrap();
        }
        let summary = LatencySummary::from_histogram(&histogram).unwrap();
        assert_eq!(summary.count, 10_000);
        assert!(
            (4_990..=5_010).contains(&summary.p50_us),
            "{}",
            summary.p50_us
        );
        assert!(
            (9_890..=9_910).contains(&summary.p99_us),
            "{}",
            summary.p99_us
        );
        assert!(summary.p99_99_us <= summary.max_us);
        assert_eq!(summary.min_us, 1);
        assert_eq!(LatencySummary::from_histogram(&latency_histogram()), None);
    }

    #[test]
    fn a_run_with_kafka_errors_is_invalid_and_names_them() {
        let series = series_with(|tally| {
            tally.records = 10;
            tally.errors.insert(6, 2);
            tally.failed_records = 20;
        });
        let report = report_with(vec![series]);
        assert!(!report.valid);
        assert!(
            report.problems[0].contains("NOT_LEADER_OR_FOLLOWER (6)"),
            "{:?}",
            report.problems
        );
        assert!(report.to_text().contains("INVALID RUN"));
    }

    #[test]
    fn a_clean_run_is_valid_and_throughput_uses_the_measured_seconds() {
        let series = series_with(|tally| {
            tally.records = 1_000;
            tally.bytes = 100_000;
            tally.record_latency_us(1_500);
        });
        let report = report_with(vec![series]);
        assert!(report.valid, "{:?}", report.problems);
        assert_eq!(report.series[0].records_per_s, 500.0);
        assert!(report.to_text().contains("errors: none"));
    }

    #[test]
    fn json_has_configuration_series_latency_and_timeline() {
        let series = series_with(|tally| {
            tally.records = 1;
            tally.record_latency_us(42);
        });
        let json = serde_json::to_value(report_with(vec![series])).unwrap();
        assert_eq!(json["configuration"]["acks"], "1");
        assert_eq!(json["valid"], true);
        let series = &json["series"][0];
        for field in [
            "records_per_s",
            "bytes_per_s",
            "records",
            "bytes",
            "errors",
            "timeouts",
        ] {
            assert!(series.get(field).is_some(), "missing {field}");
        }
        for field in [
            "p50_us",
            "p90_us",
            "p99_us",
            "p99_9_us",
            "p99_99_us",
            "max_us",
        ] {
            assert_eq!(series["latency"][field], 42, "{field}");
        }
        assert_eq!(series["timeline"][0]["measured"], true);
    }

    #[test]
    fn the_settings_line_is_compact() {
        let configuration = serde_json::json!({
            "producer": {"acks": "all", "record_size": {"range": {"min": 100, "max": 1000}}, "rate": {"bytes_per_second": 5e7}},
            "run": {"warmup": 5},
        });
        assert_eq!(
            settings_line(&configuration),
            "acks=all rate=50000000.0B/s record-size=100..1000"
        );
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
    }
}
