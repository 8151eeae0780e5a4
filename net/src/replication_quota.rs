//! Replication throttles (Kafka's `ReplicationQuotaManager`, KIP-73): a
//! byte rate that the throttled replicas' replication traffic may not
//! exceed, measured over Kafka's default window (11 samples of 1 s), and
//! the topic configs that name which replicas are throttled.
//!
//! Follower side: a fetcher leaves a throttled partition that is not in the
//! ISR out of its next Fetch while the rate is exceeded, and records the
//! bytes each throttled partition brought (Kafka's
//! `ReplicaFetcherThread.shouldFollowerThrottle`). A partition in the ISR is
//! never throttled, so a throttle slows a reassignment's new replicas but
//! never an in-sync follower (nor acks=all).
//!
//! Leader side (Kafka's `ReplicaManager.shouldLeaderThrottle`): a leader
//! answers a follower's Fetch with no records for a partition when the
//! follower is not in the partition's ISR, the topic's
//! `leader.replication.throttled.replicas` names the partition's replica on
//! *this* (the leader's) broker, and `leader.replication.throttled.rate` is
//! exceeded; the bytes it sends followers for every named partition, in
//! sync or not, are recorded (Kafka's `sizeOfThrottledPartitions`).
//! Consumers' fetches are never measured nor throttled.
//!
//! Kafka's window allows a burst: a fresh quota measures its bytes over at
//! least 10 s, so about 10 s worth of the rate passes at once before the
//! bound bites.
//!
//! Lives on: one data shard (each shard measures its own fetchers and the
//! follower fetches its connections answer; the broker's rate is split
//! evenly between its data shards, so one throttled partition moves at the
//! rate divided by the data shards).

use std::collections::VecDeque;

/// The topic config naming the replicas a leader throttles.
pub const LEADER_THROTTLED_REPLICAS: &str = "leader.replication.throttled.replicas";

/// Kafka's `replication.quota.window.num` default: samples kept.
const SAMPLES: usize = 11;
/// Kafka's `replication.quota.window.size.seconds` default, in ms.
const SAMPLE_MS: i64 = 1000;

/// A byte rate measured over the last [`SAMPLES`] windows of [`SAMPLE_MS`].
#[derive(Debug, Clone)]
pub struct ReplicationQuota {
    /// The bound in bytes per second; `i64::MAX` (Kafka's default) means
    /// unthrottled.
    rate_bytes_per_s: i64,
    /// `(window start ms, bytes)`, oldest first.
    samples: VecDeque<(i64, u64)>,
}

impl ReplicationQuota {
    /// A quota of `rate_bytes_per_s` (at least 1).
    pub fn new(rate_bytes_per_s: i64) -> ReplicationQuota {
        ReplicationQuota {
            rate_bytes_per_s: rate_bytes_per_s.max(1),
            samples: VecDeque::with_capacity(SAMPLES),
        }
    }

    /// One data shard's quota: `rate_bytes_per_s` of the broker split
    /// evenly over `data_shards` (at least 1), unbounded stays unbounded.
    pub fn shard_share(rate_bytes_per_s: i64, data_shards: usize) -> ReplicationQuota {
        let shards = i64::try_from(data_shards.max(1)).unwrap_or(i64::MAX);
        ReplicationQuota::new(if rate_bytes_per_s == i64::MAX {
            rate_bytes_per_s
        } else {
            rate_bytes_per_s / shards
        })
    }

    /// Whether any bound applies (the rate is below Kafka's `Long.MAX`).
    pub fn is_bounded(&self) -> bool {
        self.rate_bytes_per_s < i64::MAX
    }

    /// Counts `bytes` replicated at `now_ms`.
    pub fn record(&mut self, bytes: u64, now_ms: i64) {
        if !self.is_bounded() {
            return;
        }
        self.expire(now_ms);
        let window = now_ms - now_ms.rem_euclid(SAMPLE_MS);
        match self.samples.back_mut() {
            Some((start, total)) if *start == window => *total = total.saturating_add(bytes),
            _ => {
                if self.samples.len() == SAMPLES {
                    self.samples.pop_front();
                }
                self.samples.push_back((window, bytes));
            }
        }
    }

    /// Whether the measured rate is above the bound at `now_ms`: the bytes
    /// of the kept samples over the time they span (at least one full
    /// window less the current one's remainder, as Kafka's `Rate`).
    pub fn is_exceeded(&mut self, now_ms: i64) -> bool {
        if !self.is_bounded() {
            return false;
        }
        self.expire(now_ms);
        let Some(&(oldest, _)) = self.samples.front() else {
            return false;
        };
        let bytes: u64 = self.samples.iter().map(|(_, bytes)| *bytes).sum();
        // Kafka's Rate: elapsed since the oldest sample, but at least
        // (samples - 1) full windows, so a burst in a fresh quota is
        // measured against the whole window rather than a few ms.
        let full = SAMPLE_MS * (SAMPLES as i64 - 1);
        let elapsed_ms = (now_ms - oldest).max(full).max(1);
        let rate = i128::from(bytes) * 1000 / i128::from(elapsed_ms);
        rate > i128::from(self.rate_bytes_per_s)
    }

