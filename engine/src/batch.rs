//! The v2 record-batch header as a big-endian `zerocopy` struct, and the
//! checks an append makes without decoding records: magic, lengths, CRC32C,
//! counts, size. Invariant: bytes that pass `validate` form exactly one
//! whole batch whose CRC matches; `patch_*` keep the CRC valid.
//!
//! Layout (Kafka's `DefaultRecordBatch`), offsets in bytes:
//! ```text
//!  0 baseOffset i64        17 crc u32            35 maxTimestamp i64
//!  8 batchLength i32       21 attributes i16     43 producerId i64
//! 12 partitionLeaderEpoch  23 lastOffsetDelta    51 producerEpoch i16
//! 16 magic i8              27 baseTimestamp i64  53 baseSequence i32
//!                                                57 recordsCount i32
//! ```
//! The CRC covers `attributes` to the end, so `baseOffset` and
//! `partitionLeaderEpoch` can be patched without recomputing it.

use zerocopy::big_endian::{I16, I32, I64, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Size of the v2 batch header; records start here.
pub const HEADER_BYTES: usize = 61;
/// Bytes before `batchLength` counts: `baseOffset` and `batchLength` itself.
pub const LOG_OVERHEAD: usize = 12;
/// Position of the first byte covered by the CRC (`attributes`).
const CRC_START: usize = 21;
/// The only record-batch format we store.
pub const MAGIC_V2: i8 = 2;
/// `attributes` bit 3: the timestamps are LogAppendTime.
pub const ATTR_LOG_APPEND_TIME: i16 = 1 << 3;
/// `attributes` bits 0..=2: the compression codec (0 = none).
pub const ATTR_COMPRESSION_MASK: i16 = 0x7;
/// `attributes` bit 5: a control batch (transaction marker).
pub const ATTR_CONTROL: i16 = 1 << 5;
/// `attributes` bit 4: a transactional batch.
pub const ATTR_TRANSACTIONAL: i16 = 1 << 4;
/// `attributes` bit 6 (KIP-534): `baseTimestamp` holds the delete horizon,
/// the time after which the cleaner may remove the batch's tombstones (or
/// the batch, a marker of a transaction with no data left).
pub const ATTR_DELETE_HORIZON: i16 = 1 << 6;
/// `baseTimestamp` of a batch without one (Kafka's `NO_TIMESTAMP`).
pub const NO_TIMESTAMP: i64 = -1;
/// First byte position covered by the CRC, for writers of new batches.
pub const CRC_COVERAGE_START: usize = CRC_START;

const _: () = assert!(core::mem::size_of::<BatchHeader>() == HEADER_BYTES);
const _: () = assert!(CRC_START < HEADER_BYTES);

/// The 61-byte v2 record-batch header, read in place from the bytes.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct BatchHeader {
    /// Offset of the first record; assigned by the log on append.
    pub base_offset: I64,
    /// Bytes after this field to the end of the batch (total - 12).
    pub batch_length: I32,
    /// Leader epoch at append; assigned by the log.
    pub partition_leader_epoch: I32,
    /// Record-batch format version; must be 2.
    pub magic: i8,
    /// CRC32C of `attributes` to the end of the batch.
    pub crc: U32,
    /// Compression (bits 0-2), timestamp type (3), transactional (4), control (5).
    pub attributes: I16,
    /// Offset of the last record minus `base_offset`.
    pub last_offset_delta: I32,
    /// Timestamp of the first record (`firstTimestamp`).
    pub base_timestamp: I64,
    /// Largest record timestamp in the batch.
    pub max_timestamp: I64,
    /// Idempotent producer id, or -1.
    pub producer_id: I64,
    /// Producer epoch, or -1.
    pub producer_epoch: I16,
    /// Sequence of the first record, or -1.
    pub base_sequence: I32,
    /// Number of records in the batch.
    pub records_count: I32,
}

impl BatchHeader {
    /// Reads the header at the start of `bytes`, if there are 61 bytes.
    pub fn read(bytes: &[u8]) -> Option<&BatchHeader> {
        BatchHeader::ref_from_prefix(bytes)
            .ok()
            .map(|(header, _)| header)
    }

