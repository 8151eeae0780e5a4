//! `PartitionTable`: the partitions one data shard owns, keyed by (topic
//! id, partition). It is made to match a declared set of replicas
//! ([`PartitionTable::reconcile`]): the protocol layer derives that set from
//! each metadata image (which partitions this broker has a replica of, owned
//! by this shard, and each replica's role); the table opens what is new,
//! updates roles and configs, and removes what is gone.
//!
//! Each partition lives in one of the broker's log directories
//! ([`LogDirs`], shared by the shards): a new one goes where `LogDirs`
//! assigns it. A partition whose directory has failed answers
//! `LogDirOffline`; one being moved to another directory
//! ([`PartitionTable::move_to_log_dir`]) answers `Moving`.
//!
//! Lookups ([`PartitionTable::get`]) are a hash probe, an atomic load (is
//! its directory online) and an `Rc` clone: no lock, no allocation.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use skein_engine::{LogConfig, LogDirs, LogDirsError, LogTuning};

use crate::durable_file::{self, DurableWriteError};
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
/// Where the metadata file is written before it is renamed into place.
const PARTITION_METADATA_TEMP_FILE: &str = "partition.metadata.tmp";

/// How many partitions a shard opens (or closes) at once: enough to keep
/// the disk's flush queue busy, few enough that a shard's other work still
/// gets its turns between them.
const OPENS_IN_FLIGHT: usize = 64;

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

/// How long a move waits for the requests that hold the partition to
/// finish before it gives up (the partition then stays where it is).
const MOVE_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// One partition's high watermark as checkpointed: (log directory index,
/// topic, partition, high watermark).
type CheckpointEntry = (usize, String, i32, i64);

/// A partition held, with where it lives.
#[derive(Debug)]
struct Held {
    partition: Rc<Partition>,
    /// `<topic>-<partition>`: its name in the log directories.
    name: String,
    /// Its log directory, an index into [`LogDirs::dirs`].
    log_dir: usize,
    tuning: LogTuning,
}

/// The partitions one data shard owns. Lives on: that shard.
#[derive(Debug)]
pub struct PartitionTable {
    log_dirs: Arc<LogDirs>,
    partitions: RefCell<HashMap<PartitionKey, Held>>,
    /// Wanted partitions whose log directory is offline (not opened).
    offline: RefCell<HashSet<PartitionKey>>,
    /// Partitions being moved to another log directory.
    moving: RefCell<HashSet<PartitionKey>>,
    /// The high watermarks the checkpoints held at start, taken by the
    /// partitions as they open.
    restored_high_watermarks: RefCell<HighWatermarks>,
    /// The names of the partitions held (`<topic>`, index), for the
    /// high-watermark checkpoint.
    topics: RefCell<HashMap<PartitionKey, String>>,
    /// What the last high-watermark checkpoint held, per log directory: an
    /// unchanged one is not written again.
    last_checkpoint: RefCell<Option<Vec<CheckpointEntry>>>,
    /// Bumped by every change to which partitions the table holds or to
    /// their roles (see [`PartitionTable::generation`]).
    changes: Cell<u64>,
}

/// The high watermarks the checkpoints of every log directory hold. A
/// partition named in two (moved between directories since) keeps the
/// larger mark: a high watermark only grows while a replica keeps its log.
fn restored_high_watermarks(log_dirs: &LogDirs) -> HighWatermarks {
    let mut marks = HighWatermarks::new();
    for dir in log_dirs.dirs() {
        for (key, offset) in high_watermark_checkpoint::read_all(dir.path()) {
            let mark = marks.entry(key).or_insert(offset);
            *mark = (*mark).max(offset);
        }
    }
    marks
}

impl PartitionTable {
    /// An empty table whose partitions live in `log_dirs`.
    pub fn new(log_dirs: Arc<LogDirs>) -> PartitionTable {
        PartitionTable {
            restored_high_watermarks: RefCell::new(restored_high_watermarks(&log_dirs)),
            log_dirs,
            partitions: RefCell::new(HashMap::new()),
            offline: RefCell::new(HashSet::new()),
            moving: RefCell::new(HashSet::new()),
            topics: RefCell::new(HashMap::new()),
            last_checkpoint: RefCell::new(None),
            changes: Cell::new(0),
        }
    }

