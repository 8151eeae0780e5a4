//! Record sets as a Fetch response carries them, read only as far as the
//! 61-byte v2 batch headers: enough to count records and advance offsets
//! without decompressing anything. A fetch may end in a truncated batch
//! (Kafka allows it); iteration stops before it.
use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::records::{Record, TimestampType};

use super::ClientError;

/// Size of a v2 record-batch header, in bytes.
pub const BATCH_HEADER_BYTES: usize = 61;

/// The fields of a v2 record-batch header a consumer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the batch's first record.
    pub base_offset: i64,
    /// Bytes of the whole batch including the offset and length fields.
    pub batch_bytes: usize,
    /// Offset of the last record minus `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record, milliseconds since the UNIX epoch.
    pub base_timestamp_ms: i64,
    /// Largest timestamp in the batch, milliseconds since the UNIX epoch.
    pub max_timestamp_ms: i64,
    /// Number of records in the batch.
    pub record_count: i32,
    /// Batch attributes (compression in the low 3 bits, bit 5 = control batch).
    pub attributes: i16,
}

impl BatchHeader {
    /// The offset after the batch's last record: where the next fetch starts.
    pub fn next_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta) + 1
    }

    /// Whether this is a control batch (transaction markers), which carries
    /// no user records.
    pub fn is_control(&self) -> bool {
        self.attributes & (1 << 5) != 0
    }
}

/// Iterates over the complete batches of a record set, yielding each header
/// with the batch's bytes.
#[derive(Debug, Clone)]
pub struct BatchHeaders {
    records: Bytes,
    position: usize,
}

impl BatchHeaders {
    /// Starts at the beginning of `records` (a Fetch partition's `records` field).
    pub fn new(records: Bytes) -> Self {
        Self {
            records,
            position: 0,
        }
    }
}

fn read_i64(bytes: &[u8], at: usize) -> i64 {
    let mut field = [0; 8];
    field.copy_from_slice(&bytes[at..at + 8]);
    i64::from_be_bytes(field)
}

fn read_i32(bytes: &[u8], at: usize) -> i32 {
    let mut field = [0; 4];
    field.copy_from_slice(&bytes[at..at + 4]);
    i32::from_be_bytes(field)
}

impl Iterator for BatchHeaders {
    type Item = Result<(BatchHeader, Bytes), ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.records.get(self.position..)?;
        if rest.len() < BATCH_HEADER_BYTES {
            return None;
        }
        let invalid = |message: String| {
            Some(Err(ClientError::Decode {
                api: ApiKey::Fetch,
                version: -1,
                message,
            }))
        };
        let magic = rest[16];
        if magic != 2 {
            return invalid(format!("record batch magic {magic}, only v2 is supported"));
        }
        let batch_length = read_i32(rest, 8);
        let Some(batch_bytes) = usize::try_from(batch_length)
            .ok()
            .and_then(|length| length.checked_add(12))
            .filter(|bytes| *bytes >= BATCH_HEADER_BYTES)
        else {
            return invalid(format!("record batch length {batch_length}"));
        };
        if rest.len() < batch_bytes {
            // A truncated last batch: the next fetch gets it whole.
            return None;
        }
        let header = BatchHeader {
            base_offset: read_i64(rest, 0),
            batch_bytes,
            last_offset_delta: read_i32(rest, 23),
            base_timestamp_ms: read_i64(rest, 27),
            max_timestamp_ms: read_i64(rest, 35),
            record_count: read_i32(rest, 57),
            attributes: i16::from_be_bytes([rest[21], rest[22]]),
        };
        let start = self.position;
        self.position += batch_bytes;
        Some(Ok((header, self.records.slice(start..start + batch_bytes))))
    }
}

/// A record as a plain producer writes it: not transactional, not
/// idempotent (no producer id, epoch or sequence), create-time timestamp
/// in milliseconds since the UNIX epoch. Offset 0: the batch builder
/// numbers records.
pub fn plain_record(timestamp_ms: i64, key: Option<Bytes>, value: Option<Bytes>) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: timestamp_ms,
        key,
        value,
        headers: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};

    fn encoded_batch(base_timestamp: i64, count: i64, compression: Compression) -> BytesMut {
        let records: Vec<Record> = (0..count)
            .map(|index| Record {
                offset: index,
                sequence: i32::try_from(index).unwrap() - 1,
                ..plain_record(
                    base_timestamp + index,
                    None,
                    Some(Bytes::from_static(b"value")),
                )
            })
            .collect();
        let mut buffer = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression,
        };
        RecordBatchEncoder::encode(&mut buffer, &records, &options).unwrap();
        buffer
    }

    #[test]
    fn headers_of_consecutive_batches_are_read_and_a_truncated_tail_is_skipped() {
        let mut records = encoded_batch(1_000, 3, Compression::None);
        let first_len = records.len();
        let second = encoded_batch(2_000, 5, Compression::Lz4);
        records.extend_from_slice(&second);
        records.extend_from_slice(&second[..30]);
        let headers: Vec<BatchHeader> = BatchHeaders::new(records.freeze())
            .map(|item| item.unwrap().0)
            .collect();
        assert_eq!(headers.len(), 2);
        assert_eq!(headers[0].record_count, 3);
        assert_eq!(headers[0].batch_bytes, first_len);
        assert_eq!(headers[0].base_timestamp_ms, 1_000);
        assert_eq!(headers[0].max_timestamp_ms, 1_002);
        assert_eq!(headers[0].next_offset(), 3);
        assert_eq!(headers[1].record_count, 5);
        assert_eq!(headers[1].attributes & 7, Compression::Lz4 as i16);
    }

    #[test]
    fn records_with_sequences_one_behind_offsets_encode_as_one_batch() {
        // The encoder starts a new batch whenever offset - sequence changes:
        // the producer relies on `sequence = offset - 1` to get one batch
        // with base_sequence -1 (a non-idempotent producer).
        let records = encoded_batch(0, 10, Compression::None);
        assert_eq!(BatchHeaders::new(records.freeze()).count(), 1);
    }

    #[test]
    fn a_batch_with_another_magic_is_an_error() {
        let mut records = encoded_batch(0, 1, Compression::None);
        records[16] = 1;
        let first = BatchHeaders::new(records.freeze()).next().unwrap();
        assert!(first.is_err());
    }
}
