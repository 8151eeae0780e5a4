//! DeleteTopics, by name (v1–v5) or by name or id (v6).

use kafka_protocol::messages::delete_topics_request::DeleteTopicsRequest;
use kafka_protocol::messages::delete_topics_response::{
    DeletableTopicResult, DeleteTopicsResponse,
};
use uuid::Uuid;

use skein_controller::AclOperation;

use super::{message, topic_name};
use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_message::{ControlError, ControlReply, ControlRequest, TopicRef};
use crate::shard_state::ShardState;

/// Answers a DeleteTopics request of `version`. Kafka: DELETE on each
/// topic (TOPIC_AUTHORIZATION_FAILED for the others, which stay).
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let refs: Vec<TopicRef> = if version >= 6 {
        request
            .topics
            .iter()
            .map(|topic| match &topic.name {
                Some(name) => TopicRef::Name(name.to_string()),
                None => TopicRef::Id(*topic.topic_id.as_bytes()),
            })
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|name| TopicRef::Name(name.to_string()))
            .collect()
    };
    let image = ctx.image();
    let allowed = |asked: &TopicRef| match asked {
        TopicRef::Name(name) => caller.may_on_topic(AclOperation::Delete, name),
        // An unknown id is the controller's to answer.
        TopicRef::Id(id) => image
            .topic_by_id(id)
            .is_none_or(|topic| caller.may_on_topic(AclOperation::Delete, &topic.name)),
    };
    let (refs, refused): (Vec<TopicRef>, Vec<TopicRef>) = refs.into_iter().partition(allowed);
    let count = refs.len();
    let replies = if refs.is_empty() {
        Vec::new()
    } else {
        match ctx
            .control(ControlRequest::DeleteTopics {
                topics: refs.clone(),
            })
            .await
        {
            Some(ControlReply::DeletedTopics(replies)) => replies,
            _ => (0..count).map(|_| Err(ControlError::Unavailable)).collect(),
        }
    };
    let mut responses: Vec<DeletableTopicResult> = refs
        .into_iter()
        .zip(replies)
        .map(|(asked, reply)| match reply {
            Ok((name, id)) => DeletableTopicResult::default()
                .with_name(Some(topic_name(&name)))
                .with_topic_id(Uuid::from_bytes(id)),
            Err(error) => failed(asked, error.code(), &error),
        })
        .collect();
    responses.extend(refused.into_iter().map(|asked| {
        failed(
            asked,
            ErrorCode::TopicAuthorizationFailed,
            &super::create_topics::TOPIC_DENIED,
        )
    }));
    DeleteTopicsResponse::default().with_responses(responses)
}

/// The result of a topic not deleted, named as the request named it.
fn failed(
    asked: TopicRef,
    code: ErrorCode,
    reason: &impl std::fmt::Display,
) -> DeletableTopicResult {
    let (name, id) = match asked {
        TopicRef::Name(name) => (Some(topic_name(&name)), Uuid::nil()),
        TopicRef::Id(id) => (None, Uuid::from_bytes(id)),
    };
    DeletableTopicResult::default()
        .with_name(name)
        .with_topic_id(id)
        .with_error_code(code.code())
        .with_error_message(message(reason))
}
