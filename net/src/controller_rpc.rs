//! The controller listener's wire: what nodes send each other on the port
//! named by `controller.listener.names`. Every frame is a Kafka request
//! frame (`size: i32`, request header, body), read with the same bounded
//! framing as a client's. Where Kafka has a message for the exchange it is
//! used as is (BrokerRegistration, BrokerHeartbeat, AllocateProducerIds,
//! AlterPartition, and the admin requests a node forwards to the active controller: see
//! `control_forwarding`); raft-rs's messages
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
    AllocateProducerIdsRequest, AlterPartitionRequest, ApiKey, AssignReplicasToDirsRequest,
    BrokerHeartbeatRequest, BrokerRegistrationRequest, RequestHeader as KafkaHeader,
    ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use skein_controller::quorum::{CommittedEntry, CommittedSnapshot, CommittedTail};

use crate::control_forwarding::{forwarded_version, ForwardedRequest};
use crate::frame::{parse_request_header, FrameError, RequestHeader};
use crate::request::{decode, RequestError};

/// The private API key of a raft message (far above Kafka's keys).
pub const RAFT_API_KEY: i16 = 32_000;
/// The version of [`RAFT_API_KEY`] frames this Skein writes and reads.
pub const RAFT_API_VERSION: i16 = 0;
/// The private API key of a metadata fetch: a broker-only node reading the
/// committed metadata log from a voter (where a KRaft observer sends
/// Fetch for `__cluster_metadata`; ours carries raft-rs entries).
pub const METADATA_FETCH_API_KEY: i16 = 32_001;
/// The version of [`METADATA_FETCH_API_KEY`] frames this Skein writes and
/// reads.
pub const METADATA_FETCH_API_VERSION: i16 = 0;
/// BrokerRegistration version used between Skein nodes (rack, listeners).
pub const BROKER_REGISTRATION_VERSION: i16 = 3;
/// AllocateProducerIds version used between Skein nodes.
pub const ALLOCATE_PRODUCER_IDS_VERSION: i16 = 0;
/// BrokerHeartbeat version used between Skein nodes.
pub const BROKER_HEARTBEAT_VERSION: i16 = 1;
/// AlterPartition version a leader sends (topic ids, ISR members with
/// their broker epochs).
pub const ALTER_PARTITION_VERSION: i16 = 3;
/// AssignReplicasToDirs version a broker sends (KIP-858).
pub const ASSIGN_REPLICAS_TO_DIRS_VERSION: i16 = 0;
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

/// A broker-only node asks a voter for the committed metadata log after
/// the index it has applied. Body: `from: i32`, `cluster_id` (as in a raft
/// frame), `after_index: i64`, `max_wait_ms: i32`, `max_bytes: i32`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataFetch {
    /// The asker's `node.id`.
    pub from: i32,
    /// The cluster id the asker serves, if it knows one.
    pub cluster_id: Option<String>,
    /// The last quorum log index it has applied.
    pub after_index: u64,
    /// How long the voter may wait for an entry after `after_index`.
    pub max_wait_ms: u32,
    /// About how many payload bytes to answer with.
    pub max_bytes: u32,
}

/// A voter's answer to a [`MetadataFetch`]. Body: `error_code: i16`,
/// `leader_id: i32` (-1: unknown), `last_index: i64`, the snapshot
/// (`index: i64`, -1 for none, then `length: i32` and its bytes), then
/// `count: i32` entries of `index: i64`, `term: i64`, `length: i32` and
/// their bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataFetchAnswer {
    /// 0, or why nothing is served (INCONSISTENT_CLUSTER_ID).
    pub error_code: i16,
    /// The active controller's `node.id`, if the voter knows it.
    pub leader_id: Option<i32>,
    /// The committed log after the asker's index.
    pub tail: CommittedTail,
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
    /// A partition leader asks to change its ISR (Kafka's AlterPartition,
    /// v2 or v3: topic ids).
    AlterPartition(AlterPartitionRequest),
    /// A broker says which log directory holds its replicas (Kafka's
    /// AssignReplicasToDirs, KIP-858).
    AssignReplicasToDirs(AssignReplicasToDirsRequest),
    /// A node forwards a metadata change (CreateTopics and the like) to the
    /// active controller.
    Forwarded(ForwardedRequest),
    /// A broker-only node reads the committed metadata log.
    MetadataFetch(MetadataFetch),
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
    /// A metadata fetch's (or its answer's) own fields are broken.
    #[error("malformed metadata fetch: {0}")]
    MalformedFetch(&'static str),
    /// A response that does not answer the request it was read for.
    #[error("malformed response: {0}")]
    MalformedResponse(String),
}

