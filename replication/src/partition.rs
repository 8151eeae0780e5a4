//! `Partition`: one replica of a partition on its owner shard — its log,
//! its role (leader at a leader epoch, or follower), its idempotent
//! producers and its leader-epoch cache — with one typed method per
//! operation the protocol layer asks of it.
//!
//! Invariants: the leader stamps every batch it appends with its current
//! leader epoch (the v2 header's `partitionLeaderEpoch`, outside the CRC);
//! the leader-epoch cache holds, for every epoch that appended, the offset
//! of its first batch, and its checkpoint file is rewritten (durably) when
//! an epoch's first append completes. A follower refuses produces and
//! consumer reads with [`PartitionError::NotLeader`]. A leader with
//! followers keeps a [`ReplicaSet`]: its high watermark is the minimum log
//! end offset over the ISR (never backwards in a leader epoch), consumers
//! read up to it, and acks=all produces wait for it; a leader alone has
//! the log's durable end offset as high watermark.
//!
//! Hot paths: `append` and `read` take no lock and allocate nothing beyond
//! what the log does (a partition with one replica checks one flag to find
//! its high watermark); the checkpoint is written once per new epoch.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use skein_engine::{AppendInfo, CompactionReport, LogChunk, LogConfig, LogTuning, PartitionLog};

use crate::error::{FollowerAppendError, PartitionError, ReplicationError};
use crate::leader_epoch_cache::{EpochEntry, LeaderEpochCache};
use crate::leader_epoch_checkpoint as checkpoint;
use crate::producer_state::{batch_headers, ProducerStates};
use crate::replica_set::{FetchingReplica, ReplicaAssignment, ReplicaSet};
use crate::role::{BrokerId, Role};
use crate::truncation::{offset_truncation, OffsetTruncation};
use crate::watermark_signal::WatermarkSignal;

/// ListOffsets' special timestamps.
const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
const LATEST_TIERED_TIMESTAMP: i64 = -5;

mod producers;
mod transactions;

pub use producers::ProducerDescription;
pub use transactions::txn_result;

/// Bytes read at a time while rebuilding the leader-epoch cache (or the
/// producer state) from the log.
const EPOCH_SCAN_READ_BYTES: usize = 1 << 20;

/// A partition's offsets at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// First offset held.
    pub log_start_offset: i64,
    /// What consumers may read up to (exclusive).
    pub high_watermark: i64,
    /// What read_committed consumers may read up to (exclusive).
    pub last_stable_offset: i64,
    /// Next offset to assign.
    pub log_end_offset: i64,
}

/// What a read returned, and the partition's offsets at the read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadInfo {
    /// Bytes appended to the caller's chunks.
    pub bytes: usize,
    /// The log start offset at the read.
    pub log_start_offset: i64,
    /// The high watermark at the read (a read_uncommitted read stops
    /// before it).
    pub high_watermark: i64,
    /// The last stable offset at the read (a read_committed read stops
    /// before it).
    pub last_stable_offset: i64,
    /// The log end offset at the read.
    pub log_end_offset: i64,
    /// For a follower's read: where its last fetched epoch ends on this
    /// leader's log, when the follower's position is not on it (Fetch
    /// v12+'s diverging epoch; nothing was read). `None` otherwise.
    pub diverging_epoch: Option<EpochEndOffset>,
}

/// ListOffsets' answer for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset found, -1 for none.
    pub offset: i64,
    /// Its record's timestamp, -1 when the lookup was not by timestamp.
    pub timestamp: i64,
    /// The leader epoch that appended `offset` (the current epoch for the
    /// latest offset), -1 when unknown.
    pub leader_epoch: i32,
}

/// OffsetForLeaderEpoch's answer for one partition: where `leader_epoch`
/// ends, both -1 when it is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    /// The newest epoch at or below the requested one that this log holds.
    pub leader_epoch: i32,
    /// The first offset after that epoch.
    pub end_offset: i64,
}

/// One replica of a partition. Lives on: the partition's owner shard.
#[derive(Debug)]
pub struct Partition {
    log: PartitionLog,
    role: Cell<Role>,
    /// The idempotent producers, following the log batch by batch.
    producers: RefCell<ProducerStates>,
    /// Their snapshots beside the segments.
    producer_snapshots: Rc<producers::SnapshotFiles>,
    /// The aborted transactions, by marker offset.
    aborted: RefCell<crate::txn_index::AbortedTxns>,
    /// Their index files beside the segments.
    txn_index: Rc<transactions::TxnIndexFiles>,
    epochs: RefCell<LeaderEpochCache>,
    /// One checkpoint write at a time: each writes the cache as it is then,
    /// so the last one to finish holds every epoch.
    checkpoint_writes: glommio::sync::Semaphore,
    /// The replicas and ISR the metadata image records.
    assignment: RefCell<ReplicaAssignment>,
    /// The topic's `min.insync.replicas` (>= 1).
    min_insync_replicas: Cell<i32>,
    /// The leader's view of its followers: `Some` exactly while this
    /// replica leads and other brokers hold replicas.
    replica_set: RefCell<Option<ReplicaSet>>,
    /// `replica_set.is_some()`, readable without a borrow: the fast path
    /// of a partition with one replica.
    replicated: Cell<bool>,
    /// The high watermark this replica knew when it last stopped leading
    /// with followers (or that a follower learned from its leader): where a
    /// new leader's high watermark starts.
    known_high_watermark: Cell<i64>,
    /// From open until the first assignment is applied: a reopened log's
    /// high watermark is the one the high-watermark checkpoint restored
    /// ([`Partition::restore_high_watermark`]), else the log start, so a
    /// leader with followers never exposes a tail its followers may not
    /// have.
    reopened: Cell<bool>,
    /// Bumped when the high watermark of a leader with followers, or the
    /// role, may have changed.
    watermark_signal: WatermarkSignal,
    /// A new leader recorded its epoch at its log end (Kafka's
    /// `makeLeader`) without writing the checkpoint yet: the next append
    /// writes it.
    epochs_unpersisted: Cell<bool>,
}

