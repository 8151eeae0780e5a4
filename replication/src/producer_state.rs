//! Idempotent producers of one partition (Kafka's `ProducerStateManager`,
//! sans-IO): per producer id, its epoch and the sequence ranges and offsets
//! of its last five batches, so that a retried batch is answered with its
//! first outcome instead of being written twice, and a gap or a fenced epoch
//! is refused with Kafka's codes.
//!
//! Two layers:
//! * the *applied* state follows the log exactly: [`ProducerStates::apply`]
//!   is called with every batch header as the log stores it (the leader's
//!   appends at the moment they are copied in, a follower's replicated
//!   batches, recovery's scan of the log). It is what snapshots hold and what
//!   DescribeProducers reports;
//! * *reservations* track the sequences of batches admitted on a leader but
//!   not yet copied in (pipelined requests), so the next batch is checked
//!   against them; a reservation disappears when its batches are applied or
//!   their append fails ([`ProducerStates::release`]).
//!
//! Rules, as Kafka 3.x/4.x's `ProducerAppendInfo` (origin client):
//! * a batch whose epoch and sequence range equal one of the producer's last
//!   five applied batches is a duplicate: answered with that batch's offsets;
//! * an epoch below the current one is `InvalidProducerEpoch`;
//! * a new epoch (KIP-360 bump, or a new `InitProducerId`) must start at
//!   sequence 0, else `OutOfOrderSequence`;
//! * within an epoch the batch must start right after the last sequence
//!   (wrapping after `i32::MAX`), else `OutOfOrderSequence`;
//! * a producer id this partition does not know (new, expired, or whose
//!   records were all removed) is accepted at any sequence: since KIP-360
//!   Kafka's broker no longer answers a produce with UNKNOWN_PRODUCER_ID.
//!
//! Transactions, as Kafka's `ProducerAppendInfo`:
//! * a transactional batch of a producer with no open transaction opens
//!   one at its first offset; a non-transactional batch of a producer with
//!   an open transaction is `InvalidTxnState`;
//! * a marker (control batch) from an epoch older than the producer's is
//!   `InvalidProducerEpoch`, from an older coordinator epoch
//!   `TransactionCoordinatorFenced`; applied, it ends the open transaction
//!   (a [`CompletedTxn`], aborted or committed), takes the marker's epoch
//!   (a bump forgets the remembered batches) and coordinator epoch;
//! * clients may not write control batches (`InvalidRecord`).
//!
//! The *first unstable offset* is the first offset of the oldest open
//! transaction, or of a completed one whose marker the high watermark has
//! not passed yet (Kafka's `unreplicatedTxns`): the last stable offset is
//! the smaller of it and the high watermark.
//!
//! Lives on: the partition's owner shard.

use std::collections::{BTreeMap, HashMap, VecDeque};

use skein_engine::{AppendInfo, BatchHeader, BATCH_HEADER_BYTES};

use crate::txn_marker::{self, TxnMarker, TxnResult};

/// How many of a producer's last batches are remembered for duplicate
/// detection: Kafka's limit of in-flight requests per idempotent producer.
pub const REMEMBERED_BATCHES: usize = 5;

/// The idempotence fields of one stored or produced batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchIdentity {
    /// The producer id (>= 0).
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// Sequence of the first record (>= 0).
    pub base_sequence: i32,
    /// Sequence of the last record.
    pub last_sequence: i32,
    /// Whether the batch is part of a transaction.
    pub transactional: bool,
}

impl BatchIdentity {
    /// The identity of an idempotent data batch: `None` for a batch without
    /// a producer id or sequence, and for control batches (transaction
    /// markers, which carry no sequence).
    pub fn of(header: &BatchHeader) -> Option<BatchIdentity> {
        let producer_id = header.producer_id.get();
        let base_sequence = header.base_sequence.get();
        let last_offset_delta = header.last_offset_delta.get();
        if producer_id < 0 || base_sequence < 0 || last_offset_delta < 0 || header.is_control() {
            return None;
        }
        Some(BatchIdentity {
            producer_id,
            producer_epoch: header.producer_epoch.get(),
            base_sequence,
            last_sequence: base_sequence.wrapping_add(last_offset_delta) & i32::MAX,
            transactional: txn_marker::is_transactional(header),
        })
    }
}

/// The headers of the whole batches in `bytes`, stopping at the first that
/// does not fit (the engine validates the bytes before they are stored;
/// this only has to never misread them).
pub fn batch_headers(mut bytes: &[u8]) -> impl Iterator<Item = BatchHeader> + '_ {
    std::iter::from_fn(move || {
        let header = *BatchHeader::read(bytes)?;
        let total = usize::try_from(header.total_bytes()).ok()?;
        if total < BATCH_HEADER_BYTES || total > bytes.len() {
            return None;
        }
        bytes = bytes.get(total..)?;
        Some(header)
    })
}

