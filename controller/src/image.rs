//! The metadata image: an immutable snapshot of cluster metadata (topics,
//! their ids, partition counts, config overrides and each partition's
//! replicas, ISR and leader; registered brokers) after applying every
//! committed record. The control shard builds a new image per change and
//! publishes it to every shard as an `Arc`; shards never mutate it.
//!
//! Invariant: every topic has one [`PartitionState`] per partition. A
//! partition whose creation recorded no state (a single-node metadata log,
//! written before brokers and replicas were recorded) reads as led by the
//! image's `local_broker_id` alone, at epoch 0.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::acl::AclTable;
use crate::broker_registration::{BrokerRegistration, RETIRED_INCARNATIONS_MAX};
use crate::metadata_record::{MetadataRecord, TopicId, NO_LEADER};
use crate::partition_state::{PartitionReassignmentChange, PartitionState};
use crate::scram_credential::{ScramCredential, ScramMechanism};

/// One topic as the image knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    /// The topic's name (validated before it was ever recorded).
    pub name: String,
    /// Its id: what placement hashes.
    pub topic_id: TopicId,
    /// Number of partitions, `0..partitions`.
    pub partitions: i32,
    /// Config overrides by Kafka property name; absent keys take the broker
    /// default.
    pub configs: BTreeMap<String, String>,
    /// `partition_states[p]` is partition `p`'s state; as many as
    /// `partitions`.
    partition_states: Vec<PartitionState>,
}

impl TopicImage {
    /// Partition `partition`'s replicas, ISR and leader; `None` if the topic
    /// has no such partition.
    pub fn partition(&self, partition: i32) -> Option<&PartitionState> {
        usize::try_from(partition)
            .ok()
            .and_then(|index| self.partition_states.get(index))
    }

    /// Every partition's state with its index, in order.
    pub fn partition_states(&self) -> impl Iterator<Item = (i32, &PartitionState)> {
        (0..).zip(self.partition_states.iter())
    }
}

/// The committed state of cluster metadata at one point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    /// How many records produced this image (0 for the empty image): the
    /// offset the next committed record takes.
    pub version: u64,
    topics: BTreeMap<String, Arc<TopicImage>>,
    names_by_id: HashMap<TopicId, String>,
    /// The first producer id not yet handed out or reserved.
    pub next_producer_id_block: i64,
    brokers: BTreeMap<i32, BrokerRegistration>,
    /// The replica of partitions created without a partition record.
    local_broker_id: i32,
    /// The cluster's id, once the first active controller recorded it.
    pub cluster_id: Option<String>,
    /// SCRAM credentials by user, then mechanism.
    scram_credentials: BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>,
    /// ACL bindings by id, indexed for the authorizer; shared with the
    /// images before a change that does not touch them.
    acls: Arc<AclTable>,
}

impl MetadataImage {
    /// The empty image of a node whose `node.id` is `local_broker_id`: the
    /// broker that holds partitions of a single-node log.
    pub fn new(local_broker_id: i32) -> MetadataImage {
        assert!(local_broker_id >= 0, "node.id is validated");
        MetadataImage {
            local_broker_id,
            ..MetadataImage::default()
        }
    }

