//! The state of one data shard: its copy of the broker config, the current
//! metadata image, the table of partitions it owns, and its end of the
//! mesh. Everything here is shard-local (`Rc`/`RefCell`); other shards are
//! reached only through [`ShardState::mesh`].
//!
//! Each partition operation is one typed method that runs on the
//! partition's owner: directly when that is this shard, else as a
//! [`PartitionOp`] across the mesh, whose reply is that operation's typed
//! result ([`ShardState::execute`] is the owner's side).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::AtomicI32;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use skein_controller::{BrokerConfig, MetadataImage, TopicId};
use skein_engine::{
    owner_shard, AppendError, AppendInfo, LogChanges, LogChunk, LogDirs, LogError, LogTuning, Mesh,
    ReadError, ShardId, ShardPlan,
};
use skein_replication::{
    AbortedTxn, Partition, PartitionKey, PartitionTable, ProducerDescription, ReplicaAssignment,
    ReplicaSpec,
};

use crate::fetch_session::{FetchSessionCache, CACHED_PARTITIONS_MAX};
use crate::metrics::{LocalMetrics, PartitionGauge};
use crate::partition_leadership::{min_insync_replicas, replica_assignment, replica_role};
use crate::shard_message::{
    EpochEndOffset, FollowerRead, ListedOffset, MarkerWrite, PartitionError, PartitionOffsets,
    PartitionOp, ReadInfo, ShardReply, ShardRequest,
};

/// Whether followers fetch from their leaders (`replica_fetcher.rs`) and
/// leaders track them. Off, every leader is given itself alone as its
/// replica set (as before replication existed) and no fetcher runs: a
/// leader that tracked followers which never fetch would hold its high
/// watermark at its log start.
pub(crate) const FOLLOWER_FETCHERS: bool = true;

/// Where clients reach this broker (what Metadata returns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedAddress {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

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
    /// The partitions this shard owns.
    partitions: PartitionTable,
    /// Requests being processed on this shard's connections.
    pub in_flight_requests: Cell<usize>,
    /// This shard's share of `queued.max.requests`: one permit per request
    /// read from any of its connections and not yet answered.
    pub request_slots: Rc<glommio::sync::Semaphore>,
    /// This shard's share of `queued.max.request.bytes` (none: no bound):
    /// the bytes of the requests read and not yet answered.
    pub request_memory: Option<Rc<glommio::sync::Semaphore>>,
    stopping: Cell<bool>,
    /// This shard's counters (written here only; read by the admin listener).
    pub metrics: LocalMetrics,
    /// The fetch sessions of this shard's connections.
    pub fetch_sessions: RefCell<FetchSessionCache>,
    /// The change signal of the logs this shard owns.
    pub log_changes: Rc<LogChanges>,
    /// The authorizer (`authorizer.class.name`), if one is configured.
    pub authorizer: Option<skein_controller::Authorizer>,
    /// How this shard connects to other brokers and to the controllers
    /// (TLS, SASL login); plaintext until the node sets it at start.
    pub peer_security: Arc<crate::client_security::PeerSecurity>,
    /// This shard's share of `follower.replication.throttled.rate`, which
    /// its replica fetchers measure and honour.
    pub follower_quota: RefCell<crate::replication_quota::ReplicationQuota>,
    /// This shard's share of `leader.replication.throttled.rate`, which the
    /// follower fetches its connections answer measure and honour.
    pub leader_quota: RefCell<crate::replication_quota::ReplicationQuota>,
}

impl ShardState {
    /// Whether `principal` from `host` may do `operation` on the resource
    /// (always, without an authorizer). Allocates nothing.
    pub fn is_authorized(
        &self,
        principal: &skein_controller::KafkaPrincipal,
        host: &str,
        operation: skein_controller::AclOperation,
        resource_type: skein_controller::ResourceType,
        resource_name: &str,
    ) -> bool {
        match &self.authorizer {
            None => true,
            Some(authorizer) => authorizer.is_allowed(
                self.image.borrow().acls(),
                principal,
                host,
                operation,
                resource_type,
                resource_name,
            ),
        }
    }

