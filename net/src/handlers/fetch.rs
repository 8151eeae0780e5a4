//! Fetch: reads whole batches from each partition's owner shard and answers
//! with the zero-copy writer. A long-poll (`min_bytes` not yet reached) waits
//! until an append wakes one of the partitions or `max_wait_ms` passes:
//! woken by appends, never by polling.
//!
//! Fetch sessions (KIP-227, see `fetch_session.rs`) decide which partitions
//! are read and which are answered: a full fetch reads and answers the
//! request's partitions and may open a session; an incremental fetch reads
//! the session's partitions and answers only those with records, an error,
//! or offsets the fetcher has not been told. Sessions live on the shard of
//! the connection that opened them; a fetch naming a session of another
//! shard gets FETCH_SESSION_ID_NOT_FOUND and the client opens a new one.
//!
//! What an idle poll costs: an incremental fetch of a session whose last
//! answer was empty, while no log of the shard changed, reads nothing and
//! registers one waiter on the shard's log change signal; otherwise the
//! partitions are read once, and a long-poll that finds nothing waits on
//! each partition under one timer and answers at its deadline without
//! reading them again. Reads and waits go to each owner shard in one call
//! for all of its partitions (`fetch_reads.rs`). `benches/scripts/fetch_session_bench.py` measures it.

use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_request::FetchRequest;
use kafka_protocol::messages::TopicName;
use skein_controller::{MetadataImage, TopicId};
use skein_engine::{BatchHeader, LogChunk, BATCH_HEADER_BYTES};
use skein_replication::BrokerId;
use uuid::Uuid;

use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::{fetch_session_error, ErrorCode};
use crate::fetch_reads::{read_all, wait_for_any, PartitionRead, Reads, Wanted};
use crate::fetch_response::{write_fetch_response, FetchedPartition, FetchedTopic};
use crate::fetch_session::{
    CachedPartition, FetchContext, FetchSessionError, LogState, PartitionOutcome, PartitionRequest,
    SessionRequest, TopicRef, FINAL_EPOCH, INVALID_SESSION_ID,
};
use crate::frame::RequestHeader;
use crate::partition_leadership::check_leader;
use crate::response::{EncodeError, Response};
use crate::shard_state::{now_ms, ShardState};

/// Fetch v13 names topics by id.
const TOPIC_IDS_FROM_VERSION: i16 = 13;
/// Fetch v7 carries a session id and epoch.
const SESSIONS_FROM_VERSION: i16 = 7;
/// Fetch v15 moves the replica id into `replica_state`.
const REPLICA_STATE_FROM_VERSION: i16 = 15;
/// The longest a fetch may wait, whatever it asks for.
const MAX_WAIT_MS_CAP: u64 = 30_000;

