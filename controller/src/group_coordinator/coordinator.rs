//! The group coordinator's state machine: Kafka's classic `GroupCoordinator`
//! and `GroupMetadataManager`, sans-IO. Requests, ticks and append
//! completions go in; responses and `__consumer_offsets` appends come out.
//!
//! Invariants: every [`RequestToken`] is answered exactly once (a parked
//! JoinGroup/SyncGroup lives in exactly one member slot or pending append,
//! and whoever takes it answers it); a group leaves the map only as Dead;
//! state changes that Kafka makes only after an append (a completed
//! rebalance, a commit, a static member's new id) wait for
//! [`GroupCoordinator::persisted`].

mod consumer;
mod txn_offsets;

use std::collections::BTreeMap;

use bytes::Bytes;
use tracing::{debug, info, warn};

use super::action::{Action, OffsetsRecord, PersistId, RequestToken};
use super::config::GroupCoordinatorConfig;
use super::consumer_group::{ConsumerGroup, TopicMetadata};
use super::error::{AppendError, GroupError, LoadError, PartitionOutOfRange};
use super::group::{Group, GroupState, JoinTimer};
use super::member::{Member, MemberIdGenerator, NEW_MEMBER_JOIN_TIMEOUT_MS};
use super::partitioning::partition_for_group;
use super::record::{GroupMetadataValue, OffsetCommitValue, RecordKey};
use super::request::{
    DeleteGroups, DescribeGroups, Heartbeat, JoinGroup, JoinGroupProtocol, LeaveGroup, ListGroups,
    OffsetCommit, OffsetDelete, OffsetFetch, Request, SyncGroup, TopicPartition,
};
use super::response::{
    ConsumerGroupHeartbeatResponse, DescribedGroup, DescribedMember, FetchedOffset,
    JoinGroupResponse, LeaveGroupMemberResult, ListedGroup, Response, SyncGroupResponse,
};
use crate::TopicId;

/// One input to [`GroupCoordinator::step`].
// Inputs are moved into `step` once and never stored, so the size of the
// request variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A decoded request; its response comes back with `token`, now or in a
    /// later step.
    Request {
        /// The driver's handle for the response.
        token: RequestToken,
        /// The request.
        request: Request,
    },
    /// Time passed: fire every deadline at or before `now_ms`.
    Tick,
    /// The append of [`Action::Persist`] `id` resolved.
    Persisted {
        /// The append's id.
        id: PersistId,
        /// Whether it is durable.
        result: Result<(), AppendError>,
    },
}

/// Offsets of open transactions, durable but not yet visible: (producer
/// id, group id) → partition → offset.
type PendingTxnOffsets = BTreeMap<(i64, String), BTreeMap<TopicPartition, OffsetCommitValue>>;

/// Whether this node serves a `__consumer_offsets` partition's groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartitionStatus {
    /// Not (yet) replayed: requests get COORDINATOR_LOAD_IN_PROGRESS.
    Loading,
    /// Replayed and owned.
    Active,
    /// Owned by another node: requests get NOT_COORDINATOR.
    NotOwned,
}

/// What to do when an append resolves.
#[derive(Debug, Clone)]
enum PendingPersist {
    /// A TxnOffsetCommit: respond per partition, and on success hold the
    /// offsets as pending for the producer's transaction.
    TxnOffsetCommit {
        token: RequestToken,
        group_id: String,
        producer_id: i64,
        results: Vec<(TopicPartition, Result<OffsetCommitValue, GroupError>)>,
    },
    /// An OffsetCommit: respond per partition, and on success cache the
    /// offsets. `rejected` partitions were answered with their error.
    OffsetCommit {
        token: RequestToken,
        group_id: String,
        results: Vec<(TopicPartition, Result<OffsetCommitValue, GroupError>)>,
    },
    /// The leader's SyncGroup: on success install the assignment and go
    /// Stable.
    GroupAssignment {
        group_id: String,
        generation_id: i32,
        assignment: BTreeMap<String, Bytes>,
    },
    /// A known static member rejoined a Stable group with a new member id.
    StaticRejoin(Box<StaticRejoin>),
    /// A ConsumerGroupHeartbeat whose changes are being made durable.
    ConsumerHeartbeat {
        token: RequestToken,
        response: ConsumerGroupHeartbeatResponse,
    },
    /// Nothing waits on it (empty-group metadata, tombstones).
    Unobserved,
}

#[derive(Debug, Clone)]
struct StaticRejoin {
    token: RequestToken,
    group_id: String,
    group_instance_id: String,
    old_member_id: String,
    new_member_id: String,
    old_protocols: Vec<JoinGroupProtocol>,
    old_rebalance_timeout_ms: i32,
    old_session_timeout_ms: i32,
    leader_before: Option<String>,
    supports_skip_assignment: bool,
}

/// A timer that may fire in a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Timer {
    Heartbeat(String),
    PendingMember(String),
    Join,
    Sync,
}

/// The group coordinator for every group whose `__consumer_offsets`
/// partition this node serves.
///
/// Lives on: the control shard only.
///
/// # Contract with the driver
/// * Feed requests with [`GroupCoordinator::step`] (or the shorthands
///   [`request`](Self::request), [`tick`](Self::tick),
///   [`persisted`](Self::persisted)); carry out the returned [`Action`]s in
///   order.
/// * JoinGroup and SyncGroup answers are usually not in the step that
///   received the request: they come out of a later step (another member's
///   request, a tick, or an append completion). OffsetCommit is answered
///   from `persisted`. Every other request is answered in its own step.
///   Every token is answered exactly once.
/// * After every step call [`next_deadline`](Self::next_deadline) and
///   schedule a [`tick`](Self::tick) at (or after) it.
/// * Time is the caller's wall clock in ms since the Unix epoch (commit
///   timestamps are persisted and compared across restarts).
/// * Before a partition's groups are served, replay that
///   `__consumer_offsets` partition with [`load_partition`](Self::load_partition).
#[derive(Debug)]
pub struct GroupCoordinator {
    config: GroupCoordinatorConfig,
    partitions: Vec<PartitionStatus>,
    groups: BTreeMap<String, Group>,
    pending_persists: BTreeMap<PersistId, PendingPersist>,
    next_persist_id: u64,
    member_ids: MemberIdGenerator,
    next_offsets_cleanup_ms: Option<i64>,
    out: Vec<Action>,
    /// Consumer groups (KIP-848); their offsets live in `groups` under the
    /// same id, in a classic group with no members.
    consumer_groups: BTreeMap<String, ConsumerGroup>,
    /// The metadata image's topics, by name, and names by id.
    topics: BTreeMap<String, TopicMetadata>,
    topic_names: BTreeMap<TopicId, String>,
    /// Bumped whenever `topics` changes.
    topics_version: u64,
    /// The `topics_version` each consumer group's subscription metadata
    /// was last computed at.
    consumer_metadata_seen: BTreeMap<String, u64>,
    /// Offsets of open transactions (TxnOffsetCommit), durable but not yet
    /// visible.
    pending_txn_offsets: PendingTxnOffsets,
    /// Transactions that ended (producer id, committed) in a partition
    /// while it was loading, in arrival order: their markers may lie past
    /// the end of the replay's read, so they are applied when the load
    /// completes (Kafka runs such a completion after the load, on the same
    /// scheduler thread).
    completed_while_loading: BTreeMap<u32, Vec<(i64, bool)>>,
}

