//! Follower truncation: where a follower cuts its log so that it is a prefix
//! of its leader's, decided from the leader's answer about an epoch — an
//! OffsetForLeaderEpoch response (KIP-101, KIP-279) or a Fetch response's
//! diverging epoch (KIP-595, Fetch v12+) — and the follower's own leader
//! epochs (Kafka's `AbstractFetcherThread.getOffsetTruncationState`); and
//! what a follower does with OFFSET_OUT_OF_RANGE (Kafka's
//! `fetchOffsetAndTruncate`). Sans-IO: pure functions over a
//! [`LeaderEpochCache`], so the cases are tested without logs.
//!
//! Invariant: a decided truncation offset is never above the follower's log
//! end offset (a truncation only cuts).

use crate::leader_epoch_cache::{LeaderEpochCache, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};
use crate::partition::EpochEndOffset;

/// Where to cut, and whether that settles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetTruncation {
    /// The offset to truncate to (the new log end offset, at most the
    /// current one).
    pub offset: i64,
    /// `false` when the leader answered an epoch the follower does not know:
    /// after this intermediate cut, the follower asks again with its new
    /// latest epoch (KIP-279).
    pub completed: bool,
}

/// The truncation for a follower whose log ends at `log_end_offset` with
/// leader epochs `epochs`, given the leader's answer `leader` about the
/// follower's latest epoch. `fallback_offset` is where the follower cuts
/// when the leader's answer is undefined (Kafka's initial fetch offset: the
/// follower's high watermark without epochs, else its log end).
///
/// Kafka's rules:
/// * end offset undefined: cut to `fallback_offset`, done;
/// * epoch undefined but an end offset (an old leader): cut to
///   `min(end offset, log end)`, done;
/// * the follower's floor of the leader's epoch is that same epoch: cut to
///   `min(its end of that epoch, leader's end offset, log end)`, done;
/// * the follower knows only an older floor epoch: cut to where that floor
///   epoch ends for the follower, and ask again;
/// * the follower knows no epoch at or below the leader's: cut to
///   `min(leader's end offset, log end)`, done.
pub fn offset_truncation(
    epochs: &LeaderEpochCache,
    log_end_offset: i64,
    fallback_offset: i64,
    leader: EpochEndOffset,
) -> OffsetTruncation {
    assert!(log_end_offset >= 0, "a log end offset is never negative");
    let truncation = if leader.end_offset == UNDEFINED_EPOCH_OFFSET {
        OffsetTruncation {
            offset: fallback_offset,
            completed: true,
        }
    } else if leader.leader_epoch == UNDEFINED_EPOCH {
        OffsetTruncation {
            offset: leader.end_offset,
            completed: true,
        }
    } else {
        match epochs.end_offset_for(leader.leader_epoch, log_end_offset) {
            (_, UNDEFINED_EPOCH_OFFSET) => OffsetTruncation {
                offset: leader.end_offset,
                completed: true,
            },
            (follower_epoch, follower_end_offset) if follower_epoch != leader.leader_epoch => {
                OffsetTruncation {
                    offset: follower_end_offset,
                    completed: false,
                }
            }
            (_, follower_end_offset) => OffsetTruncation {
                offset: follower_end_offset.min(leader.end_offset),
                completed: true,
            },
        }
    };
    let truncation = OffsetTruncation {
        offset: truncation.offset.min(log_end_offset).max(0),
        ..truncation
    };
    assert!(truncation.offset <= log_end_offset);
    truncation
}

/// What a follower whose fetch was answered OFFSET_OUT_OF_RANGE does, given
/// the leader's log start and end offsets (Kafka's `fetchOffsetAndTruncate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfRangeAction {
    /// The leader's log ends below the follower's: cut to the leader's end.
    TruncateTo(i64),
    /// The follower's log ends below the leader's log start: drop it all
    /// and start (empty) at the leader's log start.
    StartAt(i64),
    /// The follower's log end is within the leader's log now: fetch again.
    Refetch,
}