    /// A number that changes whenever what [`partitions_where`] could
    /// return changes: a partition added, removed or moved, a role changed,
    /// a log directory gone offline. A caller keeping a view derived from
    /// the table (a replica fetcher's partitions) rebuilds it only when
    /// this differs from the value it was built at, and so holds no
    /// partition the table let go of past its next look.
    ///
    /// [`partitions_where`]: PartitionTable::partitions_where
    pub fn generation(&self) -> u64 {
        let offline_dirs = (0..self.log_dirs.dirs().len())
            .filter(|&index| self.log_dirs.is_offline(index))
            .count();
        // Both terms only grow (a directory stays offline until restart).
        self.changes.get() + offline_dirs as u64
    }

    /// Marks a change for [`generation`](PartitionTable::generation).
    fn changed(&self) {
        self.changes.set(self.changes.get() + 1);
    }

    /// The broker's log directories.
    pub fn log_dirs(&self) -> &Arc<LogDirs> {
        &self.log_dirs
    }

    /// Writes this shard's high-watermark checkpoint, `file_name` in each
    /// online log directory naming the partitions that live there (Kafka's
    /// `replication-offset-checkpoint`, written every
    /// `replica.high.watermark.checkpoint.interval.ms` and at shutdown);
    /// skipped when nothing changed since the last write.
    ///
    /// # Errors
    /// What a write failed with (that directory's previous checkpoint
    /// stays).
    pub async fn checkpoint_high_watermarks(&self, file_name: &str) -> Result<(), CheckpointError> {
        let mut entries: Vec<CheckpointEntry> = {
            let topics = self.topics.borrow();
            self.partitions
                .borrow()
                .iter()
                .filter_map(|(key, held)| {
                    let topic = topics.get(key)?;
                    let high_watermark = held.partition.checkpoint_high_watermark();
                    Some((held.log_dir, topic.clone(), key.1, high_watermark))
                })
                .collect()
        };
        entries.sort();
        if self.last_checkpoint.borrow().as_ref() == Some(&entries) {
            return Ok(());
        }
        for (index, dir) in self.log_dirs.dirs().iter().enumerate() {
            if dir.is_offline() {
                continue;
            }
            let in_dir: Vec<(String, i32, i64)> = entries
                .iter()
                .filter(|(log_dir, ..)| *log_dir == index)
                .map(|(_, topic, partition, offset)| (topic.clone(), *partition, *offset))
                .collect();
            high_watermark_checkpoint::write(dir.path(), file_name, &in_dir).await?;
        }
        *self.last_checkpoint.borrow_mut() = Some(entries);
        Ok(())
    }

    /// The replica of `key` held here.
    ///
    /// # Errors
    /// `UnknownTopicOrPartition` when this shard holds none;
    /// `LogDirOffline` when its log directory has failed; `Moving` while it
    /// moves to another log directory.
    pub fn get(&self, key: &PartitionKey) -> Result<Rc<Partition>, PartitionError> {
        if let Some(held) = self.partitions.borrow().get(key) {
            if self.log_dirs.is_offline(held.log_dir) {
                return Err(PartitionError::LogDirOffline);
            }
            return Ok(Rc::clone(&held.partition));
        }
        if self.moving.borrow().contains(key) {
            Err(PartitionError::Moving)
        } else if self.offline.borrow().contains(key) {
            Err(PartitionError::LogDirOffline)
        } else {
            Err(PartitionError::UnknownTopicOrPartition)
        }
    }

    /// The log directory (an index into [`LogDirs::dirs`]) of the replica
    /// of `key` held here, online or not.
    pub fn log_dir_of(&self, key: &PartitionKey) -> Option<usize> {
        self.partitions.borrow().get(key).map(|held| held.log_dir)
    }

