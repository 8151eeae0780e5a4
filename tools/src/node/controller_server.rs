//! The controller listener: accepts other nodes' connections on the port
//! named by `controller.listener.names` and serves their requests (see
//! [`skein_net::controller_rpc`] for the wire) on the control shard: raft
//! messages go to the quorum, BrokerRegistration and BrokerHeartbeat to the
//! controller's broker rules, AlterPartition to its ISR rules,
//! AllocateProducerIds to its producer-id blocks, forwarded admin requests to its rules, metadata fetches to the
//! committed log. Requests of one connection are answered in
//! order; a broken frame closes that connection only.
//!
//! Lives on: the control shard.

use std::rc::Rc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_lite::AsyncWriteExt;
use glommio::net::{TcpListener, TcpStream};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Encodable;

use crate::node::control_shard::ControlShard;
use skein_net::control_forwarding::{control_request, forwarded_response, ForwardedResponse};
use skein_net::controller_rpc::{
    decode_controller_frame, encode_metadata_fetch_answer, ControllerRequest,
    CONTROLLER_FRAME_BYTES_MAX,
};
use skein_net::frame::{read_frame, FrameError, RequestHeader};
use skein_net::response::write_response_header;

/// Serves `listener` until the task is cancelled.
pub async fn serve(listener: TcpListener, control: Rc<ControlShard>) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(connection(stream, Rc::clone(&control))).detach();
            }
            Err(error) => {
                tracing::warn!(%error, "controller listener accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Serves one connection until it closes or sends a broken frame.
async fn connection(mut stream: TcpStream, control: Rc<ControlShard>) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY on a controller connection");
    }
    let peer = stream.peer_addr().ok();
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
        if let Err(error) = stream.write_all(&response).await {
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
