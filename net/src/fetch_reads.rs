//! A fetch's reads and long-poll waits, one mesh call per owner shard.
//!
//! A Fetch names partitions owned by any data shard. Asked one by one, each
//! partition of another shard costs a mesh round trip to read it and
//! another to wait on it, and every round trip wakes two threads: a
//! follower's fetch of the ~35 partitions it replicates from a leader
//! (the internal topics' among them) cost some 20 round trips per append.
//! Here the partitions are grouped by owner shard and each group is read,
//! or waited on, by its owner in one call.
//!
//! The response budget (Kafka's `max_bytes` and `fetch.max.bytes`, with its
//! "the first batch of the response comes back whole" rule) is carried from
//! group to group: the groups are read one after another, in the order
//! their first partition appears in the request, and within a group in
//! request order. So a response fills in request order per shard, not
//! across shards; Kafka promises no more (its followers and consumers
//! rotate the partition order between fetches anyway).
//!
//! Leader replication throttle (KIP-73, `replication_quota.rs`), applied by
//! the owner shard with its share of `leader.replication.throttled.rate`: a
//! follower's fetch of a partition its topic's
//! `leader.replication.throttled.replicas` names on this broker, by a
//! follower out of the ISR, gets no records while the share is exceeded
//! (the partition is still read once, for the follower's position and
//! offsets) and is not waited on; the records sent for named partitions
//! are recorded. Consumers' reads skip all of it (one branch).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::future::select_all;
use skein_controller::{MetadataImage, TopicId};
use skein_engine::{LogChunk, ShardId};
use skein_replication::{AbortedTxn, BrokerId};

use crate::error_code::ErrorCode;
use crate::fetch_response::FetchedPartition;
use crate::fetch_session::TopicRef;
use crate::replication_quota::{
    should_leader_throttle, ThrottleSide, ThrottledReplicas, LEADER_THROTTLED_REPLICAS,
};
use crate::shard_message::{FollowerRead, PartitionError, ReadInfo, ShardReply, ShardRequest};
use crate::shard_state::{now_ms, ShardState};

/// One partition's read, as its owner performs it.
#[derive(Debug, Clone, Copy)]
pub struct PartitionRead {
    /// The topic.
    pub topic_id: TopicId,
    /// The partition.
    pub partition: i32,
    /// Where the read starts.
    pub fetch_offset: i64,
    /// A follower's last fetched epoch (-1: none).
    pub last_fetched_epoch: i32,
    /// The partition's own byte limit.
    pub partition_max_bytes: usize,
}

/// Who reads, and how far.
#[derive(Debug, Clone, Copy)]
pub struct Reads {
    /// A follower's fetch (its broker id and the broker epoch it sent,
    /// -1 below Fetch v15): up to the log end, recorded by the leader.
    pub replica: Option<(BrokerId, i64)>,
    /// A read_committed consumer: up to the last stable offset.
    pub read_committed: bool,
}

/// What is left of a response's byte budget.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Bytes the response may still take.
    pub left: usize,
    /// Whether some partition has returned records: until then the first
    /// batch comes back whole even past every limit.
    pub any_data: bool,
}

/// Reads of one owner shard's partitions, for that shard.
pub struct ShardReads {
    /// In request order.
    pub reads: Vec<PartitionRead>,
    /// The budget before the first of them.
    pub budget: Budget,
    /// Who reads.
    pub kind: Reads,
}

/// The answer to [`ShardReads`].
pub struct ShardReadsDone {
    /// One per read, in order; records copied out of the owner's buffers
    /// only where they came from a disk read.
    pub results: Vec<FetchedPartition<Bytes>>,
    /// The budget after the last of them.
    pub budget: Budget,
    /// Whether the leader throttle held back a partition's records.
    pub throttled: bool,
}

