//! One consumer group of the KIP-848 protocol (Kafka's `ConsumerGroup`):
//! the group epoch, the members, the target assignment and its epoch, the
//! subscribed topics' metadata, and who owns each partition right now.
//!
//! Invariants: `partition_epochs` holds exactly the partitions members own
//! (assigned or pending revocation) with the owner's member epoch, so no
//! partition has two owners; `assignment_epoch <= group_epoch`;
//! `static_members` maps each instance id to the member holding it.

use std::collections::{BTreeMap, BTreeSet};

use super::assignor::Assignment;
use super::consumer_member::{ConsumerMember, MemberTimers, PartitionEpochs};
use crate::TopicId;

/// A topic as the coordinator sees it in the metadata image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicMetadata {
    /// The topic id.
    pub topic_id: TopicId,
    /// Its partition count.
    pub partitions: i32,
}

/// A consumer group's state, as Kafka names it (ListGroups,
/// ConsumerGroupDescribe).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsumerGroupState {
    /// No members.
    Empty,
    /// The group epoch moved past the target assignment's.
    Assigning,
    /// Some member is not reconciled to the target assignment.
    Reconciling,
    /// Every member is reconciled.
    Stable,
    /// Deleted.
    Dead,
}

impl ConsumerGroupState {
    /// Kafka's name: `Empty`, `Assigning`, `Reconciling`, `Stable`, `Dead`.
    pub fn kafka_name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
            ConsumerGroupState::Dead => "Dead",
        }
    }
}

/// A consumer group.
///
/// Lives on: the control shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsumerGroup {
    pub(crate) group_id: String,
    pub(crate) group_epoch: i32,
    pub(crate) assignment_epoch: i32,
    pub(crate) members: BTreeMap<String, ConsumerMember>,
    pub(crate) timers: BTreeMap<String, MemberTimers>,
    pub(crate) static_members: BTreeMap<String, String>,
    pub(crate) target: BTreeMap<String, Assignment>,
    /// Subscribed topic name → its metadata when the group epoch last moved.
    pub(crate) subscription_metadata: BTreeMap<String, TopicMetadata>,
    pub(crate) partition_epochs: PartitionEpochs,
}

impl ConsumerGroup {
    pub(crate) fn new(group_id: String) -> Self {
        Self {
            group_id,
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            timers: BTreeMap::new(),
            static_members: BTreeMap::new(),
            target: BTreeMap::new(),
            subscription_metadata: BTreeMap::new(),
            partition_epochs: PartitionEpochs::new(),
        }
    }

    /// Kafka's `maybeUpdateGroupState`, computed on demand.
    pub(crate) fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| !m.is_reconciled_to(self.assignment_epoch))
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// Whether a member owns `topic`/`partition` (assigned or still to be
    /// revoked).
    pub(crate) fn is_owned(&self, topic: &TopicId, partition: i32) -> bool {
        self.partition_epochs.contains_key(&(*topic, partition))
    }

    /// Inserts or replaces a member, keeping the ownership map and the
    /// static-member index in step.
    pub(crate) fn put_member(&mut self, member: ConsumerMember) {
        if let Some(old) = self.members.get(&member.member_id) {
            for tp in old.owned().collect::<Vec<_>>() {
                self.partition_epochs.remove(&tp);
            }
            // A member that rejoined without its instance id gives it up.
            if let Some(instance_id) = old.instance_id.clone() {
                let holds = self.static_members.get(&instance_id) == Some(&member.member_id);
                if holds && member.instance_id.as_ref() != Some(&instance_id) {
                    self.static_members.remove(&instance_id);
                }
            }
        }
        for tp in member.owned() {
            let previous = self.partition_epochs.insert(tp, member.member_epoch);
            // Kafka's addPartitionEpochs: a partition has one owner.
            assert!(
                previous.is_none(),
                "partition {tp:?} of group {} owned twice",
                self.group_id
            );
        }
        if let Some(instance_id) = &member.instance_id {
            self.static_members
                .insert(instance_id.clone(), member.member_id.clone());
        }
        self.members.insert(member.member_id.clone(), member);
    }

    /// Removes a member (and its target assignment, timers and
    /// partitions); returns it.
    pub(crate) fn remove_member(&mut self, member_id: &str) -> Option<ConsumerMember> {
        let member = self.members.remove(member_id)?;
        for tp in member.owned() {
            self.partition_epochs.remove(&tp);
        }
        if let Some(instance_id) = &member.instance_id {
            if self.static_members.get(instance_id).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance_id);
            }
        }
        self.target.remove(member_id);
        self.timers.remove(member_id);
        Some(member)
    }

    /// The member holding `instance_id`.
    pub(crate) fn static_member(&self, instance_id: &str) -> Option<&ConsumerMember> {
        self.static_members
            .get(instance_id)
            .and_then(|id| self.members.get(id))
    }

    /// Topic names the members subscribe to, by name or regex, with
    /// `updated` in place of the member with its id (or `removed` taken
    /// out). `regex_topics(member)` resolves a member's regex.
    pub(crate) fn subscribed_topics(
        &self,
        updated: Option<&ConsumerMember>,
        removed: Option<&str>,
        resolve: impl Fn(&ConsumerMember) -> BTreeSet<String>,
    ) -> BTreeSet<String> {
        let mut topics = BTreeSet::new();
        for member in self.members.values() {
            let replaced = updated.is_some_and(|u| u.member_id == member.member_id)
                || removed == Some(member.member_id.as_str());
            if !replaced {
                topics.extend(resolve(member));
            }
        }
        if let Some(u) = updated {
            topics.extend(resolve(u));
        }
        topics
    }

    /// The server assignor most members ask for (Kafka's
    /// `computePreferredServerAssignor`), if any asks.
    pub(crate) fn preferred_assignor(&self) -> Option<String> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for member in self.members.values() {
            if let Some(a) = &member.server_assignor {
                *counts.entry(a.as_str()).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .max_by_key(|(name, count)| (*count, std::cmp::Reverse(*name)))
            .map(|(name, _)| name.to_owned())
    }

    /// Checks the invariants (O(partitions)); debug builds call it after
    /// each change.
    ///
    /// # Panics
    /// On a broken invariant: a coordinator bug.
    pub(crate) fn check_invariants(&self) {
        let mut owned = PartitionEpochs::new();
        for member in self.members.values() {
            for tp in member.owned() {
                assert!(
                    owned.insert(tp, member.member_epoch).is_none(),
                    "partition owned twice"
                );
            }
        }
        assert_eq!(owned, self.partition_epochs);
        assert!(self.assignment_epoch <= self.group_epoch);
        for (instance, member_id) in &self.static_members {
            let member = self.members.get(member_id).expect("static member exists");
            assert_eq!(member.instance_id.as_deref(), Some(instance.as_str()));
        }
    }
}
