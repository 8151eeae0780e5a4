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

use skein_controller::AclOperation;

use super::topic_name;
use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;
use crate::transaction_request;

/// The first version of a batch of transactions from brokers.
const BATCHED_VERSION: i16 = 4;
/// The first version whose clients know PRODUCER_FENCED (KIP-588).
const PRODUCER_FENCED_VERSION: i16 = 2;
/// Kafka's OPERATION_NOT_ATTEMPTED.
const OPERATION_NOT_ATTEMPTED: i16 = 55;

/// Answers an AddPartitionsToTxn request of `version`. Kafka: a producer
/// (v0–v3) needs WRITE on the transactional id and on each topic; brokers
/// (v4+) need CLUSTER_ACTION on the cluster.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    if version < BATCHED_VERSION {
        let results = add(
            ctx,
            Some(caller),
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
    if !caller.may_on_cluster(AclOperation::ClusterAction) {
        return AddPartitionsToTxnResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code());
    }
    let mut by_transaction = Vec::with_capacity(request.transactions.len());
    for transaction in &request.transactions {
        let results = add(
            ctx,
            None,
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

/// Adds the partitions of `topics` to the transaction; `producer`: the
/// producer's own request (v0–v3), whose ACLs are checked.
// Each argument is one field of the request.
#[allow(clippy::too_many_arguments)]
async fn add(
    ctx: &ShardState,
    producer: Option<&Caller<'_>>,
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
    let txn_id_refused = producer.is_some_and(|caller| {
        !caller.may_on_transactional_id(AclOperation::Write, &transactional_id)
    });
    // Kafka: only the coordinators write internal topics, so a producer
    // is never authorized for them.
    let topic_refused = |topic: &str| {
        producer.is_some_and(|caller| {
            crate::offsets_topic::is_internal(topic)
                || !caller.may_on_topic(AclOperation::Write, topic)
        })
    };
    // The code of a partition refused before the coordinator sees it.
    let refusal = |topic: &str, partition: i32| {
        if txn_id_refused {
            Some(ErrorCode::TransactionalIdAuthorizationFailed)
        } else if topic_refused(topic) {
            Some(ErrorCode::TopicAuthorizationFailed)
        } else if !exists(topic, partition) {
            Some(ErrorCode::UnknownTopicOrPartition)
        } else {
            None
        }
    };
    let mut partitions = Vec::new();
    let mut refused = false;
    for topic in topics {
        for partition in &topic.partitions {
            refused |= refusal(topic.name.as_str(), *partition).is_some();
            partitions.push(TopicPartition {
                topic: topic.name.to_string(),
                partition: *partition,
            });
        }
    }
    let codes: Vec<(TopicPartition, i16)> = if refused {
        partitions
            .into_iter()
            .map(|tp| {
                let code = refusal(&tp.topic, tp.partition)
                    .map_or(OPERATION_NOT_ATTEMPTED, ErrorCode::code);
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