impl GroupCoordinator {
    /// A coordinator with every `__consumer_offsets` partition loading.
    /// `member_id_seed` seeds generated member ids; pass a random value.
    ///
    /// # Panics
    /// If `config` is invalid (check it with
    /// [`GroupCoordinatorConfig::validate`] first).
    pub fn new(config: GroupCoordinatorConfig, member_id_seed: u64) -> Self {
        assert!(
            config.validate().is_ok(),
            "invalid group coordinator config"
        );
        let partition_count =
            usize::try_from(config.offsets_topic_num_partitions).expect("fits usize");
        Self {
            config,
            partitions: vec![PartitionStatus::Loading; partition_count],
            groups: BTreeMap::new(),
            pending_persists: BTreeMap::new(),
            next_persist_id: 0,
            member_ids: MemberIdGenerator::new(member_id_seed),
            next_offsets_cleanup_ms: None,
            out: Vec::new(),
            consumer_groups: BTreeMap::new(),
            topics: BTreeMap::new(),
            topic_names: BTreeMap::new(),
            topics_version: 0,
            consumer_metadata_seen: BTreeMap::new(),
            pending_txn_offsets: BTreeMap::new(),
            completed_while_loading: BTreeMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GroupCoordinatorConfig {
        &self.config
    }

    /// Processes one input at `now_ms` and returns what the driver must do.
    pub fn step(&mut self, now_ms: i64, input: Input) -> Vec<Action> {
        match input {
            Input::Request { token, request } => self.handle_request(now_ms, token, request),
            Input::Tick => self.handle_tick(now_ms),
            Input::Persisted { id, result } => self.handle_persisted(now_ms, id, result),
        }
        std::mem::take(&mut self.out)
    }

    /// Shorthand for [`Input::Request`].
    pub fn request(&mut self, now_ms: i64, token: RequestToken, request: Request) -> Vec<Action> {
        self.step(now_ms, Input::Request { token, request })
    }

    /// Shorthand for [`Input::Tick`].
    pub fn tick(&mut self, now_ms: i64) -> Vec<Action> {
        self.step(now_ms, Input::Tick)
    }

    /// Shorthand for [`Input::Persisted`]: the append `id` resolved. Unknown
    /// ids are ignored.
    pub fn persisted(
        &mut self,
        now_ms: i64,
        id: PersistId,
        result: Result<(), AppendError>,
    ) -> Vec<Action> {
        self.step(now_ms, Input::Persisted { id, result })
    }

    /// The earliest time (ms) at which [`tick`](Self::tick) has work: a
    /// session, join, sync, pending-member or offset-retention deadline.
    /// `None` if nothing is scheduled. O(members) — the control shard calls
    /// it once per step.
    pub fn next_deadline(&self) -> Option<i64> {
        let groups = self.groups.values().flat_map(|g| {
            let members = g.members.values().filter_map(|m| m.heartbeat_deadline_ms);
            let pending = g.pending_members.values().copied();
            let join = g.join_timer.map(JoinTimer::deadline_ms);
            members.chain(pending).chain(join).chain(g.sync_deadline_ms)
        });
        groups
            .chain(self.next_offsets_cleanup_ms)
            .chain(self.consumer_next_deadline())
            .min()
    }

    /// The state of `group_id`, if this node holds it.
    pub fn group_state(&self, group_id: &str) -> Option<GroupState> {
        self.groups.get(group_id).map(|g| g.state)
    }

    /// Every group this node holds: its id, state and committed offsets
    /// (topic, partition, offset), in group-id order. For metrics (group
    /// counts by state, lag); O(groups + committed partitions).
    pub fn groups(
        &self,
    ) -> impl Iterator<Item = (&str, GroupState, impl Iterator<Item = (&str, i32, i64)>)> {
        self.groups.values().map(|group| {
            let offsets = group
                .offsets
                .iter()
                .map(|(tp, value)| (tp.topic.as_str(), tp.partition, value.offset));
            (group.group_id.as_str(), group.state, offsets)
        })
    }

    /// The current generation of `group_id`, if this node holds it.
    pub fn group_generation(&self, group_id: &str) -> Option<i32> {
        self.groups.get(group_id).map(|g| g.generation_id)
    }

    /// Marks `partition` as loading again (this node is becoming its leader
    /// and will replay it): any groups still held for it are dropped, their
    /// parked JoinGroup/SyncGroup requests answered
    /// COORDINATOR_LOAD_IN_PROGRESS (returned as actions), and requests get
    /// that error until [`load_partition`](Self::load_partition).
    ///
    /// # Errors
    /// [`PartitionOutOfRange`].
    pub fn begin_load(&mut self, partition: u32) -> Result<Vec<Action>, PartitionOutOfRange> {
        *self.partition_status_mut(partition)? = PartitionStatus::Loading;
        // This load reads the log to its current end, past every marker
        // whose completion was held for an earlier one.
        self.completed_while_loading.remove(&partition);
        self.drop_partition_groups(partition, GroupError::CoordinatorLoadInProgress);
        Ok(std::mem::take(&mut self.out))
    }

    /// Rebuilds `partition`'s groups and offsets from its `__consumer_offsets`
    /// records in log order (the latest record per key wins; a `None` value
    /// deletes the key) and starts serving them. Members of loaded groups
    /// get a fresh session from `now_ms`, as in Kafka.
    ///
    /// # Errors
    /// [`LoadError`]; the partition then stays loading.
    pub fn load_partition(
        &mut self,
        partition: u32,
        records: impl IntoIterator<Item = OffsetsRecord>,
        now_ms: i64,
    ) -> Result<(), LoadError> {
        self.load_partition_with_open_transactions(partition, records, Vec::new(), now_ms)
    }

    /// [`load_partition`](Self::load_partition), where `open_transactions`
    /// are the records of transactions whose marker the replay did not
    /// reach, by producer id: their offset commits become pending, as
    /// TxnOffsetCommit leaves them, until the transaction's end is reported
    /// ([`Request::CompleteTransaction`]); a tombstone among them drops the
    /// pending commit of its key (Kafka's loader). Transactions reported
    /// ended while the partition was loading are then applied in order.
    ///
    /// # Errors
    /// [`LoadError`]; the partition then stays loading.
    pub fn load_partition_with_open_transactions(
        &mut self,
        partition: u32,
        records: impl IntoIterator<Item = OffsetsRecord>,
        open_transactions: Vec<(i64, Vec<OffsetsRecord>)>,
        now_ms: i64,
    ) -> Result<(), LoadError> {
        self.partition_status_mut(partition)?;
        let pending = self.open_transaction_offsets(partition, open_transactions)?;
        // Key → (log position, value) of its latest record.
        let mut latest: BTreeMap<RecordKey, (usize, Option<Bytes>)> = BTreeMap::new();
        for (index, record) in records.into_iter().enumerate() {
            let key = RecordKey::decode(&record.key)
                .map_err(|source| LoadError::Record { index, source })?;
            if matches!(key, RecordKey::Unknown { .. }) {
                continue;
            }
            latest.insert(key, (index, record.value));
        }
        let mut loaded: BTreeMap<String, Group> = BTreeMap::new();
        let mut offsets = Vec::new();
        let mut consumer: BTreeMap<String, consumer::LoadedConsumerGroup> = BTreeMap::new();
        for (key, (index, value)) in latest {
            let Some(value) = value else { continue };
            let group_id = key.group_id().unwrap_or_default().to_owned();
            let is_consumer = consumer
                .entry(group_id.clone())
                .or_default()
                .apply(&key, &value)
                .map_err(|source| LoadError::Record { index, source })?;
            if is_consumer {
                continue;
            }
            match key {
                RecordKey::GroupMetadata { group_id } => {
                    let value = GroupMetadataValue::decode(&value)
                        .map_err(|source| LoadError::Record { index, source })?;
                    let group = Group::from_record(group_id.clone(), value, now_ms);
                    loaded.insert(group_id, group);
                }
                RecordKey::OffsetCommit {
                    group_id,
                    topic,
                    partition,
                } => {
                    let value = OffsetCommitValue::decode(&value)
                        .map_err(|source| LoadError::Record { index, source })?;
                    offsets.push((group_id, TopicPartition { topic, partition }, value));
                }
                RecordKey::Unknown { .. }
                | RecordKey::ConsumerGroupMetadata { .. }
                | RecordKey::ConsumerGroupPartitionMetadata { .. }
                | RecordKey::ConsumerGroupMemberMetadata { .. }
                | RecordKey::ConsumerGroupTargetAssignmentMetadata { .. }
                | RecordKey::ConsumerGroupTargetAssignmentMember { .. }
                | RecordKey::ConsumerGroupCurrentMemberAssignment { .. } => {}
            }
        }
        for (group_id, tp, value) in offsets {
            loaded
                .entry(group_id.clone())
                .or_insert_with(|| Group::new(group_id, now_ms))
                .offsets
                .insert(tp, value);
        }
        let count = self.config.offsets_topic_num_partitions;
        self.groups
            .retain(|id, _| partition_for_group(id, count) != partition);
        self.consumer_groups
            .retain(|id, _| partition_for_group(id, count) != partition);
        let session_timeout_ms = self.config.consumer_session_timeout_ms;
        for (id, records) in consumer {
            if partition_for_group(&id, count) != partition {
                continue;
            }
            if let Some(group) = records.build(id.clone(), now_ms, session_timeout_ms) {
                if loaded.get(&id).is_some_and(|g| g.generation_id > 0) {
                    warn!(group_id = %id, "both a classic and a consumer group stored; keeping the consumer group");
                    if let Some(g) = loaded.get_mut(&id) {
                        *g = {
                            let mut holder = Group::new(id.clone(), now_ms);
                            holder.offsets = std::mem::take(&mut g.offsets);
                            holder
                        };
                    }
                }
                self.consumer_metadata_seen.remove(&id);
                self.consumer_groups.insert(id, group);
            }
        }
        for (id, group) in loaded {
            if partition_for_group(&id, count) == partition {
                self.groups.insert(id, group);
            } else {
                warn!(group_id = %id, partition, "skipping group stored in the wrong __consumer_offsets partition");
            }
        }
        *self.partition_status_mut(partition)? = PartitionStatus::Active;
        for (key, offsets) in pending {
            self.pending_txn_offsets.insert(key, offsets);
        }
        let completed = self
            .completed_while_loading
            .remove(&partition)
            .unwrap_or_default();
        for (producer_id, committed) in completed {
            self.complete_pending_offsets(now_ms, partition, producer_id, committed);
        }
        if self.next_offsets_cleanup_ms.is_none() {
            self.next_offsets_cleanup_ms =
                Some(now_ms + self.config.offsets_retention_check_interval_ms);
        }
        debug!(partition, "loaded __consumer_offsets partition");
        Ok(())
    }

    /// Stops serving `partition` (leadership moved away): its groups are
    /// dropped and their parked JoinGroup/SyncGroup requests are answered
    /// NOT_COORDINATOR (returned as actions).
    ///
    /// # Errors
    /// [`PartitionOutOfRange`].
    pub fn unload_partition(&mut self, partition: u32) -> Result<Vec<Action>, PartitionOutOfRange> {
        *self.partition_status_mut(partition)? = PartitionStatus::NotOwned;
        self.completed_while_loading.remove(&partition);
        self.drop_partition_groups(partition, GroupError::NotCoordinator);
        Ok(std::mem::take(&mut self.out))
    }

    /// Forgets the groups of `partition`, answering their parked requests
    /// with `error`.
    fn drop_partition_groups(&mut self, partition: u32, error: GroupError) {
        let count = self.config.offsets_topic_num_partitions;
        self.pending_txn_offsets
            .retain(|(_, group_id), _| partition_for_group(group_id, count) != partition);
        let ids: Vec<String> = self
            .groups
            .keys()
            .filter(|id| partition_for_group(id, count) == partition)
            .cloned()
            .collect();
        for id in ids {
            let Some(mut group) = self.groups.remove(&id) else {
                continue;
            };
            for m in group.members.values_mut() {
                if let Some(token) = m.awaiting_join.take() {
                    self.respond(token, Response::JoinGroup(Err(error.clone())));
                }
                if let Some(token) = m.awaiting_sync.take() {
                    self.respond(token, Response::SyncGroup(Err(error.clone())));
                }
            }
            debug!(group_id = %id, partition, "dropped group");
        }
        self.consumer_groups
            .retain(|id, _| partition_for_group(id, count) != partition);
    }

    fn partition_status_mut(
        &mut self,
        partition: u32,
    ) -> Result<&mut PartitionStatus, PartitionOutOfRange> {
        let partition_count = self.config.offsets_topic_num_partitions;
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.partitions.get_mut(p))
            .ok_or(PartitionOutOfRange {
                partition,
                partition_count,
            })
    }

    fn partition_of(&self, group_id: &str) -> u32 {
        partition_for_group(group_id, self.config.offsets_topic_num_partitions)
    }

    /// Kafka's `validateGroupStatus`.
    fn validate_group_status(&self, group_id: &str, require_name: bool) -> Result<(), GroupError> {
        if require_name && group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let partition = self.partition_of(group_id);
        match self.partitions.get(partition as usize) {
            Some(PartitionStatus::Active) => Ok(()),
            Some(PartitionStatus::Loading) => Err(GroupError::CoordinatorLoadInProgress),
            Some(PartitionStatus::NotOwned) | None => Err(GroupError::NotCoordinator),
        }
    }

    fn respond(&mut self, token: RequestToken, response: Response) {
        self.out.push(Action::Respond { token, response });
    }

    fn persist(&mut self, group_id: &str, records: Vec<OffsetsRecord>, pending: PendingPersist) {
        self.next_persist_id += 1;
        let id = PersistId(self.next_persist_id);
        let partition = self.partition_of(group_id);
        self.pending_persists.insert(id, pending);
        self.out.push(Action::Persist {
            id,
            partition,
            records,
            transactional: None,
        });
    }

    fn group_record(group: &Group, assignment: &BTreeMap<String, Bytes>) -> OffsetsRecord {
        OffsetsRecord {
            key: RecordKey::GroupMetadata {
                group_id: group.group_id.clone(),
            }
            .encode(),
            value: Some(group.to_record(assignment).encode()),
        }
    }

    /// Puts a group back into the map unless it died.
    fn put_group(&mut self, group: Group) {
        if cfg!(debug_assertions) {
            group.check_invariants();
        }
        if !group.is(GroupState::Dead) {
            self.groups.insert(group.group_id.clone(), group);
        }
    }

    fn handle_request(&mut self, now_ms: i64, token: RequestToken, request: Request) {
        match request {
            Request::JoinGroup(r) => self.join_group(now_ms, token, r),
            Request::SyncGroup(r) => self.sync_group(now_ms, token, r),
            Request::Heartbeat(r) => self.heartbeat(now_ms, token, r),
            Request::LeaveGroup(r) => self.leave_group(now_ms, token, r),
            Request::OffsetCommit(r) => self.offset_commit(now_ms, token, r),
            Request::OffsetFetch(r) => self.offset_fetch(token, r),
            Request::DescribeGroups(r) => self.describe_groups(token, r),
            Request::ListGroups(r) => self.list_groups(token, r),
            Request::DeleteGroups(r) => self.delete_groups(now_ms, token, r),
            Request::OffsetDelete(r) => self.offset_delete(now_ms, token, r),
            Request::ConsumerGroupHeartbeat(r) => self.consumer_group_heartbeat(now_ms, token, r),
            Request::ConsumerGroupDescribe(r) => self.consumer_group_describe(token, r),
            Request::TxnOffsetCommit(r) => self.txn_offset_commit(now_ms, token, r),
            Request::CompleteTransaction(r) => self.complete_transaction(now_ms, token, r),
        }
    }

    // ---------------------------------------------------------------- join

    fn join_group(&mut self, now_ms: i64, token: RequestToken, req: JoinGroup) {
        if let Err(e) = self.validate_group_status(&req.group_id, true) {
            return self.respond(token, Response::JoinGroup(Err(e)));
        }
        if req.session_timeout_ms < self.config.group_min_session_timeout_ms
            || req.session_timeout_ms > self.config.group_max_session_timeout_ms
        {
            return self.respond(
                token,
                Response::JoinGroup(Err(GroupError::InvalidSessionTimeout)),
            );
        }
        if self.consumer_group_in_use(&req.group_id) {
            // Kafka 4 lets classic members into a consumer group only with
            // its online migration, which Skein does not do.
            return self.respond(
                token,
                Response::JoinGroup(Err(GroupError::InconsistentGroupProtocol)),
            );
        }
        if self.consumer_groups.contains_key(&req.group_id) {
            // An empty consumer group becomes a classic group.
            let records = self.delete_consumer_group(&req.group_id);
            self.persist(&req.group_id, records, PendingPersist::Unobserved);
        }
        let is_unknown_member = req.member_id.is_empty();
        let mut group = match self.groups.remove(&req.group_id) {
            Some(group) => group,
            None if is_unknown_member => Group::new(req.group_id.clone(), now_ms),
            None => {
                return self.respond(token, Response::JoinGroup(Err(GroupError::UnknownMemberId)))
            }
        };
        if !self.accept_joining_member(&group, &req.member_id) {
            if let Some(member) = group.remove(&req.member_id) {
                self.answer_removed_member(member);
            }
            self.respond(
                token,
                Response::JoinGroup(Err(GroupError::GroupMaxSizeReached)),
            );
        } else if let Err(e) = Self::joinable(&group, &req) {
            self.respond(token, Response::JoinGroup(Err(e)));
        } else if is_unknown_member {
            self.new_member_join(now_ms, &mut group, token, req);
        } else {
            self.current_member_join(now_ms, &mut group, token, req);
        }
        if group.is(GroupState::PreparingRebalance) {
            self.try_complete_join(now_ms, &mut group);
        }
        self.put_group(group);
    }

    /// Kafka's `acceptJoiningMember` (`group.max.size`).
    fn accept_joining_member(&self, group: &Group, member_id: &str) -> bool {
        let max = usize::try_from(self.config.group_max_size).unwrap_or(usize::MAX);
        match group.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                group
                    .members
                    .get(member_id)
                    .is_some_and(|m| m.awaiting_join.is_some())
                    || group.num_awaiting_join() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                group.members.contains_key(member_id) || group.members.len() < max
            }
        }
    }

    /// The checks Kafka's `doNewMemberJoinGroup` and
    /// `doCurrentMemberJoinGroup` share.
    fn joinable(group: &Group, req: &JoinGroup) -> Result<(), GroupError> {
        if group.is(GroupState::Dead) {
            Err(GroupError::CoordinatorNotAvailable)
        } else if !group.supports_protocols(&req.protocol_type, &req.protocols) {
            Err(GroupError::InconsistentGroupProtocol)
        } else {
            Ok(())
        }
    }

    fn new_member_join(
        &mut self,
        now_ms: i64,
        group: &mut Group,
        token: RequestToken,
        req: JoinGroup,
    ) {
        let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
        let mut new_member_id = self.member_ids.next(prefix);
        while group.members.contains_key(&new_member_id)
            || group.pending_members.contains_key(&new_member_id)
        {
            new_member_id = self.member_ids.next(prefix);
        }
        match req.group_instance_id.clone() {
            Some(instance_id) => match group
                .current_static_member_id(&instance_id)
                .map(str::to_owned)
            {
                Some(old_member_id) => {
                    info!(group_id = %group.group_id, %instance_id, %old_member_id, %new_member_id, "static member rejoined with a new member id");
                    self.update_static_member_and_rebalance(
                        now_ms,
                        group,
                        token,
                        instance_id,
                        old_member_id,
                        new_member_id,
                        req,
                    );
                }
                None => self.add_member_and_rebalance(now_ms, group, token, new_member_id, req),
            },
            None if req.require_known_member_id => {
                let deadline = now_ms + i64::from(req.session_timeout_ms);
                group
                    .pending_members
                    .insert(new_member_id.clone(), deadline);
                self.respond(
                    token,
                    Response::JoinGroup(Err(GroupError::MemberIdRequired {
                        member_id: new_member_id,
                    })),
                );
            }
            None => self.add_member_and_rebalance(now_ms, group, token, new_member_id, req),
        }
    }

    fn current_member_join(
        &mut self,
        now_ms: i64,
        group: &mut Group,
        token: RequestToken,
        req: JoinGroup,
    ) {
        if group.pending_members.contains_key(&req.member_id) {
            // A pending member is dynamic by construction.
            let member_id = req.member_id.clone();
            return self.add_member_and_rebalance(now_ms, group, token, member_id, req);
        }
        let instance_unknown = req
            .group_instance_id
            .as_deref()
            .is_some_and(|i| group.current_static_member_id(i).is_none());
        let fenced = req
            .group_instance_id
            .as_deref()
            .and_then(|i| group.current_static_member_id(i))
            .is_some_and(|current| current != req.member_id);
        if fenced {
            return self.respond(
                token,
                Response::JoinGroup(Err(GroupError::FencedInstanceId)),
            );
        }
        let Some(member) = group.members.get(&req.member_id) else {
            return self.respond(token, Response::JoinGroup(Err(GroupError::UnknownMemberId)));
        };
        if instance_unknown {
            return self.respond(token, Response::JoinGroup(Err(GroupError::UnknownMemberId)));
        }
        let matches = member.matches(&req.protocols);
        match group.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(now_ms, group, token, req)
            }
            GroupState::CompletingRebalance if matches => {
                // The member probably missed its JoinGroup response: resend
                // the current generation.
                let response = join_response(group, &req.member_id, false);
                self.respond(token, Response::JoinGroup(Ok(response)));
            }
            GroupState::Stable if !group.is_leader(&req.member_id) && matches => {
                // A follower with unchanged metadata just learns the current
                // generation and may SyncGroup again.
                let mut response = join_response(group, &req.member_id, false);
                response.members.clear();
                self.respond(token, Response::JoinGroup(Ok(response)));
            }
            // Changed metadata, or the leader rejoining (it may have seen a
            // topic change that does not show in metadata), forces a rebalance.
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(now_ms, group, token, req)
            }
            GroupState::Empty | GroupState::Dead => {
                self.respond(token, Response::JoinGroup(Err(GroupError::UnknownMemberId)))
            }
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        now_ms: i64,
        group: &mut Group,
        token: RequestToken,
        member_id: String,
        req: JoinGroup,
    ) {
        let member = Member {
            member_id,
            group_instance_id: req.group_instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            session_timeout_ms: req.session_timeout_ms,
            protocol_type: req.protocol_type,
            protocols: req.protocols,
            assignment: Bytes::new(),
            awaiting_join: Some(token),
            awaiting_sync: None,
            is_new: true,
            heartbeat_deadline_ms: Some(now_ms + NEW_MEMBER_JOIN_TIMEOUT_MS),
        };
        if group.is(GroupState::PreparingRebalance) && group.generation_id == 0 {
            group.new_member_added = true;
        }
        group.add(member);
        self.maybe_prepare_rebalance(now_ms, group);
    }

    /// Kafka's `updateMember`: new protocols and timeouts, and `token` as the
    /// parked JoinGroup. A different JoinGroup parked before (a client
    /// retry) is answered REBALANCE_IN_PROGRESS so its token is not leaked.
    fn update_member(
        &mut self,
        group: &mut Group,
        member_id: &str,
        protocols: Vec<JoinGroupProtocol>,
        rebalance_timeout_ms: i32,
        session_timeout_ms: i32,
        token: Option<RequestToken>,
    ) {
        let member = group
            .members
            .get_mut(member_id)
            .expect("updated member exists");
        member.protocols = protocols;
        member.rebalance_timeout_ms = rebalance_timeout_ms;
        member.session_timeout_ms = session_timeout_ms;
        let superseded = std::mem::replace(&mut member.awaiting_join, token);
        if let Some(old) = superseded.filter(|old| Some(*old) != token) {
            self.respond(
                old,
                Response::JoinGroup(Err(GroupError::RebalanceInProgress)),
            );
        }
    }

    fn update_member_and_rebalance(
        &mut self,
        now_ms: i64,
        group: &mut Group,
        token: RequestToken,
        req: JoinGroup,
    ) {
        self.update_member(
            group,
            &req.member_id,
            req.protocols,
            req.rebalance_timeout_ms,
            req.session_timeout_ms,
            Some(token),
        );
        self.maybe_prepare_rebalance(now_ms, group);
    }

    /// Kafka's `replaceStaticMember`: moves the member to its new id and
    /// fences requests parked under the old one.
    fn replace_static_member(
        &mut self,
        group: &mut Group,
        instance_id: &str,
        old_member_id: &str,
        new_member_id: &str,
    ) {
        let mut member = group
            .members
            .shift_remove(old_member_id)
            .expect("static member exists");
        if let Some(t) = member.awaiting_join.take() {
            self.respond(t, Response::JoinGroup(Err(GroupError::FencedInstanceId)));
        }
        if let Some(t) = member.awaiting_sync.take() {
            self.respond(t, Response::SyncGroup(Err(GroupError::FencedInstanceId)));
        }
        if group.pending_sync_members.remove(old_member_id) {
            group.pending_sync_members.insert(new_member_id.to_owned());
        }
        member.member_id = new_member_id.to_owned();
        group.members.insert(new_member_id.to_owned(), member);
        if group.is_leader(old_member_id) {
            group.leader_id = Some(new_member_id.to_owned());
        }
        group
            .static_members
            .insert(instance_id.to_owned(), new_member_id.to_owned());
    }

    #[allow(clippy::too_many_arguments)]
    fn update_static_member_and_rebalance(
        &mut self,
        now_ms: i64,
        group: &mut Group,
        token: RequestToken,
        instance_id: String,
        old_member_id: String,
        new_member_id: String,
        req: JoinGroup,
    ) {
        let leader_before = group.leader_id.clone();
        self.replace_static_member(group, &instance_id, &old_member_id, &new_member_id);
        let member = group
            .members
            .get_mut(&new_member_id)
            .expect("just replaced");
        member.heartbeat_deadline_ms = Some(now_ms + i64::from(member.session_timeout_ms));
        let old_protocols = member.protocols.clone();
        let old_rebalance_timeout_ms = member.rebalance_timeout_ms;
        let old_session_timeout_ms = member.session_timeout_ms;
        self.update_member(
            group,
            &new_member_id,
            req.protocols,
            req.rebalance_timeout_ms,
            req.session_timeout_ms,
            Some(token),
        );
        match group.state {
            GroupState::Stable => {
                let selected = group.select_protocol();
                if group.protocol_name.as_deref() == Some(selected.as_str()) {
                    // Same protocol: keep the generation and the assignment;
                    // only the new member id must become durable first.
                    let record = Self::group_record(group, &group.current_assignment());
                    let pending = PendingPersist::StaticRejoin(Box::new(StaticRejoin {
                        token,
                        group_id: group.group_id.clone(),
                        group_instance_id: instance_id,
                        old_member_id,
                        new_member_id,
                        old_protocols,
                        old_rebalance_timeout_ms,
                        old_session_timeout_ms,
                        leader_before,
                        supports_skip_assignment: req.supports_skip_assignment,
                    }));
                    self.persist(&group.group_id.clone(), vec![record], pending);
                } else {
                    self.maybe_prepare_rebalance(now_ms, group);
                }
            }
            // The leader may already have the old member id in its
            // assignment; rebalance so the new id gets one.
            GroupState::CompletingRebalance => self.prepare_rebalance(now_ms, group),
            // Parked until the join phase completes.
            GroupState::PreparingRebalance => {}
            GroupState::Empty | GroupState::Dead => {
                unreachable!("a group with a static member is not {:?}", group.state)
            }
        }
    }

    fn maybe_prepare_rebalance(&mut self, now_ms: i64, group: &mut Group) {
        if group.can_rebalance() {
            self.prepare_rebalance(now_ms, group);
        }
    }

    /// Kafka's `prepareRebalance`.
    fn prepare_rebalance(&mut self, now_ms: i64, group: &mut Group) {
        if group.is(GroupState::CompletingRebalance) {
            self.reset_and_propagate_assignment_error(
                now_ms,
                group,
                GroupError::RebalanceInProgress,
            );
        }
        group.sync_deadline_ms = None;
        let rebalance_timeout_ms = group.rebalance_timeout_ms();
        let timer = if group.is(GroupState::Empty) {
            let delay_ms = i64::from(self.config.group_initial_rebalance_delay_ms);
            JoinTimer::Initial {
                deadline_ms: now_ms + delay_ms,
                delay_ms,
                remaining_ms: (rebalance_timeout_ms - delay_ms).max(0),
            }
        } else {
            JoinTimer::Rebalance {
                deadline_ms: now_ms + rebalance_timeout_ms,
            }
        };
        group.transition_to(GroupState::PreparingRebalance, now_ms);
        group.join_timer = Some(timer);
        info!(group_id = %group.group_id, generation_id = group.generation_id, "preparing to rebalance");
        self.try_complete_join(now_ms, group);
    }

    /// Completes the join phase early once every member has rejoined
    /// (never during the initial delay).
    fn try_complete_join(&mut self, now_ms: i64, group: &mut Group) {
        if matches!(group.join_timer, Some(JoinTimer::Rebalance { .. }))
            && group.has_all_members_joined()
        {
            self.complete_join(now_ms, group);
        }
    }

    /// Kafka's `onCompleteJoin`.
    fn complete_join(&mut self, now_ms: i64, group: &mut Group) {
        assert!(group.is(GroupState::PreparingRebalance));
        group.join_timer = None;
        let not_rejoined: Vec<String> = group
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && !m.is_static())
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in not_rejoined {
            info!(group_id = %group.group_id, %member_id, "removing member that did not rejoin in time");
            if let Some(member) = group.remove(&member_id) {
                self.answer_removed_member(member);
            }
        }
        if !group.maybe_elect_new_joined_leader() && !group.members.is_empty() {
            warn!(group_id = %group.group_id, "no member rejoined; waiting another rebalance timeout");
            group.join_timer = Some(JoinTimer::Rebalance {
                deadline_ms: now_ms + group.rebalance_timeout_ms().max(1),
            });
            return;
        }
        group.init_next_generation(now_ms);
        if group.is(GroupState::Empty) {
            info!(group_id = %group.group_id, generation_id = group.generation_id, "group is now empty");
            let record = Self::group_record(group, &BTreeMap::new());
            self.persist(
                &group.group_id.clone(),
                vec![record],
                PendingPersist::Unobserved,
            );
            return;
        }
        info!(group_id = %group.group_id, generation_id = group.generation_id, members = group.members.len(), "join phase complete");
        let leader_view = group.current_member_metadata();
        let ids: Vec<String> = group.members.keys().cloned().collect();
        for member_id in ids {
            let mut response = join_response(group, &member_id, false);
            if group.is_leader(&member_id) {
                response.members = leader_view.clone();
            }
            let member = group.members.get_mut(&member_id).expect("listed");
            let token = member.awaiting_join.take();
            member.heartbeat_deadline_ms = Some(now_ms + i64::from(member.session_timeout_ms));
            member.is_new = false;
            group.pending_sync_members.insert(member_id);
            if let Some(token) = token {
                self.respond(token, Response::JoinGroup(Ok(response)));
            }
        }
        group.sync_deadline_ms = Some(now_ms + group.rebalance_timeout_ms());
    }

    /// Answers whatever a removed member had parked with UNKNOWN_MEMBER_ID.
    fn answer_removed_member(&mut self, mut member: Member) {
        if let Some(token) = member.awaiting_join.take() {
            self.respond(token, Response::JoinGroup(Err(GroupError::UnknownMemberId)));
        }
        if let Some(token) = member.awaiting_sync.take() {
            self.respond(token, Response::SyncGroup(Err(GroupError::UnknownMemberId)));
        }
    }

    /// Kafka's `removeMemberAndUpdateGroup`.
    fn remove_member_and_update_group(&mut self, now_ms: i64, group: &mut Group, member_id: &str) {
        if let Some(member) = group.remove(member_id) {
            self.answer_removed_member(member);
        }
        match group.state {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(now_ms, group)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now_ms, group),
        }
    }

    fn remove_pending_member_and_update_group(
        &mut self,
        now_ms: i64,
        group: &mut Group,
        member_id: &str,
    ) {
        group.pending_members.remove(member_id);
        if group.is(GroupState::PreparingRebalance) {
            self.try_complete_join(now_ms, group);
        }
    }

    // ---------------------------------------------------------------- sync

    fn sync_group(&mut self, now_ms: i64, token: RequestToken, req: SyncGroup) {
        if let Err(e) = self.validate_group_status(&req.group_id, true) {
            return self.respond(token, Response::SyncGroup(Err(e)));
        }
        let Some(mut group) = self.groups.remove(&req.group_id) else {
            return self.respond(token, Response::SyncGroup(Err(GroupError::UnknownMemberId)));
        };
        self.do_sync_group(now_ms, &mut group, token, req);
        self.put_group(group);
    }

    fn do_sync_group(
        &mut self,
        now_ms: i64,
        group: &mut Group,
        token: RequestToken,
        req: SyncGroup,
    ) {
        let check = group
            .validate_current_member(&req.member_id, req.group_instance_id.as_deref())
            .and_then(|()| {
                if req.generation_id != group.generation_id {
                    Err(GroupError::IllegalGeneration)
                } else if req
                    .protocol_type
                    .as_ref()
                    .is_some_and(|t| group.protocol_type.as_ref() != Some(t))
                    || req
                        .protocol_name
                        .as_ref()
                        .is_some_and(|n| group.protocol_name.as_ref() != Some(n))
                {
                    Err(GroupError::InconsistentGroupProtocol)
                } else {
                    Ok(())
                }
            });
        if let Err(e) = check {
            return self.respond(token, Response::SyncGroup(Err(e)));
        }
        match group.state {
            GroupState::Empty => {
                self.respond(token, Response::SyncGroup(Err(GroupError::UnknownMemberId)))
            }
            GroupState::PreparingRebalance => self.respond(
                token,
                Response::SyncGroup(Err(GroupError::RebalanceInProgress)),
            ),
            GroupState::CompletingRebalance => {
                let member = group.members.get_mut(&req.member_id).expect("validated");
                if let Some(old) = member.awaiting_sync.replace(token) {
                    self.respond(
                        old,
                        Response::SyncGroup(Err(GroupError::RebalanceInProgress)),
                    );
                }
                group.pending_sync_members.remove(&req.member_id);
                if group.is_leader(&req.member_id) {
                    let mut assignment: BTreeMap<String, Bytes> = req
                        .assignments
                        .into_iter()
                        .filter(|(id, _)| group.members.contains_key(id))
                        .collect();
                    for id in group.members.keys() {
                        if !assignment.contains_key(id) {
                            warn!(group_id = %group.group_id, member_id = %id, "leader gave a member no assignment");
                            assignment.insert(id.clone(), Bytes::new());
                        }
                    }
                    let record = Self::group_record(group, &assignment);
                    let pending = PendingPersist::GroupAssignment {
                        group_id: group.group_id.clone(),
                        generation_id: group.generation_id,
                        assignment,
                    };
                    self.persist(&group.group_id.clone(), vec![record], pending);
                }
            }
            GroupState::Stable => {
                group.pending_sync_members.remove(&req.member_id);
                let member = group.members.get_mut(&req.member_id).expect("validated");
                member.heartbeat_deadline_ms = Some(now_ms + i64::from(member.session_timeout_ms));
                let response = SyncGroupResponse {
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    assignment: member.assignment.clone(),
                };
                self.respond(token, Response::SyncGroup(Ok(response)));
            }
            GroupState::Dead => self.respond(
                token,
                Response::SyncGroup(Err(GroupError::CoordinatorNotAvailable)),
            ),
        }
    }

    /// Kafka's `propagateAssignment`: answers every parked SyncGroup.
    fn propagate_assignment(&mut self, now_ms: i64, group: &mut Group, error: Option<GroupError>) {
        let (protocol_type, protocol_name) = match error {
            None => (group.protocol_type.clone(), group.protocol_name.clone()),
            Some(_) => (None, None),
        };
        let mut answers = Vec::new();
        for member in group.members.values_mut() {
            if let Some(token) = member.awaiting_sync.take() {
                let response = match &error {
                    None => Ok(SyncGroupResponse {
                        protocol_type: protocol_type.clone(),
                        protocol_name: protocol_name.clone(),
                        assignment: member.assignment.clone(),
                    }),
                    Some(e) => Err(e.clone()),
                };
                answers.push((token, response));
                member.heartbeat_deadline_ms = Some(now_ms + i64::from(member.session_timeout_ms));
            }
        }
        for (token, response) in answers {
            self.respond(token, Response::SyncGroup(response));
        }
    }

    fn reset_and_propagate_assignment_error(
        &mut self,
        now_ms: i64,
        group: &mut Group,
        error: GroupError,
    ) {
        assert!(group.is(GroupState::CompletingRebalance));
        for member in group.members.values_mut() {
            member.assignment = Bytes::new();
        }
        self.propagate_assignment(now_ms, group, Some(error));
    }

    // ----------------------------------------------------- heartbeat, leave

    fn heartbeat(&mut self, now_ms: i64, token: RequestToken, req: Heartbeat) {
        let result = self.do_heartbeat(now_ms, &req);
        self.respond(token, Response::Heartbeat(result));
    }

    fn do_heartbeat(&mut self, now_ms: i64, req: &Heartbeat) -> Result<(), GroupError> {
        self.validate_group_status(&req.group_id, true)?;
        let group = self
            .groups
            .get_mut(&req.group_id)
            .ok_or(GroupError::UnknownMemberId)?;
        group.validate_current_member(&req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != group.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        let state = group.state;
        let member = group.members.get_mut(&req.member_id).expect("validated");
        match state {
            GroupState::Empty => Err(GroupError::UnknownMemberId),
            GroupState::Dead => Err(GroupError::CoordinatorNotAvailable),
            GroupState::CompletingRebalance | GroupState::Stable => {
                member.heartbeat_deadline_ms = Some(now_ms + i64::from(member.session_timeout_ms));
                Ok(())
            }
            GroupState::PreparingRebalance => {
                member.heartbeat_deadline_ms = Some(now_ms + i64::from(member.session_timeout_ms));
                Err(GroupError::RebalanceInProgress)
            }
        }
    }

    fn leave_group(&mut self, now_ms: i64, token: RequestToken, req: LeaveGroup) {
        if let Err(e) = self.validate_group_status(&req.group_id, true) {
            return self.respond(token, Response::LeaveGroup(Err(e)));
        }
        let Some(mut group) = self.groups.remove(&req.group_id) else {
            let results = req
                .members
                .into_iter()
                .map(|m| LeaveGroupMemberResult {
                    member_id: m.member_id,
                    group_instance_id: m.group_instance_id,
                    result: Err(GroupError::UnknownMemberId),
                })
                .collect();
            return self.respond(token, Response::LeaveGroup(Ok(results)));
        };
        let mut results = Vec::with_capacity(req.members.len());
        for leaving in req.members {
            let result = if leaving.member_id.is_empty() {
                // Administrative removal of a static member by instance id.
                match leaving
                    .group_instance_id
                    .as_deref()
                    .and_then(|i| group.current_static_member_id(i))
                    .map(str::to_owned)
                {
                    Some(current) => {
                        info!(group_id = %group.group_id, member_id = %current, reason = ?leaving.reason, "static member removed");
                        self.remove_member_and_update_group(now_ms, &mut group, &current);
                        Ok(())
                    }
                    None => Err(GroupError::UnknownMemberId),
                }
            } else if group.pending_members.contains_key(&leaving.member_id) {
                self.remove_pending_member_and_update_group(now_ms, &mut group, &leaving.member_id);
                Ok(())
            } else {
                group
                    .validate_current_member(&leaving.member_id, leaving.group_instance_id.as_deref())
                    .map(|()| {
                        info!(group_id = %group.group_id, member_id = %leaving.member_id, reason = ?leaving.reason, "member left");
                        self.remove_member_and_update_group(now_ms, &mut group, &leaving.member_id);
                    })
            };
            results.push(LeaveGroupMemberResult {
                member_id: leaving.member_id,
                group_instance_id: leaving.group_instance_id,
                result,
            });
        }
        self.put_group(group);
        self.respond(token, Response::LeaveGroup(Ok(results)));
    }

    // -------------------------------------------------------------- offsets

    fn offset_commit(&mut self, now_ms: i64, token: RequestToken, req: OffsetCommit) {
        let fail_all = |offsets: &[super::request::OffsetCommitPartition], e: GroupError| {
            offsets
                .iter()
                .map(|o| (o.topic_partition.clone(), Err(e.clone())))
                .collect::<Vec<_>>()
        };
        if let Err(e) = self.validate_group_status(&req.group_id, false) {
            return self.respond(token, Response::OffsetCommit(fail_all(&req.offsets, e)));
        }
        if let Some(check) = self.validate_consumer_offset_commit(
            &req.group_id,
            &req.member_id,
            req.generation_id,
            req.api_version,
        ) {
            if let Err(e) = check {
                return self.respond(token, Response::OffsetCommit(fail_all(&req.offsets, e)));
            }
            let mut holder = self.offsets_holder(&req.group_id, now_ms);
            self.store_offsets(now_ms, &mut holder, token, req);
            return self.put_group(holder);
        }
        let mut group = match self.groups.remove(&req.group_id) {
            Some(group) => group,
            // Not using Kafka's group management: a simple consumer may
            // commit to a group that does not exist yet.
            None if req.generation_id < 0 => Group::new(req.group_id.clone(), now_ms),
            // Or a request from an older generation of a group that is gone.
            None => {
                return self.respond(
                    token,
                    Response::OffsetCommit(fail_all(&req.offsets, GroupError::IllegalGeneration)),
                )
            }
        };
        let validation = Self::validate_offset_commit(&group, &req).and(match group.state {
            GroupState::Empty | GroupState::Stable | GroupState::PreparingRebalance => Ok(()),
            // The member has the new generation but not its assignment yet.
            GroupState::CompletingRebalance => Err(GroupError::RebalanceInProgress),
            GroupState::Dead => Err(GroupError::CoordinatorNotAvailable),
        });
        match validation {
            Err(e) => self.respond(token, Response::OffsetCommit(fail_all(&req.offsets, e))),
            Ok(()) => {
                if let Some(member) = group.members.get_mut(&req.member_id) {
                    member.heartbeat_deadline_ms =
                        Some(now_ms + i64::from(member.session_timeout_ms));
                }
                self.store_offsets(now_ms, &mut group, token, req);
            }
        }
        self.put_group(group);
    }

    /// Kafka's `validateOffsetCommit` (non-transactional).
    fn validate_offset_commit(group: &Group, req: &OffsetCommit) -> Result<(), GroupError> {
        if group.is(GroupState::Dead) {
            Err(GroupError::CoordinatorNotAvailable)
        } else if req.generation_id >= 0
            || !req.member_id.is_empty()
            || req.group_instance_id.is_some()
        {
            group.validate_current_member(&req.member_id, req.group_instance_id.as_deref())?;
            if req.generation_id != group.generation_id {
                Err(GroupError::IllegalGeneration)
            } else {
                Ok(())
            }
        } else if !group.is(GroupState::Empty) {
            // Only members may commit to a group with members.
            Err(GroupError::UnknownMemberId)
        } else {
            Ok(())
        }
    }

    fn store_offsets(
        &mut self,
        now_ms: i64,
        group: &mut Group,
        token: RequestToken,
        req: OffsetCommit,
    ) {
        let max = usize::try_from(self.config.offset_metadata_max_bytes).unwrap_or(0);
        let retention_time_ms = req.retention_time_ms.filter(|r| *r >= 0);
        let results: Vec<(TopicPartition, Result<OffsetCommitValue, GroupError>)> = req
            .offsets
            .into_iter()
            .map(|o| {
                let metadata = o.metadata.unwrap_or_default();
                let value = if metadata.len() > max {
                    Err(GroupError::OffsetMetadataTooLarge)
                } else {
                    Ok(OffsetCommitValue {
                        offset: o.offset,
                        leader_epoch: o.leader_epoch.filter(|e| *e >= 0),
                        metadata,
                        commit_timestamp_ms: o.commit_timestamp_ms.unwrap_or(now_ms),
                        expire_timestamp_ms: retention_time_ms.map(|r| now_ms.saturating_add(r)),
                    })
                };
                (o.topic_partition, value)
            })
            .collect();
        let records: Vec<OffsetsRecord> = results
            .iter()
            .filter_map(|(tp, value)| {
                let value = value.as_ref().ok()?;
                Some(OffsetsRecord {
                    key: RecordKey::OffsetCommit {
                        group_id: group.group_id.clone(),
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                    }
                    .encode(),
                    value: Some(value.encode()),
                })
            })
            .collect();
        if records.is_empty() {
            let response = results
                .into_iter()
                .map(|(tp, r)| (tp, r.map(|_| ())))
                .collect();
            return self.respond(token, Response::OffsetCommit(response));
        }
        for (tp, value) in &results {
            if value.is_ok() {
                *group.pending_offset_commits.entry(tp.clone()).or_default() += 1;
            }
        }
        let pending = PendingPersist::OffsetCommit {
            token,
            group_id: group.group_id.clone(),
            results,
        };
        self.persist(&group.group_id.clone(), records, pending);
    }

    fn offset_fetch(&mut self, token: RequestToken, req: OffsetFetch) {
        if let Err(e) = self
            .validate_group_status(&req.group_id, false)
            .and_then(|()| self.validate_consumer_offset_fetch(&req.group_id, req.member.as_ref()))
        {
            return self.respond(token, Response::OffsetFetch(Err(e)));
        }
        let group = self.groups.get(&req.group_id);
        let unstable = |tp: &TopicPartition| {
            req.require_stable && self.has_pending_txn_offset(&req.group_id, tp)
        };
        let fetched = |tp: &TopicPartition, v: Option<&OffsetCommitValue>| {
            if unstable(tp) {
                // Kafka's OffsetMetadataManager: offset -1, no epoch, "".
                return FetchedOffset {
                    topic_partition: tp.clone(),
                    offset: -1,
                    leader_epoch: None,
                    metadata: String::new(),
                    unstable: true,
                };
            }
            FetchedOffset {
                topic_partition: tp.clone(),
                offset: v.map_or(-1, |v| v.offset),
                leader_epoch: v.and_then(|v| v.leader_epoch),
                metadata: v.map(|v| v.metadata.clone()).unwrap_or_default(),
                unstable: false,
            }
        };
        let offsets = match req.partitions {
            Some(partitions) => partitions
                .iter()
                .map(|tp| fetched(tp, group.and_then(|g| g.offsets.get(tp))))
                .collect(),
            None => group
                .map(|g| {
                    g.offsets
                        .iter()
                        .map(|(tp, v)| fetched(tp, Some(v)))
                        .collect()
                })
                .unwrap_or_default(),
        };
        self.respond(token, Response::OffsetFetch(Ok(offsets)));
    }

    fn offset_delete(&mut self, now_ms: i64, token: RequestToken, req: OffsetDelete) {
        if let Err(e) = self.validate_group_status(&req.group_id, false) {
            return self.respond(token, Response::OffsetDelete(Err(e)));
        }
        let holder = self
            .consumer_groups
            .contains_key(&req.group_id)
            .then(|| self.offsets_holder(&req.group_id, now_ms));
        let Some(mut group) = holder.or_else(|| self.groups.remove(&req.group_id)) else {
            return self.respond(
                token,
                Response::OffsetDelete(Err(GroupError::GroupIdNotFound)),
            );
        };
        let mut results = Vec::with_capacity(req.partitions.len());
        let mut eligible = Vec::new();
        let consumer_topics = self
            .consumer_groups
            .get(&req.group_id)
            .filter(|g| !g.members.is_empty())
            .map(|g| self.subscribed_topics(g, None, None));
        let group_error = match group.state {
            GroupState::Empty if consumer_topics.is_some() => {
                let topics = consumer_topics.unwrap_or_default();
                for tp in &req.partitions {
                    if topics.contains(&tp.topic) {
                        results.push((tp.clone(), Err(GroupError::GroupSubscribedToTopic)));
                    } else {
                        eligible.push(tp.clone());
                    }
                }
                None
            }
            GroupState::Dead => Some(GroupError::GroupIdNotFound),
            GroupState::Empty => {
                eligible = req.partitions.clone();
                None
            }
            GroupState::PreparingRebalance
            | GroupState::CompletingRebalance
            | GroupState::Stable
                if group.is_consumer_group() =>
            {
                for tp in &req.partitions {
                    if group.is_subscribed_to_topic(&tp.topic) {
                        results.push((tp.clone(), Err(GroupError::GroupSubscribedToTopic)));
                    } else {
                        eligible.push(tp.clone());
                    }
                }
                None
            }
            _ => Some(GroupError::NonEmptyGroup),
        };
        if let Some(e) = group_error {
            self.put_group(group);
            return self.respond(token, Response::OffsetDelete(Err(e)));
        }
        let mut tombstones = Vec::new();
        for tp in &eligible {
            if group.offsets.remove(tp).is_some() {
                tombstones.push(offset_tombstone(&group.group_id, tp));
            }
        }
        if !tombstones.is_empty() {
            self.persist(
                &group.group_id.clone(),
                tombstones,
                PendingPersist::Unobserved,
            );
        }
        results.extend(eligible.into_iter().map(|tp| (tp, Ok(()))));
        // Answer in request order.
        let ordered = req
            .partitions
            .iter()
            .filter_map(|tp| results.iter().find(|(t, _)| t == tp).cloned())
            .collect();
        self.put_group(group);
        self.respond(token, Response::OffsetDelete(Ok(ordered)));
    }

    // ------------------------------------------- describe, list, delete

    fn describe_groups(&mut self, token: RequestToken, req: DescribeGroups) {
        let described = req
            .group_ids
            .into_iter()
            .map(|group_id| {
                let status = self.validate_group_status(&group_id, false);
                // A consumer group is not a classic group: Kafka describes
                // it as missing.
                let classic = !self.consumer_groups.contains_key(&group_id);
                let group = (status.is_ok() && classic)
                    .then(|| self.groups.get(&group_id))
                    .flatten();
                describe(group_id, status, group)
            })
            .collect();
        self.respond(token, Response::DescribeGroups(described));
    }

    fn list_groups(&mut self, token: RequestToken, req: ListGroups) {
        let loading = self.partitions.contains(&PartitionStatus::Loading);
        let classic = self
            .groups
            .values()
            .filter(|g| !self.consumer_groups.contains_key(&g.group_id))
            .map(|g| ListedGroup {
                group_id: g.group_id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
                consumer_state: None,
            });
        let consumer = self.consumer_groups.values().map(|g| ListedGroup {
            group_id: g.group_id.clone(),
            protocol_type: super::group::CONSUMER_PROTOCOL_TYPE.to_owned(),
            state: GroupState::Empty,
            consumer_state: Some(g.state()),
        });
        let matches = |filter: &[String], value: &str| {
            filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value))
        };
        let mut groups: Vec<ListedGroup> = classic
            .chain(consumer)
            .filter(|g| matches(&req.states_filter, g.state_name()))
            .filter(|g| matches(&req.types_filter, g.group_type()))
            .collect();
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        let result = if loading {
            Err(GroupError::CoordinatorLoadInProgress)
        } else {
            Ok(())
        };
        self.respond(token, Response::ListGroups { result, groups });
    }

    fn delete_groups(&mut self, now_ms: i64, token: RequestToken, req: DeleteGroups) {
        let mut results = Vec::with_capacity(req.group_ids.len());
        for group_id in req.group_ids {
            let result = self.validate_group_status(&group_id, false).and_then(|()| {
                if let Some(consumer) = self.consumer_groups.get(&group_id) {
                    return if consumer.members.is_empty() {
                        Ok(())
                    } else {
                        Err(GroupError::NonEmptyGroup)
                    };
                }
                let group = self
                    .groups
                    .get(&group_id)
                    .ok_or(GroupError::GroupIdNotFound)?;
                match group.state {
                    GroupState::Empty => Ok(()),
                    GroupState::Dead => Err(GroupError::GroupIdNotFound),
                    _ => Err(GroupError::NonEmptyGroup),
                }
            });
            if result.is_ok() && self.consumer_groups.contains_key(&group_id) {
                let records = self.delete_consumer_group(&group_id);
                self.persist(&group_id, records, PendingPersist::Unobserved);
                let mut holder = self.offsets_holder(&group_id, now_ms);
                holder.transition_to(GroupState::Dead, now_ms);
                self.tombstone_group(&mut holder, true);
            } else if result.is_ok() {
                let mut group = self.groups.remove(&group_id).expect("checked");
                group.transition_to(GroupState::Dead, now_ms);
                self.tombstone_group(&mut group, true);
                info!(%group_id, "group deleted");
            }
            results.push((group_id, result));
        }
        self.respond(token, Response::DeleteGroups(results));
    }

    /// Appends tombstones for all of a dead group's offsets (if
    /// `all_offsets`) and for its metadata (if it ever had a generation).
    fn tombstone_group(&mut self, group: &mut Group, all_offsets: bool) {
        let mut records = Vec::new();
        if all_offsets {
            for tp in std::mem::take(&mut group.offsets).keys() {
                records.push(offset_tombstone(&group.group_id, tp));
            }
        }
        // Kafka writes no group tombstone for generation 0 (offset storage
        // only): there is no group record to delete.
        if group.generation_id > 0 {
            records.push(OffsetsRecord {
                key: RecordKey::GroupMetadata {
                    group_id: group.group_id.clone(),
                }
                .encode(),
                value: None,
            });
        }
        if !records.is_empty() {
            self.persist(&group.group_id.clone(), records, PendingPersist::Unobserved);
        }
    }

    // -------------------------------------------------------------- timers

    fn handle_tick(&mut self, now_ms: i64) {
        let due: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| {
                group_timers(g)
                    .iter()
                    .any(|(deadline, _)| *deadline <= now_ms)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for group_id in due {
            let Some(mut group) = self.groups.remove(&group_id) else {
                continue;
            };
            let mut timers = group_timers(&group);
            timers.retain(|(deadline, _)| *deadline <= now_ms);
            timers.sort_by_key(|(deadline, _)| *deadline);
            // Timers scheduled by these firings wait for the next tick, so a
            // zero timeout cannot spin inside one tick.
            for (deadline, timer) in timers {
                if group.is(GroupState::Dead) {
                    break;
                }
                let still_due = group_timers(&group).contains(&(deadline, timer.clone()));
                if still_due {
                    self.fire_timer(now_ms, &mut group, timer);
                }
            }
            self.put_group(group);
        }
        self.consumer_tick(now_ms);
        if self.next_offsets_cleanup_ms.is_some_and(|t| t <= now_ms) {
            self.cleanup_offsets(now_ms);
            self.next_offsets_cleanup_ms =
                Some(now_ms + self.config.offsets_retention_check_interval_ms);
        }
    }

    fn fire_timer(&mut self, now_ms: i64, group: &mut Group, timer: Timer) {
        match timer {
            Timer::Heartbeat(member_id) => {
                let member = group
                    .members
                    .get_mut(&member_id)
                    .expect("timer of a member");
                if member.exempt_from_session_expiry() {
                    member.heartbeat_deadline_ms = None;
                } else {
                    info!(group_id = %group.group_id, %member_id, "member session expired");
                    self.remove_member_and_update_group(now_ms, group, &member_id);
                }
            }
            Timer::PendingMember(member_id) => {
                debug!(group_id = %group.group_id, %member_id, "pending member expired");
                self.remove_pending_member_and_update_group(now_ms, group, &member_id);
            }
            Timer::Join => match group.join_timer.take() {
                Some(JoinTimer::Initial {
                    delay_ms,
                    remaining_ms,
                    ..
                }) if group.new_member_added && remaining_ms != 0 => {
                    group.new_member_added = false;
                    let configured = i64::from(self.config.group_initial_rebalance_delay_ms);
                    let delay = configured.min(remaining_ms);
                    group.join_timer = Some(JoinTimer::Initial {
                        deadline_ms: now_ms + delay,
                        delay_ms: delay,
                        remaining_ms: (remaining_ms - delay_ms).max(0),
                    });
                }
                Some(_) => self.complete_join(now_ms, group),
                None => {}
            },
            Timer::Sync => {
                group.sync_deadline_ms = None;
                if matches!(
                    group.state,
                    GroupState::CompletingRebalance | GroupState::Stable
                ) && !group.pending_sync_members.is_empty()
                {
                    let missing: Vec<String> = group.pending_sync_members.iter().cloned().collect();
                    info!(group_id = %group.group_id, ?missing, "members did not sync in time");
                    for member_id in missing {
                        if let Some(member) = group.remove(&member_id) {
                            self.answer_removed_member(member);
                        }
                    }
                    self.prepare_rebalance(now_ms, group);
                }
            }
        }
    }

    /// Kafka's `cleanupGroupMetadata` on the retention timer: expires
    /// offsets and removes empty groups left without offsets.
    fn cleanup_offsets(&mut self, now_ms: i64) {
        let retention_ms = self.config.offsets_retention_ms();
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for group_id in ids {
            if self.validate_group_status(&group_id, false).is_err()
                || self.consumer_group_in_use(&group_id)
            {
                continue;
            }
            let Some(mut group) = self.groups.remove(&group_id) else {
                continue;
            };
            let expired = group.remove_expired_offsets(now_ms, retention_ms);
            let mut records: Vec<OffsetsRecord> = expired
                .iter()
                .map(|tp| offset_tombstone(&group_id, tp))
                .collect();
            if !expired.is_empty() {
                info!(%group_id, count = expired.len(), "expired committed offsets");
            }
            if group.is(GroupState::Empty)
                && group.offsets.is_empty()
                && group.pending_offset_commits.is_empty()
            {
                group.transition_to(GroupState::Dead, now_ms);
                if !records.is_empty() {
                    self.persist(
                        &group_id,
                        std::mem::take(&mut records),
                        PendingPersist::Unobserved,
                    );
                }
                self.tombstone_group(&mut group, false);
                debug!(%group_id, "removed empty group without offsets");
            } else if !records.is_empty() {
                self.persist(&group_id, records, PendingPersist::Unobserved);
            }
            self.put_group(group);
        }
    }

    // --------------------------------------------------- append completion

    fn handle_persisted(&mut self, now_ms: i64, id: PersistId, result: Result<(), AppendError>) {
        let Some(pending) = self.pending_persists.remove(&id) else {
            debug!(?id, "completion for an unknown append");
            return;
        };
        match pending {
            PendingPersist::TxnOffsetCommit {
                token,
                group_id,
                producer_id,
                results,
            } => self.txn_offsets_persisted(token, group_id, producer_id, results, result),
            PendingPersist::Unobserved => {
                if let Err(e) = result {
                    warn!(?id, error = %e, "failed to append group metadata or tombstones");
                }
            }
            PendingPersist::ConsumerHeartbeat { token, response } => {
                // Like Kafka, the member learns its new state only once it
                // is durable; on failure it retries (the in-memory state is
                // kept, and rewritten by the next change).
                let response = result.map(|()| response).map_err(AppendError::for_group);
                self.respond(token, Response::ConsumerGroupHeartbeat(response));
            }
            PendingPersist::OffsetCommit {
                token,
                group_id,
                results,
            } => {
                let mut group = self.groups.remove(&group_id);
                let response = results
                    .into_iter()
                    .map(|(tp, value)| {
                        let outcome = match value {
                            Err(e) => Err(e),
                            Ok(value) => {
                                if let Some(group) = group.as_mut() {
                                    if let Some(n) = group.pending_offset_commits.get_mut(&tp) {
                                        *n -= 1;
                                        if *n == 0 {
                                            group.pending_offset_commits.remove(&tp);
                                        }
                                    }
                                    if result.is_ok() {
                                        group.offsets.insert(tp.clone(), value);
                                    }
                                }
                                result.map_err(AppendError::for_offsets)
                            }
                        };
                        (tp, outcome)
                    })
                    .collect();
                if let Some(group) = group {
                    self.put_group(group);
                }
                self.respond(token, Response::OffsetCommit(response));
            }
            PendingPersist::GroupAssignment {
                group_id,
                generation_id,
                assignment,
            } => {
                let Some(mut group) = self.groups.remove(&group_id) else {
                    return;
                };
                // Another member may have joined meanwhile: only the same
                // generation, still completing, takes the assignment.
                if group.is(GroupState::CompletingRebalance) && group.generation_id == generation_id
                {
                    match result {
                        Ok(()) => {
                            for member in group.members.values_mut() {
                                member.assignment = assignment
                                    .get(&member.member_id)
                                    .cloned()
                                    .unwrap_or_default();
                            }
                            self.propagate_assignment(now_ms, &mut group, None);
                            group.transition_to(GroupState::Stable, now_ms);
                            info!(%group_id, generation_id, "group is stable");
                        }
                        Err(e) => {
                            warn!(%group_id, error = %e, "failed to store the group's assignment");
                            self.reset_and_propagate_assignment_error(
                                now_ms,
                                &mut group,
                                e.for_group(),
                            );
                            self.maybe_prepare_rebalance(now_ms, &mut group);
                        }
                    }
                }
                self.put_group(group);
            }
            PendingPersist::StaticRejoin(rejoin) => {
                self.complete_static_rejoin(now_ms, *rejoin, result)
            }
        }
    }

    fn complete_static_rejoin(
        &mut self,
        now_ms: i64,
        rejoin: StaticRejoin,
        result: Result<(), AppendError>,
    ) {
        let Some(mut group) = self.groups.remove(&rejoin.group_id) else {
            return;
        };
        let still_parked = group
            .members
            .get(&rejoin.new_member_id)
            .is_some_and(|m| m.awaiting_join == Some(rejoin.token));
        if still_parked {
            let member = group
                .members
                .get_mut(&rejoin.new_member_id)
                .expect("checked");
            member.awaiting_join = None;
            // Its session runs again from this answer, as after any join
            // (Kafka's completeAndScheduleNextHeartbeatExpiration): a session
            // deadline that passed while the join was parked was dropped.
            member.heartbeat_deadline_ms = Some(now_ms + i64::from(member.session_timeout_ms));
            match result {
                Ok(()) => {
                    let response = if rejoin.supports_skip_assignment {
                        let is_leader = group.is_leader(&rejoin.new_member_id);
                        let mut response = join_response(&group, &rejoin.new_member_id, is_leader);
                        if !is_leader {
                            response.members.clear();
                        }
                        response
                    } else {
                        // Before JoinGroup v9, report the old leader id so a
                        // static leader does not run a trivial assignment
                        // that a stable group would not distribute.
                        let mut response = join_response(&group, &rejoin.new_member_id, false);
                        response.members.clear();
                        response.leader = rejoin.leader_before.clone().unwrap_or_default();
                        response
                    };
                    self.respond(rejoin.token, Response::JoinGroup(Ok(response)));
                }
                Err(e) => {
                    warn!(group_id = %group.group_id, error = %e, "failed to store a static member's new id; reverting");
                    self.update_member(
                        &mut group,
                        &rejoin.new_member_id,
                        rejoin.old_protocols,
                        rejoin.old_rebalance_timeout_ms,
                        rejoin.old_session_timeout_ms,
                        None,
                    );
                    self.replace_static_member(
                        &mut group,
                        &rejoin.group_instance_id,
                        &rejoin.new_member_id,
                        &rejoin.old_member_id,
                    );
                    if let Some(m) = group.members.get_mut(&rejoin.old_member_id) {
                        m.heartbeat_deadline_ms = Some(now_ms + i64::from(m.session_timeout_ms));
                    }
                    self.respond(rejoin.token, Response::JoinGroup(Err(e.for_group())));
                }
            }
        }
        self.put_group(group);
    }
}

