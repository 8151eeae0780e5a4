//! ListTransactions: the transactions this broker coordinates, filtered by
//! state, producer id and (v1+) duration.

use kafka_protocol::messages::list_transactions_request::ListTransactionsRequest;
use kafka_protocol::messages::list_transactions_response::{
    ListTransactionsResponse, TransactionState,
};
use kafka_protocol::messages::{ProducerId, TransactionalId};
use skein_controller::transaction_coordinator::{ListTransactions, Request, Response};

use super::str_bytes;
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::{self, ErrorCode};
use crate::shard_state::ShardState;

/// Answers a ListTransactions request. Kafka: only the transactional ids
/// the caller may DESCRIBE are listed.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let list = ListTransactions {
        state_filters: request
            .state_filters
            .iter()
            .map(|s| s.to_string())
            .collect(),
        producer_id_filters: request.producer_id_filters.iter().map(|p| p.0).collect(),
        duration_filter_ms: (request.duration_filter >= 0).then_some(request.duration_filter),
    };
    let response = ListTransactionsResponse::default();
    match crate::transaction_request::ask(ctx, Request::ListTransactions(list)).await {
        Ok(Response::ListTransactions(Ok((listed, unknown)))) => response
            .with_unknown_state_filters(unknown.iter().map(|s| str_bytes(s)).collect())
            .with_transaction_states(
                listed
                    .into_iter()
                    .filter(|t| {
                        caller.may_on_transactional_id(AclOperation::Describe, &t.transactional_id)
                    })
                    .map(|t| {
                        TransactionState::default()
                            .with_transactional_id(TransactionalId(str_bytes(&t.transactional_id)))
                            .with_producer_id(ProducerId(t.producer_id))
                            .with_transaction_state(str_bytes(t.state))
                    })
                    .collect(),
            ),
        Ok(Response::ListTransactions(Err(error))) | Err(error) => {
            response.with_error_code(error_code::transaction_error(&error).code())
        }
        Ok(_) => response.with_error_code(ErrorCode::UnknownServerError.code()),
    }
}
