//! One member of a consumer group (KIP-848, Kafka's `ConsumerGroupMember`)
//! and its reconciliation towards the group's target assignment (Kafka's
//! `CurrentAssignmentBuilder`).
//!
//! Invariants: a partition is in `assigned` or `pending_revocation`, never
//! both; a member in [`MemberState::UnrevokedPartitions`] has something
//! pending revocation and no other state does; a partition still owned by
//! another member (its epoch in the group's ownership map is not -1) is
//! never added to `assigned` — that is how "revoked before reassigned" holds.

use std::collections::{BTreeMap, BTreeSet};

use super::assignor::Assignment;
use crate::TopicId;

/// The member epoch a member sends to leave the group.
pub const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;
/// The member epoch a static member sends to leave temporarily.
pub const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;

/// Where a member is in its reconciliation (Kafka's `MemberState`, with its
/// stored byte values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberState {
    /// Reconciled to its epoch's target.
    Stable,
    /// Waiting for the member to acknowledge revoked partitions.
    UnrevokedPartitions,
    /// Waiting for other members to release partitions it should get.
    UnreleasedPartitions,
    /// A state written by a newer coordinator.
    Unknown,
}

impl MemberState {
    /// The stored byte (`ConsumerGroupCurrentMemberAssignmentValue.State`).
    pub fn value(self) -> i8 {
        match self {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
            MemberState::Unknown => 127,
        }
    }

    /// The state stored as `value`.
    pub fn from_value(value: i8) -> MemberState {
        match value {
            0 => MemberState::Stable,
            1 => MemberState::UnrevokedPartitions,
            2 => MemberState::UnreleasedPartitions,
            _ => MemberState::Unknown,
        }
    }
}

/// A consumer group member.
///
/// Lives on: the control shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsumerMember {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) rack_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    /// Sorted, without duplicates.
    pub(crate) subscribed_topic_names: Vec<String>,
    pub(crate) subscribed_topic_regex: Option<String>,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) server_assignor: Option<String>,
    pub(crate) member_epoch: i32,
    pub(crate) previous_member_epoch: i32,
    pub(crate) state: MemberState,
    pub(crate) assigned: Assignment,
    pub(crate) pending_revocation: Assignment,
}

/// The member's timers; not part of its persisted state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MemberTimers {
    /// When the session expires unless a heartbeat comes.
    pub(crate) session_deadline_ms: Option<i64>,
    /// When the member is fenced if it still has not revoked what it was
    /// asked to at `epoch`.
    pub(crate) rebalance_deadline: Option<(i64, i32)>,
}

impl ConsumerMember {
    /// A member that has just joined: epoch 0, nothing assigned.
    pub(crate) fn new(member_id: String) -> Self {
        Self {
            member_id,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            subscribed_topic_names: Vec::new(),
            subscribed_topic_regex: None,
            rebalance_timeout_ms: -1,
            server_assignor: None,
            member_epoch: 0,
            previous_member_epoch: 0,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
        }
    }

    /// Kafka's `isReconciledTo`.
    pub(crate) fn is_reconciled_to(&self, epoch: i32) -> bool {
        self.state == MemberState::Stable && self.member_epoch == epoch
    }

    /// Sets the epoch, remembering the one before (Kafka's
    /// `updateMemberEpoch`).
    fn update_epoch(&mut self, epoch: i32) {
        self.previous_member_epoch = self.member_epoch;
        self.member_epoch = epoch;
    }

