//! Broker metrics without locks or allocation on the data path.
//!
//! Each data shard owns one [`ShardMetrics`]: fixed arrays of counters
//! that only that shard writes (a relaxed load and store, i.e. a plain
//! `mov` on x86, never a locked instruction) and the admin listener only
//! reads. Per-topic counters live in an `Arc<TopicCounters>` the shard
//! registers the first time it sees a topic (one allocation per topic and
//! shard, at warm-up), found again through a shard-local map. A scrape sums
//! every shard's counters ([`MetricsRegistry::encode`]), so values are exact
//! as of the scrape and never reset. The engine's own statistics (fdatasync
//! latency, cross-shard calls) are the same kind of single-writer atomics,
//! registered here and read the same way.
//!
//! Gauges that would cost a walk over state (log sizes and segment counts,
//! leaders, consumer groups and their committed offsets) are not kept up to
//! date on the data path at all. A scrape asks for them instead: the admin
//! listener bumps the scrape generation ([`MetricsRegistry::refresh`]);
//! each shard's refresh task, which looks at the generation every
//! [`REFRESH_POLL`], reads its own state and publishes a snapshot tagged
//! with that generation; the scrape waits (bounded) for every snapshot and
//! joins them — consumer lag is the control shard's committed offsets
//! against the data shards' high watermarks. No thread ever wakes another
//! shard's task: shards poll, the listener polls.
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::messages::ApiKey;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use skein_controller::TopicId;

use crate::replication_quota::ThrottleSide;
use skein_engine::{
    HistogramSnapshot, LatencyHistogram, LogStats, MeshStats, LATENCY_BUCKETS, LATENCY_BUCKETS_US,
};

use crate::response_errors::ErrorCodes;

/// API keys tracked (Kafka's keys are below this).
const API_KEYS: usize = 96;
/// Error-code counters per API: codes -1..=127 in slots 0..=128, any other
/// code in the last slot.
const ERROR_SLOTS: usize = 130;
/// How often a shard's refresh task looks for a scrape's request.
pub const REFRESH_POLL: Duration = Duration::from_millis(50);
/// The longest a scrape waits for the shards' snapshots; after it, the
/// scrape reports the latest ones it has.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(2);

/// Adds `by` to a counter this thread alone writes: no read-modify-write
/// instruction is needed, so this costs what a `Cell` would.
fn bump(counter: &AtomicU64, by: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// The counter slot of error code `code`.
fn error_slot(code: i16) -> usize {
    usize::try_from(i32::from(code) + 1)
        .ok()
        .filter(|slot| *slot < ERROR_SLOTS - 1)
        .unwrap_or(ERROR_SLOTS - 1)
}

/// Kafka's name of the error code in `slot` (`TOPIC_ALREADY_EXISTS`), as
/// the `error` label.
fn error_slot_name(slot: usize) -> String {
    if slot >= ERROR_SLOTS - 1 {
        return "OTHER".to_owned();
    }
    let code = i16::try_from(slot).map_or(i16::MAX, |slot| slot - 1);
    crate::error_code::error_code_name(code)
}

/// Per-topic traffic counters of one shard.
#[derive(Debug, Default)]
pub struct TopicCounters {
    bytes_in: AtomicU64,
    records_in: AtomicU64,
    bytes_out: AtomicU64,
    records_out: AtomicU64,
}

/// Per-API request counters and latency histogram of one shard.
#[derive(Debug)]
struct ApiCounters {
    requests: AtomicU64,
    /// Requests that closed the connection instead of being answered.
    failures: AtomicU64,
    /// Error codes in responses, by [`error_slot`].
    errors: [AtomicU64; ERROR_SLOTS],
    latency: LatencyHistogram,
}

impl Default for ApiCounters {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
            latency: LatencyHistogram::default(),
        }
    }
}

/// The `acks` label values of the produce-to-ack histograms, in slot order.
const ACKS_LABELS: [&str; 3] = ["0", "1", "all"];

/// The produce-to-ack histogram slot of `acks` (0, 1, -1 = all).
fn acks_slot(acks: i16) -> Option<usize> {
    match acks {
        0 => Some(0),
        1 => Some(1),
        -1 => Some(2),
        _ => None,
    }
}

/// One partition log as a scrape sees it. Published by: its owner shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionGauge {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Bytes in the log's segments.
    pub size_bytes: u64,
    /// Segments of the log (≥ 1).
    pub segments: u64,
    /// The partition's high watermark.
    pub high_watermark: i64,
    /// Whether this broker leads the partition.
    pub leader: bool,
    /// Replicas assigned to the partition.
    pub replicas: u32,
    /// Replicas in sync with the leader (the ISR), the leader included.
    pub isr: u32,
    /// On the leader: how far each follower is behind (empty on a
    /// follower or a partition with one replica).
    pub followers: Vec<FollowerLag>,
}

/// How far one follower is behind its leader, as the leader sees it.
/// Published by: the leader's owner shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerLag {
    /// The follower's broker id.
    pub broker: i32,
    /// Records between its log end offset and the leader's (the leader's
    /// log end offset when it has not fetched in this leader epoch).
    pub records: u64,
    /// Milliseconds since it was last caught up with the leader's log end
    /// (0 when it is caught up now).
    pub ms: u64,
}

impl PartitionGauge {
    /// Whether the ISR is smaller than the replica set (Kafka's
    /// `UnderReplicatedPartitions`, counted by the leader).
    pub fn under_replicated(&self) -> bool {
        self.leader && self.isr < self.replicas
    }
}

/// One consumer group as a scrape sees it. Published by: the control shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupGauge {
    /// Group id.
    pub group_id: String,
    /// Kafka's name of the group's state (`Stable`, `Empty`, …).
    pub state: &'static str,
    /// Committed offsets: (topic, partition, offset).
    pub committed: Vec<(String, i32, i64)>,
}

/// A snapshot published for scrape generation `generation`.
#[derive(Debug)]
struct Published<T> {
    generation: u64,
    items: Vec<T>,
}

impl<T> Default for Published<T> {
    fn default() -> Self {
        Published {
            generation: 0,
            items: Vec::new(),
        }
    }
}

