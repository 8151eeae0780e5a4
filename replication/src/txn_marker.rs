//! Transaction markers: the control batches a transaction coordinator has
//! written (through WriteTxnMarkers) to every partition of a transaction to
//! end it, as Kafka encodes them (`EndTransactionMarker`,
//! `ControlRecordType`): one record in a batch with the control and
//! transactional attribute bits and the producer's id and epoch (base
//! sequence -1); its key is `version i16 (0) | type i16` (0 ABORT, 1
//! COMMIT), its value `version i16 (0) | coordinator_epoch i32`.
//!
//! Decoding is of bytes from a log or a follower's fetch: it never panics
//! and answers `None` for a control batch it does not understand (Kafka
//! skips unknown control types too).

use skein_engine::{BatchHeader, Records, BATCH_HEADER_BYTES};

/// `attributes` bit 4: a transactional batch.
pub const ATTR_TRANSACTIONAL: i16 = 1 << 4;
/// `attributes` bit 5: a control batch.
const ATTR_CONTROL: i16 = 1 << 5;
/// Bytes of a marker record's key.
const KEY_BYTES: usize = 4;
/// Bytes of a marker record's value.
const VALUE_BYTES: usize = 6;

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnResult {
    /// Its records are to be dropped by read_committed consumers.
    Abort,
    /// Its records are visible.
    Commit,
}

impl TxnResult {
    /// Kafka's `ControlRecordType` id.
    pub fn control_type(self) -> i16 {
        match self {
            TxnResult::Abort => 0,
            TxnResult::Commit => 1,
        }
    }
}

/// A transaction marker as decoded from a control batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnMarker {
    /// Commit or abort.
    pub result: TxnResult,
    /// The coordinator epoch that wrote it.
    pub coordinator_epoch: i32,
}

/// Whether the batch has the transactional attribute bit.
pub fn is_transactional(header: &BatchHeader) -> bool {
    header.attributes.get() & ATTR_TRANSACTIONAL != 0
}

/// The marker of the whole control batch `batch` (header included), `None`
/// for a data batch or a control batch that is not a well-formed
/// commit/abort marker (a KIP-890 or unknown control type).
pub fn decode(batch: &[u8]) -> Option<TxnMarker> {
    let header = BatchHeader::read(batch)?;
    if !header.is_control() || header.is_compressed() {
        return None;
    }
    let mut records = Records::new(batch).ok()?;
    let record = records.next()?.ok()?;
    let key = record.key?;
    let value = record.value?;
    let version = i16::from_be_bytes(key.get(0..2)?.try_into().ok()?);
    let control_type = i16::from_be_bytes(key.get(2..4)?.try_into().ok()?);
    if version != 0 || key.len() != KEY_BYTES || value.len() < VALUE_BYTES {
        return None;
    }
    let result = match control_type {
        0 => TxnResult::Abort,
        1 => TxnResult::Commit,
        _ => return None,
    };
    let coordinator_epoch = i32::from_be_bytes(value.get(2..6)?.try_into().ok()?);
    Some(TxnMarker {
        result,
        coordinator_epoch,
    })
}

/// The control batch of a marker, as a coordinator's WriteTxnMarkers has
/// it written (base offset 0, to be assigned by the log).
pub fn encode(
    producer_id: i64,
    producer_epoch: i16,
    marker: TxnMarker,
    timestamp_ms: i64,
) -> Vec<u8> {
    assert!(producer_id >= 0, "a marker names a producer");
    let mut record = Vec::with_capacity(24);
    record.push(0); // attributes
    record.push(0); // timestamp delta (varint 0)
    record.push(0); // offset delta (varint 0)
    record.push(zigzag(KEY_BYTES));
    record.extend_from_slice(&0i16.to_be_bytes());
    record.extend_from_slice(&marker.result.control_type().to_be_bytes());
    record.push(zigzag(VALUE_BYTES));
    record.extend_from_slice(&0i16.to_be_bytes());
    record.extend_from_slice(&marker.coordinator_epoch.to_be_bytes());
    record.push(0); // headers
    let mut batch = Vec::with_capacity(BATCH_HEADER_BYTES + 1 + record.len());
    let total = BATCH_HEADER_BYTES + 1 + record.len();
    batch.extend_from_slice(&0i64.to_be_bytes()); // base offset
    let batch_length = i32::try_from(total - 12).expect("a marker is small");
    batch.extend_from_slice(&batch_length.to_be_bytes());
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    batch.push(2); // magic
    batch.extend_from_slice(&0u32.to_be_bytes()); // crc, below
    batch.extend_from_slice(&(ATTR_CONTROL | ATTR_TRANSACTIONAL).to_be_bytes());
    batch.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
    batch.extend_from_slice(&timestamp_ms.to_be_bytes());
    batch.extend_from_slice(&timestamp_ms.to_be_bytes());
    batch.extend_from_slice(&producer_id.to_be_bytes());
    batch.extend_from_slice(&producer_epoch.to_be_bytes());
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    batch.extend_from_slice(&1i32.to_be_bytes()); // records count
    assert_eq!(batch.len(), BATCH_HEADER_BYTES);
    batch.push(zigzag(record.len()));
    batch.extend_from_slice(&record);
    assert_eq!(batch.len(), total);
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// The one-byte zigzag varint of a small length.
fn zigzag(length: usize) -> u8 {
    let encoded = length * 2;
    assert!(encoded < 0x80, "one varint byte");
    u8::try_from(encoded).expect("checked above")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_marker_is_a_valid_control_batch_that_decodes_to_itself() {
        for result in [TxnResult::Abort, TxnResult::Commit] {
            let marker = TxnMarker {
                result,
                coordinator_epoch: 7,
            };
            let batch = encode(42, 3, marker, 1_000);
            assert_eq!(
                skein_engine::validate_batch(&batch, 1 << 20),
                Ok(batch.len())
            );
            let header = BatchHeader::read(&batch).expect("header");
            assert!(header.is_control());
            assert!(is_transactional(header));
            assert_eq!(header.producer_id.get(), 42);
            assert_eq!(header.producer_epoch.get(), 3);
            assert_eq!(decode(&batch), Some(marker));
        }
    }

    #[test]
    fn a_data_batch_or_an_unknown_control_type_is_no_marker() {
        let data = skein_engine::test_batch::BatchBuilder::new(0)
            .record(b"k", b"v", 0)
            .build();
        assert_eq!(decode(&data), None);
        let mut batch = encode(
            1,
            0,
            TxnMarker {
                result: TxnResult::Commit,
                coordinator_epoch: 0,
            },
            0,
        );
        // The control type's low byte: 1 (commit) -> 5 (unknown).
        let position = BATCH_HEADER_BYTES + 1 + 3 + 1 + 3;
        assert_eq!(batch[position], 1);
        batch[position] = 5;
        assert_eq!(decode(&batch), None);
        assert_eq!(decode(&batch[..30]), None, "truncated");
    }
}
