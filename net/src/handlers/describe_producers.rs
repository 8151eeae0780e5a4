//! DescribeProducers (KIP-664): the idempotent producers a partition's
//! leader knows — id, epoch, last sequence, last timestamp, coordinator
//! epoch and open transaction start — from the partition's producer state.
//! Only the leader answers (NOT_LEADER_OR_FOLLOWER elsewhere, as Kafka's
//! `ReplicaManager.activeProducerState`); an unknown topic or partition gets
//! UNKNOWN_TOPIC_OR_PARTITION.

use kafka_protocol::messages::describe_producers_request::DescribeProducersRequest;
use kafka_protocol::messages::describe_producers_response::{
    DescribeProducersResponse, PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::ProducerId;

use super::resolve_topic;
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::partition_leadership::{check_leader, NO_LEADER_EPOCH};
use crate::shard_state::ShardState;

/// Answers a DescribeProducers request. Kafka: READ on each topic.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let image = ctx.image();
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let resolved = if caller.may_on_topic(AclOperation::Read, topic.name.as_str()) {
            resolve_topic(&image, &topic.name, &uuid::Uuid::nil(), false)
        } else {
            Err(ErrorCode::TopicAuthorizationFailed)
        };
        let mut partitions = Vec::with_capacity(topic.partition_indexes.len());
        for index in topic.partition_indexes {
            let answer = match &resolved {
                Err(code) => failed(index, *code),
                Ok(found) if !(0..found.partitions).contains(&index) => {
                    failed(index, ErrorCode::UnknownTopicOrPartition)
                }
                Ok(found) => match check_leader(&image, found, index, NO_LEADER_EPOCH) {
                    Err(code) => failed(index, code),
                    Ok(()) => match ctx.describe_producers(found.topic_id, index).await {
                        Ok(producers) => PartitionResponse::default()
                            .with_partition_index(index)
                            .with_active_producers(
                                producers
                                    .into_iter()
                                    .map(|producer| {
                                        ProducerState::default()
                                            .with_producer_id(ProducerId(producer.producer_id))
                                            .with_producer_epoch(i32::from(producer.producer_epoch))
                                            .with_last_sequence(producer.last_sequence)
                                            .with_last_timestamp(producer.last_timestamp)
                                            .with_coordinator_epoch(producer.coordinator_epoch)
                                            .with_current_txn_start_offset(
                                                producer.current_txn_start_offset,
                                            )
                                    })
                                    .collect(),
                            ),
                        Err(error) => failed(index, error.code()),
                    },
                },
            };
            partitions.push(answer);
        }
        topics.push(
            TopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    DescribeProducersResponse::default().with_topics(topics)
}

fn failed(index: i32, code: ErrorCode) -> PartitionResponse {
    PartitionResponse::default()
        .with_partition_index(index)
        .with_error_code(code.code())
}
