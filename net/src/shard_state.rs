//! The state of one data shard: its copy of the broker config, the current
//! metadata image, the partition logs it owns, and its end of the mesh.
//! Everything here is shard-local (`Rc`/`RefCell`); other shards are reached
//! only through [`ShardState::mesh`].

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::AtomicI32;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use skein_controller::{BrokerConfig, MetadataImage, TopicId, TopicImage};
use skein_engine::{
    owner_shard, LogChanges, LogChunk, Mesh, PartitionLog, ReadInfo, ShardId, ShardPlan,
};

use crate::fetch_session::{FetchSessionCache, CACHED_PARTITIONS_MAX};
use crate::metrics::{LocalMetrics, PartitionGauge};
use crate::producer_state::{batch_identity, Admission, PartitionProducers};
use crate::shard_message::{
    PartitionError, PartitionOffsets, PartitionOp, ShardReply, ShardRequest,
};

/// Where clients reach this broker (what Metadata returns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedAddress {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// A partition, by topic id and index.
pub type PartitionKey = (TopicId, i32);

/// The file in each partition directory that names the topic id it belongs
/// to, so a directory left by a deleted topic of the same name is never
/// mistaken for the new topic's (Kafka keeps the same file).
const PARTITION_METADATA_FILE: &str = "partition.metadata";

/// One data shard's state. Lives on: that shard.
pub struct ShardState {
    /// This shard.
    pub shard: ShardId,
    /// Where every shard runs.
    pub plan: ShardPlan,
    /// The broker config (an immutable copy per shard).
    pub config: Rc<BrokerConfig>,
    /// What Metadata advertises.
    pub advertised: AdvertisedAddress,
    /// The cluster id reported to clients.
    pub cluster_id: String,
    /// The active controller's `node.id` (-1: unknown), kept by the control
    /// shard; Metadata and DescribeCluster report it.
    pub controller_id: Arc<AtomicI32>,
    /// This shard's end of the mesh.
    pub mesh: Mesh<ShardRequest, ShardReply>,
    image: RefCell<Arc<MetadataImage>>,
    partitions: RefCell<HashMap<PartitionKey, Rc<PartitionLog>>>,
    /// Idempotent producers' sequences, per owned partition.
    producers: RefCell<HashMap<PartitionKey, PartitionProducers>>,
    /// Requests being processed on this shard's connections.
    pub in_flight_requests: Cell<usize>,
    stopping: Cell<bool>,
    /// This shard's counters (written here only; read by the admin listener).
    pub metrics: LocalMetrics,
    /// The fetch sessions of this shard's connections.
    pub fetch_sessions: RefCell<FetchSessionCache>,
    /// The change signal of the logs this shard owns.
    pub log_changes: Rc<LogChanges>,
}

impl ShardState {
    /// A shard with no partitions and the empty image.
    pub fn new(
        shard: ShardId,
        plan: ShardPlan,
        config: Rc<BrokerConfig>,
        advertised: AdvertisedAddress,
        cluster_id: String,
        controller_id: Arc<AtomicI32>,
        mesh: Mesh<ShardRequest, ShardReply>,
    ) -> ShardState {
        assert!(shard.0 < plan.data_shards(), "data shards only");
        let local_broker_id = config.node_id();
        let data_shards = plan.data_shards();
        // Kafka's slots are the broker's; each shard keeps its share, and at
        // least one unless sessions are disabled.
        let slots = config.max_incremental_fetch_session_cache_slots();
        let shard_slots = if slots == 0 {
            0
        } else {
            (slots / data_shards).max(1)
        };
        let fetch_sessions = FetchSessionCache::new(
            shard.0 as u32,
            data_shards as u32,
            shard_slots,
            config.min_incremental_fetch_session_eviction_ms(),
            CACHED_PARTITIONS_MAX,
        );
        ShardState {
            shard,
            plan,
            config,
            advertised,
            cluster_id,
            controller_id,
            mesh,
            image: RefCell::new(Arc::new(MetadataImage::new(local_broker_id))),
            partitions: RefCell::new(HashMap::new()),
            producers: RefCell::new(HashMap::new()),
            in_flight_requests: Cell::new(0),
            stopping: Cell::new(false),
            metrics: LocalMetrics::new(shard.0),
            fetch_sessions: RefCell::new(fetch_sessions),
            // Built on the shard's own thread, like the metrics: the signal
            // is that thread's.
            log_changes: skein_engine::shard_log_changes(),
        }
    }

