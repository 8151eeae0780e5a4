//! Topic creation through CreateTopics. Creating a topic that already exists
//! is an outcome ([`TopicCreation::AlreadyExisted`]), not an error, so
//! "create if missing" is one call.
use std::time::Duration;

use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::{ApiKey, BrokerId, CreateTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{ClientError, Connection};

/// Kafka's TOPIC_ALREADY_EXISTS error code.
const TOPIC_ALREADY_EXISTS: i16 = 36;

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Partition count, ≥ 1 (or -1 for the broker default).
    pub partitions: i32,
    /// Replication factor, ≥ 1 (or -1 for the broker default).
    pub replication_factor: i16,
    /// Topic configs as Kafka property names and values, e.g. `("retention.ms", "60000")`.
    pub configs: Vec<(String, String)>,
    /// Each partition's replicas (partition 0 first), instead of the
    /// controller's placement; empty to leave placement to it. With lists,
    /// `partitions` and `replication_factor` must be -1 (Kafka's rule).
    pub assignments: Vec<Vec<i32>>,
}

/// The outcome of [`Connection::create_topic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicCreation {
    /// The topic did not exist and was created.
    Created,
    /// A topic of that name already existed; it was left as it is.
    AlreadyExisted,
}

impl Connection {
    /// Creates `spec` unless a topic of that name exists, waiting up to
    /// `timeout` for the broker to finish.
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; [`ClientError::Kafka`] for any topic
    /// error but TOPIC_ALREADY_EXISTS (e.g. NOT_CONTROLLER on a broker that
    /// does not forward, INVALID_REPLICATION_FACTOR).
    pub fn create_topic(
        &mut self,
        spec: &TopicSpec,
        timeout: Duration,
    ) -> Result<TopicCreation, ClientError> {
        let topic = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(spec.name.clone())))
            .with_num_partitions(spec.partitions)
            .with_replication_factor(spec.replication_factor)
            .with_configs(
                spec.configs
                    .iter()
                    .map(|(name, value)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string(name.clone()))
                            .with_value(Some(StrBytes::from_string(value.clone())))
                    })
                    .collect(),
            )
            .with_assignments(
                (0..)
                    .zip(&spec.assignments)
                    .map(|(partition, brokers)| {
                        CreatableReplicaAssignment::default()
                            .with_partition_index(partition)
                            .with_broker_ids(brokers.iter().copied().map(BrokerId).collect())
                    })
                    .collect(),
            );
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX));
        let response = self.call(&request)?;
        let result = response
            .topics
            .iter()
            .find(|result| result.name.0.as_str() == spec.name)
            .ok_or_else(|| ClientError::Decode {
                api: ApiKey::CreateTopics,
                version: -1,
                message: format!("response does not mention topic {:?}", spec.name),
            })?;
        match result.error_code {
            0 => Ok(TopicCreation::Created),
            TOPIC_ALREADY_EXISTS => Ok(TopicCreation::AlreadyExisted),
            code => Err(ClientError::Kafka {
                api: ApiKey::CreateTopics,
                code,
                context: Some(spec.name.clone()),
                message: result.error_message.as_ref().map(|m| m.as_str().to_owned()),
            }),
        }
    }
}
