//! The control shard's driver of the metadata controller: owns the metadata
//! log and the [`MetadataController`], and makes one metadata change at a
//! time: propose it (the controller's rules check it against the current
//! image and give the records to write), append + sync the records, apply
//! them to build the new image, and publish that image to all data shards,
//! replying only once each of them has applied it. So when a client hears
//! that a topic exists, every shard can serve it.
//!
//! The rules live in `skein_controller`; this driver does the IO (the log
//! file, the mesh) and hands out producer ids from the block the controller
//! last reserved. At start it registers this node as a broker and, being
//! its own controller and so caught up, unfences it: replica placement then
//! has this one broker, and every topic gets `replicas = [node.id]`.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use glommio::sync::Semaphore;
use skein_controller::{
    BrokerConfig, BrokerEndpoint, BrokerHeartbeat, ControllerError, ControllerResult,
    ControllerSettings, MetadataController, MetadataError, MetadataImage, MetadataLog,
    MetadataRecord, MetadataStorage, NewBrokerRegistration, ProducerIdBlock, TopicId,
    LISTENERS_MAX,
};
use skein_engine::{Mesh, ShardId};

use crate::shard_message::{ControlError, ControlReply, ControlRequest, ShardReply, ShardRequest};

/// The control shard. Lives on: the control shard only.
pub struct ControlShard {
    storage: RefCell<Box<dyn MetadataStorage>>,
    controller: RefCell<MetadataController>,
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
    /// Opens the metadata log under `data_dir` and replays it.
    ///
    /// # Errors
    /// If the metadata log cannot be read.
    pub fn open(
        config: Rc<BrokerConfig>,
        mesh: Mesh<ShardRequest, ShardReply>,
        data_shards: usize,
    ) -> Result<ControlShard, MetadataError> {
        let dir = metadata_dir(&config.data_dir());
        let (mut log, records) = MetadataLog::open(&dir)?;
        let mut controller =
            MetadataController::replay(ControllerSettings::from_broker_config(&config), &records);
        tracing::info!(
            records = records.len(),
            topics = controller.image().topics().count(),
            "metadata log replayed"
        );
        register_local_broker(&config, &mut controller, &mut log)?;
        Ok(ControlShard {
            storage: RefCell::new(Box::new(log)),
            controller: RefCell::new(controller),
            mesh,
            data_shards,
            change_lock: Semaphore::new(1),
            producer_ids: Cell::new(ProducerIdBlock::default()),
        })
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(self.controller.borrow().image())
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
        let (records, reply) = match request {
            ControlRequest::AllocateProducerId => {
                return ControlReply::ProducerId(self.allocate_producer_id());
            }
            ControlRequest::CreateTopics {
                topics,
                validate_only,
            } => {
                let proposal = self
                    .controller
                    .borrow()
                    .create_topics(topics, &mut new_topic_id);
                proposed(proposal, validate_only, ControlReply::CreatedTopics)
            }
            ControlRequest::DeleteTopics { topics } => {
                let proposal = self.controller.borrow().delete_topics(topics);
                proposed(proposal, false, ControlReply::DeletedTopics)
            }
            ControlRequest::CreatePartitions {
                topics,
                validate_only,
            } => {
                let proposal = self.controller.borrow().create_partitions(topics);
                proposed(proposal, validate_only, ControlReply::CreatedPartitions)
            }
            ControlRequest::AlterTopicConfigs {
                changes,
                validate_only,
            } => {
                let proposal = self.controller.borrow().alter_topic_configs(changes);
                proposed(proposal, validate_only, ControlReply::AlteredConfigs)
            }
        };
        if records.is_empty() {
            return reply;
        }
        if let Err(error) = self.commit(&records) {
            tracing::error!(%error, "metadata log append failed; change refused");
            return storage_failure(reply, &error);
        }
        self.publish().await;
        reply
    }

    /// Appends `records` to the metadata log and, once they are durable
    /// (committed, with the single voter), applies them to the image. On an
    /// error nothing was applied.
    fn commit(&self, records: &[MetadataRecord]) -> Result<(), MetadataError> {
        self.storage.borrow_mut().append(records)?;
        self.controller.borrow_mut().apply_committed(records);
        Ok(())
    }

    /// Hands out the next producer id, first reserving a new block in the
    /// metadata log when the one in hand is used up, so an id is never
    /// handed out twice, even across restarts. A new block changes only the
    /// producer id counter, which data shards do not read: it is not
    /// published.
    fn allocate_producer_id(&self) -> Result<i64, ControlError> {
        // Twice at most: a freshly reserved block is never empty.
        loop {
            let mut block = self.producer_ids.get();
            if let Some(id) = block.take() {
                self.producer_ids.set(block);
                return Ok(id);
            }
            let proposal = self.controller.borrow().reserve_producer_ids();
            self.commit(&proposal.records)?;
            self.producer_ids.set(proposal.response);
        }
    }
}

/// Registers this node as a broker with a new incarnation and unfences it,
/// committing both straight to `storage`: the control shard is this
/// broker's controller, so it has caught up with its own registration.
///
/// # Errors
/// If the metadata log append fails.
fn register_local_broker(
    config: &BrokerConfig,
    controller: &mut MetadataController,
    storage: &mut dyn MetadataStorage,
) -> Result<(), MetadataError> {
    let now_ms = now_ms();
    let broker_id = config.node_id();
    let listeners = config
        .advertised_listeners()
        .into_iter()
        .take(LISTENERS_MAX)
        .map(|listener| BrokerEndpoint {
            name: listener.name,
            host: listener.host,
            port: listener.port,
        })
        .collect();
    let registration = controller.register_broker(
        NewBrokerRegistration {
            broker_id,
            incarnation_id: *uuid::Uuid::new_v4().as_bytes(),
            listeners,
            rack: None,
        },
        now_ms,
    );
    storage.append(&registration.records)?;
    controller.apply_committed(&registration.records);
    let broker_epoch = match registration.response {
        Ok(broker_epoch) => broker_epoch,
        // A fresh incarnation with no live session is always accepted.
        Err(error) => {
            tracing::error!(%error, broker_id, "this broker's registration was refused");
            return Ok(());
        }
    };
    let heartbeat = controller.broker_heartbeat(
        BrokerHeartbeat {
            broker_id,
            broker_epoch,
            caught_up_offset: broker_epoch,
            want_fence: false,
            want_shutdown: false,
        },
        now_ms,
    );
    storage.append(&heartbeat.records)?;
    controller.apply_committed(&heartbeat.records);
    tracing::info!(broker_id, broker_epoch, "broker registered and unfenced");
    Ok(())
}

/// Milliseconds since the Unix epoch: the clock of broker sessions.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
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

/// Turns every success of `reply` into a storage failure: the records that
/// would have made them true were not written.
fn storage_failure(reply: ControlReply, error: &MetadataError) -> ControlReply {
    let failed = || ControlError::Storage(error.to_string());
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