    /// Every partition it owns: assigned or still to be revoked.
    pub(crate) fn owned(&self) -> impl Iterator<Item = (TopicId, i32)> + '_ {
        self.assigned
            .iter()
            .chain(&self.pending_revocation)
            .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
    }

    /// Reconciles towards `target` at `target_epoch` (Kafka's
    /// `CurrentAssignmentBuilder.build`). `is_owned(t, p)` says whether some
    /// member owns the partition now (Kafka's partition epoch is not -1;
    /// this member's own partitions count). `owned` is what the
    /// client reported owning (`None` if it did not say).
    ///
    /// # Errors
    /// `Err(())` when the member is in a state this coordinator does not
    /// know and still owns partitions: Kafka fences it
    /// (FENCED_MEMBER_EPOCH).
    pub(crate) fn reconcile(
        &self,
        target_epoch: i32,
        target: &Assignment,
        is_owned: impl Fn(&TopicId, i32) -> bool,
        owned: Option<&Assignment>,
    ) -> Result<ConsumerMember, ()> {
        match self.state {
            MemberState::Stable if self.member_epoch == target_epoch => Ok(self.clone()),
            MemberState::Stable | MemberState::UnreleasedPartitions => {
                Ok(self.next_assignment(self.member_epoch, target_epoch, target, &is_owned, owned))
            }
            MemberState::UnrevokedPartitions => {
                if owns_any(owned, &self.pending_revocation) {
                    Ok(self.clone())
                } else {
                    Ok(self.next_assignment(
                        self.member_epoch + 1,
                        target_epoch,
                        target,
                        &is_owned,
                        owned,
                    ))
                }
            }
            MemberState::Unknown => {
                if owned.is_none_or(|o| !o.is_empty()) {
                    Err(())
                } else {
                    Ok(self.next_assignment(target_epoch, target_epoch, target, &is_owned, owned))
                }
            }
        }
    }

    /// Kafka's `computeNextAssignment`.
    fn next_assignment(
        &self,
        member_epoch: i32,
        target_epoch: i32,
        target: &Assignment,
        is_owned: &impl Fn(&TopicId, i32) -> bool,
        owned: Option<&Assignment>,
    ) -> ConsumerMember {
        let mut has_unreleased = false;
        let mut new_assigned = Assignment::new();
        let mut new_revoking = Assignment::new();
        let mut new_pending_assignment = Assignment::new();
        let topics: BTreeSet<&TopicId> = target.keys().chain(self.assigned.keys()).collect();
        let empty = BTreeSet::new();
        for topic in topics {
            let wanted = target.get(topic).unwrap_or(&empty);
            let current = self.assigned.get(topic).unwrap_or(&empty);
            let kept: BTreeSet<i32> = current.intersection(wanted).copied().collect();
            let revoking: BTreeSet<i32> = current.difference(&kept).copied().collect();
            let mut pending: BTreeSet<i32> = wanted.difference(&kept).copied().collect();
            let before = pending.len();
            pending.retain(|p| !is_owned(topic, *p));
            has_unreleased |= pending.len() != before;
            if !kept.is_empty() {
                new_assigned.insert(*topic, kept);
            }
            if !revoking.is_empty() {
                new_revoking.insert(*topic, revoking);
            }
            if !pending.is_empty() {
                new_pending_assignment.insert(*topic, pending);
            }
        }
        let mut next = self.clone();
        if !new_revoking.is_empty() && owns_any(owned, &new_revoking) {
            next.state = MemberState::UnrevokedPartitions;
            next.update_epoch(member_epoch);
            next.assigned = new_assigned;
            next.pending_revocation = new_revoking;
            return next;
        }
        for (topic, ps) in new_pending_assignment {
            new_assigned.entry(topic).or_default().extend(ps);
        }
        next.state = if has_unreleased {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        };
        next.update_epoch(target_epoch);
        next.assigned = new_assigned;
        next.pending_revocation = Assignment::new();
        next
    }
}

/// Whether the client's `owned` partitions include any of `partitions`
/// (Kafka's `ownsRevokedPartitions`: a client that did not say owns them).
fn owns_any(owned: Option<&Assignment>, partitions: &Assignment) -> bool {
    let Some(owned) = owned else { return true };
    owned.iter().any(|(topic, ps)| {
        partitions
            .get(topic)
            .is_some_and(|revoking| ps.iter().any(|p| revoking.contains(p)))
    })
}

