//! What OffsetCommit and TxnOffsetCommit share: screening each partition
//! of a commit before the group coordinator sees it (the group and topic
//! ACLs, unknown topics and partitions answered here, as Kafka does), and
//! putting the coordinator's per-partition results back in request order.

use skein_controller::group_coordinator::{GroupError, OffsetCommitPartition, TopicPartition};
use skein_controller::{AclOperation, MetadataImage};

use crate::caller::Caller;
use crate::error_code::{group_result, ErrorCode};

/// One partition of a commit, as its request carries it.
#[derive(Debug)]
pub struct CommitEntry {
    /// The partition index.
    pub partition: i32,
    /// The committed offset.
    pub offset: i64,
    /// The leader epoch, where the version carries one.
    pub leader_epoch: Option<i32>,
    /// The committed metadata string.
    pub metadata: Option<String>,
    /// The commit timestamp (OffsetCommit v1 only).
    pub commit_timestamp_ms: Option<i64>,
}

/// A commit's partitions split: per topic, per partition, `Some(code)` for
/// those answered here and `None` for those in `offsets`, in order.
#[derive(Debug, Default)]
pub struct ScreenedCommit {
    /// The codes answered here, by topic then partition.
    pub answered: Vec<Vec<Option<ErrorCode>>>,
    /// What goes to the group coordinator.
    pub offsets: Vec<OffsetCommitPartition>,
}

impl ScreenedCommit {
    /// Screens one topic's `entries`: all get `refused` if set (the group's
    /// ACL, checked by the caller), else TOPIC_AUTHORIZATION_FAILED without
    /// READ on the topic, else UNKNOWN_TOPIC_OR_PARTITION for a partition
    /// the image does not have.
    pub fn add_topic(
        &mut self,
        image: &MetadataImage,
        caller: &Caller<'_>,
        refused: Option<ErrorCode>,
        topic: &str,
        entries: impl ExactSizeIterator<Item = CommitEntry>,
    ) {
        let known = image.topic(topic);
        let refused = refused.or_else(|| {
            (!caller.may_on_topic(AclOperation::Read, topic))
                .then_some(ErrorCode::TopicAuthorizationFailed)
        });
        let mut codes = Vec::with_capacity(entries.len());
        for entry in entries {
            if let Some(code) = refused {
                codes.push(Some(code));
                continue;
            }
            let exists = known.is_some_and(|t| (0..t.partitions).contains(&entry.partition));
            if !exists {
                codes.push(Some(ErrorCode::UnknownTopicOrPartition));
                continue;
            }
            codes.push(None);
            self.offsets.push(OffsetCommitPartition {
                topic_partition: TopicPartition {
                    topic: topic.to_string(),
                    partition: entry.partition,
                },
                offset: entry.offset,
                leader_epoch: entry.leader_epoch,
                metadata: entry.metadata,
                commit_timestamp_ms: entry.commit_timestamp_ms,
            });
        }
        self.answered.push(codes);
    }

    /// Every partition's code, by topic then partition, when what would go
    /// to the coordinator was refused with `code` before it: the code
    /// answered here, else `code`.
    pub fn codes_refused(self, code: ErrorCode) -> Vec<Vec<ErrorCode>> {
        self.answered
            .into_iter()
            .map(|codes| codes.into_iter().map(|c| c.unwrap_or(code)).collect())
            .collect()
    }

    /// Every partition's code, by topic then partition: the code answered
    /// here, else the coordinator's next result (`results`, one per
    /// partition not answered here, in order; `None`, or a wrong count,
    /// when it did not answer as asked: COORDINATOR_NOT_AVAILABLE).
    pub fn codes(
        self,
        results: Option<Vec<(TopicPartition, Result<(), GroupError>)>>,
    ) -> Vec<Vec<ErrorCode>> {
        let expected = self
            .answered
            .iter()
            .flatten()
            .filter(|code| code.is_none())
            .count();
        let mut results = results
            .filter(|results| results.len() == expected)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, result)| result);
        self.answered
            .into_iter()
            .map(|codes| {
                codes
                    .into_iter()
                    .map(|code| {
                        code.unwrap_or_else(|| match results.next() {
                            Some(result) => group_result(&result),
                            None => ErrorCode::CoordinatorNotAvailable,
                        })
                    })
                    .collect()
            })
            .collect()
    }
}
