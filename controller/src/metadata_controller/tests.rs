//! The controller's rules, driven as the control shard drives them: propose,
//! commit through a storage, apply the committed records.

use super::*;
use crate::config::ConfigError;
use crate::error::ControllerError;
use crate::group_coordinator::CONSUMER_OFFSETS_TOPIC;
use crate::metadata_log::MetadataLog;
use crate::metadata_record::TopicId;
use crate::metadata_storage::{MemoryMetadataStorage, MetadataStorage};
use crate::partition_state::PartitionState;
use crate::topic_name::TopicNameError;

const SETTINGS: ControllerSettings = ControllerSettings {
    num_partitions: 3,
    delete_topic_enable: true,
    node_id: 0,
    default_replication_factor: 1,
    unclean_leader_election_enable: false,
    broker_session_timeout_ms: 9000,
};

/// Records a single-node driver commits at start: its broker registers and,
/// caught up, is unfenced.
const START_RECORDS: u64 = 2;

/// A controller with its storage, committing as the single-voter driver does.
struct Harness<S = MemoryMetadataStorage> {
    controller: MetadataController,
    storage: S,
    next_topic_id: u8,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_storage(MemoryMetadataStorage::new())
    }
}

impl<S: MetadataStorage> Harness<S> {
    /// A controller whose broker (node 0) has registered and been
    /// unfenced, as the single-node driver does at start.
    fn with_storage(storage: S) -> Harness<S> {
        let mut harness = Harness {
            controller: MetadataController::new(SETTINGS, MetadataImage::new(0)),
            storage,
            next_topic_id: 1,
        };
        let registration = harness.controller.register_broker(
            NewBrokerRegistration {
                broker_id: 0,
                incarnation_id: [0xb0; 16],
                listeners: vec![],
                rack: None,
            },
            0,
        );
        let broker_epoch = harness.commit(registration).unwrap();
        let heartbeat = harness.controller.broker_heartbeat(
            BrokerHeartbeat {
                broker_id: 0,
                broker_epoch,
                caught_up_offset: broker_epoch,
                want_fence: false,
                want_shutdown: false,
                offline_log_dirs: Vec::new(),
            },
            0,
        );
        assert!(!harness.commit(heartbeat).unwrap().is_fenced);
        harness
    }

    /// Appends the proposal's records, applies them and returns its response.
    fn commit<T>(&mut self, proposal: ControllerResult<T>) -> T {
        self.storage.append(&proposal.records).unwrap();
        self.controller.apply_committed(&proposal.records);
        proposal.response
    }

    fn create(&mut self, topics: Vec<NewTopic>) -> Vec<Result<CreatedTopic, ControllerError>> {
        let mut id = self.next_topic_id;
        let proposal = self.controller.create_topics(topics, &mut || {
            id += 1;
            [id; 16]
        });
        self.next_topic_id = id;
        self.commit(proposal)
    }

    fn create_one(&mut self, name: &str, partitions: i32) -> CreatedTopic {
        let mut results = self.create(vec![new_topic(name, partitions)]);
        assert_eq!(results.len(), 1);
        results.remove(0).unwrap()
    }
}

fn new_topic(name: &str, partitions: i32) -> NewTopic {
    NewTopic {
        name: name.into(),
        partitions,
        replication_factor: -1,
        configs: vec![],
        assignments: vec![],
    }
}

fn no_topic_ids() -> impl FnMut() -> TopicId {
    || panic!("no topic is created")
}

#[test]
fn created_topic_is_in_the_next_image_with_its_default_partitions() {
    let mut harness = Harness::new();
    let created = harness.create_one("orders", -1);
    assert_eq!(created.partitions, SETTINGS.num_partitions);
    let image = harness.controller.image();
    let topic = image.topic("orders").unwrap();
    assert_eq!(topic.partitions, 3);
    assert_eq!(topic.topic_id, created.topic_id);
    // The topic record and one partition record per partition.
    assert_eq!(image.version, START_RECORDS + 1 + 3);
    for (_, state) in topic.partition_states() {
        assert_eq!(*state, PartitionState::single_node(0));
    }
}

