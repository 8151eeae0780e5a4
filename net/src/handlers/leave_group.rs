//! LeaveGroup: one member (v0–v2) or a batch of members by id or
//! `group.instance.id` (v3+).

use kafka_protocol::messages::leave_group_request::LeaveGroupRequest;
use kafka_protocol::messages::leave_group_response::{LeaveGroupResponse, MemberResponse};
use skein_controller::group_coordinator::{
    self as groups, GroupError, MemberIdentity, Request, Response,
};

use super::str_bytes;
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::{group_error, group_result, ErrorCode};
use crate::group_request::ask;
use crate::shard_state::ShardState;

/// Answers a LeaveGroup request of `version`.
/// Kafka: READ on the group.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    if !caller.may_on_group(AclOperation::Read, request.group_id.as_str()) {
        return LeaveGroupResponse::default()
            .with_error_code(ErrorCode::GroupAuthorizationFailed.code());
    }
    let members = if version >= 3 {
        request
            .members
            .into_iter()
            .map(|member| MemberIdentity {
                member_id: member.member_id.to_string(),
                group_instance_id: member.group_instance_id.map(|id| id.to_string()),
                reason: member.reason.map(|reason| reason.to_string()),
            })
            .collect()
    } else {
        vec![MemberIdentity {
            member_id: request.member_id.to_string(),
            group_instance_id: None,
            reason: None,
        }]
    };
    let leave = groups::LeaveGroup {
        group_id: request.group_id.0.to_string(),
        members,
    };
    let result = match ask(ctx, Request::LeaveGroup(leave)).await {
        Ok(Response::LeaveGroup(result)) => result,
        Ok(_) | Err(_) => Err(GroupError::CoordinatorNotAvailable),
    };
    match result {
        Err(error) => LeaveGroupResponse::default().with_error_code(group_error(&error).code()),
        Ok(results) if version < 3 => {
            // One member: its outcome is the top-level error.
            let code = results
                .first()
                .map_or(ErrorCode::None, |member| group_result(&member.result));
            LeaveGroupResponse::default().with_error_code(code.code())
        }
        Ok(results) => LeaveGroupResponse::default().with_members(
            results
                .into_iter()
                .map(|member| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(&member.member_id))
                        .with_group_instance_id(member.group_instance_id.as_deref().map(str_bytes))
                        .with_error_code(group_result(&member.result).code())
                })
                .collect(),
        ),
    }
}
