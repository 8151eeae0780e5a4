//! OffsetCommit (v2–v9): partitions of topics the metadata image does not
//! know are answered UNKNOWN_TOPIC_OR_PARTITION here, as Kafka does; the
//! rest go to the coordinator, which answers once the commit is durable.

use kafka_protocol::messages::offset_commit_request::OffsetCommitRequest;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use skein_controller::group_coordinator::{
    self as groups, GroupError, OffsetCommitPartition, Request, Response, TopicPartition,
};

use crate::error_code::{group_result, ErrorCode};
use crate::group_driver::ask;
use crate::shard_state::ShardState;

/// Answers an OffsetCommit request of `version`.
pub async fn handle(
    ctx: &ShardState,
    request: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    let image = ctx.image();
    // Per topic, per partition: Some(code) if answered here.
    let mut answered: Vec<Vec<Option<ErrorCode>>> = Vec::with_capacity(request.topics.len());
    let mut offsets = Vec::new();
    for topic in &request.topics {
        let known = image.topic(topic.name.as_str());
        let mut codes = Vec::with_capacity(topic.partitions.len());
        for partition in &topic.partitions {
            let exists =
                known.is_some_and(|t| (0..t.partitions).contains(&partition.partition_index));
            if !exists {
                codes.push(Some(ErrorCode::UnknownTopicOrPartition));
                continue;
            }
            codes.push(None);
            offsets.push(OffsetCommitPartition {
                topic_partition: TopicPartition {
                    topic: topic.name.to_string(),
                    partition: partition.partition_index,
                },
                offset: partition.committed_offset,
                leader_epoch: (version >= 6 && partition.committed_leader_epoch >= 0)
                    .then_some(partition.committed_leader_epoch),
                metadata: partition.committed_metadata.as_ref().map(|m| m.to_string()),
            });
        }
        answered.push(codes);
    }
    let expected = offsets.len();
    let results: Vec<Result<(), GroupError>> = if offsets.is_empty() {
        Vec::new()
    } else {
        let commit = groups::OffsetCommit {
            group_id: request.group_id.0.to_string(),
            generation_id: request.generation_id_or_member_epoch,
            member_id: request.member_id.to_string(),
            group_instance_id: request.group_instance_id.map(|id| id.to_string()),
            retention_time_ms: ((2..=4).contains(&version) && request.retention_time_ms != -1)
                .then_some(request.retention_time_ms),
            offsets,
        };
        match ask(ctx, Request::OffsetCommit(commit)).await {
            Ok(Response::OffsetCommit(results)) if results.len() == expected => {
                results.into_iter().map(|(_, result)| result).collect()
            }
            Ok(_) | Err(_) => (0..expected)
                .map(|_| Err(GroupError::CoordinatorNotAvailable))
                .collect(),
        }
    };
    let mut results = results.into_iter();
    let topics = request
        .topics
        .into_iter()
        .zip(answered)
        .map(|(topic, codes)| {
            let partitions = topic
                .partitions
                .iter()
                .zip(codes)
                .map(|(partition, code)| {
                    let code = code.unwrap_or_else(|| match results.next() {
                        Some(result) => group_result(&result),
                        None => ErrorCode::CoordinatorNotAvailable,
                    });
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(partition.partition_index)
                        .with_error_code(code.code())
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
