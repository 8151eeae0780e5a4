//! A metadata entry: the records of one metadata change, encoded as the
//! payload of one entry of the metadata quorum's log (so a change commits
//! all or nothing). The image snapshot stores its records the same way.
//!
//! Encoding (big-endian): `count: u32`, then `count` times
//! `len: u32` + one record's encoding ([`MetadataRecord::encode`]).
//!
//! The bytes come back from disk or, later, from a peer: they are hostile.
//! Every length is checked against the bytes present before it is used,
//! and nothing is allocated from a count read off the bytes.

use crate::error::MetadataError;
use crate::metadata_record::MetadataRecord;

/// Bytes of a record's length prefix (and of the count).
const LEN_BYTES: usize = 4;

/// Encodes `records` as one metadata entry.
///
/// # Panics
/// If there are more than `u32::MAX` records or one record is larger than
/// 4 GiB: a controller never proposes either.
pub fn encode_metadata_entry(records: &[MetadataRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    let count = u32::try_from(records.len()).expect("record count fits u32");
    out.extend_from_slice(&count.to_be_bytes());
    for record in records {
        let len_at = out.len();
        out.extend_from_slice(&[0; LEN_BYTES]);
        record.encode(&mut out);
        let len = u32::try_from(out.len() - len_at - LEN_BYTES).expect("record fits u32");
        out[len_at..len_at + LEN_BYTES].copy_from_slice(&len.to_be_bytes());
    }
    out
}

/// Decodes a metadata entry that fills `bytes` exactly.
///
/// # Errors
/// [`MetadataError::CorruptRecord`] when a length runs past the bytes, a
/// record does not decode, the count disagrees with the records present, or
/// bytes are left over.
pub fn decode_metadata_entry(bytes: &[u8]) -> Result<Vec<MetadataRecord>, MetadataError> {
    let (count, mut rest) = split_len(bytes)?;
    let mut records = Vec::new();
    for _ in 0..count {
        let (len, after_len) = split_len(rest)?;
        if after_len.len() < len {
            return Err(corrupt("record longer than the entry"));
        }
        let (record, after_record) = after_len.split_at(len);
        records.push(MetadataRecord::decode(record)?);
        rest = after_record;
    }
    if !rest.is_empty() {
        return Err(corrupt("trailing bytes after the entry's records"));
    }
    Ok(records)
}

/// A big-endian `u32` length off the front of `bytes`, and what follows it.
fn split_len(bytes: &[u8]) -> Result<(usize, &[u8]), MetadataError> {
    if bytes.len() < LEN_BYTES {
        return Err(corrupt("entry shorter than a length"));
    }
    let (len, rest) = bytes.split_at(LEN_BYTES);
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
    let len = usize::try_from(len).map_err(|_| corrupt("length does not fit in memory"))?;
    Ok((len, rest))
}

fn corrupt(reason: &'static str) -> MetadataError {
    MetadataError::CorruptRecord { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<MetadataRecord> {
        vec![
            MetadataRecord::Topic {
                topic_id: [1; 16],
                name: "orders".into(),
                partitions: 3,
                configs: vec![("cleanup.policy".into(), "compact".into())],
            },
            MetadataRecord::TopicConfig {
                topic_id: [1; 16],
                key: "retention.ms".into(),
                value: None,
            },
            MetadataRecord::ProducerIdBlock {
                next_block_start: 1000,
            },
        ]
    }

    #[test]
    fn entry_round_trips_its_records_in_order() {
        let records = samples();
        let bytes = encode_metadata_entry(&records);
        assert_eq!(decode_metadata_entry(&bytes).unwrap(), records);
        assert_eq!(
            decode_metadata_entry(&encode_metadata_entry(&[])).unwrap(),
            vec![]
        );
    }

    #[test]
    fn truncated_padded_or_overcounted_entries_are_refused() {
        let bytes = encode_metadata_entry(&samples());
        for cut in 0..bytes.len() {
            assert!(decode_metadata_entry(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(decode_metadata_entry(&padded).is_err());
        // A count of four billion with three records present allocates
        // nothing and is refused.
        let mut overcounted = bytes;
        overcounted[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode_metadata_entry(&overcounted).is_err());
    }
}
