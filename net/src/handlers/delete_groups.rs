//! DeleteGroups: removes empty groups and their committed offsets.

use kafka_protocol::messages::delete_groups_request::DeleteGroupsRequest;
use kafka_protocol::messages::delete_groups_response::{
    DeletableGroupResult, DeleteGroupsResponse,
};
use kafka_protocol::messages::GroupId;
use skein_controller::group_coordinator::{self as groups, GroupError, Request, Response};

use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::error_code::{group_error, group_result};
use crate::group_request::ask;
use crate::shard_state::ShardState;
use skein_controller::AclOperation;

/// Answers a DeleteGroups request. Kafka: DELETE on each group
/// (GROUP_AUTHORIZATION_FAILED for the others, which are left alone).
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let (groups_names, refused): (Vec<GroupId>, Vec<GroupId>) = request
        .groups_names
        .into_iter()
        .partition(|group_id| caller.may_on_group(AclOperation::Delete, group_id));
    let group_ids: Vec<String> = groups_names.iter().map(|id| id.0.to_string()).collect();
    let count = group_ids.len();
    let results = match ask(
        ctx,
        Request::DeleteGroups(groups::DeleteGroups { group_ids }),
    )
    .await
    {
        Ok(Response::DeleteGroups(results)) if results.len() == count => results
            .into_iter()
            .zip(groups_names)
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
            groups_names
                .into_iter()
                .map(|group_id: GroupId| {
                    DeletableGroupResult::default()
                        .with_group_id(group_id)
                        .with_error_code(group_error(&error).code())
                })
                .collect()
        }
    };
    let mut results: Vec<DeletableGroupResult> = results;
    results.extend(refused.into_iter().map(|group_id| {
        DeletableGroupResult::default()
            .with_group_id(group_id)
            .with_error_code(ErrorCode::GroupAuthorizationFailed.code())
    }));
    DeleteGroupsResponse::default().with_results(results)
}
