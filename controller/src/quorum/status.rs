//! `QuorumStatus`: what one node knows of the metadata quorum at one moment
//! (Kafka's DescribeQuorum answer): the leader and its term, the high
//! watermark, and how far each voter's log reaches.
//!
//! Offsets are raft indexes: index `n` is the `n`th entry of the quorum's log
//! (1-based), so a log holding entries 1..=n has log end offset `n`, the next
//! 0-based offset, as Kafka counts. Only the leader tracks the other voters'
//! logs; a follower knows its own and leaves the others unknown.

use super::node::QuorumNodeId;

/// The quorum as one node sees it. Built by `QuorumNode::status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    /// The node that answered.
    pub node_id: QuorumNodeId,
    /// The leader it knows of, if any.
    pub leader_id: Option<QuorumNodeId>,
    /// Its current term (Kafka's leader epoch of the metadata partition).
    pub term: u64,
    /// The highest index it knows to be committed (Kafka's high watermark of
    /// the metadata partition).
    pub high_watermark: u64,
    /// Every voter, by id.
    pub voters: Vec<ReplicaState>,
    /// Nodes that follow the log without voting, by id (none while
    /// membership is static).
    pub observers: Vec<ReplicaState>,
}

/// One replica of the quorum's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaState {
    /// Its id.
    pub id: QuorumNodeId,
    /// The index of the last entry it has durably stored, as the answering
    /// node knows it: exact for itself, the leader's view of the others
    /// (their acknowledged index) on the leader, `None` when unknown.
    pub log_end_offset: Option<u64>,
}

impl QuorumStatus {
    /// The leader's log end offset, if the answering node knows it.
    pub fn leader_log_end_offset(&self) -> Option<u64> {
        let leader = self.leader_id?;
        self.voters
            .iter()
            .find(|voter| voter.id == leader)
            .and_then(|voter| voter.log_end_offset)
    }

    /// How many entries `replica` lags behind the leader, if both ends are
    /// known (0 when it is at or past the leader's end).
    pub fn lag(&self, replica: &ReplicaState) -> Option<u64> {
        let leader = self.leader_log_end_offset()?;
        Some(leader.saturating_sub(replica.log_end_offset?))
    }
}
