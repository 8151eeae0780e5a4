//! OffsetForLeaderEpoch. A single-node broker has led every partition since
//! its creation in epoch 0, so the end offset of epoch 0 is the log end
//! offset, and any later epoch is undefined (-1, -1).

use kafka_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderEpochRequest;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderEpochResponse, OffsetForLeaderTopicResult,
};

use super::resolve_topic;
use crate::error_code::ErrorCode;
use crate::partition_leadership::check_leader;
use crate::shard_message::{PartitionOp, ShardReply};
use crate::shard_state::ShardState;

/// The leader epoch every batch is stamped with until replication records
/// epochs in the log: whatever the partition's current leader epoch, its
/// log holds epoch 0 only.
const LEADER_EPOCH: i32 = 0;

/// Answers an OffsetForLeaderEpoch request.
pub async fn handle(
    ctx: &ShardState,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let image = ctx.image();
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let resolved = resolve_topic(&image, &topic.topic, &uuid::Uuid::nil(), false);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in topic.partitions {
            let index = partition.partition;
            let result = match &resolved {
                Err(code) => failed(index, *code),
                Ok(found) if !(0..found.partitions).contains(&index) => {
                    failed(index, ErrorCode::UnknownTopicOrPartition)
                }
                Ok(found) => {
                    match check_leader(&image, found, index, partition.current_leader_epoch) {
                        Err(code) => failed(index, code),
                        Ok(()) if partition.leader_epoch != LEADER_EPOCH => {
                            EpochEndOffset::default()
                                .with_partition(index)
                                .with_leader_epoch(-1)
                                .with_end_offset(-1)
                        }
                        Ok(()) => match ctx
                            .partition_op(found.topic_id, index, PartitionOp::Offsets)
                            .await
                        {
                            ShardReply::Offsets(Ok(offsets)) => EpochEndOffset::default()
                                .with_partition(index)
                                .with_leader_epoch(LEADER_EPOCH)
                                .with_end_offset(offsets.log_end_offset),
                            ShardReply::Offsets(Err(error)) => failed(index, error.code()),
                            _ => failed(index, ErrorCode::NotLeaderOrFollower),
                        },
                    }
                }
            };
            partitions.push(result);
        }
        topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions),
        );
    }
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

fn failed(index: i32, code: ErrorCode) -> EpochEndOffset {
    EpochEndOffset::default()
        .with_partition(index)
        .with_error_code(code.code())
        .with_leader_epoch(-1)
        .with_end_offset(-1)
}
