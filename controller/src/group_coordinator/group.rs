//! One classic group (Kafka's `GroupMetadata`): its state machine, members,
//! protocol selection, committed offsets and timers.
//!
//! Invariants: the leader, if any, is a member; every static member's
//! instance id maps to its member id in `static_members`; a group with
//! members has a protocol type; only a PreparingRebalance group has a join
//! timer.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use indexmap::IndexMap;

use super::error::GroupError;
use super::member::Member;
use super::record::{GroupMetadataValue, MemberRecord, OffsetCommitValue};
use super::request::{JoinGroupProtocol, TopicPartition};
use super::response::JoinGroupMember;

/// Kafka's consumer protocol type, whose metadata Skein parses to learn the
/// subscribed topics.
pub(crate) const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// A classic group's state, as Kafka names and sequences them:
///
/// ```text
/// Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance
///   ▲                 ▲        │ (no members left)                  │ leader's SyncGroup durable
///   └─────────────────┼────────┘                                    ▼
///                     └──── join, leave, expiry ─────────────── Stable
/// any ──delete / unload──▶ Dead
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupState {
    /// No members; may still hold committed offsets.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Members have their assignments.
    Stable,
    /// Removed (deleted, expired or unloaded).
    Dead,
}

impl GroupState {
    /// Kafka's name for the state, as DescribeGroups and ListGroups send it.
    pub fn kafka_name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Parses a ListGroups states filter entry, case-insensitively as Kafka
    /// does; `None` for a name Kafka would not match (such a filter matches
    /// no group).
    pub fn from_kafka_name(name: &str) -> Option<GroupState> {
        [
            GroupState::Empty,
            GroupState::PreparingRebalance,
            GroupState::CompletingRebalance,
            GroupState::Stable,
            GroupState::Dead,
        ]
        .into_iter()
        .find(|s| s.kafka_name().eq_ignore_ascii_case(name))
    }

    fn valid_previous(self) -> &'static [GroupState] {
        use GroupState::*;
        match self {
            Empty => &[PreparingRebalance],
            PreparingRebalance => &[Stable, CompletingRebalance, Empty],
            CompletingRebalance => &[PreparingRebalance],
            Stable => &[CompletingRebalance],
            Dead => &[Stable, PreparingRebalance, CompletingRebalance, Empty, Dead],
        }
    }
}

/// The pending completion of the join phase (Kafka's `DelayedJoin` and
/// `InitialDelayedJoin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinTimer {
    /// Completes when every member has rejoined, or at `deadline_ms`.
    Rebalance { deadline_ms: i64 },
    /// The first rebalance of an empty group: never completes early; at
    /// `deadline_ms` it extends itself while new members keep arriving.
    Initial {
        deadline_ms: i64,
        delay_ms: i64,
        remaining_ms: i64,
    },
}

impl JoinTimer {
    pub(crate) fn deadline_ms(self) -> i64 {
        match self {
            JoinTimer::Rebalance { deadline_ms } | JoinTimer::Initial { deadline_ms, .. } => {
                deadline_ms
            }
        }
    }
}

/// A committed offset with the count of in-flight commits for its partition.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) group_id: String,
    pub(crate) state: GroupState,
    pub(crate) state_timestamp_ms: Option<i64>,
    pub(crate) generation_id: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader_id: Option<String>,
    /// In join order (the leader falls back to the oldest member).
    pub(crate) members: IndexMap<String, Member>,
    /// `group.instance.id` → member id.
    pub(crate) static_members: BTreeMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED → expiry deadline.
    pub(crate) pending_members: BTreeMap<String, i64>,
    /// Members of the current generation that have not sent SyncGroup.
    pub(crate) pending_sync_members: BTreeSet<String>,
    pub(crate) new_member_added: bool,
    pub(crate) join_timer: Option<JoinTimer>,
    pub(crate) sync_deadline_ms: Option<i64>,
    pub(crate) subscribed_topics: Option<BTreeSet<String>>,
    pub(crate) offsets: BTreeMap<TopicPartition, OffsetCommitValue>,
    pub(crate) pending_offset_commits: BTreeMap<TopicPartition, u32>,
}

impl Group {
    pub(crate) fn new(group_id: String, now_ms: i64) -> Self {
        Self {
            group_id,
            state: GroupState::Empty,
            state_timestamp_ms: Some(now_ms),
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: IndexMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync_members: BTreeSet::new(),
            new_member_added: false,
            join_timer: None,
            sync_deadline_ms: None,
            subscribed_topics: None,
            offsets: BTreeMap::new(),
            pending_offset_commits: BTreeMap::new(),
        }
    }

