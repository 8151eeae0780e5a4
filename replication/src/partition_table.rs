//! `PartitionTable`: the partitions one data shard owns, keyed by (topic
//! id, partition). It is made to match a declared set of replicas
//! ([`PartitionTable::reconcile`]): the protocol layer derives that set from
//! each metadata image (which partitions this broker has a replica of, owned
//! by this shard, and each replica's role); the table opens what is new,
//! updates roles and configs, and removes what is gone.
//!
//! Lookups ([`PartitionTable::get`]) are a hash probe and an `Rc` clone: no
//! lock, no allocation.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use skein_engine::{LogConfig, LogTuning};

use crate::error::PartitionError;
use crate::high_watermark_checkpoint::{self, HighWatermarks};
use crate::leader_epoch_checkpoint::CheckpointError;
use crate::partition::Partition;
use crate::replica_set::ReplicaAssignment;
use crate::role::Role;

/// A topic's 16-byte id.
pub type TopicId = [u8; 16];

/// A partition, by topic id and index.
pub type PartitionKey = (TopicId, i32);

/// The file in each partition directory that names the topic id it belongs
/// to, so a directory left by a deleted topic of the same name is never
/// mistaken for the new topic's (Kafka keeps the same file).
const PARTITION_METADATA_FILE: &str = "partition.metadata";

/// A replica this shard must hold, as the metadata image declares it.
#[derive(Debug, Clone)]
pub struct ReplicaSpec {
    /// The topic's name (the directory is `<topic>-<partition>`).
    pub topic: String,
    /// The topic's log config.
    pub log_config: LogConfig,
    /// The log's memory sizes.
    pub tuning: LogTuning,
    /// The replica's role.
    pub role: Role,
    /// The partition's replicas and ISR, and this broker's id.
    pub replicas: ReplicaAssignment,
    /// The topic's `min.insync.replicas` (a topic property, default 1).
    pub min_insync_replicas: i32,
}

/// The partitions one data shard owns. Lives on: that shard.
#[derive(Debug)]
pub struct PartitionTable {
    data_dir: PathBuf,
    partitions: RefCell<HashMap<PartitionKey, Rc<Partition>>>,
    /// The high watermarks the checkpoints held at start, taken by the
    /// partitions as they open.
    restored_high_watermarks: RefCell<HighWatermarks>,
    /// The names of the partitions held (`<topic>`, index), for the
    /// high-watermark checkpoint.
    topics: RefCell<HashMap<PartitionKey, String>>,
    /// What the last high-watermark checkpoint held: an unchanged one is
    /// not written again.
    last_checkpoint: RefCell<Option<Vec<(String, i32, i64)>>>,
}

impl PartitionTable {
    /// An empty table whose partitions live under `data_dir`.
    pub fn new(data_dir: PathBuf) -> PartitionTable {
        PartitionTable {
            restored_high_watermarks: RefCell::new(high_watermark_checkpoint::read_all(&data_dir)),
            data_dir,
            partitions: RefCell::new(HashMap::new()),
            topics: RefCell::new(HashMap::new()),
            last_checkpoint: RefCell::new(None),
        }
    }

    /// Writes this shard's high-watermark checkpoint, `file_name` in the
    /// data dir (Kafka's `replication-offset-checkpoint`, written every
    /// `replica.high.watermark.checkpoint.interval.ms` and at shutdown);
    /// skipped when nothing changed since the last write.
    ///
    /// # Errors
    /// What the write failed with (the previous checkpoint stays).
    pub async fn checkpoint_high_watermarks(&self, file_name: &str) -> Result<(), CheckpointError> {
        let mut entries: Vec<(String, i32, i64)> = {
            let topics = self.topics.borrow();
            self.partitions
                .borrow()
                .iter()
                .filter_map(|(key, partition)| {
                    let topic = topics.get(key)?;
                    Some((topic.clone(), key.1, partition.checkpoint_high_watermark()))
                })
                .collect()
        };
        entries.sort();
        if self.last_checkpoint.borrow().as_ref() == Some(&entries) {
            return Ok(());
        }
        high_watermark_checkpoint::write(&self.data_dir, file_name, &entries).await?;
        *self.last_checkpoint.borrow_mut() = Some(entries);
        Ok(())
    }

