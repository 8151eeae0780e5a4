//! The values of the consumer group protocol's `__consumer_offsets` records,
//! in Kafka's schemas (all value version 0, "flexible": compact strings and
//! arrays with unsigned-varint lengths plus one, and a tagged-field section
//! after every struct), so Kafka and Skein read each other's topic:
//!
//! ```text
//! key 3 ConsumerGroupMetadataValue            := i32 epoch
//! key 4 ConsumerGroupPartitionMetadataValue   := [uuid topic_id, string name,
//!                                                 i32 partitions, [partition racks]]
//! key 5 ConsumerGroupMemberMetadataValue      := string? instance, string? rack,
//!                                                 string client_id, string client_host,
//!                                                 [string] topics, string? regex,
//!                                                 i32 rebalance_timeout, string? assignor
//! key 6 ConsumerGroupTargetAssignmentMetadataValue := i32 assignment_epoch
//! key 7 ConsumerGroupTargetAssignmentMemberValue   := [uuid topic_id, [i32] partitions]
//! key 8 ConsumerGroupCurrentMemberAssignmentValue  := i32 epoch, i32 previous_epoch,
//!                                                 i8 state, [topic partitions] assigned,
//!                                                 [topic partitions] pending_revocation
//! ```
//!
//! Tagged fields are written empty and skipped when read (the classic
//! member metadata of tag 0 is for members that joined with JoinGroup,
//! which Skein's consumer groups do not take).

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};

use super::assignor::Assignment;
use super::consumer_group::TopicMetadata;
use super::consumer_member::{ConsumerMember, MemberState};
use super::error::RecordError;
use super::record::Reader;
use crate::TopicId;

/// The value version of every consumer group record.
const VALUE_VERSION: i16 = 0;

/// A member's subscription as stored under key version 5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberMetadataValue {
    pub(crate) instance_id: Option<String>,
    pub(crate) rack_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) subscribed_topic_names: Vec<String>,
    pub(crate) subscribed_topic_regex: Option<String>,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) server_assignor: Option<String>,
}

/// A member's assignment state as stored under key version 8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CurrentAssignmentValue {
    pub(crate) member_epoch: i32,
    pub(crate) previous_member_epoch: i32,
    pub(crate) state: MemberState,
    pub(crate) assigned: Assignment,
    pub(crate) pending_revocation: Assignment,
}

impl MemberMetadataValue {
    pub(crate) fn of(member: &ConsumerMember) -> Self {
        Self {
            instance_id: member.instance_id.clone(),
            rack_id: member.rack_id.clone(),
            client_id: member.client_id.clone(),
            client_host: member.client_host.clone(),
            subscribed_topic_names: member.subscribed_topic_names.clone(),
            subscribed_topic_regex: member.subscribed_topic_regex.clone(),
            rebalance_timeout_ms: member.rebalance_timeout_ms,
            server_assignor: member.server_assignor.clone(),
        }
    }

    pub(crate) fn encode(&self) -> Bytes {
        let mut buf = header();
        put_compact_nullable_string(&mut buf, self.instance_id.as_deref());
        put_compact_nullable_string(&mut buf, self.rack_id.as_deref());
        put_compact_string(&mut buf, &self.client_id);
        put_compact_string(&mut buf, &self.client_host);
        put_len(&mut buf, self.subscribed_topic_names.len());
        for name in &self.subscribed_topic_names {
            put_compact_string(&mut buf, name);
        }
        put_compact_nullable_string(&mut buf, self.subscribed_topic_regex.as_deref());
        buf.put_i32(self.rebalance_timeout_ms);
        put_compact_nullable_string(&mut buf, self.server_assignor.as_deref());
        buf.put_u8(0);
        buf.freeze()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader { bytes };
        version(&mut r, "consumer group member metadata")?;
        let instance_id = compact_nullable_string(&mut r, "instance id")?;
        let rack_id = compact_nullable_string(&mut r, "rack id")?;
        let client_id = compact_string(&mut r, "client id")?;
        let client_host = compact_string(&mut r, "client host")?;
        let count = compact_len(&mut r, "subscribed topic names")?.unwrap_or(0);
        let mut subscribed_topic_names = Vec::new();
        for _ in 0..count {
            subscribed_topic_names.push(compact_string(&mut r, "subscribed topic name")?);
        }
        let subscribed_topic_regex = compact_nullable_string(&mut r, "subscribed topic regex")?;
        let rebalance_timeout_ms = r.i32("rebalance timeout")?;
        let server_assignor = compact_nullable_string(&mut r, "server assignor")?;
        skip_tagged_fields(&mut r)?;
        Ok(Self {
            instance_id,
            rack_id,
            client_id,
            client_host,
            subscribed_topic_names,
            subscribed_topic_regex,
            rebalance_timeout_ms,
            server_assignor,
        })
    }
}

