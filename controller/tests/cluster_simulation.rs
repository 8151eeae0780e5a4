//! Seeded simulation of the cluster rules: 3 to 5 brokers register,
//! heartbeat (sometimes behind, sometimes asking to be fenced or to shut
//! down), crash, restart with new incarnations and unregister; time passes
//! and sessions expire; topics are created, grown and deleted; leaders
//! shrink and expand ISRs (sometimes with stale epochs); preferred and
//! unclean elections run. After every step the committed image must hold
//! the invariants:
//!
//! - every partition has distinct replicas, as many as its topic asked for;
//!   its ISR is a non-empty, distinct subset of them;
//! - its leader is -1 or an unfenced member of the ISR;
//! - the leader epoch never decreases and grows on every leader change; the
//!   partition epoch grows on every change; no record "changes" a leader to
//!   the one it has;
//! - replaying every record from scratch gives the same image.
//!
//! A run is a pure function of its seed. `SKEIN_CLUSTER_SIM_SEEDS=n` runs
//! seeds `0..n` (default 64); `SKEIN_CLUSTER_SIM_SEED=s` runs seed `s` alone
//! (a failure names its seed and step).

use std::collections::BTreeMap;

use skein_controller::{
    AlterPartition, BrokerHeartbeat, ControllerResult, ControllerSettings, ElectionType,
    MetadataController, MetadataImage, MetadataRecord, NewBrokerRegistration, NewPartitions,
    NewTopic, TopicConfigChange, TopicId, TopicRef, NO_LEADER,
};

const STEPS: usize = 300;

/// SplitMix64: small, seedable, good enough to pick steps.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            return None;
        }
        Some(items[self.below(items.len() as u64) as usize])
    }
}

struct Broker {
    id: i32,
    running: bool,
    incarnation: [u8; 16],
    epoch: Option<i64>,
}

