//! `/metrics` and `/health` of a real `skein serve`, scraped around a
//! produce/consume run made with the CLI: counters are exact, histograms
//! have samples, and the text parses as Prometheus exposition format.
mod cli_support;

use std::io::{Read, Write};
use std::net::TcpStream;

use cli_support::Broker;

/// `GET path` on the admin listener: (status code, body).
fn get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect to the admin listener");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: skein\r\n\r\n").expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    (status, body.to_owned())
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, label: (&str, &str)) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|sample| sample.metric == name && sample.labels.get(label.0) == Some(label.1))
        .map(|sample| match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[test]
fn metrics_count_exactly_what_the_cli_produced_and_consumed() {
    let broker = Broker::start();
    let (status, body) = get(&broker.admin, "/health");
    assert_eq!((status, body.trim()), (200, "ready"));
    assert_eq!(get(&broker.admin, "/nope").0, 404);

    broker
        .cli(
            &["topic", "create", "metered", "-p", "4", "--format", "json"],
            "",
        )
        .json();
    const RECORDS: usize = 1234;
    let input: String = (0..RECORDS).map(|i| format!("k{i}|v{i}\n")).collect();
    let produced = broker
        .cli(
            &[
                "produce",
                "metered",
                "-K",
                "|",
                "--batch-records",
                "100",
                "--format",
                "json",
            ],
            &input,
        )
        .json();
    assert_eq!(produced["records"], RECORDS);
    let consumed = broker
        .cli(&["consume", "metered", "--format", "json"], "")
        .json_lines();
    assert_eq!(consumed.len(), RECORDS);

    let (status, text) = get(&broker.admin, "/metrics");
    assert_eq!(status, 200);
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    assert_eq!(
        value(
            &scrape,
            "skein_topic_records_in_total",
            ("topic", "metered")
        ),
        Some(RECORDS as f64),
        "{text}"
    );
    assert_eq!(
        value(
            &scrape,
            "skein_topic_records_out_total",
            ("topic", "metered")
        ),
        Some(RECORDS as f64),
        "{text}"
    );
    assert!(
        value(&scrape, "skein_topic_bytes_in_total", ("topic", "metered")).unwrap_or(0.0) > 0.0
    );
    assert!(value(&scrape, "skein_requests_total", ("api", "Produce")).unwrap_or(0.0) >= 13.0);
    let produce_latency = scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == "skein_request_latency_seconds"
                && sample.labels.get("api") == Some("Produce")
        })
        .expect("a Produce latency histogram");
    match &produce_latency.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let total = buckets.last().map_or(0.0, |bucket| bucket.count);
            assert!(total >= 13.0, "{buckets:?}");
        }
        other => panic!("not a histogram: {other:?}"),
    }
    let partitions: f64 = scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == "skein_partitions")
        .map(|sample| match sample.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum();
    assert!(partitions >= 4.0, "{text}");
    assert!(text.contains("skein_connections_open"), "{text}");
}
