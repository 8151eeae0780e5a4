//! Replica fetchers: how a follower replica pulls its leader's log, as
//! Kafka's `ReplicaFetcherThread` does. Per data shard there is one fetcher
//! per (leader broker, fetcher id), fetcher id = hash(topic, partition) %
//! `num.replica.fetchers`; each sends one Fetch (v15, replica state = this
//! node's id and broker epoch) for every partition of the shard it serves,
//! over the leader's inter-broker listener, appends what comes back with
//! [`Partition::append_as_follower`] and learns the leader's high
//! watermark. The fetches run in an incremental fetch session
//! (`follower_session.rs`, KIP-227): after the first, a fetch names only
//! the partitions whose position moved, and the leader answers only the
//! partitions with something new.
//!
//! Membership follows the metadata image: before every request a fetcher
//! takes the partitions of the shard that follow its leader and hash to it
//! (so a partition that becomes leader, or follows another broker, leaves
//! at once), kept from the last request unless the image or the shard's
//! partition table changed since; the shard's supervisor starts a fetcher
//! for a (leader, fetcher id) that has partitions and none running, and a
//! fetcher with no partitions left ends.
//!
//! Truncation, as Kafka's `AbstractFetcherThread`: a partition starts each
//! leader epoch *truncating*. One with leader epochs asks its leader
//! OffsetForLeaderEpoch (v4, replica id = this node) about its latest epoch
//! and cuts its log to where that epoch ends on both logs
//! ([`Partition::truncate_to_leader_epoch`], KIP-101/KIP-279: an answer
//! naming an epoch the follower does not know cuts to that epoch's floor
//! and asks again); one without epochs cuts to its high watermark. Then it
//! *fetches*, naming its latest epoch as `last_fetched_epoch`: a leader
//! that finds the follower's position off its log answers a diverging epoch
//! (KIP-595), and the follower truncates by the same rules and fetches
//! again. OFFSET_OUT_OF_RANGE asks the leader's log end and start
//! (ListOffsets with the replica id): a follower ahead of the leader cuts to
//! its end, one behind its log start empties its log and starts there.
//!
//! Throttling (KIP-73, follower side): a replica named by its topic's
//! `follower.replication.throttled.replicas` and out of the ISR (a
//! reassignment's new replica catching up) is left out of a round while
//! the shard's `follower.replication.throttled.rate` share is exceeded
//! (`replication_quota.rs`); its fetched bytes are counted.
//!
//! Request building and response splitting are plain functions (tested
//! below); the loops around them do the IO. Lives on: each data shard.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::join_all;
use kafka_protocol::messages::fetch_request::{
    FetchPartition, FetchRequest, FetchTopic, ForgottenTopic, ReplicaState,
};
use kafka_protocol::messages::fetch_response::FetchResponse;
use kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use kafka_protocol::messages::list_offsets_response::ListOffsetsResponse;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderEpochRequest, OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::OffsetForLeaderEpochResponse;
use kafka_protocol::messages::{ApiKey, BrokerId as WireBrokerId, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use skein_controller::MetadataImage;
use skein_replication::{
    out_of_range_action, BrokerId, EpochEndOffset, FollowerAppendError, OutOfRangeAction,
    Partition, PartitionKey, Role, TopicId,
};

use crate::controller_client::ControllerConnection;
use crate::error_code::ErrorCode;
use crate::follower_session::{FollowerSession, SessionFetch};
use crate::replication_quota::ThrottledReplicas;
use crate::shard_state::{now_ms, ShardState};

/// The Fetch version followers send: v15, as Kafka 3.5+ followers do —
/// topics by id (v13+), and the replica's id with its broker epoch in
/// `replica_state` (KIP-903: the leader proposes that epoch in
/// AlterPartition, so a follower that restarted is not put back in the ISR
/// on what its earlier incarnation fetched).
pub const REPLICA_FETCH_VERSION: i16 = 15;
/// What a follower's fetchers are told by the broker's properties:
/// `num.replica.fetchers` and Kafka's `replica.fetch.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaFetchSettings {
    /// `num.replica.fetchers`: fetchers per leader broker and data shard.
    pub fetchers: u32,
    /// `replica.fetch.wait.max.ms`: how long the leader may hold a fetch.
    pub wait_max_ms: i32,
    /// `replica.fetch.min.bytes`.
    pub min_bytes: i32,
    /// `replica.fetch.max.bytes`: bytes asked for per partition.
    pub partition_max_bytes: i32,
    /// `replica.fetch.response.max.bytes`: bytes asked for per response.
    pub response_max_bytes: i32,
    /// `replica.fetch.backoff.ms`: the pause after a failed request.
    pub backoff: Duration,
}

impl ReplicaFetchSettings {
    /// The settings `config` gives.
    pub fn from_config(config: &skein_controller::BrokerConfig) -> ReplicaFetchSettings {
        let (wait_max_ms, min_bytes, partition_max_bytes, response_max_bytes) =
            config.replica_fetch_limits();
        ReplicaFetchSettings {
            fetchers: config.num_replica_fetchers().max(1),
            wait_max_ms,
            min_bytes,
            partition_max_bytes,
            response_max_bytes,
            backoff: Duration::from_millis(config.replica_fetch_backoff_ms()),
        }
    }
}

impl Default for ReplicaFetchSettings {
    /// Kafka's defaults.
    fn default() -> ReplicaFetchSettings {
        ReplicaFetchSettings {
            fetchers: 1,
            wait_max_ms: 500,
            min_bytes: 1,
            partition_max_bytes: 1_048_576,
            response_max_bytes: 10_485_760,
            backoff: Duration::from_millis(1_000),
        }
    }
}

/// The OffsetForLeaderEpoch version followers send (v3+ carries the
/// replica id).
pub const OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 4;
/// The ListOffsets version followers send after OFFSET_OUT_OF_RANGE.
pub const LIST_OFFSETS_VERSION: i16 = 4;
/// ListOffsets' latest and earliest timestamps.
const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;
/// How often the supervisor looks for partitions without a fetcher.
const SUPERVISE_INTERVAL: Duration = Duration::from_millis(100);

