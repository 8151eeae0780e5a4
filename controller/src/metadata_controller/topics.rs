//! The topic rules: which topics CreateTopics may create, DeleteTopics may
//! delete and CreatePartitions may grow, and the records each writes: a
//! topic record, then one partition record per new partition with its
//! replicas — placed by the controller (all in the ISR, the first leading)
//! or listed by the client (its active ones in the ISR, the first of those
//! leading). Kafka's `ReplicationControlManager`.

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
    /// Replicas the client listed itself, as `(partition index, brokers)`
    /// in request order; empty to let the controller place them. With
    /// them, `partitions` and `replication_factor` must be -1.
    pub assignments: Vec<(i32, Vec<i32>)>,
}

/// A CreatePartitions item: grow topic `name` to `count` partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartitions {
    /// The topic.
    pub name: String,
    /// Its partition count after the change.
    pub count: i32,
    /// The new partitions' replicas as the client listed them, one list per
    /// added partition in partition order; `None` to let the controller
    /// place them.
    pub assignments: Option<Vec<Vec<i32>>>,
}

impl NewPartitions {
    /// Grow topic `name` to `count` partitions placed by the controller.
    pub fn placed(name: impl Into<String>, count: i32) -> NewPartitions {
        NewPartitions {
            name: name.into(),
            count,
            assignments: None,
        }
    }
}

/// Where a new topic's replicas go, decided before its id is drawn.
enum NewTopicPlacement {
    /// As the client listed them, checked.
    Manual(Vec<PlacedPartition>),
    /// Placed by the controller (the topic id seeds the stripe).
    Automatic {
        partitions: i32,
        replication_factor: i16,
        brokers: Vec<UsableBroker>,
    },
}

/// A new partition's replicas and its first ISR.
///
/// Invariant: `isr` is a non-empty subset of `replicas`; its first member
/// leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PlacedPartition {
    /// The replicas, the first preferred to lead.
    pub replicas: Vec<i32>,
    /// The replicas in sync at creation (those that may lead now).
    pub isr: Vec<i32>,
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
    /// Its replication factor.
    pub replication_factor: i16,
}

