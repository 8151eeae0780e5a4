//! Partition reassignment: AlterPartitionReassignments and
//! ListPartitionReassignments (KIP-455), one partition per change so a
//! refusal is reported against it.
use std::time::Duration;

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, ApiKey, BrokerId, ListPartitionReassignmentsRequest,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::response_error::check_error_code;
use super::{ClientError, Connection};

/// A partition being reassigned, as ListPartitionReassignments lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OngoingReassignment {
    /// The topic.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// Its replicas now: the target, then those being removed.
    pub replicas: Vec<i32>,
    /// The replicas being added.
    pub adding_replicas: Vec<i32>,
    /// The replicas being removed.
    pub removing_replicas: Vec<i32>,
}

impl Connection {
    /// Moves `topic`'s `partition` to `replicas` (the first preferred), or
    /// cancels its move in progress when `replicas` is `None`. Returns once
    /// the move has started; ListPartitionReassignments shows it until the
    /// new replicas have caught up.
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; [`ClientError::Kafka`] with e.g.
    /// INVALID_REPLICA_ASSIGNMENT or NO_REASSIGNMENT_IN_PROGRESS.
    pub fn alter_partition_reassignment(
        &mut self,
        topic: &str,
        partition: i32,
        replicas: Option<&[i32]>,
        timeout: Duration,
    ) -> Result<(), ClientError> {
        let request = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX))
            .with_topics(vec![ReassignableTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(vec![ReassignablePartition::default()
                    .with_partition_index(partition)
                    .with_replicas(replicas.map(|replicas| {
                        replicas.iter().copied().map(BrokerId).collect()
                    }))])]);
        let response = self.call(&request)?;
        let context = format!("{topic}-{partition}");
        check_error_code(
            ApiKey::AlterPartitionReassignments,
            response.error_code,
            &context,
            response.error_message.as_ref(),
        )?;
        let result = response
            .responses
            .iter()
            .flat_map(|topic| &topic.partitions)
            .find(|answer| answer.partition_index == partition)
            .ok_or_else(|| ClientError::Decode {
                api: ApiKey::AlterPartitionReassignments,
                version: -1,
                message: format!("response does not mention partition {context}"),
            })?;
        check_error_code(
            ApiKey::AlterPartitionReassignments,
            result.error_code,
            &context,
            result.error_message.as_ref(),
        )
    }

    /// The reassignments in progress, of every topic.
    ///
    /// # Errors
    /// Any [`ClientError`] of the call.
    pub fn list_partition_reassignments(
        &mut self,
        timeout: Duration,
    ) -> Result<Vec<OngoingReassignment>, ClientError> {
        let request = ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX))
            .with_topics(None);
        let response = self.call(&request)?;
        check_error_code(
            ApiKey::ListPartitionReassignments,
            response.error_code,
            "",
            response.error_message.as_ref(),
        )?;
        let ids = |list: &[BrokerId]| list.iter().map(|id| id.0).collect::<Vec<_>>();
        Ok(response
            .topics
            .iter()
            .flat_map(|topic| {
                topic
                    .partitions
                    .iter()
                    .map(|partition| OngoingReassignment {
                        topic: topic.name.to_string(),
                        partition: partition.partition_index,
                        replicas: ids(&partition.replicas),
                        adding_replicas: ids(&partition.adding_replicas),
                        removing_replicas: ids(&partition.removing_replicas),
                    })
            })
            .collect())
    }
}
