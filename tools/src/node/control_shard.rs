//! The control shard's driver of the metadata controller: makes one
//! metadata change at a time: propose it (the controller's rules check it
//! against the current image and give the records to write), commit the
//! records through the metadata quorum (one entry, fsynced, committed, and
//! applied to the controller to build the new image: see
//! [`QuorumDriver`]), and publish that image to all data shards, replying
//! only once each of them has applied it. So when a client hears that a
//! topic exists, every shard can serve it.
//!
//! The rules live in `skein_controller`; this driver does the IO (the
//! quorum's log through its store, the mesh), ticks the quorum every
//! [`TICK_MS`], and hands out producer ids from the block the controller
//! last reserved. At start it registers this node as a broker and, being
//! its own controller and so caught up, unfences it: replica placement then
//! has this one broker, and every topic gets `replicas = [node.id]`.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use glommio::sync::Semaphore;
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, AlterPartitionRequest,
    AlterPartitionResponse, ApiKey, AssignReplicasToDirsRequest, AssignReplicasToDirsResponse,
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerId, BrokerRegistrationRequest,
    BrokerRegistrationResponse, ProducerId,
};
use skein_controller::quorum::{
    CommittedTail, FileLogStore, QuorumConfig, QuorumInput, ReplicaState, TICK_MS,
};
use skein_controller::{
    BrokerConfig, BrokerEndpoint, BrokerHeartbeat, ControllerError, ControllerResult,
    ControllerSettings, FollowError, MetadataController, MetadataFollower, MetadataImage,
    MetadataRecord, NewBrokerRegistration, ProducerIdBlock, TopicId,
};
use skein_engine::{Mesh, ShardId};

use crate::node::metadata_upgrade::{upgrade_pre_quorum_log, Upgrade};
use crate::node::quorum_driver::{commit, quorum_node_id, QuorumDriver, QuorumDriverError};
use skein_net::client_security::PeerSecurity;
use skein_net::controller_client::{ControllerConnection, QuorumPeers};
use skein_net::controller_rpc::{
    MetadataFetch, MetadataFetchAnswer, RaftFrame, ALLOCATE_PRODUCER_IDS_VERSION,
};
use skein_net::error_code::{controller_error, ErrorCode};
use skein_net::shard_message::{
    ControlError, ControlReply, ControlRequest, ShardReply, ShardRequest,
};

/// Where this node's metadata image comes from.
enum MetadataSource {
    /// A voter of the metadata quorum (every controller; a single node).
    Quorum(Box<RefCell<QuorumDriver<FileLogStore>>>),
    /// A broker-only node: the committed log read from the voters.
    Follower {
        log: RefCell<MetadataFollower>,
        /// The active controller the voters last named.
        leader: Cell<Option<i32>>,
    },
}

/// The control shard. Lives on: the control shard only.
pub struct ControlShard {
    metadata: MetadataSource,
    mesh: Mesh<ShardRequest, ShardReply>,
    data_shards: usize,
    /// One metadata change at a time: a proposal must be checked against
    /// the image its records will be applied to.
    change_lock: Semaphore,
    /// The producer ids reserved in the metadata log and not yet handed
    /// out. Empty at start: the rest of the block in hand before a restart
    /// is skipped, never reused.
    producer_ids: Cell<ProducerIdBlock>,
    /// The quorum's voters by `node.id`, with their controller addresses;
    /// empty for a single node.
    voters: Vec<skein_controller::Voter>,
    /// One publish at a time: data shards apply images in order.
    publish_lock: Semaphore,
    /// The version of the image data shards have last applied.
    published_version: Cell<Option<u64>>,
    /// The image data shards have last applied: what may be served (its
    /// partitions' logs are open).
    published: RefCell<Option<Arc<MetadataImage>>>,
    /// Whether images may be published to the data shards: at once on a
    /// single node; in a cluster once the active controller has said this
    /// broker caught up with the metadata log (Kafka's initial catch-up).
    /// Until then the image is what this node replayed from its own disk,
    /// possibly long stale, and acting on it (following a dead leader,
    /// truncating to it) would undo what the cluster did meanwhile.
    caught_up: Cell<bool>,
    /// Raft frames dropped for another cluster id (logged once).
    foreign_frames: Cell<u64>,
    /// Set when a voter of another cluster answers a node that has not
    /// joined yet: the node must stop (the reason names both ids).
    foreign_cluster: RefCell<Option<String>>,
    /// The broker-only nodes that fetched the committed log from this
    /// voter, with the index each had applied.
    observers: RefCell<std::collections::BTreeMap<i32, u64>>,
    /// How this node connects to the controllers (and brokers).
    peer_security: Arc<PeerSecurity>,
}

impl ControlShard {
    /// Opens the metadata quorum's log under `data_dir` (first upgrading a
    /// pre-quorum metadata log in place), installs its snapshot and applies
    /// the entries after it. This node is the quorum's one voter.
    ///
    /// # Errors
    /// If the metadata log cannot be upgraded, read or applied.
    pub fn open(
        config: Rc<BrokerConfig>,
        mesh: Mesh<ShardRequest, ShardReply>,
        data_shards: usize,
        peer_security: Arc<PeerSecurity>,
    ) -> Result<ControlShard, QuorumDriverError> {
        if !config.roles().controller {
            // A broker-only node keeps no metadata log: it reads the
            // committed one from the voters from the start.
            let follower = MetadataFollower::new(config.node_id());
            return Ok(ControlShard::new(
                MetadataSource::Follower {
                    log: RefCell::new(follower),
                    leader: Cell::new(None),
                },
                mesh,
                data_shards,
                config.quorum_voters(),
                peer_security,
            ));
        }
        let dir = metadata_dir(&config.data_dir());
        let node_id = quorum_node_id(config.node_id());
        let cluster_voters = if config.is_single_node() {
            Vec::new()
        } else {
            config.quorum_voters()
        };
        let voters = if cluster_voters.is_empty() {
            vec![node_id]
        } else {
            cluster_voters
                .iter()
                .map(|voter| quorum_node_id(voter.node_id))
                .collect()
        };
        let upgrade = upgrade_pre_quorum_log(&dir, &voters, config.node_id())?;
        let store =
            FileLogStore::open(&dir).map_err(skein_controller::quorum::QuorumError::from)?;
        let mut quorum_config = QuorumConfig::new(node_id, voters);
        quorum_config.snapshot_after_bytes = config.metadata_snapshot_after_bytes();
        quorum_config.seed = rand_seed();
        let quorum = QuorumDriver::open(
            quorum_config,
            store,
            ControllerSettings::from_broker_config(&config),
        )?;
        tracing::info!(
            topics = quorum.controller().image().topics().count(),
            applied_index = quorum.node().applied_index(),
            upgraded = matches!(upgrade, Upgrade::Upgraded { .. }),
            "metadata quorum log replayed"
        );
        Ok(ControlShard::new(
            MetadataSource::Quorum(Box::new(RefCell::new(quorum))),
            mesh,
            data_shards,
            cluster_voters,
            peer_security,
        ))
    }

