//! Fetch: reads whole batches from each partition's owner shard and answers
//! with the zero-copy writer. A long-poll (`min_bytes` not yet reached) waits
//! until an append wakes one of the partitions or `max_wait_ms` passes:
//! woken by appends, never by polling. Sessionless: every fetch is a full
//! fetch, and `session_id` 0 tells clients no session was created (KIP-227).

use std::time::{Duration, Instant};

use futures::future::select_all;
use kafka_protocol::messages::fetch_request::FetchRequest;
use skein_engine::LogChunk;

use super::resolve_topic;
use crate::error_code::ErrorCode;
use crate::fetch_response::{write_fetch_response, FetchedPartition, FetchedTopic};
use crate::frame::RequestHeader;
use crate::response::{EncodeError, Response};
use crate::shard_message::{PartitionOp, ShardReply};
use crate::shard_state::ShardState;

/// Fetch v13 names topics by id.
const TOPIC_IDS_FROM_VERSION: i16 = 13;
/// The error for a fetch session the broker does not have.
const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
/// The longest a fetch may wait, whatever it asks for.
const MAX_WAIT_MS_CAP: u64 = 30_000;

/// Where a partition of the request stands.
struct Wanted {
    topic_index: usize,
    topic_id: [u8; 16],
    partition: i32,
    fetch_offset: i64,
    partition_max_bytes: usize,
    /// Set when the partition cannot be read at all.
    error: Option<ErrorCode>,
}

/// Answers a Fetch request.
///
/// # Errors
/// [`EncodeError`] only for a response that cannot be encoded (a bug).
pub async fn handle(
    ctx: &ShardState,
    header: &RequestHeader,
    request: FetchRequest,
) -> Result<Response, EncodeError> {
    let version = header.api_version;
    if request.session_id != 0 || request.session_epoch > 0 {
        return write_fetch_response(header, FETCH_SESSION_ID_NOT_FOUND, 0, Vec::new());
    }
    let by_id = version >= TOPIC_IDS_FROM_VERSION;
    // isolation_level does not change the bound: with no transactions the
    // last stable offset is the high watermark.
    let image = ctx.image();
    let mut topics: Vec<FetchedTopic> = Vec::with_capacity(request.topics.len());
    let mut wanted: Vec<Wanted> = Vec::new();
    for (topic_index, topic) in request.topics.into_iter().enumerate() {
        let resolved = resolve_topic(&image, &topic.topic, &topic.topic_id, by_id);
        for partition in &topic.partitions {
            let error = match &resolved {
                Err(code) => Some(*code),
                Ok(found) if !(0..found.partitions).contains(&partition.partition) => {
                    Some(ErrorCode::UnknownTopicOrPartition)
                }
                Ok(_) if partition.current_leader_epoch > 0 => Some(ErrorCode::UnknownLeaderEpoch),
                Ok(_) => None,
            };
            wanted.push(Wanted {
                topic_index,
                topic_id: resolved.as_ref().map(|t| t.topic_id).unwrap_or_default(),
                partition: partition.partition,
                fetch_offset: partition.fetch_offset,
                partition_max_bytes: usize::try_from(partition.partition_max_bytes).unwrap_or(0),
                error,
            });
        }
        topics.push(FetchedTopic {
            name: topic.topic,
            topic_id: topic.topic_id,
            partitions: Vec::new(),
        });
    }
    let max_wait = Duration::from_millis(
        u64::try_from(request.max_wait_ms)
            .unwrap_or(0)
            .min(MAX_WAIT_MS_CAP),
    );
    let deadline = Instant::now() + max_wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    // Kafka caps the response by the request's `max_bytes` and the broker's
    // `fetch.max.bytes`, whichever is smaller.
    let max_bytes = usize::try_from(request.max_bytes)
        .unwrap_or(0)
        .min(ctx.config.fetch_max_bytes());
    loop {
        let results = read_all(ctx, &wanted, max_bytes).await;
        let total: usize = results
            .iter()
            .map(|p| p.chunks.iter().map(LogChunk::len).sum::<usize>())
            .sum();
        let any_error = results.iter().any(|p| p.error_code != 0);
        let now = Instant::now();
        if total >= min_bytes.max(1) || any_error || now >= deadline || wanted.is_empty() {
            for (want, result) in wanted.iter().zip(results) {
                count_fetched(ctx, &image, want, &result);
                if let Some(topic) = topics.get_mut(want.topic_index) {
                    topic.partitions.push(result);
                }
            }
            return write_fetch_response(header, 0, 0, topics);
        }
        drop(results);
        wait_for_any_append(ctx, &wanted, deadline - now).await;
    }
}

/// Adds a fetched partition to the shard's counters.
fn count_fetched(
    ctx: &ShardState,
    image: &skein_controller::MetadataImage,
    want: &Wanted,
    result: &FetchedPartition,
) {
    if result.error_code != 0 {
        ctx.metrics
            .record_error(kafka_protocol::messages::ApiKey::Fetch, result.error_code);
        return;
    }
    if result.chunks.is_empty() {
        return;
    }
    let Some(topic) = image.topic_by_id(&want.topic_id) else {
        return;
    };
    for chunk in &result.chunks {
        ctx.metrics
            .fetched(&want.topic_id, &topic.name, chunk.as_slice());
    }
}

