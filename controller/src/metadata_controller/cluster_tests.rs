//! The broker and placement rules, one behaviour per test: registration,
//! heartbeats, session timeout, fencing and controlled shutdown, replica
//! placement, unregistration and single-node logs, driven as a driver would
//! (propose, commit, apply) on a small cluster; and that cluster harness,
//! which `leadership_tests` shares.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::error::ControllerError;
use crate::metadata_record::{TopicId, NO_LEADER};
use crate::metadata_storage::{MemoryMetadataStorage, MetadataStorage};
use crate::partition_state::PartitionState;

const SETTINGS: ControllerSettings = ControllerSettings {
    num_partitions: 3,
    delete_topic_enable: true,
    node_id: 1,
    default_replication_factor: 3,
    unclean_leader_election_enable: false,
    broker_session_timeout_ms: 9000,
};

pub(super) struct Cluster {
    pub(super) controller: MetadataController,
    storage: MemoryMetadataStorage,
    pub(super) epochs: BTreeMap<i32, i64>,
    pub(super) now_ms: u64,
    next_topic_id: u8,
}

impl Cluster {
    /// Brokers `ids` registered and unfenced, with no rack.
    pub(super) fn new(ids: &[i32]) -> Cluster {
        Cluster::with_settings(SETTINGS, ids)
    }

    pub(super) fn with_settings(settings: ControllerSettings, ids: &[i32]) -> Cluster {
        let mut cluster = Cluster {
            controller: MetadataController::new(settings, MetadataImage::new(settings.node_id)),
            storage: MemoryMetadataStorage::new(),
            epochs: BTreeMap::new(),
            now_ms: 1_000,
            next_topic_id: 0,
        };
        for id in ids {
            cluster.register(*id, None).unwrap();
            cluster.heartbeat(*id).unwrap();
        }
        cluster
    }

    pub(super) fn commit<T>(&mut self, proposal: ControllerResult<T>) -> T {
        self.storage.append(&proposal.records).unwrap();
        self.controller.apply_committed(&proposal.records);
        proposal.response
    }

    pub(super) fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(self.controller.image())
    }

    pub(super) fn register_incarnation(
        &mut self,
        id: i32,
        incarnation: u8,
        rack: Option<&str>,
    ) -> Result<i64, ControllerError> {
        let proposal = self.controller.register_broker(
            NewBrokerRegistration {
                broker_id: id,
                incarnation_id: [incarnation; 16],
                listeners: vec![crate::BrokerEndpoint {
                    name: "PLAINTEXT".into(),
                    host: "127.0.0.1".into(),
                    port: 9000 + id as u16,
                }],
                rack: rack.map(str::to_owned),
            },
            self.now_ms,
        );
        let epoch = self.commit(proposal)?;
        self.epochs.insert(id, epoch);
        Ok(epoch)
    }

    pub(super) fn register(&mut self, id: i32, rack: Option<&str>) -> Result<i64, ControllerError> {
        self.register_incarnation(id, id as u8, rack)
    }

    pub(super) fn beat(
        &mut self,
        id: i32,
        request: impl FnOnce(&mut BrokerHeartbeat),
    ) -> Result<BrokerHeartbeatReply, ControllerError> {
        let mut heartbeat = BrokerHeartbeat {
            broker_id: id,
            broker_epoch: self.epochs[&id],
            caught_up_offset: self.controller.image().version as i64 - 1,
            want_fence: false,
            want_shutdown: false,
            offline_log_dirs: Vec::new(),
        };
        request(&mut heartbeat);
        let proposal = self.controller.broker_heartbeat(heartbeat, self.now_ms);
        self.commit(proposal)
    }

    pub(super) fn heartbeat(&mut self, id: i32) -> Result<BrokerHeartbeatReply, ControllerError> {
        self.beat(id, |_| {})
    }

    pub(super) fn create(
        &mut self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
    ) -> Result<TopicId, ControllerError> {
        self.create_topic(NewTopic {
            name: name.into(),
            partitions,
            replication_factor,
            configs: vec![],
            assignments: vec![],
        })
        .map(|created| created.topic_id)
    }

    /// Creates `topic` and commits the records (none when refused).
    pub(super) fn create_topic(
        &mut self,
        topic: NewTopic,
    ) -> Result<CreatedTopic, ControllerError> {
        let mut next = self.next_topic_id;
        let proposal = self.controller.create_topics(vec![topic], &mut || {
            next += 1;
            [next; 16]
        });
        self.next_topic_id = next;
        let mut results = self.commit(proposal);
        results.remove(0)
    }

    pub(super) fn state(&self, topic_id: &TopicId, partition: i32) -> PartitionState {
        self.controller
            .image()
            .partition(topic_id, partition)
            .unwrap()
            .clone()
    }

    pub(super) fn tick(&mut self, advance_ms: u64) -> Vec<i32> {
        self.now_ms += advance_ms;
        let proposal = self.controller.tick(self.now_ms);
        self.commit(proposal)
    }

    pub(super) fn assert_replay_matches(&self) {
        let replayed =
            MetadataController::replay(self.controller.settings, &self.storage.read(0).unwrap());
        assert_eq!(replayed.image(), self.controller.image());
    }
}