/// The whole batches in `bytes` with their headers, stopping as
/// [`batch_headers`] does.
pub fn batches(mut bytes: &[u8]) -> impl Iterator<Item = (BatchHeader, &[u8])> + '_ {
    std::iter::from_fn(move || {
        let header = *BatchHeader::read(bytes)?;
        let total = usize::try_from(header.total_bytes()).ok()?;
        if total < BATCH_HEADER_BYTES || total > bytes.len() {
            return None;
        }
        let (batch, rest) = bytes.split_at(total);
        bytes = rest;
        Some((header, batch))
    })
}

/// The markers of the control batches in `records`, one slot per batch in
/// order (`None` for data batches); empty when there is no control batch
/// (the common case costs one pass over the headers).
pub fn markers_of(records: &[u8]) -> Vec<Option<TxnMarker>> {
    if !batch_headers(records).any(|header| header.is_control()) {
        return Vec::new();
    }
    batches(records)
        .map(|(_, batch)| txn_marker::decode(batch))
        .collect()
}

/// Why an idempotent producer's batch is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    /// The batch's producer epoch is older than the producer's current one
    /// (a zombie producer instance).
    #[error("producer epoch {requested} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        /// The batch's epoch.
        requested: i16,
        /// The producer's current epoch.
        current: i16,
    },
    /// The batch does not start at the producer's next sequence.
    #[error("batch starts at sequence {base_sequence}, expected {expected}")]
    OutOfOrderSequence {
        /// The batch's first sequence.
        base_sequence: i32,
        /// The sequence the producer's next batch must start at (0 for a
        /// new epoch).
        expected: i32,
    },
    /// A non-transactional batch from a producer whose transaction is open
    /// (Kafka's `InvalidTxnStateException`).
    #[error(
        "producer {producer_id} has an open transaction: a non-transactional batch is refused"
    )]
    InvalidTxnState {
        /// The producer.
        producer_id: i64,
    },
    /// A marker from an older transaction coordinator epoch than the last
    /// marker's.
    #[error("coordinator epoch {requested} is older than the current {current}")]
    TransactionCoordinatorFenced {
        /// The marker's coordinator epoch.
        requested: i32,
        /// The coordinator epoch of the producer's last marker.
        current: i32,
    },
    /// A batch a client may not write (a control batch, a transactional
    /// batch without a producer id): Kafka's `InvalidRecordException`.
    #[error("invalid record batch: {reason}")]
    InvalidRecord {
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A transaction a marker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    /// The producer.
    pub producer_id: i64,
    /// The offset of its first record.
    pub first_offset: i64,
    /// The offset of its marker.
    pub last_offset: i64,
    /// Whether it was aborted.
    pub aborted: bool,
}

/// What to do with a Produce partition's batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Append them. `reserved`: idempotent batches reserved their sequence
    /// ranges, to be applied when copied in or released if the append
    /// fails before that.
    Append {
        /// Whether any batch reserved a range.
        reserved: bool,
    },
    /// A retry of a batch already in the log: answer with its offsets.
    Duplicate(BatchMetadata),
    /// Refuse them (nothing was reserved).
    Refuse(ProducerError),
}

/// What is remembered of one applied batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    /// Sequence of its first record.
    pub first_sequence: i32,
    /// Sequence of its last record.
    pub last_sequence: i32,
    /// Offset of its first record.
    pub first_offset: i64,
    /// Offset of its last record.
    pub last_offset: i64,
    /// Its max timestamp (ms).
    pub timestamp: i64,
}

impl BatchMetadata {
    /// The answer to a duplicate of this batch (Kafka answers with the
    /// original offsets and no log-append time).
    pub fn append_info(&self, log_start_offset: i64) -> AppendInfo {
        let span = self.last_offset - self.first_offset + 1;
        AppendInfo {
            base_offset: self.first_offset,
            last_offset: self.last_offset,
            log_append_time_ms: -1,
            log_start_offset,
            record_count: u32::try_from(span).unwrap_or(u32::MAX),
        }
    }
}

/// One producer's applied state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    /// The producer's current epoch.
    pub epoch: i16,
    /// Its last applied batches of `epoch`, oldest first (at most
    /// [`REMEMBERED_BATCHES`]; at least one, except in an entry a
    /// transaction marker created).
    pub batches: VecDeque<BatchMetadata>,
    /// The max timestamp of its last batch (ms): expiry counts from it.
    pub last_timestamp: i64,
    /// The epoch of the transaction coordinator that last wrote a marker
    /// for it (-1: none; transactions are not served yet).
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction (`None`: no transaction).
    pub current_txn_first_offset: Option<i64>,
}

impl ProducerEntry {
    /// The sequence of its last applied record, -1 when there is none.
    pub fn last_sequence(&self) -> i32 {
        self.batches.back().map_or(-1, |batch| batch.last_sequence)
    }

