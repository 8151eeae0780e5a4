//! A group's committed offsets: OffsetFetch and OffsetCommit, sent to the
//! group's coordinator. Commits are made as an admin (generation -1, no
//! member id), which Kafka accepts only while the group has no members.
use std::collections::BTreeMap;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::response_error::check_error_code;
use super::{ClientError, Connection};

/// Committed offsets by `(topic, partition)`. Partitions without a commit
/// are left out.
pub type CommittedOffsets = BTreeMap<(String, i32), i64>;

impl Connection {
    /// Every offset `group` has committed (this broker must coordinate it).
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; [`ClientError::Kafka`] for the group's
    /// or a partition's error code.
    pub fn committed_offsets(&mut self, group: &str) -> Result<CommittedOffsets, ClientError> {
        let group_id = GroupId(StrBytes::from_string(group.to_owned()));
        // v1-7 name one group at the top level, v8+ a list; the encoder
        // refuses a field its version lacks. A `None` topic list asks for
        // every committed partition.
        let request = if self.versions().pick::<OffsetFetchRequest>()? >= 8 {
            OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(group_id)
                .with_topics(None)])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(group_id)
                .with_topics(None)
        };
        let response = self.call(&request)?;
        let mut offsets = CommittedOffsets::new();
        let mut record = |topic: &str, partition: i32, offset: i64, code: i16| {
            check_error_code(
                ApiKey::OffsetFetch,
                code,
                &format!("{topic}-{partition}"),
                None,
            )?;
            if offset >= 0 {
                offsets.insert((topic.to_owned(), partition), offset);
            }
            Ok::<(), ClientError>(())
        };
        if let Some(answer) = response.groups.first() {
            check_error_code(ApiKey::OffsetFetch, answer.error_code, group, None)?;
            for topic in &answer.topics {
                for partition in &topic.partitions {
                    record(
                        topic.name.0.as_str(),
                        partition.partition_index,
                        partition.committed_offset,
                        partition.error_code,
                    )?;
                }
            }
        } else {
            check_error_code(ApiKey::OffsetFetch, response.error_code, group, None)?;
            for topic in &response.topics {
                for partition in &topic.partitions {
                    record(
                        topic.name.0.as_str(),
                        partition.partition_index,
                        partition.committed_offset,
                        partition.error_code,
                    )?;
                }
            }
        }
        Ok(offsets)
    }

    /// Commits `offsets` for `group` as an admin (no member, generation -1).
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; [`ClientError::Kafka`] for the first
    /// partition error (e.g. UNKNOWN_MEMBER_ID when the group has members).
    pub fn commit_offsets(
        &mut self,
        group: &str,
        offsets: &CommittedOffsets,
    ) -> Result<(), ClientError> {
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for ((topic, partition), offset) in offsets {
            topics.entry(topic).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*partition)
                    .with_committed_offset(*offset)
                    .with_committed_leader_epoch(-1),
            );
        }
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(StrBytes::from_static_str(""))
            .with_retention_time_ms(-1)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        let response = self.call(&request)?;
        for topic in &response.topics {
            for partition in &topic.partitions {
                check_error_code(
                    ApiKey::OffsetCommit,
                    partition.error_code,
                    &format!("{}-{}", topic.name.0.as_str(), partition.partition_index),
                    None,
                )?;
            }
        }
        Ok(())
    }
}
