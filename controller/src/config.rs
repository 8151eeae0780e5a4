//! Broker and topic configuration: one table of properties with their Kafka
//! names, types, defaults and units, from which parsing, validation, the
//! per-topic `LogConfig` and the documentation are all derived.
//!
//! A topic config (`retention.ms`) takes its default from the broker property
//! named beside it (`log.retention.ms`), as Kafka does.

use std::collections::BTreeMap;
use std::path::PathBuf;

use skein_engine::{CleanupPolicy, FlushPolicy, LogConfig, TimestampType};

use crate::group_coordinator::GroupCoordinatorConfig;

/// The type of a property's value, with its valid range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A signed integer in `min..=max`.
    Int { min: i64, max: i64 },
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
}

const I32_MAX: i64 = i32::MAX as i64;

/// Every property Skein understands.
pub const PROPERTIES: &[PropertyDef] = &[
    PropertyDef { name: "node.id", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "0", unit: "", doc: "This broker's node id." },
    PropertyDef { name: "log.dirs", topic_name: None, kind: ValueKind::Path, default: "./skein-data", unit: "", doc: "Directory holding every partition log and the metadata log (one directory; `--data-dir`)." },
    PropertyDef { name: "num.partitions", topic_name: None, kind: ValueKind::Int { min: 1, max: 100_000 }, default: "1", unit: "partitions", doc: "Partition count of auto-created topics and of CreateTopics requests that leave it to the broker (-1)." },
    PropertyDef { name: "default.replication.factor", topic_name: None, kind: ValueKind::Int { min: 1, max: 1 }, default: "1", unit: "replicas", doc: "Replication factor of auto-created topics. Skein runs single-node, so 1." },
    PropertyDef { name: "auto.create.topics.enable", topic_name: None, kind: ValueKind::Bool, default: "true", unit: "", doc: "Create a topic when a Metadata request names an unknown one." },
    PropertyDef { name: "delete.topic.enable", topic_name: None, kind: ValueKind::Bool, default: "true", unit: "", doc: "Allow DeleteTopics." },
    PropertyDef { name: "message.max.bytes", topic_name: Some("max.message.bytes"), kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "1048588", unit: "bytes", doc: "Largest record batch accepted by a Produce." },
    PropertyDef { name: "log.segment.bytes", topic_name: Some("segment.bytes"), kind: ValueKind::Int { min: 14, max: I32_MAX }, default: "1073741824", unit: "bytes", doc: "Roll to a new segment once the active one reaches this size." },
    PropertyDef { name: "log.roll.ms", topic_name: Some("segment.ms"), kind: ValueKind::Int { min: 1, max: i64::MAX }, default: "604800000", unit: "ms", doc: "Roll to a new segment once the active one is this old." },
    PropertyDef { name: "log.retention.ms", topic_name: Some("retention.ms"), kind: ValueKind::Int { min: -1, max: i64::MAX }, default: "604800000", unit: "ms", doc: "Delete whole segments whose newest record is older than this; -1 keeps them forever." },
    PropertyDef { name: "log.retention.bytes", topic_name: Some("retention.bytes"), kind: ValueKind::Int { min: -1, max: i64::MAX }, default: "-1", unit: "bytes", doc: "Delete the oldest whole segments while a partition is larger than this; -1 for no limit." },
    PropertyDef { name: "log.index.interval.bytes", topic_name: Some("index.interval.bytes"), kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "4096", unit: "bytes", doc: "Bytes of log between two offset-index entries." },
    PropertyDef { name: "log.flush.policy", topic_name: Some("flush.policy"), kind: ValueKind::FlushPolicy, default: "batch", unit: "", doc: "When a produce is acknowledged: `batch` after fdatasync (group-committed across concurrent producers; survives power loss), `interval:<ms>` after the write with fdatasync at most <ms> later, `none` after the write (survives a process crash, not power loss)." },
    PropertyDef { name: "log.message.timestamp.type", topic_name: Some("message.timestamp.type"), kind: ValueKind::OneOf(&["CreateTime", "LogAppendTime"]), default: "CreateTime", unit: "", doc: "Keep the producer's timestamps (CreateTime) or stamp batches with the broker's clock (LogAppendTime)." },
    PropertyDef { name: "log.cleanup.policy", topic_name: Some("cleanup.policy"), kind: ValueKind::CleanupPolicy, default: "delete", unit: "", doc: "What happens to sealed segments: `delete` applies retention.ms/retention.bytes; `compact` keeps the latest record of every key (the active segment is never compacted; compressed batches are kept as they are); `compact,delete` does both." },
    PropertyDef { name: "log.cleaner.enable", topic_name: None, kind: ValueKind::Bool, default: "true", unit: "", doc: "Run the log cleaner, which compacts topics whose cleanup.policy includes `compact`." },
    PropertyDef { name: "log.cleaner.backoff.ms", topic_name: None, kind: ValueKind::Int { min: 0, max: i64::MAX }, default: "15000", unit: "ms", doc: "How long each shard's cleaner sleeps when no partition needs compacting." },
    PropertyDef { name: "log.cleaner.min.cleanable.ratio", topic_name: Some("min.cleanable.dirty.ratio"), kind: ValueKind::Ratio, default: "0.5", unit: "", doc: "Compact a partition once its not-yet-compacted bytes are at least this share of its sealed bytes." },
    PropertyDef { name: "log.cleaner.delete.retention.ms", topic_name: Some("delete.retention.ms"), kind: ValueKind::Int { min: 0, max: i64::MAX }, default: "86400000", unit: "ms", doc: "Compaction removes a tombstone (null value) once its timestamp is this far in the past; consumers that read more often see every delete." },
    PropertyDef { name: "log.cleaner.min.compaction.lag.ms", topic_name: Some("min.compaction.lag.ms"), kind: ValueKind::Int { min: 0, max: i64::MAX }, default: "0", unit: "ms", doc: "A segment holding a record younger than this is not compacted yet." },
    PropertyDef { name: "log.cleaner.max.compaction.lag.ms", topic_name: Some("max.compaction.lag.ms"), kind: ValueKind::Int { min: 1, max: i64::MAX }, default: "9223372036854775807", unit: "ms", doc: "A sealed segment not compacted for this long is compacted even below the dirty ratio." },
    PropertyDef { name: "min.insync.replicas", topic_name: Some("min.insync.replicas"), kind: ValueKind::Int { min: 1, max: 1 }, default: "1", unit: "replicas", doc: "Replicas that must have a write for acks=all. Single-node: 1." },
    PropertyDef { name: "compression.type", topic_name: Some("compression.type"), kind: ValueKind::OneOf(&["producer"]), default: "producer", unit: "", doc: "Batches are stored as the producer compressed them." },
    PropertyDef { name: "log.retention.check.interval.ms", topic_name: None, kind: ValueKind::Int { min: 1, max: i64::MAX }, default: "300000", unit: "ms", doc: "How often retention runs." },
    PropertyDef { name: "socket.request.max.bytes", topic_name: None, kind: ValueKind::Int { min: 1024, max: I32_MAX }, default: "104857600", unit: "bytes", doc: "Largest request frame accepted; a larger size closes the connection before anything is read." },
    PropertyDef { name: "connections.max.idle.ms", topic_name: None, kind: ValueKind::Int { min: 1000, max: i64::MAX }, default: "600000", unit: "ms", doc: "Close a connection that has sent nothing, or only part of a request, for this long." },
    PropertyDef { name: "connection.max.inflight.requests", topic_name: None, kind: ValueKind::Int { min: 1, max: 10_000 }, default: "100", unit: "requests", doc: "Requests of one connection processed at once (pipelining); reading pauses beyond it." },
    PropertyDef { name: "group.initial.rebalance.delay.ms", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "3000", unit: "ms", doc: "Wait this long for more members before the first rebalance of an empty group." },
    PropertyDef { name: "group.min.session.timeout.ms", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "6000", unit: "ms", doc: "Shortest session timeout a JoinGroup may ask for; shorter ones get INVALID_SESSION_TIMEOUT. Must not exceed group.max.session.timeout.ms." },
    PropertyDef { name: "group.max.session.timeout.ms", topic_name: None, kind: ValueKind::Int { min: 0, max: I32_MAX }, default: "1800000", unit: "ms", doc: "Longest session timeout a JoinGroup may ask for; longer ones get INVALID_SESSION_TIMEOUT." },
    PropertyDef { name: "offsets.topic.num.partitions", topic_name: None, kind: ValueKind::Int { min: 1, max: 1000 }, default: "50", unit: "partitions", doc: "Partitions of __consumer_offsets." },
    PropertyDef { name: "offsets.topic.segment.bytes", topic_name: None, kind: ValueKind::Int { min: 14, max: I32_MAX }, default: "104857600", unit: "bytes", doc: "segment.bytes of __consumer_offsets (compacted: only sealed segments are compacted, so smaller segments bound it more tightly). Applied to the topic at every start." },
];