    /// The offset of its last applied record, -1 when there is none.
    pub fn last_offset(&self) -> i64 {
        self.batches.back().map_or(-1, |batch| batch.last_offset)
    }
}

/// What the next batch of a producer must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// Unknown producer: any epoch and sequence.
    Anything,
    /// This epoch, starting at this sequence (a newer epoch at 0).
    Next { epoch: i16, sequence: i32 },
}

/// Sequences reserved by batches admitted but not yet applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reservation {
    epoch: i16,
    next_sequence: i32,
    /// Batches admitted and neither applied nor released.
    batches: u32,
}

/// The producers of one partition. Lives on: the partition's owner shard.
#[derive(Debug, Default)]
pub struct ProducerStates {
    applied: HashMap<i64, ProducerEntry>,
    reservations: HashMap<i64, Reservation>,
    /// The open transactions: first offset -> producer id.
    ongoing: BTreeMap<i64, i64>,
    /// Completed transactions whose marker the high watermark may not have
    /// passed yet, in marker order.
    unreplicated: VecDeque<CompletedTxn>,
}

impl ProducerStates {
    /// Decides on the batches of one Produce partition, checked batch by
    /// batch (a later batch of the same producer against the earlier ones),
    /// and on `Append` reserves the idempotent batches' sequence ranges.
    /// A duplicate of any batch answers the whole request, as in Kafka.
    pub fn admit(&mut self, records: &[u8]) -> Admission {
        let mut idempotent = false;
        for (index, header) in batch_headers(records).enumerate() {
            if header.is_control() {
                return Admission::Refuse(ProducerError::InvalidRecord {
                    reason: "clients are not allowed to write control batches",
                });
            }
            if txn_marker::is_transactional(&header) && header.producer_id.get() < 0 {
                return Admission::Refuse(ProducerError::InvalidRecord {
                    reason: "a transactional batch must carry a producer id",
                });
            }
            let Some(batch) = BatchIdentity::of(&header) else {
                continue;
            };
            idempotent = true;
            if let Some(duplicate) = self.find_duplicate(&batch) {
                return Admission::Duplicate(duplicate);
            }
            // Earlier batches of this producer in the same request were
            // checked already: the last one sets what this one must be.
            let earlier = batch_headers(records)
                .take(index)
                .filter_map(|header| BatchIdentity::of(&header))
                .filter(|earlier| earlier.producer_id == batch.producer_id)
                .last();
            let expected = match earlier {
                Some(earlier) => Expected::Next {
                    epoch: earlier.producer_epoch,
                    sequence: next(earlier.last_sequence),
                },
                None => self.expected(batch.producer_id),
            };
            if let Err(error) = check(expected, &batch) {
                return Admission::Refuse(error);
            }
            let in_txn = match earlier {
                Some(earlier) => earlier.transactional,
                None => self
                    .applied
                    .get(&batch.producer_id)
                    .is_some_and(|entry| entry.current_txn_first_offset.is_some()),
            };
            if in_txn && !batch.transactional {
                return Admission::Refuse(ProducerError::InvalidTxnState {
                    producer_id: batch.producer_id,
                });
            }
        }
        if !idempotent {
            return Admission::Append { reserved: false };
        }
        for header in batch_headers(records) {
            let Some(batch) = BatchIdentity::of(&header) else {
                continue;
            };
            let reservation = self
                .reservations
                .entry(batch.producer_id)
                .or_insert(Reservation {
                    epoch: batch.producer_epoch,
                    next_sequence: 0,
                    batches: 0,
                });
            reservation.epoch = batch.producer_epoch;
            reservation.next_sequence = next(batch.last_sequence);
            reservation.batches += 1;
        }
        Admission::Append { reserved: true }
    }

    /// Gives back the reservations of admitted `records` whose append failed
    /// (or was dropped) before they were copied in. The producer's next
    /// sequence goes back to the failed batch's unless a later batch was
    /// reserved meanwhile.
    pub fn release(&mut self, records: &[u8]) {
        let mut headers: Vec<BatchHeader> = batch_headers(records).collect();
        headers.reverse();
        for header in headers {
            let Some(batch) = BatchIdentity::of(&header) else {
                continue;
            };
            let Some(reservation) = self.reservations.get_mut(&batch.producer_id) else {
                continue;
            };
            assert!(reservation.batches > 0, "a reservation counts its batches");
            reservation.batches -= 1;
            if reservation.epoch == batch.producer_epoch
                && reservation.next_sequence == next(batch.last_sequence)
            {
                reservation.next_sequence = batch.base_sequence;
            }
            if reservation.batches == 0 {
                self.reservations.remove(&batch.producer_id);
            }
        }
    }

