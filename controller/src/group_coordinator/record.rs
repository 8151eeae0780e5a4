//! The `__consumer_offsets` record encoding: Kafka's own key and value
//! schemas (`OffsetCommitKey` v1, `GroupMetadataKey` v2, `OffsetCommitValue`
//! v3, `GroupMetadataValue` v3), so Kafka tooling can read Skein's topic and
//! vice versa.
//!
//! All integers are big-endian. `string` is an `i16` length then UTF-8;
//! `nullable string` uses length -1 for null; `bytes` is an `i32` length then
//! the bytes; arrays are an `i32` count then the elements.
//!
//! ```text
//! key   := i16 version, then
//!          version 0|1 (offset commit):  string group, string topic, i32 partition
//!          version 2   (group metadata): string group
//! OffsetCommitValue v3 := i16 3, i64 offset, i32 leader_epoch (-1 = none),
//!                         string metadata, i64 commit_timestamp
//! GroupMetadataValue v3 := i16 3, string protocol_type, i32 generation,
//!                         nullable string protocol, nullable string leader,
//!                         i64 current_state_timestamp, [member]
//! member (v3)          := string member_id, nullable string group_instance_id,
//!                         string client_id, string client_host,
//!                         i32 rebalance_timeout, i32 session_timeout,
//!                         bytes subscription, bytes assignment
//! ```
//!
//! Values are written at the versions above; values v0–v3 are read (v1's
//! `expire_timestamp` is honoured by offset expiry). A null value is a
//! tombstone. Key versions 3–8 are the consumer group protocol's records
//! (`ConsumerGroupMetadataKey` … `ConsumerGroupCurrentMemberAssignmentKey`),
//! whose values `consumer_record` encodes; keys with versions above 8
//! (share groups and later) decode to [`RecordKey::Unknown`] and are skipped
//! on load.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::RecordError;

/// The key of a `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKey {
    /// Key versions 0 and 1: a committed offset.
    OffsetCommit {
        /// The group id.
        group_id: String,
        /// The topic name.
        topic: String,
        /// The partition index.
        partition: i32,
    },
    /// Key version 2: a group's metadata.
    GroupMetadata {
        /// The group id.
        group_id: String,
    },
    /// Key version 3: a consumer group's epoch (`ConsumerGroupMetadataKey`).
    ConsumerGroupMetadata {
        /// The group id.
        group_id: String,
    },
    /// Key version 4: a consumer group's subscribed topics' metadata
    /// (`ConsumerGroupPartitionMetadataKey`).
    ConsumerGroupPartitionMetadata {
        /// The group id.
        group_id: String,
    },
    /// Key version 5: a consumer group member's subscription
    /// (`ConsumerGroupMemberMetadataKey`).
    ConsumerGroupMemberMetadata {
        /// The group id.
        group_id: String,
        /// The member id.
        member_id: String,
    },
    /// Key version 6: a consumer group's target assignment epoch
    /// (`ConsumerGroupTargetAssignmentMetadataKey`).
    ConsumerGroupTargetAssignmentMetadata {
        /// The group id.
        group_id: String,
    },
    /// Key version 7: a member's target assignment
    /// (`ConsumerGroupTargetAssignmentMemberKey`).
    ConsumerGroupTargetAssignmentMember {
        /// The group id.
        group_id: String,
        /// The member id.
        member_id: String,
    },
    /// Key version 8: a member's current assignment and epoch
    /// (`ConsumerGroupCurrentMemberAssignmentKey`).
    ConsumerGroupCurrentMemberAssignment {
        /// The group id.
        group_id: String,
        /// The member id.
        member_id: String,
    },
    /// A key version this coordinator does not know; skipped on load.
    Unknown {
        /// The version read.
        version: i16,
    },
}

