//! A snapshot of the metadata image: the records that rebuild it, so the
//! metadata quorum can drop the log before it (Kafka's metadata snapshots).
//! Restarting from a snapshot plus the entries after it gives the same image
//! as replaying every record from the start, version included.
//!
//! Encoding (big-endian): the magic `SKNIMG01`, the image's `version: u64`,
//! then the records as one metadata entry
//! ([`encode_metadata_entry`](crate::encode_metadata_entry)). The records
//! are one `BrokerRegistration` per broker (with `BrokerUnfenced` when it is
//! not fenced), one `Topic` per topic (by name, with its partition count and
//! every config override) followed by one `Partition` per partition
//! (replicas, ISR, leader and epochs), and, when any producer id was ever
//! reserved, one `ProducerIdBlock`; one `UserScramCredential` per user and
//! mechanism; one `AccessControlEntry` per ACL binding. A broker's retired incarnations are not
//! kept: after a snapshot, a registration with an incarnation retired before
//! it is not recognised as stale (it is then treated as a new one).
//!
//! Decoding treats the bytes as hostile (they come back from disk and, in a
//! cluster, from the leader): a record the image would refuse (a topic
//! without partitions, a producer id block going backwards, partitions
//! shrinking) is an error, never an assertion.

use crate::error::MetadataError;
use crate::image::MetadataImage;
use crate::metadata_entry::{decode_metadata_entry, encode_metadata_entry};
use crate::metadata_record::MetadataRecord;

const MAGIC: &[u8; 8] = b"SKNIMG01";
const VERSION_BYTES: usize = 8;

impl MetadataImage {
    /// The records that rebuild this image from the empty image: one
    /// `Topic` per topic, in name order, carrying its partition count and
    /// config overrides, then the producer id block if one was reserved.
    ///
    /// Replaying them gives this image with `version` equal to their count;
    /// [`decode_image_snapshot`] restores the version as well.
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut records: Vec<MetadataRecord> = Vec::new();
        for broker in self.brokers() {
            records.push(MetadataRecord::BrokerRegistration {
                broker_id: broker.broker_id,
                incarnation_id: broker.incarnation_id,
                broker_epoch: broker.broker_epoch,
                listeners: broker.listeners.clone(),
                rack: broker.rack.clone(),
            });
            if !broker.fenced {
                records.push(MetadataRecord::BrokerUnfenced {
                    broker_id: broker.broker_id,
                    broker_epoch: broker.broker_epoch,
                });
            }
        }
        for topic in self.topics() {
            records.push(MetadataRecord::Topic {
                topic_id: topic.topic_id,
                name: topic.name.clone(),
                partitions: topic.partitions,
                configs: topic
                    .configs
                    .iter()
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect(),
            });
            for (partition, state) in topic.partition_states() {
                records.push(MetadataRecord::Partition {
                    topic_id: topic.topic_id,
                    partition,
                    replicas: state.replicas.clone(),
                    isr: state.isr.clone(),
                    leader: state.leader,
                    leader_epoch: state.leader_epoch,
                    partition_epoch: state.partition_epoch,
                    adding_replicas: state.adding_replicas.clone(),
                    removing_replicas: state.removing_replicas.clone(),
                });
            }
        }
        for (name, credentials) in self.scram_users() {
            for (mechanism, credential) in credentials {
                records.push(MetadataRecord::UserScramCredential {
                    name: name.clone(),
                    mechanism: *mechanism,
                    credential: credential.clone(),
                });
            }
        }
        for (id, binding) in self.acls().bindings() {
            records.push(MetadataRecord::AccessControlEntry {
                id: *id,
                binding: binding.clone(),
            });
        }
        if let Some(cluster_id) = &self.cluster_id {
            records.push(MetadataRecord::ClusterId {
                cluster_id: cluster_id.clone(),
            });
        }
        if self.next_producer_id_block != 0 {
            records.push(MetadataRecord::ProducerIdBlock {
                next_block_start: self.next_producer_id_block,
            });
        }
        records
    }
}

/// Encodes `image` as a snapshot.
pub fn encode_image_snapshot(image: &MetadataImage) -> Vec<u8> {
    let entry = encode_metadata_entry(&image.to_records());
    let mut out = Vec::with_capacity(MAGIC.len() + VERSION_BYTES + entry.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&image.version.to_be_bytes());
    out.extend_from_slice(&entry);
    out
}

