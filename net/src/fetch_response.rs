//! The zero-copy Fetch response writer. The response's fields are encoded
//! into small buffers; each partition's record batches are left where the
//! log holds them and become their own response parts, so the connection
//! writes them to the socket without copying them into a response buffer.
//!
//! The layout follows `kafka-protocol`'s `FetchResponse` encoder exactly for
//! every version served (4–18); a unit test compares the two byte for byte.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, TopicName};
use skein_engine::LogChunk;
use skein_replication::AbortedTxn;
use uuid::Uuid;

use crate::frame::RequestHeader;
use crate::response::{write_response_header, EncodeError, Response, ResponsePart};

/// One partition of a Fetch response; its records as read on this shard
/// (`LogChunk`), or as `Bytes` while they cross the mesh from their owner.
pub struct FetchedPartition<C = LogChunk> {
    /// The partition index.
    pub partition_index: i32,
    /// Its error code (0 for none).
    pub error_code: i16,
    /// The high watermark, or -1 with an error.
    pub high_watermark: i64,
    /// The last stable offset, or -1 with an error.
    pub last_stable_offset: i64,
    /// The log start offset, or -1 with an error.
    pub log_start_offset: i64,
    /// A follower's diverging epoch `(epoch, end offset)` (v12+, tagged
    /// field 0), `None` when it did not diverge.
    pub diverging_epoch: Option<(i32, i64)>,
    /// For a read_committed fetch, the aborted transactions overlapping
    /// the records (`None`: a read_uncommitted fetch, encoded as null).
    pub aborted_transactions: Option<Vec<AbortedTxn>>,
    /// Whole record batches, in offset order.
    pub chunks: Vec<C>,
}

impl<C> FetchedPartition<C> {
    /// The same answer with each chunk of records turned by `chunk`.
    fn map_chunks<D>(self, chunk: impl FnMut(C) -> D) -> FetchedPartition<D> {
        FetchedPartition {
            partition_index: self.partition_index,
            error_code: self.error_code,
            high_watermark: self.high_watermark,
            last_stable_offset: self.last_stable_offset,
            log_start_offset: self.log_start_offset,
            diverging_epoch: self.diverging_epoch,
            aborted_transactions: self.aborted_transactions,
            chunks: self.chunks.into_iter().map(chunk).collect(),
        }
    }
}

impl FetchedPartition {
    /// The same answer with its records as `Bytes`, to cross the mesh:
    /// free for records from the tail cache, one copy for a disk read.
    pub fn into_sendable(self) -> FetchedPartition<Bytes> {
        self.map_chunks(LogChunk::into_bytes)
    }
}

impl FetchedPartition<Bytes> {
    /// An answer from the mesh, ready to be written.
    pub fn into_local(self) -> FetchedPartition {
        self.map_chunks(LogChunk::Memory)
    }
}

/// One topic of a Fetch response.
pub struct FetchedTopic {
    /// Its name (versions up to 12).
    pub name: TopicName,
    /// Its id (versions 13 and up).
    pub topic_id: Uuid,
    /// Its partitions, in request order.
    pub partitions: Vec<FetchedPartition>,
}