impl Partition {
    /// Opens (recovering) the log in `dir` and restores its leader epochs:
    /// from the checkpoint when it agrees with the log, else rebuilt from
    /// the batches' headers (from the newest trusted epoch on, or from the
    /// log start when the checkpoint is missing or corrupt).
    ///
    /// # Errors
    /// What opening or reading the log failed with.
    pub async fn open(
        dir: PathBuf,
        config: LogConfig,
        tuning: LogTuning,
        role: Role,
    ) -> Result<Partition, PartitionError> {
        let log = PartitionLog::open_with(dir, config, tuning).await?;
        let (epochs, changed) = restore_epochs(&log).await?;
        let (producer_states, producer_snapshots, replayed) = producers::restore(&log).await?;
        let (aborted, txn_index) = transactions::restore(&log, replayed).await?;
        let partition = Partition {
            log,
            role: Cell::new(role),
            producers: RefCell::new(producer_states),
            producer_snapshots,
            aborted: RefCell::new(aborted),
            txn_index,
            epochs: RefCell::new(epochs),
            checkpoint_writes: glommio::sync::Semaphore::new(1),
            assignment: RefCell::new(ReplicaAssignment::default()),
            min_insync_replicas: Cell::new(1),
            replica_set: RefCell::new(None),
            replicated: Cell::new(false),
            known_high_watermark: Cell::new(0),
            reopened: Cell::new(true),
            watermark_signal: WatermarkSignal::default(),
            epochs_unpersisted: Cell::new(false),
        };
        partition
            .known_high_watermark
            .set(partition.log.log_start_offset());
        if changed {
            partition.persist_epochs().await;
        }
        // Kafka's `makeLeader`, for a replica that opens as leader: its
        // epoch starts at the log end (checkpointed with its first append).
        if let Role::Leader { leader_epoch } = role {
            let log_end_offset = partition.log.log_end_offset();
            if partition
                .epochs
                .borrow_mut()
                .assign(leader_epoch, log_end_offset)
            {
                partition.epochs_unpersisted.set(true);
            }
        }
        partition.reconcile_txn_index().await;
        Ok(partition)
    }

    /// This replica's role.
    pub fn role(&self) -> Role {
        self.role.get()
    }

    /// Takes the role the metadata image gives this replica. The leader
    /// epoch never goes backwards. A leader with followers starts tracking
    /// them (at a new leader epoch, from scratch: Kafka's `makeLeader`);
    /// waits for the high watermark wake up to re-check.
    pub fn set_role(&self, role: Role) {
        let current = self.role.get();
        if role.leader_epoch() < current.leader_epoch() {
            tracing::warn!(
                dir = %self.log.dir().display(),
                current = current.leader_epoch(),
                offered = role.leader_epoch(),
                "ignoring an older leader epoch"
            );
            return;
        }
        let seed = self.seed_high_watermark();
        self.role.set(role);
        if let Role::Leader { leader_epoch } = role {
            // Kafka's `makeLeader`: the new epoch starts at the log end, so
            // that OffsetForLeaderEpoch for an older epoch ends here even
            // before this leader appends.
            let log_end_offset = self.log.log_end_offset();
            if self
                .epochs
                .borrow_mut()
                .assign(leader_epoch, log_end_offset)
            {
                self.epochs_unpersisted.set(true);
            }
        }
        self.refresh_replica_set(seed, wall_clock_ms());
    }

    /// Restores the high watermark a checkpoint recorded for this replica
    /// (`replication-offset-checkpoint`), bounded by the log: where a
    /// reopened leader's high watermark starts and what a reopened follower
    /// knows. Ignored once the replica has served an assignment.
    pub fn restore_high_watermark(&self, high_watermark: i64) {
        if !self.reopened.get() {
            return;
        }
        let restored = high_watermark
            .min(self.log.log_end_offset())
            .max(self.log.log_start_offset());
        self.known_high_watermark.set(restored);
    }

    /// The high watermark to checkpoint: the leader's, or the one a
    /// follower last learned from its leader.
    pub fn checkpoint_high_watermark(&self) -> i64 {
        if self.role.get().is_leader() {
            self.high_watermark()
        } else {
            self.known_high_watermark
                .get()
                .min(self.log.log_end_offset())
                .max(self.log.log_start_offset())
        }
    }

    /// Takes the replicas and ISR the metadata image records (an
    /// AlterPartition committed, a reassignment, or a new leader's set).
    pub fn set_replicas(&self, assignment: ReplicaAssignment, now_ms: i64) {
        {
            let current = self.assignment.borrow();
            // Partition epochs only grow: an image older than an
            // AlterPartition answer already applied changes nothing.
            if *current == assignment || assignment.partition_epoch < current.partition_epoch {
                return;
            }
        }
        let seed = self.seed_high_watermark();
        *self.assignment.borrow_mut() = assignment;
        self.refresh_replica_set(seed, now_ms);
    }

    /// Whether this replica leads followers (so acks=all waits for them):
    /// one flag, no borrow.
    pub fn leads_followers(&self) -> bool {
        self.replicated.get()
    }

    /// The replicas and ISR as the metadata image last recorded them.
    pub fn replicas(&self) -> ReplicaAssignment {
        self.assignment.borrow().clone()
    }

    /// Sets the topic's `min.insync.replicas` (a value below 1 counts as 1).
    pub fn set_min_insync_replicas(&self, min_insync_replicas: i32) {
        self.min_insync_replicas.set(min_insync_replicas.max(1));
    }

    /// The topic's `min.insync.replicas`.
    pub fn min_insync_replicas(&self) -> i32 {
        self.min_insync_replicas.get()
    }