    /// Total size of the batch in bytes, as its header claims (may be
    /// negative or absurd on untrusted bytes; callers check).
    pub fn total_bytes(&self) -> i64 {
        i64::from(self.batch_length.get()) + LOG_OVERHEAD as i64
    }

    /// Offset of the last record, as the header claims.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .get()
            .wrapping_add(i64::from(self.last_offset_delta.get()))
    }

    /// Whether the records are compressed (attributes bits 0-2 non-zero).
    pub fn is_compressed(&self) -> bool {
        self.attributes.get() & ATTR_COMPRESSION_MASK != 0
    }

    /// Whether this is a control batch (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes.get() & ATTR_CONTROL != 0
    }

    /// Whether the batch belongs to a transaction (its records are dropped
    /// by read_committed consumers if the transaction aborts).
    pub fn is_transactional(&self) -> bool {
        self.attributes.get() & ATTR_TRANSACTIONAL != 0
    }

    /// Whether the timestamps are LogAppendTime.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes.get() & ATTR_LOG_APPEND_TIME != 0
    }

    /// The delete horizon the cleaner wrote into the batch (KIP-534: the
    /// delete-horizon attribute bit set, the horizon in `baseTimestamp`),
    /// in ms since the epoch.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes.get() & ATTR_DELETE_HORIZON != 0).then(|| self.base_timestamp.get())
    }
}

/// Why bytes are not a valid batch. `&'static str` reasons keep validation
/// free of allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFault {
    /// Fewer bytes than a header, or than `batchLength` claims.
    Truncated,
    /// Any other defect, with a reason for the operator.
    Corrupt(&'static str),
    /// Larger than the configured maximum.
    TooLarge {
        /// Batch size in bytes.
        size: usize,
    },
}

/// Checks the batch at the start of `bytes` and returns its total size.
///
/// Checks, in order: a whole header is present, magic is 2, `batchLength`
/// covers at least the header and fits in `bytes`, size <= `max_bytes`,
/// `recordsCount` > 0 and `lastOffsetDelta == recordsCount - 1`, CRC32C.
///
/// # Errors
/// The first check that fails, as a `BatchFault`.
pub fn validate(bytes: &[u8], max_bytes: usize) -> Result<usize, BatchFault> {
    check(bytes, max_bytes, false)
}

/// `validate` for a batch read back from a segment, where compaction may
/// have removed records: `recordsCount` may be below `lastOffsetDelta + 1`
/// (the header keeps the original last offset, as Kafka's cleaner does),
/// down to 0 (an empty batch the cleaner kept for its producer state, see
/// [`write_empty`]).
///
/// # Errors
/// The first check that fails, as a `BatchFault`.
pub fn validate_stored(bytes: &[u8], max_bytes: usize) -> Result<usize, BatchFault> {
    check(bytes, max_bytes, true)
}

/// `validate`, and with `compacted` the relaxed record count of
/// `validate_stored`.
fn check(bytes: &[u8], max_bytes: usize, compacted: bool) -> Result<usize, BatchFault> {
    let header = BatchHeader::read(bytes).ok_or(BatchFault::Truncated)?;
    if header.magic != MAGIC_V2 {
        return Err(BatchFault::Corrupt("magic is not 2"));
    }
    let total = header.total_bytes();
    if total < HEADER_BYTES as i64 {
        return Err(BatchFault::Corrupt("batchLength shorter than the header"));
    }
    let total = usize::try_from(total).map_err(|_| BatchFault::Corrupt("batchLength overflows"))?;
    if total > bytes.len() {
        return Err(BatchFault::Truncated);
    }
    if total > max_bytes {
        return Err(BatchFault::TooLarge { size: total });
    }
    let count = header.records_count.get();
    if count < 0 || (count == 0 && !compacted) {
        return Err(BatchFault::Corrupt("recordsCount is not positive"));
    }
    if count == 0 && total != HEADER_BYTES {
        return Err(BatchFault::Corrupt("an empty batch holds bytes"));
    }
    let last_offset_delta = header.last_offset_delta.get();
    let agrees = if compacted {
        last_offset_delta >= count - 1
    } else {
        last_offset_delta == count - 1
    };
    if !agrees {
        return Err(BatchFault::Corrupt(
            "lastOffsetDelta disagrees with recordsCount",
        ));
    }
    if crc32c::crc32c(&bytes[CRC_START..total]) != header.crc.get() {
        return Err(BatchFault::Corrupt("CRC32C mismatch"));
    }
    debug_assert!(total >= HEADER_BYTES);
    Ok(total)
}