#[test]
fn registration_starts_fenced_with_the_offset_of_its_record_as_epoch() {
    let mut cluster = Cluster::new(&[1]);
    let version = cluster.controller.image().version;
    let epoch = cluster.register(2, Some("rack-b")).unwrap();
    assert_eq!(epoch, version as i64);
    let image = cluster.image();
    let broker = image.broker(2).unwrap();
    assert!(broker.fenced);
    assert_eq!(broker.rack.as_deref(), Some("rack-b"));
    assert_eq!(broker.listener("PLAINTEXT").unwrap().port, 9002);
    assert_eq!(
        image
            .live_brokers()
            .map(|b| b.broker_id)
            .collect::<Vec<_>>(),
        vec![1]
    );
}

#[test]
fn retried_registration_of_the_same_incarnation_keeps_its_epoch_and_writes_nothing() {
    let mut cluster = Cluster::new(&[1]);
    let epoch = cluster.epochs[&1];
    let proposal = cluster.controller.register_broker(
        NewBrokerRegistration {
            broker_id: 1,
            incarnation_id: [1; 16],
            listeners: vec![],
            rack: None,
        },
        cluster.now_ms,
    );
    assert!(proposal.records.is_empty());
    assert_eq!(proposal.response, Ok(epoch));
}

#[test]
fn new_incarnation_is_refused_while_the_old_session_lives_then_gets_a_new_epoch() {
    let mut cluster = Cluster::new(&[1, 2]);
    let old_epoch = cluster.epochs[&2];
    assert_eq!(
        cluster.register_incarnation(2, 99, None),
        Err(ControllerError::DuplicateBrokerRegistration(2))
    );
    cluster.now_ms += 9001;
    let new_epoch = cluster.register_incarnation(2, 99, None).unwrap();
    assert!(new_epoch > old_epoch);
    assert!(cluster.image().broker(2).unwrap().fenced);
    // The replaced incarnation is stale from now on.
    cluster.now_ms += 20_000;
    assert_eq!(
        cluster.register_incarnation(2, 2, None),
        Err(ControllerError::StaleBrokerIncarnation(2))
    );
    cluster.assert_replay_matches();
}

#[test]
fn registration_a_record_cannot_hold_is_refused() {
    let mut cluster = Cluster::new(&[1]);
    let mut register = |registration: NewBrokerRegistration| {
        let proposal = cluster.controller.register_broker(registration, 0);
        assert!(proposal.records.is_empty());
        proposal.response
    };
    let valid = NewBrokerRegistration {
        broker_id: 2,
        incarnation_id: [2; 16],
        listeners: vec![],
        rack: None,
    };
    let endpoint = crate::BrokerEndpoint {
        name: "PLAINTEXT".into(),
        host: "h".into(),
        port: 1,
    };
    for registration in [
        NewBrokerRegistration {
            broker_id: -1,
            ..valid.clone()
        },
        NewBrokerRegistration {
            listeners: vec![endpoint; crate::LISTENERS_MAX + 1],
            ..valid.clone()
        },
        NewBrokerRegistration {
            rack: Some("r".repeat(70_000)),
            ..valid.clone()
        },
    ] {
        assert!(matches!(
            register(registration),
            Err(ControllerError::InvalidRequest(_))
        ));
    }
}

