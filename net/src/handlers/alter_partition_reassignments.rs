//! AlterPartitionReassignments (KIP-455): move partitions' replicas to new
//! brokers, or cancel a move (null replicas). The active controller makes
//! the change (forwarded from any node); each partition gets its own
//! outcome, in request order: UNKNOWN_TOPIC_OR_PARTITION,
//! INVALID_REPLICA_ASSIGNMENT, NO_REASSIGNMENT_IN_PROGRESS, or, in v1 with
//! `allow_replication_factor_change` false, INVALID_REPLICATION_FACTOR
//! (KIP-860). The answer comes once the move has *started*; it completes
//! when the new replicas have caught up (ListPartitionReassignments shows
//! it until then).

use kafka_protocol::messages::alter_partition_reassignments_request::{
    AlterPartitionReassignmentsRequest, ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::alter_partition_reassignments_response::{
    AlterPartitionReassignmentsResponse, ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::BrokerId;

use skein_controller::AclOperation;

use super::{message, topic_name};
use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_message::{ControlError, ControlReply, ControlRequest, PartitionReassignment};
use crate::shard_state::ShardState;

/// Answers an AlterPartitionReassignments request of `version`.
/// Kafka: ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED for the
/// whole request.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: AlterPartitionReassignmentsRequest,
    version: i16,
) -> AlterPartitionReassignmentsResponse {
    if !caller.may_on_cluster(AclOperation::Alter) {
        return AlterPartitionReassignmentsResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code());
    }
    let reply = ctx.control(control_request(&request, version)).await;
    let reply = reply.unwrap_or_else(|| {
        ControlReply::AlteredPartitionReassignments(
            reassignments(&request)
                .map(|_| Err(ControlError::Unavailable))
                .collect(),
        )
    });
    response(&request, reply)
}

/// The control request of an AlterPartitionReassignments of `version`
/// (v0 always allows a replication factor change).
pub fn control_request(
    request: &AlterPartitionReassignmentsRequest,
    version: i16,
) -> ControlRequest {
    ControlRequest::AlterPartitionReassignments {
        reassignments: reassignments(request).collect(),
        allow_replication_factor_change: version < 1 || request.allow_replication_factor_change,
    }
}

/// The partitions of `request`, in order.
fn reassignments(
    request: &AlterPartitionReassignmentsRequest,
) -> impl Iterator<Item = PartitionReassignment> + '_ {
    request.topics.iter().flat_map(|topic| {
        topic
            .partitions
            .iter()
            .map(move |partition| PartitionReassignment {
                topic: topic.name.to_string(),
                partition: partition.partition_index,
                replicas: partition
                    .replicas
                    .as_ref()
                    .map(|replicas| replicas.iter().map(|broker| broker.0).collect()),
            })
    })
}