/// Sets `baseOffset` and `partitionLeaderEpoch` of the whole batch `batch`
/// (neither is covered by the CRC, so it stays valid).
///
/// # Panics
/// If `batch` is shorter than a header (callers validated it).
pub fn patch_offset_and_epoch(batch: &mut [u8], base_offset: i64, leader_epoch: i32) {
    assert!(
        batch.len() >= HEADER_BYTES,
        "patching a batch shorter than its header"
    );
    assert!(base_offset >= 0, "negative base offset {base_offset}");
    let (header, _) = BatchHeader::mut_from_prefix(batch).expect("length checked above");
    header.base_offset.set(base_offset);
    header.partition_leader_epoch.set(leader_epoch);
}

/// Stamps LogAppendTime: sets `maxTimestamp` to `now_ms`, sets the
/// timestamp-type bit, and recomputes the CRC (both fields are covered).
///
/// # Panics
/// If `batch` is shorter than a header.
pub fn patch_log_append_time(batch: &mut [u8], now_ms: i64) {
    assert!(
        batch.len() >= HEADER_BYTES,
        "patching a batch shorter than its header"
    );
    {
        let (header, _) = BatchHeader::mut_from_prefix(&mut *batch).expect("length checked above");
        header.max_timestamp.set(now_ms);
        let attributes = header.attributes.get() | ATTR_LOG_APPEND_TIME;
        header.attributes.set(attributes);
    }
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    let (header, _) = BatchHeader::mut_from_prefix(batch).expect("length checked above");
    header.crc.set(crc);
}

/// Seals a batch whose records were replaced (recompressed): sets
/// `batchLength` to the length of `batch`, the compression bits of
/// `attributes` to `codec` (every other attribute bit is kept), and
/// recomputes the CRC. Offsets, timestamps and producer fields are untouched.
///
/// # Panics
/// If `batch` is shorter than a header or too long for `batchLength`, or
/// `codec` has bits outside the compression mask.
pub fn seal_with_codec(batch: &mut [u8], codec: i16) {
    assert!(
        batch.len() >= HEADER_BYTES,
        "sealing a batch shorter than its header"
    );
    assert!(
        codec & !ATTR_COMPRESSION_MASK == 0,
        "codec {codec} out of range"
    );
    let batch_length = i32::try_from(batch.len() - LOG_OVERHEAD).expect("batch under 2 GiB");
    {
        let (header, _) = BatchHeader::mut_from_prefix(&mut *batch).expect("length checked above");
        header.batch_length.set(batch_length);
        let attributes = (header.attributes.get() & !ATTR_COMPRESSION_MASK) | codec;
        header.attributes.set(attributes);
    }
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    let (header, _) = BatchHeader::mut_from_prefix(batch).expect("length checked above");
    header.crc.set(crc);
}

/// Appends to `out` the empty form of the batch `header` heads, as Kafka's
/// cleaner keeps a batch whose records it removed but whose producer state
/// (producer id, epoch, sequences through `lastOffsetDelta`) must survive
/// (`DefaultRecordBatch.writeEmptyHeader`): the same offsets, producer
/// fields, leader epoch, timestamp type, `maxTimestamp` and transactional
/// and control bits; no records, no compression, no `baseTimestamp`, no
/// delete horizon.
pub fn write_empty(header: &BatchHeader, out: &mut Vec<u8>) {
    let start = out.len();
    let keep = ATTR_LOG_APPEND_TIME | ATTR_TRANSACTIONAL | ATTR_CONTROL;
    let mut empty = *header;
    empty.batch_length.set((HEADER_BYTES - LOG_OVERHEAD) as i32);
    empty.attributes.set(header.attributes.get() & keep);
    empty.base_timestamp.set(NO_TIMESTAMP);
    empty.records_count.set(0);
    empty.crc.set(0);
    out.extend_from_slice(empty.as_bytes());
    let crc = crc32c::crc32c(&out[start + CRC_START..]);
    out[start + 17..start + CRC_START].copy_from_slice(&crc.to_be_bytes());
    debug_assert_eq!(validate_stored(&out[start..], usize::MAX), Ok(HEADER_BYTES));
}

