//! JoinGroup: version-normalised into the coordinator's request; the answer
//! comes when the rebalance completes (or fails).

use kafka_protocol::messages::join_group_request::JoinGroupRequest;
use kafka_protocol::messages::join_group_response::{JoinGroupResponse, JoinGroupResponseMember};
use kafka_protocol::protocol::StrBytes;
use skein_controller::group_coordinator::{
    self as groups, GroupError, JoinGroupProtocol, Request, Response,
};

use super::str_bytes;
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::{group_error, ErrorCode};
use crate::group_request::ask;
use crate::shard_state::ShardState;

/// Answers a JoinGroup request of `version` from `client_id` at
/// `client_host`. Kafka: READ on the group.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: JoinGroupRequest,
    version: i16,
    client_id: &str,
    client_host: &str,
) -> JoinGroupResponse {
    if !caller.may_on_group(AclOperation::Read, request.group_id.as_str()) {
        let response = JoinGroupResponse::default()
            .with_error_code(ErrorCode::GroupAuthorizationFailed.code())
            .with_generation_id(-1)
            .with_leader(StrBytes::default())
            .with_member_id(StrBytes::default());
        return if version < 7 {
            response.with_protocol_name(Some(StrBytes::default()))
        } else {
            response
        };
    }
    let member_id = request.member_id.to_string();
    let join = groups::JoinGroup {
        group_id: request.group_id.0.to_string(),
        member_id: member_id.clone(),
        group_instance_id: request.group_instance_id.map(|id| id.to_string()),
        client_id: client_id.to_string(),
        client_host: client_host.to_string(),
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|protocol| JoinGroupProtocol {
                name: protocol.name.to_string(),
                metadata: protocol.metadata,
            })
            .collect(),
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        },
        reason: request.reason.map(|reason| reason.to_string()),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    };
    let response = match ask(ctx, Request::JoinGroup(join)).await {
        Ok(Response::JoinGroup(result)) => result,
        Ok(_) | Err(_) => Err(GroupError::CoordinatorNotAvailable),
    };
    let response = match response {
        Ok(joined) => JoinGroupResponse::default()
            .with_generation_id(joined.generation_id)
            .with_protocol_type(joined.protocol_type.as_deref().map(str_bytes))
            .with_protocol_name(joined.protocol_name.as_deref().map(str_bytes))
            .with_leader(str_bytes(&joined.leader))
            .with_skip_assignment(joined.skip_assignment)
            .with_member_id(str_bytes(&joined.member_id))
            .with_members(
                joined
                    .members
                    .into_iter()
                    .map(|member| {
                        JoinGroupResponseMember::default()
                            .with_member_id(str_bytes(&member.member_id))
                            .with_group_instance_id(
                                member.group_instance_id.as_deref().map(str_bytes),
                            )
                            .with_metadata(member.metadata)
                    })
                    .collect(),
            ),
        Err(error) => {
            let member_id = match &error {
                GroupError::MemberIdRequired { member_id } => member_id.clone(),
                _ => member_id,
            };
            JoinGroupResponse::default()
                .with_error_code(group_error(&error).code())
                .with_generation_id(-1)
                .with_leader(StrBytes::default())
                .with_member_id(str_bytes(&member_id))
        }
    };
    // Before v7 the protocol name is not nullable: Kafka sends "".
    if version < 7 && response.protocol_name.is_none() {
        return response.with_protocol_name(Some(StrBytes::default()));
    }
    response
}
