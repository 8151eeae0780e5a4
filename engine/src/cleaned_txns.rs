//! What the log cleaner knows of a partition's transactions, and how it
//! follows them through one pass (Kafka's `CleanedTransactionMetadata`).
//! The engine does not track transactions itself: the owner of the
//! partition's producer state hands the cleaner a [`CleanerTxns`] — the
//! last stable offset, the aborted transactions (from the aborted-transaction
//! index) and the last record of every active producer — and the cleaner
//! reads the log forward, batch by batch, deciding with a [`TxnTracker`]:
//!
//! * a data batch of an aborted transaction can go (its keys never enter
//!   the offset map, so an aborted value never shadows a committed one);
//! * a commit marker can go once no batch of its transaction was seen
//!   before it in the pass; an abort marker once no batch of its aborted
//!   transaction was seen (its data was removed by an earlier pass). Either
//!   then still waits for the delete horizon (KIP-534), which the caller
//!   applies;
//! * an empty control batch (one the cleaner already emptied) can go.
//!
//! Invariant: the tracker is fed every batch of the pass in offset order
//! from the start of the range it was made for; the aborted transactions it
//! is given are those whose marker lies at or after that start.

use std::collections::{HashMap, HashSet};

use crate::batch::BatchHeader;
use crate::record::Records;

/// One aborted transaction, as the aborted-transaction index holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedRange {
    /// The producer that aborted it.
    pub producer_id: i64,
    /// The offset of its first record.
    pub first_offset: i64,
    /// The offset of its abort marker.
    pub last_offset: i64,
}

/// The last record an active producer wrote (Kafka's `LastRecord`): the
/// batch holding it keeps its header through compaction, so the
/// producer's epoch and sequence survive a rebuild of the producer state
/// from the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerLastRecord {
    /// The offset of its last data record, `None` if a marker came after
    /// its last data batch of the current epoch.
    pub last_data_offset: Option<i64>,
    /// Its current epoch.
    pub producer_epoch: i16,
}

/// The transactional facts one compaction pass needs. Built by the owner
/// of the partition's producer state right before the pass; lives on: the
/// partition's owner shard.
#[derive(Debug, Clone, Default)]
pub struct CleanerTxns {
    /// The first offset the cleaner must not pass (exclusive bound of the
    /// cleanable range): the last stable offset. Only segments wholly
    /// below it are compacted.
    pub last_stable_offset: i64,
    /// Aborted transactions whose marker is in the log, any order.
    pub aborted: Vec<AbortedRange>,
    /// The last record of every active producer, by producer id.
    pub producers: HashMap<i64, ProducerLastRecord>,
}

impl CleanerTxns {
    /// The facts of a log that has never held a transactional or
    /// idempotent batch: nothing bounds the cleaner but the active segment.
    pub fn non_transactional() -> CleanerTxns {
        CleanerTxns {
            last_stable_offset: i64::MAX,
            aborted: Vec::new(),
            producers: HashMap::new(),
        }
    }

    /// Whether `header`'s batch holds its producer's last record (or, for a
    /// producer whose last entry is a marker, is that marker at the
    /// producer's epoch): Kafka's `isBatchLastRecordOfProducer`.
    pub fn is_last_of_producer(&self, header: &BatchHeader) -> bool {
        let producer_id = header.producer_id.get();
        if producer_id < 0 {
            return false;
        }
        self.producers
            .get(&producer_id)
            .is_some_and(|last| match last.last_data_offset {
                Some(offset) => header.last_offset() == offset,
                None => header.is_control() && header.producer_epoch.get() == last.producer_epoch,
            })
    }
}

/// An aborted transaction whose first record the pass has reached.
#[derive(Debug, Clone, Copy)]
struct OngoingAbort {
    /// Whether a batch of it was seen in this pass.
    data_seen: bool,
}

/// Follows transactions through one forward scan of the log. Cloned to
/// try a segment without committing to it.
#[derive(Debug, Clone, Default)]
pub struct TxnTracker {
    /// Aborted transactions not reached yet, by first offset descending
    /// (the next one is last).
    pending: Vec<AbortedRange>,
    /// Aborted transactions reached and not yet ended, by producer id.
    ongoing_aborted: HashMap<i64, OngoingAbort>,
    /// Producers with a batch of an undecided (so far) non-aborted
    /// transaction seen in this pass.
    ongoing_committed: HashSet<i64>,
    /// Offsets of the abort markers met whose transaction has no data left:
    /// their aborted-index entries are no longer needed.
    emptied_aborts: Vec<i64>,
}

impl TxnTracker {
    /// A tracker for a scan starting at `from`, given the partition's
    /// aborted transactions (those whose marker is below `from` are left
    /// out: the scan will not meet their markers).
    pub fn new(aborted: &[AbortedRange], from: i64) -> TxnTracker {
        let mut pending: Vec<AbortedRange> = aborted
            .iter()
            .filter(|aborted| aborted.last_offset >= from)
            .copied()
            .collect();
        pending.sort_unstable_by_key(|aborted| std::cmp::Reverse(aborted.first_offset));
        TxnTracker {
            pending,
            ..TxnTracker::default()
        }
    }

    /// Moves the aborted transactions starting at or before `offset` into
    /// the ongoing set (Kafka's `consumeAbortedTxnsUpTo`).
    fn reach(&mut self, offset: i64) {
        while self
            .pending
            .last()
            .is_some_and(|next| next.first_offset <= offset)
        {
            let aborted = self.pending.pop().expect("checked above");
            self.ongoing_aborted
                .entry(aborted.producer_id)
                .or_insert(OngoingAbort { data_seen: false });
        }
    }

