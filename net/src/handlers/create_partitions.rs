//! CreatePartitions: grow a topic's partition count.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsRequest;
use kafka_protocol::messages::create_partitions_response::{
    CreatePartitionsResponse, CreatePartitionsTopicResult,
};

use super::message;
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_message::{ControlError, ControlReply, ControlRequest};
use crate::shard_state::ShardState;

/// Answers a CreatePartitions request. Kafka: ALTER on each topic.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let node_id = ctx.config.node_id();
    let mut results: Vec<Option<CreatePartitionsTopicResult>> = Vec::new();
    let mut asked = Vec::new();
    for topic in &request.topics {
        let bad_assignment = topic.assignments.as_ref().is_some_and(|assignments| {
            assignments
                .iter()
                .any(|a| a.broker_ids.iter().map(|b| b.0).ne([node_id]))
        });
        if !caller.may_on_topic(AclOperation::Alter, topic.name.as_str()) {
            results.push(Some(
                CreatePartitionsTopicResult::default()
                    .with_name(topic.name.clone())
                    .with_error_code(ErrorCode::TopicAuthorizationFailed.code())
                    .with_error_message(message(&super::create_topics::TOPIC_DENIED)),
            ));
        } else if bad_assignment {
            results.push(Some(
                CreatePartitionsTopicResult::default()
                    .with_name(topic.name.clone())
                    .with_error_code(ErrorCode::InvalidReplicaAssignment.code())
                    .with_error_message(message(&format!(
                        "new partitions must be assigned to broker {node_id} only"
                    ))),
            ));
        } else {
            results.push(None);
            asked.push((topic.name.clone(), topic.count));
        }
    }
    let count = asked.len();
    let replies = if asked.is_empty() {
        Vec::new()
    } else {
        let request = ControlRequest::CreatePartitions {
            topics: asked
                .iter()
                .map(|(name, count)| (name.to_string(), *count))
                .collect(),
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
                Some(((name, _), Ok(()))) => CreatePartitionsTopicResult::default().with_name(name),
                Some(((name, _), Err(error))) => CreatePartitionsTopicResult::default()
                    .with_name(name)
                    .with_error_code(error.code().code())
                    .with_error_message(message(&error)),
                None => CreatePartitionsTopicResult::default()
                    .with_error_code(ErrorCode::InvalidRequest.code()),
            },
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
