//! `/metrics` and `/health` of a real `skein serve`, scraped around a
//! produce/consume run made with the CLI: counters are exact, histograms
//! have samples, and the text parses as Prometheus exposition format.
mod cli_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use cli_support::Broker;

/// `GET path` on the admin listener: (status code, body).
fn get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect to the admin listener");
    // Connection: close: the endpoint keeps HTTP/1.1 connections alive,
    // and this reads the response to the end of the stream.
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: skein\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
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
    labelled(scrape, name, &[label])
}

/// The value of the counter or gauge `name` whose labels include `labels`.
fn labelled(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == name
                && labels
                    .iter()
                    .all(|(key, want)| sample.labels.get(key) == Some(want))
        })
        .map(|sample| match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

/// The sum of every sample of the counter or gauge `name`.
fn total(scrape: &prometheus_parse::Scrape, name: &str) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == name)
        .map(|sample| match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// Samples of the histogram `name` whose labels include `labels`, summed
/// over its series (the +Inf bucket of each).
fn histogram_count(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|sample| {
            sample.metric == name
                && labels
                    .iter()
                    .all(|(key, want)| sample.labels.get(key) == Some(want))
        })
        .map(|sample| match &sample.value {
            prometheus_parse::Value::Histogram(buckets) => {
                buckets.last().map_or(0.0, |bucket| bucket.count)
            }
            other => panic!("{name} is not a histogram: {other:?}"),
        })
        .sum()
}

/// Scrapes `/metrics` and parses it.
fn scrape_metrics(broker: &Broker) -> (prometheus_parse::Scrape, String) {
    let (status, text) = get(&broker.admin, "/metrics");
    assert_eq!(status, 200);
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    (parsed, text)
}

/// `(segment files, their bytes)` of `data_dir/<topic>-<partition>/`.
fn log_files(broker: &Broker, topic: &str, partition: i32) -> (usize, u64) {
    let dir = broker.data_dir().join(format!("{topic}-{partition}"));
    let mut files = 0;
    let mut bytes = 0;
    for entry in std::fs::read_dir(&dir).expect("the partition directory") {
        let entry = entry.expect("a directory entry");
        if entry.file_name().to_string_lossy().ends_with(".log") {
            files += 1;
            bytes += entry.metadata().expect("metadata").len();
        }
    }
    (files, bytes)
}

/// Creates `topic` with `partitions`, produces `records` keyed records with
/// acks=all in Produce requests of `batch_records`, consumes them all, and
/// returns the produce summary (JSON).
fn produce_and_consume(
    broker: &Broker,
    topic: &str,
    partitions: u32,
    records: usize,
    batch_records: u32,
) -> serde_json::Value {
    let partitions = partitions.to_string();
    broker
        .cli(
            &[
                "topic",
                "create",
                topic,
                "-p",
                &partitions,
                "--format",
                "json",
            ],
            "",
        )
        .json();
    let input: String = (0..records).map(|i| format!("k{i}|v{i}\n")).collect();
    let batch_records = batch_records.to_string();
    let produced = broker
        .cli(
            &[
                "produce",
                topic,
                "-K",
                "|",
                "--acks",
                "all",
                "--batch-records",
                &batch_records,
                "--format",
                "json",
            ],
            &input,
        )
        .json();
    assert_eq!(produced["records"], records);
    let consumed = broker
        .cli(&["consume", topic, "--format", "json"], "")
        .json_lines();
    assert_eq!(consumed.len(), records);
    produced
}

#[test]
fn metrics_count_exactly_what_the_cli_produced_and_consumed() {
    let broker = Broker::start();
    // The Kafka listener accepts while the shards still recover their logs;
    // /health turns ready once they have (503 until then).
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, body) = get(&broker.admin, "/health");
        if status == 200 || Instant::now() >= deadline {
            break (status, body);
        }
        assert_eq!((status, body.trim()), (503, "starting or stopping"));
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!((status, body.trim()), (200, "ready"));
    assert_eq!(get(&broker.admin, "/nope").0, 404);

    const RECORDS: usize = 1234;
    produce_and_consume(&broker, "metered", 4, RECORDS, 100);

    let (scrape, text) = scrape_metrics(&broker);
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
    assert!(
        histogram_count(
            &scrape,
            "skein_request_latency_seconds",
            &[("api", "Produce")]
        ) >= 13.0,
        "{text}"
    );
    assert!(total(&scrape, "skein_partitions") >= 4.0, "{text}");
    assert!(text.contains("skein_connections_open"), "{text}");
    // The per-shard families add up to the per-API and per-topic ones.
    assert_eq!(
        total(&scrape, "skein_shard_requests_total"),
        total(&scrape, "skein_requests_total"),
        "{text}"
    );
    assert_eq!(
        total(&scrape, "skein_shard_bytes_in_total"),
        total(&scrape, "skein_topic_bytes_in_total"),
        "{text}"
    );
    assert_eq!(
        total(&scrape, "skein_shard_bytes_out_total"),
        total(&scrape, "skein_topic_bytes_out_total"),
        "{text}"
    );
    assert!(
        total(&scrape, "skein_shard_bytes_out_total") > 0.0,
        "{text}"
    );

    assert_eq!(total(&scrape, "skein_under_replicated_partitions"), 0.0);
    assert!(total(&scrape, "skein_partition_leaders") >= 4.0, "{text}");
}