/// See [`OutOfRangeAction`]: `log_end_offset` is the follower's.
pub fn out_of_range_action(
    log_end_offset: i64,
    leader_log_start_offset: i64,
    leader_log_end_offset: i64,
) -> OutOfRangeAction {
    if leader_log_end_offset < log_end_offset {
        OutOfRangeAction::TruncateTo(leader_log_end_offset.max(0))
    } else if leader_log_start_offset > log_end_offset {
        OutOfRangeAction::StartAt(leader_log_start_offset)
    } else {
        OutOfRangeAction::Refetch
    }
}

/// The diverging epoch a leader answers a follower's fetch with (Kafka's
/// `Partition.fetchRecords` with a `lastFetchedEpoch`): `Some` when the
/// leader's log does not hold the follower's `last_fetched_epoch` up to
/// `fetch_offset` — the leader's end of the newest epoch at or below it.
/// `None` when the follower sent no epoch (-1) or its position is on the
/// leader's log.
pub fn diverging_epoch(
    epochs: &LeaderEpochCache,
    log_end_offset: i64,
    fetch_offset: i64,
    last_fetched_epoch: i32,
) -> Option<EpochEndOffset> {
    if last_fetched_epoch < 0 {
        return None;
    }
    let (leader_epoch, end_offset) = epochs.end_offset_for(last_fetched_epoch, log_end_offset);
    (leader_epoch < last_fetched_epoch || end_offset < fetch_offset).then_some(EpochEndOffset {
        leader_epoch,
        end_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A replica's log in the simulation: the leader epoch of each offset.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    struct SimLog {
        epochs: Vec<i32>,
        high_watermark: i64,
    }

    impl SimLog {
        fn end(&self) -> i64 {
            self.epochs.len() as i64
        }

        fn cache(&self) -> LeaderEpochCache {
            let mut cache = LeaderEpochCache::default();
            for (offset, epoch) in self.epochs.iter().enumerate() {
                cache.assign(*epoch, offset as i64);
            }
            cache
        }

        fn append(&mut self, epoch: i32, count: usize) {
            self.epochs.extend(std::iter::repeat_n(epoch, count));
        }

        fn truncate(&mut self, offset: i64) {
            self.epochs.truncate(offset as usize);
            self.high_watermark = self.high_watermark.min(offset);
        }

        /// OffsetForLeaderEpoch as the leader answers it.
        fn answer(&self, requested: i32) -> EpochEndOffset {
            let (leader_epoch, end_offset) = self.cache().end_offset_for(requested, self.end());
            EpochEndOffset {
                leader_epoch,
                end_offset,
            }
        }
    }

    /// A new leader at `epoch` records the epoch at its log end (Kafka's
    /// `makeLeader`); returned as the cache it answers from.
    fn leader_cache(leader: &SimLog, epoch: i32) -> LeaderEpochCache {
        let mut cache = leader.cache();
        cache.assign(epoch, leader.end());
        cache
    }

    /// A follower becoming the follower of `leader` at `epoch`: asks
    /// OffsetForLeaderEpoch until the truncation completes, then fetches
    /// the rest of the leader's log. Returns the offsets it truncated to.
    fn follow(follower: &mut SimLog, leader: &SimLog, epoch: i32) -> Vec<i64> {
        let leader_epochs = leader_cache(leader, epoch);
        let mut cuts = Vec::new();
        for _ in 0..10 {
            let cache = follower.cache();
            let Some(latest) = cache.latest() else {
                follower.truncate(follower.high_watermark);
                cuts.push(follower.end());
                break;
            };
            let (leader_epoch, end_offset) =
                leader_epochs.end_offset_for(latest.leader_epoch, leader.end());
            let answer = EpochEndOffset {
                leader_epoch,
                end_offset,
            };
            let cut = offset_truncation(&cache, follower.end(), follower.end(), answer);
            follower.truncate(cut.offset);
            cuts.push(cut.offset);
            if cut.completed {
                break;
            }
        }
        let common = follower.end() as usize;
        assert_eq!(
            follower.epochs[..],
            leader.epochs[..common],
            "after truncation the follower is a prefix of its leader"
        );
        follower.epochs = leader.epochs.clone();
        cuts
    }

    #[test]
    fn a_leader_that_died_with_an_unreplicated_tail_loses_it() {
        // Epoch 1: A leads and writes 10; B has replicated 6.
        let mut a = SimLog::default();
        a.append(1, 10);
        let mut b = SimLog::default();
        b.append(1, 6);
        // A dies; B leads at epoch 2 and writes 3.
        b.append(2, 3);
        // A comes back as B's follower: it asks for epoch 1, B says epoch 1
        // ended at 6.
        assert_eq!(
            b.answer(1),
            EpochEndOffset {
                leader_epoch: 1,
                end_offset: 6
            }
        );
        assert_eq!(follow(&mut a, &b, 2), vec![6]);
        assert_eq!(a, b);
    }

    #[test]
    fn a_follower_keeps_a_tail_beyond_its_high_watermark_that_the_leader_has() {
        // Pre-KIP-101 a follower cut to its high watermark (2) and
        // refetched; with epochs it keeps all 8.
        let mut leader = SimLog::default();
        leader.append(1, 8);
        let mut follower = SimLog {
            epochs: vec![1; 8],
            high_watermark: 2,
        };
        leader.append(2, 2);
        assert_eq!(follow(&mut follower, &leader, 2), vec![8]);
    }

    #[test]
    fn two_leader_changes_in_a_row() {
        // A leads epoch 1 (writes 5, all replicated), then epoch 2 (writes
        // 3 more, none replicated) and dies; B leads epoch 3 without
        // writing, dies; C leads epoch 4 and writes 2.
        let mut a = SimLog::default();
        a.append(1, 5);
        let mut c = a.clone();
        let mut b = a.clone();
        a.append(2, 3);
        c.append(4, 2);
        // B follows C at epoch 4: nothing to cut.
        assert_eq!(follow(&mut b, &c, 4), vec![5]);
        // A asks for epoch 2, which C never saw: C answers epoch 1, ending
        // where C's epoch 4 starts (5). A knows epoch 1 as its floor of 1:
        // truncation to 5 completes in one step.
        assert_eq!(c.answer(2).leader_epoch, 1);
        let answer = EpochEndOffset {
            leader_epoch: 1,
            end_offset: 5,
        };
        assert_eq!(
            offset_truncation(&a.cache(), a.end(), a.end(), answer),
            OffsetTruncation {
                offset: 5,
                completed: true
            }
        );
        assert_eq!(follow(&mut a, &c, 4), vec![5]);
        assert_eq!(a, c);
    }

    #[test]
    fn a_follower_offline_across_several_epochs_converges() {
        // F has epochs 1 (0..4) and 3 (4..9, written by a leader that died
        // before replicating 6..9). The leader L has 1 (0..4), 3 (4..6),
        // 5 (6..8), 7 (8..12).
        let mut f = SimLog::default();
        f.append(1, 4);
        f.append(3, 5);
        let mut l = SimLog::default();
        l.append(1, 4);
        l.append(3, 2);
        l.append(5, 2);
        l.append(7, 4);
        assert_eq!(
            l.answer(3),
            EpochEndOffset {
                leader_epoch: 3,
                end_offset: 6
            }
        );
        assert_eq!(follow(&mut f, &l, 8), vec![6]);
        assert_eq!(f, l);
    }

    #[test]
    fn a_leader_answering_an_older_epoch_takes_two_rounds() {
        // F: epochs 1 (0..3), 2 (3..7), 4 (7..10). L: 1 (0..5), 3 (5..8).
        // F asks for 4: L answers its floor, epoch 3, ending at 8. F does
        // not know epoch 3: it cuts to its end of epoch 2 (7, its floor of
        // 3) and asks again for 2: L says 2 is unknown below 3 -> its floor
        // 1, ending at 5. F's floor of 1 is 1, ending at 3: done at 3.
        let mut f = SimLog::default();
        f.append(1, 3);
        f.append(2, 4);
        f.append(4, 3);
        let mut l = SimLog::default();
        l.append(1, 5);
        l.append(3, 3);
        let (leader_epoch, end_offset) = leader_cache(&l, 5).end_offset_for(4, l.end());
        let first = EpochEndOffset {
            leader_epoch,
            end_offset,
        };
        assert_eq!(
            first,
            EpochEndOffset {
                leader_epoch: 3,
                end_offset: 8
            }
        );
        assert_eq!(
            offset_truncation(&f.cache(), f.end(), f.end(), first),
            OffsetTruncation {
                offset: 7,
                completed: false
            }
        );
        assert_eq!(follow(&mut f, &l, 5), vec![7, 3]);
        assert_eq!(f, l);
    }

    #[test]
    fn an_undefined_answer_cuts_to_the_fallback_offset() {
        let mut f = SimLog::default();
        f.append(2, 6);
        let undefined = EpochEndOffset {
            leader_epoch: UNDEFINED_EPOCH,
            end_offset: UNDEFINED_EPOCH_OFFSET,
        };
        assert_eq!(
            offset_truncation(&f.cache(), 6, 4, undefined),
            OffsetTruncation {
                offset: 4,
                completed: true
            }
        );
        let old_leader = EpochEndOffset {
            leader_epoch: UNDEFINED_EPOCH,
            end_offset: 3,
        };
        assert_eq!(offset_truncation(&f.cache(), 6, 6, old_leader).offset, 3);
    }

    #[test]
    fn an_answer_below_every_known_epoch_uses_the_leaders_offset() {
        // F's epochs start at 4 (from offset 10, after a log start move);
        // the leader answers epoch 2 ending at 12: F's end of epoch 2 is its
        // first epoch's start, 10.
        let mut cache = LeaderEpochCache::default();
        cache.assign(4, 10);
        let answer = EpochEndOffset {
            leader_epoch: 2,
            end_offset: 12,
        };
        assert_eq!(
            offset_truncation(&cache, 20, 20, answer),
            OffsetTruncation {
                offset: 10,
                completed: true
            }
        );
    }

    #[test]
    fn out_of_range_truncates_to_the_leader_end_or_starts_at_its_log_start() {
        assert_eq!(
            out_of_range_action(10, 0, 7),
            OutOfRangeAction::TruncateTo(7)
        );
        assert_eq!(
            out_of_range_action(10, 15, 30),
            OutOfRangeAction::StartAt(15)
        );
        assert_eq!(out_of_range_action(10, 5, 30), OutOfRangeAction::Refetch);
    }

    #[test]
    fn the_leader_reports_divergence_only_off_its_log() {
        let mut leader = SimLog::default();
        leader.append(1, 5);
        leader.append(3, 5);
        let cache = leader_cache(&leader, 4);
        // On the log: epoch 1 up to 5, epoch 3 up to 10.
        assert_eq!(diverging_epoch(&cache, 10, 5, 1), None);
        assert_eq!(diverging_epoch(&cache, 10, 10, 3), None);
        assert_eq!(diverging_epoch(&cache, 10, 3, -1), None);
        // Epoch 1 past 5: diverges at 5.
        assert_eq!(
            diverging_epoch(&cache, 10, 7, 1),
            Some(EpochEndOffset {
                leader_epoch: 1,
                end_offset: 5
            })
        );
        // Epoch 2 never appended here: the floor, epoch 1, ends at 5.
        assert_eq!(
            diverging_epoch(&cache, 10, 6, 2),
            Some(EpochEndOffset {
                leader_epoch: 1,
                end_offset: 5
            })
        );
    }
}
