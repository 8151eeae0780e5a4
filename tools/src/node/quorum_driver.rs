//! The driver of the metadata quorum on the control shard: it owns the
//! sans-IO [`QuorumNode`] (raft-rs) and the [`MetadataController`] whose
//! state the quorum's log builds, and carries out the node's actions.
//!
//! A metadata change becomes one quorum entry (its records, encoded as one
//! metadata entry, so it commits all or nothing). The change's caller waits
//! until that entry is committed and applied to the controller, in log
//! order; only then is the change true, and only then is it answered. With
//! one voter the entry is appended, fsynced, committed and applied in the
//! same `step`, so the wait ends at once.
//!
//! Durability is the node's: it syncs its store (`quorum.log`, fsync) before
//! it acknowledges or applies anything. A failed store poisons the node; the
//! change that hit it is refused (and never applied), and so is every later
//! one, as the pre-quorum metadata log did after a failed fsync. Reopening
//! the node from its store is left to a restart.
//!
//! Snapshots: when the node has applied
//! `metadata.log.max.record.bytes.between.snapshots` bytes of entries since
//! the last snapshot it asks for one; the driver encodes the controller's
//! image as the records that rebuild it and hands it back, and the node
//! drops its log up to there. At open (and, in a cluster, when a leader
//! sends one) a snapshot replaces the controller's state.
//!
//! Peers: the driver takes a voter set, so the same code will drive three
//! or five voters. Until the controller listener exists, `Send` actions are
//! dropped with a debug log (a single voter sends nothing); the transport
//! will plug in at [`QuorumDriver::handle_actions`]'s `Send` arm (outbound)
//! and at [`QuorumDriver::step`] with [`QuorumInput::Message`] (inbound),
//! and followers will then apply entries from ticks and messages, which is
//! why every apply goes through the same path whoever triggered it.
//!
//! Node ids: raft-rs reserves id 0 and Kafka's `node.id` starts at 0, so the
//! quorum numbers a node `node.id + 1` ([`quorum_node_id`]).

use std::cell::RefCell;
use std::collections::BTreeMap;

use bytes::Bytes;
use futures::channel::oneshot;
use skein_controller::quorum::{
    CommittedEntry, ProposalRejection, QuorumAction, QuorumConfig, QuorumError, QuorumInput,
    QuorumNode, QuorumNodeId, RaftLogStore,
};
use skein_controller::{
    checked_entry, decode_image_snapshot, encode_image_snapshot, encode_metadata_entry,
    ControllerSettings, MetadataController, MetadataError, MetadataImage, MetadataRecord,
};

use crate::node::metadata_upgrade::UpgradeError;
use skein_net::controller_client::QuorumPeers;
use skein_net::controller_rpc::{encode_raft_frame, RaftFrame};

