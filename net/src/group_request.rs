//! A data shard's way to the group coordinator: group and offset requests
//! (JoinGroup, OffsetCommit, ConsumerGroupHeartbeat, ...) go to the control
//! shard, where the coordinator's driver answers them.

use skein_controller::group_coordinator::{GroupError, Request, Response};

use crate::shard_message::{ShardReply, ShardRequest};
use crate::shard_state::ShardState;

/// Sends a group or offset request to the coordinator on the control shard
/// and waits for its answer. Lives on: a data shard.
///
/// # Errors
/// [`GroupError::CoordinatorNotAvailable`] if the control shard cannot be
/// reached or drops the request (shutting down).
pub async fn ask(ctx: &ShardState, request: Request) -> Result<Response, GroupError> {
    match ctx
        .mesh
        .call(ctx.plan.control_shard(), ShardRequest::Group(request))
        .await
    {
        Ok(ShardReply::Group(result)) => result,
        _ => Err(GroupError::CoordinatorNotAvailable),
    }
}

/// Tells the group coordinator that the markers of producer `producer_id`'s
/// transaction reached `__consumer_offsets` partition `partition`: its
/// pending transactional offsets become committed (`committed`) or are
/// dropped. Call it where markers are written to a `__consumer_offsets`
/// partition led here (Kafka's `scheduleHandleTxnCompletion`). Lives on: a
/// data shard.
///
/// # Errors
/// [`GroupError::CoordinatorNotAvailable`] if the control shard cannot be
/// reached.
pub async fn complete_transaction(
    ctx: &ShardState,
    partition: u32,
    producer_id: i64,
    committed: bool,
) -> Result<(), GroupError> {
    let request =
        Request::CompleteTransaction(skein_controller::group_coordinator::CompleteTransaction {
            partition,
            producer_id,
            committed,
        });
    ask(ctx, request).await.map(|_| ())
}