    /// Takes the log directory of `key` offline after an IO failure on it
    /// (Kafka's log-directory failure handling: every partition in that
    /// directory goes offline, the others keep serving). Returns whether
    /// the directory was online.
    pub fn fail_log_dir_of(&self, key: &PartitionKey, reason: &str) -> bool {
        self.log_dir_of(key)
            .is_some_and(|index| self.log_dirs.mark_offline(index, reason))
    }

    /// How many partitions this shard holds.
    pub fn len(&self) -> usize {
        self.partitions.borrow().len()
    }

    /// Whether this shard holds no partition.
    pub fn is_empty(&self) -> bool {
        self.partitions.borrow().is_empty()
    }

    /// Every partition held in an online log directory, for periodic work
    /// (gauges, retention): O(n).
    pub fn partitions(&self) -> Vec<(PartitionKey, Rc<Partition>)> {
        self.partitions_where(|_| true)
    }

    /// The partitions held in an online log directory for which `wanted`
    /// is true: O(n) tests, but only the chosen ones are collected, so a
    /// frequent scan for a few (the ISR driver's leaders with followers,
    /// every 100 ms) costs little over 100 000 partitions that have none.
    pub fn partitions_where(
        &self,
        wanted: impl Fn(&Partition) -> bool,
    ) -> Vec<(PartitionKey, Rc<Partition>)> {
        self.partitions
            .borrow()
            .iter()
            .filter(|(_, held)| !self.log_dirs.is_offline(held.log_dir) && wanted(&held.partition))
            .map(|(key, held)| (*key, Rc::clone(&held.partition)))
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
        let removed: Vec<Held> = {
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
        if !removed.is_empty() {
            self.changed();
        }
        self.offline
            .borrow_mut()
            .retain(|key| wanted.contains_key(key));
        for held in removed {
            if self.log_dirs.is_offline(held.log_dir) {
                // Its files stay in the failed directory; a restart with
                // the directory back removes them as orphans.
                continue;
            }
            remove_partition(held.partition).await;
            self.log_dirs.release(&held.name);
        }
        let mut opening = Vec::new();
        for (key, spec) in wanted {
            if self.moving.borrow().contains(&key) {
                // The move reopens it with the config it had; a change made
                // meanwhile applies with the next image.
                continue;
            }
            let existing = self
                .partitions
                .borrow()
                .get(&key)
                .map(|held| Rc::clone(&held.partition));
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
            opening.push((key, spec));
        }
        // Roles and replica sets may have changed above; the partitions
        // opened below count once they are all open.
        self.changed();
        // New partitions open concurrently: each open waits on a few
        // directory and file fsyncs, which run on the shard's io_uring, so a
        // topic of many partitions costs the disk's flush latency a few times
        // rather than a few times per partition.
        futures::stream::iter(opening)
            .for_each_concurrent(OPENS_IN_FLIGHT, |(key, spec)| {
                self.open_new(key, spec, now_ms)
            })
            .await;
        self.changed();
    }

    /// Places, claims and opens (recovering) a partition not held yet; on
    /// failure it is logged and left out (offline).
    async fn open_new(&self, key: PartitionKey, spec: ReplicaSpec, now_ms: i64) {
        let name = format!("{}-{}", spec.topic, key.1);
        let log_dir = match self.log_dirs.assign(&name) {
            Ok(index) if !self.log_dirs.is_offline(index) => index,
            Ok(_) | Err(LogDirsError::Offline) => {
                self.offline.borrow_mut().insert(key);
                return;
            }
            Err(error) => {
                tracing::error!(%error, partition = %name, "cannot place partition");
                return;
            }
        };
        self.offline.borrow_mut().remove(&key);
        let dir = self.log_dirs.partition_path(log_dir, &name);
        if let Err(error) = claim_partition_dir(&dir, &key.0).await {
            tracing::error!(%error, dir = %dir.display(), "cannot prepare partition directory");
            self.log_dirs.mark_offline(log_dir, &error.to_string());
            self.offline.borrow_mut().insert(key);
            return;
        }
        let tuning = spec.tuning;
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
                self.partitions.borrow_mut().insert(
                    key,
                    Held {
                        partition: Rc::new(partition),
                        name,
                        log_dir,
                        tuning,
                    },
                );
            }
            Err(error) => {
                tracing::error!(%error, dir = %dir.display(), "cannot open partition log; partition offline");
            }
        }
    }

    /// Moves the replica of `key` to log directory `to` (AlterReplicaLogDirs):
    /// takes it out of service (requests meanwhile get `Moving`), waits for
    /// the requests holding it to finish, closes it, has [`LogDirs`] copy it
    /// to `to` and swap the copies (crash-safe, see `LogDirs`), and reopens
    /// it there with the role, replicas and config it had. Already there:
    /// nothing to do. On failure the partition is reopened where it was
    /// (or, if a directory failed, stays offline with it).
    ///
    /// # Errors
    /// `UnknownTopicOrPartition` if not held here; `LogDirOffline` if its
    /// directory or `to` is offline or the copy failed on IO; `Moving` if a
    /// move is under way or the partition stayed busy for too long.
    pub async fn move_to_log_dir(
        &self,
        key: PartitionKey,
        to: usize,
    ) -> Result<(), PartitionError> {
        assert!(
            to < self.log_dirs.dirs().len(),
            "a configured log directory"
        );
        let held = {
            let partitions = self.partitions.borrow();
            let Some(held) = partitions.get(&key) else {
                drop(partitions);
                // `get` says why (moving, offline, unknown).
                return self.get(&key).map(|_| ());
            };
            if self.log_dirs.is_offline(held.log_dir) || self.log_dirs.is_offline(to) {
                return Err(PartitionError::LogDirOffline);
            }
            if held.log_dir == to {
                return Ok(());
            }
            drop(partitions);
            self.moving.borrow_mut().insert(key);
            self.partitions
                .borrow_mut()
                .remove(&key)
                .expect("checked above, on this shard's thread")
        };
        // Views of the table let go of the partition before the move
        // waits for it to be unused.
        self.changed();
        let result = self.move_held(key, held, to).await;
        self.moving.borrow_mut().remove(&key);
        self.changed();
        result
    }

    async fn move_held(
        &self,
        key: PartitionKey,
        held: Held,
        to: usize,
    ) -> Result<(), PartitionError> {
        let Held {
            partition,
            name,
            log_dir,
            tuning,
        } = held;
        let role = partition.role();
        let replicas = partition.replicas();
        let min_insync_replicas = partition.min_insync_replicas();
        let config = partition.config();
        let drained = glommio::timer::timeout(MOVE_DRAIN_TIMEOUT, async {
            while Rc::strong_count(&partition) > 1 {
                glommio::timer::sleep(Duration::from_millis(1)).await;
            }
            Ok(())
        })
        .await;
        if drained.is_err() {
            tracing::warn!(partition = %name, "partition stayed busy; not moved");
            self.partitions.borrow_mut().insert(
                key,
                Held {
                    partition,
                    name,
                    log_dir,
                    tuning,
                },
            );
            return Err(PartitionError::Moving);
        }
        let partition = Rc::try_unwrap(partition).expect("the only reference, checked above");
        partition.close().await?;
        let log_dirs = Arc::clone(&self.log_dirs);
        let moved_name = name.clone();
        let moved = glommio::executor()
            .spawn_blocking(move || log_dirs.move_partition_files(&moved_name, to))
            .await;
        let (dir, now_in, result) = match moved {
            Ok(dir) => (dir, to, Ok(())),
            Err(error) => {
                tracing::error!(%error, partition = %name, "moving a partition between log directories failed");
                // The swap is the last step that can leave the old copy
                // live: where the partition is now is what LogDirs says.
                let now_in = self.log_dirs.locate(&name).unwrap_or(log_dir);
                let failed = if now_in == log_dir { to } else { log_dir };
                if matches!(error, LogDirsError::Io { .. }) {
                    self.log_dirs.mark_offline(failed, &error.to_string());
                }
                (
                    self.log_dirs.partition_path(now_in, &name),
                    now_in,
                    Err(PartitionError::LogDirOffline),
                )
            }
        };
        if self.log_dirs.is_offline(now_in) {
            self.offline.borrow_mut().insert(key);
            return Err(PartitionError::LogDirOffline);
        }
        let partition = Partition::open(dir, config, tuning, role).await?;
        partition.set_replicas(replicas, now_ms_wall());
        partition.set_min_insync_replicas(min_insync_replicas);
        tracing::info!(partition = %name, log_dir = %self.log_dirs.dir(now_in).path().display(), "partition now in log directory");
        self.partitions.borrow_mut().insert(
            key,
            Held {
                partition: Rc::new(partition),
                name,
                log_dir: now_in,
                tuning,
            },
        );
        result
    }

    /// Runs retention on every partition held.
    pub async fn enforce_retention(&self, now_ms: i64) {
        for (key, partition) in self.partitions() {
            if let Err(error) = partition.enforce_retention(now_ms).await {
                tracing::error!(%error, dir = %partition.dir().display(), "retention failed");
                self.fail_log_dir_of(&key, &error.to_string());
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
            .filter(|(_, held)| !self.log_dirs.is_offline(held.log_dir))
            .map(|(_, held)| held.partition)
            .collect();
        // Concurrently, as opening: a close is mostly waiting on fsyncs.
        futures::stream::iter(partitions)
            .for_each_concurrent(OPENS_IN_FLIGHT, |partition| async move {
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
            })
            .await;
    }

    /// Removes directories in the online log directories that hold a
    /// partition (they have its metadata file) for which
    /// `live(topic, partition)` is false: left by a deletion that a crash
    /// interrupted. Run by one shard.
    pub fn remove_orphan_dirs(&self, live: impl Fn(&str, i32) -> bool) {
        for dir in self.log_dirs.dirs().iter().filter(|dir| !dir.is_offline()) {
            self.remove_orphans_in(dir.path(), &live);
        }
    }

    fn remove_orphans_in(&self, log_dir: &Path, live: &impl Fn(&str, i32) -> bool) {
        let Ok(entries) = std::fs::read_dir(log_dir) else {
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
                } else {
                    self.log_dirs.release(&name);
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
        Err(partition) => {
            // A request still holds the partition; remove the files anyway
            // (its open files stay readable until it lets go).
            let delay_ms = partition.config().file_delete_delay_ms;
            drop(partition);
            if let Err(error) = skein_engine::remove_partition_dir(&dir, delay_ms).await {
                tracing::error!(%error, dir = %dir.display(), "could not remove a deleted partition's directory");
            }
        }
    }
    tracing::info!(dir = %dir.display(), "partition removed");
}

/// Makes `dir` belong to `topic_id`: a directory of another topic id (a
/// deleted topic of the same name) is removed first.
/// The directory and its metadata file are made durable on the shard's
/// io_uring (the directory is created on glommio's blocking-call thread).
async fn claim_partition_dir(dir: &Path, topic_id: &TopicId) -> Result<(), DurableWriteError> {
    let marker: PathBuf = dir.join(PARTITION_METADATA_FILE);
    let expected = format!("version: 0\ntopic_id: {}\n", hex(topic_id));
    let failed_at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DurableWriteError { path, source }
    };
    match std::fs::read_to_string(&marker) {
        Ok(found) if found == expected => return Ok(()),
        Ok(_) => {
            tracing::warn!(dir = %dir.display(), "directory belongs to a deleted topic; removing it");
            std::fs::remove_dir_all(dir).map_err(failed_at(dir))?;
        }
        Err(_) => {}
    }
    glommio::io::Directory::create(dir)
        .await
        .map_err(|e| failed_at(dir)(e.into()))?
        .close()
        .await
        .map_err(|e| failed_at(dir)(e.into()))?;
    durable_file::replace(
        dir,
        PARTITION_METADATA_TEMP_FILE,
        PARTITION_METADATA_FILE,
        expected.into_bytes(),
    )
    .await
}

/// Milliseconds since the Unix epoch (a moved partition's follower lag
/// clock starts here).
fn now_ms_wall() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
