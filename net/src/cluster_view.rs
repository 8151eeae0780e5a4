//! The cluster as clients see it, from the metadata image: the live
//! brokers with the address of the listener the asking client connected
//! to (Kafka answers each client with the endpoints of its own listener),
//! and the broker named as controller. Metadata, DescribeCluster and
//! FindCoordinator answer from here.

use skein_controller::MetadataImage;

use crate::listener::ListenerEndpoint;
use crate::shard_state::ShardState;

/// A broker as Metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    /// Its `node.id`.
    pub broker_id: i32,
    /// Where clients reach it.
    pub host: String,
    /// Its client port.
    pub port: u16,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
}

/// The live (registered, unfenced) brokers as a client of `listener` sees
/// them: each with its endpoint of that listener's name (else of the
/// registered inter-broker listener, else its first one); this broker with
/// the address `listener` advertises. While the image has no live broker
/// yet (start-up), this broker alone.
pub fn live_brokers(
    ctx: &ShardState,
    image: &MetadataImage,
    listener: &ListenerEndpoint,
) -> Vec<BrokerAddress> {
    let local = ctx.config.node_id();
    let registered_name = ctx.config.client_listener().0.name;
    let mut brokers: Vec<BrokerAddress> = image
        .live_brokers()
        .filter_map(|broker| {
            if broker.broker_id == local {
                return Some(local_address(ctx, listener, broker.rack.clone()));
            }
            let endpoint = broker
                .listener(&listener.name)
                .or_else(|| broker.listener(&registered_name))
                .or_else(|| broker.listeners.first())?;
            Some(BrokerAddress {
                broker_id: broker.broker_id,
                host: endpoint.host.clone(),
                port: endpoint.port,
                rack: broker.rack.clone(),
            })
        })
        .collect();
    if brokers.is_empty() {
        brokers.push(local_address(ctx, listener, None));
    }
    brokers
}

/// The address of `broker_id` as [`live_brokers`] gives it, if it is live.
pub fn broker_address(
    ctx: &ShardState,
    image: &MetadataImage,
    listener: &ListenerEndpoint,
    broker_id: i32,
) -> Option<BrokerAddress> {
    live_brokers(ctx, image, listener)
        .into_iter()
        .find(|broker| broker.broker_id == broker_id)
}

/// The broker named as controller: the active controller when it is a live
/// broker (clients send it CreateTopics and the like), else this broker.
pub fn controller_id(ctx: &ShardState, image: &MetadataImage) -> i32 {
    let active = ctx.controller_id.load(std::sync::atomic::Ordering::Relaxed);
    if active >= 0 && image.is_live(active) {
        active
    } else {
        ctx.config.node_id()
    }
}

fn local_address(
    ctx: &ShardState,
    listener: &ListenerEndpoint,
    rack: Option<String>,
) -> BrokerAddress {
    BrokerAddress {
        broker_id: ctx.config.node_id(),
        host: listener.advertised.host.clone(),
        port: listener.advertised.port,
        rack,
    }
}
