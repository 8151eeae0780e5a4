//! The consumer group protocol (KIP-848) in the coordinator: Kafka's
//! `GroupMetadataManager.consumerGroupHeartbeat` and its leave, session and
//! rebalance timeouts, ConsumerGroupDescribe, and the replay of the
//! protocol's `__consumer_offsets` records.
//!
//! A heartbeat is validated completely before anything changes (every
//! error leaves the group as it was); then the member is updated, the group
//! epoch bumped if the subscriptions or the subscribed topics changed, the
//! target assignment recomputed if the group epoch moved past it, and the
//! member reconciled towards its target. The records of those changes are
//! appended and the response is sent once they are durable.
//!
//! Offsets of a consumer group live in a classic [`Group`] of the same id
//! with no members (an offsets holder), so OffsetCommit/Fetch/Delete and
//! offset expiry are the classic code's.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{debug, info, warn};

use super::{GroupCoordinator, PendingPersist};
use crate::group_coordinator::action::{OffsetsRecord, RequestToken};
use crate::group_coordinator::assignor::{Assignment, ConsumerAssignor};
use crate::group_coordinator::consumer_group::{ConsumerGroup, ConsumerGroupState, TopicMetadata};
use crate::group_coordinator::consumer_member::{
    assignment_of, is_subset, ConsumerMember, MemberState, LEAVE_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
};
use crate::group_coordinator::consumer_record::{
    decode_epoch, decode_partition_metadata, decode_target_assignment, encode_epoch,
    encode_partition_metadata, encode_target_assignment, CurrentAssignmentValue,
    MemberMetadataValue,
};
use crate::group_coordinator::error::{GroupError, RecordError};
use crate::group_coordinator::group::{Group, GroupState};
use crate::group_coordinator::record::RecordKey;
use crate::group_coordinator::request::{ConsumerGroupDescribe, ConsumerGroupHeartbeat};
use crate::group_coordinator::response::{
    ConsumerGroupHeartbeatResponse, DescribedConsumerGroup, DescribedConsumerMember, Response,
};
use crate::TopicId;

/// Where the member a heartbeat speaks for comes from.
enum MemberSource {
    /// A member the group has.
    Existing(ConsumerMember),
    /// A member joining for the first time.
    New,
    /// A static member rejoining under a new member id: the old member
    /// (its id) is replaced by a copy with the new id.
    Replaces(String, ConsumerMember),
}

/// The records of one consumer group, gathered during a replay.
#[derive(Default)]
pub(super) struct LoadedConsumerGroup {
    epoch: Option<i32>,
    assignment_epoch: Option<i32>,
    subscription_metadata: Vec<(String, TopicMetadata)>,
    members: BTreeMap<String, MemberMetadataValue>,
    targets: BTreeMap<String, Assignment>,
    current: BTreeMap<String, CurrentAssignmentValue>,
}

impl LoadedConsumerGroup {
    /// Takes in the latest value of one consumer-group key; `Ok(false)` if
    /// the key is not one of the protocol's.
    pub(super) fn apply(&mut self, key: &RecordKey, value: &[u8]) -> Result<bool, RecordError> {
        match key {
            RecordKey::ConsumerGroupMetadata { .. } => self.epoch = Some(decode_epoch(value)?),
            RecordKey::ConsumerGroupTargetAssignmentMetadata { .. } => {
                self.assignment_epoch = Some(decode_epoch(value)?)
            }
            RecordKey::ConsumerGroupPartitionMetadata { .. } => {
                self.subscription_metadata = decode_partition_metadata(value)?
            }
            RecordKey::ConsumerGroupMemberMetadata { member_id, .. } => {
                self.members
                    .insert(member_id.clone(), MemberMetadataValue::decode(value)?);
            }
            RecordKey::ConsumerGroupTargetAssignmentMember { member_id, .. } => {
                self.targets
                    .insert(member_id.clone(), decode_target_assignment(value)?);
            }
            RecordKey::ConsumerGroupCurrentMemberAssignment { member_id, .. } => {
                self.current
                    .insert(member_id.clone(), CurrentAssignmentValue::decode(value)?);
            }
            RecordKey::OffsetCommit { .. }
            | RecordKey::GroupMetadata { .. }
            | RecordKey::Unknown { .. } => return Ok(false),
        }
        Ok(true)
    }

