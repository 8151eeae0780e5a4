//! Manual replica assignments in CreateTopics and CreatePartitions, on the
//! cluster harness of `cluster_tests`: taken as listed, with Kafka's
//! `ReplicationControlManager` refusals and messages.

use super::cluster_tests::Cluster;
use super::*;
use crate::error::ControllerError;

fn manual(name: &str, assignments: &[(i32, &[i32])]) -> NewTopic {
    NewTopic {
        name: name.into(),
        partitions: -1,
        replication_factor: -1,
        configs: vec![],
        assignments: assignments
            .iter()
            .map(|(partition, brokers)| (*partition, brokers.to_vec()))
            .collect(),
    }
}

fn refusal(error: ControllerError) -> (String, bool) {
    let assignment = matches!(error, ControllerError::InvalidReplicaAssignment(_));
    (error.to_string(), assignment)
}

#[test]
fn a_manual_assignment_is_taken_as_listed_in_any_order_of_partitions() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let created = cluster
        .create_topic(manual("orders", &[(1, &[3, 1, 2]), (0, &[2, 1, 3])]))
        .unwrap();
    assert_eq!((created.partitions, created.replication_factor), (2, 3));
    for (partition, replicas) in [(0, vec![2, 1, 3]), (1, vec![3, 1, 2])] {
        let state = cluster.state(&created.topic_id, partition);
        assert_eq!(state.replicas, replicas);
        assert_eq!(state.isr, replicas);
        assert_eq!(state.leader, replicas[0]);
    }
    assert_eq!(cluster.image().topic("orders").unwrap().partitions, 2);
    cluster.assert_replay_matches();
}

#[test]
fn a_fenced_replica_is_left_out_of_the_first_isr_and_does_not_lead() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    cluster
        .beat(2, |heartbeat| heartbeat.want_fence = true)
        .unwrap();
    let created = cluster
        .create_topic(manual("orders", &[(0, &[2, 3])]))
        .unwrap();
    let state = cluster.state(&created.topic_id, 0);
    assert_eq!(state.replicas, vec![2, 3]);
    assert_eq!(state.isr, vec![3]);
    assert_eq!(state.leader, 3);
    let refused = cluster
        .create_topic(manual("down", &[(0, &[2])]))
        .unwrap_err();
    assert_eq!(
        refusal(refused),
        (
            "All brokers specified in the manual partition assignment for partition 0 are \
             fenced or in controlled shutdown."
                .into(),
            true
        )
    );
}

#[test]
fn manual_assignments_kafka_refuses_get_its_messages_and_create_nothing() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let cases: Vec<(NewTopic, &str)> = vec![
        (
            manual("a", &[(0, &[])]),
            "The manual partition assignment includes an empty replica list.",
        ),
        (
            manual("a", &[(0, &[9, 1, 7])]),
            "The manual partition assignment includes broker 7, but no such broker is registered.",
        ),
        (
            manual("a", &[(0, &[2, 1, 2])]),
            "The manual partition assignment includes the broker 2 more than once.",
        ),
        (
            manual("a", &[(0, &[1, 2]), (1, &[1])]),
            "The manual partition assignment includes a partition with 1 replica(s), but this \
             is not consistent with previous partitions, which have 2 replica(s).",
        ),
        (
            manual("a", &[(0, &[1]), (2, &[2])]),
            "partitions should be a consecutive 0-based integer sequence",
        ),
        (
            manual("a", &[(1, &[1]), (2, &[2])]),
            "partitions should be a consecutive 0-based integer sequence",
        ),
        (
            manual("a", &[(0, &[1]), (0, &[2])]),
            "Found multiple manual partition assignments for partition 0",
        ),
    ];
    for (topic, message) in cases {
        assert_eq!(
            refusal(cluster.create_topic(topic).unwrap_err()),
            (message.to_owned(), true)
        );
    }
    let counted = NewTopic {
        partitions: 1,
        ..manual("a", &[(0, &[1])])
    };
    assert_eq!(
        cluster.create_topic(counted).unwrap_err().to_string(),
        "A manual partition assignment was specified, but numPartitions was not set to -1."
    );
    // Kafka checks the replication factor first.
    let both = NewTopic {
        partitions: 1,
        replication_factor: 1,
        ..manual("a", &[(0, &[1])])
    };
    assert_eq!(
        cluster.create_topic(both).unwrap_err(),
        ControllerError::ManualAssignmentWithReplicationFactor
    );
    // Kafka judges the configs first.
    let bad_config = NewTopic {
        configs: vec![("retention.ms".into(), "soon".into())],
        ..manual("a", &[(0, &[])])
    };
    assert!(matches!(
        cluster.create_topic(bad_config).unwrap_err(),
        ControllerError::InvalidConfig(_)
    ));
    assert!(cluster.image().topic("a").is_none());
}

#[test]
fn new_partitions_take_manual_lists_with_the_topics_replication_factor() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let topic = cluster.create("orders", 1, 2).unwrap();
    let grow = |lists: Vec<Vec<i32>>, count| NewPartitions {
        name: "orders".into(),
        count,
        assignments: Some(lists),
    };
    let refused = cluster.controller.create_partitions(vec![
        grow(vec![vec![3, 1]], 3),
        grow(vec![vec![3]], 2),
        grow(vec![vec![3, 4]], 2),
    ]);
    assert!(refused.records.is_empty());
    let messages: Vec<_> = refused
        .response
        .into_iter()
        .map(|result| refusal(result.unwrap_err()))
        .collect();
    assert_eq!(
        messages,
        vec![
            (
                "Attempted to add 2 additional partition(s), but only 1 assignment(s) were \
                 specified."
                    .to_owned(),
                true
            ),
            (
                "The manual partition assignment includes a partition with 1 replica(s), but \
                 this is not consistent with previous partitions, which have 2 replica(s)."
                    .to_owned(),
                true
            ),
            (
                "The manual partition assignment includes broker 4, but no such broker is \
                 registered."
                    .to_owned(),
                true
            ),
        ]
    );
    let added = cluster
        .controller
        .create_partitions(vec![grow(vec![vec![3, 1], vec![1, 3]], 3)]);
    assert_eq!(cluster.commit(added), vec![Ok(())]);
    for (partition, replicas) in [(1, vec![3, 1]), (2, vec![1, 3])] {
        let state = cluster.state(&topic, partition);
        assert_eq!(state.replicas, replicas);
        assert_eq!(state.leader, replicas[0]);
    }
    assert_eq!(cluster.image().topic("orders").unwrap().partitions, 3);
    cluster.assert_replay_matches();
}
