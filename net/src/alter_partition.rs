//! AlterPartition (API 56) at both ends of the controller listener: the
//! request a partition leader sends to change its ISR (v3: topic ids, each
//! member with its broker epoch), how the active controller reads it into
//! its rules' inputs and answers, and how the leader reads the answer into
//! what to do with its pending proposal — Kafka's
//! `Partition.handleAlterPartitionError`: INELIGIBLE_REPLICA and
//! OPERATION_NOT_ATTEMPTED abandon it (the controller says it was not
//! applied); a stale epoch, an unknown partition or an invalid request keep
//! it pending until the metadata image moves on; anything else is retried.
//!
//! Plain functions, no IO (tested below). The leader's loop is
//! `isr_driver`; the controller's handler is the node's controller server.

use kafka_protocol::messages::alter_partition_request::{
    AlterPartitionRequest, BrokerState, PartitionData as RequestPartition,
    TopicData as RequestTopic,
};
use kafka_protocol::messages::alter_partition_response::{
    AlterPartitionResponse, PartitionData as ResponsePartition, TopicData as ResponseTopic,
};
use kafka_protocol::messages::BrokerId as WireBrokerId;
use skein_controller::{AlterPartition, ControllerError, PartitionState};
use skein_replication::{BrokerId, TopicId};

use crate::error_code::{controller_error, ErrorCode};

/// One ISR change a leader proposes for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrProposal {
    /// The partition's topic.
    pub topic_id: TopicId,
    /// The partition index.
    pub partition: i32,
    /// The leader epoch the leader is in.
    pub leader_epoch: i32,
    /// The partition epoch of the ISR it changes.
    pub partition_epoch: i32,
    /// The ISR it asks for, each member with its broker epoch: the leader's
    /// own, and each follower's as its last fetch carried it (KIP-903; -1:
    /// not known, which the controller does not check).
    pub isr: Vec<(BrokerId, i64)>,
}

/// What the leader does with a proposal after the controller's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsrOutcome {
    /// Committed: the partition's ISR is `isr` at `partition_epoch`.
    Committed {
        /// The committed ISR.
        isr: Vec<BrokerId>,
        /// The leader epoch it was committed in.
        leader_epoch: i32,
        /// The partition epoch of the new ISR.
        partition_epoch: i32,
    },
    /// Refused without being applied: forget the proposal (the next check
    /// may propose again).
    Abandon(i16),
    /// Refused because the leader's view is stale: keep the proposal
    /// pending (nothing else is proposed) until the image moves on.
    AwaitMetadata(i16),
    /// Not answered, or answered with an error worth retrying: send it
    /// again.
    Retry(i16),
}

/// The AlterPartition a leader, broker `broker_id` at `broker_epoch`, sends
/// for `proposals` (grouped by topic in the order given).
pub fn build_request(
    broker_id: BrokerId,
    broker_epoch: i64,
    proposals: &[IsrProposal],
) -> AlterPartitionRequest {
    let mut topics: Vec<RequestTopic> = Vec::new();
    for proposal in proposals {
        let partition = RequestPartition::default()
            .with_partition_index(proposal.partition)
            .with_leader_epoch(proposal.leader_epoch)
            .with_partition_epoch(proposal.partition_epoch)
            .with_new_isr_with_epochs(
                proposal
                    .isr
                    .iter()
                    .map(|(broker, epoch)| {
                        BrokerState::default()
                            .with_broker_id(WireBrokerId(*broker))
                            .with_broker_epoch(*epoch)
                    })
                    .collect(),
            );
        let topic_id = uuid::Uuid::from_bytes(proposal.topic_id);
        match topics.last_mut() {
            Some(topic) if topic.topic_id == topic_id => topic.partitions.push(partition),
            _ => topics.push(
                RequestTopic::default()
                    .with_topic_id(topic_id)
                    .with_partitions(vec![partition]),
            ),
        }
    }
    AlterPartitionRequest::default()
        .with_broker_id(WireBrokerId(broker_id))
        .with_broker_epoch(broker_epoch)
        .with_topics(topics)
}

