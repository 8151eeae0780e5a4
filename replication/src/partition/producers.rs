//! A partition's idempotent producers kept durable: the state follows the
//! log batch by batch (applied as each batch is copied in, on the leader and
//! on followers alike), a snapshot of it is written beside the segments when
//! the log rolls and at clean shutdown, and recovery and truncation rebuild
//! it from the newest valid snapshot at or below the log end plus a scan of
//! the log after it (Kafka's `ProducerStateManager` + `UnifiedLog` rules).
//!
//! Invariants:
//! * the snapshot named `N` holds exactly the batches below `N` (it is
//!   encoded synchronously with `N` = the log end offset, and the state is
//!   applied in log order at copy-in);
//! * no snapshot above the log end is ever trusted: recovery deletes them,
//!   and truncation deletes them before the log is cut (a snapshot write in
//!   flight across a truncation is dropped, by a generation check);
//! * a corrupt snapshot is deleted and an older one (or none: the whole
//!   log) used instead.
//!
//! Why here and not in the engine: the rules are Kafka's producer semantics,
//! which the engine must not know (ARCHITECTURE §2); the engine only calls
//! an observer at copy-in ([`PartitionLog::append_observed`]), which makes
//! the state follow the log exactly. The leader-epoch checkpoint lives here
//! for the same reason.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use skein_engine::{AppendInfo, PartitionLog};

use super::{Partition, EPOCH_SCAN_READ_BYTES};
use crate::error::PartitionError;
use crate::producer_snapshot as snapshot;
use crate::producer_state::{batches, markers_of, BatchMetadata, CompletedTxn, ProducerStates};
use crate::txn_index::{AbortedTxn, AbortedTxns};

/// A producer as DescribeProducers reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerDescription {
    /// The producer id.
    pub producer_id: i64,
    /// Its current epoch.
    pub producer_epoch: i16,
    /// The sequence of its last record in this partition (-1: none).
    pub last_sequence: i32,
    /// The max timestamp of its last batch (ms).
    pub last_timestamp: i64,
    /// The transaction coordinator epoch of its last marker (-1: none).
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction (-1: none).
    pub current_txn_start_offset: i64,
}

/// The snapshot files of one partition and the writes to them.
#[derive(Debug)]
pub(super) struct SnapshotFiles {
    /// The offsets of the snapshots on disk (or being written), ascending.
    offsets: RefCell<BTreeSet<i64>>,
    /// One snapshot write or deletion at a time.
    writes: glommio::sync::Semaphore,
    /// Bumped by each truncation: a write encoded before it is dropped.
    generation: Cell<u64>,
    /// The active segment's base offset at the last snapshot (or open or
    /// truncation): a roll moves it, and a snapshot follows.
    active_base_offset: Cell<i64>,
}

impl SnapshotFiles {
    /// The newest snapshot offset, -1 when there is none.
    fn newest(&self) -> i64 {
        self.offsets.borrow().last().copied().unwrap_or(-1)
    }
}

/// A reservation of admitted batches, released if their append ends before
/// they are copied in (refused by the log, failed, or dropped).
struct Reservation<'a> {
    producers: &'a RefCell<ProducerStates>,
    records: &'a [u8],
    copied_in: &'a Cell<bool>,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.copied_in.get() {
            self.producers.borrow_mut().release(self.records);
        }
    }
}

/// The producer state of a just-opened log and its snapshot files: the
/// newest valid snapshot at or below the log end plus a scan of the log
/// after it. Snapshots above the log end (left by a crash that took back
/// the log's tail) and corrupt ones are deleted.
pub(super) async fn restore(
    log: &PartitionLog,
) -> Result<(ProducerStates, Rc<SnapshotFiles>, AbortedTxns), PartitionError> {
    let dir = log.dir();
    let offsets = match snapshot::list(dir) {
        Ok(offsets) => offsets,
        Err(error) => {
            tracing::warn!(%error, "cannot list producer-state snapshots; rebuilding from the log");
            Vec::new()
        }
    };
    let files = Rc::new(SnapshotFiles {
        offsets: RefCell::new(offsets.into_iter().collect()),
        writes: glommio::sync::Semaphore::new(1),
        generation: Cell::new(0),
        active_base_offset: Cell::new(log.active_segment_base_offset()),
    });
    let (states, replayed) = load(log, &files, log.log_end_offset()).await?;
    Ok((states, files, replayed))
}