/// One data shard's published counters. Written by: that shard only.
/// Read by: the admin listener, at scrape time.
#[derive(Debug)]
pub struct ShardMetrics {
    shard: usize,
    apis: Vec<ApiCounters>,
    produce_ack: [LatencyHistogram; 3],
    connections_open: AtomicU64,
    connections_accepted: AtomicU64,
    partitions: AtomicU64,
    fetch_sessions: AtomicU64,
    fetch_session_partitions: AtomicU64,
    /// Bytes and records this shard's followers appended from their
    /// leaders (the replica fetchers' throughput, Kafka's FetcherStats).
    replica_fetched_bytes: AtomicU64,
    replica_fetched_records: AtomicU64,
    /// Bytes of throttled replicas counted against a bounded replication
    /// rate, by side ([`ShardMetrics::throttled_bytes`]).
    leader_throttled_bytes: AtomicU64,
    follower_throttled_bytes: AtomicU64,
    topics: Mutex<Vec<(String, Arc<TopicCounters>)>>,
    /// Failed authentications by listener name (refused SASL credentials,
    /// failed TLS handshakes, refused client certificates). A lock and, per
    /// listener once, an allocation: only on the failure path.
    failed_authentications: Mutex<BTreeMap<String, u64>>,
    /// The shard's log statistics (fdatasync latency), written by its logs.
    log_stats: Arc<LogStats>,
    /// Partition gauges, refreshed at scrape.
    gauges: Mutex<Published<PartitionGauge>>,
}

impl ShardMetrics {
    /// Sums `value` over this shard's topics (at scrape).
    fn topic_sum(&self, value: impl Fn(&TopicCounters) -> u64) -> u64 {
        self.topics.lock().map_or(0, |topics| {
            topics.iter().map(|(_, counters)| value(counters)).sum()
        })
    }

    /// The counter of `side`'s throttled bytes.
    fn throttled_bytes(&self, side: ThrottleSide) -> &AtomicU64 {
        match side {
            ThrottleSide::Leader => &self.leader_throttled_bytes,
            ThrottleSide::Follower => &self.follower_throttled_bytes,
        }
    }

    fn new(shard: usize, log_stats: Arc<LogStats>) -> Self {
        Self {
            shard,
            apis: (0..API_KEYS).map(|_| ApiCounters::default()).collect(),
            produce_ack: std::array::from_fn(|_| LatencyHistogram::default()),
            connections_open: AtomicU64::new(0),
            connections_accepted: AtomicU64::new(0),
            partitions: AtomicU64::new(0),
            fetch_sessions: AtomicU64::new(0),
            fetch_session_partitions: AtomicU64::new(0),
            replica_fetched_bytes: AtomicU64::new(0),
            replica_fetched_records: AtomicU64::new(0),
            leader_throttled_bytes: AtomicU64::new(0),
            follower_throttled_bytes: AtomicU64::new(0),
            topics: Mutex::new(Vec::new()),
            failed_authentications: Mutex::new(BTreeMap::new()),
            log_stats,
            gauges: Mutex::new(Published::default()),
        }
    }
}

/// The shard-local handle the data path uses. Lives on: one data shard.
#[derive(Debug)]
pub struct LocalMetrics {
    published: Arc<ShardMetrics>,
    topics: RefCell<HashMap<TopicId, Arc<TopicCounters>>>,
}

impl LocalMetrics {
    /// Counters for data shard `shard`, all zero. Call on the shard's own
    /// thread: it picks up that thread's engine log statistics.
    pub fn new(shard: usize) -> Self {
        Self {
            published: Arc::new(ShardMetrics::new(shard, skein_engine::shard_log_stats())),
            topics: RefCell::new(HashMap::new()),
        }
    }

    /// What the admin listener reads.
    pub fn published(&self) -> Arc<ShardMetrics> {
        Arc::clone(&self.published)
    }

    /// Counts one request of `api_key` that took `elapsed`; `failed` when
    /// it closed the connection instead of being answered.
    pub fn record_request(&self, api_key: i16, elapsed: Duration, failed: bool) {
        let Some(api) = usize::try_from(api_key)
            .ok()
            .and_then(|key| self.published.apis.get(key))
        else {
            return;
        };
        bump(&api.requests, 1);
        if failed {
            bump(&api.failures, 1);
        }
        api.latency.record(elapsed);
    }

    /// Counts one error code `code` in a response of `api_key` (0, no
    /// error, counts nothing).
    pub fn record_error(&self, api_key: ApiKey, code: i16) {
        if code == 0 {
            return;
        }
        let counter = self
            .published
            .apis
            .get(api_key as usize)
            .and_then(|api| api.errors.get(error_slot(code)));
        if let Some(counter) = counter {
            bump(counter, 1);
        }
    }

    /// Counts every error code in `response`, a response of `api_key`.
    pub fn record_errors(&self, api_key: ApiKey, response: &impl ErrorCodes) {
        response.error_codes(&mut |code| self.record_error(api_key, code));
    }

    /// A Produce request with `acks` was acknowledged (its response ready,
    /// or for acks=0 its appends done) `elapsed` after it arrived.
    pub fn produce_acknowledged(&self, acks: i16, elapsed: Duration) {
        if let Some(histogram) =
            acks_slot(acks).and_then(|slot| self.published.produce_ack.get(slot))
        {
            histogram.record(elapsed);
        }
    }

    /// A connection opened (`true`) or closed (`false`).
    pub fn connection(&self, opened: bool) {
        let open = &self.published.connections_open;
        if opened {
            bump(open, 1);
            bump(&self.published.connections_accepted, 1);
        } else {
            open.store(read(open).saturating_sub(1), Ordering::Relaxed);
        }
    }

    /// A follower on this shard appended `bytes` holding `records` records
    /// fetched from its leader.
    pub fn replica_fetched(&self, bytes: usize, records: u64) {
        bump(&self.published.replica_fetched_bytes, bytes as u64);
        bump(&self.published.replica_fetched_records, records);
    }

