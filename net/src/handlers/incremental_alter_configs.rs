//! IncrementalAlterConfigs: SET (0) and DELETE (1) per topic config; APPEND
//! (2) and SUBTRACT (3) on list configs (`cleanup.policy`), turned here into
//! the SET of the new list computed against the topic's current value (its
//! override, else the broker default). APPEND or SUBTRACT on any other
//! config is refused with INVALID_CONFIG, as Kafka does.

use kafka_protocol::messages::incremental_alter_configs_request::IncrementalAlterConfigsRequest;
use kafka_protocol::messages::incremental_alter_configs_response::{
    AlterConfigsResourceResponse, IncrementalAlterConfigsResponse,
};

use skein_controller::{change_list_config, ListChange};

use super::alter_configs::apply;
use super::describe_configs::RESOURCE_TOPIC;
use super::message;
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// Answers an IncrementalAlterConfigs request. Kafka: ALTER_CONFIGS on each
/// topic, or on the cluster for a broker.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let image = ctx.image();
    let mut refused: Vec<Option<(ErrorCode, Option<String>)>> = Vec::new();
    let mut applicable = Vec::new();
    for resource in &request.resources {
        if let Some(code) = super::describe_configs::refusal(
            caller,
            AclOperation::AlterConfigs,
            resource.resource_type,
            resource.resource_name.as_str(),
        ) {
            refused.push(Some((code, None)));
            continue;
        }
        let mut ops: Vec<(String, Option<String>)> = Vec::new();
        let mut refusal = None;
        for config in &resource.configs {
            let name = config.name.to_string();
            let value = config.value.as_ref().map(ToString::to_string);
            let change = match config.config_operation {
                OP_APPEND => Some(ListChange::Append),
                OP_SUBTRACT => Some(ListChange::Subtract),
                _ => None,
            };
            match (config.config_operation, value, change) {
                (OP_SET, Some(value), _) => ops.push((name, Some(value))),
                (OP_SET, None, _) => refusal = Some(format!("SET of {name} needs a value")),
                (OP_DELETE, _, _) => ops.push((name, None)),
                (_, Some(items), Some(change)) if resource.resource_type == RESOURCE_TOPIC => {
                    // An earlier operation of this request on the same name
                    // is what this one changes, as Kafka applies them in
                    // order (a DELETE there means back to the default).
                    let override_value = match ops.iter().rev().find(|(n, _)| *n == name) {
                        Some((_, earlier)) => earlier.clone(),
                        None => image
                            .topic(resource.resource_name.as_str())
                            .and_then(|topic| topic.configs.get(&name).cloned()),
                    };
                    let current = override_value
                        .unwrap_or_else(|| ctx.config.topic_default(&name).unwrap_or_default());
                    match change_list_config(&name, &current, change, &items) {
                        Ok(new_value) => ops.push((name, Some(new_value))),
                        Err(error) => refusal = Some(error.to_string()),
                    }
                }
                (op, _, _) => refusal = Some(format!("operation {op} on {name} is not supported")),
            }
        }
        // A resource with any refused operation is answered with the refusal
        // and applies none of its operations.
        if refusal.is_none() {
            applicable.push((
                resource.resource_type,
                resource.resource_name.to_string(),
                false,
                ops,
            ));
        }
        refused.push(refusal.map(|reason| (ErrorCode::InvalidConfig, Some(reason))));
    }
    let mut outcomes = apply(ctx, applicable, request.validate_only)
        .await
        .into_iter();
    let responses = request
        .resources
        .into_iter()
        .zip(refused)
        .map(|(resource, refusal)| {
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name);
            let outcome = match refusal {
                Some((code, None)) => return response.with_error_code(code.code()),
                Some((code, Some(reason))) => Err((code, reason)),
                None => outcomes.next().unwrap_or_else(|| {
                    Err((
                        ErrorCode::InvalidRequest,
                        "internal: reply count mismatch".into(),
                    ))
                }),
            };
            match outcome {
                Ok(()) => response,
                Err((code, reason)) => response
                    .with_error_code(code.code())
                    .with_error_message(message(&reason)),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