/// The header version of `api_key` at `version` on this listener.
fn header_version(api_key: i16, version: i16) -> Option<i16> {
    if api_key == RAFT_API_KEY || api_key == METADATA_FETCH_API_KEY {
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
        METADATA_FETCH_API_KEY if version == METADATA_FETCH_API_VERSION => {
            ControllerRequest::MetadataFetch(decode_metadata_fetch(body)?)
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
        key if key == ApiKey::AlterPartition as i16 && (2..=3).contains(&version) => {
            ControllerRequest::AlterPartition(decode(ApiKey::AlterPartition, body, version)?)
        }
        key if key == ApiKey::AssignReplicasToDirs as i16
            && version == ASSIGN_REPLICAS_TO_DIRS_VERSION =>
        {
            ControllerRequest::AssignReplicasToDirs(decode(
                ApiKey::AssignReplicasToDirs,
                body,
                version,
            )?)
        }
        key if key == ApiKey::AllocateProducerIds as i16 && version == 0 => {
            ControllerRequest::AllocateProducerIds(decode(
                ApiKey::AllocateProducerIds,
                body,
                version,
            )?)
        }
        key => {
            let Ok(api_key) = ApiKey::try_from(key) else {
                return Err(unsupported);
            };
            if forwarded_version(api_key) != Some(version) {
                return Err(unsupported);
            }
            ControllerRequest::Forwarded(decode_forwarded(api_key, body, version)?)
        }
    };
    Ok((header, request))
}

/// A forwarded admin request's body.
fn decode_forwarded(
    api_key: ApiKey,
    body: Bytes,
    version: i16,
) -> Result<ForwardedRequest, ControllerRpcError> {
    Ok(match api_key {
        ApiKey::CreateTopics => ForwardedRequest::CreateTopics(decode(api_key, body, version)?),
        ApiKey::DeleteTopics => ForwardedRequest::DeleteTopics(decode(api_key, body, version)?),
        ApiKey::CreatePartitions => {
            ForwardedRequest::CreatePartitions(decode(api_key, body, version)?)
        }
        ApiKey::IncrementalAlterConfigs => {
            ForwardedRequest::IncrementalAlterConfigs(decode(api_key, body, version)?)
        }
        ApiKey::AlterConfigs => ForwardedRequest::AlterConfigs(decode(api_key, body, version)?),
        ApiKey::ElectLeaders => ForwardedRequest::ElectLeaders(decode(api_key, body, version)?),
        ApiKey::DescribeQuorum => ForwardedRequest::DescribeQuorum(decode(api_key, body, version)?),
        ApiKey::AlterUserScramCredentials => {
            ForwardedRequest::AlterUserScramCredentials(decode(api_key, body, version)?)
        }
        ApiKey::CreateAcls => ForwardedRequest::CreateAcls(decode(api_key, body, version)?),
        ApiKey::AlterPartitionReassignments => {
            ForwardedRequest::AlterPartitionReassignments(decode(api_key, body, version)?)
        }
        ApiKey::DeleteAcls => ForwardedRequest::DeleteAcls(decode(api_key, body, version)?),
        _ => {
            return Err(ControllerRpcError::Unsupported {
                api_key: api_key as i16,
                version,
            })
        }
    })
}

fn decode_raft_body(mut body: Bytes) -> Result<RaftFrame, ControllerRpcError> {
    let malformed = ControllerRpcError::MalformedRaft;
    if body.len() < 6 {
        return Err(malformed("shorter than its fixed fields"));
    }
    let from = body.get_i32();
    if from < 0 {
        return Err(malformed("negative sender id"));
    }
    let cluster_id = get_cluster_id(&mut body).map_err(malformed)?;
    Ok(RaftFrame {
        from,
        cluster_id,
        message: body,
    })
}

/// A cluster id: `i16` length (-1: none) and UTF-8.
fn get_cluster_id(body: &mut Bytes) -> Result<Option<String>, &'static str> {
    if body.len() < 2 {
        return Err("no cluster id");
    }
    let len = body.get_i16();
    match usize::try_from(len) {
        Ok(len) => {
            if body.len() < len {
                return Err("cluster id longer than the frame");
            }
            let id = body.split_to(len);
            String::from_utf8(id.to_vec())
                .map(Some)
                .map_err(|_| "cluster id is not UTF-8")
        }
        Err(_) if len == -1 => Ok(None),
        Err(_) => Err("negative cluster id length"),
    }
}

