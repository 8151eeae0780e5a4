//! `__consumer_offsets` as a log: the internal topic's settings, and the
//! translation between the group coordinator's [`OffsetsRecord`]s and v2
//! record batches (one batch per `Action::Persist`, uncompressed, as Kafka
//! writes them).
//!
//! Invariant: every batch written here decodes back to the same records in
//! the same order, so a replay rebuilds exactly the state that was
//! acknowledged.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use skein_controller::group_coordinator::{OffsetsRecord, CONSUMER_OFFSETS_TOPIC};
use skein_engine::LogTuning;

/// Memory of each `__consumer_offsets` partition log. Offset commits are a
/// few hundred bytes each and 50 partitions exist from the first start, so
/// the data-topic defaults (4 MiB write buffer + 4 MiB tail cache each) would
/// cost hundreds of MiB for an idle broker. A write buffer still grows for a
/// larger append while no flush is pending.
pub const OFFSETS_LOG_TUNING: LogTuning = LogTuning {
    write_buffer_bytes: 64 << 10,
    tail_cache_bytes: 64 << 10,
};

const _: () = assert!(OFFSETS_LOG_TUNING.write_buffer_bytes.is_multiple_of(4096));
const _: () = assert!(OFFSETS_LOG_TUNING.write_buffer_bytes >= 2 * 4096);

/// Bytes read per `PartitionOp::Read` while replaying a partition.
pub const REPLAY_READ_BYTES: usize = 1 << 20;

/// Topic config overrides of `__consumer_offsets`. Retention is off: the
/// coordinator expires offsets itself (`offsets.retention.minutes`) and
/// writes tombstones, and time-based deletion of whole segments would drop
/// live commits. Segments are 100 MiB as in Kafka (`offsets.topic.segment.bytes`).
pub fn topic_configs() -> Vec<(String, String)> {
    vec![
        ("retention.ms".to_string(), "-1".to_string()),
        ("segment.bytes".to_string(), "104857600".to_string()),
    ]
}

/// Whether `topic` is an internal topic (Metadata's `is_internal`; clients
/// cannot delete it).
pub fn is_internal(topic: &str) -> bool {
    topic == CONSUMER_OFFSETS_TOPIC
}

/// Why `__consumer_offsets` data could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum OffsetsLogError {
    /// The encoder refused the records (a bug of ours).
    #[error("cannot encode a __consumer_offsets batch: {0}")]
    Encode(String),
    /// A stored batch does not decode.
    #[error("cannot decode a __consumer_offsets batch: {0}")]
    Decode(String),
}

/// Encodes `records` as one uncompressed v2 record batch stamped `now_ms`.
///
/// # Errors
/// [`OffsetsLogError::Encode`] if the encoder fails.
pub fn encode_batch(records: &[OffsetsRecord], now_ms: i64) -> Result<Bytes, OffsetsLogError> {
    let records: Vec<Record> = records
        .iter()
        .zip(0_i64..)
        .map(|(record, offset)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: -1,
            timestamp: now_ms,
            key: Some(record.key.clone()),
            value: record.value.clone(),
            headers: Default::default(),
        })
        .collect();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    let mut buf = BytesMut::with_capacity(128);
    RecordBatchEncoder::encode(&mut buf, &records, &options)
        .map_err(|error| OffsetsLogError::Encode(error.to_string()))?;
    Ok(buf.freeze())
}

/// Decodes the whole batches in `chunk`, appending their records (control
/// records skipped) to `out`. Returns the offset after the last record
/// decoded, or `None` if the chunk held no record.
///
/// # Errors
/// [`OffsetsLogError::Decode`] for a batch that does not decode; the
/// decoder's panics are contained.
pub fn decode_batches(
    chunk: &Bytes,
    out: &mut Vec<OffsetsRecord>,
) -> Result<Option<i64>, OffsetsLogError> {
    let mut buf = chunk.clone();
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        RecordBatchDecoder::decode_all(&mut buf)
    }))
    .map_err(|_| OffsetsLogError::Decode("the decoder panicked".into()))?
    .map_err(|error| OffsetsLogError::Decode(error.to_string()))?;
    let mut next_offset = None;
    for set in decoded {
        for record in set.records {
            next_offset = Some(record.offset.saturating_add(1));
            if record.control {
                continue;
            }
            let Some(key) = record.key else {
                return Err(OffsetsLogError::Decode(format!(
                    "record at offset {} has no key",
                    record.offset
                )));
            };
            out.push(OffsetsRecord {
                key,
                value: record.value,
            });
        }
    }
    Ok(next_offset)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_decodes_to_the_records_it_was_encoded_from() {
        let records = vec![
            OffsetsRecord {
                key: Bytes::from_static(b"key-1"),
                value: Some(Bytes::from_static(b"value-1")),
            },
            OffsetsRecord {
                key: Bytes::from_static(b"key-2"),
                value: None,
            },
        ];
        let batch = encode_batch(&records, 1_700_000_000_000).unwrap();
        let mut out = Vec::new();
        assert_eq!(decode_batches(&batch, &mut out).unwrap(), Some(2));
        assert_eq!(out, records);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        assert!(decode_batches(&Bytes::from_static(&[0, 0, 0, 1, 2, 3]), &mut out).is_err());
    }
}