    /// Records the high watermark a follower learned from its leader's
    /// fetch response (Kafka's follower keeps `min(leader's high
    /// watermark, own log end offset)`): where its high watermark starts if
    /// it becomes leader. Ignored while leading.
    pub fn learn_high_watermark(&self, leader_high_watermark: i64) {
        if self.role.get().is_leader() {
            return;
        }
        let known = leader_high_watermark
            .min(self.log.log_end_offset())
            .max(self.log.log_start_offset());
        self.known_high_watermark.set(known);
    }

    /// Where a new leader's high watermark starts: the log start for a
    /// just-reopened log, the current one while leading (a partition
    /// gaining followers keeps its mark), else the one this replica last
    /// knew.
    fn seed_high_watermark(&self) -> i64 {
        if self.reopened.replace(false) {
            return self.known_high_watermark.get();
        }
        if self.role.get().is_leader() {
            self.high_watermark()
        } else {
            self.known_high_watermark.get()
        }
    }

    /// Makes `replica_set` match the role and the assignment: kept (with
    /// the new ISR) within a leader epoch, started afresh at a new one,
    /// dropped when this replica stops leading or has no followers.
    fn refresh_replica_set(&self, seed_high_watermark: i64, now_ms: i64) {
        let assignment = self.assignment.borrow();
        let mut slot = self.replica_set.borrow_mut();
        match self.role.get() {
            Role::Leader { leader_epoch } if assignment.has_followers() => match slot.as_mut() {
                Some(set) if set.leader_epoch() == leader_epoch => set.apply(&assignment, now_ms),
                _ => {
                    let log_end_offset = self.log.log_end_offset();
                    let high_watermark = seed_high_watermark
                        .min(log_end_offset)
                        .max(self.log.log_start_offset());
                    *slot = Some(ReplicaSet::new(
                        &assignment,
                        leader_epoch,
                        log_end_offset,
                        high_watermark,
                        now_ms,
                    ));
                }
            },
            _ => {
                // Leading alone or following: the mark known before the
                // change is where a later leadership starts.
                *slot = None;
                self.known_high_watermark.set(seed_high_watermark);
            }
        }
        self.replicated.set(slot.is_some());
        drop(slot);
        drop(assignment);
        self.watermark_signal.notify();
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        self.log.dir()
    }

    /// The log's config.
    pub fn config(&self) -> LogConfig {
        self.log.config()
    }

    /// Applies a changed topic config.
    pub fn set_config(&self, config: LogConfig) {
        self.log.set_config(config);
    }

    /// The leader epoch of this replica as leader, or `NotLeader`.
    fn leader_epoch(&self) -> Result<i32, PartitionError> {
        match self.role.get() {
            Role::Leader { leader_epoch } => Ok(leader_epoch),
            Role::Follower {
                leader,
                leader_epoch,
            } => Err(PartitionError::NotLeader {
                leader,
                leader_epoch,
            }),
        }
    }

    /// Appends one Produce partition's batches as leader: idempotent
    /// producers' sequences are checked first (a retry of a batch already
    /// appended is answered with its first outcome), the batches are stamped
    /// with the current leader epoch, and the answer comes once the flush
    /// policy's promise holds.
    ///
    /// # Errors
    /// `NotLeader` on a follower; `Producer` for a fenced or out-of-order
    /// idempotent batch; `Append` for what the log refused.
    ///
    /// # Cancel safety
    /// As the log's append: the batches may or may not have been appended.
    pub async fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, PartitionError> {
        let leader_epoch = self.leader_epoch()?;
        let log_end_before = self.log.log_end_offset();
        let info = self
            .append_checked(records, leader_epoch, now_ms, producers::Origin::Client)
            .await?;
        assert!(info.base_offset <= info.last_offset);
        // A retried idempotent batch is answered with its first append's
        // offsets, written in an earlier epoch perhaps: only a new append
        // (at or past the log end it found) starts this epoch. Assigning a
        // duplicate's offset would move this epoch's start back over another
        // epoch's batches, and followers would truncate them again and again.
        if info.base_offset >= log_end_before {
            self.assign_epoch(leader_epoch, info.base_offset).await;
        } else if self.epochs_unpersisted.get() {
            self.persist_epochs().await;
        }
        Ok(info)
    }

    /// Records that `leader_epoch` appended at `base_offset` (checkpointed
    /// when it is the epoch's first append, or when an epoch recorded at
    /// the log end is not yet durable).
    async fn assign_epoch(&self, leader_epoch: i32, base_offset: i64) {
        let new_epoch = self.epochs.borrow_mut().assign(leader_epoch, base_offset);
        if new_epoch || self.epochs_unpersisted.get() {
            self.persist_epochs().await;
        }
    }

