//! Produce: each partition's record batches go to its owner shard, which
//! validates them in place and appends them; all partitions of a request are
//! appended concurrently (so one fdatasync can cover them). acks=0 gets no
//! response at all, as in Kafka.

use futures::future::join_all;
use kafka_protocol::messages::produce_request::ProduceRequest;
use kafka_protocol::messages::produce_response::{
    PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};

use skein_controller::AclOperation;

use super::resolve_topic;
use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::partition_leadership::{check_leader, NO_LEADER_EPOCH};
use crate::shard_message::PartitionError;
use crate::shard_state::ShardState;

/// Produce v13 names topics by id.
const TOPIC_IDS_FROM_VERSION: i16 = 13;

/// Answers a Produce request of `version` (the caller sends nothing for
/// acks=0). Kafka: WRITE on each topic (TOPIC_AUTHORIZATION_FAILED, checked
/// before the topic's existence), and transactional records need WRITE on
/// the request's transactional id.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: ProduceRequest,
    version: i16,
) -> ProduceResponse {
    let acks = request.acks;
    // acks=all waits for the high watermark at most the request's timeout.
    let acks_all_timeout_ms = (acks == -1).then(|| u64::try_from(request.timeout_ms).unwrap_or(0));
    let by_id = version >= TOPIC_IDS_FROM_VERSION;
    // Kafka: transactional records need the request's transactional id
    // (authorized for WRITE), else the whole request is refused.
    let unauthorized_transactional = has_transactional_records(&request)
        && request
            .transactional_id
            .as_ref()
            .is_none_or(|id| !caller.may_on_transactional_id(AclOperation::Write, id.as_str()));
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        // The image is borrowed, not cloned, and only while this topic's
        // partitions are checked (never across an await); the topic's own
        // `Arc` is taken once per topic and lent to its partitions.
        let resolved =
            ctx.with_image(|image| resolve_topic(image, &topic.name, &topic.topic_id, by_id));
        // By name, the name asked is checked (unknown or not); by id, the
        // name it resolves to. One check per topic, allocating nothing.
        let name = match (&resolved, by_id) {
            (Ok(found), true) => Some(found.name.as_str()),
            (Err(_), true) => None,
            (_, false) => Some(topic.name.as_str()),
        };
        let topic_refused =
            name.is_some_and(|name| !caller.may_on_topic(AclOperation::Write, name));
        let resolved = &resolved;
        let appends = topic.partition_data.into_iter().map(|data| {
            let leadership = resolved.as_ref().map_or(Ok(()), |topic| {
                ctx.with_image(|image| check_leader(image, topic, data.index, NO_LEADER_EPOCH))
            });
            async move {
                let index = data.index;
                if !matches!(acks, -1..=1) {
                    return failed(index, ErrorCode::InvalidRequiredAcks);
                }
                if unauthorized_transactional {
                    return failed(index, ErrorCode::TransactionalIdAuthorizationFailed);
                }
                if topic_refused {
                    return failed(index, ErrorCode::TopicAuthorizationFailed);
                }
                let topic = match resolved {
                    Ok(topic) => topic,
                    Err(code) => return failed(index, *code),
                };
                if !(0..topic.partitions).contains(&index) {
                    return failed(index, ErrorCode::UnknownTopicOrPartition);
                }
                if let Err(code) = leadership {
                    return failed(index, code);
                }
                // Kafka: "Cannot append to internal topic"; only the group
                // coordinator writes __consumer_offsets.
                if crate::offsets_topic::is_internal(&topic.name) {
                    return failed(index, ErrorCode::InvalidTopicException);
                }
                let Some(records) = data.records else {
                    return failed(index, ErrorCode::CorruptMessage);
                };
                // Kafka refuses keyless records on a compacted topic: the
                // cleaner could never tell their versions apart.
                if ctx.config.compacts(&topic.configs) {
                    match keyless_record(&records) {
                        KeyCheck::AllKeyed => {}
                        KeyCheck::Keyless { batch_index } => {
                            return failed(index, ErrorCode::InvalidRecord).with_error_message(
                                Some(kafka_protocol::protocol::StrBytes::from_static_str(
                                    "Compacted topic cannot accept message without key",
                                )),
                            ).with_record_errors(vec![
                                kafka_protocol::messages::produce_response::BatchIndexAndErrorMessage::default()
                                    .with_batch_index(batch_index),
                            ]);
                        }
                        KeyCheck::Undecodable => return failed(index, ErrorCode::CorruptMessage),
                    }
                }
                // Counted now (a walk over batch headers), added once appended.
                let (counted_bytes, counted_records) =
                    (records.len(), crate::metrics::record_count(&records));
                match ctx.append(topic.topic_id, index, records, acks_all_timeout_ms).await {
                    Ok(info) => {
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
                    Err(error) => {
                        tracing::debug!(%error, partition = index, "produce refused");
                        failed_with(index, &error)
                    }
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

/// Whether any partition's records hold a transactional batch (a walk
/// over the batch headers; bytes too short for a header hold none).
fn has_transactional_records(request: &ProduceRequest) -> bool {
    request
        .topic_data
        .iter()
        .flat_map(|topic| &topic.partition_data)
        .filter_map(|data| data.records.as_ref())
        .any(|records| {
            let mut rest: &[u8] = records;
            while let Some(header) = skein_engine::BatchHeader::read(rest) {
                if header.is_transactional() {
                    return true;
                }
                let Ok(total) = usize::try_from(header.total_bytes()) else {
                    return false;
                };
                match rest.get(total.max(1)..) {
                    Some(next) => rest = next,
                    None => return false,
                }
            }
            false
        })
}

/// What `keyless_record` found.
#[derive(Debug, PartialEq, Eq)]
enum KeyCheck {
    /// Every record of every uncompressed batch has a key.
    AllKeyed,
    /// The batch at this index (0-based) holds a record without a key.
    Keyless { batch_index: i32 },
    /// A batch's records do not decode.
    Undecodable,
}

/// Looks for a record without a key in the uncompressed batches of
/// `records`. Compressed batches are not decompressed here, so their
/// records are not checked (Kafka checks them too). Bytes that are not
/// whole batches are left to the log's validation, which refuses them.
fn keyless_record(records: &[u8]) -> KeyCheck {
    let mut rest = records;
    let mut batch_index: i32 = 0;
    while let Some(header) = skein_engine::BatchHeader::read(rest) {
        let Some(batch) = usize::try_from(header.total_bytes())
            .ok()
            .and_then(|total| rest.get(..total))
        else {
            return KeyCheck::AllKeyed;
        };
        if batch.len() < skein_engine::BATCH_HEADER_BYTES {
            return KeyCheck::AllKeyed;
        }
        if !header.is_compressed() {
            let Ok(decoded) = skein_engine::Records::new(batch) else {
                return KeyCheck::Undecodable;
            };
            for record in decoded {
                match record {
                    Ok(record) if record.key.is_none() => return KeyCheck::Keyless { batch_index },
                    Ok(_) => {}
                    Err(_) => return KeyCheck::Undecodable,
                }
            }
        }
        rest = rest.get(batch.len()..).unwrap_or_default();
        batch_index = batch_index.saturating_add(1);
    }
    KeyCheck::AllKeyed
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use skein_engine::test_batch::BatchBuilder;

    #[test]
    fn keyless_records_are_found_by_batch_index() {
        let keyed = BatchBuilder::new(0).record(b"k", b"v", 0).build();
        let keyless = BatchBuilder::new(0)
            .record(b"k", b"v", 0)
            .record(b"", b"v", 0)
            .build();
        assert_eq!(keyless_record(&keyed), KeyCheck::AllKeyed);
        assert_eq!(
            keyless_record(&[keyed.clone(), keyless.clone()].concat()),
            KeyCheck::Keyless { batch_index: 1 }
        );
        // Compressed batches are not decompressed here.
        let compressed = BatchBuilder::new(0)
            .record(b"", b"v", 0)
            .compression(1)
            .build();
        assert_eq!(keyless_record(&compressed), KeyCheck::AllKeyed);
        // Hostile bytes: never a panic.
        for cut in 0..keyless.len() {
            let _ = keyless_record(&keyless[..cut]);
        }
        let mut broken = keyed.clone();
        broken.push(0);
        let length = i32::try_from(broken.len() - 12).expect("small");
        broken[8..12].copy_from_slice(&length.to_be_bytes());
        assert_eq!(keyless_record(&broken), KeyCheck::Undecodable);
    }
}