/// The outcome of each of `proposals` in `response` (in the order of
/// `proposals`). A top-level error, or a proposal the response leaves out,
/// is retried, as Kafka's `AlterPartitionManager` does.
pub fn outcomes(response: &AlterPartitionResponse, proposals: &[IsrProposal]) -> Vec<IsrOutcome> {
    proposals
        .iter()
        .map(|proposal| {
            if response.error_code != 0 {
                return IsrOutcome::Retry(response.error_code);
            }
            let topic_id = uuid::Uuid::from_bytes(proposal.topic_id);
            let answer = response
                .topics
                .iter()
                .filter(|topic| topic.topic_id == topic_id)
                .flat_map(|topic| topic.partitions.iter())
                .find(|partition| partition.partition_index == proposal.partition);
            match answer {
                None => IsrOutcome::Retry(ErrorCode::UnknownServerError.code()),
                Some(answer) if answer.error_code == 0 => IsrOutcome::Committed {
                    isr: answer.isr.iter().map(|broker| broker.0).collect(),
                    leader_epoch: answer.leader_epoch,
                    partition_epoch: answer.partition_epoch,
                },
                Some(answer) => refused(answer.error_code),
            }
        })
        .collect()
}

/// What a partition-level error code asks of the leader (Kafka's
/// `handleAlterPartitionError`).
fn refused(code: i16) -> IsrOutcome {
    match ErrorCode::from_code(code) {
        Some(ErrorCode::IneligibleReplica | ErrorCode::OperationNotAttempted) => {
            IsrOutcome::Abandon(code)
        }
        Some(
            ErrorCode::UnknownTopicOrPartition
            | ErrorCode::UnknownTopicId
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::InvalidUpdateVersion
            | ErrorCode::InvalidRequest
            | ErrorCode::NewLeaderElected,
        ) => IsrOutcome::AwaitMetadata(code),
        _ => IsrOutcome::Retry(code),
    }
}

/// The controller's inputs for each partition of `request` (read at
/// `version`: v2 names the ISR's members, v3 adds their broker epochs, which
/// the controller checks against their registrations — KIP-903).
pub fn changes(request: &AlterPartitionRequest, version: i16) -> Vec<AlterPartition> {
    request
        .topics
        .iter()
        .flat_map(|topic| {
            let topic_id = *topic.topic_id.as_bytes();
            topic
                .partitions
                .iter()
                .map(move |partition| AlterPartition {
                    broker_id: request.broker_id.0,
                    broker_epoch: request.broker_epoch,
                    topic_id,
                    partition: partition.partition_index,
                    leader_epoch: partition.leader_epoch,
                    partition_epoch: partition.partition_epoch,
                    new_isr: if version >= 3 {
                        partition
                            .new_isr_with_epochs
                            .iter()
                            .map(|member| member.broker_id.0)
                            .collect()
                    } else {
                        partition.new_isr.iter().map(|member| member.0).collect()
                    },
                    new_isr_broker_epochs: if version >= 3 {
                        partition
                            .new_isr_with_epochs
                            .iter()
                            .map(|member| member.broker_epoch)
                            .collect()
                    } else {
                        Vec::new()
                    },
                })
        })
        .collect()
}

