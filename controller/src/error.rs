//! The controller's typed errors: [`MetadataError`] for a metadata log that
//! cannot be read or written, [`ControllerError`] for a metadata change the
//! controller's rules refuse. Kafka error codes are chosen for them only in
//! `net`'s `error_code` module.
use crate::acl::AclError;
use std::path::PathBuf;

use crate::config::ConfigError;
use crate::topic_name::TopicNameError;

/// A metadata log that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// A record on disk does not decode.
    #[error("corrupt metadata record: {reason}")]
    CorruptRecord { reason: &'static str },
    /// Reading or writing the metadata log failed.
    #[error("metadata log I/O on {path:?}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An earlier append failed part-way (a failed write or fsync): what is
    /// on disk past the last acknowledged record is unknown, so the log
    /// takes no more appends until it is reopened (which truncates a torn
    /// tail).
    #[error("metadata log poisoned by an earlier failed append on {path:?}")]
    Poisoned { path: PathBuf },
    /// A read from an offset past the end of the log.
    #[error("metadata log read from offset {from}, past its end {log_end_offset}")]
    ReadPastEnd { from: u64, log_end_offset: u64 },
}

/// Why the controller refused one item of a metadata change (one topic of a
/// CreateTopics, one config change of an AlterConfigs, …). The other items
/// of the same request are judged on their own.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControllerError {
    /// The topic exists already (or an earlier item of the same request
    /// creates it).
    #[error("topic {0:?} already exists")]
    TopicAlreadyExists(String),
    /// The name breaks Kafka's rules.
    #[error(transparent)]
    InvalidTopicName(#[from] TopicNameError),
    /// A config is unknown or has a bad value.
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
    /// A new topic's partition count that is neither positive nor -1 (the
    /// `num.partitions` default).
    #[error("number of partitions must be larger than 0, or -1 for the default; got {0}")]
    PartitionCountNotPositive(i32),
    /// CreatePartitions with a count that does not grow the topic.
    #[error(
        "topic currently has {current} partitions, which is higher than or equal to the requested {requested}"
    )]
    PartitionCountNotIncreased { current: i32, requested: i32 },
    /// More replicas than unfenced brokers to hold them (Kafka's message).
    #[error(
        "Unable to replicate the partition {replication_factor} time(s): The target replication factor of {replication_factor} cannot be reached because only {brokers} broker(s) are registered."
    )]
    InvalidReplicationFactor {
        replication_factor: i16,
        brokers: usize,
    },
    /// A replication factor neither positive nor -1 (the
    /// `default.replication.factor` default).
    #[error("Replication factor must be larger than 0, or -1 to use the default value.")]
    ReplicationFactorNotPositive(i16),
    /// More partitions than one topic may have.
    #[error("a topic may have at most {max} partitions; {requested} were requested")]
    TooManyPartitions { requested: i32, max: i32 },
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
    /// The topic has no such partition.
    #[error("unknown partition {partition} of the topic")]
    UnknownPartition { partition: i32 },
    /// A heartbeat, AlterPartition or unregistration from a broker id that
    /// is not registered.
    #[error("broker {0} is not registered")]
    BrokerIdNotRegistered(i32),
    /// A request naming a broker epoch other than the broker's current one:
    /// it comes from an earlier incarnation, or one that re-registered.
    #[error(
        "broker {broker_id} sent broker epoch {broker_epoch}, but its current epoch is {current}"
    )]
    StaleBrokerEpoch {
        broker_id: i32,
        broker_epoch: i64,
        current: i64,
    },
    /// A registration with a new incarnation while the registered one is
    /// still alive (its session has not expired).
    #[error("another incarnation of broker {0} is registered and alive")]
    DuplicateBrokerRegistration(i32),
    /// A registration from an incarnation that a later one replaced.
    #[error("broker {0} registered with an incarnation that a later one replaced")]
    StaleBrokerIncarnation(i32),
    /// AlterPartition with an older leader epoch than the partition's.
    #[error("leader epoch {requested} is older than the current {current}")]
    FencedLeaderEpoch { requested: i32, current: i32 },
    /// AlterPartition with an older partition epoch than the partition's.
    #[error("partition epoch {requested} is older than the current {current}")]
    InvalidUpdateVersion { requested: i32, current: i32 },
    /// A request naming epochs newer than this controller knows: it is
    /// behind, and likely no longer the active controller.
    #[error("the request knows newer metadata than this controller")]
    NotController,
    /// A request that breaks the protocol's rules (Kafka's INVALID_REQUEST).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// An ACL binding Kafka's controller refuses (INVALID_REQUEST).
    #[error(transparent)]
    InvalidAcl(#[from] AclError),
    /// An AlterPartition that puts a fenced or shutting-down broker in the ISR.
    #[error("broker {0} is fenced or shutting down; it cannot join the ISR")]
    IneligibleReplica(i32),
    /// ElectLeaders on a partition already led by the replica it would
    /// elect.
    #[error("leader election not needed")]
    ElectionNotNeeded,
    /// A preferred election whose preferred replica cannot lead (fenced,
    /// shutting down, or out of the ISR).
    #[error("the preferred leader is not available")]
    PreferredLeaderNotAvailable,
    /// An unclean election that found no live replica.
    #[error("no eligible leader is available")]
    EligibleLeadersNotAvailable,
    /// An AlterUserScramCredentials naming the same user and mechanism
    /// twice (Kafka's message).
    #[error("A user credential cannot be altered twice in the same request")]
    DuplicateScramCredential,
    /// A SCRAM mechanism type other than SCRAM-SHA-256 (1) or SCRAM-SHA-512
    /// (2).
    #[error("Unknown SCRAM mechanism")]
    UnknownScramMechanism,
    /// A SCRAM credential Kafka would not store: an empty user name, too
    /// few or too many iterations, an empty salt or salted password.
    #[error("{0}")]
    UnacceptableCredential(&'static str),
    /// Deleting (or describing) a SCRAM credential that does not exist.
    #[error("Attempt to {0} a user credential that does not exist")]
    ScramCredentialNotFound(&'static str),
    /// A reassignment's target replicas Kafka refuses: empty, a broker
    /// twice, or a broker that is not registered (the message says which).
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    /// A new topic's manual assignment beside a replication factor other
    /// than -1 (Kafka's INVALID_REQUEST and message).
    #[error(
        "A manual partition assignment was specified, but replication factor was not set to -1."
    )]
    ManualAssignmentWithReplicationFactor,
    /// A new topic's manual assignment beside a partition count other than
    /// -1 (Kafka's INVALID_REQUEST and message).
    #[error("A manual partition assignment was specified, but numPartitions was not set to -1.")]
    ManualAssignmentWithPartitionCount,
    /// A reassignment that changes the replication factor although the
    /// request does not allow it (KIP-860).
    #[error("The replication factor is changed from {current} to {requested}")]
    ReplicationFactorChanged { current: usize, requested: usize },
    /// A cancellation of a partition that is not being reassigned.
    #[error("No reassignment in progress for partition {partition} of the topic")]
    NoReassignmentInProgress { partition: i32 },
}