impl MetadataController {
    /// CreateTopics: one result per topic, in request order. A topic is
    /// refused for an illegal name, a name that exists (or that an earlier
    /// item creates), a partition count neither positive nor -1 (or above
    /// [`PARTITIONS_MAX`]), a replication factor neither positive nor -1 or
    /// larger than the usable brokers (registered, unfenced, not shutting
    /// down), a manual assignment Kafka refuses (see `manual_assignment`),
    /// or a bad config. Each created topic gets its id from `new_topic_id`
    /// (random in a broker, scripted in a simulation), one
    /// [`MetadataRecord::Topic`] and one [`MetadataRecord::Partition`] per
    /// partition, its replicas as the client listed them or placed round
    /// robin from a start the id seeds.
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
                // Kafka judges the configs before the placement.
                let mut configs = BTreeMap::new();
                for (name, value) in &topic.configs {
                    configs.insert(name.clone(), validate_topic_config(name, value)?);
                }
                let placement = if topic.assignments.is_empty() {
                    self.automatic_new_topic(&topic)?
                } else {
                    NewTopicPlacement::Manual(self.manual_new_topic_partitions(&topic)?)
                };
                let topic_id = new_topic_id();
                let placed = match placement {
                    NewTopicPlacement::Manual(placed) => placed,
                    NewTopicPlacement::Automatic {
                        partitions,
                        replication_factor,
                        brokers,
                    } => placed_by_controller(
                        &brokers,
                        topic_id,
                        0,
                        partitions,
                        usize::from(replication_factor.unsigned_abs()),
                    ),
                };
                let partitions =
                    i32::try_from(placed.len()).expect("checked against PARTITIONS_MAX");
                let replication_factor =
                    i16::try_from(placed[0].replicas.len()).unwrap_or(i16::MAX);
                records.push(MetadataRecord::Topic {
                    topic_id,
                    name: topic.name.clone(),
                    partitions,
                    configs: configs.into_iter().collect(),
                });
                records.extend(partition_records(topic_id, 0, placed));
                created_names.push(topic.name);
                Ok(CreatedTopic {
                    topic_id,
                    partitions,
                    replication_factor,
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

    /// CreatePartitions: grows each topic to its `count` partitions; one
    /// result per topic, in request order. Refused for an unknown or
    /// internal topic, a count that does not grow it (or is above
    /// [`PARTITIONS_MAX`]), manual assignments Kafka refuses (not one list
    /// per added partition, or a list `manual_assignment` refuses, with the
    /// topic's replication factor: that of its partition 0), or, placed by
    /// the controller, fewer usable brokers than that replication factor.
    /// Placed partitions continue the topic's placement stripe.
    pub fn create_partitions(
        &self,
        topics: Vec<NewPartitions>,
    ) -> ControllerResult<Vec<Result<(), ControllerError>>> {
        let mut records = Vec::new();
        let response = topics
            .into_iter()
            .map(|grow| {
                let topic = self
                    .image
                    .topic(&grow.name)
                    .ok_or_else(|| ControllerError::UnknownTopic(grow.name.clone()))?;
                if is_internal_topic(&grow.name) {
                    return Err(ControllerError::InternalTopic(grow.name));
                }
                if grow.count <= topic.partitions {
                    return Err(ControllerError::PartitionCountNotIncreased {
                        current: topic.partitions,
                        requested: grow.count,
                    });
                }
                check_partition_count(grow.count)?;
                let added = grow.count - topic.partitions;
                let replication_factor = topic
                    .partition(0)
                    .map_or(1, |state| state.replicas.len().max(1));
                let placed = match &grow.assignments {
                    Some(lists) => self.manual_added_partitions(
                        topic.partitions,
                        added,
                        lists,
                        replication_factor,
                    )?,
                    None => {
                        let brokers = self.usable_brokers(
                            i16::try_from(replication_factor).unwrap_or(i16::MAX),
                        )?;
                        placed_by_controller(
                            &brokers,
                            topic.topic_id,
                            topic.partitions,
                            added,
                            replication_factor,
                        )
                    }
                };
                records.push(MetadataRecord::PartitionCount {
                    topic_id: topic.topic_id,
                    partitions: grow.count,
                });
                records.extend(partition_records(topic.topic_id, topic.partitions, placed));
                Ok(())
            })
            .collect();
        ControllerResult { records, response }
    }
}

impl MetadataController {
    /// A new topic's partition count, replication factor (each -1 for the
    /// broker default) and the brokers to place its replicas on.
    fn automatic_new_topic(&self, topic: &NewTopic) -> Result<NewTopicPlacement, ControllerError> {
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
        Ok(NewTopicPlacement::Automatic {
            partitions,
            replication_factor,
            brokers,
        })
    }

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

pub(super) fn check_partition_count(partitions: i32) -> Result<(), ControllerError> {
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

/// Partitions `first..first + count` of topic `topic_id` placed by the
/// controller over `brokers` (the topic's stripe, seeded by its id), every
/// replica in the ISR.
fn placed_by_controller(
    brokers: &[UsableBroker],
    topic_id: TopicId,
    first: i32,
    count: i32,
    replication_factor: usize,
) -> Vec<PlacedPartition> {
    place(
        brokers,
        first,
        count,
        replication_factor,
        placement_seed(&topic_id),
    )
    .into_iter()
    .map(|replicas| PlacedPartition {
        isr: replicas.clone(),
        replicas,
    })
    .collect()
}

/// A partition record per placement, partitions numbered from `first`: the
/// first of its ISR leading, epochs 0.
fn partition_records(
    topic_id: TopicId,
    first: i32,
    placements: Vec<PlacedPartition>,
) -> impl Iterator<Item = MetadataRecord> {
    (first..).zip(placements).map(move |(partition, placed)| {
        assert!(
            !placed.isr.is_empty() && placed.isr.iter().all(|id| placed.replicas.contains(id)),
            "a new partition's ISR is a non-empty subset of its replicas"
        );
        let leader = placed.isr[0];
        MetadataRecord::Partition {
            topic_id,
            partition,
            isr: placed.isr,
            replicas: placed.replicas,
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    })
}