#[test]
fn proposing_changes_nothing_until_the_records_are_applied() {
    let harness = Harness::new();
    let proposal = harness
        .controller
        .create_topics(vec![new_topic("orders", 2)], &mut || [7; 16]);
    assert_eq!(proposal.records.len(), 3);
    assert!(harness.controller.image().topic("orders").is_none());
    assert_eq!(harness.controller.image().version, START_RECORDS);
}

#[test]
fn illegal_topic_name_is_refused() {
    let mut harness = Harness::new();
    let proposal = harness
        .controller
        .create_topics(vec![new_topic("a/b", 1)], &mut no_topic_ids());
    assert!(proposal.records.is_empty());
    assert_eq!(
        proposal.response,
        vec![Err(ControllerError::InvalidTopicName(
            TopicNameError::IllegalCharacter('/')
        ))]
    );
    assert_eq!(
        harness.create(vec![new_topic("..", 1)]),
        vec![Err(TopicNameError::DotName.into())]
    );
}

#[test]
fn duplicate_topic_is_refused_in_the_image_and_within_one_request() {
    let mut harness = Harness::new();
    harness.create_one("orders", 1);
    let results = harness.create(vec![
        new_topic("orders", 1),
        new_topic("payments", 1),
        new_topic("payments", 4),
    ]);
    assert_eq!(
        results[0],
        Err(ControllerError::TopicAlreadyExists("orders".into()))
    );
    assert!(results[1].is_ok());
    assert_eq!(
        results[2],
        Err(ControllerError::TopicAlreadyExists("payments".into()))
    );
    assert_eq!(
        harness
            .controller
            .image()
            .topic("payments")
            .unwrap()
            .partitions,
        1
    );
}

#[test]
fn bad_partition_count_replication_factor_or_config_refuses_only_that_topic() {
    let mut harness = Harness::new();
    let mut replicated = new_topic("replicated", 1);
    replicated.replication_factor = 3;
    let mut unknown_config = new_topic("unknown-config", 1);
    unknown_config.configs = vec![("no.such.config".into(), "1".into())];
    let mut bad_value = new_topic("bad-value", 1);
    bad_value.configs = vec![("retention.ms".into(), "soon".into())];
    let mut good = new_topic("good", 2);
    good.configs = vec![("retention.ms".into(), "1000".into())];
    let results = harness.create(vec![
        new_topic("zero", 0),
        replicated,
        unknown_config,
        bad_value,
        good,
    ]);
    assert_eq!(
        results[0],
        Err(ControllerError::PartitionCountNotPositive(0))
    );
    assert_eq!(
        results[1],
        Err(ControllerError::InvalidReplicationFactor {
            replication_factor: 3,
            brokers: 1
        })
    );
    assert_eq!(
        results[2],
        Err(ControllerError::InvalidConfig(
            ConfigError::UnknownProperty("no.such.config".into())
        ))
    );
    assert!(matches!(
        results[3],
        Err(ControllerError::InvalidConfig(
            ConfigError::InvalidValue { .. }
        ))
    ));
    assert!(results[4].is_ok());
    let image = harness.controller.image();
    assert_eq!(image.topics().count(), 1);
    assert_eq!(image.topic("good").unwrap().configs["retention.ms"], "1000");
}

#[test]
fn partitions_grow_but_never_shrink_or_stay() {
    let mut harness = Harness::new();
    harness.create_one("orders", 4);
    let proposal = harness.controller.create_partitions(vec![
        NewPartitions::placed("orders", 3),
        NewPartitions::placed("orders", 4),
        NewPartitions::placed("missing", 8),
    ]);
    assert!(proposal.records.is_empty());
    assert_eq!(
        proposal.response,
        vec![
            Err(ControllerError::PartitionCountNotIncreased {
                current: 4,
                requested: 3
            }),
            Err(ControllerError::PartitionCountNotIncreased {
                current: 4,
                requested: 4
            }),
            Err(ControllerError::UnknownTopic("missing".into())),
        ]
    );
    let proposal = harness
        .controller
        .create_partitions(vec![NewPartitions::placed("orders", 6)]);
    assert_eq!(harness.commit(proposal), vec![Ok(())]);
    assert_eq!(
        harness
            .controller
            .image()
            .topic("orders")
            .unwrap()
            .partitions,
        6
    );
}

