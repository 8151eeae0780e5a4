//! Decoding a request: from frame bytes to a typed request of a served API
//! and version, without touching any broker state. Pure, so the fuzzer can
//! drive it (`fuzz/fuzz_targets/request_decode.rs`).

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, DescribeTransactionsRequest, EndTxnRequest,
    ListTransactionsRequest, TxnOffsetCommitRequest,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterReplicaLogDirsRequest, ApiKey, CreatePartitionsRequest,
    CreateTopicsRequest, DeleteRecordsRequest, DeleteTopicsRequest, DescribeClusterRequest,
    DescribeConfigsRequest, DescribeLogDirsRequest, DescribeProducersRequest, FetchRequest,
    IncrementalAlterConfigsRequest, ListOffsetsRequest, MetadataRequest,
    OffsetForLeaderEpochRequest, ProduceRequest,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, ListPartitionReassignmentsRequest,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, DescribeQuorumRequest,
    ElectLeadersRequest, InitProducerIdRequest,
};
use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, HeartbeatRequest,
    JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest,
    OffsetDeleteRequest, OffsetFetchRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::Decodable;

use crate::frame::{parse_request_header, FrameError, RequestHeader};
use crate::supported_apis::is_supported;

/// A decoded request of a served API.
pub enum Request {
    ApiVersions,
    Metadata(MetadataRequest),
    Produce(ProduceRequest),
    Fetch(FetchRequest),
    ListOffsets(ListOffsetsRequest),
    CreateTopics(CreateTopicsRequest),
    DeleteTopics(DeleteTopicsRequest),
    CreatePartitions(CreatePartitionsRequest),
    DeleteRecords(DeleteRecordsRequest),
    DescribeConfigs(DescribeConfigsRequest),
    AlterConfigs(AlterConfigsRequest),
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest),
    DescribeCluster(DescribeClusterRequest),
    DescribeLogDirs(DescribeLogDirsRequest),
    DescribeProducers(DescribeProducersRequest),
    WriteTxnMarkers(kafka_protocol::messages::WriteTxnMarkersRequest),
    AlterReplicaLogDirs(AlterReplicaLogDirsRequest),
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest),
    FindCoordinator(FindCoordinatorRequest),
    JoinGroup(JoinGroupRequest),
    SyncGroup(SyncGroupRequest),
    Heartbeat(HeartbeatRequest),
    LeaveGroup(LeaveGroupRequest),
    OffsetCommit(OffsetCommitRequest),
    OffsetFetch(OffsetFetchRequest),
    DescribeGroups(DescribeGroupsRequest),
    ListGroups(ListGroupsRequest),
    DeleteGroups(DeleteGroupsRequest),
    OffsetDelete(OffsetDeleteRequest),
    InitProducerId(InitProducerIdRequest),
    AddPartitionsToTxn(AddPartitionsToTxnRequest),
    AddOffsetsToTxn(AddOffsetsToTxnRequest),
    EndTxn(EndTxnRequest),
    DescribeTransactions(DescribeTransactionsRequest),
    ListTransactions(ListTransactionsRequest),
    TxnOffsetCommit(TxnOffsetCommitRequest),
    ElectLeaders(ElectLeadersRequest),
    AlterPartitionReassignments(AlterPartitionReassignmentsRequest),
    ListPartitionReassignments(ListPartitionReassignmentsRequest),
    DescribeQuorum(DescribeQuorumRequest),
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest),
    ConsumerGroupDescribe(ConsumerGroupDescribeRequest),
    SaslHandshake(SaslHandshakeRequest),
    SaslAuthenticate(SaslAuthenticateRequest),
    DescribeUserScramCredentials(DescribeUserScramCredentialsRequest),
    AlterUserScramCredentials(AlterUserScramCredentialsRequest),
    DescribeAcls(DescribeAclsRequest),
    CreateAcls(CreateAclsRequest),
    DeleteAcls(DeleteAclsRequest),
}

/// Why a request could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The API key is not one Kafka defines: the connection closes.
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    /// An ApiVersions request of a version we do not serve: answered with a
    /// v0 response carrying UNSUPPORTED_VERSION.
    #[error("ApiVersions v{0} is not supported")]
    UnsupportedApiVersions(i16),
    /// Another API at a version (or an API) we do not serve: the connection
    /// closes.
    #[error("{api_key:?} v{version} is not supported")]
    Unsupported { api_key: ApiKey, version: i16 },
    /// The body does not decode: the connection closes.
    #[error("malformed {api_key:?} v{version} body: {reason}")]
    Malformed {
        api_key: ApiKey,
        version: i16,
        reason: String,
    },
}

/// Parses a whole frame (header and body) into a request. Never panics,
/// never allocates by a length read off the wire.
///
/// # Errors
/// [`FrameError`] for a broken header; otherwise see [`decode_request`].
pub fn decode_frame(
    frame: Bytes,
) -> Result<(RequestHeader, Result<Request, RequestError>), FrameError> {
    let (header, _, body) = parse_request_header(frame, request_header_version)?;
    let request = decode_request(&header, body);
    Ok((header, request))
}