    /// The group these records describe, or `None` if its epoch record is
    /// gone (deleted). Members get a session from `now_ms`; a partition
    /// claimed by two members (not written by a correct coordinator) stays
    /// with the first.
    pub(super) fn build(
        self,
        group_id: String,
        now_ms: i64,
        session_timeout_ms: i32,
    ) -> Option<ConsumerGroup> {
        let epoch = self.epoch?;
        let mut group = ConsumerGroup::new(group_id);
        group.group_epoch = epoch;
        group.assignment_epoch = self.assignment_epoch.unwrap_or(0).min(epoch);
        group.subscription_metadata = self.subscription_metadata.into_iter().collect();
        let mut owned: BTreeSet<(TopicId, i32)> = BTreeSet::new();
        for (member_id, meta) in self.members {
            let mut member = ConsumerMember::new(member_id.clone());
            member.instance_id = meta.instance_id;
            member.rack_id = meta.rack_id;
            member.client_id = meta.client_id;
            member.client_host = meta.client_host;
            member.subscribed_topic_names = meta.subscribed_topic_names;
            member.subscribed_topic_regex = meta.subscribed_topic_regex;
            member.rebalance_timeout_ms = meta.rebalance_timeout_ms;
            member.server_assignor = meta.server_assignor;
            if let Some(current) = self.current.get(&member_id) {
                member.member_epoch = current.member_epoch;
                member.previous_member_epoch = current.previous_member_epoch;
                member.state = current.state;
                member.assigned = current.assigned.clone();
                member.pending_revocation = current.pending_revocation.clone();
            }
            for a in [&mut member.assigned, &mut member.pending_revocation] {
                for (topic, ps) in a.iter_mut() {
                    ps.retain(|p| {
                        let fresh = owned.insert((*topic, *p));
                        if !fresh {
                            warn!(group_id = %group.group_id, %member_id, partition = p, "partition stored as owned twice; keeping the first owner");
                        }
                        fresh
                    });
                }
                a.retain(|_, ps| !ps.is_empty());
            }
            if let Some(target) = self.targets.get(&member_id) {
                group.target.insert(member_id.clone(), target.clone());
            }
            group.put_member(member);
            let timers = group.timers.entry(member_id).or_default();
            timers.session_deadline_ms = Some(now_ms + i64::from(session_timeout_ms));
        }
        Some(group)
    }
}

impl GroupCoordinator {
    /// Replaces the topics the coordinator assigns from: every topic of the
    /// metadata image, by name. Call it with each published image; groups
    /// notice a change of their subscribed topics at their members' next
    /// heartbeat (their group epoch moves and partitions are reassigned).
    pub fn set_topics(&mut self, topics: impl IntoIterator<Item = (String, TopicMetadata)>) {
        let topics: BTreeMap<String, TopicMetadata> = topics.into_iter().collect();
        if topics != self.topics {
            self.topic_names = topics
                .iter()
                .map(|(name, t)| (t.topic_id, name.clone()))
                .collect();
            self.topics = topics;
            self.topics_version += 1;
        }
    }

    /// The state of consumer group `group_id`, if this node holds it.
    pub fn consumer_group_state(&self, group_id: &str) -> Option<ConsumerGroupState> {
        self.consumer_groups.get(group_id).map(ConsumerGroup::state)
    }

    pub(super) fn consumer_group_heartbeat(
        &mut self,
        now_ms: i64,
        token: RequestToken,
        req: ConsumerGroupHeartbeat,
    ) {
        let group_id = req.group_id.clone();
        match self.do_consumer_group_heartbeat(now_ms, req) {
            Err(e) => self.respond(token, Response::ConsumerGroupHeartbeat(Err(e))),
            Ok((response, records)) if records.is_empty() => {
                self.respond(token, Response::ConsumerGroupHeartbeat(Ok(response)))
            }
            Ok((response, records)) => self.persist(
                &group_id,
                records,
                PendingPersist::ConsumerHeartbeat { token, response },
            ),
        }
    }