    fn new(
        metadata: MetadataSource,
        mesh: Mesh<ShardRequest, ShardReply>,
        data_shards: usize,
        voters: Vec<skein_controller::Voter>,
        peer_security: Arc<PeerSecurity>,
    ) -> ControlShard {
        let single_node = voters.is_empty();
        ControlShard {
            metadata,
            mesh,
            data_shards,
            change_lock: Semaphore::new(1),
            producer_ids: Cell::new(ProducerIdBlock::default()),
            voters,
            publish_lock: Semaphore::new(1),
            published_version: Cell::new(None),
            published: RefCell::new(None),
            caught_up: Cell::new(single_node),
            foreign_frames: Cell::new(0),
            foreign_cluster: RefCell::new(None),
            observers: RefCell::new(std::collections::BTreeMap::new()),
            peer_security,
        }
    }

    /// The quorum driver, on a voter.
    fn quorum(&self) -> Option<&RefCell<QuorumDriver<FileLogStore>>> {
        match &self.metadata {
            MetadataSource::Quorum(quorum) => Some(quorum),
            MetadataSource::Follower { .. } => None,
        }
    }

    /// Whether this node votes in the metadata quorum (else it follows the
    /// committed log from the voters).
    pub fn is_voter(&self) -> bool {
        self.quorum().is_some()
    }

    /// A broker-only node's metadata fetch: the committed log after the
    /// index it has applied, once there is an entry after it or its wait
    /// (at most [`METADATA_FETCH_WAIT_MAX`]) is over. INCONSISTENT_CLUSTER_ID
    /// for a node of another cluster; NOT_CONTROLLER on a node that does
    /// not vote.
    pub async fn metadata_fetch(&self, fetch: MetadataFetch) -> MetadataFetchAnswer {
        let answer = |code: ErrorCode, tail: CommittedTail| MetadataFetchAnswer {
            error_code: code.code(),
            leader_id: self.active_controller(),
            tail,
        };
        let Some(quorum) = self.quorum() else {
            return answer(ErrorCode::NotController, CommittedTail::default());
        };
        let image = self.image();
        if let (Some(theirs), Some(ours)) =
            (fetch.cluster_id.as_deref(), image.cluster_id.as_deref())
        {
            if theirs != ours {
                return answer(ErrorCode::InconsistentClusterId, CommittedTail::default());
            }
        }
        {
            // Bounded: node ids come off the wire.
            let mut observers = self.observers.borrow_mut();
            if observers.len() < OBSERVERS_MAX || observers.contains_key(&fetch.from) {
                observers.insert(fetch.from, fetch.after_index);
            }
        }
        let wait = Duration::from_millis(u64::from(fetch.max_wait_ms)).min(METADATA_FETCH_WAIT_MAX);
        let deadline = std::time::Instant::now() + wait;
        let committed = || quorum.borrow().node().storage().hard_state().commit;
        while committed() <= fetch.after_index && std::time::Instant::now() < deadline {
            glommio::timer::sleep(METADATA_FETCH_POLL).await;
        }
        let max_bytes = usize::try_from(fetch.max_bytes)
            .unwrap_or(usize::MAX)
            .min(METADATA_FETCH_BYTES_MAX);
        let tail = quorum
            .borrow()
            .node()
            .storage()
            .committed_after(fetch.after_index, max_bytes);
        answer(ErrorCode::None, tail)
    }

    /// On a broker-only node: voter `node_id` could not be reached, so it
    /// is no longer taken for the active controller until a voter names it
    /// again.
    pub fn voter_unreachable(&self, node_id: i32) {
        if let MetadataSource::Follower { leader, .. } = &self.metadata {
            if leader.get() == Some(node_id) {
                leader.set(None);
            }
        }
    }

    /// On a broker-only node: the last metadata log index applied (`None`
    /// on a voter).
    pub fn applied_metadata_index(&self) -> Option<u64> {
        match &self.metadata {
            MetadataSource::Quorum(_) => None,
            MetadataSource::Follower { log, .. } => Some(log.borrow().applied_index()),
        }
    }

    /// On a broker-only node: applies a voter's answer to its metadata
    /// fetch (the publisher then sends a changed image to the data shards)
    /// and remembers the active controller it names. A voter of another
    /// cluster stops a node that has not joined yet.
    ///
    /// # Errors
    /// [`FollowError`] for an entry or snapshot that does not apply; the
    /// image holds everything before it.
    pub fn follow(&self, from: i32, answer: MetadataFetchAnswer) -> Result<(), FollowError> {
        let MetadataSource::Follower { log, leader } = &self.metadata else {
            return Ok(());
        };
        if answer.error_code == ErrorCode::InconsistentClusterId.code() {
            if self.image().cluster_id.is_none() {
                self.foreign_cluster.borrow_mut().get_or_insert_with(|| {
                    format!(
                        "this node's cluster id differs from the quorum's (voter {from} refused it): it refuses to join"
                    )
                });
            }
            return Ok(());
        }
        if answer.leader_id.is_some() {
            leader.set(answer.leader_id);
        }
        if answer.error_code == ErrorCode::None.code() {
            log.borrow_mut().apply(answer.tail)?;
        }
        Ok(())
    }

    /// How this node connects to the controllers and to other brokers.
    pub fn peer_security(&self) -> &PeerSecurity {
        &self.peer_security
    }

    /// Whether this node is one of several voters.
    pub fn is_cluster(&self) -> bool {
        !self.voters.is_empty()
    }

    /// Starts the raft links to the other voters; `local_cluster_id` (the
    /// stored or configured one) travels with this node's messages until
    /// the image records the quorum's.
    pub fn connect_peers(&self, local_node_id: i32, local_cluster_id: Option<String>) {
        let peers = self
            .voters
            .iter()
            .filter(|voter| voter.node_id != local_node_id)
            .map(|voter| {
                (
                    quorum_node_id(voter.node_id),
                    format!("{}:{}", voter.host, voter.port),
                )
            })
            .collect();
        if let Some(quorum) = self.quorum() {
            quorum.borrow_mut().connect_peers(
                QuorumPeers::start(peers, &self.peer_security.controller),
                local_cluster_id,
            );
        }
    }