    fn expire(&mut self, now_ms: i64) {
        let horizon = now_ms - SAMPLE_MS * SAMPLES as i64;
        while self
            .samples
            .front()
            .is_some_and(|(start, _)| *start <= horizon)
        {
            self.samples.pop_front();
        }
    }
}

/// Which replication quota: the leader's (bytes sent to followers) or the
/// follower's (bytes fetched).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleSide {
    /// `leader.replication.throttled.rate`.
    Leader,
    /// `follower.replication.throttled.rate`.
    Follower,
}

impl ThrottleSide {
    /// The metric label: `leader` or `follower`.
    pub fn label(self) -> &'static str {
        match self {
            ThrottleSide::Leader => "leader",
            ThrottleSide::Follower => "follower",
        }
    }
}

/// A topic's `leader.replication.throttled.replicas` or
/// `follower.replication.throttled.replicas`: `*` (every replica), or
/// `partition:broker` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottledReplicas {
    /// `*`: every replica of the topic.
    All,
    /// The listed `(partition, broker)` pairs (empty: none).
    Listed(Vec<(i32, i32)>),
}

impl ThrottledReplicas {
    /// Parses the config value; entries that are not `partition:broker`
    /// numbers are ignored (the config was validated as a list when set).
    pub fn parse(value: Option<&str>) -> ThrottledReplicas {
        match value {
            Some(value) if value.trim() == "*" => ThrottledReplicas::All,
            Some(value) => ThrottledReplicas::Listed(pairs(value).collect()),
            None => ThrottledReplicas::Listed(Vec::new()),
        }
    }

    /// Whether the config value `value` names `broker`'s replica of
    /// `partition`, read in place (allocates nothing: the leader asks this
    /// on every follower fetch while a rate applies).
    pub fn lists(value: Option<&str>, partition: i32, broker: i32) -> bool {
        match value {
            Some(value) if value.trim() == "*" => true,
            Some(value) => pairs(value).any(|pair| pair == (partition, broker)),
            None => false,
        }
    }

    /// Whether `broker`'s replica of `partition` is throttled.
    pub fn contains(&self, partition: i32, broker: i32) -> bool {
        match self {
            ThrottledReplicas::All => true,
            ThrottledReplicas::Listed(pairs) => pairs.contains(&(partition, broker)),
        }
    }
}

/// The `partition:broker` pairs of a throttled-replicas list, skipping
/// entries that are not two numbers.
fn pairs(value: &str) -> impl Iterator<Item = (i32, i32)> + '_ {
    value.split(',').filter_map(|entry| {
        let (partition, broker) = entry.trim().split_once(':')?;
        Some((partition.trim().parse().ok()?, broker.trim().parse().ok()?))
    })
}

