//! One transactional id's state as the coordinator holds it: Kafka's
//! `TransactionMetadata` and its states, with the write in flight (at most
//! one: a transition is applied only once its record is durable) and the
//! marker send in flight.

use std::collections::BTreeSet;

use crate::group_coordinator::{PersistId, TopicPartition};

use super::action::MarkerId;
use super::record::TransactionLogValue;

/// A transaction's state, with Kafka's status codes and names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransactionState {
    /// No transaction in progress (after InitProducerId).
    Empty,
    /// Partitions were added; the transaction runs.
    Ongoing,
    /// EndTxn(commit) is durable; markers are being written.
    PrepareCommit,
    /// EndTxn(abort), a timeout or a fencing InitProducerId is durable;
    /// markers are being written.
    PrepareAbort,
    /// Every commit marker is written.
    CompleteCommit,
    /// Every abort marker is written.
    CompleteAbort,
    /// The transactional id expired and is being removed.
    Dead,
    /// Kafka's intermediate state while fencing a producer; Skein goes
    /// straight to [`TransactionState::PrepareAbort`] with the bumped epoch
    /// but reads the state from Kafka's logs.
    PrepareEpochFence,
}

impl TransactionState {
    /// Kafka's status code in `TransactionLogValue`.
    pub fn code(self) -> i8 {
        match self {
            TransactionState::Empty => 0,
            TransactionState::Ongoing => 1,
            TransactionState::PrepareCommit => 2,
            TransactionState::PrepareAbort => 3,
            TransactionState::CompleteCommit => 4,
            TransactionState::CompleteAbort => 5,
            TransactionState::Dead => 6,
            TransactionState::PrepareEpochFence => 7,
        }
    }

    /// The state of status `code`, if Kafka defines it.
    pub fn from_code(code: i8) -> Option<TransactionState> {
        Some(match code {
            0 => TransactionState::Empty,
            1 => TransactionState::Ongoing,
            2 => TransactionState::PrepareCommit,
            3 => TransactionState::PrepareAbort,
            4 => TransactionState::CompleteCommit,
            5 => TransactionState::CompleteAbort,
            6 => TransactionState::Dead,
            7 => TransactionState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// Kafka's name (DescribeTransactions, ListTransactions).
    pub fn kafka_name(self) -> &'static str {
        match self {
            TransactionState::Empty => "Empty",
            TransactionState::Ongoing => "Ongoing",
            TransactionState::PrepareCommit => "PrepareCommit",
            TransactionState::PrepareAbort => "PrepareAbort",
            TransactionState::CompleteCommit => "CompleteCommit",
            TransactionState::CompleteAbort => "CompleteAbort",
            TransactionState::Dead => "Dead",
            TransactionState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// Whether a new transaction (or an epoch bump) may start.
    pub(crate) fn is_finished(self) -> bool {
        matches!(
            self,
            TransactionState::Empty
                | TransactionState::CompleteCommit
                | TransactionState::CompleteAbort
        )
    }

    /// Whether markers are (or must be) written for this state.
    pub(crate) fn is_preparing(self) -> bool {
        matches!(
            self,
            TransactionState::PrepareCommit | TransactionState::PrepareAbort
        )
    }
}

/// What happens once a pending write is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AfterWrite {
    /// Answer InitProducerId with the new producer id and epoch.
    RespondInit(super::RequestToken),
    /// Answer AddPartitionsToTxn (every partition ok).
    RespondAddPartitions(super::RequestToken, Vec<TopicPartition>),
    /// Answer AddOffsetsToTxn.
    RespondAddOffsets(super::RequestToken),
    /// Answer EndTxn, then send the markers.
    RespondEndTxn(super::RequestToken),
    /// Send the markers (an abort the coordinator started).
    SendMarkers,
    /// Nothing: the transaction is complete.
    Complete,
    /// Forget the transactional id (its tombstone is durable).
    Remove,
}

/// A write in flight: the state it makes durable and what follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingWrite {
    /// The append's id.
    pub id: PersistId,
    /// The state once written.
    pub target: TransactionLogValue,
    /// `last_producer_id`/`last_producer_epoch` once written.
    pub last: (i64, i16),
    /// What follows.
    pub after: AfterWrite,
}

/// One transactional id's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransactionMetadata {
    /// The `__transaction_state` partition holding it.
    pub partition: u32,
    /// The current (durable) producer id.
    pub producer_id: i64,
    /// The producer id before the last rotation (epoch exhausted), or -1.
    pub last_producer_id: i64,
    /// The current producer epoch.
    pub producer_epoch: i16,
    /// The epoch before the last bump, or -1 (a retried InitProducerId of
    /// that epoch gets the current one back).
    pub last_producer_epoch: i16,
    /// `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// The durable state.
    pub state: TransactionState,
    /// The partitions of the current transaction.
    pub partitions: BTreeSet<TopicPartition>,
    /// When the current transaction began; -1 if none.
    pub start_ms: i64,
    /// When the state last changed.
    pub last_update_ms: i64,
    /// The write in flight, if any: no other transition may start.
    pub pending: Option<PendingWrite>,
    /// The marker send in flight, if any.
    pub markers: Option<MarkerId>,
}

impl TransactionMetadata {
    /// The metadata of a stored value.
    pub fn from_value(partition: u32, value: TransactionLogValue) -> TransactionMetadata {
        TransactionMetadata {
            partition,
            producer_id: value.producer_id,
            last_producer_id: -1,
            producer_epoch: value.producer_epoch,
            last_producer_epoch: -1,
            timeout_ms: value.timeout_ms,
            state: value.state,
            partitions: value.partitions.into_iter().collect(),
            start_ms: value.start_ms,
            last_update_ms: value.last_update_ms,
            pending: None,
            markers: None,
        }
    }

    /// The durable state as a value, to derive the next one from.
    pub fn value(&self) -> TransactionLogValue {
        TransactionLogValue {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            timeout_ms: self.timeout_ms,
            state: self.state,
            partitions: self.partitions.iter().cloned().collect(),
            last_update_ms: self.last_update_ms,
            start_ms: self.start_ms,
        }
    }

    /// Makes `pending`'s target the durable state.
    pub fn apply(&mut self, pending: &PendingWrite) {
        let target = &pending.target;
        self.producer_id = target.producer_id;
        self.producer_epoch = target.producer_epoch;
        self.timeout_ms = target.timeout_ms;
        self.state = target.state;
        self.partitions = target.partitions.iter().cloned().collect();
        self.last_update_ms = target.last_update_ms;
        self.start_ms = target.start_ms;
        (self.last_producer_id, self.last_producer_epoch) = pending.last;
    }
}
