//! The controller listener's wire: what nodes send each other on the port
//! named by `controller.listener.names`. Every frame is a Kafka request
//! frame (`size: i32`, request header, body), read with the same bounded
//! framing as a client's. Where Kafka has a message for the exchange it is
//! used as is (BrokerRegistration, BrokerHeartbeat, AllocateProducerIds); raft-rs's messages
//! travel under a private API key, [`RAFT_API_KEY`], with a body of ours:
//! `from: i32` (the sender's `node.id`), `cluster_id: i16 length + UTF-8`
//! (-1 while the sender knows none), then the raft message's bytes. A raft
//! frame has no response (raft tolerates loss, and answers with messages of
//! its own).
//!
//! Decoding is pure and total, so the fuzzer can drive it
//! (`fuzz/fuzz_targets/controller_frame_decode.rs`): a broken frame is an
//! error that closes the connection, never a panic, and nothing is
//! allocated by a length read off the wire.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, ApiKey, BrokerHeartbeatRequest, BrokerRegistrationRequest,
    RequestHeader as KafkaHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::frame::{parse_request_header, FrameError, RequestHeader};
use crate::request::{decode, RequestError};

/// The private API key of a raft message (far above Kafka's keys).
pub const RAFT_API_KEY: i16 = 32_000;
/// The version of [`RAFT_API_KEY`] frames this Skein writes and reads.
pub const RAFT_API_VERSION: i16 = 0;
/// BrokerRegistration version used between Skein nodes (rack, listeners).
pub const BROKER_REGISTRATION_VERSION: i16 = 3;
/// AllocateProducerIds version used between Skein nodes.
pub const ALLOCATE_PRODUCER_IDS_VERSION: i16 = 0;
/// BrokerHeartbeat version used between Skein nodes.
pub const BROKER_HEARTBEAT_VERSION: i16 = 1;
/// The largest frame the controller listener accepts: a raft snapshot
/// travels in one message of at most 64 MiB (the quorum's
/// `message_bytes_max`), plus its header.
pub const CONTROLLER_FRAME_BYTES_MAX: usize = (64 << 20) + 4096;

/// A raft message from a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftFrame {
    /// The sender's `node.id`.
    pub from: i32,
    /// The cluster id the sender serves, if it knows one.
    pub cluster_id: Option<String>,
    /// The raft message (see `skein_controller::quorum::decode_message`).
    pub message: Bytes,
}

/// A request on the controller listener.
#[derive(Debug)]
pub enum ControllerRequest {
    /// A raft message; no response.
    Raft(RaftFrame),
    /// A broker registers (Kafka's BrokerRegistration).
    BrokerRegistration(BrokerRegistrationRequest),
    /// A broker heartbeats (Kafka's BrokerHeartbeat).
    BrokerHeartbeat(BrokerHeartbeatRequest),
    /// A node asks for a block of producer ids (Kafka's
    /// AllocateProducerIds).
    AllocateProducerIds(AllocateProducerIdsRequest),
}