/// Deletes the snapshots above `offset` (durably), then rebuilds the state
/// of the batches below `offset` from the newest valid snapshot at or below
/// it and the log between the two. Also returns the transactions the
/// replayed part of the log aborted.
async fn load(
    log: &PartitionLog,
    files: &SnapshotFiles,
    offset: i64,
) -> Result<(ProducerStates, AbortedTxns), PartitionError> {
    let dir = log.dir();
    let above: Vec<i64> = files
        .offsets
        .borrow()
        .range(offset + 1..)
        .copied()
        .collect();
    for stale in above {
        tracing::info!(dir = %dir.display(), offset = stale, "deleting a producer-state snapshot past the log end");
        delete_snapshot(dir, files, stale).await;
    }
    let mut loaded = None;
    loop {
        let Some(newest) = files.offsets.borrow().last().copied() else {
            break;
        };
        match snapshot::read(dir, newest).await {
            Ok(states) => {
                loaded = Some((newest, states));
                break;
            }
            Err(error) => {
                tracing::warn!(%error, "skipping a producer-state snapshot that cannot be trusted");
                delete_snapshot(dir, files, newest).await;
            }
        }
    }
    if let Err(error) = snapshot::sync_dir(dir).await {
        tracing::warn!(%error, "could not sync the partition directory after deleting snapshots");
    }
    let (from, mut states) = loaded.unwrap_or((0, ProducerStates::default()));
    let mut aborted = AbortedTxns::default();
    replay(log, from, offset, &mut states, &mut aborted).await?;
    Ok((states, aborted))
}

/// Applies every batch of `log` from `from` (or its log start) up to `to`,
/// recording the transactions its markers abort in `aborted`.
pub(super) async fn replay(
    log: &PartitionLog,
    from: i64,
    to: i64,
    states: &mut ProducerStates,
    aborted: &mut AbortedTxns,
) -> Result<(), PartitionError> {
    let end = to.min(log.log_end_offset());
    let mut offset = from.max(log.log_start_offset());
    let mut chunks = Vec::new();
    while offset < end {
        chunks.clear();
        log.read(offset, EPOCH_SCAN_READ_BYTES, end, &mut chunks)
            .await?;
        let mut next = None;
        for chunk in &chunks {
            for (header, batch) in batches(chunk.as_slice()) {
                if header.base_offset.get() >= offset {
                    let marker = crate::txn_marker::decode(batch);
                    if let Some(completed) = states.apply(&header, marker) {
                        if completed.aborted {
                            aborted.insert(aborted_entry(states, &completed));
                        }
                    }
                }
                next = Some(header.last_offset().saturating_add(1));
            }
        }
        match next {
            Some(next) if next > offset => offset = next,
            // No progress: what was read is what can be known.
            _ => break,
        }
        glommio::yield_if_needed().await;
    }
    Ok(())
}

/// Deletes one snapshot file and forgets it; a failure is logged (the file
/// is then still listed, and never trusted past the log end).
async fn delete_snapshot(dir: &Path, files: &SnapshotFiles, offset: i64) {
    match snapshot::delete(dir, offset).await {
        Ok(()) => {
            files.offsets.borrow_mut().remove(&offset);
        }
        Err(error) => tracing::error!(%error, "could not delete a producer-state snapshot"),
    }
}

/// Writes a snapshot encoded at `offset`, unless a truncation came in
/// between, then deletes those below `log_start_offset` but the newest.
async fn write_snapshot(
    dir: PathBuf,
    files: Rc<SnapshotFiles>,
    generation: u64,
    offset: i64,
    bytes: Vec<u8>,
    log_start_offset: i64,
) {
    let Ok(_permit) = files.writes.acquire_permit(1).await else {
        return;
    };
    if files.generation.get() != generation {
        // Encoded before a truncation: it may hold batches the log no
        // longer has.
        files.offsets.borrow_mut().remove(&offset);
        return;
    }
    files.offsets.borrow_mut().insert(offset);
    if let Err(error) = snapshot::write(&dir, offset, bytes).await {
        files.offsets.borrow_mut().remove(&offset);
        tracing::error!(%error, "could not write a producer-state snapshot; recovery will scan more of the log");
        return;
    }
    remove_below(&dir, &files, log_start_offset).await;
}

/// Deletes the snapshots below `log_start_offset`, keeping the newest one
/// (it holds producers whose records retention removed, which Kafka keeps
/// until they expire).
async fn remove_below(dir: &Path, files: &SnapshotFiles, log_start_offset: i64) {
    let newest = files.newest();
    let old: Vec<i64> = files
        .offsets
        .borrow()
        .range(..log_start_offset)
        .copied()
        .filter(|offset| *offset != newest)
        .collect();
    for offset in old {
        delete_snapshot(dir, files, offset).await;
    }
}

