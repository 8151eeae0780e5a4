//! The partition side of transactions (KIP-98): writing a coordinator's
//! markers, the last stable offset, read_committed reads with the aborted
//! transactions they overlap, and the aborted-transaction index files kept
//! beside the segments.
//!
//! The index is held whole in memory ([`AbortedTxns`], 34 bytes per aborted
//! transaction) and mirrored to one `<base>.txnindex` file per segment that
//! holds abort markers. Every change goes through one reconciliation (one
//! at a time): the files that should exist for the current segments are
//! compared with what was last written, and only the differing ones are
//! rewritten (atomically) or deleted — after a marker, a truncation,
//! retention, DeleteRecords or a compaction pass alike.
//!
//! Crash safety: an abort's entry is durable in its file before a
//! producer-state snapshot past the marker may be written (snapshots wait
//! while entries are pending), so recovery — the newest snapshot plus a
//! replay of the log after it — re-indexes every abort whose file write a
//! crash lost. A file that is corrupt (or unreadable) makes recovery
//! rebuild the whole index from a replay of the log. A missing file is
//! empty, as in Kafka.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use skein_engine::{
    AbortedRange, AppendInfo, CleanerTxns, LogChunk, PartitionLog, ProducerLastRecord,
};

use super::producers::{replay, Origin};
use super::{Partition, ReadInfo};
use crate::error::PartitionError;
use crate::producer_state::{batch_headers, ProducerStates};
use crate::txn_index::{self, AbortedTxn, AbortedTxns};
use crate::txn_marker::{self, TxnMarker, TxnResult};

/// The aborted-transaction index files of one partition.
#[derive(Debug)]
pub(super) struct TxnIndexFiles {
    /// What each file holds, by segment base offset, as last written
    /// (`None`: unknown — a stale or corrupt file, rewritten or deleted by
    /// the next reconciliation).
    on_disk: RefCell<BTreeMap<i64, Option<Vec<AbortedTxn>>>>,
    /// One reconciliation at a time (a later one sees every earlier entry).
    writes: glommio::sync::Semaphore,
    /// Aborts indexed in memory whose file is not written yet.
    pending: Cell<u32>,
}

impl TxnIndexFiles {
    /// Counts an abort indexed in memory, not yet in its file.
    pub(super) fn note_pending(&self) {
        self.pending.set(self.pending.get().saturating_add(1));
    }

    /// Whether an abort's file write is outstanding (or failed).
    pub(super) fn has_pending(&self) -> bool {
        self.pending.get() > 0
    }
}

/// The aborted index of a just-opened log: the segments' files plus the
/// aborts `replayed` from the log after the producer-state snapshot, or —
/// when a file is corrupt or unreadable — a replay of the whole log.
pub(super) async fn restore(
    log: &PartitionLog,
    replayed: AbortedTxns,
) -> Result<(AbortedTxns, Rc<TxnIndexFiles>), PartitionError> {
    let dir = log.dir();
    let bases = log.segment_base_offsets();
    let log_end_offset = log.log_end_offset();
    let mut index = AbortedTxns::default();
    let mut on_disk = BTreeMap::new();
    let mut trusted = true;
    let mut listed = Vec::new();
    match txn_index::list(dir) {
        Ok(found) => {
            for base in &found {
                if !bases.contains(base) {
                    // Its segment is gone (retention or a truncation a crash
                    // interrupted): the next reconciliation deletes it.
                    on_disk.insert(*base, None);
                }
            }
            listed = found;
        }
        Err(error) => {
            tracing::warn!(%error, "cannot list the transaction indexes; rebuilding them");
            trusted = false;
        }
    }
    for (position, base) in bases.iter().enumerate() {
        if !trusted {
            break;
        }
        let end = bases.get(position + 1).copied().unwrap_or(log_end_offset);
        match txn_index::read_file(dir, *base, end.max(*base)) {
            Ok(entries) => {
                for entry in &entries {
                    index.insert(*entry);
                }
                if !entries.is_empty() {
                    on_disk.insert(*base, Some(entries));
                }
            }
            Err(error) => {
                tracing::warn!(%error, "rebuilding the transaction indexes from the log");
                trusted = false;
            }
        }
    }
    if trusted {
        index.merge(&replayed);
    } else {
        // Every file is rewritten (or deleted) from the rebuilt index.
        for base in listed {
            on_disk.insert(base, None);
        }
        index = AbortedTxns::default();
        let mut states = ProducerStates::default();
        replay(log, 0, log_end_offset, &mut states, &mut index).await?;
    }
    let files = Rc::new(TxnIndexFiles {
        on_disk: RefCell::new(on_disk),
        writes: glommio::sync::Semaphore::new(1),
        // Until the first reconciliation, treat the index as unwritten.
        pending: Cell::new(1),
    });
    Ok((index, files))
}

