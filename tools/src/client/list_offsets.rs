//! Offset lookup through ListOffsets: where a partition's log starts or ends.
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{ClientError, Connection};

/// Which offset to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset (Kafka's timestamp -2).
    Earliest,
    /// The log end offset, i.e. the next offset to be written (timestamp -1).
    Latest,
}

impl OffsetSpec {
    fn timestamp(self) -> i64 {
        match self {
            Self::Earliest => -2,
            Self::Latest => -1,
        }
    }
}

impl Connection {
    /// Looks up `spec` for each of `partitions` of `topic` on this broker
    /// (which must lead them). Returns `(partition, offset)` pairs in the
    /// order the broker listed them.
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; [`ClientError::Kafka`] for the first
    /// partition with an error code.
    pub fn list_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
        spec: OffsetSpec,
    ) -> Result<Vec<(i32, i64)>, ClientError> {
        self.list_offsets_as(-1, topic, partitions, spec)
    }

    /// The log end offset of this broker's replica of each of `partitions`
    /// of `topic`, leader or follower (ListOffsets latest with Kafka's
    /// debugging replica id, -2): `(partition, offset)` pairs.
    ///
    /// # Errors
    /// As [`Connection::list_offsets`].
    pub fn replica_log_end_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<Vec<(i32, i64)>, ClientError> {
        self.list_offsets_as(-2, topic, partitions, OffsetSpec::Latest)
    }

    fn list_offsets_as(
        &mut self,
        replica_id: i32,
        topic: &str,
        partitions: &[i32],
        spec: OffsetSpec,
    ) -> Result<Vec<(i32, i64)>, ClientError> {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(replica_id))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|partition| {
                            ListOffsetsPartition::default()
                                .with_partition_index(*partition)
                                .with_timestamp(spec.timestamp())
                        })
                        .collect(),
                )]);
        let response = self.call(&request)?;
        let mut offsets = Vec::with_capacity(partitions.len());
        for topic_response in &response.topics {
            for partition in &topic_response.partitions {
                if partition.error_code != 0 {
                    return Err(ClientError::Kafka {
                        api: ApiKey::ListOffsets,
                        code: partition.error_code,
                        context: Some(format!("{topic}-{}", partition.partition_index)),
                        message: None,
                    });
                }
                offsets.push((partition.partition_index, partition.offset));
            }
        }
        Ok(offsets)
    }
}