    /// Why this node must not join the quorum it reached, if it must not.
    pub fn foreign_cluster(&self) -> Option<String> {
        self.foreign_cluster.borrow().clone()
    }

    /// The voters with their controller addresses (empty for one node).
    pub fn voters(&self) -> &[skein_controller::Voter] {
        &self.voters
    }

    /// The active controller's `node.id`, if known.
    pub fn active_controller(&self) -> Option<i32> {
        match &self.metadata {
            MetadataSource::Quorum(quorum) => quorum.borrow().leader_node_id(),
            MetadataSource::Follower { leader, .. } => leader.get(),
        }
    }

    /// Whether this node is the active controller.
    pub fn is_active(&self) -> bool {
        self.quorum()
            .is_some_and(|quorum| quorum.borrow().is_leader())
    }

    /// Steps a raft message from a peer into the quorum. Frames from a
    /// node that is not a voter, or that serves another cluster, are
    /// dropped.
    pub fn raft_message(&self, frame: RaftFrame) {
        if !self.voters.iter().any(|voter| voter.node_id == frame.from) {
            tracing::debug!(from = frame.from, "raft message from a non-voter dropped");
            return;
        }
        let Some(quorum) = self.quorum() else {
            return;
        };
        let mut quorum = quorum.borrow_mut();
        if let (Some(theirs), Some(ours)) = (frame.cluster_id.as_deref(), quorum.cluster_id()) {
            if theirs != ours {
                if quorum.controller().image().cluster_id.is_none() {
                    // Not joined yet, and the quorum serves another cluster.
                    self.foreign_cluster.borrow_mut().get_or_insert_with(|| {
                        format!(
                            "this node's cluster id {ours} differs from the quorum's cluster id {theirs} (voter {} sent it): it refuses to join",
                            frame.from
                        )
                    });
                }
                let dropped = self.foreign_frames.get();
                self.foreign_frames.set(dropped + 1);
                if dropped.is_multiple_of(1000) {
                    tracing::error!(
                        from = frame.from,
                        their_cluster_id = theirs,
                        our_cluster_id = ours,
                        "raft message from a node of another cluster dropped"
                    );
                }
                return;
            }
        }
        let input = QuorumInput::Message {
            from: quorum_node_id(frame.from),
            bytes: frame.message,
        };
        if let Err(error) = quorum.step(input) {
            tracing::error!(error = %crate::node::quorum_driver::error_chain(&error), "metadata quorum message failed");
        }
    }

    /// BrokerRegistration from a broker: refused unless this node is the
    /// active controller and the broker's cluster id is the quorum's.
    pub async fn broker_registration(
        &self,
        request: BrokerRegistrationRequest,
    ) -> BrokerRegistrationResponse {
        let refuse = |code: ErrorCode| {
            BrokerRegistrationResponse::default()
                .with_error_code(code.code())
                .with_broker_epoch(-1)
        };
        let Ok(_permit) = self.change_lock.acquire_permit(1).await else {
            return refuse(ErrorCode::NotController);
        };
        let quorum = match self.check_broker_request(Some(request.cluster_id.as_str())) {
            Ok(quorum) => quorum,
            Err(code) => return refuse(code),
        };
        let listeners = request
            .listeners
            .iter()
            .map(|listener| BrokerEndpoint {
                name: listener.name.to_string(),
                host: listener.host.to_string(),
                port: listener.port,
            })
            .collect();
        let registration = quorum.borrow_mut().controller_mut().register_broker(
            NewBrokerRegistration {
                broker_id: request.broker_id.0,
                incarnation_id: *request.incarnation_id.as_bytes(),
                listeners,
                rack: request.rack.map(|rack| rack.to_string()),
            },
            unix_now_ms(),
        );
        if let Err(code) = commit_broker_change(quorum, &registration.records).await {
            return refuse(code);
        }
        match registration.response {
            Ok(broker_epoch) => {
                BrokerRegistrationResponse::default().with_broker_epoch(broker_epoch)
            }
            Err(error) => refuse(controller_error(&error)),
        }
    }

    /// BrokerHeartbeat from a broker: renews its session, unfences it once
    /// caught up, runs its controlled shutdown.
    pub async fn broker_heartbeat(
        &self,
        request: BrokerHeartbeatRequest,
    ) -> BrokerHeartbeatResponse {
        let refuse = |code: ErrorCode| {
            BrokerHeartbeatResponse::default()
                .with_error_code(code.code())
                .with_is_fenced(true)
        };
        let Ok(_permit) = self.change_lock.acquire_permit(1).await else {
            return refuse(ErrorCode::NotController);
        };
        let quorum = match self.check_broker_request(None) {
            Ok(quorum) => quorum,
            Err(code) => return refuse(code),
        };
        let heartbeat = quorum.borrow_mut().controller_mut().broker_heartbeat(
            BrokerHeartbeat {
                broker_id: request.broker_id.0,
                broker_epoch: request.broker_epoch,
                caught_up_offset: request.current_metadata_offset,
                want_fence: request.want_fence,
                want_shutdown: request.want_shut_down,
                offline_log_dirs: request
                    .offline_log_dirs
                    .iter()
                    .map(|directory| *directory.as_bytes())
                    .collect(),
            },
            unix_now_ms(),
        );
        if let Err(code) = commit_broker_change(quorum, &heartbeat.records).await {
            return refuse(code);
        }
        match heartbeat.response {
            Ok(reply) => BrokerHeartbeatResponse::default()
                .with_is_caught_up(reply.is_caught_up)
                .with_is_fenced(reply.is_fenced)
                .with_should_shut_down(reply.should_shut_down),
            Err(error) => refuse(controller_error(&error)),
        }
    }

