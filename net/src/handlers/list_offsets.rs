//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), earliest
//! local (-4), latest tiered (-5), or the first offset at or after a
//! timestamp; answered by each partition's owner shard, with the leader
//! epoch that appended the offset found (the current one for latest). A
//! read_committed request (isolation level 1) gets the last stable offset
//! as latest, and timestamp lookups below it (Kafka's `lastFetchableOffset`).

use kafka_protocol::messages::list_offsets_request::ListOffsetsRequest;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};

use super::resolve_topic;
use crate::error_code::ErrorCode;
use crate::partition_leadership::check_leader;
use crate::shard_message::ListedOffset;
use crate::shard_state::ShardState;

/// Answers a ListOffsets request.
pub async fn handle(
    ctx: &ShardState,
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
        let resolved = resolve_topic(&image, &topic.name, &uuid::Uuid::nil(), false);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in topic.partitions {
            let index = partition.partition_index;
            let answer = match &resolved {
                Err(code) => failed(index, *code),
                Ok(found) if !(0..found.partitions).contains(&index) => {
                    failed(index, ErrorCode::UnknownTopicOrPartition)
                }
                Ok(found) => {
                    match check_leader(&image, found, index, partition.current_leader_epoch) {
                        Err(code) => failed(index, code),
                        Ok(()) => match ctx
                            .list_offset(found.topic_id, index, partition.timestamp, read_committed)
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

fn failed(index: i32, code: ErrorCode) -> ListOffsetsPartitionResponse {
    ListOffsetsPartitionResponse::default()
        .with_partition_index(index)
        .with_error_code(code.code())
        .with_offset(-1)
        .with_timestamp(-1)
        .with_leader_epoch(-1)
}