/// Decodes the body of a request whose header is `header`.
///
/// # Errors
/// [`RequestError`] for an unknown API, an unserved version or a body that
/// does not decode.
pub fn decode_request(header: &RequestHeader, body: Bytes) -> Result<Request, RequestError> {
    let api_key = ApiKey::try_from(header.api_key)
        .map_err(|_| RequestError::UnknownApiKey(header.api_key))?;
    let version = header.api_version;
    if !is_supported(api_key, version) {
        return Err(if api_key == ApiKey::ApiVersions {
            RequestError::UnsupportedApiVersions(version)
        } else {
            RequestError::Unsupported { api_key, version }
        });
    }
    Ok(match api_key {
        // The body of ApiVersions (client software name and version) is not
        // needed to answer it.
        ApiKey::ApiVersions => Request::ApiVersions,
        ApiKey::Metadata => Request::Metadata(decode(api_key, body, version)?),
        ApiKey::Produce => Request::Produce(decode(api_key, body, version)?),
        ApiKey::Fetch => Request::Fetch(decode(api_key, body, version)?),
        ApiKey::ListOffsets => Request::ListOffsets(decode(api_key, body, version)?),
        ApiKey::CreateTopics => Request::CreateTopics(decode(api_key, body, version)?),
        ApiKey::DeleteTopics => Request::DeleteTopics(decode(api_key, body, version)?),
        ApiKey::CreatePartitions => Request::CreatePartitions(decode(api_key, body, version)?),
        ApiKey::DeleteRecords => Request::DeleteRecords(decode(api_key, body, version)?),
        ApiKey::DescribeConfigs => Request::DescribeConfigs(decode(api_key, body, version)?),
        ApiKey::AlterConfigs => Request::AlterConfigs(decode(api_key, body, version)?),
        ApiKey::IncrementalAlterConfigs => {
            Request::IncrementalAlterConfigs(decode(api_key, body, version)?)
        }
        ApiKey::DescribeCluster => Request::DescribeCluster(decode(api_key, body, version)?),
        ApiKey::DescribeLogDirs => Request::DescribeLogDirs(decode(api_key, body, version)?),
        ApiKey::DescribeProducers => Request::DescribeProducers(decode(api_key, body, version)?),
        ApiKey::WriteTxnMarkers => Request::WriteTxnMarkers(decode(api_key, body, version)?),
        ApiKey::AlterReplicaLogDirs => {
            Request::AlterReplicaLogDirs(decode(api_key, body, version)?)
        }
        ApiKey::OffsetForLeaderEpoch => {
            Request::OffsetForLeaderEpoch(decode(api_key, body, version)?)
        }
        ApiKey::FindCoordinator => Request::FindCoordinator(decode(api_key, body, version)?),
        ApiKey::JoinGroup => Request::JoinGroup(decode(api_key, body, version)?),
        ApiKey::SyncGroup => Request::SyncGroup(decode(api_key, body, version)?),
        ApiKey::Heartbeat => Request::Heartbeat(decode(api_key, body, version)?),
        ApiKey::LeaveGroup => Request::LeaveGroup(decode(api_key, body, version)?),
        ApiKey::OffsetCommit => Request::OffsetCommit(decode(api_key, body, version)?),
        ApiKey::OffsetFetch => Request::OffsetFetch(decode(api_key, body, version)?),
        ApiKey::DescribeGroups => Request::DescribeGroups(decode(api_key, body, version)?),
        ApiKey::ListGroups => Request::ListGroups(decode(api_key, body, version)?),
        ApiKey::DeleteGroups => Request::DeleteGroups(decode(api_key, body, version)?),
        ApiKey::OffsetDelete => Request::OffsetDelete(decode(api_key, body, version)?),
        ApiKey::InitProducerId => Request::InitProducerId(decode(api_key, body, version)?),
        ApiKey::AddPartitionsToTxn => Request::AddPartitionsToTxn(decode(api_key, body, version)?),
        ApiKey::AddOffsetsToTxn => Request::AddOffsetsToTxn(decode(api_key, body, version)?),
        ApiKey::EndTxn => Request::EndTxn(decode(api_key, body, version)?),
        ApiKey::DescribeTransactions => {
            Request::DescribeTransactions(decode(api_key, body, version)?)
        }
        ApiKey::ListTransactions => Request::ListTransactions(decode(api_key, body, version)?),
        ApiKey::TxnOffsetCommit => Request::TxnOffsetCommit(decode(api_key, body, version)?),
        ApiKey::ElectLeaders => Request::ElectLeaders(decode(api_key, body, version)?),
        ApiKey::AlterPartitionReassignments => {
            Request::AlterPartitionReassignments(decode(api_key, body, version)?)
        }
        ApiKey::ListPartitionReassignments => {
            Request::ListPartitionReassignments(decode(api_key, body, version)?)
        }
        ApiKey::DescribeQuorum => Request::DescribeQuorum(decode(api_key, body, version)?),
        ApiKey::ConsumerGroupHeartbeat => {
            Request::ConsumerGroupHeartbeat(decode(api_key, body, version)?)
        }
        ApiKey::ConsumerGroupDescribe => {
            Request::ConsumerGroupDescribe(decode(api_key, body, version)?)
        }
        ApiKey::SaslHandshake => Request::SaslHandshake(decode(api_key, body, version)?),
        ApiKey::SaslAuthenticate => Request::SaslAuthenticate(decode(api_key, body, version)?),
        ApiKey::DescribeUserScramCredentials => {
            Request::DescribeUserScramCredentials(decode(api_key, body, version)?)
        }
        ApiKey::AlterUserScramCredentials => {
            Request::AlterUserScramCredentials(decode(api_key, body, version)?)
        }
        ApiKey::DescribeAcls => Request::DescribeAcls(decode(api_key, body, version)?),
        ApiKey::CreateAcls => Request::CreateAcls(decode(api_key, body, version)?),
        ApiKey::DeleteAcls => Request::DeleteAcls(decode(api_key, body, version)?),
        other => {
            return Err(RequestError::Unsupported {
                api_key: other,
                version,
            })
        }
    })
}

