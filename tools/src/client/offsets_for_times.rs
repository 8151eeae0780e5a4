//! Offset lookup by timestamp through ListOffsets: the first offset whose
//! record timestamp is at or after a given time.
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::response_error::check_error_code;
use super::{ClientError, Connection};

impl Connection {
    /// For each of `partitions` of `topic` (led by this broker), the first
    /// offset with a timestamp ≥ `timestamp_ms` (milliseconds since the UNIX
    /// epoch), or `None` when every record is older. Negative timestamps are
    /// Kafka's specials: -1 latest, -2 earliest.
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; [`ClientError::Kafka`] for the first
    /// partition with an error code.
    pub fn offsets_for_time(
        &mut self,
        topic: &str,
        partitions: &[i32],
        timestamp_ms: i64,
    ) -> Result<Vec<(i32, Option<i64>)>, ClientError> {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|partition| {
                            ListOffsetsPartition::default()
                                .with_partition_index(*partition)
                                .with_timestamp(timestamp_ms)
                        })
                        .collect(),
                )]);
        let response = self.call(&request)?;
        let mut offsets = Vec::with_capacity(partitions.len());
        for topic_response in &response.topics {
            for partition in &topic_response.partitions {
                let context = format!("{topic}-{}", partition.partition_index);
                check_error_code(ApiKey::ListOffsets, partition.error_code, &context, None)?;
                let offset = (partition.offset >= 0).then_some(partition.offset);
                offsets.push((partition.partition_index, offset));
            }
        }
        Ok(offsets)
    }
}
