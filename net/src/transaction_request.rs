//! A data shard's way to the transaction coordinator: InitProducerId with a
//! transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
//! DescribeTransactions and ListTransactions go to the control shard, where
//! the coordinator's driver answers them.

use skein_controller::transaction_coordinator::{Request, Response, TransactionError};

use crate::error_code::{self, ErrorCode};
use crate::shard_message::{ShardReply, ShardRequest};
use crate::shard_state::ShardState;

/// Sends a transactional request to the coordinator on the control shard
/// and waits for its answer. Lives on: a data shard.
///
/// # Errors
/// [`TransactionError::CoordinatorNotAvailable`] if the control shard
/// cannot be reached or drops the request (shutting down).
pub async fn ask(ctx: &ShardState, request: Request) -> Result<Response, TransactionError> {
    match ctx
        .mesh
        .call(ctx.plan.control_shard(), ShardRequest::Transaction(request))
        .await
    {
        Ok(ShardReply::Transaction(result)) => result,
        _ => Err(TransactionError::CoordinatorNotAvailable),
    }
}

/// The code of `error` for a client that knows PRODUCER_FENCED or not:
/// Kafka answers versions older than KIP-588's (InitProducerId v4,
/// AddPartitionsToTxn/AddOffsetsToTxn/EndTxn v2) with
/// INVALID_PRODUCER_EPOCH instead.
pub fn code(error: &TransactionError, knows_producer_fenced: bool) -> ErrorCode {
    match error {
        TransactionError::ProducerFenced if !knows_producer_fenced => {
            ErrorCode::InvalidProducerEpoch
        }
        error => error_code::transaction_error(error),
    }
}
