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
//! Lives on: the partition's owner shard.

use std::collections::{HashMap, VecDeque};

use skein_engine::{AppendInfo, BatchHeader, BATCH_HEADER_BYTES};

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
}

impl ProducerStates {
    /// Decides on the batches of one Produce partition, checked batch by
    /// batch (a later batch of the same producer against the earlier ones),
    /// and on `Append` reserves the idempotent batches' sequence ranges.
    /// A duplicate of any batch answers the whole request, as in Kafka.
    pub fn admit(&mut self, records: &[u8]) -> Admission {
        let mut idempotent = false;
        for (index, header) in batch_headers(records).enumerate() {
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
    /// offset). Non-idempotent batches and batches the state already holds
    /// (a replay over an overlap) change nothing; an older epoch than the
    /// producer's is ignored (a leader refuses those; Kafka's replication
    /// path only warns).
    pub fn apply(&mut self, header: &BatchHeader) {
        let Some(batch) = BatchIdentity::of(header) else {
            return;
        };
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
            return;
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
        assert!(entry.batches.len() <= REMEMBERED_BATCHES);
    }

    /// Removes the producers whose last batch is `producer_id_expiration_ms`
    /// or more older than `now_ms` (Kafka's `producer.id.expiration.ms`),
    /// unless a transaction or an admitted batch of theirs is open. Returns
    /// how many were removed.
    pub fn expire(&mut self, now_ms: i64, producer_id_expiration_ms: i64) -> usize {
        let before = self.applied.len();
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
        ProducerStates {
            applied: entries.into_iter().collect(),
            reservations: HashMap::new(),
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
                state.apply(&header);
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
            state.apply(&header);
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
            state.apply(&header);
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
}