    /// Kafka's `throwIfConsumerGroupHeartbeatRequestIsInvalid`.
    fn validate_heartbeat(&self, req: &ConsumerGroupHeartbeat) -> Result<(), GroupError> {
        let invalid = |reason: &str| {
            Err(GroupError::InvalidRequest {
                reason: reason.to_owned(),
            })
        };
        if req.group_id.is_empty() {
            return invalid("GroupId can't be empty.");
        }
        if req.instance_id.as_deref() == Some("") {
            return invalid("InstanceId can't be empty.");
        }
        if req.rack_id.as_deref() == Some("") {
            return invalid("RackId can't be empty.");
        }
        match req.member_epoch {
            e if e > 0 || e == LEAVE_GROUP_MEMBER_EPOCH => {
                if req.member_id.is_empty() {
                    return invalid("MemberId can't be empty.");
                }
            }
            0 => {
                if req.rebalance_timeout_ms == -1 {
                    return invalid("RebalanceTimeoutMs must be provided in first request.");
                }
                if req.owned_partitions.as_ref().is_none_or(|o| !o.is_empty()) {
                    return invalid("TopicPartitions must be empty when (re-)joining.");
                }
                let names = req
                    .subscribed_topic_names
                    .as_ref()
                    .is_some_and(|n| !n.is_empty());
                let regex = req
                    .subscribed_topic_regex
                    .as_ref()
                    .is_some_and(|r| !r.is_empty());
                if !names && !regex {
                    return invalid(
                        "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                    );
                }
            }
            LEAVE_GROUP_STATIC_MEMBER_EPOCH => {
                if req.member_id.is_empty() {
                    return invalid("MemberId can't be empty.");
                }
                if req.instance_id.is_none() {
                    return invalid("InstanceId can't be null.");
                }
            }
            _ => return invalid("MemberEpoch is invalid."),
        }
        if let Some(name) = &req.server_assignor {
            let known = ConsumerAssignor::from_name(name)
                .is_some_and(|a| self.config.consumer_assignors.contains(&a));
            if !known {
                let supported: Vec<&str> = self
                    .config
                    .consumer_assignors
                    .iter()
                    .map(|a| a.name())
                    .collect();
                return Err(GroupError::UnsupportedAssignor {
                    reason: format!(
                        "ServerAssignor {name} is not supported. Supported assignors: {}.",
                        supported.join(", ")
                    ),
                });
            }
        }
        if let Some(regex) = req
            .subscribed_topic_regex
            .as_deref()
            .filter(|r| !r.is_empty())
        {
            compile_regex(regex)?;
        }
        Ok(())
    }

    fn do_consumer_group_heartbeat(
        &mut self,
        now_ms: i64,
        req: ConsumerGroupHeartbeat,
    ) -> Result<(ConsumerGroupHeartbeatResponse, Vec<OffsetsRecord>), GroupError> {
        self.validate_heartbeat(&req)?;
        self.validate_group_status(&req.group_id, true)?;
        if req.member_epoch < 0 {
            return self.consumer_group_leave(now_ms, req);
        }
        let joining = req.member_epoch == 0;
        let classic = self.groups.get(&req.group_id);
        let classic_in_use = classic.is_some_and(|g| !g.is(GroupState::Empty));
        let exists = self.consumer_groups.contains_key(&req.group_id);
        if classic_in_use || (!exists && !joining) {
            return Err(GroupError::GroupIdNotFound);
        }
        let empty = ConsumerGroup::new(req.group_id.clone());
        let group = self.consumer_groups.get(&req.group_id).unwrap_or(&empty);
        let max = usize::try_from(self.config.consumer_max_size).unwrap_or(usize::MAX);
        if group.members.len() >= max
            && (req.member_id.is_empty() || !group.members.contains_key(&req.member_id))
        {
            return Err(GroupError::GroupMaxSizeReached);
        }
        let owned = req.owned_partitions.clone().map(assignment_of);
        let member_id = if req.member_id.is_empty() {
            self.member_ids.next_uuid()
        } else {
            req.member_id.clone()
        };
        let source = Self::member_source(group, &member_id, &req, owned.as_ref())?;
        if let MemberSource::Existing(m) = &source {
            if m.state == MemberState::Unknown && owned.as_ref().is_none_or(|o| !o.is_empty()) {
                return Err(GroupError::FencedMemberEpoch);
            }
        }

        // Validated: from here on the group changes.
        let mut records = Vec::new();
        if !exists {
            self.convert_empty_classic_group(&req.group_id, &mut records);
        }
        let mut group = self
            .consumer_groups
            .remove(&req.group_id)
            .unwrap_or_else(|| ConsumerGroup::new(req.group_id.clone()));
        let (base, replaced) = match source {
            MemberSource::Existing(m) => (m, None),
            MemberSource::New => (ConsumerMember::new(member_id.clone()), None),
            MemberSource::Replaces(old_id, copy) => (copy, Some(old_id)),
        };
        let is_new = !group.members.contains_key(&member_id);
        let mut updated = base.clone();
        if let Some(i) = &req.instance_id {
            updated.instance_id = Some(i.clone());
        }
        if let Some(r) = &req.rack_id {
            updated.rack_id = Some(r.clone());
        }
        if req.rebalance_timeout_ms != -1 {
            updated.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        if let Some(a) = &req.server_assignor {
            updated.server_assignor = Some(a.clone());
        }
        if let Some(names) = &req.subscribed_topic_names {
            let sorted: BTreeSet<String> = names.iter().cloned().collect();
            updated.subscribed_topic_names = sorted.into_iter().collect();
        }
        if let Some(regex) = &req.subscribed_topic_regex {
            updated.subscribed_topic_regex = Some(regex.clone()).filter(|r| !r.is_empty());
        }
        updated.client_id = req.client_id.clone();
        updated.client_host = req.client_host.clone();

        if let Some(old_id) = &replaced {
            let old_target = group.target.get(old_id).cloned();
            if let Some(old) = group.remove_member(old_id) {
                info!(group_id = %group.group_id, old_member_id = %old_id, new_member_id = %member_id, instance_id = ?old.instance_id, "static member rejoined with a new member id");
                records.extend(member_tombstones(&group.group_id, old_id));
            }
            // The new member id inherits the instance's target assignment.
            if let Some(target) = old_target {
                records.push(OffsetsRecord {
                    key: RecordKey::ConsumerGroupTargetAssignmentMember {
                        group_id: group.group_id.clone(),
                        member_id: member_id.clone(),
                    }
                    .encode(),
                    value: Some(encode_target_assignment(&target)),
                });
                group.target.insert(member_id.clone(), target);
            }
        }
        let subscription_changed = updated.subscribed_topic_names != base.subscribed_topic_names
            || updated.subscribed_topic_regex != base.subscribed_topic_regex;
        if is_new || MemberMetadataValue::of(&updated) != MemberMetadataValue::of(&base) {
            records.push(member_metadata_record(&group.group_id, &updated));
        }
        if is_new {
            info!(group_id = %group.group_id, %member_id, instance_id = ?updated.instance_id, "member joined the consumer group");
        }

        let mut bump = subscription_changed;
        let metadata_stale =
            bump || self.consumer_metadata_seen.get(&group.group_id) != Some(&self.topics_version);
        if metadata_stale {
            let topics = self.subscribed_topics(&group, Some(&updated), None);
            let metadata = self.subscription_metadata(&topics);
            if metadata != group.subscription_metadata {
                bump = true;
                records.push(partition_metadata_record(&group.group_id, &metadata));
                group.subscription_metadata = metadata;
            }
            self.consumer_metadata_seen
                .insert(group.group_id.clone(), self.topics_version);
        }
        if bump {
            group.group_epoch += 1;
            records.push(group_epoch_record(&group.group_id, group.group_epoch));
            info!(group_id = %group.group_id, group_epoch = group.group_epoch, "bumped consumer group epoch");
        }

        // Insert the updated member (still with its old assignment state)
        // so the assignor sees it.
        group.put_member(updated.clone());
        if group.group_epoch > group.assignment_epoch {
            self.update_target_assignment(&mut group, &mut records);
        }
        let empty_target = Assignment::new();
        let target = group.target.get(&member_id).unwrap_or(&empty_target);
        let mut reconciled = updated.clone();
        if !updated.is_reconciled_to(group.assignment_epoch) {
            reconciled = updated
                .reconcile(
                    group.assignment_epoch,
                    target,
                    |t, p| group.is_owned(t, p),
                    owned.as_ref(),
                )
                .map_err(|()| GroupError::FencedMemberEpoch)?;
        }
        if is_new || assignment_state_changed(&updated, &reconciled) {
            records.push(current_assignment_record(&group.group_id, &reconciled));
            debug!(group_id = %group.group_id, %member_id, epoch = reconciled.member_epoch, state = ?reconciled.state, assigned = ?reconciled.assigned, revoking = ?reconciled.pending_revocation, "member assignment changed");
        }
        let rebalance_deadline =
            (reconciled.state == MemberState::UnrevokedPartitions).then(|| {
                let keep = group
                    .timers
                    .get(&member_id)
                    .and_then(|t| t.rebalance_deadline)
                    .filter(|(_, epoch)| *epoch == reconciled.member_epoch);
                keep.unwrap_or((
                    now_ms + i64::from(reconciled.rebalance_timeout_ms.max(0)),
                    reconciled.member_epoch,
                ))
            });
        group.put_member(reconciled.clone());
        let timers = group.timers.entry(member_id.clone()).or_default();
        timers.session_deadline_ms =
            Some(now_ms + i64::from(self.config.consumer_session_timeout_ms));
        timers.rebalance_deadline = rebalance_deadline;
        if cfg!(debug_assertions) {
            group.check_invariants();
        }
        self.consumer_groups.insert(group.group_id.clone(), group);

        let full = joining
            || (req.rebalance_timeout_ms != -1
                && (req.subscribed_topic_names.is_some() || req.subscribed_topic_regex.is_some())
                && req.owned_partitions.is_some());
        let assignment = (full || reconciled.assigned != base.assigned)
            .then(|| assignment_list(&reconciled.assigned));
        Ok((
            ConsumerGroupHeartbeatResponse {
                member_id,
                member_epoch: reconciled.member_epoch,
                heartbeat_interval_ms: self.config.consumer_heartbeat_interval_ms,
                assignment,
            },
            records,
        ))
    }

    /// Finds the member a heartbeat speaks for, with Kafka's checks of its
    /// epoch and instance id.
    fn member_source(
        group: &ConsumerGroup,
        member_id: &str,
        req: &ConsumerGroupHeartbeat,
        owned: Option<&Assignment>,
    ) -> Result<MemberSource, GroupError> {
        let joining = req.member_epoch == 0;
        let check_epoch = |m: &ConsumerMember| -> Result<MemberSource, GroupError> {
            if joining {
                // The client dropped every partition and rejoins (after a
                // fencing it learnt of): it starts over as a new member,
                // which frees what it owned.
                return Ok(MemberSource::New);
            }
            if req.member_epoch > m.member_epoch
                || (req.member_epoch < m.member_epoch
                    && (req.member_epoch != m.previous_member_epoch
                        || !is_subset(owned, &m.assigned)))
            {
                return Err(GroupError::FencedMemberEpoch);
            }
            Ok(MemberSource::Existing(m.clone()))
        };
        match &req.instance_id {
            None => match group.members.get(member_id) {
                Some(m) => check_epoch(m),
                None if joining => Ok(MemberSource::New),
                None => Err(GroupError::UnknownMemberId),
            },
            Some(instance_id) => match group.static_member(instance_id) {
                None if joining => match group.members.get(member_id) {
                    Some(m) => check_epoch(m),
                    None => Ok(MemberSource::New),
                },
                None => Err(GroupError::UnknownMemberId),
                Some(old) if joining => {
                    if old.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH {
                        return Err(GroupError::UnreleasedInstanceId);
                    }
                    let mut copy = old.clone();
                    copy.member_id = member_id.to_owned();
                    copy.member_epoch = 0;
                    copy.previous_member_epoch = 0;
                    Ok(MemberSource::Replaces(old.member_id.clone(), copy))
                }
                Some(old) if old.member_id != member_id => Err(GroupError::FencedInstanceId),
                Some(old) => check_epoch(old),
            },
        }
    }

    /// Turns the empty classic group `group_id` (if any) into the offsets
    /// holder of a new consumer group, deleting its classic metadata record.
    fn convert_empty_classic_group(&mut self, group_id: &str, records: &mut Vec<OffsetsRecord>) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if group.generation_id > 0 || group.protocol_type.is_some() {
            info!(%group_id, "converting the empty classic group to a consumer group");
            records.push(OffsetsRecord {
                key: RecordKey::GroupMetadata {
                    group_id: group_id.to_owned(),
                }
                .encode(),
                value: None,
            });
            group.generation_id = 0;
            group.protocol_type = None;
            group.protocol_name = None;
            group.subscribed_topics = None;
        }
    }

    /// Deletes the empty consumer group `group_id` (a classic group takes
    /// its id, or DeleteGroups): tombstones for its records. Its offsets stay
    /// with the classic offsets holder.
    pub(super) fn delete_consumer_group(&mut self, group_id: &str) -> Vec<OffsetsRecord> {
        let Some(group) = self.consumer_groups.remove(group_id) else {
            return Vec::new();
        };
        debug_assert!(group.members.is_empty());
        self.consumer_metadata_seen.remove(group_id);
        let mut records: Vec<OffsetsRecord> = group
            .members
            .keys()
            .flat_map(|m| member_tombstones(group_id, m))
            .collect();
        for key in [
            RecordKey::ConsumerGroupTargetAssignmentMetadata {
                group_id: group_id.to_owned(),
            },
            RecordKey::ConsumerGroupPartitionMetadata {
                group_id: group_id.to_owned(),
            },
            RecordKey::ConsumerGroupMetadata {
                group_id: group_id.to_owned(),
            },
        ] {
            records.push(tombstone(key));
        }
        info!(%group_id, "consumer group deleted");
        records
    }

    /// Topic names the group's members subscribe to (by name or regex),
    /// with `updated` in place of its namesake and `removed` left out.
    pub(super) fn subscribed_topics(
        &self,
        group: &ConsumerGroup,
        updated: Option<&ConsumerMember>,
        removed: Option<&str>,
    ) -> BTreeSet<String> {
        group.subscribed_topics(updated, removed, |m| self.member_topics(m))
    }

    /// The topics one member subscribes to that exist or that it names.
    fn member_topics(&self, member: &ConsumerMember) -> BTreeSet<String> {
        let mut topics: BTreeSet<String> = member.subscribed_topic_names.iter().cloned().collect();
        if let Some(regex) = member
            .subscribed_topic_regex
            .as_deref()
            .and_then(|r| compile_regex(r).ok())
        {
            topics.extend(
                self.topics
                    .keys()
                    .filter(|name| !name.starts_with("__") && regex.is_match(name))
                    .cloned(),
            );
        }
        topics
    }

    /// Metadata of the `topics` that exist.
    fn subscription_metadata(&self, topics: &BTreeSet<String>) -> BTreeMap<String, TopicMetadata> {
        topics
            .iter()
            .filter_map(|name| self.topics.get(name).map(|t| (name.clone(), *t)))
            .collect()
    }

    /// Recomputes the target assignment at the group epoch (Kafka's
    /// `updateTargetAssignment`), recording each member's changed target
    /// and the new assignment epoch.
    fn update_target_assignment(
        &self,
        group: &mut ConsumerGroup,
        records: &mut Vec<OffsetsRecord>,
    ) {
        let assignor = group
            .preferred_assignor()
            .and_then(|name| ConsumerAssignor::from_name(&name))
            .filter(|a| self.config.consumer_assignors.contains(a))
            .unwrap_or_else(|| self.config.default_consumer_assignor());
        let subscriptions: BTreeMap<String, BTreeSet<TopicId>> = group
            .members
            .values()
            .map(|m| {
                let ids = self
                    .member_topics(m)
                    .iter()
                    .filter_map(|name| group.subscription_metadata.get(name))
                    .map(|t| t.topic_id)
                    .collect();
                (m.member_id.clone(), ids)
            })
            .collect();
        let partitions: BTreeMap<TopicId, i32> = group
            .subscription_metadata
            .values()
            .map(|t| (t.topic_id, t.partitions))
            .collect();
        let target = assignor.assign(&subscriptions, &partitions, &group.target);
        for (member_id, assignment) in &target {
            if group.target.get(member_id) != Some(assignment) {
                records.push(OffsetsRecord {
                    key: RecordKey::ConsumerGroupTargetAssignmentMember {
                        group_id: group.group_id.clone(),
                        member_id: member_id.clone(),
                    }
                    .encode(),
                    value: Some(encode_target_assignment(assignment)),
                });
            }
        }
        group.target = target;
        group.assignment_epoch = group.group_epoch;
        records.push(OffsetsRecord {
            key: RecordKey::ConsumerGroupTargetAssignmentMetadata {
                group_id: group.group_id.clone(),
            }
            .encode(),
            value: Some(encode_epoch(group.assignment_epoch)),
        });
        info!(group_id = %group.group_id, assignment_epoch = group.assignment_epoch, assignor = assignor.name(), members = group.members.len(), "computed a new target assignment");
    }

    /// Kafka's `consumerGroupLeave`: epoch -1 removes the member, -2 marks a
    /// static member as gone for now (it keeps its partitions until its
    /// session expires or it rejoins).
    fn consumer_group_leave(
        &mut self,
        now_ms: i64,
        req: ConsumerGroupHeartbeat,
    ) -> Result<(ConsumerGroupHeartbeatResponse, Vec<OffsetsRecord>), GroupError> {
        let group = self
            .consumer_groups
            .get(&req.group_id)
            .ok_or(GroupError::GroupIdNotFound)?;
        let member = match &req.instance_id {
            None => group
                .members
                .get(&req.member_id)
                .ok_or(GroupError::UnknownMemberId)?,
            Some(instance_id) => {
                let m = group
                    .static_member(instance_id)
                    .ok_or(GroupError::UnknownMemberId)?;
                if m.member_id != req.member_id {
                    return Err(GroupError::FencedInstanceId);
                }
                m
            }
        };
        let response = ConsumerGroupHeartbeatResponse {
            member_id: req.member_id.clone(),
            member_epoch: req.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        };
        if req.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
            let mut leaving = member.clone();
            leaving.member_epoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
            leaving.pending_revocation = Assignment::new();
            info!(group_id = %req.group_id, member_id = %req.member_id, "static member left the consumer group for now");
            let record = current_assignment_record(&req.group_id, &leaving);
            if let Some(group) = self.consumer_groups.get_mut(&req.group_id) {
                group.put_member(leaving);
                if let Some(t) = group.timers.get_mut(&req.member_id) {
                    t.rebalance_deadline = None;
                }
            }
            return Ok((response, vec![record]));
        }
        info!(group_id = %req.group_id, member_id = %req.member_id, "member left the consumer group");
        let records = self.fence_consumer_member(now_ms, &req.group_id, &req.member_id);
        Ok((response, records))
    }

