//! Dispatch: from a request header and body bytes to a response. Decodes
//! (`request.rs`), calls the API's handler and encodes its answer.

use skein_controller::AclOperation;
use std::cell::RefCell;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Encodable;

use crate::authenticator::{AuthError, Authenticator};
use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::frame::RequestHeader;
use crate::handlers;
use crate::listener::ListenerEndpoint;
use crate::request::{decode_request, Request, RequestError};
use crate::response::{encode_response, EncodeError, Response};
use crate::response_errors::ErrorCodes;
use crate::shard_state::ShardState;

/// What to do after a request.
pub enum Outcome {
    /// Send this response.
    Respond(Response),
    /// Send nothing (Produce with acks=0).
    Silent,
    /// Close the connection, for this reason.
    Close(String),
    /// Send this response, then close the connection for this reason (a
    /// failed authentication).
    RespondThenClose(Response, String),
}

/// Handles one decoded request from `client_host` (the peer's address as
/// Kafka shows it, `/ip`), a client of `listener` authenticated by `auth`,
/// that arrived at `arrived`. Counts the error codes of the response it
/// makes.
pub async fn dispatch(
    ctx: &ShardState,
    header: RequestHeader,
    body: Bytes,
    client_host: &str,
    listener: &ListenerEndpoint,
    auth: &RefCell<Authenticator>,
    arrived: std::time::Instant,
) -> Outcome {
    let request = match decode_request(&header, body) {
        Ok(request) => request,
        Err(RequestError::UnsupportedApiVersions(_)) => {
            // Kafka answers an ApiVersions it cannot parse with a v0 response
            // carrying UNSUPPORTED_VERSION and the versions it does serve, so
            // the client can retry with one of them.
            let v0 = RequestHeader {
                api_version: 0,
                ..header
            };
            let response = handlers::api_versions::response(ErrorCode::UnsupportedVersion, ctx);
            return respond(ctx, &v0, ApiKey::ApiVersions, &response);
        }
        Err(error) => return Outcome::Close(error.to_string()),
    };
    let version = header.api_version;
    let h = &header;
    let caller = Caller::new(ctx, auth, client_host);
    match request {
        Request::ApiVersions => respond(
            ctx,
            h,
            ApiKey::ApiVersions,
            &handlers::api_versions::response(ErrorCode::None, ctx),
        ),
        Request::Metadata(r) => respond(
            ctx,
            h,
            ApiKey::Metadata,
            &handlers::metadata::handle(ctx, &caller, listener, r, version).await,
        ),
        Request::Produce(r) => {
            let acks = r.acks;
            let response = handlers::produce::handle(ctx, &caller, r, version).await;
            ctx.metrics.produce_acknowledged(acks, arrived.elapsed());
            if acks == 0 {
                // Nothing is sent, but the errors happened all the same.
                ctx.metrics.record_errors(ApiKey::Produce, &response);
                Outcome::Silent
            } else {
                respond(ctx, h, ApiKey::Produce, &response)
            }
        }
        Request::Fetch(r) => encoded(handlers::fetch::handle(ctx, &caller, h, r).await),
        Request::ListOffsets(r) => respond(
            ctx,
            h,
            ApiKey::ListOffsets,
            &handlers::list_offsets::handle(ctx, &caller, r, version).await,
        ),
        Request::CreateTopics(r) => respond(
            ctx,
            h,
            ApiKey::CreateTopics,
            &handlers::create_topics::handle(ctx, &caller, r).await,
        ),
        Request::DeleteTopics(r) => respond(
            ctx,
            h,
            ApiKey::DeleteTopics,
            &handlers::delete_topics::handle(ctx, &caller, r, version).await,
        ),
        Request::CreatePartitions(r) => respond(
            ctx,
            h,
            ApiKey::CreatePartitions,
            &handlers::create_partitions::handle(ctx, &caller, r).await,
        ),
        Request::DeleteRecords(r) => respond(
            ctx,
            h,
            ApiKey::DeleteRecords,
            &handlers::delete_records::handle(ctx, &caller, r).await,
        ),
        Request::DescribeConfigs(r) => respond(
            ctx,
            h,
            ApiKey::DescribeConfigs,
            &handlers::describe_configs::handle(ctx, &caller, r),
        ),
        Request::AlterConfigs(r) => respond(
            ctx,
            h,
            ApiKey::AlterConfigs,
            &handlers::alter_configs::handle(ctx, &caller, r).await,
        ),
        Request::IncrementalAlterConfigs(r) => respond(
            ctx,
            h,
            ApiKey::IncrementalAlterConfigs,
            &handlers::incremental_alter_configs::handle(ctx, &caller, r).await,
        ),
        Request::DescribeCluster(r) => respond(
            ctx,
            h,
            ApiKey::DescribeCluster,
            &handlers::describe_cluster::handle(ctx, &caller, listener, r),
        ),
        Request::DescribeLogDirs(r) => respond(
            ctx,
            h,
            ApiKey::DescribeLogDirs,
            &handlers::describe_log_dirs::handle(ctx, &caller, r).await,
        ),
        Request::WriteTxnMarkers(r) => respond(
            ctx,
            h,
            ApiKey::WriteTxnMarkers,
            &handlers::write_txn_markers::handle(ctx, &caller, r).await,
        ),
        Request::DescribeProducers(r) => respond(
            ctx,
            h,
            ApiKey::DescribeProducers,
            &handlers::describe_producers::handle(ctx, &caller, r).await,
        ),
        Request::AlterReplicaLogDirs(r) => respond(
            ctx,
            h,
            ApiKey::AlterReplicaLogDirs,
            &handlers::alter_replica_log_dirs::handle(ctx, &caller, r).await,
        ),
        Request::OffsetForLeaderEpoch(r) => respond(
            ctx,
            h,
            ApiKey::OffsetForLeaderEpoch,
            &handlers::offset_for_leader_epoch::handle(ctx, &caller, r).await,
        ),
        Request::FindCoordinator(r) => respond(
            ctx,
            h,
            ApiKey::FindCoordinator,
            &handlers::find_coordinator::handle(ctx, &caller, listener, r, version),
        ),
        Request::JoinGroup(r) => {
            let client_id = h.client_id.as_deref().unwrap_or_default();
            let response =
                handlers::join_group::handle(ctx, &caller, r, version, client_id, client_host)
                    .await;
            respond(ctx, h, ApiKey::JoinGroup, &response)
        }
        Request::SyncGroup(r) => respond(
            ctx,
            h,
            ApiKey::SyncGroup,
            &handlers::sync_group::handle(ctx, &caller, r).await,
        ),
        Request::Heartbeat(r) => respond(
            ctx,
            h,
            ApiKey::Heartbeat,
            &handlers::heartbeat::handle(ctx, &caller, r).await,
        ),
        Request::LeaveGroup(r) => respond(
            ctx,
            h,
            ApiKey::LeaveGroup,
            &handlers::leave_group::handle(ctx, &caller, r, version).await,
        ),
        Request::OffsetCommit(r) => respond(
            ctx,
            h,
            ApiKey::OffsetCommit,
            &handlers::offset_commit::handle(ctx, &caller, r, version).await,
        ),
        Request::OffsetFetch(r) => respond(
            ctx,
            h,
            ApiKey::OffsetFetch,
            &handlers::offset_fetch::handle(ctx, &caller, r, version).await,
        ),
        Request::DescribeGroups(r) => respond(
            ctx,
            h,
            ApiKey::DescribeGroups,
            &handlers::describe_groups::handle(ctx, &caller, r, version).await,
        ),
        Request::ConsumerGroupHeartbeat(r) => {
            let client_id = h.client_id.as_deref().unwrap_or_default();
            let response =
                handlers::consumer_group_heartbeat::handle(ctx, &caller, r, client_id, client_host)
                    .await;
            respond(ctx, h, ApiKey::ConsumerGroupHeartbeat, &response)
        }
        Request::ConsumerGroupDescribe(r) => respond(
            ctx,
            h,
            ApiKey::ConsumerGroupDescribe,
            &handlers::consumer_group_describe::handle(ctx, &caller, r).await,
        ),
        Request::ListGroups(r) => respond(
            ctx,
            h,
            ApiKey::ListGroups,
            &handlers::list_groups::handle(ctx, &caller, r).await,
        ),
        Request::DeleteGroups(r) => respond(
            ctx,
            h,
            ApiKey::DeleteGroups,
            &handlers::delete_groups::handle(ctx, &caller, r).await,
        ),
        Request::OffsetDelete(r) => respond(
            ctx,
            h,
            ApiKey::OffsetDelete,
            &handlers::offset_delete::handle(ctx, &caller, r).await,
        ),
        Request::InitProducerId(r) => respond(
            ctx,
            h,
            ApiKey::InitProducerId,
            &handlers::init_producer_id::handle(ctx, &caller, r, version).await,
        ),
        Request::AddPartitionsToTxn(r) => respond(
            ctx,
            h,
            ApiKey::AddPartitionsToTxn,
            &handlers::add_partitions_to_txn::handle(ctx, &caller, r, version).await,
        ),
        Request::AddOffsetsToTxn(r) => respond(
            ctx,
            h,
            ApiKey::AddOffsetsToTxn,
            &handlers::add_offsets_to_txn::handle(ctx, &caller, r, version).await,
        ),
        Request::EndTxn(r) => respond(
            ctx,
            h,
            ApiKey::EndTxn,
            &handlers::end_txn::handle(ctx, &caller, r, version).await,
        ),
        Request::DescribeTransactions(r) => respond(
            ctx,
            h,
            ApiKey::DescribeTransactions,
            &handlers::describe_transactions::handle(ctx, &caller, r).await,
        ),
        Request::ListTransactions(r) => respond(
            ctx,
            h,
            ApiKey::ListTransactions,
            &handlers::list_transactions::handle(ctx, &caller, r).await,
        ),
        Request::TxnOffsetCommit(r) => respond(
            ctx,
            h,
            ApiKey::TxnOffsetCommit,
            &handlers::txn_offset_commit::handle(ctx, &caller, r, version).await,
        ),
        Request::ElectLeaders(r) => respond(
            ctx,
            h,
            ApiKey::ElectLeaders,
            &handlers::elect_leaders::handle(ctx, &caller, r, version).await,
        ),
        Request::AlterPartitionReassignments(r) => respond(
            ctx,
            h,
            ApiKey::AlterPartitionReassignments,
            &handlers::alter_partition_reassignments::handle(ctx, &caller, r, version).await,
        ),
        Request::ListPartitionReassignments(r) => respond(
            ctx,
            h,
            ApiKey::ListPartitionReassignments,
            &handlers::list_partition_reassignments::handle(ctx, &caller, r),
        ),
        Request::DescribeQuorum(r) => respond(
            ctx,
            h,
            ApiKey::DescribeQuorum,
            &handlers::describe_quorum::handle(ctx, &caller, r, version).await,
        ),
        Request::SaslHandshake(r) => {
            let (response, refused) = handlers::sasl_handshake::handle(auth, &r, version);
            let outcome = respond(ctx, h, ApiKey::SaslHandshake, &response);
            after_refusal(ctx, outcome, refused).await
        }
        Request::SaslAuthenticate(r) => {
            let (response, refused) =
                handlers::sasl_authenticate::handle(ctx, auth, &listener.name, &r);
            let outcome = respond(ctx, h, ApiKey::SaslAuthenticate, &response);
            after_refusal(ctx, outcome, refused).await
        }
        Request::DescribeUserScramCredentials(r) => respond(
            ctx,
            h,
            ApiKey::DescribeUserScramCredentials,
            &handlers::describe_user_scram_credentials::handle(ctx, &caller, r),
        ),
        Request::AlterUserScramCredentials(r) => respond(
            ctx,
            h,
            ApiKey::AlterUserScramCredentials,
            &handlers::alter_user_scram_credentials::handle(ctx, &caller, r).await,
        ),
        Request::DescribeAcls(r) => {
            // Kafka: DescribeAcls needs DESCRIBE on the cluster, CreateAcls
            // and DeleteAcls ALTER.
            let authorized = caller.may_on_cluster(AclOperation::Describe);
            respond(
                ctx,
                h,
                ApiKey::DescribeAcls,
                &handlers::describe_acls::handle(ctx, r, authorized),
            )
        }
        Request::CreateAcls(r) => {
            let authorized = caller.may_on_cluster(AclOperation::Alter);
            respond(
                ctx,
                h,
                ApiKey::CreateAcls,
                &handlers::create_acls::handle(ctx, r, authorized).await,
            )
        }
        Request::DeleteAcls(r) => {
            let authorized = caller.may_on_cluster(AclOperation::Alter);
            respond(
                ctx,
                h,
                ApiKey::DeleteAcls,
                &handlers::delete_acls::handle(ctx, r, authorized).await,
            )
        }
    }
}

/// The outcome of a SASL request that `refused` (if anything): Kafka
/// answers, then closes the connection; a failed authentication is answered
/// only after `connection.failed.authentication.delay.ms`, which slows
/// password guessing.
async fn after_refusal(ctx: &ShardState, outcome: Outcome, refused: Option<AuthError>) -> Outcome {
    let Some(error) = refused.filter(AuthError::closes) else {
        return outcome;
    };
    if matches!(error, AuthError::Failed(_)) {
        let delay = ctx.config.connection_failed_authentication_delay_ms();
        glommio::timer::sleep(Duration::from_millis(delay)).await;
    }
    match outcome {
        Outcome::Respond(response) => Outcome::RespondThenClose(response, error.to_string()),
        other => other,
    }
}

/// Counts the error codes of `message`, then encodes it.
fn respond<M: Encodable + ErrorCodes>(
    ctx: &ShardState,
    header: &RequestHeader,
    api_key: ApiKey,
    message: &M,
) -> Outcome {
    ctx.metrics.record_errors(api_key, message);
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
