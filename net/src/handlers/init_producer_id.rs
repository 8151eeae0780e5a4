//! InitProducerId for idempotent producers: a new producer id with epoch 0,
//! or, for a producer re-initialising itself (v3+), its id with the next
//! epoch. Transactions are not supported: a transactional id is refused.

use kafka_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use kafka_protocol::messages::init_producer_id_response::InitProducerIdResponse;
use kafka_protocol::messages::ProducerId;

use crate::error_code::ErrorCode;
use crate::shard_message::{ControlReply, ControlRequest};
use crate::shard_state::ShardState;

/// Answers an InitProducerId request.
pub async fn handle(ctx: &ShardState, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default();
    if request.transactional_id.is_some() {
        tracing::debug!("transactional producer refused: transactions are not supported");
        return failed(response, ErrorCode::TransactionalIdAuthorizationFailed);
    }
    if request.producer_id.0 >= 0 {
        if request.producer_epoch < 0 || request.producer_epoch == i16::MAX {
            return failed(response, ErrorCode::InvalidProducerEpoch);
        }
        return response
            .with_producer_id(request.producer_id)
            .with_producer_epoch(request.producer_epoch + 1);
    }
    match ctx.control(ControlRequest::AllocateProducerId).await {
        Some(ControlReply::ProducerId(Ok(id))) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Some(ControlReply::ProducerId(Err(error))) => failed(response, error.code()),
        _ => failed(response, ErrorCode::CoordinatorNotAvailable),
    }
}

fn failed(response: InitProducerIdResponse, code: ErrorCode) -> InitProducerIdResponse {
    response
        .with_error_code(code.code())
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}