/// Reads a zigzag varint (Kafka's `varint`/`varlong`) at `*pos`, advancing it.
fn read_varlong(bytes: &[u8], pos: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    None
}

/// Finds the first record of the uncompressed, CreateTime batch `batch`
/// whose timestamp is >= `target_ms`, decoding only the record prefixes
/// (length, attributes, timestampDelta, offsetDelta).
///
/// Returns `(offset, timestamp)`, or `None` if no record qualifies or the
/// records do not decode (callers then fall back to batch granularity).
pub fn first_record_at_or_after(batch: &[u8], target_ms: i64) -> Option<(i64, i64)> {
    let header = BatchHeader::read(batch)?;
    let base_offset = header.base_offset.get();
    let base_timestamp = header.base_timestamp.get();
    let count = header.records_count.get();
    let mut pos = HEADER_BYTES;
    for _ in 0..count {
        let length = usize::try_from(read_varlong(batch, &mut pos)?).ok()?;
        let record_start = pos;
        pos = pos.checked_add(1)?; // record attributes
        let timestamp_delta = read_varlong(batch, &mut pos)?;
        let offset_delta = read_varlong(batch, &mut pos)?;
        let timestamp = base_timestamp.checked_add(timestamp_delta)?;
        if timestamp >= target_ms {
            return Some((base_offset.checked_add(offset_delta)?, timestamp));
        }
        pos = record_start.checked_add(length)?;
        if pos > batch.len() {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_batch::BatchBuilder;

    fn good_batch() -> Vec<u8> {
        BatchBuilder::new(1_000)
            .record(b"k", b"value-1", 0)
            .record(b"k", b"value-2", 5)
            .build()
    }

    #[test]
    fn good_batch_validates_with_its_size() {
        let batch = good_batch();
        assert_eq!(validate(&batch, 1 << 20), Ok(batch.len()));
    }

    #[test]
    fn bad_crc_is_corrupt() {
        let mut batch = good_batch();
        let last = batch.len() - 1;
        batch[last] ^= 0xff;
        assert_eq!(
            validate(&batch, 1 << 20),
            Err(BatchFault::Corrupt("CRC32C mismatch"))
        );
    }

    #[test]
    fn bad_magic_is_corrupt() {
        let mut batch = good_batch();
        batch[16] = 1;
        assert_eq!(
            validate(&batch, 1 << 20),
            Err(BatchFault::Corrupt("magic is not 2"))
        );
    }

    #[test]
    fn length_longer_than_bytes_is_truncated() {
        let mut batch = good_batch();
        let claimed = (batch.len() - LOG_OVERHEAD + 10) as i32;
        batch[8..12].copy_from_slice(&claimed.to_be_bytes());
        assert_eq!(validate(&batch, 1 << 20), Err(BatchFault::Truncated));
        assert_eq!(validate(&batch[..30], 1 << 20), Err(BatchFault::Truncated));
    }

    #[test]
    fn length_shorter_than_header_is_corrupt() {
        let mut batch = good_batch();
        batch[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert!(matches!(
            validate(&batch, 1 << 20),
            Err(BatchFault::Corrupt(_))
        ));
        batch[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(matches!(
            validate(&batch, 1 << 20),
            Err(BatchFault::Corrupt(_))
        ));
    }

    #[test]
    fn shorter_length_fails_crc() {
        let mut batch = good_batch();
        let claimed = (batch.len() - LOG_OVERHEAD - 3) as i32;
        batch[8..12].copy_from_slice(&claimed.to_be_bytes());
        assert_eq!(
            validate(&batch, 1 << 20),
            Err(BatchFault::Corrupt("CRC32C mismatch"))
        );
    }

    #[test]
    fn count_mismatch_is_corrupt() {
        let batch = BatchBuilder::new(0)
            .record(b"", b"a", 0)
            .last_offset_delta(3)
            .build();
        assert_eq!(
            validate(&batch, 1 << 20),
            Err(BatchFault::Corrupt(
                "lastOffsetDelta disagrees with recordsCount"
            ))
        );
        let batch = BatchBuilder::new(0).records_count_override(0).build();
        assert_eq!(
            validate(&batch, 1 << 20),
            Err(BatchFault::Corrupt("recordsCount is not positive"))
        );
    }

    #[test]
    fn stored_batches_may_have_fewer_records_than_offsets() {
        let batch = BatchBuilder::new(0)
            .record(b"k", b"a", 0)
            .last_offset_delta(3)
            .build();
        assert!(validate(&batch, 1 << 20).is_err());
        assert_eq!(validate_stored(&batch, 1 << 20), Ok(batch.len()));
        let batch = BatchBuilder::new(0)
            .record(b"k", b"a", 0)
            .record(b"k", b"b", 0)
            .last_offset_delta(0)
            .build();
        assert!(validate_stored(&batch, 1 << 20).is_err());
    }

    #[test]
    fn an_empty_batch_keeps_offsets_and_producer_fields_and_is_valid_only_when_stored() {
        let mut batch = BatchBuilder::new(1_000)
            .record(b"k", b"a", 0)
            .record(b"k", b"b", 5)
            .build();
        patch_offset_and_epoch(&mut batch, 40, 3);
        let header = *BatchHeader::read(&batch).expect("header");
        let mut empty = Vec::new();
        write_empty(&header, &mut empty);
        assert_eq!(empty.len(), HEADER_BYTES);
        assert_eq!(validate_stored(&empty, 1 << 20), Ok(HEADER_BYTES));
        assert_eq!(
            validate(&empty, 1 << 20),
            Err(BatchFault::Corrupt("recordsCount is not positive"))
        );
        let read = BatchHeader::read(&empty).expect("header");
        assert_eq!(read.base_offset.get(), 40);
        assert_eq!(read.last_offset(), 41);
        assert_eq!(read.partition_leader_epoch.get(), 3);
        assert_eq!(read.producer_id.get(), header.producer_id.get());
        assert_eq!(read.base_sequence.get(), header.base_sequence.get());
        assert_eq!(read.max_timestamp.get(), 1_005);
        assert_eq!(read.base_timestamp.get(), NO_TIMESTAMP);
        assert_eq!(read.records_count.get(), 0);
        assert_eq!(read.delete_horizon_ms(), None);
    }

    #[test]
    fn too_large_batch_is_refused() {
        let batch = good_batch();
        assert_eq!(
            validate(&batch, batch.len() - 1),
            Err(BatchFault::TooLarge { size: batch.len() })
        );
    }

    #[test]
    fn patching_offset_and_epoch_keeps_crc_valid() {
        let mut batch = good_batch();
        patch_offset_and_epoch(&mut batch, 42, 7);
        let header = BatchHeader::read(&batch).expect("header");
        assert_eq!(header.base_offset.get(), 42);
        assert_eq!(header.partition_leader_epoch.get(), 7);
        assert_eq!(header.last_offset(), 43);
        assert!(validate(&batch, 1 << 20).is_ok());
    }

    #[test]
    fn log_append_time_patch_recomputes_crc() {
        let mut batch = good_batch();
        patch_log_append_time(&mut batch, 99_999);
        let header = BatchHeader::read(&batch).expect("header");
        assert_eq!(header.max_timestamp.get(), 99_999);
        assert!(header.is_log_append_time());
        assert!(validate(&batch, 1 << 20).is_ok());
    }

    #[test]
    fn first_record_at_or_after_decodes_timestamp_deltas() {
        let mut batch = BatchBuilder::new(1_000)
            .record(b"", b"a", 0)
            .record(b"", b"b", 10)
            .record(b"", b"c", 20)
            .build();
        patch_offset_and_epoch(&mut batch, 100, 0);
        assert_eq!(first_record_at_or_after(&batch, 0), Some((100, 1_000)));
        assert_eq!(first_record_at_or_after(&batch, 1_005), Some((101, 1_010)));
        assert_eq!(first_record_at_or_after(&batch, 1_020), Some((102, 1_020)));
        assert_eq!(first_record_at_or_after(&batch, 1_021), None);
    }
}
