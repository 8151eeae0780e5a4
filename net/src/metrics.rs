//! Broker metrics without locks or allocation on the data path.
//!
//! Each data shard owns one [`ShardMetrics`]: fixed arrays of counters
//! that only that shard writes (a relaxed load and store, i.e. a plain
//! `mov` on x86, never a locked instruction) and the admin listener only
//! reads. Per-topic counters live in an `Arc<TopicCounters>` the shard
//! registers the first time it sees a topic (one allocation per topic and
//! shard, at warm-up), found again through a shard-local map. A scrape sums
//! every shard's counters ([`MetricsRegistry::encode`]), so values are exact
//! as of the scrape and never reset.
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use skein_controller::TopicId;

/// API keys tracked (Kafka's keys are below this).
const API_KEYS: usize = 96;
/// Upper bounds of the request-latency buckets, in microseconds.
const LATENCY_BUCKETS_US: [u64; 13] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
    5_000_000,
];
/// Latency buckets plus the +Inf bucket.
const BUCKETS: usize = LATENCY_BUCKETS_US.len() + 1;

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
    errors: AtomicU64,
    latency_sum_us: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS],
}

impl Default for ApiCounters {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency_sum_us: AtomicU64::new(0),
            latency_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// One data shard's published counters. Written by: that shard only.
/// Read by: the admin listener, at scrape time.
#[derive(Debug)]
pub struct ShardMetrics {
    shard: usize,
    apis: Vec<ApiCounters>,
    connections_open: AtomicU64,
    connections_accepted: AtomicU64,
    partitions: AtomicU64,
    topics: Mutex<Vec<(String, Arc<TopicCounters>)>>,
}

impl ShardMetrics {
    fn new(shard: usize) -> Self {
        Self {
            shard,
            apis: (0..API_KEYS).map(|_| ApiCounters::default()).collect(),
            connections_open: AtomicU64::new(0),
            connections_accepted: AtomicU64::new(0),
            partitions: AtomicU64::new(0),
            topics: Mutex::new(Vec::new()),
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
    /// Counters for data shard `shard`, all zero.
    pub fn new(shard: usize) -> Self {
        Self {
            published: Arc::new(ShardMetrics::new(shard)),
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
            bump(&api.errors, 1);
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        bump(&api.latency_sum_us, micros);
        let bucket = LATENCY_BUCKETS_US
            .iter()
            .position(|bound| micros <= *bound)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        if let Some(counter) = api.latency_buckets.get(bucket) {
            bump(counter, 1);
        }
    }

    /// Counts a partition-level error code in a response of `api_key`.
    pub fn record_error(&self, api_key: ApiKey) {
        if let Some(api) = self.published.apis.get(api_key as usize) {
            bump(&api.errors, 1);
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

    /// How many partition logs this shard owns now.
    pub fn set_partitions(&self, count: usize) {
        self.published
            .partitions
            .store(count as u64, Ordering::Relaxed);
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
    /// (per shard for the per-shard gauges).
    ///
    /// # Errors
    /// Only if formatting fails (it does not, writing to a `String`).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let shards: Vec<Arc<ShardMetrics>> = self
            .shards
            .lock()
            .map(|shards| shards.clone())
            .unwrap_or_default();
        let mut registry = prometheus_client::registry::Registry::with_prefix("skein");
        registry.register_collector(Box::new(Snapshot { shards }));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)?;
        Ok(text)
    }
}

/// The collector a scrape encodes: reads the shards' counters.
#[derive(Debug)]
struct Snapshot {
    shards: Vec<Arc<ShardMetrics>>,
}

/// A histogram given by its buckets, for the encoder.
#[derive(Debug)]
struct ConstHistogram {
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

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

impl prometheus_client::collector::Collector for Snapshot {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        // Per-topic sums.
        let mut topics: std::collections::BTreeMap<String, [u64; 4]> = Default::default();
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
        // Per-API sums.
        let mut requests = encoder.encode_descriptor(
            "requests",
            "Requests handled, by API.",
            None,
            MetricType::Counter,
        )?;
        for key in 0..API_KEYS {
            let total: u64 = self
                .shards
                .iter()
                .filter_map(|s| s.apis.get(key))
                .map(|a| read(&a.requests))
                .sum();
            if total > 0 {
                ConstCounter::new(total).encode(requests.encode_family(&api_labels(key))?)?;
            }
        }
        let mut errors = encoder.encode_descriptor(
            "request_errors",
            "Requests that closed the connection, plus partition error codes in Produce and Fetch responses, by API.",
            None,
            MetricType::Counter,
        )?;
        for key in 0..API_KEYS {
            let requested: u64 = self
                .shards
                .iter()
                .filter_map(|s| s.apis.get(key))
                .map(|a| read(&a.requests))
                .sum();
            let total: u64 = self
                .shards
                .iter()
                .filter_map(|s| s.apis.get(key))
                .map(|a| read(&a.errors))
                .sum();
            if requested > 0 {
                ConstCounter::new(total).encode(errors.encode_family(&api_labels(key))?)?;
            }
        }
        let mut latency = encoder.encode_descriptor(
            "request_latency_seconds",
            "Time from a request's arrival to its response being ready, by API.",
            None,
            MetricType::Histogram,
        )?;
        for key in 0..API_KEYS {
            let mut counts = [0u64; BUCKETS];
            let mut sum_us = 0u64;
            for api in self.shards.iter().filter_map(|s| s.apis.get(key)) {
                sum_us += read(&api.latency_sum_us);
                for (count, bucket) in counts.iter_mut().zip(&api.latency_buckets) {
                    *count += read(bucket);
                }
            }
            let count: u64 = counts.iter().sum();
            if count == 0 {
                continue;
            }
            let buckets = LATENCY_BUCKETS_US
                .iter()
                .map(|bound| *bound as f64 / 1e6)
                .chain(std::iter::once(f64::MAX))
                .zip(counts)
                .collect();
            ConstHistogram {
                sum: sum_us as f64 / 1e6,
                count,
                buckets,
            }
            .encode(latency.encode_family(&api_labels(key))?)?;
        }
        let per_shard: [PerShardFamily; 3] = [
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
                    _ => ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
                        .encode(family.encode_family(&labels)?)?,
                }
            }
        }
        Ok(())
    }
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
        let text = registry.encode().unwrap();
        assert!(
            text.contains("skein_requests_total{api=\"Produce\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("skein_request_errors_total{api=\"Produce\"} 1"),
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
        assert!(text.ends_with("# EOF\n"));
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