/// A committed offset as stored (Kafka's `OffsetCommitValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    /// The committed offset: the next offset the group will consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if the client sent one.
    pub leader_epoch: Option<i32>,
    /// Client-supplied metadata; at most `offset.metadata.max.bytes`.
    pub metadata: String,
    /// When the commit was accepted, in ms since the Unix epoch.
    pub commit_timestamp_ms: i64,
    /// Explicit expiry from value v1 (OffsetCommit v2–v4 retention time);
    /// never written by Skein.
    pub expire_timestamp_ms: Option<i64>,
}

/// One member inside a [`GroupMetadataValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// The member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The client id of the member's last JoinGroup.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// Rebalance timeout in ms.
    pub rebalance_timeout_ms: i32,
    /// Session timeout in ms.
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's selected protocol.
    pub subscription: Bytes,
    /// The member's assignment from the leader.
    pub assignment: Bytes,
}

/// A group's metadata as stored after each completed rebalance (Kafka's
/// `GroupMetadataValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    /// The protocol type, `""` for none.
    pub protocol_type: String,
    /// The generation id.
    pub generation_id: i32,
    /// The selected protocol; `None` for an empty group.
    pub protocol_name: Option<String>,
    /// The leader's member id; `None` for an empty group.
    pub leader: Option<String>,
    /// When the group entered its state, in ms since the Unix epoch (absent
    /// before value v2).
    pub current_state_timestamp_ms: Option<i64>,
    /// The members with their assignments.
    pub members: Vec<MemberRecord>,
}

/// Key version written for offset commits.
pub const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Key version written for group metadata.
pub const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// Value version written for offset commits.
pub const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// Value version written for group metadata.
pub const GROUP_METADATA_VALUE_VERSION: i16 = 3;

impl RecordKey {
    /// Encodes the key at version 1 (offset commit) or 2 (group metadata).
    ///
    /// # Panics
    /// On [`RecordKey::Unknown`], which is only ever decoded, or on a string
    /// longer than `i16::MAX` bytes (callers validate lengths first).
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::new();
        match self {
            RecordKey::OffsetCommit {
                group_id,
                topic,
                partition,
            } => {
                buf.put_i16(OFFSET_COMMIT_KEY_VERSION);
                put_string(&mut buf, group_id);
                put_string(&mut buf, topic);
                buf.put_i32(*partition);
            }
            RecordKey::GroupMetadata { group_id } => {
                buf.put_i16(GROUP_METADATA_KEY_VERSION);
                put_string(&mut buf, group_id);
            }
            RecordKey::ConsumerGroupMetadata { group_id }
            | RecordKey::ConsumerGroupPartitionMetadata { group_id }
            | RecordKey::ConsumerGroupTargetAssignmentMetadata { group_id } => {
                buf.put_i16(self.version());
                put_string(&mut buf, group_id);
            }
            RecordKey::ConsumerGroupMemberMetadata {
                group_id,
                member_id,
            }
            | RecordKey::ConsumerGroupTargetAssignmentMember {
                group_id,
                member_id,
            }
            | RecordKey::ConsumerGroupCurrentMemberAssignment {
                group_id,
                member_id,
            } => {
                buf.put_i16(self.version());
                put_string(&mut buf, group_id);
                put_string(&mut buf, member_id);
            }
            RecordKey::Unknown { version } => panic!("cannot encode unknown key version {version}"),
        }
        buf.freeze()
    }

    /// Decodes a key of any version.
    ///
    /// # Errors
    /// [`RecordError`] if the bytes are malformed.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader { bytes };
        let version = r.i16("key version")?;
        let key = match version {
            0 | 1 => RecordKey::OffsetCommit {
                group_id: r.string("group")?,
                topic: r.string("topic")?,
                partition: r.i32("partition")?,
            },
            2 => RecordKey::GroupMetadata {
                group_id: r.string("group")?,
            },
            3 => RecordKey::ConsumerGroupMetadata {
                group_id: r.string("group")?,
            },
            4 => RecordKey::ConsumerGroupPartitionMetadata {
                group_id: r.string("group")?,
            },
            5 => RecordKey::ConsumerGroupMemberMetadata {
                group_id: r.string("group")?,
                member_id: r.string("member")?,
            },
            6 => RecordKey::ConsumerGroupTargetAssignmentMetadata {
                group_id: r.string("group")?,
            },
            7 => RecordKey::ConsumerGroupTargetAssignmentMember {
                group_id: r.string("group")?,
                member_id: r.string("member")?,
            },
            8 => RecordKey::ConsumerGroupCurrentMemberAssignment {
                group_id: r.string("group")?,
                member_id: r.string("member")?,
            },
            version => return Ok(RecordKey::Unknown { version }),
        };
        r.finish("key")?;
        Ok(key)
    }

    /// The group this record belongs to, if the key is known.
    pub fn group_id(&self) -> Option<&str> {
        match self {
            RecordKey::OffsetCommit { group_id, .. }
            | RecordKey::GroupMetadata { group_id }
            | RecordKey::ConsumerGroupMetadata { group_id }
            | RecordKey::ConsumerGroupPartitionMetadata { group_id }
            | RecordKey::ConsumerGroupMemberMetadata { group_id, .. }
            | RecordKey::ConsumerGroupTargetAssignmentMetadata { group_id }
            | RecordKey::ConsumerGroupTargetAssignmentMember { group_id, .. }
            | RecordKey::ConsumerGroupCurrentMemberAssignment { group_id, .. } => Some(group_id),
            RecordKey::Unknown { .. } => None,
        }
    }

    /// The key's schema version (Kafka's record type id).
    pub fn version(&self) -> i16 {
        match self {
            RecordKey::OffsetCommit { .. } => OFFSET_COMMIT_KEY_VERSION,
            RecordKey::GroupMetadata { .. } => GROUP_METADATA_KEY_VERSION,
            RecordKey::ConsumerGroupMetadata { .. } => 3,
            RecordKey::ConsumerGroupPartitionMetadata { .. } => 4,
            RecordKey::ConsumerGroupMemberMetadata { .. } => 5,
            RecordKey::ConsumerGroupTargetAssignmentMetadata { .. } => 6,
            RecordKey::ConsumerGroupTargetAssignmentMember { .. } => 7,
            RecordKey::ConsumerGroupCurrentMemberAssignment { .. } => 8,
            RecordKey::Unknown { version } => *version,
        }
    }
}