    /// `bytes` of throttled replicas were counted against this shard's
    /// `side` replication quota (Kafka's LeaderReplication /
    /// FollowerReplication byte rates).
    pub fn replication_throttled(&self, side: ThrottleSide, bytes: u64) {
        bump(self.published.throttled_bytes(side), bytes);
    }

    /// An authentication on `listener` failed (Kafka's
    /// `failed-authentication-total`).
    pub fn failed_authentication(&self, listener: &str) {
        if let Ok(mut failed) = self.published.failed_authentications.lock() {
            match failed.get_mut(listener) {
                Some(count) => *count += 1,
                None => {
                    failed.insert(listener.to_owned(), 1);
                }
            }
        }
    }

    /// How many partition logs this shard owns now.
    pub fn set_partitions(&self, count: usize) {
        self.published
            .partitions
            .store(count as u64, Ordering::Relaxed);
    }

    /// How many fetch sessions the shard holds and how many partitions they
    /// cache in all.
    pub fn set_fetch_sessions(&self, sessions: usize, partitions: usize) {
        self.published
            .fetch_sessions
            .store(sessions as u64, Ordering::Relaxed);
        self.published
            .fetch_session_partitions
            .store(partitions as u64, Ordering::Relaxed);
    }

    /// Publishes the shard's partition gauges for scrape `generation`
    /// (called by the refresh task, off the data path).
    pub fn publish_partitions(&self, generation: u64, partitions: Vec<PartitionGauge>) {
        if let Ok(mut gauges) = self.published.gauges.lock() {
            gauges.generation = generation;
            gauges.items = partitions;
        }
    }

    /// Runs `update` on the counters of `topic`, registering them on first
    /// sight (the one allocation per topic and shard). No reference count
    /// is touched on the way: the map is borrowed, not cloned from.
    fn with_topic(&self, topic_id: &TopicId, name: &str, update: impl FnOnce(&TopicCounters)) {
        if let Some(found) = self.topics.borrow().get(topic_id) {
            update(found);
            return;
        }
        let counters = Arc::new(TopicCounters::default());
        update(&counters);
        if let Ok(mut published) = self.published.topics.lock() {
            published.push((name.to_owned(), Arc::clone(&counters)));
        }
        self.topics.borrow_mut().insert(*topic_id, counters);
    }

    /// Counts a record set of `topic` that Produce appended: `bytes` long,
    /// holding `records` records (see [`record_count`]).
    pub fn produced(&self, topic_id: &TopicId, name: &str, bytes: usize, records: u64) {
        self.with_topic(topic_id, name, |counters| {
            bump(&counters.bytes_in, bytes as u64);
            bump(&counters.records_in, records);
        });
    }

    /// Counts fetched batch bytes of `topic`.
    pub fn fetched(&self, topic_id: &TopicId, name: &str, batches: &[u8]) {
        self.with_topic(topic_id, name, |counters| {
            bump(&counters.bytes_out, batches.len() as u64);
            bump(&counters.records_out, record_count(batches));
        });
    }
}

/// Records in the whole v2 batches of `bytes` (a truncated tail counts nothing).
pub fn record_count(bytes: &[u8]) -> u64 {
    let mut position = 0usize;
    let mut records = 0u64;
    loop {
        let Some(header) = position
            .checked_add(61)
            .and_then(|end| bytes.get(position..end))
        else {
            return records;
        };
        let field = |at: usize| {
            header
                .get(at..at + 4)
                .and_then(|slice| <[u8; 4]>::try_from(slice).ok())
                .map_or(0, i32::from_be_bytes)
        };
        let Some(batch_bytes) = usize::try_from(field(8))
            .ok()
            .and_then(|length| length.checked_add(12))
        else {
            return records;
        };
        if batch_bytes < 61 || position.saturating_add(batch_bytes) > bytes.len() {
            return records;
        }
        records += u64::try_from(field(57)).unwrap_or(0);
        position += batch_bytes;
    }
}

/// Every shard's counters plus readiness. Shared by the node and the admin listener.
#[derive(Debug, Default)]
pub struct MetricsRegistry {
    shards: Mutex<Vec<Arc<ShardMetrics>>>,
    meshes: Mutex<Vec<Arc<MeshStats>>>,
    /// Consumer groups, published by the control shard once it runs.
    groups: Mutex<Published<GroupGauge>>,
    groups_published: AtomicBool,
    /// Bumped by each scrape; shards answer with snapshots of this generation.
    scrape_generation: AtomicU64,
    listening: AtomicUsize,
    stopping: AtomicBool,
}

impl MetricsRegistry {
    /// Adds a shard's counters (at shard start).
    pub fn register(&self, shard: Arc<ShardMetrics>) {
        if let Ok(mut shards) = self.shards.lock() {
            shards.push(shard);
        }
    }

    /// Adds a shard's cross-shard call statistics (every shard, at start).
    pub fn register_mesh(&self, mesh: Arc<MeshStats>) {
        if let Ok(mut meshes) = self.meshes.lock() {
            meshes.push(mesh);
        }
    }

    /// The generation of the latest scrape's refresh request; a shard's
    /// refresh task publishes when it differs from what it last published.
    pub fn scrape_generation(&self) -> u64 {
        self.scrape_generation.load(Ordering::SeqCst)
    }

    /// Publishes the consumer groups for scrape `generation` (control
    /// shard's refresh task).
    pub fn publish_groups(&self, generation: u64, groups: Vec<GroupGauge>) {
        if let Ok(mut published) = self.groups.lock() {
            published.generation = generation;
            published.items = groups;
        }
        self.groups_published.store(true, Ordering::SeqCst);
    }

