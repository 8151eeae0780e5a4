//! Partition reassignment, one behaviour per test, on the cluster harness
//! of `cluster_tests`: a move adds replicas, completes once they are in
//! sync (moving the leader off a removed replica), can be cancelled, and is
//! refused with Kafka's errors.

use super::cluster_tests::Cluster;
use super::*;
use crate::error::ControllerError;
use crate::metadata_record::TopicId;

/// A cluster of brokers 1 and 2 with topic "orders" (one partition, both
/// replicas), then broker 3 registered and unfenced: the topic's replicas
/// `(a, b)` are 1 and 2 in placement order, `a` leading.
fn cluster_with_spare_broker() -> (Cluster, TopicId, i32, i32) {
    let mut cluster = Cluster::new(&[1, 2]);
    let topic = cluster.create("orders", 1, 2).unwrap();
    cluster.register(3, None).unwrap();
    cluster.heartbeat(3).unwrap();
    let state = cluster.state(&topic, 0);
    assert_eq!(state.leader, state.replicas[0]);
    (cluster, topic, state.replicas[0], state.replicas[1])
}

fn reassign(
    cluster: &mut Cluster,
    partition: i32,
    replicas: Option<Vec<i32>>,
) -> Result<(), ControllerError> {
    let proposal = cluster.controller.alter_partition_reassignments(
        vec![PartitionReassignment {
            topic: "orders".into(),
            partition,
            replicas,
        }],
        true,
    );
    cluster.commit(proposal).remove(0)
}

/// The leader of partition 0 sets its ISR to `new_isr`.
fn set_isr(cluster: &mut Cluster, topic: TopicId, new_isr: Vec<i32>) {
    let state = cluster.state(&topic, 0);
    let request = AlterPartition {
        broker_id: state.leader,
        broker_epoch: cluster.epochs[&state.leader],
        topic_id: topic,
        partition: 0,
        leader_epoch: state.leader_epoch,
        partition_epoch: state.partition_epoch,
        new_isr,
        new_isr_broker_epochs: Vec::new(),
    };
    let proposal = cluster.controller.alter_partition(request);
    cluster.commit(proposal).unwrap();
}

#[test]
fn a_move_adds_the_target_replicas_first_and_lists_as_ongoing() {
    let (mut cluster, topic, a, b) = cluster_with_spare_broker();
    reassign(&mut cluster, 0, Some(vec![b, 3])).unwrap();
    let state = cluster.state(&topic, 0);
    assert_eq!(state.replicas, vec![b, 3, a]);
    assert_eq!(state.adding_replicas, vec![3]);
    assert_eq!(state.removing_replicas, vec![a]);
    assert_eq!(state.isr, vec![a, b]);
    assert_eq!(state.leader, a);
    assert_eq!(
        ongoing_reassignments(&cluster.image(), None),
        vec![OngoingReassignment {
            topic: "orders".into(),
            partition: 0,
            replicas: vec![b, 3, a],
            adding_replicas: vec![3],
            removing_replicas: vec![a],
        }]
    );
    cluster.assert_replay_matches();
}

#[test]
fn the_move_completes_when_the_added_replica_joins_the_isr_and_the_leader_moves_off_a_removed_one()
{
    let (mut cluster, topic, a, b) = cluster_with_spare_broker();
    reassign(&mut cluster, 0, Some(vec![b, 3])).unwrap();
    let before = cluster.state(&topic, 0);
    set_isr(&mut cluster, topic, vec![a, b, 3]);
    let state = cluster.state(&topic, 0);
    assert_eq!(state.replicas, vec![b, 3]);
    assert_eq!(state.isr, vec![b, 3]);
    assert_eq!(state.leader, b);
    assert_eq!(state.leader_epoch, before.leader_epoch + 1);
    assert!(!state.is_reassigning());
    assert!(ongoing_reassignments(&cluster.image(), None).is_empty());
    cluster.assert_replay_matches();
}

#[test]
fn a_leader_kept_by_the_target_stays_leader_when_the_move_completes() {
    let (mut cluster, topic, a, b) = cluster_with_spare_broker();
    reassign(&mut cluster, 0, Some(vec![a, 3])).unwrap();
    let before = cluster.state(&topic, 0);
    set_isr(&mut cluster, topic, vec![a, b, 3]);
    let state = cluster.state(&topic, 0);
    assert_eq!(
        (state.replicas.clone(), state.isr.clone()),
        (vec![a, 3], vec![a, 3])
    );
    assert_eq!((state.leader, state.leader_epoch), (a, before.leader_epoch));
    assert!(!state.is_reassigning());
}

#[test]
fn a_move_to_replicas_already_in_sync_completes_at_once() {
    let (mut cluster, topic, _a, b) = cluster_with_spare_broker();
    // Dropping a replica (the replication factor may change).
    reassign(&mut cluster, 0, Some(vec![b])).unwrap();
    let state = cluster.state(&topic, 0);
    assert_eq!(
        (state.replicas.clone(), state.isr.clone()),
        (vec![b], vec![b])
    );
    assert_eq!(state.leader, b);
    assert!(!state.is_reassigning());
}

