//! The messages that cross the shard mesh: operations on a partition, sent
//! to its owner shard; metadata images, published by the control shard; and
//! metadata changes, sent to the control shard. Everything here is `Send`.

use skein_controller::{AclBinding, AclBindingFilter, AclError};
use std::sync::Arc;

use bytes::Bytes;
use skein_controller::group_coordinator;
use skein_controller::transaction_coordinator;
use skein_controller::{ControllerError, MetadataError, MetadataImage, TopicId};
// The metadata change's parts are the controller's types; handlers name them
// from here, with the rest of the control shard's messages.
pub use skein_controller::quorum::QuorumStatus;
pub use skein_controller::{
    CreatedTopic, ElectionType, NewPartitions, NewTopic, PartitionReassignment, ScramDeletion,
    ScramUpsertion, TopicConfigChange, TopicRef,
};
use skein_engine::{AppendError, AppendInfo, LogError, ReadError};
use skein_replication::{AbortedTxn, BrokerId, ProducerDescription, ProducerError, TxnResult};
pub use skein_replication::{
    EpochEndOffset, ListedOffset, PartitionOffsets, ReadInfo, ReplicationError,
};

use crate::error_code::{self, ErrorCode};
use crate::fetch_reads::{ShardReads, ShardReadsDone, ShardWaits};

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
    /// A transactional request, for the transaction coordinator on the
    /// control shard; answered with [`ShardReply::Transaction`] once its
    /// state change is durable.
    Transaction(transaction_coordinator::Request),
    /// A fetch's reads of partitions this data shard owns, answered with
    /// [`ShardReply::Reads`].
    Reads(ShardReads),
    /// A fetch's long-poll on partitions this data shard owns, answered
    /// with [`ShardReply::Waited`].
    Waits(ShardWaits),
}

/// A follower's read of its leader's partition: who reads, and the leader
/// epoch of the last batch it holds (Fetch v12+'s `last_fetched_epoch`, -1:
/// none), against which the leader checks divergence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerRead {
    /// The follower's broker id.
    pub broker: BrokerId,
    /// The broker epoch its fetch carried (Fetch v15+; -1: none).
    pub broker_epoch: i64,
    /// Its last fetched epoch (-1: none sent).
    pub last_fetched_epoch: i32,
}

/// What to do to a partition.
pub enum PartitionOp {
    /// Append one Produce partition's record batches; with `acks_all_timeout_ms`
    /// (acks=all) check `min.insync.replicas` first and answer once the
    /// high watermark passes the batches, or time out.
    Append {
        records: Bytes,
        acks_all_timeout_ms: Option<u64>,
    },
    /// Read whole batches from `offset`, up to the high watermark (a
    /// read_uncommitted consumer); for a follower `replica`, up to the log
    /// end, recording its fetch.
    Read {
        offset: i64,
        max_bytes: usize,
        replica: Option<FollowerRead>,
    },
    /// Resolve once the high watermark (for a follower's fetch, the log
    /// end) passes `offset`, or after `timeout_ms`.
    WaitForAppend {
        offset: i64,
        timeout_ms: u64,
        replica: bool,
    },
    /// A read_committed consumer's read: whole batches from `offset` up to
    /// the last stable offset, with the aborted transactions they overlap.
    ReadCommitted { offset: i64, max_bytes: usize },
    /// Resolve once the last stable offset passes `offset`, or after
    /// `timeout_ms` (a read_committed long-poll).
    WaitForStable { offset: i64, timeout_ms: u64 },
    /// ListOffsets for one timestamp (or the special values -1..-5), for
    /// a read_committed consumer bounded by the last stable offset.
    ListOffset {
        timestamp: i64,
        read_committed: bool,
    },
    /// WriteTxnMarkers: write a coordinator's marker as leader and answer
    /// once the high watermark passes it (at most `timeout_ms`).
    WriteTxnMarker {
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        result: TxnResult,
        timeout_ms: u64,
    },
    /// DeleteRecords up to `offset` (-1: the high watermark).
    DeleteRecords { offset: i64 },
    /// The current log start offset, high watermark and log end offset.
    Offsets,
    /// OffsetForLeaderEpoch: where `leader_epoch` ends in the log.
    EndOffsetForEpoch { leader_epoch: i32 },
    /// The bytes of the partition's segments, for DescribeLogDirs.
    Size,
    /// DescribeProducers: the partition's idempotent producers (leader only).
    DescribeProducers,
    /// Move the partition to log directory `log_dir` (an index into the
    /// broker's `LogDirs`), for AlterReplicaLogDirs.
    MoveToLogDir { log_dir: usize },
}