    /// AssignReplicasToDirs from a broker: which log directory holds each
    /// of its replicas ([`MetadataController::assign_replicas_to_dirs`]);
    /// a replica in a directory the broker reported offline loses its
    /// leadership and ISR place. Every partition is answered with the
    /// request's outcome.
    pub async fn assign_replicas_to_dirs(
        &self,
        request: AssignReplicasToDirsRequest,
    ) -> AssignReplicasToDirsResponse {
        let refuse =
            |code: ErrorCode| AssignReplicasToDirsResponse::default().with_error_code(code.code());
        let Ok(_permit) = self.change_lock.acquire_permit(1).await else {
            return refuse(ErrorCode::NotController);
        };
        let quorum = match self.check_broker_request(None) {
            Ok(quorum) => quorum,
            Err(code) => return refuse(code),
        };
        let assignments: Vec<_> = request
            .directories
            .iter()
            .flat_map(|directory| {
                directory.topics.iter().flat_map(move |topic| {
                    topic.partitions.iter().map(move |partition| {
                        (
                            *directory.id.as_bytes(),
                            *topic.topic_id.as_bytes(),
                            partition.partition_index,
                        )
                    })
                })
            })
            .collect();
        let assigned = quorum
            .borrow_mut()
            .controller_mut()
            .assign_replicas_to_dirs(request.broker_id.0, request.broker_epoch, &assignments);
        if let Err(code) = commit_broker_change(quorum, &assigned.records).await {
            return refuse(code);
        }
        match assigned.response {
            Ok(()) => assign_response(&request, 0),
            Err(error) => refuse(controller_error(&error)),
        }
    }

    /// AlterPartition (read at `version`) from a partition leader: each
    /// partition's ISR change checked by the controller's rules
    /// ([`MetadataController::alter_partition`]), the accepted ones
    /// committed together, each answered with its partition's state.
    pub async fn alter_partition(
        &self,
        request: AlterPartitionRequest,
        version: i16,
    ) -> AlterPartitionResponse {
        let refuse =
            |code: ErrorCode| AlterPartitionResponse::default().with_error_code(code.code());
        let Ok(_permit) = self.change_lock.acquire_permit(1).await else {
            return refuse(ErrorCode::NotController);
        };
        let quorum = match self.check_broker_request(None) {
            Ok(quorum) => quorum,
            Err(code) => return refuse(code),
        };
        let mut records = Vec::new();
        let mut results = Vec::new();
        {
            let driver = quorum.borrow();
            let controller = driver.controller();
            let mut seen = std::collections::HashSet::new();
            for change in skein_net::alter_partition::changes(&request, version) {
                // Each change is checked against the committed image: a
                // second one for the same partition would race the first.
                let result = if seen.insert((change.topic_id, change.partition)) {
                    let decided = controller.alter_partition(change.clone());
                    records.extend(decided.records);
                    decided.response
                } else {
                    Err(ControllerError::InvalidRequest("a partition named twice"))
                };
                results.push((change, result));
            }
        }
        if let Err(code) = commit_broker_change(quorum, &records).await {
            return refuse(code);
        }
        skein_net::alter_partition::build_response(&results)
    }

    /// The quorum, when this node is the active controller: else
    /// NOT_CONTROLLER; INCONSISTENT_CLUSTER_ID for a broker of another
    /// cluster.
    fn check_broker_request(
        &self,
        cluster_id: Option<&str>,
    ) -> Result<&RefCell<QuorumDriver<FileLogStore>>, ErrorCode> {
        let quorum_cell = self.quorum().ok_or(ErrorCode::NotController)?;
        let quorum = quorum_cell.borrow();
        if !quorum.is_leader() {
            return Err(ErrorCode::NotController);
        }
        match (
            cluster_id,
            quorum.controller().image().cluster_id.as_deref(),
        ) {
            (Some(theirs), Some(ours)) if theirs != ours => Err(ErrorCode::InconsistentClusterId),
            // The quorum records its id before it takes registrations.
            (Some(_), None) => Err(ErrorCode::NotController),
            _ => Ok(quorum_cell),
        }
    }

    /// Publishes every image the quorum applies (on a follower, entries
    /// arrive with messages and ticks, not through [`ControlShard::handle`]),
    /// looking every few milliseconds, forever (cancel the task to stop).
    pub async fn run_publisher(self: Rc<Self>) {
        loop {
            glommio::timer::sleep(Duration::from_millis(PUBLISH_POLL_MS)).await;
            if self.published_version.get() != Some(self.image().version) {
                self.publish().await;
            }
        }
    }

    /// The active controller's periodic duties, every [`TICK_MS`] while this
    /// node leads: record the cluster id in a new quorum, fence brokers
    /// whose session expired, create the internal topics
    /// (`__consumer_offsets`, `__transaction_state`) once enough brokers can
    /// hold each.
    pub async fn run_controller_duties(
        self: Rc<Self>,
        local_cluster_id: Option<String>,
        internal_topics: Vec<skein_controller::NewTopic>,
        rebalance: Option<LeaderRebalance>,
    ) {
        let mut proposed_cluster_id = local_cluster_id;
        let mut last_rebalance = std::time::Instant::now();
        loop {
            glommio::timer::sleep(Duration::from_millis(TICK_MS)).await;
            if !self.is_active() {
                continue;
            }
            if self.image().cluster_id.is_none() {
                let cluster_id = proposed_cluster_id
                    .get_or_insert_with(crate::node::new_cluster_id)
                    .clone();
                self.run_duty("recording the cluster id", |controller| {
                    if controller.image().cluster_id.is_some() {
                        return Vec::new();
                    }
                    vec![MetadataRecord::ClusterId { cluster_id }]
                })
                .await;
                continue;
            }
            self.run_duty("fencing expired brokers", |controller| {
                controller.tick(unix_now_ms()).records
            })
            .await;
            for topic in &internal_topics {
                let image = self.image();
                let wanted = usize::try_from(topic.replication_factor).unwrap_or(1);
                if image.topic(&topic.name).is_none() && image.live_brokers().count() >= wanted {
                    let request = ControlRequest::CreateTopics {
                        topics: vec![topic.clone()],
                        validate_only: false,
                    };
                    self.handle(request).await;
                }
            }
            if let Some(rebalance) = rebalance {
                if last_rebalance.elapsed() >= rebalance.interval {
                    last_rebalance = std::time::Instant::now();
                    self.run_duty("auto leader rebalance", |controller| {
                        rebalance_leaders(controller, rebalance.percentage)
                    })
                    .await;
                }
            }
        }
    }

    /// One duty of the active controller: proposes its change under the
    /// change lock (so it is checked against the image its records apply
    /// to), commits it and publishes the image; a failure is logged.
    async fn run_duty(
        &self,
        duty: &str,
        propose: impl FnOnce(&mut MetadataController) -> Vec<MetadataRecord>,
    ) {
        let Ok(_permit) = self.change_lock.acquire_permit(1).await else {
            return;
        };
        let Some(quorum) = self.quorum() else {
            return;
        };
        let records = propose(quorum.borrow_mut().controller_mut());
        if let Err(error) = self.commit_locked(&records).await {
            tracing::warn!(%error, "controller duty not committed: {duty}");
        }
    }

