//! IncrementalAlterConfigs: SET (0) and DELETE (1) per topic config. APPEND
//! (2) and SUBTRACT (3) apply only to list configs, which Skein's topic
//! configs are not, so they are refused with INVALID_CONFIG as Kafka does
//! for non-list configs.

use kafka_protocol::messages::incremental_alter_configs_request::IncrementalAlterConfigsRequest;
use kafka_protocol::messages::incremental_alter_configs_response::{
    AlterConfigsResourceResponse, IncrementalAlterConfigsResponse,
};

use super::alter_configs::apply;
use super::message;
use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

/// Answers an IncrementalAlterConfigs request.
pub async fn handle(
    ctx: &ShardState,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut refused: Vec<Option<String>> = Vec::new();
    let mut applicable = Vec::new();
    for resource in &request.resources {
        let mut ops = Vec::new();
        let mut refusal = None;
        for config in &resource.configs {
            let name = config.name.to_string();
            match config.config_operation {
                OP_SET => match &config.value {
                    Some(value) => ops.push((name, Some(value.to_string()))),
                    None => refusal = Some(format!("SET of {name} needs a value")),
                },
                OP_DELETE => ops.push((name, None)),
                op => {
                    refusal = Some(format!(
                        "operation {op} on {name} is not supported: it is not a list config"
                    ))
                }
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
        refused.push(refusal);
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
                Some(reason) => Err((ErrorCode::InvalidConfig, reason)),
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