    /// Asks every shard for fresh gauges and waits until all have published
    /// them, at most [`REFRESH_TIMEOUT`] (a stopping node is not waited for).
    /// Returns whether every snapshot arrived. Admin listener thread only:
    /// it sleeps.
    pub fn refresh(&self) -> bool {
        let generation = self.scrape_generation.fetch_add(1, Ordering::SeqCst) + 1;
        let started = Instant::now();
        loop {
            if self.is_fresh(generation) {
                return true;
            }
            if self.stopping.load(Ordering::SeqCst) || started.elapsed() >= REFRESH_TIMEOUT {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn is_fresh(&self, generation: u64) -> bool {
        let shards_fresh = self.shards.lock().is_ok_and(|shards| {
            shards.iter().all(|shard| {
                shard
                    .gauges
                    .lock()
                    .is_ok_and(|gauges| gauges.generation >= generation)
            })
        });
        let groups_fresh = !self.groups_published.load(Ordering::SeqCst)
            || self
                .groups
                .lock()
                .is_ok_and(|groups| groups.generation >= generation);
        shards_fresh && groups_fresh
    }

    /// A data shard recovered its logs and its listener is up.
    pub fn shard_listening(&self) {
        self.listening.fetch_add(1, Ordering::SeqCst);
    }

    /// The node is shutting down: no longer ready.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether every one of `data_shards` is listening and the node is not stopping.
    pub fn is_ready(&self, data_shards: usize) -> bool {
        !self.stopping.load(Ordering::SeqCst)
            && self.listening.load(Ordering::SeqCst) >= data_shards
    }

    /// The Prometheus text exposition of every counter, summed over shards
    /// (per shard for the per-shard gauges), with the gauges of the latest
    /// [`refresh`](Self::refresh).
    ///
    /// # Errors
    /// Only if formatting fails (it does not, writing to a `String`).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let shards: Vec<Arc<ShardMetrics>> = self
            .shards
            .lock()
            .map(|shards| shards.clone())
            .unwrap_or_default();
        let meshes: Vec<Arc<MeshStats>> = self
            .meshes
            .lock()
            .map(|meshes| meshes.clone())
            .unwrap_or_default();
        let groups = self
            .groups
            .lock()
            .map(|groups| groups.items.clone())
            .unwrap_or_default();
        let mut registry = prometheus_client::registry::Registry::with_prefix("skein");
        registry.register_collector(Box::new(Snapshot {
            shards,
            meshes,
            groups,
        }));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)?;
        Ok(text)
    }
}

/// The collector a scrape encodes: reads the shards' counters.
#[derive(Debug)]
struct Snapshot {
    shards: Vec<Arc<ShardMetrics>>,
    meshes: Vec<Arc<MeshStats>>,
    groups: Vec<GroupGauge>,
}

/// A histogram given by its buckets, for the encoder.
#[derive(Debug)]
struct ConstHistogram {
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

impl ConstHistogram {
    /// The encoder's form of `snapshot` (seconds; +Inf as `f64::MAX`).
    fn of(snapshot: &HistogramSnapshot) -> ConstHistogram {
        let buckets = LATENCY_BUCKETS_US
            .iter()
            .map(|bound| *bound as f64 / 1e6)
            .chain(std::iter::once(f64::MAX))
            .zip(snapshot.counts)
            .collect();
        ConstHistogram {
            sum: snapshot.sum_us as f64 / 1e6,
            count: snapshot.count(),
            buckets,
        }
    }
}

const _: () = assert!(LATENCY_BUCKETS == LATENCY_BUCKETS_US.len() + 1);

impl EncodeMetric for ConstHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            self.sum,
            self.count,
            &self.buckets,
            None,
        )
    }
    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

type Labels = Vec<(&'static str, String)>;

/// A per-shard metric: name, help, type, and how to read it off a shard.
type PerShardFamily = (
    &'static str,
    &'static str,
    MetricType,
    fn(&ShardMetrics) -> u64,
);

fn gauge_value(value: u64) -> prometheus_client::metrics::gauge::ConstGauge<i64> {
    prometheus_client::metrics::gauge::ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX))
}

impl prometheus_client::collector::Collector for Snapshot {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        self.encode_topics(&mut encoder)?;
        self.encode_apis(&mut encoder)?;
        self.encode_per_shard(&mut encoder)?;
        self.encode_failed_authentications(&mut encoder)?;
        self.encode_replication_throttled(&mut encoder)?;
        self.encode_engine(&mut encoder)?;
        self.encode_partitions(&mut encoder)?;
        self.encode_groups(&mut encoder)
    }
}