    /// Checks the group's invariants (O(members)); called in debug builds
    /// after every change.
    ///
    /// # Panics
    /// If an invariant is broken: a coordinator bug.
    pub(crate) fn check_invariants(&self) {
        if let Some(leader) = &self.leader_id {
            assert!(
                self.members.contains_key(leader),
                "leader {leader} is not a member"
            );
        }
        assert_eq!(self.leader_id.is_none(), self.members.is_empty());
        assert!(self.members.is_empty() || self.protocol_type.is_some());
        for (instance_id, member_id) in &self.static_members {
            let member = self
                .members
                .get(member_id)
                .expect("static member is a member");
            assert_eq!(member.group_instance_id.as_ref(), Some(instance_id));
        }
        for (id, member) in &self.members {
            assert_eq!(id, &member.member_id);
            if member.awaiting_sync.is_some() {
                assert!(self.is(GroupState::CompletingRebalance));
            }
            if member.awaiting_join.is_some() {
                // Stable: a static member waiting for its new id to persist.
                assert!(self.is(GroupState::PreparingRebalance) || self.is(GroupState::Stable));
            }
        }
        assert!(self
            .pending_sync_members
            .iter()
            .all(|m| self.members.contains_key(m)));
        assert_eq!(
            self.join_timer.is_some(),
            self.is(GroupState::PreparingRebalance)
        );
        if self.is(GroupState::Empty) {
            assert!(self.members.is_empty());
        }
    }

    pub(crate) fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    /// Moves to `state`.
    ///
    /// # Panics
    /// On a transition Kafka does not allow (a coordinator bug).
    pub(crate) fn transition_to(&mut self, state: GroupState, now_ms: i64) {
        assert!(
            state.valid_previous().contains(&self.state),
            "group {} cannot go from {:?} to {:?}",
            self.group_id,
            self.state,
            state
        );
        self.state = state;
        self.state_timestamp_ms = Some(now_ms);
    }

    pub(crate) fn can_rebalance(&self) -> bool {
        GroupState::PreparingRebalance
            .valid_previous()
            .contains(&self.state)
    }

