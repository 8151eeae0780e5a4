//! Crash tests: a child process (this test binary re-executed with
//! `SKEIN_CRASH_CHILD_DIR` set) appends under `flush.policy=batch`, from 8
//! tasks into a small write buffer (so writes overlap), and prints
//! every acknowledged batch; the parent kills it with SIGKILL at random
//! moments, reopens the log and checks that every acknowledged batch is
//! present and byte-identical, offsets are dense and nothing is corrupt.

mod support;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rand::Rng;
use skein_engine::{FlushPolicy, LogConfig, LogTuning, PartitionLog};
use support::{patched, read_all, run, BatchBuilder};

const CHILD_DIR_ENV: &str = "SKEIN_CRASH_CHILD_DIR";
const CHILD_SEQ_ENV: &str = "SKEIN_CRASH_CHILD_SEQ";
const LEADER_EPOCH: i32 = 3;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 96 * 1024,
        index_interval_bytes: 1024,
        flush_policy: FlushPolicy::Batch,
        ..LogConfig::default()
    }
}

/// The batch with sequence number `seq`: its shape and bytes follow from it.
fn crash_batch(seq: u64) -> Vec<u8> {
    let count = 1 + (seq % 7) as usize;
    let value_bytes = 20 + ((seq * 37) % 1_500) as usize;
    BatchBuilder::new(1_700_000_000_000 + seq as i64)
        .records(count, value_bytes, seq)
        .build()
}

/// The child: appends from 8 concurrent tasks until killed, printing
/// `ack <seq> <base_offset>` for each acknowledged batch. A no-op when run as
/// an ordinary test.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let first_seq: u64 = std::env::var(CHILD_SEQ_ENV)
        .expect("seq")
        .parse()
        .expect("number");
    run(move || async move {
        // A write buffer of three pages: appends keep waiting for room, so
        // the log issues closed writes and keeps two in flight when killed.
        let tuning = LogTuning {
            write_buffer_bytes: 12 << 10,
            ..LogTuning::default()
        };
        let log = Rc::new(
            PartitionLog::open_with(PathBuf::from(dir), config(), tuning)
                .await
                .expect("open"),
        );
        let next = Rc::new(Cell::new(first_seq));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (log, next) = (log.clone(), next.clone());
            tasks.push(glommio::spawn_local(async move {
                loop {
                    let seq = next.get();
                    next.set(seq + 1);
                    let info = log
                        .append(&crash_batch(seq), LEADER_EPOCH, 0)
                        .await
                        .expect("append");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {seq} {}", info.base_offset).expect("stdout");
                    out.flush().expect("flush");
                }
            }));
        }
        for task in tasks {
            task.await;
        }
    });
}

/// Runs one child until a random moment after its first ack, kills it with
/// SIGKILL and returns the acks it printed.
fn run_child_and_kill(
    dir: &std::path::Path,
    first_seq: u64,
    rng: &mut impl Rng,
) -> Vec<(u64, i64)> {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_SEQ_ENV, first_seq.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let mut words = line.split_whitespace();
            if words.next() != Some("ack") {
                continue;
            }
            let seq: u64 = words.next().expect("seq").parse().expect("seq");
            let base: i64 = words.next().expect("base").parse().expect("base");
            if sender.send((seq, base)).is_err() {
                break;
            }
        }
    });
    let mut acks = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while acks.is_empty() && Instant::now() < deadline {
        if let Ok(ack) = receiver.recv_timeout(Duration::from_millis(50)) {
            acks.push(ack);
        }
    }
    assert!(!acks.is_empty(), "child acknowledged nothing");
    std::thread::sleep(Duration::from_millis(rng.gen_range(1..120)));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    reader.join().expect("reader");
    acks.extend(receiver.try_iter());
    acks
}

#[test]
fn acknowledged_batches_survive_sigkill() {
    if std::env::var(CHILD_DIR_ENV).is_ok() {
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("crash-0");
    let mut rng = rand::thread_rng();
    let mut acked: BTreeMap<i64, u64> = BTreeMap::new();
    let mut next_seq = 0u64;
    for iteration in 0..24 {
        let acks = run_child_and_kill(&dir, next_seq, &mut rng);
        for &(seq, base) in &acks {
            assert!(
                acked.insert(base, seq).is_none(),
                "offset {base} acknowledged twice"
            );
            next_seq = next_seq.max(seq + 1);
        }
        // Sequence numbers handed out but never acknowledged may be on disk:
        // the next child starts well past them.
        next_seq += 64;
        let expected = acked.clone();
        let path = dir.clone();
        let close_cleanly = iteration % 3 == 2;
        run(move || async move {
            let log = PartitionLog::open(path, config()).await.expect("recover");
            assert_eq!(log.log_start_offset(), 0);
            let batches = read_all(&log, 0).await;
            let mut next_offset = 0;
            for (base, bytes) in &batches {
                assert_eq!(*base, next_offset, "offsets must be dense");
                assert!(
                    skein_engine_batch_is_valid(bytes),
                    "corrupt batch at {base}"
                );
                let count = i64::from(i32::from_be_bytes(bytes[57..61].try_into().expect("4")));
                next_offset = base + count;
                if let Some(&seq) = expected.get(base) {
                    assert_eq!(
                        bytes,
                        &patched(&crash_batch(seq), *base, LEADER_EPOCH),
                        "batch at {base}"
                    );
                }
            }
            assert_eq!(next_offset, log.log_end_offset());
            let present: std::collections::BTreeSet<i64> =
                batches.iter().map(|(b, _)| *b).collect();
            for base in expected.keys() {
                assert!(present.contains(base), "acknowledged batch at {base} lost");
            }
            if close_cleanly {
                log.close().await.expect("close");
            }
        });
    }
    assert!(
        acked.len() > 24,
        "too few acknowledgements to mean anything: {}",
        acked.len()
    );
    let segments = support::list(&dir)
        .iter()
        .filter(|name| name.ends_with(".log"))
        .count();
    assert!(segments > 1, "the crash run should have rolled segments");
}

/// Full v2 validation of a stored batch (CRC included).
fn skein_engine_batch_is_valid(bytes: &[u8]) -> bool {
    let Some(header) = skein_engine::BatchHeader::read(bytes) else {
        return false;
    };
    header.magic == 2
        && header.total_bytes() == bytes.len() as i64
        && crc32c::crc32c(&bytes[21..]) == header.crc.get()
        && header.records_count.get() == header.last_offset_delta.get() + 1
}
