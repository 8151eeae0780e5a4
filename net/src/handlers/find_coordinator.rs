//! FindCoordinator: a group's coordinator is the leader of its
//! `__consumer_offsets` partition, as in Kafka (v0–v3 one key, v4+ a batch
//! of keys); a transactional id's is the leader of its `__transaction_state`
//! partition; COORDINATOR_NOT_AVAILABLE while that partition has no live
//! leader.

use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::find_coordinator_response::{Coordinator, FindCoordinatorResponse};
use kafka_protocol::messages::BrokerId;
use kafka_protocol::protocol::StrBytes;

use skein_controller::group_coordinator::{partition_for_group, CONSUMER_OFFSETS_TOPIC};
use skein_controller::transaction_coordinator::TRANSACTION_STATE_TOPIC;
use skein_controller::{AclOperation, MetadataImage, ResourceType, NO_LEADER};

use super::str_bytes;
use crate::caller::Caller;
use crate::cluster_view::{self, BrokerAddress};
use crate::error_code::ErrorCode;
use crate::listener::ListenerEndpoint;
use crate::shard_state::ShardState;

/// `key_type` of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// `key_type` of a transactional id.
const KEY_TYPE_TRANSACTION: i8 = 1;

/// Answers a FindCoordinator request of `version` from a client of
/// `listener`. Kafka: DESCRIBE on the group or transactional id.
pub fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    listener: &ListenerEndpoint,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let image = ctx.image();
    let locate = |key: &str| -> Result<BrokerAddress, (ErrorCode, &'static str)> {
        let (topic, resource_type, refused) = match request.key_type {
            KEY_TYPE_GROUP => (
                CONSUMER_OFFSETS_TOPIC,
                ResourceType::Group,
                (
                    ErrorCode::GroupAuthorizationFailed,
                    "Group authorization failed.",
                ),
            ),
            KEY_TYPE_TRANSACTION => (
                TRANSACTION_STATE_TOPIC,
                ResourceType::TransactionalId,
                (
                    ErrorCode::TransactionalIdAuthorizationFailed,
                    "Transactional Id authorization failed.",
                ),
            ),
            _ => return Err((ErrorCode::InvalidRequest, "unknown coordinator key type")),
        };
        if !caller.may(AclOperation::Describe, resource_type, key) {
            return Err(refused);
        }
        coordinator(ctx, &image, listener, topic, key).ok_or((
            ErrorCode::CoordinatorNotAvailable,
            "the key's coordinator partition has no live leader",
        ))
    };
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| match locate(key.as_str()) {
                Err((code, reason)) => Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(BrokerId(-1))
                    .with_host(StrBytes::default())
                    .with_port(-1)
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(reason))),
                Ok(broker) => Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(BrokerId(broker.broker_id))
                    .with_host(str_bytes(&broker.host))
                    .with_port(i32::from(broker.port)),
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match locate(request.key.as_str()) {
        Err((code, reason)) => FindCoordinatorResponse::default()
            .with_error_code(code.code())
            .with_error_message((version >= 1).then(|| str_bytes(reason)))
            .with_node_id(BrokerId(-1))
            .with_host(StrBytes::default())
            .with_port(-1),
        Ok(broker) => FindCoordinatorResponse::default()
            .with_node_id(BrokerId(broker.broker_id))
            .with_host(str_bytes(&broker.host))
            .with_port(i32::from(broker.port)),
    }
}

/// The live broker leading `key`'s partition of `topic`.
fn coordinator(
    ctx: &ShardState,
    image: &MetadataImage,
    listener: &ListenerEndpoint,
    topic: &str,
    key: &str,
) -> Option<BrokerAddress> {
    cluster_view::broker_address(ctx, image, listener, coordinator_id(image, topic, key)?)
}

/// The leader of `key`'s partition of the coordinator topic `topic`
/// (Kafka's `abs(hashCode(key)) % partitions`, the same rule for groups and
/// transactional ids), or `None` while the topic does not exist or the
/// partition has no leader.
pub(crate) fn coordinator_id(image: &MetadataImage, topic: &str, group_id: &str) -> Option<i32> {
    let topic = image.topic(topic)?;
    let count = u32::try_from(topic.partitions)
        .ok()
        .filter(|count| *count > 0)?;
    let partition = i32::try_from(partition_for_group(group_id, count)).ok()?;
    topic
        .partition(partition)
        .map(|state| state.leader)
        .filter(|leader| *leader != NO_LEADER)
}

