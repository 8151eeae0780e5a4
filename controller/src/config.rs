//! Broker and topic configuration: one table of properties with their Kafka
//! names, types, defaults and units, from which parsing, validation, the
//! per-topic `LogConfig` and the documentation are all derived.
//!
//! A topic config (`retention.ms`) takes its default from the broker property
//! named beside it (`log.retention.ms`), as Kafka does.

use crate::acl::{AuthorizerError, AuthorizerSettings};
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::client_login::{ClientLogin, ClientLoginSettings};
use crate::listener::{parse_listeners, parse_protocol_map, parse_voters, Listener, Voter};
use crate::listener_sasl::SaslSettings;
use crate::listener_security::{SslSettings, SSL_LISTENER_PROPERTIES};

/// The SASL and principal properties a listener may override with Kafka's
/// `listener.name.<lowercase name>.` prefix.
pub const SASL_LISTENER_PROPERTIES: [&str; 3] = [
    "sasl.enabled.mechanisms",
    "connections.max.reauth.ms",
    "ssl.principal.mapping.rules",
];
use skein_engine::{CleanupPolicy, CompressionType, FlushPolicy, LogConfig, TimestampType};

use crate::group_coordinator::{ConsumerAssignor, GroupCoordinatorConfig};
use crate::kafka_properties::{
    check_kafka_value, closest_names, kafka_broker_property, kafka_support, kafka_topic_property,
    KafkaProperty, KafkaSupport, KAFKA_BROKER_PROPERTIES, KAFKA_TOPIC_PROPERTIES,
};

/// The type of a property's value, with its valid range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A signed integer in `min..=max`.
    Int { min: i64, max: i64 },
    /// A signed integer in `min..=max`, or exactly `or` (Kafka's "-1 for
    /// the codec's default" of `compression.gzip.level`).
    IntOr { min: i64, max: i64, or: i64 },
    /// `true` or `false`.
    Bool,
    /// One of the listed words.
    OneOf(&'static [&'static str]),
    /// A flush policy: `batch`, `none` or `interval:<ms>`.
    FlushPolicy,
    /// A cleanup policy: `delete`, `compact` or `compact,delete` (a list,
    /// in either order).
    CleanupPolicy,
    /// A decimal number in 0.0..=1.0.
    Ratio,
    /// A filesystem path.
    Path,
    /// Free text, kept as given (trimmed).
    Text,
    /// A comma-separated list of `NAME://HOST:PORT` listeners (Kafka's
    /// `listeners` syntax); empty allowed where the default is empty.
    Listeners,
    /// A comma-separated list of words: any (listener names, upper-cased)
    /// or only the given ones (lower-cased, each at most once).
    List(Option<&'static [&'static str]>),
    /// Quorum voters, `ID@HOST:PORT,…`.
    Voters,
    /// `HOST:PORT,…`.
    HostPorts,
    /// `NAME:PROTOCOL,…`, the security protocol of each listener name.
    ProtocolMap,
}

/// What Skein does with a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Implemented with Kafka's meaning.
    Implemented,
    /// Accepted so that Kafka configurations and admin tools keep working,
    /// but without effect in Skein, for the reason given. Setting one at
    /// start logs one warning with that reason.
    NoEffect(&'static str),
}

/// One configurable property.
#[derive(Debug, Clone, Copy)]
pub struct PropertyDef {
    /// The broker property name (Kafka's where Kafka has one).
    pub name: &'static str,
    /// The per-topic name that this broker property is the default of.
    pub topic_name: Option<&'static str>,
    /// The value type and range.
    pub kind: ValueKind,
    /// The default, as text.
    pub default: &'static str,
    /// The unit of the value, if any.
    pub unit: &'static str,
    /// What it does.
    pub doc: &'static str,
    /// Whether Skein acts on it.
    pub support: Support,
}

const I32_MAX: i64 = i32::MAX as i64;

