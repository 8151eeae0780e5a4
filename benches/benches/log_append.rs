//! Append throughput of `PartitionLog` with 1 KiB records in 16 KiB and
//! 1 MiB batches, under flush=batch with 1, 8 and 64 concurrent appenders and
//! under flush=none, against the raw O_DIRECT sequential write bandwidth and
//! the write+fdatasync rate of the same directory, measured in the same run.
//! Also counts global allocations per append after warm-up: between 10% and
//! 90% of the bytes (the appends alone), and from 10% to the end (with the
//! segment roll the last appends trigger and the appenders finishing).
//!
//! Run: `cargo bench -p skein-benches --bench log_append`
//! (`SKEIN_BENCH_QUICK=1` for a smoke run, `SKEIN_BENCH_MB=<n>` per scenario,
//! `SKEIN_BENCH_SECONDS=<s>` cap per scenario, `SKEIN_BENCH_FILTER=<substring>`
//! of "batch=1MiB flush=none appenders=8", `SKEIN_BENCH_WRITE_BUFFER_MB`,
//! `SKEIN_BENCH_TAIL_CACHE_MB`, `SKEIN_BENCH_PREALLOCATE_MB` (0: off), `SKEIN_BENCH_ROUNDS`).

use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use skein_benches::{
    allocations, bench_dir, median, mib_per_s, rounds, run, scenario_bytes, CountingAllocator,
};
use skein_engine::test_batch::BatchBuilder;
use skein_engine::{FlushPolicy, LogConfig, LogTuning, PartitionLog};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Value bytes so that one record (with its varint framing) is about 1 KiB.
const RECORD_VALUE_BYTES: usize = 1_012;

/// Raw O_DIRECT sequential QD1 writes of `write_bytes` into a fresh file,
/// each followed by an fdatasync when `sync_each`.
async fn raw_write_bandwidth(dir: &Path, total: u64, write_bytes: usize, sync_each: bool) -> f64 {
    let path = dir.join("raw-write");
    let file = glommio::io::DmaFile::create(&path).await.expect("create");
    let mut buffer = file.alloc_dma_buffer(write_bytes);
    buffer.as_bytes_mut().fill(0x5A);
    let buffer = Rc::new(buffer);
    let start = Instant::now();
    let deadline = start + std::time::Duration::from_secs_f64(scenario_seconds());
    let mut position = 0;
    while position < total && Instant::now() < deadline {
        let written = file
            .write_rc_at(buffer.clone(), position)
            .await
            .expect("write");
        assert_eq!(written, write_bytes);
        position += write_bytes as u64;
        if sync_each {
            file.fdatasync().await.expect("sync");
        }
    }
    file.fdatasync().await.expect("sync");
    let seconds = start.elapsed().as_secs_f64();
    file.close().await.expect("close");
    std::fs::remove_file(&path).expect("remove");
    mib_per_s(position, seconds)
}

/// Rate of (4 KiB write + fdatasync): appending (the file grows, so ext4
/// must commit its size) or overwriting already-written blocks.
async fn fdatasync_rate(dir: &Path, iterations: u64, overwrite: bool) -> f64 {
    let path = dir.join("raw-sync");
    let file = glommio::io::DmaFile::create(&path).await.expect("create");
    let buffer = Rc::new(file.alloc_dma_buffer(4096));
    if overwrite {
        for i in 0..iterations {
            let written = file.write_rc_at(buffer.clone(), i * 4096).await;
            written.expect("write");
        }
        file.fdatasync().await.expect("sync");
    }
    let start = Instant::now();
    for i in 0..iterations {
        let written = file.write_rc_at(buffer.clone(), i * 4096).await;
        written.expect("write");
        file.fdatasync().await.expect("sync");
    }
    let rate = iterations as f64 / start.elapsed().as_secs_f64();
    file.close().await.expect("close");
    std::fs::remove_file(&path).expect("remove");
    rate
}

struct AppendResult {
    mib_per_s: f64,
    /// Between 10% and 90% of the bytes: the appends alone.
    allocations_per_append: f64,
    /// From 10% to the end, which includes the segment roll the last
    /// appends trigger (segment.bytes is 1 GiB) and the appenders finishing.
    allocations_per_append_to_end: f64,
}