    /// Commits `records` (the change lock held) and publishes the image.
    async fn commit_locked(&self, records: &[MetadataRecord]) -> Result<(), ControlError> {
        if records.is_empty() {
            return Ok(());
        }
        let quorum = self.quorum().ok_or(ControlError::NotController {
            active: self.active_controller(),
        })?;
        commit(quorum, records)
            .await
            .map_err(|error| control_error(&error))?;
        self.publish().await;
        Ok(())
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        match &self.metadata {
            MetadataSource::Quorum(quorum) => Arc::clone(quorum.borrow().controller().image()),
            MetadataSource::Follower { log, .. } => Arc::clone(log.borrow().image()),
        }
    }

    /// Ticks the metadata quorum every [`TICK_MS`], forever (cancel the
    /// task to stop it).
    pub async fn run_quorum_ticks(self: Rc<Self>) {
        let Some(quorum) = self.quorum() else {
            return;
        };
        loop {
            glommio::timer::sleep(Duration::from_millis(TICK_MS)).await;
            quorum.borrow_mut().tick();
        }
    }

    /// Records that the active controller found this broker caught up with
    /// the metadata log: from now on images are published.
    pub fn mark_caught_up(&self) {
        if !self.caught_up.replace(true) {
            tracing::info!(
                version = self.image().version,
                "caught up with the metadata log; publishing images to the data shards"
            );
        }
    }

    /// Whether images are published (see [`ControlShard::mark_caught_up`]).
    pub fn is_caught_up(&self) -> bool {
        self.caught_up.get()
    }

    /// Sends the current image to every data shard and waits until each has
    /// applied it; nothing before this broker caught up with the metadata
    /// log.
    pub async fn publish(&self) {
        if !self.caught_up.get() {
            return;
        }
        let Ok(_permit) = self.publish_lock.acquire_permit(1).await else {
            return;
        };
        let image = self.image();
        let calls = (0..self.data_shards).map(|shard| {
            let image = Arc::clone(&image);
            let mesh = self.mesh.clone();
            async move {
                if mesh
                    .call(ShardId(shard), ShardRequest::ApplyImage(image))
                    .await
                    .is_err()
                {
                    tracing::warn!(shard, "data shard gone before applying an image");
                }
            }
        });
        futures::future::join_all(calls).await;
        self.published_version.set(Some(image.version));
        *self.published.borrow_mut() = Some(image);
    }

    /// The image every data shard has applied last, if one was published.
    pub fn published_image(&self) -> Option<Arc<MetadataImage>> {
        self.published.borrow().clone()
    }

    /// Handles one metadata change: here when this node is the active
    /// controller (or a single node), else forwarded to the active
    /// controller ([`skein_net::control_forwarding`]), as a KRaft broker
    /// forwards its clients' admin requests.
    pub async fn handle(&self, request: ControlRequest) -> ControlReply {
        // Producer ids come from the active controller in blocks
        // (AllocateProducerIds), through the local block in hand.
        let forwards = self.is_cluster()
            && !self.is_active()
            && !matches!(request, ControlRequest::AllocateProducerId);
        if forwards {
            return self.forward(request).await;
        }
        self.handle_local(request).await
    }

    /// Handles a metadata change another node forwarded here: never
    /// forwarded again (NOT_CONTROLLER unless this node is active).
    pub async fn handle_forwarded(&self, request: ControlRequest) -> ControlReply {
        self.handle_local(request).await
    }

    /// Sends `request` to the active controller, retrying while none is
    /// known or it cannot be reached (an election in progress), for up to
    /// [`FORWARD_RETRY`]; then every item fails with NOT_CONTROLLER, which
    /// clients retry.
    async fn forward(&self, request: ControlRequest) -> ControlReply {
        let deadline = std::time::Instant::now() + FORWARD_RETRY;
        loop {
            if self.is_active() {
                return self.handle_local(request).await;
            }
            let active = self.active_controller();
            let error = match self.connect_to_active().await {
                Ok(mut connection) => {
                    match skein_net::control_forwarding::forward(&mut connection, &request).await {
                        Ok(reply) => return reply,
                        Err(error) => error.to_string(),
                    }
                }
                Err(error) => error.to_string(),
            };
            if std::time::Instant::now() >= deadline {
                tracing::warn!(?active, %error, "metadata change not forwarded to the active controller");
                return fail_all(&request, || ControlError::NotController { active });
            }
            tracing::debug!(?active, %error, "forwarding to the active controller: retrying");
            glommio::timer::sleep(FORWARD_BACKOFF).await;
        }
    }

    /// A connection to the active controller's controller listener.
    ///
    /// # Errors
    /// NOT_CONTROLLER when no active controller is known or it cannot be
    /// reached.
    async fn connect_to_active(&self) -> Result<ControllerConnection, ControlError> {
        let active = self.active_controller();
        let not_controller = || ControlError::NotController { active };
        let voter = active
            .and_then(|id| self.voters.iter().find(|voter| voter.node_id == id))
            .ok_or_else(not_controller)?;
        let address = format!("{}:{}", voter.host, voter.port);
        ControllerConnection::connect_to(&address, &self.peer_security.controller)
            .await
            .map_err(|_| not_controller())
    }

