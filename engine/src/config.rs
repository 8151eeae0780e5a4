//! Per-topic log configuration (`LogConfig`) with Kafka's property names and
//! defaults. Invariant: a `LogConfig` handed to a log has passed `validate()`.

use std::fmt;
use std::str::FromStr;

use crate::compression::CompressionType;

/// Per-topic configuration of a partition log. `Default` gives Kafka's
/// defaults. Lives on: the partition's owner shard (each log holds a copy).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment before it grows past this
    /// many bytes. Default 1073741824 (1 GiB). Valid: 14..=2^31-1 (positions
    /// in the offset index are `u32`).
    pub segment_bytes: u64,
    /// `segment.ms`: roll the active segment once its first batch is this
    /// many milliseconds old. Default 604800000 (7 days). Must be > 0.
    pub segment_ms: i64,
    /// `retention.ms`: delete sealed segments whose largest timestamp is older
    /// than this. Default 604800000 (7 days); -1 = unlimited.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest sealed segments while the log is
    /// larger than this. Default -1 = unlimited.
    pub retention_bytes: i64,
    /// `max.message.bytes`: the largest batch accepted, in bytes (the whole
    /// batch including its 61-byte header). Default 1048588.
    pub max_message_bytes: u32,
    /// `index.interval.bytes`: bytes of log between offset-index entries.
    /// Default 4096.
    pub index_interval_bytes: u32,
    /// `flush.policy`: when an append counts as done. Default `Batch`.
    pub flush_policy: FlushPolicy,
    /// `message.timestamp.type`: `CreateTime` keeps the producer's
    /// timestamps; `LogAppendTime` overwrites them with the broker's clock.
    pub message_timestamp_type: TimestampType,
    /// `cleanup.policy`: what happens to sealed segments — deleted by
    /// retention, compacted by key, or both. Default `Delete`.
    pub cleanup_policy: CleanupPolicy,
    /// `min.cleanable.dirty.ratio`: compact once the not-yet-compacted
    /// ("dirty") bytes are at least this share of the sealed bytes.
    /// Default 0.5. Valid: 0.0..=1.0.
    pub min_cleanable_dirty_ratio: f64,
    /// `delete.retention.ms`: a tombstone (null value) is removed by
    /// compaction once its timestamp is this many ms in the past. Default
    /// 86400000 (1 day). Must be >= 0.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: a segment holding a record younger than this
    /// is not compacted yet. Default 0. Must be >= 0.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a dirty segment older than this is compacted
    /// even below `min.cleanable.dirty.ratio`. Default i64::MAX. Must be > 0.
    pub max_compaction_lag_ms: i64,
    /// `compression.type` with its codec's level: the codec batches are
    /// stored with. Default `Producer` (kept as the producer sent them, with
    /// no copy); any other value rebuilds batches of another codec on append.
    pub compression_type: CompressionType,
    /// With `CreateTime`, a batch whose first timestamp is more than this
    /// many ms before the broker's clock is refused (Kafka's
    /// `message.timestamp.before.max.ms`; default: no bound).
    pub message_timestamp_before_max_ms: i64,
    /// With `CreateTime`, a batch whose largest timestamp is more than this
    /// many ms after the broker's clock is refused (Kafka's
    /// `message.timestamp.after.max.ms`). Default here: no bound, for
    /// callers with their own clocks; the broker's default is Kafka 4's,
    /// one hour.
    pub message_timestamp_after_max_ms: i64,
    /// `file.delete.delay.ms`: a segment deleted by retention or
    /// DeleteRecords, and a deleted partition's directory, is first renamed
    /// (`.deleted`, `.<uuid>-delete`) and removed this many ms later, as
    /// Kafka does. Default here: 0 (removed at once, for callers that check
    /// the files); the broker's default is Kafka's, 60000. Must be >= 0.
    pub file_delete_delay_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1_073_741_824,
            segment_ms: 604_800_000,
            retention_ms: 604_800_000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            index_interval_bytes: 4096,
            flush_policy: FlushPolicy::Batch,
            message_timestamp_type: TimestampType::CreateTime,
            cleanup_policy: CleanupPolicy::Delete,
            min_cleanable_dirty_ratio: 0.5,
            delete_retention_ms: 86_400_000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: i64::MAX,
            compression_type: CompressionType::Producer,
            file_delete_delay_ms: 0,
        }
    }
}