    /// Reads whole batches from `offset` up to the high watermark, at most
    /// about `max_bytes` (the first batch whole), into `chunks` (zero-copy).
    ///
    /// # Errors
    /// `NotLeader` on a follower; `Read` for an offset out of range or a
    /// failed read.
    ///
    /// # Cancel safety
    /// Cancel-safe: nothing is added to `chunks` until the read completes.
    pub async fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        chunks: &mut Vec<LogChunk>,
    ) -> Result<ReadInfo, PartitionError> {
        self.leader_epoch()?;
        let bound = self.high_watermark();
        let last_stable_offset = self.last_stable_offset();
        let read = self.log.read(offset, max_bytes, bound, chunks).await?;
        Ok(ReadInfo {
            bytes: read.bytes,
            log_start_offset: read.log_start_offset,
            high_watermark: read.durable_end_offset.min(bound),
            last_stable_offset,
            log_end_offset: read.log_end_offset,
            diverging_epoch: None,
        })
    }

    /// Reads whole batches from `offset` up to the log end (not the high
    /// watermark; past the durable end only from the tail cache) for follower
    /// `broker`, after recording its fetch at `offset` (its log end offset):
    /// Kafka's follower read. The answer's high watermark is this leader's,
    /// as the fetch moved it. A follower that names its `last_fetched_epoch`
    /// (Fetch v12+; -1: none) whose position is not on this log gets the
    /// diverging epoch instead, nothing read and its fetch not recorded (its
    /// offset is not a position on this log). The follower's broker epoch
    /// (Fetch v15+; -1: none) is kept for the ISR rules of KIP-903.
    ///
    /// # Errors
    /// `NotLeader` on a follower; `Replication(NotAReplica)` for a broker
    /// that holds no replica; `Replication(FetchOffsetBeyondLogEnd)` for an
    /// offset past the log end; `Read` for a failed read.
    ///
    /// # Cancel safety
    /// Cancel-safe: the fetch is recorded before the read, as in Kafka.
    pub async fn read_for_follower(
        &self,
        follower: FetchingReplica,
        offset: i64,
        last_fetched_epoch: i32,
        max_bytes: usize,
        chunks: &mut Vec<LogChunk>,
        now_ms: i64,
    ) -> Result<ReadInfo, PartitionError> {
        self.leader_epoch()?;
        let log_end_offset = self.log.log_end_offset();
        let diverging = crate::truncation::diverging_epoch(
            &self.epochs.borrow(),
            log_end_offset,
            offset,
            last_fetched_epoch,
        );
        if let Some(diverging) = diverging {
            return Ok(ReadInfo {
                bytes: 0,
                log_start_offset: self.log.log_start_offset(),
                high_watermark: self.high_watermark(),
                last_stable_offset: self.last_stable_offset(),
                log_end_offset,
                diverging_epoch: Some(diverging),
            });
        }
        let FetchingReplica {
            broker,
            broker_epoch,
        } = follower;
        self.record_follower_fetch(broker, offset, log_end_offset, now_ms)?;
        if let Some(set) = self.replica_set.borrow_mut().as_mut() {
            set.record_broker_epoch(broker, broker_epoch);
        }
        let read = self.log.read_for_replica(offset, max_bytes, chunks).await?;
        Ok(ReadInfo {
            bytes: read.bytes,
            log_start_offset: read.log_start_offset,
            high_watermark: self.high_watermark(),
            last_stable_offset: self.last_stable_offset(),
            log_end_offset: read.log_end_offset,
            diverging_epoch: None,
        })
    }

    /// Resolves once a follower's read from `offset` would return batches
    /// (the durable end passes it, or an appended batch the tail cache
    /// holds; or the log is closed or poisoned): the long-poll of a
    /// follower's fetch, which reads up to the log end rather than the high
    /// watermark.
    ///
    /// # Cancel safety
    /// Cancel-safe.
    pub async fn wait_for_log_end(&self, offset: i64) {
        self.log.wait_for_replica_read(offset).await;
    }

    /// The offset a follower fetches from next: its log end as its flush
    /// policy has made it durable (under `flush.policy=batch`, fsynced), so
    /// that the leader counts only what this replica would keep.
    pub fn follower_fetch_offset(&self) -> i64 {
        self.log.durable_end_offset()
    }

    /// Appends batches fetched from the leader as they are (offsets, leader
    /// epochs and CRCs already set; validated before they touch the log),
    /// and records each new leader epoch they carry in the leader-epoch
    /// cache (checkpointed).
    ///
    /// # Errors
    /// `NotFollower` while this replica leads; `OffsetMismatch` when the
    /// log no longer ends at `fetched_from` (the offset the batches were
    /// fetched from; the first may start past it, after batches compacted
    /// away on the leader) or the batches overlap; `Append` for corrupt
    /// batches or a failed disk.
    ///
    /// # Cancel safety
    /// As the log's append: the batches may or may not have been appended.
    pub async fn append_as_follower(
        &self,
        records: &[u8],
        fetched_from: i64,
        now_ms: i64,
    ) -> Result<AppendInfo, FollowerAppendError> {
        if self.role.get().is_leader() {
            return Err(FollowerAppendError::NotFollower);
        }
        let info = self
            .append_replicated_checked(records, fetched_from, now_ms)
            .await?;
        assert!(info.base_offset <= info.last_offset);
        let mut new_epoch = false;
        {
            let mut epochs = self.epochs.borrow_mut();
            for header in batch_headers(records) {
                let leader_epoch = header.partition_leader_epoch.get();
                if leader_epoch >= 0 {
                    new_epoch |= epochs.assign(leader_epoch, header.base_offset.get().max(0));
                }
            }
        }
        if new_epoch {
            self.persist_epochs().await;
        }
        Ok(info)
    }

    /// The newest leader epoch this log holds (what a follower asks
    /// OffsetForLeaderEpoch about and sends as its last fetched epoch),
    /// `None` for a log without epochs.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs
            .borrow()
            .latest()
            .map(|entry| entry.leader_epoch)
    }

    /// For a follower without leader epochs (Kafka's
    /// `truncateToHighWatermark`): cuts its log back to the high watermark
    /// it last knew before fetching from a new leader. Returns the log end
    /// offset after the cut.
    ///
    /// # Errors
    /// `Log` when the truncation failed (the log is then poisoned).
    pub async fn truncate_to_high_watermark(&self) -> Result<i64, PartitionError> {
        let target = self
            .known_high_watermark
            .get()
            .max(self.log.log_start_offset());
        self.truncate_to(target).await
    }

    /// Cuts a follower's divergent tail given its leader's answer about an
    /// epoch (OffsetForLeaderEpoch, or a fetch's diverging epoch), by
    /// Kafka's rules ([`offset_truncation`]; an undefined answer keeps the
    /// log). Returns the cut; `completed == false` means: ask again with the
    /// new latest epoch.
    ///
    /// # Errors
    /// `Log` when the truncation failed (the log is then poisoned).
    pub async fn truncate_to_leader_epoch(
        &self,
        leader: EpochEndOffset,
    ) -> Result<OffsetTruncation, PartitionError> {
        let log_end_offset = self.log.log_end_offset();
        let truncation = offset_truncation(
            &self.epochs.borrow(),
            log_end_offset,
            log_end_offset,
            leader,
        );
        let offset = truncation.offset.max(self.log.log_start_offset());
        self.truncate_to(offset).await?;
        Ok(truncation)
    }

    /// Truncates the log to `offset` (Kafka's `Log.truncateTo`): the
    /// batches at or after it go, and with them the leader epochs that
    /// start at or after the new end (checkpointed), the idempotent
    /// producers' state derived from them, and a known high watermark above
    /// it. Returns the log end offset after the cut (a cut inside a batch
    /// drops that whole batch). An offset at or past the log end changes
    /// nothing.
    ///
    /// # Errors
    /// `Log` for an offset below the log start or a failed truncation (the
    /// log is then poisoned).
    pub async fn truncate_to(&self, offset: i64) -> Result<i64, PartitionError> {
        let before = self.log.log_end_offset();
        if offset >= before {
            return Ok(before);
        }
        tracing::info!(
            dir = %self.log.dir().display(),
            from = before,
            to = offset,
            "truncating a follower's divergent tail"
        );
        self.log.truncate_to(offset).await?;
        let end = self.log.log_end_offset();
        assert!(end <= offset, "the log ends at or before the cut");
        self.after_truncation(end).await;
        // After the cut, at the end it made (a cut inside a batch drops the
        // whole batch): the producers' state is rebuilt from what remains.
        self.truncate_producer_state_to(end).await?;
        Ok(end)
    }

    /// Empties the log and starts it at `offset` (Kafka's
    /// `truncateFullyAndStartAt`): a follower whose log ends below its
    /// leader's log start.
    ///
    /// # Errors
    /// `Log` when the truncation failed (the log is then poisoned).
    pub async fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), PartitionError> {
        tracing::info!(
            dir = %self.log.dir().display(),
            from = self.log.log_end_offset(),
            start = offset,
            "emptying a follower's log to start at its leader's log start"
        );
        self.log.truncate_fully_and_start_at(offset).await?;
        assert_eq!(self.log.log_end_offset(), offset);
        self.epochs_start_at(offset).await;
        self.after_truncation(offset).await;
        // Nothing remains: no producer state (Kafka's
        // `truncateFullyAndStartAt` clears it and its snapshots).
        self.truncate_producer_state_to(0).await?;
        Ok(())
    }

    /// What follows a cut of the log to end at `end`: the epochs beyond it
    /// go (checkpointed), and a known high watermark above it.
    async fn after_truncation(&self, end: i64) {
        let changed = self.epochs.borrow_mut().truncate_from_end(end);
        if changed || self.epochs_unpersisted.get() {
            self.persist_epochs().await;
        }
        self.known_high_watermark
            .set(self.known_high_watermark.get().min(end));
    }

    /// Resolves once the high watermark passes `offset`, or this replica
    /// stops leading (with followers), or the log is closed or poisoned:
    /// the long-poll of a consumer fetch, which then reads again.
    ///
    /// # Cancel safety
    /// Cancel-safe.
    pub async fn wait_for_append(&self, offset: i64) {
        if !self.replicated.get() {
            self.log.wait_for_append(offset).await;
            return;
        }
        if let Err(error) = self.wait_past(offset).await {
            tracing::trace!(%error, "a long-poll ends without the high watermark");
        }
    }

    /// `min.insync.replicas` for an acks=all produce, checked before the
    /// append (Kafka's `appendRecordsToLeader`).
    ///
    /// # Errors
    /// `NotLeader` on a follower; `NotEnoughReplicas` when the ISR is
    /// smaller than the topic's `min.insync.replicas`.
    pub fn check_enough_replicas(&self) -> Result<(), ReplicationError> {
        self.replication_leader()?;
        let min_insync_replicas = self.min_insync_replicas.get();
        if !self.replicated.get() {
            // The leader alone is the ISR.
            return if min_insync_replicas > 1 {
                Err(ReplicationError::NotEnoughReplicas {
                    isr_size: 1,
                    min_insync_replicas,
                })
            } else {
                Ok(())
            };
        }
        match self.replica_set.borrow().as_ref() {
            Some(set) => set.check_enough_replicas(min_insync_replicas),
            None => Ok(()),
        }
    }

    /// An acks=all produce's wait (Kafka's delayed produce): resolves once
    /// the high watermark passes `last_offset` (the produce's last offset),
    /// woken by follower fetches that move it and by the leader's own
    /// flushes. With one replica the append's own durability is enough.
    ///
    /// # Errors
    /// `NotLeader` when this replica is or becomes a follower while
    /// waiting; `NotEnoughReplicasAfterAppend` when the ISR shrank below
    /// `min.insync.replicas` meanwhile; `LogUnavailable` when the log is
    /// poisoned.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future drops the wait (the records stay
    /// appended, as in Kafka when a delayed produce times out).
    pub async fn wait_for_high_watermark(&self, last_offset: i64) -> Result<(), ReplicationError> {
        self.wait_past(last_offset).await?;
        let min_insync_replicas = self.min_insync_replicas.get();
        match self.replica_set.borrow().as_ref() {
            Some(set) => set.check_enough_replicas_after_append(min_insync_replicas),
            None if min_insync_replicas > 1 => {
                Err(ReplicationError::NotEnoughReplicasAfterAppend {
                    isr_size: 1,
                    min_insync_replicas,
                })
            }
            None => Ok(()),
        }
    }

    /// Resolves once the high watermark passes `offset` while leading.
    async fn wait_past(&self, offset: i64) -> Result<(), ReplicationError> {
        loop {
            let generation = self.watermark_signal.generation();
            self.replication_leader()?;
            if self.high_watermark() > offset {
                return Ok(());
            }
            if self.log.is_poisoned() {
                return Err(ReplicationError::LogUnavailable);
            }
            if !self.replicated.get() {
                // One replica: the durable end offset is the high watermark;
                // a role or assignment change also ends this wait.
                futures_lite::future::or(
                    self.log.wait_for_append(offset),
                    self.watermark_signal.changed_since(generation),
                )
                .await;
                if self.watermark_signal.generation() == generation
                    && self.log.durable_end_offset() <= offset
                {
                    return Err(ReplicationError::LogUnavailable);
                }
                continue;
            }
            // The followers or the leader's own flush may be last: wake on
            // either. The log's wait resolves once the leader's durable end
            // offset passes `offset`; after that only fetches move the mark.
            if self.log.durable_end_offset() > offset {
                self.watermark_signal.changed_since(generation).await;
            } else {
                futures_lite::future::or(
                    self.log.wait_for_append(offset),
                    self.watermark_signal.changed_since(generation),
                )
                .await;
            }
        }
    }

    /// `Ok` while this replica leads, else `NotLeader`.
    fn replication_leader(&self) -> Result<(), ReplicationError> {
        match self.role.get() {
            Role::Leader { .. } => Ok(()),
            Role::Follower {
                leader,
                leader_epoch,
            } => Err(ReplicationError::NotLeader {
                leader,
                leader_epoch,
            }),
        }
    }

    /// Records a follower's fetch at `fetch_offset` (the next offset it
    /// needs: its log end offset under its flush policy), read when this
    /// leader's log end offset was `leader_log_end_offset`, at `now_ms`.
    /// Returns whether the high watermark moved (waiting acks=all produces
    /// and long-polls are woken when it did).
    ///
    /// # Errors
    /// `NotLeader` on a follower; `NotAReplica` for a broker that holds no
    /// replica (or a partition with one replica); `FetchOffsetBeyondLogEnd`
    /// for an offset past `leader_log_end_offset`.
    pub fn record_follower_fetch(
        &self,
        broker: BrokerId,
        fetch_offset: i64,
        leader_log_end_offset: i64,
        now_ms: i64,
    ) -> Result<bool, ReplicationError> {
        self.replication_leader()?;
        let durable_end_offset = self.log.durable_end_offset();
        let mut slot = self.replica_set.borrow_mut();
        let set = slot
            .as_mut()
            .ok_or(ReplicationError::NotAReplica { broker })?;
        let before = set.high_watermark(durable_end_offset);
        set.record_fetch(broker, fetch_offset, leader_log_end_offset, now_ms)?;
        let after = set.high_watermark(durable_end_offset);
        assert!(after >= before, "the high watermark never moves backwards");
        drop(slot);
        let moved = after > before;
        if moved {
            self.watermark_signal.notify();
        }
        Ok(moved)
    }

    /// The ISR without the followers that have not caught up for more than
    /// `replica_lag_time_max_ms`, to propose in an AlterPartition; `None`
    /// when nothing changes, a change is in flight, or this replica leads
    /// no followers.
    pub fn isr_to_shrink(
        &self,
        now_ms: i64,
        replica_lag_time_max_ms: i64,
    ) -> Option<Vec<BrokerId>> {
        let log_end_offset = self.log.log_end_offset();
        self.replica_set.borrow().as_ref()?.isr_to_shrink(
            log_end_offset,
            now_ms,
            replica_lag_time_max_ms,
        )
    }

    /// The ISR with the followers that have caught up (their log reaches
    /// the high watermark and this leader epoch's start), to propose in an
    /// AlterPartition; `None` when nothing changes, a change is in flight,
    /// or this replica leads no followers.
    pub fn isr_to_expand(&self) -> Option<Vec<BrokerId>> {
        let high_watermark = self.high_watermark();
        self.replica_set
            .borrow()
            .as_ref()?
            .isr_to_expand(high_watermark)
    }

    /// Marks `isr` as sent to the controller in an AlterPartition: no
    /// other change is proposed until an image commits it or
    /// [`Partition::abandon_proposed_isr`]; the high watermark waits for
    /// the members it adds. Ignored when this replica leads no followers.
    pub fn propose_isr(&self, isr: Vec<BrokerId>) {
        if let Some(set) = self.replica_set.borrow_mut().as_mut() {
            set.propose_isr(isr);
        }
    }

    /// Applies the ISR the controller committed in answer to this leader's
    /// AlterPartition (Kafka's `handleAlterPartitionUpdate`), before the
    /// image that records it arrives: ignored unless this replica still
    /// leads at `leader_epoch` and `partition_epoch` is newer than the one
    /// it has. Returns whether it applied.
    pub fn commit_isr(
        &self,
        isr: Vec<BrokerId>,
        leader_epoch: i32,
        partition_epoch: i32,
        now_ms: i64,
    ) -> bool {
        if self.role.get() != (Role::Leader { leader_epoch }) {
            return false;
        }
        let mut assignment = self.replicas();
        if partition_epoch <= assignment.partition_epoch {
            return false;
        }
        assignment.isr = isr;
        assignment.partition_epoch = partition_epoch;
        self.set_replicas(assignment, now_ms);
        true
    }

    /// Forgets the ISR change in flight (the controller refused it).
    pub fn abandon_proposed_isr(&self) {
        if let Some(set) = self.replica_set.borrow_mut().as_mut() {
            set.abandon_proposed_isr();
        }
        self.watermark_signal.notify();
    }

    /// A copy of the leader's view of its followers (for gauges and the
    /// ISR driver), `None` unless this replica leads followers.
    pub fn replica_set(&self) -> Option<ReplicaSet> {
        self.replica_set.borrow().clone()
    }

    /// The high watermark: what consumers may read up to (exclusive). A
    /// replica alone (or a follower, until it fetches) has the log's
    /// durable end offset — what the flush policy has made as durable as it
    /// promises. A leader with followers has the minimum log end offset
    /// over the ISR, counting its own durable end offset, never lower than
    /// before in its leader epoch.
    pub fn high_watermark(&self) -> i64 {
        let durable_end_offset = self.log.durable_end_offset();
        if !self.replicated.get() {
            return durable_end_offset;
        }
        match self.replica_set.borrow_mut().as_mut() {
            Some(set) => set.high_watermark(durable_end_offset),
            None => durable_end_offset,
        }
    }

    /// The partition's offsets now. Answered by any replica.
    pub fn offsets(&self) -> PartitionOffsets {
        PartitionOffsets {
            log_start_offset: self.log.log_start_offset(),
            high_watermark: self.high_watermark(),
            last_stable_offset: self.last_stable_offset(),
            log_end_offset: self.log.log_end_offset(),
        }
    }

    /// ListOffsets for `timestamp`: the latest offset (-1, the high
    /// watermark, at the current leader epoch), the earliest (-2, -4), the
    /// record with the largest timestamp (-3), nothing for tiered storage
    /// (-5), or the first offset whose record has a timestamp at or after
    /// `timestamp`. Each answer names the epoch that appended its offset.
    ///
    /// # Errors
    /// `NotLeader` on a follower; `Log` for a failed index read.
    pub async fn list_offset(&self, timestamp: i64) -> Result<ListedOffset, PartitionError> {
        self.list_offset_isolated(timestamp, false).await
    }

    /// [`Partition::list_offset`] for a consumer's isolation level: with
    /// `read_committed`, the latest offset is the last stable offset and a
    /// lookup by timestamp finds only offsets below it (Kafka's
    /// `lastFetchableOffset`); otherwise the high watermark bounds both.
    ///
    /// # Errors
    /// As [`Partition::list_offset`].
    pub async fn list_offset_isolated(
        &self,
        timestamp: i64,
        read_committed: bool,
    ) -> Result<ListedOffset, PartitionError> {
        let current_epoch = self.leader_epoch()?;
        let last_fetchable_offset = if read_committed {
            self.last_stable_offset()
        } else {
            self.high_watermark()
        };
        let (offset, found_timestamp) = match timestamp {
            LATEST_TIMESTAMP => {
                return Ok(ListedOffset {
                    offset: last_fetchable_offset,
                    timestamp: -1,
                    leader_epoch: current_epoch,
                })
            }
            EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => (self.log.log_start_offset(), -1),
            LATEST_TIERED_TIMESTAMP => (-1, -1),
            MAX_TIMESTAMP => self.log.max_timestamp().unwrap_or((-1, -1)),
            _ => self
                .log
                .offset_for_timestamp(timestamp)
                .await?
                .filter(|(offset, _)| !read_committed || *offset < last_fetchable_offset)
                .unwrap_or((-1, -1)),
        };
        let leader_epoch = if offset < 0 {
            -1
        } else {
            self.epochs.borrow().epoch_for_offset(offset).unwrap_or(-1)
        };
        Ok(ListedOffset {
            offset,
            timestamp: found_timestamp,
            leader_epoch,
        })
    }

    /// DeleteRecords: moves the log start offset to `offset` (-1: the high
    /// watermark). Returns the new log start offset.
    ///
    /// # Errors
    /// `NotLeader` on a follower; `Log` for an offset above the high
    /// watermark or a failed deletion.
    pub async fn delete_records(&self, offset: i64) -> Result<i64, PartitionError> {
        self.leader_epoch()?;
        let log_start_offset = self.log.delete_records(offset).await?;
        self.epochs_start_at(log_start_offset).await;
        self.remove_old_snapshots().await;
        self.txn_index_follow_segments().await;
        Ok(log_start_offset)
    }

    /// OffsetForLeaderEpoch: where `leader_epoch` ends in this log, by
    /// Kafka's rules (see [`LeaderEpochCache::end_offset_for`]).
    ///
    /// # Errors
    /// `NotLeader` on a follower.
    pub fn end_offset_for_epoch(
        &self,
        leader_epoch: i32,
    ) -> Result<EpochEndOffset, PartitionError> {
        self.leader_epoch()?;
        let (leader_epoch, end_offset) = self
            .epochs
            .borrow()
            .end_offset_for(leader_epoch, self.log.log_end_offset());
        Ok(EpochEndOffset {
            leader_epoch,
            end_offset,
        })
    }

    /// The leader epochs this log holds, oldest first.
    pub fn leader_epochs(&self) -> Vec<EpochEntry> {
        self.epochs.borrow().entries().to_vec()
    }

    /// The bytes of the partition's segments.
    pub fn size_bytes(&self) -> u64 {
        self.log.size_bytes()
    }

    /// How many segments the log has.
    pub fn segment_count(&self) -> usize {
        self.log.segment_count()
    }

    /// Deletes the segments retention no longer keeps.
    ///
    /// # Errors
    /// What the log's retention failed with.
    pub async fn enforce_retention(&self, now_ms: i64) -> Result<(), PartitionError> {
        let segments = self.log.segment_count();
        self.log.enforce_retention(now_ms).await?;
        self.epochs_start_at(self.log.log_start_offset()).await;
        self.remove_old_snapshots().await;
        if self.log.segment_count() != segments {
            self.txn_index_follow_segments().await;
        }
        Ok(())
    }

    /// Runs one compaction pass if one is due, never past the last stable
    /// offset, with Kafka's cleaner rules for transactional data (see
    /// `skein_engine::CleanerTxns`); then drops the aborted-index entries of
    /// transactions left without data and rewrites the index files.
    ///
    /// # Errors
    /// What the pass failed with (the log is left as it was).
    pub async fn compact(&self, now_ms: i64) -> Result<Option<CompactionReport>, PartitionError> {
        let txns = self.cleaner_txns();
        let report = self.log.compact(now_ms, &txns).await?;
        if let Some(report) = &report {
            self.forget_emptied_aborts(&report.emptied_aborts);
            self.txn_index_follow_segments().await;
        }
        Ok(report)
    }

    /// Flushes and closes the log (writing its clean-shutdown marker), then
    /// writes a producer-state snapshot at its end. A log unchanged since a
    /// clean open is left as it is, with the snapshot that open found: the
    /// producer state changes only with the log.
    ///
    /// # Errors
    /// What the final flush failed with.
    pub async fn close(self) -> Result<(), PartitionError> {
        if self.log.is_as_opened() {
            return Ok(self.log.close().await?);
        }
        let (dir, offset, bytes) = self.snapshot_for_close();
        self.log.close().await?;
        producers::write_close_snapshot(dir, offset, bytes).await;
        Ok(())
    }

    /// Removes the partition's files.
    ///
    /// # Errors
    /// What the removal failed with.
    pub async fn remove(self) -> Result<(), PartitionError> {
        Ok(self.log.remove().await?)
    }

    /// Drops the epochs below a new log start offset.
    async fn epochs_start_at(&self, log_start_offset: i64) {
        let changed = self
            .epochs
            .borrow_mut()
            .truncate_from_start(log_start_offset);
        if changed {
            self.persist_epochs().await;
        }
    }

    /// Writes the leader-epoch checkpoint. A failure is logged, not
    /// returned: the checkpoint is a cache of what the batches' headers say
    /// (the appended data is safe either way), and recovery rebuilds it from
    /// them when it disagrees with the log.
    async fn persist_epochs(&self) {
        let Ok(_permit) = self.checkpoint_writes.acquire_permit(1).await else {
            return;
        };
        self.epochs_unpersisted.set(false);
        let entries = self.leader_epochs();
        if let Err(error) = checkpoint::write(self.log.dir(), &entries).await {
            tracing::error!(%error, "could not write the leader-epoch checkpoint; recovery will rebuild it from the log");
        }
    }
}

