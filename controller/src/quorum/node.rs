//! `QuorumNode`: one voter of the metadata quorum, sans-IO.
//!
//! The driver feeds it [`QuorumInput`]s (a tick, a message from a peer, a
//! proposal) and carries out the [`QuorumAction`]s it returns, in order. The
//! node owns raft-rs's `RawNode` and the durable store, and handles every
//! `Ready` completely before returning: it persists the snapshot, entries
//! and hard state and syncs the store, then emits the messages (so no vote
//! or append acknowledgement leaves before what it acknowledges is durable),
//! then the committed entries to apply, then advances raft.
//!
//! Time: the node assumes one [`QuorumInput::Tick`] every [`TICK_MS`]
//! (100 ms). With the defaults a leader heartbeats every tick (100 ms), a
//! follower that hears nothing starts a pre-vote after a random 10 to 19
//! ticks (1 to 2 s), and a leader that has not heard from a majority for 10
//! ticks (1 s) steps down (check-quorum), so a partitioned old leader stops
//! acting as one within about a second.
//!
//! Determinism: raft-rs draws election timeouts from the thread's RNG; the
//! node overrides each draw from its own RNG seeded by
//! [`QuorumConfig::seed`], so a simulation with fixed seeds replays exactly.
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;
use raft::eraftpb::{Entry, EntryType, Message, MessageType};
use raft::{RawNode, SnapshotStatus, StateRole};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::log_store::RaftLogStore;
use super::message_codec::{decode_message, encode_message};
use super::raft_log_drain::raft_logger;
use super::status::{QuorumStatus, ReplicaState};
use super::storage::QuorumStorage;
use super::QuorumError;

/// The tick length the defaults assume, in milliseconds.
pub const TICK_MS: u64 = 100;

/// A node of the quorum, as raft-rs numbers them (Kafka's `node.id`; never 0).
pub type QuorumNodeId = u64;

/// The quorum's settings for one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumConfig {
    /// This node's id; must be one of `voters`.
    pub node_id: QuorumNodeId,
    /// Every voter's id (`controller.quorum.voters`), this node included.
    pub voters: Vec<QuorumNodeId>,
    /// Ticks without a leader before a follower campaigns; the actual
    /// timeout is random in `[election_tick, 2 * election_tick)`. Default 10
    /// (1 s at [`TICK_MS`], Kafka's `controller.quorum.election.timeout.ms`).
    pub election_tick: usize,
    /// Ticks between a leader's heartbeats. Default 1 (100 ms). Must be less
    /// than `election_tick`.
    pub heartbeat_tick: usize,
    /// Applied payload bytes after which the node asks the application for a
    /// snapshot ([`QuorumAction::SnapshotRequested`]). Default 20 MiB, Kafka's
    /// `metadata.log.max.record.bytes.between.snapshots`.
    pub snapshot_after_bytes: u64,
    /// Largest inbound message accepted, in bytes (a snapshot travels in one
    /// message, so this bounds the snapshot too). Default 64 MiB.
    pub message_bytes_max: usize,
    /// Bytes of entries per append message. Default 1 MiB.
    pub append_bytes_max: u64,
    /// Append messages in flight per follower. Default 256.
    pub inflight_appends_max: usize,
    /// Seed of the election-timeout RNG. Drivers pass entropy; simulations
    /// pass a fixed value.
    pub seed: u64,
}

impl QuorumConfig {
    /// The defaults for `node_id` in a quorum of `voters`.
    pub fn new(node_id: QuorumNodeId, voters: Vec<QuorumNodeId>) -> Self {
        Self {
            node_id,
            voters,
            election_tick: 10,
            heartbeat_tick: 1,
            snapshot_after_bytes: 20 * 1024 * 1024,
            message_bytes_max: 64 * 1024 * 1024,
            append_bytes_max: 1024 * 1024,
            inflight_appends_max: 256,
            seed: node_id,
        }
    }