#[test]
fn engine_group_and_error_metrics_match_the_broker_state() {
    let broker = Broker::start();
    const RECORDS: usize = 900;
    let produced = produce_and_consume(&broker, "ledger", 3, RECORDS, 50);
    // A group with a known committed offset in every partition.
    const COMMITTED: i64 = 100;
    let committed = COMMITTED.to_string();
    broker
        .cli(
            &[
                "group",
                "reset-offsets",
                "auditors",
                "-t",
                "ledger",
                "--to-offset",
                &committed,
                "--execute",
                "--format",
                "json",
            ],
            "",
        )
        .json();

    let (scrape, text) = scrape_metrics(&broker);
    // Produce-to-ack: one sample per Produce request, all with acks=all.
    let produce_requests = value(&scrape, "skein_requests_total", ("api", "Produce"))
        .expect("Produce requests counted");
    assert!(produce_requests >= (RECORDS / 50) as f64, "{text}");
    assert_eq!(
        histogram_count(
            &scrape,
            "skein_produce_ack_latency_seconds",
            &[("acks", "all")]
        ),
        produce_requests,
        "{text}"
    );
    // flush.policy=batch (the default): the syncer fdatasynced.
    assert!(
        histogram_count(&scrape, "skein_log_fsync_latency_seconds", &[]) >= 1.0,
        "{text}"
    );
    // Log size and segments per partition against the files on disk.
    let mut expected_lag = 0i64;
    let mut log_bytes = 0.0;
    for partition in 0..3 {
        let index = partition.to_string();
        let labels = [("topic", "ledger"), ("partition", index.as_str())];
        let size = labelled(&scrape, "skein_log_size_bytes", &labels).expect("a log size");
        let segments = labelled(&scrape, "skein_log_segments", &labels).expect("a segment count");
        let (files, bytes) = log_files(&broker, "ledger", partition);
        assert!(segments >= 1.0);
        assert_eq!(segments, files as f64, "partition {partition}");
        // The active segment's file is page-aligned on disk (direct IO).
        assert!(
            size <= bytes as f64,
            "partition {partition}: {size} > {bytes}"
        );
        log_bytes += size;
        let records = produced["partitions"][&index]["records"]
            .as_i64()
            .unwrap_or(0);
        expected_lag += (records - COMMITTED).max(0);
    }
    assert!(expected_lag > 0, "the test commits below the log ends");
    assert_eq!(
        Some(log_bytes),
        value(&scrape, "skein_topic_bytes_in_total", ("topic", "ledger")),
        "logs hold exactly the produced batches: {text}"
    );
    // Consumer groups: one, Empty (no members), lagging by exactly N - committed.
    assert_eq!(
        value(&scrape, "skein_consumer_groups", ("state", "Empty")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(total(&scrape, "skein_consumer_groups"), 1.0, "{text}");
    assert_eq!(
        value(&scrape, "skein_consumer_group_lag", ("group", "auditors")),
        Some(expected_lag as f64),
        "{text}"
    );
    // Cross-shard traffic (images, group commits) is counted and timed.
    assert!(
        text.contains("skein_cross_shard_calls_in_flight{"),
        "{text}"
    );
    assert!(
        histogram_count(&scrape, "skein_cross_shard_call_latency_seconds", &[]) >= 1.0,
        "{text}"
    );

    // One refused CreateTopics moves its error counter by exactly one.
    let error = [("api", "CreateTopics"), ("error", "TOPIC_ALREADY_EXISTS")];
    let before = labelled(&scrape, "skein_request_errors_total", &error).unwrap_or(0.0);
    let again = broker.cli(&["topic", "create", "ledger", "-p", "3"], "");
    assert_ne!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("TOPIC_ALREADY_EXISTS"),
        "{}",
        again.stderr
    );
    let (after, text) = scrape_metrics(&broker);
    assert_eq!(
        labelled(&after, "skein_request_errors_total", &error),
        Some(before + 1.0),
        "{text}"
    );
}