/// Writes a cluster id as [`get_cluster_id`] reads it.
fn put_cluster_id(buf: &mut BytesMut, cluster_id: Option<&str>) {
    match cluster_id {
        Some(id) => {
            let len = i16::try_from(id.len()).unwrap_or(i16::MAX);
            buf.put_i16(len);
            buf.put_slice(id.as_bytes().get(..len as usize).unwrap_or_default());
        }
        None => buf.put_i16(-1),
    }
}

fn decode_metadata_fetch(mut body: Bytes) -> Result<MetadataFetch, ControllerRpcError> {
    let malformed = ControllerRpcError::MalformedFetch;
    if body.len() < 4 {
        return Err(malformed("shorter than its fixed fields"));
    }
    let from = body.get_i32();
    let cluster_id = get_cluster_id(&mut body).map_err(malformed)?;
    if body.len() != 16 {
        return Err(malformed("wrong length after the cluster id"));
    }
    let after_index = u64::try_from(body.get_i64()).map_err(|_| malformed("negative index"))?;
    let max_wait_ms = u32::try_from(body.get_i32()).map_err(|_| malformed("negative wait"))?;
    let max_bytes = u32::try_from(body.get_i32()).map_err(|_| malformed("negative size"))?;
    if from < 0 {
        return Err(malformed("negative sender id"));
    }
    Ok(MetadataFetch {
        from,
        cluster_id,
        after_index,
        max_wait_ms,
        max_bytes,
    })
}

/// The whole frame (size prefix included) of metadata fetch `fetch`.
pub fn encode_metadata_fetch(fetch: &MetadataFetch, correlation_id: i32) -> Bytes {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    buf.put_i16(METADATA_FETCH_API_KEY);
    buf.put_i16(METADATA_FETCH_API_VERSION);
    buf.put_i32(correlation_id);
    buf.put_i16(-1);
    buf.put_i32(fetch.from);
    put_cluster_id(&mut buf, fetch.cluster_id.as_deref());
    buf.put_i64(i64::try_from(fetch.after_index).unwrap_or(i64::MAX));
    buf.put_i32(i32::try_from(fetch.max_wait_ms).unwrap_or(i32::MAX));
    buf.put_i32(i32::try_from(fetch.max_bytes).unwrap_or(i32::MAX));
    patch_size(&mut buf);
    buf.freeze()
}

/// The body (after the response header) of `answer`.
pub fn encode_metadata_fetch_answer(answer: &MetadataFetchAnswer) -> BytesMut {
    let tail = &answer.tail;
    let payload: usize = tail.entries.iter().map(|e| e.payload.len() + 20).sum();
    let snapshot = tail.snapshot.as_ref().map_or(0, |s| s.data.len());
    let mut buf = BytesMut::with_capacity(32 + payload + snapshot);
    let index = |index: u64| i64::try_from(index).unwrap_or(i64::MAX);
    let len = |len: usize| i32::try_from(len).unwrap_or(i32::MAX);
    buf.put_i16(answer.error_code);
    buf.put_i32(answer.leader_id.unwrap_or(-1));
    buf.put_i64(index(tail.last_index));
    match &tail.snapshot {
        Some(snapshot) => {
            buf.put_i64(index(snapshot.index));
            buf.put_i32(len(snapshot.data.len()));
            buf.put_slice(&snapshot.data);
        }
        None => buf.put_i64(-1),
    }
    buf.put_i32(len(tail.entries.len()));
    for entry in &tail.entries {
        buf.put_i64(index(entry.index));
        buf.put_i64(index(entry.term));
        buf.put_i32(len(entry.payload.len()));
        buf.put_slice(&entry.payload);
    }
    buf
}

