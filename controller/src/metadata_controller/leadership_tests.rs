//! The leadership rules, one behaviour per test: unclean and preferred
//! elections, the imbalance a rebalance would fix, and AlterPartition's
//! checks, on the cluster harness of `cluster_tests`.

use super::cluster_tests::Cluster;
use super::*;
use crate::error::ControllerError;
use crate::metadata_record::NO_LEADER;

#[test]
fn unclean_election_happens_only_where_enabled() {
    let mut cluster = Cluster::new(&[1, 2]);
    let topic = cluster.create("orders", 1, 2).unwrap();
    let state = cluster.state(&topic, 0);
    let (leader, follower) = (state.replicas[0], state.replicas[1]);
    // The follower falls out of the ISR, then the leader dies.
    let shrink = cluster.controller.alter_partition(AlterPartition {
        broker_id: leader,
        broker_epoch: cluster.epochs[&leader],
        topic_id: topic,
        partition: 0,
        leader_epoch: 0,
        partition_epoch: 0,
        new_isr: vec![leader],
        new_isr_broker_epochs: Vec::new(),
    });
    cluster.commit(shrink).unwrap();
    cluster
        .beat(leader, |heartbeat| heartbeat.want_fence = true)
        .unwrap();
    assert_eq!(cluster.state(&topic, 0).leader, NO_LEADER);
    // Clean election: nothing to elect, even on the follower's heartbeat.
    cluster.heartbeat(follower).unwrap();
    assert_eq!(cluster.state(&topic, 0).leader, NO_LEADER);
    // The topic allows unclean election; the follower returns and leads.
    let allow = cluster
        .controller
        .alter_topic_configs(vec![TopicConfigChange {
            topic: "orders".into(),
            replace_all: false,
            ops: vec![("unclean.leader.election.enable".into(), Some("true".into()))],
        }]);
    cluster
        .commit(allow)
        .into_iter()
        .for_each(|result| result.unwrap());
    cluster
        .beat(follower, |heartbeat| heartbeat.want_fence = true)
        .unwrap();
    cluster.heartbeat(follower).unwrap();
    let state = cluster.state(&topic, 0);
    assert_eq!(state.leader, follower);
    assert_eq!(state.isr, vec![follower]);
    cluster.assert_replay_matches();
}

#[test]
fn unclean_elect_leaders_elects_outside_the_isr() {
    let mut cluster = Cluster::new(&[1, 2]);
    let topic = cluster.create("orders", 1, 2).unwrap();
    let state = cluster.state(&topic, 0);
    let (leader, follower) = (state.replicas[0], state.replicas[1]);
    let shrink = cluster.controller.alter_partition(AlterPartition {
        broker_id: leader,
        broker_epoch: cluster.epochs[&leader],
        topic_id: topic,
        partition: 0,
        leader_epoch: 0,
        partition_epoch: 0,
        new_isr: vec![leader],
        new_isr_broker_epochs: Vec::new(),
    });
    cluster.commit(shrink).unwrap();
    cluster
        .beat(leader, |heartbeat| heartbeat.want_fence = true)
        .unwrap();
    let elect = cluster
        .controller
        .elect_leaders(ElectionType::Unclean, Some(vec![("orders".into(), 0)]));
    assert_eq!(cluster.commit(elect), vec![("orders".into(), 0, Ok(()))]);
    assert_eq!(cluster.state(&topic, 0).leader, follower);
    let again = cluster
        .controller
        .elect_leaders(ElectionType::Unclean, Some(vec![("orders".into(), 0)]));
    assert_eq!(again.response[0].2, Err(ControllerError::ElectionNotNeeded));
}