    /// A shard with no partitions and the empty image.
    // Each argument is a distinct part of the shard's start state, given
    // once by the node at start; a builder would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        shard: ShardId,
        plan: ShardPlan,
        config: Rc<BrokerConfig>,
        log_dirs: Arc<LogDirs>,
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
        // Kafka's bounds are the broker's; each shard keeps an equal share.
        let request_slots = (config.queued_max_requests() / data_shards).max(1);
        let request_memory = config.queued_max_request_bytes().map(|bytes| {
            let share = (bytes / data_shards as u64).max(config.socket_request_max_bytes() as u64);
            Rc::new(glommio::sync::Semaphore::new(share))
        });
        // Validated at start (BrokerConfig::validate).
        let authorizer = config
            .authorizer_settings()
            .ok()
            .flatten()
            .map(skein_controller::Authorizer::new);
        let follower_quota = crate::replication_quota::ReplicationQuota::shard_share(
            config.follower_replication_throttled_rate(),
            data_shards,
        );
        let leader_quota = crate::replication_quota::ReplicationQuota::shard_share(
            config.leader_replication_throttled_rate(),
            data_shards,
        );
        ShardState {
            follower_quota: RefCell::new(follower_quota),
            leader_quota: RefCell::new(leader_quota),
            authorizer,
            peer_security: Arc::new(crate::client_security::PeerSecurity::plaintext()),
            shard,
            plan,
            request_slots: Rc::new(glommio::sync::Semaphore::new(request_slots as u64)),
            request_memory,
            advertised,
            cluster_id,
            controller_id,
            mesh,
            image: RefCell::new(Arc::new(MetadataImage::new(local_broker_id))),
            partitions: PartitionTable::new(log_dirs),
            config,
            in_flight_requests: Cell::new(0),
            stopping: Cell::new(false),
            metrics: LocalMetrics::new(shard.0),
            fetch_sessions: RefCell::new(fetch_sessions),
            // Built on the shard's own thread, like the metrics: the signal
            // is that thread's.
            log_changes: skein_engine::shard_log_changes(),
        }
    }

    /// How many partitions this shard owns.
    pub fn partition_count(&self) -> usize {
        self.partitions.len()
    }

    /// The gauges of every partition this shard owns, for a scrape:
    /// O(partitions × segments), run by the refresh task, never per request.
    /// A leader counts its committed ISR and each follower's lag as it
    /// sees it; a follower the replicas and ISR its image records.
    pub fn partition_gauges(&self) -> Vec<PartitionGauge> {
        let image = self.image();
        let partitions = self.partitions.partitions();
        let now = now_ms();
        let mut gauges = Vec::with_capacity(partitions.len());
        for ((topic_id, index), partition) in partitions {
            let Some(topic) = image.topic_by_id(&topic_id) else {
                continue;
            };
            let assignment = partition.replicas();
            let count = |brokers: usize| u32::try_from(brokers.max(1)).unwrap_or(u32::MAX);
            let (isr, followers) = match partition.replica_set() {
                Some(set) => {
                    let log_end_offset = partition.offsets().log_end_offset;
                    let followers = set
                        .followers()
                        .iter()
                        .map(|follower| follower_lag(follower, log_end_offset, now))
                        .collect();
                    (count(set.isr().len()), followers)
                }
                None => (count(assignment.isr.len()), Vec::new()),
            };
            gauges.push(PartitionGauge {
                topic: topic.name.clone(),
                partition: index,
                size_bytes: partition.size_bytes(),
                segments: partition.segment_count() as u64,
                high_watermark: partition.high_watermark(),
                leader: partition.role().is_leader(),
                replicas: count(assignment.replicas.len()),
                isr,
                followers,
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

    /// The current metadata image, as an owned reference (for a caller
    /// that holds it across an await).
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.image.borrow())
    }

    /// Runs `f` on the current metadata image, borrowed: no reference count
    /// is touched. The image is shared by every shard, so each clone of its
    /// `Arc` is an atomic on a cache line all cores write; the per-request
    /// paths (produce) borrow it instead. `f` is synchronous, so the borrow
    /// never overlaps an await during which a new image could be applied.
    pub fn with_image<T>(&self, f: impl FnOnce(&MetadataImage) -> T) -> T {
        f(&self.image.borrow())
    }

    /// The shard owning `partition` of `topic`.
    pub fn owner(&self, topic_id: &TopicId, partition: i32) -> ShardId {
        owner_shard(*topic_id, partition, self.plan.data_shards())
    }

    /// Changes whenever [`follower_partitions`](Self::follower_partitions)
    /// could answer differently (see `PartitionTable::generation`); a
    /// metadata image applied changes it too.
    pub(crate) fn partitions_generation(&self) -> u64 {
        self.partitions.generation()
    }

    /// The partitions this shard holds a follower replica of, for the
    /// replica fetchers: O(partitions), when a fetcher rebuilds its list
    /// (the image or [`partitions_generation`](Self::partitions_generation)
    /// moved).
    pub(crate) fn follower_partitions(&self) -> Vec<(PartitionKey, Rc<Partition>)> {
        self.partitions
            .partitions_where(|partition| !partition.role().is_leader())
    }

    /// The partitions this shard leads with followers, for the ISR
    /// driver: O(partitions), once per check.
    pub(crate) fn leader_partitions(&self) -> Vec<(PartitionKey, Rc<Partition>)> {
        self.partitions
            .partitions_where(|partition| partition.leads_followers())
    }

    /// The partition `partition` of `topic_id`, which this shard must own.
    fn local(&self, topic_id: &TopicId, partition: i32) -> Result<Rc<Partition>, PartitionError> {
        Ok(self.partitions.get(&(*topic_id, partition))?)
    }

    /// Sends `op` to the owner shard of the partition.
    async fn remote(
        &self,
        owner: ShardId,
        topic_id: TopicId,
        partition: i32,
        op: PartitionOp,
    ) -> Result<ShardReply, PartitionError> {
        let request = ShardRequest::Partition {
            topic_id,
            partition,
            op,
        };
        self.mesh
            .call(owner, request)
            .await
            .map_err(|_| PartitionError::OwnerUnavailable)
    }

    /// Runs one operation on the partition's owner shard: `local` on the
    /// partition when this shard owns it, else `op` through the mesh, the
    /// answer taken out of its reply by `answer`.
    async fn on_owner<T>(
        &self,
        topic_id: TopicId,
        partition: i32,
        op: PartitionOp,
        local: impl AsyncFnOnce(Rc<Partition>) -> Result<T, PartitionError>,
        answer: fn(ShardReply) -> Result<T, PartitionError>,
    ) -> Result<T, PartitionError> {
        let owner = self.owner(&topic_id, partition);
        if owner == self.shard {
            return local(self.local(&topic_id, partition)?).await;
        }
        let reply = self.remote(owner, topic_id, partition, op).await?;
        answer(reply)
    }

    /// Appends one Produce partition's batches on the partition's leader.
    /// With `acks_all_timeout_ms` (acks=all), `min.insync.replicas` is
    /// checked before the append and the answer waits until the high
    /// watermark passes the batches (at most that long).
    ///
    /// # Errors
    /// What the owner's partition refused, `Replication` for the acks=all
    /// rules, `ReplicationTimedOut`, or `OwnerUnavailable`.
    pub async fn append(
        &self,
        topic_id: TopicId,
        partition: i32,
        records: Bytes,
        acks_all_timeout_ms: Option<u64>,
    ) -> Result<AppendInfo, PartitionError> {
        let owner = self.owner(&topic_id, partition);
        if owner == self.shard {
            return self
                .local_append(topic_id, partition, &records, acks_all_timeout_ms)
                .await;
        }
        let op = PartitionOp::Append {
            records,
            acks_all_timeout_ms,
        };
        match self.remote(owner, topic_id, partition, op).await? {
            ShardReply::Appended(result) => result,
            other => Err(unexpected(other)),
        }
    }

    async fn local_append(
        &self,
        topic_id: TopicId,
        partition: i32,
        records: &[u8],
        acks_all_timeout_ms: Option<u64>,
    ) -> Result<AppendInfo, PartitionError> {
        let result = self
            .local_append_unchecked(topic_id, partition, records, acks_all_timeout_ms)
            .await;
        self.check_storage(topic_id, partition, result)
    }

    /// Takes the log directory of a partition whose operation failed on
    /// storage IO offline, as Kafka's log-directory failure handling does:
    /// its other partitions answer KAFKA_STORAGE_ERROR from now on, the
    /// other directories keep serving. Returns `result` unchanged.
    fn check_storage<T>(
        &self,
        topic_id: TopicId,
        partition: i32,
        result: Result<T, PartitionError>,
    ) -> Result<T, PartitionError> {
        if let Err(error) = &result {
            if is_storage_failure(error) {
                self.partitions
                    .fail_log_dir_of(&(topic_id, partition), &error.to_string());
            }
        }
        result
    }

    async fn local_append_unchecked(
        &self,
        topic_id: TopicId,
        partition: i32,
        records: &[u8],
        acks_all_timeout_ms: Option<u64>,
    ) -> Result<AppendInfo, PartitionError> {
        let replica = self.local(&topic_id, partition)?;
        // A partition without followers (replication factor 1) appends as
        // before: its own durability is acks=all's promise.
        let Some(timeout_ms) = acks_all_timeout_ms.filter(|_| replica.leads_followers()) else {
            return Ok(replica.append(records, now_ms()).await?);
        };
        replica.check_enough_replicas()?;
        let info = replica.append(records, now_ms()).await?;
        wait_for_replication(&replica, info, timeout_ms).await
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
        replica: bool,
    ) {
        let owner = self.owner(&topic_id, partition);
        if owner == self.shard {
            if let Ok(partition) = self.local(&topic_id, partition) {
                wait_for_append(&partition, offset, replica).await;
            }
            return;
        }
        let op = PartitionOp::WaitForAppend {
            offset,
            timeout_ms,
            replica,
        };
        match self.remote(owner, topic_id, partition, op).await {
            Ok(ShardReply::Waited) => {}
            Ok(other) => {
                unexpected(other);
            }
            // A gone owner ends the wait; the next read reports it.
            Err(_) => {}
        }
    }

    /// Reads whole batches of a partition: up to the high watermark for a
    /// consumer, up to the log end for follower `replica` (whose fetch is
    /// recorded first). A partition owned here is read zero-copy (its chunks
    /// point into the log's buffers); one owned elsewhere comes back over
    /// the mesh.
    ///
    /// # Errors
    /// What the owner's partition refused, or `OwnerUnavailable`.
    pub async fn read(
        &self,
        topic_id: TopicId,
        partition: i32,
        offset: i64,
        max_bytes: usize,
        replica: Option<FollowerRead>,
        chunks: &mut Vec<LogChunk>,
    ) -> Result<ReadInfo, PartitionError> {
        let owner = self.owner(&topic_id, partition);
        if owner == self.shard {
            let local = self.local(&topic_id, partition)?;
            let result = local_read(&local, offset, max_bytes, replica, chunks).await;
            return self.check_storage(topic_id, partition, result.map_err(Into::into));
        }
        let op = PartitionOp::Read {
            offset,
            max_bytes,
            replica,
        };
        match self.remote(owner, topic_id, partition, op).await? {
            ShardReply::Read(Ok((remote, info))) => {
                chunks.extend(remote.into_iter().map(LogChunk::Memory));
                Ok(info)
            }
            ShardReply::Read(Err(error)) => Err(error),
            other => Err(unexpected(other)),
        }
    }

    /// A read for another shard: the chunks are handed over as `Bytes`.
    async fn local_read_for_mesh(
        &self,
        topic_id: TopicId,
        partition: i32,
        offset: i64,
        max_bytes: usize,
        replica: Option<FollowerRead>,
    ) -> Result<(Vec<Bytes>, ReadInfo), PartitionError> {
        let local = self.local(&topic_id, partition)?;
        let mut chunks = Vec::new();
        let result = local_read(&local, offset, max_bytes, replica, &mut chunks).await;
        let info = self.check_storage(topic_id, partition, result.map_err(Into::into))?;
        let bytes = chunks.into_iter().map(LogChunk::into_bytes).collect();
        Ok((bytes, info))
    }

    /// A read_committed consumer's read: whole batches up to the last
    /// stable offset and the aborted transactions that overlap them
    /// (zero-copy for a partition owned here, as [`ShardState::read`]).
    ///
    /// # Errors
    /// What the owner's partition refused, or `OwnerUnavailable`.
    pub async fn read_committed(
        &self,
        topic_id: TopicId,
        partition: i32,
        offset: i64,
        max_bytes: usize,
        chunks: &mut Vec<LogChunk>,
    ) -> Result<(ReadInfo, Vec<AbortedTxn>), PartitionError> {
        let owner = self.owner(&topic_id, partition);
        if owner == self.shard {
            let local = self.local(&topic_id, partition)?;
            return Ok(local.read_committed(offset, max_bytes, chunks).await?);
        }
        let op = PartitionOp::ReadCommitted { offset, max_bytes };
        match self.remote(owner, topic_id, partition, op).await? {
            ShardReply::ReadCommitted(Ok((remote, info, aborted))) => {
                chunks.extend(remote.into_iter().map(LogChunk::Memory));
                Ok((info, aborted))
            }
            ShardReply::ReadCommitted(Err(error)) => Err(error),
            other => Err(unexpected(other)),
        }
    }

    /// A read_committed read for another shard.
    async fn local_read_committed_for_mesh(
        &self,
        topic_id: TopicId,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<(Vec<Bytes>, ReadInfo, Vec<AbortedTxn>), PartitionError> {
        let local = self.local(&topic_id, partition)?;
        let mut chunks = Vec::new();
        let (info, aborted) = local.read_committed(offset, max_bytes, &mut chunks).await?;
        let bytes = chunks.into_iter().map(LogChunk::into_bytes).collect();
        Ok((bytes, info, aborted))
    }

    /// Waits until the partition's last stable offset passes `offset` (a
    /// read_committed long-poll), as [`ShardState::wait_for_append`] does
    /// for the high watermark.
    ///
    /// # Cancel safety
    /// Dropping the future drops the wait.
    pub async fn wait_for_stable(
        &self,
        topic_id: TopicId,
        partition: i32,
        offset: i64,
        timeout_ms: u64,
    ) {
        let owner = self.owner(&topic_id, partition);
        if owner == self.shard {
            if let Ok(partition) = self.local(&topic_id, partition) {
                partition.wait_for_stable(offset).await;
            }
            return;
        }
        let op = PartitionOp::WaitForStable { offset, timeout_ms };
        match self.remote(owner, topic_id, partition, op).await {
            Ok(ShardReply::Waited) => {}
            Ok(other) => {
                unexpected(other);
            }
            // A gone owner ends the wait; the next read reports it.
            Err(_) => {}
        }
    }

    /// WriteTxnMarkers for one partition: writes the coordinator's marker
    /// on the partition's leader with acks=all (`min.insync.replicas`
    /// checked first; answered once the high watermark passes the marker,
    /// at most `timeout_ms`), as Kafka appends markers.
    ///
    /// # Errors
    /// What the owner's partition refused (`NotLeader`, the producer's
    /// epoch or coordinator epoch fenced, the log), `Replication` for the
    /// acks=all rules, `ReplicationTimedOut`, or `OwnerUnavailable`.
    pub async fn write_txn_marker(
        &self,
        topic_id: TopicId,
        partition: i32,
        marker: MarkerWrite,
    ) -> Result<AppendInfo, PartitionError> {
        let op = PartitionOp::WriteTxnMarker {
            producer_id: marker.producer_id,
            producer_epoch: marker.producer_epoch,
            coordinator_epoch: marker.coordinator_epoch,
            result: marker.result,
            timeout_ms: marker.timeout_ms,
        };
        let local = async |replica| local_write_txn_marker(replica, marker).await;
        let answer = |reply| match reply {
            ShardReply::Appended(result) => result,
            other => Err(unexpected(other)),
        };
        self.on_owner(topic_id, partition, op, local, answer).await
    }

    /// ListOffsets for one timestamp (or the special values -1..-5); with
    /// `read_committed` the latest offset is the last stable offset.
    ///
    /// # Errors
    /// What the owner's partition refused, or `OwnerUnavailable`.
    pub async fn list_offset(
        &self,
        topic_id: TopicId,
        partition: i32,
        timestamp: i64,
        read_committed: bool,
    ) -> Result<ListedOffset, PartitionError> {
        let op = PartitionOp::ListOffset {
            timestamp,
            read_committed,
        };
        let local = async |replica: Rc<Partition>| {
            Ok(replica
                .list_offset_isolated(timestamp, read_committed)
                .await?)
        };
        let answer = |reply| match reply {
            ShardReply::ListedOffset(result) => result,
            other => Err(unexpected(other)),
        };
        self.on_owner(topic_id, partition, op, local, answer).await
    }

    /// DeleteRecords up to `offset` (-1: the high watermark); the new log
    /// start offset.
    ///
    /// # Errors
    /// What the owner's partition refused, or `OwnerUnavailable`.
    pub async fn delete_records(
        &self,
        topic_id: TopicId,
        partition: i32,
        offset: i64,
    ) -> Result<i64, PartitionError> {
        let op = PartitionOp::DeleteRecords { offset };
        let local = async |replica: Rc<Partition>| Ok(replica.delete_records(offset).await?);
        let answer = |reply| match reply {
            ShardReply::DeletedRecords(result) => result,
            other => Err(unexpected(other)),
        };
        self.on_owner(topic_id, partition, op, local, answer).await
    }

    /// The partition's log start offset, high watermark and log end offset.
    ///
    /// # Errors
    /// `UnknownTopicOrPartition`, or `OwnerUnavailable`.
    pub async fn offsets(
        &self,
        topic_id: TopicId,
        partition: i32,
    ) -> Result<PartitionOffsets, PartitionError> {
        let local = async |replica: Rc<Partition>| Ok(replica.offsets());
        let answer = |reply| match reply {
            ShardReply::Offsets(result) => result,
            other => Err(unexpected(other)),
        };
        let op = PartitionOp::Offsets;
        self.on_owner(topic_id, partition, op, local, answer).await
    }

    /// OffsetForLeaderEpoch: where `leader_epoch` ends in the partition's
    /// log.
    ///
    /// # Errors
    /// What the owner's partition refused, or `OwnerUnavailable`.
    pub async fn end_offset_for_epoch(
        &self,
        topic_id: TopicId,
        partition: i32,
        leader_epoch: i32,
    ) -> Result<EpochEndOffset, PartitionError> {
        let op = PartitionOp::EndOffsetForEpoch { leader_epoch };
        let local = async |replica: Rc<Partition>| Ok(replica.end_offset_for_epoch(leader_epoch)?);
        let answer = |reply| match reply {
            ShardReply::EpochEndOffset(result) => result,
            other => Err(unexpected(other)),
        };
        self.on_owner(topic_id, partition, op, local, answer).await
    }

    /// The bytes of the partition's segments (any replica answers).
    ///
    /// # Errors
    /// `UnknownTopicOrPartition`, or `OwnerUnavailable`.
    pub async fn size(&self, topic_id: TopicId, partition: i32) -> Result<u64, PartitionError> {
        let local = async |replica: Rc<Partition>| Ok(replica.size_bytes());
        let answer = |reply| match reply {
            ShardReply::Size(result) => result,
            other => Err(unexpected(other)),
        };
        let op = PartitionOp::Size;
        self.on_owner(topic_id, partition, op, local, answer).await
    }

    /// DescribeProducers: the partition's idempotent producers, by id.
    ///
    /// # Errors
    /// `NotLeader` on a follower, `UnknownTopicOrPartition`, or
    /// `OwnerUnavailable`.
    pub async fn describe_producers(
        &self,
        topic_id: TopicId,
        partition: i32,
    ) -> Result<Vec<ProducerDescription>, PartitionError> {
        let local = async |replica: Rc<Partition>| Ok(replica.describe_producers()?);
        let answer = |reply| match reply {
            ShardReply::Producers(result) => result,
            other => Err(unexpected(other)),
        };
        let op = PartitionOp::DescribeProducers;
        self.on_owner(topic_id, partition, op, local, answer).await
    }

    /// Moves the partition's replica on this broker to log directory
    /// `log_dir` (an index into [`LogDirs::dirs`]): AlterReplicaLogDirs.
    ///
    /// # Errors
    /// `UnknownTopicOrPartition`, `LogDirOffline`, `Moving`, what reopening
    /// the log failed with, or `OwnerUnavailable`.
    pub async fn move_to_log_dir(
        &self,
        topic_id: TopicId,
        partition: i32,
        log_dir: usize,
    ) -> Result<(), PartitionError> {
        let op = PartitionOp::MoveToLogDir { log_dir };
        let partitions = &self.partitions;
        let local = async |replica: Rc<Partition>| {
            // The move needs the only handle on the partition.
            drop(replica);
            Ok(partitions
                .move_to_log_dir((topic_id, partition), log_dir)
                .await?)
        };
        let answer = |reply| match reply {
            ShardReply::MovedToLogDir(result) => result,
            other => Err(unexpected(other)),
        };
        self.on_owner(topic_id, partition, op, local, answer).await
    }

    /// Forgets, on every partition this shard owns, the idempotent
    /// producers idle for `producer_id_expiration_ms` (Kafka's
    /// `producer.id.expiration.ms`). Returns how many were removed.
    pub fn expire_producers(&self, producer_id_expiration_ms: i64) -> usize {
        self.partitions
            .expire_producers(now_ms(), producer_id_expiration_ms)
    }

    /// The broker's log directories (shared by every shard).
    pub fn log_dirs(&self) -> &Arc<LogDirs> {
        self.partitions.log_dirs()
    }

    /// Executes a partition operation for another shard (or the control
    /// shard); this shard must own the partition. Each operation is answered
    /// with its own reply variant.
    pub async fn execute(&self, topic_id: TopicId, partition: i32, op: PartitionOp) -> ShardReply {
        match op {
            PartitionOp::Append {
                records,
                acks_all_timeout_ms,
            } => ShardReply::Appended(
                self.local_append(topic_id, partition, &records, acks_all_timeout_ms)
                    .await,
            ),
            PartitionOp::Read {
                offset,
                max_bytes,
                replica,
            } => ShardReply::Read(
                self.local_read_for_mesh(topic_id, partition, offset, max_bytes, replica)
                    .await,
            ),
            PartitionOp::WaitForAppend {
                offset,
                timeout_ms,
                replica,
            } => {
                if let Ok(local) = self.local(&topic_id, partition) {
                    // Timing out is the normal end of a long-poll, not an error.
                    if glommio::timer::timeout(Duration::from_millis(timeout_ms), async {
                        wait_for_append(&local, offset, replica).await;
                        Ok(())
                    })
                    .await
                    .is_err()
                    {
                        tracing::trace!("long-poll wait timed out");
                    }
                }
                ShardReply::Waited
            }
            PartitionOp::ListOffset {
                timestamp,
                read_committed,
            } => ShardReply::ListedOffset(
                self.list_offset(topic_id, partition, timestamp, read_committed)
                    .await,
            ),
            PartitionOp::ReadCommitted { offset, max_bytes } => ShardReply::ReadCommitted(
                self.local_read_committed_for_mesh(topic_id, partition, offset, max_bytes)
                    .await,
            ),
            PartitionOp::WaitForStable { offset, timeout_ms } => {
                if let Ok(local) = self.local(&topic_id, partition) {
                    if glommio::timer::timeout(Duration::from_millis(timeout_ms), async {
                        local.wait_for_stable(offset).await;
                        Ok(())
                    })
                    .await
                    .is_err()
                    {
                        tracing::trace!("read_committed long-poll wait timed out");
                    }
                }
                ShardReply::Waited
            }
            PartitionOp::WriteTxnMarker {
                producer_id,
                producer_epoch,
                coordinator_epoch,
                result,
                timeout_ms,
            } => {
                let marker = MarkerWrite {
                    producer_id,
                    producer_epoch,
                    coordinator_epoch,
                    result,
                    timeout_ms,
                };
                ShardReply::Appended(self.write_txn_marker(topic_id, partition, marker).await)
            }
            PartitionOp::DeleteRecords { offset } => {
                ShardReply::DeletedRecords(self.delete_records(topic_id, partition, offset).await)
            }
            PartitionOp::Offsets => ShardReply::Offsets(self.offsets(topic_id, partition).await),
            PartitionOp::EndOffsetForEpoch { leader_epoch } => ShardReply::EpochEndOffset(
                self.end_offset_for_epoch(topic_id, partition, leader_epoch)
                    .await,
            ),
            PartitionOp::Size => ShardReply::Size(self.size(topic_id, partition).await),
            PartitionOp::DescribeProducers => {
                ShardReply::Producers(self.describe_producers(topic_id, partition).await)
            }
            PartitionOp::MoveToLogDir { log_dir } => {
                ShardReply::MovedToLogDir(self.move_to_log_dir(topic_id, partition, log_dir).await)
            }
        }
    }

    /// Makes `image` true for the partitions this shard owns: the replicas
    /// this broker has of them (a partition with no replica state is a
    /// single-node one, held here), each with its role and its topic's
    /// config; the partition table opens, updates and removes to match.
    pub async fn apply_image(&self, image: Arc<MetadataImage>) {
        let mut wanted: HashMap<PartitionKey, ReplicaSpec> = HashMap::new();
        let local = image.local_broker_id();
        for topic in image.topics() {
            let internal = crate::offsets_topic::is_internal(&topic.name);
            for partition in 0..topic.partitions {
                let hosted = topic
                    .partition(partition)
                    .is_none_or(|state| state.replicas.contains(&local));
                if !hosted || self.owner(&topic.topic_id, partition) != self.shard {
                    continue;
                }
                let spec = ReplicaSpec {
                    topic: topic.name.clone(),
                    log_config: self.config.log_config(&topic.configs),
                    tuning: if internal {
                        crate::offsets_topic::OFFSETS_LOG_TUNING
                    } else {
                        LogTuning::default()
                    },
                    role: replica_role(&image, topic, partition),
                    replicas: if FOLLOWER_FETCHERS {
                        replica_assignment(&image, topic, partition)
                    } else {
                        ReplicaAssignment::single(local)
                    },
                    min_insync_replicas: min_insync_replicas(&self.config, topic),
                };
                wanted.insert((topic.topic_id, partition), spec);
            }
        }
        self.partitions.reconcile(wanted, now_ms()).await;
        *self.image.borrow_mut() = image;
    }

    /// Runs retention on every partition this shard owns.
    pub async fn enforce_retention(&self) {
        self.partitions.enforce_retention(now_ms()).await;
    }

    /// Runs one compaction pass on every partition this shard owns whose
    /// `cleanup.policy` includes `compact` and that has one due. Returns
    /// whether any pass ran.
    pub async fn compact_logs(&self) -> bool {
        self.partitions.compact(now_ms()).await
    }

    /// Writes the high watermark checkpoint, then flushes and closes every
    /// log (writing their clean-shutdown markers).
    pub async fn close_logs(&self) {
        self.checkpoint_high_watermarks().await;
        self.partitions.close_all().await;
    }

    /// Writes this shard's high-watermark checkpoint
    /// (`replication-offset-checkpoint.<shard>` in the data dir). A failure
    /// is logged: the partitions then restart from an older mark.
    pub async fn checkpoint_high_watermarks(&self) {
        let file_name = skein_replication::checkpoint_file_name(self.shard.0);
        if let Err(error) = self.partitions.checkpoint_high_watermarks(&file_name).await {
            tracing::warn!(%error, "could not write the high-watermark checkpoint");
        }
    }

    /// Removes directories under the data dir that belong to no topic of the
    /// image (left by a deletion that a crash interrupted). Run by one shard.
    pub fn remove_orphan_dirs(&self, image: &MetadataImage) {
        self.partitions.remove_orphan_dirs(|topic, partition| {
            image.topic(topic).is_some_and(|t| partition < t.partitions)
        });
    }
}

/// Writes a transaction marker on `replica` (this shard owns it); on a
/// leader with followers, acks=all as in [`ShardState::write_txn_marker`].
async fn local_write_txn_marker(
    replica: Rc<Partition>,
    marker: MarkerWrite,
) -> Result<AppendInfo, PartitionError> {
    let write = || {
        replica.write_txn_marker(
            marker.producer_id,
            marker.producer_epoch,
            marker.coordinator_epoch,
            marker.result,
            now_ms(),
        )
    };
    if !replica.leads_followers() {
        return Ok(write().await?);
    }
    replica.check_enough_replicas()?;
    let info = write().await?;
    wait_for_replication(&replica, info, marker.timeout_ms).await
}

/// acks=all for what a leader with followers just appended (`info`): the
/// answer once the high watermark passes it, `ReplicationTimedOut` after
/// `timeout_ms`, or the replication error that ended the wait.
async fn wait_for_replication(
    replica: &Partition,
    info: AppendInfo,
    timeout_ms: u64,
) -> Result<AppendInfo, PartitionError> {
    let waited = glommio::timer::timeout(Duration::from_millis(timeout_ms), async {
        Ok(replica.wait_for_high_watermark(info.last_offset).await)
    })
    .await;
    match waited {
        Ok(Ok(())) => Ok(info),
        Ok(Err(error)) => Err(error.into()),
        Err(_) => Err(PartitionError::ReplicationTimedOut),
    }
}

/// Whether `error` is an IO failure of the partition's storage (not a
/// refused request): Kafka takes the log directory offline for those.
fn is_storage_failure(error: &PartitionError) -> bool {
    let log = |error: &LogError| matches!(error, LogError::Io { .. } | LogError::Poisoned);
    match error {
        PartitionError::Append(AppendError::Storage(error))
        | PartitionError::Read(ReadError::Storage(error))
        | PartitionError::Log(error) => log(error),
        PartitionError::Append(AppendError::Poisoned) => true,
        _ => false,
    }
}

/// Writes the shard's high-watermark checkpoint every
/// `replica.high.watermark.checkpoint.interval.ms` until the shard stops
/// (the last one is written by [`ShardState::close_logs`]).
pub async fn checkpoint_high_watermarks_periodically(ctx: Rc<ShardState>) {
    while !ctx.is_stopping() {
        let interval = ctx.config.replica_high_watermark_checkpoint_interval_ms();
        glommio::timer::sleep(Duration::from_millis(interval)).await;
        if ctx.is_stopping() {
            break;
        }
        ctx.checkpoint_high_watermarks().await;
    }
}

/// Reads `partition` for a consumer (up to the high watermark) or for
/// follower `replica` (up to the log end, recording its fetch).
async fn local_read(
    partition: &Partition,
    offset: i64,
    max_bytes: usize,
    replica: Option<FollowerRead>,
    chunks: &mut Vec<LogChunk>,
) -> Result<ReadInfo, skein_replication::PartitionError> {
    match replica {
        Some(follower) => {
            partition
                .read_for_follower(
                    skein_replication::FetchingReplica {
                        broker: follower.broker,
                        broker_epoch: follower.broker_epoch,
                    },
                    offset,
                    follower.last_fetched_epoch,
                    max_bytes,
                    chunks,
                    now_ms(),
                )
                .await
        }
        None => partition.read(offset, max_bytes, chunks).await,
    }
}

/// A long-poll's wait on a local partition: for the high watermark, or for
/// a follower's fetch the log end.
async fn wait_for_append(partition: &Partition, offset: i64, replica: bool) {
    if replica {
        partition.wait_for_log_end(offset).await;
    } else {
        partition.wait_for_append(offset).await;
    }
}

/// The error for a reply that is not the operation's: `OwnerUnavailable`
/// for the owner's "unavailable" (it is shutting down), else our bug.
fn unexpected(reply: ShardReply) -> PartitionError {
    match reply {
        ShardReply::Unavailable => PartitionError::OwnerUnavailable,
        _ => {
            tracing::error!("a partition operation got the reply of another operation");
            PartitionError::UnexpectedReply
        }
    }
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

/// How far `follower` is behind a leader whose log ends at
/// `log_end_offset`, at `now_ms`.
fn follower_lag(
    follower: &skein_replication::FollowerState,
    log_end_offset: i64,
    now_ms: i64,
) -> crate::metrics::FollowerLag {
    let records = log_end_offset - follower.log_end_offset.max(0);
    // A follower that never caught up in this leader epoch has lagged
    // since the leader started tracking it (not since 1970).
    let ms = if follower.log_end_offset >= log_end_offset {
        0
    } else {
        now_ms - follower.last_caught_up_ms.max(follower.tracked_since_ms)
    };
    crate::metrics::FollowerLag {
        broker: follower.broker,
        records: u64::try_from(records).unwrap_or(0),
        ms: u64::try_from(ms).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follower(log_end_offset: i64, last_caught_up_ms: i64) -> skein_replication::FollowerState {
        skein_replication::FollowerState {
            broker: 2,
            log_end_offset,
            last_fetch_ms: 0,
            last_fetch_leader_log_end_offset: -1,
            last_caught_up_ms,
            tracked_since_ms: 10_000,
            broker_epoch: None,
        }
    }

    #[test]
    fn a_follower_that_never_caught_up_lags_since_the_leader_tracked_it() {
        let lag = follower_lag(&follower(-1, 0), 50, 12_500);
        assert_eq!((lag.records, lag.ms), (50, 2_500));
        let lag = follower_lag(&follower(40, 11_000), 50, 12_500);
        assert_eq!((lag.records, lag.ms), (10, 1_500));
        let lag = follower_lag(&follower(50, 0), 50, 12_500);
        assert_eq!((lag.records, lag.ms), (0, 0));
    }
}
