//! `QuorumStorage`: raft-rs's [`raft::Storage`] over one of our durable
//! [`RaftLogStore`]s.
//!
//! raft-rs reads its log through `Storage` (`&self`, synchronously), so the
//! log after the latest snapshot is kept in memory and every read is served
//! from there; every write goes to the durable store first (staged, made
//! durable by [`QuorumStorage::sync`]) and then to memory. The memory held is
//! bounded by the snapshot policy: the application snapshots after a number
//! of applied bytes and the log before the snapshot is dropped.
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, StorageError};

use super::log_store::{RaftLogStore, StoredLog};
use super::{QuorumError, QuorumStoreError};

/// raft-rs's storage for one quorum node. Lives on: the control shard.
#[derive(Debug)]
pub struct QuorumStorage<S: RaftLogStore> {
    log: StoredLog,
    store: S,
    /// Writes staged in `store` since the last sync.
    dirty: bool,
}

impl<S: RaftLogStore> QuorumStorage<S> {
    /// Loads `store`; a store that holds nothing yet is initialised with
    /// `voters` (every node of a new quorum starts from the same
    /// configuration at index 0).
    ///
    /// # Errors
    /// When the store cannot be read, holds corrupt records, or holds a
    /// state raft would refuse (a commit index beyond the log).
    pub fn open(mut store: S, voters: &[u64]) -> Result<Self, QuorumError> {
        let mut log = store.load()?;
        let snapshot_index = log.snapshot.get_metadata().index;
        if log.hard_state.commit > log.last_index() {
            return Err(QuorumStoreError::Corrupt {
                path: Default::default(),
                position: 0,
                reason: "commit index beyond the last stored entry",
            }
            .into());
        }
        // A snapshot covers everything up to its index; its index is
        // committed by definition.
        log.hard_state.commit = log.hard_state.commit.max(snapshot_index);
        let mut storage = Self {
            log,
            store,
            dirty: false,
        };
        if storage.is_blank() {
            let conf_state = ConfState {
                voters: voters.to_vec(),
                ..ConfState::default()
            };
            storage.store.save_conf_state(&conf_state)?;
            storage.store.sync()?;
            storage.log.conf_state = conf_state;
        }
        Ok(storage)
    }

    fn is_blank(&self) -> bool {
        self.log.conf_state.voters.is_empty()
            && self.log.snapshot.get_metadata().index == 0
            && self.log.entries.is_empty()
            && self.log.hard_state == HardState::default()
    }

    /// The durable store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The latest snapshot (index 0: none).
    pub fn latest_snapshot(&self) -> &Snapshot {
        &self.log.snapshot
    }

    /// The stored hard state (term, vote, commit index).
    pub fn hard_state(&self) -> &HardState {
        &self.log.hard_state
    }

    /// The voters.
    pub fn conf_state(&self) -> &ConfState {
        &self.log.conf_state
    }

