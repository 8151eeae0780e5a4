//! A replica's role in its partition, as the metadata image assigns it:
//! the leader at a leader epoch, or a follower of another broker. Only the
//! leader serves produces and consumer fetches; a follower refuses them
//! (its shard's replica fetcher pulls the leader's log into it).

/// A broker's `node.id` (-1: none).
pub type BrokerId = i32;

/// What this broker's replica of a partition does. Lives on: the
/// partition's owner shard, set from each metadata image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// This broker leads the partition; its appends are stamped with
    /// `leader_epoch` (`>= 0`).
    Leader {
        /// The partition's leader epoch.
        leader_epoch: i32,
    },
    /// Another broker leads (or none: `leader == -1`, an offline partition).
    Follower {
        /// The leader's broker id, -1 when the partition has none.
        leader: BrokerId,
        /// The partition's leader epoch.
        leader_epoch: i32,
    },
}

impl Role {
    /// The partition's leader epoch, whoever leads.
    pub fn leader_epoch(self) -> i32 {
        match self {
            Role::Leader { leader_epoch } | Role::Follower { leader_epoch, .. } => leader_epoch,
        }
    }

    /// Whether this broker leads.
    pub fn is_leader(self) -> bool {
        matches!(self, Role::Leader { .. })
    }
}