/// Milliseconds since the Unix epoch, by the wall clock (role changes
/// only; the data path is handed its time).
fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// The leader epochs of a just-opened log, and whether they differ from its
/// checkpoint (and must be written).
async fn restore_epochs(log: &PartitionLog) -> Result<(LeaderEpochCache, bool), PartitionError> {
    let dir = log.dir();
    let loaded = match checkpoint::read(dir).await {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(%error, "rebuilding the leader epochs from the log");
            None
        }
    };
    let log_end_offset = log.log_end_offset();
    let log_start_offset = log.log_start_offset();
    let Some(entries) = loaded else {
        let mut cache = LeaderEpochCache::default();
        scan_epochs(log, log_start_offset, &mut cache).await?;
        return Ok((cache, true));
    };
    let mut cache = LeaderEpochCache::from_entries(entries);
    let mut changed = cache.truncate_from_end(log_end_offset);
    // The checkpoint is rewritten after an epoch's first append completes:
    // a crash in between leaves the log's last batch in an epoch the
    // checkpoint does not know. The last batch's epoch tells.
    let last = last_batch_epoch(log).await?;
    let latest = cache.latest();
    match (last, latest) {
        (None, _) => {}
        (Some(last), Some(latest)) if last == latest.leader_epoch => {}
        (Some(last), Some(latest)) if last > latest.leader_epoch => {
            tracing::info!(
                dir = %dir.display(),
                "the leader-epoch checkpoint misses the newest epochs; scanning from the last one it knows"
            );
            scan_epochs(log, latest.start_offset, &mut cache).await?;
            changed = true;
        }
        _ => {
            tracing::warn!(
                dir = %dir.display(),
                "the leader-epoch checkpoint disagrees with the log; rebuilding it"
            );
            cache = LeaderEpochCache::default();
            scan_epochs(log, log_start_offset, &mut cache).await?;
            changed = true;
        }
    }
    Ok((cache, changed))
}