#[test]
fn heartbeat_with_another_epoch_or_from_an_unknown_broker_is_refused() {
    let mut cluster = Cluster::new(&[1]);
    let epoch = cluster.epochs[&1];
    let stale = cluster.beat(1, |heartbeat| heartbeat.broker_epoch = epoch - 1);
    assert_eq!(
        stale,
        Err(ControllerError::StaleBrokerEpoch {
            broker_id: 1,
            broker_epoch: epoch - 1,
            current: epoch
        })
    );
    cluster.epochs.insert(7, 0);
    assert_eq!(
        cluster.heartbeat(7),
        Err(ControllerError::BrokerIdNotRegistered(7))
    );
}

#[test]
fn fenced_broker_is_unfenced_only_once_caught_up_with_its_registration() {
    let mut cluster = Cluster::new(&[1]);
    let epoch = cluster.register(2, None).unwrap();
    let behind = cluster
        .beat(2, |heartbeat| heartbeat.caught_up_offset = epoch - 1)
        .unwrap();
    assert!(!behind.is_caught_up);
    assert!(behind.is_fenced);
    let caught_up = cluster.heartbeat(2).unwrap();
    assert!(caught_up.is_caught_up);
    assert!(!caught_up.is_fenced);
    assert!(cluster.image().is_live(2));
}

#[test]
fn topic_replicas_are_placed_across_unfenced_brokers_with_leaders_spread() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let topic = cluster.create("orders", 6, -1).unwrap();
    let mut leaders = BTreeMap::new();
    for partition in 0..6 {
        let state = cluster.state(&topic, partition);
        let mut replicas = state.replicas.clone();
        replicas.sort_unstable();
        assert_eq!(replicas, vec![1, 2, 3]);
        assert_eq!(state.isr, state.replicas);
        assert_eq!(state.leader, state.replicas[0]);
        assert_eq!((state.leader_epoch, state.partition_epoch), (0, 0));
        *leaders.entry(state.leader).or_insert(0) += 1;
    }
    assert_eq!(leaders.into_values().collect::<Vec<_>>(), vec![2, 2, 2]);
    assert_eq!(cluster.image().partitions_led_by(1).len(), 2);
    cluster.assert_replay_matches();
}

#[test]
fn fenced_broker_gets_no_new_replicas() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    cluster
        .beat(3, |heartbeat| heartbeat.want_fence = true)
        .unwrap();
    let topic = cluster.create("orders", 4, 2).unwrap();
    for partition in 0..4 {
        assert!(!cluster.state(&topic, partition).replicas.contains(&3));
    }
}

#[test]
fn replication_factor_beyond_the_unfenced_brokers_is_refused_with_kafkas_message() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    cluster.register(4, None).unwrap();
    let error = cluster.create("orders", 1, 4).unwrap_err();
    assert_eq!(
        error,
        ControllerError::InvalidReplicationFactor {
            replication_factor: 4,
            brokers: 3
        }
    );
    assert_eq!(
        error.to_string(),
        "Unable to replicate the partition 4 time(s): The target replication factor of 4 \
         cannot be reached because only 3 broker(s) are registered."
    );
    assert_eq!(
        cluster.create("zero", 1, 0),
        Err(ControllerError::ReplicationFactorNotPositive(0))
    );
    assert!(cluster.image().topic("orders").is_none());
}

#[test]
fn default_replication_factor_applies_to_minus_one() {
    let settings = ControllerSettings {
        default_replication_factor: 2,
        ..SETTINGS
    };
    let mut cluster = Cluster::with_settings(settings, &[1, 2, 3]);
    let topic = cluster.create("orders", 2, -1).unwrap();
    assert_eq!(cluster.state(&topic, 1).replicas.len(), 2);
}

