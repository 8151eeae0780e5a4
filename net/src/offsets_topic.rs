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
use skein_controller::group_coordinator::OffsetsRecord;
use skein_engine::LogTuning;

/// Memory of each `__consumer_offsets` partition log. Offset commits are a
/// few hundred bytes each and 50 partitions exist from the first start, so
/// the data-topic defaults (4 MiB write buffer + 4 MiB tail cache each) would
/// cost hundreds of MiB for an idle broker. A write buffer still grows for a
/// larger append while no flush is pending. No preallocation: commits come
/// one small batch at a time, so there is no second write to overlap, and
/// 50 partitions would each reserve disk space for nothing.
pub const OFFSETS_LOG_TUNING: LogTuning = LogTuning {
    write_buffer_bytes: 64 << 10,
    tail_cache_bytes: 64 << 10,
    preallocate_bytes: 0,
};

const _: () = assert!(OFFSETS_LOG_TUNING.write_buffer_bytes.is_multiple_of(4096));
const _: () = assert!(OFFSETS_LOG_TUNING.write_buffer_bytes >= 2 * 4096);

/// Bytes read per `PartitionOp::Read` while replaying a partition.
pub const REPLAY_READ_BYTES: usize = 1 << 20;

/// Topic config overrides of `__consumer_offsets`: compacted, as Kafka's,
/// so the latest commit of each (group, topic, partition) and the latest
/// metadata of each group survive while older ones and deleted groups'
/// tombstones go. Retention is off too: the coordinator expires offsets
/// itself (`offsets.retention.minutes`) by writing tombstones, and
/// time-based deletion of whole segments would drop live commits (it would
/// apply if an operator switched the policy to `compact,delete`).
/// `compression.type=producer`, as Kafka sets it, keeps the coordinator's
/// batches as it writes them whatever the broker's default.
/// `segment_bytes` is `offsets.topic.segment.bytes`.
pub fn topic_configs(segment_bytes: u64) -> Vec<(String, String)> {
    vec![
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("retention.ms".to_string(), "-1".to_string()),
        ("segment.bytes".to_string(), segment_bytes.to_string()),
        ("compression.type".to_string(), "producer".to_string()),
    ]
}

/// Whether `topic` is an internal topic (Metadata's `is_internal`; clients
/// cannot delete it).
pub fn is_internal(topic: &str) -> bool {
    skein_controller::is_internal_topic(topic)
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
    encode(records, now_ms, None)
}

/// Encodes `records` as one uncompressed transactional batch of producer
/// `(producer_id, producer_epoch)` (TxnOffsetCommit), without a sequence
/// (as Kafka's coordinator writes them), stamped `now_ms`.
///
/// # Errors
/// [`OffsetsLogError::Encode`] if the encoder fails.
pub fn encode_transactional_batch(
    records: &[OffsetsRecord],
    now_ms: i64,
    producer: (i64, i16),
) -> Result<Bytes, OffsetsLogError> {
    encode(records, now_ms, Some(producer))
}

fn encode(
    records: &[OffsetsRecord],
    now_ms: i64,
    producer: Option<(i64, i16)>,
) -> Result<Bytes, OffsetsLogError> {
    let records: Vec<Record> = records
        .iter()
        .zip(0_i64..)
        .map(|(record, offset)| Record {
            transactional: producer.is_some(),
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: producer.map_or(-1, |(id, _)| id),
            producer_epoch: producer.map_or(-1, |(_, epoch)| epoch),
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

/// Records of transactions whose marker a replay has not reached yet, by
/// producer id.
pub type OpenTransactions = std::collections::HashMap<i64, Vec<OffsetsRecord>>;

/// Decodes the whole batches in `chunk`, appending their records (control
/// records skipped) to `out`, as [`decode_transactional_batches`] with no
/// transaction open before the chunk. Returns the offset after the last
/// record decoded, or `None` if the chunk held no record.
///
/// # Errors
/// [`OffsetsLogError::Decode`] for a batch that does not decode; the
/// decoder's panics are contained.
pub fn decode_batches(
    chunk: &Bytes,
    out: &mut Vec<OffsetsRecord>,
) -> Result<Option<i64>, OffsetsLogError> {
    decode_transactional_batches(chunk, out, &mut OpenTransactions::new())
}

/// Control record type of a commit marker (the key is `version i16 |
/// type i16`; 0 is abort).
const CONTROL_COMMIT: i16 = 1;

/// Decodes the whole batches in `chunk` as a replay sees them: records of
/// plain batches go to `out` in log order; records of a transactional batch
/// are held in `open` under their producer until its marker, where a commit
/// appends them to `out` and an abort drops them (Kafka's loader applies a
/// transaction's offsets at its commit marker). Returns the offset after
/// the last record decoded, or `None` if the chunk held no record.
///
/// # Errors
/// [`OffsetsLogError::Decode`] for a batch that does not decode or a
/// control record without its type; the decoder's panics are contained.
pub fn decode_transactional_batches(
    chunk: &Bytes,
    out: &mut Vec<OffsetsRecord>,
    open: &mut OpenTransactions,
) -> Result<Option<i64>, OffsetsLogError> {
    let mut buf = chunk.clone();
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        RecordBatchDecoder::decode_all(&mut buf)
    }))
    .map_err(|_| OffsetsLogError::Decode("the decoder panicked".into()))?
    .map_err(|error| OffsetsLogError::Decode(error.to_string()))?;
    // Progress is measured by batch headers, not by the last record: a
    // compacted batch keeps its original last offset while its trailing
    // records may be gone, and the next read must start past the batch.
    let mut next_offset = batches_end(chunk);
    for set in decoded {
        for record in set.records {
            let after = record.offset.saturating_add(1);
            next_offset = Some(next_offset.map_or(after, |next| next.max(after)));
            if record.control {
                let kind = record
                    .key
                    .as_ref()
                    .and_then(|key| key.get(2..4))
                    .and_then(|kind| <[u8; 2]>::try_from(kind).ok())
                    .map(i16::from_be_bytes)
                    .ok_or_else(|| {
                        OffsetsLogError::Decode(format!(
                            "control record at offset {} has no type",
                            record.offset
                        ))
                    })?;
                let held = open.remove(&record.producer_id).unwrap_or_default();
                if kind == CONTROL_COMMIT {
                    out.extend(held);
                }
                continue;
            }
            let Some(key) = record.key else {
                return Err(OffsetsLogError::Decode(format!(
                    "record at offset {} has no key",
                    record.offset
                )));
            };
            let decoded = OffsetsRecord {
                key,
                value: record.value,
            };
            if record.transactional {
                open.entry(record.producer_id).or_default().push(decoded);
            } else {
                out.push(decoded);
            }
        }
    }
    Ok(next_offset)
}