    fn validate(&self) -> Result<(), QuorumError> {
        let invalid = |reason| Err(QuorumError::InvalidConfig { reason });
        if self.node_id == 0 {
            return invalid("node id 0 is reserved");
        }
        if !self.voters.contains(&self.node_id) {
            return invalid("the node is not one of the voters");
        }
        if self.voters.contains(&0) {
            return invalid("voter id 0 is reserved");
        }
        let mut sorted = self.voters.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != self.voters.len() {
            return invalid("a voter is listed twice");
        }
        if self.heartbeat_tick == 0 || self.heartbeat_tick >= self.election_tick {
            return invalid("heartbeat_tick must be in [1, election_tick)");
        }
        if self.inflight_appends_max == 0 {
            return invalid("inflight_appends_max must be at least 1");
        }
        Ok(())
    }
}

/// Something that happened to the node, for it to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumInput {
    /// One tick of [`TICK_MS`] elapsed.
    Tick,
    /// Bytes of a raft message from peer `from` (as the transport knows the
    /// peer, not as the bytes claim). Hostile: a bad message is dropped.
    Message { from: QuorumNodeId, bytes: Bytes },
    /// The application proposes `payload` (non-empty) as the next entry.
    Propose(Bytes),
    /// The transport could not reach `peer` (optional: raft recovers from
    /// lost messages by itself; this only makes the leader probe sooner).
    Unreachable { peer: QuorumNodeId },
    /// Start an election now instead of after the election timeout: a single
    /// voter becomes the leader at once when it starts (with peers, a
    /// pre-vote first, as for a timeout). Ignored by a leader.
    Campaign,
}

/// An entry the quorum committed, for the application to apply in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedEntry {
    /// Its index in the quorum's log (indexes skip the leader's empty
    /// entries, which are not handed out).
    pub index: u64,
    /// The term of the leader that appended it.
    pub term: u64,
    /// What the application proposed.
    pub payload: Bytes,
}

/// Why a proposal was not appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalRejection {
    /// Only the leader appends; `leader_id` is the one this node knows of.
    NotLeader { leader_id: Option<QuorumNodeId> },
    /// An empty payload is reserved for the leader's own entries.
    EmptyPayload,
    /// raft-rs dropped it (too many uncommitted bytes, or a leadership
    /// transfer in progress).
    Dropped,
}

/// The node's role in the quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumRole {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

impl From<StateRole> for QuorumRole {
    fn from(role: StateRole) -> Self {
        match role {
            StateRole::Follower => Self::Follower,
            StateRole::PreCandidate => Self::PreCandidate,
            StateRole::Candidate => Self::Candidate,
            StateRole::Leader => Self::Leader,
        }
    }
}

/// Something the driver must do, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumAction {
    /// Send `bytes` to peer `to` (best effort: raft tolerates loss).
    Send { to: QuorumNodeId, bytes: Bytes },
    /// Apply these committed entries, in order, after everything before.
    Apply(Vec<CommittedEntry>),
    /// Replace the application's state with this snapshot of the state at
    /// `index` (at open, from the stored snapshot; later, from a leader when
    /// this node lagged behind the leader's compacted log).
    InstallSnapshot { index: u64, term: u64, data: Bytes },
    /// A proposal was appended at `index` in `term`: it is committed when an
    /// [`QuorumAction::Apply`] hands out an entry with this index and term,
    /// and lost if one with this index and another term comes instead.
    Proposed { index: u64, term: u64 },
    /// A proposal was not appended.
    ProposalRejected(ProposalRejection),
    /// This node became the leader (the active controller) of `term`.
    BecameLeader { term: u64 },
    /// This node stopped leading in `term` (now `term` may be newer).
    SteppedDown { term: u64 },
    /// The leader this node follows changed.
    LeaderChanged {
        leader_id: Option<QuorumNodeId>,
        term: u64,
    },
    /// The application has applied `bytes_since_snapshot` payload bytes
    /// since the last snapshot: it should call [`QuorumNode::snapshot`] with
    /// its state at an index it has applied. Emitted once per snapshot.
    SnapshotRequested {
        applied_index: u64,
        bytes_since_snapshot: u64,
    },
}

