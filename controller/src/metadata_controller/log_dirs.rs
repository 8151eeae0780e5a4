//! The log-directory rules (KIP-858, JBOD in KRaft): which directory holds
//! each of a broker's replicas (AssignReplicasToDirs) and which of its
//! directories its heartbeats report offline (BrokerHeartbeat
//! `OfflineLogDirs`). A replica in an offline directory cannot serve, so its
//! broker loses that partition's leadership and leaves its ISR at once,
//! while its replicas in healthy directories keep serving — Kafka's
//! `handleDirectoriesOffline` and `handleAssignReplicasToDirs`.
//!
//! Skein keeps the assignments as soft state of the broker's session (no
//! record holds them), and a broker sends the assignments of its failed
//! directories with every heartbeat that reports them: what matters — the
//! leadership and ISR changes — is committed as records, and a new active
//! controller learns the rest from the broker's next heartbeat. Kafka
//! records every assignment (the `Directories` of partition records); Skein
//! needs them only for the directories that failed.
//!
//! Invariant: once a heartbeat of the broker's current registration has
//! reported a directory offline, no partition assigned there is led by that
//! broker or has it in its ISR (except as the last member of an offline
//! partition's), until the broker registers again (a restart, which
//! re-opens its directories).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::brokers::refused;
use super::proposal::Proposal;
use super::{ControllerResult, MetadataController};
use crate::error::ControllerError;
use crate::metadata_record::TopicId;

/// A log directory's `directory.id`, as the 16 bytes of its UUID.
pub type DirectoryId = [u8; 16];

/// What the controller knows of one broker's directories, for the
/// registration of `broker_epoch`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct BrokerDirectories {
    broker_epoch: i64,
    /// The replicas each directory holds, as the broker assigned them.
    assigned: BTreeMap<DirectoryId, BTreeSet<(TopicId, i32)>>,
    /// The directories its heartbeats report offline.
    offline: BTreeSet<DirectoryId>,
}

impl MetadataController {
    /// AssignReplicasToDirs from broker `broker_id` at `broker_epoch`: each
    /// `(directory, topic, partition)` says which directory holds its
    /// replica. A replica assigned to a directory already reported offline
    /// loses its leadership and ISR place at once.
    ///
    /// # Errors
    /// [`ControllerError::BrokerIdNotRegistered`], or
    /// [`ControllerError::StaleBrokerEpoch`] for another registration's
    /// epoch.
    pub fn assign_replicas_to_dirs(
        &mut self,
        broker_id: i32,
        broker_epoch: i64,
        assignments: &[(DirectoryId, TopicId, i32)],
    ) -> ControllerResult<Result<(), ControllerError>> {
        if let Err(error) = self.check_broker_epoch(broker_id, broker_epoch) {
            return refused(error);
        }
        let directories = self.directories_mut(broker_id, broker_epoch);
        for (directory, topic_id, partition) in assignments {
            for replicas in directories.assigned.values_mut() {
                replicas.remove(&(*topic_id, *partition));
            }
            directories
                .assigned
                .entry(*directory)
                .or_default()
                .insert((*topic_id, *partition));
        }
        let image = Arc::clone(&self.image);
        let mut proposal = Proposal::new(&image);
        self.remove_from_offline_directories(&mut proposal, broker_id);
        ControllerResult {
            records: proposal.into_records(),
            response: Ok(()),
        }
    }

    /// Takes `offline` as the broker's offline directories (its heartbeat
    /// says so; a directory never comes back online within a registration)
    /// and moves the leadership and ISR places of its replicas in them.
    pub(super) fn report_offline_directories(
        &mut self,
        proposal: &mut Proposal<'_>,
        broker_id: i32,
        broker_epoch: i64,
        offline: &[DirectoryId],
    ) {
        if offline.is_empty() {
            return;
        }
        let directories = self.directories_mut(broker_id, broker_epoch);
        let mut newly = Vec::new();
        for directory in offline {
            if directories.offline.insert(*directory) {
                newly.push(*directory);
            }
        }
        if !newly.is_empty() {
            tracing::warn!(
                broker_id,
                directories = newly.len(),
                "broker reports log directories offline; moving their partitions"
            );
        }
        self.remove_from_offline_directories(proposal, broker_id);
    }

    /// Whether the replica of `(topic_id, partition)` on `broker_id` is in a
    /// directory its current registration reported offline.
    pub(super) fn replica_offline(
        &self,
        broker_id: i32,
        topic_id: &TopicId,
        partition: i32,
    ) -> bool {
        let Some(directories) = self.directories.get(&broker_id) else {
            return false;
        };
        let current = self
            .image
            .broker(broker_id)
            .is_some_and(|broker| broker.broker_epoch == directories.broker_epoch);
        current
            && directories.offline.iter().any(|directory| {
                directories
                    .assigned
                    .get(directory)
                    .is_some_and(|replicas| replicas.contains(&(*topic_id, partition)))
            })
    }

    /// One change per partition with a replica of `broker_id` in one of its
    /// offline directories: the broker out of the ISR and the leadership.
    fn remove_from_offline_directories(&self, proposal: &mut Proposal<'_>, broker_id: i32) {
        let Some(directories) = self.directories.get(&broker_id) else {
            return;
        };
        let offline: BTreeSet<(TopicId, i32)> = directories
            .offline
            .iter()
            .filter_map(|directory| directories.assigned.get(directory))
            .flatten()
            .copied()
            .collect();
        if offline.is_empty() {
            return;
        }
        self.remove_from_partitions_where(proposal, broker_id, |topic_id, partition| {
            offline.contains(&(*topic_id, partition))
        });
    }

    /// The directory state of the registration of `broker_epoch`, started
    /// afresh when the broker registered again.
    fn directories_mut(&mut self, broker_id: i32, broker_epoch: i64) -> &mut BrokerDirectories {
        let directories = self.directories.entry(broker_id).or_default();
        if directories.broker_epoch != broker_epoch {
            *directories = BrokerDirectories {
                broker_epoch,
                ..BrokerDirectories::default()
            };
        }
        directories
    }

    /// Refuses a request of a broker that is not registered at
    /// `broker_epoch`.
    fn check_broker_epoch(&self, broker_id: i32, broker_epoch: i64) -> Result<(), ControllerError> {
        let Some(broker) = self.image.broker(broker_id) else {
            return Err(ControllerError::BrokerIdNotRegistered(broker_id));
        };
        if broker.broker_epoch != broker_epoch {
            return Err(ControllerError::StaleBrokerEpoch {
                broker_id,
                broker_epoch,
                current: broker.broker_epoch,
            });
        }
        Ok(())
    }
}
