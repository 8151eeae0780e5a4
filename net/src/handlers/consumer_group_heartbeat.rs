//! ConsumerGroupHeartbeat (KIP-848): join, heartbeat, reconcile or leave a
//! consumer group. The coordinator answers once the changes the heartbeat
//! made are durable in `__consumer_offsets`.

use kafka_protocol::messages::consumer_group_heartbeat_request::ConsumerGroupHeartbeatRequest;
use kafka_protocol::messages::consumer_group_heartbeat_response::{
    Assignment, ConsumerGroupHeartbeatResponse, TopicPartitions,
};
use kafka_protocol::protocol::StrBytes;
use skein_controller::group_coordinator::{self as groups, GroupError, Request, Response};
use uuid::Uuid;

use super::str_bytes;
use crate::caller::Caller;
use crate::error_code::{group_error, ErrorCode};
use crate::group_request::ask;
use crate::shard_state::ShardState;
use skein_controller::AclOperation;

/// Answers a ConsumerGroupHeartbeat from `client_id` at `client_host`.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: ConsumerGroupHeartbeatRequest,
    client_id: &str,
    client_host: &str,
) -> ConsumerGroupHeartbeatResponse {
    if !ctx.config.rebalance_protocol_enabled("consumer") {
        // Not advertised in ApiVersions either.
        return ConsumerGroupHeartbeatResponse::default()
            .with_error_code(ErrorCode::UnsupportedVersion.code());
    }
    // Kafka: READ on the group.
    if !caller.may_on_group(AclOperation::Read, request.group_id.as_str()) {
        return ConsumerGroupHeartbeatResponse::default()
            .with_error_code(ErrorCode::GroupAuthorizationFailed.code());
    }
    let heartbeat = groups::ConsumerGroupHeartbeat {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.map(|s| s.to_string()),
        rack_id: request.rack_id.map(|s| s.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request
            .subscribed_topic_names
            .map(|names| names.into_iter().map(|n| n.0.to_string()).collect()),
        subscribed_topic_regex: request.subscribed_topic_regex.map(|s| s.to_string()),
        server_assignor: request.server_assignor.map(|s| s.to_string()),
        owned_partitions: request.topic_partitions.map(|tps| {
            tps.into_iter()
                .map(|tp| (*tp.topic_id.as_bytes(), tp.partitions))
                .collect()
        }),
        client_id: client_id.to_owned(),
        client_host: client_host.to_owned(),
    };
    let result = match ask(ctx, Request::ConsumerGroupHeartbeat(heartbeat)).await {
        Ok(Response::ConsumerGroupHeartbeat(result)) => result,
        Ok(_) | Err(_) => Err(GroupError::CoordinatorNotAvailable),
    };
    match result {
        Ok(ok) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(str_bytes(&ok.member_id)))
            .with_member_epoch(ok.member_epoch)
            .with_heartbeat_interval_ms(ok.heartbeat_interval_ms)
            .with_assignment(ok.assignment.map(|a| {
                Assignment::default().with_topic_partitions(
                    a.into_iter()
                        .map(|(topic_id, partitions)| {
                            TopicPartitions::default()
                                .with_topic_id(Uuid::from_bytes(topic_id))
                                .with_partitions(partitions)
                        })
                        .collect(),
                )
            })),
        Err(error) => ConsumerGroupHeartbeatResponse::default()
            .with_error_code(group_error(&error).code())
            .with_error_message(Some(StrBytes::from_string(error.to_string()))),
    }
}