/// Every property Skein understands.
pub const PROPERTIES: &[PropertyDef] = &[
    PropertyDef { name: "node.id", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "0", unit: "", doc: "This broker's node id.", support: Support::Implemented },
    PropertyDef { name: "log.dirs", topic_name: None, kind: ValueKind::Path, default: "./skein-data", unit: "", doc: "Comma-separated log directories (JBOD). Every one holds partitions: a new partition goes to the online directory holding the fewest, as Kafka's LogManager picks; each has its own meta.properties; a directory whose IO fails takes only its partitions offline (KAFKA_STORAGE_ERROR) until restart. The metadata log lives in the first. `--data-dir` sets one directory.", support: Support::Implemented },
    PropertyDef { name: "log.dir", topic_name: None, kind: ValueKind::Path, default: "./skein-data", unit: "", doc: "The log directory when log.dirs is not set (Kafka's precedence).", support: Support::Implemented },
    PropertyDef { name: "log.dir.probe.interval.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: i64::MAX }, default: "10000", unit: "ms", doc: "Skein's own: how often each log directory is checked by writing, fsyncing and removing a small file in it; one that fails goes offline. Kafka notices a failed directory when IO on it fails, including its periodic checkpoint writes; Skein also takes a directory offline when a partition's IO on it fails.", support: Support::Implemented },
    PropertyDef { name: "log.open.files.max", topic_name: None, kind: ValueKind::Int { min: 0, max: i64::MAX }, default: "0", unit: "files", doc: "Skein's own: most segment (.log) files the broker keeps open at once, split evenly over the data shards (at least 16 each); 0 takes 75% of the open-files limit, which the broker raises to its hard limit at start, leaving the rest for sockets and other files. Beyond it the least recently used idle files are closed and reopened on their next read or append, so a node can hold more partitions than it may open files. Kafka keeps every segment open and relies on a large ulimit instead.", support: Support::Implemented },
    PropertyDef { name: "shard.spin.before.park.us", topic_name: None, kind: ValueKind::Int { min: 0, max: 1_000_000 }, default: "0", unit: "µs", doc: "Skein's own: how long a data shard that has run out of work keeps polling for more before it sleeps in the kernel. Spinning saves the sleep and the wake-up when the next request, IO completion or cross-shard message comes within that time, and burns the core when none does (it counts as the broker's CPU). A data shard sharing its core with the control shard (machines of one or two cores) never spins. 0 sleeps at once.", support: Support::Implemented },
    PropertyDef { name: "num.partitions", topic_name: None, kind: ValueKind::Int { min: 1, max: 100_000 }, default: "1", unit: "partitions", doc: "Partition count of auto-created topics and of CreateTopics requests that leave it to the broker (-1).", support: Support::Implemented },
    PropertyDef { name: "default.replication.factor", topic_name: None, kind: ValueKind::Int { min: 1, max: 32767 }, default: "1", unit: "replicas", doc: "Replication factor of auto-created topics and of CreateTopics requests that leave it to the broker (-1). A topic needs at least this many unfenced brokers; with fewer, its creation is refused with INVALID_REPLICATION_FACTOR.", support: Support::Implemented },
    PropertyDef { name: "auto.create.topics.enable", topic_name: None, kind: ValueKind::Bool, default: "true", unit: "", doc: "Create a topic when a Metadata request names an unknown one.", support: Support::Implemented },
    PropertyDef { name: "delete.topic.enable", topic_name: None, kind: ValueKind::Bool, default: "true", unit: "", doc: "Allow DeleteTopics.", support: Support::Implemented },
    PropertyDef { name: "message.max.bytes", topic_name: Some("max.message.bytes"), kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "1048588", unit: "bytes", doc: "Largest record batch accepted by a Produce.", support: Support::Implemented },
    PropertyDef { name: "log.segment.bytes", topic_name: Some("segment.bytes"), kind: ValueKind::Int { min: 14, max: I32_MAX }, default: "1073741824", unit: "bytes", doc: "Roll to a new segment once the active one reaches this size.", support: Support::Implemented },
    PropertyDef { name: "log.roll.ms", topic_name: Some("segment.ms"), kind: ValueKind::Int { min: 1, max: i64::MAX }, default: "604800000", unit: "ms", doc: "Roll to a new segment once the active one is this old.", support: Support::Implemented },
    PropertyDef { name: "log.retention.ms", topic_name: Some("retention.ms"), kind: ValueKind::Int { min: -1, max: i64::MAX }, default: "604800000", unit: "ms", doc: "Delete whole segments whose newest record is older than this; -1 keeps them forever.", support: Support::Implemented },
    PropertyDef { name: "log.retention.bytes", topic_name: Some("retention.bytes"), kind: ValueKind::Int { min: -1, max: i64::MAX }, default: "-1", unit: "bytes", doc: "Delete the oldest whole segments while a partition is larger than this; -1 for no limit.", support: Support::Implemented },
    PropertyDef { name: "log.index.interval.bytes", topic_name: Some("index.interval.bytes"), kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "4096", unit: "bytes", doc: "Bytes of log between two offset-index entries.", support: Support::Implemented },
    PropertyDef { name: "log.flush.policy", topic_name: Some("flush.policy"), kind: ValueKind::FlushPolicy, default: "batch", unit: "", doc: "When a produce is acknowledged: `batch` after fdatasync (group-committed across concurrent producers; survives power loss), `interval:<ms>` after the write with fdatasync at most <ms> later, `none` after the write (survives a process crash, not power loss).", support: Support::Implemented },
    PropertyDef { name: "log.message.timestamp.type", topic_name: Some("message.timestamp.type"), kind: ValueKind::OneOf(&["CreateTime", "LogAppendTime"]), default: "CreateTime", unit: "", doc: "Keep the producer's timestamps (CreateTime) or stamp batches with the broker's clock (LogAppendTime).", support: Support::Implemented },
    PropertyDef { name: "log.message.timestamp.before.max.ms", topic_name: Some("message.timestamp.before.max.ms"), kind: ValueKind::Int { min: 0, max: i64::MAX }, default: "9223372036854775807", unit: "ms", doc: "With CreateTime, a Produce whose batch's first timestamp is more than this before the broker's clock is refused with INVALID_TIMESTAMP.", support: Support::Implemented },
    PropertyDef { name: "log.message.timestamp.after.max.ms", topic_name: Some("message.timestamp.after.max.ms"), kind: ValueKind::Int { min: 0, max: i64::MAX }, default: "3600000", unit: "ms", doc: "With CreateTime, a Produce whose batch's largest timestamp is more than this after the broker's clock is refused with INVALID_TIMESTAMP (Kafka 4's default: one hour).", support: Support::Implemented },
    PropertyDef { name: "log.cleanup.policy", topic_name: Some("cleanup.policy"), kind: ValueKind::CleanupPolicy, default: "delete", unit: "", doc: "What happens to sealed segments: `delete` applies retention.ms/retention.bytes; `compact` keeps the latest record of every key (the active segment is never compacted; compressed batches are kept as they are); `compact,delete` does both.", support: Support::Implemented },
    PropertyDef { name: "log.cleaner.enable", topic_name: None, kind: ValueKind::Bool, default: "true", unit: "", doc: "Run the log cleaner, which compacts topics whose cleanup.policy includes `compact`.", support: Support::Implemented },
    PropertyDef { name: "log.cleaner.backoff.ms", topic_name: None, kind: ValueKind::Int { min: 0, max: i64::MAX }, default: "15000", unit: "ms", doc: "How long each shard's cleaner sleeps when no partition needs compacting.", support: Support::Implemented },
    PropertyDef { name: "log.cleaner.min.cleanable.ratio", topic_name: Some("min.cleanable.dirty.ratio"), kind: ValueKind::Ratio, default: "0.5", unit: "", doc: "Compact a partition once its not-yet-compacted bytes are at least this share of its sealed bytes.", support: Support::Implemented },
    PropertyDef { name: "log.cleaner.delete.retention.ms", topic_name: Some("delete.retention.ms"), kind: ValueKind::Int { min: 0, max: i64::MAX }, default: "86400000", unit: "ms", doc: "Compaction removes a tombstone (null value) once its timestamp is this far in the past; consumers that read more often see every delete.", support: Support::Implemented },
    PropertyDef { name: "log.cleaner.min.compaction.lag.ms", topic_name: Some("min.compaction.lag.ms"), kind: ValueKind::Int { min: 0, max: i64::MAX }, default: "0", unit: "ms", doc: "A segment holding a record younger than this is not compacted yet.", support: Support::Implemented },
    PropertyDef { name: "log.cleaner.max.compaction.lag.ms", topic_name: Some("max.compaction.lag.ms"), kind: ValueKind::Int { min: 1, max: i64::MAX }, default: "9223372036854775807", unit: "ms", doc: "A sealed segment not compacted for this long is compacted even below the dirty ratio.", support: Support::Implemented },
    PropertyDef { name: "min.insync.replicas", topic_name: Some("min.insync.replicas"), kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "1", unit: "replicas", doc: "The fewest in-sync replicas (the leader included) with which an acks=all produce is accepted; with fewer the produce gets NOT_ENOUGH_REPLICAS (before the append) or NOT_ENOUGH_REPLICAS_AFTER_APPEND (the ISR shrank while it waited), as in Kafka. Offset commits obey the offsets topic's own value.", support: Support::Implemented },
    PropertyDef { name: "compression.type", topic_name: Some("compression.type"), kind: ValueKind::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]), default: "producer", unit: "", doc: "Codec batches are stored with. `producer` keeps every batch as the producer compressed it (appended with no copy); `uncompressed`, `gzip`, `snappy`, `lz4` or `zstd` rebuild batches of any other codec in that one on append, at the level of its compression.*.level property (control batches are kept as they are). A batch that does not decompress is refused with CORRUPT_MESSAGE; one whose records decompress to more than 16 × max.message.bytes (within 1-256 MiB) with MESSAGE_TOO_LARGE.", support: Support::Implemented },
    PropertyDef { name: "compression.gzip.level", topic_name: Some("compression.gzip.level"), kind: ValueKind::IntOr { min: 1, max: 9, or: -1 }, default: "-1", unit: "", doc: "gzip level when compression.type is `gzip`: 1 (fastest) to 9 (smallest), or -1 for zlib's default (6).", support: Support::Implemented },
    PropertyDef { name: "compression.lz4.level", topic_name: Some("compression.lz4.level"), kind: ValueKind::Int { min: 1, max: 17 }, default: "9", unit: "", doc: "lz4 level when compression.type is `lz4`: 1 and 2 are lz4's fast mode, 3 and up LZ4HC (levels past 12 compress as 12).", support: Support::Implemented },
    PropertyDef { name: "compression.zstd.level", topic_name: Some("compression.zstd.level"), kind: ValueKind::Int { min: -131_072, max: 22 }, default: "3", unit: "", doc: "zstd level when compression.type is `zstd`: negative levels are faster, 22 the smallest.", support: Support::Implemented },
    PropertyDef { name: "log.retention.check.interval.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: i64::MAX }, default: "300000", unit: "ms", doc: "How often retention runs.", support: Support::Implemented },
    PropertyDef { name: "producer.id.expiration.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "86400000", unit: "ms", doc: "A partition forgets an idempotent producer whose last batch's timestamp is this old (its next batch is then accepted at any sequence, as from a new producer).", support: Support::Implemented },
    PropertyDef { name: "producer.id.expiration.check.interval.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "600000", unit: "ms", doc: "How often partitions look for idempotent producers past producer.id.expiration.ms (Kafka's internal setting of the same name).", support: Support::Implemented },
    PropertyDef { name: "socket.request.max.bytes", topic_name: None, kind: ValueKind::Int { min: 1024, max: I32_MAX }, default: "104857600", unit: "bytes", doc: "Largest request frame accepted; a larger size closes the connection before anything is read.", support: Support::Implemented },
    PropertyDef { name: "max.connections", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "2147483647", unit: "connections", doc: "Most client connections of the broker; at the limit it stops accepting until one closes (new ones wait in the kernel's backlog), as Kafka does.", support: Support::Implemented },
    PropertyDef { name: "max.connections.per.ip", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "2147483647", unit: "connections", doc: "Most connections from one address; one past it is closed at once.", support: Support::Implemented },
    PropertyDef { name: "max.connections.per.ip.overrides", topic_name: None, kind: ValueKind::Text, default: "", unit: "", doc: "Per-address exceptions to max.connections.per.ip, `ADDRESS:COUNT,…` (IP addresses; Kafka also takes host names).", support: Support::Implemented },
    PropertyDef { name: "connections.max.idle.ms", topic_name: None, kind: ValueKind::Int { min: 1000, max: i64::MAX }, default: "600000", unit: "ms", doc: "Close a connection that has sent nothing, or only part of a request, for this long.", support: Support::Implemented },
    PropertyDef { name: "queued.max.requests", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "500", unit: "requests", doc: "Requests read but not yet answered, broker-wide, before reading pauses (Kafka bounds its request queue with it). Skein has no queue between network and request threads: each data shard holds an equal share (at least 1) of requests read from its connections and not yet answered, long-polling fetches included; at the limit the shard reads no further request until one is answered.", support: Support::Implemented },
    PropertyDef { name: "queued.max.request.bytes", topic_name: None, kind: ValueKind::Int { min: -1, max: i64::MAX }, default: "-1", unit: "bytes", doc: "Bytes of requests read but not yet answered, broker-wide, before reading pauses; -1 for no bound (Kafka's memory pool). Each data shard holds an equal share, at least socket.request.max.bytes so that any request can be read.", support: Support::Implemented },
    PropertyDef { name: "connection.max.inflight.requests", topic_name: None, kind: ValueKind::Int { min: 1, max: 10_000 }, default: "100", unit: "requests", doc: "Requests of one connection processed at once (pipelining); reading pauses beyond it.", support: Support::Implemented },
    PropertyDef { name: "group.initial.rebalance.delay.ms", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "3000", unit: "ms", doc: "Wait this long for more members before the first rebalance of an empty group.", support: Support::Implemented },
    PropertyDef { name: "group.min.session.timeout.ms", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "6000", unit: "ms", doc: "Shortest session timeout a JoinGroup may ask for; shorter ones get INVALID_SESSION_TIMEOUT. Must not exceed group.max.session.timeout.ms.", support: Support::Implemented },
    PropertyDef { name: "group.max.session.timeout.ms", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "1800000", unit: "ms", doc: "Longest session timeout a JoinGroup may ask for; longer ones get INVALID_SESSION_TIMEOUT.", support: Support::Implemented },
    PropertyDef { name: "group.max.size", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "2147483647", unit: "members", doc: "Most members of one consumer group; a JoinGroup past it gets GROUP_MAX_SIZE_REACHED.", support: Support::Implemented },
    PropertyDef { name: "group.coordinator.rebalance.protocols", topic_name: None, kind: ValueKind::List(Some(&["classic", "consumer"])), default: "classic,consumer", unit: "", doc: "The group protocols the coordinator serves: `classic` (JoinGroup/SyncGroup/Heartbeat) and `consumer` (KIP-848's ConsumerGroupHeartbeat, advertised in ApiVersions only when listed). `classic` must be listed, as in Kafka.", support: Support::Implemented },
    PropertyDef { name: "group.consumer.assignors", topic_name: None, kind: ValueKind::List(Some(&["uniform", "range", "org.apache.kafka.coordinator.group.assignor.uniformassignor", "org.apache.kafka.coordinator.group.assignor.rangeassignor"])), default: "uniform,range", unit: "", doc: "Server-side assignors of consumer groups (KIP-848), by name or Kafka class name; the first is used when no member asks for one (ConsumerGroupHeartbeat.ServerAssignor), others get UNSUPPORTED_ASSIGNOR.", support: Support::Implemented },
    PropertyDef { name: "group.consumer.session.timeout.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "45000", unit: "ms", doc: "A consumer group member (KIP-848) that sends no ConsumerGroupHeartbeat for this long is removed and its partitions reassigned. Within group.consumer.min/max.session.timeout.ms.", support: Support::Implemented },
    PropertyDef { name: "group.consumer.min.session.timeout.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "45000", unit: "ms", doc: "Lower bound of group.consumer.session.timeout.ms.", support: Support::Implemented },
    PropertyDef { name: "group.consumer.max.session.timeout.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "60000", unit: "ms", doc: "Upper bound of group.consumer.session.timeout.ms.", support: Support::Implemented },
    PropertyDef { name: "group.consumer.heartbeat.interval.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "5000", unit: "ms", doc: "How often consumer group members (KIP-848) are told to heartbeat. Within group.consumer.min/max.heartbeat.interval.ms and below the session timeout.", support: Support::Implemented },
    PropertyDef { name: "group.consumer.min.heartbeat.interval.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "5000", unit: "ms", doc: "Lower bound of group.consumer.heartbeat.interval.ms.", support: Support::Implemented },
    PropertyDef { name: "group.consumer.max.heartbeat.interval.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "15000", unit: "ms", doc: "Upper bound of group.consumer.heartbeat.interval.ms.", support: Support::Implemented },
    PropertyDef { name: "group.consumer.max.size", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "2147483647", unit: "members", doc: "Most members of one consumer group (KIP-848); a heartbeat from one more gets GROUP_MAX_SIZE_REACHED.", support: Support::Implemented },
    PropertyDef { name: "offsets.retention.minutes", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "10080", unit: "minutes", doc: "Committed offsets of a group that is empty (or of a partition it no longer consumes) are removed this long after the group emptied or the commit, as in Kafka.", support: Support::Implemented },
    PropertyDef { name: "offsets.retention.check.interval.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: i64::MAX }, default: "600000", unit: "ms", doc: "How often expired committed offsets are looked for.", support: Support::Implemented },
    PropertyDef { name: "offset.metadata.max.bytes", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "4096", unit: "bytes", doc: "Longest metadata string of a committed offset; longer ones get OFFSET_METADATA_TOO_LARGE.", support: Support::Implemented },
    PropertyDef { name: "offsets.topic.num.partitions", topic_name: None, kind: ValueKind::Int { min: 1, max: 1000 }, default: "50", unit: "partitions", doc: "Partitions of __consumer_offsets.", support: Support::Implemented },
    PropertyDef { name: "offsets.commit.timeout.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "5000", unit: "ms", doc: "How long an offset commit (and any other group coordinator write to __consumer_offsets) waits for every in-sync replica of its partition, as Kafka's acks=all commit; past it the client gets COORDINATOR_NOT_AVAILABLE and retries.", support: Support::Implemented },
    PropertyDef { name: "offsets.topic.segment.bytes", topic_name: None, kind: ValueKind::Int { min: 14, max: I32_MAX }, default: "104857600", unit: "bytes", doc: "segment.bytes of __consumer_offsets (compacted: only sealed segments are compacted, so smaller segments bound it more tightly). Applied to the topic at every start.", support: Support::Implemented },
    PropertyDef { name: "transaction.state.log.num.partitions", topic_name: None, kind: ValueKind::Int { min: 1, max: 1000 }, default: "50", unit: "partitions", doc: "Partitions of __transaction_state; a transactional id is coordinated by the leader of partition abs(hash(id)) % this.", support: Support::Implemented },
    PropertyDef { name: "transaction.state.log.segment.bytes", topic_name: None, kind: ValueKind::Int { min: 14, max: I32_MAX }, default: "104857600", unit: "bytes", doc: "segment.bytes of the compacted __transaction_state.", support: Support::Implemented },
    PropertyDef { name: "transaction.max.timeout.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "900000", unit: "ms", doc: "The longest transaction.timeout.ms a producer may ask for; a longer one gets INVALID_TRANSACTION_TIMEOUT.", support: Support::Implemented },
    PropertyDef { name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "10000", unit: "ms", doc: "How often the transaction coordinator aborts transactions past their timeout (bumping the producer epoch, which fences the producer).", support: Support::Implemented },
    PropertyDef { name: "transactional.id.expiration.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "604800000", unit: "ms", doc: "A transactional id with no transaction running and no update for this long is removed.", support: Support::Implemented },
    PropertyDef { name: "transaction.remove.expired.transaction.cleanup.interval.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "3600000", unit: "ms", doc: "How often expired transactional ids are looked for.", support: Support::Implemented },
    PropertyDef { name: "listeners", topic_name: None, kind: ValueKind::Listeners, default: "PLAINTEXT://0.0.0.0:9092", unit: "", doc: "Where to accept clients, as `NAME://HOST:PORT,…` (`--listen HOST:PORT` is a shorthand for `PLAINTEXT://HOST:PORT`); an empty or 0.0.0.0 host listens on every interface. Every client listener is opened on every data shard, with the security protocol listener.security.protocol.map gives its name (PLAINTEXT or SSL); a client is told the advertised address of the listener it connected to.", support: Support::Implemented },
    PropertyDef { name: "advertised.listeners", topic_name: None, kind: ValueKind::Listeners, default: "", unit: "", doc: "What Metadata tells clients to connect to, as `NAME://HOST:PORT` (`--advertise HOST:PORT` is a shorthand); empty: the listener's address, or this machine's host name when it listens on every interface.", support: Support::Implemented },
    PropertyDef { name: "log.retention.hours", topic_name: None, kind: ValueKind::Int { min: -1, max: I32_MAX }, default: "168", unit: "hours", doc: "Retention in hours, used when neither log.retention.ms nor log.retention.minutes is set (Kafka's precedence); -1 keeps segments forever.", support: Support::Implemented },
    PropertyDef { name: "log.retention.minutes", topic_name: None, kind: ValueKind::Int { min: -1, max: I32_MAX }, default: "10080", unit: "minutes", doc: "Retention in minutes, used when it is set and log.retention.ms is not (Kafka's precedence; its default there is unset).", support: Support::Implemented },
    PropertyDef { name: "log.roll.hours", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "168", unit: "hours", doc: "Segment age at which to roll, used when log.roll.ms is not set.", support: Support::Implemented },
    PropertyDef { name: "process.roles", topic_name: None, kind: ValueKind::List(Some(&["broker", "controller"])), default: "broker,controller", unit: "", doc: "The roles of this node in a KRaft cluster: `broker` serves clients and holds partitions, `controller` is a voter of the metadata quorum (it must be in controller.quorum.voters), or both.", support: Support::Implemented },
    PropertyDef { name: "controller.quorum.voters", topic_name: None, kind: ValueKind::Voters, default: "", unit: "", doc: "The metadata quorum's voters as `ID@HOST:PORT,…` (each voter's controller listener). Empty, or this node alone: a single-node cluster whose quorum is this node.", support: Support::Implemented },
    PropertyDef { name: "cluster.id", topic_name: None, kind: ValueKind::Text, default: "", unit: "", doc: "The cluster's id (Kafka sets it with `kafka-storage format`). Empty: a new cluster's first active controller draws one and every node adopts it; a node whose stored or configured id differs from the quorum's refuses to join.", support: Support::Implemented },
    PropertyDef { name: "controller.quorum.bootstrap.servers", topic_name: None, kind: ValueKind::HostPorts, default: "", unit: "", doc: "Controllers to find the quorum through (KIP-853), `HOST:PORT,…`. Skein's quorum membership is static: use controller.quorum.voters for a cluster; this is accepted for a single node (at most one entry).", support: Support::Implemented },
    PropertyDef { name: "controller.listener.names", topic_name: None, kind: ValueKind::List(None), default: "", unit: "", doc: "Names of the listeners the metadata quorum uses (the first one is opened by a controller and used to reach the voters); every other listener is for clients. A single node with no other voters does not open it.", support: Support::Implemented },
    PropertyDef { name: "metadata.log.max.record.bytes.between.snapshots", topic_name: None, kind: ValueKind::Int { min: 1, max: i64::MAX }, default: "20971520", unit: "bytes", doc: "Bytes of metadata records committed after the latest snapshot of the metadata image before the controller takes a new one and drops the quorum log before it, so a restart (or a lagging voter) loads the snapshot and replays only what follows.", support: Support::Implemented },
    PropertyDef { name: "listener.security.protocol.map", topic_name: None, kind: ValueKind::ProtocolMap, default: "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL", unit: "", doc: "The security protocol of each listener name, `NAME:PROTOCOL,…`. Every listener may be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, the controller and inter-broker listeners included (this node connects to them with `sasl.mechanism.controller.protocol` / `sasl.mechanism.inter.broker.protocol` and the username and password of that listener's JAAS entry).", support: Support::Implemented },
    PropertyDef { name: "inter.broker.listener.name", topic_name: None, kind: ValueKind::Text, default: "", unit: "", doc: "The listener brokers use between themselves, registered with the controllers; empty: the listener named by `security.inter.broker.protocol` if set, else the first client listener.", support: Support::Implemented },
    PropertyDef { name: "ssl.keystore.type", topic_name: None, kind: ValueKind::OneOf(&["JKS", "PKCS12", "PEM"]), default: "JKS", unit: "", doc: "Format of the key store of SSL listeners: Skein serves `PEM` only (Kafka's default, JKS, is refused at start for an SSL listener). Per listener: `listener.name.<name>.ssl.keystore.type`.", support: Support::Implemented },
    PropertyDef { name: "ssl.keystore.location", topic_name: None, kind: ValueKind::Text, default: "", unit: "", doc: "PEM file holding an SSL listener's private key (unencrypted PKCS#8, PKCS#1 or SEC1) and certificate chain, leaf first. Reloaded without a restart when the file changes (checked every few seconds; new connections get the new certificate). Per listener: `listener.name.<name>.ssl.keystore.location`.", support: Support::Implemented },
    PropertyDef { name: "ssl.keystore.certificate.chain", topic_name: None, kind: ValueKind::Text, default: "", unit: "", doc: "An SSL listener's certificate chain as PEM text, with ssl.keystore.key, instead of ssl.keystore.location.", support: Support::Implemented },
    PropertyDef { name: "ssl.keystore.key", topic_name: None, kind: ValueKind::Text, default: "", unit: "", doc: "An SSL listener's private key as PEM text (unencrypted), with ssl.keystore.certificate.chain. Sensitive: never shown by DescribeConfigs.", support: Support::Implemented },
    PropertyDef { name: "ssl.key.password", topic_name: None, kind: ValueKind::Text, default: "", unit: "", doc: "Password of an encrypted private key: Skein reads unencrypted keys only and refuses to start when it is set for an SSL listener.", support: Support::Implemented },
    PropertyDef { name: "ssl.truststore.type", topic_name: None, kind: ValueKind::OneOf(&["JKS", "PKCS12", "PEM"]), default: "JKS", unit: "", doc: "Format of the trust store: Skein reads `PEM` only.", support: Support::Implemented },
    PropertyDef { name: "ssl.truststore.location", topic_name: None, kind: ValueKind::Text, default: "", unit: "", doc: "PEM file of the CA certificates that client certificates must chain to (ssl.client.auth). Reloaded with the key store.", support: Support::Implemented },
    PropertyDef { name: "ssl.truststore.certificates", topic_name: None, kind: ValueKind::Text, default: "", unit: "", doc: "The trusted CA certificates as PEM text, instead of ssl.truststore.location.", support: Support::Implemented },
    PropertyDef { name: "ssl.client.auth", topic_name: None, kind: ValueKind::OneOf(&["none", "requested", "required"]), default: "none", unit: "", doc: "Whether SSL clients present a certificate: `none`; `requested` (verified when given); `required` (a client without a valid certificate fails the handshake).", support: Support::Implemented },
    PropertyDef { name: "ssl.enabled.protocols", topic_name: None, kind: ValueKind::Text, default: "TLSv1.2,TLSv1.3", unit: "", doc: "TLS versions SSL listeners accept: TLSv1.2 and/or TLSv1.3 (older versions are refused at start).", support: Support::Implemented },
    PropertyDef { name: "ssl.cipher.suites", topic_name: None, kind: ValueKind::Text, default: "", unit: "", doc: "Cipher suites SSL listeners accept, by IANA name (`TLS_AES_128_GCM_SHA256`, `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`, …); empty: every suite of rustls' ring provider. A name rustls does not offer is refused at start.", support: Support::Implemented },
    PropertyDef { name: "ssl.principal.mapping.rules", topic_name: None, kind: ValueKind::Text, default: "DEFAULT", unit: "", doc: "How the subject of a client certificate (mutual TLS, ssl.client.auth) becomes the principal's name: Kafka's rules, `RULE:<regex>/<replacement>/[LU]` tried in order, then `DEFAULT` (the whole subject as RFC 2253 writes it, `CN=alice,OU=eng,O=acme`).", support: Support::Implemented },
    PropertyDef { name: "authorizer.class.name", topic_name: None, kind: ValueKind::Text, default: "", unit: "", doc: "The authorizer: Kafka's `org.apache.kafka.metadata.authorizer.StandardAuthorizer` (or the older `kafka.security.authorizer.AclAuthorizer` name) turns on ACLs (CreateAcls, DescribeAcls, DeleteAcls, stored in the metadata log); empty: no authorization and the ACL APIs answer SECURITY_DISABLED. Any other class is refused at start.", support: Support::Implemented },
    PropertyDef { name: "super.users", topic_name: None, kind: ValueKind::Text, default: "", unit: "", doc: "Principals allowed everything whatever the ACLs say, separated by semicolons: `User:admin;User:ops`.", support: Support::Implemented },
    PropertyDef { name: "allow.everyone.if.no.acl.found", topic_name: None, kind: ValueKind::Bool, default: "false", unit: "", doc: "Whether a resource that no ACL names at all is open to every principal (with an authorizer).", support: Support::Implemented },
    PropertyDef { name: "sasl.enabled.mechanisms", topic_name: None, kind: ValueKind::List(None), default: "GSSAPI", unit: "", doc: "SASL mechanisms of SASL_PLAINTEXT and SASL_SSL listeners: `PLAIN` (users from `listener.name.<listener>.plain.sasl.jaas.config`, Kafka's PlainLoginModule syntax), `SCRAM-SHA-256`, `SCRAM-SHA-512` (users created with AlterUserScramCredentials or `skein user add`). Kafka's default, GSSAPI (Kerberos), is not served: a SASL listener refuses to start until this is set, as it does when GSSAPI or OAUTHBEARER is listed. Per listener: `listener.name.<name>.sasl.enabled.mechanisms`.", support: Support::Implemented },
    PropertyDef { name: "sasl.mechanism.inter.broker.protocol", topic_name: None, kind: ValueKind::Text, default: "GSSAPI", unit: "", doc: "SASL mechanism brokers log in to each other's inter-broker listener with, when it is SASL_PLAINTEXT or SASL_SSL (replica fetchers, transaction markers): PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, with the `username` and `password` of `listener.name.<inter-broker listener>.<mechanism>.sasl.jaas.config`. Kafka's default, GSSAPI, is refused at start.", support: Support::Implemented },
    PropertyDef { name: "sasl.mechanism.controller.protocol", topic_name: None, kind: ValueKind::Text, default: "GSSAPI", unit: "", doc: "SASL mechanism nodes log in to the controller listener with (the first of `controller.listener.names`), when it is SASL_PLAINTEXT or SASL_SSL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, with the `username` and `password` of `listener.name.<controller listener>.<mechanism>.sasl.jaas.config`. Kafka's default, GSSAPI, is refused at start.", support: Support::Implemented },
    PropertyDef { name: "security.inter.broker.protocol", topic_name: None, kind: ValueKind::OneOf(&["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]), default: "PLAINTEXT", unit: "", doc: "The inter-broker listener by protocol, when `inter.broker.listener.name` is not set: the listener of that name (Kafka's older form; setting both is refused, as Kafka refuses it).", support: Support::Implemented },
    PropertyDef { name: "connections.max.reauth.ms", topic_name: None, kind: ValueKind::Int { min: 0, max: i64::MAX }, default: "0", unit: "ms", doc: "Lifetime of a SASL session (KIP-368): told to the client in SaslAuthenticate (v1 and later), which re-authenticates before it ends; a connection that sends anything but a new SaslHandshake after its session expired is closed. 0: sessions never expire. Per listener: `listener.name.<name>.connections.max.reauth.ms`.", support: Support::Implemented },
    PropertyDef { name: "connection.failed.authentication.delay.ms", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "100", unit: "ms", doc: "How long the answer to a failed SASL authentication is held before it is sent and the connection closed, which slows password guessing.", support: Support::Implemented },
    PropertyDef { name: "broker.heartbeat.interval.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "2000", unit: "ms", doc: "How often a broker heartbeats to the active controller (BrokerHeartbeat), renewing its session. Keep it well below broker.session.timeout.ms.", support: Support::Implemented },
    PropertyDef { name: "broker.session.timeout.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "9000", unit: "ms", doc: "A broker whose last heartbeat is older than this is fenced by the active controller: it leaves every ISR and its leaderships move to other in-sync replicas.", support: Support::Implemented },
    PropertyDef { name: "replica.lag.time.max.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: i64::MAX }, default: "30000", unit: "ms", doc: "A follower that has not caught up with its leader's log end for this long leaves the ISR; one whose log reaches the high watermark (and the start of the leader's epoch) joins it again. The leader checks every half of this and asks the active controller (AlterPartition); it never changes the ISR alone.", support: Support::Implemented },
    PropertyDef { name: "num.replica.fetchers", topic_name: None, kind: ValueKind::Int { min: 1, max: 64 }, default: "1", unit: "fetchers", doc: "Fetchers per (data shard, leader broker): a follower partition is fetched by fetcher hash(topic, partition) % num.replica.fetchers, each fetcher sending one Fetch for all of its partitions, as Kafka's ReplicaFetcherThreads.", support: Support::Implemented },
    PropertyDef { name: "replica.fetch.wait.max.ms", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "500", unit: "ms", doc: "How long a leader may hold a follower's Fetch waiting for replica.fetch.min.bytes; at most replica.lag.time.max.ms, as Kafka requires.", support: Support::Implemented },
    PropertyDef { name: "replica.fetch.min.bytes", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "1", unit: "bytes", doc: "Bytes a follower's Fetch waits for at the leader (up to replica.fetch.wait.max.ms).", support: Support::Implemented },
    PropertyDef { name: "replica.fetch.max.bytes", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "1048576", unit: "bytes", doc: "Bytes a follower asks for per partition in one Fetch (the first batch is returned whole even if larger).", support: Support::Implemented },
    PropertyDef { name: "replica.fetch.response.max.bytes", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "10485760", unit: "bytes", doc: "Bytes a follower asks for per Fetch response over all its partitions.", support: Support::Implemented },
    PropertyDef { name: "replica.fetch.backoff.ms", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "1000", unit: "ms", doc: "The pause of a follower's fetcher after a failed Fetch, OffsetForLeaderEpoch or ListOffsets.", support: Support::Implemented },
    PropertyDef { name: "follower.replication.throttled.rate", topic_name: None, kind: ValueKind::Int { min: 1, max: i64::MAX }, default: "9223372036854775807", unit: "bytes/s", doc: "The rate at which this broker's fetchers may replicate the replicas named by their topics' follower.replication.throttled.replicas (`partition:broker` pairs or `*`) while those are out of the ISR (a reassignment's new replicas), measured over 11 s and split evenly between the data shards; in-sync replicas are never throttled. The default (Long.MAX) throttles nothing.", support: Support::Implemented },
    PropertyDef { name: "leader.replication.throttled.rate", topic_name: None, kind: ValueKind::Int { min: 1, max: i64::MAX }, default: "9223372036854775807", unit: "bytes/s", doc: "The rate at which this broker, as a leader, may serve followers the replicas named by their topics' leader.replication.throttled.replicas (`partition:broker` pairs naming this broker as the leader, or `*`): while it is exceeded a follower that is out of the ISR (a reassignment's new replica) gets no records of such a partition (Kafka's shouldLeaderThrottle). Every throttled partition's bytes sent to followers count, in-sync or not; measured over 11 s and split evenly between the data shards; consumers are never throttled. The default (Long.MAX) throttles nothing.", support: Support::Implemented },
    PropertyDef { name: "replica.high.watermark.checkpoint.interval.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: i64::MAX }, default: "5000", unit: "ms", doc: "How often each data shard writes its partitions' high watermarks to replication-offset-checkpoint.<shard> in each log dir (also at clean shutdown); a restarted replica starts from them.", support: Support::Implemented },
    PropertyDef { name: "broker.rack", topic_name: None, kind: ValueKind::Text, default: "", unit: "", doc: "This broker's rack, sent with its registration to the active controller; when any broker has one, new replicas are spread over racks first (Kafka's rack-aware placement). Empty: no rack.", support: Support::Implemented },
    PropertyDef { name: "auto.leader.rebalance.enable", topic_name: None, kind: ValueKind::Bool, default: "true", unit: "", doc: "Move leadership back to each partition's preferred replica (the first in its replica list) when it is in the ISR: every leader.imbalance.check.interval.seconds, the active controller elects the preferred leaders of the brokers whose share of partitions led elsewhere is above leader.imbalance.per.broker.percentage.", support: Support::Implemented },
    PropertyDef { name: "leader.imbalance.check.interval.seconds", topic_name: None, kind: ValueKind::Int { min: 1, max: i64::MAX }, default: "300", unit: "seconds", doc: "How often the active controller looks for partitions not led by their preferred replica (with auto.leader.rebalance.enable).", support: Support::Implemented },
    PropertyDef { name: "leader.imbalance.per.broker.percentage", topic_name: None, kind: ValueKind::Int { min: 0, max: 100 }, default: "10", unit: "percent", doc: "The share of a broker's preferred partitions that may be led by another replica before an automatic rebalance moves them back (with auto.leader.rebalance.enable). Kafka 3.x's property: Kafka 4's controller moves every imbalanced partition back, which 0 does here.", support: Support::Implemented },
    PropertyDef { name: "num.network.threads", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "3", unit: "threads", doc: "Kafka's socket-serving threads.", support: Support::NoEffect("every Skein shard serves its own connections on its own core; --cores picks them") },
    PropertyDef { name: "num.io.threads", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "8", unit: "threads", doc: "Kafka's request-handling threads.", support: Support::NoEffect("every Skein shard handles its own requests on its own core; --cores picks them") },
    PropertyDef { name: "num.recovery.threads.per.data.dir", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "2", unit: "threads", doc: "Kafka's log recovery threads.", support: Support::NoEffect("each Skein shard recovers its own partitions at start") },
    PropertyDef { name: "socket.send.buffer.bytes", topic_name: None, kind: ValueKind::Int { min: -1, max: I32_MAX }, default: "102400", unit: "bytes", doc: "SO_SNDBUF of client sockets (-1: the OS default).", support: Support::NoEffect("Skein leaves socket buffers to the kernel's autotuning") },
    PropertyDef { name: "socket.receive.buffer.bytes", topic_name: None, kind: ValueKind::Int { min: -1, max: I32_MAX }, default: "102400", unit: "bytes", doc: "SO_RCVBUF of client sockets (-1: the OS default).", support: Support::NoEffect("Skein leaves socket buffers to the kernel's autotuning") },
    PropertyDef { name: "offsets.topic.replication.factor", topic_name: None, kind: ValueKind::Int { min: 1, max: 32767 }, default: "3", unit: "replicas", doc: "Replication factor of __consumer_offsets: the active controller creates the topic once this many brokers are unfenced (until then FindCoordinator answers COORDINATOR_NOT_AVAILABLE). A single-node cluster (no other voters in controller.quorum.voters) uses 1 whatever is set.", support: Support::Implemented },
    PropertyDef { name: "transaction.state.log.replication.factor", topic_name: None, kind: ValueKind::Int { min: 1, max: 32767 }, default: "3", unit: "replicas", doc: "Replication factor of __transaction_state, created with the first transactional request once this many brokers are unfenced. A single-node cluster uses 1 whatever is set.", support: Support::Implemented },
    PropertyDef { name: "transaction.state.log.min.isr", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "2", unit: "replicas", doc: "min.insync.replicas of __transaction_state (capped at its replication factor), so a transaction state change is acknowledged only once this many replicas hold it.", support: Support::Implemented },
    PropertyDef { name: "share.coordinator.state.topic.replication.factor", topic_name: None, kind: ValueKind::Int { min: 1, max: 32767 }, default: "3", unit: "replicas", doc: "Replication factor of __share_group_state (KIP-932).", support: Support::NoEffect("Skein has no share groups") },
    PropertyDef { name: "share.coordinator.state.topic.min.isr", topic_name: None, kind: ValueKind::Int { min: 1, max: I32_MAX }, default: "2", unit: "replicas", doc: "min.insync.replicas of __share_group_state (KIP-932).", support: Support::NoEffect("Skein has no share groups") },
    PropertyDef { name: "fetch.max.bytes", topic_name: None, kind: ValueKind::Int { min: 1024, max: I32_MAX }, default: "57671680", unit: "bytes", doc: "Most record bytes in one Fetch response, whatever the request's max_bytes asks for (the first batch of the first non-empty partition is returned whole even if larger, so a consumer is never stuck).", support: Support::Implemented },
    PropertyDef { name: "max.incremental.fetch.session.cache.slots", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "1000", unit: "sessions", doc: "Most incremental fetch sessions (KIP-227) the broker keeps, split evenly over the data shards (at least one each); 0 disables sessions, and every fetch is then a full fetch.", support: Support::Implemented },
    PropertyDef { name: "min.incremental.fetch.session.eviction.ms", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "120000", unit: "ms", doc: "A fetch session idle longer than this may be evicted by any new session. A session created less than this long ago cannot be evicted by a consumer's new session (a follower's may still evict a consumer's); an older one gives way to a new session with more partitions.", support: Support::Implemented },
    PropertyDef { name: "log.message.format.version", topic_name: Some("message.format.version"), kind: ValueKind::Text, default: "3.0-IV1", unit: "", doc: "Kafka 3.x's on-disk message format version.", support: Support::NoEffect("Skein stores only the v2 record-batch format (Kafka 3.0 and later); Kafka 4 removed this property") },
    PropertyDef { name: "log.message.downconversion.enable", topic_name: Some("message.downconversion.enable"), kind: ValueKind::Bool, default: "true", unit: "", doc: "Kafka 3.x's down-conversion of batches for old Fetch versions.", support: Support::NoEffect("Skein serves Fetch v4 and later only, which read the v2 format as stored, so nothing is ever down-converted") },
    PropertyDef { name: "log.message.timestamp.difference.max.ms", topic_name: Some("message.timestamp.difference.max.ms"), kind: ValueKind::Int { min: 0, max: i64::MAX }, default: "9223372036854775807", unit: "ms", doc: "Kafka's deprecated bound on a batch's timestamp against the broker's clock.", support: Support::NoEffect("deprecated in Kafka 3.6 (removed in 4.0) for message.timestamp.before.max.ms and after.max.ms, which Skein implements") },
    PropertyDef { name: "log.preallocate", topic_name: Some("preallocate"), kind: ValueKind::Bool, default: "false", unit: "", doc: "Preallocate the file of a new segment.", support: Support::NoEffect("Skein always extends the active segment ahead of its direct-IO writes") },
    PropertyDef { name: "log.flush.interval.messages", topic_name: Some("flush.messages"), kind: ValueKind::Int { min: 1, max: i64::MAX }, default: "9223372036854775807", unit: "messages", doc: "Kafka's fsync after this many records.", support: Support::NoEffect("Skein's durability is set with flush.policy (batch, interval:<ms>, none)") },
    PropertyDef { name: "log.flush.interval.ms", topic_name: Some("flush.ms"), kind: ValueKind::Int { min: 0, max: i64::MAX }, default: "9223372036854775807", unit: "ms", doc: "Kafka's fsync after this much time.", support: Support::NoEffect("Skein's durability is set with flush.policy (batch, interval:<ms>, none)") },
    PropertyDef { name: "log.index.size.max.bytes", topic_name: Some("segment.index.bytes"), kind: ValueKind::Int { min: 8, max: I32_MAX }, default: "10485760", unit: "bytes", doc: "Kafka's preallocated offset-index size per segment.", support: Support::NoEffect("Skein's indexes grow with their segment; none is preallocated") },
    PropertyDef { name: "log.roll.jitter.ms", topic_name: Some("segment.jitter.ms"), kind: ValueKind::Int { min: 0, max: i64::MAX }, default: "0", unit: "ms", doc: "Random jitter subtracted from segment.ms.", support: Support::NoEffect("Skein rolls segments at segment.ms without jitter") },
    PropertyDef { name: "log.segment.delete.delay.ms", topic_name: Some("file.delete.delay.ms"), kind: ValueKind::Int { min: 0, max: i64::MAX }, default: "60000", unit: "ms", doc: "A segment deleted by retention or DeleteRecords is renamed `<file>.deleted` and removed this long after; a deleted partition's directory is renamed `<topic>-<p>.<uuid>-delete` and removed this long after. Files a crash left are removed at start.", support: Support::Implemented },
    PropertyDef { name: "unclean.leader.election.enable", topic_name: Some("unclean.leader.election.enable"), kind: ValueKind::Bool, default: "false", unit: "", doc: "Allow a replica outside the ISR to become leader of a partition whose ISR has no live replica left (records acknowledged by the lost ISR may be lost). ElectLeaders with the UNCLEAN type does it for the partitions it names whatever this says.", support: Support::Implemented },
];

/// A property that could not be set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// No such property, in Skein or in Kafka 4.0.
    #[error("unknown property {0:?}{hint}", hint = did_you_mean(.0))]
    UnknownProperty(String),
    /// The value does not parse or is out of range.
    #[error("invalid value {value:?} for {name}: {reason}")]
    InvalidValue {
        name: String,
        value: String,
        reason: String,
    },
    /// A valid value that this broker cannot honour, alone or together with
    /// the other properties (checked by [`BrokerConfig::validate`]).
    #[error("{name}: {reason}")]
    Unsupported { name: String, reason: String },
}

/// A parsed property value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Int(i64),
    Bool(bool),
    Text(String),
}

/// Parses `text` as a value of `def`'s kind.
fn parse(def: &PropertyDef, name: &str, text: &str) -> Result<Value, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidValue {
        name: name.to_string(),
        value: text.to_string(),
        reason,
    };
    let text = text.trim();
    match def.kind {
        ValueKind::Int { min, max } => {
            let n: i64 = text.parse().map_err(|_| invalid("not an integer".into()))?;
            if n < min || n > max {
                return Err(invalid(format!("must be in [{min}, {max}]")));
            }
            Ok(Value::Int(n))
        }
        ValueKind::IntOr { min, max, or } => {
            let n: i64 = text.parse().map_err(|_| invalid("not an integer".into()))?;
            if n != or && (n < min || n > max) {
                return Err(invalid(format!("must be in [{min}, {max}] or {or}")));
            }
            Ok(Value::Int(n))
        }
        ValueKind::Bool => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(invalid("expected true or false".into())),
        },
        ValueKind::OneOf(words) => words
            .iter()
            .find(|w| w.eq_ignore_ascii_case(text))
            .map(|w| Value::Text(w.to_string()))
            .ok_or_else(|| invalid(format!("expected one of {}", words.join(", ")))),
        ValueKind::FlushPolicy => text
            .parse::<FlushPolicy>()
            .map(|policy| Value::Text(policy.to_string()))
            .map_err(|_| invalid("expected batch, none or interval:<ms>".into())),
        ValueKind::CleanupPolicy => text
            .parse::<CleanupPolicy>()
            .map(|policy| Value::Text(policy.to_string()))
            .map_err(|_| invalid("expected delete, compact or compact,delete".into())),
        ValueKind::Ratio => {
            let ratio: f64 = text.parse().map_err(|_| invalid("not a number".into()))?;
            if !(0.0..=1.0).contains(&ratio) {
                return Err(invalid("must be in [0, 1]".into()));
            }
            Ok(Value::Text(ratio.to_string()))
        }
        ValueKind::Path => {
            if text.is_empty() {
                Err(invalid("empty path".into()))
            } else {
                Ok(Value::Text(text.to_string()))
            }
        }
        ValueKind::Text => Ok(Value::Text(text.to_string())),
        ValueKind::Listeners => {
            let listeners = parse_listeners(text).map_err(invalid)?;
            let normalised: Vec<String> = listeners.iter().map(ToString::to_string).collect();
            Ok(Value::Text(normalised.join(",")))
        }
        ValueKind::List(allowed) => {
            let mut items: Vec<String> = Vec::new();
            for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                let item = match allowed {
                    Some(words) => {
                        let word = item.to_ascii_lowercase();
                        if !words.contains(&word.as_str()) {
                            return Err(invalid(format!(
                                "items must be among {}",
                                words.join(", ")
                            )));
                        }
                        word
                    }
                    None => item.to_ascii_uppercase(),
                };
                if items.contains(&item) {
                    return Err(invalid(format!("{item} is given twice")));
                }
                items.push(item);
            }
            Ok(Value::Text(items.join(",")))
        }
        ValueKind::Voters => {
            parse_voters(text).map_err(invalid)?;
            Ok(Value::Text(text.split_whitespace().collect()))
        }
        ValueKind::HostPorts => {
            for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let port = entry.rsplit_once(':').map(|(_, port)| port.parse::<u16>());
                if !matches!(port, Some(Ok(_))) {
                    return Err(invalid(format!("{entry:?} is not HOST:PORT")));
                }
            }
            Ok(Value::Text(text.split_whitespace().collect()))
        }
        ValueKind::ProtocolMap => {
            let map = parse_protocol_map(text).map_err(invalid)?;
            let normalised: Vec<String> = map.iter().map(|(n, p)| format!("{n}:{p}")).collect();
            Ok(Value::Text(normalised.join(",")))
        }
    }
}

/// What a node does in the cluster (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRoles {
    /// It serves clients and holds partitions.
    pub broker: bool,
    /// It is a voter of the metadata quorum.
    pub controller: bool,
}

/// The broker's configuration: every property of [`PROPERTIES`], validated.
/// Each shard gets its own immutable copy at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    values: BTreeMap<&'static str, Value>,
    /// The properties set explicitly (not left at their default), for the
    /// properties Kafka derives from others when they are not set.
    explicit: std::collections::BTreeSet<&'static str>,
    /// Kafka properties Skein accepts without effect that were set: value
    /// and why Skein does not need it.
    kafka_settings: BTreeMap<&'static str, (String, &'static str)>,
    /// Per-listener overrides, `listener.name.<name>.<property>`: the
    /// listener name (upper-cased) and property, with its value.
    listener_overrides: BTreeMap<(String, &'static str), Value>,
    /// `listener.name.<listener>.<mechanism>.sasl.jaas.config`: the JAAS
    /// entry of each (listener, mechanism), both upper-cased, as given.
    jaas_configs: BTreeMap<(String, String), String>,
}

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        let values = PROPERTIES
            .iter()
            .map(|def| {
                let value = parse(def, def.name, def.default).expect("defaults are valid");
                (def.name, value)
            })
            .collect();
        BrokerConfig {
            values,
            explicit: std::collections::BTreeSet::new(),
            kafka_settings: BTreeMap::new(),
            listener_overrides: BTreeMap::new(),
            jaas_configs: BTreeMap::new(),
        }
    }
}

impl BrokerConfig {
    /// Sets broker property `name` (Kafka's name) to `value`.
    ///
    /// # Errors
    /// Unknown property, or a value of the wrong type or range.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        if let Some(prefixed) = name.strip_prefix("listener.name.") {
            return self.set_listener_override(name, prefixed, value);
        }
        let Some(def) = PROPERTIES.iter().find(|def| def.name == name) else {
            let (kafka_name, why) = check_kafka_only(name, value, kafka_broker_property)?;
            self.kafka_settings
                .insert(kafka_name, (value.trim().to_string(), why));
            return Ok(());
        };
        let parsed = parse(def, name, value)?;
        self.values.insert(def.name, parsed);
        self.explicit.insert(def.name);
        self.derive_time_properties();
        Ok(())
    }

    /// Sets `listener.name.<listener>.<property>` (`prefixed` is what follows
    /// `listener.name.`): a per-listener value of one of
    /// [`SSL_LISTENER_PROPERTIES`] or [`SASL_LISTENER_PROPERTIES`], which
    /// wins over the unprefixed one, or a mechanism's JAAS entry,
    /// `<listener>.<mechanism>.sasl.jaas.config` (parsed here, so a
    /// malformed one is refused at once).
    fn set_listener_override(
        &mut self,
        name: &str,
        prefixed: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        if let Some((listener, mechanism)) = prefixed
            .strip_suffix(".sasl.jaas.config")
            .and_then(|rest| rest.split_once('.'))
            .filter(|(l, m)| !l.is_empty() && !m.is_empty() && !m.contains('.'))
        {
            crate::jaas_config::JaasConfig::parse(value).map_err(|error| {
                ConfigError::InvalidValue {
                    name: name.to_string(),
                    // The value holds passwords: never echoed.
                    value: "(hidden)".into(),
                    reason: error.to_string(),
                }
            })?;
            self.jaas_configs.insert(
                (
                    listener.to_ascii_uppercase(),
                    mechanism.to_ascii_uppercase(),
                ),
                value.trim().to_string(),
            );
            return Ok(());
        }
        let property = SSL_LISTENER_PROPERTIES
            .iter()
            .chain(SASL_LISTENER_PROPERTIES.iter())
            .find(|p| {
                prefixed
                    .strip_suffix(**p)
                    .and_then(|listener| listener.strip_suffix('.'))
                    .is_some_and(|listener| !listener.is_empty() && !listener.contains('.'))
            })
            .ok_or_else(|| ConfigError::Unsupported {
                name: name.to_string(),
                reason: format!(
                    "per-listener properties are served for {}, {} and <mechanism>.sasl.jaas.config only",
                    SSL_LISTENER_PROPERTIES.join(", "),
                    SASL_LISTENER_PROPERTIES.join(", ")
                ),
            })?;
        let listener = prefixed
            .strip_suffix(property)
            .and_then(|l| l.strip_suffix('.'))
            .unwrap_or_default()
            .to_ascii_uppercase();
        let def = PROPERTIES
            .iter()
            .find(|def| def.name == *property)
            .expect("every listener property is in the table");
        let parsed = parse(def, name, value)?;
        self.listener_overrides.insert((listener, def.name), parsed);
        Ok(())
    }

    /// The SASL settings of listener `name` (upper-cased), each property
    /// from `listener.name.<name>.` if set there, else the broker-wide
    /// one. Unchecked: see [`SaslSettings::resolve`].
    pub fn listener_sasl(&self, name: &str) -> SaslSettings {
        let key = (name.to_string(), "sasl.enabled.mechanisms");
        let mechanisms_set = self.listener_overrides.contains_key(&key)
            || self.explicit.contains("sasl.enabled.mechanisms");
        let mechanisms = match self
            .listener_overrides
            .get(&key)
            .or_else(|| self.values.get("sasl.enabled.mechanisms"))
        {
            Some(Value::Text(text)) => text
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect(),
            other => unreachable!("sasl.enabled.mechanisms is a list, found {other:?}"),
        };
        let reauth_ms = match self
            .listener_overrides
            .get(&(name.to_string(), "connections.max.reauth.ms"))
            .or_else(|| self.values.get("connections.max.reauth.ms"))
        {
            Some(Value::Int(ms)) => u64::try_from(*ms).unwrap_or(0),
            other => unreachable!("connections.max.reauth.ms is an integer, found {other:?}"),
        };
        SaslSettings {
            listener: name.to_string(),
            enabled_mechanisms: mechanisms,
            mechanisms_set,
            jaas_configs: self
                .jaas_configs
                .iter()
                .filter(|((listener, _), _)| listener == name)
                .map(|((_, mechanism), text)| (mechanism.clone(), text.clone()))
                .collect(),
            reauth_ms,
        }
    }

    /// `connection.failed.authentication.delay.ms`.
    pub fn connection_failed_authentication_delay_ms(&self) -> u64 {
        u64::try_from(self.int("connection.failed.authentication.delay.ms")).unwrap_or(0)
    }

    /// `ssl.principal.mapping.rules` of listener `name` (per-listener
    /// override first).
    pub fn ssl_principal_mapping_rules(&self, name: &str) -> String {
        match self
            .listener_overrides
            .get(&(name.to_string(), "ssl.principal.mapping.rules"))
            .or_else(|| self.values.get("ssl.principal.mapping.rules"))
        {
            Some(Value::Text(text)) => text.clone(),
            other => unreachable!("ssl.principal.mapping.rules is text, found {other:?}"),
        }
    }

    /// The TLS settings of listener `name` (upper-cased): each of Kafka's
    /// `ssl.*` properties from `listener.name.<name>.` if set there, else
    /// the broker-wide one (Kafka's precedence). Unchecked: see
    /// [`SslSettings::check`].
    pub fn listener_ssl(&self, name: &str) -> SslSettings {
        let get = |property: &'static str| -> String {
            match self
                .listener_overrides
                .get(&(name.to_string(), property))
                .or_else(|| self.values.get(property))
            {
                Some(Value::Text(text)) => text.clone(),
                other => unreachable!("{property} is a text property, found {other:?}"),
            }
        };
        SslSettings {
            listener: name.to_string(),
            keystore_type: get("ssl.keystore.type"),
            keystore_location: get("ssl.keystore.location"),
            keystore_certificate_chain: get("ssl.keystore.certificate.chain"),
            keystore_key: get("ssl.keystore.key"),
            key_password: get("ssl.key.password"),
            truststore_type: get("ssl.truststore.type"),
            truststore_location: get("ssl.truststore.location"),
            truststore_certificates: get("ssl.truststore.certificates"),
            client_auth: get("ssl.client.auth"),
            enabled_protocols: get("ssl.enabled.protocols"),
            cipher_suites: get("ssl.cipher.suites"),
        }
    }

    /// Kafka's precedence for the time properties given in several units:
    /// `log.retention.ms` if set, else `log.retention.minutes` if set, else
    /// `log.retention.hours` (a negative result means forever, -1); and
    /// `log.roll.ms` if set, else `log.roll.hours`.
    fn derive_time_properties(&mut self) {
        const MINUTE_MS: i64 = 60_000;
        const HOUR_MS: i64 = 3_600_000;
        if !self.explicit.contains("log.retention.ms") {
            let ms = if self.explicit.contains("log.retention.minutes") {
                self.int("log.retention.minutes").saturating_mul(MINUTE_MS)
            } else {
                self.int("log.retention.hours").saturating_mul(HOUR_MS)
            };
            self.values
                .insert("log.retention.ms", Value::Int(if ms < 0 { -1 } else { ms }));
        }
        if !self.explicit.contains("log.roll.ms") {
            let ms = self.int("log.roll.hours").saturating_mul(HOUR_MS);
            self.values.insert("log.roll.ms", Value::Int(ms));
        }
    }

    /// Checks what no single property can: that the properties together
    /// describe a node this Skein can run. A single node (no voters, or this
    /// node alone) is both broker and its own one-voter controller. In a
    /// cluster, a `controller` is one of `controller.quorum.voters` and opens
    /// the first `controller.listener.names` listener; a `broker` is not a
    /// voter unless it is a controller too; every node knows the voters.
    /// A broker serves one or more client listeners, each PLAINTEXT, SSL,
    /// SASL_PLAINTEXT or SASL_SSL (with servable TLS and SASL settings and
    /// principal mapping rules); in a cluster the controller listener is
    /// servable too, and this node can log in to it and (a broker) to the
    /// inter-broker listener; a controller-only node serves no clients.
    ///
    /// # Errors
    /// [`ConfigError::Unsupported`] naming the property and why.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let unsupported = |name: &'static str, reason: String| ConfigError::Unsupported {
            name: name.to_string(),
            reason,
        };
        self.authorizer_settings()
            .map_err(|error| unsupported("authorizer.class.name", error.to_string()))?;
        let roles = self.roles();
        if !roles.broker && !roles.controller {
            return Err(unsupported("process.roles", "no role given".into()));
        }
        if self.int("replica.fetch.wait.max.ms") > self.int("replica.lag.time.max.ms") {
            return Err(unsupported(
                "replica.fetch.wait.max.ms",
                "must be at most replica.lag.time.max.ms, or followers held that long would leave the ISR (Kafka refuses it too)".into(),
            ));
        }
        let voters = self.quorum_voters();
        let is_voter = voters.iter().any(|voter| voter.node_id == self.node_id());
        if self.is_single_node() {
            if !(roles.broker && roles.controller) {
                return Err(unsupported(
                    "process.roles",
                    "a node with no other voters in controller.quorum.voters is its own controller and broker: use broker,controller".into(),
                ));
            }
        } else if roles.controller && !is_voter {
            return Err(unsupported(
                "controller.quorum.voters",
                format!(
                    "this node (node.id {}) is a controller but not one of the voters",
                    self.node_id()
                ),
            ));
        } else if !roles.controller && is_voter {
            return Err(unsupported(
                "process.roles",
                format!(
                    "node.id {} is a voter in controller.quorum.voters, so it must have the controller role",
                    self.node_id()
                ),
            ));
        }
        if self
            .text("controller.quorum.bootstrap.servers")
            .contains(',')
        {
            return Err(unsupported(
                "controller.quorum.bootstrap.servers",
                "Skein's quorum membership is static: list the voters in controller.quorum.voters"
                    .into(),
            ));
        }
        let controller_names = self.controller_listener_names();
        let listeners = self.listeners();
        for name in &controller_names {
            if roles.controller && !listeners.iter().any(|l| l.name == *name) {
                return Err(unsupported(
                    "controller.listener.names",
                    format!("{name} is not one of the listeners"),
                ));
            }
        }
        if !self.is_single_node() && controller_names.is_empty() {
            return Err(unsupported(
                "controller.listener.names",
                "a cluster needs the name of the controllers' listener".into(),
            ));
        }
        let clients: Vec<&Listener> = listeners
            .iter()
            .filter(|l| !controller_names.contains(&l.name))
            .collect();
        if !roles.broker {
            self.validate_controller_listener(roles.controller)?;
            if !clients.is_empty() {
                return Err(unsupported(
                    "listeners",
                    "a controller-only node serves no clients: list its controller listener only"
                        .into(),
                ));
            }
            return Ok(());
        }
        if clients.is_empty() {
            return Err(unsupported(
                "listeners",
                "a broker needs a client listener (every listener is a controller listener)".into(),
            ));
        }
        self.validate_controller_listener(roles.controller)?;
        for client in &clients {
            let protocol = self.security_protocol(&client.name).ok_or_else(|| {
                unsupported(
                    "listener.security.protocol.map",
                    format!("listener {} has no security protocol", client.name),
                )
            })?;
            if matches!(protocol.as_str(), "SSL" | "SASL_SSL") {
                self.listener_ssl(&client.name)
                    .check()
                    .map_err(|reason| unsupported("listeners", reason))?;
            }
            if matches!(protocol.as_str(), "SASL_PLAINTEXT" | "SASL_SSL") {
                self.listener_sasl(&client.name)
                    .resolve()
                    .map_err(|reason| unsupported("sasl.enabled.mechanisms", reason))?;
            }
            crate::ssl_principal_mapping::SslPrincipalMapper::parse(
                &self.ssl_principal_mapping_rules(&client.name),
            )
            .map_err(|reason| unsupported("ssl.principal.mapping.rules", reason))?;
        }
        if self.explicit.contains("inter.broker.listener.name")
            && self.explicit.contains("security.inter.broker.protocol")
        {
            return Err(unsupported(
                "security.inter.broker.protocol",
                "set either inter.broker.listener.name or security.inter.broker.protocol, not both (Kafka refuses both too)".into(),
            ));
        }
        let inter_broker = self.inter_broker_listener_name();
        if !inter_broker.is_empty() && !clients.iter().any(|c| c.name == inter_broker) {
            return Err(unsupported(
                "inter.broker.listener.name",
                format!("{inter_broker} is not a client listener"),
            ));
        }
        if !self.is_single_node() {
            self.inter_broker_login()
                .map_err(|reason| unsupported("inter.broker.listener.name", reason))?;
        }
        Ok(())
    }

    /// Checks the controller listener: servable on a controller (its TLS
    /// and SASL settings, as a client listener's), and one this node can
    /// log in to (see [`BrokerConfig::controller_login`]).
    fn validate_controller_listener(&self, controller: bool) -> Result<(), ConfigError> {
        let unsupported = |name: &'static str, reason: String| ConfigError::Unsupported {
            name: name.to_string(),
            reason,
        };
        let Some(name) = self.controller_listener_names().into_iter().next() else {
            return Ok(());
        };
        let protocol = self.security_protocol(&name).unwrap_or_default();
        if controller && matches!(protocol.as_str(), "SSL" | "SASL_SSL") {
            self.listener_ssl(&name)
                .check()
                .map_err(|reason| unsupported("listeners", reason))?;
        }
        if controller && matches!(protocol.as_str(), "SASL_PLAINTEXT" | "SASL_SSL") {
            self.listener_sasl(&name)
                .resolve()
                .map_err(|reason| unsupported("sasl.enabled.mechanisms", reason))?;
        }
        if !self.is_single_node() {
            self.controller_login()
                .map_err(|reason| unsupported("controller.listener.names", reason))?;
        }
        Ok(())
    }

    /// `inter.broker.listener.name`; when unset, the listener named by an
    /// explicitly set `security.inter.broker.protocol` (Kafka's older form);
    /// empty for neither.
    fn inter_broker_listener_name(&self) -> &str {
        let named = self.text("inter.broker.listener.name");
        if named.is_empty() && self.explicit.contains("security.inter.broker.protocol") {
            self.text("security.inter.broker.protocol")
        } else {
            named
        }
    }

    /// How this broker connects to other brokers' inter-broker listener
    /// (the one [`BrokerConfig::client_listener`] names): its protocol,
    /// `sasl.mechanism.inter.broker.protocol` with the listener's JAAS
    /// credentials, its TLS settings. A single node connects to no broker.
    ///
    /// # Errors
    /// Why this node could not log in (see [`ClientLogin::resolve`]).
    pub fn inter_broker_login(&self) -> Result<ClientLogin, String> {
        if self.client_listeners().is_empty() {
            return Ok(ClientLogin::plaintext(""));
        }
        let name = self.client_listener().0.name;
        self.client_login(&name, "sasl.mechanism.inter.broker.protocol")
    }

    /// How this node connects to the controllers' listener (the first of
    /// `controller.listener.names`): its protocol,
    /// `sasl.mechanism.controller.protocol` with the listener's JAAS
    /// credentials, its TLS settings. A single node connects to none.
    ///
    /// # Errors
    /// Why this node could not log in (see [`ClientLogin::resolve`]).
    pub fn controller_login(&self) -> Result<ClientLogin, String> {
        match self.controller_listener_names().into_iter().next() {
            Some(name) if !self.is_single_node() => {
                self.client_login(&name, "sasl.mechanism.controller.protocol")
            }
            _ => Ok(ClientLogin::plaintext("")),
        }
    }

    fn client_login(
        &self,
        listener: &str,
        mechanism_property: &'static str,
    ) -> Result<ClientLogin, String> {
        let protocol = self.security_protocol(listener);
        ClientLogin::resolve(ClientLoginSettings {
            listener,
            protocol: protocol.as_deref(),
            mechanism_property,
            mechanism: self.text(mechanism_property),
            jaas_configs: self.listener_sasl(listener).jaas_configs,
            ssl: self.listener_ssl(listener),
        })
    }

    /// `process.roles`.
    pub fn roles(&self) -> NodeRoles {
        let roles = self.text("process.roles");
        NodeRoles {
            broker: roles.split(',').any(|role| role == "broker"),
            controller: roles.split(',').any(|role| role == "controller"),
        }
    }

    /// `controller.quorum.voters`.
    pub fn quorum_voters(&self) -> Vec<Voter> {
        parse_voters(self.text("controller.quorum.voters")).expect("validated")
    }

    /// Whether this node is a whole cluster on its own: no voters, or this
    /// node the only one.
    pub fn is_single_node(&self) -> bool {
        let voters = self.quorum_voters();
        voters.is_empty()
            || (voters.len() == 1 && voters.iter().all(|v| v.node_id == self.node_id()))
    }

    /// The listener a controller opens for the quorum and the brokers: the
    /// first of `controller.listener.names` among `listeners`.
    pub fn controller_listener(&self) -> Option<Listener> {
        let name = self.controller_listener_names().into_iter().next()?;
        self.listeners().into_iter().find(|l| l.name == name)
    }

    /// `cluster.id`, if set.
    pub fn cluster_id(&self) -> Option<&str> {
        Some(self.text("cluster.id")).filter(|id| !id.is_empty())
    }

    /// `controller.listener.names`.
    pub fn controller_listener_names(&self) -> Vec<String> {
        self.text("controller.listener.names")
            .split(',')
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The security protocol of listener `name`: its entry in
    /// `listener.security.protocol.map`, else the protocol of that name
    /// (`PLAINTEXT://…` needs no entry), as Kafka resolves it. With the map
    /// left at its default, a controller listener name is PLAINTEXT
    /// (Kafka's effective map in KRaft mode, `CONTROLLER:PLAINTEXT`).
    pub fn security_protocol(&self, name: &str) -> Option<String> {
        let map =
            parse_protocol_map(self.text("listener.security.protocol.map")).expect("validated");
        let implicit_controller = !self.explicit.contains("listener.security.protocol.map")
            && self.controller_listener_names().iter().any(|c| c == name);
        map.into_iter()
            .find(|(listener, _)| listener == name)
            .map(|(_, protocol)| protocol)
            .or_else(|| implicit_controller.then(|| "PLAINTEXT".to_string()))
            .or_else(|| {
                crate::listener::SECURITY_PROTOCOLS
                    .contains(&name)
                    .then(|| name.to_string())
            })
    }

    /// The client listener this broker registers with the controllers and
    /// other brokers replicate from (see [`BrokerConfig::validate`], which
    /// must have passed): `inter.broker.listener.name`, else the first
    /// client listener; and what Metadata advertises for it: the
    /// `advertised.listeners` entry of the same name, if any.
    pub fn client_listener(&self) -> (Listener, Option<Listener>) {
        let inter_broker = self.inter_broker_listener_name();
        let clients = self.client_listeners();
        let index = clients
            .iter()
            .position(|(l, _)| l.name == inter_broker)
            .unwrap_or(0);
        clients
            .into_iter()
            .nth(index)
            .expect("validate() found a client listener")
    }

    /// Every client listener (those not named in
    /// `controller.listener.names`), in the order of `listeners`, each with
    /// its `advertised.listeners` entry of the same name, if any.
    pub fn client_listeners(&self) -> Vec<(Listener, Option<Listener>)> {
        let controller_names = self.controller_listener_names();
        let advertised = self.advertised_listeners();
        self.listeners()
            .into_iter()
            .filter(|l| !controller_names.contains(&l.name))
            .map(|client| {
                let entry = advertised.iter().find(|a| a.name == client.name).cloned();
                (client, entry)
            })
            .collect()
    }

    fn int(&self, name: &str) -> i64 {
        match self.values.get(name) {
            Some(Value::Int(n)) => *n,
            other => unreachable!("{name} is an integer property, found {other:?}"),
        }
    }

    fn text(&self, name: &str) -> &str {
        match self.values.get(name) {
            Some(Value::Text(text)) => text,
            other => unreachable!("{name} is a text property, found {other:?}"),
        }
    }

    fn flag(&self, name: &str) -> bool {
        match self.values.get(name) {
            Some(Value::Bool(flag)) => *flag,
            other => unreachable!("{name} is a boolean property, found {other:?}"),
        }
    }

    /// The current value of broker property `name` as text (a Kafka
    /// property Skein accepts without effect: as set, else empty; empty for
    /// an unknown name).
    pub fn value_text(&self, name: &str) -> String {
        match self.values.get(name) {
            Some(Value::Int(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::Text(text)) => text.clone(),
            None => self
                .kafka_settings
                .get(name)
                .map(|(value, _)| value.clone())
                .unwrap_or_default(),
        }
    }

    /// `node.id`.
    pub fn node_id(&self) -> i32 {
        self.int("node.id") as i32
    }
    /// `metadata.log.max.record.bytes.between.snapshots`: committed metadata
    /// record bytes after which the controller snapshots its image, in bytes
    /// (at least 1).
    pub fn metadata_snapshot_after_bytes(&self) -> u64 {
        self.int("metadata.log.max.record.bytes.between.snapshots") as u64
    }
    /// The log directories: `log.dirs` (comma-separated), else `log.dir`
    /// if only that is set (Kafka's precedence). Blank entries are
    /// dropped; at least one remains.
    pub fn log_dirs(&self) -> Vec<PathBuf> {
        let list = if !self.explicit.contains("log.dirs") && self.explicit.contains("log.dir") {
            self.text("log.dir")
        } else {
            self.text("log.dirs")
        };
        let dirs: Vec<PathBuf> = list
            .split(',')
            .map(str::trim)
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .collect();
        if dirs.is_empty() {
            vec![PathBuf::from(list)]
        } else {
            dirs
        }
    }
    /// The first log directory, which also holds the metadata log (Kafka's
    /// default `metadata.log.dir`).
    pub fn data_dir(&self) -> PathBuf {
        self.log_dirs().swap_remove(0)
    }
    /// `log.dir.probe.interval.ms`.
    pub fn log_dir_probe_interval_ms(&self) -> u64 {
        self.int("log.dir.probe.interval.ms") as u64
    }
    /// `log.open.files.max`: segment files kept open over all data shards;
    /// 0 derives the budget from the open-files limit.
    pub fn log_open_files_max(&self) -> u64 {
        self.int("log.open.files.max") as u64
    }
    /// `shard.spin.before.park.us`: how long an idle data shard polls
    /// before it sleeps, 0 to 1 s.
    pub fn shard_spin_before_park(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.int("shard.spin.before.park.us") as u64)
    }
    /// `queued.max.requests`: requests read and not yet answered,
    /// broker-wide (at least 1).
    pub fn queued_max_requests(&self) -> usize {
        self.int("queued.max.requests") as usize
    }
    /// `queued.max.request.bytes`: request bytes read and not yet answered,
    /// broker-wide; `None` for no bound (-1).
    pub fn queued_max_request_bytes(&self) -> Option<u64> {
        u64::try_from(self.int("queued.max.request.bytes")).ok()
    }
    /// `num.partitions`.
    pub fn num_partitions(&self) -> i32 {
        self.int("num.partitions") as i32
    }
    /// `auto.create.topics.enable`.
    pub fn auto_create_topics(&self) -> bool {
        self.flag("auto.create.topics.enable")
    }
    /// The authorizer's settings (`authorizer.class.name`, `super.users`,
    /// `allow.everyone.if.no.acl.found`); `None` without an authorizer.
    pub fn authorizer_settings(&self) -> Result<Option<AuthorizerSettings>, AuthorizerError> {
        AuthorizerSettings::from_properties(
            self.text("authorizer.class.name"),
            self.text("super.users"),
            self.flag("allow.everyone.if.no.acl.found"),
        )
    }

    /// `delete.topic.enable`.
    pub fn delete_topic_enable(&self) -> bool {
        self.flag("delete.topic.enable")
    }
    /// `fetch.max.bytes`: the most record bytes of one Fetch response.
    pub fn fetch_max_bytes(&self) -> usize {
        self.int("fetch.max.bytes") as usize
    }
    /// `max.incremental.fetch.session.cache.slots`: the most fetch sessions
    /// of the broker, over all its data shards (0: no sessions).
    pub fn max_incremental_fetch_session_cache_slots(&self) -> usize {
        self.int("max.incremental.fetch.session.cache.slots") as usize
    }
    /// `min.incremental.fetch.session.eviction.ms`: how long a fetch session
    /// is protected from eviction by bigger sessions, in ms.
    pub fn min_incremental_fetch_session_eviction_ms(&self) -> u64 {
        self.int("min.incremental.fetch.session.eviction.ms") as u64
    }
    /// `listeners`, as validated by [`BrokerConfig::set`].
    pub fn listeners(&self) -> Vec<Listener> {
        parse_listeners(self.text("listeners")).expect("validated when set")
    }
    /// `advertised.listeners` (empty: advertise the listeners themselves).
    pub fn advertised_listeners(&self) -> Vec<Listener> {
        parse_listeners(self.text("advertised.listeners")).expect("validated when set")
    }
    /// The properties set that Skein accepts without effect (its own table's
    /// and Kafka's others), each with the reason: `serve` warns once about
    /// each.
    pub fn no_effect_settings(&self) -> Vec<(&'static str, &'static str)> {
        let ours = PROPERTIES.iter().filter_map(|def| match def.support {
            Support::NoEffect(why) if self.explicit.contains(def.name) => Some((def.name, why)),
            _ => None,
        });
        let kafkas = self
            .kafka_settings
            .iter()
            .map(|(name, (_, why))| (*name, *why));
        ours.chain(kafkas).collect()
    }

    /// Every Kafka 4.0 broker property Skein does not implement, with its
    /// value (as set, else Kafka's default, `None` for Kafka's null) and
    /// whether it was set: DescribeConfigs lists them beside [`PROPERTIES`].
    pub fn kafka_only_settings(&self) -> Vec<(&'static KafkaProperty, Option<String>, bool)> {
        KAFKA_BROKER_PROPERTIES
            .iter()
            .filter(|kafka| !PROPERTIES.iter().any(|def| def.name == kafka.name))
            .map(|kafka| match self.kafka_settings.get(kafka.name) {
                Some((value, _)) => (kafka, Some(value.clone()), true),
                None => (kafka, kafka.default.map(str::to_string), false),
            })
            .collect()
    }
    /// `broker.heartbeat.interval.ms`: how often this broker heartbeats to
    /// the active controller, in ms (at least 1).
    pub fn broker_heartbeat_interval_ms(&self) -> u64 {
        self.int("broker.heartbeat.interval.ms") as u64
    }
    /// `replica.lag.time.max.ms`: how long a follower may stay behind its
    /// leader's log end before the leader proposes to drop it from the
    /// ISR, in ms (at least 1).
    pub fn replica_lag_time_max_ms(&self) -> i64 {
        self.int("replica.lag.time.max.ms")
    }
    /// `follower.replication.throttled.rate`, bytes per second, at least 1
    /// (`i64::MAX`: unthrottled).
    pub fn follower_replication_throttled_rate(&self) -> i64 {
        self.int("follower.replication.throttled.rate")
    }
    /// `leader.replication.throttled.rate`, bytes per second, at least 1
    /// (`i64::MAX`: unthrottled).
    pub fn leader_replication_throttled_rate(&self) -> i64 {
        self.int("leader.replication.throttled.rate")
    }

    /// `num.replica.fetchers`, in 1..=64.
    pub fn num_replica_fetchers(&self) -> u32 {
        u32::try_from(self.int("num.replica.fetchers")).unwrap_or(1)
    }
    /// `replica.fetch.wait.max.ms`, `replica.fetch.min.bytes`,
    /// `replica.fetch.max.bytes` and `replica.fetch.response.max.bytes`, as
    /// a follower's Fetch carries them.
    pub fn replica_fetch_limits(&self) -> (i32, i32, i32, i32) {
        let int = |name: &str| i32::try_from(self.int(name)).unwrap_or(i32::MAX);
        (
            int("replica.fetch.wait.max.ms"),
            int("replica.fetch.min.bytes"),
            int("replica.fetch.max.bytes"),
            int("replica.fetch.response.max.bytes"),
        )
    }
    /// `replica.fetch.backoff.ms`, in ms.
    pub fn replica_fetch_backoff_ms(&self) -> u64 {
        u64::try_from(self.int("replica.fetch.backoff.ms")).unwrap_or(0)
    }
    /// `replica.high.watermark.checkpoint.interval.ms`, in ms (at least 1).
    pub fn replica_high_watermark_checkpoint_interval_ms(&self) -> u64 {
        u64::try_from(self.int("replica.high.watermark.checkpoint.interval.ms")).unwrap_or(5_000)
    }
    /// `broker.session.timeout.ms`: how long the active controller waits
    /// for a broker's heartbeat before fencing it, in ms (at least 1).
    pub fn broker_session_timeout_ms(&self) -> u64 {
        self.int("broker.session.timeout.ms") as u64
    }
    /// `broker.rack`, if set.
    pub fn broker_rack(&self) -> Option<&str> {
        Some(self.text("broker.rack")).filter(|rack| !rack.is_empty())
    }
    /// `default.replication.factor`: a new topic's replication factor when
    /// it leaves it to the broker, in 1..=32767.
    pub fn default_replication_factor(&self) -> i16 {
        i16::try_from(self.int("default.replication.factor")).expect("validated range")
    }
    /// The replication factor `__consumer_offsets` is created with:
    /// `offsets.topic.replication.factor`, or 1 on a single-node cluster
    /// ([`BrokerConfig::is_single_node`]), which has one broker to hold it.
    pub fn offsets_topic_replication_factor(&self) -> i16 {
        if self.is_single_node() {
            return 1;
        }
        i16::try_from(self.int("offsets.topic.replication.factor")).expect("validated range")
    }
    /// The transaction coordinator's settings, for a `__transaction_state`
    /// of `partitions` partitions and a `__consumer_offsets` of
    /// `offsets_partitions`.
    pub fn transaction_coordinator_config(
        &self,
        partitions: u32,
        offsets_partitions: u32,
    ) -> crate::transaction_coordinator::TransactionCoordinatorConfig {
        crate::transaction_coordinator::TransactionCoordinatorConfig {
            transaction_state_num_partitions: partitions,
            offsets_topic_num_partitions: offsets_partitions,
            transaction_max_timeout_ms: i32::try_from(self.int("transaction.max.timeout.ms"))
                .unwrap_or(i32::MAX),
            abort_timed_out_transaction_cleanup_interval_ms: self
                .int("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
            transactional_id_expiration_ms: self.int("transactional.id.expiration.ms"),
            remove_expired_transaction_cleanup_interval_ms: self
                .int("transaction.remove.expired.transaction.cleanup.interval.ms"),
        }
    }
    /// `transaction.state.log.num.partitions`.
    pub fn transaction_state_log_partitions(&self) -> i32 {
        self.int("transaction.state.log.num.partitions") as i32
    }
    /// `transaction.state.log.segment.bytes`.
    pub fn transaction_state_log_segment_bytes(&self) -> u64 {
        self.int("transaction.state.log.segment.bytes") as u64
    }
    /// The replication factor `__transaction_state` is created with:
    /// `transaction.state.log.replication.factor`, or 1 on a single-node
    /// cluster, like `__consumer_offsets`.
    pub fn transaction_state_topic_replication_factor(&self) -> i16 {
        if self.is_single_node() {
            return 1;
        }
        self.transaction_state_log_replication_factor()
    }
    /// `transaction.state.log.replication.factor`, in 1..=32767.
    pub fn transaction_state_log_replication_factor(&self) -> i16 {
        i16::try_from(self.int("transaction.state.log.replication.factor"))
            .expect("validated range")
    }
    /// `transaction.state.log.min.isr`, at least 1.
    pub fn transaction_state_log_min_isr(&self) -> i32 {
        self.int("transaction.state.log.min.isr") as i32
    }
    /// `auto.leader.rebalance.enable`.
    pub fn auto_leader_rebalance_enable(&self) -> bool {
        self.flag("auto.leader.rebalance.enable")
    }
    /// `leader.imbalance.check.interval.seconds`: how often the active
    /// controller looks for imbalanced leaders, in seconds (at least 1).
    pub fn leader_imbalance_check_interval_seconds(&self) -> u64 {
        self.int("leader.imbalance.check.interval.seconds") as u64
    }
    /// `leader.imbalance.per.broker.percentage`, in 0..=100.
    pub fn leader_imbalance_per_broker_percentage(&self) -> u32 {
        self.int("leader.imbalance.per.broker.percentage") as u32
    }
    /// `unclean.leader.election.enable`: the broker default of the topic
    /// config of the same name.
    pub fn unclean_leader_election_enable(&self) -> bool {
        self.flag("unclean.leader.election.enable")
    }
    /// `socket.request.max.bytes`.
    pub fn socket_request_max_bytes(&self) -> usize {
        self.int("socket.request.max.bytes") as usize
    }
    /// `max.connections`.
    pub fn max_connections(&self) -> usize {
        self.int("max.connections") as usize
    }
    /// `max.connections.per.ip`.
    pub fn max_connections_per_ip(&self) -> usize {
        self.int("max.connections.per.ip") as usize
    }
    /// `max.connections.per.ip.overrides`, as written.
    pub fn max_connections_per_ip_overrides(&self) -> &str {
        self.text("max.connections.per.ip.overrides")
    }
    /// `connections.max.idle.ms`.
    pub fn connections_max_idle_ms(&self) -> u64 {
        self.int("connections.max.idle.ms") as u64
    }
    /// `connection.max.inflight.requests`.
    pub fn connection_max_inflight_requests(&self) -> usize {
        self.int("connection.max.inflight.requests") as usize
    }
    /// `log.retention.check.interval.ms`.
    pub fn retention_check_interval_ms(&self) -> u64 {
        self.int("log.retention.check.interval.ms") as u64
    }
    /// `producer.id.expiration.ms`: how long a partition keeps an idle
    /// idempotent producer.
    pub fn producer_id_expiration_ms(&self) -> i64 {
        self.int("producer.id.expiration.ms")
    }
    /// `producer.id.expiration.check.interval.ms`.
    pub fn producer_id_expiration_check_interval_ms(&self) -> u64 {
        self.int("producer.id.expiration.check.interval.ms") as u64
    }
    /// `group.initial.rebalance.delay.ms`.
    pub fn group_initial_rebalance_delay_ms(&self) -> i64 {
        self.int("group.initial.rebalance.delay.ms")
    }
    /// `group.min.session.timeout.ms`.
    pub fn group_min_session_timeout_ms(&self) -> i64 {
        self.int("group.min.session.timeout.ms")
    }
    /// `group.max.session.timeout.ms`.
    pub fn group_max_session_timeout_ms(&self) -> i64 {
        self.int("group.max.session.timeout.ms")
    }
    /// The group coordinator's settings from these properties, with
    /// `offsets_topic_num_partitions` partitions of `__consumer_offsets` (the
    /// existing topic's count, which may differ from the property).
    /// Check the result with
    /// [`GroupCoordinatorConfig::validate`]: the minimum and maximum session
    /// timeouts are set independently and may cross.
    pub fn group_coordinator_config(
        &self,
        offsets_topic_num_partitions: u32,
    ) -> GroupCoordinatorConfig {
        let ms = |name: &str| i32::try_from(self.int(name)).unwrap_or(i32::MAX);
        GroupCoordinatorConfig {
            group_initial_rebalance_delay_ms: ms("group.initial.rebalance.delay.ms"),
            group_min_session_timeout_ms: ms("group.min.session.timeout.ms"),
            group_max_session_timeout_ms: ms("group.max.session.timeout.ms"),
            group_max_size: ms("group.max.size"),
            offsets_retention_minutes: ms("offsets.retention.minutes"),
            offsets_retention_check_interval_ms: self.int("offsets.retention.check.interval.ms"),
            offset_metadata_max_bytes: ms("offset.metadata.max.bytes"),
            offsets_topic_num_partitions,
            classic_protocol_enabled: self.rebalance_protocol_enabled("classic"),
            consumer_protocol_enabled: self.rebalance_protocol_enabled("consumer"),
            consumer_session_timeout_ms: ms("group.consumer.session.timeout.ms"),
            consumer_min_session_timeout_ms: ms("group.consumer.min.session.timeout.ms"),
            consumer_max_session_timeout_ms: ms("group.consumer.max.session.timeout.ms"),
            consumer_heartbeat_interval_ms: ms("group.consumer.heartbeat.interval.ms"),
            consumer_min_heartbeat_interval_ms: ms("group.consumer.min.heartbeat.interval.ms"),
            consumer_max_heartbeat_interval_ms: ms("group.consumer.max.heartbeat.interval.ms"),
            consumer_max_size: ms("group.consumer.max.size"),
            consumer_assignors: self
                .text("group.consumer.assignors")
                .split(',')
                .filter_map(ConsumerAssignor::from_name)
                .collect(),
        }
    }
    /// Whether `group.coordinator.rebalance.protocols` lists `protocol`.
    pub fn rebalance_protocol_enabled(&self, protocol: &str) -> bool {
        self.text("group.coordinator.rebalance.protocols")
            .split(',')
            .any(|p| p.eq_ignore_ascii_case(protocol))
    }
    /// `offsets.topic.num.partitions`.
    pub fn offsets_topic_partitions(&self) -> i32 {
        self.int("offsets.topic.num.partitions") as i32
    }
    /// `offsets.commit.timeout.ms`.
    pub fn offsets_commit_timeout_ms(&self) -> u64 {
        self.int("offsets.commit.timeout.ms") as u64
    }
    /// `offsets.topic.segment.bytes`.
    pub fn offsets_topic_segment_bytes(&self) -> u64 {
        self.int("offsets.topic.segment.bytes") as u64
    }
    /// Whether a topic with `overrides` is compacted (`cleanup.policy`
    /// includes `compact`). Allocates nothing: it is asked per produce.
    pub fn compacts(&self, overrides: &BTreeMap<String, String>) -> bool {
        overrides
            .get("cleanup.policy")
            .map_or_else(|| self.text("log.cleanup.policy"), String::as_str)
            .contains("compact")
    }
    /// `log.cleaner.enable`.
    pub fn log_cleaner_enable(&self) -> bool {
        self.flag("log.cleaner.enable")
    }
    /// `log.cleaner.backoff.ms`.
    pub fn log_cleaner_backoff_ms(&self) -> u64 {
        self.int("log.cleaner.backoff.ms") as u64
    }

    /// The broker's default for every topic config, by topic config name.
    pub fn topic_defaults(&self) -> BTreeMap<&'static str, String> {
        PROPERTIES
            .iter()
            .filter_map(|def| {
                let topic_name = def.topic_name?;
                let value = match self.values.get(def.name)? {
                    Value::Int(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Text(text) => text.clone(),
                };
                Some((topic_name, value))
            })
            .collect()
    }

    /// The broker's default of topic config `topic_name` (the value of the
    /// broker property beside it), or `None` if Skein has no such topic
    /// config.
    pub fn topic_default(&self, topic_name: &str) -> Option<String> {
        topic_config_def(topic_name).map(|def| self.value_text(def.name))
    }

    /// The log config of a topic with `overrides`, which must have passed
    /// [`validate_topic_config`].
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        let value = |topic_name: &str| -> String {
            overrides.get(topic_name).cloned().unwrap_or_else(|| {
                self.topic_default(topic_name)
                    .expect("every topic config has a broker default")
            })
        };
        let int = |topic_name: &str| -> i64 { value(topic_name).parse().unwrap_or(-1) };
        LogConfig {
            segment_bytes: int("segment.bytes") as u64,
            segment_ms: int("segment.ms"),
            retention_ms: int("retention.ms"),
            retention_bytes: int("retention.bytes"),
            max_message_bytes: int("max.message.bytes") as u32,
            index_interval_bytes: int("index.interval.bytes") as u32,
            flush_policy: value("flush.policy").parse().unwrap_or(FlushPolicy::Batch),
            message_timestamp_type: if value("message.timestamp.type") == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            cleanup_policy: value("cleanup.policy")
                .parse()
                .unwrap_or(CleanupPolicy::Delete),
            min_cleanable_dirty_ratio: value("min.cleanable.dirty.ratio").parse().unwrap_or(0.5),
            delete_retention_ms: int("delete.retention.ms"),
            min_compaction_lag_ms: int("min.compaction.lag.ms"),
            max_compaction_lag_ms: int("max.compaction.lag.ms"),
            message_timestamp_before_max_ms: int("message.timestamp.before.max.ms"),
            message_timestamp_after_max_ms: int("message.timestamp.after.max.ms"),
            file_delete_delay_ms: int("file.delete.delay.ms"),
            compression_type: match value("compression.type").as_str() {
                "uncompressed" => CompressionType::Uncompressed,
                "gzip" => CompressionType::Gzip {
                    level: int("compression.gzip.level") as i32,
                },
                "snappy" => CompressionType::Snappy,
                "lz4" => CompressionType::Lz4 {
                    level: int("compression.lz4.level") as i32,
                },
                "zstd" => CompressionType::Zstd {
                    level: int("compression.zstd.level") as i32,
                },
                _ => CompressionType::Producer,
            },
        }
    }
}

/// The property definition of topic config `name`.
pub fn topic_config_def(name: &str) -> Option<&'static PropertyDef> {
    PROPERTIES.iter().find(|def| def.topic_name == Some(name))
}

/// Checks one topic config override, returning its normalised value.
///
/// # Errors
/// [`ConfigError::UnknownProperty`] for a name that is not a topic config;
/// [`ConfigError::InvalidValue`] for a bad value.
pub fn validate_topic_config(name: &str, value: &str) -> Result<String, ConfigError> {
    let Some(def) = topic_config_def(name) else {
        check_kafka_only(name, value, kafka_topic_property)?;
        return Ok(value.trim().to_string());
    };
    Ok(match parse(def, name, value)? {
        Value::Int(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Text(text) => text,
    })
}

/// Whether `name` is a topic config: one Skein implements, or one of Kafka
/// 4.0's that it accepts without effect.
pub fn is_topic_config(name: &str) -> bool {
    topic_config_def(name).is_some() || kafka_topic_property(name).is_some()
}

/// Checks a property Skein does not implement against Kafka's table (found
/// by `lookup`) and [`kafka_support`]: its name (as the table spells it) and
/// why it has no effect, if it is accepted.
///
/// # Errors
/// [`ConfigError::UnknownProperty`] if Kafka 4.0 has no such property
/// either; [`ConfigError::InvalidValue`] for a value of the wrong type;
/// [`ConfigError::Unsupported`] for a feature Skein lacks set away from its
/// default, or a property Skein refuses whatever its value.
fn check_kafka_only(
    name: &str,
    value: &str,
    lookup: fn(&str) -> Option<&'static KafkaProperty>,
) -> Result<(&'static str, &'static str), ConfigError> {
    let unsupported = |reason: &str| ConfigError::Unsupported {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    let support = kafka_support(name);
    if let KafkaSupport::Refused(why) = support {
        return Err(unsupported(why));
    }
    let kafka = lookup(name).ok_or_else(|| ConfigError::UnknownProperty(name.to_string()))?;
    check_kafka_value(kafka.kind, value).map_err(|reason| ConfigError::InvalidValue {
        name: name.to_string(),
        value: value.to_string(),
        reason,
    })?;
    match support {
        KafkaSupport::NoEffect(why) => Ok((kafka.name, why)),
        KafkaSupport::OnlyDefault(why) if kafka.default == Some(value.trim()) => {
            Ok((kafka.name, why))
        }
        KafkaSupport::OnlyDefault(why) | KafkaSupport::Refused(why) => Err(unsupported(why)),
    }
}

/// "; did you mean …?" with the known names closest to `name`, or nothing.
fn did_you_mean(name: &str) -> String {
    if let Some(def) = PROPERTIES
        .iter()
        .find(|def| def.topic_name == Some(name) && def.name != name)
    {
        return format!(
            "; {name} is a topic config: the broker's default for it is {}",
            def.name
        );
    }
    let known = PROPERTIES
        .iter()
        .flat_map(|def| [Some(def.name), def.topic_name])
        .flatten()
        .chain(KAFKA_BROKER_PROPERTIES.iter().map(|p| p.name))
        .chain(KAFKA_TOPIC_PROPERTIES.iter().map(|p| p.name))
        .filter(|known| *known != name);
    let closest = closest_names(name, known);
    if closest.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", closest.join(", "))
    }
}

/// How IncrementalAlterConfigs changes a list config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListChange {
    /// Add the given items that are not there yet (APPEND, 2).
    Append,
    /// Remove the given items (SUBTRACT, 3).
    Subtract,
}

/// Whether topic config `name` is a list (`cleanup.policy`), which
/// IncrementalAlterConfigs may APPEND to or SUBTRACT from.
pub fn is_list_config(name: &str) -> bool {
    topic_config_def(name).is_some_and(|def| def.kind == ValueKind::CleanupPolicy)
}

/// The new value of list config `name` after `change` with the items of
/// `items` (comma-separated) against its `current` value, as Kafka computes
/// it: APPEND keeps the current order and adds what is missing, SUBTRACT
/// removes every given item.
///
/// # Errors
/// [`ConfigError::InvalidValue`] if `name` is not a list config or the result
/// is not a valid value (an unknown item, or nothing left).
pub fn change_list_config(
    name: &str,
    current: &str,
    change: ListChange,
    items: &str,
) -> Result<String, ConfigError> {
    if !is_list_config(name) {
        return Err(ConfigError::InvalidValue {
            name: name.to_string(),
            value: items.to_string(),
            reason: "APPEND and SUBTRACT apply only to list configs".into(),
        });
    }
    let split = |text: &str| -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut list = split(current);
    let given = split(items);
    match change {
        ListChange::Append => {
            for item in given {
                if !list.contains(&item) {
                    list.push(item);
                }
            }
        }
        ListChange::Subtract => list.retain(|item| !given.contains(item)),
    }
    validate_topic_config(name, &list.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let config = BrokerConfig::default();
        assert_eq!(config.num_partitions(), 1);
        assert!(config.auto_create_topics());
        assert_eq!(config.socket_request_max_bytes(), 104_857_600);
        let log = config.log_config(&BTreeMap::new());
        assert_eq!(log.segment_bytes, 1 << 30);
        assert_eq!(log.retention_ms, 604_800_000);
        assert_eq!(log.retention_bytes, -1);
        assert_eq!(log.max_message_bytes, 1_048_588);
        assert_eq!(log.flush_policy, FlushPolicy::Batch);
    }

    #[test]
    fn log_dirs_is_a_list_and_log_dir_applies_only_without_it() {
        let mut config = BrokerConfig::default();
        assert_eq!(config.log_dirs(), vec![PathBuf::from("./skein-data")]);
        config.set("log.dir", "/one").expect("log.dir");
        assert_eq!(config.log_dirs(), vec![PathBuf::from("/one")]);
        config.set("log.dirs", "/a, /b,,/c").expect("log.dirs");
        assert_eq!(
            config.log_dirs(),
            ["/a", "/b", "/c"].map(PathBuf::from).to_vec()
        );
        assert_eq!(
            config.data_dir(),
            PathBuf::from("/a"),
            "metadata in the first"
        );
        assert_eq!(config.queued_max_requests(), 500);
        assert_eq!(config.queued_max_request_bytes(), None);
        config
            .set("queued.max.request.bytes", "209715200")
            .expect("bytes");
        assert_eq!(config.queued_max_request_bytes(), Some(209_715_200));
        assert_eq!(
            config.log_config(&BTreeMap::new()).file_delete_delay_ms,
            60_000
        );
    }

    #[test]
    fn cluster_properties_default_to_kafkas_and_are_range_checked() {
        let config = BrokerConfig::default();
        assert_eq!(config.broker_heartbeat_interval_ms(), 2000);
        assert_eq!(config.broker_session_timeout_ms(), 9000);
        assert_eq!(config.broker_rack(), None);
        assert_eq!(config.default_replication_factor(), 1);
        assert_eq!(config.transaction_state_log_replication_factor(), 3);
        assert_eq!(config.transaction_state_log_min_isr(), 2);
        assert!(config.auto_leader_rebalance_enable());
        assert_eq!(config.leader_imbalance_check_interval_seconds(), 300);
        assert_eq!(config.leader_imbalance_per_broker_percentage(), 10);
        assert!(!config.unclean_leader_election_enable());
        // One node holds __consumer_offsets alone; a cluster takes Kafka's 3.
        assert_eq!(config.offsets_topic_replication_factor(), 1);
        assert_eq!(config.value_text("offsets.topic.replication.factor"), "3");
        let mut cluster = BrokerConfig::default();
        cluster
            .set(
                "controller.quorum.voters",
                "0@127.0.0.1:9093,1@127.0.0.1:9094,2@127.0.0.1:9095",
            )
            .unwrap();
        assert_eq!(cluster.offsets_topic_replication_factor(), 3);
        cluster.set("default.replication.factor", "3").unwrap();
        cluster.set("broker.rack", " rack-a ").unwrap();
        cluster
            .set("unclean.leader.election.enable", "true")
            .unwrap();
        assert_eq!(cluster.default_replication_factor(), 3);
        assert_eq!(cluster.broker_rack(), Some("rack-a"));
        assert!(cluster.unclean_leader_election_enable());
        for (name, bad) in [
            ("default.replication.factor", "32768"),
            ("broker.session.timeout.ms", "0"),
            ("leader.imbalance.per.broker.percentage", "101"),
            ("leader.imbalance.check.interval.seconds", "0"),
        ] {
            assert!(
                matches!(
                    cluster.set(name, bad),
                    Err(ConfigError::InvalidValue { .. })
                ),
                "{name}={bad}"
            );
        }
        assert!(cluster.no_effect_settings().is_empty());
    }

    #[test]
    fn set_refuses_unknown_names_and_bad_values() {
        let mut config = BrokerConfig::default();
        assert_eq!(
            config.set("no.such.thing", "1"),
            Err(ConfigError::UnknownProperty("no.such.thing".into()))
        );
        assert!(matches!(
            config.set("num.partitions", "zero"),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(matches!(
            config.set("num.partitions", "0"),
            Err(ConfigError::InvalidValue { .. })
        ));
        config.set("num.partitions", "3").unwrap();
        assert_eq!(config.num_partitions(), 3);
    }

    #[test]
    fn compaction_properties_reach_the_log_config() {
        let mut config = BrokerConfig::default();
        let log = config.log_config(&BTreeMap::new());
        assert_eq!(log.cleanup_policy, CleanupPolicy::Delete);
        assert_eq!(log.min_cleanable_dirty_ratio, 0.5);
        assert_eq!(log.delete_retention_ms, 86_400_000);
        assert_eq!(log.min_compaction_lag_ms, 0);
        assert_eq!(log.max_compaction_lag_ms, i64::MAX);
        assert!(config.log_cleaner_enable());
        assert_eq!(config.log_cleaner_backoff_ms(), 15_000);
        assert_eq!(config.offsets_topic_segment_bytes(), 104_857_600);
        config
            .set("log.cleaner.min.cleanable.ratio", "0.25")
            .unwrap();
        assert!(config
            .set("log.cleaner.min.cleanable.ratio", "1.5")
            .is_err());
        assert!(config
            .set("log.cleaner.min.cleanable.ratio", "half")
            .is_err());
        let mut overrides = BTreeMap::new();
        for (name, value) in [
            ("cleanup.policy", "compact"),
            ("delete.retention.ms", "5"),
            ("min.compaction.lag.ms", "6"),
            ("max.compaction.lag.ms", "7"),
        ] {
            overrides.insert(
                name.to_string(),
                validate_topic_config(name, value).unwrap(),
            );
        }
        let log = config.log_config(&overrides);
        assert_eq!(log.cleanup_policy, CleanupPolicy::Compact);
        assert_eq!(log.min_cleanable_dirty_ratio, 0.25);
        assert_eq!(log.delete_retention_ms, 5);
        assert_eq!(log.min_compaction_lag_ms, 6);
        assert_eq!(log.max_compaction_lag_ms, 7);
        assert!(log.validate().is_ok());
    }

    #[test]
    fn cleanup_policy_is_a_list_for_append_and_subtract() {
        assert!(is_list_config("cleanup.policy"));
        assert!(!is_list_config("retention.ms"));
        assert_eq!(
            change_list_config("cleanup.policy", "delete", ListChange::Append, "compact").unwrap(),
            "compact,delete"
        );
        assert_eq!(
            change_list_config(
                "cleanup.policy",
                "compact,delete",
                ListChange::Append,
                "delete"
            )
            .unwrap(),
            "compact,delete"
        );
        assert_eq!(
            change_list_config(
                "cleanup.policy",
                "compact,delete",
                ListChange::Subtract,
                "delete"
            )
            .unwrap(),
            "compact"
        );
        assert!(
            change_list_config("cleanup.policy", "delete", ListChange::Subtract, "delete").is_err()
        );
        assert!(
            change_list_config("cleanup.policy", "delete", ListChange::Append, "shrink").is_err()
        );
        assert!(change_list_config("retention.ms", "5", ListChange::Append, "6").is_err());
    }

    #[test]
    fn configs_without_effect_are_accepted_and_reported_for_a_warning() {
        let mut config = BrokerConfig::default();
        assert!(config.no_effect_settings().is_empty());
        config.set("log.message.format.version", "2.8").unwrap();
        config.set("log.preallocate", "true").unwrap();
        let names: Vec<&str> = config
            .no_effect_settings()
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(names, ["log.message.format.version", "log.preallocate"]);
        assert_eq!(
            validate_topic_config("message.downconversion.enable", "false").unwrap(),
            "false"
        );
        assert!(validate_topic_config("message.downconversion.enable", "maybe").is_err());
        assert_eq!(
            validate_topic_config("message.format.version", " 0.10.2 ").unwrap(),
            "0.10.2"
        );
    }

    #[test]
    fn listeners_default_to_kafkas_and_normalise() {
        let mut config = BrokerConfig::default();
        assert_eq!(
            config.listeners()[0].to_string(),
            "PLAINTEXT://0.0.0.0:9092"
        );
        assert_eq!(config.fetch_max_bytes(), 57_671_680);
        assert_eq!(config.max_incremental_fetch_session_cache_slots(), 1_000);
        assert_eq!(config.min_incremental_fetch_session_eviction_ms(), 120_000);
        assert!(config.advertised_listeners().is_empty());
        config
            .set("advertised.listeners", "plaintext://broker1:19092")
            .unwrap();
        assert_eq!(
            config.value_text("advertised.listeners"),
            "PLAINTEXT://broker1:19092"
        );
        assert!(config.set("listeners", "127.0.0.1:9092").is_err());
    }

    #[test]
    fn retention_and_roll_follow_kafkas_precedence_of_units() {
        let mut config = BrokerConfig::default();
        assert_eq!(
            config.log_config(&BTreeMap::new()).retention_ms,
            604_800_000
        );
        config.set("log.retention.hours", "1").unwrap();
        assert_eq!(config.log_config(&BTreeMap::new()).retention_ms, 3_600_000);
        config.set("log.retention.minutes", "2").unwrap();
        assert_eq!(config.log_config(&BTreeMap::new()).retention_ms, 120_000);
        config.set("log.retention.ms", "5").unwrap();
        config.set("log.retention.hours", "9").unwrap();
        assert_eq!(config.log_config(&BTreeMap::new()).retention_ms, 5);
        let mut forever = BrokerConfig::default();
        forever.set("log.retention.hours", "-1").unwrap();
        assert_eq!(forever.log_config(&BTreeMap::new()).retention_ms, -1);
        forever.set("log.roll.hours", "2").unwrap();
        assert_eq!(forever.log_config(&BTreeMap::new()).segment_ms, 7_200_000);
    }

    #[test]
    fn replica_fetch_properties_are_read_and_a_wait_past_the_lag_time_is_refused() {
        let mut config = BrokerConfig::default();
        assert_eq!(config.num_replica_fetchers(), 1);
        assert_eq!(
            config.replica_fetch_limits(),
            (500, 1, 1_048_576, 10_485_760)
        );
        assert_eq!(config.replica_fetch_backoff_ms(), 1_000);
        assert_eq!(
            config.replica_high_watermark_checkpoint_interval_ms(),
            5_000
        );
        config.set("num.replica.fetchers", "4").unwrap();
        config.set("replica.fetch.max.bytes", "65536").unwrap();
        assert_eq!(config.num_replica_fetchers(), 4);
        assert_eq!(config.replica_fetch_limits().2, 65_536);
        config.validate().unwrap();
        config.set("replica.fetch.wait.max.ms", "40000").unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("replica.fetch.wait.max.ms"), "{error}");
        assert!(config.set("num.replica.fetchers", "0").is_err());
    }

    /// A cluster member whose only listeners are a SASL_PLAINTEXT broker
    /// listener (also the inter-broker one) and an SSL controller listener.
    fn secured_member() -> BrokerConfig {
        let mut config = BrokerConfig::default();
        for (name, value) in [
            ("node.id", "1"),
            ("controller.quorum.voters", "1@a:9093,2@b:9093,3@c:9093"),
            ("listeners", "BROKER://:9092,CONTROLLER://:9093"),
            ("controller.listener.names", "CONTROLLER"),
            (
                "listener.security.protocol.map",
                "BROKER:SASL_PLAINTEXT,CONTROLLER:SSL",
            ),
            ("inter.broker.listener.name", "BROKER"),
            ("sasl.enabled.mechanisms", "PLAIN"),
            ("sasl.mechanism.inter.broker.protocol", "PLAIN"),
            (
                "listener.name.broker.plain.sasl.jaas.config",
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="pw" user_broker="pw";"#,
            ),
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", "/node.pem"),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", "/ca.pem"),
        ] {
            config.set(name, value).unwrap();
        }
        config
    }

    #[test]
    fn a_sasl_inter_broker_listener_and_an_ssl_controller_listener_resolve_their_logins() {
        let config = secured_member();
        assert_eq!(config.validate(), Ok(()));
        let inter_broker = config.inter_broker_login().unwrap();
        assert_eq!(inter_broker.listener, "BROKER");
        assert_eq!(inter_broker.protocol, "SASL_PLAINTEXT");
        let sasl = inter_broker.sasl.unwrap();
        assert_eq!(
            (
                sasl.mechanism,
                sasl.username.as_str(),
                sasl.password.as_str()
            ),
            (crate::SaslMechanism::Plain, "broker", "pw")
        );
        let controller = config.controller_login().unwrap();
        assert_eq!(controller.protocol, "SSL");
        assert!(controller.sasl.is_none());
        assert_eq!(
            controller.ssl.unwrap().truststore_location,
            "/ca.pem".to_string()
        );
    }

    #[test]
    fn kafkas_gssapi_inter_broker_default_is_refused_at_start() {
        let mut config = BrokerConfig::default();
        for (name, value) in [
            ("node.id", "1"),
            ("controller.quorum.voters", "1@a:9093,2@b:9093,3@c:9093"),
            ("listeners", "BROKER://:9092,CONTROLLER://:9093"),
            ("controller.listener.names", "CONTROLLER"),
            (
                "listener.security.protocol.map",
                "BROKER:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            ),
            ("sasl.enabled.mechanisms", "PLAIN"),
            (
                "listener.name.broker.plain.sasl.jaas.config",
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_broker="pw";"#,
            ),
        ] {
            config.set(name, value).unwrap();
        }
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("sasl.mechanism.inter.broker.protocol: GSSAPI"),
            "{error}"
        );
        config
            .set("sasl.mechanism.inter.broker.protocol", "PLAIN")
            .unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("username"), "{error}");
    }

    #[test]
    fn security_inter_broker_protocol_names_the_inter_broker_listener() {
        let mut config = secured_member();
        config
            .set(
                "listeners",
                "SASL_PLAINTEXT://:9092,PLAINTEXT://:9094,CONTROLLER://:9093",
            )
            .unwrap();
        config
            .set(
                "listener.security.protocol.map",
                "SASL_PLAINTEXT:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT,CONTROLLER:SSL",
            )
            .unwrap();
        config
            .set("security.inter.broker.protocol", "PLAINTEXT")
            .unwrap();
        // Both set: refused, as Kafka refuses it.
        assert!(config.validate().is_err());
        let mut config = BrokerConfig::default();
        config
            .set("listeners", "SASL_PLAINTEXT://:9092,PLAINTEXT://:9094")
            .unwrap();
        config
            .set("security.inter.broker.protocol", "PLAINTEXT")
            .unwrap();
        assert_eq!(config.client_listener().0.name, "PLAINTEXT");
    }

    #[test]
    fn validate_accepts_single_kraft_nodes_and_cluster_members() {
        let mut config = BrokerConfig::default();
        assert_eq!(config.validate(), Ok(()));
        config.set("node.id", "1").unwrap();
        config
            .set("controller.quorum.voters", "1@localhost:9093")
            .unwrap();
        config
            .set("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093")
            .unwrap();
        config
            .set("controller.listener.names", "controller")
            .unwrap();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.client_listener().0.name, "PLAINTEXT");
        let refused = |name: &str, value: &str| {
            let mut changed = config.clone();
            changed.set(name, value).unwrap();
            match changed.validate() {
                Err(ConfigError::Unsupported { name: refused, .. }) => refused,
                other => panic!("{name}={value}: {other:?}"),
            }
        };
        let mut member = config.clone();
        member
            .set("controller.quorum.voters", "1@a:9093,2@b:9093,3@c:9093")
            .unwrap();
        assert_eq!(member.validate(), Ok(()));
        assert!(!member.is_single_node());
        assert_eq!(member.controller_listener().unwrap().port, 9093);
        let mut broker_only = member.clone();
        broker_only.set("process.roles", "broker").unwrap();
        assert!(matches!(
            broker_only.validate(),
            Err(ConfigError::Unsupported { name, .. }) if name == "process.roles"
        ));
        broker_only.set("node.id", "4").unwrap();
        broker_only.set("listeners", "PLAINTEXT://:9092").unwrap();
        assert_eq!(broker_only.validate(), Ok(()));
        assert!(broker_only.controller_listener().is_none());
        let mut controller_only = member.clone();
        controller_only.set("process.roles", "controller").unwrap();
        assert!(matches!(
            controller_only.validate(),
            Err(ConfigError::Unsupported { name, .. }) if name == "listeners"
        ));
        controller_only
            .set("listeners", "CONTROLLER://:9093")
            .unwrap();
        assert_eq!(controller_only.validate(), Ok(()));
        assert_eq!(
            refused("controller.quorum.voters", "2@b:9093"),
            "controller.quorum.voters"
        );
        assert_eq!(refused("process.roles", "broker"), "process.roles");
        assert_eq!(
            refused("controller.listener.names", "NOPE"),
            "controller.listener.names"
        );
        assert_eq!(
            refused(
                "listener.security.protocol.map",
                "PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT"
            ),
            "sasl.enabled.mechanisms"
        );
        assert_eq!(
            refused("inter.broker.listener.name", "CONTROLLER"),
            "inter.broker.listener.name"
        );
        assert_eq!(
            refused(
                "listeners",
                "PLAINTEXT://:9092,EXTERNAL://:9094,CONTROLLER://:9093"
            ),
            "listener.security.protocol.map"
        );
        assert_eq!(
            refused(
                "listeners",
                "PLAINTEXT://:9092,SSL://:9094,CONTROLLER://:9093"
            ),
            "listeners"
        );
        // An SSL controller listener needs its key store; a SASL one its
        // mechanisms.
        assert_eq!(
            refused(
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL"
            ),
            "listeners"
        );
        assert_eq!(
            refused(
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"
            ),
            "sasl.enabled.mechanisms"
        );
        assert!(config.set("process.roles", "broker,broker").is_err());
        assert!(config.set("process.roles", "observer").is_err());
    }

    #[test]
    fn compression_type_and_levels_reach_the_log_config() {
        let mut config = BrokerConfig::default();
        assert_eq!(
            config.log_config(&BTreeMap::new()).compression_type,
            CompressionType::Producer
        );
        let with = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(name, value)| {
                    let value = validate_topic_config(name, value).unwrap();
                    (name.to_string(), value)
                })
                .collect()
        };
        let cases = [
            (
                with(&[("compression.type", "lz4")]),
                CompressionType::Lz4 { level: 9 },
            ),
            (
                with(&[("compression.type", "ZSTD")]),
                CompressionType::Zstd { level: 3 },
            ),
            (
                with(&[("compression.type", "gzip")]),
                CompressionType::Gzip { level: -1 },
            ),
            (
                with(&[("compression.type", "snappy")]),
                CompressionType::Snappy,
            ),
            (
                with(&[("compression.type", "uncompressed")]),
                CompressionType::Uncompressed,
            ),
            (
                with(&[
                    ("compression.type", "gzip"),
                    ("compression.gzip.level", "9"),
                ]),
                CompressionType::Gzip { level: 9 },
            ),
            (
                with(&[
                    ("compression.type", "zstd"),
                    ("compression.zstd.level", "-131072"),
                ]),
                CompressionType::Zstd { level: -131_072 },
            ),
        ];
        for (overrides, expected) in cases {
            let log = config.log_config(&overrides);
            assert_eq!(log.compression_type, expected, "{overrides:?}");
            assert!(log.validate().is_ok());
        }
        for (name, bad) in [
            ("compression.type", "brotli"),
            ("compression.gzip.level", "0"),
            ("compression.gzip.level", "10"),
            ("compression.lz4.level", "18"),
            ("compression.zstd.level", "23"),
        ] {
            assert!(validate_topic_config(name, bad).is_err(), "{name}={bad}");
        }
        // The broker properties are the topics' defaults.
        config.set("compression.type", "lz4").unwrap();
        config.set("compression.lz4.level", "1").unwrap();
        assert_eq!(
            config.log_config(&BTreeMap::new()).compression_type,
            CompressionType::Lz4 { level: 1 }
        );
    }

    #[test]
    fn every_kafka_property_is_known_and_classed() {
        let mut config = BrokerConfig::default();
        // Implemented, accepted without effect, or refused with a reason:
        // never "unknown".
        for kafka in KAFKA_BROKER_PROPERTIES {
            let value = kafka.default.unwrap_or("1");
            match config.clone().set(kafka.name, value) {
                Ok(()) | Err(ConfigError::Unsupported { .. }) => {}
                Err(ConfigError::InvalidValue { .. }) if kafka.default.is_none() => {}
                Err(ConfigError::InvalidValue { .. })
                    if PROPERTIES.iter().any(|d| d.name == kafka.name) => {}
                other => panic!("{}={value}: {other:?}", kafka.name),
            }
        }
        for kafka in KAFKA_TOPIC_PROPERTIES {
            assert!(is_topic_config(kafka.name), "{}", kafka.name);
        }
        config.set("num.network.threads", "3").unwrap();
        config
            .set("remote.log.storage.system.enable", "false")
            .unwrap();
        assert!(config
            .no_effect_settings()
            .iter()
            .any(|(name, _)| *name == "num.network.threads"));
        assert!(matches!(
            config.set("zookeeper.connect", "localhost:2181"),
            Err(ConfigError::Unsupported { reason, .. }) if reason.contains("no ZooKeeper")
        ));
        assert!(matches!(
            config.set("ssl.keystore.password", "secret"),
            Err(ConfigError::Unsupported { .. })
        ));
        assert!(matches!(
            config.set("remote.log.storage.system.enable", "true"),
            Err(ConfigError::Unsupported { .. })
        ));
        assert!(matches!(
            config.set("num.io.threads", "many"),
            Err(ConfigError::InvalidValue { .. })
        ));
        let unknown = config.set("num.partition", "3").unwrap_err().to_string();
        assert!(unknown.contains("did you mean num.partitions"), "{unknown}");
        let topic_name = config.set("flush.policy", "none").unwrap_err().to_string();
        assert!(
            topic_name.contains(
                "flush.policy is a topic config: the broker's default for it is log.flush.policy"
            ),
            "{topic_name}"
        );
        assert_eq!(
            validate_topic_config("remote.storage.enable", "false").unwrap(),
            "false"
        );
        assert!(validate_topic_config("remote.storage.enable", "true").is_err());
        assert_eq!(
            validate_topic_config("leader.replication.throttled.replicas", "*").unwrap(),
            "*"
        );
    }

    #[test]
    fn group_properties_reach_the_group_coordinator() {
        let mut config = BrokerConfig::default();
        assert_eq!(
            config.group_coordinator_config(50),
            GroupCoordinatorConfig::default(),
            "Kafka's defaults on both sides"
        );
        config.set("group.max.size", "3").unwrap();
        config.set("offsets.retention.minutes", "5").unwrap();
        config.set("offset.metadata.max.bytes", "10").unwrap();
        let coordinator = config.group_coordinator_config(50);
        assert_eq!(coordinator.group_max_size, 3);
        assert_eq!(coordinator.offsets_retention_ms(), 300_000);
        assert_eq!(coordinator.offset_metadata_max_bytes, 10);
    }

    #[test]
    fn consumer_group_settings_reach_the_coordinator_and_are_bounded() {
        let mut config = BrokerConfig::default();
        config.set("group.consumer.assignors", "range").unwrap();
        config
            .set("group.coordinator.rebalance.protocols", "classic")
            .unwrap();
        config
            .set("group.consumer.heartbeat.interval.ms", "6000")
            .unwrap();
        let coordinator = config.group_coordinator_config(50);
        assert_eq!(
            coordinator.consumer_assignors,
            vec![ConsumerAssignor::Range]
        );
        assert!(!coordinator.consumer_protocol_enabled);
        assert_eq!(coordinator.consumer_heartbeat_interval_ms, 6000);
        assert_eq!(coordinator.validate(), Ok(()));
        config
            .set("group.consumer.session.timeout.ms", "1000")
            .unwrap();
        assert!(config.group_coordinator_config(50).validate().is_err());
        let mut no_classic = BrokerConfig::default();
        no_classic
            .set("group.coordinator.rebalance.protocols", "consumer")
            .unwrap();
        assert!(no_classic.group_coordinator_config(50).validate().is_err());
    }

    #[test]
    fn topic_overrides_beat_broker_defaults() {
        let mut config = BrokerConfig::default();
        config.set("log.retention.ms", "1000").unwrap();
        let mut overrides = BTreeMap::new();
        assert_eq!(config.log_config(&overrides).retention_ms, 1000);
        overrides.insert(
            "retention.ms".to_string(),
            validate_topic_config("retention.ms", "5").unwrap(),
        );
        assert_eq!(config.log_config(&overrides).retention_ms, 5);
        assert!(validate_topic_config("log.retention.ms", "5").is_err());
        assert_eq!(
            validate_topic_config("cleanup.policy", "delete, compact").unwrap(),
            "compact,delete"
        );
        assert!(validate_topic_config("cleanup.policy", "shrink").is_err());
        assert_eq!(
            validate_topic_config("flush.policy", "interval:50").unwrap(),
            "interval:50"
        );
    }

    #[test]
    fn ssl_and_plaintext_client_listeners_serve_together_with_prefixed_settings() {
        let mut config = BrokerConfig::default();
        config
            .set(
                "listeners",
                "PLAINTEXT://127.0.0.1:9092,SSL://:9093,INTERNAL://:9094",
            )
            .unwrap();
        config
            .set(
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,SSL:SSL,INTERNAL:SSL",
            )
            .unwrap();
        config
            .set("advertised.listeners", "SSL://broker.example:19093")
            .unwrap();
        config.set("ssl.keystore.type", "PEM").unwrap();
        config
            .set("ssl.keystore.location", "/etc/skein/all.pem")
            .unwrap();
        // No key for INTERNAL yet: the broker-wide one serves it.
        assert_eq!(config.validate(), Ok(()));
        config
            .set(
                "listener.name.internal.ssl.keystore.location",
                "/etc/skein/internal.pem",
            )
            .unwrap();
        config
            .set("listener.name.internal.ssl.client.auth", "required")
            .unwrap();
        // Required client certificates need a trust store.
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Unsupported { reason, .. }) if reason.contains("INTERNAL")
        ));
        config
            .set("listener.name.internal.ssl.truststore.type", "PEM")
            .unwrap();
        config
            .set(
                "listener.name.internal.ssl.truststore.location",
                "/etc/skein/ca.pem",
            )
            .unwrap();
        assert_eq!(config.validate(), Ok(()));
        let internal = config.listener_ssl("INTERNAL");
        assert_eq!(internal.keystore_location, "/etc/skein/internal.pem");
        assert_eq!(internal.client_auth, "required");
        let ssl = config.listener_ssl("SSL");
        assert_eq!(ssl.keystore_location, "/etc/skein/all.pem");
        assert_eq!(ssl.client_auth, "none");
        let clients = config.client_listeners();
        assert_eq!(clients.len(), 3);
        assert_eq!(clients[1].1.as_ref().map(|a| a.port), Some(19093));
        assert_eq!(config.client_listener().0.name, "PLAINTEXT");
        config
            .set("inter.broker.listener.name", "INTERNAL")
            .unwrap();
        assert_eq!(config.client_listener().0.name, "INTERNAL");
        for bad in [
            "listener.name.ssl.ssl.keystore.password",
            "listener.name.ssl.sasl.kerberos.service.name",
            "listener.name..ssl.client.auth",
            "listener.name.ssl.plain.sasl.jaas.config",
        ] {
            assert!(config.set(bad, "x").is_err(), "{bad}");
        }
        assert!(config
            .set("listener.name.ssl.ssl.client.auth", "sometimes")
            .is_err());
    }

    #[test]
    fn sasl_listeners_take_mechanisms_and_jaas_entries_per_listener() {
        let mut config = BrokerConfig::default();
        config
            .set("listeners", "PLAINTEXT://:9092,SASL_PLAINTEXT://:9094")
            .unwrap();
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Unsupported { name, reason }) if name == "sasl.enabled.mechanisms" && reason.contains("GSSAPI")
        ));
        config
            .set(
                "listener.name.sasl_plaintext.sasl.enabled.mechanisms",
                "PLAIN,SCRAM-SHA-256",
            )
            .unwrap();
        assert!(config.validate().is_err(), "PLAIN without users");
        config
            .set(
                "listener.name.sasl_plaintext.plain.sasl.jaas.config",
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="secret";"#,
            )
            .unwrap();
        config.set("connections.max.reauth.ms", "60000").unwrap();
        assert_eq!(config.validate(), Ok(()));
        let sasl = config.listener_sasl("SASL_PLAINTEXT").resolve().unwrap();
        assert_eq!(sasl.plain_users["alice"], "secret");
        assert_eq!(sasl.reauth_ms, 60_000);
        assert_eq!(sasl.mechanisms.len(), 2);
        let bad_jaas = config.set(
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            "org.Example required user_bob=\"unterminated",
        );
        assert!(
            matches!(bad_jaas, Err(ConfigError::InvalidValue { value, .. }) if value == "(hidden)")
        );
        config.set("sasl.enabled.mechanisms", "GSSAPI").unwrap();
        config
            .set(
                "listener.name.sasl_plaintext.sasl.enabled.mechanisms",
                "GSSAPI",
            )
            .unwrap();
        assert!(config.validate().is_err());
        config
            .set("ssl.principal.mapping.rules", "RULE:nope")
            .unwrap();
        assert!(config.validate().is_err());
    }
}
