//! Topic administration beyond creation: DeleteTopics and CreatePartitions.
//! Each call names one topic so a failure is reported against it.
use std::time::Duration;

use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreatePartitionsRequest, DeleteTopicsRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::response_error::check_error_code;
use super::{ClientError, Connection};

fn timeout_ms(timeout: Duration) -> i32 {
    i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX)
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

impl Connection {
    /// Deletes `topic`, waiting up to `timeout` for the broker to finish.
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; [`ClientError::Kafka`] with e.g.
    /// UNKNOWN_TOPIC_OR_PARTITION or TOPIC_DELETION_DISABLED.
    pub fn delete_topic(&mut self, topic: &str, timeout: Duration) -> Result<(), ClientError> {
        // v0-5 name topics in `topic_names`, v6+ in `topics`: fill both, the
        // encoder writes the one its version has.
        let request = DeleteTopicsRequest::default()
            .with_topic_names(vec![topic_name(topic)])
            .with_topics(vec![
                DeleteTopicState::default().with_name(Some(topic_name(topic)))
            ])
            .with_timeout_ms(timeout_ms(timeout));
        let response = self.call(&request)?;
        let result = response
            .responses
            .iter()
            .find(|result| {
                result
                    .name
                    .as_ref()
                    .is_some_and(|name| name.0.as_str() == topic)
            })
            .ok_or_else(|| ClientError::Decode {
                api: ApiKey::DeleteTopics,
                version: -1,
                message: format!("response does not mention topic {topic:?}"),
            })?;
        check_error_code(
            ApiKey::DeleteTopics,
            result.error_code,
            topic,
            result.error_message.as_ref(),
        )
    }

    /// Grows `topic` to `total_partitions` partitions (a total, not an
    /// increment, as in Kafka), placed by the controller or, with
    /// `assignments`, on the listed brokers (one list per added partition,
    /// the first broker preferred).
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; [`ClientError::Kafka`] with e.g.
    /// INVALID_PARTITIONS when the count does not grow.
    pub fn create_partitions(
        &mut self,
        topic: &str,
        total_partitions: i32,
        assignments: Option<Vec<Vec<i32>>>,
        timeout: Duration,
    ) -> Result<(), ClientError> {
        // `None` goes as null, not as the empty list the default holds:
        // Kafka reads any list as the added partitions' replicas, one list
        // each.
        let assignments = assignments.map(|lists| {
            lists
                .into_iter()
                .map(|brokers| {
                    CreatePartitionsAssignment::default()
                        .with_broker_ids(brokers.into_iter().map(BrokerId).collect())
                })
                .collect()
        });
        let request = CreatePartitionsRequest::default()
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(topic_name(topic))
                .with_count(total_partitions)
                .with_assignments(assignments)])
            .with_timeout_ms(timeout_ms(timeout));
        let response = self.call(&request)?;
        let result = response
            .results
            .iter()
            .find(|result| result.name.0.as_str() == topic)
            .ok_or_else(|| ClientError::Decode {
                api: ApiKey::CreatePartitions,
                version: -1,
                message: format!("response does not mention topic {topic:?}"),
            })?;
        check_error_code(
            ApiKey::CreatePartitions,
            result.error_code,
            topic,
            result.error_message.as_ref(),
        )
    }
}
