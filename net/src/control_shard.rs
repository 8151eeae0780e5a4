//! The control shard's driver: owns the metadata log and the current image,
//! applies metadata changes one at a time (validate, append + sync the
//! records, build the new image), and publishes every new image to all data
//! shards, replying only once each of them has applied it. So when a client
//! hears that a topic exists, every shard can serve it.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use glommio::sync::Semaphore;
use skein_controller::{
    validate_topic_config, validate_topic_name, BrokerConfig, MetadataError, MetadataImage,
    MetadataLog, MetadataRecord, TopicId,
};
use skein_engine::{Mesh, ShardId};

use crate::shard_message::{
    ControlError, ControlReply, ControlRequest, CreatedTopic, NewTopic, ShardReply, ShardRequest,
    TopicConfigChange, TopicRef,
};

/// The control shard. Lives on: the control shard only.
pub struct ControlShard {
    config: Rc<BrokerConfig>,
    log: RefCell<MetadataLog>,
    image: RefCell<Arc<MetadataImage>>,
    mesh: Mesh<ShardRequest, ShardReply>,
    data_shards: usize,
    /// One metadata change at a time: validation must see the image the
    /// change will be applied to.
    change_lock: Semaphore,
    /// The next producer id to hand out; ids up to the image's
    /// `next_producer_id_block` are reserved in the metadata log.
    next_producer_id: Cell<i64>,
}

/// Producer ids reserved by one metadata record.
const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

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
        let (log, records) = MetadataLog::open(&dir)?;
        let image = MetadataImage::replay(&records);
        tracing::info!(
            records = records.len(),
            topics = image.topics().count(),
            "metadata log replayed"
        );
        let next_producer_id = image.next_producer_id_block;
        Ok(ControlShard {
            config,
            log: RefCell::new(log),
            next_producer_id: Cell::new(next_producer_id),
            image: RefCell::new(Arc::new(image)),
            mesh,
            data_shards,
            change_lock: Semaphore::new(1),
        })
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.image.borrow())
    }

    /// Sends the current image to every data shard and waits until each has
    /// applied it.
    pub async fn publish(&self) {
        let image = Arc::clone(&self.image.borrow());
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
        if let ControlRequest::AllocateProducerId = request {
            return ControlReply::ProducerId(self.allocate_producer_id());
        }
        let mut records = Vec::new();
        let reply = {
            let image = Arc::clone(&self.image.borrow());
            match request {
                ControlRequest::CreateTopics {
                    topics,
                    validate_only,
                } => {
                    let results = create_topics(&self.config, &image, topics, &mut records);
                    if validate_only {
                        records.clear();
                    }
                    ControlReply::CreatedTopics(results)
                }
                ControlRequest::DeleteTopics { topics } => {
                    let results = delete_topics(&self.config, &image, topics, &mut records);
                    ControlReply::DeletedTopics(results)
                }
                ControlRequest::CreatePartitions {
                    topics,
                    validate_only,
                } => {
                    let results = create_partitions(&image, topics, &mut records);
                    if validate_only {
                        records.clear();
                    }
                    ControlReply::CreatedPartitions(results)
                }
                ControlRequest::AlterTopicConfigs {
                    changes,
                    validate_only,
                } => {
                    let results = alter_configs(&image, changes, &mut records);
                    if validate_only {
                        records.clear();
                    }
                    ControlReply::AlteredConfigs(results)
                }
                ControlRequest::AllocateProducerId => return unavailable(&request),
            }
        };
        if records.is_empty() {
            return reply;
        }
        if let Err(error) = self.log.borrow_mut().append(&records) {
            tracing::error!(%error, "metadata log append failed; change refused");
            return storage_failure(reply, &error);
        }
        {
            let mut image = (*self.image.borrow().as_ref()).clone();
            for record in &records {
                log_record(record, &image);
                image.apply(record);
            }
            *self.image.borrow_mut() = Arc::new(image);
        }
        self.publish().await;
        reply
    }
}

impl ControlShard {
    /// Hands out the next producer id, first reserving a new block in the
    /// metadata log when the current one is used up, so an id is never
    /// handed out twice, even across restarts.
    fn allocate_producer_id(&self) -> Result<i64, ControlError> {
        let id = self.next_producer_id.get();
        let reserved_until = self.image.borrow().next_producer_id_block;
        assert!(id <= reserved_until, "never beyond the reserved block");
        if id == reserved_until {
            let record = MetadataRecord::ProducerIdBlock {
                next_block_start: reserved_until + PRODUCER_ID_BLOCK_SIZE,
            };
            self.log
                .borrow_mut()
                .append(std::slice::from_ref(&record))?;
            let mut image = (*self.image.borrow().as_ref()).clone();
            image.apply(&record);
            *self.image.borrow_mut() = Arc::new(image);
        }
        self.next_producer_id.set(id + 1);
        Ok(id)
    }
}

/// The metadata log's directory: its name cannot be a partition directory
/// (`<topic>-<partition>`), because it does not end in `-<number>`.
fn metadata_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("__skein_metadata")
}