struct Sim {
    seed: u64,
    step: usize,
    rng: Rng,
    controller: MetadataController,
    records: Vec<MetadataRecord>,
    now_ms: u64,
    brokers: Vec<Broker>,
    /// The replication factor each live topic was created with.
    replication_factors: BTreeMap<TopicId, usize>,
    next_topic: u64,
    settings: ControllerSettings,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng(seed);
        let broker_count = 3 + rng.below(3) as i32;
        let settings = ControllerSettings {
            num_partitions: 2,
            delete_topic_enable: true,
            node_id: 1,
            default_replication_factor: 1 + rng.below(3) as i16,
            unclean_leader_election_enable: rng.chance(20),
            broker_session_timeout_ms: 9000,
        };
        Sim {
            seed,
            step: 0,
            rng,
            controller: MetadataController::new(settings, MetadataImage::new(1)),
            records: Vec::new(),
            now_ms: 0,
            brokers: (1..=broker_count)
                .map(|id| Broker {
                    id,
                    running: false,
                    incarnation: [0; 16],
                    epoch: None,
                })
                .collect(),
            replication_factors: BTreeMap::new(),
            next_topic: 0,
            settings,
        }
    }

    fn context(&self) -> String {
        format!("seed {} step {}", self.seed, self.step)
    }

    /// Commits the proposal's records, checking each against the image it
    /// applies to, then the invariants of the result.
    fn commit<T>(&mut self, proposal: ControllerResult<T>) -> T {
        let before = MetadataImage::clone(self.controller.image());
        let mut stepping = before.clone();
        for record in &proposal.records {
            if let MetadataRecord::PartitionChange {
                topic_id,
                partition,
                leader: Some(leader),
                ..
            } = record
            {
                let current = stepping.leader(topic_id, *partition);
                assert_ne!(
                    current,
                    Some(*leader),
                    "{}: leader 'changed' to itself",
                    self.context()
                );
            }
            stepping.apply(record);
        }
        self.records.extend(proposal.records.iter().cloned());
        let after = self.controller.apply_committed(&proposal.records);
        assert_eq!(*after, stepping, "{}", self.context());
        self.check(&before, &after);
        proposal.response
    }

    fn check(&self, before: &MetadataImage, after: &MetadataImage) {
        let context = self.context();
        for topic in after.topics() {
            let replication_factor = self.replication_factors[&topic.topic_id];
            for (partition, state) in topic.partition_states() {
                let at = format!("{context}: {} {partition} {state:?}", topic.name);
                let mut replicas = state.replicas.clone();
                replicas.sort_unstable();
                replicas.dedup();
                assert_eq!(
                    replicas.len(),
                    state.replicas.len(),
                    "{at}: replicas repeat"
                );
                assert_eq!(replicas.len(), replication_factor, "{at}: replica count");
                assert!(!state.isr.is_empty(), "{at}: empty ISR");
                let mut isr = state.isr.clone();
                isr.sort_unstable();
                isr.dedup();
                assert_eq!(isr.len(), state.isr.len(), "{at}: ISR repeats");
                assert!(
                    isr.iter().all(|member| replicas.contains(member)),
                    "{at}: ISR outside replicas"
                );
                if state.leader != NO_LEADER {
                    assert!(
                        state.isr.contains(&state.leader),
                        "{at}: leader outside the ISR"
                    );
                    assert!(after.is_live(state.leader), "{at}: fenced leader");
                }
                let Some(previous) = before.partition(&topic.topic_id, partition) else {
                    continue;
                };
                assert!(
                    previous.leader_epoch <= state.leader_epoch,
                    "{at}: leader epoch fell"
                );
                assert!(
                    previous.partition_epoch <= state.partition_epoch,
                    "{at}: partition epoch fell"
                );
                if previous.leader != state.leader {
                    assert!(
                        previous.leader_epoch < state.leader_epoch,
                        "{at}: leader changed, epoch kept"
                    );
                }
                if previous != state {
                    assert!(
                        previous.partition_epoch < state.partition_epoch,
                        "{at}: changed, epoch kept"
                    );
                }
            }
        }
        let replayed = MetadataImage::replay(self.settings.node_id, &self.records);
        assert_eq!(&replayed, after, "{context}: replay differs");
    }

    fn broker_index(&mut self) -> usize {
        self.rng.below(self.brokers.len() as u64) as usize
    }

    fn register(&mut self, index: usize) {
        let broker = &mut self.brokers[index];
        if !broker.running {
            let high = self.rng.next().to_be_bytes();
            let low = self.rng.next().to_be_bytes();
            broker.incarnation[..8].copy_from_slice(&high);
            broker.incarnation[8..].copy_from_slice(&low);
            broker.running = true;
        }
        let broker = &self.brokers[index];
        let proposal = self.controller.register_broker(
            NewBrokerRegistration {
                broker_id: broker.id,
                incarnation_id: broker.incarnation,
                listeners: vec![],
                rack: (broker.id % 2 == 0).then(|| "even".to_owned()),
            },
            self.now_ms,
        );
        if let Ok(epoch) = self.commit(proposal) {
            self.brokers[index].epoch = Some(epoch);
        }
    }

    fn heartbeat(&mut self, index: usize, fence: bool, shutdown: bool) {
        let (id, Some(epoch), true) = (
            self.brokers[index].id,
            self.brokers[index].epoch,
            self.brokers[index].running,
        ) else {
            return;
        };
        let log_end = self.records.len() as i64;
        let caught_up_offset = if self.rng.chance(80) {
            log_end - 1
        } else {
            log_end - 1 - self.rng.below(5) as i64
        };
        let proposal = self.controller.broker_heartbeat(
            BrokerHeartbeat {
                broker_id: id,
                broker_epoch: epoch,
                caught_up_offset,
                want_fence: fence,
                want_shutdown: shutdown,
                offline_log_dirs: Vec::new(),
            },
            self.now_ms,
        );
        if let Ok(reply) = self.commit(proposal) {
            if reply.should_shut_down {
                assert!(
                    self.controller.image().partitions_led_by(id).is_empty(),
                    "{}: broker told to stop while leading",
                    self.context()
                );
                self.brokers[index].running = false;
            }
        }
    }

    fn partitions(&self) -> Vec<(TopicId, String, i32)> {
        self.controller
            .image()
            .topics()
            .flat_map(|topic| {
                topic
                    .partition_states()
                    .map(|(partition, _)| (topic.topic_id, topic.name.clone(), partition))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn alter_partition(&mut self) {
        let partitions = self.partitions();
        let Some(choice) = self.rng.pick(&(0..partitions.len()).collect::<Vec<_>>()) else {
            return;
        };
        let (topic_id, _, partition) = partitions[choice].clone();
        let image = std::sync::Arc::clone(self.controller.image());
        let state = image.partition(&topic_id, partition).unwrap().clone();
        if state.leader == NO_LEADER {
            return;
        }
        let mut new_isr = vec![state.leader];
        for replica in &state.replicas {
            if *replica != state.leader && self.rng.chance(60) {
                new_isr.push(*replica);
            }
        }
        let stale = self.rng.chance(15);
        let request = AlterPartition {
            broker_id: state.leader,
            broker_epoch: image.broker(state.leader).map_or(-1, |b| b.broker_epoch),
            topic_id,
            partition,
            leader_epoch: state.leader_epoch - i32::from(stale && self.rng.chance(50)),
            partition_epoch: state.partition_epoch - i32::from(stale),
            new_isr,
            new_isr_broker_epochs: Vec::new(),
        };
        let proposal = self.controller.alter_partition(request);
        if stale {
            assert!(
                proposal.response.is_err(),
                "{}: stale AlterPartition accepted",
                self.context()
            );
        }
        let _ = self.commit(proposal);
    }

    fn create_topic(&mut self) {
        self.next_topic += 1;
        let name = format!("topic-{}", self.next_topic);
        let requested = *[-1i16, 1, 2, 3, 4].get(self.rng.below(5) as usize).unwrap();
        let partitions = 1 + self.rng.below(4) as i32;
        let id_seed = self.rng.next();
        let proposal = self.controller.create_topics(
            vec![NewTopic {
                name,
                partitions,
                replication_factor: requested,
                configs: vec![],
                assignments: vec![],
            }],
            &mut || {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&id_seed.to_be_bytes());
                id[8..].copy_from_slice(&id_seed.rotate_left(13).to_be_bytes());
                id
            },
        );
        let replication_factor = if requested == -1 {
            self.settings.default_replication_factor
        } else {
            requested
        };
        // The factor must be known before the check that follows the commit.
        if let Some(Ok(created)) = proposal.response.first() {
            self.replication_factors
                .insert(created.topic_id, replication_factor as usize);
        }
        let _ = self.commit(proposal);
    }

    fn run_step(&mut self) {
        match self.rng.below(100) {
            0..=9 => {
                let index = self.broker_index();
                self.register(index);
            }
            10..=39 => {
                let index = self.broker_index();
                let fence = self.rng.chance(5);
                let shutdown = self.rng.chance(5);
                self.heartbeat(index, fence, shutdown);
            }
            40..=44 => {
                let index = self.broker_index();
                self.brokers[index].running = false;
            }
            45..=59 => {
                self.now_ms += self.rng.below(4000);
                for index in 0..self.brokers.len() {
                    if self.rng.chance(85) {
                        self.heartbeat(index, false, false);
                    }
                }
                let proposal = self.controller.tick(self.now_ms);
                self.commit(proposal);
            }
            60..=69 => self.create_topic(),
            70..=73 => {
                let names: Vec<String> = self
                    .controller
                    .image()
                    .topics()
                    .map(|t| t.name.clone())
                    .collect();
                if let Some(index) = self.rng.pick(&(0..names.len()).collect::<Vec<_>>()) {
                    let count = self
                        .controller
                        .image()
                        .topic(&names[index])
                        .unwrap()
                        .partitions
                        + 1
                        + self.rng.below(2) as i32;
                    let proposal = self
                        .controller
                        .create_partitions(vec![NewPartitions::placed(
                            names[index].clone(),
                            count,
                        )]);
                    let _ = self.commit(proposal);
                }
            }
            74..=85 => self.alter_partition(),
            86..=89 => {
                let proposal = self.controller.elect_leaders(ElectionType::Preferred, None);
                self.commit(proposal);
            }
            90..=91 => {
                let imbalanced = self.controller.imbalanced_partitions();
                let proposal = self
                    .controller
                    .elect_leaders(ElectionType::Preferred, Some(imbalanced));
                self.commit(proposal);
            }
            92 => {
                let partitions = self.partitions();
                if let Some(index) = self.rng.pick(&(0..partitions.len()).collect::<Vec<_>>()) {
                    let (_, name, partition) = partitions[index].clone();
                    let proposal = self
                        .controller
                        .elect_leaders(ElectionType::Unclean, Some(vec![(name, partition)]));
                    self.commit(proposal);
                }
            }
            93..=94 => {
                let names: Vec<String> = self
                    .controller
                    .image()
                    .topics()
                    .map(|t| t.name.clone())
                    .collect();
                if let Some(index) = self.rng.pick(&(0..names.len()).collect::<Vec<_>>()) {
                    let proposal = self.controller.alter_topic_configs(vec![TopicConfigChange {
                        topic: names[index].clone(),
                        replace_all: false,
                        ops: vec![(
                            "unclean.leader.election.enable".into(),
                            Some(self.rng.chance(50).to_string()),
                        )],
                    }]);
                    let _ = self.commit(proposal);
                }
            }
            95..=96 => {
                let names: Vec<String> = self
                    .controller
                    .image()
                    .topics()
                    .map(|t| t.name.clone())
                    .collect();
                if let Some(index) = self.rng.pick(&(0..names.len()).collect::<Vec<_>>()) {
                    let proposal = self
                        .controller
                        .delete_topics(vec![TopicRef::Name(names[index].clone())]);
                    let _ = self.commit(proposal);
                }
            }
            _ => {
                let index = self.broker_index();
                let proposal = self.controller.unregister_broker(self.brokers[index].id);
                if self.commit(proposal).is_ok() {
                    self.brokers[index].running = false;
                    self.brokers[index].epoch = None;
                }
            }
        }
    }
}

fn run(seed: u64) -> (usize, usize) {
    let mut sim = Sim::new(seed);
    // Most runs start with every broker registered and unfenced.
    for index in 0..sim.brokers.len() {
        if sim.rng.chance(80) {
            sim.register(index);
            sim.heartbeat(index, false, false);
        }
    }
    for step in 0..STEPS {
        sim.step = step;
        sim.run_step();
    }
    if std::env::var("SKEIN_CLUSTER_SIM_STATS").is_ok() {
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for record in &sim.records {
            let kind = match record {
                MetadataRecord::PartitionChange {
                    leader: Some(-1), ..
                } => "change-offline".to_owned(),
                MetadataRecord::PartitionChange {
                    leader: Some(_),
                    isr: Some(isr),
                    ..
                } if isr.len() == 1 => "change-leader-isr1".to_owned(),
                MetadataRecord::PartitionChange {
                    leader: Some(_), ..
                } => "change-leader".to_owned(),
                MetadataRecord::PartitionChange { .. } => "change-isr".to_owned(),
                other => format!("{other:?}")
                    .split([' ', '{'])
                    .next()
                    .unwrap()
                    .to_owned(),
            };
            *kinds.entry(kind).or_default() += 1;
        }
        eprintln!("seed {seed}: {kinds:?}");
    }
    let led: usize = sim
        .controller
        .image()
        .topics()
        .map(|topic| {
            topic
                .partition_states()
                .filter(|(_, s)| s.leader != NO_LEADER)
                .count()
        })
        .sum();
    (sim.records.len(), led)
}

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("SKEIN_CLUSTER_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let count = std::env::var("SKEIN_CLUSTER_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    (0..count).collect()
}

#[test]
fn cluster_invariants_hold_after_every_step_of_seeded_runs() {
    let mut records = 0;
    let mut led = 0;
    for seed in seeds() {
        let (run_records, run_led) = run(seed);
        records += run_records;
        led += run_led;
    }
    // The runs did something: records were committed, partitions are led.
    assert!(records > 1000, "only {records} records");
    assert!(led > 0);
}

#[test]
fn a_run_is_a_pure_function_of_its_seed() {
    assert_eq!(run(7), run(7));
}
