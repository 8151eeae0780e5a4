//! `__transaction_state` records, byte for byte as Kafka writes them
//! (`TransactionLogKey` v0 and `TransactionLogValue` v0, big-endian):
//!
//! ```text
//! key:   version i16 = 0 | transactional_id string (i16 length + UTF-8)
//! value: version i16 = 0 | producer_id i64 | producer_epoch i16 |
//!        transaction_timeout_ms i32 | transaction_status i8 |
//!        partitions [topic string, [partition i32]] (i32 counts) |
//!        last_update_timestamp_ms i64 | start_timestamp_ms i64
//! ```
//!
//! and which partition holds a transactional id (Kafka's
//! `Utils.abs(transactionalId.hashCode()) % partitions`). Decoding never
//! trusts a length: every count is checked against the bytes left.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::group_coordinator::{java_string_hash_code, kafka_abs, TopicPartition};

use super::metadata::TransactionState;

/// The compacted topic holding the transaction coordinator's state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// The `__transaction_state` partition holding `transactional_id`, as Kafka
/// computes it.
///
/// # Panics
/// If `partition_count` is 0 (the config's validation rejects that).
pub fn partition_for_transactional_id(transactional_id: &str, partition_count: u32) -> u32 {
    assert!(partition_count > 0, "partition_count must be positive");
    kafka_abs(java_string_hash_code(transactional_id)).unsigned_abs() % partition_count
}

/// The stored state of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionLogValue {
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// `transaction.timeout.ms` of the producer, in ms.
    pub timeout_ms: i32,
    /// The transaction's state.
    pub state: TransactionState,
    /// The partitions of the ongoing (or ending) transaction, sorted.
    pub partitions: Vec<TopicPartition>,
    /// When the state last changed, ms since the epoch.
    pub last_update_ms: i64,
    /// When the current transaction began (its first AddPartitions), ms
    /// since the epoch; -1 if none.
    pub start_ms: i64,
}

/// Encodes the key of `transactional_id`.
pub fn encode_key(transactional_id: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(4 + transactional_id.len());
    buf.put_i16(0);
    put_string(&mut buf, transactional_id);
    buf.freeze()
}

/// Encodes `value`.
pub fn encode_value(value: &TransactionLogValue) -> Bytes {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i16(0);
    buf.put_i64(value.producer_id);
    buf.put_i16(value.producer_epoch);
    buf.put_i32(value.timeout_ms);
    buf.put_i8(value.state.code());
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in &value.partitions {
        topics
            .entry(tp.topic.as_str())
            .or_default()
            .push(tp.partition);
    }
    buf.put_i32(i32::try_from(topics.len()).unwrap_or(i32::MAX));
    for (topic, partitions) in topics {
        put_string(&mut buf, topic);
        buf.put_i32(i32::try_from(partitions.len()).unwrap_or(i32::MAX));
        for partition in partitions {
            buf.put_i32(partition);
        }
    }
    buf.put_i64(value.last_update_ms);
    buf.put_i64(value.start_ms);
    buf.freeze()
}

/// Decodes a key into its transactional id.
///
/// # Errors
/// A description of what is wrong: an unknown version, a short buffer, bad
/// UTF-8.
pub fn decode_key(key: &[u8]) -> Result<String, String> {
    let mut buf = key;
    let version = get_i16(&mut buf)?;
    if version != 0 {
        return Err(format!("unknown TransactionLogKey version {version}"));
    }
    get_string(&mut buf)
}

/// Decodes a value.
///
/// # Errors
/// A description of what is wrong: an unknown version or state, a short
/// buffer, a negative or oversized count, bad UTF-8.
pub fn decode_value(value: &[u8]) -> Result<TransactionLogValue, String> {
    let mut buf = value;
    let version = get_i16(&mut buf)?;
    if version != 0 {
        return Err(format!("unsupported TransactionLogValue version {version}"));
    }
    let producer_id = get_i64(&mut buf)?;
    let producer_epoch = get_i16(&mut buf)?;
    let timeout_ms = get_i32(&mut buf)?;
    let code = get_i8(&mut buf)?;
    let state = TransactionState::from_code(code)
        .ok_or_else(|| format!("unknown transaction status {code}"))?;
    let topics = get_count(&mut buf, 6)?;
    let mut partitions = Vec::new();
    for _ in 0..topics {
        let topic = get_string(&mut buf)?;
        let count = get_count(&mut buf, 4)?;
        for _ in 0..count {
            partitions.push(TopicPartition {
                topic: topic.clone(),
                partition: get_i32(&mut buf)?,
            });
        }
    }
    let last_update_ms = get_i64(&mut buf)?;
    let start_ms = get_i64(&mut buf)?;
    partitions.sort();
    partitions.dedup();
    Ok(TransactionLogValue {
        producer_id,
        producer_epoch,
        timeout_ms,
        state,
        partitions,
        last_update_ms,
        start_ms,
    })
}

