//! Replica fetchers: how a follower replica pulls its leader's log, as
//! Kafka's `ReplicaFetcherThread` does. Per data shard there is one fetcher
//! per (leader broker, fetcher id), fetcher id = hash(topic, partition) %
//! `num.replica.fetchers`; each sends one Fetch (v12, replica id = this
//! node's id) naming every partition of the shard it serves, over the
//! leader's inter-broker listener, appends what comes back with
//! [`Partition::append_as_follower`] and learns the leader's high
//! watermark.
//!
//! Membership follows the metadata image without bookkeeping: a fetcher
//! asks the shard, before every request, which partitions follow its leader
//! and hash to it (so a partition that becomes leader, or follows another
//! broker, leaves at once); the shard's supervisor starts a fetcher for a
//! (leader, fetcher id) that has partitions and none running, and a fetcher
//! with no partitions left ends.
//!
//! After a leader change the follower cuts its log back to the high
//! watermark it last knew before its first fetch at the new leader epoch
//! (Kafka's rule before KIP-101; the OffsetForLeaderEpoch exchange is not
//! done yet, see [`Partition::truncate_to_high_watermark`]).
//!
//! Request building and response splitting are plain functions (tested
//! below); the loops around them do the IO. Lives on: each data shard.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use kafka_protocol::messages::fetch_response::FetchResponse;
use kafka_protocol::messages::{ApiKey, BrokerId as WireBrokerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use skein_controller::MetadataImage;
use skein_replication::{BrokerId, FollowerAppendError, Partition, PartitionKey, Role};

use crate::controller_client::ControllerConnection;
use crate::shard_state::{now_ms, ShardState};

/// The Fetch version followers send (Kafka's followers send v12 and later:
/// topic names, `replica_id` at the top level).
pub const REPLICA_FETCH_VERSION: i16 = 12;
/// `num.replica.fetchers`: fetchers per leader broker and data shard.
pub const NUM_REPLICA_FETCHERS: u32 = 1;
/// `replica.fetch.wait.max.ms`: how long the leader may hold a fetch.
pub const REPLICA_FETCH_WAIT_MAX_MS: i32 = 500;
/// `replica.fetch.min.bytes`.
pub const REPLICA_FETCH_MIN_BYTES: i32 = 1;
/// `replica.fetch.max.bytes`: bytes asked for per partition.
pub const REPLICA_FETCH_MAX_BYTES: i32 = 1_048_576;
/// `replica.fetch.response.max.bytes`: bytes asked for per response.
pub const REPLICA_FETCH_RESPONSE_MAX_BYTES: i32 = 10_485_760;
/// `replica.fetch.backoff.ms`: the pause after a failed fetch.
const REPLICA_FETCH_BACKOFF: Duration = Duration::from_millis(1_000);
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
    /// The topic's name (Fetch v12 names topics).
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// The follower's log end offset (durable under its flush policy).
    pub fetch_offset: i64,
    /// The leader epoch the follower knows (the leader fences older ones).
    pub current_leader_epoch: i32,
}

/// The Fetch a follower with `replica_id` sends for `partitions` (grouped
/// by topic in the order given; consecutive partitions of one topic share
/// an entry).
pub fn build_fetch_request(replica_id: BrokerId, partitions: &[FollowerFetch]) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for wanted in partitions {
        let partition = FetchPartition::default()
            .with_partition(wanted.partition)
            .with_current_leader_epoch(wanted.current_leader_epoch)
            .with_fetch_offset(wanted.fetch_offset)
            .with_last_fetched_epoch(-1)
            .with_log_start_offset(-1)
            .with_partition_max_bytes(REPLICA_FETCH_MAX_BYTES);
        match topics.last_mut() {
            Some(topic) if topic.topic.0.as_str() == wanted.topic => {
                topic.partitions.push(partition)
            }
            _ => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(wanted.topic.clone())))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    FetchRequest::default()
        .with_replica_id(WireBrokerId(replica_id))
        .with_max_wait_ms(REPLICA_FETCH_WAIT_MAX_MS)
        .with_min_bytes(REPLICA_FETCH_MIN_BYTES)
        .with_max_bytes(REPLICA_FETCH_RESPONSE_MAX_BYTES)
        .with_isolation_level(0)
        // Sessionless: every fetch names every partition, so the leader
        // records every follower's position on every fetch.
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
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
    /// The record batches (possibly empty).
    pub records: Bytes,
}

