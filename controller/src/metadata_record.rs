//! Metadata records: the changes to cluster metadata, in the order they were
//! committed. The same records the Raft quorum will carry; replaying them
//! from the start rebuilds the metadata image.
//!
//! Encoding (all integers big-endian): `kind: u8` then the fields of that
//! kind; a string is `len: u16` + UTF-8; an optional value has a `u8`
//! presence flag first; a list is `count: u16` + its items. The cluster
//! kinds (6 and up, added with brokers and replicas) carry a `version: u8`
//! after the kind, so their fields can grow; the first five kinds are the
//! single-node log's and keep their exact bytes, so such a log still replays.
//!
//! Records are read from disk and, later, from other nodes: every decode
//! checks each length against the bytes present before it takes them (no
//! allocation sized by a length field), refuses values no controller writes
//! (negative partitions, broker ids below -1, duplicate replicas), and never
//! panics.

use crate::acl::{AclBinding, AclId, AclOperation, AclPermission, PatternType, ResourceType};
use crate::error::MetadataError;
use crate::scram_credential::{ScramCredential, ScramMechanism, SCRAM_BYTES_MAX};

/// A topic's identifier: 16 random bytes (Kafka's topic UUID).
pub type TopicId = [u8; 16];

/// A broker incarnation: 16 random bytes a broker draws each time it starts
/// (Kafka's `incarnationId`), telling a restarted broker from its past self.
pub type IncarnationId = [u8; 16];

/// `leader` of a partition that has none (Kafka's `NO_LEADER`).
pub const NO_LEADER: i32 = -1;

/// The most replicas a partition record may list: far above any real
/// replication factor, it bounds what a corrupt record can claim.
pub const REPLICAS_MAX: usize = 1024;

/// The most partitions a topic may have: the controller refuses more (a
/// cluster-wide recommendation of Kafka's, for one topic), and the decoder
/// refuses a record claiming more, since the image holds a state for each.
pub const PARTITIONS_MAX: i32 = 200_000;

/// The most listeners one broker registration may list.
pub const LISTENERS_MAX: usize = 64;

/// One listener a broker registered: where clients and other brokers reach
/// it by name (`PLAINTEXT`, `CONTROLLER`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrokerEndpoint {
    /// The listener name, as in `listeners`.
    pub name: String,
    /// The advertised host.
    pub host: String,
    /// The advertised port.
    pub port: u16,
}

/// One committed metadata change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// A topic was created with `partitions` partitions and config overrides.
    Topic {
        topic_id: TopicId,
        name: String,
        partitions: i32,
        configs: Vec<(String, String)>,
    },
    /// A topic's partition count grew to `partitions`.
    PartitionCount { topic_id: TopicId, partitions: i32 },
    /// A topic config override was set (`Some`) or removed (`None`).
    TopicConfig {
        topic_id: TopicId,
        key: String,
        value: Option<String>,
    },
    /// A topic was deleted.
    RemoveTopic { topic_id: TopicId },
    /// Producer ids below `next_block_start` have been handed out (or
    /// reserved): the next allocation starts there.
    ProducerIdBlock { next_block_start: i64 },
    /// A broker registered (Kafka's `RegisterBrokerRecord`). It starts
    /// fenced. `broker_epoch` is the offset of this record in the metadata
    /// log, as in KRaft: a later registration always has a larger one.
    BrokerRegistration {
        broker_id: i32,
        incarnation_id: IncarnationId,
        broker_epoch: i64,
        listeners: Vec<BrokerEndpoint>,
        rack: Option<String>,
    },
    /// The broker of that epoch was fenced: it may lead nothing and is out
    /// of every ISR.
    BrokerFenced { broker_id: i32, broker_epoch: i64 },
    /// The broker of that epoch was unfenced: it may lead again.
    BrokerUnfenced { broker_id: i32, broker_epoch: i64 },
    /// The broker of that epoch left the cluster (UnregisterBroker).
    BrokerUnregistered { broker_id: i32, broker_epoch: i64 },
    /// A partition's whole state, written when it is created (Kafka's
    /// `PartitionRecord`). Without one, a partition of a single-node log is
    /// read as led by that node alone (see the image).
    Partition {
        topic_id: TopicId,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        /// A reassignment's adding replicas (empty: none in progress).
        adding_replicas: Vec<i32>,
        /// A reassignment's removing replicas (empty: none in progress).
        removing_replicas: Vec<i32>,
    },
    /// A change to a partition (Kafka's `PartitionChangeRecord`): the fields
    /// that are `Some` replace the current ones. Applying it bumps the
    /// partition epoch, and the leader epoch too when `leader` is `Some`
    /// (the controller writes `leader` only when the leader changes).
    PartitionChange {
        topic_id: TopicId,
        partition: i32,
        isr: Option<Vec<i32>>,
        leader: Option<i32>,
        replicas: Option<Vec<i32>>,
        /// A reassignment's new adding replicas (`Some(empty)` ends it).
        adding_replicas: Option<Vec<i32>>,
        /// A reassignment's new removing replicas (`Some(empty)` ends it).
        removing_replicas: Option<Vec<i32>>,
    },
    /// The cluster's id, written once by the first active controller of a
    /// quorum whose image has none: every node then serves (and checks its
    /// own stored id against) this one.
    ClusterId { cluster_id: String },
    /// A user's SCRAM credential for one mechanism was created or replaced
    /// (Kafka's `UserScramCredentialRecord`): salted, never the password.
    UserScramCredential {
        name: String,
        mechanism: ScramMechanism,
        credential: ScramCredential,
    },
    /// A user's SCRAM credential for one mechanism was removed (Kafka's
    /// `RemoveUserScramCredentialRecord`).
    RemoveUserScramCredential {
        name: String,
        mechanism: ScramMechanism,
    },
    /// An ACL binding was created (Kafka's `AccessControlEntryRecord`).
    AccessControlEntry { id: AclId, binding: AclBinding },
    /// An ACL binding was removed (Kafka's `RemoveAccessControlEntryRecord`).
    RemoveAccessControlEntry { id: AclId },
}