/// A fetcher's identity on its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FetcherKey {
    /// The leader it fetches from.
    pub leader: BrokerId,
    /// `hash(topic, partition) % num.replica.fetchers`.
    pub fetcher_id: u32,
}

/// The fetcher of `key`'s partition, given `num_fetchers` (>= 1) fetchers
/// per leader (FNV-1a over the topic id and the partition index: stable
/// across processes, unlike the std hasher).
pub fn fetcher_id(key: &PartitionKey, num_fetchers: u32) -> u32 {
    assert!(num_fetchers >= 1);
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key.0.iter().chain(key.1.to_be_bytes().iter()) {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % num_fetchers
}

/// One partition in a follower's fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerFetch {
    /// The topic's name (what the fetcher matches answers with).
    pub topic: String,
    /// The topic's id (Fetch v13+ names topics by id).
    pub topic_id: TopicId,
    /// The partition index.
    pub partition: i32,
    /// The follower's log end offset (durable under its flush policy).
    pub fetch_offset: i64,
    /// The leader epoch the follower knows (the leader fences older ones).
    pub current_leader_epoch: i32,
    /// The epoch of the follower's last batch (-1: none), for the leader's
    /// divergence check.
    pub last_fetched_epoch: i32,
}

/// Groups `items` by topic for a request: consecutive items of one topic
/// (named by `topic`) share an entry, in the order given, each made into
/// its wire partition by `partition`.
fn group_by_topic<I, P>(
    items: &[I],
    topic: impl Fn(&I) -> &String,
    partition: impl Fn(&I) -> P,
) -> Vec<(TopicName, Vec<P>)> {
    let mut topics: Vec<(TopicName, Vec<P>)> = Vec::new();
    for item in items {
        let name = topic(item);
        match topics.last_mut() {
            Some((last, partitions)) if last.0.as_str() == name.as_str() => {
                partitions.push(partition(item))
            }
            _ => topics.push((
                TopicName(StrBytes::from_string(name.clone())),
                vec![partition(item)],
            )),
        }
    }
    topics
}

/// The Fetch a follower with `replica_id` at `broker_epoch` (-1: not
/// registered yet) sends in its fetch session (`fetch`, made for
/// `partitions`): the partitions `fetch` names (grouped by topic in the
/// order given; consecutive partitions of one topic share an entry) and
/// the ones it forgets, at [`REPLICA_FETCH_VERSION`].
pub fn build_fetch_request(
    replica_id: BrokerId,
    broker_epoch: i64,
    partitions: &[FollowerFetch],
    fetch: &SessionFetch,
    settings: &ReplicaFetchSettings,
) -> FetchRequest {
    let named: Vec<&FollowerFetch> = fetch
        .named
        .iter()
        .filter_map(|&index| partitions.get(index))
        .collect();
    let topics = group_by_topic(
        &named,
        |wanted| &wanted.topic,
        |wanted| {
            FetchPartition::default()
                .with_partition(wanted.partition)
                .with_current_leader_epoch(wanted.current_leader_epoch)
                .with_fetch_offset(wanted.fetch_offset)
                .with_last_fetched_epoch(wanted.last_fetched_epoch)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(settings.partition_max_bytes)
        },
    )
    .into_iter()
    .map(|(name, wire_partitions)| {
        let topic_id = partitions
            .iter()
            .find(|wanted| wanted.topic.as_str() == name.0.as_str())
            .map_or([0; 16], |wanted| wanted.topic_id);
        FetchTopic::default()
            .with_topic(name)
            .with_topic_id(uuid::Uuid::from_bytes(topic_id))
            .with_partitions(wire_partitions)
    })
    .collect();
    FetchRequest::default()
        .with_replica_state(
            ReplicaState::default()
                .with_replica_id(WireBrokerId(replica_id))
                .with_replica_epoch(broker_epoch),
        )
        .with_max_wait_ms(settings.wait_max_ms)
        .with_min_bytes(settings.min_bytes)
        .with_max_bytes(settings.response_max_bytes)
        .with_isolation_level(0)
        .with_session_id(fetch.session_id)
        .with_session_epoch(fetch.session_epoch)
        .with_topics(topics)
        .with_forgotten_topics_data(forgotten_topics(&fetch.forgotten))
}

/// `forgotten_topics_data` for `forgotten`, one entry per topic (by id
/// and name: the version picks which one travels).
fn forgotten_topics(forgotten: &[(PartitionKey, String)]) -> Vec<ForgottenTopic> {
    let mut topics: Vec<ForgottenTopic> = Vec::new();
    for ((topic_id, partition), name) in forgotten {
        let id = uuid::Uuid::from_bytes(*topic_id);
        match topics.iter_mut().find(|topic| topic.topic_id == id) {
            Some(topic) => topic.partitions.push(*partition),
            None => topics.push(
                ForgottenTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(name.clone())))
                    .with_topic_id(id)
                    .with_partitions(vec![*partition]),
            ),
        }
    }
    topics
}

/// What the leader answered for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionAnswer {
    /// The topic's name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// The Kafka error code (0: none).
    pub error_code: i16,
    /// The leader's high watermark.
    pub high_watermark: i64,
    /// The leader's diverging epoch for this follower, if it diverged.
    pub diverging_epoch: Option<EpochEndOffset>,
    /// The record batches (possibly empty).
    pub records: Bytes,
}

/// Splits a Fetch response to a fetch of `asked` into per-partition
/// answers, or returns its top-level error code. Topics are named by id
/// from v13 on: each answer gets the name `asked` gives that id (a topic
/// the fetch did not ask for is left out).
///
/// # Errors
/// The response's error code when it is not 0.
pub fn split_fetch_response(
    response: FetchResponse,
    asked: &[FollowerFetch],
) -> Result<Vec<PartitionAnswer>, i16> {
    if response.error_code != 0 {
        return Err(response.error_code);
    }
    let mut answers = Vec::new();
    for topic in response.responses {
        let name = if topic.topic.0.is_empty() {
            let topic_id = *topic.topic_id.as_bytes();
            match asked.iter().find(|wanted| wanted.topic_id == topic_id) {
                Some(wanted) => wanted.topic.clone(),
                None => continue,
            }
        } else {
            topic.topic.0.to_string()
        };
        for partition in topic.partitions {
            answers.push(PartitionAnswer {
                topic: name.clone(),
                partition: partition.partition_index,
                error_code: partition.error_code,
                high_watermark: partition.high_watermark,
                diverging_epoch: (partition.diverging_epoch.epoch >= 0
                    || partition.diverging_epoch.end_offset >= 0)
                    .then_some(EpochEndOffset {
                        leader_epoch: partition.diverging_epoch.epoch,
                        end_offset: partition.diverging_epoch.end_offset,
                    }),
                records: partition.records.unwrap_or_default(),
            });
        }
    }
    Ok(answers)
}