async fn append_scenario(
    dir: &Path,
    policy: FlushPolicy,
    appenders: usize,
    batch: Rc<Vec<u8>>,
    total: u64,
) -> AppendResult {
    let path = dir.join(format!("log-{policy}-{appenders}").replace(':', "_"));
    let config = LogConfig {
        flush_policy: policy,
        max_message_bytes: 2 << 20,
        ..LogConfig::default()
    };
    let tuning = LogTuning {
        write_buffer_bytes: env_mib("SKEIN_BENCH_WRITE_BUFFER_MB").unwrap_or(4 << 20),
        tail_cache_bytes: env_mib("SKEIN_BENCH_TAIL_CACHE_MB").unwrap_or(4 << 20),
        preallocate_bytes: env_mib("SKEIN_BENCH_PREALLOCATE_MB")
            .map_or(LogTuning::default().preallocate_bytes, |bytes| bytes as u64),
    };
    let log = Rc::new(
        PartitionLog::open_with(path.clone(), config, tuning)
            .await
            .expect("open"),
    );
    let warm_up = total / 10;
    let began = Instant::now();
    let deadline = began + std::time::Duration::from_secs_f64(scenario_seconds());
    // `reserved` stops the appenders at `total`; `completed` counts only
    // acknowledged bytes, which is what the throughput measures.
    let reserved = Rc::new(Cell::new(0u64));
    let completed = Rc::new(Cell::new(0u64));
    let measured_from: Rc<Cell<Option<(Instant, u64, u64)>>> = Rc::new(Cell::new(None));
    let measured_appends = Rc::new(Cell::new(0u64));
    // (appends counted, allocations) when 90% of the bytes are acknowledged.
    let steady_until: Rc<Cell<Option<(u64, u64)>>> = Rc::new(Cell::new(None));
    let mut tasks = Vec::with_capacity(appenders);
    for _ in 0..appenders {
        let (log, batch) = (log.clone(), batch.clone());
        let (reserved, completed) = (reserved.clone(), completed.clone());
        let (measured_from, measured_appends) = (measured_from.clone(), measured_appends.clone());
        let steady_until = steady_until.clone();
        tasks.push(glommio::spawn_local(async move {
            while reserved.get() < total && Instant::now() < deadline {
                reserved.set(reserved.get() + batch.len() as u64);
                log.append(&batch, 0, 0).await.expect("append");
                completed.set(completed.get() + batch.len() as u64);
                match measured_from.get() {
                    Some(_) => {
                        measured_appends.set(measured_appends.get() + 1);
                        if steady_until.get().is_none() && completed.get() >= total / 10 * 9 {
                            steady_until.set(Some((measured_appends.get(), allocations())));
                        }
                    }
                    None if completed.get() >= warm_up || began.elapsed().as_millis() > 500 => {
                        measured_from.set(Some((Instant::now(), completed.get(), allocations())));
                    }
                    None => {}
                }
            }
        }));
    }
    for task in tasks {
        task.await;
    }
    let end_allocations = allocations();
    let (start, start_bytes, start_allocations) = measured_from.get().expect("warmed up");
    let seconds = start.elapsed().as_secs_f64();
    let appends = measured_appends.get().max(1);
    // A run cut short by the deadline counts to its end.
    let (steady_appends, steady_allocations) =
        steady_until.get().unwrap_or((appends, end_allocations));
    let result = AppendResult {
        mib_per_s: mib_per_s(completed.get() - start_bytes, seconds),
        allocations_per_append: (steady_allocations - start_allocations) as f64
            / steady_appends.max(1) as f64,
        allocations_per_append_to_end: (end_allocations - start_allocations) as f64
            / appends as f64,
    };
    let log = Rc::try_unwrap(log).expect("tasks done");
    log.remove().await.expect("remove");
    result
}

/// `name` as MiB from the environment, in bytes.
fn env_mib(name: &str) -> Option<usize> {
    std::env::var(name)
        .ok()?
        .parse::<usize>()
        .ok()
        .map(|mb| mb << 20)
}