impl CurrentAssignmentValue {
    pub(crate) fn of(member: &ConsumerMember) -> Self {
        Self {
            member_epoch: member.member_epoch,
            previous_member_epoch: member.previous_member_epoch,
            state: member.state,
            assigned: member.assigned.clone(),
            pending_revocation: member.pending_revocation.clone(),
        }
    }

    pub(crate) fn encode(&self) -> Bytes {
        let mut buf = header();
        buf.put_i32(self.member_epoch);
        buf.put_i32(self.previous_member_epoch);
        buf.put_i8(self.state.value());
        put_assignment(&mut buf, &self.assigned);
        put_assignment(&mut buf, &self.pending_revocation);
        buf.put_u8(0);
        buf.freeze()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader { bytes };
        version(&mut r, "consumer group current member assignment")?;
        let member_epoch = r.i32("member epoch")?;
        let previous_member_epoch = r.i32("previous member epoch")?;
        let state = MemberState::from_value(i8::from_be_bytes(r.array("state")?));
        let assigned = assignment(&mut r)?;
        let pending_revocation = assignment(&mut r)?;
        skip_tagged_fields(&mut r)?;
        Ok(Self {
            member_epoch,
            previous_member_epoch,
            state,
            assigned,
            pending_revocation,
        })
    }
}

/// Encodes a value holding one epoch (key versions 3 and 6).
pub(crate) fn encode_epoch(epoch: i32) -> Bytes {
    let mut buf = header();
    buf.put_i32(epoch);
    buf.put_u8(0);
    buf.freeze()
}

/// Decodes a value holding one epoch (key versions 3 and 6).
pub(crate) fn decode_epoch(bytes: &[u8]) -> Result<i32, RecordError> {
    let mut r = Reader { bytes };
    version(&mut r, "consumer group epoch")?;
    let epoch = r.i32("epoch")?;
    skip_tagged_fields(&mut r)?;
    Ok(epoch)
}

/// Encodes a target assignment (key version 7).
pub(crate) fn encode_target_assignment(assignment: &Assignment) -> Bytes {
    let mut buf = header();
    put_assignment(&mut buf, assignment);
    buf.put_u8(0);
    buf.freeze()
}

/// Decodes a target assignment (key version 7).
pub(crate) fn decode_target_assignment(bytes: &[u8]) -> Result<Assignment, RecordError> {
    let mut r = Reader { bytes };
    version(&mut r, "consumer group target assignment")?;
    let a = assignment(&mut r)?;
    skip_tagged_fields(&mut r)?;
    Ok(a)
}

/// Encodes the subscribed topics' metadata (key version 4), by name.
pub(crate) fn encode_partition_metadata<'a>(
    topics: impl ExactSizeIterator<Item = (&'a String, &'a TopicMetadata)>,
) -> Bytes {
    let mut buf = header();
    put_len(&mut buf, topics.len());
    for (name, topic) in topics {
        buf.put_slice(&topic.topic_id);
        put_compact_string(&mut buf, name);
        buf.put_i32(topic.partitions);
        // PartitionMetadata (racks): unused since Kafka 4.0, stored empty.
        put_len(&mut buf, 0);
        buf.put_u8(0);
    }
    buf.put_u8(0);
    buf.freeze()
}

/// Decodes the subscribed topics' metadata (key version 4).
pub(crate) fn decode_partition_metadata(
    bytes: &[u8],
) -> Result<Vec<(String, TopicMetadata)>, RecordError> {
    let mut r = Reader { bytes };
    version(&mut r, "consumer group partition metadata")?;
    let count = compact_len(&mut r, "topics")?.unwrap_or(0);
    let mut topics = Vec::new();
    for _ in 0..count {
        let topic_id: TopicId = r.array("topic id")?;
        let name = compact_string(&mut r, "topic name")?;
        let partitions = r.i32("partitions")?;
        let racks = compact_len(&mut r, "partition metadata")?.unwrap_or(0);
        for _ in 0..racks {
            r.i32("partition")?;
            let n = compact_len(&mut r, "racks")?.unwrap_or(0);
            for _ in 0..n {
                compact_string(&mut r, "rack")?;
            }
            skip_tagged_fields(&mut r)?;
        }
        skip_tagged_fields(&mut r)?;
        topics.push((
            name,
            TopicMetadata {
                topic_id,
                partitions,
            },
        ));
    }
    skip_tagged_fields(&mut r)?;
    Ok(topics)
}

fn header() -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_i16(VALUE_VERSION);
    buf
}

fn version(r: &mut Reader<'_>, kind: &'static str) -> Result<(), RecordError> {
    match r.i16("value version")? {
        VALUE_VERSION => Ok(()),
        version => Err(RecordError::UnsupportedValueVersion { kind, version }),
    }
}

fn put_varint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// A compact length: `len + 1` as an unsigned varint.
fn put_len(buf: &mut BytesMut, len: usize) {
    put_varint(buf, u32::try_from(len + 1).expect("length fits u32"));
}

fn put_compact_string(buf: &mut BytesMut, s: &str) {
    put_len(buf, s.len());
    buf.put_slice(s.as_bytes());
}