    /// Reads a data batch; returns whether it belongs to an aborted
    /// transaction (and so can be discarded). Kafka's `onBatchRead`.
    pub fn on_batch(&mut self, header: &BatchHeader) -> bool {
        assert!(!header.is_control(), "a data batch");
        self.reach(header.last_offset());
        if !header.is_transactional() {
            return false;
        }
        let producer_id = header.producer_id.get();
        match self.ongoing_aborted.get_mut(&producer_id) {
            Some(aborted) => {
                aborted.data_seen = true;
                true
            }
            None => {
                self.ongoing_committed.insert(producer_id);
                false
            }
        }
    }

    /// Reads the whole control batch `batch`; returns whether it can be
    /// discarded (once its delete horizon has passed). Kafka's
    /// `onControlBatchRead`.
    pub fn on_control_batch(&mut self, batch: &[u8]) -> bool {
        let header = BatchHeader::read(batch).expect("a whole batch");
        assert!(header.is_control(), "a control batch");
        self.reach(header.last_offset());
        if header.records_count.get() == 0 {
            // Emptied by an earlier pass.
            return true;
        }
        let producer_id = header.producer_id.get();
        match control_type(batch) {
            Some(CONTROL_ABORT) => match self.ongoing_aborted.remove(&producer_id) {
                // Kept until every batch of the transaction is gone.
                Some(OngoingAbort { data_seen: true }) => false,
                _ => {
                    self.emptied_aborts.push(header.base_offset.get());
                    true
                }
            },
            Some(CONTROL_COMMIT) => !self.ongoing_committed.remove(&producer_id),
            _ => false,
        }
    }

    /// The abort markers met whose transaction had no data left, in the
    /// order met.
    pub fn emptied_aborts(&self) -> &[i64] {
        &self.emptied_aborts
    }
}

/// Kafka's `ControlRecordType` ABORT.
const CONTROL_ABORT: i16 = 0;
/// Kafka's `ControlRecordType` COMMIT.
const CONTROL_COMMIT: i16 = 1;

/// The control record type of a control batch (its first record's key:
/// `version i16 | type i16`), `None` if it does not decode.
fn control_type(batch: &[u8]) -> Option<i16> {
    let header = BatchHeader::read(batch)?;
    if header.is_compressed() {
        return None;
    }
    let record = Records::new(batch).ok()?.next()?.ok()?;
    let key = record.key?;
    let bytes: [u8; 2] = key.get(2..4)?.try_into().ok()?;
    Some(i16::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::patch_offset_and_epoch;
    use crate::test_batch::BatchBuilder;

    fn data(offset: i64, producer_id: i64, transactional: bool) -> Vec<u8> {
        let mut builder = BatchBuilder::new(0)
            .record(b"k", b"v", 0)
            .producer(producer_id, 0, 0);
        if transactional {
            builder = builder.transactional();
        }
        let mut batch = builder.build();
        patch_offset_and_epoch(&mut batch, offset, 0);
        batch
    }

    fn marker(offset: i64, producer_id: i64, commit: bool) -> Vec<u8> {
        let mut batch = BatchBuilder::marker(producer_id, 0, commit).build();
        patch_offset_and_epoch(&mut batch, offset, 0);
        batch
    }

    fn header(batch: &[u8]) -> &BatchHeader {
        BatchHeader::read(batch).expect("header")
    }

    #[test]
    fn aborted_batches_are_discardable_and_their_marker_stays_while_data_was_seen() {
        let aborted = [AbortedRange {
            producer_id: 7,
            first_offset: 10,
            last_offset: 12,
        }];
        let mut tracker = TxnTracker::new(&aborted, 0);
        assert!(!tracker.on_batch(header(&data(5, 7, false))));
        assert!(tracker.on_batch(header(&data(10, 7, true))));
        assert!(
            !tracker.on_batch(header(&data(11, 8, true))),
            "another producer"
        );
        assert!(!tracker.on_control_batch(&marker(12, 7, false)));
        assert!(tracker.emptied_aborts().is_empty());
        assert!(!tracker.on_control_batch(&marker(13, 8, true)));
        // The next pass finds the aborted data gone: both markers can go.
        let mut tracker = TxnTracker::new(&aborted, 0);
        assert!(tracker.on_control_batch(&marker(12, 7, false)));
        assert_eq!(tracker.emptied_aborts(), &[12]);
        assert!(tracker.on_control_batch(&marker(13, 8, true)));
    }

    #[test]
    fn aborts_whose_marker_precedes_the_scan_are_ignored() {
        let aborted = [AbortedRange {
            producer_id: 7,
            first_offset: 0,
            last_offset: 2,
        }];
        let mut tracker = TxnTracker::new(&aborted, 3);
        assert!(!tracker.on_batch(header(&data(5, 7, true))));
    }

    #[test]
    fn the_last_record_of_a_producer_is_recognised() {
        let mut txns = CleanerTxns::non_transactional();
        txns.producers.insert(
            7,
            ProducerLastRecord {
                last_data_offset: Some(10),
                producer_epoch: 0,
            },
        );
        txns.producers.insert(
            8,
            ProducerLastRecord {
                last_data_offset: None,
                producer_epoch: 0,
            },
        );
        assert!(txns.is_last_of_producer(header(&data(10, 7, true))));
        assert!(!txns.is_last_of_producer(header(&data(9, 7, true))));
        assert!(txns.is_last_of_producer(header(&marker(12, 8, true))));
        assert!(!txns.is_last_of_producer(header(&data(12, 8, true))));
        assert!(!txns.is_last_of_producer(header(&data(10, -1, false))));
    }
}
