//! `ReplicaSet`: the leader's view of its partition's replicas, sans-IO —
//! each follower's log end offset, last fetch and last caught-up time, the
//! ISR the metadata image committed and the change to it in flight, and the
//! high watermark that follows from them (Kafka's `Partition` leader state:
//! `updateFollowerFetchState`, `maybeIncrementLeaderHW`, `maybeExpandIsr`,
//! `maybeShrinkIsr`, the `min.insync.replicas` checks).
//!
//! Invariants: the leader is always in the ISR and counts with its durable
//! end offset (what its flush policy has made as durable as promised); the
//! high watermark is the minimum log end offset over the *maximal* ISR (the
//! committed one plus the replicas an in-flight expansion adds), and never
//! moves backwards while this leader epoch lasts. The ISR only changes
//! through the controller: [`ReplicaSet::isr_to_shrink`] and
//! [`ReplicaSet::isr_to_expand`] propose, the next image commits.
//!
//! Time is handed in (`now_ms`); nothing here does IO or reads a clock.

use crate::error::ReplicationError;
use crate::role::BrokerId;

/// A follower's log end offset before its first fetch in this leader epoch:
/// it holds the high watermark where it is.
const UNKNOWN_OFFSET: i64 = -1;

/// The replicas of a partition as the metadata image records them: who holds
/// a copy, who is in sync, and the partition epoch an AlterPartition must
/// name. Lives on: the partition's owner shard, set from each image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicaAssignment {
    /// This broker's `node.id`.
    pub local_broker: BrokerId,
    /// The brokers holding a replica, in preference order. Empty or
    /// `[local_broker]`: a single replica (no followers).
    pub replicas: Vec<BrokerId>,
    /// The in-sync replicas, a subset of `replicas`.
    pub isr: Vec<BrokerId>,
    /// The partition epoch (bumped on every change of the partition).
    pub partition_epoch: i32,
}

impl ReplicaAssignment {
    /// The assignment of a partition held by `local_broker` alone.
    pub fn single(local_broker: BrokerId) -> ReplicaAssignment {
        ReplicaAssignment {
            local_broker,
            replicas: vec![local_broker],
            isr: vec![local_broker],
            partition_epoch: 0,
        }
    }

    /// Whether other brokers hold replicas (so a leader tracks followers).
    pub fn has_followers(&self) -> bool {
        self.replicas
            .iter()
            .any(|broker| *broker != self.local_broker)
    }
}

/// A follower as its fetch names it (Kafka's `ReplicaState` of Fetch v15+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchingReplica {
    /// Its broker id.
    pub broker: BrokerId,
    /// The broker epoch it fetches in (-1: a fetch below v15 names none).
    pub broker_epoch: i64,
}

/// What the leader knows of one follower. Kafka's `Replica` state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerState {
    /// The follower's broker id.
    pub broker: BrokerId,
    /// The offset of its last fetch: the next offset it needs, so everything
    /// below is in its log (under its flush policy). -1 before its first
    /// fetch in this leader epoch.
    pub log_end_offset: i64,
    /// When it last fetched (ms since the epoch; 0: never).
    pub last_fetch_ms: i64,
    /// The leader's log end offset at that fetch (-1: none yet).
    pub last_fetch_leader_log_end_offset: i64,
    /// The last time it was known to have everything the leader had (ms; 0:
    /// never in this leader epoch).
    pub last_caught_up_ms: i64,
    /// When this leader started tracking it (ms): what its lag counts from
    /// while it has never caught up.
    pub tracked_since_ms: i64,
    /// The broker epoch its last fetch carried (Fetch v15+ `ReplicaEpoch`,
    /// -1 from older fetches); `None` before its first fetch in this leader
    /// epoch. KIP-903: the leader proposes it in AlterPartition, and does not
    /// add a follower whose registration has moved on from it.
    pub broker_epoch: Option<i64>,
}

impl FollowerState {
    fn new(broker: BrokerId, in_sync: bool, now_ms: i64) -> FollowerState {
        FollowerState {
            broker,
            log_end_offset: UNKNOWN_OFFSET,
            last_fetch_ms: 0,
            last_fetch_leader_log_end_offset: UNKNOWN_OFFSET,
            // A new leader trusts the committed ISR for one lag period
            // (Kafka's `resetReplicaState`): an in-sync follower counts as
            // caught up now, the others never.
            last_caught_up_ms: if in_sync { now_ms } else { 0 },
            tracked_since_ms: now_ms,
            broker_epoch: None,
        }
    }
}

