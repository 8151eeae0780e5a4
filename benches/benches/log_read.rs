//! Cold sequential read throughput of a `PartitionLog` (1 GiB by default,
//! 1 KiB records in 16 KiB batches, reopened so the tail cache is empty and
//! every byte comes from an O_DIRECT read) against the raw O_DIRECT
//! sequential read bandwidth of the same files, in the same run. Also counts
//! global allocations per read after warm-up.
//!
//! Run: `cargo bench -p skein-benches --bench log_read`
//! (`SKEIN_BENCH_QUICK=1` for a smoke run, `SKEIN_BENCH_MB=<n>` log size).

use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use skein_benches::{allocations, bench_dir, mib_per_s, run, scenario_bytes, CountingAllocator};
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

        let raw_before = raw_read_bandwidth(&log_dir).await;
        let log = Rc::new(
            PartitionLog::open(log_dir.clone(), config)
                .await
                .expect("reopen"),
        );
        let mut chunks: Vec<LogChunk> = Vec::with_capacity(16);
        let mut offset = 0;
        let mut bytes = 0u64;
        let mut reads = 0u64;
        let warm_up_reads = 16;
        let mut measured: Option<(Instant, u64, u64, u64)> = None;
        let start = Instant::now();
        while offset < log.high_watermark() {
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
                measured = Some((Instant::now(), bytes, reads, allocations()));
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        let end_allocations = allocations();
        let engine = mib_per_s(bytes, seconds);
        let raw_after = raw_read_bandwidth(&log_dir).await;
        let raw = raw_before.max(raw_after);
        println!(
            "dir {}  log {} MiB in {}-byte batches",
            log_dir.display(),
            total >> 20,
            batch.len()
        );
        println!("raw O_DIRECT sequential read, 1 MiB reads QD1: {raw_before:8.1} MiB/s before, {raw_after:8.1} MiB/s after");
        println!(
            "PartitionLog::read cold, max_bytes 1 MiB, QD1:  {engine:8.1} MiB/s = {:5.1}% of raw",
            100.0 * engine / raw
        );
        if let Some((_, _, start_reads, start_allocations)) = measured {
            let measured_reads = (reads - start_reads).max(1);
            println!(
                "allocs/read after warm-up: {:.2} ({} reads measured)",
                (end_allocations - start_allocations) as f64 / measured_reads as f64,
                measured_reads
            );
        }
        // Tailing reads: served from the tail cache.
        let tail_start = log.log_end_offset();
        for _ in 0..64 {
            log.append(&batch, 0, 0).await.expect("append");
        }
        let mut tail_reads = 0u64;
        let mut tail_bytes = 0u64;
        let tail_began = Instant::now();
        let tail_allocations = allocations();
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
        let tail_seconds = tail_began.elapsed().as_secs_f64();
        println!(
            "tail-cache reads (max_bytes 64 KiB): {:.0} reads/s, {:8.1} MiB/s, allocs/read {:.3}",
            tail_reads as f64 / tail_seconds,
            mib_per_s(tail_bytes, tail_seconds),
            (allocations() - tail_allocations) as f64 / tail_reads as f64
        );
        drop(chunks);
        let log = Rc::try_unwrap(log).expect("single owner");
        log.remove().await.expect("remove");
    });
    std::fs::remove_dir_all(&dir).expect("clean up");
}
