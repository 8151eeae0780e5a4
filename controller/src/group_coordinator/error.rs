//! Group coordinator errors: one variant per Kafka error code the coordinator
//! returns, so `net/src/error_code.rs` maps them with one exhaustive `match`.

/// An outcome of a group or offset request that Kafka reports as an error
/// code. Each variant documents the Kafka error name and numeric code it maps
/// to; the mapping is 1:1.
///
/// Lives on: the control shard (returned inside [`super::Response`]s).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// `UNKNOWN_SERVER_ERROR` (-1): the group metadata record could not be
    /// appended because it was too large.
    #[error("unexpected server error")]
    UnknownServerError,
    /// `OFFSET_METADATA_TOO_LARGE` (12): the commit's metadata string is
    /// longer than `offset.metadata.max.bytes`.
    #[error("offset metadata longer than the configured maximum")]
    OffsetMetadataTooLarge,
    /// `COORDINATOR_LOAD_IN_PROGRESS` (14): the group's `__consumer_offsets`
    /// partition is still being replayed; retriable.
    #[error("the group's __consumer_offsets partition is still loading")]
    CoordinatorLoadInProgress,
    /// `COORDINATOR_NOT_AVAILABLE` (15): the group is being unloaded or
    /// deleted, or the append to `__consumer_offsets` failed transiently.
    #[error("coordinator not available")]
    CoordinatorNotAvailable,
    /// `NOT_COORDINATOR` (16): this node does not own the group's
    /// `__consumer_offsets` partition (any more).
    #[error("not the coordinator for this group")]
    NotCoordinator,
    /// `ILLEGAL_GENERATION` (22): the request's generation id is not the
    /// group's current generation.
    #[error("illegal generation")]
    IllegalGeneration,
    /// `INCONSISTENT_GROUP_PROTOCOL` (23): the member's protocol type or
    /// protocols are not compatible with the group's.
    #[error("inconsistent group protocol")]
    InconsistentGroupProtocol,
    /// `INVALID_GROUP_ID` (24): the group id is empty where a name is needed.
    #[error("invalid group id")]
    InvalidGroupId,
    /// `UNKNOWN_MEMBER_ID` (25): the member id is not (or no longer) in the
    /// group.
    #[error("unknown member id")]
    UnknownMemberId,
    /// `INVALID_SESSION_TIMEOUT` (26): the session timeout is outside
    /// `[group.min.session.timeout.ms, group.max.session.timeout.ms]`.
    #[error("session timeout outside the configured range")]
    InvalidSessionTimeout,
    /// `REBALANCE_IN_PROGRESS` (27): the group is rebalancing; the member must
    /// rejoin.
    #[error("rebalance in progress")]
    RebalanceInProgress,
    /// `INVALID_COMMIT_OFFSET_SIZE` (28): the offset commit record was too
    /// large to append.
    #[error("offset commit record too large")]
    InvalidCommitOffsetSize,
    /// `UNKNOWN_TOPIC_OR_PARTITION` (3): produced by the network layer, not
    /// the coordinator: Kafka rejects commits for partitions missing from the
    /// metadata image before they reach the coordinator. Listed here so that
    /// per-partition commit results have one error type.
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    /// `NON_EMPTY_GROUP` (68): DeleteGroups on a group that still has
    /// members, or OffsetDelete on a non-consumer group with members.
    #[error("the group is not empty")]
    NonEmptyGroup,
    /// `GROUP_ID_NOT_FOUND` (69): the group does not exist.
    #[error("group id not found")]
    GroupIdNotFound,
    /// `MEMBER_ID_REQUIRED` (79): first JoinGroup (v4+) of a dynamic member;
    /// the client must rejoin with `member_id`, which the coordinator
    /// generated and remembers as pending. Put `member_id` in the response's
    /// `member_id` field.
    #[error("member id required; rejoin with {member_id}")]
    MemberIdRequired {
        /// The member id the client must use when it rejoins.
        member_id: String,
    },
    /// `GROUP_MAX_SIZE_REACHED` (81): the group already has
    /// `group.max.size` members.
    #[error("group reached its maximum size")]
    GroupMaxSizeReached,
    /// `FENCED_INSTANCE_ID` (82): another member id now holds this
    /// `group.instance.id`.
    #[error("static member fenced by a newer member with the same group.instance.id")]
    FencedInstanceId,
    /// `GROUP_SUBSCRIBED_TO_TOPIC` (86): OffsetDelete for a topic a member of
    /// the (consumer) group is subscribed to.
    #[error("the group is subscribed to the topic")]
    GroupSubscribedToTopic,
    /// `INVALID_REQUEST` (42): a ConsumerGroupHeartbeat whose fields do not
    /// fit together (Kafka's message is sent along).
    #[error("{reason}")]
    InvalidRequest {
        /// What is wrong, in Kafka's words.
        reason: String,
    },
    /// `UNSUPPORTED_VERSION` (35): an OffsetCommit below v9 from a member of
    /// a consumer group (it must send its member epoch).
    #[error(
        "OffsetCommit version 9 or above must be used by members using the modern group protocol"
    )]
    UnsupportedVersion,
    /// `FENCED_MEMBER_EPOCH` (110): the member's epoch is not the one the
    /// coordinator knows; it must drop its partitions and rejoin with epoch 0.
    #[error("the member epoch is fenced by the group coordinator; the member must abandon all its partitions and rejoin")]
    FencedMemberEpoch,
    /// `UNRELEASED_INSTANCE_ID` (111): a static member joins with an
    /// instance id another member still holds (it has not left with epoch -2).
    #[error("the instance id is still used by another member of the consumer group")]
    UnreleasedInstanceId,
    /// `UNSUPPORTED_ASSIGNOR` (112): the requested server assignor is not in
    /// `group.consumer.assignors`.
    #[error("{reason}")]
    UnsupportedAssignor {
        /// Which assignor, and the supported ones.
        reason: String,
    },
    /// `STALE_MEMBER_EPOCH` (113): an OffsetCommit or OffsetFetch with a member
    /// epoch that is not the member's current one.
    #[error("the member epoch is stale")]
    StaleMemberEpoch,
    /// `INVALID_REGULAR_EXPRESSION` (128): a subscription regex that does not
    /// compile.
    #[error("{reason}")]
    InvalidRegularExpression {
        /// The compiler's complaint.
        reason: String,
    },
}

