//! Transaction verification of a transactional offset commit (KIP-890 part
//! 1, `transaction.partition.verification.enable`, on in Kafka by default):
//! before the group coordinator writes a TxnOffsetCommit, the transaction
//! coordinator of its transactional id must confirm that the group's
//! `__consumer_offsets` partition is in the producer's ongoing transaction
//! (added by AddOffsetsToTxn). Otherwise the offsets would be written in a
//! transaction whose markers never reach that partition, pending forever.
//!
//! The question is AddPartitionsToTxn with `verify_only` (v4, Kafka's
//! `AddPartitionsToTxnManager`): answered by the local coordinator through
//! the control shard, or sent to the coordinator's broker over the
//! inter-broker listener. A remote question opens a connection each time
//! (Kafka batches them over one connection per broker): it costs one
//! connect per TxnOffsetCommit whose transaction coordinator is elsewhere.

use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::add_partitions_to_txn_response::AddPartitionsToTxnResponse;
use kafka_protocol::messages::{ApiKey, ProducerId, TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use skein_controller::group_coordinator::{
    partition_for_group, TopicPartition, CONSUMER_OFFSETS_TOPIC,
};
use skein_controller::transaction_coordinator::{
    AddPartitions, Request, Response, TRANSACTION_STATE_TOPIC,
};
use skein_controller::MetadataImage;

use crate::controller_client::ControllerConnection;
use crate::error_code::{self, ErrorCode};
use crate::handlers::find_coordinator::coordinator_id;
use crate::shard_state::ShardState;
use crate::transaction_request;

/// AddPartitionsToTxn's first version with `verify_only` (brokers' batches).
const VERIFY_VERSION: i16 = 4;

/// What verifying a producer's transaction asks.
#[derive(Debug, Clone, Copy)]
pub struct Verification<'a> {
    /// The producer's transactional id.
    pub transactional_id: &'a str,
    /// Its producer id.
    pub producer_id: i64,
    /// Its epoch.
    pub producer_epoch: i16,
    /// The group whose offsets it commits.
    pub group_id: &'a str,
}

/// Checks that the group's `__consumer_offsets` partition is in the
/// producer's ongoing transaction. Lives on: a data shard.
///
/// # Errors
/// The code TxnOffsetCommit (v0–v3) answers for every partition, as Kafka
/// maps a failed verification
/// ([`error_code::txn_offset_commit_verification`]): INVALID_TXN_STATE for
/// a partition not in the transaction, INVALID_PRODUCER_EPOCH for a fenced
/// producer, INVALID_PRODUCER_ID_MAPPING, CONCURRENT_TRANSACTIONS,
/// COORDINATOR_NOT_AVAILABLE while the transactional id's coordinator is
/// unknown, COORDINATOR_LOAD_IN_PROGRESS when it cannot be reached.
pub async fn verify(ctx: &ShardState, verification: Verification<'_>) -> Result<(), ErrorCode> {
    let image = ctx.image();
    let offsets_partition = image
        .topic(CONSUMER_OFFSETS_TOPIC)
        .and_then(|topic| u32::try_from(topic.partitions).ok())
        .filter(|count| *count > 0)
        .map(|count| partition_for_group(verification.group_id, count))
        .and_then(|partition| i32::try_from(partition).ok())
        .ok_or(ErrorCode::CoordinatorNotAvailable)?;
    let coordinator = coordinator_id(
        &image,
        TRANSACTION_STATE_TOPIC,
        verification.transactional_id,
    )
    .ok_or(ErrorCode::CoordinatorNotAvailable)?;
    let code = if coordinator == image.local_broker_id() {
        verify_here(ctx, verification, offsets_partition).await
    } else {
        verify_at(ctx, &image, coordinator, verification, offsets_partition).await
    };
    match code {
        ErrorCode::None => Ok(()),
        code => Err(error_code::txn_offset_commit_verification(code)),
    }
}