/// One partition of a follower's OffsetForLeaderEpoch (or ListOffsets)
/// question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochQuery {
    /// The topic's name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// The leader epoch the follower follows at (the leader fences a
    /// different one).
    pub current_leader_epoch: i32,
    /// The epoch asked about: the follower's latest (ListOffsets: unused).
    pub leader_epoch: i32,
}

/// The OffsetForLeaderEpoch a follower with `replica_id` sends (grouped by
/// topic, as [`build_fetch_request`]).
pub fn build_offset_for_leader_epoch_request(
    replica_id: BrokerId,
    queries: &[EpochQuery],
) -> OffsetForLeaderEpochRequest {
    let topics = group_by_topic(
        queries,
        |query| &query.topic,
        |query| {
            OffsetForLeaderPartition::default()
                .with_partition(query.partition)
                .with_current_leader_epoch(query.current_leader_epoch)
                .with_leader_epoch(query.leader_epoch)
        },
    )
    .into_iter()
    .map(|(name, partitions)| {
        OffsetForLeaderTopic::default()
            .with_topic(name)
            .with_partitions(partitions)
    })
    .collect();
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(WireBrokerId(replica_id))
        .with_topics(topics)
}

/// The ListOffsets a follower with `replica_id` sends for `timestamp`
/// (latest: the leader's log end; earliest: its log start).
pub fn build_list_offsets_request(
    replica_id: BrokerId,
    queries: &[EpochQuery],
    timestamp: i64,
) -> ListOffsetsRequest {
    let topics = group_by_topic(
        queries,
        |query| &query.topic,
        |query| {
            ListOffsetsPartition::default()
                .with_partition_index(query.partition)
                .with_current_leader_epoch(query.current_leader_epoch)
                .with_timestamp(timestamp)
        },
    )
    .into_iter()
    .map(|(name, partitions)| {
        ListOffsetsTopic::default()
            .with_name(name)
            .with_partitions(partitions)
    })
    .collect();
    ListOffsetsRequest::default()
        .with_replica_id(WireBrokerId(replica_id))
        .with_isolation_level(0)
        .with_topics(topics)
}

/// One partition's answer to an OffsetForLeaderEpoch or ListOffsets: its
/// error code and what it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetAnswer {
    /// The Kafka error code (0: none).
    pub error_code: i16,
    /// The epoch and end offset (ListOffsets: the offset found, epoch as
    /// answered).
    pub end: EpochEndOffset,
}

/// Splits an OffsetForLeaderEpoch response by (topic, partition).
pub fn split_offset_for_leader_epoch_response(
    response: OffsetForLeaderEpochResponse,
) -> HashMap<(String, i32), OffsetAnswer> {
    let mut answers = HashMap::new();
    for topic in response.topics {
        let name = topic.topic.0.to_string();
        for partition in topic.partitions {
            answers.insert(
                (name.clone(), partition.partition),
                OffsetAnswer {
                    error_code: partition.error_code,
                    end: EpochEndOffset {
                        leader_epoch: partition.leader_epoch,
                        end_offset: partition.end_offset,
                    },
                },
            );
        }
    }
    answers
}

/// Splits a ListOffsets response by (topic, partition).
pub fn split_list_offsets_response(
    response: ListOffsetsResponse,
) -> HashMap<(String, i32), OffsetAnswer> {
    let mut answers = HashMap::new();
    for topic in response.topics {
        let name = topic.name.0.to_string();
        for partition in topic.partitions {
            answers.insert(
                (name.clone(), partition.partition_index),
                OffsetAnswer {
                    error_code: partition.error_code,
                    end: EpochEndOffset {
                        leader_epoch: partition.leader_epoch,
                        end_offset: partition.offset,
                    },
                },
            );
        }
    }
    answers
}

/// Runs the shard's replica fetchers until it stops: starts a fetcher for
/// every (leader, fetcher id) that has follower partitions on this shard
/// and none running. Does nothing while follower fetchers are switched off.
pub async fn supervise(ctx: Rc<ShardState>) {
    if !crate::shard_state::FOLLOWER_FETCHERS {
        return;
    }
    let running: Rc<RefCell<HashSet<FetcherKey>>> = Rc::new(RefCell::new(HashSet::new()));
    // The fetchers' tasks: dropping the supervisor (the shard stopping)
    // drops them, which cancels them and lets go of their partitions.
    let mut tasks: HashMap<FetcherKey, glommio::Task<()>> = HashMap::new();
    // Roles change only with a new image, and a fetcher ends only when it
    // has no partitions: between those the partitions are not scanned.
    let mut scanned: Option<(u64, usize)> = None;
    while !ctx.is_stopping() {
        tasks.retain(|fetcher, _| running.borrow().contains(fetcher));
        let state = (ctx.image().version, tasks.len());
        if scanned == Some(state) {
            glommio::timer::sleep(SUPERVISE_INTERVAL).await;
            continue;
        }
        scanned = Some(state);
        let local = ctx.config.node_id();
        for (key, partition) in ctx.follower_partitions() {
            let Role::Follower { leader, .. } = partition.role() else {
                continue;
            };
            if leader < 0 || leader == local {
                continue;
            }
            let fetcher = FetcherKey {
                leader,
                fetcher_id: fetcher_id(&key, ctx.config.num_replica_fetchers().max(1)),
            };
            if running.borrow_mut().insert(fetcher) {
                let ctx = Rc::clone(&ctx);
                let running = Rc::clone(&running);
                let task = glommio::spawn_local(async move {
                    run_fetcher(&ctx, fetcher).await;
                    running.borrow_mut().remove(&fetcher);
                });
                tasks.insert(fetcher, task);
            }
        }
        glommio::timer::sleep(SUPERVISE_INTERVAL).await;
    }
}

