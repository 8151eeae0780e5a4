//! One partition's replica state as the committed metadata says: its
//! replicas (the first is the preferred leader), the in-sync replicas, the
//! leader and the two epochs Kafka versions it with.
//!
//! Invariants, kept by the controller's rules and checked by the simulation:
//! the replicas are distinct; the ISR is a subset of them; the leader is
//! [`NO_LEADER`] or in the ISR; `leader_epoch` grows by one on every leader
//! change and `partition_epoch` by one on every change of any kind.
//!
//! While a partition is being reassigned (KIP-455), `replicas` is the
//! target followed by the current replicas not in it, `adding_replicas` the
//! target ones not yet replicas before, and `removing_replicas` the current
//! ones not in the target (Kafka's `PartitionReassignmentReplicas`); both
//! are empty otherwise.

use crate::metadata_record::NO_LEADER;

/// A partition's replicas, ISR, leader and epochs (Kafka's
/// `PartitionRegistration`).
///
/// Lives on: the control shard, and every shard through the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    /// The brokers holding a replica, in preference order: the first is
    /// the preferred leader.
    pub replicas: Vec<i32>,
    /// The in-sync replicas, a subset of `replicas`.
    pub isr: Vec<i32>,
    /// The leader's broker id, or [`NO_LEADER`] (-1) while the partition is
    /// offline.
    pub leader: i32,
    /// Bumped on every leader change; fences requests from an old leader.
    pub leader_epoch: i32,
    /// Bumped on every change (Kafka's partition epoch): an AlterPartition
    /// must name the current one.
    pub partition_epoch: i32,
    /// Replicas a reassignment adds: they catch up before the move
    /// completes. Empty when no reassignment is in progress.
    pub adding_replicas: Vec<i32>,
    /// Replicas a reassignment removes once the adding ones are in sync.
    /// Empty when no reassignment is in progress.
    pub removing_replicas: Vec<i32>,
}

impl PartitionState {
    /// The state of a partition of a single-node metadata log, which
    /// records no replicas: `broker` alone, leading at epoch 0.
    pub fn single_node(broker: i32) -> PartitionState {
        PartitionState {
            replicas: vec![broker],
            isr: vec![broker],
            leader: broker,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    }

    /// Whether a reassignment is in progress.
    pub fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// The replicas a reassignment in progress moves to (`replicas` without
    /// the removing ones), or the replicas when none is.
    pub fn target_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|replica| !self.removing_replicas.contains(replica))
            .collect()
    }

    /// The preferred leader: the first replica.
    pub fn preferred_leader(&self) -> Option<i32> {
        self.replicas.first().copied()
    }

    /// Whether the partition has a leader.
    pub fn is_online(&self) -> bool {
        self.leader != NO_LEADER
    }

    /// Applies a `PartitionChange` record: the fields given replace the
    /// current ones; the partition epoch always grows, the leader epoch when
    /// a leader is given (Kafka's `PartitionRegistration.merge`).
    pub(crate) fn apply_change(
        &mut self,
        isr: Option<&Vec<i32>>,
        leader: Option<i32>,
        replicas: Option<&Vec<i32>>,
        reassignment: PartitionReassignmentChange<'_>,
    ) {
        if let Some(replicas) = replicas {
            self.replicas.clone_from(replicas);
        }
        if let Some(adding) = reassignment.adding_replicas {
            self.adding_replicas.clone_from(adding);
        }
        if let Some(removing) = reassignment.removing_replicas {
            self.removing_replicas.clone_from(removing);
        }
        if let Some(isr) = isr {
            self.isr.clone_from(isr);
        }
        if let Some(leader) = leader {
            self.leader = leader;
            self.leader_epoch = self.leader_epoch.saturating_add(1);
        }
        self.partition_epoch = self.partition_epoch.saturating_add(1);
    }
}

/// The reassignment fields of a `PartitionChange` record: `Some` replaces.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PartitionReassignmentChange<'a> {
    pub(crate) adding_replicas: Option<&'a Vec<i32>>,
    pub(crate) removing_replicas: Option<&'a Vec<i32>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_bumps_partition_epoch_always_and_leader_epoch_on_a_new_leader() {
        let mut state = PartitionState::single_node(1);
        state.apply_change(Some(&vec![1]), None, None, Default::default());
        assert_eq!((state.leader_epoch, state.partition_epoch), (0, 1));
        state.apply_change(None, Some(NO_LEADER), None, Default::default());
        assert_eq!(
            (state.leader, state.leader_epoch, state.partition_epoch),
            (-1, 1, 2)
        );
        assert!(!state.is_online());
        state.apply_change(
            Some(&vec![2]),
            Some(2),
            Some(&vec![2, 1]),
            Default::default(),
        );
        assert_eq!(state.replicas, vec![2, 1]);
        assert_eq!(state.preferred_leader(), Some(2));
        assert_eq!(
            (state.leader, state.leader_epoch, state.partition_epoch),
            (2, 2, 3)
        );
    }
}
