//! DeleteRecords: advance each partition's log start offset (-1 = the high
//! watermark); whole segments below it are removed.

use kafka_protocol::messages::delete_records_request::DeleteRecordsRequest;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsResponse, DeleteRecordsTopicResult,
};

use skein_controller::AclOperation;

use super::resolve_topic;
use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::partition_leadership::{check_leader, NO_LEADER_EPOCH};
use crate::shard_state::ShardState;

/// Answers a DeleteRecords request.
/// Kafka: DELETE on each topic.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let image = ctx.image();
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let resolved = if caller.may_on_topic(AclOperation::Delete, topic.name.as_str()) {
            resolve_topic(&image, &topic.name, &uuid::Uuid::nil(), false)
        } else {
            Err(ErrorCode::TopicAuthorizationFailed)
        };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in topic.partitions {
            let index = partition.partition_index;
            let result = match &resolved {
                Err(code) => failed(index, *code),
                Ok(found) if !(0..found.partitions).contains(&index) => {
                    failed(index, ErrorCode::UnknownTopicOrPartition)
                }
                Ok(found) if check_leader(&image, found, index, NO_LEADER_EPOCH).is_err() => {
                    failed(index, ErrorCode::NotLeaderOrFollower)
                }
                Ok(found) => {
                    match ctx
                        .delete_records(found.topic_id, index, partition.offset)
                        .await
                    {
                        Ok(low_watermark) => DeleteRecordsPartitionResult::default()
                            .with_partition_index(index)
                            .with_low_watermark(low_watermark),
                        Err(error) => failed(index, error.code()),
                    }
                }
            };
            partitions.push(result);
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}

fn failed(index: i32, code: ErrorCode) -> DeleteRecordsPartitionResult {
    DeleteRecordsPartitionResult::default()
        .with_partition_index(index)
        .with_low_watermark(-1)
        .with_error_code(code.code())
}