/// Waits on one owner shard's partitions, for that shard.
pub struct ShardWaits {
    /// `(topic, partition, fetch offset)`.
    pub partitions: Vec<(TopicId, i32, i64)>,
    /// How long the owner waits at most.
    pub timeout_ms: u64,
    /// Who waits: a follower on the log end, a read_committed consumer on
    /// the last stable offset, another on the high watermark.
    pub kind: Reads,
}

/// Where a partition of a fetch stands.
pub(crate) struct Wanted {
    /// The topic as the request (or session) names it.
    pub topic: TopicRef,
    /// The read it asks for.
    pub read: PartitionRead,
    /// Set when the partition cannot be read at all.
    pub error: Option<ErrorCode>,
}

/// Reads every wanted partition within the response's `max_bytes`, each
/// owner shard's partitions in one call; the results are in request order,
/// with whether the leader throttle held back a partition's records.
pub(crate) async fn read_all(
    ctx: &ShardState,
    wanted: &[Wanted],
    max_bytes: usize,
    kind: Reads,
) -> (Vec<FetchedPartition>, bool) {
    let mut results: Vec<Option<FetchedPartition>> = wanted
        .iter()
        .map(|want| {
            want.error
                .map(|code| failed(want.read.partition, code, None))
        })
        .collect();
    let mut budget = Budget {
        left: max_bytes,
        any_data: false,
    };
    let mut throttled = false;
    for (owner, indexes) in by_owner(ctx, wanted) {
        let reads: Vec<PartitionRead> = indexes
            .iter()
            .filter_map(|&index| wanted.get(index))
            .map(|want| want.read)
            .collect();
        let group: Vec<FetchedPartition> = if owner == ctx.shard {
            let mut group = Vec::with_capacity(reads.len());
            for read in &reads {
                group.push(read_within(ctx, read, &mut budget, kind, &mut throttled).await);
            }
            group
        } else {
            let request = ShardRequest::Reads(ShardReads {
                reads,
                budget,
                kind,
            });
            match ctx.mesh.call(owner, request).await {
                Ok(ShardReply::Reads(done)) => {
                    budget = done.budget;
                    throttled |= done.throttled;
                    done.results
                        .into_iter()
                        .map(FetchedPartition::into_local)
                        .collect()
                }
                // The owner is gone (shutting down) or answered another
                // operation's reply (our bug): each partition says so.
                _ => Vec::new(),
            }
        };
        let mut group = group.into_iter();
        for index in indexes {
            let Some(slot) = results.get_mut(index) else {
                continue;
            };
            *slot = group.next();
        }
    }
    let results = results
        .into_iter()
        .zip(wanted)
        .map(|(result, want)| {
            result.unwrap_or_else(|| {
                failed(
                    want.read.partition,
                    PartitionError::OwnerUnavailable.code(),
                    None,
                )
            })
        })
        .collect();
    (results, throttled)
}

/// Serves [`ShardReads`] from another shard: the partitions are this
/// shard's, so every read is local.
pub async fn serve_reads(ctx: &ShardState, request: ShardReads) -> ShardReply {
    let mut budget = request.budget;
    let mut throttled = false;
    let mut results = Vec::with_capacity(request.reads.len());
    for read in &request.reads {
        let result = read_within(ctx, read, &mut budget, request.kind, &mut throttled).await;
        results.push(result.into_sendable());
    }
    ShardReply::Reads(ShardReadsDone {
        results,
        budget,
        throttled,
    })
}

