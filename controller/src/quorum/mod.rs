//! The metadata quorum: TiKV's raft-rs driven sans-IO on the control shard,
//! with its log, hard state and snapshots stored by us.
//!
//! Entries are opaque payloads here; what they mean (metadata records) is
//! the metadata controller's business. The pieces:
//! - [`QuorumNode`]: one voter, `step(QuorumInput) -> Vec<QuorumAction>`,
//!   with pre-vote and check-quorum on.
//! - [`QuorumStorage`]: raft-rs's `Storage`, served from memory, written
//!   through to a [`RaftLogStore`] and synced before anything acknowledges it.
//! - [`RaftLogStore`]: the durable store; [`FileLogStore`] in the data
//!   directory, [`MemoryLogStore`] for tests and simulation.
//! - [`encode_message`] / [`decode_message`]: raft messages on the wire,
//!   decoded as hostile bytes.
//! - [`CommittedTail`]: the committed log as a node that follows it without
//!   voting reads it (`QuorumStorage::committed_after`).
//!
//! Membership is static (`controller.quorum.voters`): every node of a new
//! quorum starts from the same voter set at index 0.

mod committed_tail;
mod error;
mod file_log_store;
mod log_store;
mod message_codec;
mod node;
mod raft_log_drain;
mod status;
mod storage;

pub use committed_tail::{CommittedSnapshot, CommittedTail};
pub use error::{QuorumError, QuorumStoreError};
pub use file_log_store::FileLogStore;
pub use log_store::{MemoryLogStore, RaftLogStore, StoredLog};
pub use message_codec::{decode_message, encode_message, MessageRejection};
pub use node::{
    CommittedEntry, ProposalRejection, QuorumAction, QuorumConfig, QuorumInput, QuorumNode,
    QuorumNodeId, QuorumRole, TICK_MS,
};
pub use status::{QuorumStatus, ReplicaState};
pub use storage::QuorumStorage;
