//! CreatePartitions: grow a topic's partition count.

use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsRequest, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_partitions_response::{
    CreatePartitionsResponse, CreatePartitionsTopicResult,
};

use super::{message, topic_name};
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_message::{ControlError, ControlReply, ControlRequest, NewPartitions};
use crate::shard_state::ShardState;

/// Answers a CreatePartitions request. Kafka: ALTER on each topic.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results: Vec<Option<CreatePartitionsTopicResult>> = Vec::new();
    let mut asked = Vec::new();
    for topic in &request.topics {
        if !caller.may_on_topic(AclOperation::Alter, topic.name.as_str()) {
            results.push(Some(
                CreatePartitionsTopicResult::default()
                    .with_name(topic.name.clone())
                    .with_error_code(ErrorCode::TopicAuthorizationFailed.code())
                    .with_error_message(message(&super::create_topics::TOPIC_DENIED)),
            ));
        } else {
            results.push(None);
            asked.push(new_partitions(topic));
        }
    }
    let count = asked.len();
    let replies = if asked.is_empty() {
        Vec::new()
    } else {
        let request = ControlRequest::CreatePartitions {
            topics: asked.clone(),
            validate_only: request.validate_only,
        };
        match ctx.control(request).await {
            Some(ControlReply::CreatedPartitions(replies)) => replies,
            _ => (0..count).map(|_| Err(ControlError::Unavailable)).collect(),
        }
    };
    let mut replies = asked.into_iter().zip(replies);
    let results = results
        .into_iter()
        .map(|slot| match slot {
            Some(result) => result,
            None => match replies.next() {
                Some((grow, Ok(()))) => {
                    CreatePartitionsTopicResult::default().with_name(topic_name(&grow.name))
                }
                Some((grow, Err(error))) => CreatePartitionsTopicResult::default()
                    .with_name(topic_name(&grow.name))
                    .with_error_code(error.code().code())
                    .with_error_message(message(&error)),
                None => CreatePartitionsTopicResult::default()
                    .with_error_code(ErrorCode::InvalidRequest.code()),
            },
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

/// A CreatePartitions item as the controller's rules take it: the
/// assignments' null stays `None` (placed by the controller).
pub fn new_partitions(topic: &CreatePartitionsTopic) -> NewPartitions {
    NewPartitions {
        name: topic.name.to_string(),
        count: topic.count,
        assignments: topic.assignments.as_ref().map(|lists| {
            lists
                .iter()
                .map(|assignment| {
                    assignment
                        .broker_ids
                        .iter()
                        .map(|broker| broker.0)
                        .collect()
                })
                .collect()
        }),
    }
}