    /// The replica of `key` held here.
    ///
    /// # Errors
    /// `UnknownTopicOrPartition` when this shard holds none.
    pub fn get(&self, key: &PartitionKey) -> Result<Rc<Partition>, PartitionError> {
        self.partitions
            .borrow()
            .get(key)
            .cloned()
            .ok_or(PartitionError::UnknownTopicOrPartition)
    }

    /// How many partitions this shard holds.
    pub fn len(&self) -> usize {
        self.partitions.borrow().len()
    }

    /// Whether this shard holds no partition.
    pub fn is_empty(&self) -> bool {
        self.partitions.borrow().is_empty()
    }

    /// Every partition held, for periodic work (gauges, retention): O(n).
    pub fn partitions(&self) -> Vec<(PartitionKey, Rc<Partition>)> {
        self.partitions
            .borrow()
            .iter()
            .map(|(key, partition)| (*key, Rc::clone(partition)))
            .collect()
    }

    /// Makes the table hold exactly `wanted`: removes (with their files) the
    /// partitions not in it first — so a re-created topic of the same name
    /// finds its directory gone — then updates the roles, replica sets and
    /// configs of the partitions kept and opens (recovering) the new ones. A
    /// partition whose directory or log cannot be opened is logged and left
    /// out (offline). `now_ms` starts the lag clock of a new leader's
    /// followers.
    pub async fn reconcile(&self, wanted: HashMap<PartitionKey, ReplicaSpec>, now_ms: i64) {
        let removed: Vec<Rc<Partition>> = {
            let mut partitions = self.partitions.borrow_mut();
            let gone: Vec<PartitionKey> = partitions
                .keys()
                .filter(|key| !wanted.contains_key(*key))
                .copied()
                .collect();
            gone.iter()
                .filter_map(|key| {
                    self.topics.borrow_mut().remove(key);
                    partitions.remove(key)
                })
                .collect()
        };
        for partition in removed {
            remove_partition(partition).await;
        }
        for (key, spec) in wanted {
            let existing = self.partitions.borrow().get(&key).cloned();
            if let Some(partition) = existing {
                if partition.config() != spec.log_config {
                    partition.set_config(spec.log_config);
                }
                // The replicas first: a new leader starts its follower state
                // from the image that made it leader.
                partition.set_replicas(spec.replicas, now_ms);
                partition.set_min_insync_replicas(spec.min_insync_replicas);
                if partition.role() != spec.role {
                    partition.set_role(spec.role);
                }
                continue;
            }
            let dir = self.data_dir.join(format!("{}-{}", spec.topic, key.1));
            if let Err(error) = claim_partition_dir(&dir, &key.0) {
                tracing::error!(%error, dir = %dir.display(), "cannot prepare partition directory");
                continue;
            }
            match Partition::open(dir.clone(), spec.log_config, spec.tuning, spec.role).await {
                Ok(partition) => {
                    let restored = self
                        .restored_high_watermarks
                        .borrow_mut()
                        .remove(&(spec.topic.clone(), key.1));
                    if let Some(high_watermark) = restored {
                        partition.restore_high_watermark(high_watermark);
                    }
                    self.topics.borrow_mut().insert(key, spec.topic.clone());
                    partition.set_replicas(spec.replicas, now_ms);
                    partition.set_min_insync_replicas(spec.min_insync_replicas);
                    self.partitions.borrow_mut().insert(key, Rc::new(partition));
                }
                Err(error) => {
                    tracing::error!(%error, dir = %dir.display(), "cannot open partition log; partition offline");
                }
            }
        }
    }

    /// Runs retention on every partition held.
    pub async fn enforce_retention(&self, now_ms: i64) {
        for (_, partition) in self.partitions() {
            if let Err(error) = partition.enforce_retention(now_ms).await {
                tracing::error!(%error, dir = %partition.dir().display(), "retention failed");
            }
        }
    }