impl OffsetCommitValue {
    /// Encodes at value version 3 (or 1 if `expire_timestamp_ms` is set, as
    /// Kafka does).
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::new();
        match self.expire_timestamp_ms {
            Some(expire) => {
                buf.put_i16(1);
                buf.put_i64(self.offset);
                put_string(&mut buf, &self.metadata);
                buf.put_i64(self.commit_timestamp_ms);
                buf.put_i64(expire);
            }
            None => {
                buf.put_i16(OFFSET_COMMIT_VALUE_VERSION);
                buf.put_i64(self.offset);
                buf.put_i32(self.leader_epoch.unwrap_or(-1));
                put_string(&mut buf, &self.metadata);
                buf.put_i64(self.commit_timestamp_ms);
            }
        }
        buf.freeze()
    }

    /// Decodes value versions 0–3.
    ///
    /// # Errors
    /// [`RecordError`] if the bytes are malformed or the version unknown.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader { bytes };
        let version = r.i16("offset commit value version")?;
        let value = match version {
            0 | 2 => OffsetCommitValue {
                offset: r.i64("offset")?,
                leader_epoch: None,
                metadata: r.string("metadata")?,
                commit_timestamp_ms: r.i64("commit_timestamp")?,
                expire_timestamp_ms: None,
            },
            1 => OffsetCommitValue {
                offset: r.i64("offset")?,
                leader_epoch: None,
                metadata: r.string("metadata")?,
                commit_timestamp_ms: r.i64("commit_timestamp")?,
                expire_timestamp_ms: Some(r.i64("expire_timestamp")?),
            },
            3 => {
                let offset = r.i64("offset")?;
                let epoch = r.i32("leader_epoch")?;
                OffsetCommitValue {
                    offset,
                    leader_epoch: (epoch >= 0).then_some(epoch),
                    metadata: r.string("metadata")?,
                    commit_timestamp_ms: r.i64("commit_timestamp")?,
                    expire_timestamp_ms: None,
                }
            }
            version => {
                return Err(RecordError::UnsupportedValueVersion {
                    kind: "offset commit",
                    version,
                })
            }
        };
        r.finish("value")?;
        Ok(value)
    }
}

