//! ConsumerGroupDescribe (KIP-848): consumer groups with their epochs,
//! members, current and target assignments. A classic or missing group is
//! GROUP_ID_NOT_FOUND, as in Kafka.

use kafka_protocol::messages::consumer_group_describe_request::ConsumerGroupDescribeRequest;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, ConsumerGroupDescribeResponse, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::GroupId;
use kafka_protocol::protocol::StrBytes;
use skein_controller::group_coordinator::{self as groups, GroupError, Request, Response};
use skein_controller::TopicId;
use uuid::Uuid;

use super::{str_bytes, topic_name};
use crate::authorized_operations;
use crate::caller::Caller;
use crate::error_code::{group_error, group_result, ErrorCode};
use crate::group_request::ask;
use crate::shard_state::ShardState;
use skein_controller::{AclOperation, ResourceType};

/// `MemberType` of a member that uses the consumer protocol (v1).
const CONSUMER_MEMBER_TYPE: i8 = 1;

/// Answers a ConsumerGroupDescribe request.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let group_ids: Vec<String> = request.group_ids.iter().map(|g| g.0.to_string()).collect();
    let described = match ask(
        ctx,
        Request::ConsumerGroupDescribe(groups::ConsumerGroupDescribe {
            group_ids: group_ids.clone(),
        }),
    )
    .await
    {
        Ok(Response::ConsumerGroupDescribe(described)) => described,
        Ok(_) | Err(_) => {
            let error = GroupError::CoordinatorNotAvailable;
            let groups = group_ids
                .iter()
                .map(|id| {
                    DescribedGroup::default()
                        .with_group_id(GroupId(str_bytes(id)))
                        .with_error_code(group_error(&error).code())
                        .with_authorized_operations(authorized_operations::OMITTED)
                })
                .collect();
            return ConsumerGroupDescribeResponse::default().with_groups(groups);
        }
    };
    let mut groups: Vec<DescribedGroup> = described.into_iter().map(describe).collect();
    for group in &mut groups {
        // Kafka: DESCRIBE on each group.
        if !caller.may_on_group(AclOperation::Describe, group.group_id.as_str()) {
            *group = DescribedGroup::default()
                .with_group_id(group.group_id.clone())
                .with_error_code(ErrorCode::GroupAuthorizationFailed.code())
                .with_authorized_operations(authorized_operations::OMITTED);
        } else if request.include_authorized_operations && group.error_code == 0 {
            group.authorized_operations = caller.authorized_operations(
                authorized_operations::GROUP,
                ResourceType::Group,
                group.group_id.as_str(),
            );
        }
    }
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}

fn assignment(partitions: Vec<(TopicId, String, Vec<i32>)>) -> Assignment {
    Assignment::default().with_topic_partitions(
        partitions
            .into_iter()
            .map(|(id, name, ps)| {
                TopicPartitions::default()
                    .with_topic_id(Uuid::from_bytes(id))
                    .with_topic_name(topic_name(&name))
                    .with_partitions(ps)
            })
            .collect(),
    )
}

fn describe(group: groups::DescribedConsumerGroup) -> DescribedGroup {
    let described = DescribedGroup::default()
        .with_group_id(GroupId(str_bytes(&group.group_id)))
        .with_authorized_operations(authorized_operations::OMITTED);
    if let Err(error) = &group.result {
        let message = match error {
            GroupError::GroupIdNotFound => {
                format!("Group {} not found.", group.group_id)
            }
            other => other.to_string(),
        };
        return described
            .with_error_code(group_result(&group.result).code())
            .with_error_message(Some(StrBytes::from_string(message)));
    }
    described
        .with_group_state(str_bytes(group.state.kafka_name()))
        .with_group_epoch(group.group_epoch)
        .with_assignment_epoch(group.assignment_epoch)
        .with_assignor_name(str_bytes(&group.assignor_name))
        .with_members(
            group
                .members
                .into_iter()
                .map(|m| {
                    Member::default()
                        .with_member_id(str_bytes(&m.member_id))
                        .with_instance_id(m.instance_id.as_deref().map(str_bytes))
                        .with_rack_id(m.rack_id.as_deref().map(str_bytes))
                        .with_member_epoch(m.member_epoch)
                        .with_client_id(str_bytes(&m.client_id))
                        .with_client_host(str_bytes(&m.client_host))
                        .with_subscribed_topic_names(
                            m.subscribed_topic_names
                                .iter()
                                .map(|n| topic_name(n))
                                .collect(),
                        )
                        .with_subscribed_topic_regex(
                            m.subscribed_topic_regex.as_deref().map(str_bytes),
                        )
                        .with_assignment(assignment(m.assignment))
                        .with_target_assignment(assignment(m.target_assignment))
                        .with_member_type(CONSUMER_MEMBER_TYPE)
                })
                .collect(),
        )
}