/// The leader's replica-set state for one partition. Lives on: the
/// partition's owner shard, while this broker leads at `leader_epoch`.
#[derive(Debug, Clone)]
pub struct ReplicaSet {
    local_broker: BrokerId,
    leader_epoch: i32,
    partition_epoch: i32,
    /// The leader's log end offset when it took `leader_epoch`: a follower
    /// has caught up in this epoch once its log reaches it.
    leader_epoch_start_offset: i64,
    /// The committed ISR (always holds `local_broker`).
    isr: Vec<BrokerId>,
    /// The ISR an AlterPartition in flight proposes, until an image commits
    /// a new partition epoch or the proposal is abandoned.
    proposed_isr: Option<Vec<BrokerId>>,
    /// One entry per replica other than the leader, in replica order.
    followers: Vec<FollowerState>,
    /// The minimum log end offset of the followers in the maximal ISR
    /// (`i64::MAX` when none): recomputed when a fetch or an ISR change
    /// could move it, so the high watermark is O(1).
    isr_followers_floor: i64,
    high_watermark: i64,
}

impl ReplicaSet {
    /// The state of a leader that has just taken `leader_epoch` with log end
    /// offset `leader_epoch_start_offset` and high watermark
    /// `high_watermark` (what it knew as a follower, or its log start).
    pub fn new(
        assignment: &ReplicaAssignment,
        leader_epoch: i32,
        leader_epoch_start_offset: i64,
        high_watermark: i64,
        now_ms: i64,
    ) -> ReplicaSet {
        assert!(leader_epoch >= 0, "a leader epoch is never negative");
        assert!(high_watermark >= 0);
        assert!(high_watermark <= leader_epoch_start_offset);
        let mut set = ReplicaSet {
            local_broker: assignment.local_broker,
            leader_epoch,
            partition_epoch: assignment.partition_epoch,
            leader_epoch_start_offset,
            isr: Vec::new(),
            proposed_isr: None,
            followers: Vec::new(),
            isr_followers_floor: i64::MAX,
            high_watermark,
        };
        set.apply(assignment, now_ms);
        set
    }