#[test]
fn a_reorder_changes_the_preferred_replica_only() {
    let (mut cluster, topic, a, b) = cluster_with_spare_broker();
    reassign(&mut cluster, 0, Some(vec![b, a])).unwrap();
    let state = cluster.state(&topic, 0);
    assert_eq!((state.replicas.clone(), state.leader), (vec![b, a], a));
    assert!(!state.is_reassigning());
}

#[test]
fn cancelling_reverts_to_the_original_replicas_and_a_second_cancel_finds_none() {
    let (mut cluster, topic, a, b) = cluster_with_spare_broker();
    reassign(&mut cluster, 0, Some(vec![b, 3])).unwrap();
    reassign(&mut cluster, 0, None).unwrap();
    let state = cluster.state(&topic, 0);
    // As Kafka's revert: the replicas in their reassigning order, less the
    // adding ones.
    assert_eq!(state.replicas, vec![b, a]);
    assert_eq!(state.isr, vec![a, b]);
    assert_eq!(state.leader, a);
    assert!(!state.is_reassigning());
    assert_eq!(
        reassign(&mut cluster, 0, None),
        Err(ControllerError::NoReassignmentInProgress { partition: 0 })
    );
    cluster.assert_replay_matches();
}

#[test]
fn cancelling_after_the_added_replica_caught_up_takes_it_out_of_the_isr() {
    let (mut cluster, topic, a, b) = cluster_with_spare_broker();
    // Two replicas to add: one in sync does not complete the move.
    cluster.register(4, None).unwrap();
    cluster.heartbeat(4).unwrap();
    reassign(&mut cluster, 0, Some(vec![3, 4])).unwrap();
    set_isr(&mut cluster, topic, vec![a, b, 3]);
    assert!(cluster.state(&topic, 0).is_reassigning());
    reassign(&mut cluster, 0, None).unwrap();
    let state = cluster.state(&topic, 0);
    assert_eq!((state.replicas, state.isr), (vec![a, b], vec![a, b]));
    assert_eq!(state.leader, a);
}

#[test]
fn a_new_target_replaces_the_move_in_progress() {
    let (mut cluster, topic, a, b) = cluster_with_spare_broker();
    cluster.register(4, None).unwrap();
    cluster.heartbeat(4).unwrap();
    reassign(&mut cluster, 0, Some(vec![a, 3])).unwrap();
    reassign(&mut cluster, 0, Some(vec![a, 4])).unwrap();
    let state = cluster.state(&topic, 0);
    assert_eq!(state.replicas, vec![a, 4, b]);
    assert_eq!(state.adding_replicas, vec![4]);
    assert_eq!(state.removing_replicas, vec![b]);
}

#[test]
fn bad_reassignments_get_kafkas_errors() {
    let (mut cluster, topic, a, b) = cluster_with_spare_broker();
    let unknown_topic = cluster.controller.alter_partition_reassignments(
        vec![PartitionReassignment {
            topic: "ghost".into(),
            partition: 0,
            replicas: Some(vec![1]),
        }],
        true,
    );
    assert_eq!(
        unknown_topic.response,
        vec![Err(ControllerError::UnknownTopic("ghost".into()))]
    );
    assert_eq!(
        reassign(&mut cluster, 1, Some(vec![a])),
        Err(ControllerError::UnknownPartition { partition: 1 })
    );
    let invalid = |result: Result<(), ControllerError>| match result {
        Err(ControllerError::InvalidReplicaAssignment(message)) => message,
        other => panic!("not INVALID_REPLICA_ASSIGNMENT: {other:?}"),
    };
    assert!(invalid(reassign(&mut cluster, 0, Some(vec![]))).contains("empty replica list"));
    assert!(invalid(reassign(&mut cluster, 0, Some(vec![a, a]))).contains("more than once"));
    assert!(invalid(reassign(&mut cluster, 0, Some(vec![a, 9]))).contains("broker 9"));
    let keep_factor = cluster.controller.alter_partition_reassignments(
        vec![PartitionReassignment {
            topic: "orders".into(),
            partition: 0,
            replicas: Some(vec![a, b, 3]),
        }],
        false,
    );
    assert_eq!(
        keep_factor.response,
        vec![Err(ControllerError::ReplicationFactorChanged {
            current: 2,
            requested: 3
        })]
    );
    assert!(keep_factor.records.is_empty());
    assert!(!cluster.state(&topic, 0).is_reassigning());
}

#[test]
fn listing_names_only_partitions_being_moved() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let topic = cluster.create("orders", 2, 1).unwrap();
    let replica = cluster.state(&topic, 1).replicas[0];
    let other = (1..=3).find(|broker| *broker != replica).unwrap();
    reassign(&mut cluster, 1, Some(vec![other])).unwrap();
    let image = cluster.image();
    let everything = ongoing_reassignments(&image, None);
    assert_eq!(everything.len(), 1);
    assert_eq!(everything[0].partition, 1);
    let asked = [
        ("orders".to_string(), Some(vec![0, 1, 7])),
        ("ghost".to_string(), None),
    ];
    assert_eq!(ongoing_reassignments(&image, Some(&asked)), everything);
    let partition_0 = [("orders".to_string(), Some(vec![0]))];
    assert!(ongoing_reassignments(&image, Some(&partition_0)).is_empty());
}