    /// Applies a batch as the log stores it (the header has its final base
    /// offset; `marker` is the decoded marker of a control batch).
    /// Non-idempotent data batches and batches the state already holds (a
    /// replay over an overlap) change nothing; an older epoch than the
    /// producer's is ignored (a leader refuses those; Kafka's replication
    /// path only warns). A marker ends the producer's open transaction and
    /// returns it.
    pub fn apply(
        &mut self,
        header: &BatchHeader,
        marker: Option<TxnMarker>,
    ) -> Option<CompletedTxn> {
        if header.is_control() {
            return marker.and_then(|marker| self.apply_marker(header, marker));
        }
        let batch = BatchIdentity::of(header)?;
        if let Some(reservation) = self.reservations.get_mut(&batch.producer_id) {
            reservation.batches = reservation.batches.saturating_sub(1);
            if reservation.batches == 0 {
                self.reservations.remove(&batch.producer_id);
            }
        }
        let metadata = BatchMetadata {
            first_sequence: batch.base_sequence,
            last_sequence: batch.last_sequence,
            first_offset: header.base_offset.get(),
            last_offset: header.last_offset(),
            timestamp: header.max_timestamp.get(),
        };
        assert!(metadata.first_offset <= metadata.last_offset);
        let entry = self
            .applied
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: batch.producer_epoch,
                batches: VecDeque::with_capacity(REMEMBERED_BATCHES),
                last_timestamp: metadata.timestamp,
                coordinator_epoch: -1,
                current_txn_first_offset: None,
            });
        if metadata.last_offset <= entry.last_offset() || batch.producer_epoch < entry.epoch {
            return None;
        }
        if batch.producer_epoch > entry.epoch {
            entry.epoch = batch.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == REMEMBERED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(metadata);
        entry.last_timestamp = metadata.timestamp;
        if batch.transactional && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(metadata.first_offset);
            self.ongoing
                .insert(metadata.first_offset, batch.producer_id);
        }
        assert!(entry.batches.len() <= REMEMBERED_BATCHES);
        None
    }

    /// Kafka's `appendEndTxnMarker` on the state: ends the open transaction.
    fn apply_marker(&mut self, header: &BatchHeader, marker: TxnMarker) -> Option<CompletedTxn> {
        let producer_id = header.producer_id.get();
        if producer_id < 0 {
            return None;
        }
        let offset = header.base_offset.get();
        let epoch = header.producer_epoch.get();
        let entry = self
            .applied
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch,
                batches: VecDeque::with_capacity(REMEMBERED_BATCHES),
                last_timestamp: header.max_timestamp.get(),
                coordinator_epoch: -1,
                current_txn_first_offset: None,
            });
        let completed = entry
            .current_txn_first_offset
            .filter(|first_offset| *first_offset < offset)
            .map(|first_offset| CompletedTxn {
                producer_id,
                first_offset,
                last_offset: offset,
                aborted: marker.result == TxnResult::Abort,
            });
        if entry.current_txn_first_offset.is_some() && completed.is_none() {
            // A replay of a marker already applied.
            return None;
        }
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.coordinator_epoch = marker.coordinator_epoch;
        entry.current_txn_first_offset = None;
        entry.last_timestamp = header.max_timestamp.get();
        if let Some(completed) = completed {
            self.ongoing.remove(&completed.first_offset);
            self.unreplicated.push_back(completed);
        }
        completed
    }

    /// Kafka's checks of a coordinator's marker before it is written: an
    /// older producer epoch is `InvalidProducerEpoch`, an older coordinator
    /// epoch than the last marker's `TransactionCoordinatorFenced`. A
    /// producer this partition does not know is accepted (the marker is
    /// written and ends nothing).
    ///
    /// # Errors
    /// As above.
    pub fn check_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
    ) -> Result<(), ProducerError> {
        let Some(entry) = self.applied.get(&producer_id) else {
            return Ok(());
        };
        if producer_epoch < entry.epoch {
            return Err(ProducerError::InvalidProducerEpoch {
                requested: producer_epoch,
                current: entry.epoch,
            });
        }
        if coordinator_epoch < entry.coordinator_epoch {
            return Err(ProducerError::TransactionCoordinatorFenced {
                requested: coordinator_epoch,
                current: entry.coordinator_epoch,
            });
        }
        Ok(())
    }

    /// The first offset of the oldest transaction a read_committed
    /// consumer must not read past: an open one, or a completed one whose
    /// marker is at or above `high_watermark`. Completed transactions the
    /// high watermark passed are forgotten.
    pub fn first_unstable_offset(&mut self, high_watermark: i64) -> Option<i64> {
        while self
            .unreplicated
            .front()
            .is_some_and(|completed| completed.last_offset < high_watermark)
        {
            self.unreplicated.pop_front();
        }
        let open = self.ongoing.keys().next().copied();
        let unreplicated = self
            .unreplicated
            .iter()
            .map(|completed| completed.first_offset)
            .min();
        match (open, unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The last stable offset right after `completed` (Kafka's
    /// `lastStableOffset(completedTxn)`): the first offset of the oldest
    /// transaction still open, or the marker's offset + 1.
    pub fn stable_offset_after(&self, completed: &CompletedTxn) -> i64 {
        self.ongoing
            .iter()
            .find(|(_, producer_id)| **producer_id != completed.producer_id)
            .map_or(completed.last_offset + 1, |(first_offset, _)| *first_offset)
    }

    /// Removes the producers whose last batch is `producer_id_expiration_ms`
    /// or more older than `now_ms` (Kafka's `producer.id.expiration.ms`),
    /// unless a transaction or an admitted batch of theirs is open. Returns
    /// how many were removed.
    pub fn expire(&mut self, now_ms: i64, producer_id_expiration_ms: i64) -> usize {
        let before = self.applied.len();
        assert!(
            self.ongoing.len() <= before,
            "every open transaction has a producer"
        );
        let reservations = &self.reservations;
        self.applied.retain(|producer_id, entry| {
            entry.current_txn_first_offset.is_some()
                || reservations.contains_key(producer_id)
                || now_ms.saturating_sub(entry.last_timestamp) < producer_id_expiration_ms
        });
        before - self.applied.len()
    }

    /// The applied producers, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (i64, &ProducerEntry)> {
        self.applied.iter().map(|(id, entry)| (*id, entry))
    }

    /// The applied state of `producer_id`.
    #[cfg(test)]
    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.applied.get(&producer_id)
    }

    /// How many producers are known.
    pub fn len(&self) -> usize {
        self.applied.len()
    }

    /// The state holding exactly `entries` (a loaded snapshot).
    pub fn from_entries(entries: impl IntoIterator<Item = (i64, ProducerEntry)>) -> ProducerStates {
        let applied: HashMap<i64, ProducerEntry> = entries.into_iter().collect();
        let ongoing = applied
            .iter()
            .filter_map(|(id, entry)| Some((entry.current_txn_first_offset?, *id)))
            .collect();
        ProducerStates {
            applied,
            reservations: HashMap::new(),
            ongoing,
            unreplicated: VecDeque::new(),
        }
    }

    /// The applied batch `batch` repeats, if any.
    fn find_duplicate(&self, batch: &BatchIdentity) -> Option<BatchMetadata> {
        let entry = self.applied.get(&batch.producer_id)?;
        if entry.epoch != batch.producer_epoch {
            return None;
        }
        entry
            .batches
            .iter()
            .find(|applied| {
                applied.first_sequence == batch.base_sequence
                    && applied.last_sequence == batch.last_sequence
            })
            .copied()
    }

    /// What the producer's next batch must be, counting reservations.
    fn expected(&self, producer_id: i64) -> Expected {
        if let Some(reservation) = self.reservations.get(&producer_id) {
            return Expected::Next {
                epoch: reservation.epoch,
                sequence: reservation.next_sequence,
            };
        }
        match self.applied.get(&producer_id) {
            Some(entry) if !entry.batches.is_empty() => Expected::Next {
                epoch: entry.epoch,
                sequence: next(entry.last_sequence()),
            },
            // A marker-only entry knows the epoch, not a sequence.
            Some(entry) => Expected::Next {
                epoch: entry.epoch,
                sequence: 0,
            },
            None => Expected::Anything,
        }
    }
}

