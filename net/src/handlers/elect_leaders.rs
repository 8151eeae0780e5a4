//! ElectLeaders: move partitions' leadership to their preferred replica, or
//! elect a leader for leaderless partitions from outside the ISR (unclean).
//! The control shard runs the election through the metadata quorum; each
//! partition gets its own outcome (ELECTION_NOT_NEEDED where the leader is
//! already the one asked for), and no partitions (null) means every
//! partition, answering only those that needed an election, as Kafka does.

use kafka_protocol::messages::elect_leaders_request::ElectLeadersRequest;
use kafka_protocol::messages::elect_leaders_response::{
    ElectLeadersResponse, PartitionResult, ReplicaElectionResult,
};

use super::{message, topic_name};
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_message::{
    ControlError, ControlReply, ControlRequest, ElectionOutcome, ElectionType,
};
use crate::shard_state::ShardState;

/// Kafka's `ElectionType` byte: 0 preferred, 1 unclean.
fn election_type(byte: i8) -> Option<ElectionType> {
    match byte {
        0 => Some(ElectionType::Preferred),
        1 => Some(ElectionType::Unclean),
        _ => None,
    }
}

/// Answers an ElectLeaders request of `version`.
/// Kafka: ALTER on the cluster.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: ElectLeadersRequest,
    version: i16,
) -> ElectLeadersResponse {
    if !caller.may_on_cluster(AclOperation::Alter) {
        let code = ErrorCode::ClusterAuthorizationFailed.code();
        // v0 has no top-level error: each partition asked for carries it.
        let results = request
            .topic_partitions
            .unwrap_or_default()
            .into_iter()
            .map(|topic| {
                ReplicaElectionResult::default()
                    .with_partition_result(
                        topic
                            .partitions
                            .into_iter()
                            .map(|index| {
                                PartitionResult::default()
                                    .with_partition_id(index)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
                    .with_topic(topic.topic)
            })
            .collect();
        return ElectLeadersResponse::default()
            .with_error_code(if version >= 1 { code } else { 0 })
            .with_replica_election_results(if version >= 1 { Vec::new() } else { results });
    }
    // v0 has no election type on the wire: its default, 0, is preferred.
    let Some(election_type) = election_type(request.election_type) else {
        // Only v1 and later carry a type, and a top-level error code.
        return ElectLeadersResponse::default().with_error_code(ErrorCode::InvalidRequest.code());
    };
    let partitions: Option<Vec<(String, Vec<i32>)>> =
        request.topic_partitions.as_ref().map(|topics| {
            topics
                .iter()
                .map(|topic| (topic.topic.to_string(), topic.partitions.clone()))
                .collect()
        });
    let reply = ctx
        .control(ControlRequest::ElectLeaders {
            election_type,
            partitions: partitions.clone(),
        })
        .await;
    let outcomes = match reply {
        Some(ControlReply::ElectedLeaders(outcomes)) => outcomes,
        _ => Err(ControlError::Unavailable),
    };
    match outcomes {
        Ok(outcomes) => response(outcomes),
        Err(error) if version >= 1 => ElectLeadersResponse::default()
            .with_error_code(error.code().code())
            .with_replica_election_results(Vec::new()),
        // v0 has no top-level error: each partition asked for carries it.
        Err(error) => {
            let results = partitions
                .unwrap_or_default()
                .into_iter()
                .map(|(name, indexes)| {
                    let failed = indexes
                        .into_iter()
                        .map(|index| {
                            PartitionResult::default()
                                .with_partition_id(index)
                                .with_error_code(error.code().code())
                                .with_error_message(message(&error))
                        })
                        .collect();
                    ReplicaElectionResult::default()
                        .with_topic(topic_name(&name))
                        .with_partition_result(failed)
                })
                .collect();
            ElectLeadersResponse::default().with_replica_election_results(results)
        }
    }
}

/// The response listing `outcomes` grouped by topic, topics in the order
/// they first appear.
fn response(outcomes: Vec<ElectionOutcome>) -> ElectLeadersResponse {
    let mut results: Vec<ReplicaElectionResult> = Vec::new();
    for (name, index, outcome) in outcomes {
        let partition = match outcome {
            Ok(()) => PartitionResult::default()
                .with_partition_id(index)
                .with_error_message(None),
            Err(error) => PartitionResult::default()
                .with_partition_id(index)
                .with_error_code(error.code().code())
                .with_error_message(message(&error)),
        };
        match results.iter_mut().find(|r| r.topic.as_str() == name) {
            Some(result) => result.partition_result.push(partition),
            None => results.push(
                ReplicaElectionResult::default()
                    .with_topic(topic_name(&name))
                    .with_partition_result(vec![partition]),
            ),
        }
    }
    ElectLeadersResponse::default().with_replica_election_results(results)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use skein_controller::ControllerError;

    #[test]
    fn outcomes_are_grouped_by_topic_with_kafkas_codes() {
        let response = response(vec![
            (
                "orders".into(),
                0,
                Err(ControllerError::ElectionNotNeeded.into()),
            ),
            ("audit".into(), 0, Ok(())),
            (
                "orders".into(),
                1,
                Err(ControllerError::PreferredLeaderNotAvailable.into()),
            ),
            (
                "ghost".into(),
                0,
                Err(ControllerError::UnknownTopic("ghost".into()).into()),
            ),
        ]);
        let summary: Vec<(String, Vec<(i32, i16)>)> = response
            .replica_election_results
            .iter()
            .map(|topic| {
                (
                    topic.topic.to_string(),
                    topic
                        .partition_result
                        .iter()
                        .map(|p| (p.partition_id, p.error_code))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("orders".to_string(), vec![(0, 84), (1, 80)]),
                ("audit".to_string(), vec![(0, 0)]),
                ("ghost".to_string(), vec![(0, 3)]),
            ]
        );
        assert_eq!(response.error_code, 0);
    }

    #[test]
    fn only_preferred_and_unclean_are_election_types() {
        assert_eq!(election_type(0), Some(ElectionType::Preferred));
        assert_eq!(election_type(1), Some(ElectionType::Unclean));
        assert_eq!(election_type(2), None);
        assert_eq!(election_type(-1), None);
    }
}