/// A `LogConfig` value outside its valid range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// `segment.bytes` outside 14..=2147483647.
    #[error("segment.bytes {0} outside [14, 2147483647]")]
    SegmentBytes(u64),
    /// `segment.ms` not positive.
    #[error("segment.ms {0} must be > 0")]
    SegmentMs(i64),
    /// `retention.ms` below -1.
    #[error("retention.ms {0} must be >= -1")]
    RetentionMs(i64),
    /// `retention.bytes` below -1.
    #[error("retention.bytes {0} must be >= -1")]
    RetentionBytes(i64),
    /// `max.message.bytes` smaller than a batch header or above 1 GiB.
    #[error("max.message.bytes {0} outside [61, 1073741824]")]
    MaxMessageBytes(u32),
    /// `index.interval.bytes` zero.
    #[error("index.interval.bytes must be > 0")]
    IndexIntervalBytes,
    /// A `flush.policy` string that is not `batch`, `none` or `interval:<ms>`.
    #[error("flush.policy {0:?} is not batch, none or interval:<ms>")]
    FlushPolicy(String),
    /// A `message.timestamp.type` string that is not `CreateTime` or `LogAppendTime`.
    #[error("message.timestamp.type {0:?} is not CreateTime or LogAppendTime")]
    TimestampType(String),
    /// A `cleanup.policy` string that is not `delete`, `compact` or `compact,delete`.
    #[error("cleanup.policy {0:?} is not delete, compact or compact,delete")]
    CleanupPolicy(String),
    /// `min.cleanable.dirty.ratio` outside 0.0..=1.0.
    #[error("min.cleanable.dirty.ratio {0} outside [0, 1]")]
    MinCleanableDirtyRatio(f64),
    /// `delete.retention.ms` negative.
    #[error("delete.retention.ms {0} must be >= 0")]
    DeleteRetentionMs(i64),
    /// `min.compaction.lag.ms` negative.
    #[error("min.compaction.lag.ms {0} must be >= 0")]
    MinCompactionLagMs(i64),
    /// A compression level outside its codec's range (gzip -1 or 1..=9,
    /// lz4 1..=17, zstd -131072..=22).
    #[error("compression level of {0:?} out of range")]
    CompressionLevel(CompressionType),
    /// `max.compaction.lag.ms` not positive.
    #[error("max.compaction.lag.ms {0} must be > 0")]
    MaxCompactionLagMs(i64),
    /// `file.delete.delay.ms` negative.
    #[error("file.delete.delay.ms {0} must be >= 0")]
    FileDeleteDelayMs(i64),
}

impl LogConfig {
    /// Checks every field against its valid range.
    ///
    /// # Errors
    /// The first field found out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(14..=i32::MAX as u64).contains(&self.segment_bytes) {
            return Err(ConfigError::SegmentBytes(self.segment_bytes));
        }
        if self.segment_ms <= 0 {
            return Err(ConfigError::SegmentMs(self.segment_ms));
        }
        if self.retention_ms < -1 {
            return Err(ConfigError::RetentionMs(self.retention_ms));
        }
        if self.retention_bytes < -1 {
            return Err(ConfigError::RetentionBytes(self.retention_bytes));
        }
        if !(61..=1 << 30).contains(&self.max_message_bytes) {
            return Err(ConfigError::MaxMessageBytes(self.max_message_bytes));
        }
        if self.index_interval_bytes == 0 {
            return Err(ConfigError::IndexIntervalBytes);
        }
        if !(0.0..=1.0).contains(&self.min_cleanable_dirty_ratio) {
            return Err(ConfigError::MinCleanableDirtyRatio(
                self.min_cleanable_dirty_ratio,
            ));
        }
        if self.delete_retention_ms < 0 {
            return Err(ConfigError::DeleteRetentionMs(self.delete_retention_ms));
        }
        let level_ok = match self.compression_type {
            CompressionType::Gzip { level } => level == -1 || (1..=9).contains(&level),
            CompressionType::Lz4 { level } => (1..=17).contains(&level),
            CompressionType::Zstd { level } => (-131_072..=22).contains(&level),
            CompressionType::Producer | CompressionType::Uncompressed | CompressionType::Snappy => {
                true
            }
        };
        if !level_ok {
            return Err(ConfigError::CompressionLevel(self.compression_type));
        }
        if self.min_compaction_lag_ms < 0 {
            return Err(ConfigError::MinCompactionLagMs(self.min_compaction_lag_ms));
        }
        if self.max_compaction_lag_ms <= 0 {
            return Err(ConfigError::MaxCompactionLagMs(self.max_compaction_lag_ms));
        }
        if self.file_delete_delay_ms < 0 {
            return Err(ConfigError::FileDeleteDelayMs(self.file_delete_delay_ms));
        }
        Ok(())
    }
}

/// `flush.policy`: the durability promise an append makes before it resolves.
///
/// * `Batch` — the batch is on stable storage (fdatasync) before the append
///   resolves; concurrent appends share one fdatasync (group commit).
/// * `Interval { ms }` — the append resolves once the direct-IO write has
///   completed; an fdatasync follows at most `ms` milliseconds later.
/// * `None` — the append resolves once the direct-IO write has completed:
///   survives a crash of the process (kill -9), not a power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushPolicy {
    /// fdatasync before acknowledging, group-committed.
    #[default]
    Batch,
    /// Acknowledge after the write; fdatasync at most `ms` later.
    Interval {
        /// Milliseconds between a write and the fdatasync that covers it.
        ms: u64,
    },
    /// Acknowledge after the write; never fdatasync except on roll and close.
    None,
}

