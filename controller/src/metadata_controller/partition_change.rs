//! Partition changes and leader election: given a partition's state, a
//! target ISR (or replica list) and which brokers may lead, the one
//! `PartitionChange` record that gets there, or none if nothing changes.
//! Kafka's `PartitionChangeBuilder`, without the eligible leader replicas
//! of KIP-966.
//!
//! Election: a leader that is in the target ISR and may lead stays (unless
//! the preferred replica is asked for); otherwise the first replica, in
//! replica order, that is in the target ISR and may lead. None such: with
//! unclean election, the first replica that may lead, with an ISR of itself
//! alone; otherwise no leader (-1). An ISR that would become empty is left
//! as it was, so the last in-sync replica leads again when it returns.
//!
//! Reassignment (KIP-455): every change first completes a reassignment in
//! progress whose adding replicas are all in the target ISR — replicas
//! become the target, the removing ones leave the ISR, and the leader moves
//! if it was one of them — unless that would leave the ISR empty (Kafka's
//! `completeReassignmentIfNeeded`).

use crate::metadata_record::{MetadataRecord, TopicId, NO_LEADER};
use crate::partition_state::PartitionState;

/// Which kind of election a change runs when its leader cannot stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// Keep a valid leader; else the first valid replica. Unclean only when
    /// the topic allows it.
    Online,
    /// The preferred (first) replica if valid (Kafka's `PREFERRED`).
    Preferred,
    /// As `Online`, but a replica outside the ISR may lead when no ISR
    /// member can (Kafka's `UNCLEAN`).
    Unclean,
}

/// The change to one partition, being built.
pub(super) struct PartitionChange<'a> {
    state: &'a PartitionState,
    topic_id: TopicId,
    partition: i32,
    target_isr: Vec<i32>,
    target_replicas: Vec<i32>,
    target_adding: Vec<i32>,
    target_removing: Vec<i32>,
    election: ElectionType,
    unclean_allowed: bool,
}

