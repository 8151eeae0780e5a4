//! Cluster metadata as a client needs it: brokers' addresses, and each
//! partition's leader. Built from a Metadata response; immutable once built
//! (a client that sees NOT_LEADER_OR_FOLLOWER fetches a new one).
use std::collections::BTreeMap;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{ClientError, Connection};

/// Where a broker listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    /// Advertised host name.
    pub host: String,
    /// Advertised port.
    pub port: u16,
}

impl BrokerAddress {
    /// `host:port`, ready for [`Connection::connect`].
    pub fn to_address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One partition's placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Partition index, 0-based.
    pub partition: i32,
    /// Kafka error code for this partition (0 = none).
    pub error_code: i16,
    /// Broker id of the leader, or -1 when there is none.
    pub leader_id: i32,
    /// The leader's epoch, or -1 if unknown.
    pub leader_epoch: i32,
    /// Broker ids of all replicas.
    pub replicas: Vec<i32>,
    /// Broker ids of the in-sync replicas.
    pub isr: Vec<i32>,
}

/// One topic's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Kafka error code for this topic (0 = none; 3 = UNKNOWN_TOPIC_OR_PARTITION).
    pub error_code: i16,
    /// Partitions sorted by index.
    pub partitions: Vec<PartitionMetadata>,
}

/// A snapshot of the cluster as one broker described it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// Live brokers by id.
    pub brokers: BTreeMap<i32, BrokerAddress>,
    /// The controller's broker id, or -1 if unknown.
    pub controller_id: i32,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicMetadata>,
}

impl ClusterMetadata {
    /// Builds the snapshot from a Metadata response.
    pub fn from_response(response: &MetadataResponse) -> Self {
        let brokers = response
            .brokers
            .iter()
            .map(|broker| {
                let address = BrokerAddress {
                    host: broker.host.as_str().to_owned(),
                    port: u16::try_from(broker.port).unwrap_or(0),
                };
                (broker.node_id.0, address)
            })
            .collect();
        let topics = response
            .topics
            .iter()
            .filter_map(|topic| {
                let name = topic.name.as_ref()?.0.as_str().to_owned();
                let mut partitions: Vec<PartitionMetadata> = topic
                    .partitions
                    .iter()
                    .map(|partition| PartitionMetadata {
                        partition: partition.partition_index,
                        error_code: partition.error_code,
                        leader_id: partition.leader_id.0,
                        leader_epoch: partition.leader_epoch,
                        replicas: partition.replica_nodes.iter().map(|id| id.0).collect(),
                        isr: partition.isr_nodes.iter().map(|id| id.0).collect(),
                    })
                    .collect();
                partitions.sort_by_key(|partition| partition.partition);
                let metadata = TopicMetadata {
                    error_code: topic.error_code,
                    partitions,
                };
                Some((name, metadata))
            })
            .collect();
        Self {
            brokers,
            controller_id: response.controller_id.0,
            topics,
        }
    }

    /// The address of `topic`-`partition`'s leader.
    ///
    /// # Errors
    /// [`ClientError::NoLeader`] when the topic or partition is unknown, has
    /// no leader, or the leader is not among the listed brokers.
    pub fn leader_address(&self, topic: &str, partition: i32) -> Result<String, ClientError> {
        let no_leader = || ClientError::NoLeader {
            topic: topic.to_owned(),
            partition,
        };
        let metadata = self.topics.get(topic).ok_or_else(no_leader)?;
        let placement = metadata
            .partitions
            .iter()
            .find(|candidate| candidate.partition == partition)
            .ok_or_else(no_leader)?;
        let broker = self
            .brokers
            .get(&placement.leader_id)
            .ok_or_else(no_leader)?;
        Ok(broker.to_address())
    }
}

impl Connection {
    /// Fetches metadata for `topics` (all topics when `None`) without
    /// creating any topic.
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; a top-level Kafka error code.
    pub fn metadata(&mut self, topics: Option<&[&str]>) -> Result<ClusterMetadata, ClientError> {
        let mut request = MetadataRequest::default();
        request.allow_auto_topic_creation = false;
        request.topics = topics.map(|names| {
            names
                .iter()
                .map(|name| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string((*name).to_owned()))))
                })
                .collect()
        });
        let response = self.call(&request)?;
        if response.error_code != 0 {
            return Err(ClientError::Kafka {
                api: ApiKey::Metadata,
                code: response.error_code,
                context: None,
                message: None,
            });
        }
        Ok(ClusterMetadata::from_response(&response))
    }
}
