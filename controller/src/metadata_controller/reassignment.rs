//! Partition reassignment (KIP-455, Kafka's `ReplicationControlManager`
//! with `PartitionReassignmentReplicas` / `PartitionReassignmentRevert`):
//! AlterPartitionReassignments starts, replaces or cancels the move of a
//! partition's replicas, and the ongoing moves are listed from the image.
//!
//! A move from replicas `[0, 1]` to the target `[1, 2]` writes one
//! `PartitionChange`: replicas `[1, 2, 0]` (the target, then the current
//! replicas not in it), adding `[2]`, removing `[0]`. Broker 2 opens the
//! partition and fetches as a follower; once the leader's AlterPartition
//! puts it in the ISR, the same change completes the move
//! ([`PartitionChange`] completes a reassignment whose adding replicas are
//! all in sync): replicas `[1, 2]`, broker 0 out of the ISR and, if it led,
//! leadership to the first in-sync target replica. Broker 0 then no longer
//! hosts the partition and deletes its directory.
//!
//! A new target for a partition already moving replaces the old one: the
//! move is computed from the original replicas (the replicas without the
//! adding ones). Cancelling reverts to the original replicas; adding
//! replicas leave the ISR.

use std::sync::Arc;

use super::manual_assignment::check_replica_list;
use super::partition_change::{ElectionType, PartitionChange};
use super::proposal::Proposal;
use super::{ControllerResult, MetadataController};
use crate::error::ControllerError;
use crate::image::MetadataImage;
use crate::partition_state::PartitionState;

/// One partition of an AlterPartitionReassignments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReassignment {
    /// The topic's name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// The target replicas, the first preferred; `None` cancels the
    /// reassignment in progress.
    pub replicas: Option<Vec<i32>>,
}

/// A partition being reassigned, as ListPartitionReassignments answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    /// The topic's name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// Its current replicas: the target, then those being removed.
    pub replicas: Vec<i32>,
    /// The replicas being added.
    pub adding_replicas: Vec<i32>,
    /// The replicas being removed.
    pub removing_replicas: Vec<i32>,
}

impl MetadataController {
    /// AlterPartitionReassignments: one result per reassignment, in order.
    /// Each is checked as Kafka does: the topic and partition exist
    /// ([`ControllerError::UnknownTopic`], [`ControllerError::UnknownPartition`]);
    /// a cancellation needs a reassignment in progress
    /// ([`ControllerError::NoReassignmentInProgress`]); a target is
    /// non-empty, distinct, registered brokers
    /// ([`ControllerError::InvalidReplicaAssignment`]) and, unless
    /// `allow_replication_factor_change`, as many as the partition's
    /// original replicas ([`ControllerError::ReplicationFactorChanged`]).
    pub fn alter_partition_reassignments(
        &self,
        reassignments: Vec<PartitionReassignment>,
        allow_replication_factor_change: bool,
    ) -> ControllerResult<Vec<Result<(), ControllerError>>> {
        let image = Arc::clone(&self.image);
        let mut proposal = Proposal::new(&image);
        let results = reassignments
            .into_iter()
            .map(|reassignment| {
                self.reassign(&mut proposal, reassignment, allow_replication_factor_change)
            })
            .collect();
        ControllerResult {
            records: proposal.into_records(),
            response: results,
        }
    }

    fn reassign(
        &self,
        proposal: &mut Proposal<'_>,
        reassignment: PartitionReassignment,
        allow_replication_factor_change: bool,
    ) -> Result<(), ControllerError> {
        let image = proposal.image();
        let topic = image
            .topic(&reassignment.topic)
            .ok_or_else(|| ControllerError::UnknownTopic(reassignment.topic.clone()))?;
        let partition = reassignment.partition;
        let state = topic
            .partition(partition)
            .ok_or(ControllerError::UnknownPartition { partition })?;
        let original: Vec<i32> = state
            .replicas
            .iter()
            .copied()
            .filter(|replica| !state.adding_replicas.contains(replica))
            .collect();
        let change = PartitionChange::new(state, topic.topic_id, partition)
            .unclean_allowed(self.unclean_allowed(topic));
        let change = match reassignment.replicas {
            None => {
                if !state.is_reassigning() {
                    return Err(ControllerError::NoReassignmentInProgress { partition });
                }
                let isr = without(&state.isr, &state.adding_replicas);
                // Only adding replicas in sync: as Kafka's revert, the
                // original replicas may lead from outside the ISR.
                let election = if isr.is_empty() {
                    ElectionType::Unclean
                } else {
                    ElectionType::Online
                };
                change
                    .replicas(original, Vec::new(), Vec::new())
                    .isr(isr)
                    .election(election)
            }
            Some(target) => {
                check_replica_list(image, &target, None)?;
                if !allow_replication_factor_change && target.len() != original.len() {
                    return Err(ControllerError::ReplicationFactorChanged {
                        current: original.len(),
                        requested: target.len(),
                    });
                }
                let adding = without(&target, &original);
                let removing = without(&original, &target);
                let mut replicas = target.clone();
                replicas.extend(removing.iter().copied());
                let isr = state
                    .isr
                    .iter()
                    .copied()
                    .filter(|member| replicas.contains(member))
                    .collect();
                change.replicas(replicas, adding, removing).isr(isr)
            }
        };
        if let Some(record) = change.build(|broker| self.may_lead(image, broker)) {
            proposal.push(record);
        }
        Ok(())
    }
}

/// Partitions asked for by topic: `(topic name, partition indexes)`, all
/// of the topic's partitions when `None`.
pub type WantedPartitions = (String, Option<Vec<i32>>);

/// The reassignments in progress in `image`, for the partitions of each
/// topic named in `wanted` (all partitions when its list is `None`), or
/// for every topic when `wanted` is `None`. Unknown topics and partitions,
/// and partitions not being reassigned, are left out, as Kafka does.
pub fn ongoing_reassignments(
    image: &MetadataImage,
    wanted: Option<&[WantedPartitions]>,
) -> Vec<OngoingReassignment> {
    let ongoing = |name: &str, partition: i32, state: &PartitionState| {
        state.is_reassigning().then(|| OngoingReassignment {
            topic: name.to_owned(),
            partition,
            replicas: state.replicas.clone(),
            adding_replicas: state.adding_replicas.clone(),
            removing_replicas: state.removing_replicas.clone(),
        })
    };
    match wanted {
        None => image
            .topics()
            .flat_map(|topic| {
                topic
                    .partition_states()
                    .filter_map(|(partition, state)| ongoing(&topic.name, partition, state))
                    .collect::<Vec<_>>()
            })
            .collect(),
        Some(wanted) => wanted
            .iter()
            .filter_map(|(name, partitions)| Some((image.topic(name)?, partitions)))
            .flat_map(|(topic, partitions)| match partitions {
                None => topic
                    .partition_states()
                    .filter_map(|(partition, state)| ongoing(&topic.name, partition, state))
                    .collect::<Vec<_>>(),
                Some(partitions) => partitions
                    .iter()
                    .filter_map(|&partition| {
                        ongoing(&topic.name, partition, topic.partition(partition)?)
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// `list` without the members of `gone`, in order.
fn without(list: &[i32], gone: &[i32]) -> Vec<i32> {
    list.iter()
        .copied()
        .filter(|member| !gone.contains(member))
        .collect()
}