impl Partition {
    /// Writes a transaction coordinator's marker for `producer_id` as
    /// leader (Kafka's `appendRecords` with origin COORDINATOR), ending the
    /// producer's open transaction in this partition: after it, the last
    /// stable offset moves past the transaction once the high watermark
    /// passes the marker, and an abort is in the aborted-transaction index.
    /// The caller waits for the high watermark (acks=all) as for a produce.
    ///
    /// # Errors
    /// `NotLeader` on a follower; `Producer(InvalidProducerEpoch)` for an
    /// epoch older than the producer's, `Producer(TransactionCoordinatorFenced)`
    /// for a coordinator epoch older than its last marker's; `Append` for
    /// what the log refused.
    ///
    /// # Cancel safety
    /// As [`Partition::append`].
    pub async fn write_txn_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        result: TxnResult,
        now_ms: i64,
    ) -> Result<AppendInfo, PartitionError> {
        let leader_epoch = self.leader_epoch()?;
        assert!(producer_id >= 0, "the handler checks the producer id");
        self.producers
            .borrow()
            .check_marker(producer_id, producer_epoch, coordinator_epoch)?;
        let marker = TxnMarker {
            result,
            coordinator_epoch,
        };
        let batch = txn_marker::encode(producer_id, producer_epoch, marker, now_ms);
        let info = self
            .append_checked(&batch, leader_epoch, now_ms, Origin::Coordinator)
            .await?;
        assert_eq!(info.base_offset, info.last_offset, "a marker is one record");
        self.assign_epoch(leader_epoch, info.base_offset).await;
        Ok(info)
    }

    /// The last stable offset: the smaller of the high watermark and the
    /// first offset of the oldest transaction not yet decided below it
    /// (Kafka's `lastStableOffset`). What read_committed consumers read up
    /// to (exclusive).
    pub fn last_stable_offset(&self) -> i64 {
        let high_watermark = self.high_watermark();
        let first_unstable = self
            .producers
            .borrow_mut()
            .first_unstable_offset(high_watermark);
        first_unstable.map_or(high_watermark, |first| first.min(high_watermark))
    }

    /// A read_committed read: whole batches from `offset` up to the last
    /// stable offset (about `max_bytes`, the first batch whole) into
    /// `chunks`, and the aborted transactions that overlap what was read
    /// (Kafka's fetch with isolation level READ_COMMITTED). Consumers drop
    /// the aborted records and the control batches themselves. The answer's
    /// `high_watermark` is the high watermark, `last_stable_offset` the
    /// bound.
    ///
    /// # Errors
    /// As [`Partition::read`].
    ///
    /// # Cancel safety
    /// Cancel-safe.
    pub async fn read_committed(
        &self,
        offset: i64,
        max_bytes: usize,
        chunks: &mut Vec<LogChunk>,
    ) -> Result<(ReadInfo, Vec<AbortedTxn>), PartitionError> {
        self.leader_epoch()?;
        let high_watermark = self.high_watermark();
        let last_stable_offset = self.last_stable_offset();
        assert!(last_stable_offset <= high_watermark);
        let already = chunks.len();
        let read = self
            .log
            .read(offset, max_bytes, last_stable_offset, chunks)
            .await?;
        let upper = chunks
            .get(already..)
            .unwrap_or_default()
            .iter()
            .flat_map(|chunk| batch_headers(chunk.as_slice()))
            .last()
            .map(|header| header.last_offset() + 1);
        let aborted = match upper {
            Some(upper) => self.aborted.borrow().overlapping(offset, upper),
            None => Vec::new(),
        };
        Ok((
            ReadInfo {
                bytes: read.bytes,
                log_start_offset: read.log_start_offset,
                high_watermark: read.durable_end_offset.min(high_watermark),
                last_stable_offset,
                log_end_offset: read.log_end_offset,
                diverging_epoch: None,
            },
            aborted,
        ))
    }

    /// Resolves once the last stable offset passes `offset`, or this
    /// replica stops leading, or the log is closed or poisoned: the
    /// long-poll of a read_committed fetch (an open transaction holds it
    /// until its marker is written and replicated).
    ///
    /// # Cancel safety
    /// Cancel-safe.
    pub async fn wait_for_stable(&self, offset: i64) {
        loop {
            let generation = self.watermark_signal.generation();
            if !self.role.get().is_leader()
                || self.log.is_poisoned()
                || self.last_stable_offset() > offset
            {
                return;
            }
            // Any append made durable, or a high watermark or role change,
            // may move the last stable offset.
            let durable_end_offset = self.log.durable_end_offset();
            futures_lite::future::or(
                self.log.wait_for_append(durable_end_offset),
                self.watermark_signal.changed_since(generation),
            )
            .await;
        }
    }

    /// The aborted transactions overlapping `[from, upper)`.
    pub fn aborted_transactions(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        self.aborted.borrow().overlapping(from, upper)
    }

    /// Writes the index files of the aborts indexed since the last write.
    pub(super) async fn persist_txn_index(&self) {
        if self.txn_index.has_pending() {
            self.reconcile_txn_index().await;
        }
    }

    /// Makes the index files match the in-memory index for the current
    /// segments (see the module doc). A failed write is logged and leaves
    /// the entries pending, which keeps producer-state snapshots from
    /// passing them (recovery then re-indexes them from the log).
    pub(super) async fn reconcile_txn_index(&self) {
        let files = &self.txn_index;
        let Ok(_permit) = files.writes.acquire_permit(1).await else {
            return;
        };
        // Everything counted here is in the index read below (no await in
        // between).
        let counted = files.pending.get();
        let bases = self.log.segment_base_offsets();
        let mut desired: BTreeMap<i64, Vec<AbortedTxn>> = BTreeMap::new();
        {
            let aborted = self.aborted.borrow();
            for (position, base) in bases.iter().enumerate() {
                let end = bases.get(position + 1).copied().unwrap_or(i64::MAX);
                let entries = aborted.in_range(*base, end);
                if !entries.is_empty() {
                    desired.insert(*base, entries);
                }
            }
        }
        let mut writes: Vec<(i64, Vec<AbortedTxn>)> = Vec::new();
        {
            let on_disk = files.on_disk.borrow();
            for (base, entries) in &desired {
                let written = on_disk.get(base).and_then(Option::as_ref);
                if written != Some(entries) {
                    writes.push((*base, entries.clone()));
                }
            }
            for base in on_disk.keys() {
                if !desired.contains_key(base) {
                    writes.push((*base, Vec::new()));
                }
            }
        }
        let dir = self.log.dir();
        for (base, entries) in writes {
            if let Err(error) = txn_index::write_file(dir, base, &entries).await {
                tracing::error!(%error, "could not write a transaction index; recovery will rebuild it");
                return;
            }
            let mut on_disk = files.on_disk.borrow_mut();
            if entries.is_empty() {
                on_disk.remove(&base);
            } else {
                on_disk.insert(base, Some(entries));
            }
        }
        files
            .pending
            .set(files.pending.get().saturating_sub(counted));
    }

    /// What the log cleaner must know of this partition's transactions
    /// (Kafka's `LogCleaner` inputs): the last stable offset it must not
    /// pass, the aborted transactions, and the last record of every
    /// producer, whose batch keeps its header so the producer's epoch and
    /// sequence survive a rebuild from the log.
    pub(super) fn cleaner_txns(&self) -> CleanerTxns {
        let last_stable_offset = self.last_stable_offset();
        let aborted = self
            .aborted
            .borrow()
            .iter()
            .map(|aborted| AbortedRange {
                producer_id: aborted.producer_id,
                first_offset: aborted.first_offset,
                last_offset: aborted.last_offset,
            })
            .collect();
        let producers = self
            .producers
            .borrow()
            .entries()
            .map(|(producer_id, entry)| {
                let last_offset = entry.last_offset();
                let last = ProducerLastRecord {
                    last_data_offset: (last_offset >= 0).then_some(last_offset),
                    producer_epoch: entry.epoch,
                };
                (producer_id, last)
            })
            .collect();
        CleanerTxns {
            last_stable_offset,
            aborted,
            producers,
        }
    }

    /// Forgets the aborts a compaction pass left without data (Kafka keeps
    /// them out of a cleaned segment's index); `txn_index_follow_segments`
    /// then rewrites the files.
    pub(super) fn forget_emptied_aborts(&self, marker_offsets: &[i64]) {
        let mut aborted = self.aborted.borrow_mut();
        for marker_offset in marker_offsets {
            aborted.remove(*marker_offset);
        }
    }

    /// After the log start moved (retention, DeleteRecords) or a compaction
    /// pass swapped segments: forgets aborts below the log start and
    /// rewrites the index files for the segments there are now.
    pub(super) async fn txn_index_follow_segments(&self) {
        self.aborted
            .borrow_mut()
            .start_at(self.log.log_start_offset());
        self.txn_index.note_pending();
        self.reconcile_txn_index().await;
    }
}

/// The transaction result of a WriteTxnMarkers entry (`transaction_result`:
/// false abort, true commit).
pub fn txn_result(committed: bool) -> TxnResult {
    if committed {
        TxnResult::Commit
    } else {
        TxnResult::Abort
    }
}