/// Waits until one of the readable wanted partitions gets what its reader
/// waits for past its offset in `past` (one per wanted partition, in the
/// same order: its fetch offset when the read found nothing, the offset
/// after what it found otherwise), or `timeout` passes; each other shard's
/// partitions are waited on by their owner in one call. Returns whether
/// something (an append, a partition going away) ended the wait.
pub(crate) async fn wait_for_any(
    ctx: &ShardState,
    wanted: &[Wanted],
    past: &[i64],
    timeout: Duration,
    kind: Reads,
) -> bool {
    debug_assert_eq!(wanted.len(), past.len());
    let timeout_ms = u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let mut waits: Vec<Pin<Box<dyn Future<Output = ()> + '_>>> = Vec::new();
    for (owner, indexes) in by_owner(ctx, wanted) {
        let partitions: Vec<(TopicId, i32, i64)> = indexes
            .iter()
            .filter_map(|&index| Some((wanted.get(index)?, *past.get(index)?)))
            .map(|(want, offset)| (want.read.topic_id, want.read.partition, offset))
            .collect();
        if owner == ctx.shard {
            let throttle = LeaderThrottle::of(ctx, kind);
            for (topic_id, partition, offset) in partitions {
                if throttle.holds_back(ctx, topic_id, partition) {
                    continue;
                }
                waits.push(Box::pin(wait_one(
                    ctx, topic_id, partition, offset, timeout_ms, kind,
                )));
            }
        } else {
            let request = ShardRequest::Waits(ShardWaits {
                partitions,
                timeout_ms,
                kind,
            });
            waits.push(Box::pin(async move {
                // A gone owner ends the wait; the next read reports it.
                drop(ctx.mesh.call(owner, request).await);
            }));
        }
    }
    if waits.is_empty() {
        glommio::timer::sleep(timeout).await;
        return false;
    }
    glommio::timer::timeout(timeout, async {
        select_all(waits).await;
        Ok(())
    })
    .await
    .is_ok()
}

/// Serves [`ShardWaits`] from another shard: resolves when one of its
/// partitions (this shard's) gets what the reader waits for, or at the
/// timeout.
pub async fn serve_waits(ctx: &ShardState, request: ShardWaits) -> ShardReply {
    let throttle = LeaderThrottle::of(ctx, request.kind);
    let waits: Vec<_> = request
        .partitions
        .iter()
        .filter(|&&(topic_id, partition, _)| !throttle.holds_back(ctx, topic_id, partition))
        .map(|&(topic_id, partition, offset)| {
            Box::pin(wait_one(
                ctx,
                topic_id,
                partition,
                offset,
                request.timeout_ms,
                request.kind,
            ))
        })
        .collect();
    let timeout = Duration::from_millis(request.timeout_ms);
    if waits.is_empty() {
        // Every partition is held back: the wait lasts its whole time.
        glommio::timer::sleep(timeout).await;
    } else {
        // Timing out is the normal end of a long-poll, not an error.
        if glommio::timer::timeout(timeout, async {
            select_all(waits).await;
            Ok(())
        })
        .await
        .is_err()
        {
            tracing::trace!("long-poll wait timed out");
        }
    }
    ShardReply::Waited
}

/// One partition's wait, as `kind` waits.
async fn wait_one(
    ctx: &ShardState,
    topic_id: TopicId,
    partition: i32,
    offset: i64,
    timeout_ms: u64,
    kind: Reads,
) {
    if kind.read_committed {
        ctx.wait_for_stable(topic_id, partition, offset, timeout_ms)
            .await;
    } else {
        ctx.wait_for_append(
            topic_id,
            partition,
            offset,
            timeout_ms,
            kind.replica.is_some(),
        )
        .await;
    }
}

/// The readable partitions' indexes grouped by owner shard, the groups in
/// the order their first partition appears.
fn by_owner(ctx: &ShardState, wanted: &[Wanted]) -> Vec<(ShardId, Vec<usize>)> {
    let mut groups: Vec<(ShardId, Vec<usize>)> = Vec::new();
    for (index, want) in wanted.iter().enumerate() {
        if want.error.is_some() {
            continue;
        }
        let owner = ctx.owner(&want.read.topic_id, want.read.partition);
        match groups.iter_mut().find(|(shard, _)| *shard == owner) {
            Some((_, indexes)) => indexes.push(index),
            None => groups.push((owner, vec![index])),
        }
    }
    groups
}