/// Builds the Fetch response frame for `header` (a Fetch request of a served
/// version).
///
/// # Errors
/// [`EncodeError`] if a length does not fit its field (a bug).
pub fn write_fetch_response(
    header: &RequestHeader,
    error_code: i16,
    session_id: i32,
    topics: Vec<FetchedTopic>,
) -> Result<Response, EncodeError> {
    let version = header.api_version;
    let fail = |error: anyhow::Error| EncodeError {
        api_key: ApiKey::Fetch,
        version,
        reason: error.to_string(),
    };
    let flexible = version >= 12;
    let mut parts: Vec<ResponsePart> = Vec::with_capacity(1 + 2 * topics.len());
    let mut buf = BytesMut::with_capacity(512);
    buf.put_i32(0);
    write_response_header(&mut buf, header, ApiKey::Fetch).map_err(fail)?;
    buf.put_i32(0i32); // throttle_time_ms
    if version >= 7 {
        buf.put_i16(error_code);
        buf.put_i32(session_id);
    }
    write_array_len(&mut buf, topics.len(), flexible).map_err(fail)?;
    for topic in topics {
        if version <= 12 {
            if flexible {
                put_string(&mut buf, topic.name.as_str(), true).map_err(fail)?;
            } else {
                put_string(&mut buf, topic.name.as_str(), false).map_err(fail)?;
            }
        }
        if version >= 13 {
            buf.put_slice(topic.topic_id.as_bytes());
        }
        write_array_len(&mut buf, topic.partitions.len(), flexible).map_err(fail)?;
        for partition in topic.partitions {
            buf.put_i32(partition.partition_index);
            buf.put_i16(partition.error_code);
            buf.put_i64(partition.high_watermark);
            buf.put_i64(partition.last_stable_offset);
            if version >= 5 {
                buf.put_i64(partition.log_start_offset);
            }
            match &partition.aborted_transactions {
                None if flexible => put_unsigned_varint(&mut buf, 0u32),
                None => buf.put_i32(-1i32),
                Some(aborted) => {
                    write_array_len(&mut buf, aborted.len(), flexible).map_err(fail)?;
                    for txn in aborted {
                        buf.put_i64(txn.producer_id);
                        buf.put_i64(txn.first_offset);
                        if flexible {
                            put_unsigned_varint(&mut buf, 0u32); // tags
                        }
                    }
                }
            }
            if version >= 11 {
                buf.put_i32(-1i32); // preferred_read_replica
            }
            let records_len: usize = partition.chunks.iter().map(LogChunk::len).sum();
            if flexible {
                let len = u32::try_from(records_len + 1).map_err(|e| fail(e.into()))?;
                put_unsigned_varint(&mut buf, len);
            } else {
                let len = i32::try_from(records_len).map_err(|e| fail(e.into()))?;
                buf.put_i32(len);
            }
            if records_len > 0 {
                parts.push(ResponsePart::Encoded(buf.split().freeze()));
                parts.extend(partition.chunks.into_iter().map(ResponsePart::Records));
            }
            if flexible {
                // Partition tags: diverging_epoch is tag 0, an
                // EpochEndOffset of epoch (4 bytes), end offset (8) and
                // its own empty tags (1).
                match partition.diverging_epoch {
                    Some((epoch, end_offset)) => {
                        put_unsigned_varint(&mut buf, 1u32);
                        put_unsigned_varint(&mut buf, 0u32);
                        put_unsigned_varint(&mut buf, 13u32);
                        buf.put_i32(epoch);
                        buf.put_i64(end_offset);
                        put_unsigned_varint(&mut buf, 0u32);
                    }
                    None => put_unsigned_varint(&mut buf, 0u32),
                }
            }
        }
        if flexible {
            put_unsigned_varint(&mut buf, 0u32); // topic tags
        }
    }
    if flexible {
        put_unsigned_varint(&mut buf, 0u32); // response tags
    }
    if !buf.is_empty() {
        parts.push(ResponsePart::Encoded(buf.freeze()));
    }
    let total: usize = parts.iter().map(|part| part.as_slice().len()).sum();
    let size = i32::try_from(total - 4).map_err(|e| fail(e.into()))?;
    // The size prefix lives at the start of the first part, which is always
    // encoded bytes.
    if let Some(ResponsePart::Encoded(first)) = parts.first_mut() {
        let mut patched = BytesMut::from(&first[..]);
        if let Some(prefix) = patched.get_mut(0..4) {
            prefix.copy_from_slice(&size.to_be_bytes());
        }
        *first = patched.freeze();
    }
    Ok(Response { parts })
}

fn write_array_len(buf: &mut BytesMut, len: usize, flexible: bool) -> anyhow::Result<()> {
    if flexible {
        put_unsigned_varint(buf, u32::try_from(len + 1)?);
    } else {
        buf.put_i32(i32::try_from(len)?);
    }
    Ok(())
}

/// A string: compact (varint length + 1) in flexible versions, else i16
/// length.
fn put_string(buf: &mut BytesMut, text: &str, flexible: bool) -> anyhow::Result<()> {
    if flexible {
        put_unsigned_varint(buf, u32::try_from(text.len() + 1)?);
    } else {
        buf.put_i16(i16::try_from(text.len())?);
    }
    buf.put_slice(text.as_bytes());
    Ok(())
}

