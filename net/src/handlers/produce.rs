//! Produce: each partition's record batches go to its owner shard, which
//! validates them in place and appends them; all partitions of a request are
//! appended concurrently (so one fdatasync can cover them). acks=0 gets no
//! response at all, as in Kafka.

use futures::future::join_all;
use kafka_protocol::messages::produce_request::ProduceRequest;
use kafka_protocol::messages::produce_response::{
    PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};

use super::resolve_topic;
use crate::error_code::ErrorCode;
use crate::shard_message::{PartitionError, PartitionOp, ShardReply};
use crate::shard_state::ShardState;

/// Produce v13 names topics by id.
const TOPIC_IDS_FROM_VERSION: i16 = 13;

/// Answers a Produce request of `version` (the caller sends nothing for
/// acks=0).
pub async fn handle(ctx: &ShardState, request: ProduceRequest, version: i16) -> ProduceResponse {
    let acks = request.acks;
    let by_id = version >= TOPIC_IDS_FROM_VERSION;
    let image = ctx.image();
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let resolved = resolve_topic(&image, &topic.name, &topic.topic_id, by_id);
        let appends = topic.partition_data.into_iter().map(|data| {
            let resolved = resolved.clone();
            async move {
                let index = data.index;
                if !matches!(acks, -1..=1) {
                    return failed(index, ErrorCode::InvalidRequiredAcks);
                }
                let topic = match resolved {
                    Ok(topic) => topic,
                    Err(code) => return failed(index, code),
                };
                if !(0..topic.partitions).contains(&index) {
                    return failed(index, ErrorCode::UnknownTopicOrPartition);
                }
                // Kafka: "Cannot append to internal topic"; only the group
                // coordinator writes __consumer_offsets.
                if crate::offsets_topic::is_internal(&topic.name) {
                    return failed(index, ErrorCode::InvalidTopicException);
                }
                let Some(records) = data.records else {
                    return failed(index, ErrorCode::CorruptMessage);
                };
                // Counted now (a walk over batch headers), added once appended.
                let (counted_bytes, counted_records) =
                    (records.len(), crate::metrics::record_count(&records));
                let reply = ctx
                    .partition_op(topic.topic_id, index, PartitionOp::Append { records })
                    .await;
                match reply {
                    ShardReply::Appended(Ok(info)) => {
                        ctx.metrics.produced(
                            &topic.topic_id,
                            &topic.name,
                            counted_bytes,
                            counted_records,
                        );
                        PartitionProduceResponse::default()
                            .with_index(index)
                            .with_base_offset(info.base_offset)
                            .with_log_append_time_ms(info.log_append_time_ms)
                            .with_log_start_offset(info.log_start_offset)
                    }
                    ShardReply::Appended(Err(error)) => {
                        tracing::debug!(%error, partition = index, "produce refused");
                        failed_with(index, &error)
                    }
                    _ => failed(index, ErrorCode::NotLeaderOrFollower),
                }
            }
        });
        let partition_responses = join_all(appends).await;
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_topic_id(topic.topic_id)
                .with_partition_responses(partition_responses),
        );
    }
    ProduceResponse::default().with_responses(responses)
}

fn failed(index: i32, code: ErrorCode) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
}

fn failed_with(index: i32, error: &PartitionError) -> PartitionProduceResponse {
    failed(index, error.code()).with_error_message(super::message(error))
}