/// Answers a Fetch request. Kafka: a consumer needs READ on each topic, a
/// follower (replica id >= 0) CLUSTER_ACTION on the cluster; refused
/// partitions are answered TOPIC_AUTHORIZATION_FAILED.
///
/// # Errors
/// [`EncodeError`] only for a response that cannot be encoded (a bug).
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    header: &RequestHeader,
    request: FetchRequest,
) -> Result<Response, EncodeError> {
    let version = header.api_version;
    let by_id = version >= TOPIC_IDS_FROM_VERSION;
    let image = ctx.image();
    let max_wait = Duration::from_millis(
        u64::try_from(request.max_wait_ms)
            .unwrap_or(0)
            .min(MAX_WAIT_MS_CAP),
    );
    let deadline = Instant::now() + max_wait;
    let (session_id, epoch) = if version >= SESSIONS_FROM_VERSION {
        (request.session_id, request.session_epoch)
    } else {
        (INVALID_SESSION_ID, FINAL_EPOCH)
    };
    let (replica_id, replica_epoch) = if version >= REPLICA_STATE_FROM_VERSION {
        (
            request.replica_state.replica_id.0,
            request.replica_state.replica_epoch,
        )
    } else {
        (request.replica_id.0, -1)
    };
    let session_request = SessionRequest {
        session_id,
        epoch,
        privileged: replica_id >= 0,
        uses_topic_ids: by_id,
    };
    let named = named_partitions(&image, &request, by_id);
    let forgotten = request.forgotten_topics_data.iter().flat_map(|topic| {
        let name = topic_ref(&topic.topic, &topic.topic_id, by_id);
        topic
            .partitions
            .iter()
            .map(move |partition| (name.clone(), *partition))
    });
    let state = log_state(ctx, &image);
    let context = ctx.fetch_sessions.borrow_mut().new_context(
        session_request,
        named.iter().cloned(),
        forgotten,
        state,
        now_ms_u64(),
    );
    let mut context = match context {
        Ok(context) => context,
        Err(error) => {
            if !ctx.fetch_sessions.borrow().is_ours(session_id) {
                tracing::debug!(session_id, "fetch names a session of another shard");
            }
            return session_error(ctx, header, &error, INVALID_SESSION_ID);
        }
    };
    if let FetchContext::Quiet {
        session_id,
        next_epoch,
    } = context
    {
        // Nothing this session fetches changed since its last, empty,
        // answer: wait for any log of the shard to change, touching none.
        let remaining = deadline.saturating_duration_since(Instant::now());
        let changed = glommio::timer::timeout(remaining, async {
            ctx.log_changes.wait_past(state.log_generation).await;
            Ok(())
        })
        .await
        .is_ok();
        if !changed {
            publish_session_gauges(ctx);
            return write_fetch_response(header, 0, session_id, Vec::new());
        }
        let resumed = ctx.fetch_sessions.borrow().resume(session_id, next_epoch);
        context = match resumed {
            Ok(Some(partitions)) => FetchContext::Incremental {
                session_id,
                next_epoch,
                partitions,
            },
            Ok(None) => return write_fetch_response(header, 0, session_id, Vec::new()),
            Err(error) => return session_error(ctx, header, &error, session_id),
        };
    }
    let answered = match &context {
        FetchContext::Incremental { partitions, .. } => partitions.as_slice(),
        FetchContext::Sessionless | FetchContext::Full | FetchContext::Quiet { .. } => {
            named.as_slice()
        }
    };
    // One check per topic of the request (one per request for a
    // follower), allocating nothing.
    let follower_allowed = replica_id < 0 || caller.may_on_cluster(AclOperation::ClusterAction);
    let topic_allowed = |name: &str| {
        if replica_id >= 0 {
            follower_allowed
        } else {
            caller.may_on_topic(AclOperation::Read, name)
        }
    };
    let mut wanted = plan_reads(&image, answered, by_id, &topic_allowed);
    // KIP-903: a fetch from an earlier incarnation of the broker (its
    // registration has a newer epoch) must not update what the leader
    // knows of it (Kafka's `updateFetchStateOrThrow`).
    let stale_incarnation = replica_id >= 0
        && replica_epoch >= 0
        && image
            .broker(replica_id)
            .is_some_and(|broker| broker.broker_epoch > replica_epoch);
    if stale_incarnation {
        for want in &mut wanted {
            want.error.get_or_insert(ErrorCode::NotLeaderOrFollower);
        }
    }
    // A fetch from a broker (replica id >= 0) is a follower's: it reads up
    // to the log end and is recorded by the leader; the partition refuses a
    // broker that holds no replica.
    let replica = (replica_id >= 0).then_some((replica_id, replica_epoch.max(-1)));
    let (results, read_state, throttled) =
        long_poll(ctx, &request, &wanted, deadline, replica).await;
    let outcomes: Vec<PartitionOutcome> = results.iter().map(outcome).collect();
    // An answer that read only this shard's partitions and found nothing
    // lets the session skip the reads until the shard changes; not when
    // the leader throttle held records back (they must be read again, not
    // waited for), and not for a follower: it reads to the log end, which
    // an append moves without changing the shard's logs' generation (that
    // waits for the append to be durable), and each of its fetches must
    // reach the partitions to be recorded.
    let quiet = (replica_id < 0
        && !throttled
        && outcomes
            .iter()
            .all(|outcome| outcome.error_code == 0 && !outcome.has_records))
    .then_some(read_state)
    .filter(|_| {
        wanted
            .iter()
            .all(|want| ctx.owner(&want.read.topic_id, want.read.partition) == ctx.shard)
    });
    let (selected, response_session_id) = match context {
        FetchContext::Sessionless | FetchContext::Quiet { .. } => (None, INVALID_SESSION_ID),
        FetchContext::Full => {
            let mut partitions = named;
            for (cached, outcome) in partitions.iter_mut().zip(&outcomes) {
                cached.remember(outcome);
            }
            let id = ctx.fetch_sessions.borrow_mut().create(
                session_request.privileged,
                by_id,
                partitions,
                quiet,
                now_ms_u64(),
            );
            (None, id)
        }
        FetchContext::Incremental {
            session_id,
            next_epoch,
            partitions,
        } => {
            let completed = ctx.fetch_sessions.borrow_mut().complete_incremental(
                session_id,
                next_epoch,
                &partitions,
                &outcomes,
                quiet,
                now_ms_u64(),
            );
            match completed {
                Ok(selected) => (Some(selected), session_id),
                Err(error) => return session_error(ctx, header, &error, session_id),
            }
        }
    };
    publish_session_gauges(ctx);
    let mut topics: Vec<FetchedTopic> = Vec::new();
    for (index, (want, result)) in wanted.iter().zip(results).enumerate() {
        let answer = selected
            .as_ref()
            .is_none_or(|selected| selected.get(index).copied().unwrap_or(true));
        if !answer {
            continue;
        }
        count_fetched(ctx, &image, want, &result);
        let same_topic = topics.last().is_some_and(|last| match &want.topic {
            TopicRef::Id(id) => last.topic_id == *id,
            TopicRef::Name(name) => last.name == *name,
        });
        if !same_topic {
            let (name, topic_id) = match &want.topic {
                TopicRef::Id(id) => (TopicName::default(), *id),
                TopicRef::Name(name) => (name.clone(), Uuid::nil()),
            };
            topics.push(FetchedTopic {
                name,
                topic_id,
                partitions: Vec::new(),
            });
        }
        if let Some(topic) = topics.last_mut() {
            topic.partitions.push(result);
        }
    }
    write_fetch_response(header, 0, response_session_id, topics)
}