    /// Forgets the idempotent producers idle for `producer_id_expiration_ms`
    /// on every partition held. Returns how many were removed.
    pub fn expire_producers(&self, now_ms: i64, producer_id_expiration_ms: i64) -> usize {
        self.partitions()
            .iter()
            .map(|(_, partition)| partition.expire_producers(now_ms, producer_id_expiration_ms))
            .sum()
    }

    /// Runs one compaction pass on every partition that has one due.
    /// Returns whether any pass ran.
    pub async fn compact(&self, now_ms: i64) -> bool {
        let mut compacted = false;
        for (_, partition) in self.partitions() {
            match partition.compact(now_ms).await {
                Ok(Some(report)) => {
                    compacted = true;
                    tracing::info!(
                        dir = %partition.dir().display(),
                        segments = report.segments_cleaned,
                        bytes_before = report.bytes_before,
                        bytes_after = report.bytes_after,
                        keys = report.keys,
                        "compacted a partition log"
                    );
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(%error, dir = %partition.dir().display(), "compaction failed; the log is left as it was");
                }
            }
            glommio::yield_if_needed().await;
        }
        compacted
    }

    /// Flushes and closes every partition (writing their clean-shutdown
    /// markers) and empties the table.
    pub async fn close_all(&self) {
        let partitions: Vec<Rc<Partition>> = self
            .partitions
            .borrow_mut()
            .drain()
            .map(|(_, partition)| partition)
            .collect();
        for partition in partitions {
            let dir = partition.dir().to_path_buf();
            match Rc::try_unwrap(partition) {
                Ok(partition) => {
                    if let Err(error) = partition.close().await {
                        tracing::error!(%error, dir = %dir.display(), "closing a log failed");
                    }
                }
                Err(_) => {
                    tracing::warn!(dir = %dir.display(), "log still in use at shutdown; recovery will check it")
                }
            }
        }
    }

    /// Removes directories under the data dir that hold a partition (they
    /// have its metadata file) for which `live(topic, partition)` is false:
    /// left by a deletion that a crash interrupted. Run by one shard.
    pub fn remove_orphan_dirs(&self, live: impl Fn(&str, i32) -> bool) {
        let Ok(entries) = std::fs::read_dir(&self.data_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((topic, partition)) = name.rsplit_once('-') else {
                continue;
            };
            let Ok(partition) = partition.parse::<i32>() else {
                continue;
            };
            if !live(topic, partition) && entry.path().join(PARTITION_METADATA_FILE).exists() {
                tracing::info!(dir = %entry.path().display(), "removing the directory of a deleted partition");
                if let Err(error) = std::fs::remove_dir_all(entry.path()) {
                    tracing::error!(%error, "could not remove orphan partition directory");
                }
            }
        }
    }
}

/// Removes a partition that is no longer wanted, with its files.
async fn remove_partition(partition: Rc<Partition>) {
    let dir = partition.dir().to_path_buf();
    match Rc::try_unwrap(partition) {
        Ok(partition) => {
            if let Err(error) = partition.remove().await {
                tracing::error!(%error, dir = %dir.display(), "could not remove a deleted partition's log");
            }
        }
        Err(_) => {
            // A request still holds the partition; remove the files anyway.
            if let Err(error) = std::fs::remove_dir_all(&dir) {
                tracing::error!(%error, dir = %dir.display(), "could not remove a deleted partition's directory");
            }
        }
    }
    tracing::info!(dir = %dir.display(), "partition removed");
}

/// Makes `dir` belong to `topic_id`: a directory of another topic id (a
/// deleted topic of the same name) is removed first.
fn claim_partition_dir(dir: &Path, topic_id: &TopicId) -> std::io::Result<()> {
    let marker: PathBuf = dir.join(PARTITION_METADATA_FILE);
    let expected = format!("version: 0\ntopic_id: {}\n", hex(topic_id));
    match std::fs::read_to_string(&marker) {
        Ok(found) if found == expected => return Ok(()),
        Ok(_) => {
            tracing::warn!(dir = %dir.display(), "directory belongs to a deleted topic; removing it");
            std::fs::remove_dir_all(dir)?;
        }
        Err(_) => {}
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(&marker, expected)?;
    std::fs::File::open(dir)?.sync_all()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
