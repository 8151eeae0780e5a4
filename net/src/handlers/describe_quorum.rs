//! DescribeQuorum: the metadata quorum's leader, term (Kafka's leader epoch
//! of `__cluster_metadata`), high watermark and each voter's log end offset,
//! as the active controller knows them. Offsets are the quorum log's indexes
//! (see `skein_controller::quorum::QuorumStatus`); node ids are Kafka
//! `node.id`s. Like Kafka, only partition 0 of `__cluster_metadata` can be
//! asked about; anything else is UNKNOWN_TOPIC_OR_PARTITION.

use kafka_protocol::messages::describe_quorum_request::DescribeQuorumRequest;
use kafka_protocol::messages::describe_quorum_response::{
    DescribeQuorumResponse, Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::BrokerId;
use skein_controller::quorum::{self, QuorumNodeId, QuorumStatus};

use super::{message, str_bytes, topic_name};
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_message::{ControlError, ControlReply, ControlRequest};
use crate::shard_state::ShardState;

/// The name Kafka gives the metadata log's one partition.
pub const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

/// The Kafka `node.id` of quorum node `id` (the quorum numbers nodes from 1:
/// `node.id + 1`); -1 for an id no node has.
fn node_id(id: QuorumNodeId) -> BrokerId {
    BrokerId(
        id.checked_sub(1)
            .and_then(|id| i32::try_from(id).ok())
            .unwrap_or(-1),
    )
}

/// Answers a DescribeQuorum request of `version`.
/// Kafka: DESCRIBE on the cluster.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: DescribeQuorumRequest,
    version: i16,
) -> DescribeQuorumResponse {
    if !caller.may_on_cluster(AclOperation::Describe) {
        return failed(ErrorCode::ClusterAuthorizationFailed, None, version);
    }
    let asks_metadata_partition = matches!(
        request.topics.as_slice(),
        [topic] if topic.topic_name.as_str() == CLUSTER_METADATA_TOPIC
            && matches!(topic.partitions.as_slice(), [p] if p.partition_index == 0)
    );
    if !asks_metadata_partition {
        return failed(ErrorCode::UnknownTopicOrPartition, None, version);
    }
    let status = match ctx.control(ControlRequest::DescribeQuorum).await {
        Some(ControlReply::Quorum(status)) => status,
        _ => Err(ControlError::Unavailable),
    };
    match status {
        Ok(status) => answer(ctx, &status, version),
        Err(error) => failed(error.code(), Some(&error), version),
    }
}

/// A response with only a top-level error.
fn failed(code: ErrorCode, error: Option<&ControlError>, version: i16) -> DescribeQuorumResponse {
    let response = DescribeQuorumResponse::default().with_error_code(code.code());
    match error {
        Some(error) if version >= 2 => response.with_error_message(message(error)),
        _ => response,
    }
}

fn replica(state: &quorum::ReplicaState, version: i16) -> ReplicaState {
    let log_end_offset = state
        .log_end_offset
        .and_then(|offset| i64::try_from(offset).ok())
        .unwrap_or(-1);
    // Fetch and catch-up times are not tracked: -1, Kafka's "unknown".
    let replica = ReplicaState::default()
        .with_replica_id(node_id(state.id))
        .with_log_end_offset(log_end_offset);
    if version >= 1 {
        replica
            .with_last_fetch_timestamp(-1)
            .with_last_caught_up_timestamp(-1)
    } else {
        replica
    }
}

/// The response for `status`. A node that does not lead the quorum answers
/// NOT_LEADER_OR_FOLLOWER for the partition, with the leader it knows.
fn answer(ctx: &ShardState, status: &QuorumStatus, version: i16) -> DescribeQuorumResponse {
    let leads = status.leader_id == Some(status.node_id);
    let mut partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(status.leader_id.map_or(BrokerId(-1), node_id))
        .with_leader_epoch(i32::try_from(status.term).unwrap_or(i32::MAX));
    if leads {
        partition = partition
            .with_high_watermark(i64::try_from(status.high_watermark).unwrap_or(i64::MAX))
            .with_current_voters(status.voters.iter().map(|v| replica(v, version)).collect())
            .with_observers(
                status
                    .observers
                    .iter()
                    .map(|o| replica(o, version))
                    .collect(),
            );
    } else {
        partition = partition
            .with_error_code(ErrorCode::NotLeaderOrFollower.code())
            .with_high_watermark(-1);
    }
    let response = DescribeQuorumResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(topic_name(CLUSTER_METADATA_TOPIC))
        .with_partitions(vec![partition])]);
    if version >= 2 {
        response
            .with_error_message(None)
            .with_nodes(voter_nodes(ctx, status))
    } else {
        response
    }
}

/// Each voter with its controller listener (v2). A single node that opens
/// no controller listener is listed without one.
fn voter_nodes(ctx: &ShardState, status: &QuorumStatus) -> Vec<Node> {
    let voters = ctx.config.quorum_voters();
    let listener_name = ctx
        .config
        .controller_listener_names()
        .into_iter()
        .next()
        .unwrap_or_default();
    status
        .voters
        .iter()
        .map(|voter| {
            let id = node_id(voter.id);
            let listeners = voters
                .iter()
                .filter(|configured| configured.node_id == id.0)
                .map(|configured| {
                    Listener::default()
                        .with_name(str_bytes(&listener_name))
                        .with_host(str_bytes(&configured.host))
                        .with_port(configured.port)
                })
                .collect();
            Node::default().with_node_id(id).with_listeners(listeners)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn quorum_ids_are_kafka_node_ids_plus_one() {
        assert_eq!(node_id(1), BrokerId(0));
        assert_eq!(node_id(4), BrokerId(3));
        assert_eq!(node_id(0), BrokerId(-1));
        assert_eq!(node_id(u64::MAX), BrokerId(-1));
    }

    #[test]
    fn unknown_replica_fields_are_minus_one() {
        let state = quorum::ReplicaState {
            id: 2,
            log_end_offset: None,
        };
        let wire = replica(&state, 1);
        assert_eq!(wire.replica_id, BrokerId(1));
        assert_eq!(wire.log_end_offset, -1);
        assert_eq!(wire.last_fetch_timestamp, -1);
        let state = quorum::ReplicaState {
            id: 1,
            log_end_offset: Some(42),
        };
        assert_eq!(replica(&state, 0).log_end_offset, 42);
    }
}