#[test]
fn preferred_election_restores_the_first_replica_once_it_is_back_in_the_isr() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let topic = cluster.create("orders", 3, 3).unwrap();
    let partition = (0..3)
        .find(|p| cluster.state(&topic, *p).replicas[0] == 1)
        .unwrap();
    cluster
        .beat(1, |heartbeat| heartbeat.want_fence = true)
        .unwrap();
    cluster.heartbeat(1).unwrap();
    let moved = cluster.state(&topic, partition);
    assert_ne!(moved.leader, 1);
    let name = ("orders".to_owned(), partition);
    let not_in_isr = cluster
        .controller
        .elect_leaders(ElectionType::Preferred, Some(vec![name.clone()]));
    assert_eq!(
        not_in_isr.response[0].2,
        Err(ControllerError::PreferredLeaderNotAvailable)
    );
    assert!(cluster.controller.imbalanced_partitions().is_empty());
    // The leader takes broker 1 back into the ISR.
    let mut isr = moved.isr.clone();
    isr.push(1);
    let expand = cluster.controller.alter_partition(AlterPartition {
        broker_id: moved.leader,
        broker_epoch: cluster.epochs[&moved.leader],
        topic_id: topic,
        partition,
        leader_epoch: moved.leader_epoch,
        partition_epoch: moved.partition_epoch,
        new_isr: isr,
        new_isr_broker_epochs: Vec::new(),
    });
    let expanded = cluster.commit(expand).unwrap();
    assert_eq!(expanded.partition_epoch, moved.partition_epoch + 1);
    assert_eq!(expanded, cluster.state(&topic, partition));
    let imbalanced = cluster.controller.imbalanced_partitions();
    assert!(imbalanced.contains(&name));
    // Broker 1's share of partitions led elsewhere is above 0 % but not
    // above 100 %: only the first threshold triggers a rebalance.
    assert!(cluster
        .controller
        .partitions_to_rebalance(0)
        .contains(&name));
    assert!(cluster.controller.partitions_to_rebalance(100).is_empty());
    let elect = cluster
        .controller
        .elect_leaders(ElectionType::Preferred, None);
    let results = cluster.commit(elect);
    assert!(results.contains(&("orders".into(), partition, Ok(()))));
    assert!(
        results.iter().all(|(_, _, result)| result.is_ok()),
        "not-needed ones are left out"
    );
    let state = cluster.state(&topic, partition);
    assert_eq!(state.leader, 1);
    assert_eq!(state.leader_epoch, moved.leader_epoch + 1);
    assert!(cluster.controller.imbalanced_partitions().is_empty());
    let again = cluster.controller.elect_leaders(
        ElectionType::Preferred,
        Some(vec![name, ("nope".into(), 0)]),
    );
    assert_eq!(again.response[0].2, Err(ControllerError::ElectionNotNeeded));
    assert_eq!(
        again.response[1].2,
        Err(ControllerError::UnknownTopic("nope".into()))
    );
    cluster.assert_replay_matches();
}

#[test]
fn alter_partition_is_checked_as_kafka_checks_it() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let topic = cluster.create("orders", 1, 3).unwrap();
    let state = cluster.state(&topic, 0);
    let leader = state.leader;
    let follower = state.replicas[1];
    let request = AlterPartition {
        broker_id: leader,
        broker_epoch: cluster.epochs[&leader],
        topic_id: topic,
        partition: 0,
        leader_epoch: 0,
        partition_epoch: 0,
        new_isr: vec![leader, follower],
        new_isr_broker_epochs: Vec::new(),
    };
    let check = |cluster: &Cluster, change: &dyn Fn(&mut AlterPartition)| {
        let mut request = request.clone();
        change(&mut request);
        cluster.controller.alter_partition(request).response.err()
    };
    assert!(matches!(
        check(&cluster, &|r| r.broker_epoch -= 1),
        Some(ControllerError::StaleBrokerEpoch { .. })
    ));
    assert_eq!(
        check(&cluster, &|r| r.topic_id = [0xee; 16]),
        Some(ControllerError::UnknownTopicId)
    );
    assert_eq!(
        check(&cluster, &|r| r.partition = 1),
        Some(ControllerError::UnknownPartition { partition: 1 })
    );
    assert_eq!(
        check(&cluster, &|r| r.leader_epoch = 1),
        Some(ControllerError::NotController)
    );
    assert_eq!(
        check(&cluster, &|r| r.partition_epoch = 1),
        Some(ControllerError::NotController)
    );
    let follower_epoch = cluster.epochs[&follower];
    assert!(matches!(
        check(&cluster, &|r| {
            r.broker_id = follower;
            r.broker_epoch = follower_epoch;
        }),
        Some(ControllerError::InvalidRequest(_))
    ));
    assert!(matches!(
        check(&cluster, &|r| r.new_isr = vec![follower]),
        Some(ControllerError::InvalidRequest(_))
    ));
    assert!(matches!(
        check(&cluster, &|r| r.new_isr = vec![leader, 9]),
        Some(ControllerError::InvalidRequest(_))
    ));
    assert!(matches!(
        check(&cluster, &|r| r.new_isr = vec![leader, leader]),
        Some(ControllerError::InvalidRequest(_))
    ));

    let shrunk = cluster
        .commit(cluster.controller.alter_partition(request.clone()))
        .unwrap();
    assert_eq!(shrunk.isr, vec![leader, follower]);
    assert_eq!((shrunk.leader_epoch, shrunk.partition_epoch), (0, 1));
    // The same request again carries a stale partition epoch.
    assert_eq!(
        check(&cluster, &|_| {}),
        Some(ControllerError::InvalidUpdateVersion {
            requested: 0,
            current: 1
        })
    );
    // A fenced broker cannot rejoin the ISR.
    let third = state.replicas[2];
    cluster
        .beat(third, |heartbeat| heartbeat.want_fence = true)
        .unwrap();
    assert_eq!(
        check(&cluster, &|r| {
            r.partition_epoch = 1;
            r.new_isr = vec![leader, follower, third];
        }),
        Some(ControllerError::IneligibleReplica(third))
    );
    // After a leader change the old leader epoch is fenced.
    cluster
        .beat(leader, |heartbeat| heartbeat.want_fence = true)
        .unwrap();
    cluster.heartbeat(leader).unwrap();
    let now = cluster.state(&topic, 0);
    assert_eq!(now.leader, follower);
    let follower_epoch = cluster.epochs[&follower];
    assert_eq!(
        check(&cluster, &|r| {
            r.broker_id = follower;
            r.broker_epoch = follower_epoch;
            r.partition_epoch = now.partition_epoch;
            r.new_isr = vec![follower];
        }),
        Some(ControllerError::FencedLeaderEpoch {
            requested: 0,
            current: 1
        })
    );
    cluster.assert_replay_matches();
}