/// One voter of the quorum. Lives on: the control shard.
pub struct QuorumNode<S: RaftLogStore> {
    raw: RawNode<QuorumStorage<S>>,
    config: QuorumConfig,
    rng: StdRng,
    poisoned: bool,
    applied_index: u64,
    bytes_since_snapshot: u64,
    snapshot_requested: bool,
    role: QuorumRole,
    term: u64,
    leader_id: Option<QuorumNodeId>,
    /// The term and role when the election timeout was last drawn.
    timeout_term: u64,
    timeout_role: QuorumRole,
    /// Actions produced outside `step` (at open), returned by the next one.
    pending: Vec<QuorumAction>,
    rejected_messages: u64,
}

impl<S: RaftLogStore> std::fmt::Debug for QuorumNode<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumNode")
            .field("node_id", &self.config.node_id)
            .field("role", &self.role)
            .field("term", &self.term)
            .field("leader_id", &self.leader_id)
            .field("applied_index", &self.applied_index)
            .finish_non_exhaustive()
    }
}

impl<S: RaftLogStore> QuorumNode<S> {
    /// Opens the node from `store` (initialising a blank store with the
    /// configured voters). If the store holds a snapshot, the first `step`
    /// returns it as [`QuorumAction::InstallSnapshot`] before anything else;
    /// the committed entries after it follow as [`QuorumAction::Apply`].
    ///
    /// # Errors
    /// An invalid configuration, or a store that cannot be read or holds a
    /// state raft refuses.
    pub fn open(config: QuorumConfig, store: S) -> Result<Self, QuorumError> {
        config.validate()?;
        let storage = QuorumStorage::open(store, &config.voters)?;
        let snapshot = storage.latest_snapshot().clone();
        let snapshot_meta = snapshot.get_metadata();
        let raft_config = raft::Config {
            id: config.node_id,
            election_tick: config.election_tick,
            heartbeat_tick: config.heartbeat_tick,
            applied: snapshot_meta.index,
            max_size_per_msg: config.append_bytes_max,
            max_inflight_msgs: config.inflight_appends_max,
            check_quorum: true,
            pre_vote: true,
            ..raft::Config::default()
        };
        let raw = RawNode::new(&raft_config, storage, &raft_logger(config.node_id))?;
        let mut pending = Vec::new();
        if snapshot_meta.index > 0 {
            pending.push(QuorumAction::InstallSnapshot {
                index: snapshot_meta.index,
                term: snapshot_meta.term,
                data: snapshot.data.clone(),
            });
        }
        let mut node = Self {
            rng: StdRng::seed_from_u64(config.seed),
            term: raw.raft.term,
            role: raw.raft.state.into(),
            leader_id: None,
            raw,
            config,
            poisoned: false,
            applied_index: snapshot_meta.index,
            bytes_since_snapshot: 0,
            snapshot_requested: false,
            // Forces the first draw.
            timeout_term: u64::MAX,
            timeout_role: QuorumRole::Leader,
            pending,
            rejected_messages: 0,
        };
        node.randomize_election_timeout();
        Ok(node)
    }

    /// This node's id.
    pub fn node_id(&self) -> QuorumNodeId {
        self.config.node_id
    }

    /// The node's role as of the last `step`.
    pub fn role(&self) -> QuorumRole {
        self.role
    }

    /// The node's current term.
    pub fn term(&self) -> u64 {
        self.term
    }

    /// The leader this node knows of, if any.
    pub fn leader_id(&self) -> Option<QuorumNodeId> {
        self.leader_id
    }

