//! FindCoordinator: a group's coordinator is the leader of its
//! `__consumer_offsets` partition, as in Kafka (v0–v3 one key, v4+ a batch
//! of keys); COORDINATOR_NOT_AVAILABLE while that partition has no live
//! leader. Transaction coordinators are not built: key type 1 is refused.

use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::find_coordinator_response::{Coordinator, FindCoordinatorResponse};
use kafka_protocol::messages::BrokerId;
use kafka_protocol::protocol::StrBytes;

use skein_controller::group_coordinator::{partition_for_group, CONSUMER_OFFSETS_TOPIC};
use skein_controller::MetadataImage;

use super::str_bytes;
use crate::cluster_view::{self, BrokerAddress};
use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;

/// `key_type` of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;

/// Answers a FindCoordinator request of `version`.
pub fn handle(
    ctx: &ShardState,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let image = ctx.image();
    let locate = |key: &str| -> Result<BrokerAddress, (ErrorCode, &'static str)> {
        if request.key_type != KEY_TYPE_GROUP {
            return Err((
                ErrorCode::InvalidRequest,
                "only group coordinators exist (transactions are not supported)",
            ));
        }
        coordinator(ctx, &image, key).ok_or((
            ErrorCode::CoordinatorNotAvailable,
            "the group's __consumer_offsets partition has no live leader",
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

/// The live broker leading `group_id`'s `__consumer_offsets` partition.
fn coordinator(ctx: &ShardState, image: &MetadataImage, group_id: &str) -> Option<BrokerAddress> {
    let topic = image.topic(CONSUMER_OFFSETS_TOPIC)?;
    let count = u32::try_from(topic.partitions).ok()?;
    let partition = i32::try_from(partition_for_group(group_id, count)).ok()?;
    let leader = image.leader(&topic.topic_id, partition)?;
    cluster_view::broker_address(ctx, image, leader)
}