#[test]
fn racks_are_spread_over_a_partitions_replicas() {
    let mut cluster = Cluster::new(&[]);
    for (id, rack) in [(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c"), (6, "c")] {
        cluster.register(id, Some(rack)).unwrap();
        cluster.heartbeat(id).unwrap();
    }
    let topic = cluster.create("orders", 12, 3).unwrap();
    let image = cluster.image();
    for partition in 0..12 {
        let racks: BTreeSet<_> = cluster
            .state(&topic, partition)
            .replicas
            .iter()
            .map(|id| image.broker(*id).unwrap().rack.clone())
            .collect();
        assert_eq!(racks.len(), 3);
    }
}

#[test]
fn create_partitions_places_new_partitions_with_the_topics_replication_factor() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let topic = cluster.create("orders", 2, 2).unwrap();
    let grow = cluster
        .controller
        .create_partitions(vec![NewPartitions::placed("orders", 5)]);
    assert_eq!(cluster.commit(grow), vec![Ok(())]);
    for partition in 0..5 {
        let state = cluster.state(&topic, partition);
        assert_eq!(state.replicas.len(), 2);
        assert_eq!(state.leader, state.replicas[0]);
    }
    cluster
        .beat(3, |heartbeat| heartbeat.want_fence = true)
        .unwrap();
    cluster
        .beat(2, |heartbeat| heartbeat.want_fence = true)
        .unwrap();
    let refused = cluster
        .controller
        .create_partitions(vec![NewPartitions::placed("orders", 6)]);
    assert_eq!(
        refused.response,
        vec![Err(ControllerError::InvalidReplicationFactor {
            replication_factor: 2,
            brokers: 1
        })]
    );
    assert!(refused.records.is_empty());
    cluster.assert_replay_matches();
}

#[test]
fn silent_broker_is_fenced_after_the_session_timeout_and_loses_its_leaderships() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let topic = cluster.create("orders", 3, 3).unwrap();
    assert!(cluster.tick(0).is_empty());
    cluster.now_ms += 5000;
    cluster.heartbeat(1).unwrap();
    cluster.heartbeat(2).unwrap();
    assert!(
        cluster.tick(4000).is_empty(),
        "9000 ms is not yet past the timeout"
    );
    cluster.heartbeat(1).unwrap();
    cluster.heartbeat(2).unwrap();
    assert_eq!(cluster.tick(1), vec![3]);
    let image = cluster.image();
    assert!(!image.is_live(3));
    assert!(image.partitions_led_by(3).is_empty());
    for partition in 0..3 {
        let state = cluster.state(&topic, partition);
        assert!(!state.isr.contains(&3));
        assert!(state.isr.contains(&state.leader));
        if state.replicas[0] == 3 {
            assert_eq!(state.leader_epoch, 1);
            assert_eq!(state.leader, state.replicas[1], "next replica in order");
        } else {
            assert_eq!(state.leader_epoch, 0);
        }
        assert_eq!(state.partition_epoch, 1);
    }
    cluster.assert_replay_matches();
}

#[test]
fn offline_partition_keeps_its_isr_and_its_last_replica_leads_again_on_return() {
    let mut cluster = Cluster::new(&[1, 2]);
    let topic = cluster.create("orders", 1, 1).unwrap();
    let leader = cluster.state(&topic, 0).leader;
    cluster
        .beat(leader, |heartbeat| heartbeat.want_fence = true)
        .unwrap();
    let offline = cluster.state(&topic, 0);
    assert_eq!(offline.leader, NO_LEADER);
    assert_eq!(offline.isr, vec![leader]);
    assert_eq!((offline.leader_epoch, offline.partition_epoch), (1, 1));
    let reply = cluster.heartbeat(leader).unwrap();
    assert!(!reply.is_fenced);
    let online = cluster.state(&topic, 0);
    assert_eq!(online.leader, leader);
    assert_eq!((online.leader_epoch, online.partition_epoch), (2, 2));
    cluster.assert_replay_matches();
}

