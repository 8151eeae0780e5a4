//! The records inside an uncompressed v2 record batch, decoded with every
//! length checked against the bytes present. Invariant: a `RecordView` is
//! handed out only for a record whose every field (varints, key, value,
//! headers) lies inside its own `length` and inside the batch; nothing is
//! allocated, and no length read from the bytes is trusted before it is
//! checked, because the bytes come from disk or the network.
//!
//! Layout of one record (Kafka's `DefaultRecord`):
//! ```text
//! length varint | attributes i8 | timestampDelta varlong | offsetDelta varint
//! keyLength varint (-1 = null) | key | valueLength varint (-1 = null) | value
//! headerCount varint | headers: (keyLength varint, key, valueLength varint, value)*
//! ```

use crate::batch::{BatchHeader, HEADER_BYTES};

/// Why the records of a batch do not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordFault {
    /// The bytes end inside a record (or the header).
    #[error("record {record} is truncated")]
    Truncated {
        /// Index of the record within the batch.
        record: u32,
    },
    /// A varint runs longer than 10 bytes or past the value range.
    #[error("record {record} has a malformed varint")]
    BadVarint {
        /// Index of the record within the batch.
        record: u32,
    },
    /// A length is negative where it may not be, or points past its record.
    #[error("record {record} has a bad length: {reason}")]
    BadLength {
        /// Index of the record within the batch.
        record: u32,
        /// Which length.
        reason: &'static str,
    },
    /// The batch holds bytes after its last record, or fewer records than
    /// `recordsCount`.
    #[error("records disagree with recordsCount: {reason}")]
    CountMismatch {
        /// What disagrees.
        reason: &'static str,
    },
    /// Offset deltas do not increase or exceed `lastOffsetDelta`.
    #[error("record {record} has offset delta {offset_delta} out of order")]
    OffsetDelta {
        /// Index of the record within the batch.
        record: u32,
        /// The offending delta.
        offset_delta: i64,
    },
}

/// One decoded record, borrowing the batch's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// The whole encoded record, its length prefix included: copying these
    /// bytes into a batch with the same base offset and base timestamp
    /// reproduces the record exactly.
    pub encoded: &'a [u8],
    /// Offset minus the batch's base offset.
    pub offset_delta: i64,
    /// Timestamp minus the batch's base timestamp.
    pub timestamp_delta: i64,
    /// The key, or `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// The value, or `None` for a null value (a tombstone when the key is
    /// present).
    pub value: Option<&'a [u8]>,
    /// Whether the value is null.
    pub value_is_null: bool,
}

/// Iterates the records of one uncompressed batch (the caller checked the
/// batch's length, CRC and compression). Yields `Err` once and then stops.
#[derive(Debug)]
pub struct Records<'a> {
    body: &'a [u8],
    position: usize,
    remaining: u32,
    index: u32,
    last_offset_delta: i64,
    previous_offset_delta: Option<i64>,
    failed: bool,
}

impl<'a> Records<'a> {
    /// The records of `batch`, one whole batch starting with its header.
    ///
    /// # Errors
    /// `Truncated` if `batch` is shorter than a header; `CountMismatch` for
    /// a negative `recordsCount`.
    pub fn new(batch: &'a [u8]) -> Result<Records<'a>, RecordFault> {
        let header = BatchHeader::read(batch).ok_or(RecordFault::Truncated { record: 0 })?;
        let remaining =
            u32::try_from(header.records_count.get()).map_err(|_| RecordFault::CountMismatch {
                reason: "negative recordsCount",
            })?;
        Ok(Records {
            body: &batch[HEADER_BYTES..],
            position: 0,
            remaining,
            index: 0,
            last_offset_delta: i64::from(header.last_offset_delta.get()),
            previous_offset_delta: None,
            failed: false,
        })
    }

    fn next_record(&mut self) -> Result<RecordView<'a>, RecordFault> {
        let record = self.index;
        let truncated = RecordFault::Truncated { record };
        let start = self.position;
        let mut cursor = Cursor {
            bytes: self.body,
            position: start,
            record,
        };
        let length = cursor.varint()?;
        let length = usize::try_from(length).map_err(|_| RecordFault::BadLength {
            record,
            reason: "negative record length",
        })?;
        let end = cursor
            .position
            .checked_add(length)
            .filter(|&end| end <= self.body.len())
            .ok_or(truncated)?;
        // From here on every field must lie inside this record.
        let mut cursor = Cursor {
            bytes: &self.body[..end],
            position: cursor.position,
            record,
        };
        cursor.take(1)?; // attributes
        let timestamp_delta = cursor.varint()?;
        let offset_delta = cursor.varint()?;
        let in_order = self.previous_offset_delta.is_none_or(|p| offset_delta > p);
        if offset_delta < 0 || offset_delta > self.last_offset_delta || !in_order {
            return Err(RecordFault::OffsetDelta {
                record,
                offset_delta,
            });
        }
        let key = cursor.nullable_bytes("key length")?;
        let value = cursor.nullable_bytes("value length")?;
        let header_count = cursor.varint()?;
        if header_count < 0 {
            return Err(RecordFault::BadLength {
                record,
                reason: "negative header count",
            });
        }
        // Each header takes at least two bytes, so a count past the bytes
        // left is caught by the loop running out of bytes, not by a bound
        // we trust.
        for _ in 0..header_count {
            cursor.nullable_bytes("header key length")?;
            cursor.nullable_bytes("header value length")?;
        }
        if cursor.position != end {
            return Err(RecordFault::BadLength {
                record,
                reason: "record length disagrees with its fields",
            });
        }
        self.position = end;
        self.previous_offset_delta = Some(offset_delta);
        debug_assert!(end > start);
        Ok(RecordView {
            encoded: &self.body[start..end],
            offset_delta,
            timestamp_delta,
            key,
            value,
            value_is_null: value.is_none(),
        })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordView<'a>, RecordFault>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.remaining == 0 {
            if self.position != self.body.len() {
                self.failed = true;
                return Some(Err(RecordFault::CountMismatch {
                    reason: "bytes after the last record",
                }));
            }
            return None;
        }
        let result = self.next_record();
        match result {
            Ok(_) => {
                self.remaining -= 1;
                self.index += 1;
            }
            Err(_) => self.failed = true,
        }
        Some(result)
    }
}