/// Assigns the epoch of every batch from `from` to the log end offset.
async fn scan_epochs(
    log: &PartitionLog,
    from: i64,
    cache: &mut LeaderEpochCache,
) -> Result<(), PartitionError> {
    let end = log.log_end_offset();
    let mut offset = from.max(log.log_start_offset());
    let mut chunks = Vec::new();
    while offset < end {
        chunks.clear();
        log.read(offset, EPOCH_SCAN_READ_BYTES, end, &mut chunks)
            .await?;
        let mut next = None;
        for chunk in &chunks {
            for header in batch_headers(chunk.as_slice()) {
                cache.assign(
                    header.partition_leader_epoch.get(),
                    header.base_offset.get().max(0),
                );
                next = Some(header.last_offset().saturating_add(1));
            }
        }
        match next {
            Some(next) if next > offset => offset = next,
            // No progress: the log's bytes are not whole batches; what was
            // read is what can be known.
            _ => break,
        }
        glommio::yield_if_needed().await;
    }
    Ok(())
}

/// The leader epoch of the log's last batch, `None` for an empty log or a
/// batch without one.
async fn last_batch_epoch(log: &PartitionLog) -> Result<Option<i32>, PartitionError> {
    let end = log.log_end_offset();
    if end <= log.log_start_offset() {
        return Ok(None);
    }
    let mut chunks = Vec::new();
    // One byte asked for: the batch holding the last offset comes back whole.
    log.read(end - 1, 1, end, &mut chunks).await?;
    let epoch = chunks
        .iter()
        .flat_map(|chunk| batch_headers(chunk.as_slice()))
        .last()
        .map(|header| header.partition_leader_epoch.get());
    Ok(epoch.filter(|epoch| *epoch >= 0))
}
