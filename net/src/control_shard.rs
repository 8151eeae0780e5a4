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
use skein_controller::quorum::{FileLogStore, QuorumConfig, TICK_MS};
use skein_controller::{
    BrokerConfig, BrokerEndpoint, BrokerHeartbeat, ControllerError, ControllerResult,
    ControllerSettings, MetadataImage, MetadataRecord, NewBrokerRegistration, ProducerIdBlock,
    TopicId, LISTENERS_MAX,
};
use skein_engine::{Mesh, ShardId};

use crate::metadata_upgrade::{upgrade_pre_quorum_log, Upgrade};
use crate::quorum_driver::{commit, quorum_node_id, QuorumDriver, QuorumDriverError};
use crate::shard_message::{ControlError, ControlReply, ControlRequest, ShardReply, ShardRequest};

/// The control shard. Lives on: the control shard only.
pub struct ControlShard {
    quorum: RefCell<QuorumDriver<FileLogStore>>,
    mesh: Mesh<ShardRequest, ShardReply>,
    data_shards: usize,
    /// One metadata change at a time: a proposal must be checked against
    /// the image its records will be applied to.
    change_lock: Semaphore,
    /// The producer ids reserved in the metadata log and not yet handed
    /// out. Empty at start: the rest of the block in hand before a restart
    /// is skipped, never reused.
    producer_ids: Cell<ProducerIdBlock>,
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
    ) -> Result<ControlShard, QuorumDriverError> {
        let dir = metadata_dir(&config.data_dir());
        let node_id = quorum_node_id(config.node_id());
        let voters = vec![node_id];
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
        Ok(ControlShard {
            quorum: RefCell::new(quorum),
            mesh,
            data_shards,
            change_lock: Semaphore::new(1),
            producer_ids: Cell::new(ProducerIdBlock::default()),
        })
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(self.quorum.borrow().controller().image())
    }

    /// Ticks the metadata quorum every [`TICK_MS`], forever (cancel the
    /// task to stop it).
    pub async fn run_quorum_ticks(self: Rc<Self>) {
        loop {
            glommio::timer::sleep(Duration::from_millis(TICK_MS)).await;
            self.quorum.borrow_mut().tick();
        }
    }

    /// Sends the current image to every data shard and waits until each has
    /// applied it.
    pub async fn publish(&self) {
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
    }

    /// Handles one metadata change.
    pub async fn handle(&self, request: ControlRequest) -> ControlReply {
        let Ok(_permit) = self.change_lock.acquire_permit(1).await else {
            return unavailable(&request);
        };
        // Each proposal is made against the image under a borrow that ends
        // with its statement, before the commit waits.
        let (records, reply) = match request {
            ControlRequest::AllocateProducerId => {
                return ControlReply::ProducerId(self.allocate_producer_id().await);
            }
            ControlRequest::CreateTopics {
                topics,
                validate_only,
            } => {
                let proposal = self
                    .quorum
                    .borrow()
                    .controller()
                    .create_topics(topics, &mut new_topic_id);
                proposed(proposal, validate_only, ControlReply::CreatedTopics)
            }
            ControlRequest::DeleteTopics { topics } => {
                let proposal = self.quorum.borrow().controller().delete_topics(topics);
                proposed(proposal, false, ControlReply::DeletedTopics)
            }
            ControlRequest::CreatePartitions {
                topics,
                validate_only,
            } => {
                let proposal = self.quorum.borrow().controller().create_partitions(topics);
                proposed(proposal, validate_only, ControlReply::CreatedPartitions)
            }
            ControlRequest::AlterTopicConfigs {
                changes,
                validate_only,
            } => {
                let proposal = self
                    .quorum
                    .borrow()
                    .controller()
                    .alter_topic_configs(changes);
                proposed(proposal, validate_only, ControlReply::AlteredConfigs)
            }
        };
        if records.is_empty() {
            return reply;
        }
        if let Err(error) = commit(&self.quorum, &records).await {
            tracing::error!(error = %crate::quorum_driver::error_chain(&error), "metadata change not committed; refused");
            return not_committed(reply, &error);
        }
        self.publish().await;
        reply
    }

    /// Hands out the next producer id, first reserving a new block through
    /// the metadata quorum when the one in hand is used up, so an id is
    /// never handed out twice, even across restarts. A new block changes
    /// only the producer id counter, which data shards do not read: it is
    /// not published.
    /// Registers this node as a broker with a new incarnation and unfences
    /// it, both committed through the quorum: the control shard is this
    /// broker's controller, so it has caught up with its own registration.
    /// Call once at start, before the first topic is created.
    ///
    /// # Errors
    /// If the quorum does not commit a record, or the registration is
    /// refused (a bug: a fresh incarnation is always accepted).
    pub async fn register_local_broker(&self, config: &BrokerConfig) -> Result<(), ControlError> {
        let Ok(_permit) = self.change_lock.acquire_permit(1).await else {
            return Err(ControlError::Unavailable);
        };
        let broker_id = config.node_id();
        let (client, advertised) = config.client_listener();
        let endpoint = advertised.unwrap_or(client);
        let listeners = std::iter::once(endpoint)
            .take(LISTENERS_MAX)
            .map(|listener| BrokerEndpoint {
                name: listener.name,
                host: listener.host,
                port: listener.port,
            })
            .collect();
        let registration = self.quorum.borrow_mut().controller_mut().register_broker(
            NewBrokerRegistration {
                broker_id,
                incarnation_id: *uuid::Uuid::new_v4().as_bytes(),
                listeners,
                rack: None,
            },
            unix_now_ms(),
        );
        commit(&self.quorum, &registration.records)
            .await
            .map_err(|error| control_error(&error))?;
        let broker_epoch = registration.response?;
        let heartbeat = self.quorum.borrow_mut().controller_mut().broker_heartbeat(
            BrokerHeartbeat {
                broker_id,
                broker_epoch,
                caught_up_offset: broker_epoch,
                want_fence: false,
                want_shutdown: false,
            },
            unix_now_ms(),
        );
        commit(&self.quorum, &heartbeat.records)
            .await
            .map_err(|error| control_error(&error))?;
        heartbeat.response?;
        tracing::info!(broker_id, broker_epoch, "broker registered and unfenced");
        Ok(())
    }

    async fn allocate_producer_id(&self) -> Result<i64, ControlError> {
        // Twice at most: a freshly reserved block is never empty.
        loop {
            let mut block = self.producer_ids.get();
            if let Some(id) = block.take() {
                self.producer_ids.set(block);
                return Ok(id);
            }
            let proposal = self.quorum.borrow().controller().reserve_producer_ids();
            commit(&self.quorum, &proposal.records)
                .await
                .map_err(|error| control_error(&error))?;
            self.producer_ids.set(proposal.response);
        }
    }
}

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
            ControlError::Storage(crate::quorum_driver::error_chain(error))
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