const KIND_TOPIC: u8 = 1;
const KIND_PARTITION_COUNT: u8 = 2;
const KIND_TOPIC_CONFIG: u8 = 3;
const KIND_REMOVE_TOPIC: u8 = 4;
const KIND_PRODUCER_ID_BLOCK: u8 = 5;
const KIND_BROKER_REGISTRATION: u8 = 6;
const KIND_BROKER_FENCED: u8 = 7;
const KIND_BROKER_UNFENCED: u8 = 8;
const KIND_BROKER_UNREGISTERED: u8 = 9;
const KIND_PARTITION: u8 = 10;
const KIND_PARTITION_CHANGE: u8 = 11;
const KIND_CLUSTER_ID: u8 = 12;
const KIND_USER_SCRAM_CREDENTIAL: u8 = 13;
const KIND_REMOVE_USER_SCRAM_CREDENTIAL: u8 = 14;
const KIND_ACCESS_CONTROL_ENTRY: u8 = 15;
const KIND_REMOVE_ACCESS_CONTROL_ENTRY: u8 = 16;

/// The version written after the kind of the cluster records; the decoder
/// refuses any other.
const CLUSTER_RECORD_VERSION: u8 = 0;
/// The version of `Partition` and `PartitionChange` records that carry a
/// reassignment's adding and removing replicas (KIP-455).
const REASSIGNMENT_RECORD_VERSION: u8 = 1;