/// Asks this broker's transaction coordinator; returns its code.
async fn verify_here(
    ctx: &ShardState,
    verification: Verification<'_>,
    offsets_partition: i32,
) -> ErrorCode {
    let partition = TopicPartition {
        topic: CONSUMER_OFFSETS_TOPIC.to_string(),
        partition: offsets_partition,
    };
    let request = Request::AddPartitions(AddPartitions {
        transactional_id: verification.transactional_id.to_string(),
        producer_id: verification.producer_id,
        producer_epoch: verification.producer_epoch,
        partitions: vec![partition],
        verify_only: true,
    });
    // The coordinator's codes as AddPartitionsToTxn v4 carries them
    // (PRODUCER_FENCED included).
    match transaction_request::ask(ctx, request).await {
        Ok(Response::AddPartitions(results)) => match results.first() {
            Some((_, Ok(()))) => ErrorCode::None,
            Some((_, Err(error))) => transaction_request::code(error, true),
            None => ErrorCode::UnknownServerError,
        },
        Ok(_) => ErrorCode::UnknownServerError,
        Err(error) => transaction_request::code(&error, true),
    }
}

/// Asks broker `coordinator`'s transaction coordinator with AddPartitionsToTxn
/// v4 over the inter-broker listener; returns its code for the partition
/// (its top-level code if it refused the request). One that cannot be
/// asked gets COORDINATOR_LOAD_IN_PROGRESS: Kafka's NETWORK_EXCEPTION,
/// which its group coordinator answers so, as clients retry it without
/// looking the coordinator up again.
async fn verify_at(
    ctx: &ShardState,
    image: &MetadataImage,
    coordinator: i32,
    verification: Verification<'_>,
    offsets_partition: i32,
) -> ErrorCode {
    let Some(address) = image.broker(coordinator).and_then(|registration| {
        let name = ctx.config.client_listener().0.name;
        registration
            .listener(&name)
            .or_else(|| registration.listeners.first())
            .map(|endpoint| format!("{}:{}", endpoint.host, endpoint.port))
    }) else {
        return ErrorCode::CoordinatorNotAvailable;
    };
    let request = AddPartitionsToTxnRequest::default().with_transactions(vec![
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(TransactionalId(StrBytes::from_string(
                verification.transactional_id.to_string(),
            )))
            .with_producer_id(ProducerId(verification.producer_id))
            .with_producer_epoch(verification.producer_epoch)
            .with_verify_only(true)
            .with_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(CONSUMER_OFFSETS_TOPIC)))
                .with_partitions(vec![offsets_partition])]),
    ]);
    let security = &ctx.peer_security.inter_broker;
    let response: AddPartitionsToTxnResponse =
        match ControllerConnection::connect_to(&address, security).await {
            Ok(mut connection) => match connection
                .call(ApiKey::AddPartitionsToTxn, VERIFY_VERSION, &request)
                .await
            {
                Ok(response) => response,
                Err(error) => {
                    tracing::debug!(%error, coordinator, "transaction verification failed");
                    return ErrorCode::CoordinatorLoadInProgress;
                }
            },
            Err(error) => {
                tracing::debug!(%error, coordinator, "transaction verification failed");
                return ErrorCode::CoordinatorLoadInProgress;
            }
        };
    if response.error_code != 0 {
        return ErrorCode::from_code(response.error_code).unwrap_or(ErrorCode::UnknownServerError);
    }
    let code = response
        .results_by_transaction
        .iter()
        .flat_map(|transaction| transaction.topic_results.iter())
        .filter(|topic| topic.name.as_str() == CONSUMER_OFFSETS_TOPIC)
        .flat_map(|topic| topic.results_by_partition.iter())
        .find(|partition| partition.partition_index == offsets_partition)
        .map(|partition| partition.partition_error_code);
    match code {
        Some(code) => ErrorCode::from_code(code).unwrap_or(ErrorCode::UnknownServerError),
        None => ErrorCode::UnknownServerError,
    }
}
