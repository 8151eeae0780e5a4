//! The messages that cross the shard mesh: operations on a partition, sent
//! to its owner shard; metadata images, published by the control shard; and
//! metadata changes, sent to the control shard. Everything here is `Send`.

use std::sync::Arc;

use bytes::Bytes;
use skein_controller::group_coordinator;
use skein_controller::{ConfigError, MetadataError, MetadataImage, TopicId, TopicNameError};
use skein_engine::{AppendError, AppendInfo, LogError, ReadError, ReadInfo};

use crate::error_code::{self, ErrorCode};

/// A request to another shard.
pub enum ShardRequest {
    /// An operation on a partition, for its owner shard.
    Partition {
        topic_id: TopicId,
        partition: i32,
        op: PartitionOp,
    },
    /// A new metadata image, for every data shard to make true for the
    /// partitions it owns.
    ApplyImage(Arc<MetadataImage>),
    /// A metadata change, for the control shard.
    Control(ControlRequest),
    /// A group or offset request, for the group coordinator on the control
    /// shard; answered with [`ShardReply::Group`], possibly much later
    /// (JoinGroup and SyncGroup wait for the rebalance).
    Group(group_coordinator::Request),
}

/// What to do to a partition.
pub enum PartitionOp {
    /// Append one Produce partition's record batches.
    Append { records: Bytes },
    /// Read whole batches from `offset`, up to the high watermark (which is
    /// also the last stable offset: there are no transactions yet).
    Read { offset: i64, max_bytes: usize },
    /// Resolve once the high watermark passes `offset`, or after `timeout_ms`.
    WaitForAppend { offset: i64, timeout_ms: u64 },
    /// ListOffsets for one timestamp (or the special values -1..-5).
    ListOffset { timestamp: i64 },
    /// DeleteRecords up to `offset` (-1: the high watermark).
    DeleteRecords { offset: i64 },
    /// The current log end offset and bounds, for OffsetForLeaderEpoch.
    Offsets,
    /// The bytes of the partition's segments, for DescribeLogDirs.
    Size,
}

/// A reply from another shard.
pub enum ShardReply {
    /// To [`PartitionOp::Append`].
    Appended(Result<AppendInfo, PartitionError>),
    /// To [`PartitionOp::Read`]: whole batches, copied out of the owner's
    /// buffers only where they came from a disk read.
    Read(Result<(Vec<Bytes>, ReadInfo), PartitionError>),
    /// To [`PartitionOp::WaitForAppend`].
    Waited,
    /// To [`PartitionOp::ListOffset`]: (offset, timestamp), -1 for none.
    ListedOffset(Result<(i64, i64), PartitionError>),
    /// To [`PartitionOp::DeleteRecords`]: the new log start offset.
    DeletedRecords(Result<i64, PartitionError>),
    /// To [`PartitionOp::Offsets`].
    Offsets(Result<PartitionOffsets, PartitionError>),
    /// To [`PartitionOp::Size`]: bytes.
    Size(Result<u64, PartitionError>),
    /// To [`ShardRequest::ApplyImage`].
    ImageApplied,
    /// To [`ShardRequest::Control`].
    Control(ControlReply),
    /// To [`ShardRequest::Group`]: the coordinator's answer, or
    /// COORDINATOR_NOT_AVAILABLE if it dropped the request (shutdown).
    Group(Result<group_coordinator::Response, group_coordinator::GroupError>),
    /// The target shard could not be reached (shutting down).
    Unavailable,
}

/// A partition's offsets at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// First offset held.
    pub log_start_offset: i64,
    /// End of acknowledged data.
    pub high_watermark: i64,
    /// Next offset to assign.
    pub log_end_offset: i64,
}

/// Why an operation on a partition failed.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// The topic or partition does not exist (or is not open on its owner).
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    /// The append was refused.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// The read was refused.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The owner shard is gone (shutting down).
    #[error("partition owner unavailable")]
    OwnerUnavailable,
    /// An idempotent producer's batch is out of sequence or fenced.
    #[error("idempotent produce refused: {0:?}")]
    Producer(ErrorCode),
}

impl PartitionError {
    /// The Kafka error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            PartitionError::UnknownTopicOrPartition => ErrorCode::UnknownTopicOrPartition,
            PartitionError::Append(error) => error_code::append_error(error),
            PartitionError::Read(error) => error_code::read_error(error),
            PartitionError::Log(error) => error_code::log_error(error),
            PartitionError::OwnerUnavailable => ErrorCode::NotLeaderOrFollower,
            PartitionError::Producer(code) => *code,
        }
    }
}

