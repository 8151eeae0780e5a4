//! ListPartitionReassignments (KIP-455): the partitions being moved, with
//! their replicas and the replicas being added and removed. Answered from
//! this node's metadata image (every node applies the committed log), so
//! right after an AlterPartitionReassignments it may lag the controller by
//! one image. Unknown topics and partitions, and partitions not being
//! moved, are left out, as Kafka does.

use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsRequest;
use kafka_protocol::messages::list_partition_reassignments_response::{
    ListPartitionReassignmentsResponse, OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::BrokerId;
use skein_controller::{ongoing_reassignments, MetadataImage};

use skein_controller::AclOperation;

use super::topic_name;
use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;

/// Answers a ListPartitionReassignments request.
/// Kafka: DESCRIBE on the cluster, else CLUSTER_AUTHORIZATION_FAILED.
pub fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if !caller.may_on_cluster(AclOperation::Describe) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code());
    }
    response(&ctx.image(), &request)
}

fn response(
    image: &MetadataImage,
    request: &ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let wanted: Option<Vec<(String, Option<Vec<i32>>)>> = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|topic| {
                (
                    topic.name.to_string(),
                    Some(topic.partition_indexes.clone()),
                )
            })
            .collect()
    });
    let brokers = |list: &[i32]| list.iter().copied().map(BrokerId).collect::<Vec<_>>();
    let mut topics: Vec<OngoingTopicReassignment> = Vec::new();
    for ongoing in ongoing_reassignments(image, wanted.as_deref()) {
        let partition = OngoingPartitionReassignment::default()
            .with_partition_index(ongoing.partition)
            .with_replicas(brokers(&ongoing.replicas))
            .with_adding_replicas(brokers(&ongoing.adding_replicas))
            .with_removing_replicas(brokers(&ongoing.removing_replicas));
        match topics.last_mut() {
            Some(last) if last.name.as_str() == ongoing.topic => last.partitions.push(partition),
            _ => topics.push(
                OngoingTopicReassignment::default()
                    .with_name(topic_name(&ongoing.topic))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    ListPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_topics(topics)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
    use skein_controller::MetadataRecord;

    fn image() -> MetadataImage {
        let topic = |id: u8, name: &str| MetadataRecord::Topic {
            topic_id: [id; 16],
            name: name.into(),
            partitions: 2,
            configs: vec![],
        };
        let partition = |id: u8, partition: i32, adding: Vec<i32>, removing: Vec<i32>| {
            MetadataRecord::Partition {
                topic_id: [id; 16],
                partition,
                replicas: vec![1, 2, 0],
                isr: vec![0, 1],
                leader: 0,
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: adding,
                removing_replicas: removing,
            }
        };
        MetadataImage::replay(
            0,
            &[
                topic(1, "orders"),
                topic(2, "audit"),
                partition(1, 0, vec![], vec![]),
                partition(1, 1, vec![2], vec![0]),
                partition(2, 0, vec![2], vec![0]),
            ],
        )
    }

    #[test]
    fn only_partitions_being_moved_are_listed() {
        let all = response(&image(), &ListPartitionReassignmentsRequest::default());
        let listed: Vec<(String, Vec<i32>)> = all
            .topics
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.partitions.iter().map(|p| p.partition_index).collect(),
                )
            })
            .collect();
        assert_eq!(listed.len(), 2);
        assert!(listed.contains(&("orders".to_string(), vec![1])));
        assert!(listed.contains(&("audit".to_string(), vec![0])));
        let orders = all
            .topics
            .iter()
            .find(|t| t.name.as_str() == "orders")
            .unwrap();
        assert_eq!(orders.partitions[0].adding_replicas, vec![BrokerId(2)]);
        assert_eq!(orders.partitions[0].removing_replicas, vec![BrokerId(0)]);
        let asked = ListPartitionReassignmentsRequest::default().with_topics(Some(vec![
            ListPartitionReassignmentsTopics::default()
                .with_name(topic_name("orders"))
                .with_partition_indexes(vec![0]),
            ListPartitionReassignmentsTopics::default()
                .with_name(topic_name("ghost"))
                .with_partition_indexes(vec![0]),
        ]));
        assert!(response(&image(), &asked).topics.is_empty());
    }
}