/// Splits a Fetch response into per-partition answers, or returns its
/// top-level error code.
///
/// # Errors
/// The response's error code when it is not 0.
pub fn split_fetch_response(response: FetchResponse) -> Result<Vec<PartitionAnswer>, i16> {
    if response.error_code != 0 {
        return Err(response.error_code);
    }
    let mut answers = Vec::new();
    for topic in response.responses {
        let name = topic.topic.0.to_string();
        for partition in topic.partitions {
            answers.push(PartitionAnswer {
                topic: name.clone(),
                partition: partition.partition_index,
                error_code: partition.error_code,
                high_watermark: partition.high_watermark,
                records: partition.records.unwrap_or_default(),
            });
        }
    }
    Ok(answers)
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
                fetcher_id: fetcher_id(&key, NUM_REPLICA_FETCHERS),
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

/// One fetcher: fetches its partitions from its leader until it has none
/// (or the shard stops).
async fn run_fetcher(ctx: &ShardState, fetcher: FetcherKey) {
    tracing::info!(
        leader = fetcher.leader,
        fetcher_id = fetcher.fetcher_id,
        "replica fetcher started"
    );
    let mut connection: Option<ControllerConnection> = None;
    // The leader epoch each partition was made ready to fetch at (its
    // divergent tail cut): a new epoch cuts again.
    let mut ready: HashMap<PartitionKey, i32> = HashMap::new();
    while !ctx.is_stopping() {
        let image = ctx.image();
        let partitions = fetcher_partitions(ctx, fetcher);
        if partitions.is_empty() {
            break;
        }
        ready.retain(|key, _| partitions.iter().any(|(k, _, _)| k == key));
        let mut wanted = Vec::with_capacity(partitions.len());
        let mut by_name: HashMap<(String, i32), Rc<Partition>> = HashMap::new();
        for (key, partition, leader_epoch) in &partitions {
            if ready.get(key) != Some(leader_epoch) {
                if let Err(error) = partition.truncate_to_high_watermark().await {
                    tracing::error!(%error, dir = %partition.dir().display(), "could not truncate a follower's log");
                    continue;
                }
                ready.insert(*key, *leader_epoch);
            }
            let Some(topic) = image.topic_by_id(&key.0) else {
                continue;
            };
            wanted.push(FollowerFetch {
                topic: topic.name.clone(),
                partition: key.1,
                fetch_offset: partition.follower_fetch_offset(),
                current_leader_epoch: *leader_epoch,
            });
            by_name.insert((topic.name.clone(), key.1), Rc::clone(partition));
        }
        if wanted.is_empty() {
            glommio::timer::sleep(REPLICA_FETCH_BACKOFF).await;
            continue;
        }
        let request = build_fetch_request(ctx.config.node_id(), &wanted);
        let response = match fetch(ctx, &image, fetcher.leader, &mut connection, &request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(leader = fetcher.leader, %error, "replica fetch failed; backing off");
                connection = None;
                glommio::timer::sleep(REPLICA_FETCH_BACKOFF).await;
                continue;
            }
        };
        let answers = match split_fetch_response(response) {
            Ok(answers) => answers,
            Err(code) => {
                tracing::debug!(
                    leader = fetcher.leader,
                    code,
                    "replica fetch refused; backing off"
                );
                glommio::timer::sleep(REPLICA_FETCH_BACKOFF).await;
                continue;
            }
        };
        let mut failed = false;
        for answer in answers {
            let Some(partition) = by_name.get(&(answer.topic.clone(), answer.partition)) else {
                continue;
            };
            failed |= !apply_answer(partition, &answer).await;
        }
        if failed {
            glommio::timer::sleep(REPLICA_FETCH_BACKOFF).await;
        }
    }
    tracing::info!(
        leader = fetcher.leader,
        fetcher_id = fetcher.fetcher_id,
        "replica fetcher stopped"
    );
}