/// The most record bytes to read from the next partition: its own limit and
/// what is left of the response's, except that until some partition has
/// returned data at least one byte is asked for, so that the first batch of
/// the first non-empty partition comes back whole even past both limits
/// (Kafka's "min one message" rule; a consumer would otherwise be stuck
/// behind a batch larger than its limits).
fn partition_read_limit(partition_max_bytes: usize, budget: usize, any_data: bool) -> usize {
    let limit = partition_max_bytes.min(budget);
    if any_data {
        limit
    } else {
        limit.max(1)
    }
}

/// Reads every wanted partition in request order within the response budget.
async fn read_all(ctx: &ShardState, wanted: &[Wanted], max_bytes: usize) -> Vec<FetchedPartition> {
    let mut budget = max_bytes;
    let mut any_data = false;
    let mut results = Vec::with_capacity(wanted.len());
    for want in wanted {
        if let Some(code) = want.error {
            results.push(failed(want.partition, code, None));
            continue;
        }
        let limit = partition_read_limit(want.partition_max_bytes, budget, any_data);
        if limit == 0 {
            results.push(offsets_only(ctx, want).await);
            continue;
        }
        let mut chunks = Vec::new();
        match ctx
            .read(
                want.topic_id,
                want.partition,
                want.fetch_offset,
                limit,
                &mut chunks,
            )
            .await
        {
            Ok(mut info) => {
                // The log returns the first batch of a read whole even past
                // the limit; only the response's first data may do that.
                // Once a batch does not fit, the response is full: later
                // partitions answer with their offsets only, so that the
                // rest of the request costs no more reads that would be
                // thrown away.
                if any_data && info.bytes > limit {
                    chunks.clear();
                    info.bytes = 0;
                    budget = 0;
                }
                any_data |= info.bytes > 0;
                budget = budget.saturating_sub(info.bytes);
                results.push(FetchedPartition {
                    partition_index: want.partition,
                    error_code: 0,
                    high_watermark: info.high_watermark,
                    last_stable_offset: info.high_watermark,
                    log_start_offset: info.log_start_offset,
                    chunks,
                });
            }
            Err(error) => {
                let bounds = match &error {
                    crate::shard_message::PartitionError::Read(
                        skein_engine::ReadError::OffsetOutOfRange {
                            log_start_offset,
                            log_end_offset,
                            ..
                        },
                    ) => Some((*log_start_offset, *log_end_offset)),
                    _ => None,
                };
                results.push(failed(want.partition, error.code(), bounds));
            }
        }
    }
    results
}

/// A partition with no records but its current offsets.
async fn offsets_only(ctx: &ShardState, want: &Wanted) -> FetchedPartition {
    match ctx
        .partition_op(want.topic_id, want.partition, PartitionOp::Offsets)
        .await
    {
        ShardReply::Offsets(Ok(offsets)) => FetchedPartition {
            partition_index: want.partition,
            error_code: 0,
            high_watermark: offsets.high_watermark,
            last_stable_offset: offsets.high_watermark,
            log_start_offset: offsets.log_start_offset,
            chunks: Vec::new(),
        },
        ShardReply::Offsets(Err(error)) => failed(want.partition, error.code(), None),
        _ => failed(want.partition, ErrorCode::NotLeaderOrFollower, None),
    }
}

/// Waits until one of the partitions gets an append past its fetch offset,
/// or `timeout` passes.
async fn wait_for_any_append(ctx: &ShardState, wanted: &[Wanted], timeout: Duration) {
    let timeout_ms = u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let waits: Vec<_> = wanted
        .iter()
        .filter(|want| want.error.is_none())
        .map(|want| {
            Box::pin(ctx.partition_op(
                want.topic_id,
                want.partition,
                PartitionOp::WaitForAppend {
                    offset: want.fetch_offset,
                    timeout_ms,
                },
            ))
        })
        .collect();
    if waits.is_empty() {
        glommio::timer::sleep(timeout).await;
        return;
    }
    let (_first, _, _rest) = select_all(waits).await;
}

fn failed(partition: i32, code: ErrorCode, bounds: Option<(i64, i64)>) -> FetchedPartition {
    let (log_start_offset, high_watermark) = bounds.unwrap_or((-1, -1));
    FetchedPartition {
        partition_index: partition,
        error_code: code.code(),
        high_watermark,
        last_stable_offset: high_watermark,
        log_start_offset,
        chunks: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::partition_read_limit;

    #[test]
    fn the_first_partition_is_bounded_by_the_response_budget() {
        // librdkafka's test 0082: max.partition.fetch.bytes 20 MB, fetch.max.bytes 1 MB.
        assert_eq!(
            partition_read_limit(20_000_000, 1_000_000, false),
            1_000_000
        );
        assert_eq!(partition_read_limit(1_000, 1_000_000, false), 1_000);
    }

    #[test]
    fn an_exhausted_budget_still_reads_the_first_batch_until_data_came_back() {
        assert_eq!(partition_read_limit(1_048_576, 0, false), 1);
        assert_eq!(partition_read_limit(0, 500, false), 1);
        assert_eq!(partition_read_limit(1_048_576, 0, true), 0);
        assert_eq!(partition_read_limit(1_048_576, 300, true), 300);
    }
}