    /// The image after replaying `records` from
    /// [`MetadataImage::new`]`(local_broker_id)`.
    pub fn replay<'a>(
        local_broker_id: i32,
        records: impl IntoIterator<Item = &'a MetadataRecord>,
    ) -> MetadataImage {
        let mut image = MetadataImage::new(local_broker_id);
        for record in records {
            image.apply(record);
        }
        image
    }

    /// Every ACL binding, indexed for [`Authorizer`](crate::Authorizer) checks.
    pub fn acls(&self) -> &AclTable {
        &self.acls
    }

    /// `user`'s SCRAM credential for `mechanism`, if it has one.
    pub fn scram_credential(
        &self,
        user: &str,
        mechanism: ScramMechanism,
    ) -> Option<&ScramCredential> {
        self.scram_credentials.get(user)?.get(&mechanism)
    }

    /// Every user with a SCRAM credential, in name order, with each
    /// mechanism's credential.
    pub fn scram_users(
        &self,
    ) -> impl Iterator<Item = (&String, &BTreeMap<ScramMechanism, ScramCredential>)> {
        self.scram_credentials.iter()
    }

    /// `user`'s SCRAM credentials by mechanism, if any.
    pub fn scram_credentials_of(
        &self,
        user: &str,
    ) -> Option<&BTreeMap<ScramMechanism, ScramCredential>> {
        self.scram_credentials.get(user)
    }

    /// Applies one committed record. Records that name a topic, partition
    /// or broker (epoch) the image does not know are ignored: they cannot be
    /// produced by a correct controller, and replay must not fail on them.
    pub fn apply(&mut self, record: &MetadataRecord) {
        self.version += 1;
        match record {
            MetadataRecord::Topic {
                topic_id,
                name,
                partitions,
                configs,
            } => {
                let Some(count) = partition_count(*partitions) else {
                    // Records are bytes from disk: refused, never asserted.
                    tracing::warn!(topic = %name, partitions, "topic record without partitions ignored");
                    return;
                };
                let topic = TopicImage {
                    name: name.clone(),
                    topic_id: *topic_id,
                    partitions: *partitions,
                    configs: configs.iter().cloned().collect(),
                    partition_states: vec![
                        PartitionState::single_node(self.local_broker_id);
                        count
                    ],
                };
                self.names_by_id.insert(*topic_id, name.clone());
                self.topics.insert(name.clone(), Arc::new(topic));
            }
            MetadataRecord::PartitionCount {
                topic_id,
                partitions,
            } => {
                let local_broker_id = self.local_broker_id;
                if let Some(topic) = self.topic_by_id_mut(topic_id) {
                    let Some(count) = partition_count(*partitions)
                        .filter(|count| *count >= topic.partition_states.len())
                    else {
                        tracing::warn!(partitions, "partition count record that shrinks ignored");
                        return;
                    };
                    topic.partitions = *partitions;
                    topic
                        .partition_states
                        .resize(count, PartitionState::single_node(local_broker_id));
                }
            }
            MetadataRecord::TopicConfig {
                topic_id,
                key,
                value,
            } => {
                if let Some(topic) = self.topic_by_id_mut(topic_id) {
                    match value {
                        Some(value) => topic.configs.insert(key.clone(), value.clone()),
                        None => topic.configs.remove(key),
                    };
                }
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                if let Some(name) = self.names_by_id.remove(topic_id) {
                    self.topics.remove(&name);
                }
            }
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                credential,
            } => {
                self.scram_credentials
                    .entry(name.clone())
                    .or_default()
                    .insert(*mechanism, credential.clone());
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                if let Some(credentials) = self.scram_credentials.get_mut(name) {
                    credentials.remove(mechanism);
                    if credentials.is_empty() {
                        self.scram_credentials.remove(name);
                    }
                }
            }
            MetadataRecord::AccessControlEntry { id, binding } => {
                Arc::make_mut(&mut self.acls).add(*id, binding.clone());
            }
            MetadataRecord::RemoveAccessControlEntry { id } => {
                if self.acls.bindings().contains_key(id) {
                    Arc::make_mut(&mut self.acls).remove(id);
                }
            }
            MetadataRecord::ClusterId { cluster_id } => {
                // Written once; a second one (a bug) does not change it.
                self.cluster_id.get_or_insert_with(|| cluster_id.clone());
            }
            MetadataRecord::ProducerIdBlock { next_block_start } => {
                // Blocks only move forward: one that does not is ignored.
                self.next_producer_id_block = self.next_producer_id_block.max(*next_block_start);
            }
            MetadataRecord::BrokerRegistration {
                broker_id,
                incarnation_id,
                broker_epoch,
                listeners,
                rack,
            } => {
                let mut retired_incarnations = Vec::new();
                if let Some(previous) = self.brokers.remove(broker_id) {
                    retired_incarnations = previous.retired_incarnations;
                    if previous.incarnation_id != *incarnation_id {
                        retired_incarnations.push(previous.incarnation_id);
                    }
                    let excess = retired_incarnations
                        .len()
                        .saturating_sub(RETIRED_INCARNATIONS_MAX);
                    retired_incarnations.drain(..excess);
                }
                self.brokers.insert(
                    *broker_id,
                    BrokerRegistration {
                        broker_id: *broker_id,
                        incarnation_id: *incarnation_id,
                        broker_epoch: *broker_epoch,
                        listeners: listeners.clone(),
                        rack: rack.clone(),
                        fenced: true,
                        retired_incarnations,
                    },
                );
            }
            MetadataRecord::BrokerFenced {
                broker_id,
                broker_epoch,
            } => {
                if let Some(broker) = self.broker_of_epoch_mut(*broker_id, *broker_epoch) {
                    broker.fenced = true;
                }
            }
            MetadataRecord::BrokerUnfenced {
                broker_id,
                broker_epoch,
            } => {
                if let Some(broker) = self.broker_of_epoch_mut(*broker_id, *broker_epoch) {
                    broker.fenced = false;
                }
            }
            MetadataRecord::BrokerUnregistered {
                broker_id,
                broker_epoch,
            } => {
                if self
                    .broker_of_epoch_mut(*broker_id, *broker_epoch)
                    .is_some()
                {
                    self.brokers.remove(broker_id);
                }
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
                adding_replicas,
                removing_replicas,
            } => {
                if let Some(state) = self.partition_mut(topic_id, *partition) {
                    *state = PartitionState {
                        replicas: replicas.clone(),
                        isr: isr.clone(),
                        leader: *leader,
                        leader_epoch: *leader_epoch,
                        partition_epoch: *partition_epoch,
                        adding_replicas: adding_replicas.clone(),
                        removing_replicas: removing_replicas.clone(),
                    };
                }
            }
            MetadataRecord::PartitionChange {
                topic_id,
                partition,
                isr,
                leader,
                replicas,
                adding_replicas,
                removing_replicas,
            } => {
                if let Some(state) = self.partition_mut(topic_id, *partition) {
                    state.apply_change(
                        isr.as_ref(),
                        *leader,
                        replicas.as_ref(),
                        PartitionReassignmentChange {
                            adding_replicas: adding_replicas.as_ref(),
                            removing_replicas: removing_replicas.as_ref(),
                        },
                    );
                }
            }
        }
    }

    fn topic_by_id_mut(&mut self, topic_id: &TopicId) -> Option<&mut TopicImage> {
        let name = self.names_by_id.get(topic_id)?;
        self.topics.get_mut(name).map(Arc::make_mut)
    }

    fn partition_mut(&mut self, topic_id: &TopicId, partition: i32) -> Option<&mut PartitionState> {
        let index = usize::try_from(partition).ok()?;
        self.topic_by_id_mut(topic_id)?
            .partition_states
            .get_mut(index)
    }

    fn broker_of_epoch_mut(
        &mut self,
        broker_id: i32,
        broker_epoch: i64,
    ) -> Option<&mut BrokerRegistration> {
        self.brokers
            .get_mut(&broker_id)
            .filter(|broker| broker.broker_epoch == broker_epoch)
    }

    /// The topic called `name`.
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.topics.get(name)
    }

    /// The topic with id `topic_id`.
    pub fn topic_by_id(&self, topic_id: &TopicId) -> Option<&Arc<TopicImage>> {
        self.names_by_id
            .get(topic_id)
            .and_then(|name| self.topics.get(name))
    }

    /// Every topic, by name.
    pub fn topics(&self) -> impl Iterator<Item = &Arc<TopicImage>> {
        self.topics.values()
    }

    /// The state of partition `partition` of topic `topic_id`.
    pub fn partition(&self, topic_id: &TopicId, partition: i32) -> Option<&PartitionState> {
        self.topic_by_id(topic_id)?.partition(partition)
    }

    /// The leader of a partition: `None` if there is no such partition,
    /// `Some(NO_LEADER)` (-1) while it is offline.
    pub fn leader(&self, topic_id: &TopicId, partition: i32) -> Option<i32> {
        self.partition(topic_id, partition)
            .map(|state| state.leader)
    }

    /// Every partition `broker_id` leads, as `(topic id, partition)`, by
    /// topic name then partition.
    pub fn partitions_led_by(&self, broker_id: i32) -> Vec<(TopicId, i32)> {
        assert!(broker_id != NO_LEADER, "-1 is no broker");
        self.topics()
            .flat_map(|topic| {
                topic
                    .partition_states()
                    .filter(move |(_, state)| state.leader == broker_id)
                    .map(move |(partition, _)| (topic.topic_id, partition))
            })
            .collect()
    }

    /// The broker registered as `broker_id`.
    pub fn broker(&self, broker_id: i32) -> Option<&BrokerRegistration> {
        self.brokers.get(&broker_id)
    }

    /// Every registered broker, fenced or not, by id.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values()
    }

    /// The registered brokers that are not fenced, by id: those Metadata
    /// lists and that may lead.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|broker| !broker.fenced)
    }

    /// Whether `broker_id` is registered and not fenced.
    pub fn is_live(&self, broker_id: i32) -> bool {
        self.broker(broker_id).is_some_and(|broker| !broker.fenced)
    }

    /// The `node.id` that holds partitions created without a partition
    /// record.
    pub fn local_broker_id(&self) -> i32 {
        self.local_broker_id
    }
}

