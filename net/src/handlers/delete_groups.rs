//! DeleteGroups: removes empty groups and their committed offsets.

use kafka_protocol::messages::delete_groups_request::DeleteGroupsRequest;
use kafka_protocol::messages::delete_groups_response::{
    DeletableGroupResult, DeleteGroupsResponse,
};
use kafka_protocol::messages::GroupId;
use skein_controller::group_coordinator::{self as groups, GroupError, Request, Response};

use crate::error_code::{group_error, group_result};
use crate::group_request::ask;
use crate::shard_state::ShardState;

/// Answers a DeleteGroups request.
pub async fn handle(ctx: &ShardState, request: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let group_ids: Vec<String> = request
        .groups_names
        .iter()
        .map(|id| id.0.to_string())
        .collect();
    let count = group_ids.len();
    let results = match ask(
        ctx,
        Request::DeleteGroups(groups::DeleteGroups { group_ids }),
    )
    .await
    {
        Ok(Response::DeleteGroups(results)) if results.len() == count => results
            .into_iter()
            .zip(request.groups_names)
            .map(|((_, result), group_id)| {
                DeletableGroupResult::default()
                    .with_group_id(group_id)
                    .with_error_code(group_result(&result).code())
            })
            .collect(),
        other => {
            let error = match other {
                Err(error) => error,
                Ok(_) => GroupError::CoordinatorNotAvailable,
            };
            request
                .groups_names
                .into_iter()
                .map(|group_id: GroupId| {
                    DeletableGroupResult::default()
                        .with_group_id(group_id)
                        .with_error_code(group_error(&error).code())
                })
                .collect()
        }
    };
    DeleteGroupsResponse::default().with_results(results)
}