/// Reads one partition within what is left of `budget`, and uses it up;
/// sets `throttled` when the leader throttle held its records back.
async fn read_within(
    ctx: &ShardState,
    read: &PartitionRead,
    budget: &mut Budget,
    kind: Reads,
    throttled: &mut bool,
) -> FetchedPartition {
    let limit = partition_read_limit(read.partition_max_bytes, budget.left, budget.any_data);
    if limit == 0 {
        return offsets_only(ctx, read).await;
    }
    let throttle = LeaderThrottle::of(ctx, kind);
    let held_back = throttle.holds_back(ctx, read.topic_id, read.partition);
    // A held-back partition is still read (its smallest read: the leader
    // records the follower's fetch offset and answers its offsets and any
    // diverging epoch, as Kafka's readFromLog), but its records are dropped.
    let limit = if held_back { 1 } else { limit };
    let mut chunks = Vec::new();
    match read_one(ctx, read, limit, kind, &mut chunks).await {
        Ok((mut info, mut aborted_transactions)) => {
            if held_back {
                chunks.clear();
                info.bytes = 0;
                *throttled = true;
            }
            // The log returns the first batch of a read whole even past
            // the limit; only the response's first data may do that. Once
            // a batch does not fit, the response is full: later partitions
            // answer with their offsets only, so that the rest of the
            // request costs no more reads that would be thrown away.
            if budget.any_data && info.bytes > limit {
                chunks.clear();
                info.bytes = 0;
                budget.left = 0;
                if let Some(aborted) = aborted_transactions.as_mut() {
                    aborted.clear();
                }
            }
            budget.any_data |= info.bytes > 0;
            budget.left = budget.left.saturating_sub(info.bytes);
            throttle.record(ctx, read, info.bytes);
            FetchedPartition {
                partition_index: read.partition,
                error_code: 0,
                high_watermark: info.high_watermark,
                last_stable_offset: info.last_stable_offset,
                log_start_offset: info.log_start_offset,
                diverging_epoch: info
                    .diverging_epoch
                    .map(|diverging| (diverging.leader_epoch, diverging.end_offset)),
                aborted_transactions,
                chunks,
            }
        }
        Err(error) => {
            let bounds = match &error {
                PartitionError::Read(skein_engine::ReadError::OffsetOutOfRange {
                    log_start_offset,
                    log_end_offset,
                    ..
                }) => Some((*log_start_offset, *log_end_offset)),
                _ => None,
            };
            failed(read.partition, error.code(), bounds)
        }
    }
}

/// The leader throttle as one fetch's reads on this shard see it: `Some`
/// only for a follower's fetch while this shard's leader rate is bounded.
struct LeaderThrottle {
    follower_and_image: Option<(BrokerId, std::sync::Arc<MetadataImage>)>,
}

impl LeaderThrottle {
    fn of(ctx: &ShardState, kind: Reads) -> LeaderThrottle {
        LeaderThrottle {
            follower_and_image: kind
                .replica
                .filter(|_| ctx.leader_quota.borrow().is_bounded())
                .map(|(follower, _)| (follower, ctx.image())),
        }
    }

    /// Whether the follower's fetch of the partition gets no records now:
    /// [`should_leader_throttle`] on the topic's
    /// `leader.replication.throttled.replicas`, this broker as the leader,
    /// the partition's ISR and the shard's leader quota. Allocates nothing.
    fn holds_back(&self, ctx: &ShardState, topic_id: TopicId, partition: i32) -> bool {
        let Some((follower, image)) = &self.follower_and_image else {
            return false;
        };
        let Some(topic) = image.topic_by_id(&topic_id) else {
            return false;
        };
        let in_sync = image
            .partition(&topic_id, partition)
            .is_some_and(|state| state.isr.contains(follower));
        should_leader_throttle(
            topic
                .configs
                .get(LEADER_THROTTLED_REPLICAS)
                .map(String::as_str),
            partition,
            ctx.config.node_id(),
            in_sync,
            &mut ctx.leader_quota.borrow_mut(),
            now_ms(),
        )
    }

