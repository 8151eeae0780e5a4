//! Cold sequential read throughput of a `PartitionLog` (1 GiB by default,
//! 1 KiB records in 16 KiB batches, reopened so the tail cache is empty and
//! every byte comes from an O_DIRECT read) against the raw O_DIRECT
//! sequential read bandwidth of the same files, measured right before and
//! after each round. Read back to back, and with a 0.5 ms pause between
//! reads (a consumer's turn-around between fetches, which the log's
//! read-ahead hides). Also counts global allocations per read after warm-up.
//!
//! Run: `cargo bench -p skein-benches --bench log_read`
//! (`SKEIN_BENCH_QUICK=1` for a smoke run, `SKEIN_BENCH_MB=<n>` log size,
//! `SKEIN_BENCH_ROUNDS`).

use std::path::Path;
use std::time::{Duration, Instant};

use skein_benches::{
    allocations, bench_dir, median, mib_per_s, rounds, run, scenario_bytes, CountingAllocator,
};
use skein_engine::test_batch::BatchBuilder;
use skein_engine::{BatchHeader, FlushPolicy, LogChunk, LogConfig, PartitionLog};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const READ_BYTES: usize = 1 << 20;

async fn raw_read_bandwidth(dir: &Path) -> f64 {
    let mut total = 0u64;
    let start = Instant::now();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    names.sort();
    for path in names {
        let file = glommio::io::DmaFile::open(&path).await.expect("open");
        let size = file.file_size().await.expect("size");
        let mut position = 0;
        while position < size {
            let read = file
                .read_at_aligned(position, READ_BYTES)
                .await
                .expect("read");
            position += read.len() as u64;
            total += read.len() as u64;
            if read.is_empty() {
                break;
            }
        }
        file.close().await.expect("close");
    }
    mib_per_s(total, start.elapsed().as_secs_f64())
}

/// Offset after the last batch of `chunk`.
fn next_offset(chunk: &[u8]) -> i64 {
    let mut rest = chunk;
    let mut next = 0;
    while let Some(header) = BatchHeader::read(rest) {
        next = header.last_offset() + 1;
        rest = &rest[header.total_bytes() as usize..];
    }
    next
}