/// Kafka's `checkProducerEpoch` then `checkSequence` for one batch.
fn check(expected: Expected, batch: &BatchIdentity) -> Result<(), ProducerError> {
    let Expected::Next { epoch, sequence } = expected else {
        return Ok(());
    };
    if batch.producer_epoch < epoch {
        return Err(ProducerError::InvalidProducerEpoch {
            requested: batch.producer_epoch,
            current: epoch,
        });
    }
    let wanted = if batch.producer_epoch > epoch {
        0
    } else {
        sequence
    };
    if batch.base_sequence != wanted {
        return Err(ProducerError::OutOfOrderSequence {
            base_sequence: batch.base_sequence,
            expected: wanted,
        });
    }
    Ok(())
}

/// The sequence after `sequence` (sequences wrap to 0 after i32::MAX).
fn next(sequence: i32) -> i32 {
    if sequence == i32::MAX {
        0
    } else {
        sequence + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skein_engine::test_batch::BatchBuilder;

    /// A stored-looking batch of `count` records of producer 7.
    fn batch_at(epoch: i16, base_sequence: i32, count: i32, base_offset: i64) -> Vec<u8> {
        batch_of(7, epoch, base_sequence, count, base_offset)
    }

    fn batch_of(
        producer_id: i64,
        epoch: i16,
        base_sequence: i32,
        count: i32,
        base_offset: i64,
    ) -> Vec<u8> {
        let mut builder =
            BatchBuilder::new(1_000 + base_offset).producer(producer_id, epoch, base_sequence);
        for _ in 0..count {
            builder = builder.record(b"", b"v", 0);
        }
        let mut batch = builder.build();
        // The base offset is outside the CRC: set it as the log would.
        batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
        batch
    }

    /// Admits `records` and, when admitted, applies them (as copy-in does).
    fn produce(state: &mut ProducerStates, records: &[u8]) -> Admission {
        let admission = state.admit(records);
        if let Admission::Append { .. } = admission {
            for header in batch_headers(records) {
                state.apply(&header, None);
            }
        }
        admission
    }

    const APPEND: Admission = Admission::Append { reserved: true };

    #[test]
    fn each_of_the_last_five_batches_is_answered_as_a_duplicate_with_its_offsets() {
        let mut state = ProducerStates::default();
        for i in 0..6 {
            assert_eq!(
                produce(&mut state, &batch_at(0, i * 2, 2, 10 + i64::from(i) * 2)),
                APPEND
            );
        }
        for i in 1..6 {
            let Admission::Duplicate(found) = state.admit(&batch_at(0, i * 2, 2, 0)) else {
                panic!("batch {i} is a duplicate");
            };
            assert_eq!(found.first_offset, 10 + i64::from(i) * 2);
            assert_eq!(found.last_offset, 11 + i64::from(i) * 2);
            assert_eq!(found.append_info(3).base_offset, found.first_offset);
            assert_eq!(found.append_info(3).record_count, 2);
        }
        assert_eq!(
            state.admit(&batch_at(0, 0, 2, 0)),
            Admission::Refuse(ProducerError::OutOfOrderSequence {
                base_sequence: 0,
                expected: 12
            }),
            "the sixth-newest batch is forgotten"
        );
    }

    #[test]
    fn a_gap_in_sequence_is_out_of_order() {
        let mut state = ProducerStates::default();
        assert_eq!(produce(&mut state, &batch_at(1, 0, 1, 0)), APPEND);
        assert_eq!(
            state.admit(&batch_at(1, 5, 1, 0)),
            Admission::Refuse(ProducerError::OutOfOrderSequence {
                base_sequence: 5,
                expected: 1
            })
        );
    }

    #[test]
    fn an_older_epoch_is_invalid_producer_epoch() {
        let mut state = ProducerStates::default();
        assert_eq!(produce(&mut state, &batch_at(3, 0, 1, 0)), APPEND);
        assert_eq!(
            state.admit(&batch_at(2, 1, 1, 0)),
            Admission::Refuse(ProducerError::InvalidProducerEpoch {
                requested: 2,
                current: 3
            })
        );
    }

    #[test]
    fn an_epoch_bump_must_start_at_sequence_zero_and_forgets_the_old_batches() {
        let mut state = ProducerStates::default();
        assert_eq!(produce(&mut state, &batch_at(0, 0, 3, 0)), APPEND);
        assert_eq!(
            state.admit(&batch_at(1, 3, 1, 0)),
            Admission::Refuse(ProducerError::OutOfOrderSequence {
                base_sequence: 3,
                expected: 0
            })
        );
        assert_eq!(produce(&mut state, &batch_at(1, 0, 1, 3)), APPEND);
        assert_eq!(state.entry(7).map(|entry| entry.epoch), Some(1));
        assert_eq!(state.entry(7).map(|entry| entry.batches.len()), Some(1));
        assert_eq!(
            state.admit(&batch_at(0, 0, 3, 0)),
            Admission::Refuse(ProducerError::InvalidProducerEpoch {
                requested: 0,
                current: 1
            }),
            "a retry from the old epoch is fenced, not a duplicate"
        );
    }

    #[test]
    fn an_unknown_producer_is_accepted_at_any_sequence() {
        let mut state = ProducerStates::default();
        assert_eq!(produce(&mut state, &batch_at(4, 42, 2, 0)), APPEND);
        assert_eq!(state.entry(7).map(ProducerEntry::last_sequence), Some(43));
    }

    #[test]
    fn sequences_wrap_after_i32_max() {
        let mut state = ProducerStates::default();
        assert_eq!(
            produce(&mut state, &batch_at(0, i32::MAX - 1, 2, 0)),
            APPEND
        );
        assert_eq!(produce(&mut state, &batch_at(0, 0, 1, 2)), APPEND);
    }

    #[test]
    fn pipelined_batches_are_checked_against_reservations_and_released_on_failure() {
        let mut state = ProducerStates::default();
        let first = batch_at(0, 0, 5, 0);
        let second = batch_at(0, 5, 5, 5);
        assert_eq!(state.admit(&first), APPEND);
        assert_eq!(
            state.admit(&second),
            APPEND,
            "checked against the reservation"
        );
        // The second fails before it is copied in; the first is applied.
        state.release(&second);
        for header in batch_headers(&first) {
            state.apply(&header, None);
        }
        assert_eq!(state.admit(&second), APPEND, "its retry is accepted");
        state.release(&second);
        assert_eq!(state.reservations.len(), 0);
        assert_eq!(state.entry(7).map(ProducerEntry::last_sequence), Some(4));
    }

    #[test]
    fn a_multi_batch_request_is_checked_batch_by_batch() {
        let mut state = ProducerStates::default();
        let mut good = batch_at(0, 0, 2, 0);
        good.extend(batch_at(0, 2, 2, 2));
        good.extend(batch_of(8, 0, 0, 1, 4));
        assert_eq!(produce(&mut state, &good), APPEND);
        assert_eq!(state.entry(7).map(|entry| entry.batches.len()), Some(2));
        assert_eq!(state.entry(8).map(ProducerEntry::last_sequence), Some(0));

        let mut gap = batch_at(0, 4, 2, 0);
        gap.extend(batch_at(0, 7, 1, 0));
        assert_eq!(
            state.admit(&gap),
            Admission::Refuse(ProducerError::OutOfOrderSequence {
                base_sequence: 7,
                expected: 6
            })
        );
        assert_eq!(
            state.admit(&batch_at(0, 4, 1, 0)),
            APPEND,
            "the refused request reserved nothing"
        );
    }

    #[test]
    fn replaying_a_batch_already_applied_changes_nothing() {
        let mut state = ProducerStates::default();
        let records = batch_at(0, 0, 2, 0);
        produce(&mut state, &records);
        let before = state.entry(7).cloned();
        for header in batch_headers(&records) {
            state.apply(&header, None);
        }
        assert_eq!(state.entry(7).cloned(), before);
    }

    #[test]
    fn producers_expire_after_the_expiration_unless_a_batch_is_in_flight() {
        let mut state = ProducerStates::default();
        produce(&mut state, &batch_at(0, 0, 1, 0)); // timestamp 1000
        produce(&mut state, &batch_of(8, 0, 0, 1, 50)); // timestamp 1050
        assert_eq!(state.admit(&batch_of(8, 0, 1, 1, 0)), APPEND);
        assert_eq!(state.expire(1_999, 1_000), 0);
        assert_eq!(state.expire(2_000, 1_000), 1, "producer 7 expires");
        assert!(state.entry(7).is_none());
        assert!(state.entry(8).is_some(), "kept while a batch is admitted");
    }

    #[test]
    fn control_and_non_idempotent_batches_are_not_tracked() {
        let mut state = ProducerStates::default();
        let plain = BatchBuilder::new(0).record(b"", b"x", 0).build();
        assert_eq!(
            produce(&mut state, &plain),
            Admission::Append { reserved: false }
        );
        assert_eq!(state.len(), 0);
    }
    /// A transactional batch of producer 7.
    fn txn_batch(epoch: i16, base_sequence: i32, count: i32, base_offset: i64) -> Vec<u8> {
        let mut batch = batch_at(epoch, base_sequence, count, base_offset);
        let attributes =
            i16::from_be_bytes([batch[21], batch[22]]) | txn_marker::ATTR_TRANSACTIONAL;
        batch[21..23].copy_from_slice(&attributes.to_be_bytes());
        skein_engine::test_batch::reseal(&mut batch);
        batch
    }

    /// A marker of producer 7 at `offset`.
    fn marker_at(epoch: i16, coordinator_epoch: i32, result: TxnResult, offset: i64) -> Vec<u8> {
        let mut batch = txn_marker::encode(
            7,
            epoch,
            TxnMarker {
                result,
                coordinator_epoch,
            },
            2_000,
        );
        batch[0..8].copy_from_slice(&offset.to_be_bytes());
        batch
    }

    fn apply_all(state: &mut ProducerStates, records: &[u8]) -> Vec<CompletedTxn> {
        let markers = markers_of(records);
        batch_headers(records)
            .enumerate()
            .filter_map(|(index, header)| {
                state.apply(&header, markers.get(index).copied().flatten())
            })
            .collect()
    }

    #[test]
    fn a_transaction_opens_at_its_first_batch_and_a_marker_completes_it() {
        let mut state = ProducerStates::default();
        assert_eq!(state.admit(&txn_batch(0, 0, 2, 10)), APPEND);
        apply_all(&mut state, &txn_batch(0, 0, 2, 10));
        assert_eq!(state.admit(&txn_batch(0, 2, 1, 12)), APPEND);
        apply_all(&mut state, &txn_batch(0, 2, 1, 12));
        assert_eq!(
            state.entry(7).and_then(|e| e.current_txn_first_offset),
            Some(10)
        );
        assert_eq!(state.first_unstable_offset(100), Some(10));
        let completed = apply_all(&mut state, &marker_at(0, 3, TxnResult::Abort, 13));
        let expected = CompletedTxn {
            producer_id: 7,
            first_offset: 10,
            last_offset: 13,
            aborted: true,
        };
        assert_eq!(completed, vec![expected]);
        assert_eq!(state.stable_offset_after(&expected), 14);
        assert_eq!(state.entry(7).map(|e| e.coordinator_epoch), Some(3));
        assert_eq!(
            state.entry(7).and_then(|e| e.current_txn_first_offset),
            None
        );
        assert_eq!(
            state.first_unstable_offset(13),
            Some(10),
            "unstable until the high watermark passes the marker"
        );
        assert_eq!(state.first_unstable_offset(14), None);
        // The sequence goes on after the marker within the epoch.
        assert_eq!(state.admit(&txn_batch(0, 3, 1, 14)), APPEND);
    }

    #[test]
    fn a_non_transactional_batch_during_a_transaction_is_invalid_txn_state() {
        let mut state = ProducerStates::default();
        produce(&mut state, &txn_batch(0, 0, 1, 0));
        assert_eq!(
            state.admit(&batch_at(0, 1, 1, 0)),
            Admission::Refuse(ProducerError::InvalidTxnState { producer_id: 7 })
        );
        let mut mixed = txn_batch(0, 1, 1, 0);
        mixed.extend(batch_at(0, 2, 1, 0));
        assert_eq!(
            state.admit(&mixed),
            Admission::Refuse(ProducerError::InvalidTxnState { producer_id: 7 }),
            "checked against the earlier batch of the same request"
        );
    }

    #[test]
    fn clients_may_not_write_control_batches_or_transactional_batches_without_a_producer() {
        let mut state = ProducerStates::default();
        assert!(matches!(
            state.admit(&marker_at(0, 0, TxnResult::Commit, 0)),
            Admission::Refuse(ProducerError::InvalidRecord { .. })
        ));
        let mut anonymous = BatchBuilder::new(0).record(b"", b"x", 0).build();
        anonymous[21..23].copy_from_slice(&txn_marker::ATTR_TRANSACTIONAL.to_be_bytes());
        skein_engine::test_batch::reseal(&mut anonymous);
        assert!(matches!(
            state.admit(&anonymous),
            Admission::Refuse(ProducerError::InvalidRecord { .. })
        ));
    }

    #[test]
    fn markers_from_an_old_producer_epoch_or_coordinator_epoch_are_fenced() {
        let mut state = ProducerStates::default();
        assert_eq!(state.check_marker(7, 0, 0), Ok(()), "an unknown producer");
        produce(&mut state, &txn_batch(2, 0, 1, 0));
        apply_all(&mut state, &marker_at(2, 5, TxnResult::Commit, 1));
        assert_eq!(
            state.check_marker(7, 1, 5),
            Err(ProducerError::InvalidProducerEpoch {
                requested: 1,
                current: 2
            })
        );
        assert_eq!(
            state.check_marker(7, 2, 4),
            Err(ProducerError::TransactionCoordinatorFenced {
                requested: 4,
                current: 5
            })
        );
        assert_eq!(state.check_marker(7, 3, 5), Ok(()), "a bumped epoch");
        apply_all(&mut state, &marker_at(3, 5, TxnResult::Abort, 2));
        assert_eq!(state.entry(7).map(|e| e.epoch), Some(3));
        assert_eq!(
            state.entry(7).map(|e| e.batches.len()),
            Some(0),
            "an epoch bump forgets the old epoch's batches"
        );
    }

    #[test]
    fn the_first_unstable_offset_is_the_oldest_open_transaction() {
        let mut state = ProducerStates::default();
        produce(&mut state, &txn_batch(0, 0, 1, 5));
        produce(&mut state, &batch_of(8, 0, 0, 1, 6));
        let mut other = batch_of(9, 0, 0, 1, 7);
        other[21..23].copy_from_slice(&txn_marker::ATTR_TRANSACTIONAL.to_be_bytes());
        skein_engine::test_batch::reseal(&mut other);
        produce(&mut state, &other);
        assert_eq!(state.first_unstable_offset(8), Some(5));
        let completed = apply_all(&mut state, &marker_at(0, 0, TxnResult::Commit, 8));
        assert_eq!(completed.len(), 1);
        assert_eq!(
            state.stable_offset_after(&completed[0]),
            7,
            "producer 9's transaction is still open"
        );
        assert_eq!(state.first_unstable_offset(9), Some(7));
        // A snapshot round trip keeps the open transaction.
        let entries: Vec<(i64, ProducerEntry)> =
            state.entries().map(|(id, e)| (id, e.clone())).collect();
        let mut restored = ProducerStates::from_entries(entries);
        assert_eq!(restored.first_unstable_offset(9), Some(7));
    }

    #[test]
    fn a_replayed_marker_completes_nothing_twice() {
        let mut state = ProducerStates::default();
        produce(&mut state, &txn_batch(0, 0, 1, 0));
        let marker = marker_at(0, 0, TxnResult::Abort, 1);
        assert_eq!(apply_all(&mut state, &marker).len(), 1);
        assert!(apply_all(&mut state, &marker).is_empty());
    }
}