    /// Removes a member (left, session or rebalance timeout): its records
    /// are deleted and the group epoch bumped, so the others get its
    /// partitions at their next heartbeat.
    pub(super) fn fence_consumer_member(
        &mut self,
        _now_ms: i64,
        group_id: &str,
        member_id: &str,
    ) -> Vec<OffsetsRecord> {
        let Some(mut group) = self.consumer_groups.remove(group_id) else {
            return Vec::new();
        };
        let mut records = member_tombstones(group_id, member_id);
        let topics = self.subscribed_topics(&group, None, Some(member_id));
        let metadata = self.subscription_metadata(&topics);
        group.remove_member(member_id);
        if metadata != group.subscription_metadata {
            records.push(partition_metadata_record(group_id, &metadata));
            group.subscription_metadata = metadata;
        }
        group.group_epoch += 1;
        records.push(group_epoch_record(group_id, group.group_epoch));
        if cfg!(debug_assertions) {
            group.check_invariants();
        }
        self.consumer_groups.insert(group_id.to_owned(), group);
        records
    }

    /// The earliest consumer-group member deadline.
    pub(super) fn consumer_next_deadline(&self) -> Option<i64> {
        self.consumer_groups
            .values()
            .flat_map(|g| g.timers.values())
            .flat_map(|t| {
                t.session_deadline_ms
                    .into_iter()
                    .chain(t.rebalance_deadline.map(|(d, _)| d))
            })
            .min()
    }