impl MetadataRecord {
    /// Appends this record's encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            MetadataRecord::Topic {
                topic_id,
                name,
                partitions,
                configs,
            } => {
                out.push(KIND_TOPIC);
                out.extend_from_slice(topic_id);
                put_string(out, name);
                out.extend_from_slice(&partitions.to_be_bytes());
                let count = u16::try_from(configs.len()).expect("config count fits u16");
                out.extend_from_slice(&count.to_be_bytes());
                for (key, value) in configs {
                    put_string(out, key);
                    put_string(out, value);
                }
            }
            MetadataRecord::PartitionCount {
                topic_id,
                partitions,
            } => {
                out.push(KIND_PARTITION_COUNT);
                out.extend_from_slice(topic_id);
                out.extend_from_slice(&partitions.to_be_bytes());
            }
            MetadataRecord::TopicConfig {
                topic_id,
                key,
                value,
            } => {
                out.push(KIND_TOPIC_CONFIG);
                out.extend_from_slice(topic_id);
                put_string(out, key);
                match value {
                    Some(value) => {
                        out.push(1);
                        put_string(out, value);
                    }
                    None => out.push(0),
                }
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                out.push(KIND_REMOVE_TOPIC);
                out.extend_from_slice(topic_id);
            }
            MetadataRecord::ProducerIdBlock { next_block_start } => {
                out.push(KIND_PRODUCER_ID_BLOCK);
                out.extend_from_slice(&next_block_start.to_be_bytes());
            }
            MetadataRecord::BrokerRegistration {
                broker_id,
                incarnation_id,
                broker_epoch,
                listeners,
                rack,
            } => {
                out.extend_from_slice(&[KIND_BROKER_REGISTRATION, CLUSTER_RECORD_VERSION]);
                out.extend_from_slice(&broker_id.to_be_bytes());
                out.extend_from_slice(incarnation_id);
                out.extend_from_slice(&broker_epoch.to_be_bytes());
                assert!(listeners.len() <= LISTENERS_MAX, "listeners are bounded");
                put_count(out, listeners.len());
                for listener in listeners {
                    put_string(out, &listener.name);
                    put_string(out, &listener.host);
                    out.extend_from_slice(&listener.port.to_be_bytes());
                }
                put_optional(out, rack.as_ref(), |out, rack| put_string(out, rack));
            }
            MetadataRecord::BrokerFenced {
                broker_id,
                broker_epoch,
            } => put_broker_epoch(out, KIND_BROKER_FENCED, *broker_id, *broker_epoch),
            MetadataRecord::BrokerUnfenced {
                broker_id,
                broker_epoch,
            } => put_broker_epoch(out, KIND_BROKER_UNFENCED, *broker_id, *broker_epoch),
            MetadataRecord::BrokerUnregistered {
                broker_id,
                broker_epoch,
            } => put_broker_epoch(out, KIND_BROKER_UNREGISTERED, *broker_id, *broker_epoch),
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
                // Version 1 only when reassigning: other records keep the
                // bytes that nodes without reassignments read.
                let reassigning = !adding_replicas.is_empty() || !removing_replicas.is_empty();
                let version = if reassigning {
                    REASSIGNMENT_RECORD_VERSION
                } else {
                    CLUSTER_RECORD_VERSION
                };
                out.extend_from_slice(&[KIND_PARTITION, version]);
                out.extend_from_slice(topic_id);
                out.extend_from_slice(&partition.to_be_bytes());
                put_brokers(out, replicas);
                put_brokers(out, isr);
                out.extend_from_slice(&leader.to_be_bytes());
                out.extend_from_slice(&leader_epoch.to_be_bytes());
                out.extend_from_slice(&partition_epoch.to_be_bytes());
                if reassigning {
                    put_brokers(out, adding_replicas);
                    put_brokers(out, removing_replicas);
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
                let reassigning = adding_replicas.is_some() || removing_replicas.is_some();
                let version = if reassigning {
                    REASSIGNMENT_RECORD_VERSION
                } else {
                    CLUSTER_RECORD_VERSION
                };
                out.extend_from_slice(&[KIND_PARTITION_CHANGE, version]);
                out.extend_from_slice(topic_id);
                out.extend_from_slice(&partition.to_be_bytes());
                put_optional(out, isr.as_ref(), |out, isr| put_brokers(out, isr));
                put_optional(out, leader.as_ref(), |out, leader| {
                    out.extend_from_slice(&leader.to_be_bytes())
                });
                put_optional(out, replicas.as_ref(), |out, replicas| {
                    put_brokers(out, replicas)
                });
                if reassigning {
                    put_optional(out, adding_replicas.as_ref(), |out, adding| {
                        put_brokers(out, adding)
                    });
                    put_optional(out, removing_replicas.as_ref(), |out, removing| {
                        put_brokers(out, removing)
                    });
                }
            }
            MetadataRecord::ClusterId { cluster_id } => {
                out.extend_from_slice(&[KIND_CLUSTER_ID, CLUSTER_RECORD_VERSION]);
                put_string(out, cluster_id);
            }
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                credential,
            } => {
                out.extend_from_slice(&[KIND_USER_SCRAM_CREDENTIAL, CLUSTER_RECORD_VERSION]);
                put_string(out, name);
                out.push(mechanism.type_code().to_be_bytes()[0]);
                put_bytes(out, &credential.salt);
                put_bytes(out, &credential.stored_key);
                put_bytes(out, &credential.server_key);
                out.extend_from_slice(&credential.iterations.to_be_bytes());
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                out.extend_from_slice(&[KIND_REMOVE_USER_SCRAM_CREDENTIAL, CLUSTER_RECORD_VERSION]);
                put_string(out, name);
                out.push(mechanism.type_code().to_be_bytes()[0]);
            }
            MetadataRecord::AccessControlEntry { id, binding } => {
                out.extend_from_slice(&[KIND_ACCESS_CONTROL_ENTRY, CLUSTER_RECORD_VERSION]);
                out.extend_from_slice(id);
                out.push(binding.resource_type.code().to_be_bytes()[0]);
                put_string(out, &binding.resource_name);
                out.push(binding.pattern_type.code().to_be_bytes()[0]);
                put_string(out, &binding.principal);
                put_string(out, &binding.host);
                out.push(binding.operation.code().to_be_bytes()[0]);
                out.push(binding.permission.code().to_be_bytes()[0]);
            }
            MetadataRecord::RemoveAccessControlEntry { id } => {
                out.extend_from_slice(&[KIND_REMOVE_ACCESS_CONTROL_ENTRY, CLUSTER_RECORD_VERSION]);
                out.extend_from_slice(id);
            }
        }
    }

    /// Decodes one record that fills `bytes` exactly.
    ///
    /// # Errors
    /// [`MetadataError::CorruptRecord`] if the bytes are not a record.
    pub fn decode(bytes: &[u8]) -> Result<MetadataRecord, MetadataError> {
        let mut reader = Reader { bytes };
        let record = match reader.u8()? {
            KIND_TOPIC => {
                let topic_id = reader.topic_id()?;
                let name = reader.string()?;
                let partitions = reader.partition_count()?;
                let count = reader.u16()?;
                let mut configs = Vec::new();
                for _ in 0..count {
                    configs.push((reader.string()?, reader.string()?));
                }
                MetadataRecord::Topic {
                    topic_id,
                    name,
                    partitions,
                    configs,
                }
            }
            KIND_PARTITION_COUNT => MetadataRecord::PartitionCount {
                topic_id: reader.topic_id()?,
                partitions: reader.partition_count()?,
            },
            KIND_TOPIC_CONFIG => {
                let topic_id = reader.topic_id()?;
                let key = reader.string()?;
                let value = match reader.u8()? {
                    0 => None,
                    1 => Some(reader.string()?),
                    _ => return Err(corrupt("bad presence flag")),
                };
                MetadataRecord::TopicConfig {
                    topic_id,
                    key,
                    value,
                }
            }
            KIND_REMOVE_TOPIC => MetadataRecord::RemoveTopic {
                topic_id: reader.topic_id()?,
            },
            KIND_PRODUCER_ID_BLOCK => MetadataRecord::ProducerIdBlock {
                next_block_start: reader.i64()?,
            },
            KIND_BROKER_REGISTRATION => {
                reader.version()?;
                let broker_id = reader.broker_id()?;
                let incarnation_id = reader.topic_id()?;
                let broker_epoch = reader.broker_epoch()?;
                let count = reader.count(LISTENERS_MAX)?;
                let mut listeners = Vec::new();
                for _ in 0..count {
                    listeners.push(BrokerEndpoint {
                        name: reader.string()?,
                        host: reader.string()?,
                        port: reader.u16()?,
                    });
                }
                let rack = reader.optional(|reader| reader.string())?;
                MetadataRecord::BrokerRegistration {
                    broker_id,
                    incarnation_id,
                    broker_epoch,
                    listeners,
                    rack,
                }
            }
            KIND_BROKER_FENCED => {
                reader.version()?;
                MetadataRecord::BrokerFenced {
                    broker_id: reader.broker_id()?,
                    broker_epoch: reader.broker_epoch()?,
                }
            }
            KIND_BROKER_UNFENCED => {
                reader.version()?;
                MetadataRecord::BrokerUnfenced {
                    broker_id: reader.broker_id()?,
                    broker_epoch: reader.broker_epoch()?,
                }
            }
            KIND_BROKER_UNREGISTERED => {
                reader.version()?;
                MetadataRecord::BrokerUnregistered {
                    broker_id: reader.broker_id()?,
                    broker_epoch: reader.broker_epoch()?,
                }
            }
            KIND_PARTITION => {
                let reassigning = reader.reassignment_version()?;
                let topic_id = reader.topic_id()?;
                let partition = reader.partition()?;
                let replicas = reader.brokers()?;
                let isr = reader.brokers()?;
                let leader = reader.leader()?;
                let leader_epoch = reader.epoch()?;
                let partition_epoch = reader.epoch()?;
                let (adding_replicas, removing_replicas) = if reassigning {
                    (reader.brokers()?, reader.brokers()?)
                } else {
                    (Vec::new(), Vec::new())
                };
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
                }
            }
            KIND_PARTITION_CHANGE => {
                let reassigning = reader.reassignment_version()?;
                let topic_id = reader.topic_id()?;
                let partition = reader.partition()?;
                let isr = reader.optional(|reader| reader.brokers())?;
                let leader = reader.optional(|reader| reader.leader())?;
                let replicas = reader.optional(|reader| reader.brokers())?;
                let (adding_replicas, removing_replicas) = if reassigning {
                    (
                        reader.optional(|reader| reader.brokers())?,
                        reader.optional(|reader| reader.brokers())?,
                    )
                } else {
                    (None, None)
                };
                MetadataRecord::PartitionChange {
                    topic_id,
                    partition,
                    isr,
                    leader,
                    replicas,
                    adding_replicas,
                    removing_replicas,
                }
            }
            KIND_CLUSTER_ID => {
                reader.version()?;
                let cluster_id = reader.string()?;
                if cluster_id.is_empty() {
                    return Err(corrupt("empty cluster id"));
                }
                MetadataRecord::ClusterId { cluster_id }
            }
            KIND_USER_SCRAM_CREDENTIAL => {
                reader.version()?;
                let name = reader.user_name()?;
                let mechanism = reader.scram_mechanism()?;
                let salt = reader.bytes_field()?;
                let stored_key = reader.bytes_field()?;
                let server_key = reader.bytes_field()?;
                let iterations = reader.i32_in(1..=i32::MAX, "iterations below 1")?;
                MetadataRecord::UserScramCredential {
                    name,
                    mechanism,
                    credential: ScramCredential {
                        salt,
                        stored_key,
                        server_key,
                        iterations,
                    },
                }
            }
            KIND_REMOVE_USER_SCRAM_CREDENTIAL => {
                reader.version()?;
                MetadataRecord::RemoveUserScramCredential {
                    name: reader.user_name()?,
                    mechanism: reader.scram_mechanism()?,
                }
            }
            KIND_ACCESS_CONTROL_ENTRY => {
                reader.version()?;
                let id = reader.topic_id()?;
                let resource_type = ResourceType::from_code(reader.i8()?)
                    .ok_or_else(|| corrupt("unknown ACL resource type"))?;
                let resource_name = reader.string()?;
                let pattern_type = PatternType::from_code(reader.i8()?)
                    .ok_or_else(|| corrupt("unknown ACL pattern type"))?;
                let principal = reader.string()?;
                let host = reader.string()?;
                let operation = AclOperation::from_code(reader.i8()?)
                    .ok_or_else(|| corrupt("unknown ACL operation"))?;
                let permission = AclPermission::from_code(reader.i8()?)
                    .ok_or_else(|| corrupt("unknown ACL permission"))?;
                let binding = AclBinding {
                    resource_type,
                    resource_name,
                    pattern_type,
                    principal,
                    host,
                    operation,
                    permission,
                };
                binding
                    .validate()
                    .map_err(|_| corrupt("invalid ACL binding"))?;
                MetadataRecord::AccessControlEntry { id, binding }
            }
            KIND_REMOVE_ACCESS_CONTROL_ENTRY => {
                reader.version()?;
                MetadataRecord::RemoveAccessControlEntry {
                    id: reader.topic_id()?,
                }
            }
            _ => return Err(corrupt("unknown record kind")),
        };
        if !reader.bytes.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(record)
    }
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    let len = u16::try_from(text.len()).expect("metadata strings are validated to fit u16");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    assert!(
        bytes.len() <= SCRAM_BYTES_MAX,
        "credential bytes are bounded"
    );
    put_count(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_count(out: &mut Vec<u8>, count: usize) {
    let count = u16::try_from(count).expect("record lists are bounded to fit u16");
    out.extend_from_slice(&count.to_be_bytes());
}

fn put_brokers(out: &mut Vec<u8>, brokers: &[i32]) {
    assert!(brokers.len() <= REPLICAS_MAX, "replica lists are bounded");
    put_count(out, brokers.len());
    for broker in brokers {
        out.extend_from_slice(&broker.to_be_bytes());
    }
}

fn put_optional<T>(out: &mut Vec<u8>, value: Option<&T>, put: impl FnOnce(&mut Vec<u8>, &T)) {
    match value {
        Some(value) => {
            out.push(1);
            put(out, value);
        }
        None => out.push(0),
    }
}

fn put_broker_epoch(out: &mut Vec<u8>, kind: u8, broker_id: i32, broker_epoch: i64) {
    out.extend_from_slice(&[kind, CLUSTER_RECORD_VERSION]);
    out.extend_from_slice(&broker_id.to_be_bytes());
    out.extend_from_slice(&broker_epoch.to_be_bytes());
}

fn corrupt(reason: &'static str) -> MetadataError {
    MetadataError::CorruptRecord { reason }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], MetadataError> {
        if self.bytes.len() < n {
            return Err(corrupt("record shorter than its fields"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, MetadataError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, MetadataError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, MetadataError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, MetadataError> {
        let b = self.take(8)?;
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(b);
        Ok(i64::from_be_bytes(bytes))
    }
    fn topic_id(&mut self) -> Result<TopicId, MetadataError> {
        let mut id = [0u8; 16];
        id.copy_from_slice(self.take(16)?);
        Ok(id)
    }
    fn string(&mut self) -> Result<String, MetadataError> {
        let len = usize::from(self.u16()?);
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| corrupt("string is not UTF-8"))
    }
    /// A non-empty user name.
    fn user_name(&mut self) -> Result<String, MetadataError> {
        let name = self.string()?;
        if name.is_empty() {
            return Err(corrupt("empty user name"));
        }
        Ok(name)
    }
    fn i8(&mut self) -> Result<i8, MetadataError> {
        Ok(i8::from_be_bytes([self.u8()?]))
    }
    fn scram_mechanism(&mut self) -> Result<ScramMechanism, MetadataError> {
        let code = i8::from_be_bytes([self.u8()?]);
        ScramMechanism::from_type_code(code).ok_or_else(|| corrupt("unknown SCRAM mechanism"))
    }
    /// A byte string of at most [`SCRAM_BYTES_MAX`] bytes.
    fn bytes_field(&mut self) -> Result<Vec<u8>, MetadataError> {
        let len = self.count(SCRAM_BYTES_MAX)?;
        Ok(self.take(len)?.to_vec())
    }
    fn version(&mut self) -> Result<(), MetadataError> {
        match self.u8()? {
            CLUSTER_RECORD_VERSION => Ok(()),
            _ => Err(corrupt("unknown record version")),
        }
    }
    /// The version of a partition record: whether it carries a
    /// reassignment's adding and removing replicas.
    fn reassignment_version(&mut self) -> Result<bool, MetadataError> {
        match self.u8()? {
            CLUSTER_RECORD_VERSION => Ok(false),
            REASSIGNMENT_RECORD_VERSION => Ok(true),
            _ => Err(corrupt("unknown record version")),
        }
    }
    /// A list length no larger than `max`.
    fn count(&mut self, max: usize) -> Result<usize, MetadataError> {
        let count = usize::from(self.u16()?);
        if count > max {
            return Err(corrupt("list longer than its bound"));
        }
        Ok(count)
    }
    fn optional<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, MetadataError>,
    ) -> Result<Option<T>, MetadataError> {
        match self.u8()? {
            0 => Ok(None),
            1 => read(self).map(Some),
            _ => Err(corrupt("bad presence flag")),
        }
    }
    /// An `i32` within `valid`, else a corrupt record saying `why`.
    fn i32_in(
        &mut self,
        valid: std::ops::RangeInclusive<i32>,
        why: &'static str,
    ) -> Result<i32, MetadataError> {
        let value = self.i32()?;
        if valid.contains(&value) {
            Ok(value)
        } else {
            Err(corrupt(why))
        }
    }
    fn broker_id(&mut self) -> Result<i32, MetadataError> {
        self.i32_in(0..=i32::MAX, "negative broker id")
    }
    fn leader(&mut self) -> Result<i32, MetadataError> {
        self.i32_in(NO_LEADER..=i32::MAX, "leader below -1")
    }
    fn partition(&mut self) -> Result<i32, MetadataError> {
        self.i32_in(0..=i32::MAX, "negative partition")
    }
    fn partition_count(&mut self) -> Result<i32, MetadataError> {
        self.i32_in(1..=PARTITIONS_MAX, "partition count out of range")
    }
    fn epoch(&mut self) -> Result<i32, MetadataError> {
        self.i32_in(0..=i32::MAX, "negative epoch")
    }
    fn broker_epoch(&mut self) -> Result<i64, MetadataError> {
        let epoch = self.i64()?;
        if epoch < 0 {
            return Err(corrupt("negative broker epoch"));
        }
        Ok(epoch)
    }
    /// A list of distinct broker ids, each at least 0.
    fn brokers(&mut self) -> Result<Vec<i32>, MetadataError> {
        let count = self.count(REPLICAS_MAX)?;
        // Each id is 4 bytes: check they are all there before allocating.
        if self.bytes.len() < count * 4 {
            return Err(corrupt("record shorter than its fields"));
        }
        let mut brokers = Vec::with_capacity(count);
        for _ in 0..count {
            let broker = self.broker_id()?;
            if brokers.contains(&broker) {
                return Err(corrupt("broker listed twice"));
            }
            brokers.push(broker);
        }
        Ok(brokers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<MetadataRecord> {
        vec![
            MetadataRecord::Topic {
                topic_id: [3; 16],
                name: "orders".into(),
                partitions: 8,
                configs: vec![("retention.ms".into(), "1000".into())],
            },
            MetadataRecord::PartitionCount {
                topic_id: [3; 16],
                partitions: 12,
            },
            MetadataRecord::TopicConfig {
                topic_id: [3; 16],
                key: "retention.ms".into(),
                value: None,
            },
            MetadataRecord::RemoveTopic { topic_id: [3; 16] },
            MetadataRecord::ProducerIdBlock {
                next_block_start: 5000,
            },
            MetadataRecord::BrokerRegistration {
                broker_id: 2,
                incarnation_id: [7; 16],
                broker_epoch: 42,
                listeners: vec![
                    BrokerEndpoint {
                        name: "PLAINTEXT".into(),
                        host: "10.0.0.2".into(),
                        port: 9092,
                    },
                    BrokerEndpoint {
                        name: "EXTERNAL".into(),
                        host: "kafka.example".into(),
                        port: 19092,
                    },
                ],
                rack: Some("eu-1a".into()),
            },
            MetadataRecord::BrokerRegistration {
                broker_id: 0,
                incarnation_id: [1; 16],
                broker_epoch: 0,
                listeners: vec![],
                rack: None,
            },
            MetadataRecord::BrokerFenced {
                broker_id: 2,
                broker_epoch: 42,
            },
            MetadataRecord::BrokerUnfenced {
                broker_id: 2,
                broker_epoch: 42,
            },
            MetadataRecord::BrokerUnregistered {
                broker_id: 2,
                broker_epoch: 42,
            },
            MetadataRecord::Partition {
                topic_id: [3; 16],
                partition: 5,
                replicas: vec![2, 0, 1],
                isr: vec![2, 1],
                leader: 2,
                leader_epoch: 3,
                partition_epoch: 9,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            },
            MetadataRecord::Partition {
                topic_id: [3; 16],
                partition: 0,
                replicas: vec![1],
                isr: vec![1],
                leader: NO_LEADER,
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            },
            MetadataRecord::PartitionChange {
                topic_id: [3; 16],
                partition: 5,
                isr: Some(vec![2]),
                leader: Some(NO_LEADER),
                replicas: Some(vec![2, 0, 1]),
                adding_replicas: None,
                removing_replicas: None,
            },
            MetadataRecord::PartitionChange {
                topic_id: [3; 16],
                partition: 5,
                isr: None,
                leader: None,
                replicas: None,
                adding_replicas: None,
                removing_replicas: None,
            },
            MetadataRecord::PartitionChange {
                topic_id: [3; 16],
                partition: 5,
                isr: None,
                leader: None,
                replicas: Some(vec![1, 2, 0]),
                adding_replicas: Some(vec![2]),
                removing_replicas: Some(vec![0]),
            },
            MetadataRecord::PartitionChange {
                topic_id: [3; 16],
                partition: 5,
                isr: None,
                leader: None,
                replicas: None,
                adding_replicas: Some(vec![]),
                removing_replicas: None,
            },
            MetadataRecord::Partition {
                topic_id: [3; 16],
                partition: 1,
                replicas: vec![1, 2, 0],
                isr: vec![0, 1],
                leader: 0,
                leader_epoch: 2,
                partition_epoch: 4,
                adding_replicas: vec![2],
                removing_replicas: vec![0],
            },
            MetadataRecord::UserScramCredential {
                name: "alice".into(),
                mechanism: ScramMechanism::Sha512,
                credential: ScramCredential {
                    salt: vec![1, 2, 3],
                    stored_key: vec![4; 64],
                    server_key: vec![5; 64],
                    iterations: 4096,
                },
            },
            MetadataRecord::RemoveUserScramCredential {
                name: "alice".into(),
                mechanism: ScramMechanism::Sha256,
            },
            MetadataRecord::AccessControlEntry {
                id: [7; 16],
                binding: AclBinding {
                    resource_type: ResourceType::Topic,
                    resource_name: "orders-".into(),
                    pattern_type: PatternType::Prefixed,
                    principal: "User:alice".into(),
                    host: "*".into(),
                    operation: AclOperation::Write,
                    permission: AclPermission::Deny,
                },
            },
            MetadataRecord::RemoveAccessControlEntry { id: [7; 16] },
        ]
    }

    fn encoded(record: &MetadataRecord) -> Vec<u8> {
        let mut bytes = Vec::new();
        record.encode(&mut bytes);
        bytes
    }

    #[test]
    fn records_round_trip() {
        for record in samples() {
            let mut bytes = Vec::new();
            record.encode(&mut bytes);
            assert_eq!(MetadataRecord::decode(&bytes).unwrap(), record);
        }
    }

    #[test]
    fn truncated_or_padded_records_are_refused() {
        for record in samples() {
            let mut bytes = Vec::new();
            record.encode(&mut bytes);
            for cut in 0..bytes.len() {
                assert!(MetadataRecord::decode(&bytes[..cut]).is_err());
            }
            bytes.push(0);
            assert!(MetadataRecord::decode(&bytes).is_err());
        }
    }

    #[test]
    fn single_node_record_bytes_are_unchanged() {
        // The first kinds are what single-node metadata logs hold on disk.
        let bytes = encoded(&MetadataRecord::PartitionCount {
            topic_id: [3; 16],
            partitions: 12,
        });
        let mut expected = vec![2];
        expected.extend_from_slice(&[3; 16]);
        expected.extend_from_slice(&[0, 0, 0, 12]);
        assert_eq!(bytes, expected);
        assert_eq!(
            encoded(&MetadataRecord::ProducerIdBlock {
                next_block_start: 1
            }),
            vec![5, 0, 0, 0, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn cluster_record_of_unknown_version_is_refused() {
        let mut bytes = encoded(&MetadataRecord::BrokerFenced {
            broker_id: 1,
            broker_epoch: 3,
        });
        bytes[1] = 1;
        assert!(MetadataRecord::decode(&bytes).is_err());
    }

    #[test]
    fn values_no_controller_writes_are_refused() {
        let partition = |replicas: Vec<i32>, leader: i32, leader_epoch: i32| {
            encoded(&MetadataRecord::Partition {
                topic_id: [1; 16],
                partition: 0,
                replicas,
                isr: vec![],
                leader,
                leader_epoch,
                partition_epoch: 0,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            })
        };
        assert!(MetadataRecord::decode(&partition(vec![1, 1], 1, 0)).is_err());
        assert!(MetadataRecord::decode(&partition(vec![-3], 1, 0)).is_err());
        assert!(MetadataRecord::decode(&partition(vec![1], -2, 0)).is_err());
        assert!(MetadataRecord::decode(&partition(vec![1], 1, -1)).is_err());
        assert!(MetadataRecord::decode(&partition(vec![1], 1, 0)).is_ok());
        let negative_broker = encoded(&MetadataRecord::BrokerUnfenced {
            broker_id: -1,
            broker_epoch: 0,
        });
        assert!(MetadataRecord::decode(&negative_broker).is_err());
    }

    #[test]
    fn huge_list_count_is_refused_before_allocating() {
        let mut bytes = vec![KIND_PARTITION, CLUSTER_RECORD_VERSION];
        bytes.extend_from_slice(&[1; 16]);
        bytes.extend_from_slice(&0i32.to_be_bytes());
        bytes.extend_from_slice(&u16::MAX.to_be_bytes());
        assert!(MetadataRecord::decode(&bytes).is_err());
        let mut bytes = vec![KIND_PARTITION, CLUSTER_RECORD_VERSION];
        bytes.extend_from_slice(&[1; 16]);
        bytes.extend_from_slice(&0i32.to_be_bytes());
        bytes.extend_from_slice(&1000u16.to_be_bytes());
        assert!(MetadataRecord::decode(&bytes).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_decode_or_fail_without_panicking(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)
        ) {
            if let Ok(record) = MetadataRecord::decode(&bytes) {
                proptest::prop_assert_eq!(encoded(&record), bytes);
            }
        }

        #[test]
        fn mutated_records_decode_or_fail_without_panicking(
            sample in 0usize..15,
            flips in proptest::collection::vec((0usize..256, proptest::num::u8::ANY), 1..4)
        ) {
            let samples = samples();
            let mut bytes = encoded(&samples[sample % samples.len()]);
            for (at, value) in flips {
                let len = bytes.len();
                bytes[at % len] = value;
            }
            if let Ok(record) = MetadataRecord::decode(&bytes) {
                proptest::prop_assert_eq!(encoded(&record), bytes);
            }
        }
    }
}
