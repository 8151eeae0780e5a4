//! Metadata records: the changes to cluster metadata, in the order they were
//! committed. The same records the Raft quorum will carry; replaying them
//! from the start rebuilds the metadata image.
//!
//! Encoding (all integers big-endian): `kind: u8` then the fields of that
//! kind; a string is `len: u16` + UTF-8; an optional string has a `u8`
//! presence flag first. Every decode checks lengths against the bytes present.

use crate::error::MetadataError;

/// A topic's identifier: 16 random bytes (Kafka's topic UUID).
pub type TopicId = [u8; 16];

/// One committed metadata change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// A topic was created with `partitions` partitions and config overrides.
    Topic {
        topic_id: TopicId,
        name: String,
        partitions: i32,
        configs: Vec<(String, String)>,
    },
    /// A topic's partition count grew to `partitions`.
    PartitionCount { topic_id: TopicId, partitions: i32 },
    /// A topic config override was set (`Some`) or removed (`None`).
    TopicConfig {
        topic_id: TopicId,
        key: String,
        value: Option<String>,
    },
    /// A topic was deleted.
    RemoveTopic { topic_id: TopicId },
    /// Producer ids below `next_block_start` have been handed out (or
    /// reserved): the next allocation starts there.
    ProducerIdBlock { next_block_start: i64 },
}

const KIND_TOPIC: u8 = 1;
const KIND_PARTITION_COUNT: u8 = 2;
const KIND_TOPIC_CONFIG: u8 = 3;
const KIND_REMOVE_TOPIC: u8 = 4;
const KIND_PRODUCER_ID_BLOCK: u8 = 5;

impl MetadataRecord {
    /// Appends this record's encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            MetadataRecord::Topic {
                topic_id,
                name,
                partitions,
                configs,
            } => {
                out.push(KIND_TOPIC);
                out.extend_from_slice(topic_id);
                put_string(out, name);
                out.extend_from_slice(&partitions.to_be_bytes());
                let count = u16::try_from(configs.len()).expect("config count fits u16");
                out.extend_from_slice(&count.to_be_bytes());
                for (key, value) in configs {
                    put_string(out, key);
                    put_string(out, value);
                }
            }
            MetadataRecord::PartitionCount {
                topic_id,
                partitions,
            } => {
                out.push(KIND_PARTITION_COUNT);
                out.extend_from_slice(topic_id);
                out.extend_from_slice(&partitions.to_be_bytes());
            }
            MetadataRecord::TopicConfig {
                topic_id,
                key,
                value,
            } => {
                out.push(KIND_TOPIC_CONFIG);
                out.extend_from_slice(topic_id);
                put_string(out, key);
                match value {
                    Some(value) => {
                        out.push(1);
                        put_string(out, value);
                    }
                    None => out.push(0),
                }
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                out.push(KIND_REMOVE_TOPIC);
                out.extend_from_slice(topic_id);
            }
            MetadataRecord::ProducerIdBlock { next_block_start } => {
                out.push(KIND_PRODUCER_ID_BLOCK);
                out.extend_from_slice(&next_block_start.to_be_bytes());
            }
        }
    }

    /// Decodes one record that fills `bytes` exactly.
    ///
    /// # Errors
    /// [`MetadataError::CorruptRecord`] if the bytes are not a record.
    pub fn decode(bytes: &[u8]) -> Result<MetadataRecord, MetadataError> {
        let mut reader = Reader { bytes };
        let record = match reader.u8()? {
            KIND_TOPIC => {
                let topic_id = reader.topic_id()?;
                let name = reader.string()?;
                let partitions = reader.i32()?;
                let count = reader.u16()?;
                let mut configs = Vec::new();
                for _ in 0..count {
                    configs.push((reader.string()?, reader.string()?));
                }
                MetadataRecord::Topic {
                    topic_id,
                    name,
                    partitions,
                    configs,
                }
            }
            KIND_PARTITION_COUNT => MetadataRecord::PartitionCount {
                topic_id: reader.topic_id()?,
                partitions: reader.i32()?,
            },
            KIND_TOPIC_CONFIG => {
                let topic_id = reader.topic_id()?;
                let key = reader.string()?;
                let value = match reader.u8()? {
                    0 => None,
                    1 => Some(reader.string()?),
                    _ => return Err(corrupt("bad presence flag")),
                };
                MetadataRecord::TopicConfig {
                    topic_id,
                    key,
                    value,
                }
            }
            KIND_REMOVE_TOPIC => MetadataRecord::RemoveTopic {
                topic_id: reader.topic_id()?,
            },
            KIND_PRODUCER_ID_BLOCK => MetadataRecord::ProducerIdBlock {
                next_block_start: reader.i64()?,
            },
            _ => return Err(corrupt("unknown record kind")),
        };
        if !reader.bytes.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(record)
    }
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    let len = u16::try_from(text.len()).expect("metadata strings are validated to fit u16");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn corrupt(reason: &'static str) -> MetadataError {
    MetadataError::CorruptRecord { reason }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], MetadataError> {
        if self.bytes.len() < n {
            return Err(corrupt("record shorter than its fields"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, MetadataError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, MetadataError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, MetadataError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, MetadataError> {
        let b = self.take(8)?;
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(b);
        Ok(i64::from_be_bytes(bytes))
    }
    fn topic_id(&mut self) -> Result<TopicId, MetadataError> {
        let mut id = [0u8; 16];
        id.copy_from_slice(self.take(16)?);
        Ok(id)
    }
    fn string(&mut self) -> Result<String, MetadataError> {
        let len = usize::from(self.u16()?);
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| corrupt("string is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<MetadataRecord> {
        vec![
            MetadataRecord::Topic {
                topic_id: [3; 16],
                name: "orders".into(),
                partitions: 8,
                configs: vec![("retention.ms".into(), "1000".into())],
            },
            MetadataRecord::PartitionCount {
                topic_id: [3; 16],
                partitions: 12,
            },
            MetadataRecord::TopicConfig {
                topic_id: [3; 16],
                key: "retention.ms".into(),
                value: None,
            },
            MetadataRecord::RemoveTopic { topic_id: [3; 16] },
            MetadataRecord::ProducerIdBlock {
                next_block_start: 5000,
            },
        ]
    }

    #[test]
    fn records_round_trip() {
        for record in samples() {
            let mut bytes = Vec::new();
            record.encode(&mut bytes);
            assert_eq!(MetadataRecord::decode(&bytes).unwrap(), record);
        }
    }

    #[test]
    fn truncated_or_padded_records_are_refused() {
        for record in samples() {
            let mut bytes = Vec::new();
            record.encode(&mut bytes);
            for cut in 0..bytes.len() {
                assert!(MetadataRecord::decode(&bytes[..cut]).is_err());
            }
            bytes.push(0);
            assert!(MetadataRecord::decode(&bytes).is_err());
        }
    }
}