    /// Records `bytes` sent to the follower for `read` against the shard's
    /// leader quota when its topic's `leader.replication.throttled.replicas`
    /// names the partition on this broker, in sync or not (Kafka's
    /// `sizeOfThrottledPartitions`: all throttled traffic counts).
    fn record(&self, ctx: &ShardState, read: &PartitionRead, bytes: usize) {
        let Some((_, image)) = &self.follower_and_image else {
            return;
        };
        if bytes == 0 {
            return;
        }
        let listed = image.topic_by_id(&read.topic_id).is_some_and(|topic| {
            ThrottledReplicas::lists(
                topic
                    .configs
                    .get(LEADER_THROTTLED_REPLICAS)
                    .map(String::as_str),
                read.partition,
                ctx.config.node_id(),
            )
        });
        if !listed {
            return;
        }
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        ctx.leader_quota.borrow_mut().record(bytes, now_ms());
        ctx.metrics
            .replication_throttled(ThrottleSide::Leader, bytes);
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

/// Reads one partition as `kind` asks: the aborted transactions are
/// `Some` for a read_committed read.
async fn read_one(
    ctx: &ShardState,
    read: &PartitionRead,
    limit: usize,
    kind: Reads,
    chunks: &mut Vec<LogChunk>,
) -> Result<(ReadInfo, Option<Vec<AbortedTxn>>), PartitionError> {
    if kind.read_committed {
        let (info, aborted) = ctx
            .read_committed(
                read.topic_id,
                read.partition,
                read.fetch_offset,
                limit,
                chunks,
            )
            .await?;
        return Ok((info, Some(aborted)));
    }
    let info = ctx
        .read(
            read.topic_id,
            read.partition,
            read.fetch_offset,
            limit,
            kind.replica.map(|(broker, broker_epoch)| FollowerRead {
                broker,
                broker_epoch,
                last_fetched_epoch: read.last_fetched_epoch,
            }),
            chunks,
        )
        .await?;
    Ok((info, None))
}

/// A partition with no records but its current offsets.
async fn offsets_only(ctx: &ShardState, read: &PartitionRead) -> FetchedPartition {
    match ctx.offsets(read.topic_id, read.partition).await {
        Ok(offsets) => FetchedPartition {
            partition_index: read.partition,
            error_code: 0,
            high_watermark: offsets.high_watermark,
            last_stable_offset: offsets.last_stable_offset,
            log_start_offset: offsets.log_start_offset,
            diverging_epoch: None,
            aborted_transactions: None,
            chunks: Vec::new(),
        },
        Err(error) => failed(read.partition, error.code(), None),
    }
}

/// A partition answered with `code`; `bounds` (log start, log end) for
/// OFFSET_OUT_OF_RANGE, else -1 for both.
pub(crate) fn failed<C>(
    partition: i32,
    code: ErrorCode,
    bounds: Option<(i64, i64)>,
) -> FetchedPartition<C> {
    let (log_start_offset, high_watermark) = bounds.unwrap_or((-1, -1));
    FetchedPartition {
        partition_index: partition,
        error_code: code.code(),
        high_watermark,
        last_stable_offset: high_watermark,
        log_start_offset,
        diverging_epoch: None,
        aborted_transactions: None,
        chunks: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_partition_is_bounded_by_the_response_budget() {
        assert_eq!(partition_read_limit(1_000_000, 500, false), 500);
        assert_eq!(partition_read_limit(1_000_000, 500, true), 500);
    }

    #[test]
    fn an_exhausted_budget_still_reads_the_first_batch_until_data_came_back() {
        assert_eq!(partition_read_limit(1_000_000, 0, false), 1);
        assert_eq!(partition_read_limit(1_000_000, 0, true), 0);
    }
}