impl FromStr for FlushPolicy {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "batch" => Ok(FlushPolicy::Batch),
            "none" => Ok(FlushPolicy::None),
            _ => s
                .strip_prefix("interval:")
                .and_then(|ms| ms.parse::<u64>().ok())
                .map(|ms| FlushPolicy::Interval { ms })
                .ok_or_else(|| ConfigError::FlushPolicy(s.to_owned())),
        }
    }
}

impl fmt::Display for FlushPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlushPolicy::Batch => f.write_str("batch"),
            FlushPolicy::Interval { ms } => write!(f, "interval:{ms}"),
            FlushPolicy::None => f.write_str("none"),
        }
    }
}

/// `cleanup.policy`: Kafka's values. `Delete` applies `retention.ms` and
/// `retention.bytes` to whole sealed segments; `Compact` keeps the latest
/// record of every key in sealed segments (see the `compaction` module) and
/// ignores retention; `CompactDelete` does both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CleanupPolicy {
    /// Time and size retention only.
    #[default]
    Delete,
    /// Key-based compaction only.
    Compact,
    /// Compaction and retention.
    CompactDelete,
}

impl CleanupPolicy {
    /// Whether sealed segments are compacted by key.
    pub fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }

    /// Whether retention deletes whole sealed segments.
    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }
}

impl FromStr for CleanupPolicy {
    type Err = ConfigError;

    /// Accepts Kafka's lists in either order, with spaces: `compact, delete`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut compact = false;
        let mut delete = false;
        for word in s.split(',') {
            match word.trim() {
                "compact" if !compact => compact = true,
                "delete" if !delete => delete = true,
                _ => return Err(ConfigError::CleanupPolicy(s.to_owned())),
            }
        }
        Ok(match (compact, delete) {
            (true, true) => CleanupPolicy::CompactDelete,
            (true, false) => CleanupPolicy::Compact,
            (false, true) => CleanupPolicy::Delete,
            (false, false) => return Err(ConfigError::CleanupPolicy(s.to_owned())),
        })
    }
}

impl fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CleanupPolicy::Delete => f.write_str("delete"),
            CleanupPolicy::Compact => f.write_str("compact"),
            CleanupPolicy::CompactDelete => f.write_str("compact,delete"),
        }
    }
}

/// `message.timestamp.type`: whose clock stamps the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    #[default]
    CreateTime,
    /// Overwrite `maxTimestamp` with the broker's clock at append and set the
    /// timestamp-type attribute bit.
    LogAppendTime,
}

impl FromStr for TimestampType {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "CreateTime" => Ok(TimestampType::CreateTime),
            "LogAppendTime" => Ok(TimestampType::LogAppendTime),
            _ => Err(ConfigError::TimestampType(s.to_owned())),
        }
    }
}

impl fmt::Display for TimestampType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimestampType::CreateTime => f.write_str("CreateTime"),
            TimestampType::LogAppendTime => f.write_str("LogAppendTime"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_kafkas_and_valid() {
        let config = LogConfig::default();
        assert_eq!(config.segment_bytes, 1 << 30);
        assert_eq!(config.max_message_bytes, 1_048_588);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn flush_policy_round_trips_through_strings() {
        for text in ["batch", "none", "interval:250"] {
            let policy: FlushPolicy = text.parse().expect("valid policy");
            assert_eq!(policy.to_string(), text);
        }
        assert!("interval:x".parse::<FlushPolicy>().is_err());
        assert!("always".parse::<FlushPolicy>().is_err());
    }

    #[test]
    fn timestamp_type_round_trips_through_strings() {
        for text in ["CreateTime", "LogAppendTime"] {
            let kind: TimestampType = text.parse().expect("valid type");
            assert_eq!(kind.to_string(), text);
        }
        assert!("createtime".parse::<TimestampType>().is_err());
    }

    #[test]
    fn cleanup_policy_parses_kafkas_lists() {
        for (text, policy) in [
            ("delete", CleanupPolicy::Delete),
            ("compact", CleanupPolicy::Compact),
            ("compact,delete", CleanupPolicy::CompactDelete),
            ("delete, compact", CleanupPolicy::CompactDelete),
        ] {
            assert_eq!(text.parse::<CleanupPolicy>(), Ok(policy));
        }
        assert_eq!(CleanupPolicy::CompactDelete.to_string(), "compact,delete");
        for bad in ["", "compact,compact", "remove", "compact,"] {
            assert!(bad.parse::<CleanupPolicy>().is_err(), "{bad:?}");
        }
        assert!(CleanupPolicy::Compact.compacts() && !CleanupPolicy::Compact.deletes());
    }

    #[test]
    fn validate_rejects_a_dirty_ratio_outside_zero_to_one() {
        let config = LogConfig {
            min_cleanable_dirty_ratio: 1.5,
            ..LogConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err(ConfigError::MinCleanableDirtyRatio(1.5))
        );
    }

    #[test]
    fn validate_rejects_zero_index_interval() {
        let config = LogConfig {
            index_interval_bytes: 0,
            ..LogConfig::default()
        };
        assert_eq!(config.validate(), Err(ConfigError::IndexIntervalBytes));
    }
}
