//! Test support: a builder of real v2 record batches (varint records,
//! correct CRC32C), so tests in every crate exercise the bytes a Kafka client
//! would send. Compiled for this crate's tests and with the `test-support`
//! feature; never in production builds.

use crate::batch::{ATTR_COMPRESSION_MASK, HEADER_BYTES, LOG_OVERHEAD, MAGIC_V2};
use crate::record::put_varlong;

/// One record to encode.
#[derive(Debug, Clone)]
struct Record {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp_delta: i64,
}

/// Builds one v2 record batch.
///
/// ```
/// # use skein_engine::test_batch::BatchBuilder;
/// let batch = BatchBuilder::new(1_700_000_000_000).record(b"key", b"value", 0).build();
/// assert_eq!(batch[16], 2); // magic
/// ```
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    base_timestamp: i64,
    records: Vec<Record>,
    attributes: i16,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    last_offset_delta: Option<i32>,
    records_count: Option<i32>,
}

impl BatchBuilder {
    /// A batch whose first record has timestamp `base_timestamp` (ms).
    pub fn new(base_timestamp: i64) -> BatchBuilder {
        BatchBuilder {
            base_timestamp,
            records: Vec::new(),
            attributes: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            last_offset_delta: None,
            records_count: None,
        }
    }

    /// Adds a record with `key` (empty = null key), `value`, and a timestamp
    /// `timestamp_delta` ms after the base timestamp.
    pub fn record(mut self, key: &[u8], value: &[u8], timestamp_delta: i64) -> BatchBuilder {
        let key = if key.is_empty() {
            None
        } else {
            Some(key.to_vec())
        };
        self.records.push(Record {
            key,
            value: Some(value.to_vec()),
            timestamp_delta,
        });
        self
    }

    /// Adds a tombstone: a record with `key` and a null value.
    pub fn tombstone(mut self, key: &[u8], timestamp_delta: i64) -> BatchBuilder {
        self.records.push(Record {
            key: Some(key.to_vec()),
            value: None,
            timestamp_delta,
        });
        self
    }

    /// Adds `count` records of `value_bytes` bytes each (null key,
    /// timestamps 0, 1, 2, ... ms after the base), filled from `seed`.
    pub fn records(mut self, count: usize, value_bytes: usize, seed: u64) -> BatchBuilder {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for i in 0..count {
            let value: Vec<u8> = (0..value_bytes)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let delta = i64::try_from(i).expect("small count");
            self.records.push(Record {
                key: None,
                value: Some(value),
                timestamp_delta: delta,
            });
        }
        self
    }

    /// Sets the compression bits (the payload is not actually compressed:
    /// the log never decodes compressed records).
    pub fn compression(mut self, codec: i16) -> BatchBuilder {
        self.attributes =
            (self.attributes & !ATTR_COMPRESSION_MASK) | (codec & ATTR_COMPRESSION_MASK);
        self
    }

    /// Sets idempotent-producer fields.
    pub fn producer(
        mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> BatchBuilder {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Sets the transactional attribute bit.
    pub fn transactional(mut self) -> BatchBuilder {
        self.attributes |= crate::batch::ATTR_TRANSACTIONAL;
        self
    }

    /// A transaction marker of `producer_id` at `producer_epoch`, as a
    /// coordinator writes it: a transactional control batch of one record
    /// whose key is `version 0 | type` (0 abort, 1 commit) and whose value
    /// is `version 0 | coordinator epoch 0`, base sequence -1.
    pub fn marker(producer_id: i64, producer_epoch: i16, commit: bool) -> BatchBuilder {
        let control_type: i16 = if commit { 1 } else { 0 };
        let mut key = 0i16.to_be_bytes().to_vec();
        key.extend_from_slice(&control_type.to_be_bytes());
        let value = [0u8; 6];
        let mut builder = BatchBuilder::new(0)
            .record(&key, &value, 0)
            .producer(producer_id, producer_epoch, -1)
            .transactional();
        builder.attributes |= crate::batch::ATTR_CONTROL;
        builder
    }

    /// Writes a wrong `lastOffsetDelta` (for negative tests).
    pub fn last_offset_delta(mut self, delta: i32) -> BatchBuilder {
        self.last_offset_delta = Some(delta);
        self
    }

    /// Writes a wrong `recordsCount` (for negative tests).
    pub fn records_count_override(mut self, count: i32) -> BatchBuilder {
        self.records_count = Some(count);
        self
    }

    /// Encodes the batch with baseOffset 0, partitionLeaderEpoch -1 and a
    /// correct CRC32C.
    pub fn build(&self) -> Vec<u8> {
        let mut body = Vec::new();
        let mut max_timestamp = self.base_timestamp;
        for (i, record) in self.records.iter().enumerate() {
            let mut encoded = Vec::new();
            encoded.push(0u8); // record attributes
            put_varlong(&mut encoded, record.timestamp_delta);
            put_varlong(&mut encoded, i64::try_from(i).expect("small index"));
            put_bytes(&mut encoded, record.key.as_deref());
            put_bytes(&mut encoded, record.value.as_deref());
            put_varlong(&mut encoded, 0); // header count
            put_varlong(
                &mut body,
                i64::try_from(encoded.len()).expect("small record"),
            );
            body.extend_from_slice(&encoded);
            max_timestamp = max_timestamp.max(self.base_timestamp + record.timestamp_delta);
        }
        let count = i32::try_from(self.records.len()).expect("small batch");
        let records_count = self.records_count.unwrap_or(count);
        let last_offset_delta = self.last_offset_delta.unwrap_or((records_count - 1).max(0));

        let mut batch = Vec::with_capacity(HEADER_BYTES + body.len());
        batch.extend_from_slice(&0i64.to_be_bytes());
        let batch_length =
            i32::try_from(HEADER_BYTES - LOG_OVERHEAD + body.len()).expect("small batch");
        batch.extend_from_slice(&batch_length.to_be_bytes());
        batch.extend_from_slice(&(-1i32).to_be_bytes());
        batch.push(MAGIC_V2 as u8);
        batch.extend_from_slice(&0u32.to_be_bytes()); // CRC, filled below
        batch.extend_from_slice(&self.attributes.to_be_bytes());
        batch.extend_from_slice(&last_offset_delta.to_be_bytes());
        batch.extend_from_slice(&self.base_timestamp.to_be_bytes());
        batch.extend_from_slice(&max_timestamp.to_be_bytes());
        batch.extend_from_slice(&self.producer_id.to_be_bytes());
        batch.extend_from_slice(&self.producer_epoch.to_be_bytes());
        batch.extend_from_slice(&self.base_sequence.to_be_bytes());
        batch.extend_from_slice(&records_count.to_be_bytes());
        assert_eq!(batch.len(), HEADER_BYTES);
        batch.extend_from_slice(&body);
        let crc = crc32c::crc32c(&batch[21..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
        batch
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varlong(out, -1),
        Some(bytes) => {
            put_varlong(out, i64::try_from(bytes.len()).expect("small field"));
            out.extend_from_slice(bytes);
        }
    }
}

/// Makes `batch` (a header followed by any body) whole again after a test
/// changed its body: sets `batchLength` to its length and recomputes the CRC,
/// keeping its codec bits.
///
/// # Panics
/// If `batch` is shorter than a header.
pub fn reseal(batch: &mut [u8]) {
    let header = crate::batch::BatchHeader::read(batch).expect("a whole header");
    let codec = header.attributes.get() & ATTR_COMPRESSION_MASK;
    crate::batch::seal_with_codec(batch, codec);
}
