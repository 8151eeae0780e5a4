//! The controller listener: accepts other nodes' connections on the port
//! named by `controller.listener.names` and serves their requests (see
//! [`skein_net::controller_rpc`] for the wire) on the control shard: raft
//! messages go to the quorum, BrokerRegistration and BrokerHeartbeat to the
//! controller's broker rules, AlterPartition to its ISR rules,
//! AllocateProducerIds to its producer-id blocks, forwarded admin requests to its rules, metadata fetches to the
//! committed log. Requests of one connection are answered in
//! order; a broken frame closes that connection only. On an SSL or
//! SASL_SSL controller listener the TLS handshake comes first (with
//! `ssl.client.auth=required` only nodes holding a certificate of its trust
//! store get past it), on a SASL one then the peer's SASL login
//! ([`authenticate_peer`]), both within [`LOGIN_TIMEOUT`]; a failed one
//! closes that connection only.
//!
//! Lives on: the control shard.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Encodable;

use crate::node::control_shard::ControlShard;
use skein_controller::ListenerSasl;
use skein_net::control_forwarding::{control_request, forwarded_response, ForwardedResponse};
use skein_net::controller_rpc::{
    decode_controller_frame, encode_metadata_fetch_answer, ControllerRequest,
    CONTROLLER_FRAME_BYTES_MAX,
};
use skein_net::frame::{read_frame, FrameError, RequestHeader};
use skein_net::peer_authentication::authenticate_peer;
use skein_net::response::write_response_header;
use skein_net::tls::ListenerTls;

/// How long a peer has to complete the TLS handshake and the SASL login.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The controller listener's security, from its protocol.
#[derive(Clone)]
pub struct ListenerSecurity {
    /// TLS (SSL, SASL_SSL).
    pub tls: Option<Arc<ListenerTls>>,
    /// SASL (SASL_PLAINTEXT, SASL_SSL).
    pub sasl: Option<Arc<ListenerSasl>>,
    /// `connection.failed.authentication.delay.ms`.
    pub failed_authentication_delay: Duration,
}

/// Serves `listener` with `security` until the task is cancelled.
pub async fn serve(listener: TcpListener, control: Rc<ControlShard>, security: ListenerSecurity) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(accepted(stream, Rc::clone(&control), security.clone()))
                    .detach();
            }
            Err(error) => {
                tracing::warn!(%error, "controller listener accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Serves one accepted connection, after its TLS handshake and SASL login
/// where the listener has them.
async fn accepted(stream: TcpStream, control: Rc<ControlShard>, security: ListenerSecurity) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY on a controller connection");
    }
    let peer = stream.peer_addr().ok();
    let Some(tls) = &security.tls else {
        return logged_in(stream, peer, control, &security).await;
    };
    let handshake = glommio::timer::timeout(LOGIN_TIMEOUT, async {
        Ok(skein_net::tls_stream::accept(stream, tls.server_config()).await)
    });
    match handshake.await {
        Ok(Ok(stream)) => logged_in(stream, peer, control, &security).await,
        Ok(Err(error)) => {
            tracing::info!(?peer, %error, "controller connection closed: TLS handshake failed");
        }
        Err(_) => {
            tracing::info!(
                ?peer,
                "controller connection closed: TLS handshake timed out"
            );
        }
    }
}

/// Serves `stream` after the peer's SASL login, on a SASL listener.
async fn logged_in<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: Option<std::net::SocketAddr>,
    control: Rc<ControlShard>,
    security: &ListenerSecurity,
) {
    if let Some(sasl) = &security.sasl {
        let image = control.image();
        let login = glommio::timer::timeout(LOGIN_TIMEOUT, async {
            Ok(authenticate_peer(
                &mut stream,
                Arc::clone(sasl),
                |user, mechanism| image.scram_credential(user, mechanism).cloned(),
                security.failed_authentication_delay,
            )
            .await)
        });
        match login.await {
            Ok(Ok(principal)) => {
                tracing::debug!(?peer, %principal, "controller connection logged in");
            }
            Ok(Err(error)) => {
                tracing::info!(?peer, %error, "controller connection closed: SASL login failed");
                return;
            }
            Err(_) => {
                tracing::info!(?peer, "controller connection closed: SASL login timed out");
                return;
            }
        }
    }
    connection(stream, peer, control).await
}

