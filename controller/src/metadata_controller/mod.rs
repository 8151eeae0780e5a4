//! The metadata controller: the rules that turn a metadata change (create or
//! delete topics, add partitions, change topic configs, reserve producer ids,
//! create and remove SCRAM credentials,
//! register, fence and unfence brokers, elect leaders, change an ISR,
//! reassign partitions) into
//! the records that make it, and the committed image those records build.
//! Sans-IO, in two steps, as Kafka's `QuorumController`:
//!
//! 1. *propose*: a change is checked against the current image and answered
//!    with a [`ControllerResult`] — the records to append and the reply to
//!    give once they are committed. Nothing changes yet.
//! 2. *apply committed*: whoever drives the controller appends the records
//!    through a [`MetadataStorage`](crate::MetadataStorage) (one fsynced file
//!    today, a Raft quorum later) and, once they are committed, hands them to
//!    [`MetadataController::apply_committed`], which builds the next image.
//!
//! If the append fails, the driver drops the proposal: the controller never
//! saw it. So the same code serves one voter or five, and a simulated
//! network can drive it.
//!
//! Invariant: proposals are checked against the image that their records
//! will be applied to. The driver serialises changes (propose, commit, apply
//! one at a time) to keep it; a Raft leader that pipelines proposals will
//! check against its latest proposed image instead.
//!
//! Besides the image, the controller keeps soft state that no record holds
//! (Kafka's `BrokerHeartbeatManager`): when each broker last heartbeat and
//! whether it is shutting down, and which log directory holds each replica
//! of a failed directory. Time is whatever the driver passes as
//! `now_ms`; a new active controller starts every session afresh.

mod acls;
mod brokers;
mod leadership;
mod log_dirs;
mod manual_assignment;
mod partition_change;
mod producer_ids;
mod proposal;
mod reassignment;
mod replica_placement;
mod scram_credentials;
mod topic_configs;
mod topics;

#[cfg(test)]
mod cluster_tests;
#[cfg(test)]
mod leadership_tests;
#[cfg(test)]
mod log_dirs_tests;
#[cfg(test)]
mod manual_assignment_tests;
#[cfg(test)]
mod reassignment_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::BrokerConfig;
use crate::image::MetadataImage;
use crate::metadata_record::MetadataRecord;

pub use brokers::{BrokerHeartbeat, BrokerHeartbeatReply, NewBrokerRegistration};
pub use leadership::{AlterPartition, ElectionResult, UNKNOWN_BROKER_EPOCH};
pub use log_dirs::DirectoryId;
pub use partition_change::ElectionType;
pub use producer_ids::{ProducerIdBlock, PRODUCER_ID_BLOCK_SIZE};
pub use reassignment::{ongoing_reassignments, OngoingReassignment, PartitionReassignment};
pub use scram_credentials::{ScramDeletion, ScramUpsertion};
pub use topic_configs::TopicConfigChange;
pub use topics::{CreatedTopic, NewPartitions, NewTopic, TopicRef};

/// The broker settings the controller's rules read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerSettings {
    /// `num.partitions`: a new topic's partition count when it asks for -1.
    /// At least 1.
    pub num_partitions: i32,
    /// `delete.topic.enable`: whether DeleteTopics may delete anything.
    pub delete_topic_enable: bool,
    /// `node.id`: the broker that holds the partitions of a single-node
    /// metadata log, which records no replicas.
    pub node_id: i32,
    /// `default.replication.factor`: a new topic's replication factor when
    /// it asks for -1. At least 1.
    pub default_replication_factor: i16,
    /// `unclean.leader.election.enable`, the broker default a topic
    /// override replaces.
    pub unclean_leader_election_enable: bool,
    /// `broker.session.timeout.ms`: a broker with no heartbeat for longer
    /// is fenced by [`MetadataController::tick`].
    pub broker_session_timeout_ms: u64,
}

/// Kafka's default `broker.session.timeout.ms`.
pub const BROKER_SESSION_TIMEOUT_MS_DEFAULT: u64 = 9000;

impl ControllerSettings {
    /// The settings of `config`.
    pub fn from_broker_config(config: &BrokerConfig) -> ControllerSettings {
        ControllerSettings {
            num_partitions: config.num_partitions(),
            delete_topic_enable: config.delete_topic_enable(),
            node_id: config.node_id(),
            default_replication_factor: config.default_replication_factor(),
            unclean_leader_election_enable: config.unclean_leader_election_enable(),
            broker_session_timeout_ms: config.broker_session_timeout_ms(),
        }
    }

    /// The settings of a single node `node_id` with Kafka's defaults:
    /// for tests and simulations.
    pub fn defaults(node_id: i32) -> ControllerSettings {
        ControllerSettings {
            num_partitions: 1,
            delete_topic_enable: true,
            node_id,
            default_replication_factor: 1,
            unclean_leader_election_enable: false,
            broker_session_timeout_ms: BROKER_SESSION_TIMEOUT_MS_DEFAULT,
        }
    }
}

/// A proposed change: the records to commit, and the reply to give once they
/// are committed (Kafka's `ControllerResult`). No records means nothing to
/// commit (every item refused, nothing to change, or validate-only): reply
/// at once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a proposal does nothing until its records are committed"]
pub struct ControllerResult<T> {
    /// The records that make the change, in order.
    pub records: Vec<MetadataRecord>,
    /// The reply, true once `records` are committed.
    pub response: T,
}

