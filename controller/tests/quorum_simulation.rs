//! Deterministic simulation of the metadata quorum: 3 or 5 `QuorumNode`s on
//! a simulated network that drops, delays, reorders and duplicates messages,
//! injects garbage and partitions nodes (often the leader), with nodes that
//! crash (losing what they had not synced) and restart from their stored
//! state, and the application snapshotting as asked.
//!
//! Invariants, checked after every delivery and tick:
//! - at most one leader per term;
//! - every node's applied sequence is a prefix of one committed sequence (an
//!   entry, once applied anywhere, is never changed, lost or reordered; a
//!   snapshot holds exactly the committed entries up to its index);
//! - after healing, a leader is elected and a new proposal is applied on
//!   every node within a bound, and every node's applied sequence is the
//!   whole committed sequence, including every proposal acknowledged as
//!   committed.
//!
//! `SKEIN_SIM_SEEDS=n` runs n seeds (default 500, about 12 s in debug); `SKEIN_SIM_SEED=s` runs
//! only seed s. A failing seed is printed with the command that replays it.
use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use skein_controller::quorum::{
    CommittedEntry, MemoryLogStore, QuorumAction, QuorumConfig, QuorumInput, QuorumNode, QuorumRole,
};

/// Network delivery rounds per tick: a message usually arrives within a
/// tick (a LAN round trip is far below the 100 ms tick).
const ROUNDS_PER_TICK: u64 = 4;
/// Ticks of faults per run.
const CHAOS_TICKS: u64 = 400;
/// Ticks after healing within which a leader must commit a new proposal on
/// every node: several election timeouts (at most 20 ticks each).
const LIVENESS_TICKS: u64 = 200;

struct InFlight {
    deliver_at: u64,
    from: u64,
    to: u64,
    bytes: Bytes,
}

struct SimNode {
    id: u64,
    store: MemoryLogStore,
    node: Option<QuorumNode<MemoryLogStore>>,
    /// The application's state: the entries it applied, in order.
    app: Vec<CommittedEntry>,
    /// The raft index of the last entry (or snapshot) the application saw.
    app_last_index: u64,
}

struct Sim {
    seed: u64,
    rng: StdRng,
    nodes: Vec<SimNode>,
    network: Vec<InFlight>,
    now: u64,
    /// Nodes in different groups cannot talk.
    group: Vec<u8>,
    faults: bool,
    drop_probability: f64,
    duplicate_probability: f64,
    /// The committed sequence, as applied anywhere: index -> (term, payload).
    committed: BTreeMap<u64, (u64, Bytes)>,
    leaders: HashMap<u64, u64>,
    proposals: HashMap<(u64, u64), Bytes>,
    acknowledged: Vec<(u64, Bytes)>,
    next_payload: u64,
    snapshots_installed: u64,
    crashes: u64,
}

fn encode_app(entries: &[CommittedEntry]) -> Bytes {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(&e.index.to_le_bytes());
        out.extend_from_slice(&e.term.to_le_bytes());
        out.extend_from_slice(&(e.payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&e.payload);
    }
    Bytes::from(out)
}

fn decode_app(mut bytes: &[u8]) -> Vec<CommittedEntry> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let index = u64::from_le_bytes(bytes[0..8].try_into().unwrap());
        let term = u64::from_le_bytes(bytes[8..16].try_into().unwrap());
        let len = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
        let payload = Bytes::copy_from_slice(&bytes[20..20 + len]);
        out.push(CommittedEntry {
            index,
            term,
            payload,
        });
        bytes = &bytes[20 + len..];
    }
    out
}

