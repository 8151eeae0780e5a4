//! AlterConfigs: replaces all of a topic's overrides with the given set.
//! Broker properties are static in Skein and cannot be altered.

use kafka_protocol::messages::alter_configs_request::AlterConfigsRequest;
use kafka_protocol::messages::alter_configs_response::{
    AlterConfigsResourceResponse, AlterConfigsResponse,
};

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::message;
use skein_controller::AclOperation;

use super::describe_configs::refusal;
use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_message::{ControlError, ControlReply, ControlRequest, TopicConfigChange};
use crate::shard_state::ShardState;

/// Answers an AlterConfigs request. Kafka: ALTER_CONFIGS on each topic, or
/// on the cluster for a broker.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let denied: Vec<Option<ErrorCode>> = request
        .resources
        .iter()
        .map(|resource| {
            refusal(
                caller,
                AclOperation::AlterConfigs,
                resource.resource_type,
                resource.resource_name.as_str(),
            )
        })
        .collect();
    let changes = request
        .resources
        .iter()
        .zip(&denied)
        .filter(|(_, denied)| denied.is_none())
        .map(|(resource, _)| {
            let ops = resource
                .configs
                .iter()
                .map(|config| {
                    (
                        config.name.to_string(),
                        config.value.as_ref().map(|v| v.to_string()),
                    )
                })
                .collect();
            (
                resource.resource_type,
                resource.resource_name.to_string(),
                true,
                ops,
            )
        })
        .collect();
    let mut outcomes = apply(ctx, changes, request.validate_only).await.into_iter();
    let responses = request
        .resources
        .into_iter()
        .zip(denied)
        .map(|(resource, denied)| {
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name);
            if let Some(code) = denied {
                return response.with_error_code(code.code());
            }
            let outcome = outcomes.next().unwrap_or_else(|| {
                Err((
                    ErrorCode::InvalidRequest,
                    "internal: reply count mismatch".into(),
                ))
            });
            match outcome {
                Ok(()) => response,
                Err((code, reason)) => response
                    .with_error_code(code.code())
                    .with_error_message(message(&reason)),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

/// One resource's requested change: type, name, replace-all, and the
/// operations (`None` value = remove the override).
pub type ResourceChange = (i8, String, bool, Vec<(String, Option<String>)>);

/// Applies topic config changes through the control shard; refuses broker
/// resources. Returns one outcome per change, in order.
pub async fn apply(
    ctx: &ShardState,
    changes: Vec<ResourceChange>,
    validate_only: bool,
) -> Vec<Result<(), (ErrorCode, String)>> {
    let mut outcomes: Vec<Option<Result<(), (ErrorCode, String)>>> = Vec::new();
    let mut topic_changes = Vec::new();
    for (resource_type, name, replace_all, ops) in changes {
        match resource_type {
            RESOURCE_TOPIC => {
                outcomes.push(None);
                topic_changes.push(TopicConfigChange {
                    topic: name,
                    replace_all,
                    ops,
                });
            }
            RESOURCE_BROKER => outcomes.push(Some(Err((
                ErrorCode::InvalidConfig,
                "broker properties are static in Skein: set them with --set or --config and restart".into(),
            )))),
            _ => outcomes.push(Some(Err((ErrorCode::InvalidRequest, "unsupported resource type".into())))),
        }
    }
    let count = topic_changes.len();
    let replies = if topic_changes.is_empty() {
        Vec::new()
    } else {
        let request = ControlRequest::AlterTopicConfigs {
            changes: topic_changes,
            validate_only,
        };
        match ctx.control(request).await {
            Some(ControlReply::AlteredConfigs(replies)) => replies,
            _ => (0..count).map(|_| Err(ControlError::Unavailable)).collect(),
        }
    };
    let mut replies = replies.into_iter();
    outcomes
        .into_iter()
        .map(|slot| match slot {
            Some(outcome) => outcome,
            None => match replies.next() {
                Some(Ok(())) => Ok(()),
                Some(Err(error)) => Err((error.code(), error.to_string())),
                None => Err((
                    ErrorCode::InvalidRequest,
                    "internal: reply count mismatch".into(),
                )),
            },
        })
        .collect()
}