/// Why the driver failed to append a [`super::Action::Persist`] batch to
/// `__consumer_offsets`. Passed back through
/// [`super::GroupCoordinator::persisted`]; the coordinator turns it into the
/// error Kafka returns for the same append failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// This node is no longer the partition's leader, or the log is offline
    /// (Kafka: `NOT_LEADER_OR_FOLLOWER`, `KAFKA_STORAGE_ERROR`).
    #[error("not the leader of the __consumer_offsets partition")]
    NotLeader,
    /// The append could not be replicated in time (Kafka:
    /// `NOT_ENOUGH_REPLICAS*`, `REQUEST_TIMED_OUT`, `UNKNOWN_TOPIC_OR_PARTITION`).
    #[error("append not replicated in time")]
    Unavailable,
    /// The batch exceeded the maximum message size (Kafka:
    /// `MESSAGE_TOO_LARGE`, `RECORD_LIST_TOO_LARGE`).
    #[error("record batch too large")]
    TooLarge,
}

impl AppendError {
    /// The error Kafka's `GroupMetadataManager.storeGroup` returns.
    pub(crate) fn for_group(self) -> GroupError {
        match self {
            AppendError::NotLeader => GroupError::NotCoordinator,
            AppendError::Unavailable => GroupError::CoordinatorNotAvailable,
            AppendError::TooLarge => GroupError::UnknownServerError,
        }
    }

    /// The error Kafka's `GroupMetadataManager.storeOffsets` returns.
    pub(crate) fn for_offsets(self) -> GroupError {
        match self {
            AppendError::NotLeader => GroupError::NotCoordinator,
            AppendError::Unavailable => GroupError::CoordinatorNotAvailable,
            AppendError::TooLarge => GroupError::InvalidCommitOffsetSize,
        }
    }
}

/// A `__consumer_offsets` record that cannot be decoded during
/// [`super::GroupCoordinator::load_partition`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The key or value ended before a field was complete.
    #[error("record truncated while reading {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// A length prefix was negative where null is not allowed.
    #[error("negative length {length} for {field}")]
    NegativeLength {
        /// The field being read.
        field: &'static str,
        /// The length read.
        length: i32,
    },
    /// A string was not UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field being read.
        field: &'static str,
    },
    /// A value schema version this coordinator cannot read.
    #[error("unsupported {kind} value version {version}")]
    UnsupportedValueVersion {
        /// `"offset commit"` or `"group metadata"`.
        kind: &'static str,
        /// The version read.
        version: i16,
    },
    /// A group metadata value whose key names no group.
    #[error("trailing bytes after {kind}")]
    TrailingBytes {
        /// `"key"` or `"value"`.
        kind: &'static str,
    },
}

/// An invalid [`super::GroupCoordinatorConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field is outside its valid range.
    #[error("{name} = {value} is invalid: {reason}")]
    OutOfRange {
        /// The Kafka property name.
        name: &'static str,
        /// The rejected value.
        value: i64,
        /// What the valid range is.
        reason: &'static str,
    },
}

/// A `__consumer_offsets` partition number outside
/// `[0, offsets.topic.num.partitions)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("__consumer_offsets partition {partition} out of range (count {partition_count})")]
pub struct PartitionOutOfRange {
    /// The rejected partition.
    pub partition: u32,
    /// `offsets.topic.num.partitions`.
    pub partition_count: u32,
}

/// Why [`super::GroupCoordinator::load_partition`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The partition number is out of range.
    #[error(transparent)]
    Partition(#[from] PartitionOutOfRange),
    /// A record could not be decoded; the partition stays loading.
    #[error("record {index} of the partition")]
    Record {
        /// The position of the bad record in the replayed sequence.
        index: usize,
        /// What was wrong with it.
        #[source]
        source: RecordError,
    },
}
