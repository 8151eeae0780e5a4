//! The control plane: the metadata log (topic, partition and config records)
//! replayed into an immutable metadata image that every shard receives, the
//! Raft metadata quorum that replicates it (`quorum`), the broker and topic
//! configuration, and the group coordinator. Runs on the control shard only.
//!
//! Owns: metadata records and their durable log, the quorum core (raft-rs,
//! sans-IO) and its store, the image, group state.
//! Must not: block a data shard.

mod config;
mod error;
mod image;
mod listener;
mod metadata_log;
mod metadata_record;
mod topic_name;

pub use config::{
    change_list_config, is_list_config, topic_config_def, validate_topic_config, BrokerConfig,
    ConfigError, ListChange, PropertyDef, Support, ValueKind, PROPERTIES,
};
pub use error::MetadataError;
pub use image::{MetadataImage, TopicImage};
pub use listener::{parse_listeners, Listener};
pub use metadata_log::MetadataLog;
pub use metadata_record::{MetadataRecord, TopicId};
pub use topic_name::{validate_topic_name, TopicNameError};

pub mod group_coordinator;
pub mod quorum;