/// One past the last offset of the last whole batch in `chunk`, by the
/// batch headers (`baseOffset + lastOffsetDelta + 1`), if there is one.
fn batches_end(chunk: &[u8]) -> Option<i64> {
    let mut rest = chunk;
    let mut end = None;
    while let Some(header) = skein_engine::BatchHeader::read(rest) {
        let total = usize::try_from(header.total_bytes()).ok()?;
        if total < skein_engine::BATCH_HEADER_BYTES {
            return end;
        }
        let Some(after) = rest.get(total..) else {
            return end;
        };
        end = Some(header.last_offset().saturating_add(1));
        rest = after;
    }
    end
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
    fn transactional_records_appear_at_their_commit_marker_and_aborted_ones_never() {
        let record = |key: &'static [u8]| OffsetsRecord {
            key: Bytes::from_static(key),
            value: Some(Bytes::from_static(b"v")),
        };
        let marker = |producer_id: i64, kind: i16, offset: i64| {
            let mut key = BytesMut::new();
            key.extend_from_slice(&0i16.to_be_bytes());
            key.extend_from_slice(&kind.to_be_bytes());
            let marker = Record {
                transactional: true,
                control: true,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id,
                producer_epoch: 0,
                timestamp_type: TimestampType::Creation,
                offset,
                sequence: -1,
                timestamp: 0,
                key: Some(key.freeze()),
                value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
                headers: Default::default(),
            };
            let mut buf = BytesMut::new();
            let options = RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            };
            RecordBatchEncoder::encode(&mut buf, &[marker], &options).unwrap();
            buf.freeze()
        };
        let mut open = OpenTransactions::new();
        let mut out = Vec::new();
        let committed = encode_transactional_batch(&[record(b"t7")], 0, (7, 0)).unwrap();
        let aborted = encode_transactional_batch(&[record(b"t8")], 0, (8, 0)).unwrap();
        let plain = encode_batch(&[record(b"plain")], 0).unwrap();
        for chunk in [committed, aborted, plain, marker(8, 0, 3), marker(7, 1, 4)] {
            decode_transactional_batches(&chunk, &mut out, &mut open).unwrap();
        }
        assert_eq!(out, vec![record(b"plain"), record(b"t7")]);
        assert!(open.is_empty());
    }

    #[test]
    fn a_compacted_batch_advances_past_its_original_last_offset() {
        let batch = skein_engine::test_batch::BatchBuilder::new(1_700_000_000_000)
            .record(b"key-1", b"value-1", 0)
            .record(b"key-2", b"value-2", 0)
            .build();
        // As the cleaner leaves it: the second record removed, the header's
        // lastOffsetDelta (1) kept, recordsCount 1, CRC recomputed.
        let first_record = skein_engine::Records::new(&batch)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .encoded
            .len();
        let mut first = batch[..skein_engine::BATCH_HEADER_BYTES + first_record].to_vec();
        let length = i32::try_from(first.len() - 12).unwrap();
        first[8..12].copy_from_slice(&length.to_be_bytes());
        first[57..61].copy_from_slice(&1i32.to_be_bytes());
        let crc = crc32c::crc32c(&first[21..]);
        first[17..21].copy_from_slice(&crc.to_be_bytes());
        let mut out = Vec::new();
        assert_eq!(
            decode_batches(&Bytes::from(first), &mut out).unwrap(),
            Some(2),
            "past the removed record at offset 1"
        );
        assert_eq!(
            out,
            vec![OffsetsRecord {
                key: Bytes::from_static(b"key-1"),
                value: Some(Bytes::from_static(b"value-1")),
            }]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        assert!(decode_batches(&Bytes::from_static(&[0, 0, 0, 1, 2, 3]), &mut out).is_err());
    }
}
