//! Shared fixtures for Skein's benchmarks (`benches/benches/*.rs`, reactor-bound
//! `harness = false` binaries): a counting global allocator, sizes from the
//! environment, a benchmark data directory, and a glommio runner.
//!
//! Environment:
//! * `SKEIN_BENCH_QUICK=1` — tiny sizes, for CI smoke runs.
//! * `SKEIN_BENCH_DIR` — where data files go (default: the system temp dir);
//!   raw-disk baselines are measured in the same directory.
//! * `SKEIN_BENCH_MB` — MiB written per append scenario / read in the read bench.
//! * `SKEIN_BENCH_ROUNDS` — rounds per scenario (the median is reported).

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// A global allocator that counts allocations (not frees) on top of `System`.
/// Install with `#[global_allocator] static A: CountingAllocator = CountingAllocator;`.
#[derive(Debug)]
pub struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to `System`, only adding a relaxed counter increment.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations counted so far (all threads).
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Whether `SKEIN_BENCH_QUICK` asks for a smoke run.
pub fn quick() -> bool {
    std::env::var("SKEIN_BENCH_QUICK").is_ok_and(|v| v != "0")
}

/// Bytes per scenario: `SKEIN_BENCH_MB` MiB, else `default_mb` (8 MiB if quick).
pub fn scenario_bytes(default_mb: u64) -> u64 {
    let mb = std::env::var("SKEIN_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick() { 8 } else { default_mb });
    mb << 20
}

/// A fresh directory for benchmark data (removed by the caller).
pub fn bench_dir(name: &str) -> PathBuf {
    let root = std::env::var_os("SKEIN_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = root.join(format!("skein-bench-{name}-{}", std::process::id()));
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot clear {}: {e}", dir.display()),
    }
    std::fs::create_dir_all(&dir).expect("create bench dir");
    dir
}

/// Runs `make()` on one glommio executor pinned to CPU 0, with a 128 MiB
/// DMA buffer pool (`io_memory`). glommio also tries to register the pool
/// with io_uring; under a small RLIMIT_MEMLOCK that fails with a warning and
/// the pool is used unregistered, which still avoids allocating (and
/// page-faulting) fresh memory per IO.
pub fn run<T: Send + 'static, F, G>(make: G) -> T
where
    G: FnOnce() -> F + Send + 'static,
    F: Future<Output = T> + 'static,
{
    glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(0))
        .io_memory(128 << 20)
        .spawn(move || async move { make().await })
        .expect("spawn executor")
        .join()
        .expect("executor thread")
}

/// Rounds per scenario (`SKEIN_BENCH_ROUNDS`, default 3, 1 if quick): each
/// round measures the raw disk right around the scenario, so every ratio is
/// taken against the disk as it was at that moment (shared virtual disks
/// swing by 2x within a minute).
pub fn rounds() -> usize {
    std::env::var("SKEIN_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick() { 1 } else { 3 })
}

/// Median of `values` (sorted copy).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// MiB/s for `bytes` in `seconds`.
pub fn mib_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / (1 << 20) as f64 / seconds
}
