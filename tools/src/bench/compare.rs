//! `skein bench --compare A.json B.json`: two runs' figures side by side,
//! series by series, with the ratio B / A of each (throughput and latency
//! percentiles), for before/after comparisons. It reads only the figures it
//! compares from the `--json` reports, so reports of older versions work
//! too, and it says where the two runs' options differ, because a ratio of
//! runs with different options compares the options, not the brokers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

/// The figures of one `--json` report that a comparison uses.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
struct RunFigures {
    command: String,
    valid: bool,
    #[serde(default)]
    configuration: serde_json::Value,
    series: Vec<SeriesFigures>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
struct SeriesFigures {
    name: String,
    records_per_s: f64,
    bytes_per_s: f64,
    latency: Option<LatencyFigures>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
struct LatencyFigures {
    p50_us: u64,
    p99_us: u64,
    p99_9_us: u64,
    p99_99_us: u64,
    max_us: u64,
}

/// One compared figure: its name, A's and B's values, in display units.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    series: String,
    figure: &'static str,
    a: f64,
    b: f64,
}

impl Row {
    /// B / A, or `None` when A is 0.
    fn ratio(&self) -> Option<f64> {
        (self.a != 0.0).then(|| self.b / self.a)
    }
}

/// Prints the comparison of the reports at `a` and `b`.
///
/// # Errors
/// A file that cannot be read or is not a `skein bench --json` report.
pub fn run(a: &Path, b: &Path) -> anyhow::Result<ExitCode> {
    let first = load(a)?;
    let second = load(b)?;
    print!("{}", render(a, &first, b, &second));
    Ok(ExitCode::SUCCESS)
}

fn load(path: &Path) -> anyhow::Result<RunFigures> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a `skein bench --json` report", path.display()))
}

/// Every figure both runs have, series matched by name, in A's order.
fn rows(a: &RunFigures, b: &RunFigures) -> Vec<Row> {
    let mut rows = Vec::new();
    for series_a in &a.series {
        let Some(series_b) = b.series.iter().find(|s| s.name == series_a.name) else {
            continue;
        };
        let mut row = |figure, a, b| {
            rows.push(Row {
                series: series_a.name.clone(),
                figure,
                a,
                b,
            });
        };
        row("records/s", series_a.records_per_s, series_b.records_per_s);
        row(
            "MB/s",
            series_a.bytes_per_s / 1e6,
            series_b.bytes_per_s / 1e6,
        );
        if let (Some(la), Some(lb)) = (&series_a.latency, &series_b.latency) {
            let ms = |us: u64| us as f64 / 1000.0;
            row("latency p50 ms", ms(la.p50_us), ms(lb.p50_us));
            row("latency p99 ms", ms(la.p99_us), ms(lb.p99_us));
            row("latency p99.9 ms", ms(la.p99_9_us), ms(lb.p99_9_us));
            row("latency p99.99 ms", ms(la.p99_99_us), ms(lb.p99_99_us));
            row("latency max ms", ms(la.max_us), ms(lb.max_us));
        }
    }
    rows
}

/// The options whose values differ between the runs (flattened keys of the
/// configuration, `a.b` for nested ones), in name order.
fn differing_options(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let mut flat_a = BTreeMap::new();
    let mut flat_b = BTreeMap::new();
    flatten("", a, &mut flat_a);
    flatten("", b, &mut flat_b);
    let names: BTreeSet<&String> = flat_a.keys().chain(flat_b.keys()).collect();
    names
        .into_iter()
        .filter(|name| flat_a.get(*name) != flat_b.get(*name))
        .cloned()
        .collect()
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, inner, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

fn render(a_path: &Path, a: &RunFigures, b_path: &Path, b: &RunFigures) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "A = {} ({})", a_path.display(), a.command);
    let _ = writeln!(out, "B = {} ({})", b_path.display(), b.command);
    for (name, run) in [("A", a), ("B", b)] {
        if !run.valid {
            let _ = writeln!(out, "warning: run {name} is INVALID (it had errors)");
        }
    }
    if a.command != b.command {
        let _ = writeln!(out, "warning: the runs are of different commands");
    }
    let differing = differing_options(&a.configuration, &b.configuration);
    if !differing.is_empty() {
        let _ = writeln!(out, "options that differ: {}", differing.join(", "));
    }
    let _ = writeln!(
        out,
        "{:<10} {:<18} {:>14} {:>14} {:>8}",
        "series", "figure", "A", "B", "B/A"
    );
    for row in rows(a, b) {
        let ratio = row
            .ratio()
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.3}"));
        let _ = writeln!(
            out,
            "{:<10} {:<18} {:>14.2} {:>14.2} {:>8}",
            row.series, row.figure, row.a, row.b, ratio
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(records_per_s: f64, p99_us: u64, batch_size: u64) -> RunFigures {
        serde_json::from_value(serde_json::json!({
            "command": "produce",
            "valid": true,
            "configuration": {"producer": {"batch_size": batch_size}, "topic": "t"},
            "series": [{
                "name": "produce",
                "records_per_s": records_per_s,
                "bytes_per_s": records_per_s * 1024.0,
                "latency": {"count": 10, "mean_us": 1.0, "min_us": 1, "p50_us": 500,
                            "p90_us": 900, "p99_us": p99_us, "p99_9_us": 2000,
                            "p99_99_us": 3000, "max_us": 4000},
                "errors": {}
            }],
            "problems": []
        }))
        .expect("a report")
    }

    #[test]
    fn ratios_are_b_over_a_per_series_figure() {
        let rows = rows(&report(1000.0, 1000, 16384), &report(1500.0, 800, 16384));
        let find = |figure| {
            rows.iter()
                .find(|r| r.figure == figure)
                .and_then(Row::ratio)
                .expect("the figure")
        };
        assert!((find("records/s") - 1.5).abs() < 1e-9);
        assert!((find("MB/s") - 1.5).abs() < 1e-9);
        assert!((find("latency p99 ms") - 0.8).abs() < 1e-9);
        assert_eq!(rows.len(), 7);
    }

    #[test]
    fn differing_options_are_named() {
        let a = report(1.0, 1, 16384);
        let b = report(1.0, 1, 262_144);
        assert_eq!(
            differing_options(&a.configuration, &b.configuration),
            ["producer.batch_size"]
        );
        assert!(differing_options(&a.configuration, &a.configuration).is_empty());
        let text = render(Path::new("a.json"), &a, Path::new("b.json"), &b);
        assert!(
            text.contains("options that differ: producer.batch_size"),
            "{text}"
        );
    }

    #[test]
    fn a_series_missing_from_b_is_left_out() {
        let a = report(1.0, 1, 1);
        let mut b = report(1.0, 1, 1);
        b.series[0].name = "consume".into();
        assert!(rows(&a, &b).is_empty());
    }
}
