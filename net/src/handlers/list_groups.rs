//! ListGroups: every group this node coordinates, optionally filtered by
//! state (v4+) and type (v5+; all groups here are "classic").

use kafka_protocol::messages::list_groups_request::ListGroupsRequest;
use kafka_protocol::messages::list_groups_response::{ListGroupsResponse, ListedGroup};
use kafka_protocol::messages::GroupId;
use skein_controller::group_coordinator::{
    self as groups, GroupError, GroupState, Request, Response,
};

use super::str_bytes;
use crate::error_code::{group_error, group_result};
use crate::group_driver::ask;
use crate::shard_state::ShardState;

/// The type of every group of the classic protocol.
const CLASSIC_GROUP_TYPE: &str = "classic";

/// Answers a ListGroups request.
pub async fn handle(ctx: &ShardState, request: ListGroupsRequest) -> ListGroupsResponse {
    let types_match = request.types_filter.is_empty()
        || request
            .types_filter
            .iter()
            .any(|t| t.as_str().eq_ignore_ascii_case(CLASSIC_GROUP_TYPE));
    let states_filter: Vec<GroupState> = request
        .states_filter
        .iter()
        .filter_map(|name| GroupState::from_kafka_name(name.as_str()))
        .collect();
    // A filter naming only unknown states matches nothing.
    let states_match = request.states_filter.is_empty() || !states_filter.is_empty();
    if !types_match || !states_match {
        return ListGroupsResponse::default();
    }
    match ask(
        ctx,
        Request::ListGroups(groups::ListGroups { states_filter }),
    )
    .await
    {
        Ok(Response::ListGroups { result, groups }) => ListGroupsResponse::default()
            .with_error_code(group_result(&result).code())
            .with_groups(
                groups
                    .into_iter()
                    .map(|group| {
                        ListedGroup::default()
                            .with_group_id(GroupId(str_bytes(&group.group_id)))
                            .with_protocol_type(str_bytes(&group.protocol_type))
                            .with_group_state(str_bytes(group.state.kafka_name()))
                            .with_group_type(str_bytes(CLASSIC_GROUP_TYPE))
                    })
                    .collect(),
            ),
        Ok(_) => ListGroupsResponse::default()
            .with_error_code(group_error(&GroupError::CoordinatorNotAvailable).code()),
        Err(error) => ListGroupsResponse::default().with_error_code(group_error(&error).code()),
    }
}