impl<'a> PartitionChange<'a> {
    /// A change that, as it stands, changes nothing.
    pub(super) fn new(
        state: &'a PartitionState,
        topic_id: TopicId,
        partition: i32,
    ) -> PartitionChange<'a> {
        PartitionChange {
            state,
            topic_id,
            partition,
            target_isr: state.isr.clone(),
            target_replicas: state.replicas.clone(),
            target_adding: state.adding_replicas.clone(),
            target_removing: state.removing_replicas.clone(),
            election: ElectionType::Online,
            unclean_allowed: false,
        }
    }

    /// Sets the ISR to reach.
    pub(super) fn isr(mut self, isr: Vec<i32>) -> Self {
        self.target_isr = isr;
        self
    }

    /// Sets the replicas to reach, with the reassignment's adding and
    /// removing replicas (both empty: no reassignment in progress).
    pub(super) fn replicas(
        mut self,
        replicas: Vec<i32>,
        adding: Vec<i32>,
        removing: Vec<i32>,
    ) -> Self {
        debug_assert!(adding.iter().all(|broker| replicas.contains(broker)));
        debug_assert!(removing.iter().all(|broker| replicas.contains(broker)));
        self.target_replicas = replicas;
        self.target_adding = adding;
        self.target_removing = removing;
        self
    }

    /// Sets the kind of election.
    pub(super) fn election(mut self, election: ElectionType) -> Self {
        self.election = election;
        self
    }

    /// Allows an unclean election (`unclean.leader.election.enable`).
    pub(super) fn unclean_allowed(mut self, allowed: bool) -> Self {
        self.unclean_allowed = allowed;
        self
    }

    /// The record that makes the change, electing a leader if needed among
    /// the brokers `may_lead` accepts (registered, unfenced, not shutting
    /// down); `None` when nothing changes.
    pub(super) fn build(mut self, may_lead: impl Fn(i32) -> bool) -> Option<MetadataRecord> {
        self.complete_reassignment_if_caught_up();
        let valid = |broker: i32| self.target_isr.contains(&broker) && may_lead(broker);
        let mut isr = self.target_isr.clone();
        let leader_stays = self.state.leader != NO_LEADER && valid(self.state.leader);
        let preferred = self.target_replicas.first().copied();
        let leader = match self.election {
            ElectionType::Preferred => match preferred.filter(|p| valid(*p)) {
                Some(preferred) => preferred,
                None if leader_stays => self.state.leader,
                None => self.first_valid(&valid).unwrap_or(NO_LEADER),
            },
            ElectionType::Online | ElectionType::Unclean if leader_stays => self.state.leader,
            ElectionType::Online | ElectionType::Unclean => match self.first_valid(&valid) {
                Some(leader) => leader,
                None => {
                    let unclean = self.unclean_allowed || self.election == ElectionType::Unclean;
                    match self
                        .target_replicas
                        .iter()
                        .copied()
                        .find(|broker| unclean && may_lead(*broker))
                    {
                        Some(leader) => {
                            tracing::warn!(
                                partition = self.partition,
                                leader,
                                "unclean leader election: records may be lost"
                            );
                            isr = vec![leader];
                            leader
                        }
                        None => NO_LEADER,
                    }
                }
            },
        };
        if isr.is_empty() {
            // Kafka keeps the last ISR of an offline partition, so that the
            // replica that was last in sync leads again when it returns
            // (less any replica a cancelled reassignment took away).
            isr = self
                .state
                .isr
                .iter()
                .copied()
                .filter(|broker| self.target_replicas.contains(broker))
                .collect();
        }
        debug_assert!(leader == NO_LEADER || isr.contains(&leader));
        let isr = (isr != self.state.isr).then_some(isr);
        let replicas =
            (self.target_replicas != self.state.replicas).then_some(self.target_replicas);
        let leader = (leader != self.state.leader).then_some(leader);
        let adding_replicas =
            (self.target_adding != self.state.adding_replicas).then_some(self.target_adding);
        let removing_replicas =
            (self.target_removing != self.state.removing_replicas).then_some(self.target_removing);
        if isr.is_none()
            && leader.is_none()
            && replicas.is_none()
            && adding_replicas.is_none()
            && removing_replicas.is_none()
        {
            return None;
        }
        Some(MetadataRecord::PartitionChange {
            topic_id: self.topic_id,
            partition: self.partition,
            isr,
            leader,
            replicas,
            adding_replicas,
            removing_replicas,
        })
    }

    /// Completes the reassignment being built if every adding replica is
    /// in the target ISR and the ISR keeps a member without the removing
    /// replicas.
    fn complete_reassignment_if_caught_up(&mut self) {
        if self.target_adding.is_empty() && self.target_removing.is_empty() {
            return;
        }
        if !self
            .target_adding
            .iter()
            .all(|broker| self.target_isr.contains(broker))
        {
            return;
        }
        let removing = &self.target_removing;
        let isr: Vec<i32> = self
            .target_isr
            .iter()
            .copied()
            .filter(|broker| !removing.contains(broker))
            .collect();
        if isr.is_empty() {
            return;
        }
        self.target_replicas
            .retain(|broker| !removing.contains(broker));
        self.target_isr = isr;
        self.target_adding.clear();
        self.target_removing.clear();
        debug_assert!(!self.target_replicas.is_empty());
    }

    fn first_valid(&self, valid: &impl Fn(i32) -> bool) -> Option<i32> {
        self.target_replicas
            .iter()
            .copied()
            .find(|broker| valid(*broker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionState {
        PartitionState {
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader,
            leader_epoch: 4,
            partition_epoch: 7,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    }

    fn change(record: Option<MetadataRecord>) -> (Option<Vec<i32>>, Option<i32>) {
        match record {
            Some(MetadataRecord::PartitionChange { isr, leader, .. }) => (isr, leader),
            None => (None, None),
            other => panic!("not a partition change: {other:?}"),
        }
    }

    #[test]
    fn valid_leader_stays_when_a_follower_leaves_the_isr() {
        let state = state(&[1, 2, 3], &[1, 2, 3], 1);
        let record = PartitionChange::new(&state, [0; 16], 0)
            .isr(vec![1, 3])
            .build(|_| true);
        assert_eq!(change(record), (Some(vec![1, 3]), None));
    }

    #[test]
    fn fenced_leader_is_replaced_by_the_first_valid_replica_in_replica_order() {
        let state = state(&[1, 2, 3], &[3, 2, 1], 1);
        let record = PartitionChange::new(&state, [0; 16], 0)
            .isr(vec![3, 2])
            .build(|broker| broker != 1);
        assert_eq!(change(record), (Some(vec![3, 2]), Some(2)));
    }

    #[test]
    fn last_isr_member_leaving_makes_the_partition_offline_with_its_isr_kept() {
        let state = state(&[1, 2], &[1], 1);
        let record = PartitionChange::new(&state, [0; 16], 0)
            .isr(vec![])
            .build(|broker| broker != 1);
        assert_eq!(change(record), (None, Some(NO_LEADER)));
    }

    #[test]
    fn unclean_election_picks_a_live_replica_outside_the_isr_only_when_allowed() {
        let state = state(&[1, 2], &[1], NO_LEADER);
        let clean = PartitionChange::new(&state, [0; 16], 0).build(|broker| broker == 2);
        assert_eq!(change(clean), (None, None));
        let unclean = PartitionChange::new(&state, [0; 16], 0)
            .unclean_allowed(true)
            .build(|broker| broker == 2);
        assert_eq!(change(unclean), (Some(vec![2]), Some(2)));
    }

    #[test]
    fn preferred_election_moves_leadership_to_the_first_replica_when_valid() {
        let state = state(&[1, 2], &[1, 2], 2);
        let preferred = PartitionChange::new(&state, [0; 16], 0)
            .election(ElectionType::Preferred)
            .build(|_| true);
        assert_eq!(change(preferred), (None, Some(1)));
        let unavailable = PartitionChange::new(&state, [0; 16], 0)
            .election(ElectionType::Preferred)
            .build(|broker| broker != 1);
        assert_eq!(change(unavailable), (None, None));
    }
}
