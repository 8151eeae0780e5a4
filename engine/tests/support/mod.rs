//! Shared fixtures for the engine's integration tests: a glommio executor
//! runner sized for RLIMIT_MEMLOCK, temporary logs, and a reader that
//! collects every batch of a log.

#![allow(dead_code)]

use std::path::Path;

use skein_engine::{FlushPolicy, LogChunk, LogConfig, PartitionLog};

pub use skein_engine::test_batch::BatchBuilder;

pub use skein_engine::test_executor::run;

/// A config with small segments for tests.
pub fn small_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

/// `small_config` under `flush_policy`.
pub fn small_config_with(flush_policy: FlushPolicy, segment_bytes: u64) -> LogConfig {
    LogConfig {
        flush_policy,
        ..small_config(segment_bytes)
    }
}

/// The name of segment `base`'s file with `extension` (`log`, `index`, …),
/// as the log names it.
pub fn segment_file_name(base: i64, extension: &str) -> String {
    format!("{base:020}.{extension}")
}

/// A batch of `count` records of `value_bytes` each, seeded by `seed`.
pub fn batch(count: usize, value_bytes: usize, seed: u64) -> Vec<u8> {
    BatchBuilder::new(1_700_000_000_000)
        .records(count, value_bytes, seed)
        .build()
}

/// Splits a run of whole batches into (base offset, batch bytes).
pub fn split_batches(bytes: &[u8]) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let length = i32::from_be_bytes(rest[8..12].try_into().expect("4 bytes")) as usize + 12;
        let base = i64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
        out.push((base, rest[..length].to_vec()));
        rest = &rest[length..];
    }
    out
}

/// Reads every batch from `from` to the durable end offset.
pub async fn read_all(log: &PartitionLog, from: i64) -> Vec<(i64, Vec<u8>)> {
    let mut batches = Vec::new();
    let mut offset = from;
    let mut chunks: Vec<LogChunk> = Vec::new();
    while offset < log.durable_end_offset() {
        chunks.clear();
        let info = log
            .read(offset, 64 * 1024, i64::MAX, &mut chunks)
            .await
            .expect("read");
        assert!(
            info.bytes > 0,
            "read at {offset} below the durable end offset {} returned nothing",
            log.durable_end_offset()
        );
        for chunk in &chunks {
            for (base, bytes) in split_batches(chunk.as_slice()) {
                let last =
                    base + i64::from(i32::from_be_bytes(bytes[23..27].try_into().expect("4")));
                if last >= offset {
                    batches.push((base, bytes));
                }
                offset = offset.max(last + 1);
            }
        }
    }
    batches
}

/// `expected` with baseOffset and leader epoch patched as the log does.
pub fn patched(expected: &[u8], base_offset: i64, leader_epoch: i32) -> Vec<u8> {
    let mut bytes = expected.to_vec();
    bytes[..8].copy_from_slice(&base_offset.to_be_bytes());
    bytes[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
    bytes
}

/// Lists the files of a log directory (for debugging failures).
pub fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
