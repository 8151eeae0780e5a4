//! The listener of one data shard. Every data shard binds the same address
//! with SO_REUSEPORT (glommio sets it), so the kernel spreads new connections
//! over the shards; a connection lives on the shard that accepted it.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use glommio::net::TcpListener;

use crate::connection;
use crate::connection_quota::{ConnectionQuotas, Refusal};
use crate::shard_state::ShardState;

/// How often a listener at `max.connections` looks for a free slot.
const FULL_RECHECK: Duration = Duration::from_millis(10);

/// Binds `addr` on this shard.
///
/// # Errors
/// If the address cannot be bound.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).map_err(std::io::Error::from)
}

/// Accepts connections until the shard stops, serving each in its own task
/// within the broker's connection `quotas`, as Kafka's acceptor does: a
/// connection accepted while the broker is at `max.connections` is held,
/// and no other accepted, until a slot frees (new ones wait in the kernel's
/// backlog); a connection past its address's limit is closed at once.
pub async fn accept_loop(
    ctx: Rc<ShardState>,
    listener: TcpListener,
    quotas: Arc<ConnectionQuotas>,
) {
    while !ctx.is_stopping() {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        let slot = loop {
            match quotas.admit(peer.ip()) {
                Err(Refusal::BrokerFull) if !ctx.is_stopping() => {
                    glommio::timer::sleep(FULL_RECHECK).await;
                }
                other => break other,
            }
        };
        match slot {
            Ok(slot) => {
                let serving = connection::serve(Rc::clone(&ctx), stream);
                glommio::spawn_local(async move {
                    serving.await;
                    drop(slot);
                })
                .detach();
            }
            Err(Refusal::TooManyFromAddress { limit }) => {
                tracing::info!(%peer, limit, "connection closed: max.connections.per.ip reached");
            }
            // Stopping while the broker was full.
            Err(Refusal::BrokerFull) => {}
        }
    }
}
