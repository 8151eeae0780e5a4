//! The durable half of the quorum's storage: a store that keeps raft's hard
//! state, configuration, log entries and latest snapshot across restarts.
//!
//! Writes are staged and become durable only at [`RaftLogStore::sync`]; a
//! crash loses exactly the writes staged since the last successful sync, in
//! order (never a middle write while keeping a later one). The quorum syncs
//! before it sends any message that acknowledges what it wrote (a vote, an
//! append response), which is what makes Raft's promises hold across crashes.
//!
//! Reads are served from memory by [`super::QuorumStorage`]; a store is read
//! back only once, with [`RaftLogStore::load`], when a node opens.
use std::cell::RefCell;
use std::rc::Rc;

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};

use super::QuorumStoreError;

/// Everything a store holds, as read back when a node opens.
///
/// Invariant: `entries` are contiguous and the first one (if any) has index
/// `snapshot.metadata.index + 1`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredLog {
    /// Term, vote and commit index.
    pub hard_state: HardState,
    /// The voters (fixed in this version: no membership changes).
    pub conf_state: ConfState,
    /// The latest snapshot (metadata and the application's bytes); index 0
    /// means none.
    pub snapshot: Snapshot,
    /// The log entries after the snapshot.
    pub entries: Vec<Entry>,
}

impl StoredLog {
    /// The index of the last entry, or of the snapshot when there are none.
    pub fn last_index(&self) -> u64 {
        self.entries
            .last()
            .map_or(self.snapshot.get_metadata().index, |e| e.index)
    }

    /// Replaces the entries at and after `entries[0].index` with `entries`.
    ///
    /// # Panics
    /// If `entries` would leave a gap or overwrite the snapshot: raft never
    /// asks for that, so it is our bug.
    pub(crate) fn append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else {
            return;
        };
        let snapshot_index = self.snapshot.get_metadata().index;
        assert!(
            first.index > snapshot_index,
            "append overwrites the snapshot"
        );
        assert!(first.index <= self.last_index() + 1, "append leaves a gap");
        let keep = usize::try_from(first.index - snapshot_index - 1).expect("index fits usize");
        self.entries.truncate(keep);
        self.entries.extend_from_slice(entries);
    }
}

/// A durable store of one node's raft state. Lives on: the control shard.
pub trait RaftLogStore {
    /// Reads back everything the store holds. Called once, when a node opens.
    ///
    /// # Errors
    /// [`QuorumStoreError::Io`] when the store cannot be read,
    /// [`QuorumStoreError::Corrupt`] when it holds records that cannot be
    /// trusted (a torn tail is not an error: it is dropped).
    fn load(&mut self) -> Result<StoredLog, QuorumStoreError>;

    /// Stages `entries`, replacing any stored entries at or after
    /// `entries[0].index`.
    ///
    /// # Errors
    /// When the store is poisoned or staging fails.
    fn append_entries(&mut self, entries: &[Entry]) -> Result<(), QuorumStoreError>;

    /// Stages a new hard state.
    ///
    /// # Errors
    /// When the store is poisoned or staging fails.
    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), QuorumStoreError>;

    /// Stages a new configuration.
    ///
    /// # Errors
    /// When the store is poisoned or staging fails.
    fn save_conf_state(&mut self, conf_state: &ConfState) -> Result<(), QuorumStoreError>;

    /// Replaces the whole store with `log` and makes it durable atomically: a
    /// crash leaves either the old contents or the new. Used when a snapshot
    /// compacts the log or a leader's snapshot replaces it.
    ///
    /// # Errors
    /// When writing or syncing fails; the store is then poisoned.
    fn rewrite(&mut self, log: &StoredLog) -> Result<(), QuorumStoreError>;

    /// Makes every staged write durable (fsync for a file store).
    ///
    /// # Errors
    /// When writing or syncing fails; the store is then poisoned, since what
    /// reached the disk is unknown.
    fn sync(&mut self) -> Result<(), QuorumStoreError>;
}

/// One staged write of a [`MemoryLogStore`].
#[derive(Debug, Clone)]
enum StagedWrite {
    Entries(Vec<Entry>),
    HardState(HardState),
    ConfState(ConfState),
}

#[derive(Debug, Default)]
struct MemoryLogStoreState {
    durable: StoredLog,
    staged: Vec<StagedWrite>,
    syncs: u64,
}

/// An in-memory [`RaftLogStore`] for tests and simulation: "durable" is what
/// was synced, and [`MemoryLogStore::crash`] throws away what was not.
///
/// Clones share the same state, so a simulation can keep a handle to a
/// node's disk while the node itself is dropped and re-opened.
#[derive(Debug, Clone, Default)]
pub struct MemoryLogStore {
    state: Rc<RefCell<MemoryLogStoreState>>,
}

impl MemoryLogStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Simulates a crash: every write staged since the last sync is lost.
    pub fn crash(&self) {
        self.state.borrow_mut().staged.clear();
    }

    /// What a restart would read back.
    pub fn durable(&self) -> StoredLog {
        self.state.borrow().durable.clone()
    }

    /// How many times [`RaftLogStore::sync`] made staged writes durable.
    pub fn sync_count(&self) -> u64 {
        self.state.borrow().syncs
    }
}

impl RaftLogStore for MemoryLogStore {
    fn load(&mut self) -> Result<StoredLog, QuorumStoreError> {
        let state = self.state.borrow();
        assert!(state.staged.is_empty(), "load with staged writes");
        Ok(state.durable.clone())
    }

    fn append_entries(&mut self, entries: &[Entry]) -> Result<(), QuorumStoreError> {
        self.state
            .borrow_mut()
            .staged
            .push(StagedWrite::Entries(entries.to_vec()));
        Ok(())
    }

    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), QuorumStoreError> {
        self.state
            .borrow_mut()
            .staged
            .push(StagedWrite::HardState(hard_state.clone()));
        Ok(())
    }

    fn save_conf_state(&mut self, conf_state: &ConfState) -> Result<(), QuorumStoreError> {
        self.state
            .borrow_mut()
            .staged
            .push(StagedWrite::ConfState(conf_state.clone()));
        Ok(())
    }

    fn rewrite(&mut self, log: &StoredLog) -> Result<(), QuorumStoreError> {
        // A rewrite is atomic and durable, and it follows everything staged
        // before it (the file store syncs its journal first).
        self.sync()?;
        self.state.borrow_mut().durable = log.clone();
        Ok(())
    }

    fn sync(&mut self) -> Result<(), QuorumStoreError> {
        let mut state = self.state.borrow_mut();
        let staged = std::mem::take(&mut state.staged);
        for write in staged {
            match write {
                StagedWrite::Entries(entries) => state.durable.append(&entries),
                StagedWrite::HardState(hard_state) => state.durable.hard_state = hard_state,
                StagedWrite::ConfState(conf_state) => state.durable.conf_state = conf_state,
            }
        }
        state.syncs += 1;
        Ok(())
    }
}