impl Snapshot {
    fn encode_topics(
        &self,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::metrics::counter::ConstCounter;
        let mut topics: BTreeMap<String, [u64; 4]> = BTreeMap::new();
        for shard in &self.shards {
            if let Ok(list) = shard.topics.lock() {
                for (name, counters) in list.iter() {
                    let sums = topics.entry(name.clone()).or_default();
                    sums[0] += read(&counters.bytes_in);
                    sums[1] += read(&counters.records_in);
                    sums[2] += read(&counters.bytes_out);
                    sums[3] += read(&counters.records_out);
                }
            }
        }
        let topic_families = [
            (
                "topic_bytes_in",
                "Record-batch bytes produced to the topic.",
            ),
            ("topic_records_in", "Records produced to the topic."),
            (
                "topic_bytes_out",
                "Record-batch bytes fetched from the topic.",
            ),
            (
                "topic_records_out",
                "Records fetched from the topic (whole batches).",
            ),
        ];
        for (index, (name, help)) in topic_families.iter().enumerate() {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (topic, sums) in &topics {
                let labels: Labels = vec![("topic", topic.clone())];
                ConstCounter::new(sums.get(index).copied().unwrap_or(0))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }

    /// Sums `value` of API `key` over the shards.
    fn api_sum(&self, key: usize, value: impl Fn(&ApiCounters) -> u64) -> u64 {
        self.shards
            .iter()
            .filter_map(|shard| shard.apis.get(key))
            .map(value)
            .sum()
    }

    fn encode_apis(
        &self,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::metrics::counter::ConstCounter;
        let served: Vec<usize> = (0..API_KEYS)
            .filter(|key| self.api_sum(*key, |api| read(&api.requests)) > 0)
            .collect();
        let mut requests = encoder.encode_descriptor(
            "requests",
            "Requests handled, by API.",
            None,
            MetricType::Counter,
        )?;
        for key in &served {
            let total = self.api_sum(*key, |api| read(&api.requests));
            ConstCounter::new(total).encode(requests.encode_family(&api_labels(*key))?)?;
        }
        let mut failures = encoder.encode_descriptor(
            "request_failures",
            "Requests that closed the connection instead of being answered (undecodable or unencodable), by API.",
            None,
            MetricType::Counter,
        )?;
        for key in &served {
            let total = self.api_sum(*key, |api| read(&api.failures));
            ConstCounter::new(total).encode(failures.encode_family(&api_labels(*key))?)?;
        }
        let mut errors = encoder.encode_descriptor(
            "request_errors",
            "Error codes in responses, by API and Kafka error name; one per occurrence (a response failing three partitions counts three).",
            None,
            MetricType::Counter,
        )?;
        for key in &served {
            for slot in 0..ERROR_SLOTS {
                let total = self.api_sum(*key, |api| api.errors.get(slot).map_or(0, read));
                if total > 0 {
                    let mut labels = api_labels(*key);
                    labels.push(("error", error_slot_name(slot)));
                    ConstCounter::new(total).encode(errors.encode_family(&labels)?)?;
                }
            }
        }
        let mut latency = encoder.encode_descriptor(
            "request_latency_seconds",
            "Time from a request's arrival to its response being ready, by API.",
            None,
            MetricType::Histogram,
        )?;
        for key in &served {
            let mut merged = HistogramSnapshot::default();
            for api in self.shards.iter().filter_map(|s| s.apis.get(*key)) {
                merged.merge(&api.latency.snapshot());
            }
            ConstHistogram::of(&merged).encode(latency.encode_family(&api_labels(*key))?)?;
        }
        let mut produce_ack = encoder.encode_descriptor(
            "produce_ack_latency_seconds",
            "Time from a Produce request's arrival to its acknowledgement (response ready; for acks=0, appends done), by acks.",
            None,
            MetricType::Histogram,
        )?;
        for (slot, acks) in ACKS_LABELS.iter().enumerate() {
            let mut merged = HistogramSnapshot::default();
            for histogram in self.shards.iter().filter_map(|s| s.produce_ack.get(slot)) {
                merged.merge(&histogram.snapshot());
            }
            if merged.count() > 0 {
                let labels: Labels = vec![("acks", (*acks).to_owned())];
                ConstHistogram::of(&merged).encode(produce_ack.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }

    fn encode_per_shard(
        &self,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::metrics::counter::ConstCounter;
        let per_shard: [PerShardFamily; 10] = [
            (
                "connections_open",
                "Client connections open, by shard.",
                MetricType::Gauge,
                |s| read(&s.connections_open),
            ),
            (
                "connections_accepted",
                "Client connections accepted, by shard.",
                MetricType::Counter,
                |s| read(&s.connections_accepted),
            ),
            (
                "partitions",
                "Partition logs owned, by shard.",
                MetricType::Gauge,
                |s| read(&s.partitions),
            ),
            (
                "fetch_sessions",
                "Incremental fetch sessions (KIP-227) held, by shard.",
                MetricType::Gauge,
                |s| read(&s.fetch_sessions),
            ),
            (
                "fetch_session_partitions",
                "Partitions cached by the shard's fetch sessions, by shard.",
                MetricType::Gauge,
                |s| read(&s.fetch_session_partitions),
            ),
            (
                "shard_requests",
                "Requests served, all APIs, by shard (per API: skein_requests_total).",
                MetricType::Counter,
                |s| s.apis.iter().map(|api| read(&api.requests)).sum(),
            ),
            (
                "shard_bytes_in",
                "Record-batch bytes appended, all topics, by shard (per topic: skein_topic_bytes_in_total).",
                MetricType::Counter,
                |s| s.topic_sum(|topic| read(&topic.bytes_in)),
            ),
            (
                "shard_bytes_out",
                "Record-batch bytes fetched, all topics, by shard (per topic: skein_topic_bytes_out_total).",
                MetricType::Counter,
                |s| s.topic_sum(|topic| read(&topic.bytes_out)),
            ),
            (
                "replica_fetched_bytes",
                "Record-batch bytes followers appended from their leaders (replica fetcher throughput), by shard.",
                MetricType::Counter,
                |s| read(&s.replica_fetched_bytes),
            ),
            (
                "replica_fetched_records",
                "Records followers appended from their leaders, by shard.",
                MetricType::Counter,
                |s| read(&s.replica_fetched_records),
            ),
        ];
        for (name, help, kind, value) in per_shard {
            let mut family = encoder.encode_descriptor(name, help, None, kind)?;
            for shard in &self.shards {
                let labels: Labels = vec![("shard", shard.shard.to_string())];
                let v = value(shard);
                match kind {
                    MetricType::Counter => {
                        ConstCounter::new(v).encode(family.encode_family(&labels)?)?
                    }
                    _ => gauge_value(v).encode(family.encode_family(&labels)?)?,
                }
            }
        }
        Ok(())
    }

    fn encode_replication_throttled(
        &self,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::metrics::counter::ConstCounter;
        let mut family = encoder.encode_descriptor(
            "replication_throttled_bytes",
            "Bytes of throttled replicas counted against leader.replication.throttled.rate (side=leader: sent to followers) or follower.replication.throttled.rate (side=follower: fetched), while a rate applies.",
            None,
            MetricType::Counter,
        )?;
        for side in [ThrottleSide::Leader, ThrottleSide::Follower] {
            let total: u64 = self
                .shards
                .iter()
                .map(|shard| read(shard.throttled_bytes(side)))
                .sum();
            let labels: Labels = vec![("side", side.label().to_owned())];
            ConstCounter::new(total).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn encode_failed_authentications(
        &self,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::metrics::counter::ConstCounter;
        let mut by_listener: BTreeMap<String, u64> = BTreeMap::new();
        for shard in &self.shards {
            if let Ok(failed) = shard.failed_authentications.lock() {
                for (listener, count) in failed.iter() {
                    *by_listener.entry(listener.clone()).or_default() += count;
                }
            }
        }
        let mut family = encoder.encode_descriptor(
            "failed_authentication",
            "Connections whose authentication failed (refused SASL credentials, failed TLS handshakes, refused client certificates), by listener (Kafka's failed-authentication-total).",
            None,
            MetricType::Counter,
        )?;
        for (listener, count) in by_listener {
            let labels: Labels = vec![("listener", listener)];
            ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn encode_engine(
        &self,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::metrics::counter::ConstCounter;
        let mut fsync = encoder.encode_descriptor(
            "log_fsync_latency_seconds",
            "Latency of the log syncer's fdatasyncs (group commits under flush=batch), by shard.",
            None,
            MetricType::Histogram,
        )?;
        for shard in &self.shards {
            let labels: Labels = vec![("shard", shard.shard.to_string())];
            ConstHistogram::of(&shard.log_stats.fsync.snapshot())
                .encode(fsync.encode_family(&labels)?)?;
        }
        let mut read_ahead = encoder.encode_descriptor(
            "log_read_ahead_windows",
            "Windows the log read-ahead read from disk for sequential readers (outcome=read) and windows a read then took (outcome=used), by shard.",
            None,
            MetricType::Counter,
        )?;
        for shard in &self.shards {
            let stats = &shard.log_stats;
            for (outcome, counter) in [
                ("read", &stats.read_ahead_windows_read),
                ("used", &stats.read_ahead_windows_used),
            ] {
                let labels: Labels = vec![
                    ("shard", shard.shard.to_string()),
                    ("outcome", outcome.to_string()),
                ];
                ConstCounter::new(counter.load(Ordering::Relaxed))
                    .encode(read_ahead.encode_family(&labels)?)?;
            }
        }
        let mut read_ahead_bytes = encoder.encode_descriptor(
            "log_read_ahead_bytes",
            "Bytes of the windows the log read-ahead read from disk (whole aligned reads), by shard: above the bytes sequential readers consume when windows overlap.",
            None,
            MetricType::Counter,
        )?;
        for shard in &self.shards {
            let labels: Labels = vec![("shard", shard.shard.to_string())];
            ConstCounter::new(
                shard
                    .log_stats
                    .read_ahead_bytes_read
                    .load(Ordering::Relaxed),
            )
            .encode(read_ahead_bytes.encode_family(&labels)?)?;
        }
        let mut open_files = encoder.encode_descriptor(
            "log_open_files",
            "Segment (.log) files a data shard holds open now: within its share of log.open.files.max unless every open file is busy with an IO.",
            None,
            MetricType::Gauge,
        )?;
        for shard in &self.shards {
            let labels: Labels = vec![("shard", shard.shard.to_string())];
            let open = shard.log_stats.segment_files_open.load(Ordering::Relaxed);
            gauge_value(open).encode(open_files.encode_family(&labels)?)?;
        }
        let mut reopens = encoder.encode_descriptor(
            "log_file_reopens",
            "Segment files reopened after the open-files budget closed them, by shard: a fast climb means log.open.files.max is small for the partitions in use.",
            None,
            MetricType::Counter,
        )?;
        for shard in &self.shards {
            let labels: Labels = vec![("shard", shard.shard.to_string())];
            let count = shard.log_stats.segment_file_reopens.load(Ordering::Relaxed);
            ConstCounter::new(count).encode(reopens.encode_family(&labels)?)?;
        }
        let mut in_flight = encoder.encode_descriptor(
            "cross_shard_calls_in_flight",
            "Cross-shard calls sent (or waiting for channel room) and not yet answered, by calling shard and peer.",
            None,
            MetricType::Gauge,
        )?;
        for mesh in &self.meshes {
            let shard = mesh.shard();
            for (peer, calls) in mesh.in_flight().filter(|(peer, _)| *peer != shard) {
                let labels: Labels =
                    vec![("shard", shard.0.to_string()), ("peer", peer.0.to_string())];
                gauge_value(calls).encode(in_flight.encode_family(&labels)?)?;
            }
        }
        let mut call_latency = encoder.encode_descriptor(
            "cross_shard_call_latency_seconds",
            "Time from sending a cross-shard call to its answer, by calling shard.",
            None,
            MetricType::Histogram,
        )?;
        for mesh in &self.meshes {
            let labels: Labels = vec![("shard", mesh.shard().0.to_string())];
            ConstHistogram::of(&mesh.call_latency.snapshot())
                .encode(call_latency.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn encode_partitions(
        &self,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let published: Vec<(usize, Vec<PartitionGauge>)> = self
            .shards
            .iter()
            .map(|shard| {
                let mut items = shard
                    .gauges
                    .lock()
                    .map(|gauges| gauges.items.clone())
                    .unwrap_or_default();
                items
                    .sort_unstable_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
                (shard.shard, items)
            })
            .collect();
        let mut size = encoder.encode_descriptor(
            "log_size_bytes",
            "Bytes in the partition's log segments (appended, written or not).",
            None,
            MetricType::Gauge,
        )?;
        for (_, partitions) in &published {
            for partition in partitions {
                gauge_value(partition.size_bytes)
                    .encode(size.encode_family(&partition_labels(partition))?)?;
            }
        }
        let mut segments = encoder.encode_descriptor(
            "log_segments",
            "Segments of the partition's log, the active one included.",
            None,
            MetricType::Gauge,
        )?;
        for (_, partitions) in &published {
            for partition in partitions {
                gauge_value(partition.segments)
                    .encode(segments.encode_family(&partition_labels(partition))?)?;
            }
        }
        let mut leaders = encoder.encode_descriptor(
            "partition_leaders",
            "Partitions this broker leads, by owner shard.",
            None,
            MetricType::Gauge,
        )?;
        for (shard, partitions) in &published {
            let count = partitions.iter().filter(|p| p.leader).count() as u64;
            let labels: Labels = vec![("shard", shard.to_string())];
            gauge_value(count).encode(leaders.encode_family(&labels)?)?;
        }
        let mut under_replicated = encoder.encode_descriptor(
            "under_replicated_partitions",
            "Led partitions whose ISR is smaller than their replica set, by owner shard (Kafka's UnderReplicatedPartitions).",
            None,
            MetricType::Gauge,
        )?;
        for (shard, partitions) in &published {
            let count = partitions.iter().filter(|p| p.under_replicated()).count() as u64;
            let labels: Labels = vec![("shard", shard.to_string())];
            gauge_value(count).encode(under_replicated.encode_family(&labels)?)?;
        }
        let mut replicas = encoder.encode_descriptor(
            "partition_replicas",
            "Replicas assigned to each partition this broker leads (Kafka's ReplicasCount).",
            None,
            MetricType::Gauge,
        )?;
        for partition in published.iter().flat_map(|(_, p)| p).filter(|p| p.leader) {
            gauge_value(u64::from(partition.replicas))
                .encode(replicas.encode_family(&partition_labels(partition))?)?;
        }
        let mut isr = encoder.encode_descriptor(
            "partition_isr",
            "In-sync replicas, the leader included, of each partition this broker leads (Kafka's InSyncReplicasCount).",
            None,
            MetricType::Gauge,
        )?;
        for partition in published.iter().flat_map(|(_, p)| p).filter(|p| p.leader) {
            gauge_value(u64::from(partition.isr))
                .encode(isr.encode_family(&partition_labels(partition))?)?;
        }
        let mut lag_records = encoder.encode_descriptor(
            "follower_lag_records",
            "Records each follower is behind the leader's log end, as the leader sees it.",
            None,
            MetricType::Gauge,
        )?;
        for partition in published.iter().flat_map(|(_, p)| p) {
            for follower in &partition.followers {
                gauge_value(follower.records)
                    .encode(lag_records.encode_family(&follower_labels(partition, follower))?)?;
            }
        }
        let mut lag_ms = encoder.encode_descriptor(
            "follower_lag_ms",
            "Milliseconds since each follower was last caught up with the leader's log end (0: caught up); past replica.lag.time.max.ms it leaves the ISR.",
            None,
            MetricType::Gauge,
        )?;
        for partition in published.iter().flat_map(|(_, p)| p) {
            for follower in &partition.followers {
                gauge_value(follower.ms)
                    .encode(lag_ms.encode_family(&follower_labels(partition, follower))?)?;
            }
        }
        Ok(())
    }

    fn encode_groups(
        &self,
        encoder: &mut prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let mut by_state: BTreeMap<&str, u64> = [
            "Empty",
            "PreparingRebalance",
            "CompletingRebalance",
            "Stable",
            "Dead",
        ]
        .into_iter()
        .map(|state| (state, 0))
        .collect();
        for group in &self.groups {
            *by_state.entry(group.state).or_default() += 1;
        }
        let mut count = encoder.encode_descriptor(
            "consumer_groups",
            "Consumer groups this broker coordinates, by state.",
            None,
            MetricType::Gauge,
        )?;
        for (state, groups) in by_state {
            let labels: Labels = vec![("state", state.to_owned())];
            gauge_value(groups).encode(count.encode_family(&labels)?)?;
        }
        let mut high_watermarks: HashMap<(String, i32), i64> = HashMap::new();
        for shard in &self.shards {
            if let Ok(gauges) = shard.gauges.lock() {
                for partition in &gauges.items {
                    high_watermarks.insert(
                        (partition.topic.clone(), partition.partition),
                        partition.high_watermark,
                    );
                }
            }
        }
        let mut lag = encoder.encode_descriptor(
            "consumer_group_lag",
            "Records behind, summed over the group's committed partitions: high watermark minus committed offset (never negative).",
            None,
            MetricType::Gauge,
        )?;
        for group in &self.groups {
            let behind: i64 = group
                .committed
                .iter()
                .filter_map(|(topic, partition, offset)| {
                    high_watermarks
                        .get(&(topic.clone(), *partition))
                        .map(|high_watermark| (high_watermark - offset).max(0))
                })
                .sum();
            let labels: Labels = vec![("group", group.group_id.clone())];
            gauge_value(u64::try_from(behind).unwrap_or(0)).encode(lag.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

fn follower_labels(partition: &PartitionGauge, follower: &FollowerLag) -> Labels {
    let mut labels = partition_labels(partition);
    labels.push(("replica", follower.broker.to_string()));
    labels
}

fn partition_labels(partition: &PartitionGauge) -> Labels {
    vec![
        ("topic", partition.topic.clone()),
        ("partition", partition.partition.to_string()),
    ]
}

fn api_labels(key: usize) -> Labels {
    let name = i16::try_from(key)
        .ok()
        .and_then(|key| ApiKey::try_from(key).ok())
        .map_or_else(|| key.to_string(), |api| format!("{api:?}"));
    vec![("api", name)]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn scrape_sums_shards_and_encodes_prometheus_text() {
        let registry = MetricsRegistry::default();
        let first = LocalMetrics::new(0);
        let second = LocalMetrics::new(1);
        registry.register(first.published());
        registry.register(second.published());
        first.record_request(0, Duration::from_micros(300), false);
        second.record_request(0, Duration::from_millis(20), true);
        first.connection(true);
        second.replica_fetched(4096, 12);
        second.replica_fetched(1024, 3);
        first.replication_throttled(ThrottleSide::Leader, 700);
        second.replication_throttled(ThrottleSide::Leader, 300);
        second.replication_throttled(ThrottleSide::Follower, 5);
        let text = registry.encode().unwrap();
        assert!(
            text.contains("skein_replication_throttled_bytes_total{side=\"leader\"} 1000"),
            "{text}"
        );
        assert!(
            text.contains("skein_replication_throttled_bytes_total{side=\"follower\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("skein_requests_total{api=\"Produce\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("skein_request_failures_total{api=\"Produce\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("skein_request_latency_seconds_count{api=\"Produce\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("skein_connections_open{shard=\"0\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("skein_replica_fetched_bytes_total{shard=\"1\"} 5120"),
            "{text}"
        );
        assert!(
            text.contains("skein_replica_fetched_records_total{shard=\"1\"} 15"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn failed_authentications_are_summed_over_shards_by_listener() {
        let registry = MetricsRegistry::default();
        let first = LocalMetrics::new(0);
        let second = LocalMetrics::new(1);
        registry.register(first.published());
        registry.register(second.published());
        first.failed_authentication("SASL_SSL");
        second.failed_authentication("SASL_SSL");
        second.failed_authentication("SSL");
        let text = registry.encode().unwrap();
        assert!(
            text.contains("skein_failed_authentication_total{listener=\"SASL_SSL\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("skein_failed_authentication_total{listener=\"SSL\"} 1\n"),
            "{text}"
        );
    }

    fn gauge(topic: &str, partition: i32, high_watermark: i64, isr: u32) -> PartitionGauge {
        PartitionGauge {
            topic: topic.to_owned(),
            partition,
            size_bytes: 1000 + partition as u64,
            segments: 2,
            high_watermark,
            leader: true,
            replicas: 3,
            isr,
            followers: vec![FollowerLag {
                broker: 2,
                records: 7,
                ms: 1500,
            }],
        }
    }

    #[test]
    fn error_codes_are_counted_by_api_and_kafka_name() {
        let registry = MetricsRegistry::default();
        let shard = LocalMetrics::new(0);
        registry.register(shard.published());
        shard.record_request(
            ApiKey::CreateTopics as i16,
            Duration::from_micros(80),
            false,
        );
        shard.record_error(ApiKey::CreateTopics, 36);
        shard.record_error(ApiKey::CreateTopics, 0);
        shard.record_error(ApiKey::CreateTopics, -1);
        shard.record_error(ApiKey::CreateTopics, 9_999);
        let text = registry.encode().unwrap();
        for line in [
            "skein_request_errors_total{api=\"CreateTopics\",error=\"TOPIC_ALREADY_EXISTS\"} 1",
            "skein_request_errors_total{api=\"CreateTopics\",error=\"UNKNOWN_SERVER_ERROR\"} 1",
            "skein_request_errors_total{api=\"CreateTopics\",error=\"OTHER\"} 1",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(!text.contains("error=\"NONE\""), "{text}");
    }

    #[test]
    fn produce_acks_are_histograms_by_acks_level() {
        let registry = MetricsRegistry::default();
        let shard = LocalMetrics::new(0);
        registry.register(shard.published());
        shard.produce_acknowledged(-1, Duration::from_millis(2));
        shard.produce_acknowledged(-1, Duration::from_millis(3));
        shard.produce_acknowledged(0, Duration::from_micros(10));
        shard.produce_acknowledged(7, Duration::from_micros(10));
        let text = registry.encode().unwrap();
        assert!(
            text.contains("skein_produce_ack_latency_seconds_count{acks=\"all\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("skein_produce_ack_latency_seconds_count{acks=\"0\"} 1"),
            "{text}"
        );
        assert!(!text.contains("acks=\"1\""), "{text}");
    }

    #[test]
    fn lag_joins_committed_offsets_with_high_watermarks() {
        let registry = MetricsRegistry::default();
        let shard = LocalMetrics::new(0);
        registry.register(shard.published());
        shard.publish_partitions(1, vec![gauge("t", 0, 10, 3), gauge("t", 1, 5, 2)]);
        registry.publish_groups(
            1,
            vec![
                GroupGauge {
                    group_id: "g".to_owned(),
                    state: "Empty",
                    // 10-4 + 5-7 (ahead: 0) + a deleted topic (ignored).
                    committed: vec![
                        ("t".to_owned(), 0, 4),
                        ("t".to_owned(), 1, 7),
                        ("gone".to_owned(), 0, 1),
                    ],
                },
                GroupGauge {
                    group_id: "h".to_owned(),
                    state: "Stable",
                    committed: vec![],
                },
            ],
        );
        let text = registry.encode().unwrap();
        for line in [
            "skein_consumer_group_lag{group=\"g\"} 6",
            "skein_consumer_group_lag{group=\"h\"} 0",
            "skein_consumer_groups{state=\"Empty\"} 1",
            "skein_consumer_groups{state=\"Stable\"} 1",
            "skein_consumer_groups{state=\"Dead\"} 0",
            "skein_log_size_bytes{topic=\"t\",partition=\"1\"} 1001",
            "skein_log_segments{topic=\"t\",partition=\"0\"} 2",
            "skein_partition_leaders{shard=\"0\"} 2",
            "skein_under_replicated_partitions{shard=\"0\"} 1",
            "skein_partition_replicas{topic=\"t\",partition=\"1\"} 3",
            "skein_partition_isr{topic=\"t\",partition=\"1\"} 2",
            "skein_follower_lag_records{topic=\"t\",partition=\"0\",replica=\"2\"} 7",
            "skein_follower_lag_ms{topic=\"t\",partition=\"0\",replica=\"2\"} 1500",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn refresh_waits_for_every_shard_to_publish_the_new_generation() {
        let registry = Arc::new(MetricsRegistry::default());
        let shard = LocalMetrics::new(0).published();
        registry.register(Arc::clone(&shard));
        let shard_side = Arc::clone(&registry);
        let refresher = std::thread::spawn(move || {
            // Plays a shard's refresh task: publish once a scrape asks.
            let local = LocalMetrics {
                published: Arc::clone(&shard),
                topics: RefCell::new(HashMap::new()),
            };
            loop {
                let generation = shard_side.scrape_generation();
                if generation > 0 {
                    local.publish_partitions(generation, vec![gauge("t", 0, 1, 1)]);
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        assert!(registry.refresh(), "the shard published in time");
        refresher.join().unwrap();
        assert!(registry
            .encode()
            .unwrap()
            .contains("skein_log_segments{topic=\"t\",partition=\"0\"} 2"));
        registry.stopping();
        assert!(!registry.refresh(), "a stopping node is not waited for");
    }

    #[test]
    fn ready_only_once_every_data_shard_listens_and_not_while_stopping() {
        let registry = MetricsRegistry::default();
        assert!(!registry.is_ready(2));
        registry.shard_listening();
        assert!(
            !registry.is_ready(2),
            "one of two shards is still recovering"
        );
        registry.shard_listening();
        assert!(registry.is_ready(2));
        registry.stopping();
        assert!(!registry.is_ready(2));
    }

    #[test]
    fn record_count_sums_whole_batches_only() {
        let mut batch = vec![0u8; 70];
        batch[8..12].copy_from_slice(&58i32.to_be_bytes());
        batch[57..61].copy_from_slice(&7i32.to_be_bytes());
        let mut two = batch.clone();
        two.extend_from_slice(&batch);
        assert_eq!(record_count(&two), 14);
        assert_eq!(record_count(&two[..100]), 7);
        assert_eq!(record_count(&[]), 0);
    }
}