/// A leader of partition 0 of a new three-replica topic and its request
/// to set `new_isr`.
fn alter_request(
    cluster: &Cluster,
    topic: crate::metadata_record::TopicId,
    new_isr: Vec<i32>,
) -> AlterPartition {
    let state = cluster.state(&topic, 0);
    AlterPartition {
        broker_id: state.leader,
        broker_epoch: cluster.epochs[&state.leader],
        topic_id: topic,
        partition: 0,
        leader_epoch: state.leader_epoch,
        partition_epoch: state.partition_epoch,
        new_isr,
        new_isr_broker_epochs: Vec::new(),
    }
}

#[test]
fn an_empty_isr_is_an_invalid_request() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let topic = cluster.create("orders", 1, 3).unwrap();
    let request = alter_request(&cluster, topic, vec![]);
    assert!(matches!(
        cluster.controller.alter_partition(request).response,
        Err(ControllerError::InvalidRequest(_))
    ));
}

#[test]
fn a_shrink_then_an_expansion_each_bump_the_partition_epoch() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let topic = cluster.create("orders", 1, 3).unwrap();
    let state = cluster.state(&topic, 0);
    let (leader, second, third) = (state.leader, state.replicas[1], state.replicas[2]);
    let shrunk = cluster
        .commit(cluster.controller.alter_partition(alter_request(
            &cluster,
            topic,
            vec![leader, second],
        )))
        .unwrap();
    assert_eq!(shrunk.isr, vec![leader, second]);
    assert_eq!(
        (shrunk.leader_epoch, shrunk.partition_epoch),
        (state.leader_epoch, state.partition_epoch + 1)
    );
    let expanded = cluster
        .commit(cluster.controller.alter_partition(alter_request(
            &cluster,
            topic,
            vec![leader, second, third],
        )))
        .unwrap();
    assert_eq!(expanded.isr, vec![leader, second, third]);
    assert_eq!(expanded.partition_epoch, state.partition_epoch + 2);
    assert_eq!(cluster.state(&topic, 0), expanded);
    cluster.assert_replay_matches();
}

#[test]
fn a_deposed_leader_is_told_its_leader_epoch_is_fenced() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let topic = cluster.create("orders", 1, 3).unwrap();
    let before = alter_request(&cluster, topic, Vec::new());
    let old_leader = before.broker_id;
    // The leader is fenced: another replica leads at a new leader epoch.
    cluster
        .beat(old_leader, |heartbeat| heartbeat.want_fence = true)
        .unwrap();
    let now = cluster.state(&topic, 0);
    assert_ne!(now.leader, old_leader);
    // The old leader comes back and asks with its old epochs.
    cluster.heartbeat(old_leader).unwrap();
    let mut stale = before;
    stale.broker_epoch = cluster.epochs[&old_leader];
    stale.new_isr = now.replicas.clone();
    assert_eq!(
        cluster.controller.alter_partition(stale).response.err(),
        Some(ControllerError::FencedLeaderEpoch {
            requested: 0,
            current: now.leader_epoch
        })
    );
}