fn log_record(record: &MetadataRecord, image: &MetadataImage) {
    match record {
        MetadataRecord::Topic {
            name, partitions, ..
        } => tracing::info!(topic = %name, partitions, "topic created"),
        MetadataRecord::RemoveTopic { topic_id } => {
            let name = image.topic_by_id(topic_id).map(|t| t.name.clone());
            tracing::info!(topic = ?name, "topic deleted");
        }
        MetadataRecord::PartitionCount { partitions, .. } => {
            tracing::info!(partitions, "partitions added")
        }
        MetadataRecord::TopicConfig { key, value, .. } => {
            tracing::info!(%key, ?value, "topic config changed")
        }
        MetadataRecord::ProducerIdBlock { next_block_start } => {
            tracing::debug!(next_block_start, "producer id block reserved")
        }
    }
}

fn new_topic_id() -> TopicId {
    *uuid::Uuid::new_v4().as_bytes()
}

fn create_topics(
    config: &BrokerConfig,
    image: &MetadataImage,
    topics: Vec<NewTopic>,
    records: &mut Vec<MetadataRecord>,
) -> Vec<Result<CreatedTopic, ControlError>> {
    let mut created_names: Vec<String> = Vec::new();
    topics
        .into_iter()
        .map(|topic| {
            validate_topic_name(&topic.name)?;
            if image.topic(&topic.name).is_some() || created_names.contains(&topic.name) {
                return Err(ControlError::TopicAlreadyExists(topic.name));
            }
            let partitions = match topic.partitions {
                -1 => config.num_partitions(),
                n if n >= 1 => n,
                n => {
                    return Err(ControlError::InvalidPartitions(format!(
                        "number of partitions must be larger than 0, or -1 for the default; got {n}"
                    )))
                }
            };
            match topic.replication_factor {
                -1 | 1 => {}
                n => return Err(ControlError::InvalidReplicationFactor(n)),
            }
            let mut configs = BTreeMap::new();
            for (name, value) in &topic.configs {
                configs.insert(name.clone(), validate_topic_config(name, value)?);
            }
            let topic_id = new_topic_id();
            records.push(MetadataRecord::Topic {
                topic_id,
                name: topic.name.clone(),
                partitions,
                configs: configs.into_iter().collect(),
            });
            created_names.push(topic.name);
            Ok(CreatedTopic {
                topic_id,
                partitions,
            })
        })
        .collect()
}

fn delete_topics(
    config: &BrokerConfig,
    image: &MetadataImage,
    topics: Vec<TopicRef>,
    records: &mut Vec<MetadataRecord>,
) -> Vec<Result<(String, TopicId), ControlError>> {
    topics
        .into_iter()
        .map(|topic| {
            let found = match &topic {
                TopicRef::Name(name) => image
                    .topic(name)
                    .ok_or_else(|| ControlError::UnknownTopic(name.clone()))?,
                TopicRef::Id(id) => image.topic_by_id(id).ok_or(ControlError::UnknownTopicId)?,
            };
            if !config.delete_topic_enable() {
                return Err(ControlError::TopicDeletionDisabled);
            }
            if crate::offsets_topic::is_internal(&found.name) {
                return Err(ControlError::InternalTopic(found.name.clone()));
            }
            let already = records.iter().any(|record| {
                matches!(record, MetadataRecord::RemoveTopic { topic_id } if *topic_id == found.topic_id)
            });
            if !already {
                records.push(MetadataRecord::RemoveTopic {
                    topic_id: found.topic_id,
                });
            }
            Ok((found.name.clone(), found.topic_id))
        })
        .collect()
}

fn create_partitions(
    image: &MetadataImage,
    topics: Vec<(String, i32)>,
    records: &mut Vec<MetadataRecord>,
) -> Vec<Result<(), ControlError>> {
    topics
        .into_iter()
        .map(|(name, count)| {
            let topic = image
                .topic(&name)
                .ok_or_else(|| ControlError::UnknownTopic(name.clone()))?;
            if crate::offsets_topic::is_internal(&name) {
                return Err(ControlError::InternalTopic(name));
            }
            if count <= topic.partitions {
                return Err(ControlError::InvalidPartitions(format!(
                    "topic currently has {} partitions, which is higher than or equal to the requested {count}",
                    topic.partitions
                )));
            }
            records.push(MetadataRecord::PartitionCount {
                topic_id: topic.topic_id,
                partitions: count,
            });
            Ok(())
        })
        .collect()
}

fn alter_configs(
    image: &MetadataImage,
    changes: Vec<TopicConfigChange>,
    records: &mut Vec<MetadataRecord>,
) -> Vec<Result<(), ControlError>> {
    changes
        .into_iter()
        .map(|change| {
            let topic = image
                .topic(&change.topic)
                .ok_or_else(|| ControlError::UnknownTopic(change.topic.clone()))?;
            let mut wanted: BTreeMap<String, Option<String>> = BTreeMap::new();
            if change.replace_all {
                for key in topic.configs.keys() {
                    wanted.insert(key.clone(), None);
                }
            }
            for (name, value) in change.ops {
                let value = match value {
                    Some(value) => Some(validate_topic_config(&name, &value)?),
                    None => {
                        // Deleting an override of an unknown config is an error too.
                        skein_controller::topic_config_def(&name).ok_or_else(|| {
                            skein_controller::ConfigError::UnknownProperty(name.clone())
                        })?;
                        None
                    }
                };
                wanted.insert(name, value);
            }
            for (key, value) in wanted {
                if topic.configs.get(&key) != value.as_ref() {
                    records.push(MetadataRecord::TopicConfig {
                        topic_id: topic.topic_id,
                        key,
                        value,
                    });
                }
            }
            Ok(())
        })
        .collect()
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
