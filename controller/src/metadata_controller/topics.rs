//! The topic rules: which topics CreateTopics may create, DeleteTopics may
//! delete and CreatePartitions may grow, and the records each writes.
//! Kafka's `ReplicationControlManager`, for one broker and one replica.

use std::collections::BTreeMap;

use super::{ControllerResult, MetadataController};
use crate::config::validate_topic_config;
use crate::error::ControllerError;
use crate::metadata_record::{MetadataRecord, TopicId};
use crate::topic_name::{is_internal_topic, validate_topic_name};

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Its name (checked against Kafka's rules here).
    pub name: String,
    /// Partition count; -1 for `num.partitions`.
    pub partitions: i32,
    /// Replication factor; -1 for the default.
    pub replication_factor: i16,
    /// Config overrides by Kafka property name.
    pub configs: Vec<(String, String)>,
}

/// A topic named by name or id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicRef {
    /// By name.
    Name(String),
    /// By id.
    Id(TopicId),
}

/// A topic that was (or, validating only, would be) created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatedTopic {
    /// Its id.
    pub topic_id: TopicId,
    /// Its partition count.
    pub partitions: i32,
}

impl MetadataController {
    /// CreateTopics: one result per topic, in request order. A topic is
    /// refused for an illegal name, a name that exists (or that an earlier
    /// item creates), a partition count neither positive nor -1, a
    /// replication factor other than 1 or -1, or a bad config. Each created
    /// topic gets its id from `new_topic_id` (random in a broker, scripted in
    /// a simulation) and one [`MetadataRecord::Topic`].
    pub fn create_topics(
        &self,
        topics: Vec<NewTopic>,
        new_topic_id: &mut dyn FnMut() -> TopicId,
    ) -> ControllerResult<Vec<Result<CreatedTopic, ControllerError>>> {
        let mut records = Vec::new();
        let mut created_names: Vec<String> = Vec::new();
        let response = topics
            .into_iter()
            .map(|topic| {
                validate_topic_name(&topic.name)?;
                if self.image.topic(&topic.name).is_some() || created_names.contains(&topic.name) {
                    return Err(ControllerError::TopicAlreadyExists(topic.name));
                }
                let partitions = match topic.partitions {
                    -1 => self.settings.num_partitions,
                    n if n >= 1 => n,
                    n => return Err(ControllerError::PartitionCountNotPositive(n)),
                };
                match topic.replication_factor {
                    -1 | 1 => {}
                    n => return Err(ControllerError::InvalidReplicationFactor(n)),
                }
                let mut configs = BTreeMap::new();
                for (name, value) in &topic.configs {
                    configs.insert(name.clone(), validate_topic_config(name, value)?);
                }
                let topic_id = new_topic_id();
                records.push(MetadataRecord::Topic {
                    topic_id,
                    name: topic.name.clone(),
                    partitions,
                    configs: configs.into_iter().collect(),
                });
                created_names.push(topic.name);
                Ok(CreatedTopic {
                    topic_id,
                    partitions,
                })
            })
            .collect();
        ControllerResult { records, response }
    }

    /// DeleteTopics: one result per topic, in request order, the deleted
    /// topic's name and id. A topic is refused if unknown, internal, or
    /// while `delete.topic.enable` is off. A topic named twice is deleted
    /// once (one [`MetadataRecord::RemoveTopic`]) and reported twice.
    pub fn delete_topics(
        &self,
        topics: Vec<TopicRef>,
    ) -> ControllerResult<Vec<Result<(String, TopicId), ControllerError>>> {
        let mut records = Vec::new();
        let response = topics
            .into_iter()
            .map(|topic| {
                let found = match &topic {
                    TopicRef::Name(name) => self
                        .image
                        .topic(name)
                        .ok_or_else(|| ControllerError::UnknownTopic(name.clone()))?,
                    TopicRef::Id(id) => self
                        .image
                        .topic_by_id(id)
                        .ok_or(ControllerError::UnknownTopicId)?,
                };
                if !self.settings.delete_topic_enable {
                    return Err(ControllerError::TopicDeletionDisabled);
                }
                if is_internal_topic(&found.name) {
                    return Err(ControllerError::InternalTopic(found.name.clone()));
                }
                let removal = MetadataRecord::RemoveTopic {
                    topic_id: found.topic_id,
                };
                if !records.contains(&removal) {
                    records.push(removal);
                }
                Ok((found.name.clone(), found.topic_id))
            })
            .collect();
        ControllerResult { records, response }
    }

    /// CreatePartitions: grows each `(topic, count)` to `count` partitions;
    /// one result per topic, in request order. Refused for an unknown or
    /// internal topic, or a count that does not grow it.
    pub fn create_partitions(
        &self,
        topics: Vec<(String, i32)>,
    ) -> ControllerResult<Vec<Result<(), ControllerError>>> {
        let mut records = Vec::new();
        let response = topics
            .into_iter()
            .map(|(name, count)| {
                let topic = self
                    .image
                    .topic(&name)
                    .ok_or_else(|| ControllerError::UnknownTopic(name.clone()))?;
                if is_internal_topic(&name) {
                    return Err(ControllerError::InternalTopic(name));
                }
                if count <= topic.partitions {
                    return Err(ControllerError::PartitionCountNotIncreased {
                        current: topic.partitions,
                        requested: count,
                    });
                }
                records.push(MetadataRecord::PartitionCount {
                    topic_id: topic.topic_id,
                    partitions: count,
                });
                Ok(())
            })
            .collect();
        ControllerResult { records, response }
    }
}
