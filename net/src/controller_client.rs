//! The client side of the controller listener: one TCP connection to a
//! controller, requests sent one at a time and matched to their responses
//! by correlation id; and the outbound links that carry raft messages to
//! the other voters.
//!
//! Lives on: the control shard (glommio sockets).

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::StreamExt;
use futures_lite::AsyncWriteExt;
use glommio::net::TcpStream;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable};
use skein_controller::quorum::QuorumNodeId;

use crate::controller_rpc::{
    decode_metadata_fetch_answer, decode_response, encode_metadata_fetch, encode_request,
    ControllerRpcError, MetadataFetch, MetadataFetchAnswer, CONTROLLER_FRAME_BYTES_MAX,
};
use crate::frame::{read_frame_body, FrameError};

/// How long a connection attempt or a request may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Raft messages queued for one peer before newer ones are dropped (raft
/// resends what is lost).
const PEER_QUEUE_MESSAGES: usize = 4096;
/// Pause between connection attempts to an unreachable peer.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(200);
/// The largest response a controller sends: far above any real one.
const RESPONSE_BYTES_MAX: usize = 16 << 20;

/// Why a call to a controller failed.
#[derive(Debug, thiserror::Error)]
pub enum ControllerCallError {
    /// The address does not resolve.
    #[error("cannot resolve controller address {0}")]
    Resolve(String),
    /// Connecting, writing or reading failed.
    #[error("controller connection failed")]
    Io(#[from] std::io::Error),
    /// The response frame is broken.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The response does not decode.
    #[error(transparent)]
    Response(#[from] ControllerRpcError),
    /// The request cannot be encoded (a bug of ours).
    #[error("cannot encode the request: {0}")]
    Encode(String),
    /// No answer within the call timeout.
    #[error("the controller did not answer in time")]
    TimedOut,
}

/// Resolves `HOST:PORT` (loopback and literal addresses resolve without
/// the network).
pub fn resolve(address: &str) -> Result<SocketAddr, ControllerCallError> {
    address
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| ControllerCallError::Resolve(address.to_string()))
}

/// One connection to a controller.
pub struct ControllerConnection {
    stream: TcpStream,
    next_correlation_id: i32,
}

impl ControllerConnection {
    /// Connects to `address`, given as `HOST:PORT` (a voter's controller
    /// listener).
    ///
    /// # Errors
    /// When it does not resolve or accept within the call timeout.
    pub async fn connect_to(address: &str) -> Result<Self, ControllerCallError> {
        ControllerConnection::connect(resolve(address)?).await
    }

    /// Connects to `address`.
    ///
    /// # Errors
    /// When it does not resolve or accept within the call timeout.
    pub async fn connect(address: SocketAddr) -> Result<Self, ControllerCallError> {
        let stream = glommio::timer::timeout(CALL_TIMEOUT, async {
            TcpStream::connect(address)
                .await
                .map_err(|error| glommio::GlommioError::IoError(std::io::Error::from(error)))
        })
        .await
        .map_err(|error| match error {
            glommio::GlommioError::TimedOut(_) => ControllerCallError::TimedOut,
            other => ControllerCallError::Io(std::io::Error::other(other.to_string())),
        })?;
        // Small request/response exchanges: do not wait for more bytes.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on a controller connection");
        }
        Ok(ControllerConnection {
            stream,
            next_correlation_id: 0,
        })
    }