/// Whether a leader answers follower `follower_in_sync`'s fetch of
/// `partition` without records (Kafka's `shouldLeaderThrottle`): only a
/// follower out of the ISR, only when `throttled_replicas` (the topic's
/// `leader.replication.throttled.replicas`) names the replica of
/// `partition` on `leader` (this broker), and only while `quota` is
/// exceeded at `now_ms`. An in-sync follower is never throttled, so a
/// throttle cannot shrink the ISR nor slow acks=all. Allocates nothing.
pub fn should_leader_throttle(
    throttled_replicas: Option<&str>,
    partition: i32,
    leader: i32,
    follower_in_sync: bool,
    quota: &mut ReplicationQuota,
    now_ms: i64,
) -> bool {
    !follower_in_sync
        && ThrottledReplicas::lists(throttled_replicas, partition, leader)
        && quota.is_exceeded(now_ms)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rate_never_throttles() {
        let mut quota = ReplicationQuota::new(i64::MAX);
        quota.record(u64::MAX, 0);
        assert!(!quota.is_exceeded(0));
    }

    #[test]
    fn a_rate_above_the_bound_over_the_window_is_exceeded_until_it_ages_out() {
        // 1000 B/s over an 11 s window: 10 s worth is the most allowed.
        let mut quota = ReplicationQuota::new(1000);
        quota.record(9_000, 0);
        assert!(!quota.is_exceeded(100));
        quota.record(2_000, 200);
        assert!(quota.is_exceeded(300));
        // Eleven seconds later both samples have aged out.
        assert!(!quota.is_exceeded(11_500));
    }

    #[test]
    fn throttled_replicas_are_a_wildcard_or_partition_broker_pairs() {
        assert!(ThrottledReplicas::parse(Some("*")).contains(3, 7));
        let listed = ThrottledReplicas::parse(Some("0:1, 0:2,1:2,bad"));
        assert!(listed.contains(0, 2));
        assert!(listed.contains(1, 2));
        assert!(!listed.contains(1, 1));
        assert!(!ThrottledReplicas::parse(None).contains(0, 0));
        assert!(!ThrottledReplicas::parse(Some("")).contains(0, 0));
        assert!(ThrottledReplicas::lists(Some(" * "), 3, 7));
        assert!(ThrottledReplicas::lists(Some("0:1, 0:2,1:2,bad"), 1, 2));
        assert!(!ThrottledReplicas::lists(Some("0:1, 0:2,1:2,bad"), 1, 1));
        assert!(!ThrottledReplicas::lists(None, 0, 0));
        assert!(!ThrottledReplicas::lists(Some(""), 0, 0));
    }

    /// A quota of 1000 B/s that has just sent 20 kB: exceeded.
    fn exceeded_quota() -> ReplicationQuota {
        let mut quota = ReplicationQuota::new(1000);
        quota.record(20_000, 0);
        assert!(quota.is_exceeded(10));
        quota
    }

    #[test]
    fn a_leader_throttles_a_listed_out_of_sync_follower_while_the_rate_is_exceeded() {
        // Leader 1 of partition 0; the list names the leader's replica.
        let mut quota = exceeded_quota();
        assert!(should_leader_throttle(
            Some("0:1,0:2"),
            0,
            1,
            false,
            &mut quota,
            10
        ));
        assert!(should_leader_throttle(
            Some("*"),
            0,
            1,
            false,
            &mut quota,
            10
        ));
    }

    #[test]
    fn a_leader_never_throttles_an_in_sync_follower() {
        let mut quota = exceeded_quota();
        assert!(!should_leader_throttle(
            Some("0:1"),
            0,
            1,
            true,
            &mut quota,
            10
        ));
        assert!(!should_leader_throttle(
            Some("*"),
            0,
            1,
            true,
            &mut quota,
            10
        ));
    }

    #[test]
    fn a_leader_does_not_throttle_a_replica_the_list_does_not_name_on_it() {
        let mut quota = exceeded_quota();
        // Another partition, and the same partition on another broker (the
        // list names leaders' replicas: Kafka's filter by this broker's id).
        assert!(!should_leader_throttle(
            Some("1:1"),
            0,
            1,
            false,
            &mut quota,
            10
        ));
        assert!(!should_leader_throttle(
            Some("0:2"),
            0,
            1,
            false,
            &mut quota,
            10
        ));
        assert!(!should_leader_throttle(None, 0, 1, false, &mut quota, 10));
        assert!(!should_leader_throttle(
            Some(""),
            0,
            1,
            false,
            &mut quota,
            10
        ));
    }

    #[test]
    fn a_leader_serves_a_throttled_follower_while_the_rate_is_not_exceeded() {
        let mut quota = ReplicationQuota::new(1000);
        assert!(!should_leader_throttle(
            Some("0:1"),
            0,
            1,
            false,
            &mut quota,
            0
        ));
        quota.record(5_000, 0);
        assert!(!should_leader_throttle(
            Some("0:1"),
            0,
            1,
            false,
            &mut quota,
            10
        ));
        // Past 10 s worth of the rate (Kafka's window): exceeded.
        quota.record(6_000, 20);
        assert!(should_leader_throttle(
            Some("0:1"),
            0,
            1,
            false,
            &mut quota,
            30
        ));
        // Once the samples age out of the 11 s window it serves again.
        assert!(!should_leader_throttle(
            Some("0:1"),
            0,
            1,
            false,
            &mut quota,
            11_100
        ));
        let mut unbounded = ReplicationQuota::new(i64::MAX);
        unbounded.record(u64::MAX, 0);
        assert!(!should_leader_throttle(
            Some("*"),
            0,
            1,
            false,
            &mut unbounded,
            0
        ));
    }

    #[test]
    fn each_data_shard_gets_an_even_share_of_the_broker_rate() {
        let mut share = ReplicationQuota::shard_share(2000, 2);
        share.record(10_500, 0);
        assert!(
            share.is_exceeded(10),
            "1000 B/s per shard, 10.5 s worth sent"
        );
        assert!(!ReplicationQuota::shard_share(i64::MAX, 4).is_bounded());
        assert!(ReplicationQuota::shard_share(3, 8).is_bounded());
    }
}