#[cfg(test)]
mod tests {
    use skein_controller::{MetadataRecord, TopicId};

    use super::*;

    const OFFSETS_ID: TopicId = [7; 16];
    const PARTITIONS: i32 = 50;

    fn offsets_topic() -> MetadataRecord {
        MetadataRecord::Topic {
            topic_id: OFFSETS_ID,
            name: CONSUMER_OFFSETS_TOPIC.into(),
            partitions: PARTITIONS,
            configs: Vec::new(),
        }
    }

    /// `__consumer_offsets` whose partition `p` is led by `leader(p)`, as
    /// the controller records a three-broker placement.
    fn image(leader: impl Fn(i32) -> i32) -> MetadataImage {
        let mut records = vec![offsets_topic()];
        records.extend((0..PARTITIONS).map(|partition| MetadataRecord::Partition {
            topic_id: OFFSETS_ID,
            partition,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            leader: leader(partition),
            leader_epoch: 4,
            partition_epoch: 4,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }));
        MetadataImage::replay(1, &records)
    }

    #[test]
    fn group_is_coordinated_by_the_leader_of_its_offsets_partition() {
        // Kafka's hash puts "my-group" in partition 12 and "a" in 47.
        let image = image(|p| match p {
            12 => 2,
            47 => 3,
            _ => 1,
        });
        assert_eq!(
            coordinator_id(&image, CONSUMER_OFFSETS_TOPIC, "my-group"),
            Some(2)
        );
        assert_eq!(coordinator_id(&image, CONSUMER_OFFSETS_TOPIC, "a"), Some(3));
        assert_eq!(
            coordinator_id(&image, CONSUMER_OFFSETS_TOPIC, "test-group"),
            Some(2)
        );
    }

    #[test]
    fn leaderless_partition_has_no_coordinator() {
        let image = image(|p| if p == 12 { NO_LEADER } else { 1 });
        assert_eq!(
            coordinator_id(&image, CONSUMER_OFFSETS_TOPIC, "my-group"),
            None
        );
        assert_eq!(coordinator_id(&image, CONSUMER_OFFSETS_TOPIC, "a"), Some(1));
    }

    #[test]
    fn missing_offsets_topic_has_no_coordinator() {
        assert_eq!(
            coordinator_id(&MetadataImage::new(1), CONSUMER_OFFSETS_TOPIC, "my-group"),
            None
        );
    }

    #[test]
    fn transactional_id_is_coordinated_by_the_leader_of_its_transaction_state_partition() {
        // Same hash as groups: "my-group" lives in partition 12.
        let topic_id: TopicId = [9; 16];
        let mut records = vec![MetadataRecord::Topic {
            topic_id,
            name: TRANSACTION_STATE_TOPIC.into(),
            partitions: PARTITIONS,
            configs: Vec::new(),
        }];
        records.extend((0..PARTITIONS).map(|partition| MetadataRecord::Partition {
            topic_id,
            partition,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            leader: if partition == 12 { 3 } else { 1 },
            leader_epoch: 4,
            partition_epoch: 4,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }));
        let image = MetadataImage::replay(1, &records);
        assert_eq!(
            coordinator_id(&image, TRANSACTION_STATE_TOPIC, "my-group"),
            Some(3)
        );
        assert_eq!(
            coordinator_id(&image, CONSUMER_OFFSETS_TOPIC, "my-group"),
            None
        );
    }

    #[test]
    fn single_node_log_without_partition_records_is_coordinated_here() {
        // Partitions created before replicas were recorded read as led by
        // the image's local broker.
        let image = MetadataImage::replay(5, &[offsets_topic()]);
        assert_eq!(
            coordinator_id(&image, CONSUMER_OFFSETS_TOPIC, "my-group"),
            Some(5)
        );
    }
}
