//! Shared fixture of the CLI and admin-HTTP tests: a real `skein serve` on
//! free ports in a temporary directory (killed on drop), and a way to run
//! the `skein` CLI against it.
#![allow(dead_code)]
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A `skein serve` on free ports, killed on drop.
pub struct Broker {
    child: Child,
    /// `127.0.0.1:PORT` of the Kafka listener.
    pub bootstrap: String,
    /// `127.0.0.1:PORT` of the admin HTTP listener.
    pub admin: String,
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

/// The `skein` binary under test.
pub fn skein() -> &'static str {
    env!("CARGO_BIN_EXE_skein")
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

impl Broker {
    /// Starts `skein serve --cores 0-1` and waits until it accepts connections.
    pub fn start() -> Broker {
        let directory = tempfile::tempdir().expect("temporary directory");
        let port = free_port();
        let admin_port = free_port();
        let log = std::fs::File::create(directory.path().join("serve.log")).expect("serve log");
        // SKEIN_TEST_SERVE runs the CLI against another broker build (one
        // without an admin listener, e.g. a feature branch's).
        let other = std::env::var("SKEIN_TEST_SERVE").ok();
        let mut command = Command::new(other.as_deref().unwrap_or(skein()));
        command
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"));
        if other.is_none() {
            command
                .arg("--admin-listen")
                .arg(format!("127.0.0.1:{admin_port}"));
        }
        let child = command
            .arg("--data-dir")
            .arg(directory.path().join("data"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn skein serve");
        let mut broker = Broker {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
            admin: format!("127.0.0.1:{admin_port}"),
            directory,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = broker.child.try_wait().expect("poll skein serve") {
                panic!("skein serve exited ({status}):\n{}", broker.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return broker;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("skein serve did not listen within 30 s:\n{}", broker.log());
    }

    /// The broker's data directory (`--data-dir`).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.directory.path().join("data")
    }

    /// What the broker logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.directory.path().join("serve.log")).unwrap_or_default()
    }

    /// Runs `skein ARGS -b BOOTSTRAP` with `stdin` as input.
    pub fn cli(&self, args: &[&str], stdin: &str) -> Run {
        run_cli(args, &["-b", &self.bootstrap], stdin)
    }
}

/// The outcome of one CLI run.
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts exit code 0 and parses stdout as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.stdout))
    }

    /// Parses stdout as JSON lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        self.stdout
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }
}

/// Runs the CLI with `args` then `extra` (the connection options).
pub fn run_cli(args: &[&str], extra: &[&str], stdin: &str) -> Run {
    use std::io::Write;
    let mut child = Command::new(skein())
        .args(args)
        .args(extra)
        .env_remove("SKEIN_BROKERS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn skein");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait for skein");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}