/// The response to a fetch that cannot use its session: the error, no
/// partitions.
fn session_error(
    ctx: &ShardState,
    header: &RequestHeader,
    error: &FetchSessionError,
    session_id: i32,
) -> Result<Response, EncodeError> {
    let code = fetch_session_error(error);
    ctx.metrics
        .record_error(kafka_protocol::messages::ApiKey::Fetch, code.code());
    write_fetch_response(header, code.code(), session_id, Vec::new())
}

/// The shard's logs and metadata now.
fn log_state(ctx: &ShardState, image: &MetadataImage) -> LogState {
    LogState {
        log_generation: ctx.log_changes.generation(),
        image_version: image.version,
    }
}

/// Publishes the shard's session counts (two relaxed stores).
fn publish_session_gauges(ctx: &ShardState) {
    let sessions = ctx.fetch_sessions.borrow();
    ctx.metrics
        .set_fetch_sessions(sessions.len(), sessions.partitions_cached());
}

/// The wall clock in ms for the session cache (0 before 1970).
fn now_ms_u64() -> u64 {
    u64::try_from(now_ms()).unwrap_or(0)
}

/// How a request names a topic.
fn topic_ref(name: &TopicName, topic_id: &Uuid, by_id: bool) -> TopicRef {
    if by_id {
        TopicRef::Id(*topic_id)
    } else {
        TopicRef::Name(name.clone())
    }
}

/// The request's partitions as a session caches them, with the topic id
/// each resolves to now (all zero for an unknown topic).
fn named_partitions(
    image: &MetadataImage,
    request: &FetchRequest,
    by_id: bool,
) -> Vec<CachedPartition> {
    let count = request.topics.iter().map(|t| t.partitions.len()).sum();
    let mut named = Vec::with_capacity(count);
    for topic in &request.topics {
        let name = topic_ref(&topic.topic, &topic.topic_id, by_id);
        let topic_id = super::resolve_topic(image, &topic.topic, &topic.topic_id, by_id)
            .map(|found| found.topic_id)
            .unwrap_or_default();
        for partition in &topic.partitions {
            named.push(CachedPartition::new(
                name.clone(),
                partition.partition,
                topic_id,
                PartitionRequest {
                    fetch_offset: partition.fetch_offset,
                    partition_max_bytes: partition.partition_max_bytes,
                    current_leader_epoch: partition.current_leader_epoch,
                    // -1 as decoded before v12, where the field is absent.
                    last_fetched_epoch: partition.last_fetched_epoch,
                },
            ));
        }
    }
    named
}