/// One WriteTxnMarkers partition's marker, as the handler asks the
/// partition's owner to write it.
#[derive(Debug, Clone, Copy)]
pub struct MarkerWrite {
    /// The producer whose transaction ends.
    pub producer_id: i64,
    /// Its epoch.
    pub producer_epoch: i16,
    /// The coordinator epoch of the writer.
    pub coordinator_epoch: i32,
    /// Commit or abort.
    pub result: TxnResult,
    /// How long the acks=all wait may take (ms).
    pub timeout_ms: u64,
}

/// A reply from another shard.
pub enum ShardReply {
    /// To [`PartitionOp::Append`].
    Appended(Result<AppendInfo, PartitionError>),
    /// To [`PartitionOp::Read`]: whole batches, copied out of the owner's
    /// buffers only where they came from a disk read.
    Read(Result<(Vec<Bytes>, ReadInfo), PartitionError>),
    /// To [`PartitionOp::ReadCommitted`]: as `Read`, with the aborted
    /// transactions.
    ReadCommitted(Result<(Vec<Bytes>, ReadInfo, Vec<AbortedTxn>), PartitionError>),
    /// To [`PartitionOp::WaitForAppend`] and [`ShardRequest::Waits`].
    Waited,
    /// To [`ShardRequest::Reads`].
    Reads(ShardReadsDone),
    /// To [`PartitionOp::ListOffset`].
    ListedOffset(Result<ListedOffset, PartitionError>),
    /// To [`PartitionOp::DeleteRecords`]: the new log start offset.
    DeletedRecords(Result<i64, PartitionError>),
    /// To [`PartitionOp::Offsets`].
    Offsets(Result<PartitionOffsets, PartitionError>),
    /// To [`PartitionOp::EndOffsetForEpoch`].
    EpochEndOffset(Result<EpochEndOffset, PartitionError>),
    /// To [`PartitionOp::Size`]: bytes.
    Size(Result<u64, PartitionError>),
    /// To [`PartitionOp::DescribeProducers`].
    Producers(Result<Vec<ProducerDescription>, PartitionError>),
    /// To [`PartitionOp::MoveToLogDir`].
    MovedToLogDir(Result<(), PartitionError>),
    /// To [`ShardRequest::ApplyImage`].
    ImageApplied,
    /// To [`ShardRequest::Control`].
    Control(ControlReply),
    /// To [`ShardRequest::Group`]: the coordinator's answer, or
    /// COORDINATOR_NOT_AVAILABLE if it dropped the request (shutdown).
    Group(Result<group_coordinator::Response, group_coordinator::GroupError>),
    /// To [`ShardRequest::Transaction`]: the coordinator's answer, or
    /// COORDINATOR_NOT_AVAILABLE if it dropped the request (shutdown).
    Transaction(
        Result<transaction_coordinator::Response, transaction_coordinator::TransactionError>,
    ),
    /// The target shard could not be reached (shutting down).
    Unavailable,
}