impl RecordView<'_> {
    /// Appends this record to `out` re-encoded with `timestamp_delta` in
    /// place of its own (every other field byte-identical, the length
    /// prefix recomputed): what moving a batch's base timestamp needs
    /// (KIP-534's delete horizon is written there).
    pub fn encode_with_timestamp_delta(&self, timestamp_delta: i64, out: &mut Vec<u8>) {
        let mut cursor = Cursor {
            bytes: self.encoded,
            position: 0,
            record: 0,
        };
        // The view was decoded from these bytes: they decode again.
        cursor.varint().expect("a decoded record's length");
        let attributes = cursor.take(1).expect("a decoded record's attributes")[0];
        cursor.varint().expect("a decoded record's timestamp delta");
        let rest = &self.encoded[cursor.position..];
        let mut delta = Vec::with_capacity(10);
        put_varlong(&mut delta, timestamp_delta);
        let length = i64::try_from(1 + delta.len() + rest.len()).expect("a record under 2 GiB");
        let start = out.len();
        put_varlong(out, length);
        out.push(attributes);
        out.extend_from_slice(&delta);
        out.extend_from_slice(rest);
        debug_assert!(out.len() > start + rest.len());
    }
}

/// Appends the zigzag varint (Kafka's `varint`/`varlong`) of `value`.
pub(crate) fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    loop {
        let byte = (zigzag & 0x7f) as u8;
        zigzag >>= 7;
        if zigzag == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A read position inside one record.
struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
    record: u32,
}

impl<'a> Cursor<'a> {
    /// Reads a zigzag varint/varlong of at most 10 bytes.
    fn varint(&mut self) -> Result<i64, RecordFault> {
        let mut value: u64 = 0;
        for slot in 0..10u32 {
            let byte = *self
                .bytes
                .get(self.position)
                .ok_or(RecordFault::Truncated {
                    record: self.record,
                })?;
            self.position += 1;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte may only carry the 64th bit.
            if slot == 9 && bits > 1 {
                return Err(RecordFault::BadVarint {
                    record: self.record,
                });
            }
            value |= bits << (7 * slot);
            if byte & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err(RecordFault::BadVarint {
            record: self.record,
        })
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], RecordFault> {
        let end = self
            .position
            .checked_add(count)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(RecordFault::Truncated {
                record: self.record,
            })?;
        let taken = &self.bytes[self.position..end];
        self.position = end;
        Ok(taken)
    }

    /// A varint length (-1 = null) and that many bytes.
    fn nullable_bytes(&mut self, what: &'static str) -> Result<Option<&'a [u8]>, RecordFault> {
        let length = self.varint()?;
        if length == -1 {
            return Ok(None);
        }
        let length = usize::try_from(length).map_err(|_| RecordFault::BadLength {
            record: self.record,
            reason: what,
        })?;
        if length > self.bytes.len() - self.position {
            return Err(RecordFault::BadLength {
                record: self.record,
                reason: what,
            });
        }
        self.take(length).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_batch::BatchBuilder;

    fn decode(batch: &[u8]) -> Result<Vec<RecordView<'_>>, RecordFault> {
        Records::new(batch)?.collect()
    }

    #[test]
    fn a_record_re_encoded_with_another_timestamp_delta_keeps_every_other_field() {
        let batch = BatchBuilder::new(1_000)
            .record(b"key", b"value", 3)
            .tombstone(b"gone", 200)
            .build();
        let records = decode(&batch).expect("decodes");
        let mut body = Vec::new();
        records[0].encode_with_timestamp_delta(-70_000, &mut body);
        records[1].encode_with_timestamp_delta(0, &mut body);
        let mut rebuilt = batch[..HEADER_BYTES].to_vec();
        rebuilt.extend_from_slice(&body);
        let again = decode(&rebuilt).expect("re-encoded records decode");
        assert_eq!(again.len(), 2);
        assert_eq!(again[0].timestamp_delta, -70_000);
        assert_eq!(again[0].key, Some(&b"key"[..]));
        assert_eq!(again[0].value, Some(&b"value"[..]));
        assert_eq!(again[1].timestamp_delta, 0);
        assert_eq!(again[1].offset_delta, 1);
        assert!(again[1].value_is_null);
        assert_ne!(again[0].encoded.len(), records[0].encoded.len());
    }

    #[test]
    fn decodes_keys_values_and_deltas() {
        let batch = BatchBuilder::new(1_000)
            .record(b"k1", b"v1", 0)
            .record(b"", b"v2", 7)
            .tombstone(b"k3", 9)
            .build();
        let records = decode(&batch).expect("valid");
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].key, Some(&b"k1"[..]));
        assert!(!records[0].value_is_null);
        assert_eq!(records[1].key, None);
        assert_eq!(records[1].timestamp_delta, 7);
        assert_eq!(records[1].offset_delta, 1);
        assert_eq!(records[2].key, Some(&b"k3"[..]));
        assert!(records[2].value_is_null);
        let total: usize = records.iter().map(|r| r.encoded.len()).sum();
        assert_eq!(total, batch.len() - HEADER_BYTES);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let batch = BatchBuilder::new(0)
            .record(b"key", b"value", 0)
            .record(b"key2", b"value2", 1)
            .build();
        for cut in HEADER_BYTES..batch.len() {
            let result = decode(&batch[..cut]);
            assert!(result.is_err(), "cut at {cut} decoded");
        }
        assert!(matches!(
            Records::new(&batch[..10]),
            Err(RecordFault::Truncated { .. })
        ));
    }