/// Resolves each partition to answer against the image, and checks that
/// `topic_allowed` lets the caller read its topic, once per run of
/// partitions of the same topic.
fn plan_reads(
    image: &MetadataImage,
    partitions: &[CachedPartition],
    by_id: bool,
    topic_allowed: &dyn Fn(&str) -> bool,
) -> Vec<Wanted> {
    let mut wanted = Vec::with_capacity(partitions.len());
    let mut resolved: Option<(&TopicRef, Resolution)> = None;
    for cached in partitions {
        let topic = match &resolved {
            Some((topic, found)) if *topic == &cached.topic => *found,
            _ => {
                let found = resolve(image, cached, by_id, topic_allowed);
                resolved = Some((&cached.topic, found));
                found
            }
        };
        let error = match topic {
            Err(code) => Some(code),
            // A topic deleted and created again under the same name while a
            // session named it: the fetch offset belongs to the old topic.
            Ok((topic_id, _))
                if !by_id && cached.topic_id != [0; 16] && cached.topic_id != topic_id =>
            {
                Some(ErrorCode::InconsistentTopicId)
            }
            Ok((_, count)) if !(0..count).contains(&cached.partition) => {
                Some(ErrorCode::UnknownTopicOrPartition)
            }
            Ok((topic_id, _)) => image.topic_by_id(&topic_id).and_then(|topic| {
                check_leader(
                    image,
                    topic,
                    cached.partition,
                    cached.request.current_leader_epoch,
                )
                .err()
            }),
        };
        wanted.push(Wanted {
            topic: cached.topic.clone(),
            read: PartitionRead {
                topic_id: topic.map(|(topic_id, _)| topic_id).unwrap_or_default(),
                partition: cached.partition,
                fetch_offset: cached.request.fetch_offset,
                last_fetched_epoch: cached.request.last_fetched_epoch,
                partition_max_bytes: usize::try_from(cached.request.partition_max_bytes)
                    .unwrap_or(0),
            },
            error,
        });
    }
    wanted
}

/// A topic's id and partition count, or why it cannot be fetched.
type Resolution = Result<(TopicId, i32), ErrorCode>;

/// A cached partition's topic in the image: its id and partition count.
/// As in Kafka, a topic named by name is checked before its existence
/// (TOPIC_AUTHORIZATION_FAILED either way), one named by id after.
fn resolve(
    image: &MetadataImage,
    cached: &CachedPartition,
    by_id: bool,
    topic_allowed: &dyn Fn(&str) -> bool,
) -> Resolution {
    let found = match &cached.topic {
        TopicRef::Id(id) => super::resolve_topic(image, &TopicName::default(), id, by_id),
        TopicRef::Name(name) => {
            if !topic_allowed(name.as_str()) {
                return Err(ErrorCode::TopicAuthorizationFailed);
            }
            super::resolve_topic(image, name, &Uuid::nil(), by_id)
        }
    };
    let topic = found?;
    if matches!(cached.topic, TopicRef::Id(_)) && !topic_allowed(&topic.name) {
        return Err(ErrorCode::TopicAuthorizationFailed);
    }
    Ok((topic.topic_id, topic.partitions))
}

/// What the session needs to know of a read.
fn outcome(result: &FetchedPartition) -> PartitionOutcome {
    PartitionOutcome {
        error_code: result.error_code,
        high_watermark: result.high_watermark,
        last_stable_offset: result.last_stable_offset,
        log_start_offset: result.log_start_offset,
        has_records: !result.chunks.is_empty() || result.diverging_epoch.is_some(),
    }
}

