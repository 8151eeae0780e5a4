//! Why an operation on a partition failed: a domain outcome per variant,
//! carrying what the caller needs to answer (the protocol layer maps each to
//! a Kafka error code, in one place).

use skein_engine::{AppendError, LogError, ReadError};

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
}