/// The JoinGroup response for `member_id` in the current generation; the
/// member list is filled for the leader.
fn join_response(group: &Group, member_id: &str, skip_assignment: bool) -> JoinGroupResponse {
    JoinGroupResponse {
        member_id: member_id.to_owned(),
        generation_id: group.generation_id,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        leader: group.leader_id.clone().unwrap_or_default(),
        skip_assignment,
        members: if group.is_leader(member_id) {
            group.current_member_metadata()
        } else {
            Vec::new()
        },
    }
}

fn offset_tombstone(group_id: &str, tp: &TopicPartition) -> OffsetsRecord {
    OffsetsRecord {
        key: RecordKey::OffsetCommit {
            group_id: group_id.to_owned(),
            topic: tp.topic.clone(),
            partition: tp.partition,
        }
        .encode(),
        value: None,
    }
}

/// Every armed timer of a group with its deadline.
fn group_timers(group: &Group) -> Vec<(i64, Timer)> {
    let mut timers: Vec<(i64, Timer)> = group
        .members
        .values()
        .filter_map(|m| {
            Some((
                m.heartbeat_deadline_ms?,
                Timer::Heartbeat(m.member_id.clone()),
            ))
        })
        .collect();
    timers.extend(
        group
            .pending_members
            .iter()
            .map(|(id, deadline)| (*deadline, Timer::PendingMember(id.clone()))),
    );
    timers.extend(group.join_timer.map(|t| (t.deadline_ms(), Timer::Join)));
    timers.extend(group.sync_deadline_ms.map(|d| (d, Timer::Sync)));
    timers
}

