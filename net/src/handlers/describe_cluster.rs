//! DescribeCluster: this one broker, which is also the controller.

use kafka_protocol::messages::describe_cluster_request::DescribeClusterRequest;
use kafka_protocol::messages::describe_cluster_response::{
    DescribeClusterBroker, DescribeClusterResponse,
};
use kafka_protocol::messages::BrokerId;

use super::str_bytes;
use crate::shard_state::ShardState;

/// Answers a DescribeCluster request.
pub fn handle(ctx: &ShardState, request: DescribeClusterRequest) -> DescribeClusterResponse {
    let node = ctx.config.node_id();
    DescribeClusterResponse::default()
        .with_endpoint_type(request.endpoint_type)
        .with_cluster_id(str_bytes(&ctx.cluster_id))
        .with_controller_id(BrokerId(node))
        .with_cluster_authorized_operations(i32::MIN)
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(node))
            .with_host(str_bytes(&ctx.advertised.host))
            .with_port(i32::from(ctx.advertised.port))])
}