/// Why a metadata change was not committed, or the quorum could not start.
#[derive(Debug, thiserror::Error)]
pub enum QuorumDriverError {
    /// The quorum node failed (its store could not be written or synced,
    /// or raft refused its state); nothing more is committed.
    #[error("metadata quorum failed")]
    Quorum(#[from] QuorumError),
    /// A committed entry or snapshot does not decode or cannot be applied.
    #[error("metadata quorum entry at index {index} cannot be applied")]
    CorruptEntry {
        index: u64,
        #[source]
        source: MetadataError,
    },
    /// The pre-quorum metadata log could not be brought into the quorum.
    #[error("cannot upgrade the metadata log")]
    Upgrade(#[from] UpgradeError),
    /// The stored quorum's voters do not include this node (its `node.id`
    /// changed since the data dir was written).
    #[error("the metadata quorum's voters are {stored:?}; this node is {node_id} (node.id + 1)")]
    NotAVoter {
        stored: Vec<QuorumNodeId>,
        node_id: QuorumNodeId,
    },
    /// This node is not the active controller.
    #[error("not the active controller (the leader is node {leader_id:?})")]
    NotLeader { leader_id: Option<QuorumNodeId> },
    /// raft dropped the proposal, or a new leader replaced it in the log.
    #[error("the metadata change was not committed")]
    NotCommitted,
    /// An earlier failure stopped the driver.
    #[error("metadata quorum stopped by an earlier failure: {0}")]
    Stopped(String),
}

/// The quorum's number for the node with Kafka `node.id` `node_id` (raft-rs
/// reserves 0).
pub fn quorum_node_id(node_id: i32) -> QuorumNodeId {
    u64::from(node_id.unsigned_abs()) + 1
}

/// A proposal waiting for its entry to be applied.
struct Waiter {
    term: u64,
    done: oneshot::Sender<Result<(), QuorumDriverError>>,
}

/// Drives one quorum node and the controller state it replicates.
///
/// Lives on: the control shard only.
pub struct QuorumDriver<S: RaftLogStore> {
    node: QuorumNode<S>,
    settings: ControllerSettings,
    controller: MetadataController,
    /// Proposals by the log index of their entry.
    waiting: BTreeMap<u64, Waiter>,
    /// Why the driver stopped, once it has.
    stopped: Option<String>,
    /// The links to the other voters; none for a single voter.
    peers: Option<QuorumPeers>,
    /// The cluster id this node knows before the image records one (its
    /// stored or configured id), sent with its raft messages.
    local_cluster_id: Option<String>,
}

impl<S: RaftLogStore> QuorumDriver<S> {
    /// Opens the node from `store`, installs its snapshot and applies the
    /// committed entries after it; a single voter then campaigns, so it
    /// leads before this returns.
    ///
    /// # Errors
    /// When the store cannot be read, holds state raft refuses, does not
    /// list this node as a voter, or holds an entry that does not apply.
    pub fn open(
        config: QuorumConfig,
        store: S,
        settings: ControllerSettings,
    ) -> Result<Self, QuorumDriverError> {
        let single_voter = config.voters == [config.node_id];
        let node = QuorumNode::open(config, store)?;
        let stored = node.storage().conf_state().voters.clone();
        if !stored.contains(&node.node_id()) {
            return Err(QuorumDriverError::NotAVoter {
                stored,
                node_id: node.node_id(),
            });
        }
        let mut driver = QuorumDriver {
            node,
            settings,
            controller: MetadataController::new(settings, MetadataImage::new(settings.node_id)),
            waiting: BTreeMap::new(),
            stopped: None,
            peers: None,
            local_cluster_id: None,
        };
        // The first step returns the stored snapshot and the committed
        // entries after it; a single voter need not wait for an election
        // timeout to lead.
        let input = if single_voter {
            QuorumInput::Campaign
        } else {
            QuorumInput::Tick
        };
        driver.step(input)?;
        Ok(driver)
    }

    /// The controller: its image is every applied entry.
    pub fn controller(&self) -> &MetadataController {
        &self.controller
    }

    /// The controller, for the rules that keep soft state as they propose
    /// (broker sessions: registration, heartbeats).
    pub fn controller_mut(&mut self) -> &mut MetadataController {
        &mut self.controller
    }

    /// Sends this node's raft messages to the other voters through
    /// `peers`, with `local_cluster_id` until the image records one.
    pub fn connect_peers(&mut self, peers: QuorumPeers, local_cluster_id: Option<String>) {
        self.peers = Some(peers);
        self.local_cluster_id = local_cluster_id;
    }

    /// The cluster id this node serves: the image's, else its own.
    pub fn cluster_id(&self) -> Option<&str> {
        self.controller
            .image()
            .cluster_id
            .as_deref()
            .or(self.local_cluster_id.as_deref())
    }

    /// Whether this node is the active controller.
    pub fn is_leader(&self) -> bool {
        self.node.role() == skein_controller::quorum::QuorumRole::Leader && self.stopped.is_none()
    }

    /// The active controller's `node.id`, if this node knows one.
    pub fn leader_node_id(&self) -> Option<i32> {
        self.node
            .leader_id()
            .and_then(|id| i32::try_from(id.checked_sub(1)?).ok())
    }

    /// The quorum as this node sees it (DescribeQuorum), in quorum ids.
    pub fn status(&self) -> skein_controller::quorum::QuorumStatus {
        self.node.status()
    }

    /// The node (for inspection).
    pub fn node(&self) -> &QuorumNode<S> {
        &self.node
    }

    /// Feeds one input to the node and carries out its actions.
    ///
    /// # Errors
    /// When the node or an entry failed; the driver is then stopped and
    /// every waiting proposal fails.
    pub fn step(&mut self, input: QuorumInput) -> Result<(), QuorumDriverError> {
        self.check_running()?;
        let actions = self.node.step(input).map_err(|e| self.stop(e.into()))?;
        self.handle_actions(actions, None)
            .map_err(|error| self.stop(error))
    }

    /// One tick of [`skein_controller::quorum::TICK_MS`]. A failure is
    /// logged and stops the driver.
    pub fn tick(&mut self) {
        if self.stopped.is_some() {
            return;
        }
        if let Err(error) = self.step(QuorumInput::Tick) {
            tracing::error!(error = %error_chain(&error), "metadata quorum tick failed");
        }
    }

    /// Proposes `records` (one change) as one entry. The receiver completes
    /// when the entry is committed and applied (`Ok`), or when it cannot be
    /// (`Err`); with one voter it has completed when this returns.
    ///
    /// # Errors
    /// When the node is not the leader, refuses the proposal, or fails
    /// (a failed fsync): then nothing was applied.
    pub fn propose(
        &mut self,
        records: &[MetadataRecord],
    ) -> Result<oneshot::Receiver<Result<(), QuorumDriverError>>, QuorumDriverError> {
        self.check_running()?;
        let payload = Bytes::from(encode_metadata_entry(records));
        let actions = self
            .node
            .step(QuorumInput::Propose(payload))
            .map_err(|e| self.stop(e.into()))?;
        let (done, receiver) = oneshot::channel();
        self.handle_actions(actions, Some(done))
            .map_err(|error| self.stop(error))?;
        Ok(receiver)
    }

    fn check_running(&self) -> Result<(), QuorumDriverError> {
        match &self.stopped {
            Some(reason) => Err(QuorumDriverError::Stopped(reason.clone())),
            None => Ok(()),
        }
    }

    /// Records why the driver stops, fails every waiting proposal, and
    /// returns `error` for the caller.
    fn stop(&mut self, error: QuorumDriverError) -> QuorumDriverError {
        let reason = error_chain(&error);
        tracing::error!(error = %reason, "metadata quorum stopped: no metadata change is accepted until a restart");
        for (_, waiter) in std::mem::take(&mut self.waiting) {
            // The receiver may be gone (its request was cancelled).
            drop(
                waiter
                    .done
                    .send(Err(QuorumDriverError::Stopped(reason.clone()))),
            );
        }
        self.stopped = Some(reason);
        error
    }

    /// Carries out `actions` in order. `proposal` is the waiter of the
    /// proposal that produced them, registered at its `Proposed` action.
    fn handle_actions(
        &mut self,
        actions: Vec<QuorumAction>,
        mut proposal: Option<oneshot::Sender<Result<(), QuorumDriverError>>>,
    ) -> Result<(), QuorumDriverError> {
        for action in actions {
            match action {
                QuorumAction::Send { to, bytes } => self.send(to, bytes),
                QuorumAction::Proposed { index, term } => {
                    if let Some(done) = proposal.take() {
                        self.waiting.insert(index, Waiter { term, done });
                    }
                }
                QuorumAction::ProposalRejected(rejection) => {
                    if let Some(done) = proposal.take() {
                        let error = match rejection {
                            ProposalRejection::NotLeader { leader_id } => {
                                QuorumDriverError::NotLeader { leader_id }
                            }
                            ProposalRejection::EmptyPayload | ProposalRejection::Dropped => {
                                QuorumDriverError::NotCommitted
                            }
                        };
                        drop(done.send(Err(error)));
                    }
                }
                QuorumAction::Apply(entries) => self.apply(entries)?,
                QuorumAction::InstallSnapshot { index, term, data } => {
                    let local_broker_id = self.controller.image().local_broker_id();
                    let image = decode_image_snapshot(&data, local_broker_id)
                        .map_err(|source| QuorumDriverError::CorruptEntry { index, source })?;
                    tracing::info!(
                        index,
                        term,
                        bytes = data.len(),
                        topics = image.topics().count(),
                        "metadata snapshot installed"
                    );
                    self.controller = MetadataController::new(self.settings, image);
                    self.fail_waiting_up_to(index);
                }
                QuorumAction::SnapshotRequested {
                    applied_index,
                    bytes_since_snapshot,
                } => self.snapshot(applied_index, bytes_since_snapshot)?,
                QuorumAction::BecameLeader { term } => {
                    tracing::info!(term, "this node is the active controller");
                    self.controller.reset_broker_sessions();
                }
                QuorumAction::SteppedDown { term } => {
                    tracing::info!(term, "this node is no longer the active controller");
                    // Kafka fails in-flight changes with NOT_CONTROLLER;
                    // the client retries against the new leader.
                    self.fail_waiting_up_to(u64::MAX);
                }
                QuorumAction::LeaderChanged { leader_id, term } => {
                    tracing::debug!(?leader_id, term, "metadata quorum leader changed");
                }
            }
        }
        if let Some(done) = proposal {
            // Neither appended nor refused: cannot happen with raft-rs, and
            // the caller must still hear.
            drop(done.send(Err(QuorumDriverError::NotCommitted)));
        }
        Ok(())
    }

    /// Sends raft message `bytes` to voter `to`; a message that cannot be
    /// queued is lost, which raft recovers from.
    fn send(&mut self, to: QuorumNodeId, bytes: Bytes) {
        let Some(peers) = &self.peers else {
            tracing::debug!(to, "no link to a quorum peer: message dropped");
            return;
        };
        let frame = RaftFrame {
            from: i32::try_from(self.node.node_id().saturating_sub(1)).unwrap_or(i32::MAX),
            cluster_id: self.cluster_id().map(str::to_string),
            message: bytes,
        };
        if !peers.send(to, encode_raft_frame(&frame)) {
            tracing::trace!(to, "quorum peer queue full: message dropped");
        }
    }

    /// Applies committed entries to the controller, in order, and completes
    /// the proposals they commit.
    fn apply(&mut self, entries: Vec<CommittedEntry>) -> Result<(), QuorumDriverError> {
        for entry in entries {
            // Checked against the image each record is applied to: a record
            // the image would assert on is corruption, not a crash.
            let (records, _) =
                checked_entry(self.controller.image(), &entry.payload).map_err(|source| {
                    QuorumDriverError::CorruptEntry {
                        index: entry.index,
                        source,
                    }
                })?;
            self.controller.apply_committed(&records);
            self.fail_waiting_up_to(entry.index.saturating_sub(1));
            if let Some(waiter) = self.waiting.remove(&entry.index) {
                let result = if waiter.term == entry.term {
                    Ok(())
                } else {
                    Err(QuorumDriverError::NotCommitted)
                };
                drop(waiter.done.send(result));
            }
        }
        Ok(())
    }

    /// Fails the proposals at or below `index` that no entry committed.
    fn fail_waiting_up_to(&mut self, index: u64) {
        let later = match index.checked_add(1) {
            Some(next) => self.waiting.split_off(&next),
            None => BTreeMap::new(),
        };
        for (_, waiter) in std::mem::replace(&mut self.waiting, later) {
            drop(waiter.done.send(Err(QuorumDriverError::NotCommitted)));
        }
    }

    /// Snapshots the controller's image at `applied_index` (the image is
    /// always exactly the applied entries) and lets the node drop its log.
    fn snapshot(
        &mut self,
        applied_index: u64,
        bytes_since_snapshot: u64,
    ) -> Result<(), QuorumDriverError> {
        let image = self.controller.image();
        let data = Bytes::from(encode_image_snapshot(image));
        tracing::info!(
            applied_index,
            bytes_since_snapshot,
            snapshot_bytes = data.len(),
            topics = image.topics().count(),
            "metadata snapshot taken; quorum log truncated before it"
        );
        self.node.snapshot(applied_index, data)?;
        Ok(())
    }
}

/// Commits `records` through the driver in `driver` and waits until they
/// are applied. The `RefCell` is never borrowed across the wait, so ticks
/// (and, in a cluster, messages) go on meanwhile.
///
/// # Errors
/// When the change was not committed; it was then not applied.
///
/// # Cancel safety
/// Dropping the future after the proposal leaves the entry to commit (or
/// not) on its own; its outcome is then unknown to the caller.
pub async fn commit<S: RaftLogStore>(
    driver: &RefCell<QuorumDriver<S>>,
    records: &[MetadataRecord],
) -> Result<(), QuorumDriverError> {
    let receiver = driver.borrow_mut().propose(records)?;
    match receiver.await {
        Ok(result) => result,
        // The driver dropped the waiter without an answer.
        Err(oneshot::Canceled) => Err(QuorumDriverError::NotCommitted),
    }
}

/// `error` and its sources, for a log line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use std::cell::Cell;
    use std::path::Path;
    use std::rc::Rc;

    use futures_lite::future::block_on;
    use raft::eraftpb::{ConfState, Entry, HardState};
    use skein_controller::quorum::{FileLogStore, MemoryLogStore, QuorumStoreError, StoredLog};
    use skein_controller::{MetadataLog, MetadataStorage};

    use super::*;
    use crate::node::metadata_upgrade::{upgrade_pre_quorum_log, Upgrade, PRE_QUORUM_LOG_KEPT};

    const SETTINGS: ControllerSettings = ControllerSettings {
        num_partitions: 1,
        delete_topic_enable: true,
        node_id: 0,
        default_replication_factor: 1,
        unclean_leader_election_enable: false,
        broker_session_timeout_ms: 9000,
    };

    fn topic(n: u32, configs: &[(&str, &str)]) -> MetadataRecord {
        let mut topic_id = [0; 16];
        topic_id[..4].copy_from_slice(&n.to_be_bytes());
        MetadataRecord::Topic {
            topic_id,
            name: format!("topic-{n}"),
            partitions: 1 + (n % 4) as i32,
            configs: configs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn config(snapshot_after_bytes: u64) -> QuorumConfig {
        let mut config = QuorumConfig::new(1, vec![1]);
        config.snapshot_after_bytes = snapshot_after_bytes;
        config
    }

    fn open_dir(dir: &Path, snapshot_after_bytes: u64) -> RefCell<QuorumDriver<FileLogStore>> {
        let store = FileLogStore::open(dir).unwrap();
        RefCell::new(QuorumDriver::open(config(snapshot_after_bytes), store, SETTINGS).unwrap())
    }

    fn image(driver: &RefCell<QuorumDriver<FileLogStore>>) -> MetadataImage {
        MetadataImage::clone(driver.borrow().controller().image())
    }

    #[test]
    fn committed_change_is_applied_before_commit_returns() {
        let dir = tempfile::tempdir().unwrap();
        let driver = open_dir(dir.path(), 1 << 20);
        assert!(driver
            .borrow()
            .controller()
            .image()
            .topic("topic-1")
            .is_none());
        let receiver = driver.borrow_mut().propose(&[topic(1, &[])]).unwrap();
        // One voter: committed and applied within the proposing step.
        assert!(driver
            .borrow()
            .controller()
            .image()
            .topic("topic-1")
            .is_some());
        assert!(block_on(receiver).unwrap().is_ok());
        block_on(commit(&driver, &[topic(2, &[]), topic(3, &[])])).unwrap();
        assert_eq!(image(&driver).topics().count(), 3);
        assert_eq!(image(&driver).version, 3);
    }

    #[test]
    fn restart_replays_from_the_snapshot_and_the_log_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let driver = open_dir(dir.path(), 512);
        for n in 0..100 {
            block_on(commit(&driver, &[topic(n, &[("retention.ms", "1000")])])).unwrap();
        }
        block_on(commit(
            &driver,
            &[MetadataRecord::ProducerIdBlock {
                next_block_start: 2000,
            }],
        ))
        .unwrap();
        let before = image(&driver);
        let (snapshot_index, last_index) = {
            let node = &driver.borrow().node;
            let snapshot = node.storage().latest_snapshot().get_metadata().index;
            (snapshot, node.last_index())
        };
        assert!(
            snapshot_index > 50,
            "snapshots were taken: {snapshot_index}"
        );
        let log_len = last_index - snapshot_index;
        assert!(
            log_len < 20,
            "the log before the snapshot was dropped: {log_len}"
        );
        drop(driver);

        let restarted = open_dir(dir.path(), 512);
        assert_eq!(image(&restarted), before);
        assert_eq!(image(&restarted).next_producer_id_block, 2000);
        block_on(commit(&restarted, &[topic(1000, &[])])).unwrap();
        assert_eq!(image(&restarted).topics().count(), 101);
    }

    #[test]
    fn pre_quorum_log_is_upgraded_in_place_with_every_record() {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("__skein_metadata");
        let records = vec![
            topic(1, &[("cleanup.policy", "compact")]),
            topic(2, &[]),
            MetadataRecord::TopicConfig {
                topic_id: [0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                key: "retention.ms".into(),
                value: Some("60000".into()),
            },
            MetadataRecord::ProducerIdBlock {
                next_block_start: 1000,
            },
            MetadataRecord::RemoveTopic {
                topic_id: [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            },
        ];
        let (mut old, _) = MetadataLog::open(&dir).unwrap();
        old.append(&records).unwrap();
        drop(old);

        let upgrade = upgrade_pre_quorum_log(&dir, &[1], 0).unwrap();
        assert_eq!(
            upgrade,
            Upgrade::Upgraded {
                records: 5,
                topics: 1
            }
        );
        assert!(!dir.join("records.log").exists());
        assert!(dir.join(PRE_QUORUM_LOG_KEPT).exists());
        let driver = open_dir(&dir, 1 << 20);
        assert_eq!(image(&driver), MetadataImage::replay(0, &records));
        block_on(commit(&driver, &[topic(3, &[])])).unwrap();
        let after = image(&driver);
        drop(driver);

        assert_eq!(
            upgrade_pre_quorum_log(&dir, &[1], 0).unwrap(),
            Upgrade::NotNeeded
        );
        let restarted = open_dir(&dir, 1 << 20);
        assert_eq!(image(&restarted), after);
        assert_eq!(
            after.topic("topic-2").unwrap().configs["retention.ms"],
            "60000"
        );
        assert_eq!(after.next_producer_id_block, 1000);
    }

    #[test]
    fn upgrade_interrupted_after_the_quorum_log_is_in_place_only_renames_the_old_log() {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("__skein_metadata");
        let (mut old, _) = MetadataLog::open(&dir).unwrap();
        old.append(&[topic(1, &[])]).unwrap();
        drop(old);
        upgrade_pre_quorum_log(&dir, &[1], 0).unwrap();
        // As if the crash came before the old log's rename.
        std::fs::rename(dir.join(PRE_QUORUM_LOG_KEPT), dir.join("records.log")).unwrap();
        assert_eq!(
            upgrade_pre_quorum_log(&dir, &[1], 0).unwrap(),
            Upgrade::Finished
        );
        let driver = open_dir(&dir, 1 << 20);
        assert_eq!(image(&driver).topics().count(), 1);
    }

    /// A memory store whose syncs fail while `failing` is set, as a failed
    /// fsync would: nothing staged becomes durable.
    struct FailingStore {
        inner: MemoryLogStore,
        failing: Rc<Cell<bool>>,
    }

    impl RaftLogStore for FailingStore {
        fn load(&mut self) -> Result<StoredLog, QuorumStoreError> {
            self.inner.load()
        }
        fn append_entries(&mut self, entries: &[Entry]) -> Result<(), QuorumStoreError> {
            self.inner.append_entries(entries)
        }
        fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), QuorumStoreError> {
            self.inner.save_hard_state(hard_state)
        }
        fn save_conf_state(&mut self, conf_state: &ConfState) -> Result<(), QuorumStoreError> {
            self.inner.save_conf_state(conf_state)
        }
        fn rewrite(&mut self, log: &StoredLog) -> Result<(), QuorumStoreError> {
            self.inner.rewrite(log)
        }
        fn sync(&mut self) -> Result<(), QuorumStoreError> {
            if self.failing.get() {
                self.inner.crash();
                return Err(QuorumStoreError::Io {
                    path: "memory".into(),
                    source: std::io::Error::other("injected fsync failure"),
                });
            }
            self.inner.sync()
        }
    }

    #[test]
    fn failed_fsync_refuses_the_change_and_never_applies_it() {
        let failing = Rc::new(Cell::new(false));
        let store = FailingStore {
            inner: MemoryLogStore::new(),
            failing: Rc::clone(&failing),
        };
        let driver = RefCell::new(QuorumDriver::open(config(1 << 20), store, SETTINGS).unwrap());
        block_on(commit(&driver, &[topic(1, &[])])).unwrap();
        failing.set(true);
        let error = block_on(commit(&driver, &[topic(2, &[])])).unwrap_err();
        assert!(matches!(error, QuorumDriverError::Quorum(_)), "{error:?}");
        assert!(driver
            .borrow()
            .controller()
            .image()
            .topic("topic-2")
            .is_none());
        // The store works again, but what reached it is unknown: the driver
        // stays stopped until a restart reopens the store.
        failing.set(false);
        let error = block_on(commit(&driver, &[topic(3, &[])])).unwrap_err();
        assert!(matches!(error, QuorumDriverError::Stopped(_)), "{error:?}");
        assert_eq!(driver.borrow().controller().image().topics().count(), 1);
    }
}