/// Where a partition stands with its fetcher at a leader epoch (Kafka's
/// `PartitionFetchState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FetchPhase {
    /// Its divergent tail is not cut yet: OffsetForLeaderEpoch first.
    Truncating,
    /// It fetches.
    Fetching,
}

/// A partition a fetcher serves this round.
struct Served {
    key: PartitionKey,
    partition: Rc<Partition>,
    topic: String,
    leader_epoch: i32,
}

/// One fetcher: truncates and fetches its partitions from its leader until
/// it has none (or the shard stops).
async fn run_fetcher(ctx: &ShardState, fetcher: FetcherKey) {
    let settings = ReplicaFetchSettings::from_config(&ctx.config);
    tracing::info!(
        leader = fetcher.leader,
        fetcher_id = fetcher.fetcher_id,
        "replica fetcher started"
    );
    let mut connection: Option<ControllerConnection> = None;
    // The fetch session with the leader (KIP-227); started again with a
    // full fetch whenever the connection is dropped.
    let mut session = FollowerSession::default();
    // Each partition's phase at the leader epoch it was set at: a new epoch
    // truncates again.
    let mut phases: HashMap<PartitionKey, (i32, FetchPhase)> = HashMap::new();
    let local = ctx.config.node_id();
    // The partitions served, as of (image version, partition table
    // generation): rebuilt only when either moves, not every round.
    let mut served: Vec<Served> = Vec::new();
    let mut served_as_of: Option<(u64, u64)> = None;
    while !ctx.is_stopping() {
        let image = ctx.image();
        let as_of = (image.version, ctx.partitions_generation());
        if served_as_of != Some(as_of) {
            served = served_partitions(ctx, &image, fetcher);
            served_as_of = Some(as_of);
            phases.retain(|key, _| served.iter().any(|one| one.key == *key));
        }
        if served.is_empty() {
            break;
        }
        for one in &served {
            let current = phases.get(&one.key).map(|(epoch, _)| *epoch);
            if current != Some(one.leader_epoch) {
                phases.insert(one.key, (one.leader_epoch, FetchPhase::Truncating));
            }
        }
        let truncating: Vec<&Served> = served
            .iter()
            .filter(|one| {
                phases.get(&one.key).map(|(_, phase)| *phase) == Some(FetchPhase::Truncating)
            })
            .collect();
        let mut stalled = false;
        if !truncating.is_empty() {
            match truncate(ctx, &image, fetcher.leader, &mut connection, &truncating).await {
                Ok((done, failed)) => {
                    stalled = failed;
                    for key in done {
                        if let Some(entry) = phases.get_mut(&key) {
                            entry.1 = FetchPhase::Fetching;
                        }
                    }
                }
                Err(error) => {
                    tracing::debug!(leader = fetcher.leader, %error, "OffsetForLeaderEpoch failed; backing off");
                    connection = None;
                    session.reset();
                    stalled = true;
                }
            }
        }
        let fetching: Vec<&Served> = served
            .iter()
            .filter(|one| {
                phases.get(&one.key).map(|(_, phase)| *phase) == Some(FetchPhase::Fetching)
            })
            .collect();
        if fetching.is_empty() {
            // Truncation not finished (an error, or another round of
            // KIP-279): ask again, after a pause if it failed.
            let pause = if stalled || truncating.is_empty() {
                settings.backoff
            } else {
                Duration::ZERO
            };
            glommio::timer::sleep(pause).await;
            continue;
        }
        // Replication throttle (follower side): while the rate is exceeded,
        // throttled replicas out of the ISR sit this round out.
        let throttling = ctx.follower_quota.borrow().is_bounded();
        let throttled: HashSet<PartitionKey> = if throttling {
            fetching
                .iter()
                .filter(|one| is_throttled_follower(&image, &one.key, local))
                .map(|one| one.key)
                .collect()
        } else {
            HashSet::new()
        };
        let exceeded =
            !throttled.is_empty() && ctx.follower_quota.borrow_mut().is_exceeded(now_ms());
        let fetching: Vec<&Served> = fetching
            .into_iter()
            .filter(|one| !(exceeded && throttled.contains(&one.key)))
            .collect();
        if fetching.is_empty() {
            glommio::timer::sleep(
                settings
                    .backoff
                    .min(Duration::from_millis(THROTTLED_PAUSE_MS)),
            )
            .await;
            continue;
        }
        let wanted: Vec<FollowerFetch> = fetching
            .iter()
            .map(|one| FollowerFetch {
                topic: one.topic.clone(),
                topic_id: one.key.0,
                partition: one.key.1,
                fetch_offset: one.partition.follower_fetch_offset(),
                current_leader_epoch: one.leader_epoch,
                last_fetched_epoch: one.partition.latest_epoch().unwrap_or(-1),
            })
            .collect();
        // Each partition's answer is applied against the offset it was
        // fetched from (see `apply_answer`).
        let by_name: HashMap<(&str, i32), (&Served, i64)> = fetching
            .iter()
            .zip(&wanted)
            .map(|(one, wanted)| ((one.topic.as_str(), one.key.1), (*one, wanted.fetch_offset)))
            .collect();
        let broker_epoch = image.broker(local).map_or(-1, |b| b.broker_epoch);
        let fetch = session.next_fetch(&wanted);
        let request = build_fetch_request(local, broker_epoch, &wanted, &fetch, &settings);
        let response: FetchResponse = match call(
            ctx,
            &image,
            fetcher.leader,
            &mut connection,
            ApiKey::Fetch,
            REPLICA_FETCH_VERSION,
            &request,
        )
        .await
        {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(leader = fetcher.leader, %error, "replica fetch failed; backing off");
                connection = None;
                session.reset();
                glommio::timer::sleep(settings.backoff).await;
                continue;
            }
        };
        let response_session_id = response.session_id;
        let answers = match split_fetch_response(response, &wanted) {
            Ok(answers) => {
                session.answered(&fetch, response_session_id, &wanted);
                answers
            }
            Err(code)
                if code == ErrorCode::FetchSessionIdNotFound.code()
                    || code == ErrorCode::InvalidFetchSessionEpoch.code() =>
            {
                // The leader lost or evicted the session (or this
                // connection is on another of its shards): a full fetch.
                tracing::debug!(leader = fetcher.leader, code, "replica fetch session reset");
                session.reset();
                continue;
            }
            Err(code) => {
                session.reset();
                tracing::debug!(
                    leader = fetcher.leader,
                    code,
                    "replica fetch refused; backing off"
                );
                glommio::timer::sleep(settings.backoff).await;
                continue;
            }
        };
        let mut failed = false;
        let mut out_of_range: Vec<&Served> = Vec::new();
        let mut applying = Vec::with_capacity(answers.len());
        for answer in &answers {
            let Some(&(one, fetched_from)) =
                by_name.get(&(answer.topic.as_str(), answer.partition))
            else {
                continue;
            };
            if throttled.contains(&one.key) {
                let bytes = u64::try_from(answer.records.len()).unwrap_or(u64::MAX);
                ctx.follower_quota.borrow_mut().record(bytes, now_ms());
                ctx.metrics
                    .replication_throttled(crate::replication_quota::ThrottleSide::Follower, bytes);
            }
            applying.push(async move {
                let applied =
                    apply_answer(&one.partition, answer, fetched_from, &ctx.metrics).await;
                (one, applied)
            });
        }
        // The partitions' appends (each waiting for its fdatasync) run
        // together: the next fetch, which reports them, waits for the
        // slowest rather than for their sum.
        for (one, applied) in join_all(applying).await {
            match applied {
                Applied::Done => {}
                Applied::Failed => failed = true,
                Applied::OutOfRange => out_of_range.push(one),
            }
        }
        if !out_of_range.is_empty() {
            if let Err(error) =
                handle_out_of_range(ctx, &image, fetcher.leader, &mut connection, &out_of_range)
                    .await
            {
                tracing::debug!(leader = fetcher.leader, %error, "ListOffsets after OFFSET_OUT_OF_RANGE failed");
                connection = None;
                session.reset();
                failed = true;
            }
        }
        if failed {
            glommio::timer::sleep(settings.backoff).await;
        }
    }
    tracing::info!(
        leader = fetcher.leader,
        fetcher_id = fetcher.fetcher_id,
        "replica fetcher stopped"
    );
}