/// The controller's state: the settings its rules read, the image of
/// every committed record, and the brokers' sessions.
///
/// Lives on: the control shard only.
#[derive(Debug, Clone)]
pub struct MetadataController {
    settings: ControllerSettings,
    image: Arc<MetadataImage>,
    sessions: BTreeMap<i32, BrokerSession>,
    /// Each broker's replicas per log directory and its offline
    /// directories (KIP-858), soft state as `sessions`.
    directories: BTreeMap<i32, log_dirs::BrokerDirectories>,
}

/// What the controller knows of a broker that no record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BrokerSession {
    /// The registration this session belongs to; a session of another
    /// epoch is stale and ignored.
    broker_epoch: i64,
    /// When it last registered or heartbeat, in the driver's clock.
    last_contact_ms: u64,
    /// It asked for a controlled shutdown: it may not lead or take new
    /// replicas.
    shutting_down: bool,
    /// The offset of the last record that moved its leaderships away; it
    /// may stop once its metadata has caught up to it.
    shutdown_offset: Option<u64>,
}

impl MetadataController {
    /// A controller whose committed state is `image`.
    ///
    /// # Panics
    /// If `settings.num_partitions` or `default_replication_factor` is not
    /// positive (the broker config validates them).
    pub fn new(settings: ControllerSettings, image: MetadataImage) -> MetadataController {
        assert!(settings.num_partitions > 0, "num.partitions is validated");
        assert!(
            settings.default_replication_factor > 0,
            "default.replication.factor is validated"
        );
        MetadataController {
            settings,
            image: Arc::new(image),
            sessions: BTreeMap::new(),
            directories: BTreeMap::new(),
        }
    }

    /// A controller whose committed state is `records`, replayed in order
    /// from the empty image.
    pub fn replay<'a>(
        settings: ControllerSettings,
        records: impl IntoIterator<Item = &'a MetadataRecord>,
    ) -> MetadataController {
        MetadataController::new(settings, MetadataImage::replay(settings.node_id, records))
    }

    /// The image of every committed record: what proposals are checked
    /// against and what the data shards are told.
    pub fn image(&self) -> &Arc<MetadataImage> {
        &self.image
    }

    /// Applies `records`, committed in this order, and returns the new
    /// image. The previous image is untouched (shards may still hold it).
    pub fn apply_committed(&mut self, records: &[MetadataRecord]) -> Arc<MetadataImage> {
        if records.is_empty() {
            return Arc::clone(&self.image);
        }
        let mut image = MetadataImage::clone(&self.image);
        let version_before = image.version;
        for record in records {
            log_record(record, &image);
            image.apply(record);
        }
        assert_eq!(
            image.version,
            version_before + records.len() as u64,
            "every committed record advances the image"
        );
        self.image = Arc::new(image);
        Arc::clone(&self.image)
    }
}

fn log_record(record: &MetadataRecord, image: &MetadataImage) {
    match record {
        MetadataRecord::Topic {
            name, partitions, ..
        } => tracing::info!(topic = %name, partitions, "topic created"),
        MetadataRecord::RemoveTopic { topic_id } => {
            let name = image.topic_by_id(topic_id).map(|t| t.name.clone());
            tracing::info!(topic = ?name, "topic deleted");
        }
        MetadataRecord::PartitionCount { partitions, .. } => {
            tracing::info!(partitions, "partitions added")
        }
        MetadataRecord::TopicConfig { key, value, .. } => {
            tracing::info!(%key, ?value, "topic config changed")
        }
        MetadataRecord::ProducerIdBlock { next_block_start } => {
            tracing::debug!(next_block_start, "producer id block reserved")
        }
        MetadataRecord::BrokerRegistration {
            broker_id,
            broker_epoch,
            rack,
            ..
        } => tracing::info!(broker_id, broker_epoch, ?rack, "broker registered"),
        MetadataRecord::BrokerFenced { broker_id, .. } => {
            tracing::info!(broker_id, "broker fenced")
        }
        MetadataRecord::BrokerUnfenced { broker_id, .. } => {
            tracing::info!(broker_id, "broker unfenced")
        }
        MetadataRecord::BrokerUnregistered { broker_id, .. } => {
            tracing::info!(broker_id, "broker unregistered")
        }
        MetadataRecord::Partition { .. } => {}
        MetadataRecord::ClusterId { cluster_id } => {
            tracing::info!(%cluster_id, "cluster id recorded")
        }
        MetadataRecord::UserScramCredential {
            name, mechanism, ..
        } => {
            tracing::info!(user = %name, mechanism = mechanism.mechanism_name(), "SCRAM credential set")
        }
        MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
            tracing::info!(user = %name, mechanism = mechanism.mechanism_name(), "SCRAM credential removed")
        }
        MetadataRecord::AccessControlEntry { binding, .. } => {
            tracing::info!(?binding, "ACL created")
        }
        MetadataRecord::RemoveAccessControlEntry { .. } => tracing::info!("ACL removed"),
        MetadataRecord::PartitionChange {
            partition,
            isr,
            leader,
            replicas,
            adding_replicas,
            removing_replicas,
            ..
        } => {
            if replicas.is_some() || adding_replicas.is_some() || removing_replicas.is_some() {
                tracing::info!(
                    partition,
                    ?replicas,
                    ?adding_replicas,
                    ?removing_replicas,
                    ?isr,
                    ?leader,
                    "partition replicas changed"
                );
            } else {
                tracing::debug!(partition, ?isr, ?leader, "partition changed");
            }
        }
    }
}