fn put_string(buf: &mut BytesMut, s: &str) {
    // Transactional ids and topic names are far below 32767 bytes (the
    // network layer bounds request strings the same way).
    buf.put_i16(i16::try_from(s.len()).unwrap_or(i16::MAX));
    buf.put_slice(
        s.as_bytes()
            .get(..s.len().min(i16::MAX as usize))
            .unwrap_or_default(),
    );
}

fn need(buf: &[u8], bytes: usize) -> Result<(), String> {
    if buf.remaining() < bytes {
        return Err(format!("{bytes} bytes needed, {} left", buf.remaining()));
    }
    Ok(())
}

fn get_i8(buf: &mut &[u8]) -> Result<i8, String> {
    need(buf, 1)?;
    Ok(buf.get_i8())
}

fn get_i16(buf: &mut &[u8]) -> Result<i16, String> {
    need(buf, 2)?;
    Ok(buf.get_i16())
}

fn get_i32(buf: &mut &[u8]) -> Result<i32, String> {
    need(buf, 4)?;
    Ok(buf.get_i32())
}

fn get_i64(buf: &mut &[u8]) -> Result<i64, String> {
    need(buf, 8)?;
    Ok(buf.get_i64())
}

/// An array count, checked against the bytes left (each element takes at
/// least `element_bytes_min`), so a forged count allocates nothing.
fn get_count(buf: &mut &[u8], element_bytes_min: usize) -> Result<usize, String> {
    let count = get_i32(buf)?;
    let count = usize::try_from(count).map_err(|_| format!("negative count {count}"))?;
    if count.saturating_mul(element_bytes_min) > buf.remaining() {
        return Err(format!("count {count} exceeds the bytes left"));
    }
    Ok(count)
}

fn get_string(buf: &mut &[u8]) -> Result<String, String> {
    let len = get_i16(buf)?;
    let len = usize::try_from(len).map_err(|_| format!("null or negative string length {len}"))?;
    need(buf, len)?;
    let (text, rest) = buf.split_at(len);
    let text = std::str::from_utf8(text).map_err(|error| error.to_string())?;
    *buf = rest;
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    #[test]
    fn key_matches_kafkas_bytes() {
        assert_eq!(&encode_key("tx")[..], &[0, 0, 0, 2, b't', b'x']);
        assert_eq!(decode_key(&encode_key("orders-tx")), Ok("orders-tx".into()));
    }

    #[test]
    fn value_round_trips_with_partitions_grouped_by_topic() {
        let value = TransactionLogValue {
            producer_id: 4_000,
            producer_epoch: 3,
            timeout_ms: 60_000,
            state: TransactionState::Ongoing,
            partitions: vec![tp("a", 0), tp("a", 2), tp("b", 1)],
            last_update_ms: 1_700_000_000_123,
            start_ms: 1_700_000_000_000,
        };
        let bytes = encode_value(&value);
        // version, pid, epoch, timeout, status, 2 topics
        assert_eq!(&bytes[..2], &[0, 0]);
        assert_eq!(bytes[16], 1, "Ongoing is status 1");
        assert_eq!(&bytes[17..21], &[0, 0, 0, 2]);
        assert_eq!(decode_value(&bytes), Ok(value));
    }

    #[test]
    fn forged_counts_and_short_values_are_errors_not_allocations() {
        let mut forged = BytesMut::new();
        forged.put_i16(0);
        forged.put_i64(1);
        forged.put_i16(0);
        forged.put_i32(1000);
        forged.put_i8(0);
        forged.put_i32(i32::MAX);
        assert!(decode_value(&forged).is_err());
        assert!(decode_value(&[0, 0, 1]).is_err());
        assert!(decode_key(&[0, 1, 0, 1, b'x']).is_err());
        assert!(decode_key(&[0, 0, 0, 9, b'x']).is_err());
    }

    #[test]
    fn transactional_ids_map_to_partitions_as_in_kafka() {
        // Utils.abs("my-group".hashCode()) % 50 == 12, as for groups.
        assert_eq!(partition_for_transactional_id("my-group", 50), 12);
        assert_eq!(partition_for_transactional_id("", 50), 0);
    }
}
