//! Statistics of one shard's outgoing cross-shard calls, for metrics: calls
//! in flight per peer (sent or waiting for channel room, not yet answered)
//! and the time from send to answer.
//!
//! Written by: the calling shard only (relaxed load and store, no locked
//! instruction, no allocation); read by any thread holding the `Arc`.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::latency_histogram::LatencyHistogram;
use crate::placement::ShardId;

/// One shard's cross-shard call statistics.
#[derive(Debug)]
pub struct MeshStats {
    shard: ShardId,
    /// Calls to each peer not yet answered (index: the peer's shard id).
    in_flight: Vec<AtomicU64>,
    /// Time from a call's send to its answer, over all peers.
    pub call_latency: LatencyHistogram,
}

impl MeshStats {
    /// Statistics of `shard`'s calls in a mesh of `shards` shards.
    pub fn new(shard: ShardId, shards: usize) -> MeshStats {
        assert!(shard.0 < shards);
        MeshStats {
            shard,
            in_flight: (0..shards).map(|_| AtomicU64::new(0)).collect(),
            call_latency: LatencyHistogram::default(),
        }
    }

    /// The calling shard.
    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// Calls in flight to each peer, by peer shard id (this shard's own
    /// entry is always 0).
    pub fn in_flight(&self) -> impl Iterator<Item = (ShardId, u64)> + '_ {
        self.in_flight
            .iter()
            .enumerate()
            .map(|(peer, count)| (ShardId(peer), count.load(Ordering::Relaxed)))
    }

    /// A call to `peer` starts; the guard ends it (answered, failed or
    /// cancelled) when dropped.
    pub(crate) fn start(&self, peer: ShardId) -> CallGuard<'_> {
        let counter = self.in_flight.get(peer.0);
        if let Some(counter) = counter {
            counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
        CallGuard {
            counter,
            started: Instant::now(),
            stats: self,
        }
    }
}

/// One call in flight; see [`MeshStats::start`].
pub(crate) struct CallGuard<'a> {
    counter: Option<&'a AtomicU64>,
    started: Instant,
    stats: &'a MeshStats,
}

impl CallGuard<'_> {
    /// The call was answered: records its latency.
    pub(crate) fn answered(self) {
        self.stats.call_latency.record(self.started.elapsed());
    }
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        if let Some(counter) = self.counter {
            let now = counter.load(Ordering::Relaxed);
            assert!(now > 0, "a call in flight was counted");
            counter.store(now - 1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_counts_until_the_guard_drops_and_answers_are_timed() {
        let stats = MeshStats::new(ShardId(0), 3);
        let first = stats.start(ShardId(2));
        let second = stats.start(ShardId(2));
        let counts: Vec<u64> = stats.in_flight().map(|(_, n)| n).collect();
        assert_eq!(counts, [0, 0, 2]);
        first.answered();
        drop(second); // cancelled: no latency sample
        let counts: Vec<u64> = stats.in_flight().map(|(_, n)| n).collect();
        assert_eq!(counts, [0, 0, 0]);
        assert_eq!(stats.call_latency.snapshot().count(), 1);
    }
}
