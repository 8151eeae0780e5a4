//! FindCoordinator: this single node coordinates every group, so the answer
//! is always this broker's advertised address (v0–v3 one key, v4+ a batch of
//! keys). Transaction coordinators are not built: key type 1 is refused.

use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::find_coordinator_response::{Coordinator, FindCoordinatorResponse};
use kafka_protocol::messages::BrokerId;
use kafka_protocol::protocol::StrBytes;

use super::str_bytes;
use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;

/// `key_type` of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;

/// Answers a FindCoordinator request of `version`.
pub fn handle(
    ctx: &ShardState,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let node = BrokerId(ctx.config.node_id());
    let host = str_bytes(&ctx.advertised.host);
    let port = i32::from(ctx.advertised.port);
    let refusal = (request.key_type != KEY_TYPE_GROUP).then_some((
        ErrorCode::InvalidRequest,
        "only group coordinators exist (transactions are not supported)",
    ));
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| match refusal {
                Some((code, reason)) => Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(-1))
                    .with_host(StrBytes::default())
                    .with_port(-1)
                    .with_error_code(code.code())
                    .with_error_message(Some(str_bytes(reason))),
                None => Coordinator::default()
                    .with_key(key)
                    .with_node_id(node)
                    .with_host(host.clone())
                    .with_port(port),
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match refusal {
        Some((code, reason)) => FindCoordinatorResponse::default()
            .with_error_code(code.code())
            .with_error_message((version >= 1).then(|| str_bytes(reason)))
            .with_node_id(BrokerId(-1))
            .with_host(StrBytes::default())
            .with_port(-1),
        None => FindCoordinatorResponse::default()
            .with_node_id(node)
            .with_host(host)
            .with_port(port),
    }
}
