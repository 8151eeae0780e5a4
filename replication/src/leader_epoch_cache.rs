//! The leader-epoch cache of one partition: for each leader epoch that
//! appended to the log, the offset of its first batch (Kafka's
//! `LeaderEpochFileCache`, in memory). Answers OffsetForLeaderEpoch with
//! Kafka's rules and tells which epoch wrote an offset.
//!
//! Invariant: entries are in strictly increasing epoch order and
//! non-decreasing start-offset order; every epoch is `>= 0`.

/// One leader epoch and the offset of the first batch it appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// The leader epoch, `>= 0`.
    pub leader_epoch: i32,
    /// The offset of the first batch appended in `leader_epoch`.
    pub start_offset: i64,
}

/// Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET: the answer for an
/// epoch this log knows nothing about.
pub const UNDEFINED_EPOCH: i32 = -1;
/// See [`UNDEFINED_EPOCH`].
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// The leader epochs of one partition's log. Lives on: the partition's owner
/// shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// A cache holding `entries`, which must already satisfy the invariant
    /// (a checkpoint is validated before it gets here).
    ///
    /// # Panics
    /// If `entries` are not ordered (our bug: the parser checks it).
    pub fn from_entries(entries: Vec<EpochEntry>) -> LeaderEpochCache {
        let cache = LeaderEpochCache { entries };
        assert!(cache.is_ordered(), "leader epochs out of order");
        cache
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The newest entry, if any epoch appended.
    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// Records that `leader_epoch` appended a batch at `start_offset`
    /// (Kafka's `assign`). Returns whether the cache changed. A negative
    /// epoch (a batch from before epochs were stamped) is ignored, and so is
    /// a batch of a known epoch at or after that epoch's start (the common
    /// case: checked first, without allocating). Entries that contradict the
    /// new one — an older epoch starting at or after it, a newer one starting
    /// at or before it, the same epoch starting later — are removed, so a
    /// re-assignment after a truncation wins. Unlike Kafka, an older epoch
    /// whose first append completes after a newer epoch's (pipelined appends
    /// across a leader epoch bump) is inserted in its place instead of
    /// removing the newer epoch.
    pub fn assign(&mut self, leader_epoch: i32, start_offset: i64) -> bool {
        assert!(start_offset >= 0, "a batch offset is never negative");
        if leader_epoch < 0 {
            return false;
        }
        if let Some(latest) = self.latest() {
            if latest.leader_epoch == leader_epoch && latest.start_offset <= start_offset {
                return false;
            }
        }
        let position = self
            .entries
            .partition_point(|entry| entry.leader_epoch < leader_epoch);
        if let Some(existing) = self.entries.get(position) {
            if existing.leader_epoch == leader_epoch && existing.start_offset <= start_offset {
                return false;
            }
        }
        self.entries.retain(|entry| {
            (entry.leader_epoch < leader_epoch && entry.start_offset < start_offset)
                || (entry.leader_epoch > leader_epoch && entry.start_offset > start_offset)
        });
        let position = self
            .entries
            .partition_point(|entry| entry.leader_epoch < leader_epoch);
        self.entries.insert(
            position,
            EpochEntry {
                leader_epoch,
                start_offset,
            },
        );
        debug_assert!(self.is_ordered());
        true
    }

    /// Moves the start of the log to `log_start_offset` (DeleteRecords,
    /// retention): epochs that ended before it are removed and the one
    /// covering it now starts there (Kafka's `truncateFromStart`). Returns
    /// whether the cache changed.
    pub fn truncate_from_start(&mut self, log_start_offset: i64) -> bool {
        let Some(covering) = self
            .entries
            .iter()
            .rposition(|entry| entry.start_offset <= log_start_offset)
        else {
            return false;
        };
        if covering == 0 && self.entries.first().map(|e| e.start_offset) == Some(log_start_offset) {
            return false;
        }
        self.entries.drain(..covering);
        if let Some(first) = self.entries.first_mut() {
            first.start_offset = log_start_offset;
        }
        debug_assert!(self.is_ordered());
        true
    }

    /// Removes the epochs that start at or after `end_offset` (the log was
    /// cut back to end there, so they appended nothing that remains).
    /// Returns whether the cache changed.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|entry| entry.start_offset < end_offset);
        self.entries.len() != before
    }

    /// The epoch that appended `offset`: the newest epoch starting at or
    /// before it, or `None` if the offset is older than every epoch known.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.entries
            .iter()
            .rev()
            .find(|entry| entry.start_offset <= offset)
            .map(|entry| entry.leader_epoch)
    }

    /// OffsetForLeaderEpoch's answer for `requested` on a log ending at
    /// `log_end_offset`: `(epoch, end offset)` by Kafka's
    /// `LeaderEpochFileCache.endOffsetFor` rules —
    /// * the latest epoch ends at the log end offset;
    /// * an older epoch ends where the next higher epoch starts, and the
    ///   answer names the newest known epoch at or below the requested one;
    /// * an epoch older than the first known one ends where the first starts
    ///   (answered with the requested epoch);
    /// * an epoch newer than every known one, or [`UNDEFINED_EPOCH`], is
    ///   undefined: `(-1, -1)`.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        if requested == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        }
        if self.latest().map(|e| e.leader_epoch) == Some(requested) {
            return (requested, log_end_offset);
        }
        let Some(higher) = self.entries.iter().find(|e| e.leader_epoch > requested) else {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        };
        match self
            .entries
            .iter()
            .rev()
            .find(|e| e.leader_epoch <= requested)
        {
            None => (requested, higher.start_offset),
            Some(floor) => (floor.leader_epoch, higher.start_offset),
        }
    }

    fn is_ordered(&self) -> bool {
        self.entries.iter().all(|entry| entry.leader_epoch >= 0)
            && self.entries.windows(2).all(|pair| match pair {
                [a, b] => a.leader_epoch < b.leader_epoch && a.start_offset <= b.start_offset,
                _ => true,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Epoch 1 from 0, epoch 3 from 10, epoch 5 from 25.
    fn cache() -> LeaderEpochCache {
        let mut cache = LeaderEpochCache::default();
        assert!(cache.assign(1, 0));
        assert!(cache.assign(3, 10));
        assert!(cache.assign(5, 25));
        cache
    }

    #[test]
    fn the_latest_epoch_ends_at_the_log_end_offset() {
        assert_eq!(cache().end_offset_for(5, 40), (5, 40));
    }

    #[test]
    fn an_older_epoch_ends_where_the_next_higher_one_starts() {
        let cache = cache();
        assert_eq!(cache.end_offset_for(1, 40), (1, 10));
        assert_eq!(cache.end_offset_for(3, 40), (3, 25));
        // Epoch 4 never appended: the answer is the epoch below it.
        assert_eq!(cache.end_offset_for(4, 40), (3, 25));
        assert_eq!(cache.end_offset_for(2, 40), (1, 10));
    }

    #[test]
    fn an_epoch_older_than_the_first_ends_where_the_first_starts() {
        assert_eq!(cache().end_offset_for(0, 40), (0, 0));
    }

    #[test]
    fn an_unknown_newer_epoch_or_undefined_epoch_is_undefined() {
        let cache = cache();
        assert_eq!(cache.end_offset_for(6, 40), (-1, -1));
        assert_eq!(cache.end_offset_for(UNDEFINED_EPOCH, 40), (-1, -1));
        assert_eq!(LeaderEpochCache::default().end_offset_for(0, 0), (-1, -1));
    }

    #[test]
    fn assigning_the_current_epoch_again_changes_nothing() {
        let mut cache = cache();
        assert!(!cache.assign(5, 30));
        assert!(!cache.assign(-1, 50), "unstamped batches are ignored");
        assert_eq!(cache.latest().map(|e| e.start_offset), Some(25));
    }

    #[test]
    fn assigning_an_earlier_start_or_older_epoch_drops_the_entries_it_contradicts() {
        let mut cache = cache();
        assert!(
            cache.assign(5, 20),
            "the first batch of epoch 5 completed late"
        );
        assert_eq!(
            cache.latest(),
            Some(EpochEntry {
                leader_epoch: 5,
                start_offset: 20
            })
        );
        assert!(
            cache.assign(4, 22),
            "a newer epoch at or before it contradicts it"
        );
        assert_eq!(
            cache.entries(),
            &[
                EpochEntry {
                    leader_epoch: 1,
                    start_offset: 0
                },
                EpochEntry {
                    leader_epoch: 3,
                    start_offset: 10
                },
                EpochEntry {
                    leader_epoch: 4,
                    start_offset: 22
                },
            ]
        );
    }

    #[test]
    fn an_older_epoch_completing_late_is_inserted_before_the_newer_one() {
        let mut cache = LeaderEpochCache::default();
        assert!(cache.assign(2, 0));
        assert!(cache.assign(4, 10));
        assert!(cache.assign(3, 7));
        assert!(!cache.assign(3, 8));
        assert_eq!(
            cache.entries(),
            &[
                EpochEntry {
                    leader_epoch: 2,
                    start_offset: 0
                },
                EpochEntry {
                    leader_epoch: 3,
                    start_offset: 7
                },
                EpochEntry {
                    leader_epoch: 4,
                    start_offset: 10
                },
            ]
        );
    }

    #[test]
    fn moving_the_log_start_drops_older_epochs_and_starts_the_covering_one_there() {
        let mut cache = cache();
        assert!(cache.truncate_from_start(12));
        assert_eq!(
            cache.entries(),
            &[
                EpochEntry {
                    leader_epoch: 3,
                    start_offset: 12
                },
                EpochEntry {
                    leader_epoch: 5,
                    start_offset: 25
                },
            ]
        );
        assert!(!cache.truncate_from_start(12));
        assert!(!LeaderEpochCache::default().truncate_from_start(5));
        assert_eq!(cache.end_offset_for(1, 40), (1, 12));
    }

    #[test]
    fn truncation_removes_epochs_starting_at_or_after_the_new_end() {
        let mut cache = cache();
        assert!(cache.truncate_from_end(25));
        assert_eq!(cache.latest().map(|e| e.leader_epoch), Some(3));
        assert!(!cache.truncate_from_end(25));
    }

    #[test]
    fn epoch_for_offset_is_the_newest_epoch_starting_at_or_before_it() {
        let cache = cache();
        assert_eq!(cache.epoch_for_offset(0), Some(1));
        assert_eq!(cache.epoch_for_offset(9), Some(1));
        assert_eq!(cache.epoch_for_offset(10), Some(3));
        assert_eq!(cache.epoch_for_offset(1000), Some(5));
        let mut late = LeaderEpochCache::default();
        late.assign(2, 5);
        assert_eq!(late.epoch_for_offset(4), None);
    }
}