/// Serves one connection until it closes or sends a broken frame.
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: Option<std::net::SocketAddr>,
    control: Rc<ControlShard>,
) {
    loop {
        let frame = match read_frame(&mut stream, CONTROLLER_FRAME_BYTES_MAX).await {
            Ok(frame) => frame,
            Err(FrameError::Closed) => return,
            Err(error) => {
                tracing::info!(?peer, %error, "controller connection closed: broken frame");
                return;
            }
        };
        let (header, request) = match decode_controller_frame(frame) {
            Ok(decoded) => decoded,
            Err(error) => {
                tracing::info!(?peer, %error, "controller connection closed: bad request");
                return;
            }
        };
        let response = match request {
            ControllerRequest::Raft(raft) => {
                control.raft_message(raft);
                continue;
            }
            ControllerRequest::BrokerRegistration(request) => encode(
                &header,
                ApiKey::BrokerRegistration,
                &control.broker_registration(request).await,
            ),
            ControllerRequest::AllocateProducerIds(request) => encode(
                &header,
                ApiKey::AllocateProducerIds,
                &control.allocate_producer_ids(request).await,
            ),
            ControllerRequest::AlterPartition(request) => encode(
                &header,
                ApiKey::AlterPartition,
                &control.alter_partition(request, header.api_version).await,
            ),
            ControllerRequest::AssignReplicasToDirs(request) => encode(
                &header,
                ApiKey::AssignReplicasToDirs,
                &control.assign_replicas_to_dirs(request).await,
            ),
            ControllerRequest::BrokerHeartbeat(request) => encode(
                &header,
                ApiKey::BrokerHeartbeat,
                &control.broker_heartbeat(request).await,
            ),
            ControllerRequest::MetadataFetch(fetch) => {
                let answer = control.metadata_fetch(fetch).await;
                let mut buf = BytesMut::with_capacity(8);
                buf.put_i32(0);
                buf.put_i32(header.correlation_id);
                buf.extend_from_slice(&encode_metadata_fetch_answer(&answer));
                patch_size(&mut buf)
            }
            ControllerRequest::Forwarded(request) => {
                let reply = control.handle_forwarded(control_request(&request)).await;
                match forwarded_response(&request, reply) {
                    ForwardedResponse::CreateTopics(r) => encode(&header, ApiKey::CreateTopics, &r),
                    ForwardedResponse::DeleteTopics(r) => encode(&header, ApiKey::DeleteTopics, &r),
                    ForwardedResponse::CreatePartitions(r) => {
                        encode(&header, ApiKey::CreatePartitions, &r)
                    }
                    ForwardedResponse::IncrementalAlterConfigs(r) => {
                        encode(&header, ApiKey::IncrementalAlterConfigs, &r)
                    }
                    ForwardedResponse::AlterConfigs(r) => encode(&header, ApiKey::AlterConfigs, &r),
                    ForwardedResponse::ElectLeaders(r) => encode(&header, ApiKey::ElectLeaders, &r),
                    ForwardedResponse::DescribeQuorum(r) => {
                        encode(&header, ApiKey::DescribeQuorum, &r)
                    }
                    ForwardedResponse::AlterUserScramCredentials(r) => {
                        encode(&header, ApiKey::AlterUserScramCredentials, &r)
                    }
                    ForwardedResponse::CreateAcls(r) => encode(&header, ApiKey::CreateAcls, &r),
                    ForwardedResponse::AlterPartitionReassignments(r) => {
                        encode(&header, ApiKey::AlterPartitionReassignments, &r)
                    }
                    ForwardedResponse::DeleteAcls(r) => encode(&header, ApiKey::DeleteAcls, &r),
                }
            }
        };
        let Some(response) = response else {
            return;
        };
        // TLS holds the last record until flushed.
        let written = async {
            stream.write_all(&response).await?;
            stream.flush().await
        };
        if let Err(error) = written.await {
            tracing::debug!(?peer, %error, "controller connection lost");
            return;
        }
    }
}

/// The response frame of `message` to `header`; `None` (and the
/// connection closes) if it cannot be encoded, a bug of ours.
fn encode<M: Encodable>(header: &RequestHeader, api_key: ApiKey, message: &M) -> Option<Bytes> {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    let encoded = write_response_header(&mut buf, header, api_key)
        .and_then(|()| message.encode(&mut buf, header.api_version));
    if let Err(error) = encoded {
        tracing::error!(%error, ?api_key, "cannot encode a controller response");
        return None;
    }
    patch_size(&mut buf)
}

/// The frame `buf` (size field first) with its size set; `None` for one
/// too large to frame.
fn patch_size(buf: &mut BytesMut) -> Option<Bytes> {
    let size = i32::try_from(buf.len() - 4).ok()?;
    buf.get_mut(0..4)?.copy_from_slice(&size.to_be_bytes());
    Some(std::mem::take(buf).freeze())
}