    /// Fires expired consumer-group sessions and rebalance timeouts.
    pub(super) fn consumer_tick(&mut self, now_ms: i64) {
        let mut expired: Vec<(String, String, &'static str)> = Vec::new();
        for group in self.consumer_groups.values() {
            for (member_id, timers) in &group.timers {
                if timers.session_deadline_ms.is_some_and(|d| d <= now_ms) {
                    expired.push((group.group_id.clone(), member_id.clone(), "session timeout"));
                } else if let Some((deadline, epoch)) = timers.rebalance_deadline {
                    let still_revoking = group.members.get(member_id).is_some_and(|m| {
                        m.member_epoch == epoch && m.state == MemberState::UnrevokedPartitions
                    });
                    if deadline <= now_ms && still_revoking {
                        expired.push((
                            group.group_id.clone(),
                            member_id.clone(),
                            "rebalance timeout",
                        ));
                    }
                }
            }
        }
        for (group_id, member_id, why) in expired {
            if self.validate_group_status(&group_id, false).is_err() {
                continue;
            }
            info!(%group_id, %member_id, why, "fencing consumer group member");
            let records = self.fence_consumer_member(now_ms, &group_id, &member_id);
            if !records.is_empty() {
                self.persist(&group_id, records, PendingPersist::Unobserved);
            }
        }
        // A rebalance deadline that passed without fencing (the member
        // moved on) is cleared so it does not keep the timer busy.
        for group in self.consumer_groups.values_mut() {
            for timers in group.timers.values_mut() {
                if timers.rebalance_deadline.is_some_and(|(d, _)| d <= now_ms) {
                    timers.rebalance_deadline = None;
                }
            }
        }
    }

    pub(super) fn consumer_group_describe(
        &mut self,
        token: RequestToken,
        req: ConsumerGroupDescribe,
    ) {
        let described = req
            .group_ids
            .into_iter()
            .map(|group_id| {
                let result = self.validate_group_status(&group_id, false).and_then(|()| {
                    self.consumer_groups
                        .get(&group_id)
                        .ok_or(GroupError::GroupIdNotFound)
                });
                match result {
                    Ok(group) => self.describe_consumer_group(group),
                    Err(e) => DescribedConsumerGroup {
                        group_id,
                        result: Err(e),
                        state: ConsumerGroupState::Dead,
                        group_epoch: 0,
                        assignment_epoch: 0,
                        assignor_name: String::new(),
                        members: Vec::new(),
                    },
                }
            })
            .collect();
        self.respond(token, Response::ConsumerGroupDescribe(described));
    }

    fn describe_consumer_group(&self, group: &ConsumerGroup) -> DescribedConsumerGroup {
        let named = |a: &Assignment| -> Vec<(TopicId, String, Vec<i32>)> {
            a.iter()
                .map(|(t, ps)| {
                    let name = self.topic_names.get(t).cloned().unwrap_or_default();
                    (*t, name, ps.iter().copied().collect())
                })
                .collect()
        };
        let assignor = group
            .preferred_assignor()
            .and_then(|n| ConsumerAssignor::from_name(&n))
            .unwrap_or_else(|| self.config.default_consumer_assignor());
        DescribedConsumerGroup {
            group_id: group.group_id.clone(),
            result: Ok(()),
            state: group.state(),
            group_epoch: group.group_epoch,
            assignment_epoch: group.assignment_epoch,
            assignor_name: assignor.name().to_owned(),
            members: group
                .members
                .values()
                .map(|m| DescribedConsumerMember {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.member_epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.subscribed_topic_names.clone(),
                    subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                    assignment: named(&m.assigned),
                    target_assignment: group
                        .target
                        .get(&m.member_id)
                        .map(&named)
                        .unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// Kafka's `ConsumerGroup.validateOffsetCommit`: a commit to a consumer
    /// group comes from a member at its current epoch, over OffsetCommit
    /// v9+, or from outside the group while it has no members. `Ok(None)`
    /// if `group_id` is not a consumer group.
    pub(super) fn validate_consumer_offset_commit(
        &self,
        group_id: &str,
        member_id: &str,
        member_epoch: i32,
        api_version: i16,
    ) -> Option<Result<(), GroupError>> {
        let group = self.consumer_groups.get(group_id)?;
        if member_epoch < 0 && group.members.is_empty() {
            return Some(Ok(()));
        }
        let Some(member) = group.members.get(member_id) else {
            return Some(Err(GroupError::UnknownMemberId));
        };
        if api_version < 9 {
            return Some(Err(GroupError::UnsupportedVersion));
        }
        if member_epoch != member.member_epoch {
            return Some(Err(GroupError::StaleMemberEpoch));
        }
        Some(Ok(()))
    }

    /// Kafka's `ConsumerGroup.validateOffsetFetch` for OffsetFetch v9+.
    pub(super) fn validate_consumer_offset_fetch(
        &self,
        group_id: &str,
        member: Option<&(String, i32)>,
    ) -> Result<(), GroupError> {
        let (Some(group), Some((member_id, epoch))) = (self.consumer_groups.get(group_id), member)
        else {
            return Ok(());
        };
        if member_id.is_empty() && *epoch < 0 {
            return Ok(());
        }
        let m = group
            .members
            .get(member_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if m.member_epoch != *epoch {
            return Err(GroupError::StaleMemberEpoch);
        }
        Ok(())
    }

    /// Whether `group_id` is a consumer group with members (its offsets do
    /// not expire, a classic member cannot join it).
    pub(super) fn consumer_group_in_use(&self, group_id: &str) -> bool {
        self.consumer_groups
            .get(group_id)
            .is_some_and(|g| !g.members.is_empty())
    }

    /// Creates the offsets holder of a consumer group if there is none.
    pub(super) fn offsets_holder(&mut self, group_id: &str, now_ms: i64) -> Group {
        self.groups
            .remove(group_id)
            .unwrap_or_else(|| Group::new(group_id.to_owned(), now_ms))
    }
}

/// Compiles a subscription regex for a full match, as Kafka's RE2J
/// `matcher().matches()`.
fn compile_regex(regex: &str) -> Result<regex::Regex, GroupError> {
    regex::Regex::new(&format!("^(?:{regex})$")).map_err(|e| GroupError::InvalidRegularExpression {
        reason: format!("SubscribedTopicRegex `{regex}` is not a valid regular expression: {e}"),
    })
}

fn assignment_state_changed(before: &ConsumerMember, after: &ConsumerMember) -> bool {
    before.member_epoch != after.member_epoch
        || before.previous_member_epoch != after.previous_member_epoch
        || before.state != after.state
        || before.assigned != after.assigned
        || before.pending_revocation != after.pending_revocation
}

fn assignment_list(a: &Assignment) -> Vec<(TopicId, Vec<i32>)> {
    a.iter()
        .map(|(t, ps)| (*t, ps.iter().copied().collect()))
        .collect()
}

fn tombstone(key: RecordKey) -> OffsetsRecord {
    OffsetsRecord {
        key: key.encode(),
        value: None,
    }
}

/// Tombstones of a removed member's three records (Kafka's `removeMember`).
fn member_tombstones(group_id: &str, member_id: &str) -> Vec<OffsetsRecord> {
    let (g, m) = (group_id.to_owned(), member_id.to_owned());
    vec![
        tombstone(RecordKey::ConsumerGroupCurrentMemberAssignment {
            group_id: g.clone(),
            member_id: m.clone(),
        }),
        tombstone(RecordKey::ConsumerGroupTargetAssignmentMember {
            group_id: g.clone(),
            member_id: m.clone(),
        }),
        tombstone(RecordKey::ConsumerGroupMemberMetadata {
            group_id: g,
            member_id: m,
        }),
    ]
}

fn member_metadata_record(group_id: &str, member: &ConsumerMember) -> OffsetsRecord {
    OffsetsRecord {
        key: RecordKey::ConsumerGroupMemberMetadata {
            group_id: group_id.to_owned(),
            member_id: member.member_id.clone(),
        }
        .encode(),
        value: Some(MemberMetadataValue::of(member).encode()),
    }
}

fn current_assignment_record(group_id: &str, member: &ConsumerMember) -> OffsetsRecord {
    OffsetsRecord {
        key: RecordKey::ConsumerGroupCurrentMemberAssignment {
            group_id: group_id.to_owned(),
            member_id: member.member_id.clone(),
        }
        .encode(),
        value: Some(CurrentAssignmentValue::of(member).encode()),
    }
}

fn partition_metadata_record(
    group_id: &str,
    metadata: &BTreeMap<String, TopicMetadata>,
) -> OffsetsRecord {
    OffsetsRecord {
        key: RecordKey::ConsumerGroupPartitionMetadata {
            group_id: group_id.to_owned(),
        }
        .encode(),
        value: Some(encode_partition_metadata(metadata.iter())),
    }
}

fn group_epoch_record(group_id: &str, epoch: i32) -> OffsetsRecord {
    OffsetsRecord {
        key: RecordKey::ConsumerGroupMetadata {
            group_id: group_id.to_owned(),
        }
        .encode(),
        value: Some(encode_epoch(epoch)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group_coordinator::action::RequestToken;
    use crate::group_coordinator::config::GroupCoordinatorConfig;
    use crate::group_coordinator::partitioning::partition_for_group;
    use crate::group_coordinator::request::Request;
    use proptest::prelude::*;

    const TOPIC: TopicId = [1; 16];

    fn partitions() -> impl Strategy<Value = Assignment> {
        proptest::collection::btree_set(0..4i32, 0..4).prop_map(|ps| {
            let mut a = Assignment::new();
            if !ps.is_empty() {
                a.insert(TOPIC, ps);
            }
            a
        })
    }

    /// One well-formed record of the consumer group `g` with arbitrary
    /// contents: epochs out of order, partitions claimed twice, instance
    /// ids shared, states a newer coordinator wrote.
    fn record() -> impl Strategy<Value = OffsetsRecord> {
        let member = (0..3u8).prop_map(|m| format!("m{m}"));
        prop_oneof![
            (-3..6i32).prop_map(|e| OffsetsRecord {
                key: RecordKey::ConsumerGroupMetadata {
                    group_id: "g".into()
                }
                .encode(),
                value: Some(encode_epoch(e)),
            }),
            (-3..6i32).prop_map(|e| OffsetsRecord {
                key: RecordKey::ConsumerGroupTargetAssignmentMetadata {
                    group_id: "g".into()
                }
                .encode(),
                value: Some(encode_epoch(e)),
            }),
            (member.clone(), proptest::option::of(0..2u8)).prop_map(|(m, instance)| {
                let mut member = ConsumerMember::new(m.clone());
                member.instance_id = instance.map(|i| format!("i{i}"));
                member.subscribed_topic_names = vec!["t".into()];
                OffsetsRecord {
                    key: RecordKey::ConsumerGroupMemberMetadata {
                        group_id: "g".into(),
                        member_id: m,
                    }
                    .encode(),
                    value: Some(MemberMetadataValue::of(&member).encode()),
                }
            }),
            (member.clone(), partitions()).prop_map(|(m, a)| OffsetsRecord {
                key: RecordKey::ConsumerGroupTargetAssignmentMember {
                    group_id: "g".into(),
                    member_id: m,
                }
                .encode(),
                value: Some(encode_target_assignment(&a)),
            }),
            (member, -3..6i32, 0..4i8, partitions(), partitions()).prop_map(
                |(m, epoch, state, assigned, revoking)| {
                    let mut member = ConsumerMember::new(m.clone());
                    member.member_epoch = epoch;
                    member.state = MemberState::from_value(state);
                    member.assigned = assigned;
                    member.pending_revocation = revoking;
                    OffsetsRecord {
                        key: RecordKey::ConsumerGroupCurrentMemberAssignment {
                            group_id: "g".into(),
                            member_id: m,
                        }
                        .encode(),
                        value: Some(CurrentAssignmentValue::of(&member).encode()),
                    }
                }
            ),
        ]
    }

    proptest! {
        /// Whatever consistent-looking or contradictory records the log
        /// holds, the group loads and its members heartbeat, leave and time
        /// out without breaking an invariant (each partition one owner).
        #[test]
        fn any_stored_consumer_group_loads_and_keeps_its_invariants(
            records in proptest::collection::vec(record(), 0..16),
            epochs in proptest::collection::vec(-2..6i32, 3),
        ) {
            let config = GroupCoordinatorConfig {
                offsets_topic_num_partitions: 1,
                ..GroupCoordinatorConfig::default()
            };
            prop_assert_eq!(partition_for_group("g", 1), 0);
            let mut c = GroupCoordinator::new(config, 3);
            let now = 1_700_000_000_000;
            c.load_partition(0, records, now).unwrap();
            c.set_topics([("t".to_string(), TopicMetadata { topic_id: TOPIC, partitions: 4 })]);
            if let Some(group) = c.consumer_groups.get("g") {
                group.check_invariants();
            }
            for (i, epoch) in epochs.into_iter().enumerate() {
                let member_id = format!("m{i}");
                let request = ConsumerGroupHeartbeat {
                    group_id: "g".into(),
                    member_id,
                    member_epoch: epoch,
                    instance_id: None,
                    rack_id: None,
                    rebalance_timeout_ms: 1000,
                    subscribed_topic_names: Some(vec!["t".into()]),
                    subscribed_topic_regex: None,
                    server_assignor: None,
                    owned_partitions: Some(Vec::new()),
                    client_id: "c".into(),
                    client_host: "/h".into(),
                };
                c.request(now, RequestToken(i as u64), Request::ConsumerGroupHeartbeat(request));
                if let Some(group) = c.consumer_groups.get("g") {
                    group.check_invariants();
                }
            }
            c.tick(now + 100_000);
            if let Some(group) = c.consumer_groups.get("g") {
                group.check_invariants();
                prop_assert!(group.members.is_empty());
            }
        }
    }
}