    pub(crate) fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    pub(crate) fn num_awaiting_join(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.awaiting_join.is_some())
            .count()
    }

    pub(crate) fn has_all_members_joined(&self) -> bool {
        self.members.len() == self.num_awaiting_join() && self.pending_members.is_empty()
    }

    /// The longest rebalance timeout of any member (Kafka's
    /// `GroupMetadata.rebalanceTimeoutMs`), in ms.
    pub(crate) fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// Adds a member; the first becomes the leader and sets the protocol
    /// type.
    pub(crate) fn add(&mut self, member: Member) {
        assert!(!self.members.contains_key(&member.member_id));
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member.member_id.clone());
        }
        if let Some(instance_id) = &member.group_instance_id {
            self.static_members
                .insert(instance_id.clone(), member.member_id.clone());
        }
        self.pending_members.remove(&member.member_id);
        self.members.insert(member.member_id.clone(), member);
    }

    /// Removes a member (or pending member) and returns it; its parked
    /// requests are still in it for the caller to answer.
    pub(crate) fn remove(&mut self, member_id: &str) -> Option<Member> {
        let removed = self.members.shift_remove(member_id);
        if let Some(member) = &removed {
            if let Some(instance_id) = &member.group_instance_id {
                if self.static_members.get(instance_id).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(instance_id);
                }
            }
        }
        if self.is_leader(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        self.pending_members.remove(member_id);
        self.pending_sync_members.remove(member_id);
        removed
    }

    pub(crate) fn current_static_member_id(&self, instance_id: &str) -> Option<&str> {
        self.static_members.get(instance_id).map(String::as_str)
    }

    /// Kafka's `validateCurrentMember`: the instance id, if given, must map
    /// to `member_id`, and `member_id` must be a member.
    pub(crate) fn validate_current_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        if let Some(instance_id) = group_instance_id {
            match self.current_static_member_id(instance_id) {
                Some(current) if current != member_id => return Err(GroupError::FencedInstanceId),
                Some(_) => {}
                None => return Err(GroupError::UnknownMemberId),
            }
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(GroupError::UnknownMemberId)
        }
    }

    /// Protocols every member supports.
    fn candidate_protocols(&self) -> Vec<&str> {
        let Some(first) = self.members.values().next() else {
            return Vec::new();
        };
        first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|p| p.name == *name))
            })
            .collect()
    }

    /// Kafka's `supportsProtocols`: an empty group takes any non-empty
    /// protocol set; otherwise the type must match and one protocol must be
    /// supported by every member.
    pub(crate) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[JoinGroupProtocol],
    ) -> bool {
        if self.is(GroupState::Empty) {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols.iter().any(|p| {
                    self.members
                        .values()
                        .all(|m| m.protocols.iter().any(|q| q.name == p.name))
                })
        }
    }

    /// Kafka's `selectProtocol`: each member votes for its most preferred
    /// protocol that all members support; most votes wins. Ties (unordered
    /// in Kafka) go to the protocol voted for by the earliest-joined member.
    ///
    /// # Panics
    /// If the group has no members or no common protocol (join validation
    /// prevents both).
    pub(crate) fn select_protocol(&self) -> String {
        let candidates = self.candidate_protocols();
        assert!(
            !candidates.is_empty(),
            "group {} has no common protocol",
            self.group_id
        );
        let mut votes: Vec<(&str, usize)> = Vec::new();
        for member in self.members.values() {
            let vote = member
                .vote(&candidates)
                .expect("candidates are supported by all");
            match votes.iter_mut().find(|(name, _)| *name == vote) {
                Some((_, count)) => *count += 1,
                None => votes.push((vote, 1)),
            }
        }
        let best = votes.iter().map(|(_, c)| *c).max().expect("members voted");
        let (name, _) = votes.iter().find(|(_, c)| *c == best).expect("max exists");
        (*name).to_owned()
    }

    /// Kafka's `initNextGeneration`.
    pub(crate) fn init_next_generation(&mut self, now_ms: i64) {
        self.generation_id += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition_to(GroupState::Empty, now_ms);
        } else {
            self.protocol_name = Some(self.select_protocol());
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition_to(GroupState::CompletingRebalance, now_ms);
        }
        self.pending_sync_members.clear();
    }

    /// Kafka's `maybeElectNewJoinedLeader`: if the leader did not rejoin,
    /// promote the first member that did. False if nobody rejoined.
    pub(crate) fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader_id.as_deref() else {
            return false;
        };
        let leader_joined = self
            .members
            .get(leader)
            .is_some_and(|m| m.awaiting_join.is_some());
        if leader_joined {
            return true;
        }
        match self.members.values().find(|m| m.awaiting_join.is_some()) {
            Some(m) => {
                self.leader_id = Some(m.member_id.clone());
                true
            }
            None => false,
        }
    }

    /// All members with their metadata for the selected protocol, for the
    /// leader's JoinGroup response.
    pub(crate) fn current_member_metadata(&self) -> Vec<JoinGroupMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| JoinGroupMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(protocol).cloned().unwrap_or_default(),
            })
            .collect()
    }

    /// The topics the consumer group's members subscribe to, parsed from
    /// their `ConsumerProtocolSubscription` metadata; `None` for
    /// non-consumer groups or unparseable metadata (then every topic counts
    /// as subscribed, as in Kafka).
    fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        if self.members.is_empty() {
            return Some(BTreeSet::new());
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for member in self.members.values() {
            topics.extend(parse_subscription_topics(member.metadata(protocol)?)?);
        }
        Some(topics)
    }

    pub(crate) fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        self.subscribed_topics
            .as_ref()
            .is_none_or(|topics| topics.contains(topic))
    }

    pub(crate) fn is_consumer_group(&self) -> bool {
        self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE)
    }

    /// The group metadata record Kafka's `storeGroup` writes, with each
    /// member's assignment taken from `assignment`.
    pub(crate) fn to_record(&self, assignment: &BTreeMap<String, Bytes>) -> GroupMetadataValue {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader: self.leader_id.clone(),
            current_state_timestamp_ms: self.state_timestamp_ms,
            members: self
                .members
                .values()
                .map(|m| MemberRecord {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(protocol).cloned().unwrap_or_default(),
                    assignment: assignment.get(&m.member_id).cloned().unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// The current assignments, member id → assignment.
    pub(crate) fn current_assignment(&self) -> BTreeMap<String, Bytes> {
        self.members
            .values()
            .map(|m| (m.member_id.clone(), m.assignment.clone()))
            .collect()
    }

    /// Kafka's `loadGroup`: a group with members loads as Stable, without as
    /// Empty. Session deadlines start at `now_ms`.
    pub(crate) fn from_record(group_id: String, value: GroupMetadataValue, now_ms: i64) -> Self {
        let mut group = Group::new(group_id, now_ms);
        group.state = if value.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        group.generation_id = value.generation_id;
        group.protocol_type = Some(value.protocol_type).filter(|t| !t.is_empty());
        group.protocol_name = value.protocol_name;
        group.state_timestamp_ms = value.current_state_timestamp_ms;
        let protocol_name = group.protocol_name.clone().unwrap_or_default();
        let protocol_type = group.protocol_type.clone().unwrap_or_default();
        for m in value.members {
            group.add(Member {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                session_timeout_ms: m.session_timeout_ms,
                protocol_type: protocol_type.clone(),
                protocols: vec![JoinGroupProtocol {
                    name: protocol_name.clone(),
                    metadata: m.subscription,
                }],
                assignment: m.assignment,
                awaiting_join: None,
                awaiting_sync: None,
                is_new: false,
                heartbeat_deadline_ms: Some(now_ms + i64::from(m.session_timeout_ms)),
            });
        }
        // `add` made the first member the leader; the record says who is.
        group.leader_id = value.leader.filter(|l| group.members.contains_key(l));
        if group.leader_id.is_none() {
            group.leader_id = group.members.keys().next().cloned();
        }
        group.subscribed_topics = group.compute_subscribed_topics();
        group
    }

    /// Kafka's `removeExpiredOffsets` (KIP-211 semantics): returns the
    /// partitions whose offsets expired and removes them.
    pub(crate) fn remove_expired_offsets(
        &mut self,
        now_ms: i64,
        retention_ms: i64,
    ) -> Vec<TopicPartition> {
        let by_commit = |v: &OffsetCommitValue| v.commit_timestamp_ms;
        let expired: Vec<TopicPartition> = match self.protocol_type.as_deref() {
            Some(_) if self.is(GroupState::Empty) => {
                let state_ts = self.state_timestamp_ms;
                self.expired_offsets(
                    now_ms,
                    retention_ms,
                    |v| state_ts.unwrap_or(v.commit_timestamp_ms),
                    None,
                )
            }
            Some(CONSUMER_PROTOCOL_TYPE)
                if self.subscribed_topics.is_some() && self.is(GroupState::Stable) =>
            {
                let subscribed = self.subscribed_topics.clone();
                self.expired_offsets(now_ms, retention_ms, by_commit, subscribed.as_ref())
            }
            None => self.expired_offsets(now_ms, retention_ms, by_commit, None),
            Some(_) => Vec::new(),
        };
        for tp in &expired {
            self.offsets.remove(tp);
        }
        expired
    }

    fn expired_offsets(
        &self,
        now_ms: i64,
        retention_ms: i64,
        base_timestamp_ms: impl Fn(&OffsetCommitValue) -> i64,
        subscribed: Option<&BTreeSet<String>>,
    ) -> Vec<TopicPartition> {
        self.offsets
            .iter()
            .filter(|(tp, value)| {
                !subscribed.is_some_and(|s| s.contains(&tp.topic))
                    && !self.pending_offset_commits.contains_key(*tp)
                    && match value.expire_timestamp_ms {
                        Some(expire) => now_ms >= expire,
                        // Saturating: the base may be a client's OffsetCommit
                        // v1 commit timestamp, any i64 at all.
                        None => now_ms.saturating_sub(base_timestamp_ms(value)) >= retention_ms,
                    }
            })
            .map(|(tp, _)| tp.clone())
            .collect()
    }
}

/// The topics of a `ConsumerProtocolSubscription` (any version: all start
/// with `i16 version, [string] topics`), or `None` if malformed.
fn parse_subscription_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let version = i16::from_be_bytes(metadata.get(0..2)?.try_into().ok()?);
    if version < 0 {
        return None;
    }
    let count = i32::from_be_bytes(metadata.get(2..6)?.try_into().ok()?);
    let mut pos = 6usize;
    let mut topics = Vec::new();
    for _ in 0..count.max(0) {
        let len = i16::from_be_bytes(metadata.get(pos..pos + 2)?.try_into().ok()?);
        let len = usize::try_from(len).ok()?;
        pos += 2;
        let name = std::str::from_utf8(metadata.get(pos..pos + len)?).ok()?;
        topics.push(name.to_owned());
        pos += len;
    }
    Some(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_parse_case_insensitively() {
        assert_eq!(
            GroupState::from_kafka_name("stable"),
            Some(GroupState::Stable)
        );
        assert_eq!(
            GroupState::from_kafka_name("CompletingRebalance"),
            Some(GroupState::CompletingRebalance)
        );
        assert_eq!(GroupState::from_kafka_name("AwaitingSync"), None);
    }

    #[test]
    fn subscription_topics_are_parsed_from_consumer_metadata() {
        let mut meta = vec![0, 1, 0, 0, 0, 2];
        for t in ["a", "bc"] {
            meta.extend_from_slice(&(t.len() as i16).to_be_bytes());
            meta.extend_from_slice(t.as_bytes());
        }
        meta.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            parse_subscription_topics(&meta),
            Some(vec!["a".to_owned(), "bc".to_owned()])
        );
        assert_eq!(parse_subscription_topics(&meta[..7]), None);
    }
}
