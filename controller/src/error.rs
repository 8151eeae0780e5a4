//! The controller's typed errors: [`MetadataError`] for a metadata log that
//! cannot be read or written, [`ControllerError`] for a metadata change the
//! controller's rules refuse. Kafka error codes are chosen for them only in
//! `net`'s `error_code` module.
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
}
