//! OffsetCommit (v0–v9): partitions of topics the metadata image does not
//! know are answered UNKNOWN_TOPIC_OR_PARTITION here, as Kafka does; the
//! rest go to the coordinator, which answers once the commit is durable.
//!
//! v0 carries no generation or member: the codec decodes it as generation -1
//! and member `""`, a standalone ("simple consumer") commit, which the
//! coordinator accepts for a group without members and refuses with
//! UNKNOWN_MEMBER_ID for one that has members. (Kafka ≤ 3.x wrote v0
//! commits to ZooKeeper, out of the group's sight; Skein has no ZooKeeper, so
//! they land in `__consumer_offsets` like any standalone commit.) v1 carries
//! generation and member, checked as in every later version, and a
//! per-partition commit timestamp that Kafka 3.x stores when it is not -1.

use kafka_protocol::messages::offset_commit_request::OffsetCommitRequest;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use skein_controller::group_coordinator::{self as groups, Request, Response};

use skein_controller::AclOperation;

use super::commit_screen::{CommitEntry, ScreenedCommit};
use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::group_request::ask;
use crate::shard_state::ShardState;

/// Answers an OffsetCommit request of `version`. Kafka: READ on the
/// group, then READ on each topic.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    let image = ctx.image();
    let refused = (!caller.may_on_group(AclOperation::Read, request.group_id.as_str()))
        .then_some(ErrorCode::GroupAuthorizationFailed);
    let mut screened = ScreenedCommit::default();
    for topic in &request.topics {
        let entries = topic.partitions.iter().map(|partition| CommitEntry {
            partition: partition.partition_index,
            offset: partition.committed_offset,
            leader_epoch: (version >= 6 && partition.committed_leader_epoch >= 0)
                .then_some(partition.committed_leader_epoch),
            metadata: partition.committed_metadata.as_ref().map(|m| m.to_string()),
            commit_timestamp_ms: (version == 1 && partition.commit_timestamp != -1)
                .then_some(partition.commit_timestamp),
        });
        screened.add_topic(&image, caller, refused, topic.name.as_str(), entries);
    }
    let results = if screened.offsets.is_empty() {
        Some(Vec::new())
    } else {
        let commit = groups::OffsetCommit {
            group_id: request.group_id.0.to_string(),
            generation_id: request.generation_id_or_member_epoch,
            member_id: request.member_id.to_string(),
            group_instance_id: request.group_instance_id.map(|id| id.to_string()),
            retention_time_ms: ((2..=4).contains(&version) && request.retention_time_ms != -1)
                .then_some(request.retention_time_ms),
            offsets: std::mem::take(&mut screened.offsets),
            api_version: version,
        };
        let expected = commit.offsets.len();
        match ask(ctx, Request::OffsetCommit(commit)).await {
            Ok(Response::OffsetCommit(results)) if results.len() == expected => Some(results),
            Ok(_) | Err(_) => None,
        }
    };
    let topics = request
        .topics
        .into_iter()
        .zip(screened.codes(results))
        .map(|(topic, codes)| {
            let partitions = topic
                .partitions
                .iter()
                .zip(codes)
                .map(|(partition, code)| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(partition.partition_index)
                        .with_error_code(code.code())
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    //! v0 and v1 come from the patched vendored codec (SKEIN-PATCHES.md):
    //! the bytes here are built by hand from Kafka 3.x's schemas, not by
    //! that codec, so a layout mistake in the patch shows.

    use bytes::{BufMut, Bytes, BytesMut};
    use kafka_protocol::messages::ApiKey;

    use super::*;
    use crate::frame::RequestHeader;
    use crate::handlers::topic_name;
    use crate::request::{decode_request, Request as Decoded, RequestError};
    use crate::response::encode_response;

    const OFFSET_COMMIT: i16 = 8;

    fn header(version: i16) -> RequestHeader {
        RequestHeader {
            api_key: OFFSET_COMMIT,
            api_version: version,
            correlation_id: 0x0102_0304,
            client_id: None,
        }
    }

    fn string(buf: &mut BytesMut, s: &str) {
        buf.put_i16(i16::try_from(s.len()).unwrap());
        buf.put_slice(s.as_bytes());
    }

    /// OffsetCommit v0: group_id STRING | topics ARRAY[ name STRING |
    /// partitions ARRAY[ partition_index INT32 | committed_offset INT64 |
    /// committed_metadata NULLABLE_STRING ] ]
    fn v0_body() -> Bytes {
        let mut b = BytesMut::new();
        string(&mut b, "g0");
        b.put_i32(1);
        string(&mut b, "orders");
        b.put_i32(2);
        b.put_i32(0);
        b.put_i64(42);
        string(&mut b, "meta");
        b.put_i32(3);
        b.put_i64(7);
        b.put_i16(-1); // null metadata
        b.freeze()
    }

    /// OffsetCommit v1: group_id STRING | generation_id INT32 |
    /// member_id STRING | topics ARRAY[ name STRING | partitions ARRAY[
    /// partition_index INT32 | committed_offset INT64 |
    /// commit_timestamp INT64 | committed_metadata NULLABLE_STRING ] ]
    fn v1_body() -> Bytes {
        let mut b = BytesMut::new();
        string(&mut b, "g1");
        b.put_i32(5);
        string(&mut b, "member-1");
        b.put_i32(1);
        string(&mut b, "orders");
        b.put_i32(1);
        b.put_i32(4);
        b.put_i64(1_000);
        b.put_i64(1_700_000_000_000);
        string(&mut b, "");
        b.freeze()
    }

    fn decode(version: i16, body: Bytes) -> Result<OffsetCommitRequest, RequestError> {
        match decode_request(&header(version), body)? {
            Decoded::OffsetCommit(request) => Ok(request),
            _ => panic!("decoded as another API"),
        }
    }

    #[test]
    fn v0_decodes_as_a_standalone_commit() {
        let r = decode(0, v0_body()).unwrap();
        assert_eq!(r.group_id.0.as_str(), "g0");
        assert_eq!(r.generation_id_or_member_epoch, -1);
        assert_eq!(r.member_id.as_str(), "");
        assert_eq!(r.group_instance_id, None);
        assert_eq!(r.retention_time_ms, -1);
        assert_eq!(r.topics.len(), 1);
        let topic = &r.topics[0];
        assert_eq!(topic.name.0.as_str(), "orders");
        let p = &topic.partitions;
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].partition_index, p[0].committed_offset), (0, 42));
        assert_eq!(p[0].committed_metadata.as_deref(), Some("meta"));
        assert_eq!((p[1].partition_index, p[1].committed_offset), (3, 7));
        assert_eq!(p[1].committed_metadata, None);
        for partition in p {
            assert_eq!(partition.commit_timestamp, -1);
            assert_eq!(partition.committed_leader_epoch, -1);
        }
    }

    #[test]
    fn v1_decodes_generation_member_and_commit_timestamp() {
        let r = decode(1, v1_body()).unwrap();
        assert_eq!(r.group_id.0.as_str(), "g1");
        assert_eq!(r.generation_id_or_member_epoch, 5);
        assert_eq!(r.member_id.as_str(), "member-1");
        assert_eq!(r.retention_time_ms, -1);
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.partition_index, p.committed_offset), (4, 1_000));
        assert_eq!(p.commit_timestamp, 1_700_000_000_000);
        assert_eq!(p.committed_metadata.as_deref(), Some(""));
    }

    #[test]
    fn v2_still_has_no_commit_timestamp() {
        // v2: retention_time_ms (INT64) follows the member id and partitions
        // carry no commit_timestamp; the patch must not shift either.
        let mut b = BytesMut::new();
        string(&mut b, "g2");
        b.put_i32(5);
        string(&mut b, "m");
        b.put_i64(-1);
        b.put_i32(1);
        string(&mut b, "t");
        b.put_i32(1);
        b.put_i32(0);
        b.put_i64(9);
        string(&mut b, "x");
        let r = decode(2, b.freeze()).unwrap();
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.committed_offset, p.commit_timestamp), (9, -1));
        assert_eq!(p.committed_metadata.as_deref(), Some("x"));
    }

    #[test]
    fn every_truncation_of_a_v0_or_v1_body_is_malformed_not_a_panic() {
        for (version, body) in [(0, v0_body()), (1, v1_body())] {
            assert!(decode(version, body.clone()).is_ok());
            for cut in 0..body.len() {
                let result = decode(version, body.slice(..cut));
                assert!(
                    matches!(result, Err(RequestError::Malformed { .. })),
                    "v{version} cut at {cut} of {}",
                    body.len()
                );
            }
        }
    }

    #[test]
    fn lying_counts_and_lengths_in_v0_and_v1_are_malformed() {
        let hostile: [(i16, &[u8]); 6] = [
            // v0: topics claims i32::MAX entries, has none.
            (0, &[0, 1, b'g', 0x7f, 0xff, 0xff, 0xff]),
            // v0: one topic whose partitions claim i32::MAX entries.
            (
                0,
                &[0, 1, b'g', 0, 0, 0, 1, 0, 1, b't', 0x7f, 0xff, 0xff, 0xff],
            ),
            // v0: group id claims 32767 bytes.
            (0, &[0x7f, 0xff, b'g']),
            // v1: member id length -2 (only -1 means null, and it is not nullable).
            (1, &[0, 1, b'g', 0, 0, 0, 1, 0xff, 0xfe]),
            // v1: partition cut inside commit_timestamp.
            (
                1,
                &[
                    0, 1, b'g', 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0,
                    0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
                ],
            ),
            // v1: topics count -5.
            (1, &[0, 1, b'g', 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xfb]),
        ];
        for (version, body) in hostile {
            let result = decode(version, Bytes::from_static(body));
            assert!(
                matches!(result, Err(RequestError::Malformed { .. })),
                "v{version} {body:?} decoded"
            );
        }
    }

    fn response() -> OffsetCommitResponse {
        OffsetCommitResponse::default()
            .with_throttle_time_ms(0)
            .with_topics(vec![OffsetCommitResponseTopic::default()
                .with_name(topic_name("orders"))
                .with_partitions(vec![
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(0)
                        .with_error_code(0),
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(3)
                        .with_error_code(ErrorCode::UnknownMemberId.code()),
                ])])
    }

    fn wire(response: crate::response::Response) -> Vec<u8> {
        response
            .parts
            .iter()
            .flat_map(|part| part.as_slice().to_vec())
            .collect()
    }

    #[test]
    fn v0_and_v1_responses_are_exactly_kafkas_layout() {
        // size INT32 | correlation_id INT32 (response header v0) |
        // topics ARRAY[ name STRING | partitions ARRAY[ partition_index INT32
        // | error_code INT16 ] ] — no throttle_time_ms before v3.
        let mut body = BytesMut::new();
        body.put_i32(0x0102_0304);
        body.put_i32(1);
        string(&mut body, "orders");
        body.put_i32(2);
        body.put_i32(0);
        body.put_i16(0);
        body.put_i32(3);
        body.put_i16(25); // UNKNOWN_MEMBER_ID
        let mut expected = BytesMut::new();
        expected.put_i32(i32::try_from(body.len()).unwrap());
        expected.put_slice(&body);
        for version in [0, 1] {
            let encoded = encode_response(&header(version), ApiKey::OffsetCommit, &response());
            assert_eq!(wire(encoded.unwrap()), expected.to_vec(), "v{version}");
        }
        // v2 is the same; v3 adds throttle_time_ms after the header.
        let v2 = encode_response(&header(2), ApiKey::OffsetCommit, &response()).unwrap();
        assert_eq!(wire(v2), expected.to_vec());
        let v3 = encode_response(&header(3), ApiKey::OffsetCommit, &response()).unwrap();
        assert_eq!(wire(v3).len(), expected.len() + 4);
    }
}
