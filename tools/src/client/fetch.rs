//! Fetching and decoding the records of one partition: what `skein consume`
//! needs. Whole batches only; a truncated trailing batch comes with the
//! next fetch.
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, RecordBatchDecoder};

use super::response_error::check_error_code;
use super::{BatchHeaders, ClientError, Connection};

/// What one fetch of one partition returned.
#[derive(Debug, Clone)]
pub struct FetchedRecords {
    /// Records at or after the requested offset, in offset order, control
    /// records left out.
    pub records: Vec<Record>,
    /// Where the next fetch starts.
    pub next_offset: i64,
    /// The partition's high watermark.
    pub high_watermark: i64,
}

impl Connection {
    /// Fetches `topic`-`partition` (led by this broker) from `offset`,
    /// waiting up to `max_wait_ms` for data, and decodes the records.
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; [`ClientError::Kafka`] for the
    /// partition's error code (e.g. OFFSET_OUT_OF_RANGE); [`ClientError::Decode`]
    /// for a batch that does not decode.
    pub fn fetch_records(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_wait_ms: i32,
        max_bytes: i32,
    ) -> Result<FetchedRecords, ClientError> {
        let request = FetchRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(1)
            .with_max_bytes(max_bytes)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(max_bytes)])]);
        let response = self.call(&request)?;
        let context = format!("{topic}-{partition}");
        check_error_code(ApiKey::Fetch, response.error_code, &context, None)?;
        let data = response
            .responses
            .iter()
            .flat_map(|topic_response| topic_response.partitions.iter())
            .find(|data| data.partition_index == partition)
            .ok_or_else(|| ClientError::Decode {
                api: ApiKey::Fetch,
                version: -1,
                message: format!("response does not mention {context}"),
            })?;
        check_error_code(ApiKey::Fetch, data.error_code, &context, None)?;
        let mut fetched = FetchedRecords {
            records: Vec::new(),
            next_offset: offset,
            high_watermark: data.high_watermark,
        };
        let Some(records) = data.records.clone() else {
            return Ok(fetched);
        };
        for batch in BatchHeaders::new(records) {
            let (header, bytes): (_, Bytes) = batch?;
            fetched.next_offset = fetched.next_offset.max(header.next_offset());
            if header.is_control() {
                continue;
            }
            let mut bytes = bytes;
            let set =
                RecordBatchDecoder::decode(&mut bytes).map_err(|error| ClientError::Decode {
                    api: ApiKey::Fetch,
                    version: -1,
                    message: format!("record batch at offset {}: {error:#}", header.base_offset),
                })?;
            fetched.records.extend(
                set.records
                    .into_iter()
                    .filter(|record| record.offset >= offset),
            );
        }
        Ok(fetched)
    }
}