/// Whether every partition in `owned` is in `assigned` (Kafka's `isSubset`;
/// `None` is not a subset).
pub(crate) fn is_subset(owned: Option<&Assignment>, assigned: &Assignment) -> bool {
    let Some(owned) = owned else { return false };
    owned.iter().all(|(topic, ps)| {
        ps.is_empty()
            || assigned
                .get(topic)
                .is_some_and(|a| ps.iter().all(|p| a.contains(p)))
    })
}

/// Builds an [`Assignment`] from (topic, partitions) pairs.
pub(crate) fn assignment_of(pairs: impl IntoIterator<Item = (TopicId, Vec<i32>)>) -> Assignment {
    let mut a = Assignment::new();
    for (topic, ps) in pairs {
        a.entry(topic).or_default().extend(ps);
    }
    a.retain(|_, ps| !ps.is_empty());
    a
}

/// An ownership map: (topic, partition) → the owning member's epoch.
pub(crate) type PartitionEpochs = BTreeMap<(TopicId, i32), i32>;

#[cfg(test)]
mod tests {
    use super::*;

    const T: TopicId = [7; 16];

    fn a(ps: &[i32]) -> Assignment {
        assignment_of([(T, ps.to_vec())])
    }

    fn stable(epoch: i32, ps: &[i32]) -> ConsumerMember {
        let mut m = ConsumerMember::new("m".into());
        m.member_epoch = epoch;
        m.assigned = a(ps);
        m
    }

    #[test]
    fn partitions_to_revoke_keep_the_epoch_until_the_member_acknowledges() {
        let m = stable(3, &[0, 1, 2]);
        let next = m
            .reconcile(4, &a(&[0]), |_, _| false, Some(&a(&[0, 1, 2])))
            .unwrap();
        assert_eq!(next.state, MemberState::UnrevokedPartitions);
        assert_eq!(next.member_epoch, 3);
        assert_eq!(next.assigned, a(&[0]));
        assert_eq!(next.pending_revocation, a(&[1, 2]));
        // Still owning 1: no progress.
        let same = next
            .reconcile(4, &a(&[0]), |_, _| false, Some(&a(&[0, 1])))
            .unwrap();
        assert_eq!(same, next);
        // Acknowledged: the target epoch.
        let done = next
            .reconcile(4, &a(&[0]), |_, _| false, Some(&a(&[0])))
            .unwrap();
        assert_eq!(done.state, MemberState::Stable);
        assert_eq!(done.member_epoch, 4);
        assert_eq!(done.previous_member_epoch, 3);
        assert!(done.pending_revocation.is_empty());
    }

    #[test]
    fn a_partition_still_owned_elsewhere_is_not_assigned_yet() {
        let m = stable(3, &[0]);
        let owner = |_: &TopicId, p: i32| p == 1;
        let next = m
            .reconcile(4, &a(&[0, 1, 2]), owner, Some(&a(&[0])))
            .unwrap();
        assert_eq!(next.state, MemberState::UnreleasedPartitions);
        assert_eq!(next.member_epoch, 4);
        assert_eq!(next.assigned, a(&[0, 2]));
        let released = next
            .reconcile(4, &a(&[0, 1, 2]), |_, _| false, Some(&a(&[0, 2])))
            .unwrap();
        assert_eq!(released.state, MemberState::Stable);
        assert_eq!(released.assigned, a(&[0, 1, 2]));
    }

    #[test]
    fn previous_epoch_subset_check() {
        assert!(is_subset(Some(&a(&[1])), &a(&[1, 2])));
        assert!(!is_subset(Some(&a(&[3])), &a(&[1, 2])));
        assert!(!is_subset(None, &a(&[1])));
        assert!(is_subset(Some(&Assignment::new()), &a(&[1])));
    }
}
