//! The storage engine: the shard runtime (pinned glommio executors, placement
//! of partitions on shards, the cross-shard mesh) and the partition log
//! (segments, offset and time indexes, direct-IO appends, recovery, retention,
//! key-based compaction).
//!
//! Owns: every byte on disk under the log directories (`log.dirs`). Must not: know the Kafka wire
//! format beyond the v2 record-batch layout.
//!
//! Entry point for the log: [`PartitionLog`]; its durability promises are
//! documented on the `log` module and on [`FlushPolicy`].

#![warn(missing_docs)]

mod batch;
mod cleaned_txns;
mod compaction;
mod compression;
mod config;
mod durable_write;
mod error;
mod latency_histogram;
mod log;
mod log_changes;
mod log_chunk;
mod log_dirs;
mod log_stats;
mod mesh;
mod mesh_stats;
mod off_shard;
mod offset_index;
mod placement;
mod read_ahead;
mod read_run;
mod record;
mod segment;
mod segment_files;
mod shard;
mod tail_cache;
mod time_index;
mod wait_list;
mod write_buffer;

#[cfg(any(test, feature = "test-support"))]
pub mod test_batch;
#[cfg(any(test, feature = "test-support"))]
pub mod test_executor;

/// The compaction swap's file renames, for crash tests.
#[cfg(any(test, feature = "test-support"))]
pub use crate::compaction::SWAP_RENAMES;

pub use crate::batch::{
    validate as validate_batch, BatchFault, BatchHeader, HEADER_BYTES as BATCH_HEADER_BYTES,
};
pub use crate::cleaned_txns::{AbortedRange, CleanerTxns, ProducerLastRecord};
pub use crate::compression::{
    compress, decompress, decompressed_bytes_max, recompress, Codec, CompressionError,
    CompressionType,
};
pub use crate::config::{CleanupPolicy, ConfigError, FlushPolicy, LogConfig, TimestampType};
pub use crate::error::{AppendError, LogError, ReadError, ReplicaAppendError};
pub use crate::latency_histogram::{
    HistogramSnapshot, LatencyHistogram, LATENCY_BUCKETS, LATENCY_BUCKETS_US,
};
pub use crate::log::{
    remove_partition_dir, AppendInfo, CompactionReport, LogTuning, PartitionLog, ReadInfo,
};
pub use crate::log_changes::{log_changed, shard_log_changes, LogChanges};
pub use crate::log_chunk::LogChunk;
pub use crate::log_dirs::{LogDir, LogDirs, LogDirsError, META_PROPERTIES_FILE};
pub use crate::log_stats::{shard_log_stats, LogStats};
pub use crate::mesh_stats::MeshStats;
pub use crate::offset_index::OffsetIndex;
pub use crate::record::{RecordFault, RecordView, Records};
pub use crate::segment::prime_iopoll_probe;
pub use crate::segment_files::{
    raise_open_files_limit, set_shard_segment_files_max, shard_segment_files_max,
    shard_segment_files_open,
};
pub use mesh::{mesh_ports, Inbox, Mesh, MeshError, MeshPorts};
pub use placement::{owner_shard, ShardId};
pub use shard::{run_shards, CoreSet, CoreSetError, RuntimeError, ShardPlan};
pub use wait_list::{WaitList, WaitUntil};