    /// Makes one metadata change on this node, which must be the active
    /// controller (or a single node); reads are answered by any voter.
    async fn handle_local(&self, request: ControlRequest) -> ControlReply {
        let Ok(_permit) = self.change_lock.acquire_permit(1).await else {
            return unavailable(&request);
        };
        // Producer ids come from the block in hand, refilled by the active
        // controller (AllocateProducerIds): on any node, a broker-only one
        // (which holds no quorum) too.
        if matches!(request, ControlRequest::AllocateProducerId) {
            return ControlReply::ProducerId(self.allocate_producer_id().await);
        }
        // Reads are served by any voter.
        let read_only = matches!(request, ControlRequest::DescribeQuorum);
        let active = self.active_controller();
        let quorum = match self.quorum() {
            Some(quorum) if !self.is_cluster() || self.is_active() || read_only => quorum,
            _ => return fail_all(&request, || ControlError::NotController { active }),
        };
        // Each proposal is made against the image under a borrow that ends
        // with its statement, before the commit waits.
        let (records, reply) = match request {
            ControlRequest::AllocateProducerId => {
                unreachable!("producer ids are allocated above, without the quorum")
            }
            ControlRequest::DescribeQuorum => {
                let mut status = quorum.borrow().status();
                // Brokers that follow the log without voting: KRaft's
                // observers, with the index each last fetched after.
                status.observers = self
                    .observers
                    .borrow()
                    .iter()
                    .map(|(&node_id, &applied)| ReplicaState {
                        id: quorum_node_id(node_id),
                        log_end_offset: Some(applied),
                    })
                    .collect();
                return ControlReply::Quorum(Ok(status));
            }
            ControlRequest::ElectLeaders {
                election_type,
                partitions,
            } => {
                let partitions = partitions.map(|topics| {
                    topics
                        .into_iter()
                        .flat_map(|(name, indexes)| {
                            indexes.into_iter().map(move |index| (name.clone(), index))
                        })
                        .collect()
                });
                let ControllerResult { records, response } = quorum
                    .borrow()
                    .controller()
                    .elect_leaders(election_type, partitions);
                let outcomes = response
                    .into_iter()
                    .map(|(name, index, result)| (name, index, result.map_err(ControlError::from)))
                    .collect();
                (records, ControlReply::ElectedLeaders(Ok(outcomes)))
            }
            ControlRequest::CreateTopics {
                topics,
                validate_only,
            } => {
                let proposal = quorum
                    .borrow()
                    .controller()
                    .create_topics(topics, &mut new_topic_id);
                proposed(proposal, validate_only, ControlReply::CreatedTopics)
            }
            ControlRequest::DeleteTopics { topics } => {
                let proposal = quorum.borrow().controller().delete_topics(topics);
                proposed(proposal, false, ControlReply::DeletedTopics)
            }
            ControlRequest::CreatePartitions {
                topics,
                validate_only,
            } => {
                let proposal = quorum.borrow().controller().create_partitions(topics);
                proposed(proposal, validate_only, ControlReply::CreatedPartitions)
            }
            ControlRequest::AlterTopicConfigs {
                changes,
                validate_only,
            } => {
                let proposal = quorum.borrow().controller().alter_topic_configs(changes);
                proposed(proposal, validate_only, ControlReply::AlteredConfigs)
            }
            ControlRequest::AlterUserScramCredentials {
                deletions,
                upsertions,
            } => {
                let ControllerResult { records, response } = quorum
                    .borrow()
                    .controller()
                    .alter_user_scram_credentials(deletions, upsertions);
                let outcomes = response
                    .into_iter()
                    .map(|(user, result)| (user, result.map_err(ControlError::from)))
                    .collect();
                (records, ControlReply::AlteredScramCredentials(outcomes))
            }
            ControlRequest::CreateAcls { creations } => {
                let valid = creations
                    .iter()
                    .filter_map(|c| c.as_ref().ok())
                    .map(|binding| (new_topic_id(), binding.clone()))
                    .collect();
                let ControllerResult { records, response } =
                    quorum.borrow().controller().create_acls(valid);
                let mut outcomes = response.into_iter();
                let reply = creations
                    .into_iter()
                    .map(|c| match c {
                        Err(error) => Err(ControlError::Refused(error.into())),
                        Ok(_) => outcomes
                            .next()
                            .unwrap_or(Err(skein_controller::ControllerError::InvalidRequest(
                                "missing outcome",
                            )))
                            .map_err(ControlError::from),
                    })
                    .collect();
                (records, ControlReply::CreatedAcls(reply))
            }
            ControlRequest::DeleteAcls { filters } => {
                let valid: Vec<_> = filters
                    .iter()
                    .filter_map(|f| f.as_ref().ok())
                    .cloned()
                    .collect();
                let ControllerResult { records, response } =
                    quorum.borrow().controller().delete_acls(&valid);
                let mut outcomes = response.into_iter();
                let reply = filters
                    .into_iter()
                    .map(|f| match f {
                        Err(error) => Err(ControlError::Refused(error.into())),
                        Ok(_) => Ok(outcomes.next().unwrap_or_default()),
                    })
                    .collect();
                (records, ControlReply::DeletedAcls(reply))
            }
            ControlRequest::AlterPartitionReassignments {
                reassignments,
                allow_replication_factor_change,
            } => {
                let proposal = quorum
                    .borrow()
                    .controller()
                    .alter_partition_reassignments(reassignments, allow_replication_factor_change);
                proposed(proposal, false, ControlReply::AlteredPartitionReassignments)
            }
        };
        if records.is_empty() {
            return reply;
        }
        if let Err(error) = commit(quorum, &records).await {
            tracing::error!(error = %crate::node::quorum_driver::error_chain(&error), "metadata change not committed; refused");
            return not_committed(reply, &error);
        }
        self.publish().await;
        reply
    }

    /// Registers this node as a broker with a new incarnation and unfences
    /// it, both committed through the quorum: the control shard is this
    /// broker's controller, so it has caught up with its own registration.
    /// Call once at start, before the first topic is created.
    ///
    /// # Errors
    /// If the quorum does not commit a record, or the registration is
    /// refused (a bug: a fresh incarnation is always accepted).
    pub async fn register_local_broker(
        &self,
        config: &BrokerConfig,
        listeners: Vec<BrokerEndpoint>,
    ) -> Result<(), ControlError> {
        let Ok(_permit) = self.change_lock.acquire_permit(1).await else {
            return Err(ControlError::Unavailable);
        };
        let quorum = self.quorum().ok_or(ControlError::Unavailable)?;
        let broker_id = config.node_id();
        let registration = quorum.borrow_mut().controller_mut().register_broker(
            NewBrokerRegistration {
                broker_id,
                incarnation_id: *uuid::Uuid::new_v4().as_bytes(),
                listeners,
                rack: config.broker_rack().map(str::to_string),
            },
            unix_now_ms(),
        );
        commit(quorum, &registration.records)
            .await
            .map_err(|error| control_error(&error))?;
        let broker_epoch = registration.response?;
        let heartbeat = quorum.borrow_mut().controller_mut().broker_heartbeat(
            BrokerHeartbeat {
                broker_id,
                broker_epoch,
                caught_up_offset: broker_epoch,
                want_fence: false,
                want_shutdown: false,
                offline_log_dirs: Vec::new(),
            },
            unix_now_ms(),
        );
        commit(quorum, &heartbeat.records)
            .await
            .map_err(|error| control_error(&error))?;
        heartbeat.response?;
        tracing::info!(broker_id, broker_epoch, "broker registered and unfenced");
        Ok(())
    }

