//! DescribeTransactions: the state, producer, timeout and partitions of
//! each transactional id this broker coordinates; others get
//! NOT_COORDINATOR, unknown ones TRANSACTIONAL_ID_NOT_FOUND.

use kafka_protocol::messages::describe_transactions_request::DescribeTransactionsRequest;
use kafka_protocol::messages::describe_transactions_response::{
    DescribeTransactionsResponse, TopicData, TransactionState,
};
use kafka_protocol::messages::{ProducerId, TransactionalId};
use skein_controller::transaction_coordinator::{Request, Response, TransactionError};

use super::{str_bytes, topic_name};
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::{self, ErrorCode};
use crate::shard_state::ShardState;
use crate::transaction_request;

/// Answers a DescribeTransactions request. Kafka: DESCRIBE on each
/// transactional id; only the partitions of topics the caller may
/// DESCRIBE are listed.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let ids: Vec<String> = request
        .transactional_ids
        .iter()
        .map(|id| id.to_string())
        .collect();
    let answered =
        match transaction_request::ask(ctx, Request::DescribeTransactions(ids.clone())).await {
            Ok(Response::DescribeTransactions(described)) => described,
            Ok(_) => answer_all(&ids, TransactionError::UnknownServerError),
            Err(error) => answer_all(&ids, error),
        };
    let states = answered
        .into_iter()
        .map(|(id, result)| {
            let state =
                TransactionState::default().with_transactional_id(TransactionalId(str_bytes(&id)));
            if !caller.may_on_transactional_id(AclOperation::Describe, &id) {
                return state
                    .with_error_code(ErrorCode::TransactionalIdAuthorizationFailed.code())
                    .with_transaction_state(str_bytes(""))
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
                    .with_transaction_start_time_ms(-1);
            }
            match result {
                Err(error) => state
                    .with_error_code(error_code::transaction_error(&error).code())
                    .with_transaction_state(str_bytes(""))
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
                    .with_transaction_start_time_ms(-1),
                Ok(described) => {
                    let mut topics: Vec<TopicData> = Vec::new();
                    for tp in described
                        .partitions
                        .into_iter()
                        .filter(|tp| caller.may_on_topic(AclOperation::Describe, &tp.topic))
                    {
                        match topics.iter_mut().find(|t| t.topic.as_str() == tp.topic) {
                            Some(topic) => topic.partitions.push(tp.partition),
                            None => topics.push(
                                TopicData::default()
                                    .with_topic(topic_name(&tp.topic))
                                    .with_partitions(vec![tp.partition]),
                            ),
                        }
                    }
                    state
                        .with_error_code(ErrorCode::None.code())
                        .with_transaction_state(str_bytes(described.state))
                        .with_transaction_timeout_ms(described.timeout_ms)
                        .with_transaction_start_time_ms(described.start_ms)
                        .with_producer_id(ProducerId(described.producer_id))
                        .with_producer_epoch(described.producer_epoch)
                        .with_topics(topics)
                }
            }
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

fn answer_all(
    ids: &[String],
    error: TransactionError,
) -> Vec<(
    String,
    Result<skein_controller::transaction_coordinator::DescribedTransaction, TransactionError>,
)> {
    ids.iter().map(|id| (id.clone(), Err(error))).collect()
}