/// Reads `wanted` until `min_bytes` are there, a partition fails, or the
/// deadline passes. Returns the reads, the shard's state from just before
/// them, and whether the leader throttle held back a partition's records
/// (such a partition does not end the wait: Kafka's DelayedFetch leaves
/// its bytes out too).
async fn long_poll(
    ctx: &ShardState,
    request: &FetchRequest,
    wanted: &[Wanted],
    deadline: Instant,
    replica: Option<(BrokerId, i64)>,
) -> (Vec<FetchedPartition>, LogState, bool) {
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    // A consumer's read_committed fetch (isolation level 1) reads up to the
    // last stable offset and gets the aborted transactions; a follower
    // reads up to the log end whatever it asks.
    let read_committed = replica.is_none() && request.isolation_level == 1;
    let reads = Reads {
        replica,
        read_committed,
    };
    // Kafka caps the response by the request's `max_bytes` and the broker's
    // `fetch.max.bytes`, whichever is smaller.
    let max_bytes = usize::try_from(request.max_bytes)
        .unwrap_or(0)
        .min(ctx.config.fetch_max_bytes());
    loop {
        let image = ctx.image();
        let state = log_state(ctx, &image);
        let (results, throttled) = read_all(ctx, wanted, max_bytes, reads).await;
        let total: usize = results
            .iter()
            .map(|p| p.chunks.iter().map(LogChunk::len).sum::<usize>())
            .sum();
        // A diverging epoch is answered at once, as an error is.
        let any_error = results
            .iter()
            .any(|p| p.error_code != 0 || p.diverging_epoch.is_some());
        let now = Instant::now();
        if total >= min_bytes.max(1) || any_error || now >= deadline || wanted.is_empty() {
            return (results, state, throttled);
        }
        if total > 0 {
            // Records below min_bytes: let go of the log's buffers while
            // waiting for an append past what was read (not past the fetch
            // offset, which the log end has already passed: that wait
            // would end at once and spin on reads until the deadline), and
            // read again from the fetch offsets.
            let past: Vec<i64> = wanted
                .iter()
                .zip(&results)
                .map(|(want, result)| offset_after(want.read.fetch_offset, &result.chunks))
                .collect();
            drop(results);
            wait_for_any(ctx, wanted, &past, deadline - now, reads).await;
            continue;
        }
        // Nothing to read: unless an append (or a deleted partition) wakes
        // the wait, this answer still holds at the deadline, so an idle
        // long-poll reads its partitions once, not twice. Only a log start
        // offset moved by retention meanwhile is reported a poll late.
        let past: Vec<i64> = wanted.iter().map(|want| want.read.fetch_offset).collect();
        if !wait_for_any(ctx, wanted, &past, deadline - now, reads).await {
            return (results, state, throttled);
        }
    }
}

/// The offset after the last whole batch in `chunks` (read from
/// `fetch_offset`), or `fetch_offset` when they hold none: where a wait for
/// more records starts.
fn offset_after(fetch_offset: i64, chunks: &[LogChunk]) -> i64 {
    let mut next = fetch_offset;
    for chunk in chunks {
        let mut bytes = chunk.as_slice();
        while let Some(header) = BatchHeader::read(bytes) {
            let Some(rest) = usize::try_from(header.total_bytes())
                .ok()
                .filter(|&total| total >= BATCH_HEADER_BYTES)
                .and_then(|total| bytes.get(total..))
            else {
                break;
            };
            next = next.max(header.last_offset().saturating_add(1));
            bytes = rest;
        }
    }
    next
}

/// Adds a fetched partition to the shard's counters.
fn count_fetched(
    ctx: &ShardState,
    image: &MetadataImage,
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
    let Some(topic) = image.topic_by_id(&want.read.topic_id) else {
        return;
    };
    for chunk in &result.chunks {
        ctx.metrics
            .fetched(&want.read.topic_id, &topic.name, chunk.as_slice());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use skein_engine::test_batch::BatchBuilder;

    /// A batch of `records` records starting at `base_offset`.
    fn batch_at(base_offset: i64, records: usize) -> Vec<u8> {
        let mut batch = BatchBuilder::new(0).records(records, 10, 1).build();
        batch[..8].copy_from_slice(&base_offset.to_be_bytes());
        batch
    }

    #[test]
    fn a_min_bytes_wait_starts_after_the_last_batch_read() {
        assert_eq!(offset_after(40, &[]), 40);
        // Offsets 40..=42 in one chunk, 43..=44 and 45..=48 in the next.
        let first = LogChunk::Memory(Bytes::from(batch_at(40, 3)));
        let second = LogChunk::Memory(Bytes::from([batch_at(43, 2), batch_at(45, 4)].concat()));
        assert_eq!(offset_after(40, &[first, second]), 49);
    }

    #[test]
    fn a_cut_batch_ends_the_walk_at_the_last_whole_batch() {
        let whole = batch_at(40, 3);
        let both = [whole.clone(), batch_at(43, 2)].concat();
        for cut in whole.len()..both.len() {
            let chunk = LogChunk::Memory(Bytes::copy_from_slice(&both[..cut]));
            assert_eq!(offset_after(40, &[chunk]), 43, "cut at {cut}");
        }
        for cut in 0..whole.len() {
            let chunk = LogChunk::Memory(Bytes::copy_from_slice(&both[..cut]));
            assert_eq!(offset_after(40, &[chunk]), 40, "cut at {cut}");
        }
    }
}