    /// Hands out the next producer id, first reserving a new block through
    /// the metadata quorum (or, not being the active controller, from it)
    /// when the one in hand is used up, so an id is never handed out twice,
    /// even across restarts. A new block changes only the producer id
    /// counter, which data shards do not read: it is not published.
    async fn allocate_producer_id(&self) -> Result<i64, ControlError> {
        // Twice at most: a freshly reserved block is never empty.
        loop {
            let mut block = self.producer_ids.get();
            if let Some(id) = block.take() {
                self.producer_ids.set(block);
                return Ok(id);
            }
            if self.is_cluster() && !self.is_active() {
                self.producer_ids.set(self.remote_producer_ids().await?);
                continue;
            }
            let quorum = self.quorum().ok_or(ControlError::NotController {
                active: self.active_controller(),
            })?;
            let proposal = quorum.borrow().controller().reserve_producer_ids();
            commit(quorum, &proposal.records)
                .await
                .map_err(|error| control_error(&error))?;
            self.producer_ids.set(proposal.response);
        }
    }

    /// A block of producer ids from the active controller
    /// (AllocateProducerIds), as a KRaft broker gets them.
    async fn remote_producer_ids(&self) -> Result<ProducerIdBlock, ControlError> {
        let active = self.active_controller();
        let not_controller = || ControlError::NotController { active };
        let mut connection = self.connect_to_active().await?;
        let request = AllocateProducerIdsRequest::default()
            .with_broker_id(BrokerId(self.image().local_broker_id()));
        let response: AllocateProducerIdsResponse = connection
            .call(
                ApiKey::AllocateProducerIds,
                ALLOCATE_PRODUCER_IDS_VERSION,
                &request,
            )
            .await
            .map_err(|_| not_controller())?;
        if response.error_code != 0 {
            return Err(not_controller());
        }
        ProducerIdBlock::reserved(response.producer_id_start.0, response.producer_id_len)
            .ok_or_else(|| {
                ControlError::Storage("the controller sent an empty producer id block".into())
            })
    }

    /// AllocateProducerIds from another node: a block reserved through the
    /// quorum. NOT_CONTROLLER unless this node is the active controller.
    pub async fn allocate_producer_ids(
        &self,
        _request: AllocateProducerIdsRequest,
    ) -> AllocateProducerIdsResponse {
        let refuse =
            |code: ErrorCode| AllocateProducerIdsResponse::default().with_error_code(code.code());
        let Ok(_permit) = self.change_lock.acquire_permit(1).await else {
            return refuse(ErrorCode::NotController);
        };
        let quorum = match self.check_broker_request(None) {
            Ok(quorum) => quorum,
            Err(code) => return refuse(code),
        };
        let proposal = quorum.borrow().controller().reserve_producer_ids();
        if let Err(code) = commit_broker_change(quorum, &proposal.records).await {
            return refuse(code);
        }
        let block = proposal.response;
        AllocateProducerIdsResponse::default()
            .with_producer_id_start(ProducerId(block.start()))
            .with_producer_id_len(i32::try_from(block.remaining()).unwrap_or(i32::MAX))
    }
}

/// Commits a broker rule's records (none: nothing to wait for).
async fn commit_broker_change(
    quorum: &RefCell<QuorumDriver<FileLogStore>>,
    records: &[MetadataRecord],
) -> Result<(), ErrorCode> {
    if records.is_empty() {
        return Ok(());
    }
    commit(quorum, records).await.map_err(|error| match error {
        QuorumDriverError::NotLeader { .. } | QuorumDriverError::NotCommitted => {
            ErrorCode::NotController
        }
        other => {
            tracing::error!(error = %crate::node::quorum_driver::error_chain(&other), "broker change not committed");
            ErrorCode::UnknownServerError
        }
    })
}

/// The records that move leadership back to preferred replicas where a
/// broker's share of partitions led elsewhere is above `percentage` %.
fn rebalance_leaders(controller: &MetadataController, percentage: u32) -> Vec<MetadataRecord> {
    let partitions = controller.partitions_to_rebalance(percentage);
    if partitions.is_empty() {
        return Vec::new();
    }
    tracing::info!(
        partitions = partitions.len(),
        "auto leader rebalance: electing preferred leaders"
    );
    controller
        .elect_leaders(skein_controller::ElectionType::Preferred, Some(partitions))
        .records
}

/// `auto.leader.rebalance.enable`'s settings.
#[derive(Debug, Clone, Copy)]
pub struct LeaderRebalance {
    /// `leader.imbalance.check.interval.seconds`.
    pub interval: Duration,
    /// `leader.imbalance.per.broker.percentage`.
    pub percentage: u32,
}

/// How long a forwarded change is retried while no active controller can
/// be reached (an election takes one to two seconds).
const FORWARD_RETRY: Duration = Duration::from_secs(5);
/// The pause between forwarding attempts.
const FORWARD_BACKOFF: Duration = Duration::from_millis(100);

/// The most broker-only nodes DescribeQuorum lists as observers.
const OBSERVERS_MAX: usize = 1024;
/// The longest a metadata fetch waits for a new entry.
const METADATA_FETCH_WAIT_MAX: Duration = Duration::from_secs(1);
/// How often a waiting metadata fetch looks at the commit index.
const METADATA_FETCH_POLL: Duration = Duration::from_millis(5);
/// The most payload one metadata fetch answers with (a snapshot is whole).
const METADATA_FETCH_BYTES_MAX: usize = 8 << 20;

/// How often the publisher looks for an image the data shards lack.
const PUBLISH_POLL_MS: u64 = 5;

/// A seed for the quorum's election timeouts: only their spread matters.
fn rand_seed() -> u64 {
    u64::from_le_bytes(
        *uuid::Uuid::new_v4()
            .as_bytes()
            .first_chunk()
            .unwrap_or(&[0; 8]),
    )
}

/// The control shard's error for a change the quorum did not commit: a
/// store failure is a storage failure; not leading, or losing the entry to
/// a new leader, is retriable.
fn control_error(error: &QuorumDriverError) -> ControlError {
    match error {
        QuorumDriverError::NotLeader { .. } | QuorumDriverError::NotCommitted => {
            ControlError::Unavailable
        }
        QuorumDriverError::Quorum(_)
        | QuorumDriverError::CorruptEntry { .. }
        | QuorumDriverError::Upgrade(_)
        | QuorumDriverError::NotAVoter { .. }
        | QuorumDriverError::Stopped(_) => {
            ControlError::Storage(crate::node::quorum_driver::error_chain(error))
        }
    }
}