/// Why a controller frame could not be decoded. Every variant closes the
/// connection.
#[derive(Debug, thiserror::Error)]
pub enum ControllerRpcError {
    /// The header is broken.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// An API (or version) the controller listener does not serve.
    #[error("api key {api_key} v{version} is not served on the controller listener")]
    Unsupported { api_key: i16, version: i16 },
    /// A Kafka body that does not decode.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// A raft frame's own fields are broken.
    #[error("malformed raft frame: {0}")]
    MalformedRaft(&'static str),
    /// A response that does not answer the request it was read for.
    #[error("malformed response: {0}")]
    MalformedResponse(String),
}

/// The header version of `api_key` at `version` on this listener.
fn header_version(api_key: i16, version: i16) -> Option<i16> {
    if api_key == RAFT_API_KEY {
        return Some(1);
    }
    ApiKey::try_from(api_key)
        .ok()
        .map(|key| key.request_header_version(version))
}

/// Decodes one frame (without its size prefix) read off the controller
/// listener.
///
/// # Errors
/// [`ControllerRpcError`] for anything but a well-formed request of an API
/// this listener serves.
pub fn decode_controller_frame(
    frame: Bytes,
) -> Result<(RequestHeader, ControllerRequest), ControllerRpcError> {
    let (header, _, body) = parse_request_header(frame, header_version)?;
    let version = header.api_version;
    let unsupported = ControllerRpcError::Unsupported {
        api_key: header.api_key,
        version,
    };
    let request = match header.api_key {
        RAFT_API_KEY if version == RAFT_API_VERSION => {
            ControllerRequest::Raft(decode_raft_body(body)?)
        }
        key if key == ApiKey::BrokerRegistration as i16 && (0..=4).contains(&version) => {
            ControllerRequest::BrokerRegistration(decode(
                ApiKey::BrokerRegistration,
                body,
                version,
            )?)
        }
        key if key == ApiKey::BrokerHeartbeat as i16 && (0..=1).contains(&version) => {
            ControllerRequest::BrokerHeartbeat(decode(ApiKey::BrokerHeartbeat, body, version)?)
        }
        key if key == ApiKey::AllocateProducerIds as i16 && version == 0 => {
            ControllerRequest::AllocateProducerIds(decode(
                ApiKey::AllocateProducerIds,
                body,
                version,
            )?)
        }
        _ => return Err(unsupported),
    };
    Ok((header, request))
}

fn decode_raft_body(mut body: Bytes) -> Result<RaftFrame, ControllerRpcError> {
    if body.len() < 6 {
        return Err(ControllerRpcError::MalformedRaft(
            "shorter than its fixed fields",
        ));
    }
    let from = body.get_i32();
    if from < 0 {
        return Err(ControllerRpcError::MalformedRaft("negative sender id"));
    }
    let len = body.get_i16();
    let cluster_id = match usize::try_from(len) {
        Ok(len) => {
            if body.len() < len {
                return Err(ControllerRpcError::MalformedRaft(
                    "cluster id longer than the frame",
                ));
            }
            let id = body.split_to(len);
            Some(
                String::from_utf8(id.to_vec())
                    .map_err(|_| ControllerRpcError::MalformedRaft("cluster id is not UTF-8"))?,
            )
        }
        Err(_) if len == -1 => None,
        Err(_) => {
            return Err(ControllerRpcError::MalformedRaft(
                "negative cluster id length",
            ))
        }
    };
    Ok(RaftFrame {
        from,
        cluster_id,
        message: body,
    })
}

/// The whole frame (size prefix included) carrying `raft`.
pub fn encode_raft_frame(raft: &RaftFrame) -> Bytes {
    let cluster_id = raft.cluster_id.as_deref().unwrap_or("");
    let mut buf = BytesMut::with_capacity(32 + cluster_id.len() + raft.message.len());
    buf.put_i32(0);
    buf.put_i16(RAFT_API_KEY);
    buf.put_i16(RAFT_API_VERSION);
    buf.put_i32(0);
    buf.put_i16(-1);
    buf.put_i32(raft.from);
    match &raft.cluster_id {
        Some(id) => {
            let len = i16::try_from(id.len()).unwrap_or(i16::MAX);
            buf.put_i16(len);
            buf.put_slice(id.as_bytes().get(..len as usize).unwrap_or_default());
        }
        None => buf.put_i16(-1),
    }
    buf.put_slice(&raft.message);
    patch_size(&mut buf);
    buf.freeze()
}

/// The whole frame (size prefix included) of Kafka request `message` of
/// `api_key` at `version`.
///
/// # Errors
/// When the message cannot be encoded at that version (a bug of ours).
pub fn encode_request<M: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    message: &M,
) -> anyhow::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    KafkaHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("skein-controller-client")))
        .encode(&mut buf, api_key.request_header_version(version))?;
    message.encode(&mut buf, version)?;
    patch_size(&mut buf);
    Ok(buf.freeze())
}

/// Decodes a response frame (without its size prefix) to a request of
/// `api_key` at `version` sent with `correlation_id`.
///
/// # Errors
/// [`ControllerRpcError::MalformedResponse`] for another correlation id or
/// a body that does not decode.
pub fn decode_response<M: Decodable>(
    mut frame: Bytes,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
) -> Result<M, ControllerRpcError> {
    let malformed = |reason: String| ControllerRpcError::MalformedResponse(reason);
    let header_version = api_key.response_header_version(version);
    let header = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ResponseHeader::decode(&mut frame, header_version)
    }))
    .map_err(|_| malformed("the header decoder panicked".into()))?
    .map_err(|error| malformed(error.to_string()))?;
    if header.correlation_id != correlation_id {
        return Err(malformed(format!(
            "correlation id {} answers no request (expected {correlation_id})",
            header.correlation_id
        )));
    }
    decode(api_key, frame, version).map_err(|error| malformed(error.to_string()))
}