#[test]
fn internal_topic_cannot_be_repartitioned_or_deleted() {
    let mut harness = Harness::new();
    harness.create_one(CONSUMER_OFFSETS_TOPIC, 50);
    let internal = || ControllerError::InternalTopic(CONSUMER_OFFSETS_TOPIC.into());
    let grow = harness
        .controller
        .create_partitions(vec![NewPartitions::placed(CONSUMER_OFFSETS_TOPIC, 60)]);
    assert_eq!(grow.response, vec![Err(internal())]);
    let delete = harness
        .controller
        .delete_topics(vec![TopicRef::Name(CONSUMER_OFFSETS_TOPIC.into())]);
    assert_eq!(delete.response, vec![Err(internal())]);
    assert!(grow.records.is_empty() && delete.records.is_empty());
}

#[test]
fn deleting_an_unknown_topic_is_refused_by_name_and_by_id() {
    let harness = Harness::new();
    let proposal = harness.controller.delete_topics(vec![
        TopicRef::Name("missing".into()),
        TopicRef::Id([42; 16]),
    ]);
    assert!(proposal.records.is_empty());
    assert_eq!(
        proposal.response,
        vec![
            Err(ControllerError::UnknownTopic("missing".into())),
            Err(ControllerError::UnknownTopicId),
        ]
    );
}

#[test]
fn topic_named_twice_is_deleted_once_and_reported_twice() {
    let mut harness = Harness::new();
    let created = harness.create_one("orders", 1);
    let proposal = harness.controller.delete_topics(vec![
        TopicRef::Name("orders".into()),
        TopicRef::Id(created.topic_id),
    ]);
    assert_eq!(proposal.records.len(), 1);
    let deleted = ("orders".to_string(), created.topic_id);
    assert_eq!(
        harness.commit(proposal),
        vec![Ok(deleted.clone()), Ok(deleted)]
    );
    assert!(harness.controller.image().topic("orders").is_none());
}

#[test]
fn deletion_disabled_refuses_known_topics() {
    let mut harness = Harness::new();
    harness.create_one("orders", 1);
    let controller = MetadataController::new(
        ControllerSettings {
            delete_topic_enable: false,
            ..SETTINGS
        },
        MetadataImage::clone(harness.controller.image()),
    );
    let proposal = controller.delete_topics(vec![
        TopicRef::Name("orders".into()),
        TopicRef::Name("missing".into()),
    ]);
    assert_eq!(
        proposal.response,
        vec![
            Err(ControllerError::TopicDeletionDisabled),
            Err(ControllerError::UnknownTopic("missing".into())),
        ]
    );
}

#[test]
fn config_changes_write_only_what_differs() {
    let mut harness = Harness::new();
    let mut topic = new_topic("orders", 1);
    topic.configs = vec![
        ("retention.ms".into(), "1000".into()),
        ("segment.bytes".into(), "1048576".into()),
    ];
    harness.create(vec![topic]);
    let change = |replace_all, ops: &[(&str, Option<&str>)]| TopicConfigChange {
        topic: "orders".into(),
        replace_all,
        ops: ops
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect(),
    };
    let unchanged = harness
        .controller
        .alter_topic_configs(vec![change(false, &[("retention.ms", Some("1000"))])]);
    assert!(unchanged.records.is_empty());
    assert_eq!(unchanged.response, vec![Ok(())]);

    // AlterConfigs replaces every override: segment.bytes goes.
    let replaced = harness
        .controller
        .alter_topic_configs(vec![change(true, &[("retention.ms", Some("2000"))])]);
    assert_eq!(replaced.records.len(), 2);
    assert_eq!(harness.commit(replaced), vec![Ok(())]);
    let configs = harness
        .controller
        .image()
        .topic("orders")
        .unwrap()
        .configs
        .clone();
    assert_eq!(configs.len(), 1);
    assert_eq!(configs["retention.ms"], "2000");
}

#[test]
fn bad_config_change_is_refused_whole() {
    let mut harness = Harness::new();
    harness.create_one("orders", 1);
    let proposal = harness.controller.alter_topic_configs(vec![
        TopicConfigChange {
            topic: "orders".into(),
            replace_all: false,
            ops: vec![
                ("retention.ms".into(), Some("5".into())),
                ("no.such.config".into(), None),
            ],
        },
        TopicConfigChange {
            topic: "missing".into(),
            replace_all: false,
            ops: vec![],
        },
    ]);
    assert!(proposal.records.is_empty());
    assert_eq!(
        proposal.response,
        vec![
            Err(ControllerError::InvalidConfig(
                ConfigError::UnknownProperty("no.such.config".into())
            )),
            Err(ControllerError::UnknownTopic("missing".into())),
        ]
    );
}