/// The controller's answer: each partition's committed state or its error.
/// A stale broker epoch refuses the whole request (top-level
/// STALE_BROKER_EPOCH), as Kafka's controller does.
pub fn build_response(
    results: &[(AlterPartition, Result<PartitionState, ControllerError>)],
) -> AlterPartitionResponse {
    let stale = results
        .iter()
        .any(|(_, result)| matches!(result, Err(ControllerError::StaleBrokerEpoch { .. })));
    if stale {
        return AlterPartitionResponse::default()
            .with_error_code(ErrorCode::StaleBrokerEpoch.code());
    }
    let mut topics: Vec<ResponseTopic> = Vec::new();
    for (change, result) in results {
        let partition = match result {
            Ok(state) => ResponsePartition::default()
                .with_partition_index(change.partition)
                .with_leader_id(WireBrokerId(state.leader))
                .with_leader_epoch(state.leader_epoch)
                .with_isr(state.isr.iter().copied().map(WireBrokerId).collect())
                .with_partition_epoch(state.partition_epoch),
            Err(error) => ResponsePartition::default()
                .with_partition_index(change.partition)
                .with_error_code(controller_error(error).code())
                .with_leader_id(WireBrokerId(-1))
                .with_leader_epoch(-1)
                .with_partition_epoch(-1),
        };
        let topic_id = uuid::Uuid::from_bytes(change.topic_id);
        match topics.last_mut() {
            Some(topic) if topic.topic_id == topic_id => topic.partitions.push(partition),
            _ => topics.push(
                ResponseTopic::default()
                    .with_topic_id(topic_id)
                    .with_partitions(vec![partition]),
            ),
        }
    }
    AlterPartitionResponse::default().with_topics(topics)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn proposal(topic: u8, partition: i32, isr: &[BrokerId]) -> IsrProposal {
        IsrProposal {
            topic_id: [topic; 16],
            partition,
            leader_epoch: 4,
            partition_epoch: 9,
            isr: isr
                .iter()
                .map(|broker| (*broker, 100 + i64::from(*broker)))
                .collect(),
        }
    }

    #[test]
    fn a_request_groups_partitions_by_topic_and_reads_back_as_the_controllers_inputs() {
        let proposals = [
            proposal(1, 0, &[1, 2]),
            proposal(1, 3, &[1]),
            proposal(2, 0, &[1, 3]),
        ];
        let request = build_request(1, 77, &proposals);
        assert_eq!(request.topics.len(), 2);
        assert_eq!(request.topics[0].partitions.len(), 2);
        assert_eq!(
            request.topics[0].partitions[1].new_isr_with_epochs[0].broker_epoch,
            101
        );
        let changes = changes(&request, 3);
        assert_eq!(changes.len(), 3);
        assert_eq!(
            changes[2],
            AlterPartition {
                broker_id: 1,
                broker_epoch: 77,
                topic_id: [2; 16],
                partition: 0,
                leader_epoch: 4,
                partition_epoch: 9,
                new_isr: vec![1, 3],
                new_isr_broker_epochs: vec![101, 103],
            }
        );
    }

    #[test]
    fn each_refusal_gets_kafkas_reaction() {
        let proposals = [
            proposal(1, 0, &[1, 2]),
            proposal(1, 1, &[1, 2]),
            proposal(1, 2, &[1, 2]),
            proposal(1, 3, &[1, 2]),
            proposal(1, 4, &[1, 2]),
            proposal(1, 5, &[1, 2]),
        ];
        let state = PartitionState {
            replicas: vec![1, 2, 3],
            isr: vec![1, 2],
            leader: 1,
            leader_epoch: 4,
            partition_epoch: 10,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        };
        let change = |index: usize| changes(&build_request(1, 7, &proposals), 3)[index].clone();
        let results = vec![
            (change(0), Ok(state.clone())),
            (change(1), Err(ControllerError::IneligibleReplica(2))),
            (
                change(2),
                Err(ControllerError::FencedLeaderEpoch {
                    requested: 4,
                    current: 5,
                }),
            ),
            (
                change(3),
                Err(ControllerError::InvalidUpdateVersion {
                    requested: 9,
                    current: 10,
                }),
            ),
            (change(4), Err(ControllerError::NotController)),
            (change(5), Err(ControllerError::InvalidRequest("no"))),
        ];
        let response = build_response(&results);
        assert_eq!(
            outcomes(&response, &proposals),
            vec![
                IsrOutcome::Committed {
                    isr: vec![1, 2],
                    leader_epoch: 4,
                    partition_epoch: 10
                },
                IsrOutcome::Abandon(ErrorCode::IneligibleReplica.code()),
                IsrOutcome::AwaitMetadata(ErrorCode::FencedLeaderEpoch.code()),
                IsrOutcome::AwaitMetadata(ErrorCode::InvalidUpdateVersion.code()),
                IsrOutcome::Retry(ErrorCode::NotController.code()),
                IsrOutcome::AwaitMetadata(ErrorCode::InvalidRequest.code()),
            ]
        );
    }

    #[test]
    fn a_stale_broker_epoch_refuses_the_whole_request_and_is_retried() {
        let proposals = [proposal(1, 0, &[1]), proposal(1, 1, &[1])];
        let request = build_request(1, 7, &proposals);
        let results: Vec<_> = changes(&request, 3)
            .into_iter()
            .map(|change| {
                let error = ControllerError::StaleBrokerEpoch {
                    broker_id: 1,
                    broker_epoch: 7,
                    current: 8,
                };
                (change, Err(error))
            })
            .collect();
        let response = build_response(&results);
        assert_eq!(response.error_code, ErrorCode::StaleBrokerEpoch.code());
        assert!(outcomes(&response, &proposals)
            .iter()
            .all(|outcome| *outcome == IsrOutcome::Retry(ErrorCode::StaleBrokerEpoch.code())));
    }

    #[test]
    fn a_partition_missing_from_the_response_is_retried() {
        let proposals = [proposal(1, 0, &[1])];
        let response = AlterPartitionResponse::default();
        assert_eq!(
            outcomes(&response, &proposals),
            vec![IsrOutcome::Retry(ErrorCode::UnknownServerError.code())]
        );
    }
}