/// Kafka's unsigned varint: 7 bits per byte, low bits first.
fn put_unsigned_varint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use kafka_protocol::messages::fetch_response::{
        EpochEndOffset, FetchResponse, FetchableTopicResponse, PartitionData,
    };
    use kafka_protocol::protocol::StrBytes;

    fn sample(version: i16) -> (Vec<FetchedTopic>, FetchResponse) {
        let batches = [
            Bytes::from_static(b"first-batch"),
            Bytes::from_static(b"second"),
        ];
        let topic_id = Uuid::from_bytes([5; 16]);
        let name = TopicName(StrBytes::from_static_str("orders"));
        let ours = vec![FetchedTopic {
            name: name.clone(),
            topic_id,
            partitions: vec![
                FetchedPartition {
                    partition_index: 0,
                    error_code: 0,
                    high_watermark: 10,
                    last_stable_offset: 10,
                    log_start_offset: 2,
                    diverging_epoch: None,
                    aborted_transactions: Some(vec![AbortedTxn {
                        producer_id: 4,
                        first_offset: 3,
                        last_offset: 6,
                        last_stable_offset: 7,
                    }]),
                    chunks: batches.iter().cloned().map(LogChunk::Memory).collect(),
                },
                FetchedPartition {
                    partition_index: 3,
                    error_code: 1,
                    high_watermark: -1,
                    last_stable_offset: -1,
                    log_start_offset: -1,
                    diverging_epoch: (version >= 12).then_some((3, 7)),
                    aborted_transactions: None,
                    chunks: vec![],
                },
            ],
        }];
        let mut joined = Vec::new();
        for batch in &batches {
            joined.extend_from_slice(batch);
        }
        let theirs = FetchResponse::default()
            .with_session_id(if version >= 7 { 77 } else { 0 })
            .with_responses(vec![FetchableTopicResponse::default()
                .with_topic(if version <= 12 {
                    name
                } else {
                    TopicName::default()
                })
                .with_topic_id(if version >= 13 { topic_id } else { Uuid::nil() })
                .with_partitions(vec![
                    PartitionData::default()
                        .with_partition_index(0)
                        .with_high_watermark(10)
                        .with_last_stable_offset(10)
                        .with_log_start_offset(2)
                        .with_aborted_transactions(Some(vec![
                            kafka_protocol::messages::fetch_response::AbortedTransaction::default()
                                .with_producer_id(kafka_protocol::messages::ProducerId(4))
                                .with_first_offset(3),
                        ]))
                        .with_preferred_read_replica(kafka_protocol::messages::BrokerId(-1))
                        .with_records(Some(Bytes::from(joined))),
                    PartitionData::default()
                        .with_partition_index(3)
                        .with_error_code(1)
                        .with_high_watermark(-1)
                        .with_last_stable_offset(-1)
                        .with_log_start_offset(-1)
                        .with_diverging_epoch(if version >= 12 {
                            EpochEndOffset::default().with_epoch(3).with_end_offset(7)
                        } else {
                            EpochEndOffset::default()
                        })
                        .with_aborted_transactions(None)
                        .with_preferred_read_replica(kafka_protocol::messages::BrokerId(-1))
                        .with_records(Some(Bytes::new())),
                ])]);
        (ours, theirs)
    }

    #[test]
    fn zero_copy_layout_matches_the_codec_for_every_version() {
        for version in 4..=18 {
            let header = RequestHeader {
                api_key: 1,
                api_version: version,
                correlation_id: 9,
                client_id: None,
            };
            let (ours, theirs) = sample(version);
            let session = if version >= 7 { 77 } else { 0 };
            let response = write_fetch_response(&header, 0, session, ours).unwrap();
            let mut written = Vec::new();
            for part in &response.parts {
                written.extend_from_slice(part.as_slice());
            }
            let expected =
                crate::response::encode_response(&header, ApiKey::Fetch, &theirs).unwrap();
            let expected: Vec<u8> = expected
                .parts
                .iter()
                .flat_map(|p| p.as_slice().to_vec())
                .collect();
            assert_eq!(written, expected, "version {version}");
            assert!(
                response
                    .parts
                    .iter()
                    .any(|p| matches!(p, ResponsePart::Records(_))),
                "records stay zero-copy"
            );
        }
    }
}