/// How long a fetcher whose every partition is throttled waits before it
/// measures the rate again.
const THROTTLED_PAUSE_MS: u64 = 100;

/// Whether the local `broker`'s replica of `key` is throttled: named by its
/// topic's `follower.replication.throttled.replicas` and not in the ISR
/// (Kafka's `shouldFollowerThrottle`).
fn is_throttled_follower(image: &MetadataImage, key: &PartitionKey, broker: i32) -> bool {
    let Some(topic) = image.topic_by_id(&key.0) else {
        return false;
    };
    let in_sync = image
        .partition(&key.0, key.1)
        .is_some_and(|state| state.isr.contains(&broker));
    let listed = topic
        .configs
        .get("follower.replication.throttled.replicas")
        .map(String::as_str);
    !in_sync && ThrottledReplicas::parse(listed).contains(key.1, broker)
}

/// One truncation round for `truncating` partitions (Kafka's
/// `maybeTruncate`): those without leader epochs cut to their high
/// watermark; the others ask the leader OffsetForLeaderEpoch about their
/// latest epoch and cut by its answer. Returns the partitions whose
/// truncation completed (the others ask again next round), and whether any
/// failed (refused by the leader, or a failed cut: back off).
///
/// # Errors
/// The OffsetForLeaderEpoch call failed (nothing was cut for the
/// partitions with epochs).
async fn truncate(
    ctx: &ShardState,
    image: &MetadataImage,
    leader: BrokerId,
    connection: &mut Option<ControllerConnection>,
    truncating: &[&Served],
) -> Result<(Vec<PartitionKey>, bool), FetchError> {
    let mut done = Vec::new();
    let mut failed = false;
    let mut queries = Vec::new();
    let mut asked: HashMap<(String, i32), &Served> = HashMap::new();
    for one in truncating {
        match one.partition.latest_epoch() {
            None => match one.partition.truncate_to_high_watermark().await {
                Ok(_) => done.push(one.key),
                Err(error) => {
                    failed = true;
                    tracing::error!(%error, dir = %one.partition.dir().display(), "could not truncate a follower's log");
                }
            },
            Some(latest) => {
                queries.push(EpochQuery {
                    topic: one.topic.clone(),
                    partition: one.key.1,
                    current_leader_epoch: one.leader_epoch,
                    leader_epoch: latest,
                });
                asked.insert((one.topic.clone(), one.key.1), *one);
            }
        }
    }
    if queries.is_empty() {
        return Ok((done, failed));
    }
    let request = build_offset_for_leader_epoch_request(ctx.config.node_id(), &queries);
    let response: OffsetForLeaderEpochResponse = call(
        ctx,
        image,
        leader,
        connection,
        ApiKey::OffsetForLeaderEpoch,
        OFFSET_FOR_LEADER_EPOCH_VERSION,
        &request,
    )
    .await?;
    for (name, answer) in split_offset_for_leader_epoch_response(response) {
        let Some(one) = asked.get(&name) else {
            continue;
        };
        if answer.error_code != 0 {
            // NOT_LEADER_OR_FOLLOWER, FENCED/UNKNOWN_LEADER_EPOCH: the
            // image will move the partition; until then, ask again.
            failed = true;
            tracing::debug!(
                dir = %one.partition.dir().display(),
                code = answer.error_code,
                "the leader refused OffsetForLeaderEpoch"
            );
            continue;
        }
        match one.partition.truncate_to_leader_epoch(answer.end).await {
            Ok(cut) if cut.completed => done.push(one.key),
            Ok(_) => {}
            Err(error) => {
                failed = true;
                tracing::error!(%error, dir = %one.partition.dir().display(), "could not truncate a follower's log");
            }
        }
    }
    Ok((done, failed))
}