impl Sim {
    fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let count = if rng.gen_bool(0.5) { 3 } else { 5 };
        let nodes = (1..=count)
            .map(|id| SimNode {
                id,
                store: MemoryLogStore::new(),
                node: None,
                app: Vec::new(),
                app_last_index: 0,
            })
            .collect();
        let drop_probability = rng.gen_range(0.0..0.2);
        let duplicate_probability = rng.gen_range(0.0..0.1);
        let mut sim = Self {
            seed,
            rng,
            nodes,
            network: Vec::new(),
            now: 0,
            group: vec![0; count as usize],
            faults: true,
            drop_probability,
            duplicate_probability,
            committed: BTreeMap::new(),
            leaders: HashMap::new(),
            proposals: HashMap::new(),
            acknowledged: Vec::new(),
            next_payload: 0,
            snapshots_installed: 0,
            crashes: 0,
        };
        for i in 0..sim.nodes.len() {
            sim.start(i);
        }
        sim
    }

    fn config(&self, id: u64) -> QuorumConfig {
        let voters = (1..=self.nodes.len() as u64).collect();
        let mut config = QuorumConfig::new(id, voters);
        // Snapshot often so lagging nodes are caught up from one.
        config.snapshot_after_bytes = 300;
        config.seed = self
            .seed
            .wrapping_mul(31)
            .wrapping_add(id)
            .wrapping_add(self.crashes);
        config
    }

    fn start(&mut self, i: usize) {
        let config = self.config(self.nodes[i].id);
        let node = QuorumNode::open(config, self.nodes[i].store.clone())
            .unwrap_or_else(|e| panic!("node {} failed to open: {e}", i + 1));
        let n = &mut self.nodes[i];
        n.node = Some(node);
        n.app.clear();
        n.app_last_index = 0;
    }

    fn crash(&mut self, i: usize) {
        self.crashes += 1;
        let n = &mut self.nodes[i];
        n.node = None;
        n.store.crash();
        n.app.clear();
        n.app_last_index = 0;
    }

    fn step(&mut self, i: usize, input: QuorumInput) {
        let Some(node) = self.nodes[i].node.as_mut() else {
            return;
        };
        let actions = node
            .step(input)
            .unwrap_or_else(|e| panic!("node {} failed: {e}", i + 1));
        for action in actions {
            self.act(i, action);
        }
    }

    fn act(&mut self, i: usize, action: QuorumAction) {
        let from = self.nodes[i].id;
        match action {
            QuorumAction::Send { to, bytes } => self.send(from, to, bytes),
            QuorumAction::Apply(entries) => {
                for entry in entries {
                    self.check_apply(i, &entry);
                    self.nodes[i].app.push(entry);
                }
            }
            QuorumAction::InstallSnapshot { index, data, .. } => {
                self.snapshots_installed += 1;
                let entries = decode_app(&data);
                self.nodes[i].app_last_index = 0;
                for entry in &entries {
                    self.check_apply(i, entry);
                }
                assert!(
                    self.nodes[i].app_last_index <= index,
                    "node {from}: snapshot at {index} holds entries up to {}",
                    self.nodes[i].app_last_index
                );
                let skipped = self
                    .committed
                    .range(self.nodes[i].app_last_index + 1..index + 1)
                    .next();
                assert!(
                    skipped.is_none(),
                    "node {from}: snapshot at {index} lacks committed entry {skipped:?}"
                );
                self.nodes[i].app = entries;
                self.nodes[i].app_last_index = index;
            }
            QuorumAction::Proposed { index, term } => {
                // Remembered by `propose`, which knows the payload.
                self.proposals.entry((index, term)).or_default();
            }
            QuorumAction::BecameLeader { term } => {
                if let Some(other) = self.leaders.insert(term, from) {
                    assert_eq!(
                        other, from,
                        "two leaders in term {term}: {other} and {from}"
                    );
                }
            }
            QuorumAction::SnapshotRequested { applied_index, .. } => {
                let n = &mut self.nodes[i];
                let data = encode_app(&n.app);
                // The application's state here is the state at
                // `applied_index` (later actions of the same step may apply
                // more).
                assert!(n.app_last_index <= applied_index);
                let node = n.node.as_mut().unwrap();
                node.snapshot(applied_index, data)
                    .unwrap_or_else(|e| panic!("node {from}: snapshot failed: {e}"));
            }
            QuorumAction::ProposalRejected(_)
            | QuorumAction::SteppedDown { .. }
            | QuorumAction::LeaderChanged { .. } => {}
        }
    }

    /// Node `i` applies `entry` next.
    fn check_apply(&mut self, i: usize, entry: &CommittedEntry) {
        let id = self.nodes[i].id;
        let last = self.nodes[i].app_last_index;
        assert!(
            entry.index > last,
            "node {id}: applied {} after {last}",
            entry.index
        );
        let skipped = self.committed.range(last + 1..entry.index).next();
        assert!(
            skipped.is_none(),
            "node {id}: applied {} but skipped committed {skipped:?}",
            entry.index
        );
        match self.committed.get(&entry.index) {
            Some((term, payload)) => assert!(
                *term == entry.term && *payload == entry.payload,
                "node {id}: entry {} is ({}, {:?}), committed as ({term}, {payload:?})",
                entry.index,
                entry.term,
                entry.payload
            ),
            None => {
                for other in &self.nodes {
                    assert!(
                        other.id == id || other.app_last_index < entry.index,
                        "node {} applied past {} without it",
                        other.id,
                        entry.index
                    );
                }
                self.committed
                    .insert(entry.index, (entry.term, entry.payload.clone()));
                if let Some(payload) = self.proposals.get(&(entry.index, entry.term)) {
                    assert_eq!(
                        payload, &entry.payload,
                        "committed payload differs from proposal"
                    );
                    self.acknowledged.push((entry.index, entry.payload.clone()));
                }
            }
        }
        self.nodes[i].app_last_index = entry.index;
    }

    fn send(&mut self, from: u64, to: u64, bytes: Bytes) {
        let copies = if self.faults {
            if self.rng.gen_bool(self.drop_probability) {
                0
            } else if self.rng.gen_bool(self.duplicate_probability) {
                2
            } else {
                1
            }
        } else {
            1
        };
        for _ in 0..copies {
            let delay = if self.faults && self.rng.gen_bool(0.02) {
                self.rng.gen_range(1..40)
            } else {
                self.rng.gen_range(1..=ROUNDS_PER_TICK + 2)
            };
            self.network.push(InFlight {
                deliver_at: self.now + delay,
                from,
                to,
                bytes: bytes.clone(),
            });
        }
    }

    fn deliver_due(&mut self) {
        let mut due = Vec::new();
        let mut k = 0;
        while k < self.network.len() {
            if self.network[k].deliver_at <= self.now {
                due.push(self.network.swap_remove(k));
            } else {
                k += 1;
            }
        }
        // Messages due in the same round arrive in random order.
        for j in (1..due.len()).rev() {
            let other = self.rng.gen_range(0..=j);
            due.swap(j, other);
        }
        for m in due {
            let (from_i, to_i) = (m.from as usize - 1, m.to as usize - 1);
            if self.group[from_i] != self.group[to_i] {
                continue;
            }
            self.step(
                to_i,
                QuorumInput::Message {
                    from: m.from,
                    bytes: m.bytes,
                },
            );
        }
    }

    fn leader(&self) -> Option<usize> {
        // The leader of the highest term, among live nodes.
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.node.as_ref().map(|node| (i, node)))
            .filter(|(_, node)| node.role() == QuorumRole::Leader)
            .max_by_key(|(_, node)| node.term())
            .map(|(i, _)| i)
    }

    fn propose(&mut self, i: usize, payload: Bytes) -> Option<(u64, u64)> {
        let node = self.nodes[i].node.as_mut()?;
        let actions = node
            .step(QuorumInput::Propose(payload.clone()))
            .unwrap_or_else(|e| panic!("node {} failed: {e}", i + 1));
        let mut proposed = None;
        for action in &actions {
            if let QuorumAction::Proposed { index, term } = action {
                self.proposals.insert((*index, *term), payload.clone());
                proposed = Some((*index, *term));
            }
        }
        for action in actions {
            self.act(i, action);
        }
        proposed
    }

    fn new_payload(&mut self) -> Bytes {
        self.next_payload += 1;
        let pad = self.rng.gen_range(0..32);
        let mut payload = self.next_payload.to_le_bytes().to_vec();
        payload.extend((0..pad).map(|_| b'x'));
        Bytes::from(payload)
    }

    fn chaos(&mut self) {
        let count = self.nodes.len();
        for i in 0..count {
            if self.nodes[i].node.is_some() {
                if self.rng.gen_bool(0.004) {
                    self.crash(i);
                }
            } else if self.rng.gen_bool(0.05) {
                self.start(i);
            }
        }
        if self.rng.gen_bool(0.02) {
            match self.rng.gen_range(0..3) {
                // Cut the leader off from everyone (it must step down).
                0 => {
                    if let Some(leader) = self.leader() {
                        self.group = vec![0; count];
                        self.group[leader] = 1;
                    }
                }
                // A random split.
                1 => {
                    for g in &mut self.group {
                        *g = self.rng.gen_range(0..2);
                    }
                }
                _ => self.group = vec![0; count],
            }
        }
        if self.rng.gen_bool(0.01) {
            // Garbage from a peer.
            let from = self.rng.gen_range(1..=count as u64);
            let to = self.rng.gen_range(1..=count as u64);
            let garbage: Vec<u8> = (0..self.rng.gen_range(0..48))
                .map(|_| self.rng.gen())
                .collect();
            self.send(from, to, Bytes::from(garbage));
        }
        if self.rng.gen_bool(0.3) {
            // Propose to the leader, or to anyone (a follower refuses).
            let target = match self.leader() {
                Some(leader) if self.rng.gen_bool(0.8) => leader,
                _ => self.rng.gen_range(0..count),
            };
            let payload = self.new_payload();
            self.propose(target, payload);
        }
    }

    fn round(&mut self) {
        if self.now.checked_rem(ROUNDS_PER_TICK) == Some(0) {
            if self.faults {
                self.chaos();
            }
            for i in 0..self.nodes.len() {
                self.step(i, QuorumInput::Tick);
            }
        }
        self.deliver_due();
        self.now += 1;
    }

    fn heal(&mut self) {
        self.faults = false;
        self.group = vec![0; self.nodes.len()];
        for i in 0..self.nodes.len() {
            if self.nodes[i].node.is_none() {
                self.start(i);
            }
        }
    }

    /// After healing: a leader commits a new proposal on every node.
    fn check_liveness(&mut self) {
        let deadline = self.now + LIVENESS_TICKS * ROUNDS_PER_TICK;
        let mut probe: Option<(u64, u64)> = None;
        while self.now < deadline {
            if self.now.checked_rem(ROUNDS_PER_TICK) == Some(0) {
                if let Some(leader) = self.leader() {
                    // A probe appended by an earlier leader may be lost;
                    // the application proposes again to the new one.
                    let term = self.nodes[leader].node.as_ref().unwrap().term();
                    if probe.is_none_or(|(_, probe_term)| probe_term != term) {
                        let payload = self.new_payload();
                        probe = self.propose(leader, payload);
                    }
                }
            }
            self.round();
            if let Some((index, term)) = probe {
                let everywhere = self.nodes.iter().all(|n| n.app_last_index >= index);
                if everywhere {
                    let committed_term = self.committed.get(&index).map(|(t, _)| *t);
                    if committed_term == Some(term) {
                        return;
                    }
                    // Lost to a newer leader: propose again.
                    probe = None;
                }
            }
        }
        let states: Vec<String> = self
            .nodes
            .iter()
            .map(|n| {
                let node = n.node.as_ref().unwrap();
                format!(
                    "{node:?} commit {} last {} app_last {}",
                    node.commit_index(),
                    node.last_index(),
                    n.app_last_index
                )
            })
            .collect();
        panic!(
            "no proposal committed on every node within {LIVENESS_TICKS} ticks of healing \
             (probe {probe:?}): {states:#?}"
        );
    }

    fn check_converged(&self) {
        let committed: Vec<(u64, u64, &Bytes)> = self
            .committed
            .iter()
            .map(|(i, (t, p))| (*i, *t, p))
            .collect();
        for n in &self.nodes {
            let app: Vec<(u64, u64, &Bytes)> = n
                .app
                .iter()
                .map(|e| (e.index, e.term, &e.payload))
                .collect();
            if app != committed {
                let first_difference = app.iter().zip(&committed).position(|(a, c)| a != c);
                panic!(
                    "node {} did not converge: {} entries applied (last {:?}), {} committed \
                     (last {:?}), first difference at position {first_difference:?}",
                    n.id,
                    app.len(),
                    app.last(),
                    committed.len(),
                    committed.last()
                );
            }
        }
        for (index, payload) in &self.acknowledged {
            assert_eq!(self.committed.get(index).map(|(_, p)| p), Some(payload));
        }
    }
}