    /// The leader epoch this state belongs to.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    /// The partition epoch of the committed ISR.
    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }

    /// The committed ISR.
    pub fn isr(&self) -> &[BrokerId] {
        &self.isr
    }

    /// The ISR an AlterPartition in flight proposes, if any.
    pub fn proposed_isr(&self) -> Option<&[BrokerId]> {
        self.proposed_isr.as_deref()
    }

    /// What the leader knows of each follower, in replica order.
    pub fn followers(&self) -> &[FollowerState] {
        &self.followers
    }

    /// Takes a new image's replicas and ISR within the same leader epoch (an
    /// AlterPartition committed, or a reassignment). Followers still
    /// assigned keep their state; new ones start unknown. A proposal in
    /// flight ends when the partition epoch moves.
    pub fn apply(&mut self, assignment: &ReplicaAssignment, now_ms: i64) {
        assert_eq!(assignment.local_broker, self.local_broker);
        if assignment.partition_epoch != self.partition_epoch {
            self.proposed_isr = None;
        }
        self.partition_epoch = assignment.partition_epoch;
        self.isr.clear();
        self.isr.extend_from_slice(&assignment.isr);
        if !self.isr.contains(&self.local_broker) {
            // The image names this broker leader: it is in sync by
            // definition (Kafka's leader is always in its ISR).
            self.isr.push(self.local_broker);
        }
        let previous = std::mem::take(&mut self.followers);
        for broker in &assignment.replicas {
            if *broker == self.local_broker || self.followers.iter().any(|f| f.broker == *broker) {
                continue;
            }
            let kept = previous.iter().find(|f| f.broker == *broker).copied();
            let in_sync = self.isr.contains(broker);
            self.followers
                .push(kept.unwrap_or_else(|| FollowerState::new(*broker, in_sync, now_ms)));
        }
        self.refresh_floor();
    }

    /// Records a follower's fetch at `fetch_offset` (the next offset it
    /// needs) when the leader's log end offset was `leader_log_end_offset`,
    /// at `now_ms` — Kafka's `Replica.updateFetchState`: a follower that
    /// fetched from the leader's log end is caught up now; one that reached
    /// the leader's log end as of its previous fetch was caught up then.
    ///
    /// # Errors
    /// `NotAReplica` for a broker that holds no replica;
    /// `FetchOffsetBeyondLogEnd` for an offset past the leader's log end.
    pub fn record_fetch(
        &mut self,
        broker: BrokerId,
        fetch_offset: i64,
        leader_log_end_offset: i64,
        now_ms: i64,
    ) -> Result<(), ReplicationError> {
        if fetch_offset > leader_log_end_offset {
            return Err(ReplicationError::FetchOffsetBeyondLogEnd {
                fetch_offset,
                log_end_offset: leader_log_end_offset,
            });
        }
        let follower = self
            .followers
            .iter_mut()
            .find(|f| f.broker == broker)
            .ok_or(ReplicationError::NotAReplica { broker })?;
        if fetch_offset >= leader_log_end_offset {
            follower.last_caught_up_ms = follower.last_caught_up_ms.max(now_ms);
        } else if fetch_offset >= follower.last_fetch_leader_log_end_offset {
            follower.last_caught_up_ms = follower.last_caught_up_ms.max(follower.last_fetch_ms);
        }
        follower.log_end_offset = fetch_offset;
        follower.last_fetch_ms = now_ms;
        follower.last_fetch_leader_log_end_offset = leader_log_end_offset;
        self.refresh_floor();
        Ok(())
    }

    /// Records the broker epoch `broker`'s last fetch carried (-1: a fetch
    /// below v15, which carries none). Ignored for a broker that holds no
    /// replica ([`ReplicaSet::record_fetch`] refuses its fetch).
    pub fn record_broker_epoch(&mut self, broker: BrokerId, broker_epoch: i64) {
        assert!(broker_epoch >= -1, "a broker epoch is an offset or -1");
        if let Some(follower) = self.followers.iter_mut().find(|f| f.broker == broker) {
            follower.broker_epoch = Some(broker_epoch);
        }
    }

    /// The broker epoch `broker`'s last fetch carried, as the leader puts it
    /// in an AlterPartition (Kafka's `addBrokerEpochToIsr`): -1 when it has
    /// not fetched in this leader epoch or fetched below v15, which the
    /// controller does not check.
    pub fn fetched_broker_epoch(&self, broker: BrokerId) -> i64 {
        self.followers
            .iter()
            .find(|f| f.broker == broker)
            .and_then(|f| f.broker_epoch)
            .unwrap_or(-1)
    }

    /// Whether `broker` may join the ISR as far as broker epochs go, given
    /// the epoch its registration has now (`registered`; `None`: not
    /// registered or fenced) — Kafka's `isBrokerEpochIsrEligible`: it has
    /// fetched in this leader epoch, with no epoch (-1) or with the
    /// registered one. A follower that restarted (say with an empty disk)
    /// is not added on what its earlier incarnation fetched.
    pub fn broker_epoch_isr_eligible(&self, broker: BrokerId, registered: Option<i64>) -> bool {
        let fetched = self
            .followers
            .iter()
            .find(|f| f.broker == broker)
            .and_then(|f| f.broker_epoch);
        match (fetched, registered) {
            (Some(fetched), Some(registered)) => fetched == -1 || fetched == registered,
            _ => false,
        }
    }

    /// The high watermark given the leader's durable end offset: the
    /// minimum log end offset over the maximal ISR, the leader counting
    /// with `leader_durable_end_offset`; never lower than before.
    pub fn high_watermark(&mut self, leader_durable_end_offset: i64) -> i64 {
        let candidate = leader_durable_end_offset.min(self.isr_followers_floor);
        if candidate > self.high_watermark {
            self.high_watermark = candidate;
        }
        self.high_watermark
    }

    /// The high watermark as last computed (no new input).
    pub fn last_high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// The ISR without the followers that have not caught up for more than
    /// `replica_lag_time_max_ms` (Kafka's `getOutOfSyncReplicas`: a follower
    /// at the leader's log end is never out of sync), or `None` when every
    /// member is in sync or a change is already in flight. The leader stays.
    pub fn isr_to_shrink(
        &self,
        leader_log_end_offset: i64,
        now_ms: i64,
        replica_lag_time_max_ms: i64,
    ) -> Option<Vec<BrokerId>> {
        assert!(replica_lag_time_max_ms >= 0);
        if self.proposed_isr.is_some() {
            return None;
        }
        let out_of_sync = |broker: &BrokerId| {
            self.followers.iter().any(|f| {
                f.broker == *broker
                    && f.log_end_offset != leader_log_end_offset
                    && now_ms - f.last_caught_up_ms > replica_lag_time_max_ms
            })
        };
        if !self.isr.iter().any(out_of_sync) {
            return None;
        }
        let shrunk: Vec<BrokerId> = self
            .isr
            .iter()
            .copied()
            .filter(|broker| !out_of_sync(broker))
            .collect();
        debug_assert!(shrunk.contains(&self.local_broker));
        Some(shrunk)
    }

    /// The ISR with every follower that is in sync but not in it: its log
    /// reaches `high_watermark` and the start of this leader epoch (Kafka's
    /// `isFollowerInSync`), or `None` when there is none or a change is
    /// already in flight. New members keep replica order after the others.
    pub fn isr_to_expand(&self, high_watermark: i64) -> Option<Vec<BrokerId>> {
        if self.proposed_isr.is_some() {
            return None;
        }
        let joining = |f: &&FollowerState| {
            !self.isr.contains(&f.broker)
                && f.log_end_offset >= high_watermark
                && f.log_end_offset >= self.leader_epoch_start_offset
        };
        if !self.followers.iter().any(|f| joining(&f)) {
            return None;
        }
        let mut expanded = self.isr.clone();
        expanded.extend(self.followers.iter().filter(joining).map(|f| f.broker));
        Some(expanded)
    }

    /// Marks `isr` as proposed to the controller (an AlterPartition sent):
    /// until an image commits it (or [`ReplicaSet::abandon_proposed_isr`]),
    /// no other change is proposed and the high watermark waits for the
    /// union of both ISRs (Kafka's maximal ISR), so an expansion is safe
    /// before it commits and a shrink does not count before it commits.
    pub fn propose_isr(&mut self, isr: Vec<BrokerId>) {
        assert!(
            isr.contains(&self.local_broker),
            "the leader stays in its ISR"
        );
        self.proposed_isr = Some(isr);
        self.refresh_floor();
    }

    /// Forgets the proposal in flight (the AlterPartition was refused).
    pub fn abandon_proposed_isr(&mut self) {
        self.proposed_isr = None;
        self.refresh_floor();
    }

    /// `min.insync.replicas` for an acks=all produce, before the append:
    /// `NotEnoughReplicas` when the committed ISR is smaller.
    ///
    /// # Errors
    /// `NotEnoughReplicas`.
    pub fn check_enough_replicas(&self, min_insync_replicas: i32) -> Result<(), ReplicationError> {
        let isr_size = self.isr.len();
        if isr_size < min_isr(min_insync_replicas) {
            return Err(ReplicationError::NotEnoughReplicas {
                isr_size,
                min_insync_replicas,
            });
        }
        Ok(())
    }

    /// `min.insync.replicas` for an acks=all produce once the high watermark
    /// has passed it: `NotEnoughReplicasAfterAppend` when the ISR shrank
    /// below it while the produce waited.
    ///
    /// # Errors
    /// `NotEnoughReplicasAfterAppend`.
    pub fn check_enough_replicas_after_append(
        &self,
        min_insync_replicas: i32,
    ) -> Result<(), ReplicationError> {
        let isr_size = self.isr.len();
        if isr_size < min_isr(min_insync_replicas) {
            return Err(ReplicationError::NotEnoughReplicasAfterAppend {
                isr_size,
                min_insync_replicas,
            });
        }
        Ok(())
    }

    /// Recomputes the minimum log end offset over the followers of the
    /// maximal ISR.
    fn refresh_floor(&mut self) {
        let proposed = self.proposed_isr.as_deref().unwrap_or(&[]);
        self.isr_followers_floor = self
            .followers
            .iter()
            .filter(|f| self.isr.contains(&f.broker) || proposed.contains(&f.broker))
            .map(|f| f.log_end_offset)
            .min()
            .unwrap_or(i64::MAX);
    }
}

