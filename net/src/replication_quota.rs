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
//! Lives on: one data shard (each shard measures its own fetchers; the
//! broker's rate is split evenly between its data shards).

use std::collections::VecDeque;

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
        let Some(value) = value else {
            return ThrottledReplicas::Listed(Vec::new());
        };
        if value.trim() == "*" {
            return ThrottledReplicas::All;
        }
        ThrottledReplicas::Listed(
            value
                .split(',')
                .filter_map(|entry| {
                    let (partition, broker) = entry.trim().split_once(':')?;
                    Some((partition.trim().parse().ok()?, broker.trim().parse().ok()?))
                })
                .collect(),
        )
    }

    /// Whether `broker`'s replica of `partition` is throttled.
    pub fn contains(&self, partition: i32, broker: i32) -> bool {
        match self {
            ThrottledReplicas::All => true,
            ThrottledReplicas::Listed(pairs) => pairs.contains(&(partition, broker)),
        }
    }
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
    }
}
