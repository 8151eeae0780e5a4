//! AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the
//! producer's transaction, before TxnOffsetCommit sends the offsets.

use kafka_protocol::messages::add_offsets_to_txn_request::AddOffsetsToTxnRequest;
use kafka_protocol::messages::add_offsets_to_txn_response::AddOffsetsToTxnResponse;
use skein_controller::transaction_coordinator::{AddOffsets, Request, Response};

use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;
use crate::transaction_request;

/// The first version whose clients know PRODUCER_FENCED (KIP-588).
const PRODUCER_FENCED_VERSION: i16 = 2;

/// Answers an AddOffsetsToTxn request of `version`.
pub async fn handle(
    ctx: &ShardState,
    request: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
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
