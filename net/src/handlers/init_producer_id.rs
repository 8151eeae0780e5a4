//! InitProducerId: for an idempotent producer, a new producer id with epoch
//! 0, or, for a producer re-initialising itself (v3+), its id with the next
//! epoch; for a transactional producer, the transaction coordinator's
//! answer (a fresh id or the next epoch of the transactional id's, which
//! fences older instances).

use kafka_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use kafka_protocol::messages::init_producer_id_response::InitProducerIdResponse;
use kafka_protocol::messages::ProducerId;
use skein_controller::transaction_coordinator::{InitProducerId, Request, Response};

use skein_controller::{AclOperation, ResourceType};

use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_message::{ControlReply, ControlRequest};
use crate::shard_state::ShardState;
use crate::transaction_request;

/// The first version whose clients know PRODUCER_FENCED (KIP-588).
const PRODUCER_FENCED_VERSION: i16 = 4;

/// Answers an InitProducerId request of `version`. Kafka: a transactional
/// producer needs WRITE on its transactional id; an idempotent one
/// IDEMPOTENT_WRITE on the cluster or WRITE on some topic.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default();
    if let Some(transactional_id) = &request.transactional_id {
        if transactional_id.is_empty() {
            return failed(response, ErrorCode::InvalidRequest);
        }
        if !caller.may_on_transactional_id(AclOperation::Write, transactional_id.as_str()) {
            return failed(response, ErrorCode::TransactionalIdAuthorizationFailed);
        }
        let fresh_producer_id = match allocate(ctx).await {
            Ok(id) => id,
            Err(code) => return failed(response, code),
        };
        let init = InitProducerId {
            transactional_id: transactional_id.to_string(),
            transaction_timeout_ms: request.transaction_timeout_ms,
            producer_id_and_epoch: (request.producer_id.0 >= 0)
                .then_some((request.producer_id.0, request.producer_epoch)),
            fresh_producer_id,
        };
        return match transaction_request::ask(ctx, Request::InitProducerId(init)).await {
            Ok(Response::InitProducerId(Ok((producer_id, producer_epoch)))) => response
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(producer_epoch),
            Ok(Response::InitProducerId(Err(error))) | Err(error) => failed(
                response,
                transaction_request::code(&error, version >= PRODUCER_FENCED_VERSION),
            ),
            Ok(_) => failed(response, ErrorCode::UnknownServerError),
        };
    }
    if !caller.may_on_cluster(AclOperation::IdempotentWrite)
        && !caller.may_on_some(AclOperation::Write, ResourceType::Topic)
    {
        return failed(response, ErrorCode::ClusterAuthorizationFailed);
    }
    if request.producer_id.0 >= 0 {
        if request.producer_epoch < 0 || request.producer_epoch == i16::MAX {
            return failed(response, ErrorCode::InvalidProducerEpoch);
        }
        return response
            .with_producer_id(request.producer_id)
            .with_producer_epoch(request.producer_epoch + 1);
    }
    match allocate(ctx).await {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(code) => failed(response, code),
    }
}

/// A producer id never handed out before, from the controller's blocks.
async fn allocate(ctx: &ShardState) -> Result<i64, ErrorCode> {
    match ctx.control(ControlRequest::AllocateProducerId).await {
        Some(ControlReply::ProducerId(Ok(id))) => Ok(id),
        Some(ControlReply::ProducerId(Err(error))) => Err(error.code()),
        _ => Err(ErrorCode::CoordinatorNotAvailable),
    }
}

fn failed(response: InitProducerIdResponse, code: ErrorCode) -> InitProducerIdResponse {
    response
        .with_error_code(code.code())
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}