impl GroupMetadataValue {
    /// Encodes at value version 3.
    ///
    /// # Panics
    /// On a string longer than `i16::MAX` bytes (group fields come from
    /// requests whose strings are already bounded by the wire format).
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::new();
        buf.put_i16(GROUP_METADATA_VALUE_VERSION);
        put_string(&mut buf, &self.protocol_type);
        buf.put_i32(self.generation_id);
        put_nullable_string(&mut buf, self.protocol_name.as_deref());
        put_nullable_string(&mut buf, self.leader.as_deref());
        buf.put_i64(self.current_state_timestamp_ms.unwrap_or(-1));
        buf.put_i32(i32::try_from(self.members.len()).expect("member count fits i32"));
        for m in &self.members {
            put_string(&mut buf, &m.member_id);
            put_nullable_string(&mut buf, m.group_instance_id.as_deref());
            put_string(&mut buf, &m.client_id);
            put_string(&mut buf, &m.client_host);
            buf.put_i32(m.rebalance_timeout_ms);
            buf.put_i32(m.session_timeout_ms);
            put_bytes(&mut buf, &m.subscription);
            put_bytes(&mut buf, &m.assignment);
        }
        buf.freeze()
    }

    /// Decodes value versions 0–3.
    ///
    /// # Errors
    /// [`RecordError`] if the bytes are malformed or the version unknown.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader { bytes };
        let version = r.i16("group metadata value version")?;
        if !(0..=3).contains(&version) {
            return Err(RecordError::UnsupportedValueVersion {
                kind: "group metadata",
                version,
            });
        }
        let protocol_type = r.string("protocol_type")?;
        let generation_id = r.i32("generation")?;
        let protocol_name = r.nullable_string("protocol")?;
        let leader = r.nullable_string("leader")?;
        let current_state_timestamp_ms = if version >= 2 {
            let ts = r.i64("current_state_timestamp")?;
            (ts >= 0).then_some(ts)
        } else {
            None
        };
        let count = r.i32("members count")?;
        if count < 0 {
            return Err(RecordError::NegativeLength {
                field: "members",
                length: count,
            });
        }
        let mut members = Vec::new();
        for _ in 0..count {
            let member_id = r.string("member_id")?;
            let group_instance_id = if version >= 3 {
                r.nullable_string("group_instance_id")?
            } else {
                None
            };
            let client_id = r.string("client_id")?;
            let client_host = r.string("client_host")?;
            let session_timeout_first = version == 0;
            let (rebalance_timeout_ms, session_timeout_ms) = if session_timeout_first {
                let session = r.i32("session_timeout")?;
                (session, session)
            } else {
                let rebalance = r.i32("rebalance_timeout")?;
                (rebalance, r.i32("session_timeout")?)
            };
            members.push(MemberRecord {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                subscription: r.bytes("subscription")?,
                assignment: r.bytes("assignment")?,
            });
        }
        r.finish("value")?;
        Ok(GroupMetadataValue {
            protocol_type,
            generation_id,
            protocol_name,
            leader,
            current_state_timestamp_ms,
            members,
        })
    }
}

pub(super) fn put_string(buf: &mut BytesMut, s: &str) {
    buf.put_i16(i16::try_from(s.len()).expect("string length fits i16"));
    buf.put_slice(s.as_bytes());
}

fn put_nullable_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(i32::try_from(b.len()).expect("bytes length fits i32"));
    buf.put_slice(b);
}

