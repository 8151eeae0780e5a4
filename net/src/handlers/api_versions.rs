//! ApiVersions: built from the one table of served APIs; the consumer group
//! protocol's APIs (68, 69) only while `group.coordinator.rebalance.protocols`
//! lists `consumer`, as Kafka does.

use kafka_protocol::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};

use kafka_protocol::messages::ApiKey;

use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;
use crate::supported_apis::SUPPORTED_APIS;

/// The response listing every API served with `ctx`'s configuration, with
/// `error`.
pub fn response(error: ErrorCode, ctx: &ShardState) -> ApiVersionsResponse {
    let consumer_protocol = ctx.config.rebalance_protocol_enabled("consumer");
    let api_keys = SUPPORTED_APIS
        .iter()
        .filter(|api| {
            consumer_protocol
                || !matches!(
                    api.api_key,
                    ApiKey::ConsumerGroupHeartbeat | ApiKey::ConsumerGroupDescribe
                )
        })
        .map(|api| {
            ApiVersion::default()
                .with_api_key(api.api_key as i16)
                .with_min_version(api.min_version)
                .with_max_version(api.max_version)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error.code())
        .with_api_keys(api_keys)
}