/// The index entry of an aborted transaction, with the last stable offset
/// right after it.
fn aborted_entry(states: &ProducerStates, completed: &CompletedTxn) -> AbortedTxn {
    assert!(completed.aborted);
    AbortedTxn {
        producer_id: completed.producer_id,
        first_offset: completed.first_offset,
        last_offset: completed.last_offset,
        last_stable_offset: states.stable_offset_after(completed),
    }
}

/// Who writes a leader's batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// A producer's Produce: checked for idempotence and transactions,
    /// control batches refused.
    Client,
    /// A transaction coordinator's marker (checked by the caller).
    Coordinator,
}

impl Partition {
    /// Applies one stored batch header to the producer state (with the
    /// marker of a control batch), recording an aborted transaction in the
    /// aborted index (its file is written after the append, see
    /// `persist_txn_index`). Runs synchronously at copy-in.
    fn observe(
        &self,
        header: &skein_engine::BatchHeader,
        marker: Option<crate::txn_marker::TxnMarker>,
    ) {
        let mut producers = self.producers.borrow_mut();
        if let Some(completed) = producers.apply(header, marker) {
            if completed.aborted {
                let entry = aborted_entry(&producers, &completed);
                self.aborted.borrow_mut().insert(entry);
                self.txn_index.note_pending();
            }
        }
    }

    /// Appends a leader's batches, keeping the producer state: a client's
    /// idempotent batches are checked (a duplicate of one of a producer's
    /// last five batches is answered with its offsets once they are
    /// durable), their sequences reserved, and applied as they are copied
    /// in; a coordinator's marker ends its producer's transaction.
    pub(super) async fn append_checked(
        &self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
        origin: Origin,
    ) -> Result<AppendInfo, PartitionError> {
        use crate::producer_state::Admission;
        // Decided (and the borrow ended) before any await.
        let admission = match origin {
            Origin::Client => self.producers.borrow_mut().admit(records),
            Origin::Coordinator => Admission::Append { reserved: false },
        };
        let reserved = match admission {
            Admission::Append { reserved } => reserved,
            Admission::Duplicate(batch) => return self.answer_duplicate(batch).await,
            Admission::Refuse(error) => return Err(error.into()),
        };
        let markers = markers_of(records);
        let mut index = 0;
        let copied_in = Cell::new(!reserved);
        let reservation = Reservation {
            producers: &self.producers,
            records,
            copied_in: &copied_in,
        };
        let result = self
            .log
            .append_observed(records, leader_epoch, now_ms, &mut |header| {
                copied_in.set(true);
                let marker = markers.get(index).copied().flatten();
                index += 1;
                self.observe(header, marker);
            })
            .await;
        drop(reservation);
        let info = result?;
        self.persist_txn_index().await;
        self.maybe_snapshot();
        Ok(info)
    }

    /// Applies a follower's replicated batches to the producer state (as
    /// they are copied in) and appends them.
    pub(super) async fn append_replicated_checked(
        &self,
        records: &[u8],
        fetched_from: i64,
        now_ms: i64,
    ) -> Result<AppendInfo, skein_engine::ReplicaAppendError> {
        let markers = markers_of(records);
        let mut index = 0;
        let info = self
            .log
            .append_replicated_observed(records, Some(fetched_from), now_ms, &mut |header| {
                let marker = markers.get(index).copied().flatten();
                index += 1;
                self.observe(header, marker);
            })
            .await?;
        self.persist_txn_index().await;
        self.maybe_snapshot();
        Ok(info)
    }

    /// The answer to a duplicate batch, once the original is as durable as
    /// the flush policy promises (a retry must not be acknowledged before
    /// the first attempt would have been).
    async fn answer_duplicate(&self, batch: BatchMetadata) -> Result<AppendInfo, PartitionError> {
        self.log.wait_for_append(batch.last_offset).await;
        if self.log.durable_end_offset() <= batch.last_offset {
            return Err(skein_engine::AppendError::Poisoned.into());
        }
        Ok(batch.append_info(self.log.log_start_offset()))
    }

    /// Starts a snapshot write when the log rolled since the last snapshot:
    /// the state is encoded now, at the log end offset, and written by a
    /// background task (the append does not wait for it).
    fn maybe_snapshot(&self) {
        if self.txn_index.has_pending() {
            // An abort's index entry is not durable yet: a snapshot past it
            // would keep recovery from replaying (and re-indexing) it. The
            // next append tries again.
            return;
        }
        let files = &self.producer_snapshots;
        let active_base_offset = self.log.active_segment_base_offset();
        if active_base_offset == files.active_base_offset.get() {
            return;
        }
        files.active_base_offset.set(active_base_offset);
        let offset = self.log.log_end_offset();
        let bytes = snapshot::encode(offset, &self.producers.borrow());
        files.offsets.borrow_mut().insert(offset);
        let task = write_snapshot(
            self.log.dir().to_path_buf(),
            Rc::clone(files),
            files.generation.get(),
            offset,
            bytes,
            self.log.log_start_offset(),
        );
        glommio::spawn_local(task).detach();
    }