    pub(crate) fn append(&mut self, entries: &[Entry]) -> Result<(), QuorumStoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.dirty = true;
        self.store.append_entries(entries)?;
        self.log.append(entries);
        Ok(())
    }

    pub(crate) fn set_hard_state(&mut self, hard_state: HardState) -> Result<(), QuorumStoreError> {
        if hard_state == self.log.hard_state {
            return Ok(());
        }
        self.dirty = true;
        self.store.save_hard_state(&hard_state)?;
        self.log.hard_state = hard_state;
        Ok(())
    }

    pub(crate) fn set_commit(&mut self, commit: u64) -> Result<(), QuorumStoreError> {
        let mut hard_state = self.log.hard_state.clone();
        hard_state.commit = commit;
        self.set_hard_state(hard_state)
    }

    /// Makes staged writes durable, if there are any.
    pub(crate) fn sync(&mut self) -> Result<(), QuorumStoreError> {
        if self.dirty {
            self.store.sync()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Replaces the log with a leader's snapshot (durably, atomically).
    pub(crate) fn install_snapshot(&mut self, snapshot: Snapshot) -> Result<(), QuorumStoreError> {
        let meta = snapshot.get_metadata();
        let mut log = StoredLog {
            hard_state: self.log.hard_state.clone(),
            conf_state: meta.get_conf_state().clone(),
            snapshot: Snapshot::default(),
            entries: Vec::new(),
        };
        log.hard_state.term = log.hard_state.term.max(meta.term);
        log.hard_state.commit = meta.index;
        log.snapshot = snapshot;
        self.store.rewrite(&log)?;
        self.dirty = false;
        self.log = log;
        Ok(())
    }

    /// Stores the application's snapshot `data` of the state at `index`
    /// and drops the log up to it (durably, atomically).
    ///
    /// # Panics
    /// If `index` is not in the stored log or is at or below the current
    /// snapshot: the node checks both first.
    pub(crate) fn compact(
        &mut self,
        index: u64,
        data: bytes::Bytes,
    ) -> Result<(), QuorumStoreError> {
        let snapshot_index = self.log.snapshot.get_metadata().index;
        assert!(index > snapshot_index, "compacting below the snapshot");
        assert!(index <= self.log.last_index(), "compacting beyond the log");
        let term = self
            .entry_term(index)
            .expect("index checked to be in the log");
        let mut meta = SnapshotMetadata {
            index,
            term,
            ..SnapshotMetadata::default()
        };
        meta.set_conf_state(self.log.conf_state.clone());
        let mut snapshot = Snapshot::default();
        snapshot.set_metadata(meta);
        snapshot.data = data;
        let keep_from = usize::try_from(index - snapshot_index).expect("index fits usize");
        let log = StoredLog {
            hard_state: self.log.hard_state.clone(),
            conf_state: self.log.conf_state.clone(),
            snapshot,
            entries: self.log.entries[keep_from..].to_vec(),
        };
        self.store.rewrite(&log)?;
        self.dirty = false;
        self.log = log;
        Ok(())
    }

    /// The stored entries after index `after`, in order.
    pub(crate) fn entries_after(&self, after: u64) -> &[Entry] {
        let skip = after.saturating_sub(self.log.snapshot.get_metadata().index);
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        self.log.entries.get(skip..).unwrap_or_default()
    }

    fn first_index(&self) -> u64 {
        self.log.snapshot.get_metadata().index + 1
    }

    fn entry_term(&self, index: u64) -> Option<u64> {
        let meta = self.log.snapshot.get_metadata();
        if index == meta.index {
            return Some(meta.term);
        }
        let offset = index.checked_sub(self.first_index())?;
        self.log
            .entries
            .get(usize::try_from(offset).ok()?)
            .map(|e| e.term)
    }

    /// The index of the last entry (or of the snapshot, when the log after
    /// it is empty).
    pub fn last_index(&self) -> u64 {
        self.log.last_index()
    }
}

impl<S: RaftLogStore> raft::Storage for QuorumStorage<S> {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.log.hard_state.clone(),
            self.log.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low < self.first_index() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last_index() + 1 || low > high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let first = self.first_index();
        let from = usize::try_from(low - first).map_err(|_| StorageError::Unavailable)?;
        let to = usize::try_from(high - first).map_err(|_| StorageError::Unavailable)?;
        let mut entries = self.log.entries[from..to].to_vec();
        raft::util::limit_size(&mut entries, max_size.into());
        Ok(entries)
    }

    fn term(&self, index: u64) -> raft::Result<u64> {
        if index < self.log.snapshot.get_metadata().index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        self.entry_term(index)
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first_index())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last_index())
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        // raft-rs asks only for a follower that needs entries we compacted,
        // and compaction always leaves a snapshot covering them.
        let index = self.log.snapshot.get_metadata().index;
        if index == 0 || index < request_index {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        Ok(self.log.snapshot.clone())
    }
}