#[test]
fn a_member_whose_broker_epoch_is_not_its_registration_is_ineligible() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let topic = cluster.create("orders", 1, 3).unwrap();
    let state = cluster.state(&topic, 0);
    let (leader, second, third) = (state.leader, state.replicas[1], state.replicas[2]);
    cluster
        .commit(cluster.controller.alter_partition(alter_request(
            &cluster,
            topic,
            vec![leader, second],
        )))
        .unwrap();
    // The leader saw `third` fetch in an earlier incarnation; it has
    // registered again since (a restart, e.g. with an empty disk).
    let stale_epoch = cluster.epochs[&third];
    cluster
        .beat(third, |heartbeat| heartbeat.want_fence = true)
        .unwrap();
    cluster.register_incarnation(third, 9, None).unwrap();
    cluster.heartbeat(third).unwrap();
    assert!(!cluster.image().broker(third).unwrap().fenced);
    let epochs = |third_epoch: i64| {
        vec![
            cluster.epochs[&leader],
            cluster.epochs[&second],
            third_epoch,
        ]
    };
    let mut request = alter_request(&cluster, topic, vec![leader, second, third]);
    request.new_isr_broker_epochs = epochs(stale_epoch);
    assert_eq!(
        cluster
            .controller
            .alter_partition(request.clone())
            .response
            .err(),
        Some(ControllerError::IneligibleReplica(third))
    );
    // -1 skips the check (the leader has not heard from it yet, or an
    // AlterPartition below v3), as Kafka does.
    request.new_isr_broker_epochs = epochs(UNKNOWN_BROKER_EPOCH);
    assert!(cluster
        .controller
        .alter_partition(request.clone())
        .response
        .is_ok());
    // Fetched under its new epoch: it joins.
    request.new_isr_broker_epochs = epochs(cluster.epochs[&third]);
    let expanded = cluster
        .commit(cluster.controller.alter_partition(request))
        .unwrap();
    assert_eq!(expanded.isr, vec![leader, second, third]);
    cluster.assert_replay_matches();
}

#[test]
fn a_broker_in_controlled_shutdown_may_not_join_an_isr() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    // Three partitions: every broker leads one, so a controlled shutdown
    // has leaderships to move before the broker is fenced.
    let topic = cluster.create("orders", 3, 3).unwrap();
    let state = cluster.state(&topic, 0);
    let (leader, third) = (state.leader, state.replicas[2]);
    cluster
        .beat(third, |heartbeat| heartbeat.want_shutdown = true)
        .unwrap();
    // Shutting down (KIP-841), not fenced yet, and out of the ISR.
    assert!(!cluster.image().broker(third).unwrap().fenced);
    let state = cluster.state(&topic, 0);
    assert_eq!(state.leader, leader);
    assert!(!state.isr.contains(&third));
    let mut isr = state.isr.clone();
    isr.push(third);
    let request = alter_request(&cluster, topic, isr);
    assert_eq!(
        cluster.controller.alter_partition(request).response.err(),
        Some(ControllerError::IneligibleReplica(third))
    );
}

#[test]
fn an_unregistered_member_is_ineligible_and_epochs_must_match_the_isr() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let topic = cluster.create("orders", 1, 3).unwrap();
    let state = cluster.state(&topic, 0);
    let (leader, second) = (state.leader, state.replicas[1]);
    let mut request = alter_request(&cluster, topic, vec![leader, second]);
    request.new_isr_broker_epochs = vec![cluster.epochs[&leader]];
    assert!(matches!(
        cluster.controller.alter_partition(request).response,
        Err(ControllerError::InvalidRequest(_))
    ));
    let unregistered = cluster.controller.unregister_broker(second);
    cluster.commit(unregistered).unwrap();
    let state = cluster.state(&topic, 0);
    let mut isr = state.isr.clone();
    isr.push(second);
    let request = alter_request(&cluster, topic, isr);
    assert_eq!(
        cluster.controller.alter_partition(request).response.err(),
        Some(ControllerError::IneligibleReplica(second))
    );
}
