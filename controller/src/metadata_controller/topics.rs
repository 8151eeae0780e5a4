//! The topic rules: which topics CreateTopics may create, DeleteTopics may
//! delete and CreatePartitions may grow, and the records each writes: a
//! topic record, then one partition record per new partition with its
//! placed replicas, all in the ISR, the first leading. Kafka's
//! `ReplicationControlManager`.

use std::collections::BTreeMap;

use super::replica_placement::{place, UsableBroker};
use super::{ControllerResult, MetadataController};
use crate::config::validate_topic_config;
use crate::error::ControllerError;
use crate::metadata_record::{MetadataRecord, TopicId, PARTITIONS_MAX};
use crate::topic_name::{is_internal_topic, validate_topic_name};

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Its name (checked against Kafka's rules here).
    pub name: String,
    /// Partition count; -1 for `num.partitions`.
    pub partitions: i32,
    /// Replication factor; -1 for `default.replication.factor`.
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
    /// item creates), a partition count neither positive nor -1 (or above
    /// [`PARTITIONS_MAX`]), a replication factor neither positive nor -1 or
    /// larger than the usable brokers (registered, unfenced, not shutting
    /// down), or a bad config. Each created topic gets its id from
    /// `new_topic_id` (random in a broker, scripted in a simulation), one
    /// [`MetadataRecord::Topic`] and one [`MetadataRecord::Partition`] per
    /// partition, its replicas placed round robin from a start the id
    /// seeds.
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
                check_partition_count(partitions)?;
                let replication_factor = match topic.replication_factor {
                    -1 => self.settings.default_replication_factor,
                    n if n >= 1 => n,
                    n => return Err(ControllerError::ReplicationFactorNotPositive(n)),
                };
                let brokers = self.usable_brokers(replication_factor)?;
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
                let placements = place(
                    &brokers,
                    0,
                    partitions,
                    usize::from(replication_factor.unsigned_abs()),
                    placement_seed(&topic_id),
                );
                records.extend(partition_records(topic_id, 0, placements));
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
    /// internal topic, a count that does not grow it (or is above
    /// [`PARTITIONS_MAX`]), or fewer usable brokers than the topic's
    /// replication factor (that of its partition 0). The new partitions
    /// continue the topic's placement stripe.
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
                check_partition_count(count)?;
                let replication_factor = topic
                    .partition(0)
                    .map_or(1, |state| state.replicas.len().max(1));
                let brokers =
                    self.usable_brokers(i16::try_from(replication_factor).unwrap_or(i16::MAX))?;
                records.push(MetadataRecord::PartitionCount {
                    topic_id: topic.topic_id,
                    partitions: count,
                });
                let placements = place(
                    &brokers,
                    topic.partitions,
                    count - topic.partitions,
                    replication_factor,
                    placement_seed(&topic.topic_id),
                );
                records.extend(partition_records(
                    topic.topic_id,
                    topic.partitions,
                    placements,
                ));
                Ok(())
            })
            .collect();
        ControllerResult { records, response }
    }
}

impl MetadataController {
    /// The brokers that may take new replicas, by id, if there are at least
    /// `replication_factor` of them.
    fn usable_brokers(
        &self,
        replication_factor: i16,
    ) -> Result<Vec<UsableBroker>, ControllerError> {
        let brokers: Vec<UsableBroker> = self
            .image
            .live_brokers()
            .filter(|broker| self.may_lead(&self.image, broker.broker_id))
            .map(|broker| UsableBroker {
                broker_id: broker.broker_id,
                rack: broker.rack.clone(),
            })
            .collect();
        if usize::from(replication_factor.unsigned_abs()) > brokers.len() {
            return Err(ControllerError::InvalidReplicationFactor {
                replication_factor,
                brokers: brokers.len(),
            });
        }
        Ok(brokers)
    }
}

fn check_partition_count(partitions: i32) -> Result<(), ControllerError> {
    if partitions > PARTITIONS_MAX {
        return Err(ControllerError::TooManyPartitions {
            requested: partitions,
            max: PARTITIONS_MAX,
        });
    }
    Ok(())
}

/// The placement seed of a topic: its (random) id.
fn placement_seed(topic_id: &TopicId) -> u64 {
    let mut high = [0u8; 8];
    high.copy_from_slice(&topic_id[..8]);
    let mut low = [0u8; 8];
    low.copy_from_slice(&topic_id[8..]);
    u64::from_be_bytes(high) ^ u64::from_be_bytes(low).rotate_left(17)
}

/// A partition record per placement, partitions numbered from `first`:
/// every replica in the ISR, the first leading, epochs 0.
fn partition_records(
    topic_id: TopicId,
    first: i32,
    placements: Vec<Vec<i32>>,
) -> impl Iterator<Item = MetadataRecord> {
    (first..).zip(placements).map(move |(partition, replicas)| {
        let leader = replicas[0];
        MetadataRecord::Partition {
            topic_id,
            partition,
            isr: replicas.clone(),
            replicas,
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    })
}
