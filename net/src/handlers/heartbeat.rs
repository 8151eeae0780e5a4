//! Heartbeat: keeps a member's session alive and tells it when to rejoin.

use kafka_protocol::messages::heartbeat_request::HeartbeatRequest;
use kafka_protocol::messages::heartbeat_response::HeartbeatResponse;
use skein_controller::group_coordinator::{self as groups, GroupError, Request, Response};

use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::{group_result, ErrorCode};
use crate::group_request::ask;
use crate::shard_state::ShardState;

/// Answers a Heartbeat request.
/// Kafka: READ on the group.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    if !caller.may_on_group(AclOperation::Read, request.group_id.as_str()) {
        return HeartbeatResponse::default()
            .with_error_code(ErrorCode::GroupAuthorizationFailed.code());
    }
    let heartbeat = groups::Heartbeat {
        group_id: request.group_id.0.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|id| id.to_string()),
    };
    let result = match ask(ctx, Request::Heartbeat(heartbeat)).await {
        Ok(Response::Heartbeat(result)) => result,
        Ok(_) | Err(_) => Err(GroupError::CoordinatorNotAvailable),
    };
    HeartbeatResponse::default().with_error_code(group_result(&result).code())
}