/// The records of `proposal` (none when `validate_only`) and its reply, with
/// the controller's refusals as the control shard's errors.
fn proposed<T>(
    proposal: ControllerResult<Vec<Result<T, ControllerError>>>,
    validate_only: bool,
    reply: impl FnOnce(Vec<Result<T, ControlError>>) -> ControlReply,
) -> (Vec<MetadataRecord>, ControlReply) {
    let ControllerResult {
        mut records,
        response,
    } = proposal;
    if validate_only {
        records.clear();
    }
    let results = response
        .into_iter()
        .map(|result| result.map_err(ControlError::from))
        .collect();
    (records, reply(results))
}

/// The metadata log's directory: its name cannot be a partition directory
/// (`<topic>-<partition>`), because it does not end in `-<number>`.
fn metadata_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("__skein_metadata")
}

/// A fresh random topic id (Kafka's topic UUID).
fn new_topic_id() -> TopicId {
    *uuid::Uuid::new_v4().as_bytes()
}

fn unavailable(request: &ControlRequest) -> ControlReply {
    fail_all(request, || ControlError::Unavailable)
}

fn fail_all(request: &ControlRequest, error: impl Fn() -> ControlError) -> ControlReply {
    match request {
        ControlRequest::CreateTopics { topics, .. } => {
            ControlReply::CreatedTopics(topics.iter().map(|_| Err(error())).collect())
        }
        ControlRequest::DeleteTopics { topics } => {
            ControlReply::DeletedTopics(topics.iter().map(|_| Err(error())).collect())
        }
        ControlRequest::CreatePartitions { topics, .. } => {
            ControlReply::CreatedPartitions(topics.iter().map(|_| Err(error())).collect())
        }
        ControlRequest::AlterTopicConfigs { changes, .. } => {
            ControlReply::AlteredConfigs(changes.iter().map(|_| Err(error())).collect())
        }
        ControlRequest::AllocateProducerId => ControlReply::ProducerId(Err(error())),
        ControlRequest::ElectLeaders { .. } => ControlReply::ElectedLeaders(Err(error())),
        ControlRequest::DescribeQuorum => ControlReply::Quorum(Err(error())),
        ControlRequest::AlterUserScramCredentials {
            deletions,
            upsertions,
        } => {
            let mut users: Vec<String> = Vec::new();
            let named = deletions
                .iter()
                .map(|d| &d.name)
                .chain(upsertions.iter().map(|u| &u.name));
            for name in named {
                if !users.contains(name) {
                    users.push(name.clone());
                }
            }
            ControlReply::AlteredScramCredentials(
                users.into_iter().map(|user| (user, Err(error()))).collect(),
            )
        }
        ControlRequest::CreateAcls { creations } => {
            ControlReply::CreatedAcls(creations.iter().map(|_| Err(error())).collect())
        }
        ControlRequest::DeleteAcls { filters } => {
            ControlReply::DeletedAcls(filters.iter().map(|_| Err(error())).collect())
        }
        ControlRequest::AlterPartitionReassignments { reassignments, .. } => {
            ControlReply::AlteredPartitionReassignments(
                reassignments.iter().map(|_| Err(error())).collect(),
            )
        }
    }
}

/// Turns every success of `reply` into the failure of the commit: the
/// records that would have made them true were not committed.
fn not_committed(reply: ControlReply, error: &QuorumDriverError) -> ControlReply {
    let failed = || control_error(error);
    match reply {
        ControlReply::CreatedTopics(results) => ControlReply::CreatedTopics(
            results
                .into_iter()
                .map(|r| r.and_then(|_| Err(failed())))
                .collect(),
        ),
        ControlReply::DeletedTopics(results) => ControlReply::DeletedTopics(
            results
                .into_iter()
                .map(|r| r.and_then(|_| Err(failed())))
                .collect(),
        ),
        ControlReply::CreatedPartitions(results) => ControlReply::CreatedPartitions(
            results
                .into_iter()
                .map(|r| r.and_then(|_| Err(failed())))
                .collect(),
        ),
        ControlReply::AlteredConfigs(results) => ControlReply::AlteredConfigs(
            results
                .into_iter()
                .map(|r| r.and_then(|_| Err(failed())))
                .collect(),
        ),
        ControlReply::ProducerId(result) => {
            ControlReply::ProducerId(result.and_then(|_| Err(failed())))
        }
        ControlReply::ElectedLeaders(results) => {
            ControlReply::ElectedLeaders(results.map(|outcomes| {
                outcomes
                    .into_iter()
                    .map(|(name, index, r)| (name, index, r.and_then(|()| Err(failed()))))
                    .collect()
            }))
        }
        ControlReply::Quorum(status) => ControlReply::Quorum(status),
        ControlReply::AlteredScramCredentials(results) => ControlReply::AlteredScramCredentials(
            results
                .into_iter()
                .map(|(user, r)| (user, r.and_then(|()| Err(failed()))))
                .collect(),
        ),
        ControlReply::CreatedAcls(results) => ControlReply::CreatedAcls(
            results
                .into_iter()
                .map(|r| r.and_then(|()| Err(failed())))
                .collect(),
        ),
        ControlReply::DeletedAcls(results) => ControlReply::DeletedAcls(
            results
                .into_iter()
                .map(|r| r.and_then(|_| Err(failed())))
                .collect(),
        ),
        ControlReply::AlteredPartitionReassignments(results) => {
            ControlReply::AlteredPartitionReassignments(
                results
                    .into_iter()
                    .map(|r| r.and_then(|_| Err(failed())))
                    .collect(),
            )
        }
    }
}

/// Milliseconds since the Unix epoch, for broker sessions.
fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// The AssignReplicasToDirs answer naming every partition of `request`
/// with `error_code`.
fn assign_response(
    request: &AssignReplicasToDirsRequest,
    error_code: i16,
) -> AssignReplicasToDirsResponse {
    use kafka_protocol::messages::assign_replicas_to_dirs_response::{
        DirectoryData, PartitionData, TopicData,
    };
    let directories = request
        .directories
        .iter()
        .map(|directory| {
            DirectoryData::default().with_id(directory.id).with_topics(
                directory
                    .topics
                    .iter()
                    .map(|topic| {
                        TopicData::default()
                            .with_topic_id(topic.topic_id)
                            .with_partitions(
                                topic
                                    .partitions
                                    .iter()
                                    .map(|partition| {
                                        PartitionData::default()
                                            .with_partition_index(partition.partition_index)
                                            .with_error_code(error_code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
        })
        .collect();
    AssignReplicasToDirsResponse::default().with_directories(directories)
}