    /// How many partition logs this shard owns.
    pub fn partition_count(&self) -> usize {
        self.partitions.borrow().len()
    }

    /// The gauges of every partition log this shard owns, for a scrape:
    /// O(partitions × segments), run by the refresh task, never per request.
    /// Single-node, the broker leads every partition it has, and the
    /// partition's one replica (the leader) is its ISR.
    pub fn partition_gauges(&self) -> Vec<PartitionGauge> {
        let image = self.image();
        let partitions = self.partitions.borrow();
        let mut gauges = Vec::with_capacity(partitions.len());
        for ((topic_id, partition), log) in partitions.iter() {
            let Some(topic) = image.topic_by_id(topic_id) else {
                continue;
            };
            gauges.push(PartitionGauge {
                topic: topic.name.clone(),
                partition: *partition,
                size_bytes: log.size_bytes(),
                segments: log.segment_count() as u64,
                high_watermark: log.high_watermark(),
                leader: true,
                replicas: 1,
                isr: 1,
            });
        }
        gauges
    }

    /// Whether the shard is shutting down (connections read no more requests).
    pub fn is_stopping(&self) -> bool {
        self.stopping.get()
    }

    /// Starts shutting down: connections finish what they have and stop.
    pub fn stop(&self) {
        self.stopping.set(true);
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.image.borrow())
    }

    /// The shard owning `partition` of `topic`.
    pub fn owner(&self, topic_id: &TopicId, partition: i32) -> ShardId {
        owner_shard(*topic_id, partition, self.plan.data_shards())
    }

    fn local_log(
        &self,
        topic_id: &TopicId,
        partition: i32,
    ) -> Result<Rc<PartitionLog>, PartitionError> {
        self.partitions
            .borrow()
            .get(&(*topic_id, partition))
            .cloned()
            .ok_or(PartitionError::UnknownTopicOrPartition)
    }

    /// Runs `op` on the owner of the partition: here, or across the mesh.
    pub async fn partition_op(
        &self,
        topic_id: TopicId,
        partition: i32,
        op: PartitionOp,
    ) -> ShardReply {
        let owner = self.owner(&topic_id, partition);
        if owner == self.shard {
            return self.execute(topic_id, partition, op).await;
        }
        let request = ShardRequest::Partition {
            topic_id,
            partition,
            op,
        };
        match self.mesh.call(owner, request).await {
            Ok(reply) => reply,
            Err(_) => unavailable_reply(),
        }
    }

    /// Waits until the partition's high watermark passes `offset`, or at
    /// once if the partition is not there. A partition owned here is waited
    /// on directly, with no timer of its own: the caller bounds the wait
    /// (one timer for a whole long-poll instead of one per partition). One
    /// owned elsewhere waits on its owner for at most `timeout_ms`.
    ///
    /// # Cancel safety
    /// Dropping the future drops the wait (a remote wait ends at its
    /// timeout).
    pub async fn wait_for_append(
        &self,
        topic_id: TopicId,
        partition: i32,
        offset: i64,
        timeout_ms: u64,
    ) {
        if self.owner(&topic_id, partition) == self.shard {
            if let Ok(log) = self.local_log(&topic_id, partition) {
                log.wait_for_append(offset).await;
            }
            return;
        }
        let op = PartitionOp::WaitForAppend { offset, timeout_ms };
        self.partition_op(topic_id, partition, op).await;
    }

    /// Reads whole batches of a partition. A partition owned here is read
    /// zero-copy (its chunks point into the log's buffers); one owned
    /// elsewhere comes back over the mesh.
    pub async fn read(
        &self,
        topic_id: TopicId,
        partition: i32,
        offset: i64,
        max_bytes: usize,
        chunks: &mut Vec<LogChunk>,
    ) -> Result<ReadInfo, PartitionError> {
        let owner = self.owner(&topic_id, partition);
        if owner == self.shard {
            let log = self.local_log(&topic_id, partition)?;
            let bound = log.high_watermark();
            return Ok(log.read(offset, max_bytes, bound, chunks).await?);
        }
        let op = PartitionOp::Read { offset, max_bytes };
        match self.partition_op(topic_id, partition, op).await {
            ShardReply::Read(Ok((remote, info))) => {
                chunks.extend(remote.into_iter().map(LogChunk::Memory));
                Ok(info)
            }
            ShardReply::Read(Err(error)) => Err(error),
            _ => Err(PartitionError::OwnerUnavailable),
        }
    }

    /// Executes a partition operation on this shard, which must own it.
    pub async fn execute(&self, topic_id: TopicId, partition: i32, op: PartitionOp) -> ShardReply {
        let log = match self.local_log(&topic_id, partition) {
            Ok(log) => log,
            Err(error) => return error_reply(&op, error),
        };
        match op {
            PartitionOp::Append { records } => {
                ShardReply::Appended(self.append(&log, (topic_id, partition), &records).await)
            }
            PartitionOp::Read { offset, max_bytes } => {
                let mut chunks = Vec::new();
                let bound = log.high_watermark();
                match log.read(offset, max_bytes, bound, &mut chunks).await {
                    Ok(info) => {
                        let bytes: Vec<Bytes> =
                            chunks.into_iter().map(LogChunk::into_bytes).collect();
                        ShardReply::Read(Ok((bytes, info)))
                    }
                    Err(error) => ShardReply::Read(Err(error.into())),
                }
            }
            PartitionOp::WaitForAppend { offset, timeout_ms } => {
                let wait = log.wait_for_append(offset);
                // Timing out is the normal end of a long-poll, not an error.
                if glommio::timer::timeout(Duration::from_millis(timeout_ms), async {
                    wait.await;
                    Ok(())
                })
                .await
                .is_err()
                {
                    tracing::trace!("long-poll wait timed out");
                }
                ShardReply::Waited
            }
            PartitionOp::ListOffset { timestamp } => {
                ShardReply::ListedOffset(list_offset(&log, timestamp).await)
            }
            PartitionOp::DeleteRecords { offset } => {
                ShardReply::DeletedRecords(log.delete_records(offset).await.map_err(Into::into))
            }
            PartitionOp::Offsets => ShardReply::Offsets(Ok(PartitionOffsets {
                log_start_offset: log.log_start_offset(),
                high_watermark: log.high_watermark(),
                log_end_offset: log.log_end_offset(),
            })),
            PartitionOp::Size => ShardReply::Size(Ok(log.size_bytes())),
        }
    }

    /// Appends one Produce partition's batches, applying idempotent
    /// producers' sequence checks first.
    async fn append(
        &self,
        log: &PartitionLog,
        key: PartitionKey,
        records: &[u8],
    ) -> Result<skein_engine::AppendInfo, PartitionError> {
        let identity = batch_identity(records);
        if let Some(batch) = &identity {
            let admission = self
                .producers
                .borrow_mut()
                .entry(key)
                .or_default()
                .admit(batch);
            match admission {
                Admission::Append => {}
                Admission::Duplicate(info) => return Ok(info),
                Admission::Refuse(code) => return Err(PartitionError::Producer(code)),
            }
        }
        let result = log.append(records, 0, now_ms()).await;
        if let Some(batch) = &identity {
            if let Some(producers) = self.producers.borrow_mut().get_mut(&key) {
                producers.appended(batch, result.as_ref().ok().copied());
            }
        }
        Ok(result?)
    }

    /// Makes `image` true for the partitions this shard owns: opens the logs
    /// of new partitions (recovering them), applies config changes, and
    /// removes the logs of deleted topics.
    pub async fn apply_image(&self, image: Arc<MetadataImage>) {
        let data_dir = self.config.data_dir();
        let mut wanted: HashMap<PartitionKey, Arc<TopicImage>> = HashMap::new();
        let local = image.local_broker_id();
        for topic in image.topics() {
            for partition in 0..topic.partitions {
                // A replica lives here only if this broker is one of the
                // partition's replicas (a partition with no replica state
                // is a single-node one, held here).
                let hosted = topic
                    .partition(partition)
                    .is_none_or(|state| state.replicas.contains(&local));
                if hosted && self.owner(&topic.topic_id, partition) == self.shard {
                    wanted.insert((topic.topic_id, partition), Arc::clone(topic));
                }
            }
        }
        // Removals first, so a re-created topic of the same name finds its
        // directory gone.
        let removed: Vec<(PartitionKey, Rc<PartitionLog>)> = {
            let mut partitions = self.partitions.borrow_mut();
            let gone: Vec<PartitionKey> = partitions
                .keys()
                .filter(|key| !wanted.contains_key(*key))
                .copied()
                .collect();
            gone.into_iter()
                .filter_map(|key| partitions.remove(&key).map(|log| (key, log)))
                .collect()
        };
        for ((topic_id, partition), log) in removed {
            self.producers.borrow_mut().remove(&(topic_id, partition));
            let dir = log.dir().to_path_buf();
            match Rc::try_unwrap(log) {
                Ok(log) => {
                    if let Err(error) = log.remove().await {
                        tracing::error!(%error, partition, "could not remove a deleted partition's log");
                    }
                }
                Err(_) => {
                    // A request still holds the log; remove the files anyway.
                    if let Err(error) = std::fs::remove_dir_all(&dir) {
                        tracing::error!(%error, dir = %dir.display(), "could not remove a deleted partition's directory");
                    }
                }
            }
            tracing::info!(dir = %dir.display(), "partition removed");
        }
        for (key, topic) in wanted {
            let log_config = self.config.log_config(&topic.configs);
            let existing = self.partitions.borrow().get(&key).cloned();
            if let Some(log) = existing {
                if log.config() != log_config {
                    log.set_config(log_config);
                }
                continue;
            }
            let dir = data_dir.join(format!("{}-{}", topic.name, key.1));
            if let Err(error) = claim_partition_dir(&dir, &topic.topic_id) {
                tracing::error!(%error, dir = %dir.display(), "cannot prepare partition directory");
                continue;
            }
            let opened = if crate::offsets_topic::is_internal(&topic.name) {
                PartitionLog::open_with(
                    dir.clone(),
                    log_config,
                    crate::offsets_topic::OFFSETS_LOG_TUNING,
                )
                .await
            } else {
                PartitionLog::open(dir.clone(), log_config).await
            };
            match opened {
                Ok(log) => {
                    self.partitions.borrow_mut().insert(key, Rc::new(log));
                }
                Err(error) => {
                    tracing::error!(%error, dir = %dir.display(), "cannot open partition log; partition offline");
                }
            }
        }
        *self.image.borrow_mut() = image;
    }

    /// Runs retention on every partition this shard owns.
    pub async fn enforce_retention(&self) {
        let logs: Vec<Rc<PartitionLog>> = self.partitions.borrow().values().cloned().collect();
        let now = now_ms();
        for log in logs {
            if let Err(error) = log.enforce_retention(now).await {
                tracing::error!(%error, dir = %log.dir().display(), "retention failed");
            }
        }
    }

    /// Runs one compaction pass on every partition this shard owns whose
    /// `cleanup.policy` includes `compact` and that has one due. Returns
    /// whether any pass ran.
    pub async fn compact_logs(&self) -> bool {
        let logs: Vec<Rc<PartitionLog>> = self.partitions.borrow().values().cloned().collect();
        let mut compacted = false;
        for log in logs {
            match log.compact(now_ms()).await {
                Ok(Some(report)) => {
                    compacted = true;
                    tracing::info!(
                        dir = %log.dir().display(),
                        segments = report.segments_cleaned,
                        bytes_before = report.bytes_before,
                        bytes_after = report.bytes_after,
                        keys = report.keys,
                        "compacted a partition log"
                    );
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(%error, dir = %log.dir().display(), "compaction failed; the log is left as it was");
                }
            }
            glommio::yield_if_needed().await;
        }
        compacted
    }

    /// Flushes and closes every log (writing their clean-shutdown markers).
    pub async fn close_logs(&self) {
        let logs: Vec<(PartitionKey, Rc<PartitionLog>)> =
            self.partitions.borrow_mut().drain().collect();
        for (_, log) in logs {
            let dir = log.dir().to_path_buf();
            match Rc::try_unwrap(log) {
                Ok(log) => {
                    if let Err(error) = log.close().await {
                        tracing::error!(%error, dir = %dir.display(), "closing a log failed");
                    }
                }
                Err(_) => {
                    tracing::warn!(dir = %dir.display(), "log still in use at shutdown; recovery will check it")
                }
            }
        }
    }

    /// Removes directories under the data dir that belong to no topic of the
    /// image (left by a deletion that a crash interrupted). Run by one shard.
    pub fn remove_orphan_dirs(&self, image: &MetadataImage) {
        let Ok(entries) = std::fs::read_dir(self.config.data_dir()) else {
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
            let live = image.topic(topic).is_some_and(|t| partition < t.partitions);
            if !live && entry.path().join(PARTITION_METADATA_FILE).exists() {
                tracing::info!(dir = %entry.path().display(), "removing the directory of a deleted partition");
                if let Err(error) = std::fs::remove_dir_all(entry.path()) {
                    tracing::error!(%error, "could not remove orphan partition directory");
                }
            }
        }
    }
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