    /// The snapshot written at close, encoded before the log closes.
    pub(super) fn snapshot_for_close(&self) -> (PathBuf, i64, Vec<u8>) {
        let offset = if self.txn_index.has_pending() {
            // See `maybe_snapshot`: no snapshot (offset 0 writes none).
            0
        } else {
            self.log.log_end_offset()
        };
        let bytes = snapshot::encode(offset, &self.producers.borrow());
        (self.log.dir().to_path_buf(), offset, bytes)
    }

    /// Rebuilds the producer state for a log cut back to `offset` (a
    /// follower's truncation): deletes the snapshots above `offset`, then
    /// loads the newest valid one at or below it and replays the log up to
    /// `offset`; the aborted-transaction index forgets the aborts at or past
    /// `offset` (their index files rewritten). Call it right before cutting
    /// the log (safest: no snapshot or index entry past the new end survives
    /// a crash in between) or right after; only the batches below `offset`
    /// are read either way.
    ///
    /// # Errors
    /// `Read` when the log cannot be read (the state is then left as it
    /// was).
    pub async fn truncate_producer_state_to(&self, offset: i64) -> Result<(), PartitionError> {
        assert!(offset >= 0, "a log offset");
        let files = &self.producer_snapshots;
        files.generation.set(files.generation.get().wrapping_add(1));
        let Ok(_permit) = files.writes.acquire_permit(1).await else {
            return Ok(());
        };
        let (states, replayed) = load(&self.log, files, offset).await?;
        *self.producers.borrow_mut() = states;
        {
            let mut aborted = self.aborted.borrow_mut();
            aborted.truncate_to(offset);
            aborted.merge(&replayed);
        }
        // The aborts past `offset` leave their index files now, before the
        // log is cut (a file naming a marker past the log end would make
        // recovery rebuild every index).
        self.txn_index.note_pending();
        self.reconcile_txn_index().await;
        files
            .active_base_offset
            .set(self.log.active_segment_base_offset());
        Ok(())
    }

    /// Deletes the snapshots below the log start offset (after retention
    /// or DeleteRecords moved it), keeping the newest.
    pub(super) async fn remove_old_snapshots(&self) {
        let files = &self.producer_snapshots;
        let Ok(_permit) = files.writes.acquire_permit(1).await else {
            return;
        };
        remove_below(self.log.dir(), files, self.log.log_start_offset()).await;
    }

    /// DescribeProducers: the producers of this partition, by id.
    ///
    /// # Errors
    /// `NotLeader` on a follower.
    pub fn describe_producers(&self) -> Result<Vec<ProducerDescription>, PartitionError> {
        self.leader_epoch()?;
        let mut described: Vec<ProducerDescription> = self
            .producers
            .borrow()
            .entries()
            .map(|(producer_id, entry)| ProducerDescription {
                producer_id,
                producer_epoch: entry.epoch,
                last_sequence: entry.last_sequence(),
                last_timestamp: entry.last_timestamp,
                coordinator_epoch: entry.coordinator_epoch,
                current_txn_start_offset: entry.current_txn_first_offset.unwrap_or(-1),
            })
            .collect();
        described.sort_unstable_by_key(|producer| producer.producer_id);
        Ok(described)
    }

    /// Forgets the producers whose last batch is `producer_id_expiration_ms`
    /// or more older than `now_ms` (`producer.id.expiration.ms`). Returns
    /// how many were removed. Any replica: followers expire theirs too, so
    /// a new leader holds what the old one did.
    pub fn expire_producers(&self, now_ms: i64, producer_id_expiration_ms: i64) -> usize {
        self.producers
            .borrow_mut()
            .expire(now_ms, producer_id_expiration_ms)
    }

    /// How many producers this partition knows.
    pub fn producer_count(&self) -> usize {
        self.producers.borrow().len()
    }
}

/// Writes the clean-shutdown snapshot (after the log closed: its batches
/// are durable first). A failure is logged: recovery scans the log instead.
pub(super) async fn write_close_snapshot(dir: PathBuf, offset: i64, bytes: Vec<u8>) {
    if offset == 0 {
        return;
    }
    if let Err(error) = snapshot::write(&dir, offset, bytes).await {
        tracing::error!(%error, "could not write the clean-shutdown producer-state snapshot");
    }
}
