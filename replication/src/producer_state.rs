//! Idempotent producers: per partition, each producer id's epoch and the
//! sequence numbers of its last batches, checked before an append so a
//! retried batch is answered with its first outcome instead of being
//! written twice, and a gap or a fenced epoch is refused with Kafka's codes.
//!
//! The state lives on the partition's owner shard, in memory: after a
//! restart a producer's first batch is accepted whatever its sequence (as
//! Kafka does for an unknown producer), so a retry that straddles a broker
//! restart may be written twice. Rebuilding it from the log is the next step.

use std::collections::{HashMap, VecDeque};

use skein_engine::{AppendInfo, BatchHeader};

/// How many of a producer's last batches are remembered for duplicate
/// detection: Kafka's limit of in-flight requests per idempotent producer.
const REMEMBERED_BATCHES: usize = 5;

/// The idempotence fields of the first batch of a Produce partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchIdentity {
    /// The producer id (-1: not idempotent).
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// Sequence of the first record.
    pub base_sequence: i32,
    /// Sequence of the last record.
    pub last_sequence: i32,
}

/// Reads the identity of an idempotent batch, when `records` is exactly one
/// batch of a producer with an id. Anything else (several batches, no
/// producer id, too short) is appended without idempotence checks; the
/// engine validates the bytes either way.
pub fn batch_identity(records: &[u8]) -> Option<BatchIdentity> {
    let header = BatchHeader::read(records)?;
    if usize::try_from(header.total_bytes()).ok()? != records.len() {
        return None;
    }
    let producer_id = header.producer_id.get();
    if producer_id < 0 {
        return None;
    }
    let base_sequence = header.base_sequence.get();
    let last_offset_delta = header.last_offset_delta.get();
    if base_sequence < 0 || last_offset_delta < 0 {
        return None;
    }
    Some(BatchIdentity {
        producer_id,
        producer_epoch: header.producer_epoch.get(),
        base_sequence,
        last_sequence: base_sequence.wrapping_add(last_offset_delta) & i32::MAX,
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

/// What to do with an idempotent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Append it; its sequence range is now reserved.
    Append,
    /// A retry of a batch already appended: answer with its outcome.
    Duplicate(AppendInfo),
    /// Refuse it.
    Refuse(ProducerError),
}

#[derive(Debug, Default)]
struct Producer {
    epoch: i16,
    /// The sequence the next batch must start at.
    next_sequence: i32,
    /// The last appended batches: (base sequence, last sequence, outcome).
    appended: VecDeque<(i32, i32, AppendInfo)>,
}

/// The producers of one partition. Lives on: the partition's owner shard.
#[derive(Debug, Default)]
pub struct PartitionProducers {
    producers: HashMap<i64, Producer>,
}

impl PartitionProducers {
    /// Decides on a batch and, when it is to be appended, reserves its
    /// sequence range (so a pipelined next batch is checked against it).
    pub fn admit(&mut self, batch: &BatchIdentity) -> Admission {
        let Some(producer) = self.producers.get_mut(&batch.producer_id) else {
            self.producers.insert(
                batch.producer_id,
                Producer {
                    epoch: batch.producer_epoch,
                    next_sequence: next(batch.last_sequence),
                    appended: VecDeque::new(),
                },
            );
            return Admission::Append;
        };
        if batch.producer_epoch < producer.epoch {
            return Admission::Refuse(ProducerError::InvalidProducerEpoch {
                requested: batch.producer_epoch,
                current: producer.epoch,
            });
        }
        if batch.producer_epoch > producer.epoch {
            if batch.base_sequence != 0 {
                return Admission::Refuse(ProducerError::OutOfOrderSequence {
                    base_sequence: batch.base_sequence,
                    expected: 0,
                });
            }
            *producer = Producer {
                epoch: batch.producer_epoch,
                next_sequence: next(batch.last_sequence),
                appended: VecDeque::new(),
            };
            return Admission::Append;
        }
        if let Some((_, _, info)) = producer
            .appended
            .iter()
            .find(|(base, last, _)| *base == batch.base_sequence && *last == batch.last_sequence)
        {
            return Admission::Duplicate(*info);
        }
        if batch.base_sequence != producer.next_sequence {
            return Admission::Refuse(ProducerError::OutOfOrderSequence {
                base_sequence: batch.base_sequence,
                expected: producer.next_sequence,
            });
        }
        producer.next_sequence = next(batch.last_sequence);
        Admission::Append
    }

    /// Records the outcome of an admitted batch. A failed append forgets
    /// the producer's sequence, so its retry is accepted as a fresh start.
    pub fn appended(&mut self, batch: &BatchIdentity, outcome: Option<AppendInfo>) {
        let Some(producer) = self.producers.get_mut(&batch.producer_id) else {
            return;
        };
        if producer.epoch != batch.producer_epoch {
            return;
        }
        match outcome {
            Some(info) => {
                producer
                    .appended
                    .push_back((batch.base_sequence, batch.last_sequence, info));
                while producer.appended.len() > REMEMBERED_BATCHES {
                    producer.appended.pop_front();
                }
            }
            None => {
                self.producers.remove(&batch.producer_id);
            }
        }
    }
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

    fn batch(epoch: i16, base: i32, last: i32) -> BatchIdentity {
        BatchIdentity {
            producer_id: 7,
            producer_epoch: epoch,
            base_sequence: base,
            last_sequence: last,
        }
    }

    fn info(base_offset: i64) -> AppendInfo {
        AppendInfo {
            base_offset,
            last_offset: base_offset + 1,
            log_append_time_ms: -1,
            log_start_offset: 0,
            record_count: 2,
        }
    }

    #[test]
    fn in_order_batches_are_appended_and_retries_answered_from_memory() {
        let mut state = PartitionProducers::default();
        assert_eq!(state.admit(&batch(0, 0, 1)), Admission::Append);
        state.appended(&batch(0, 0, 1), Some(info(10)));
        assert_eq!(state.admit(&batch(0, 2, 3)), Admission::Append);
        state.appended(&batch(0, 2, 3), Some(info(12)));
        assert_eq!(state.admit(&batch(0, 0, 1)), Admission::Duplicate(info(10)));
        assert_eq!(state.admit(&batch(0, 2, 3)), Admission::Duplicate(info(12)));
    }

    #[test]
    fn gaps_and_fenced_epochs_are_refused() {
        let mut state = PartitionProducers::default();
        assert_eq!(state.admit(&batch(1, 0, 0)), Admission::Append);
        state.appended(&batch(1, 0, 0), Some(info(0)));
        assert_eq!(
            state.admit(&batch(1, 5, 5)),
            Admission::Refuse(ProducerError::OutOfOrderSequence {
                base_sequence: 5,
                expected: 1
            })
        );
        assert_eq!(
            state.admit(&batch(0, 1, 1)),
            Admission::Refuse(ProducerError::InvalidProducerEpoch {
                requested: 0,
                current: 1
            })
        );
        assert_eq!(
            state.admit(&batch(2, 3, 3)),
            Admission::Refuse(ProducerError::OutOfOrderSequence {
                base_sequence: 3,
                expected: 0
            })
        );
        assert_eq!(
            state.admit(&batch(2, 0, 0)),
            Admission::Append,
            "a new epoch starts at 0"
        );
    }

    #[test]
    fn pipelined_batches_reserve_their_range() {
        let mut state = PartitionProducers::default();
        assert_eq!(state.admit(&batch(0, 0, 4)), Admission::Append);
        assert_eq!(
            state.admit(&batch(0, 5, 9)),
            Admission::Append,
            "checked against the reservation"
        );
        state.appended(&batch(0, 0, 4), None);
        assert_eq!(
            state.admit(&batch(0, 0, 4)),
            Admission::Append,
            "a failed append resets the producer"
        );
    }

    #[test]
    fn identity_is_read_from_a_single_batch_only() {
        let mut records = vec![0u8; 70];
        records[8..12].copy_from_slice(&58i32.to_be_bytes());
        records[23..27].copy_from_slice(&2i32.to_be_bytes());
        records[43..51].copy_from_slice(&9i64.to_be_bytes());
        records[51..53].copy_from_slice(&3i16.to_be_bytes());
        records[53..57].copy_from_slice(&4i32.to_be_bytes());
        let identity = batch_identity(&records).unwrap();
        assert_eq!(identity.producer_id, 9);
        assert_eq!(identity.producer_epoch, 3);
        assert_eq!((identity.base_sequence, identity.last_sequence), (4, 6));
        records.push(0);
        assert_eq!(batch_identity(&records), None, "not exactly one batch");
        records.pop();
        records[43..51].copy_from_slice(&(-1i64).to_be_bytes());
        assert_eq!(batch_identity(&records), None, "not idempotent");
    }
}
