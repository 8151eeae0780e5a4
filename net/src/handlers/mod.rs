//! One module per Kafka API. Each `handle` takes the decoded request and
//! returns the typed response; `dispatch` does the decoding and encoding.
//! Conversions between wire text types and Rust strings used by several
//! handlers live here.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod alter_replica_log_dirs;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod commit_screen;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod elect_leaders;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod write_txn_markers;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

/// Wire text from a Rust string.
pub fn str_bytes(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// A wire topic name from a Rust string.
pub fn topic_name(text: &str) -> TopicName {
    TopicName(str_bytes(text))
}

/// The wire form of an error message.
pub fn message(error: &impl std::fmt::Display) -> Option<StrBytes> {
    Some(StrBytes::from_string(error.to_string()))
}

/// The topic a request names: by id from `ids_from_version` on, by name
/// before it. Unknown names get UNKNOWN_TOPIC_OR_PARTITION, unknown ids
/// UNKNOWN_TOPIC_ID.
pub fn resolve_topic(
    image: &skein_controller::MetadataImage,
    name: &TopicName,
    topic_id: &uuid::Uuid,
    by_id: bool,
) -> Result<std::sync::Arc<skein_controller::TopicImage>, crate::error_code::ErrorCode> {
    use crate::error_code::ErrorCode;
    if by_id {
        image
            .topic_by_id(topic_id.as_bytes())
            .cloned()
            .ok_or(ErrorCode::UnknownTopicId)
    } else {
        image
            .topic(name.as_str())
            .cloned()
            .ok_or(ErrorCode::UnknownTopicOrPartition)
    }
}
