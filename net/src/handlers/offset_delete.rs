//! OffsetDelete: drops a group's committed offsets for partitions no member
//! is subscribed to.

use kafka_protocol::messages::offset_delete_request::OffsetDeleteRequest;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponse, OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use skein_controller::group_coordinator::{
    self as groups, GroupError, Request, Response, TopicPartition,
};

use crate::caller::Caller;
use crate::error_code::{group_error, group_result, ErrorCode};
use crate::group_request::ask;
use crate::shard_state::ShardState;
use skein_controller::AclOperation;

/// Answers an OffsetDelete request. Kafka: DELETE on the group, then
/// READ on each topic.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    if !caller.may_on_group(AclOperation::Delete, request.group_id.as_str()) {
        return OffsetDeleteResponse::default()
            .with_error_code(ErrorCode::GroupAuthorizationFailed.code());
    }
    let image = ctx.image();
    let mut answered: Vec<Vec<Option<ErrorCode>>> = Vec::with_capacity(request.topics.len());
    let mut partitions = Vec::new();
    for topic in &request.topics {
        let known = image.topic(topic.name.as_str());
        let topic_allowed = caller.may_on_topic(AclOperation::Read, topic.name.as_str());
        answered.push(
            topic
                .partitions
                .iter()
                .map(|partition| {
                    let index = partition.partition_index;
                    if !topic_allowed {
                        Some(ErrorCode::TopicAuthorizationFailed)
                    } else if known.is_some_and(|t| (0..t.partitions).contains(&index)) {
                        partitions.push(TopicPartition {
                            topic: topic.name.to_string(),
                            partition: index,
                        });
                        None
                    } else {
                        Some(ErrorCode::UnknownTopicOrPartition)
                    }
                })
                .collect(),
        );
    }
    let expected = partitions.len();
    let delete = groups::OffsetDelete {
        group_id: request.group_id.0.to_string(),
        partitions,
    };
    let results = match ask(ctx, Request::OffsetDelete(delete)).await {
        Ok(Response::OffsetDelete(Ok(results))) if results.len() == expected => results,
        Ok(Response::OffsetDelete(Err(error))) | Err(error) => {
            return OffsetDeleteResponse::default().with_error_code(group_error(&error).code())
        }
        Ok(_) => {
            return OffsetDeleteResponse::default()
                .with_error_code(group_error(&GroupError::CoordinatorNotAvailable).code())
        }
    };
    let mut results = results.into_iter();
    let topics = request
        .topics
        .into_iter()
        .zip(answered)
        .map(|(topic, codes)| {
            let partitions = topic
                .partitions
                .iter()
                .zip(codes)
                .map(|(partition, code)| {
                    let code = code.unwrap_or_else(|| match results.next() {
                        Some((_, result)) => group_result(&result),
                        None => ErrorCode::CoordinatorNotAvailable,
                    });
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(partition.partition_index)
                        .with_error_code(code.code())
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