/// The image a snapshot holds.
///
/// # Errors
/// [`MetadataError::CorruptRecord`] when the magic is wrong, the records do
/// not decode, or one of them cannot be applied to the image they rebuild.
pub fn decode_image_snapshot(
    bytes: &[u8],
    local_broker_id: i32,
) -> Result<MetadataImage, MetadataError> {
    let header = MAGIC.len() + VERSION_BYTES;
    if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
        return Err(corrupt("not a metadata image snapshot"));
    }
    let mut version = [0u8; VERSION_BYTES];
    version.copy_from_slice(&bytes[MAGIC.len()..header]);
    let records = decode_metadata_entry(&bytes[header..])?;
    let mut image = MetadataImage::new(local_broker_id);
    for record in &records {
        check_applicable(&image, record)?;
        image.apply(record);
    }
    image.version = u64::from_be_bytes(version);
    Ok(image)
}

/// Checks that `image` can apply `record` (what [`MetadataImage::apply`]
/// asserts), for records read back from disk or a peer.
///
/// # Errors
/// [`MetadataError::CorruptRecord`] naming what is wrong.
pub fn check_applicable(
    image: &MetadataImage,
    record: &MetadataRecord,
) -> Result<(), MetadataError> {
    match record {
        MetadataRecord::Topic { partitions, .. } if *partitions <= 0 => {
            Err(corrupt("a topic without partitions"))
        }
        MetadataRecord::PartitionCount {
            topic_id,
            partitions,
        } => match image.topic_by_id(topic_id) {
            Some(topic) if *partitions < topic.partitions => {
                Err(corrupt("a topic's partition count shrinks"))
            }
            _ => Ok(()),
        },
        MetadataRecord::ProducerIdBlock { next_block_start }
            if *next_block_start < image.next_producer_id_block =>
        {
            Err(corrupt("the producer id block moves backwards"))
        }
        _ => Ok(()),
    }
}