/// One cold sequential read of the whole log at `log_dir` (reopened, so the
/// tail cache is empty), pausing `pause` between reads as a consumer does
/// between fetches. Returns (MiB/s, allocations per read after warm-up).
async fn cold_read(log_dir: &Path, config: LogConfig, pause: Duration) -> (f64, f64) {
    let log = PartitionLog::open(log_dir.to_path_buf(), config)
        .await
        .expect("reopen");
    let mut chunks: Vec<LogChunk> = Vec::with_capacity(16);
    let (mut offset, mut bytes, mut reads) = (0, 0u64, 0u64);
    let warm_up_reads = 16;
    let mut measured_from = None;
    let start = Instant::now();
    while offset < log.durable_end_offset() {
        chunks.clear();
        let info = log
            .read(offset, READ_BYTES, i64::MAX, &mut chunks)
            .await
            .expect("read");
        assert!(info.bytes > 0);
        bytes += info.bytes as u64;
        offset = next_offset(chunks.last().expect("a chunk").as_slice());
        reads += 1;
        if reads == warm_up_reads {
            measured_from = Some((reads, allocations()));
        }
        if !pause.is_zero() {
            glommio::timer::sleep(pause).await;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let allocs_per_read = measured_from.map_or(f64::NAN, |(from_reads, from_allocations)| {
        (allocations() - from_allocations) as f64 / (reads - from_reads).max(1) as f64
    });
    drop(chunks);
    log.close().await.expect("close");
    (mib_per_s(bytes, seconds), allocs_per_read)
}

/// Tailing reads, served from the tail cache: (reads/s, MiB/s, allocations per read).
async fn tail_reads(log_dir: &Path, config: LogConfig, batch: &[u8]) -> (f64, f64, f64) {
    let log = PartitionLog::open(log_dir.to_path_buf(), config)
        .await
        .expect("reopen");
    let mut chunks: Vec<LogChunk> = Vec::with_capacity(16);
    let tail_start = log.log_end_offset();
    // A consumer waiting at the end: the appends it will read stay in memory.
    let nothing_yet = log
        .read(tail_start, 64 * 1024, i64::MAX, &mut chunks)
        .await
        .expect("read at the end");
    assert_eq!(nothing_yet.bytes, 0);
    for _ in 0..64 {
        log.append(batch, 0, 0).await.expect("append");
    }
    let (mut tail_reads, mut tail_bytes) = (0u64, 0u64);
    let began = Instant::now();
    let start_allocations = allocations();
    for round in 0..20_000i64 {
        chunks.clear();
        let offset = tail_start + (round % 64) * 16;
        let info = log
            .read(offset, 64 * 1024, i64::MAX, &mut chunks)
            .await
            .expect("read");
        tail_bytes += info.bytes as u64;
        tail_reads += 1;
    }
    let seconds = began.elapsed().as_secs_f64();
    let allocs = (allocations() - start_allocations) as f64 / tail_reads as f64;
    drop(chunks);
    log.remove().await.expect("remove");
    (
        tail_reads as f64 / seconds,
        mib_per_s(tail_bytes, seconds),
        allocs,
    )
}

fn main() {
    let total = scenario_bytes(1024);
    let dir = bench_dir("read");
    let log_dir = dir.join("topic-0");
    run(move || async move {
        let batch = BatchBuilder::new(1_700_000_000_000)
            .records(16, 1_012, 3)
            .build();
        let config = LogConfig {
            flush_policy: FlushPolicy::None,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(log_dir.clone(), config)
            .await
            .expect("open");
        let mut written = 0;
        while written < total {
            log.append(&batch, 0, 0).await.expect("append");
            written += batch.len() as u64;
        }
        log.close().await.expect("close");
        println!(
            "dir {}  log {} MiB in {}-byte batches; each scenario: median of {} rounds, each round's ratio against the mean of raw O_DIRECT 1 MiB QD1 reads of the same files just before and just after it",
            log_dir.display(),
            total >> 20,
            batch.len(),
            rounds()
        );
        for (label, pause) in [
            ("back to back", Duration::ZERO),
            ("0.5 ms pause between reads", Duration::from_micros(500)),
        ] {
            let (mut speeds, mut raws, mut ratios, mut allocs) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds() {
                let before = raw_read_bandwidth(&log_dir).await;
                let (speed, allocs_per_read) = cold_read(&log_dir, config, pause).await;
                let after = raw_read_bandwidth(&log_dir).await;
                let raw = (before + after) / 2.0;
                speeds.push(speed);
                raws.push(raw);
                ratios.push(100.0 * speed / raw);
                allocs.push(allocs_per_read);
            }
            // The pause's timer allocates; only back-to-back reads count.
            let allocs = if pause.is_zero() {
                format!("  allocs/read {:.2}", median(&allocs))
            } else {
                String::new()
            };
            println!(
                "PartitionLog::read cold, max_bytes 1 MiB, {label}: {:8.1} MiB/s (raw {:6.1}) = {:5.1}% of raw [rounds: {}]{allocs}",
                median(&speeds),
                median(&raws),
                median(&ratios),
                ratios.iter().map(|r| format!("{r:.0}%")).collect::<Vec<_>>().join(" "),
            );
        }
        let (reads_per_s, mib, allocs) = tail_reads(&log_dir, config, &batch).await;
        println!(
            "tail-cache reads (max_bytes 64 KiB): {reads_per_s:.0} reads/s, {mib:8.1} MiB/s, allocs/read {allocs:.3}"
        );
    });
    std::fs::remove_dir_all(&dir).expect("clean up");
}
