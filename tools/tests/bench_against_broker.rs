//! `skein bench` against a real `skein serve`: every subcommand runs clean,
//! and what is produced is what is consumed. Skipped, with a message, only
//! while `skein serve` cannot start a broker yet.
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `skein serve` on a free port in a temporary directory, killed on drop.
struct Broker {
    child: Child,
    bootstrap: String,
    directory: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        // The broker may have exited already; the test is over either way.
        if let Err(error) = self.child.kill() {
            eprintln!("kill skein serve: {error}");
        }
        if let Err(error) = self.child.wait() {
            eprintln!("wait for skein serve: {error}");
        }
    }
}

fn skein() -> &'static str {
    env!("CARGO_BIN_EXE_skein")
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Starts `skein serve`, or returns `None` (the caller skips) when it exits
/// without listening, as the stub does before the broker lands.
fn start_broker() -> Option<Broker> {
    let directory = tempfile::tempdir().expect("temporary directory");
    let port = free_port();
    let data = directory.path().join("data");
    let log = std::fs::File::create(directory.path().join("serve.log")).expect("serve log");
    let mut child = Command::new(skein())
        .args(serve_args(port, &data))
        .current_dir(directory.path())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn skein serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("poll skein serve") {
            let log =
                std::fs::read_to_string(directory.path().join("serve.log")).unwrap_or_default();
            eprintln!(
                "SKIPPED: `skein serve` exited ({status}) instead of serving, so the broker is not \
                 built yet; `skein bench` was not run against it. Its output:\n{log}"
            );
            return None;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(Broker {
                child,
                bootstrap: format!("127.0.0.1:{port}"),
                directory,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = child.kill();
    let waited = child.wait();
    panic!("skein serve did not listen on port {port} within 20 s (kill: {killed:?}, wait: {waited:?})");
}

fn serve_args(port: u16, data: &Path) -> Vec<String> {
    vec![
        "serve".to_owned(),
        "--listen".to_owned(),
        format!("127.0.0.1:{port}"),
        "--data-dir".to_owned(),
        data.display().to_string(),
    ]
}

/// Runs `skein bench <args> --json FILE` and returns the exit success and the report.
fn bench(broker: &Broker, args: &[&str]) -> (bool, serde_json::Value) {
    let directory = tempfile::tempdir().expect("temporary directory");
    let json: PathBuf = directory.path().join("report.json");
    let output = Command::new(skein())
        .arg("bench")
        .args(args)
        .args(["-b", &broker.bootstrap, "--json"])
        .arg(&json)
        .output()
        .expect("run skein bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("skein bench {}:\n{stdout}{stderr}", args.join(" "));
    if !output.status.success() {
        // What the broker said is what explains a failed run.
        let log =
            std::fs::read_to_string(broker.directory.path().join("serve.log")).unwrap_or_default();
        eprintln!("skein serve log:\n{log}");
    }
    let report = std::fs::read_to_string(&json)
        .map(|text| serde_json::from_str(&text).expect("the JSON report parses"))
        .unwrap_or_else(|error| panic!("no JSON report ({error}); stderr: {stderr}"));
    (output.status.success(), report)
}

fn series<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["series"]
        .as_array()
        .and_then(|all| all.iter().find(|series| series["name"] == name))
        .unwrap_or_else(|| panic!("no {name} series in {report}"))
}

#[test]
fn produced_records_are_all_consumed_and_runs_are_valid() {
    let Some(broker) = start_broker() else { return };
    let (ok, produced) = bench(
        &broker,
        &[
            "produce",
            "--topic",
            "bench-it-count",
            "--partitions",
            "3",
            "--rate",
            "3000",
            "--keys",
            "random",
            "--warmup",
            "0",
            "--duration",
            "2",
        ],
    );
    assert!(ok, "produce run failed: {}", produced["problems"]);
    assert_eq!(produced["valid"], true);
    let acknowledged = series(&produced, "produce")["records_total"]
        .as_u64()
        .unwrap();
    assert!(
        acknowledged >= 5_000,
        "only {acknowledged} records acknowledged"
    );
    assert!(
        series(&produced, "produce")["latency"]["p99_us"]
            .as_u64()
            .unwrap()
            > 0
    );

    let (ok, consumed) = bench(
        &broker,
        &[
            "consume",
            "--topic",
            "bench-it-count",
            "--from",
            "earliest",
            "--until-end",
            "--warmup",
            "0",
            "--duration",
            "30",
        ],
    );
    assert!(ok, "consume run failed: {}", consumed["problems"]);
    assert_eq!(
        series(&consumed, "consume")["records_total"].as_u64(),
        Some(acknowledged)
    );
}

#[test]
fn end_to_end_latency_is_measured_with_compression_and_acks_all() {
    let Some(broker) = start_broker() else { return };
    for compression in ["lz4", "zstd"] {
        let topic = format!("bench-it-e2e-{compression}");
        let (ok, report) = bench(
            &broker,
            &[
                "e2e",
                "--topic",
                &topic,
                "--partitions",
                "4",
                "--rate",
                "2000",
                "--acks",
                "all",
                "--compression",
                compression,
                "--linger-ms",
                "2",
                "--warmup",
                "1",
                "--duration",
                "2",
            ],
        );
        assert!(ok, "e2e run failed: {}", report["problems"]);
        let e2e = series(&report, "e2e");
        assert!(e2e["latency"]["count"].as_u64().unwrap() > 1_000, "{e2e}");
        assert!(
            e2e["latency"]["p50_us"].as_u64().unwrap() < 1_000_000,
            "{e2e}"
        );
        assert_eq!(
            e2e["records_total"].as_u64(),
            series(&report, "produce")["records_total"].as_u64(),
            "every acknowledged record was consumed"
        );
    }
}

#[test]
fn max_rate_produce_with_acks_zero_reports_throughput() {
    let Some(broker) = start_broker() else { return };
    let (ok, report) = bench(
        &broker,
        &[
            "produce",
            "--topic",
            "bench-it-acks0",
            "--acks",
            "0",
            "--record-size",
            "100..1000",
            "--warmup",
            "0",
            "--duration",
            "1",
        ],
    );
    assert!(ok, "produce run failed: {}", report["problems"]);
    assert!(
        series(&report, "produce")["records_per_s"]
            .as_f64()
            .unwrap()
            > 1_000.0
    );
}

#[test]
fn compare_prints_the_ratios_of_two_real_runs_and_their_differing_options() {
    let Some(broker) = start_broker() else { return };
    let run_at = |rate: &str| {
        let (ok, report) = bench(
            &broker,
            &[
                "produce",
                "--topic",
                "bench-it-compare",
                "--rate",
                rate,
                "--warmup",
                "0",
                "--duration",
                "2",
            ],
        );
        assert!(ok, "produce at {rate}/s failed: {}", report["problems"]);
        report
    };
    let directory = tempfile::tempdir().expect("temporary directory");
    let a = directory.path().join("a.json");
    let b = directory.path().join("b.json");
    std::fs::write(&a, run_at("1000").to_string()).expect("write A");
    std::fs::write(&b, run_at("2000").to_string()).expect("write B");
    let output = Command::new(skein())
        .args(["bench", "--compare"])
        .arg(&a)
        .arg(&b)
        .output()
        .expect("run skein bench --compare");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let differing = stdout
        .lines()
        .find_map(|line| line.strip_prefix("options that differ: "))
        .unwrap_or_else(|| panic!("no differing options named in:\n{stdout}"));
    assert!(differing.contains("rate"), "{differing}");
    // Rate-limited runs: B produced twice A's records per second.
    let ratio: f64 = stdout
        .lines()
        .find(|line| line.starts_with("produce") && line.contains("records/s"))
        .and_then(|line| line.split_whitespace().last())
        .and_then(|ratio| ratio.parse().ok())
        .unwrap_or_else(|| panic!("no records/s ratio in:\n{stdout}"));
    assert!(
        (1.8..=2.2).contains(&ratio),
        "records/s B/A {ratio}:\n{stdout}"
    );
}