/// Kafka's `GroupMetadata.summary` (or the Dead summary for a missing group).
fn describe(
    group_id: String,
    status: Result<(), GroupError>,
    group: Option<&Group>,
) -> DescribedGroup {
    let mut described = DescribedGroup {
        group_id,
        result: status,
        exists: group.is_some(),
        state: GroupState::Dead,
        protocol_type: String::new(),
        protocol_name: String::new(),
        generation_id: -1,
        leader: String::new(),
        members: Vec::new(),
    };
    let Some(group) = group else { return described };
    let stable = group.is(GroupState::Stable);
    let protocol = group.protocol_name.clone().unwrap_or_default();
    described.state = group.state;
    described.protocol_type = group.protocol_type.clone().unwrap_or_default();
    described.generation_id = group.generation_id;
    described.leader = group.leader_id.clone().unwrap_or_default();
    if stable {
        described.protocol_name = protocol.clone();
    }
    described.members = group
        .members
        .values()
        .map(|m| DescribedMember {
            member_id: m.member_id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            metadata: if stable {
                m.metadata(&protocol).cloned().unwrap_or_default()
            } else {
                Bytes::new()
            },
            assignment: if stable {
                m.assignment.clone()
            } else {
                Bytes::new()
            },
        })
        .collect();
    described
}