    /// Sends Kafka request `request` of `api_key` at `version` and reads
    /// its response.
    ///
    /// # Errors
    /// Any failure leaves the connection unusable: drop it.
    pub async fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        request: &Req,
    ) -> Result<Resp, ControllerCallError> {
        let correlation_id = self.next_correlation_id();
        let frame = encode_request(api_key, version, correlation_id, request)
            .map_err(|error| ControllerCallError::Encode(error.to_string()))?;
        let body = self.exchange(&frame, RESPONSE_BYTES_MAX).await?;
        Ok(decode_response(body, api_key, version, correlation_id)?)
    }

    /// Sends metadata fetch `fetch` and reads the voter's answer (a
    /// snapshot travels whole, so up to the controller listener's frame
    /// bound).
    ///
    /// # Errors
    /// Any failure leaves the connection unusable: drop it.
    pub async fn fetch_metadata(
        &mut self,
        fetch: &MetadataFetch,
    ) -> Result<MetadataFetchAnswer, ControllerCallError> {
        let correlation_id = self.next_correlation_id();
        let frame = encode_metadata_fetch(fetch, correlation_id);
        let body = self.exchange(&frame, CONTROLLER_FRAME_BYTES_MAX).await?;
        Ok(decode_metadata_fetch_answer(body, correlation_id)?)
    }

    fn next_correlation_id(&mut self) -> i32 {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        correlation_id
    }

    /// Writes request frame `frame` and reads the response frame (without
    /// its size prefix, at most `max_bytes`), within the call timeout.
    async fn exchange(
        &mut self,
        frame: &[u8],
        max_bytes: usize,
    ) -> Result<Bytes, ControllerCallError> {
        let stream = &mut self.stream;
        let exchange = async move {
            stream.write_all(frame).await?;
            let size = read_response_size(stream, max_bytes).await?;
            let body = read_frame_body(stream, size).await?;
            Ok::<Bytes, ControllerCallError>(body)
        };
        match glommio::timer::timeout(CALL_TIMEOUT, async { Ok(exchange.await) }).await {
            Ok(result) => result,
            Err(_) => Err(ControllerCallError::TimedOut),
        }
    }
}

/// Reads a response's size prefix, bounded by `max_bytes`.
async fn read_response_size(
    stream: &mut TcpStream,
    max_bytes: usize,
) -> Result<usize, ControllerCallError> {
    use futures_lite::AsyncReadExt;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).await?;
    let size = i32::from_be_bytes(size);
    match usize::try_from(size) {
        Ok(size) if (4..=max_bytes).contains(&size) => Ok(size),
        _ => Err(ControllerCallError::Frame(FrameError::BadSize {
            size,
            max: max_bytes,
        })),
    }
}

/// The outbound raft links: one queue and one connection per other voter.
pub struct QuorumPeers {
    links: BTreeMap<QuorumNodeId, mpsc::Sender<Bytes>>,
}

impl QuorumPeers {
    /// Starts a link to each of `peers` (quorum id, controller address).
    pub fn start(peers: Vec<(QuorumNodeId, String)>) -> QuorumPeers {
        let mut links = BTreeMap::new();
        for (peer, address) in peers {
            let (sender, receiver) = mpsc::channel(PEER_QUEUE_MESSAGES);
            glommio::spawn_local(run_link(peer, address, receiver)).detach();
            links.insert(peer, sender);
        }
        QuorumPeers { links }
    }

    /// Queues the raft frame `frame` for `peer`. Returns false when it was
    /// dropped (unknown peer or a full queue).
    pub fn send(&self, peer: QuorumNodeId, frame: Bytes) -> bool {
        match self.links.get(&peer) {
            Some(link) => link.clone().try_send(frame).is_ok(),
            None => false,
        }
    }
}

/// Keeps a connection to `peer` and writes its queued frames, reconnecting
/// after any failure. Frames queued while it is unreachable are dropped.
async fn run_link(peer: QuorumNodeId, address: String, mut queue: mpsc::Receiver<Bytes>) {
    let mut warned = false;
    loop {
        let mut connection = match ControllerConnection::connect_to(&address).await {
            Ok(connection) => {
                tracing::info!(peer_node_id = peer.saturating_sub(1), %address, "connected to metadata quorum peer");
                warned = false;
                connection
            }
            Err(error) => {
                if !warned {
                    tracing::warn!(peer_node_id = peer.saturating_sub(1), %address, %error, "metadata quorum peer unreachable; retrying");
                    warned = true;
                }
                glommio::timer::sleep(RECONNECT_BACKOFF).await;
                // What queued meanwhile is stale: raft sends anew.
                while queue.try_recv().is_ok() {}
                continue;
            }
        };
        loop {
            let Some(frame) = queue.next().await else {
                // The quorum driver is gone: the node is stopping.
                return;
            };
            if let Err(error) = connection.stream.write_all(&frame).await {
                tracing::debug!(peer, %error, "metadata quorum peer connection lost");
                break;
            }
        }
    }
}
