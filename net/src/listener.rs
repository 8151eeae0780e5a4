//! The listener of one data shard. Every data shard binds the same address
//! with SO_REUSEPORT (glommio sets it), so the kernel spreads new connections
//! over the shards; a connection lives on the shard that accepted it.

use std::net::SocketAddr;
use std::rc::Rc;

use glommio::net::TcpListener;

use crate::connection;
use crate::shard_state::ShardState;

/// Binds `addr` on this shard.
///
/// # Errors
/// If the address cannot be bound.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).map_err(std::io::Error::from)
}

/// Accepts connections until the shard stops, serving each in its own task.
pub async fn accept_loop(ctx: Rc<ShardState>, listener: TcpListener) {
    while !ctx.is_stopping() {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(connection::serve(Rc::clone(&ctx), stream)).detach();
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