#[test]
fn controlled_shutdown_moves_leaderships_before_the_broker_may_stop() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let topic = cluster.create("orders", 6, 3).unwrap();
    assert_eq!(cluster.image().partitions_led_by(2).len(), 2);
    let behind = cluster.controller.image().version as i64 - 1;
    let first = cluster
        .beat(2, |heartbeat| heartbeat.want_shutdown = true)
        .unwrap();
    assert!(
        !first.should_shut_down,
        "it must first learn it leads nothing"
    );
    assert!(!first.is_fenced);
    let image = cluster.image();
    assert!(image.partitions_led_by(2).is_empty());
    for partition in 0..6 {
        assert!(!cluster.state(&topic, partition).isr.contains(&2));
    }
    // A shutting-down broker takes no new replicas.
    assert!(matches!(
        cluster.create("more", 1, 3),
        Err(ControllerError::InvalidReplicationFactor { brokers: 2, .. })
    ));
    let lagging = cluster
        .beat(2, |heartbeat| {
            heartbeat.want_shutdown = true;
            heartbeat.caught_up_offset = behind;
        })
        .unwrap();
    assert!(!lagging.should_shut_down);
    let done = cluster
        .beat(2, |heartbeat| heartbeat.want_shutdown = true)
        .unwrap();
    assert!(done.should_shut_down);
    assert!(done.is_fenced);
    assert!(!cluster.image().is_live(2));
    // Restarted at once, it registers a new incarnation without waiting for
    // its old session to expire.
    assert!(cluster.register_incarnation(2, 22, None).is_ok());
    cluster.heartbeat(2).unwrap();
    assert!(cluster.image().is_live(2));
    cluster.assert_replay_matches();
}

#[test]
fn broker_leading_nothing_shuts_down_at_once() {
    let mut cluster = Cluster::new(&[1, 2]);
    let reply = cluster
        .beat(2, |heartbeat| heartbeat.want_shutdown = true)
        .unwrap();
    assert!(reply.should_shut_down);
    assert!(reply.is_fenced);
}

#[test]
fn unregistered_broker_leaves_its_partitions_and_the_image() {
    let mut cluster = Cluster::new(&[1, 2, 3]);
    let topic = cluster.create("orders", 3, 2).unwrap();
    let proposal = cluster.controller.unregister_broker(2);
    cluster.commit(proposal).unwrap();
    assert!(cluster.image().broker(2).is_none());
    for partition in 0..3 {
        let state = cluster.state(&topic, partition);
        assert_ne!(state.leader, 2);
        assert!(state.isr.len() == 1 || !state.isr.contains(&2));
    }
    assert_eq!(
        cluster.controller.unregister_broker(2).response,
        Err(ControllerError::BrokerIdNotRegistered(2))
    );
    cluster.assert_replay_matches();
}

#[test]
fn single_node_log_without_replica_records_reads_as_led_by_this_node() {
    // What a metadata log written before brokers and replicas were recorded holds.
    let legacy = vec![
        MetadataRecord::Topic {
            topic_id: [4; 16],
            name: "old".into(),
            partitions: 2,
            configs: vec![],
        },
        MetadataRecord::PartitionCount {
            topic_id: [4; 16],
            partitions: 3,
        },
    ];
    let settings = ControllerSettings {
        node_id: 5,
        default_replication_factor: 1,
        ..SETTINGS
    };
    let mut controller = MetadataController::replay(settings, &legacy);
    for partition in 0..3 {
        assert_eq!(
            controller.image().partition(&[4; 16], partition),
            Some(&PartitionState::single_node(5))
        );
    }
    assert_eq!(controller.image().leader(&[4; 16], 2), Some(5));
    assert_eq!(controller.image().leader(&[4; 16], 3), None);
    // The node registers at start; growing the old topic places on it.
    let registration = controller.register_broker(
        NewBrokerRegistration {
            broker_id: 5,
            incarnation_id: [5; 16],
            listeners: vec![],
            rack: None,
        },
        0,
    );
    controller.apply_committed(&registration.records);
    let epoch = registration.response.unwrap();
    assert_eq!(epoch, 2);
    let heartbeat = controller.broker_heartbeat(
        BrokerHeartbeat {
            broker_id: 5,
            broker_epoch: epoch,
            caught_up_offset: epoch,
            want_fence: false,
            want_shutdown: false,
            offline_log_dirs: Vec::new(),
        },
        0,
    );
    controller.apply_committed(&heartbeat.records);
    assert_eq!(controller.image().partitions_led_by(5).len(), 3);
    let grow = controller.create_partitions(vec![NewPartitions::placed("old", 4)]);
    controller.apply_committed(&grow.records);
    assert_eq!(
        controller.image().partition(&[4; 16], 3),
        Some(&PartitionState::single_node(5))
    );
}
