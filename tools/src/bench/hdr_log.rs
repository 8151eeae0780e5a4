//! The HDR histogram interval log: one latency histogram per series per
//! second, tagged with the series name, in the standard format that
//! HdrHistogram's log tools read (values in microseconds; the max column in
//! milliseconds).
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;

use super::timeline::Series;

/// Writes every kept interval histogram of `series` to `path`.
///
/// # Errors
/// File creation, write or serialisation failures.
pub fn write(path: &Path, series: &[Series], started_at: SystemTime) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut output = BufWriter::new(file);
    let mut serializer = V2DeflateSerializer::new();
    let mut intervals: Vec<(f64, f64, &str, &hdrhistogram::Histogram<u64>)> = series
        .iter()
        .flat_map(|one| {
            one.interval_histograms
                .iter()
                .flatten()
                .map(move |(start_s, length_s, histogram)| {
                    (*start_s, *length_s, one.name, histogram)
                })
        })
        .collect();
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment("skein bench latency histograms; values in microseconds")
            .with_start_time(started_at)
            .with_base_time(started_at)
            .with_max_value_divisor(1_000.0)
            .begin_log_with(&mut output, &mut serializer)
            .with_context(|| format!("write {}", path.display()))?;
        for (start_s, length_s, name, histogram) in intervals {
            writer
                .write_histogram(
                    histogram,
                    Duration::from_secs_f64(start_s),
                    Duration::from_secs_f64(length_s),
                    Tag::new(name),
                )
                .map_err(|error| anyhow::anyhow!("write {}: {error:?}", path.display()))?;
        }
    }
    output
        .flush()
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::meter::Meter;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use std::sync::Arc;

    #[test]
    fn the_log_holds_one_tagged_histogram_per_interval() {
        let meter = Arc::new(Meter::default());
        let mut series = Series::new(
            "e2e",
            "payload",
            Some("e2e"),
            vec![Arc::clone(&meter)],
            true,
        );
        for second in 0..3 {
            meter.update(|tally| tally.record_latency_us(1_000 + second));
            series.close_interval(second as f64, second as f64 + 1.0, true);
        }
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("run.hlog");
        write(&path, &[series], SystemTime::now()).unwrap();
        let text = std::fs::read(&path).unwrap();
        let histograms: Vec<_> = IntervalLogIterator::new(&text)
            .filter_map(|entry| match entry.unwrap() {
                LogEntry::Interval(interval) => Some(interval),
                _ => None,
            })
            .collect();
        assert_eq!(histograms.len(), 3);
        assert_eq!(histograms[1].tag().map(|tag| tag.as_str()), Some("e2e"));
        assert_eq!(histograms[2].start_timestamp(), Duration::from_secs(2));
    }
}