/// Decodes a body. The frame and header were checked already and the
/// decoder's allocations are bounded (see third_party/kafka-protocol); a
/// panic inside it is still contained here and closes only the connection.
pub(crate) fn decode<M: Decodable>(
    api_key: ApiKey,
    mut body: Bytes,
    version: i16,
) -> Result<M, RequestError> {
    let malformed = |reason: String| RequestError::Malformed {
        api_key,
        version,
        reason,
    };
    match catch_unwind(AssertUnwindSafe(|| M::decode(&mut body, version))) {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(error)) => Err(malformed(error.to_string())),
        Err(_) => Err(malformed("the decoder panicked".into())),
    }
}

/// The request header version of `version` of the API `api_key`, if the key
/// is known.
pub fn request_header_version(api_key: i16, version: i16) -> Option<i16> {
    ApiKey::try_from(api_key)
        .ok()
        .map(|key| key.request_header_version(version))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use bytes::BufMut;

    fn frame(api_key: i16, version: i16, body: &[u8]) -> Bytes {
        let mut frame = bytes::BytesMut::new();
        frame.put_i16(api_key);
        frame.put_i16(version);
        frame.put_i32(7);
        frame.put_i16(-1);
        if ApiKey::try_from(api_key).is_ok_and(|k| k.request_header_version(version) >= 2) {
            frame.put_u8(0);
        }
        frame.put_slice(body);
        frame.freeze()
    }

    #[test]
    fn huge_array_counts_do_not_allocate_or_abort() {
        // Metadata v1: topics array claims i32::MAX entries, has none.
        let (_, result) = decode_frame(frame(3, 1, &[0x7f, 0xff, 0xff, 0xff])).unwrap();
        assert!(matches!(result, Err(RequestError::Malformed { .. })));
        // Metadata v9 (flexible): compact array claims u32::MAX - 1 entries.
        let (_, result) = decode_frame(frame(3, 9, &[0xff, 0xff, 0xff, 0xff, 0x0f])).unwrap();
        assert!(matches!(result, Err(RequestError::Malformed { .. })));
        // Produce v3: a topic array of 2^31-1 entries.
        let body = [0xff, 0xff, 0, 1, 0, 0, 0x75, 0x30, 0x7f, 0xff, 0xff, 0xff];
        let (_, result) = decode_frame(frame(0, 3, &body)).unwrap();
        assert!(matches!(result, Err(RequestError::Malformed { .. })));
    }

    #[test]
    fn unknown_keys_and_versions_are_told_apart() {
        let (_, result) = decode_frame(frame(9999, 0, &[])).unwrap();
        assert!(matches!(result, Err(RequestError::UnknownApiKey(9999))));
        let (_, result) = decode_frame(frame(18, 999, &[])).unwrap();
        assert!(matches!(
            result,
            Err(RequestError::UnsupportedApiVersions(999))
        ));
        let (_, result) = decode_frame(frame(0, 2, &[])).unwrap();
        assert!(
            matches!(result, Err(RequestError::Unsupported { .. })),
            "Produce v2 predates record format v2"
        );
    }

    #[test]
    fn every_prefix_of_a_valid_request_is_refused_without_panicking() {
        let mut body = bytes::BytesMut::new();
        body.put_i32(1);
        body.put_i16(6);
        body.put_slice(b"orders");
        body.put_u8(1); // allow_auto_topic_creation (v4+)
        let whole = frame(3, 4, &body);
        assert!(matches!(
            decode_frame(whole.clone()).unwrap().1,
            Ok(Request::Metadata(_))
        ));
        for cut in 0..whole.len() {
            if let Ok((_, request)) = decode_frame(whole.slice(..cut)) {
                assert!(request.is_err(), "prefix of {cut} bytes decoded");
            }
        }
    }
}
