//! The control plane: the metadata controller's rules, which turn a metadata
//! change into records (propose) and committed records into an immutable
//! metadata image that every shard receives (apply) — topics and configs,
//! and the cluster: broker registration, heartbeats and fencing, replica
//! placement, leader election and ISR changes; the Raft metadata quorum
//! whose log carries the records (`quorum`: raft-rs driven sans-IO, with its
//! own log store), one change per entry (`metadata_entry`), and snapshots of
//! the image as records (`image_snapshot`); the pre-quorum metadata log
//! (read once, to upgrade a data dir) behind its storage interface; the
//! broker and topic configuration; and the group coordinator. Sans-IO except
//! for the log files, which their drivers call. Runs on the control shard
//! only.
//!
//! Owns: metadata records and their durable log, the rules, the quorum core
//! and its store, the image (brokers and every partition's replicas, ISR,
//! leader and epochs), group state.
//! Must not: block a data shard; choose Kafka error codes (`net` does).

mod acl;
mod broker_registration;
mod client_login;
mod config;
mod error;
mod image;
mod image_snapshot;
mod jaas_config;
mod kafka_properties;
mod listener;
mod listener_sasl;
mod listener_security;
mod metadata_controller;
mod metadata_entry;
mod metadata_follower;
mod metadata_log;
mod metadata_record;
mod metadata_storage;
mod partition_state;
mod principal;
mod scram_credential;
mod ssl_principal_mapping;
mod topic_name;

pub use acl::{
    AclBinding, AclBindingFilter, AclError, AclId, AclOperation, AclPermission, AclTable,
    AuthorizationResult, Authorizer, AuthorizerError, AuthorizerSettings, PatternType,
    ResourceType, ACL_AUTHORIZER_CLASS_NAME, CLUSTER_RESOURCE_NAME, STANDARD_AUTHORIZER_CLASS_NAME,
    WILDCARD_HOST, WILDCARD_PRINCIPAL, WILDCARD_RESOURCE,
};
pub use broker_registration::{BrokerRegistration, RETIRED_INCARNATIONS_MAX};
pub use client_login::{ClientLogin, ClientLoginSettings, ClientSasl};
pub use config::{
    change_list_config, is_list_config, is_topic_config, topic_config_def, validate_topic_config,
    BrokerConfig, ConfigError, ListChange, NodeRoles, PropertyDef, Support, ValueKind, PROPERTIES,
    SASL_LISTENER_PROPERTIES,
};
pub use error::{ControllerError, MetadataError};
pub use image::{MetadataImage, TopicImage};
pub use image_snapshot::{check_applicable, decode_image_snapshot, encode_image_snapshot};
pub use jaas_config::{ControlFlag, JaasConfig, JaasError, PLAIN_LOGIN_MODULE, SCRAM_LOGIN_MODULE};
pub use kafka_properties::{
    kafka_broker_property, kafka_support, KafkaProperty, KafkaSupport, KafkaType,
    KAFKA_BROKER_PROPERTIES, KAFKA_TOPIC_PROPERTIES,
};
pub use listener::{parse_listeners, parse_voters, Listener, Voter};
pub use listener_sasl::{ListenerSasl, SaslMechanism, SaslSettings};
pub use listener_security::{
    ClientAuth, KeySource, SslSettings, TlsVersion, TrustSource, SSL_LISTENER_PROPERTIES,
};
pub use metadata_controller::{
    ongoing_reassignments, AlterPartition, BrokerHeartbeat, BrokerHeartbeatReply, ControllerResult,
    ControllerSettings, CreatedTopic, DirectoryId, ElectionResult, ElectionType,
    MetadataController, NewBrokerRegistration, NewPartitions, NewTopic, OngoingReassignment,
    PartitionReassignment, ProducerIdBlock, ScramDeletion, ScramUpsertion, TopicConfigChange,
    TopicRef, BROKER_SESSION_TIMEOUT_MS_DEFAULT, PRODUCER_ID_BLOCK_SIZE, UNKNOWN_BROKER_EPOCH,
};
pub use metadata_entry::{decode_metadata_entry, encode_metadata_entry};
pub use metadata_follower::{checked_entry, FollowError, MetadataFollower};
pub use metadata_log::MetadataLog;
pub use metadata_record::{
    BrokerEndpoint, IncarnationId, MetadataRecord, TopicId, LISTENERS_MAX, NO_LEADER,
    PARTITIONS_MAX, REPLICAS_MAX,
};
pub use metadata_storage::{MemoryMetadataStorage, MetadataStorage};
pub use partition_state::PartitionState;
pub use principal::{KafkaPrincipal, ANONYMOUS_NAME, USER_TYPE};
pub use scram_credential::{
    ScramCredential, ScramMechanism, SCRAM_BYTES_MAX, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN,
};
pub use ssl_principal_mapping::SslPrincipalMapper;
pub use topic_name::{is_internal_topic, validate_topic_name, TopicNameError};

pub mod group_coordinator;
pub mod quorum;
pub mod transaction_coordinator;