/// The Kafka response to `request` of the per-partition outcomes in
/// `reply`, in request order; outcomes missing from the reply answer
/// unavailable.
pub fn response(
    request: &AlterPartitionReassignmentsRequest,
    reply: ControlReply,
) -> AlterPartitionReassignmentsResponse {
    let results = match reply {
        ControlReply::AlteredPartitionReassignments(results) => results,
        _ => {
            tracing::error!("control reply of another kind to AlterPartitionReassignments");
            Vec::new()
        }
    };
    let mut results = results.into_iter();
    let responses = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|partition| {
                    let outcome = results.next().unwrap_or(Err(ControlError::Unavailable));
                    let answer = ReassignablePartitionResponse::default()
                        .with_partition_index(partition.partition_index);
                    match outcome {
                        Ok(()) => answer.with_error_message(None),
                        Err(error) => answer
                            .with_error_code(error.code().code())
                            .with_error_message(message(&error)),
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(request.allow_replication_factor_change)
        .with_responses(responses)
}

/// The Kafka request that carries `reassignments` (one topic entry per run
/// of the same topic, so the response lists outcomes in the same order).
pub fn kafka_request(
    reassignments: &[PartitionReassignment],
    allow_replication_factor_change: bool,
    timeout_ms: i32,
) -> AlterPartitionReassignmentsRequest {
    let mut topics: Vec<ReassignableTopic> = Vec::new();
    for reassignment in reassignments {
        let partition = ReassignablePartition::default()
            .with_partition_index(reassignment.partition)
            .with_replicas(
                reassignment
                    .replicas
                    .as_ref()
                    .map(|replicas| replicas.iter().copied().map(BrokerId).collect()),
            );
        match topics.last_mut() {
            Some(last) if last.name.as_str() == reassignment.topic => {
                last.partitions.push(partition)
            }
            _ => topics.push(
                ReassignableTopic::default()
                    .with_name(topic_name(&reassignment.topic))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(timeout_ms)
        .with_allow_replication_factor_change(allow_replication_factor_change)
        .with_topics(topics)
}

/// The outcomes, in order, of the controller's `response` to a request of
/// `count` reassignments; a top-level error fails them all.
pub fn control_reply(count: usize, response: AlterPartitionReassignmentsResponse) -> ControlReply {
    let top_level = crate::control_forwarding::remote_outcome(
        response.error_code,
        response.error_message.clone(),
    );
    let mut results: Vec<Result<(), ControlError>> = match top_level {
        Err(error) => {
            let code = error.code();
            let text = error.to_string();
            (0..count)
                .map(|_| {
                    Err(ControlError::Remote {
                        code,
                        message: text.clone(),
                    })
                })
                .collect()
        }
        Ok(()) => response
            .responses
            .into_iter()
            .flat_map(|topic| topic.partitions)
            .take(count)
            .map(|partition| {
                crate::control_forwarding::remote_outcome(
                    partition.error_code,
                    partition.error_message,
                )
            })
            .collect(),
    };
    results.resize_with(count, || Err(ControlError::Unavailable));
    ControlReply::AlteredPartitionReassignments(results)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use skein_controller::ControllerError;

    fn request() -> AlterPartitionReassignmentsRequest {
        kafka_request(
            &[
                PartitionReassignment {
                    topic: "orders".into(),
                    partition: 0,
                    replicas: Some(vec![1, 2]),
                },
                PartitionReassignment {
                    topic: "orders".into(),
                    partition: 1,
                    replicas: None,
                },
                PartitionReassignment {
                    topic: "ghost".into(),
                    partition: 0,
                    replicas: Some(vec![3]),
                },
            ],
            true,
            30_000,
        )
    }

    #[test]
    fn outcomes_follow_the_request_order_with_kafkas_codes() {
        let request = request();
        assert_eq!(request.topics.len(), 2);
        let reply = ControlReply::AlteredPartitionReassignments(vec![
            Ok(()),
            Err(ControllerError::NoReassignmentInProgress { partition: 1 }.into()),
        ]);
        let response = response(&request, reply);
        let codes: Vec<(String, i32, i16)> = response
            .responses
            .iter()
            .flat_map(|topic| {
                topic
                    .partitions
                    .iter()
                    .map(move |p| (topic.name.to_string(), p.partition_index, p.error_code))
            })
            .collect();
        // The missing third outcome answers unavailable: REQUEST_TIMED_OUT.
        assert_eq!(
            codes,
            vec![
                ("orders".to_string(), 0, 0),
                ("orders".to_string(), 1, 85),
                ("ghost".to_string(), 0, 7),
            ]
        );
    }

    #[test]
    fn a_forwarded_answer_round_trips_to_the_same_outcomes() {
        let request = request();
        let reply = ControlReply::AlteredPartitionReassignments(vec![
            Ok(()),
            Err(ControllerError::NoReassignmentInProgress { partition: 1 }.into()),
            Err(ControllerError::UnknownTopic("ghost".into()).into()),
        ]);
        let wire = response(&request, reply);
        let ControlReply::AlteredPartitionReassignments(outcomes) = control_reply(3, wire) else {
            panic!("another reply kind");
        };
        let codes: Vec<i16> = outcomes
            .iter()
            .map(|outcome| outcome.as_ref().map_or_else(|e| e.code().code(), |()| 0))
            .collect();
        assert_eq!(codes, vec![0, 85, 3]);
        match control_request(&request, 0) {
            ControlRequest::AlterPartitionReassignments {
                reassignments,
                allow_replication_factor_change,
            } => {
                assert!(allow_replication_factor_change);
                assert_eq!(reassignments.len(), 3);
                assert_eq!(reassignments[1].replicas, None);
            }
            _ => panic!("another control request"),
        }
    }
}