    /// The index of the last entry handed out to apply (or installed).
    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// The highest index this node knows to be committed.
    pub fn commit_index(&self) -> u64 {
        self.raw.raft.raft_log.committed
    }

    /// The index of the last entry in this node's log.
    pub fn last_index(&self) -> u64 {
        self.raw.store().last_index()
    }

    /// The quorum as this node sees it now: the leader tracks every voter's
    /// acknowledged index (raft's progress `matched`); a follower knows only
    /// its own log end.
    pub fn status(&self) -> QuorumStatus {
        let own = self.config.node_id;
        let is_leader = self.raw.raft.state == StateRole::Leader;
        let prs = self.raw.raft.prs();
        let replica = |id: QuorumNodeId| ReplicaState {
            id,
            log_end_offset: if id == own {
                Some(self.last_index())
            } else if is_leader {
                prs.get(id).map(|progress| progress.matched)
            } else {
                None
            },
        };
        let mut voters = self.config.voters.clone();
        voters.sort_unstable();
        let mut observers: Vec<QuorumNodeId> = prs.conf().learners().iter().copied().collect();
        observers.sort_unstable();
        QuorumStatus {
            node_id: own,
            leader_id: self.leader_id,
            term: self.term,
            high_watermark: self.commit_index(),
            voters: voters.into_iter().map(replica).collect(),
            observers: observers.into_iter().map(replica).collect(),
        }
    }

    /// Inbound messages dropped as hostile or misaddressed.
    pub fn rejected_messages(&self) -> u64 {
        self.rejected_messages
    }

    /// The storage (for inspection: its durable store, latest snapshot).
    pub fn storage(&self) -> &QuorumStorage<S> {
        self.raw.store()
    }

    /// Handles one input and returns what the driver must do, in order.
    ///
    /// # Errors
    /// [`QuorumError::Store`] when the store fails and
    /// [`QuorumError::RaftPanicked`] when raft-rs panics on a message; both
    /// poison the node. [`QuorumError::Poisoned`] after either.
    pub fn step(&mut self, input: QuorumInput) -> Result<Vec<QuorumAction>, QuorumError> {
        if self.poisoned {
            return Err(QuorumError::Poisoned);
        }
        let mut actions = std::mem::take(&mut self.pending);
        let input_is_tick = input == QuorumInput::Tick;
        match input {
            QuorumInput::Tick => {
                self.raw.tick();
            }
            QuorumInput::Message { from, bytes } => self.step_message(from, &bytes)?,
            QuorumInput::Propose(payload) => actions.push(self.propose(payload)),
            QuorumInput::Unreachable { peer } => {
                if peer != self.config.node_id && self.config.voters.contains(&peer) {
                    self.raw.report_unreachable(peer);
                }
            }
            QuorumInput::Campaign => {
                if self.raw.raft.state != StateRole::Leader {
                    // Only fails when this node is not promotable (not a
                    // voter), which open() has ruled out.
                    if let Err(error) = self.raw.campaign() {
                        tracing::warn!(%error, "raft refused to campaign");
                    }
                }
            }
        }
        self.randomize_election_timeout();
        let mut result = self.handle_ready(&mut actions);
        if input_is_tick && result.is_ok() {
            // What a step left staged (a commit index) is durable within a
            // tick.
            result = self.raw.mut_store().sync().map_err(QuorumError::from);
        }
        if result.is_err() {
            self.poisoned = true;
        }
        result?;
        Ok(actions)
    }

