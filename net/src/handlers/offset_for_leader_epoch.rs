//! OffsetForLeaderEpoch: where a leader epoch ends in a partition's log,
//! answered by its leader from the partition's leader-epoch cache with
//! Kafka's rules — the latest epoch ends at the log end offset, an older one
//! where the next higher epoch starts, an epoch newer than any known is
//! undefined (-1, -1).

use kafka_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderEpochRequest;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderEpochResponse, OffsetForLeaderTopicResult,
};

use super::resolve_topic;
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::partition_leadership::check_leader;
use crate::shard_state::ShardState;

/// Answers an OffsetForLeaderEpoch request. Kafka: CLUSTER_ACTION on the
/// cluster (a follower), else DESCRIBE on each topic.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let image = ctx.image();
    let every_topic = caller.may_on_cluster(AclOperation::ClusterAction);
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let resolved =
            if every_topic || caller.may_on_topic(AclOperation::Describe, topic.topic.as_str()) {
                resolve_topic(&image, &topic.topic, &uuid::Uuid::nil(), false)
            } else {
                Err(ErrorCode::TopicAuthorizationFailed)
            };
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
                        Ok(()) => match ctx
                            .end_offset_for_epoch(found.topic_id, index, partition.leader_epoch)
                            .await
                        {
                            Ok(end) => EpochEndOffset::default()
                                .with_partition(index)
                                .with_leader_epoch(end.leader_epoch)
                                .with_end_offset(end.end_offset),
                            Err(error) => failed(index, error.code()),
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
