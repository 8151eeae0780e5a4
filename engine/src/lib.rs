//! The storage engine: the shard runtime (pinned glommio executors, placement
//! of partitions on shards, the cross-shard mesh) and the partition log
//! (segments, offset and time indexes, direct-IO appends, recovery, retention).
//!
//! Owns: every byte on disk under `data_dir`. Must not: know the Kafka wire
//! format beyond the v2 record-batch layout.

mod mesh;
mod placement;
mod shard;

pub use mesh::{mesh_ports, Envelope, Inbox, Mesh, MeshError, MeshPorts};
pub use placement::{owner_shard, ShardId};
pub use shard::{run_shards, CoreSet, CoreSetError, RuntimeError, ShardPlan};