/// A property that could not be set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// No such property.
    #[error("unknown property {0:?}")]
    UnknownProperty(String),
    /// The value does not parse or is out of range.
    #[error("invalid value {value:?} for {name}: {reason}")]
    InvalidValue {
        name: String,
        value: String,
        reason: String,
    },
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
    }
}

/// The broker's configuration: every property of [`PROPERTIES`], validated.
/// Each shard gets its own immutable copy at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    values: BTreeMap<&'static str, Value>,
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
        BrokerConfig { values }
    }
}

impl BrokerConfig {
    /// Sets broker property `name` (Kafka's name) to `value`.
    ///
    /// # Errors
    /// Unknown property, or a value of the wrong type or range.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let def = PROPERTIES
            .iter()
            .find(|def| def.name == name)
            .ok_or_else(|| ConfigError::UnknownProperty(name.to_string()))?;
        let parsed = parse(def, name, value)?;
        self.values.insert(def.name, parsed);
        Ok(())
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

    /// The current value of broker property `name` as text (empty for an
    /// unknown name).
    pub fn value_text(&self, name: &str) -> String {
        match self.values.get(name) {
            Some(Value::Int(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::Text(text)) => text.clone(),
            None => String::new(),
        }
    }

    /// `node.id`.
    pub fn node_id(&self) -> i32 {
        self.int("node.id") as i32
    }
    /// `log.dirs`: the data directory.
    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(self.text("log.dirs"))
    }
    /// `num.partitions`.
    pub fn num_partitions(&self) -> i32 {
        self.int("num.partitions") as i32
    }
    /// `auto.create.topics.enable`.
    pub fn auto_create_topics(&self) -> bool {
        self.flag("auto.create.topics.enable")
    }
    /// `delete.topic.enable`.
    pub fn delete_topic_enable(&self) -> bool {
        self.flag("delete.topic.enable")
    }
    /// `socket.request.max.bytes`.
    pub fn socket_request_max_bytes(&self) -> usize {
        self.int("socket.request.max.bytes") as usize
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
    /// existing topic's count, which may differ from the property). Settings
    /// without a broker property keep Kafka's defaults. Check the result with
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
            offsets_topic_num_partitions,
            ..GroupCoordinatorConfig::default()
        }
    }
    /// `offsets.topic.num.partitions`.
    pub fn offsets_topic_partitions(&self) -> i32 {
        self.int("offsets.topic.num.partitions") as i32
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

    /// The log config of a topic with `overrides`, which must have passed
    /// [`validate_topic_config`].
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        let value = |topic_name: &str| -> String {
            overrides.get(topic_name).cloned().unwrap_or_else(|| {
                self.topic_defaults()
                    .remove(topic_name)
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
    let def =
        topic_config_def(name).ok_or_else(|| ConfigError::UnknownProperty(name.to_string()))?;
    Ok(match parse(def, name, value)? {
        Value::Int(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Text(text) => text,
    })
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
}
