//! DescribeGroups: state, protocol and members of each group; a missing
//! group is "Dead" (v0–v5) or GROUP_ID_NOT_FOUND (v6+), as in Kafka.

use kafka_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use kafka_protocol::messages::describe_groups_response::{
    DescribeGroupsResponse, DescribedGroup, DescribedGroupMember,
};
use kafka_protocol::messages::GroupId;
use skein_controller::group_coordinator::{
    self as groups, GroupError, GroupState, Request, Response,
};

use super::str_bytes;
use skein_controller::{AclOperation, ResourceType};

use crate::authorized_operations;
use crate::caller::Caller;
use crate::error_code::{group_error, ErrorCode};
use crate::group_request::ask;
use crate::shard_state::ShardState;

/// Answers a DescribeGroups request of `version`. Kafka: DESCRIBE on each
/// group (GROUP_AUTHORIZATION_FAILED for the others).
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    let allowed = |group_id: &GroupId| caller.may_on_group(AclOperation::Describe, group_id);
    let group_ids: Vec<String> = request
        .groups
        .iter()
        .filter(|id| allowed(id))
        .map(|id| id.0.to_string())
        .collect();
    let count = group_ids.len();
    let described = match ask(
        ctx,
        Request::DescribeGroups(groups::DescribeGroups { group_ids }),
    )
    .await
    {
        Ok(Response::DescribeGroups(described)) if described.len() == count => Ok(described),
        Ok(_) => Err(GroupError::CoordinatorNotAvailable),
        Err(error) => Err(error),
    };
    let mut answers: Vec<DescribedGroup> = match described {
        Ok(described) => {
            let mut described = described.into_iter();
            request
                .groups
                .into_iter()
                .filter_map(|group_id| {
                    if !allowed(&group_id) {
                        return Some(failed(
                            group_id,
                            ErrorCode::GroupAuthorizationFailed,
                            version,
                        ));
                    }
                    described.next().map(|group| describe(group, version))
                })
                .collect()
        }
        Err(error) => request
            .groups
            .into_iter()
            .map(|group_id| failed(group_id, group_error(&error), version))
            .collect(),
    };
    if request.include_authorized_operations {
        for group in answers.iter_mut().filter(|group| group.error_code == 0) {
            group.authorized_operations = caller.authorized_operations(
                authorized_operations::GROUP,
                ResourceType::Group,
                group.group_id.as_str(),
            );
        }
    }
    DescribeGroupsResponse::default().with_groups(answers)
}

fn describe(group: groups::DescribedGroup, version: i16) -> DescribedGroup {
    let group_id = GroupId(str_bytes(&group.group_id));
    if let Err(error) = &group.result {
        return failed(group_id, group_error(error), version);
    }
    if !group.exists && version >= 6 {
        return failed(group_id, ErrorCode::GroupIdNotFound, version);
    }
    DescribedGroup::default()
        .with_group_id(group_id)
        .with_group_state(str_bytes(group.state.kafka_name()))
        .with_protocol_type(str_bytes(&group.protocol_type))
        .with_protocol_data(str_bytes(&group.protocol_name))
        .with_members(
            group
                .members
                .into_iter()
                .map(|member| {
                    DescribedGroupMember::default()
                        .with_member_id(str_bytes(&member.member_id))
                        .with_group_instance_id(member.group_instance_id.as_deref().map(str_bytes))
                        .with_client_id(str_bytes(&member.client_id))
                        .with_client_host(str_bytes(&member.client_host))
                        .with_member_metadata(member.metadata)
                        .with_member_assignment(member.assignment)
                })
                .collect(),
        )
        .with_authorized_operations(authorized_operations::OMITTED)
}

fn failed(group_id: GroupId, code: ErrorCode, version: i16) -> DescribedGroup {
    let group = DescribedGroup::default()
        .with_group_id(group_id)
        .with_error_code(code.code())
        .with_group_state(str_bytes(GroupState::Dead.kafka_name()))
        .with_authorized_operations(authorized_operations::OMITTED);
    if version >= 6 {
        group.with_error_message(Some(str_bytes(&format!("{code:?}"))))
    } else {
        group
    }
}