/// `min.insync.replicas` as a count (a config below 1 counts as 1).
fn min_isr(min_insync_replicas: i32) -> usize {
    usize::try_from(min_insync_replicas.max(1)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAG_MAX_MS: i64 = 30_000;

    fn assignment(replicas: &[BrokerId], isr: &[BrokerId]) -> ReplicaAssignment {
        ReplicaAssignment {
            local_broker: 1,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            partition_epoch: 5,
        }
    }

    /// Broker 1 leads replicas 1, 2, 3 (all in sync) from offset 10 at
    /// epoch 3, at time 1000.
    fn three_replicas() -> ReplicaSet {
        ReplicaSet::new(&assignment(&[1, 2, 3], &[1, 2, 3]), 3, 10, 10, 1_000)
    }

    #[test]
    fn the_high_watermark_is_the_minimum_log_end_offset_over_the_isr() {
        let mut set = three_replicas();
        set.record_fetch(2, 15, 20, 1_100).unwrap();
        set.record_fetch(3, 12, 20, 1_100).unwrap();
        assert_eq!(set.high_watermark(20), 12);
        set.record_fetch(3, 20, 20, 1_200).unwrap();
        assert_eq!(set.high_watermark(20), 15);
        set.record_fetch(2, 20, 20, 1_200).unwrap();
        assert_eq!(set.high_watermark(20), 20);
    }

    #[test]
    fn the_leader_counts_with_its_durable_end_offset() {
        let mut set = three_replicas();
        set.record_fetch(2, 20, 20, 1_100).unwrap();
        set.record_fetch(3, 20, 20, 1_100).unwrap();
        // The followers have fsynced up to 20; the leader's fsync has not
        // completed past 17 yet.
        assert_eq!(set.high_watermark(17), 17);
        assert_eq!(set.high_watermark(20), 20);
    }

    #[test]
    fn a_follower_that_has_not_fetched_in_this_epoch_holds_the_high_watermark() {
        let mut set = three_replicas();
        set.record_fetch(2, 20, 20, 1_100).unwrap();
        assert_eq!(set.high_watermark(20), 10);
    }

    #[test]
    fn a_follower_outside_the_isr_does_not_hold_the_high_watermark() {
        let mut set = ReplicaSet::new(&assignment(&[1, 2, 3], &[1, 2]), 3, 10, 10, 1_000);
        set.record_fetch(2, 18, 20, 1_100).unwrap();
        assert_eq!(set.high_watermark(20), 18);
    }

    #[test]
    fn the_high_watermark_never_moves_backwards() {
        let mut set = ReplicaSet::new(&assignment(&[1, 2, 3], &[1, 2]), 3, 10, 10, 1_000);
        set.record_fetch(2, 18, 20, 1_100).unwrap();
        assert_eq!(set.high_watermark(20), 18);
        // Follower 3 joins the ISR behind the high watermark (it cannot in
        // Kafka, but an image may say so): the mark stays.
        set.apply(&assignment(&[1, 2, 3], &[1, 2, 3]), 1_200);
        set.record_fetch(3, 12, 20, 1_200).unwrap();
        assert_eq!(set.high_watermark(20), 18);
        // A follower that truncates and fetches from below does not pull it
        // back either.
        set.record_fetch(2, 11, 20, 1_300).unwrap();
        assert_eq!(set.high_watermark(20), 18);
    }

    #[test]
    fn a_leader_alone_in_the_isr_has_its_durable_end_offset_as_high_watermark() {
        let mut set = ReplicaSet::new(&assignment(&[1, 2, 3], &[1]), 3, 10, 10, 1_000);
        assert_eq!(set.high_watermark(10), 10);
        assert_eq!(set.high_watermark(25), 25);
        let mut alone = ReplicaSet::new(&ReplicaAssignment::single(1), 0, 0, 0, 0);
        assert_eq!(alone.high_watermark(7), 7);
    }

    #[test]
    fn a_follower_is_caught_up_when_it_fetches_from_the_leaders_log_end() {
        let mut set = three_replicas();
        set.record_fetch(2, 20, 20, 5_000).unwrap();
        assert_eq!(set.followers()[0].last_caught_up_ms, 5_000);
    }

    #[test]
    fn a_follower_that_reached_the_previous_log_end_was_caught_up_at_its_previous_fetch() {
        let mut set = three_replicas();
        set.record_fetch(2, 15, 20, 5_000).unwrap();
        // Not at the log end: caught up only as of the leader's new start.
        assert_eq!(set.followers()[0].last_caught_up_ms, 1_000);
        // It now asks for 20, the log end at its previous fetch, while the
        // leader has moved on to 30: it was caught up at 5000.
        set.record_fetch(2, 20, 30, 6_000).unwrap();
        assert_eq!(set.followers()[0].last_caught_up_ms, 5_000);
        // Behind the previous log end: no change.
        set.record_fetch(2, 25, 40, 7_000).unwrap();
        assert_eq!(set.followers()[0].last_caught_up_ms, 5_000);
    }

    #[test]
    fn a_follower_lagging_past_replica_lag_time_max_ms_leaves_the_isr() {
        let mut set = three_replicas();
        set.record_fetch(2, 20, 20, 1_000).unwrap();
        set.record_fetch(3, 15, 20, 1_000).unwrap();
        // Within the lag period since the leader took over, everyone stays.
        assert_eq!(set.isr_to_shrink(20, 1_000 + LAG_MAX_MS, LAG_MAX_MS), None);
        set.record_fetch(2, 20, 20, 31_000).unwrap();
        assert_eq!(
            set.isr_to_shrink(20, 1_001 + LAG_MAX_MS, LAG_MAX_MS),
            Some(vec![1, 2])
        );
    }

    #[test]
    fn a_follower_at_the_leaders_log_end_never_leaves_the_isr() {
        let mut set = three_replicas();
        set.record_fetch(2, 20, 20, 1_000).unwrap();
        set.record_fetch(3, 20, 20, 1_000).unwrap();
        // No appends for a long time: nothing to catch up on.
        assert_eq!(set.isr_to_shrink(20, 1_000_000, LAG_MAX_MS), None);
    }

    #[test]
    fn a_caught_up_follower_joins_the_isr() {
        let mut set = ReplicaSet::new(&assignment(&[1, 2, 3], &[1, 2]), 3, 10, 10, 1_000);
        set.record_fetch(2, 20, 20, 1_100).unwrap();
        set.record_fetch(3, 15, 20, 1_100).unwrap();
        let hw = set.high_watermark(20);
        assert_eq!(hw, 20);
        assert_eq!(set.isr_to_expand(hw), None);
        set.record_fetch(3, 20, 20, 1_200).unwrap();
        assert_eq!(set.isr_to_expand(hw), Some(vec![1, 2, 3]));
    }

    #[test]
    fn a_follower_must_reach_the_start_of_this_leader_epoch_to_join() {
        // The leader took epoch 3 at offset 10 with a high watermark of 5.
        let mut set = ReplicaSet::new(&assignment(&[1, 2], &[1]), 3, 10, 5, 1_000);
        set.record_fetch(2, 8, 10, 1_100).unwrap();
        assert_eq!(set.isr_to_expand(5), None);
        set.record_fetch(2, 10, 10, 1_200).unwrap();
        assert_eq!(set.isr_to_expand(5), Some(vec![1, 2]));
    }

    #[test]
    fn no_change_is_proposed_while_one_is_in_flight_and_an_expansion_counts_at_once() {
        let mut set = ReplicaSet::new(&assignment(&[1, 2, 3], &[1, 2]), 3, 10, 10, 1_000);
        set.record_fetch(2, 30, 30, 1_100).unwrap();
        set.record_fetch(3, 20, 30, 1_100).unwrap();
        assert_eq!(set.high_watermark(30), 30);
        set.record_fetch(3, 30, 30, 1_200).unwrap();
        let expanded = set.isr_to_expand(30).unwrap();
        set.propose_isr(expanded);
        assert_eq!(set.isr_to_expand(30), None);
        assert_eq!(set.isr_to_shrink(40, 1_000_000, LAG_MAX_MS), None);
        // The proposed member holds the high watermark before it commits.
        set.record_fetch(2, 40, 40, 1_300).unwrap();
        assert_eq!(set.high_watermark(40), 30);
        // The image commits it at a new partition epoch.
        let mut committed = assignment(&[1, 2, 3], &[1, 2, 3]);
        committed.partition_epoch = 6;
        set.apply(&committed, 1_400);
        assert_eq!(set.proposed_isr(), None);
        assert_eq!(set.isr(), &[1, 2, 3]);
        assert_eq!(set.partition_epoch(), 6);
    }

    #[test]
    fn a_shrink_in_flight_still_waits_for_the_follower_it_drops() {
        let mut set = three_replicas();
        set.record_fetch(2, 20, 20, 1_100).unwrap();
        set.record_fetch(3, 12, 20, 1_100).unwrap();
        assert_eq!(set.high_watermark(20), 12);
        // Follower 3 has not caught up for longer than the lag time.
        let shrunk = set
            .isr_to_shrink(20, 1_101 + LAG_MAX_MS, LAG_MAX_MS)
            .unwrap();
        assert_eq!(shrunk, vec![1, 2]);
        set.propose_isr(shrunk);
        // Until the controller commits it, 3 is in the maximal ISR.
        set.record_fetch(2, 25, 25, 31_200).unwrap();
        assert_eq!(set.high_watermark(25), 12);
        let mut committed = assignment(&[1, 2, 3], &[1, 2]);
        committed.partition_epoch = 6;
        set.apply(&committed, 31_300);
        assert_eq!(set.high_watermark(25), 25);
        assert!(set.check_enough_replicas(3).is_err());
    }

    #[test]
    fn a_follower_joins_once_it_reaches_the_high_watermark_not_the_log_end() {
        let mut set = ReplicaSet::new(&assignment(&[1, 2, 3], &[1, 2]), 3, 10, 10, 1_000);
        set.record_fetch(2, 18, 30, 1_100).unwrap();
        let hw = set.high_watermark(30);
        assert_eq!(hw, 18);
        set.record_fetch(3, 17, 30, 1_100).unwrap();
        assert_eq!(set.isr_to_expand(hw), None);
        set.record_fetch(3, 18, 30, 1_200).unwrap();
        assert_eq!(set.isr_to_expand(hw), Some(vec![1, 2, 3]));
    }

    #[test]
    fn an_abandoned_proposal_allows_the_next_one() {
        let mut set = three_replicas();
        set.propose_isr(vec![1, 2]);
        assert_eq!(set.isr_to_shrink(20, 1_000_000, LAG_MAX_MS), None);
        set.abandon_proposed_isr();
        assert_eq!(set.isr_to_shrink(20, 1_000_000, LAG_MAX_MS), Some(vec![1]));
    }

    #[test]
    fn an_isr_smaller_than_min_insync_replicas_refuses_acks_all() {
        let set = ReplicaSet::new(&assignment(&[1, 2, 3], &[1, 2]), 3, 10, 10, 1_000);
        assert!(set.check_enough_replicas(2).is_ok());
        assert!(matches!(
            set.check_enough_replicas(3),
            Err(ReplicationError::NotEnoughReplicas {
                isr_size: 2,
                min_insync_replicas: 3
            })
        ));
        assert!(matches!(
            set.check_enough_replicas_after_append(3),
            Err(ReplicationError::NotEnoughReplicasAfterAppend {
                isr_size: 2,
                min_insync_replicas: 3
            })
        ));
        assert!(set.check_enough_replicas_after_append(2).is_ok());
    }

    #[test]
    fn fetches_from_unknown_brokers_or_past_the_log_end_are_refused() {
        let mut set = three_replicas();
        assert!(matches!(
            set.record_fetch(9, 10, 20, 1_100),
            Err(ReplicationError::NotAReplica { broker: 9 })
        ));
        assert!(matches!(
            set.record_fetch(2, 21, 20, 1_100),
            Err(ReplicationError::FetchOffsetBeyondLogEnd { .. })
        ));
        // The leader is not one of its followers.
        assert!(matches!(
            set.record_fetch(1, 10, 20, 1_100),
            Err(ReplicationError::NotAReplica { broker: 1 })
        ));
    }

    #[test]
    fn a_follower_is_isr_eligible_only_under_the_broker_epoch_it_fetched_with() {
        let mut set = three_replicas();
        // No fetch yet in this leader epoch: not eligible, proposed as -1.
        assert!(!set.broker_epoch_isr_eligible(2, Some(40)));
        assert_eq!(set.fetched_broker_epoch(2), -1);
        set.record_fetch(2, 20, 20, 1_100).unwrap();
        set.record_broker_epoch(2, 40);
        assert!(set.broker_epoch_isr_eligible(2, Some(40)));
        assert_eq!(set.fetched_broker_epoch(2), 40);
        // It restarted and registered again (epoch 55): what the old
        // incarnation fetched does not count, until it fetches as the new one.
        assert!(!set.broker_epoch_isr_eligible(2, Some(55)));
        assert!(!set.broker_epoch_isr_eligible(2, None));
        set.record_fetch(2, 0, 20, 1_200).unwrap();
        set.record_broker_epoch(2, 55);
        assert!(set.broker_epoch_isr_eligible(2, Some(55)));
        // A fetch below v15 carries no epoch: not checked, as in Kafka.
        assert!(!set.broker_epoch_isr_eligible(3, Some(60)));
        set.record_fetch(3, 20, 20, 1_200).unwrap();
        set.record_broker_epoch(3, -1);
        assert!(set.broker_epoch_isr_eligible(3, Some(60)));
        // A new leader epoch forgets them.
        let fresh = three_replicas();
        assert_eq!(fresh.fetched_broker_epoch(2), -1);
    }

    #[test]
    fn followers_keep_their_state_across_an_isr_change_and_new_ones_start_unknown() {
        let mut set = three_replicas();
        set.record_fetch(2, 20, 20, 1_100).unwrap();
        let mut next = assignment(&[1, 2, 4], &[1, 2]);
        next.partition_epoch = 6;
        set.apply(&next, 2_000);
        let followers = set.followers();
        assert_eq!(followers.len(), 2);
        assert_eq!((followers[0].broker, followers[0].log_end_offset), (2, 20));
        assert_eq!((followers[1].broker, followers[1].log_end_offset), (4, -1));
        assert_eq!(followers[1].last_caught_up_ms, 0);
    }

    /// One step of a leader's life: an append made durable up to a point,
    /// a follower fetch, or an image changing the ISR.
    #[derive(Debug, Clone)]
    enum Step {
        Append { records: i64, durable_lag: i64 },
        Fetch { follower: usize, advance: i64 },
        Isr { with_2: bool, with_3: bool },
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            (1..5i64, 0..5i64).prop_map(|(records, durable_lag)| Step::Append {
                records,
                durable_lag
            }),
            (0..2usize, 0..6i64).prop_map(|(follower, advance)| Step::Fetch { follower, advance }),
            (any::<bool>(), any::<bool>())
                .prop_map(|(with_2, with_3)| Step::Isr { with_2, with_3 }),
        ]
    }

    proptest::proptest! {
        /// Against a model: the high watermark never moves backwards,
        /// never passes the leader's durable end offset, and once every
        /// ISR follower has fetched it is exactly the larger of its last
        /// value and the ISR minimum.
        #[test]
        fn the_high_watermark_follows_the_isr_minimum_and_never_moves_backwards(
            steps in proptest::collection::vec(step(), 1..60),
        ) {
            let mut set = three_replicas();
            let (mut log_end, mut durable) = (10i64, 10i64);
            let mut follower_ends = [UNKNOWN_OFFSET; 2];
            let mut isr = vec![1, 2, 3];
            let mut partition_epoch = 5;
            let mut now = 1_000;
            let mut last_hw = set.high_watermark(durable);
            for step in steps {
                now += 10;
                match step {
                    Step::Append { records, durable_lag } => {
                        log_end += records;
                        durable = durable.max(log_end - durable_lag);
                    }
                    Step::Fetch { follower, advance } => {
                        let from = follower_ends[follower].max(10);
                        let offset = (from + advance).min(log_end);
                        let broker = follower as BrokerId + 2;
                        set.record_fetch(broker, offset, log_end, now).unwrap();
                        follower_ends[follower] = offset;
                    }
                    Step::Isr { with_2, with_3 } => {
                        isr = std::iter::once(1)
                            .chain(with_2.then_some(2))
                            .chain(with_3.then_some(3))
                            .collect();
                        partition_epoch += 1;
                        let mut next = assignment(&[1, 2, 3], &isr);
                        next.partition_epoch = partition_epoch;
                        set.apply(&next, now);
                    }
                }
                let hw = set.high_watermark(durable);
                proptest::prop_assert!(hw >= last_hw);
                proptest::prop_assert!(hw <= durable);
                let isr_ends: Vec<i64> = isr
                    .iter()
                    .filter(|b| **b != 1)
                    .map(|b| follower_ends[(*b - 2) as usize])
                    .collect();
                if isr_ends.iter().all(|end| *end >= 0) {
                    let floor = isr_ends.iter().copied().min().unwrap_or(i64::MAX);
                    proptest::prop_assert_eq!(hw, last_hw.max(durable.min(floor)));
                }
                if let Some(shrunk) = set.isr_to_shrink(log_end, now, LAG_MAX_MS) {
                    proptest::prop_assert!(shrunk.contains(&1));
                    proptest::prop_assert!(shrunk.len() < isr.len());
                }
                if let Some(expanded) = set.isr_to_expand(hw) {
                    proptest::prop_assert!(isr.iter().all(|b| expanded.contains(b)));
                    proptest::prop_assert!(expanded.len() > isr.len());
                }
                last_hw = hw;
            }
        }
    }
}
