//! SyncGroup: the leader's assignment goes in; each member's share comes
//! back once the assignment is durable in `__consumer_offsets`.

use kafka_protocol::messages::sync_group_request::SyncGroupRequest;
use kafka_protocol::messages::sync_group_response::SyncGroupResponse;
use skein_controller::group_coordinator::{self as groups, GroupError, Request, Response};

use super::str_bytes;
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::{group_error, ErrorCode};
use crate::group_request::ask;
use crate::shard_state::ShardState;

/// Answers a SyncGroup request.
/// Kafka: READ on the group.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    if !caller.may_on_group(AclOperation::Read, request.group_id.as_str()) {
        return SyncGroupResponse::default()
            .with_error_code(ErrorCode::GroupAuthorizationFailed.code());
    }
    let sync = groups::SyncGroup {
        group_id: request.group_id.0.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|id| id.to_string()),
        protocol_type: request.protocol_type.map(|name| name.to_string()),
        protocol_name: request.protocol_name.map(|name| name.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|assignment| (assignment.member_id.to_string(), assignment.assignment))
            .collect(),
    };
    let result = match ask(ctx, Request::SyncGroup(sync)).await {
        Ok(Response::SyncGroup(result)) => result,
        Ok(_) | Err(_) => Err(GroupError::CoordinatorNotAvailable),
    };
    match result {
        Ok(synced) => SyncGroupResponse::default()
            .with_protocol_type(synced.protocol_type.as_deref().map(str_bytes))
            .with_protocol_name(synced.protocol_name.as_deref().map(str_bytes))
            .with_assignment(synced.assignment),
        Err(error) => SyncGroupResponse::default().with_error_code(group_error(&error).code()),
    }
}
