//! Group coordinator configuration, with Kafka's property names and defaults.

use super::assignor::ConsumerAssignor;
use super::error::ConfigError;

/// Group coordinator settings. Every field carries its Kafka property name and
/// default; units are in the name.
///
/// Lives on: the control shard (an immutable copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCoordinatorConfig {
    /// `group.initial.rebalance.delay.ms` (default 3000): how long the first
    /// rebalance of an empty group waits for more members, extended by the
    /// same delay while new members keep arriving, up to the rebalance
    /// timeout. Range: ≥ 0.
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.min.session.timeout.ms` (default 6000). Range: ≥ 0.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (default 1800000). Range: ≥ min.
    pub group_max_session_timeout_ms: i32,
    /// `group.max.size` (default `i32::MAX`): members per group. Range: ≥ 1.
    pub group_max_size: i32,
    /// `offsets.retention.minutes` (default 10080 = 7 days): how long
    /// committed offsets of an empty group (or of a topic no member is
    /// subscribed to) are kept. Range: ≥ 1.
    pub offsets_retention_minutes: i32,
    /// `offsets.retention.check.interval.ms` (default 600000): how often
    /// expired offsets are looked for. Range: ≥ 1.
    pub offsets_retention_check_interval_ms: i64,
    /// `offsets.topic.num.partitions` (default 50): partitions of
    /// `__consumer_offsets`. Must never change once the topic exists, since
    /// it decides which partition holds each group. Range: ≥ 1.
    pub offsets_topic_num_partitions: u32,
    /// `offset.metadata.max.bytes` (default 4096): the longest metadata
    /// string a commit may carry. Range: ≥ 0.
    pub offset_metadata_max_bytes: i32,
    /// `group.coordinator.rebalance.protocols` contains `classic` (default
    /// yes).
    pub classic_protocol_enabled: bool,
    /// `group.coordinator.rebalance.protocols` contains `consumer` (default
    /// yes): ConsumerGroupHeartbeat is served.
    pub consumer_protocol_enabled: bool,
    /// `group.consumer.session.timeout.ms` (default 45000): a consumer
    /// group member that does not heartbeat for this long is removed.
    /// Range: within the min and max below.
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.min.session.timeout.ms` (default 45000).
    pub consumer_min_session_timeout_ms: i32,
    /// `group.consumer.max.session.timeout.ms` (default 60000).
    pub consumer_max_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms` (default 5000): the interval
    /// members are told to heartbeat at. Range: within the min and max
    /// below, and below the session timeout.
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.min.heartbeat.interval.ms` (default 5000).
    pub consumer_min_heartbeat_interval_ms: i32,
    /// `group.consumer.max.heartbeat.interval.ms` (default 15000).
    pub consumer_max_heartbeat_interval_ms: i32,
    /// `group.consumer.max.size` (default `i32::MAX`): members per consumer
    /// group. Range: ≥ 1.
    pub consumer_max_size: i32,
    /// `group.consumer.assignors` (default `uniform,range`): the server
    /// assignors members may name; the first is the default. Non-empty.
    pub consumer_assignors: Vec<ConsumerAssignor>,
}

/// Kafka's `group.initial.rebalance.delay.ms` default.
pub const DEFAULT_GROUP_INITIAL_REBALANCE_DELAY_MS: i32 = 3_000;
/// Kafka's `offsets.topic.num.partitions` default.
pub const DEFAULT_OFFSETS_TOPIC_NUM_PARTITIONS: u32 = 50;

impl Default for GroupCoordinatorConfig {
    fn default() -> Self {
        Self {
            group_initial_rebalance_delay_ms: DEFAULT_GROUP_INITIAL_REBALANCE_DELAY_MS,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_max_size: i32::MAX,
            offsets_retention_minutes: 10_080,
            offsets_retention_check_interval_ms: 600_000,
            offsets_topic_num_partitions: DEFAULT_OFFSETS_TOPIC_NUM_PARTITIONS,
            offset_metadata_max_bytes: 4_096,
            classic_protocol_enabled: true,
            consumer_protocol_enabled: true,
            consumer_session_timeout_ms: 45_000,
            consumer_min_session_timeout_ms: 45_000,
            consumer_max_session_timeout_ms: 60_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_min_heartbeat_interval_ms: 5_000,
            consumer_max_heartbeat_interval_ms: 15_000,
            consumer_max_size: i32::MAX,
            consumer_assignors: vec![ConsumerAssignor::Uniform, ConsumerAssignor::Range],
        }
    }
}

