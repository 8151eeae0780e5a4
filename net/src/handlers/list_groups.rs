//! ListGroups: every group this node coordinates, optionally filtered by
//! state (v4+) and type (v5+: `classic` or `consumer`).

use kafka_protocol::messages::list_groups_request::ListGroupsRequest;
use kafka_protocol::messages::list_groups_response::{ListGroupsResponse, ListedGroup};
use kafka_protocol::messages::GroupId;
use skein_controller::group_coordinator::{self as groups, GroupError, Request, Response};

use super::str_bytes;
use crate::caller::Caller;
use crate::error_code::{group_error, group_result};
use crate::group_request::ask;
use crate::shard_state::ShardState;
use skein_controller::AclOperation;

/// Answers a ListGroups request. Kafka: every group with DESCRIBE on the
/// cluster, else only the groups the caller may DESCRIBE.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let all_groups = caller.may_on_cluster(AclOperation::Describe);
    let list = groups::ListGroups {
        states_filter: request
            .states_filter
            .iter()
            .map(|s| s.to_string())
            .collect(),
        types_filter: request.types_filter.iter().map(|t| t.to_string()).collect(),
    };
    match ask(ctx, Request::ListGroups(list)).await {
        Ok(Response::ListGroups { result, groups }) => ListGroupsResponse::default()
            .with_error_code(group_result(&result).code())
            .with_groups(
                groups
                    .into_iter()
                    .filter(|group| {
                        all_groups || caller.may_on_group(AclOperation::Describe, &group.group_id)
                    })
                    .map(|group| {
                        ListedGroup::default()
                            .with_group_id(GroupId(str_bytes(&group.group_id)))
                            .with_protocol_type(str_bytes(&group.protocol_type))
                            .with_group_state(str_bytes(group.state_name()))
                            .with_group_type(str_bytes(group.group_type()))
                    })
                    .collect(),
            ),
        Ok(_) => ListGroupsResponse::default()
            .with_error_code(group_error(&GroupError::CoordinatorNotAvailable).code()),
        Err(error) => ListGroupsResponse::default().with_error_code(group_error(&error).code()),
    }
}
