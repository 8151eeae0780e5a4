//! Why an operation on a partition failed: a domain outcome per variant,
//! carrying what the caller needs to answer (the protocol layer maps each to
//! a Kafka error code, in one place).

use skein_engine::{AppendError, LogError, ReadError, ReplicaAppendError};

use crate::producer_state::ProducerError;
use crate::role::BrokerId;

/// Why an operation on a partition failed.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// This shard holds no replica of the partition (the topic does not
    /// exist, this broker is not one of its replicas, or its log could not
    /// be opened).
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    /// This broker's replica is a follower: only the leader serves the
    /// operation.
    #[error("not the leader: broker {leader} leads at leader epoch {leader_epoch}")]
    NotLeader {
        /// The leader's broker id (-1: none).
        leader: BrokerId,
        /// The partition's leader epoch.
        leader_epoch: i32,
    },
    /// The log directory holding the partition has failed (Kafka's
    /// KAFKA_STORAGE_ERROR): the partition is offline until restart.
    #[error("the partition's log directory is offline")]
    LogDirOffline,
    /// The partition is being moved to another log directory of this
    /// broker (AlterReplicaLogDirs) and serves again once it is there.
    #[error("the partition is moving between log directories")]
    Moving,
    /// The append was refused (bad batches, or the disk failed).
    #[error(transparent)]
    Append(#[from] AppendError),
    /// The read was refused.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// An idempotent producer's batch is out of sequence or fenced.
    #[error(transparent)]
    Producer(#[from] ProducerError),
    /// A replication step refused (a follower fetch from a broker that
    /// holds no replica, an acks=all rule).
    #[error(transparent)]
    Replication(#[from] ReplicationError),
}

/// Why a follower could not append the batches fetched from its leader.
/// Nothing was written, except for `Append(Storage | Poisoned)` where the
/// log is now offline.
#[derive(Debug, thiserror::Error)]
pub enum FollowerAppendError {
    /// This replica leads (or is no longer a follower of that leader).
    #[error("not a follower")]
    NotFollower,
    /// The fetched batches do not start at this log's end (or leave a gap):
    /// the fetcher reads its log end again and refetches from there.
    #[error("fetched batch starts at offset {found}, the log needed {expected}")]
    OffsetMismatch {
        /// Where the batch had to start.
        expected: i64,
        /// Where it started.
        found: i64,
    },
    /// The batches were refused as an ordinary append would be (corrupt,
    /// empty) or the disk failed.
    #[error(transparent)]
    Append(#[from] AppendError),
}

impl From<ReplicaAppendError> for FollowerAppendError {
    fn from(error: ReplicaAppendError) -> FollowerAppendError {
        match error {
            ReplicaAppendError::OffsetMismatch {
                expected, found, ..
            } => FollowerAppendError::OffsetMismatch { expected, found },
            ReplicaAppendError::Append(error) => FollowerAppendError::Append(error),
        }
    }
}

/// Why a replication step on a leader failed: the acks=all rules
/// (`min.insync.replicas`, losing leadership while a produce waits) and
/// follower fetches the leader cannot record. Kept apart from
/// [`PartitionError`] so each caller matches only what its operation can
/// return.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicationError {
    /// An acks=all produce found fewer in-sync replicas than the topic's
    /// `min.insync.replicas` before appending (nothing was appended).
    #[error("{isr_size} in-sync replicas, min.insync.replicas is {min_insync_replicas}")]
    NotEnoughReplicas {
        /// The size of the committed ISR.
        isr_size: usize,
        /// The topic's `min.insync.replicas`.
        min_insync_replicas: i32,
    },
    /// An acks=all produce was appended and replicated, but the ISR shrank
    /// below `min.insync.replicas` while it waited.
    #[error("the ISR shrank to {isr_size} after the append, min.insync.replicas is {min_insync_replicas}")]
    NotEnoughReplicasAfterAppend {
        /// The size of the committed ISR.
        isr_size: usize,
        /// The topic's `min.insync.replicas`.
        min_insync_replicas: i32,
    },
    /// This replica is not (or no longer) the leader.
    #[error("not the leader: broker {leader} leads at leader epoch {leader_epoch}")]
    NotLeader {
        /// The leader's broker id (-1: none, or unknown to this replica).
        leader: BrokerId,
        /// The partition's leader epoch as this replica knows it.
        leader_epoch: i32,
    },
    /// A fetch claimed to come from a broker that holds no replica.
    #[error("broker {broker} holds no replica of the partition")]
    NotAReplica {
        /// The fetching broker.
        broker: BrokerId,
    },
    /// A follower's fetch offset is past the leader's log end.
    #[error("fetch offset {fetch_offset} past the leader's log end offset {log_end_offset}")]
    FetchOffsetBeyondLogEnd {
        /// The follower's fetch offset.
        fetch_offset: i64,
        /// The leader's log end offset.
        log_end_offset: i64,
    },
    /// The log was closed or poisoned while a produce waited.
    #[error("the log was closed or poisoned")]
    LogUnavailable,
}