/// A bounds-checked big-endian reader: bytes from disk are validated, never
/// trusted.
pub(super) struct Reader<'a> {
    pub(super) bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], RecordError> {
        if self.bytes.len() < n {
            return Err(RecordError::Truncated { field });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    pub(super) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], RecordError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(super) fn i16(&mut self, field: &'static str) -> Result<i16, RecordError> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }

    pub(super) fn i32(&mut self, field: &'static str) -> Result<i32, RecordError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    pub(super) fn i64(&mut self, field: &'static str) -> Result<i64, RecordError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    pub(super) fn nullable_string(
        &mut self,
        field: &'static str,
    ) -> Result<Option<String>, RecordError> {
        let len = self.i16(field)?;
        if len < 0 {
            return Ok(None);
        }
        let raw = self.take(usize::from(len.unsigned_abs()), field)?;
        std::str::from_utf8(raw)
            .map(|s| Some(s.to_owned()))
            .map_err(|_| RecordError::InvalidUtf8 { field })
    }

    pub(super) fn string(&mut self, field: &'static str) -> Result<String, RecordError> {
        match self.nullable_string(field)? {
            Some(s) => Ok(s),
            None => Err(RecordError::NegativeLength { field, length: -1 }),
        }
    }

    pub(super) fn bytes(&mut self, field: &'static str) -> Result<Bytes, RecordError> {
        let len = self.i32(field)?;
        let Ok(len) = usize::try_from(len) else {
            return Err(RecordError::NegativeLength { field, length: len });
        };
        Ok(Bytes::copy_from_slice(self.take(len, field)?))
    }

    pub(super) fn finish(&self, kind: &'static str) -> Result<(), RecordError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(RecordError::TrailingBytes { kind })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_commit_key_matches_kafka_layout() {
        let key = RecordKey::OffsetCommit {
            group_id: "g".into(),
            topic: "t".into(),
            partition: 3,
        };
        let bytes = key.encode();
        assert_eq!(&bytes[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        assert_eq!(RecordKey::decode(&bytes), Ok(key));
    }

    #[test]
    fn group_metadata_key_matches_kafka_layout() {
        let key = RecordKey::GroupMetadata {
            group_id: "g".into(),
        };
        assert_eq!(&key.encode()[..], &[0, 2, 0, 1, b'g']);
    }

    #[test]
    fn offset_commit_value_v3_round_trips() {
        let value = OffsetCommitValue {
            offset: 42,
            leader_epoch: Some(7),
            metadata: "meta".into(),
            commit_timestamp_ms: 1_700_000_000_000,
            expire_timestamp_ms: None,
        };
        let bytes = value.encode();
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(OffsetCommitValue::decode(&bytes), Ok(value));
    }

    #[test]
    fn offset_commit_value_v0_is_read() {
        let mut buf = BytesMut::new();
        buf.put_i16(0);
        buf.put_i64(9);
        put_string(&mut buf, "");
        buf.put_i64(5);
        let value = OffsetCommitValue::decode(&buf).unwrap();
        assert_eq!(value.offset, 9);
        assert_eq!(value.leader_epoch, None);
        assert_eq!(value.commit_timestamp_ms, 5);
    }

    #[test]
    fn group_metadata_value_round_trips() {
        let value = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation_id: 3,
            protocol_name: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp_ms: Some(10),
            members: vec![MemberRecord {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 10_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        assert_eq!(GroupMetadataValue::decode(&value.encode()), Ok(value));
    }

    #[test]
    fn truncated_value_is_an_error_not_a_panic() {
        let value = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation_id: 1,
            protocol_name: None,
            leader: None,
            current_state_timestamp_ms: None,
            members: vec![],
        }
        .encode();
        for len in 0..value.len() {
            assert!(GroupMetadataValue::decode(&value[..len]).is_err());
        }
    }

    #[test]
    fn newer_key_versions_are_unknown() {
        assert_eq!(
            RecordKey::decode(&[0, 9, 1, 2, 3]),
            Ok(RecordKey::Unknown { version: 9 })
        );
    }
}