#[test]
fn producer_id_blocks_move_forward_across_a_replay() {
    let mut harness = Harness::new();
    let mut first = harness.commit(harness.controller.reserve_producer_ids());
    assert_eq!(first.remaining(), PRODUCER_ID_BLOCK_SIZE);
    assert_eq!(first.take(), Some(0));
    let mut second = harness.commit(harness.controller.reserve_producer_ids());
    assert_eq!(second.take(), Some(PRODUCER_ID_BLOCK_SIZE));

    // A restart replays the log: the next block starts after both.
    let replayed = MetadataController::replay(SETTINGS, &harness.storage.read(0).unwrap());
    let mut third = replayed.reserve_producer_ids().response;
    assert_eq!(third.take(), Some(2 * PRODUCER_ID_BLOCK_SIZE));
}

#[test]
fn producer_id_block_hands_out_each_id_once() {
    let mut harness = Harness::new();
    let mut block = harness.commit(harness.controller.reserve_producer_ids());
    let ids: Vec<i64> = std::iter::from_fn(|| block.take()).collect();
    assert_eq!(ids, (0..PRODUCER_ID_BLOCK_SIZE).collect::<Vec<_>>());
    assert_eq!(block.take(), None);
    assert_eq!(ProducerIdBlock::default().take(), None);
}

#[test]
fn uncommitted_proposal_leaves_no_trace() {
    let mut harness = Harness::new();
    harness.storage.set_failing(true);
    let proposal = harness.controller.reserve_producer_ids();
    assert!(harness.storage.append(&proposal.records).is_err());
    harness.storage.set_failing(false);
    let mut block = harness.commit(harness.controller.reserve_producer_ids());
    assert_eq!(block.take(), Some(0));
    assert_eq!(harness.storage.log_end_offset(), START_RECORDS + 1);
}

/// Commits one change of every kind.
fn commit_every_kind_of_change<S: MetadataStorage>(harness: &mut Harness<S>) -> TopicId {
    let orders = harness.create_one("orders", 2);
    harness.create_one("payments", 1);
    let grow = harness
        .controller
        .create_partitions(vec![NewPartitions::placed("orders", 5)]);
    harness.commit(grow);
    let configure = harness
        .controller
        .alter_topic_configs(vec![TopicConfigChange {
            topic: "orders".into(),
            replace_all: false,
            ops: vec![("cleanup.policy".into(), Some("compact".into()))],
        }]);
    harness.commit(configure);
    let delete = harness
        .controller
        .delete_topics(vec![TopicRef::Name("payments".into())]);
    harness.commit(delete);
    harness.commit(harness.controller.reserve_producer_ids());
    orders.topic_id
}

#[test]
fn replaying_the_stored_records_rebuilds_the_same_image() {
    let mut harness = Harness::new();
    let orders = commit_every_kind_of_change(&mut harness);
    let replayed = MetadataController::replay(SETTINGS, &harness.storage.read(0).unwrap());
    assert_eq!(replayed.image(), harness.controller.image());
    // Two topics of 2 and 1 partitions, 3 more, each with a partition record.
    assert_eq!(replayed.image().version, START_RECORDS + 6 + 2 + 1 + 3);
    assert_eq!(replayed.image().topic_by_id(&orders).unwrap().partitions, 5);
    assert!(replayed.image().topic("payments").is_none());
}

#[test]
fn reopening_the_metadata_log_rebuilds_the_same_image() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = MetadataLog::open(dir.path()).unwrap();
    let mut harness = Harness::with_storage(log);
    commit_every_kind_of_change(&mut harness);
    drop(harness.storage);
    let (log, records) = MetadataLog::open(dir.path()).unwrap();
    assert_eq!(log.read(0).unwrap(), records);
    let replayed = MetadataController::replay(SETTINGS, &records);
    assert_eq!(replayed.image(), harness.controller.image());
    let mut block = replayed.reserve_producer_ids().response;
    assert_eq!(block.take(), Some(PRODUCER_ID_BLOCK_SIZE));
}
