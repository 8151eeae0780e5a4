//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), earliest
//! local (-4), latest tiered (-5), or the first offset at or after a
//! timestamp; answered by each partition's owner shard, with the leader
//! epoch that appended the offset found (the current one for latest).
//! With Kafka's debugging replica id (-2), earliest and latest are
//! answered by any replica this broker holds, latest being its log end
//! offset (as Kafka's `fetchOnlyFromLeader = false`): how an admin tool
//! measures a follower's lag.
//! A read_committed request (isolation level 1) gets the last stable
//! offset as latest, and timestamp lookups below it (Kafka's
//! `lastFetchableOffset`).

use kafka_protocol::messages::list_offsets_request::ListOffsetsRequest;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};

use super::resolve_topic;
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::partition_leadership::check_leader;
use crate::shard_message::ListedOffset;
use crate::shard_state::ShardState;

/// Kafka's `ListOffsetsRequest.DEBUGGING_REPLICA_ID`.
const DEBUGGING_REPLICA_ID: i32 = -2;

/// Answers a ListOffsets request. Kafka: DESCRIBE on each topic.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    // leader_epoch exists from v4; before it the field must stay at its default.
    let epoch_of = |listed: &ListedOffset| {
        if version >= 4 && listed.offset >= 0 {
            listed.leader_epoch
        } else {
            -1
        }
    };
    // isolation_level exists from v2: 1 is READ_COMMITTED.
    let read_committed = version >= 2 && request.isolation_level == 1;
    let image = ctx.image();
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let resolved = if caller.may_on_topic(AclOperation::Describe, topic.name.as_str()) {
            resolve_topic(&image, &topic.name, &uuid::Uuid::nil(), false)
        } else {
            Err(ErrorCode::TopicAuthorizationFailed)
        };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in topic.partitions {
            let index = partition.partition_index;
            let answer = match &resolved {
                Err(code) => failed(index, *code),
                Ok(found) if !(0..found.partitions).contains(&index) => {
                    failed(index, ErrorCode::UnknownTopicOrPartition)
                }
                Ok(found)
                    if request.replica_id.0 == DEBUGGING_REPLICA_ID
                        && matches!(partition.timestamp, -1 | -2) =>
                {
                    match ctx.offsets(found.topic_id, index).await {
                        Ok(offsets) => ListOffsetsPartitionResponse::default()
                            .with_partition_index(index)
                            .with_offset(if partition.timestamp == -1 {
                                offsets.log_end_offset
                            } else {
                                offsets.log_start_offset
                            })
                            .with_timestamp(-1)
                            .with_leader_epoch(-1),
                        Err(error) => failed(index, error.code()),
                    }
                }
                Ok(found) => {
                    match check_leader(&image, found, index, partition.current_leader_epoch) {
                        Err(code) => failed(index, code),
                        Ok(()) => match list_offset(
                            ctx,
                            found.topic_id,
                            index,
                            partition.timestamp,
                            request.replica_id.0,
                            read_committed,
                        )
                        .await
                        {
                            Ok(listed) => ListOffsetsPartitionResponse::default()
                                .with_partition_index(index)
                                .with_offset(listed.offset)
                                .with_timestamp(listed.timestamp)
                                .with_leader_epoch(epoch_of(&listed)),
                            Err(error) => failed(index, error.code()),
                        },
                    }
                }
            };
            partitions.push(answer);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}

/// One partition's offset for `timestamp`. A follower (`replica_id >= 0`)
/// asking for the latest offset gets the log end offset, not the high
/// watermark (Kafka answers replicas without an isolation level): what its
/// fetcher truncates to after OFFSET_OUT_OF_RANGE.
async fn list_offset(
    ctx: &ShardState,
    topic_id: skein_controller::TopicId,
    index: i32,
    timestamp: i64,
    replica_id: i32,
    read_committed: bool,
) -> Result<ListedOffset, crate::shard_message::PartitionError> {
    let mut listed = ctx
        .list_offset(topic_id, index, timestamp, read_committed)
        .await?;
    if replica_id >= 0 && timestamp == LATEST_TIMESTAMP {
        listed.offset = ctx.offsets(topic_id, index).await?.log_end_offset;
    }
    Ok(listed)
}

/// ListOffsets' "latest" timestamp.
const LATEST_TIMESTAMP: i64 = -1;

fn failed(index: i32, code: ErrorCode) -> ListOffsetsPartitionResponse {
    ListOffsetsPartitionResponse::default()
        .with_partition_index(index)
        .with_error_code(code.code())
        .with_offset(-1)
        .with_timestamp(-1)
        .with_leader_epoch(-1)
}
