//! CreateTopics (and validate_only): checked and committed by the control
//! shard; answered once every data shard has the new partitions open.

use kafka_protocol::messages::create_topics_request::CreateTopicsRequest;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult, CreateTopicsResponse,
};
use skein_controller::{validate_topic_config, AclOperation, BrokerConfig, PROPERTIES};
use uuid::Uuid;

use super::{message, str_bytes};
use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_message::{ControlError, ControlReply, ControlRequest, NewTopic};
use crate::shard_state::ShardState;

/// Config source: an override set on the topic.
pub const SOURCE_DYNAMIC_TOPIC: i8 = 1;
/// Config source: a broker property set at start.
pub const SOURCE_STATIC_BROKER: i8 = 4;
/// Config source: the built-in default.
pub const SOURCE_DEFAULT: i8 = 5;

/// Kafka's message for a topic the caller may not act on.
pub const TOPIC_DENIED: &str = "Authorization failed.";

/// Answers a CreateTopics request. Kafka: CREATE on the cluster, or on
/// each topic.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut results: Vec<Option<CreatableTopicResult>> = Vec::new();
    let mut topics = Vec::new();
    let may_create_any = caller.may_on_cluster(AclOperation::Create);
    for topic in &request.topics {
        let name = topic.name.to_string();
        if !may_create_any && !caller.may_on_topic(AclOperation::Create, &name) {
            results.push(Some(failed(
                &name,
                ErrorCode::TopicAuthorizationFailed,
                TOPIC_DENIED,
            )));
            continue;
        }
        let mut configs = Vec::new();
        let mut refused = None;
        for config in &topic.configs {
            match &config.value {
                Some(value) => configs.push((config.name.to_string(), value.to_string())),
                None => refused = Some(format!("config {} has a null value", config.name.as_str())),
            }
        }
        if let Some(reason) = refused {
            results.push(Some(failed(&name, ErrorCode::InvalidConfig, &reason)));
        } else {
            results.push(None);
            // The controller judges the counts and any manual assignment.
            topics.push(NewTopic {
                name,
                partitions: topic.num_partitions,
                replication_factor: topic.replication_factor,
                configs,
                assignments: manual_assignments(topic),
            });
        }
    }
    let count = topics.len();
    let replies = if topics.is_empty() {
        Vec::new()
    } else {
        let request = ControlRequest::CreateTopics {
            topics: topics.clone(),
            validate_only: request.validate_only,
        };
        match ctx.control(request).await {
            Some(ControlReply::CreatedTopics(replies)) => replies,
            _ => (0..count).map(|_| Err(ControlError::Unavailable)).collect(),
        }
    };
    let mut replies = topics.into_iter().zip(replies);
    let topics = results
        .into_iter()
        .map(|slot| match slot {
            Some(result) => result,
            None => match replies.next() {
                Some((topic, Ok(created))) => CreatableTopicResult::default()
                    .with_name(super::topic_name(&topic.name))
                    .with_topic_id(Uuid::from_bytes(created.topic_id))
                    .with_num_partitions(created.partitions)
                    .with_replication_factor(created.replication_factor)
                    .with_configs(Some(described_configs(&ctx.config, &topic.configs))),
                Some((topic, Err(error))) => failed(&topic.name, error.code(), &error.to_string()),
                None => failed(
                    "",
                    ErrorCode::InvalidRequest,
                    "internal: reply count mismatch",
                ),
            },
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

/// A topic's manual replica lists as `(partition index, brokers)`, in
/// request order (empty: placed by the controller). The controller judges
/// them.
pub fn manual_assignments(
    topic: &kafka_protocol::messages::create_topics_request::CreatableTopic,
) -> Vec<(i32, Vec<i32>)> {
    topic
        .assignments
        .iter()
        .map(|assignment| {
            let brokers = assignment.broker_ids.iter().map(|broker| broker.0);
            (assignment.partition_index, brokers.collect())
        })
        .collect()
}

/// The full config set of a new topic: overrides marked as topic configs,
/// the rest as broker defaults.
fn described_configs(
    config: &BrokerConfig,
    overrides: &[(String, String)],
) -> Vec<CreatableTopicConfigs> {
    let defaults = config.topic_defaults();
    PROPERTIES
        .iter()
        .filter_map(|def| {
            let name = def.topic_name?;
            let set = overrides.iter().find(|(key, _)| key == name);
            let (value, source) = match set {
                Some((_, value)) => (
                    validate_topic_config(name, value).unwrap_or_else(|_| value.clone()),
                    SOURCE_DYNAMIC_TOPIC,
                ),
                None => {
                    let value = defaults.get(name).cloned().unwrap_or_default();
                    let source = if value == def.default {
                        SOURCE_DEFAULT
                    } else {
                        SOURCE_STATIC_BROKER
                    };
                    (value, source)
                }
            };
            Some(
                CreatableTopicConfigs::default()
                    .with_name(str_bytes(name))
                    .with_value(Some(str_bytes(&value)))
                    .with_config_source(source),
            )
        })
        .collect()
}

fn failed(name: &str, code: ErrorCode, reason: &str) -> CreatableTopicResult {
    CreatableTopicResult::default()
        .with_name(super::topic_name(name))
        .with_error_code(code.code())
        .with_error_message(message(&reason))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
}