/// Decodes a metadata fetch answer frame (without its size prefix) sent for
/// `correlation_id`. Every length is checked against the bytes present.
///
/// # Errors
/// [`ControllerRpcError::MalformedFetch`] for anything broken.
pub fn decode_metadata_fetch_answer(
    mut frame: Bytes,
    correlation_id: i32,
) -> Result<MetadataFetchAnswer, ControllerRpcError> {
    let malformed = ControllerRpcError::MalformedFetch;
    if frame.len() < 4 + 2 + 4 + 8 + 8 {
        return Err(malformed("shorter than its fixed fields"));
    }
    if frame.get_i32() != correlation_id {
        return Err(malformed("answers another request"));
    }
    let error_code = frame.get_i16();
    let leader_id = frame.get_i32();
    let index = |value: i64| u64::try_from(value).map_err(|_| malformed("negative index"));
    let last_index = index(frame.get_i64())?;
    let snapshot_index = frame.get_i64();
    let snapshot = if snapshot_index == -1 {
        None
    } else {
        let data = take_bytes(&mut frame).ok_or(malformed("snapshot longer than the frame"))?;
        Some(CommittedSnapshot {
            index: index(snapshot_index)?,
            data,
        })
    };
    if frame.len() < 4 {
        return Err(malformed("no entry count"));
    }
    let count = usize::try_from(frame.get_i32()).map_err(|_| malformed("negative count"))?;
    // Each entry takes at least 20 bytes: a count above that is a lie, and
    // nothing is reserved for it.
    if count > frame.len() / 20 {
        return Err(malformed("more entries than bytes"));
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        if frame.len() < 16 {
            return Err(malformed("entry shorter than its fixed fields"));
        }
        let entry_index = index(frame.get_i64())?;
        let term = index(frame.get_i64())?;
        let payload = take_bytes(&mut frame).ok_or(malformed("entry longer than the frame"))?;
        entries.push(CommittedEntry {
            index: entry_index,
            term,
            payload,
        });
    }
    if !frame.is_empty() {
        return Err(malformed("trailing bytes"));
    }
    Ok(MetadataFetchAnswer {
        error_code,
        leader_id: (leader_id >= 0).then_some(leader_id),
        tail: CommittedTail {
            snapshot,
            entries,
            last_index,
        },
    })
}

/// An `i32` length and that many bytes, if present.
fn take_bytes(frame: &mut Bytes) -> Option<Bytes> {
    if frame.len() < 4 {
        return None;
    }
    let len = usize::try_from(frame.get_i32()).ok()?;
    (frame.len() >= len).then(|| frame.split_to(len))
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
    put_cluster_id(&mut buf, raft.cluster_id.as_deref());
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
    fn metadata_fetches_and_answers_round_trip() {
        let fetch = MetadataFetch {
            from: 4,
            cluster_id: Some("abc".into()),
            after_index: 17,
            max_wait_ms: 500,
            max_bytes: 1 << 20,
        };
        let (header, decoded) =
            decode_controller_frame(body(encode_metadata_fetch(&fetch, 3))).unwrap();
        assert_eq!(header.correlation_id, 3);
        match decoded {
            ControllerRequest::MetadataFetch(decoded) => assert_eq!(decoded, fetch),
            other => panic!("{other:?}"),
        }
        let answer = MetadataFetchAnswer {
            error_code: 0,
            leader_id: Some(1),
            tail: CommittedTail {
                snapshot: Some(CommittedSnapshot {
                    index: 20,
                    data: Bytes::from_static(b"image"),
                }),
                entries: vec![CommittedEntry {
                    index: 22,
                    term: 3,
                    payload: Bytes::from_static(b"records"),
                }],
                last_index: 23,
            },
        };
        let mut frame = BytesMut::new();
        frame.put_i32(3);
        frame.extend_from_slice(&encode_metadata_fetch_answer(&answer));
        let frame = frame.freeze();
        assert_eq!(
            decode_metadata_fetch_answer(frame.clone(), 3).unwrap(),
            answer
        );
        assert!(decode_metadata_fetch_answer(frame.clone(), 4).is_err());
        // Every truncation is an error, never a panic.
        for cut in 0..frame.len() {
            assert!(
                decode_metadata_fetch_answer(frame.slice(..cut), 3).is_err(),
                "{cut}"
            );
        }
    }

    #[test]
    fn lying_metadata_answers_are_errors_without_allocating() {
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        frame.put_i16(0);
        frame.put_i32(1);
        frame.put_i64(5);
        frame.put_i64(-1);
        frame.put_i32(i32::MAX);
        assert!(decode_metadata_fetch_answer(frame.clone().freeze(), 0).is_err());
        let mut snapshot = BytesMut::new();
        snapshot.put_i32(0);
        snapshot.put_i16(0);
        snapshot.put_i32(1);
        snapshot.put_i64(5);
        snapshot.put_i64(4);
        snapshot.put_i32(i32::MAX);
        assert!(decode_metadata_fetch_answer(snapshot.freeze(), 0).is_err());
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