impl GroupCoordinatorConfig {
    /// The assignor a consumer group uses when no member names one: the
    /// first of `group.consumer.assignors`.
    pub fn default_consumer_assignor(&self) -> ConsumerAssignor {
        self.consumer_assignors
            .first()
            .copied()
            .unwrap_or(ConsumerAssignor::Uniform)
    }

    /// `offsets.retention.minutes` in milliseconds.
    pub fn offsets_retention_ms(&self) -> i64 {
        i64::from(self.offsets_retention_minutes) * 60_000
    }

    /// Checks every field's range.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] naming the first bad property.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let checks: [(&'static str, i64, bool, &'static str); 7] = [
            (
                "group.initial.rebalance.delay.ms",
                self.group_initial_rebalance_delay_ms.into(),
                self.group_initial_rebalance_delay_ms >= 0,
                "must be >= 0",
            ),
            (
                "group.min.session.timeout.ms",
                self.group_min_session_timeout_ms.into(),
                self.group_min_session_timeout_ms >= 0,
                "must be >= 0",
            ),
            (
                "group.max.session.timeout.ms",
                self.group_max_session_timeout_ms.into(),
                self.group_max_session_timeout_ms >= self.group_min_session_timeout_ms,
                "must be >= group.min.session.timeout.ms",
            ),
            (
                "group.max.size",
                self.group_max_size.into(),
                self.group_max_size >= 1,
                "must be >= 1",
            ),
            (
                "offsets.retention.minutes",
                self.offsets_retention_minutes.into(),
                self.offsets_retention_minutes >= 1,
                "must be >= 1",
            ),
            (
                "offsets.retention.check.interval.ms",
                self.offsets_retention_check_interval_ms,
                self.offsets_retention_check_interval_ms >= 1,
                "must be >= 1",
            ),
            (
                "offsets.topic.num.partitions",
                self.offsets_topic_num_partitions.into(),
                self.offsets_topic_num_partitions >= 1,
                "must be >= 1",
            ),
        ];
        for (name, value, ok, reason) in checks {
            if !ok {
                return Err(ConfigError::OutOfRange {
                    name,
                    value,
                    reason,
                });
            }
        }
        let consumer: [(&'static str, i64, bool, &'static str); 5] = [
            (
                "group.consumer.session.timeout.ms",
                self.consumer_session_timeout_ms.into(),
                self.consumer_session_timeout_ms >= self.consumer_min_session_timeout_ms
                    && self.consumer_session_timeout_ms <= self.consumer_max_session_timeout_ms,
                "must be within [group.consumer.min.session.timeout.ms, group.consumer.max.session.timeout.ms]",
            ),
            (
                "group.consumer.heartbeat.interval.ms",
                self.consumer_heartbeat_interval_ms.into(),
                self.consumer_heartbeat_interval_ms >= self.consumer_min_heartbeat_interval_ms
                    && self.consumer_heartbeat_interval_ms
                        <= self.consumer_max_heartbeat_interval_ms,
                "must be within [group.consumer.min.heartbeat.interval.ms, group.consumer.max.heartbeat.interval.ms]",
            ),
            (
                "group.consumer.heartbeat.interval.ms",
                self.consumer_heartbeat_interval_ms.into(),
                self.consumer_heartbeat_interval_ms < self.consumer_session_timeout_ms,
                "must be less than group.consumer.session.timeout.ms",
            ),
            (
                "group.consumer.min.heartbeat.interval.ms",
                self.consumer_min_heartbeat_interval_ms.into(),
                self.consumer_min_heartbeat_interval_ms >= 1,
                "must be >= 1",
            ),
            (
                "group.consumer.max.size",
                self.consumer_max_size.into(),
                self.consumer_max_size >= 1,
                "must be >= 1",
            ),
        ];
        for (name, value, ok, reason) in consumer {
            if !ok {
                return Err(ConfigError::OutOfRange {
                    name,
                    value,
                    reason,
                });
            }
        }
        if !self.classic_protocol_enabled {
            return Err(ConfigError::OutOfRange {
                name: "group.coordinator.rebalance.protocols",
                value: 0,
                reason: "must contain classic",
            });
        }
        if self.consumer_assignors.is_empty() {
            return Err(ConfigError::OutOfRange {
                name: "group.consumer.assignors",
                value: 0,
                reason: "must name at least one assignor",
            });
        }
        if self.offset_metadata_max_bytes < 0 {
            return Err(ConfigError::OutOfRange {
                name: "offset.metadata.max.bytes",
                value: self.offset_metadata_max_bytes.into(),
                reason: "must be >= 0",
            });
        }
        Ok(())
    }
}
