//! OffsetFetch: one group (v1–v7) or several (v8+, one coordinator request
//! per group); `null` topics (v2+) fetch everything the group committed.
//! With `require_stable` (v7+, KIP-447) a partition whose offsets an open
//! transaction holds is answered UNSTABLE_OFFSET_COMMIT (88), which clients
//! retry until the transaction ends.

use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequest;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions, OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, TopicName};
use skein_controller::group_coordinator::{
    self as groups, FetchedOffset, GroupError, Request, Response, TopicPartition,
};

use super::{str_bytes, topic_name};
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::{group_error, ErrorCode};
use crate::group_request::ask;
use crate::shard_state::ShardState;

/// Answers an OffsetFetch request of `version`. Kafka: DESCRIBE on the
/// group; partitions of topics the caller may not DESCRIBE are answered
/// TOPIC_AUTHORIZATION_FAILED, or left out of an all-topics fetch.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    let require_stable = version >= 7 && request.require_stable;
    if version >= 8 {
        let mut answers = Vec::with_capacity(request.groups.len());
        for group in request.groups {
            let wanted = group.topics.map(|topics| {
                topics
                    .into_iter()
                    .map(|topic| (topic.name, topic.partition_indexes))
                    .collect()
            });
            // v9: a consumer group member's id and epoch, checked by the
            // coordinator (admin clients send none and epoch -1).
            let member = group
                .member_id
                .map(|id| (id.to_string(), group.member_epoch));
            let result = fetch(ctx, caller, &group.group_id, wanted, member, require_stable).await;
            answers.push(multi_group_answer(group.group_id, result));
        }
        return OffsetFetchResponse::default().with_groups(answers);
    }
    let wanted = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|topic| (topic.name, topic.partition_indexes))
            .collect::<Vec<_>>()
    });
    let result = fetch(
        ctx,
        caller,
        &request.group_id,
        wanted.clone(),
        None,
        require_stable,
    )
    .await;
    match result {
        Ok(fetched) => OffsetFetchResponse::default().with_topics(
            by_topic(fetched, |p| {
                OffsetFetchResponsePartition::default()
                    .with_partition_index(p.topic_partition.partition)
                    .with_committed_offset(p.offset)
                    .with_committed_leader_epoch(p.leader_epoch.unwrap_or(-1))
                    .with_metadata(Some(str_bytes(&p.metadata)))
                    .with_error_code(p.error.code())
            })
            .into_iter()
            .map(|(name, partitions)| {
                OffsetFetchResponseTopic::default()
                    .with_name(name)
                    .with_partitions(partitions)
            })
            .collect(),
        ),
        Err(code) => {
            let code = code.code();
            // v1 has no top-level error: every requested partition carries it.
            let topics = wanted
                .unwrap_or_default()
                .into_iter()
                .map(|(name, partitions)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(name)
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|index| {
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(index)
                                        .with_committed_offset(-1)
                                        .with_committed_leader_epoch(-1)
                                        .with_metadata(Some(str_bytes("")))
                                        .with_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect();
            let response = OffsetFetchResponse::default().with_topics(topics);
            if version >= 2 {
                response.with_error_code(code)
            } else {
                response
            }
        }
    }
}

/// A fetched offset, or why the caller may not see it.
struct Fetched {
    fetched: FetchedOffset,
    error: ErrorCode,
}

impl std::ops::Deref for Fetched {
    type Target = FetchedOffset;
    fn deref(&self) -> &FetchedOffset {
        &self.fetched
    }
}

async fn fetch(
    ctx: &ShardState,
    caller: &Caller<'_>,
    group_id: &GroupId,
    wanted: Option<Vec<(TopicName, Vec<i32>)>>,
    member: Option<(String, i32)>,
    require_stable: bool,
) -> Result<Vec<Fetched>, ErrorCode> {
    if !caller.may_on_group(AclOperation::Describe, group_id.as_str()) {
        return Err(ErrorCode::GroupAuthorizationFailed);
    }
    let topic_allowed = |topic: &str| caller.may_on_topic(AclOperation::Describe, topic);
    let all_topics = wanted.is_none();
    let mut refused = Vec::new();
    let partitions = wanted.map(|topics| {
        topics
            .into_iter()
            .filter(|(name, indexes)| {
                if topic_allowed(name.as_str()) {
                    return true;
                }
                refused.extend(indexes.iter().map(|partition| Fetched {
                    fetched: FetchedOffset {
                        topic_partition: TopicPartition {
                            topic: name.to_string(),
                            partition: *partition,
                        },
                        offset: -1,
                        leader_epoch: None,
                        metadata: String::new(),
                        unstable: false,
                    },
                    error: ErrorCode::TopicAuthorizationFailed,
                }));
                false
            })
            .flat_map(|(name, indexes)| {
                let topic = name.to_string();
                indexes.into_iter().map(move |partition| TopicPartition {
                    topic: topic.clone(),
                    partition,
                })
            })
            .collect()
    });
    let fetch = groups::OffsetFetch {
        group_id: group_id.0.to_string(),
        partitions,
        member,
        require_stable,
    };
    let result = match ask(ctx, Request::OffsetFetch(fetch)).await {
        Ok(Response::OffsetFetch(result)) => result,
        Ok(_) => Err(GroupError::CoordinatorNotAvailable),
        Err(error) => Err(error),
    };
    let fetched = result.map_err(|error| group_error(&error))?;
    let mut answered: Vec<Fetched> = fetched
        .into_iter()
        // An all-topics fetch leaves out what the caller may not see.
        .filter(|offset| !all_topics || topic_allowed(&offset.topic_partition.topic))
        .map(|fetched| Fetched {
            error: if fetched.unstable {
                ErrorCode::UnstableOffsetCommit
            } else {
                ErrorCode::None
            },
            fetched,
        })
        .collect();
    answered.extend(refused);
    Ok(answered)
}

/// Groups fetched offsets by topic, in first-seen order.
fn by_topic<P>(
    fetched: Vec<Fetched>,
    partition: impl Fn(&Fetched) -> P,
) -> Vec<(TopicName, Vec<P>)> {
    let mut topics: Vec<(String, Vec<P>)> = Vec::new();
    for offset in &fetched {
        let entry = partition(offset);
        match topics
            .iter_mut()
            .find(|(name, _)| *name == offset.topic_partition.topic)
        {
            Some((_, partitions)) => partitions.push(entry),
            None => topics.push((offset.topic_partition.topic.clone(), vec![entry])),
        }
    }
    topics
        .into_iter()
        .map(|(name, partitions)| (topic_name(&name), partitions))
        .collect()
}

fn multi_group_answer(
    group_id: GroupId,
    result: Result<Vec<Fetched>, ErrorCode>,
) -> OffsetFetchResponseGroup {
    match result {
        Ok(fetched) => OffsetFetchResponseGroup::default()
            .with_group_id(group_id)
            .with_topics(
                by_topic(fetched, |p| {
                    OffsetFetchResponsePartitions::default()
                        .with_partition_index(p.topic_partition.partition)
                        .with_committed_offset(p.offset)
                        .with_committed_leader_epoch(p.leader_epoch.unwrap_or(-1))
                        .with_metadata(Some(str_bytes(&p.metadata)))
                        .with_error_code(p.error.code())
                })
                .into_iter()
                .map(|(name, partitions)| {
                    OffsetFetchResponseTopics::default()
                        .with_name(name)
                        .with_partitions(partitions)
                })
                .collect(),
            ),
        Err(code) => OffsetFetchResponseGroup::default()
            .with_group_id(group_id)
            .with_error_code(code.code()),
    }
}
