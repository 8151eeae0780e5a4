//! DescribeCluster: the live brokers and the broker named as controller
//! (see [`crate::cluster_view`]).

use kafka_protocol::messages::describe_cluster_request::DescribeClusterRequest;
use kafka_protocol::messages::describe_cluster_response::{
    DescribeClusterBroker, DescribeClusterResponse,
};
use kafka_protocol::messages::BrokerId;

use super::str_bytes;
use crate::authorized_operations;
use crate::caller::Caller;
use crate::cluster_view;
use crate::listener::ListenerEndpoint;
use crate::shard_state::ShardState;
use skein_controller::{AclOperation, ResourceType, CLUSTER_RESOURCE_NAME};

/// Answers a DescribeCluster request from a client of `listener`.
pub fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    listener: &ListenerEndpoint,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let image = ctx.image();
    let brokers = cluster_view::live_brokers(ctx, &image, listener)
        .into_iter()
        .map(|broker| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(broker.broker_id))
                .with_host(str_bytes(&broker.host))
                .with_port(i32::from(broker.port))
                .with_rack(broker.rack.as_deref().map(str_bytes))
        })
        .collect();
    DescribeClusterResponse::default()
        .with_endpoint_type(request.endpoint_type)
        .with_cluster_id(str_bytes(&ctx.cluster_id))
        .with_controller_id(BrokerId(cluster_view::controller_id(ctx, &image)))
        .with_cluster_authorized_operations(authorized_operations::if_asked(
            request.include_cluster_authorized_operations
                && caller.may_on_cluster(AclOperation::Describe),
            caller.authorized_operations(
                authorized_operations::CLUSTER,
                ResourceType::Cluster,
                CLUSTER_RESOURCE_NAME,
            ),
        ))
        .with_brokers(brokers)
}
