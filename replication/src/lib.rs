//! Replication: the partitions a data shard owns. Each [`Partition`] holds
//! its log, its replica role (leader at a leader epoch, or follower of
//! another broker), its idempotent producers (following the log batch by
//! batch on leaders and followers, snapshotted beside the segments at roll
//! and clean shutdown, rebuilt on recovery and truncation) and its
//! leader-epoch cache (checkpointed beside the log); a shard's [`PartitionTable`] is reconciled
//! with the replicas each metadata image assigns it. Every operation is a
//! typed method with a typed error ([`PartitionError`]).
//!
//! A leader tracks its followers in a sans-IO [`ReplicaSet`] (their log end
//! offsets and caught-up times, the ISR, the high watermark as the minimum
//! over the ISR, the ISR changes to propose, `min.insync.replicas`); a
//! partition held by one replica keeps the log's durable end offset as its
//! high watermark with no extra work. The ISR changes only through the
//! controller: the protocol layer's ISR driver takes the proposals
//! ([`Partition::isr_to_shrink`], [`Partition::isr_to_expand`]), marks
//! them pending ([`Partition::propose_isr`]) and applies what the
//! controller committed ([`Partition::commit_isr`]) or forgets what it
//! refused ([`Partition::abandon_proposed_isr`]); the next image confirms. A follower appends the batches its fetcher brings
//! ([`Partition::append_as_follower`]), learns its leader's high watermark,
//! and truncates its divergent tail after a leader change by its leader's
//! epochs ([`offset_truncation`], KIP-101/KIP-279/KIP-595); the leader
//! serves its followers' fetches up to its log end
//! ([`Partition::read_for_follower`]).
//!
//! Transactions on the partition side: producers' open transactions,
//! coordinators' markers ([`Partition::write_txn_marker`]), the last stable
//! offset, read_committed reads with the aborted transactions they overlap
//! (an aborted-transaction index kept beside the segments).
//!
//! Owns: per-partition replica state. Must not: talk to sockets, read the
//! metadata image (it is handed typed [`ReplicaSpec`]s), or know Kafka's
//! error codes.

mod durable_file;
mod error;
mod high_watermark_checkpoint;
mod leader_epoch_cache;
mod leader_epoch_checkpoint;
mod partition;
mod partition_table;
mod producer_snapshot;
mod producer_state;
mod replica_set;
mod role;
mod truncation;
mod txn_index;
mod txn_marker;
mod watermark_signal;

pub use error::{FollowerAppendError, PartitionError, ReplicationError};
pub use high_watermark_checkpoint::{
    checkpoint_file_name, HighWatermarks, HIGH_WATERMARK_CHECKPOINT_FILE,
};
pub use leader_epoch_cache::{
    EpochEntry, LeaderEpochCache, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET,
};
pub use leader_epoch_checkpoint::{CheckpointError, CHECKPOINT_FILE};
pub use partition::{
    txn_result, EpochEndOffset, ListedOffset, Partition, PartitionOffsets, ProducerDescription,
    ReadInfo,
};
pub use partition_table::{PartitionKey, PartitionTable, ReplicaSpec, TopicId};
pub use producer_snapshot::SNAPSHOT_SUFFIX;
pub use producer_state::{ProducerError, REMEMBERED_BATCHES};
pub use replica_set::{FetchingReplica, FollowerState, ReplicaAssignment, ReplicaSet};
pub use role::{BrokerId, Role};
pub use truncation::{
    diverging_epoch, offset_truncation, out_of_range_action, OffsetTruncation, OutOfRangeAction,
};
pub use txn_index::{decode as decode_txn_index, AbortedTxn, TXN_INDEX_SUFFIX};
pub use txn_marker::{decode as decode_txn_marker, TxnMarker, TxnResult};