fn corrupt(reason: &'static str) -> MetadataError {
    MetadataError::CorruptRecord { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(id: u8, name: &str, partitions: i32, configs: &[(&str, &str)]) -> MetadataRecord {
        MetadataRecord::Topic {
            topic_id: [id; 16],
            name: name.into(),
            partitions,
            configs: configs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// A history with every kind of record: creations, growth, config
    /// changes and removals, a deletion, and producer id blocks.
    fn history() -> Vec<MetadataRecord> {
        vec![
            topic(1, "orders", 3, &[("retention.ms", "1000")]),
            topic(2, "gone", 1, &[]),
            MetadataRecord::ProducerIdBlock {
                next_block_start: 1000,
            },
            topic(
                3,
                "__consumer_offsets",
                50,
                &[("cleanup.policy", "compact")],
            ),
            MetadataRecord::PartitionCount {
                topic_id: [1; 16],
                partitions: 8,
            },
            MetadataRecord::TopicConfig {
                topic_id: [1; 16],
                key: "segment.bytes".into(),
                value: Some("1048576".into()),
            },
            MetadataRecord::TopicConfig {
                topic_id: [1; 16],
                key: "retention.ms".into(),
                value: None,
            },
            MetadataRecord::RemoveTopic { topic_id: [2; 16] },
            MetadataRecord::ProducerIdBlock {
                next_block_start: 2000,
            },
            acl(7, "orders"),
            acl(8, "payments-"),
            MetadataRecord::RemoveAccessControlEntry { id: [7; 16] },
        ]
    }

    fn acl(id: u8, name: &str) -> MetadataRecord {
        MetadataRecord::AccessControlEntry {
            id: [id; 16],
            binding: crate::acl::AclBinding {
                resource_type: crate::acl::ResourceType::Topic,
                resource_name: name.into(),
                pattern_type: crate::acl::PatternType::Prefixed,
                principal: "User:alice".into(),
                host: "*".into(),
                operation: crate::acl::AclOperation::Read,
                permission: crate::acl::AclPermission::Allow,
            },
        }
    }

    #[test]
    fn acls_survive_a_snapshot() {
        let image = MetadataImage::replay(0, &history());
        let restored = decode_image_snapshot(&encode_image_snapshot(&image), 0).unwrap();
        assert_eq!(restored.acls().bindings().len(), 1);
        assert_eq!(restored.acls(), image.acls());
    }

    #[test]
    fn image_to_records_to_image_is_identity_up_to_the_version() {
        let image = MetadataImage::replay(0, &history());
        let records = image.to_records();
        let mut rebuilt = MetadataImage::replay(0, &records);
        assert_eq!(rebuilt.version, records.len() as u64);
        rebuilt.version = image.version;
        assert_eq!(rebuilt, image);
        let orders = rebuilt.topic("orders").unwrap();
        assert_eq!(orders.partitions, 8);
        assert_eq!(orders.configs.len(), 1);
        assert_eq!(orders.configs["segment.bytes"], "1048576");
        assert!(rebuilt.topic("gone").is_none());
        assert!(rebuilt.topic_by_id(&[2; 16]).is_none());
        assert_eq!(
            rebuilt.topic_by_id(&[3; 16]).unwrap().name,
            "__consumer_offsets"
        );
        assert_eq!(rebuilt.next_producer_id_block, 2000);
    }

    #[test]
    fn snapshot_round_trips_the_image_with_its_version() {
        for image in [
            MetadataImage::default(),
            MetadataImage::replay(0, &history()),
        ] {
            let bytes = encode_image_snapshot(&image);
            assert_eq!(decode_image_snapshot(&bytes, 0).unwrap(), image);
        }
    }

    #[test]
    fn brokers_and_partition_states_survive_a_snapshot() {
        use crate::metadata_record::BrokerEndpoint;
        let registration = |broker_id: i32, broker_epoch: i64| MetadataRecord::BrokerRegistration {
            broker_id,
            incarnation_id: [broker_id as u8; 16],
            broker_epoch,
            listeners: vec![BrokerEndpoint {
                name: "PLAINTEXT".into(),
                host: format!("broker{broker_id}"),
                port: 9092,
            }],
            rack: Some("r1".into()),
        };
        let mut records = vec![
            registration(1, 0),
            registration(2, 1),
            MetadataRecord::BrokerUnfenced {
                broker_id: 1,
                broker_epoch: 0,
            },
            topic(7, "replicated", 2, &[]),
        ];
        for partition in 0..2 {
            records.push(MetadataRecord::Partition {
                topic_id: {
                    let mut id = [0; 16];
                    id[..4].copy_from_slice(&7u32.to_be_bytes());
                    id
                },
                partition,
                replicas: vec![1, 2],
                isr: vec![1, 2],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            });
        }
        let image = MetadataImage::replay(1, &records);
        let topic_id = image.topic("replicated").unwrap().topic_id;
        let mut changed = image.clone();
        changed.apply(&MetadataRecord::PartitionChange {
            topic_id,
            partition: 1,
            isr: Some(vec![2]),
            leader: Some(2),
            replicas: None,
            adding_replicas: None,
            removing_replicas: None,
        });
        let restored = decode_image_snapshot(&encode_image_snapshot(&changed), 1).unwrap();
        assert_eq!(restored, changed);
        let state = restored.partition(&topic_id, 1).unwrap();
        assert_eq!(
            (state.leader, state.leader_epoch, state.isr.clone()),
            (2, 1, vec![2])
        );
        assert!(!restored.broker(1).unwrap().fenced);
        assert!(restored.broker(2).unwrap().fenced);
    }

    #[test]
    fn empty_image_has_no_records() {
        assert_eq!(MetadataImage::default().to_records(), vec![]);
    }

    #[test]
    fn records_after_a_snapshot_apply_as_after_a_full_replay() {
        let history = history();
        let (before, after) = history.split_at(4);
        let snapshot = encode_image_snapshot(&MetadataImage::replay(0, before));
        let mut restored = decode_image_snapshot(&snapshot, 0).unwrap();
        for record in after {
            restored.apply(record);
        }
        assert_eq!(restored, MetadataImage::replay(0, &history));
    }

    #[test]
    fn damaged_snapshots_are_refused_without_panicking() {
        let bytes = encode_image_snapshot(&MetadataImage::replay(0, &history()));
        for cut in 0..bytes.len() {
            assert!(
                decode_image_snapshot(&bytes[..cut], 0).is_err(),
                "cut {cut}"
            );
        }
        let mut wrong_magic = bytes.clone();
        wrong_magic[0] ^= 0xff;
        assert!(decode_image_snapshot(&wrong_magic, 0).is_err());
        let bad = [
            vec![topic(1, "t", 0, &[])],
            vec![
                MetadataRecord::ProducerIdBlock {
                    next_block_start: 10,
                },
                MetadataRecord::ProducerIdBlock {
                    next_block_start: 5,
                },
            ],
            vec![
                topic(1, "t", 4, &[]),
                MetadataRecord::PartitionCount {
                    topic_id: [1; 16],
                    partitions: 2,
                },
            ],
        ];
        for records in bad {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&7u64.to_be_bytes());
            bytes.extend_from_slice(&encode_metadata_entry(&records));
            assert!(matches!(
                decode_image_snapshot(&bytes, 0),
                Err(MetadataError::CorruptRecord { .. })
            ));
        }
    }
}
