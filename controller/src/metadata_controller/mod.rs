//! The metadata controller: the rules that turn a metadata change (create or
//! delete topics, add partitions, change topic configs, reserve producer ids)
//! into the records that make it, and the committed image those records
//! build. Sans-IO, in two steps, as Kafka's `QuorumController`:
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

mod producer_ids;
mod topic_configs;
mod topics;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::config::BrokerConfig;
use crate::image::MetadataImage;
use crate::metadata_record::MetadataRecord;

pub use producer_ids::{ProducerIdBlock, PRODUCER_ID_BLOCK_SIZE};
pub use topic_configs::TopicConfigChange;
pub use topics::{CreatedTopic, NewTopic, TopicRef};

/// The broker settings the controller's rules read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerSettings {
    /// `num.partitions`: a new topic's partition count when it asks for -1.
    /// At least 1.
    pub num_partitions: i32,
    /// `delete.topic.enable`: whether DeleteTopics may delete anything.
    pub delete_topic_enable: bool,
}

impl ControllerSettings {
    /// The settings of `config`.
    pub fn from_broker_config(config: &BrokerConfig) -> ControllerSettings {
        ControllerSettings {
            num_partitions: config.num_partitions(),
            delete_topic_enable: config.delete_topic_enable(),
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

/// The controller's state: the settings its rules read and the image of
/// every committed record.
///
/// Lives on: the control shard only.
#[derive(Debug, Clone)]
pub struct MetadataController {
    settings: ControllerSettings,
    image: Arc<MetadataImage>,
}

impl MetadataController {
    /// A controller whose committed state is `image`.
    ///
    /// # Panics
    /// If `settings.num_partitions` is not positive (the broker config
    /// validates it).
    pub fn new(settings: ControllerSettings, image: MetadataImage) -> MetadataController {
        assert!(settings.num_partitions > 0, "num.partitions is validated");
        MetadataController {
            settings,
            image: Arc::new(image),
        }
    }

    /// A controller whose committed state is `records`, replayed in order
    /// from the empty image.
    pub fn replay<'a>(
        settings: ControllerSettings,
        records: impl IntoIterator<Item = &'a MetadataRecord>,
    ) -> MetadataController {
        MetadataController::new(settings, MetadataImage::replay(records))
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
    }
}
