//! Dispatch: from a parsed request header and body bytes to a response.
//! Refuses what the supported-API table does not list, decodes the body
//! (with the decoder's panics contained), calls the API's handler and
//! encodes its answer.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;
use kafka_protocol::messages::{
    AlterConfigsRequest, ApiKey, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteRecordsRequest, DeleteTopicsRequest, DescribeClusterRequest, DescribeConfigsRequest,
    FetchRequest, IncrementalAlterConfigsRequest, ListOffsetsRequest, MetadataRequest,
    OffsetForLeaderEpochRequest, ProduceRequest,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, HeartbeatRequest,
    JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest,
    OffsetDeleteRequest, OffsetFetchRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::error_code::ErrorCode;
use crate::frame::RequestHeader;
use crate::handlers;
use crate::response::{encode_response, EncodeError, Response};
use crate::shard_state::ShardState;
use crate::supported_apis::is_supported;

/// What to do after a request.
pub enum Outcome {
    /// Send this response.
    Respond(Response),
    /// Send nothing (Produce with acks=0).
    Silent,
    /// Close the connection, for this reason.
    Close(String),
}

/// Handles one request.
/// `client_host` is the peer's address as Kafka shows it (`/ip`).
pub async fn dispatch(
    ctx: &ShardState,
    header: RequestHeader,
    body: Bytes,
    client_host: &str,
) -> Outcome {
    let Ok(api_key) = ApiKey::try_from(header.api_key) else {
        return Outcome::Close(format!("unknown api key {}", header.api_key));
    };
    let version = header.api_version;
    if !is_supported(api_key, version) {
        if api_key == ApiKey::ApiVersions {
            // Kafka answers an ApiVersions it cannot parse with a v0 response
            // carrying UNSUPPORTED_VERSION and the versions it does serve, so
            // the client can retry with one of them.
            let v0 = RequestHeader {
                api_version: 0,
                ..header
            };
            let response = handlers::api_versions::response(ErrorCode::UnsupportedVersion);
            return encoded(encode_response(&v0, api_key, &response));
        }
        return Outcome::Close(format!("{api_key:?} v{version} is not supported"));
    }
    match api_key {
        ApiKey::ApiVersions => respond(
            &header,
            api_key,
            &handlers::api_versions::response(ErrorCode::None),
        ),
        ApiKey::Metadata => match decode::<MetadataRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::metadata::handle(ctx, request, version).await,
            ),
            Err(close) => close,
        },
        ApiKey::Produce => match decode::<ProduceRequest>(body, version) {
            Ok(request) => match handlers::produce::handle(ctx, request, version).await {
                Some(response) => respond(&header, api_key, &response),
                None => Outcome::Silent,
            },
            Err(close) => close,
        },
        ApiKey::Fetch => match decode::<FetchRequest>(body, version) {
            Ok(request) => encoded(handlers::fetch::handle(ctx, &header, request).await),
            Err(close) => close,
        },
        ApiKey::ListOffsets => match decode::<ListOffsetsRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::list_offsets::handle(ctx, request, version).await,
            ),
            Err(close) => close,
        },
        ApiKey::CreateTopics => match decode::<CreateTopicsRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::create_topics::handle(ctx, request).await,
            ),
            Err(close) => close,
        },
        ApiKey::DeleteTopics => match decode::<DeleteTopicsRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::delete_topics::handle(ctx, request, version).await,
            ),
            Err(close) => close,
        },
        ApiKey::CreatePartitions => match decode::<CreatePartitionsRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::create_partitions::handle(ctx, request).await,
            ),
            Err(close) => close,
        },
        ApiKey::DeleteRecords => match decode::<DeleteRecordsRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::delete_records::handle(ctx, request).await,
            ),
            Err(close) => close,
        },
        ApiKey::DescribeConfigs => match decode::<DescribeConfigsRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::describe_configs::handle(ctx, request),
            ),
            Err(close) => close,
        },
        ApiKey::AlterConfigs => match decode::<AlterConfigsRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::alter_configs::handle(ctx, request).await,
            ),
            Err(close) => close,
        },
        ApiKey::IncrementalAlterConfigs => {
            match decode::<IncrementalAlterConfigsRequest>(body, version) {
                Ok(request) => respond(
                    &header,
                    api_key,
                    &handlers::incremental_alter_configs::handle(ctx, request).await,
                ),
                Err(close) => close,
            }
        }
        ApiKey::DescribeCluster => match decode::<DescribeClusterRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::describe_cluster::handle(ctx, request),
            ),
            Err(close) => close,
        },
        ApiKey::OffsetForLeaderEpoch => {
            match decode::<OffsetForLeaderEpochRequest>(body, version) {
                Ok(request) => respond(
                    &header,
                    api_key,
                    &handlers::offset_for_leader_epoch::handle(ctx, request).await,
                ),
                Err(close) => close,
            }
        }
        ApiKey::FindCoordinator => match decode::<FindCoordinatorRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::find_coordinator::handle(ctx, request, version),
            ),
            Err(close) => close,
        },
        ApiKey::JoinGroup => match decode::<JoinGroupRequest>(body, version) {
            Ok(request) => {
                let client_id = header.client_id.clone().unwrap_or_default();
                respond(
                    &header,
                    api_key,
                    &handlers::join_group::handle(ctx, request, version, &client_id, client_host)
                        .await,
                )
            }
            Err(close) => close,
        },
        ApiKey::SyncGroup => match decode::<SyncGroupRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::sync_group::handle(ctx, request).await,
            ),
            Err(close) => close,
        },
        ApiKey::Heartbeat => match decode::<HeartbeatRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::heartbeat::handle(ctx, request).await,
            ),
            Err(close) => close,
        },
        ApiKey::LeaveGroup => match decode::<LeaveGroupRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::leave_group::handle(ctx, request, version).await,
            ),
            Err(close) => close,
        },
        ApiKey::OffsetCommit => match decode::<OffsetCommitRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::offset_commit::handle(ctx, request, version).await,
            ),
            Err(close) => close,
        },
        ApiKey::OffsetFetch => match decode::<OffsetFetchRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::offset_fetch::handle(ctx, request, version).await,
            ),
            Err(close) => close,
        },
        ApiKey::DescribeGroups => match decode::<DescribeGroupsRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::describe_groups::handle(ctx, request, version).await,
            ),
            Err(close) => close,
        },
        ApiKey::ListGroups => match decode::<ListGroupsRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::list_groups::handle(ctx, request).await,
            ),
            Err(close) => close,
        },
        ApiKey::DeleteGroups => match decode::<DeleteGroupsRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::delete_groups::handle(ctx, request).await,
            ),
            Err(close) => close,
        },
        ApiKey::OffsetDelete => match decode::<OffsetDeleteRequest>(body, version) {
            Ok(request) => respond(
                &header,
                api_key,
                &handlers::offset_delete::handle(ctx, request).await,
            ),
            Err(close) => close,
        },
        other => Outcome::Close(format!(
            "{other:?} is listed as supported but has no handler"
        )),
    }
}

/// Decodes a request body. The frame and header were checked already and the
/// decoder's allocations are bounded (see third_party/kafka-protocol); a
/// panic inside it is still contained here and closes only this connection.
fn decode<M: Decodable>(mut body: Bytes, version: i16) -> Result<M, Outcome> {
    match catch_unwind(AssertUnwindSafe(|| M::decode(&mut body, version))) {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(error)) => Err(Outcome::Close(format!("malformed request body: {error}"))),
        Err(_) => Err(Outcome::Close("request body made the decoder panic".into())),
    }
}

fn respond<M: Encodable>(header: &RequestHeader, api_key: ApiKey, message: &M) -> Outcome {
    encoded(encode_response(header, api_key, message))
}

fn encoded(response: Result<Response, EncodeError>) -> Outcome {
    match response {
        Ok(response) => Outcome::Respond(response),
        Err(error) => {
            tracing::error!(%error, "response encoding failed");
            Outcome::Close(error.to_string())
        }
    }
}

/// The request header version of `version` of the API `api_key`, if the key
/// is known.
pub fn request_header_version(api_key: i16, version: i16) -> Option<i16> {
    ApiKey::try_from(api_key)
        .ok()
        .map(|key| key.request_header_version(version))
}