/// A metadata change for the control shard.
pub enum ControlRequest {
    /// CreateTopics (also auto-creation).
    CreateTopics {
        topics: Vec<NewTopic>,
        validate_only: bool,
    },
    /// DeleteTopics by name or id.
    DeleteTopics { topics: Vec<TopicRef> },
    /// CreatePartitions: grow topics to a partition count.
    CreatePartitions {
        topics: Vec<(String, i32)>,
        validate_only: bool,
    },
    /// AlterConfigs / IncrementalAlterConfigs on topics.
    AlterTopicConfigs {
        changes: Vec<TopicConfigChange>,
        validate_only: bool,
    },
    /// InitProducerId: a producer id never handed out before.
    AllocateProducerId,
}

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    /// Its name (checked on the control shard too).
    pub name: String,
    /// Partition count; -1 for `num.partitions`.
    pub partitions: i32,
    /// Replication factor; -1 for the default.
    pub replication_factor: i16,
    /// Config overrides.
    pub configs: Vec<(String, String)>,
}

/// A topic named by name or id.
#[derive(Debug, Clone)]
pub enum TopicRef {
    /// By name.
    Name(String),
    /// By id.
    Id(TopicId),
}

/// Config changes for one topic.
#[derive(Debug, Clone)]
pub struct TopicConfigChange {
    /// The topic.
    pub topic: String,
    /// Replace every override with `ops` (AlterConfigs) rather than apply
    /// them one by one (IncrementalAlterConfigs).
    pub replace_all: bool,
    /// `(name, Some(value))` sets, `(name, None)` removes an override.
    pub ops: Vec<(String, Option<String>)>,
}

/// The outcome of each item of a [`ControlRequest`], in request order.
pub enum ControlReply {
    /// Per topic: the created topic's id, partitions and configs, or why not.
    CreatedTopics(Vec<Result<CreatedTopic, ControlError>>),
    /// Per topic: the deleted topic's name and id, or why not.
    DeletedTopics(Vec<Result<(String, TopicId), ControlError>>),
    /// Per topic.
    CreatedPartitions(Vec<Result<(), ControlError>>),
    /// Per topic.
    AlteredConfigs(Vec<Result<(), ControlError>>),
    /// A fresh producer id.
    ProducerId(Result<i64, ControlError>),
}

/// A topic that was (or, with validate_only, would be) created.
#[derive(Debug, Clone)]
pub struct CreatedTopic {
    /// Its id.
    pub topic_id: TopicId,
    /// Its partition count.
    pub partitions: i32,
}

/// Why a metadata change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The topic exists already.
    #[error("topic {0:?} already exists")]
    TopicAlreadyExists(String),
    /// The name breaks Kafka's rules.
    #[error(transparent)]
    InvalidTopicName(#[from] TopicNameError),
    /// A config is unknown or has a bad value.
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
    /// A partition count that is not larger than the current one, or not
    /// positive.
    #[error("{0}")]
    InvalidPartitions(String),
    /// More replicas than brokers.
    #[error("replication factor {0} is larger than the 1 available broker")]
    InvalidReplicationFactor(i16),
    /// No such topic (by name).
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    /// No such topic (by id).
    #[error("unknown topic id")]
    UnknownTopicId,
    /// `delete.topic.enable=false`.
    #[error("topic deletion is disabled (delete.topic.enable=false)")]
    TopicDeletionDisabled,
    /// Deleting or repartitioning an internal topic (`__consumer_offsets`).
    #[error("topic {0:?} is an internal topic; it cannot be deleted or repartitioned")]
    InternalTopic(String),
    /// The metadata log failed.
    #[error("metadata log failure: {0}")]
    Storage(String),
    /// The control shard is unreachable.
    #[error("controller unavailable")]
    Unavailable,
}

impl From<MetadataError> for ControlError {
    fn from(error: MetadataError) -> ControlError {
        ControlError::Storage(error.to_string())
    }
}

impl ControlError {
    /// The Kafka error code for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            ControlError::TopicAlreadyExists(_) => ErrorCode::TopicAlreadyExists,
            ControlError::InvalidTopicName(error) => error_code::topic_name_error(error),
            ControlError::InvalidConfig(error) => error_code::config_error(error),
            ControlError::InvalidPartitions(_) => ErrorCode::InvalidPartitions,
            ControlError::InvalidReplicationFactor(_) => ErrorCode::InvalidReplicationFactor,
            ControlError::UnknownTopic(_) => ErrorCode::UnknownTopicOrPartition,
            ControlError::UnknownTopicId => ErrorCode::UnknownTopicId,
            ControlError::TopicDeletionDisabled => ErrorCode::TopicDeletionDisabled,
            ControlError::InternalTopic(_) => ErrorCode::InvalidTopicException,
            ControlError::Storage(_) => ErrorCode::KafkaStorageError,
            ControlError::Unavailable => ErrorCode::RequestTimedOut,
        }
    }
}