struct RunSummary {
    nodes: usize,
    committed: usize,
    terms: usize,
    snapshots_installed: u64,
    crashes: u64,
    fingerprint: u64,
}

fn run(seed: u64) -> RunSummary {
    let mut sim = Sim::new(seed);
    for _ in 0..CHAOS_TICKS * ROUNDS_PER_TICK {
        sim.round();
    }
    sim.heal();
    sim.check_liveness();
    sim.check_converged();
    let mut fingerprint = 0xcbf2_9ce4_8422_2325u64;
    for (index, (term, payload)) in &sim.committed {
        for b in index
            .to_le_bytes()
            .iter()
            .chain(&term.to_le_bytes())
            .chain(payload.iter())
        {
            fingerprint = (fingerprint ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    RunSummary {
        nodes: sim.nodes.len(),
        committed: sim.committed.len(),
        terms: sim.leaders.len(),
        snapshots_installed: sim.snapshots_installed,
        crashes: sim.crashes,
        fingerprint,
    }
}

fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("SKEIN_SIM_SEED") {
        return vec![seed.parse().expect("SKEIN_SIM_SEED is a number")];
    }
    let count: u64 = std::env::var("SKEIN_SIM_SEEDS")
        .ok()
        .map(|s| s.parse().expect("SKEIN_SIM_SEEDS is a number"))
        .unwrap_or(500);
    (0..count).collect()
}

#[test]
fn quorum_keeps_committed_entries_and_recovers_under_faults() {
    let seeds = seeds();
    let started = std::time::Instant::now();
    let (mut committed, mut terms, mut snapshots, mut crashes) = (0, 0, 0, 0);
    for &seed in &seeds {
        match catch_unwind(AssertUnwindSafe(|| run(seed))) {
            Ok(summary) => {
                committed += summary.committed;
                terms += summary.terms;
                snapshots += summary.snapshots_installed;
                crashes += summary.crashes;
            }
            Err(_) => panic!(
                "quorum simulation failed for seed {seed}; replay with \
                 SKEIN_SIM_SEED={seed} cargo test -p skein-controller --test quorum_simulation"
            ),
        }
    }
    eprintln!(
        "{} seeds in {:?}: {committed} entries committed, {terms} leader terms, \
         {snapshots} snapshots installed, {crashes} crashes",
        seeds.len(),
        started.elapsed()
    );
    assert!(committed > seeds.len(), "the runs committed almost nothing");
}

#[test]
fn a_seed_replays_identically() {
    let a = run(7);
    let b = run(7);
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.terms, b.terms);
    assert!(a.nodes == 3 || a.nodes == 5);
}

/// Runs `sim` without faults until `done` holds, for at most `ticks`.
fn run_until(sim: &mut Sim, ticks: u64, done: impl Fn(&Sim) -> bool) -> bool {
    for _ in 0..ticks * ROUNDS_PER_TICK {
        sim.round();
        if done(sim) {
            return true;
        }
    }
    false
}

fn quiet_sim(seed: u64) -> Sim {
    let mut sim = Sim::new(seed);
    sim.faults = false;
    sim
}

#[test]
fn partitioned_old_leader_steps_down_and_the_majority_moves_on() {
    let mut sim = quiet_sim(1);
    assert!(
        run_until(&mut sim, 40, |s| s.leader().is_some()),
        "no leader elected"
    );
    let old = sim.leader().unwrap();
    let old_term = sim.nodes[old].node.as_ref().unwrap().term();
    sim.group = vec![0; sim.nodes.len()];
    sim.group[old] = 1;
    // check-quorum: the isolated leader steps down within an election
    // timeout (10 ticks) plus a heartbeat round.
    assert!(
        run_until(&mut sim, 15, |s| s.nodes[old].node.as_ref().unwrap().role()
            != QuorumRole::Leader),
        "the partitioned leader kept leading"
    );
    assert!(
        run_until(&mut sim, 40, |s| s.leader().is_some_and(|l| l != old)),
        "the majority elected no new leader"
    );
    let new = sim.leader().unwrap();
    assert!(sim.nodes[new].node.as_ref().unwrap().term() > old_term);
    let payload = sim.new_payload();
    let (index, _) = sim.propose(new, payload).expect("the new leader accepts");
    // Heal: the old leader rejoins as a follower and applies the entry.
    sim.group = vec![0; sim.nodes.len()];
    assert!(
        run_until(&mut sim, 40, |s| s
            .nodes
            .iter()
            .all(|n| n.app_last_index >= index)),
        "the old leader did not catch up"
    );
    sim.check_converged();
}

#[test]
fn a_lagging_follower_is_caught_up_from_a_snapshot() {
    let mut sim = quiet_sim(2);
    assert!(
        run_until(&mut sim, 40, |s| s.leader().is_some()),
        "no leader elected"
    );
    let leader = sim.leader().unwrap();
    let lagging = (leader + 1) % sim.nodes.len();
    sim.crash(lagging);
    // Enough payload bytes for several snapshots (300 bytes each).
    for _ in 0..100 {
        let payload = sim.new_payload();
        sim.propose(leader, payload);
        run_until(&mut sim, 1, |_| false);
    }
    let leader_snapshot = sim.nodes[leader]
        .node
        .as_ref()
        .unwrap()
        .storage()
        .latest_snapshot()
        .get_metadata()
        .index;
    assert!(leader_snapshot > 0, "the leader never snapshotted");
    sim.start(lagging);
    let installed_before = sim.snapshots_installed;
    let target = sim.nodes[leader].node.as_ref().unwrap().last_index();
    assert!(
        run_until(&mut sim, 40, |s| s
            .nodes
            .iter()
            .all(|n| n.app_last_index >= target)),
        "the lagging follower did not catch up"
    );
    assert!(
        sim.snapshots_installed > installed_before,
        "caught up without a snapshot"
    );
    sim.check_converged();
}

#[test]
fn quorum_status_shows_the_leader_its_term_and_every_voters_log_end() {
    let mut sim = quiet_sim(3);
    assert!(
        run_until(&mut sim, 40, |s| s.leader().is_some()),
        "no leader elected"
    );
    let leader = sim.leader().unwrap();
    let payload = sim.new_payload();
    let (index, _) = sim.propose(leader, payload).expect("the leader accepts");
    // Every node applied the entry and the leader heard every follower's
    // acknowledgement of it (a heartbeat round later).
    assert!(
        run_until(&mut sim, 40, |s| s
            .nodes
            .iter()
            .all(|n| n.app_last_index >= index)),
        "the entry did not reach every node"
    );
    run_until(&mut sim, 2, |_| false);
    let leader_node = sim.nodes[leader].node.as_ref().unwrap();
    let status = leader_node.status();
    let leader_id = leader_node.node_id();
    assert_eq!(status.node_id, leader_id);
    assert_eq!(status.leader_id, Some(leader_id));
    assert_eq!(status.term, leader_node.term());
    assert_eq!(status.high_watermark, leader_node.commit_index());
    assert!(status.high_watermark >= index);
    let ids: Vec<u64> = status.voters.iter().map(|v| v.id).collect();
    assert_eq!(ids, (1..=sim.nodes.len() as u64).collect::<Vec<_>>());
    assert!(status.observers.is_empty());
    assert_eq!(
        status.leader_log_end_offset(),
        Some(leader_node.last_index())
    );
    for voter in &status.voters {
        assert_eq!(
            voter.log_end_offset,
            Some(leader_node.last_index()),
            "{voter:?}"
        );
        assert_eq!(status.lag(voter), Some(0), "{voter:?}");
    }

    // A follower knows the leader, the term and its own log end only.
    let follower = (leader + 1) % sim.nodes.len();
    let follower_node = sim.nodes[follower].node.as_ref().unwrap();
    let status = follower_node.status();
    assert_eq!(status.leader_id, Some(leader_id));
    assert_eq!(status.term, leader_node.term());
    for voter in &status.voters {
        if voter.id == follower_node.node_id() {
            assert_eq!(voter.log_end_offset, Some(follower_node.last_index()));
        } else {
            assert_eq!(voter.log_end_offset, None, "{voter:?}");
            assert_eq!(status.lag(voter), None);
        }
    }
}

#[test]
fn quorum_status_counts_a_crashed_voters_lag() {
    let mut sim = quiet_sim(4);
    assert!(
        run_until(&mut sim, 40, |s| s.leader().is_some()),
        "no leader elected"
    );
    let leader = sim.leader().unwrap();
    let down = (leader + 1) % sim.nodes.len();
    run_until(&mut sim, 2, |_| false);
    let before = sim.nodes[leader].node.as_ref().unwrap().status();
    let down_id = sim.nodes[down].id;
    let down_end = before
        .voters
        .iter()
        .find(|v| v.id == down_id)
        .and_then(|v| v.log_end_offset)
        .unwrap();
    sim.crash(down);
    for _ in 0..3 {
        let payload = sim.new_payload();
        sim.propose(leader, payload);
        run_until(&mut sim, 1, |_| false);
    }
    let status = sim.nodes[leader].node.as_ref().unwrap().status();
    let voter = status.voters.iter().find(|v| v.id == down_id).unwrap();
    assert_eq!(voter.log_end_offset, Some(down_end));
    assert_eq!(status.lag(voter), Some(3));
}