/// Why an operation on a partition failed, as a connection's shard sees it:
/// the owner's typed outcome (flattened from
/// [`skein_replication::PartitionError`]) or a failure of the mesh between.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// The topic or partition does not exist (or is not open on its owner).
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    /// This broker's replica is a follower.
    #[error("not the leader: broker {leader} leads at leader epoch {leader_epoch}")]
    NotLeader { leader: BrokerId, leader_epoch: i32 },
    /// The append was refused.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// The read was refused.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The partition's log directory has failed.
    #[error("the partition's log directory is offline")]
    LogDirOffline,
    /// The partition is moving between log directories of this broker.
    #[error("the partition is moving between log directories")]
    Moving,
    /// The owner shard is gone (shutting down).
    #[error("partition owner unavailable")]
    OwnerUnavailable,
    /// An idempotent producer's batch is out of sequence or fenced.
    #[error(transparent)]
    Producer(#[from] ProducerError),
    /// The owner answered with the reply of another operation: our bug,
    /// reported as such rather than as a retriable error.
    #[error("the owner shard answered with the reply of another operation")]
    UnexpectedReply,
    /// A replication step refused (acks=all rules, a fetch from a broker
    /// that holds no replica).
    #[error(transparent)]
    Replication(#[from] ReplicationError),
    /// An acks=all produce's high watermark did not pass its batches within
    /// the request's timeout (the records stay appended).
    #[error("the high watermark did not reach the produce in time")]
    ReplicationTimedOut,
}

impl From<skein_replication::PartitionError> for PartitionError {
    fn from(error: skein_replication::PartitionError) -> PartitionError {
        use skein_replication::PartitionError as Owner;
        match error {
            Owner::UnknownTopicOrPartition => PartitionError::UnknownTopicOrPartition,
            Owner::NotLeader {
                leader,
                leader_epoch,
            } => PartitionError::NotLeader {
                leader,
                leader_epoch,
            },
            Owner::Append(error) => PartitionError::Append(error),
            Owner::Read(error) => PartitionError::Read(error),
            Owner::Log(error) => PartitionError::Log(error),
            Owner::Producer(error) => PartitionError::Producer(error),
            Owner::Replication(error) => PartitionError::Replication(error),
            Owner::LogDirOffline => PartitionError::LogDirOffline,
            Owner::Moving => PartitionError::Moving,
        }
    }
}

impl PartitionError {
    /// The Kafka error code for this failure.
    pub fn code(&self) -> ErrorCode {
        error_code::partition_error(self)
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
        topics: Vec<NewPartitions>,
        validate_only: bool,
    },
    /// AlterConfigs / IncrementalAlterConfigs on topics.
    AlterTopicConfigs {
        changes: Vec<TopicConfigChange>,
        validate_only: bool,
    },
    /// InitProducerId: a producer id never handed out before.
    AllocateProducerId,
    /// ElectLeaders of `election_type` (preferred or unclean) for the
    /// partitions of each named topic, or for every partition when `None`.
    ElectLeaders {
        election_type: ElectionType,
        partitions: Option<Vec<(String, Vec<i32>)>>,
    },
    /// DescribeQuorum: the metadata quorum as the active controller sees it.
    /// Changes nothing.
    DescribeQuorum,
    /// AlterUserScramCredentials: create, replace or remove SCRAM
    /// credentials.
    AlterUserScramCredentials {
        deletions: Vec<ScramDeletion>,
        upsertions: Vec<ScramUpsertion>,
    },
    /// CreateAcls: one binding per creation, or why its codes are not
    /// Kafka's.
    CreateAcls {
        creations: Vec<Result<AclBinding, AclError>>,
    },
    /// DeleteAcls: one filter per deletion, or why its codes are not Kafka's.
    DeleteAcls {
        filters: Vec<Result<AclBindingFilter, AclError>>,
    },
    /// AlterPartitionReassignments: start, replace or cancel (`replicas`
    /// `None`) each partition's move; `allow_replication_factor_change`
    /// false refuses a target of another size (KIP-860).
    AlterPartitionReassignments {
        reassignments: Vec<PartitionReassignment>,
        allow_replication_factor_change: bool,
    },
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
    /// Per partition asked for, in request order (with every partition asked
    /// for, only those that needed an election): `(topic, partition,
    /// outcome)`; or why none was tried.
    ElectedLeaders(Result<Vec<ElectionOutcome>, ControlError>),
    /// The metadata quorum's status, in the quorum's node ids.
    Quorum(Result<QuorumStatus, ControlError>),
    /// Per user named, in order of first appearance.
    AlteredScramCredentials(Vec<(String, Result<(), ControlError>)>),
    /// Per creation.
    CreatedAcls(Vec<Result<(), ControlError>>),
    /// Per filter: the bindings it removed.
    DeletedAcls(Vec<Result<Vec<AclBinding>, ControlError>>),
    /// Per reassignment, in request order.
    AlteredPartitionReassignments(Vec<Result<(), ControlError>>),
}

/// One partition's outcome of an ElectLeaders: `(topic, partition, result)`.
pub type ElectionOutcome = (String, i32, Result<(), ControlError>);

/// Why a metadata change was not made: the controller's rules refused it,
/// the metadata log failed, or the control shard could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The controller's rules refused the change.
    #[error(transparent)]
    Refused(#[from] ControllerError),
    /// The metadata log failed: the records that would have made the change
    /// were not committed.
    #[error("metadata log failure: {0}")]
    Storage(String),
    /// The control shard is unreachable.
    #[error("controller unavailable")]
    Unavailable,
    /// This node is not the cluster's active controller.
    #[error("this node is not the active controller (the active controller is node {active:?})")]
    NotController { active: Option<i32> },
    /// The active controller refused the change this node forwarded to
    /// it, with `code` and its message.
    #[error("{message}")]
    Remote { code: ErrorCode, message: String },
}

impl From<MetadataError> for ControlError {
    fn from(error: MetadataError) -> ControlError {
        ControlError::Storage(error.to_string())
    }
}

impl ControlError {
    /// The Kafka error code for this refusal.
    pub fn code(&self) -> ErrorCode {
        error_code::control_error(self)
    }
}