/// A recorded partition count as a length: `None` unless positive.
fn partition_count(partitions: i32) -> Option<usize> {
    usize::try_from(partitions).ok().filter(|count| *count > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_applies_creates_growth_configs_and_removals() {
        let id = [9; 16];
        let records = vec![
            MetadataRecord::Topic {
                topic_id: id,
                name: "t".into(),
                partitions: 1,
                configs: vec![("retention.ms".into(), "5".into())],
            },
            MetadataRecord::PartitionCount {
                topic_id: id,
                partitions: 4,
            },
            MetadataRecord::TopicConfig {
                topic_id: id,
                key: "segment.bytes".into(),
                value: Some("1024".into()),
            },
            MetadataRecord::TopicConfig {
                topic_id: id,
                key: "retention.ms".into(),
                value: None,
            },
        ];
        let image = MetadataImage::replay(0, &records);
        let topic = image.topic("t").unwrap();
        assert_eq!(topic.partitions, 4);
        assert_eq!(topic.configs.len(), 1);
        assert_eq!(topic.configs["segment.bytes"], "1024");
        assert_eq!(image.topic_by_id(&id).unwrap().name, "t");
        assert_eq!(image.version, 4);

        let mut removed = image.clone();
        removed.apply(&MetadataRecord::RemoveTopic { topic_id: id });
        assert!(removed.topic("t").is_none());
        assert!(removed.topic_by_id(&id).is_none());
        assert!(image.topic("t").is_some(), "images are immutable snapshots");
    }

    #[test]
    fn broker_records_apply_only_to_the_registration_of_their_epoch() {
        let register = |incarnation: u8, broker_epoch: i64| MetadataRecord::BrokerRegistration {
            broker_id: 3,
            incarnation_id: [incarnation; 16],
            broker_epoch,
            listeners: vec![],
            rack: None,
        };
        let mut image = MetadataImage::new(0);
        image.apply(&register(1, 0));
        assert!(image.broker(3).unwrap().fenced);
        image.apply(&MetadataRecord::BrokerUnfenced {
            broker_id: 3,
            broker_epoch: 7,
        });
        assert!(!image.is_live(3), "another epoch's unfence is ignored");
        image.apply(&MetadataRecord::BrokerUnfenced {
            broker_id: 3,
            broker_epoch: 0,
        });
        assert!(image.is_live(3));
        assert_eq!(image.live_brokers().count(), 1);
        for incarnation in 2..=12u8 {
            image.apply(&register(incarnation, i64::from(incarnation)));
        }
        let broker = image.broker(3).unwrap();
        assert!(broker.fenced, "a new registration starts fenced");
        assert_eq!(broker.retired_incarnations.len(), RETIRED_INCARNATIONS_MAX);
        assert_eq!(broker.retired_incarnations.last(), Some(&[11; 16]));
        image.apply(&MetadataRecord::BrokerUnregistered {
            broker_id: 3,
            broker_epoch: 11,
        });
        assert!(
            image.broker(3).is_some(),
            "another epoch's unregistration is ignored"
        );
        image.apply(&MetadataRecord::BrokerUnregistered {
            broker_id: 3,
            broker_epoch: 12,
        });
        assert!(image.broker(3).is_none());
    }

    #[test]
    fn partition_records_replace_the_single_node_default_and_changes_apply() {
        let id = [5; 16];
        let mut image = MetadataImage::new(9);
        image.apply(&MetadataRecord::Topic {
            topic_id: id,
            name: "t".into(),
            partitions: 2,
            configs: vec![],
        });
        image.apply(&MetadataRecord::Partition {
            topic_id: id,
            partition: 1,
            replicas: vec![1, 2],
            isr: vec![1, 2],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        });
        assert_eq!(image.leader(&id, 0), Some(9));
        assert_eq!(image.leader(&id, 1), Some(1));
        image.apply(&MetadataRecord::PartitionChange {
            topic_id: id,
            partition: 1,
            isr: Some(vec![2]),
            leader: Some(2),
            replicas: None,
            adding_replicas: None,
            removing_replicas: None,
        });
        let state = image.partition(&id, 1).unwrap();
        assert_eq!(
            (state.leader, state.leader_epoch, state.partition_epoch),
            (2, 1, 1)
        );
        assert_eq!(image.partitions_led_by(2), vec![(id, 1)]);
        assert_eq!(image.partitions_led_by(9), vec![(id, 0)]);
        // A record for a partition the topic does not have is ignored.
        image.apply(&MetadataRecord::PartitionChange {
            topic_id: id,
            partition: 2,
            isr: None,
            leader: Some(1),
            replicas: None,
            adding_replicas: None,
            removing_replicas: None,
        });
        assert_eq!(image.partition(&id, 2), None);
    }

    mod hostile {
        use proptest::collection::vec;
        use proptest::prelude::*;

        use super::*;

        fn brokers() -> impl Strategy<Value = Vec<i32>> {
            proptest::sample::subsequence(vec![0, 1, 2, 3], 0..4).prop_shuffle()
        }

        /// Records a correct controller may or may not write, over a small
        /// domain so that they collide: any order, any values a decode
        /// accepts.
        fn record() -> impl Strategy<Value = MetadataRecord> {
            let topic_id = (1u8..3).prop_map(|id| [id; 16]);
            prop_oneof![
                (topic_id.clone(), 1i32..4).prop_map(|(topic_id, partitions)| {
                    MetadataRecord::Topic {
                        topic_id,
                        name: format!("t{}", topic_id[0]),
                        partitions,
                        configs: vec![],
                    }
                }),
                (topic_id.clone(), 1i32..6).prop_map(|(topic_id, partitions)| {
                    MetadataRecord::PartitionCount {
                        topic_id,
                        partitions,
                    }
                }),
                topic_id
                    .clone()
                    .prop_map(|topic_id| MetadataRecord::RemoveTopic { topic_id }),
                (0i64..3).prop_map(|next_block_start| MetadataRecord::ProducerIdBlock {
                    next_block_start
                }),
                (0i32..4, 0u8..3, 0i64..4).prop_map(|(broker_id, incarnation, broker_epoch)| {
                    MetadataRecord::BrokerRegistration {
                        broker_id,
                        incarnation_id: [incarnation; 16],
                        broker_epoch,
                        listeners: vec![],
                        rack: None,
                    }
                }),
                (0i32..4, 0i64..4).prop_map(|(broker_id, broker_epoch)| {
                    MetadataRecord::BrokerFenced {
                        broker_id,
                        broker_epoch,
                    }
                }),
                (0i32..4, 0i64..4).prop_map(|(broker_id, broker_epoch)| {
                    MetadataRecord::BrokerUnfenced {
                        broker_id,
                        broker_epoch,
                    }
                }),
                (0i32..4, 0i64..4).prop_map(|(broker_id, broker_epoch)| {
                    MetadataRecord::BrokerUnregistered {
                        broker_id,
                        broker_epoch,
                    }
                }),
                (
                    topic_id.clone(),
                    0i32..6,
                    brokers(),
                    brokers(),
                    -1i32..4,
                    0i32..3,
                    0i32..3
                )
                    .prop_map(
                        |(
                            topic_id,
                            partition,
                            replicas,
                            isr,
                            leader,
                            leader_epoch,
                            partition_epoch,
                        )| {
                            MetadataRecord::Partition {
                                topic_id,
                                partition,
                                adding_replicas: isr.clone(),
                                removing_replicas: Vec::new(),
                                replicas,
                                isr,
                                leader,
                                leader_epoch,
                                partition_epoch,
                            }
                        }
                    ),
                (
                    topic_id,
                    0i32..6,
                    proptest::option::of(brokers()),
                    proptest::option::of(-1i32..4),
                    proptest::option::of(brokers())
                )
                    .prop_map(|(topic_id, partition, isr, leader, replicas)| {
                        MetadataRecord::PartitionChange {
                            topic_id,
                            partition,
                            adding_replicas: isr.clone(),
                            removing_replicas: replicas.clone(),
                            isr,
                            leader,
                            replicas,
                        }
                    }),
            ]
        }

        proptest! {
            #[test]
            fn any_sequence_of_decodable_records_applies_without_panicking(
                records in vec(record(), 0..40)
            ) {
                let mut image = MetadataImage::new(0);
                for record in &records {
                    let mut bytes = Vec::new();
                    record.encode(&mut bytes);
                    let decoded = MetadataRecord::decode(&bytes).unwrap();
                    image.apply(&decoded);
                }
                prop_assert_eq!(image.version, records.len() as u64);
                for topic in image.topics() {
                    prop_assert_eq!(topic.partition_states().count(), topic.partitions as usize);
                    for (partition, state) in topic.partition_states() {
                        prop_assert_eq!(image.leader(&topic.topic_id, partition), Some(state.leader));
                    }
                }
                for broker in image.brokers() {
                    for (topic_id, partition) in image.partitions_led_by(broker.broker_id) {
                        prop_assert_eq!(image.leader(&topic_id, partition), Some(broker.broker_id));
                    }
                }
                prop_assert_eq!(MetadataImage::replay(0, &records), image);
            }
        }
    }
}
