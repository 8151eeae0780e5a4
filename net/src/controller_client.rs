//! The client side of the controller listener: one TCP connection to a
//! controller, requests sent one at a time and matched to their responses
//! by correlation id; and the outbound links that carry raft messages to
//! the other voters. The same connection carries requests to another
//! broker's inter-broker listener (replica fetches, transaction markers).
//! Every connection is opened by [`crate::client_security::connect`], with
//! the TLS and SASL login of the listener it reaches.
//!
//! Lives on: the control shard (glommio sockets).

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::StreamExt;
use futures_lite::AsyncWriteExt;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable};
use skein_controller::quorum::QuorumNodeId;

use crate::client_security::{ClientSecurity, ClientSecurityError, PeerConnection, PeerStream};
use crate::controller_rpc::{
    decode_metadata_fetch_answer, decode_response, encode_metadata_fetch, encode_request,
    ControllerRpcError, MetadataFetch, MetadataFetchAnswer, CONTROLLER_FRAME_BYTES_MAX,
};
use crate::frame::{read_frame_body_of, FrameError};

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
    /// The TLS handshake or the SASL login failed.
    #[error(transparent)]
    Login(#[from] ClientSecurityError),
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

/// One connection to a controller (or a broker's inter-broker listener).
pub struct ControllerConnection {
    peer: PeerConnection,
    next_correlation_id: i32,
}

impl ControllerConnection {
    /// Connects to `address`, given as `HOST:PORT` (a voter's controller
    /// listener, or a broker's inter-broker listener), with `security`:
    /// TLS and the SASL login of that listener when it has them.
    ///
    /// # Errors
    /// When it does not resolve, accept, complete the TLS handshake or the
    /// login within the call timeout.
    pub async fn connect_to(
        address: &str,
        security: &ClientSecurity,
    ) -> Result<Self, ControllerCallError> {
        let socket_address = resolve(address)?;
        let host = address
            .rsplit_once(':')
            .map_or(address, |(host, _)| host)
            .to_string();
        let peer = glommio::timer::timeout(CALL_TIMEOUT, async {
            Ok(crate::client_security::connect(socket_address, &host, security).await)
        })
        .await
        .map_err(|_| ControllerCallError::TimedOut)??;
        Ok(ControllerConnection {
            peer,
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
        let stream = &mut self.peer.stream;
        let plain_socket = self.peer.plain_socket;
        let exchange = async move {
            stream.write_all(frame).await?;
            // TLS holds the last record until flushed.
            stream.flush().await?;
            let size = read_response_size(stream, max_bytes).await?;
            let body = read_frame_body_of(stream, plain_socket, size).await?;
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
    stream: &mut Box<dyn PeerStream>,
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
    /// Starts a link to each of `peers` (quorum id, controller address),
    /// connecting with `security` (the controller listener's).
    pub fn start(peers: Vec<(QuorumNodeId, String)>, security: &ClientSecurity) -> QuorumPeers {
        let mut links = BTreeMap::new();
        for (peer, address) in peers {
            let (sender, receiver) = mpsc::channel(PEER_QUEUE_MESSAGES);
            glommio::spawn_local(run_link(peer, address, security.clone(), receiver)).detach();
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
async fn run_link(
    peer: QuorumNodeId,
    address: String,
    security: ClientSecurity,
    mut queue: mpsc::Receiver<Bytes>,
) {
    let mut warned = false;
    loop {
        let mut connection = match ControllerConnection::connect_to(&address, &security).await {
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
            let written = async {
                connection.peer.stream.write_all(&frame).await?;
                // TLS holds the last record until flushed.
                connection.peer.stream.flush().await
            };
            if let Err(error) = written.await {
                tracing::debug!(peer, %error, "metadata quorum peer connection lost");
                break;
            }
        }
    }
}