/// What became of one partition's fetch answer.
enum Applied {
    /// Appended, truncated by a diverging epoch, or nothing to do.
    Done,
    /// The partition should back off (an error from the leader, batches
    /// this log refused).
    Failed,
    /// OFFSET_OUT_OF_RANGE: ask the leader's offsets.
    OutOfRange,
}

/// OFFSET_OUT_OF_RANGE for `partitions` (Kafka's `fetchOffsetAndTruncate`):
/// asks the leader's log end and log start offsets (ListOffsets with the
/// replica id) and cuts to the leader's end when the follower is ahead, or
/// empties the log to start at the leader's log start when it is behind.
///
/// # Errors
/// A ListOffsets call failed.
async fn handle_out_of_range(
    ctx: &ShardState,
    image: &MetadataImage,
    leader: BrokerId,
    connection: &mut Option<ControllerConnection>,
    partitions: &[&Served],
) -> Result<(), FetchError> {
    let queries: Vec<EpochQuery> = partitions
        .iter()
        .map(|one| EpochQuery {
            topic: one.topic.clone(),
            partition: one.key.1,
            current_leader_epoch: one.leader_epoch,
            leader_epoch: -1,
        })
        .collect();
    let mut bounds = Vec::with_capacity(2);
    for timestamp in [LATEST_TIMESTAMP, EARLIEST_TIMESTAMP] {
        let request = build_list_offsets_request(ctx.config.node_id(), &queries, timestamp);
        let response: ListOffsetsResponse = call(
            ctx,
            image,
            leader,
            connection,
            ApiKey::ListOffsets,
            LIST_OFFSETS_VERSION,
            &request,
        )
        .await?;
        bounds.push(split_list_offsets_response(response));
    }
    let (Some(latest), Some(earliest)) = (bounds.first(), bounds.get(1)) else {
        return Ok(());
    };
    for one in partitions {
        let name = (one.topic.clone(), one.key.1);
        let (Some(end), Some(start)) = (latest.get(&name), earliest.get(&name)) else {
            continue;
        };
        if end.error_code != 0 || start.error_code != 0 {
            continue;
        }
        let log_end_offset = one.partition.follower_fetch_offset();
        let result =
            match out_of_range_action(log_end_offset, start.end.end_offset, end.end.end_offset) {
                OutOfRangeAction::TruncateTo(offset) => {
                    one.partition.truncate_to(offset).await.map(|_| ())
                }
                OutOfRangeAction::StartAt(offset) => {
                    one.partition.truncate_fully_and_start_at(offset).await
                }
                OutOfRangeAction::Refetch => Ok(()),
            };
        if let Err(error) = result {
            tracing::error!(%error, dir = %one.partition.dir().display(), "could not truncate a follower's log after OFFSET_OUT_OF_RANGE");
        }
    }
    Ok(())
}

/// The partitions of this shard that `fetcher` serves now: followers of
/// its leader that hash to it, with the leader epoch they follow at and
/// their topic's name in `image` (a topic `image` lacks is left out).
fn served_partitions(ctx: &ShardState, image: &MetadataImage, fetcher: FetcherKey) -> Vec<Served> {
    ctx.follower_partitions()
        .into_iter()
        .filter_map(|(key, partition)| match partition.role() {
            Role::Follower {
                leader,
                leader_epoch,
            } if leader == fetcher.leader
                && fetcher_id(&key, ctx.config.num_replica_fetchers().max(1))
                    == fetcher.fetcher_id =>
            {
                let topic = image.topic_by_id(&key.0)?.name.clone();
                Some(Served {
                    key,
                    partition,
                    topic,
                    leader_epoch,
                })
            }
            _ => None,
        })
        .collect()
}

/// Applies one partition's answer to a fetch from `fetched_from`: a
/// diverging epoch cuts the log by it (the next fetch names the new latest
/// epoch); batches are appended (past a gap the leader compacted away, if
/// the log still ends at `fetched_from`) and the leader's high watermark
/// learned.
async fn apply_answer(
    partition: &Partition,
    answer: &PartitionAnswer,
    fetched_from: i64,
    metrics: &crate::metrics::LocalMetrics,
) -> Applied {
    if answer.error_code == ErrorCode::OffsetOutOfRange.code() {
        return Applied::OutOfRange;
    }
    if answer.error_code != 0 {
        // NOT_LEADER_OR_FOLLOWER, FENCED/UNKNOWN_LEADER_EPOCH: the image
        // moves the partition.
        tracing::debug!(
            dir = %partition.dir().display(),
            code = answer.error_code,
            "the leader refused a partition of a replica fetch"
        );
        return Applied::Failed;
    }
    if let Some(diverging) = answer.diverging_epoch {
        return match partition.truncate_to_leader_epoch(diverging).await {
            Ok(_) => Applied::Done,
            Err(error) => {
                tracing::error!(%error, dir = %partition.dir().display(), "could not truncate a follower's log to its diverging epoch");
                Applied::Failed
            }
        };
    }
    if !answer.records.is_empty() {
        match partition
            .append_as_follower(&answer.records, fetched_from, now_ms())
            .await
        {
            Ok(info) => metrics.replica_fetched(answer.records.len(), u64::from(info.record_count)),
            Err(FollowerAppendError::NotFollower) => return Applied::Done,
            Err(FollowerAppendError::OffsetMismatch { expected, found }) => {
                // An answer to an older fetch offset (or a truncation in
                // between): the next fetch asks from the log end.
                tracing::debug!(
                    expected,
                    found,
                    "fetched batches do not start at the log end"
                );
                return Applied::Done;
            }
            Err(FollowerAppendError::Append(error)) => {
                tracing::error!(%error, dir = %partition.dir().display(), "a follower could not append fetched batches");
                return Applied::Failed;
            }
        }
    }
    partition.learn_high_watermark(answer.high_watermark);
    Applied::Done
}

/// Why a fetch from the leader failed.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    /// The leader is not in the image, or has no inter-broker listener.
    #[error("broker {0} has no registered inter-broker listener")]
    NoAddress(BrokerId),
    /// The call failed.
    #[error(transparent)]
    Call(#[from] crate::controller_client::ControllerCallError),
}