fn put_compact_nullable_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_compact_string(buf, s),
        None => buf.put_u8(0),
    }
}

fn put_assignment(buf: &mut BytesMut, assignment: &Assignment) {
    put_len(buf, assignment.len());
    for (topic, partitions) in assignment {
        buf.put_slice(topic);
        put_len(buf, partitions.len());
        for p in partitions {
            buf.put_i32(*p);
        }
        buf.put_u8(0);
    }
}

fn varint(r: &mut Reader<'_>, field: &'static str) -> Result<u32, RecordError> {
    let mut value: u32 = 0;
    for shift in (0..35).step_by(7) {
        let [byte] = r.array::<1>(field)?;
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(RecordError::Truncated { field })
}

/// A compact length; `None` for null. Bounded by the bytes left, so a bad
/// length cannot make a caller allocate or loop for long.
fn compact_len(r: &mut Reader<'_>, field: &'static str) -> Result<Option<usize>, RecordError> {
    let raw = varint(r, field)?;
    let Some(len) = raw.checked_sub(1) else {
        return Ok(None);
    };
    let len = len as usize;
    if len > r.bytes.len() {
        return Err(RecordError::Truncated { field });
    }
    Ok(Some(len))
}

fn compact_nullable_string(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<Option<String>, RecordError> {
    let Some(len) = compact_len(r, field)? else {
        return Ok(None);
    };
    let raw = r.take(len, field)?;
    std::str::from_utf8(raw)
        .map(|s| Some(s.to_owned()))
        .map_err(|_| RecordError::InvalidUtf8 { field })
}

fn compact_string(r: &mut Reader<'_>, field: &'static str) -> Result<String, RecordError> {
    compact_nullable_string(r, field)?.ok_or(RecordError::NegativeLength { field, length: -1 })
}

fn assignment(r: &mut Reader<'_>) -> Result<Assignment, RecordError> {
    let count = compact_len(r, "topic partitions")?.unwrap_or(0);
    let mut a = Assignment::new();
    for _ in 0..count {
        let topic: TopicId = r.array("topic id")?;
        let n = compact_len(r, "partitions")?.unwrap_or(0);
        let mut ps = BTreeSet::new();
        for _ in 0..n {
            ps.insert(r.i32("partition")?);
        }
        skip_tagged_fields(r)?;
        if !ps.is_empty() {
            a.entry(topic).or_default().extend(ps);
        }
    }
    Ok(a)
}

fn skip_tagged_fields(r: &mut Reader<'_>) -> Result<(), RecordError> {
    let count = varint(r, "tagged fields")?;
    for _ in 0..count {
        varint(r, "tag")?;
        let size = varint(r, "tagged field size")? as usize;
        r.take(size, "tagged field")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group_coordinator::consumer_member::assignment_of;

    #[test]
    fn member_metadata_round_trips() {
        let value = MemberMetadataValue {
            instance_id: Some("i-1".into()),
            rack_id: None,
            client_id: "rdkafka".into(),
            client_host: "/127.0.0.1".into(),
            subscribed_topic_names: vec!["a".into(), "b".into()],
            subscribed_topic_regex: Some("b.*".into()),
            rebalance_timeout_ms: 300_000,
            server_assignor: Some("range".into()),
        };
        assert_eq!(MemberMetadataValue::decode(&value.encode()), Ok(value));
    }

    #[test]
    fn current_assignment_matches_kafka_layout() {
        let value = CurrentAssignmentValue {
            member_epoch: 5,
            previous_member_epoch: 4,
            state: MemberState::UnrevokedPartitions,
            assigned: assignment_of([([9; 16], vec![0, 2])]),
            pending_revocation: Assignment::new(),
        };
        let bytes = value.encode();
        let mut expected = vec![0, 0, 0, 0, 0, 5, 0, 0, 0, 4, 1, 2];
        expected.extend([9; 16]);
        expected.extend([3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0]);
        assert_eq!(bytes.as_ref(), expected.as_slice());
        assert_eq!(CurrentAssignmentValue::decode(&bytes), Ok(value));
    }

    #[test]
    fn partition_metadata_and_epochs_round_trip() {
        let topic = TopicMetadata {
            topic_id: [3; 16],
            partitions: 6,
        };
        let name = "orders".to_string();
        let bytes = encode_partition_metadata([(&name, &topic)].into_iter());
        assert_eq!(decode_partition_metadata(&bytes), Ok(vec![(name, topic)]));
        assert_eq!(decode_epoch(&encode_epoch(7)), Ok(7));
        let a = assignment_of([([1; 16], vec![3])]);
        assert_eq!(
            decode_target_assignment(&encode_target_assignment(&a)),
            Ok(a)
        );
    }

    #[test]
    fn truncated_values_are_errors() {
        let bytes = encode_target_assignment(&assignment_of([([1; 16], vec![3])]));
        for end in 0..bytes.len() {
            assert!(decode_target_assignment(&bytes[..end]).is_err());
        }
    }
}
