//! AddPartitionsToTxn: v0–v3 from a transactional producer (one
//! transaction, partitions added before it produces to them); v4+ from
//! brokers, batched, usually `verify_only` (KIP-890). Partitions of unknown
//! topics get UNKNOWN_TOPIC_OR_PARTITION and the rest of that transaction
//! OPERATION_NOT_ATTEMPTED, as in Kafka.

use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnTopic,
};
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResponse, AddPartitionsToTxnResult,
    AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::TransactionalId;
use skein_controller::group_coordinator::TopicPartition;
use skein_controller::transaction_coordinator::{AddPartitions, Request, Response};

use super::topic_name;
use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;
use crate::transaction_request;

/// The first version of a batch of transactions from brokers.
const BATCHED_VERSION: i16 = 4;
/// The first version whose clients know PRODUCER_FENCED (KIP-588).
const PRODUCER_FENCED_VERSION: i16 = 2;
/// Kafka's OPERATION_NOT_ATTEMPTED.
const OPERATION_NOT_ATTEMPTED: i16 = 55;

/// Answers an AddPartitionsToTxn request of `version`.
pub async fn handle(
    ctx: &ShardState,
    request: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    if version < BATCHED_VERSION {
        let results = add(
            ctx,
            request.v3_and_below_transactional_id.to_string(),
            request.v3_and_below_producer_id.0,
            request.v3_and_below_producer_epoch,
            &request.v3_and_below_topics,
            false,
            version,
        )
        .await;
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results);
    }
    let mut by_transaction = Vec::with_capacity(request.transactions.len());
    for transaction in &request.transactions {
        let results = add(
            ctx,
            transaction.transactional_id.to_string(),
            transaction.producer_id.0,
            transaction.producer_epoch,
            &transaction.topics,
            transaction.verify_only,
            version,
        )
        .await;
        by_transaction.push(
            AddPartitionsToTxnResult::default()
                .with_transactional_id(TransactionalId(transaction.transactional_id.0.clone()))
                .with_topic_results(results),
        );
    }
    AddPartitionsToTxnResponse::default().with_results_by_transaction(by_transaction)
}

async fn add(
    ctx: &ShardState,
    transactional_id: String,
    producer_id: i64,
    producer_epoch: i16,
    topics: &[AddPartitionsToTxnTopic],
    verify_only: bool,
    version: i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let image = ctx.image();
    let exists = |topic: &str, partition: i32| {
        image
            .topic(topic)
            .is_some_and(|t| partition >= 0 && partition < t.partitions)
    };
    let mut partitions = Vec::new();
    let mut unknown = false;
    for topic in topics {
        for partition in &topic.partitions {
            unknown |= !exists(topic.name.as_str(), *partition);
            partitions.push(TopicPartition {
                topic: topic.name.to_string(),
                partition: *partition,
            });
        }
    }
    let codes: Vec<(TopicPartition, i16)> = if unknown {
        partitions
            .into_iter()
            .map(|tp| {
                let code = if exists(&tp.topic, tp.partition) {
                    OPERATION_NOT_ATTEMPTED
                } else {
                    ErrorCode::UnknownTopicOrPartition.code()
                };
                (tp, code)
            })
            .collect()
    } else {
        let request = Request::AddPartitions(AddPartitions {
            transactional_id,
            producer_id,
            producer_epoch,
            partitions: partitions.clone(),
            verify_only,
        });
        let fenced_known = version >= PRODUCER_FENCED_VERSION;
        match transaction_request::ask(ctx, request).await {
            Ok(Response::AddPartitions(results)) => results
                .into_iter()
                .map(|(tp, result)| {
                    let code = match result {
                        Ok(()) => 0,
                        Err(error) => transaction_request::code(&error, fenced_known).code(),
                    };
                    (tp, code)
                })
                .collect(),
            Ok(_) => partitions
                .into_iter()
                .map(|tp| (tp, ErrorCode::UnknownServerError.code()))
                .collect(),
            Err(error) => {
                let code = transaction_request::code(&error, fenced_known).code();
                partitions.into_iter().map(|tp| (tp, code)).collect()
            }
        }
    };
    let mut results: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for (tp, code) in codes {
        let partition = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(tp.partition)
            .with_partition_error_code(code);
        match results.iter_mut().find(|r| r.name.as_str() == tp.topic) {
            Some(result) => result.results_by_partition.push(partition),
            None => results.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(topic_name(&tp.topic))
                    .with_results_by_partition(vec![partition]),
            ),
        }
    }
    results
}