/// Sends `request` (`api_key` at `version`) to `leader`, connecting first
/// if needed.
async fn call<Req: Encodable, Resp: Decodable>(
    ctx: &ShardState,
    image: &MetadataImage,
    leader: BrokerId,
    connection: &mut Option<ControllerConnection>,
    api_key: ApiKey,
    version: i16,
    request: &Req,
) -> Result<Resp, FetchError> {
    if connection.is_none() {
        let address = leader_address(ctx, image, leader).ok_or(FetchError::NoAddress(leader))?;
        let security = &ctx.peer_security.inter_broker;
        *connection = Some(ControllerConnection::connect_to(&address, security).await?);
    }
    let Some(open) = connection.as_mut() else {
        return Err(FetchError::NoAddress(leader));
    };
    Ok(open.call(api_key, version, request).await?)
}

/// `HOST:PORT` of `leader`'s inter-broker listener (the listener of this
/// broker's `inter.broker.listener.name`), as it registered it.
fn leader_address(ctx: &ShardState, image: &MetadataImage, leader: BrokerId) -> Option<String> {
    let registration = image.broker(leader)?;
    let name = ctx.config.client_listener().0.name;
    let endpoint = registration
        .listener(&name)
        .or_else(|| registration.listeners.first())?;
    Some(format!("{}:{}", endpoint.host, endpoint.port))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};

    fn wanted(topic: &str, partition: i32, fetch_offset: i64) -> FollowerFetch {
        FollowerFetch {
            topic: topic.to_string(),
            topic_id: [topic.as_bytes()[0]; 16],
            partition,
            fetch_offset,
            current_leader_epoch: 4,
            last_fetched_epoch: 3,
        }
    }

    #[test]
    fn a_follower_fetch_names_its_replica_id_and_epoch_and_every_partition_by_topic() {
        let partitions = [wanted("a", 0, 10), wanted("a", 1, 0), wanted("b", 0, 7)];
        let fetch = FollowerSession::default().next_fetch(&partitions);
        let request =
            build_fetch_request(2, 41, &partitions, &fetch, &ReplicaFetchSettings::default());
        // v15: the replica id and broker epoch travel in `replica_state`.
        assert_eq!(request.replica_id.0, -1);
        assert_eq!(request.replica_state.replica_id.0, 2);
        assert_eq!(request.replica_state.replica_epoch, 41);
        assert_eq!(
            request.topics[0].topic_id,
            uuid::Uuid::from_bytes([b'a'; 16])
        );
        assert_eq!(
            request.topics[1].topic_id,
            uuid::Uuid::from_bytes([b'b'; 16])
        );
        let mut bytes = bytes::BytesMut::new();
        request.encode(&mut bytes, REPLICA_FETCH_VERSION).unwrap();
        let decoded = FetchRequest::decode(&mut bytes.freeze(), REPLICA_FETCH_VERSION).unwrap();
        assert_eq!(decoded.replica_state.replica_epoch, 41);
        assert_eq!(
            decoded.topics[1].topic_id,
            uuid::Uuid::from_bytes([b'b'; 16])
        );
        assert_eq!(request.max_wait_ms, 500);
        assert_eq!(request.min_bytes, 1);
        // A full fetch asking for a session.
        assert_eq!(request.session_id, 0);
        assert_eq!(request.session_epoch, 0);
        assert!(request.forgotten_topics_data.is_empty());
        assert_eq!(request.topics.len(), 2);
        assert_eq!(request.topics[0].topic.0.as_str(), "a");
        assert_eq!(request.topics[0].partitions.len(), 2);
        assert_eq!(request.topics[0].partitions[0].fetch_offset, 10);
        assert_eq!(request.topics[0].partitions[0].current_leader_epoch, 4);
        assert_eq!(request.topics[0].partitions[1].partition, 1);
        assert_eq!(request.topics[1].partitions[0].fetch_offset, 7);
        assert_eq!(
            request.topics[1].partitions[0].partition_max_bytes,
            1_048_576
        );
    }

    #[test]
    fn an_incremental_follower_fetch_names_what_moved_and_forgets_by_topic_id() {
        let partitions = [wanted("a", 0, 10), wanted("a", 1, 0), wanted("b", 0, 7)];
        let mut session = FollowerSession::default();
        let full = session.next_fetch(&partitions);
        session.answered(&full, 5, &partitions);
        let round = [wanted("a", 0, 12), wanted("b", 0, 7)];
        let fetch = session.next_fetch(&round);
        let request = build_fetch_request(2, 41, &round, &fetch, &ReplicaFetchSettings::default());
        assert_eq!((request.session_id, request.session_epoch), (5, 1));
        assert_eq!(request.topics.len(), 1);
        assert_eq!(request.topics[0].partitions.len(), 1);
        assert_eq!(request.topics[0].partitions[0].fetch_offset, 12);
        let mut bytes = bytes::BytesMut::new();
        request.encode(&mut bytes, REPLICA_FETCH_VERSION).unwrap();
        let decoded = FetchRequest::decode(&mut bytes.freeze(), REPLICA_FETCH_VERSION).unwrap();
        assert_eq!(decoded.forgotten_topics_data.len(), 1);
        assert_eq!(
            decoded.forgotten_topics_data[0].topic_id,
            uuid::Uuid::from_bytes([b'a'; 16])
        );
        assert_eq!(decoded.forgotten_topics_data[0].partitions, vec![1]);
    }

    #[test]
    fn a_fetch_response_splits_into_partition_answers() {
        let response =
            FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_static_str("a")))
                .with_partitions(vec![
                    PartitionData::default()
                        .with_partition_index(0)
                        .with_high_watermark(12)
                        .with_records(Some(Bytes::from_static(b"batches"))),
                    PartitionData::default()
                        .with_partition_index(1)
                        .with_error_code(6)
                        .with_high_watermark(-1),
                ])]);
        let answers = split_fetch_response(response, &[]).unwrap();
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].topic, "a");
        assert_eq!(answers[0].high_watermark, 12);
        assert_eq!(&answers[0].records[..], b"batches");
        assert_eq!(answers[1].error_code, 6);
        assert!(answers[1].records.is_empty());
        let refused = FetchResponse::default().with_error_code(15);
        assert_eq!(split_fetch_response(refused, &[]), Err(15));
    }

    #[test]
    fn a_fetch_response_by_topic_id_is_named_from_the_fetch() {
        let response = FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default()
                .with_topic_id(uuid::Uuid::from_bytes([b'b'; 16]))
                .with_partitions(vec![PartitionData::default()
                    .with_partition_index(3)
                    .with_high_watermark(5)]),
            FetchableTopicResponse::default()
                .with_topic_id(uuid::Uuid::from_bytes([b'z'; 16]))
                .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
        ]);
        let asked = [wanted("a", 0, 1), wanted("b", 3, 2)];
        let answers = split_fetch_response(response, &asked).unwrap();
        assert_eq!(answers.len(), 1);
        assert_eq!((answers[0].topic.as_str(), answers[0].partition), ("b", 3));
        assert_eq!(answers[0].high_watermark, 5);
    }

    fn query(topic: &str, partition: i32, leader_epoch: i32) -> EpochQuery {
        EpochQuery {
            topic: topic.to_string(),
            partition,
            current_leader_epoch: 6,
            leader_epoch,
        }
    }

    #[test]
    fn a_follower_fetch_names_its_last_fetched_epoch() {
        let partitions = [wanted("a", 0, 10)];
        let fetch = FollowerSession::default().next_fetch(&partitions);
        let request =
            build_fetch_request(2, -1, &partitions, &fetch, &ReplicaFetchSettings::default());
        assert_eq!(request.topics[0].partitions[0].last_fetched_epoch, 3);
        assert_eq!(request.topics[0].partitions[0].log_start_offset, -1);
    }

    #[test]
    fn offset_for_leader_epoch_asks_each_partitions_latest_epoch_as_a_replica() {
        let request = build_offset_for_leader_epoch_request(
            2,
            &[query("a", 0, 4), query("a", 1, 5), query("b", 0, 1)],
        );
        assert_eq!(request.replica_id.0, 2);
        assert_eq!(request.topics.len(), 2);
        assert_eq!(request.topics[0].topic.0.as_str(), "a");
        assert_eq!(request.topics[0].partitions.len(), 2);
        assert_eq!(request.topics[0].partitions[1].partition, 1);
        assert_eq!(request.topics[0].partitions[1].current_leader_epoch, 6);
        assert_eq!(request.topics[0].partitions[1].leader_epoch, 5);
        assert_eq!(request.topics[1].partitions[0].leader_epoch, 1);
        // It encodes at the version sent (replica id from v3).
        let mut bytes = bytes::BytesMut::new();
        request
            .encode(&mut bytes, OFFSET_FOR_LEADER_EPOCH_VERSION)
            .unwrap();
        assert!(!bytes.is_empty());
    }

    #[test]
    fn offset_for_leader_epoch_answers_split_by_partition() {
        use kafka_protocol::messages::offset_for_leader_epoch_response::{
            EpochEndOffset as WireEnd, OffsetForLeaderTopicResult,
        };
        let response = OffsetForLeaderEpochResponse::default().with_topics(vec![
            OffsetForLeaderTopicResult::default()
                .with_topic(TopicName(StrBytes::from_static_str("a")))
                .with_partitions(vec![
                    WireEnd::default()
                        .with_partition(0)
                        .with_leader_epoch(3)
                        .with_end_offset(17),
                    WireEnd::default()
                        .with_partition(1)
                        .with_error_code(74)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1),
                ]),
        ]);
        let answers = split_offset_for_leader_epoch_response(response);
        let first = answers[&("a".to_string(), 0)];
        assert_eq!(first.error_code, 0);
        assert_eq!(
            first.end,
            EpochEndOffset {
                leader_epoch: 3,
                end_offset: 17
            }
        );
        assert_eq!(answers[&("a".to_string(), 1)].error_code, 74);
    }

    #[test]
    fn out_of_range_asks_list_offsets_as_a_replica() {
        let request = build_list_offsets_request(2, &[query("a", 3, -1)], LATEST_TIMESTAMP);
        assert_eq!(request.replica_id.0, 2);
        assert_eq!(request.isolation_level, 0);
        assert_eq!(request.topics[0].name.0.as_str(), "a");
        assert_eq!(request.topics[0].partitions[0].partition_index, 3);
        assert_eq!(request.topics[0].partitions[0].timestamp, -1);
        assert_eq!(request.topics[0].partitions[0].current_leader_epoch, 6);
        use kafka_protocol::messages::list_offsets_response::{
            ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
        };
        let response =
            ListOffsetsResponse::default().with_topics(vec![ListOffsetsTopicResponse::default()
                .with_name(TopicName(StrBytes::from_static_str("a")))
                .with_partitions(vec![ListOffsetsPartitionResponse::default()
                    .with_partition_index(3)
                    .with_offset(40)
                    .with_leader_epoch(6)])]);
        let answers = split_list_offsets_response(response);
        assert_eq!(answers[&("a".to_string(), 3)].end.end_offset, 40);
    }

    #[test]
    fn a_diverging_epoch_in_a_fetch_response_is_split_out() {
        use kafka_protocol::messages::fetch_response::EpochEndOffset as WireEnd;
        let response =
            FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_static_str("a")))
                .with_partitions(vec![
                    PartitionData::default()
                        .with_partition_index(0)
                        .with_diverging_epoch(WireEnd::default().with_epoch(2).with_end_offset(9)),
                    PartitionData::default().with_partition_index(1),
                ])]);
        let answers = split_fetch_response(response, &[]).unwrap();
        assert_eq!(
            answers[0].diverging_epoch,
            Some(EpochEndOffset {
                leader_epoch: 2,
                end_offset: 9
            })
        );
        assert_eq!(answers[1].diverging_epoch, None);
    }

    #[test]
    fn one_fetcher_serves_every_partition_by_default() {
        for partition in 0..16 {
            assert_eq!(fetcher_id(&([7; 16], partition), 1), 0);
        }
        let spread: HashSet<u32> = (0..64).map(|p| fetcher_id(&([7; 16], p), 4)).collect();
        assert_eq!(spread.len(), 4);
    }
}
