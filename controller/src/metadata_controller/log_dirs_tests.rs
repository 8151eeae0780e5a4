//! The log-directory rules (KIP-858), one behaviour per test, on the
//! cluster harness of `cluster_tests`.

use super::cluster_tests::Cluster;
use super::*;
use crate::error::ControllerError;

const DISK_A: DirectoryId = [0xa; 16];
const DISK_B: DirectoryId = [0xb; 16];

/// A cluster of three with a topic of `partitions` partitions, RF 3.
fn cluster(partitions: i32) -> (Cluster, crate::metadata_record::TopicId) {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let topic = cluster.create("orders", partitions, 3).unwrap();
    (cluster, topic)
}

#[test]
fn a_failed_directory_moves_only_its_partitions_leaderships_and_isr_places() {
    let (mut cluster, topic) = cluster(3);
    let led: Vec<i32> = (0..3)
        .filter(|p| cluster.state(&topic, *p).leader == 1)
        .collect();
    assert_eq!(led.len(), 1, "each broker leads one partition");
    let failed = led[0];
    let healthy: Vec<i32> = (0..3).filter(|p| *p != failed).collect();
    // Broker 1 holds `failed` on disk B, the others on disk A.
    let mut assignments = vec![(DISK_B, topic, failed)];
    assignments.extend(healthy.iter().map(|p| (DISK_A, topic, *p)));
    let assigned = cluster
        .controller
        .assign_replicas_to_dirs(1, cluster.epochs[&1], &assignments);
    assert!(assigned.records.is_empty(), "no directory is offline yet");
    cluster.commit(assigned).unwrap();
    let before: Vec<_> = healthy.iter().map(|p| cluster.state(&topic, *p)).collect();
    cluster
        .beat(1, |heartbeat| heartbeat.offline_log_dirs = vec![DISK_B])
        .unwrap();
    let moved = cluster.state(&topic, failed);
    assert_ne!(moved.leader, 1);
    assert!(moved.isr.len() == 2 && !moved.isr.contains(&1), "{moved:?}");
    // The healthy partitions are untouched, and broker 1 is not fenced.
    let after: Vec<_> = healthy.iter().map(|p| cluster.state(&topic, *p)).collect();
    assert_eq!(before, after);
    assert!(!cluster.image().broker(1).unwrap().fenced);
    // Reported again: nothing more changes.
    let again = cluster.controller.broker_heartbeat(
        BrokerHeartbeat {
            broker_id: 1,
            broker_epoch: cluster.epochs[&1],
            caught_up_offset: cluster.image().version as i64 - 1,
            want_fence: false,
            want_shutdown: false,
            offline_log_dirs: vec![DISK_B],
        },
        0,
    );
    assert!(again.records.is_empty());
    cluster.assert_replay_matches();
}

#[test]
fn a_replica_in_an_offline_directory_may_not_rejoin_the_isr() {
    let (mut cluster, topic) = cluster(1);
    let state = cluster.state(&topic, 0);
    let follower = state.replicas[1];
    cluster
        .beat(follower, |heartbeat| {
            heartbeat.offline_log_dirs = vec![DISK_B]
        })
        .unwrap();
    // Told offline first, its assignment second: it leaves the ISR then.
    let assigned = cluster.controller.assign_replicas_to_dirs(
        follower,
        cluster.epochs[&follower],
        &[(DISK_B, topic, 0)],
    );
    cluster.commit(assigned).unwrap();
    let shrunk = cluster.state(&topic, 0);
    assert!(!shrunk.isr.contains(&follower), "{shrunk:?}");
    let mut isr = shrunk.isr.clone();
    isr.push(follower);
    let request = AlterPartition {
        broker_id: shrunk.leader,
        broker_epoch: cluster.epochs[&shrunk.leader],
        topic_id: topic,
        partition: 0,
        leader_epoch: shrunk.leader_epoch,
        partition_epoch: shrunk.partition_epoch,
        new_isr: isr,
        new_isr_broker_epochs: Vec::new(),
    };
    assert_eq!(
        cluster.controller.alter_partition(request).response.err(),
        Some(ControllerError::IneligibleReplica(follower))
    );
}

#[test]
fn a_last_isr_member_in_a_failed_directory_leaves_the_partition_offline() {
    let mut cluster = Cluster::new(&[1]);
    let topic = cluster.create("orders", 1, 1).unwrap();
    let assigned =
        cluster
            .controller
            .assign_replicas_to_dirs(1, cluster.epochs[&1], &[(DISK_B, topic, 0)]);
    cluster.commit(assigned).unwrap();
    cluster
        .beat(1, |heartbeat| heartbeat.offline_log_dirs = vec![DISK_B])
        .unwrap();
    let state = cluster.state(&topic, 0);
    assert_eq!(state.leader, crate::metadata_record::NO_LEADER);
    assert_eq!(state.isr, vec![1]);
}

#[test]
fn assignments_of_another_registration_are_refused() {
    let (mut cluster, topic) = cluster(1);
    let stale = cluster.epochs[&2] - 1;
    assert!(matches!(
        cluster
            .controller
            .assign_replicas_to_dirs(2, stale, &[(DISK_A, topic, 0)])
            .response,
        Err(ControllerError::StaleBrokerEpoch { .. })
    ));
    assert_eq!(
        cluster
            .controller
            .assign_replicas_to_dirs(7, 0, &[(DISK_A, topic, 0)])
            .response,
        Err(ControllerError::BrokerIdNotRegistered(7))
    );
}
