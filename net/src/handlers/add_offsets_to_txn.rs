//! AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the
//! producer's transaction, before TxnOffsetCommit sends the offsets.

use kafka_protocol::messages::add_offsets_to_txn_request::AddOffsetsToTxnRequest;
use kafka_protocol::messages::add_offsets_to_txn_response::AddOffsetsToTxnResponse;
use skein_controller::transaction_coordinator::{AddOffsets, Request, Response};

use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;
use crate::transaction_request;

/// The first version whose clients know PRODUCER_FENCED (KIP-588).
const PRODUCER_FENCED_VERSION: i16 = 2;

/// Answers an AddOffsetsToTxn request of `version`. Kafka: WRITE on the
/// transactional id, then READ on the group.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
    let refused = caller
        .transactional_group_refusal(request.transactional_id.as_str(), request.group_id.as_str());
    if let Some(code) = refused {
        return AddOffsetsToTxnResponse::default().with_error_code(code.code());
    }
    let add = AddOffsets {
        transactional_id: request.transactional_id.to_string(),
        producer_id: request.producer_id.0,
        producer_epoch: request.producer_epoch,
        group_id: request.group_id.to_string(),
    };
    let code = match transaction_request::ask(ctx, Request::AddOffsets(add)).await {
        Ok(Response::AddOffsets(Ok(()))) => ErrorCode::None,
        Ok(Response::AddOffsets(Err(error))) | Err(error) => {
            transaction_request::code(&error, version >= PRODUCER_FENCED_VERSION)
        }
        Ok(_) => ErrorCode::UnknownServerError,
    };
    AddOffsetsToTxnResponse::default().with_error_code(code.code())
}
