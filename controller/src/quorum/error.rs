//! The quorum's typed errors: a durable store that failed or holds bytes it
//! cannot trust, and a quorum node that can no longer make progress safely.
use std::path::PathBuf;

/// A raft log store that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum QuorumStoreError {
    /// Reading, writing or syncing the store's files failed. The store must
    /// not be used again: what reached the disk is unknown.
    #[error("quorum log I/O on {path:?}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A complete record in the middle of the log fails its CRC or does not
    /// decode, or the records contradict each other. Unlike a torn tail this
    /// may be acknowledged data, so the store refuses to open.
    #[error("corrupt quorum log {path:?} at byte {position}: {reason}")]
    Corrupt {
        path: PathBuf,
        position: u64,
        reason: &'static str,
    },
    /// A write after an earlier failed sync: the store is poisoned.
    #[error("quorum log poisoned by an earlier failed write or sync")]
    Poisoned,
}

/// A quorum node that could not be created or could not process an input.
///
/// After any error other than [`QuorumError::SnapshotAheadOfApplied`] the
/// node is poisoned: every later call returns [`QuorumError::Poisoned`] and
/// the driver must drop the node and open a new one from its store.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    /// The durable store failed; what it holds is what was last synced.
    #[error("quorum store failed")]
    Store(#[from] QuorumStoreError),
    /// raft-rs refused the configuration or the stored state.
    #[error("raft refused the quorum state: {0}")]
    Raft(#[from] raft::Error),
    /// The configuration is inconsistent (for example, a node id that is not
    /// among the voters).
    #[error("invalid quorum configuration: {reason}")]
    InvalidConfig { reason: &'static str },
    /// raft-rs panicked while stepping a message (it trusts its peers and
    /// asserts on messages no correct peer sends). The in-memory state is no
    /// longer trustworthy; the durable state is.
    #[error("raft panicked while stepping a message from node {from}")]
    RaftPanicked { from: u64 },
    /// The application asked for a snapshot at an index it has not applied.
    #[error("snapshot at index {index} is ahead of the applied index {applied_index}")]
    SnapshotAheadOfApplied { index: u64, applied_index: u64 },
    /// An earlier error poisoned this node.
    #[error("quorum node poisoned by an earlier error")]
    Poisoned,
}