/// Seconds per scenario at most: `SKEIN_BENCH_SECONDS`, default 4 (1 if quick).
fn scenario_seconds() -> f64 {
    std::env::var("SKEIN_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if skein_benches::quick() { 1.0 } else { 4.0 })
}

fn main() {
    let total = scenario_bytes(512);
    let dir = bench_dir("append");
    let bench_dir_for_run = dir.clone();
    run(move || async move {
        let dir = bench_dir_for_run;
        let raw_1m = raw_write_bandwidth(&dir, total, 1 << 20, false).await;
        let raw_4m = raw_write_bandwidth(&dir, total, 4 << 20, false).await;
        let iterations = if skein_benches::quick() { 20 } else { 500 };
        let syncs = fdatasync_rate(&dir, iterations, false).await;
        let overwrite_syncs = fdatasync_rate(&dir, iterations, true).await;
        println!(
            "dir {}  bytes/scenario {} MiB  rounds {}",
            dir.display(),
            total >> 20,
            rounds()
        );
        println!("raw O_DIRECT sequential write, 1 MiB writes QD1: {raw_1m:8.1} MiB/s");
        println!("raw O_DIRECT sequential write, 4 MiB writes QD1: {raw_4m:8.1} MiB/s");
        println!("raw 4 KiB appending write + fdatasync:            {syncs:8.1} /s");
        println!("raw 4 KiB overwrite + fdatasync:                  {overwrite_syncs:8.1} /s");
        println!(
            "each scenario: median of {} rounds; raw = the better of 1 MiB and 4 MiB QD1 writes measured just before it; then against raw QD1 writes of the bytes the appenders can have in flight at once (+ fdatasync each under batch), measured just before it, and what share of raw those writes themselves reach (when appenders x batch <= 4 MiB, about the most an engine whose appenders each wait for their append can get of this disk)",
            rounds()
        );
        for (label, records) in [("16KiB", 16usize), ("1MiB", 1_024)] {
            let batch = Rc::new(
                BatchBuilder::new(1_700_000_000_000)
                    .records(records, RECORD_VALUE_BYTES, 7)
                    .build(),
            );
            for (policy, appenders) in [
                (FlushPolicy::None, 1),
                (FlushPolicy::None, 8),
                (FlushPolicy::None, 64),
                (FlushPolicy::Batch, 1),
                (FlushPolicy::Batch, 8),
                (FlushPolicy::Batch, 64),
            ] {
                let name = format!("batch={label} flush={policy} appenders={appenders}");
                let filter = std::env::var("SKEIN_BENCH_FILTER").unwrap_or_default();
                if !name.contains(&filter) {
                    continue;
                }
                // The bytes the appenders can have in flight at once, as one
                // raw write (what a perfect engine would keep the disk busy
                // with), followed by an fdatasync under `batch`.
                let shape = (appenders * batch.len())
                    .next_multiple_of(4096)
                    .min(4 << 20);
                let sync_each = policy == FlushPolicy::Batch;
                let (mut speeds, mut raws, mut ratios, mut shaped_ratios, mut ceilings) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
                let (mut allocs, mut allocs_to_end) = (Vec::new(), Vec::new());
                for _ in 0..rounds() {
                    let raw = raw_write_bandwidth(&dir, total, 1 << 20, false)
                        .await
                        .max(raw_write_bandwidth(&dir, total, 4 << 20, false).await);
                    let shaped = raw_write_bandwidth(&dir, total, shape, sync_each).await;
                    let result =
                        append_scenario(&dir, policy, appenders, batch.clone(), total).await;
                    speeds.push(result.mib_per_s);
                    raws.push(raw);
                    ratios.push(100.0 * result.mib_per_s / raw);
                    shaped_ratios.push(100.0 * result.mib_per_s / shaped);
                    ceilings.push(100.0 * shaped / raw);
                    allocs.push(result.allocations_per_append);
                    allocs_to_end.push(result.allocations_per_append_to_end);
                }
                println!(
                    "append batch={label:>5} ({:>7} B) flush={policy:<5} appenders={appenders:>2}: {:8.1} MiB/s (raw {:6.1}) = {:5.1}% of raw [rounds: {}]; {:5.1}% of raw {} KiB QD1 writes{} (which reach {:5.1}% of raw)  allocs/append {:.3} (to the end, with the roll: {:.3})",
                    batch.len(),
                    median(&speeds),
                    median(&raws),
                    median(&ratios),
                    ratios.iter().map(|r| format!("{r:.0}%")).collect::<Vec<_>>().join(" "),
                    median(&shaped_ratios),
                    shape >> 10,
                    if sync_each { " + fdatasync" } else { "" },
                    median(&ceilings),
                    median(&allocs),
                    median(&allocs_to_end),
                );
            }
        }
    });
    std::fs::remove_dir_all(&dir).expect("clean up");
}