    /// Stores `data`, the application's state after applying everything up
    /// to and including `index`, as the latest snapshot, and drops the log up
    /// to `index`. Lagging followers are then caught up from it.
    ///
    /// An index at or below the current snapshot is ignored.
    ///
    /// # Errors
    /// [`QuorumError::SnapshotAheadOfApplied`] when `index` has not been
    /// handed out to apply; [`QuorumError::Store`] when the rewrite fails
    /// (which poisons the node).
    pub fn snapshot(&mut self, index: u64, data: Bytes) -> Result<(), QuorumError> {
        if self.poisoned {
            return Err(QuorumError::Poisoned);
        }
        if index > self.applied_index {
            return Err(QuorumError::SnapshotAheadOfApplied {
                index,
                applied_index: self.applied_index,
            });
        }
        if index <= self.raw.store().latest_snapshot().get_metadata().index {
            return Ok(());
        }
        if let Err(e) = self.raw.mut_store().compact(index, data) {
            self.poisoned = true;
            return Err(e.into());
        }
        self.bytes_since_snapshot = 0;
        self.snapshot_requested = false;
        Ok(())
    }

    fn step_message(&mut self, from: QuorumNodeId, bytes: &[u8]) -> Result<(), QuorumError> {
        let message = match decode_message(
            bytes,
            from,
            self.config.node_id,
            &self.config.voters,
            self.config.message_bytes_max,
        ) {
            Ok(message) => message,
            Err(rejection) => {
                self.rejected_messages += 1;
                tracing::debug!(from, %rejection, "dropped a raft message");
                return Ok(());
            }
        };
        // raft-rs trusts its peers and asserts on messages no correct peer
        // sends; a panic leaves its state unknown, so the node is poisoned
        // and the driver reopens it from the durable store.
        match catch_unwind(AssertUnwindSafe(|| self.raw.step(message))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                // A stale or unexpected message (e.g. a response from a
                // removed peer): raft ignores it.
                tracing::trace!(from, error = %e, "raft ignored a message");
                Ok(())
            }
            Err(_) => {
                self.poisoned = true;
                Err(QuorumError::RaftPanicked { from })
            }
        }
    }

    fn propose(&mut self, payload: Bytes) -> QuorumAction {
        if payload.is_empty() {
            return QuorumAction::ProposalRejected(ProposalRejection::EmptyPayload);
        }
        if self.raw.raft.state != StateRole::Leader {
            let leader_id = Some(self.raw.raft.leader_id).filter(|&id| id != raft::INVALID_ID);
            return QuorumAction::ProposalRejected(ProposalRejection::NotLeader { leader_id });
        }
        match self.raw.propose(Vec::new(), payload.to_vec()) {
            Ok(()) => QuorumAction::Proposed {
                index: self.raw.raft.raft_log.last_index(),
                term: self.raw.raft.term,
            },
            Err(_) => QuorumAction::ProposalRejected(ProposalRejection::Dropped),
        }
    }

    /// Replaces raft-rs's thread-RNG election timeout with one from our
    /// seeded RNG whenever raft has reset it (every reset changes the term
    /// or the role).
    fn randomize_election_timeout(&mut self) {
        let term = self.raw.raft.term;
        let role = QuorumRole::from(self.raw.raft.state);
        if term == self.timeout_term && role == self.timeout_role {
            return;
        }
        let min = self.config.election_tick;
        let timeout = self.rng.gen_range(min..2 * min);
        self.raw.raft.set_randomized_election_timeout(timeout);
        self.timeout_term = term;
        self.timeout_role = role;
    }

    fn handle_ready(&mut self, actions: &mut Vec<QuorumAction>) -> Result<(), QuorumError> {
        while self.raw.has_ready() {
            let mut ready = self.raw.ready();
            if let Some(soft_state) = ready.ss() {
                let role = QuorumRole::from(soft_state.raft_state);
                let leader_id = Some(soft_state.leader_id).filter(|&id| id != raft::INVALID_ID);
                self.observe_leadership(role, leader_id, actions);
            }
            let leader_messages = ready.take_messages();
            let storage = self.raw.mut_store();
            if !ready.snapshot().is_empty() {
                let snapshot = ready.snapshot().clone();
                let meta = snapshot.get_metadata();
                let (index, term, data) = (meta.index, meta.term, snapshot.data.clone());
                storage.install_snapshot(snapshot)?;
                self.applied_index = index;
                self.bytes_since_snapshot = 0;
                self.snapshot_requested = false;
                actions.push(QuorumAction::InstallSnapshot { index, term, data });
            }
            let committed = ready.take_committed_entries();
            let storage = self.raw.mut_store();
            storage.append(ready.entries())?;
            if let Some(hard_state) = ready.hs() {
                storage.set_hard_state(hard_state.clone())?;
            }
            // Durable before any message acknowledges it.
            storage.sync()?;
            self.send(leader_messages, actions);
            self.send(ready.take_persisted_messages(), actions);
            self.apply(committed, actions);
            let mut light = self.raw.advance_append(ready);
            if let Some(commit) = light.commit_index() {
                self.raw.mut_store().set_commit(commit)?;
            }
            self.send(light.take_messages(), actions);
            self.apply(light.take_committed_entries(), actions);
            self.raw.advance_apply_to(self.applied_index);
        }
        // The commit index from the last light ready stays staged: it is
        // not needed for safety (raft recovers it: a restarted leader
        // commits its log again with its first entry), so it is written
        // with the next sync, the next entry's or the next tick's, instead
        // of costing a second fsync per proposal. (With one voter, that
        // halves the fsyncs of a metadata change.)
        self.term = self.raw.raft.term;
        Ok(())
    }

    fn observe_leadership(
        &mut self,
        role: QuorumRole,
        leader_id: Option<QuorumNodeId>,
        actions: &mut Vec<QuorumAction>,
    ) {
        let term = self.raw.raft.term;
        if self.role == QuorumRole::Leader && role != QuorumRole::Leader {
            actions.push(QuorumAction::SteppedDown { term });
        }
        if self.role != QuorumRole::Leader && role == QuorumRole::Leader {
            actions.push(QuorumAction::BecameLeader { term });
        }
        if leader_id != self.leader_id {
            actions.push(QuorumAction::LeaderChanged { leader_id, term });
        }
        self.role = role;
        self.leader_id = leader_id;
    }

    fn send(&mut self, messages: Vec<Message>, actions: &mut Vec<QuorumAction>) {
        for message in messages {
            let to = message.to;
            let is_snapshot = message.get_msg_type() == MessageType::MsgSnapshot;
            actions.push(QuorumAction::Send {
                to,
                bytes: encode_message(&message),
            });
            if is_snapshot {
                // The snapshot counts as delivered once handed to the
                // driver. If it is lost, the follower rejects the next
                // append, the leader probes back below its compacted log
                // and sends the snapshot again.
                self.raw.report_snapshot(to, SnapshotStatus::Finish);
            }
        }
    }

    fn apply(&mut self, entries: Vec<Entry>, actions: &mut Vec<QuorumAction>) {
        let Some(last) = entries.last() else {
            return;
        };
        assert!(last.index > self.applied_index, "applying an old entry");
        self.applied_index = last.index;
        let committed: Vec<CommittedEntry> = entries
            .into_iter()
            // The leader's empty entry of each term and (unused) membership
            // changes mean nothing to the application.
            .filter(|e| e.get_entry_type() == EntryType::EntryNormal && !e.data.is_empty())
            .map(|e| CommittedEntry {
                index: e.index,
                term: e.term,
                payload: e.data,
            })
            .collect();
        let bytes: u64 = committed.iter().map(|e| e.payload.len() as u64).sum();
        self.bytes_since_snapshot += bytes;
        if !committed.is_empty() {
            actions.push(QuorumAction::Apply(committed));
        }
        if !self.snapshot_requested && self.bytes_since_snapshot >= self.config.snapshot_after_bytes
        {
            self.snapshot_requested = true;
            actions.push(QuorumAction::SnapshotRequested {
                applied_index: self.applied_index,
                bytes_since_snapshot: self.bytes_since_snapshot,
            });
        }
    }
}