    #[test]
    fn overlong_varint_is_bad() {
        let mut batch = BatchBuilder::new(0).record(b"k", b"v", 0).build();
        batch.truncate(HEADER_BYTES);
        batch.extend_from_slice(&[0xff; 11]);
        assert_eq!(decode(&batch), Err(RecordFault::BadVarint { record: 0 }));
        // Ten bytes whose last carries more than the 64th bit.
        batch.truncate(HEADER_BYTES);
        batch.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert_eq!(decode(&batch), Err(RecordFault::BadVarint { record: 0 }));
    }

    #[test]
    fn lengths_past_the_end_are_bad() {
        // A record claiming 100 bytes in a batch holding 6.
        let mut batch = BatchBuilder::new(0).record(b"k", b"v", 0).build();
        batch.truncate(HEADER_BYTES);
        batch.extend_from_slice(&[200, 1, 0, 0, 0, 2, b'k']);
        assert_eq!(decode(&batch), Err(RecordFault::Truncated { record: 0 }));
        // A key length past the record's own length.
        batch.truncate(HEADER_BYTES);
        // length 5: attributes, ts 0, offset 0, key length 60 (zigzag 120), 1 byte.
        batch.extend_from_slice(&[10, 0, 0, 0, 120, b'k']);
        assert!(matches!(
            decode(&batch),
            Err(RecordFault::BadLength { record: 0, .. })
        ));
        // A huge header count is caught by running out of bytes.
        batch.truncate(HEADER_BYTES);
        // length 6: attributes, ts, offset, key null (1), value null (1), headers 2^20.
        batch.extend_from_slice(&[14, 0, 0, 0, 1, 1, 0x80, 0x80, 0x80, 0x01]);
        assert!(decode(&batch).is_err());
        // A negative record length.
        batch.truncate(HEADER_BYTES);
        batch.extend_from_slice(&[3]);
        assert!(matches!(
            decode(&batch),
            Err(RecordFault::BadLength { record: 0, .. })
        ));
    }

    #[test]
    fn trailing_bytes_and_missing_records_disagree_with_the_count() {
        let mut batch = BatchBuilder::new(0).record(b"k", b"v", 0).build();
        batch.push(0);
        assert!(matches!(
            decode(&batch),
            Err(RecordFault::CountMismatch { .. })
        ));
        let batch = BatchBuilder::new(0)
            .record(b"k", b"v", 0)
            .records_count_override(2)
            .last_offset_delta(1)
            .build();
        assert!(matches!(
            decode(&batch),
            Err(RecordFault::Truncated { record: 1 })
        ));
    }

    #[test]
    fn offset_deltas_past_last_offset_delta_are_refused() {
        let batch = BatchBuilder::new(0)
            .record(b"k", b"v", 0)
            .record(b"k", b"w", 0)
            .last_offset_delta(0)
            .records_count_override(2)
            .build();
        assert_eq!(
            decode(&batch),
            Err(RecordFault::OffsetDelta {
                record: 1,
                offset_delta: 1
            })
        );
    }
}
