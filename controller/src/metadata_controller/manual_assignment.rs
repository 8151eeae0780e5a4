//! Manual replica assignments: the replica lists a client names itself in
//! CreateTopics, CreatePartitions and AlterPartitionReassignments instead of
//! leaving placement to the controller. Kafka's `ReplicationControlManager`
//! rules and messages: `validateManualPartitionAssignment` on each list,
//! and for new partitions the -1 counts of a new topic, the partition
//! numbering, one list per added partition, and the active replicas.

use std::collections::BTreeMap;

use super::topics::{check_partition_count, NewTopic, PlacedPartition};
use super::MetadataController;
use crate::error::ControllerError;
use crate::image::MetadataImage;

/// Kafka's `validateManualPartitionAssignment` on one replica list: not
/// empty, every broker registered and named once — checked in ascending id
/// order, so the message names the least offender, as Kafka's does — and,
/// with `replication_factor`, that many replicas.
pub(super) fn check_replica_list(
    image: &MetadataImage,
    replicas: &[i32],
    replication_factor: Option<usize>,
) -> Result<(), ControllerError> {
    let refuse = |message: String| Err(ControllerError::InvalidReplicaAssignment(message));
    if replicas.is_empty() {
        return refuse("The manual partition assignment includes an empty replica list.".into());
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    for (index, broker) in sorted.iter().enumerate() {
        if image.broker(*broker).is_none() {
            return refuse(format!(
                "The manual partition assignment includes broker {broker}, but no such broker is registered."
            ));
        }
        if index > 0 && sorted[index - 1] == *broker {
            return refuse(format!(
                "The manual partition assignment includes the broker {broker} more than once."
            ));
        }
    }
    match replication_factor {
        Some(expected) if expected != replicas.len() => refuse(format!(
            "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {expected} replica(s).",
            replicas.len()
        )),
        _ => Ok(()),
    }
}

impl MetadataController {
    /// A new topic's partitions from its manual assignments, in partition
    /// order. Kafka wants the replication factor and the partition count
    /// left at -1 (checked in that order); then, in request order, no index
    /// twice and each list checked (the first sets the replication factor
    /// the others must have) with at least one active replica; then the
    /// indexes exactly 0..n.
    pub(super) fn manual_new_topic_partitions(
        &self,
        topic: &NewTopic,
    ) -> Result<Vec<PlacedPartition>, ControllerError> {
        if topic.replication_factor != -1 {
            return Err(ControllerError::ManualAssignmentWithReplicationFactor);
        }
        if topic.partitions != -1 {
            return Err(ControllerError::ManualAssignmentWithPartitionCount);
        }
        let mut by_partition = BTreeMap::new();
        let mut replication_factor = None;
        for (partition, replicas) in &topic.assignments {
            if by_partition.contains_key(partition) {
                return Err(ControllerError::InvalidReplicaAssignment(format!(
                    "Found multiple manual partition assignments for partition {partition}"
                )));
            }
            let placed = self.manual_partition(*partition, replicas, replication_factor)?;
            replication_factor = Some(replicas.len());
            by_partition.insert(*partition, placed);
        }
        // The keys are distinct and sorted: they are 0..n exactly when
        // they count up from 0 with no gap.
        let count = i32::try_from(by_partition.len()).unwrap_or(i32::MAX);
        if !by_partition.keys().copied().eq(0..count) {
            return Err(ControllerError::InvalidReplicaAssignment(
                "partitions should be a consecutive 0-based integer sequence".into(),
            ));
        }
        check_partition_count(count)?;
        Ok(by_partition.into_values().collect())
    }

    /// CreatePartitions' `added` new partitions (numbered from `current`)
    /// from the client's lists: one list per added partition, each checked
    /// with the topic's `replication_factor` and holding an active replica.
    pub(super) fn manual_added_partitions(
        &self,
        current: i32,
        added: i32,
        lists: &[Vec<i32>],
        replication_factor: usize,
    ) -> Result<Vec<PlacedPartition>, ControllerError> {
        if usize::try_from(added).ok() != Some(lists.len()) {
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.",
                lists.len()
            )));
        }
        (current..)
            .zip(lists)
            .map(|(partition, replicas)| {
                self.manual_partition(partition, replicas, Some(replication_factor))
            })
            .collect()
    }

    /// New partition `partition`'s placement from the client's list: the
    /// list checked, then its active replicas (unfenced, not shutting down)
    /// as the ISR, in list order (Kafka refuses a partition with none).
    fn manual_partition(
        &self,
        partition: i32,
        replicas: &[i32],
        replication_factor: Option<usize>,
    ) -> Result<PlacedPartition, ControllerError> {
        check_replica_list(&self.image, replicas, replication_factor)?;
        let isr: Vec<i32> = replicas
            .iter()
            .copied()
            .filter(|&broker| self.may_lead(&self.image, broker))
            .collect();
        if isr.is_empty() {
            return Err(ControllerError::InvalidReplicaAssignment(format!(
                "All brokers specified in the manual partition assignment for partition {partition} are fenced or in controlled shutdown."
            )));
        }
        Ok(PlacedPartition {
            replicas: replicas.to_vec(),
            isr,
        })
    }
}