/// Sets the leading size field of a frame to its length.
fn patch_size(buf: &mut BytesMut) {
    let size = i32::try_from(buf.len() - 4).unwrap_or(i32::MAX);
    if let Some(prefix) = buf.get_mut(0..4) {
        prefix.copy_from_slice(&size.to_be_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{BrokerId, BrokerRegistrationResponse};

    fn body(frame: Bytes) -> Bytes {
        frame.slice(4..)
    }

    #[test]
    fn raft_frames_round_trip() {
        for cluster_id in [None, Some("abc".to_string())] {
            let raft = RaftFrame {
                from: 3,
                cluster_id,
                message: Bytes::from_static(b"raft bytes"),
            };
            let (header, request) =
                decode_controller_frame(body(encode_raft_frame(&raft))).unwrap();
            assert_eq!(header.api_key, RAFT_API_KEY);
            match request {
                ControllerRequest::Raft(decoded) => assert_eq!(decoded, raft),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn broker_registration_round_trips_as_kafkas_message() {
        let request = BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(2))
            .with_cluster_id(StrBytes::from_static_str("cluster"));
        let frame = encode_request(
            ApiKey::BrokerRegistration,
            BROKER_REGISTRATION_VERSION,
            9,
            &request,
        )
        .unwrap();
        let (header, decoded) = decode_controller_frame(body(frame)).unwrap();
        assert_eq!(header.correlation_id, 9);
        match decoded {
            ControllerRequest::BrokerRegistration(decoded) => assert_eq!(decoded, request),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_frames_are_errors_not_panics() {
        let raft = |tail: &[u8]| {
            let mut frame = BytesMut::new();
            frame.put_i16(RAFT_API_KEY);
            frame.put_i16(0);
            frame.put_i32(0);
            frame.put_i16(-1);
            frame.put_slice(tail);
            frame.freeze()
        };
        for tail in [
            &b""[..],
            &[0, 0, 0, 1][..],
            &[0xff, 0xff, 0xff, 0xff, 0, 0][..],
            &[0, 0, 0, 1, 0x7f, 0xff, b'a'][..],
            &[0, 0, 0, 1, 0xff, 0xfe][..],
            &[0, 0, 0, 1, 0, 2, 0xff, 0xfe][..],
        ] {
            assert!(decode_controller_frame(raft(tail)).is_err(), "{tail:?}");
        }
        let mut produce = BytesMut::new();
        produce.put_i16(0);
        produce.put_i16(9);
        produce.put_i32(0);
        produce.put_i16(-1);
        produce.put_u8(0);
        assert!(matches!(
            decode_controller_frame(produce.freeze()),
            Err(ControllerRpcError::Unsupported { api_key: 0, .. })
        ));
        // A huge array count in a Kafka body neither allocates nor aborts.
        let mut registration = BytesMut::new();
        registration.put_i16(ApiKey::BrokerRegistration as i16);
        registration.put_i16(0);
        registration.put_i32(0);
        registration.put_i16(-1);
        registration.put_u8(0);
        registration.put_i32(1);
        registration.put_u8(1);
        registration.put_slice(&[0; 16]);
        registration.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
        assert!(decode_controller_frame(registration.freeze()).is_err());
    }

    #[test]
    fn responses_are_matched_by_correlation_id() {
        let response = BrokerRegistrationResponse::default().with_broker_epoch(7);
        let mut buf = BytesMut::new();
        let version = BROKER_REGISTRATION_VERSION;
        ResponseHeader::default()
            .with_correlation_id(5)
            .encode(
                &mut buf,
                ApiKey::BrokerRegistration.response_header_version(version),
            )
            .unwrap();
        response.encode(&mut buf, version).unwrap();
        let frame = buf.freeze();
        let decoded: BrokerRegistrationResponse =
            decode_response(frame.clone(), ApiKey::BrokerRegistration, version, 5).unwrap();
        assert_eq!(decoded.broker_epoch, 7);
        assert!(decode_response::<BrokerRegistrationResponse>(
            frame,
            ApiKey::BrokerRegistration,
            version,
            6
        )
        .is_err());
    }
}
