//! Fixtures shared by the replication crate's integration tests: a glommio
//! executor sized for the sandbox (the engine's), small log tunings, partitions opened in a
//! role, and real v2 batches.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use skein_engine::test_batch::BatchBuilder;
use skein_engine::{LogConfig, LogDirs, LogTuning};
use skein_replication::{FetchingReplica, Partition, Role};

pub use skein_engine::test_executor::run;

pub fn tuning() -> LogTuning {
    LogTuning {
        write_buffer_bytes: 64 * 1024,
        tail_cache_bytes: 64 * 1024,
        preallocate_bytes: 0,
    }
}

pub fn leader(leader_epoch: i32) -> Role {
    Role::Leader { leader_epoch }
}

pub async fn open(dir: &Path, role: Role) -> Partition {
    Partition::open(dir.to_path_buf(), LogConfig::default(), tuning(), role)
        .await
        .expect("open")
}

/// A batch of `count` records.
/// Follower `broker` fetching without a broker epoch (below Fetch v15).
pub fn follower(broker: i32) -> FetchingReplica {
    FetchingReplica {
        broker,
        broker_epoch: -1,
    }
}

pub fn batch(count: usize) -> Vec<u8> {
    BatchBuilder::new(1_700_000_000_000)
        .records(count, 16, 7)
        .build()
}

/// The broker's log directories `paths` (node id 2), as a partition table
/// takes them.
pub fn log_dirs(paths: &[PathBuf]) -> Arc<LogDirs> {
    Arc::new(LogDirs::open(paths, 2).expect("log dirs"))
}
