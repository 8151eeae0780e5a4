//! Producing a handful of records to one partition with one Produce request:
//! what an admin tool needs (`skein produce`), not a batching producer.
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions};

use super::response_error::check_error_code;
use super::{ClientError, Connection};

impl Connection {
    /// Appends `records` as one batch to `topic`-`partition` (led by this
    /// broker) with `acks` (-1 all, 1 leader, 0 none) and returns the base
    /// offset the broker assigned — `None` for acks=0, which the broker
    /// does not answer (the request is only written to the socket).
    /// Record offsets and sequences are renumbered.
    ///
    /// # Errors
    /// [`ClientError::Encode`] for an empty or unencodable batch; any
    /// [`ClientError`] of the call; [`ClientError::Kafka`] for the
    /// partition's error code.
    pub fn produce_batch(
        &mut self,
        topic: &str,
        partition: i32,
        records: &mut [Record],
        compression: Compression,
        acks: i16,
        timeout: Duration,
    ) -> Result<Option<i64>, ClientError> {
        let encode_error = |message: String| ClientError::Encode {
            api: ApiKey::Produce,
            version: -1,
            message,
        };
        if records.is_empty() {
            return Err(encode_error("an empty batch".to_owned()));
        }
        for (index, record) in (0i64..).zip(records.iter_mut()) {
            record.offset = index;
            // One batch needs `sequence = offset - 1` for a non-idempotent
            // producer (see `plain_record`).
            record.sequence = i32::try_from(index).unwrap_or(i32::MAX) - 1;
        }
        let mut encoded = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression,
        };
        RecordBatchEncoder::encode(&mut encoded, records.iter(), &options)
            .map_err(|error| encode_error(format!("{error:#}")))?;
        let request = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX))
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(encoded.freeze()))])]);
        if acks == 0 {
            self.send_unanswered(&request)?;
            return Ok(None);
        }
        let response = self.call(&request)?;
        let context = format!("{topic}-{partition}");
        let result = response
            .responses
            .iter()
            .flat_map(|topic_response| topic_response.partition_responses.iter())
            .find(|result| result.index == partition)
            .ok_or_else(|| ClientError::Decode {
                api: ApiKey::Produce,
                version: -1,
                message: format!("response does not mention {context}"),
            })?;
        check_error_code(
            ApiKey::Produce,
            result.error_code,
            &context,
            result.error_message.as_ref(),
        )?;
        Ok(Some(result.base_offset))
    }
}