/// The partitions of this shard that `fetcher` serves now: followers of
/// its leader that hash to it, with the leader epoch they follow at.
fn fetcher_partitions(
    ctx: &ShardState,
    fetcher: FetcherKey,
) -> Vec<(PartitionKey, Rc<Partition>, i32)> {
    ctx.follower_partitions()
        .into_iter()
        .filter_map(|(key, partition)| match partition.role() {
            Role::Follower {
                leader,
                leader_epoch,
            } if leader == fetcher.leader
                && fetcher_id(&key, NUM_REPLICA_FETCHERS) == fetcher.fetcher_id =>
            {
                Some((key, partition, leader_epoch))
            }
            _ => None,
        })
        .collect()
}

/// Applies one partition's answer: appends its batches and learns the
/// leader's high watermark. Returns false when the partition should back
/// off (an error from the leader, or batches this log refused).
async fn apply_answer(partition: &Partition, answer: &PartitionAnswer) -> bool {
    if answer.error_code != 0 {
        // NOT_LEADER_OR_FOLLOWER, FENCED/UNKNOWN_LEADER_EPOCH: the image
        // moves the partition; OFFSET_OUT_OF_RANGE: not handled yet (a
        // follower truncated to its high watermark is never ahead).
        tracing::debug!(
            dir = %partition.dir().display(),
            code = answer.error_code,
            "the leader refused a partition of a replica fetch"
        );
        return false;
    }
    if !answer.records.is_empty() {
        match partition
            .append_as_follower(&answer.records, now_ms())
            .await
        {
            Ok(_) => {}
            Err(FollowerAppendError::NotFollower) => return true,
            Err(FollowerAppendError::OffsetMismatch { expected, found }) => {
                // An answer to an older fetch offset (or a truncation in
                // between): the next fetch asks from the log end.
                tracing::debug!(
                    expected,
                    found,
                    "fetched batches do not start at the log end"
                );
                return true;
            }
            Err(FollowerAppendError::Append(error)) => {
                tracing::error!(%error, dir = %partition.dir().display(), "a follower could not append fetched batches");
                return false;
            }
        }
    }
    partition.learn_high_watermark(answer.high_watermark);
    true
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

/// Sends `request` to `leader`, connecting first if needed.
async fn fetch(
    ctx: &ShardState,
    image: &MetadataImage,
    leader: BrokerId,
    connection: &mut Option<ControllerConnection>,
    request: &FetchRequest,
) -> Result<FetchResponse, FetchError> {
    if connection.is_none() {
        let address = leader_address(ctx, image, leader).ok_or(FetchError::NoAddress(leader))?;
        *connection = Some(ControllerConnection::connect_to(&address).await?);
    }
    let Some(open) = connection.as_mut() else {
        return Err(FetchError::NoAddress(leader));
    };
    Ok(open
        .call(ApiKey::Fetch, REPLICA_FETCH_VERSION, request)
        .await?)
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
            partition,
            fetch_offset,
            current_leader_epoch: 4,
        }
    }

    #[test]
    fn a_follower_fetch_names_its_replica_id_and_every_partition_by_topic() {
        let request = build_fetch_request(
            2,
            &[wanted("a", 0, 10), wanted("a", 1, 0), wanted("b", 0, 7)],
        );
        assert_eq!(request.replica_id.0, 2);
        assert_eq!(request.max_wait_ms, 500);
        assert_eq!(request.min_bytes, 1);
        assert_eq!(request.session_id, 0);
        assert_eq!(request.session_epoch, -1);
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
        let answers = split_fetch_response(response).unwrap();
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].topic, "a");
        assert_eq!(answers[0].high_watermark, 12);
        assert_eq!(&answers[0].records[..], b"batches");
        assert_eq!(answers[1].error_code, 6);
        assert!(answers[1].records.is_empty());
        let refused = FetchResponse::default().with_error_code(15);
        assert_eq!(split_fetch_response(refused), Err(15));
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
