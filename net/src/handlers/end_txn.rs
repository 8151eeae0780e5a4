//! EndTxn: commit or abort the producer's transaction. Answered once the
//! coordinator has made PrepareCommit/PrepareAbort durable; the markers
//! are written afterwards, as in Kafka.

use kafka_protocol::messages::end_txn_request::EndTxnRequest;
use kafka_protocol::messages::end_txn_response::EndTxnResponse;
use skein_controller::transaction_coordinator::{EndTxn, Request, Response};

use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;
use crate::transaction_request;

/// The first version whose clients know PRODUCER_FENCED (KIP-588).
const PRODUCER_FENCED_VERSION: i16 = 2;

/// Answers an EndTxn request of `version`.
/// Kafka: WRITE on the transactional id.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: EndTxnRequest,
    version: i16,
) -> EndTxnResponse {
    if !caller.may_on_transactional_id(AclOperation::Write, request.transactional_id.as_str()) {
        return EndTxnResponse::default()
            .with_error_code(ErrorCode::TransactionalIdAuthorizationFailed.code());
    }
    let end = EndTxn {
        transactional_id: request.transactional_id.to_string(),
        producer_id: request.producer_id.0,
        producer_epoch: request.producer_epoch,
        committed: request.committed,
    };
    let code = match transaction_request::ask(ctx, Request::EndTxn(end)).await {
        Ok(Response::EndTxn(Ok(()))) => ErrorCode::None,
        Ok(Response::EndTxn(Err(error))) | Err(error) => {
            transaction_request::code(&error, version >= PRODUCER_FENCED_VERSION)
        }
        Ok(_) => ErrorCode::UnknownServerError,
    };
    EndTxnResponse::default().with_error_code(code.code())
}