async fn list_offset(log: &PartitionLog, timestamp: i64) -> Result<(i64, i64), PartitionError> {
    const LATEST: i64 = -1;
    const EARLIEST: i64 = -2;
    const MAX_TIMESTAMP: i64 = -3;
    const EARLIEST_LOCAL: i64 = -4;
    const LATEST_TIERED: i64 = -5;
    Ok(match timestamp {
        LATEST => (log.high_watermark(), -1),
        EARLIEST | EARLIEST_LOCAL => (log.log_start_offset(), -1),
        LATEST_TIERED => (-1, -1),
        MAX_TIMESTAMP => log.max_timestamp().unwrap_or((-1, -1)),
        _ => log
            .offset_for_timestamp(timestamp)
            .await?
            .unwrap_or((-1, -1)),
    })
}

fn error_reply(op: &PartitionOp, error: PartitionError) -> ShardReply {
    match op {
        PartitionOp::Append { .. } => ShardReply::Appended(Err(error)),
        PartitionOp::Read { .. } => ShardReply::Read(Err(error)),
        PartitionOp::WaitForAppend { .. } => ShardReply::Waited,
        PartitionOp::ListOffset { .. } => ShardReply::ListedOffset(Err(error)),
        PartitionOp::DeleteRecords { .. } => ShardReply::DeletedRecords(Err(error)),
        PartitionOp::Offsets => ShardReply::Offsets(Err(error)),
        PartitionOp::Size => ShardReply::Size(Err(error)),
    }
}

fn unavailable_reply() -> ShardReply {
    ShardReply::Unavailable
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

impl ShardState {
    /// Sends a metadata change to the control shard and waits for it to be
    /// committed and applied on every data shard.
    pub async fn control(
        &self,
        request: crate::shard_message::ControlRequest,
    ) -> Option<crate::shard_message::ControlReply> {
        match self
            .mesh
            .call(self.plan.control_shard(), ShardRequest::Control(request))
            .await
        {
            Ok(ShardReply::Control(reply)) => Some(reply),
            _ => None,
        }
    }
}
