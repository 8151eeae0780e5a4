//! The sans-IO contract of the transaction coordinator: what the driver
//! feeds it (requests with [`RequestToken`]s, ticks, append and marker
//! completions) and what it asks the driver to do ([`Action`]s).

use bytes::Bytes;

use crate::group_coordinator::TopicPartition;
pub use crate::group_coordinator::{AppendError, PersistId, RequestToken};

use super::response::Response;

/// Identifies one [`Action::SendMarkers`]; the driver passes it back to
/// [`super::TransactionCoordinator::markers_written`] once every partition
/// has its marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MarkerId(pub u64);

/// One `__transaction_state` record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    /// The encoded key ([`super::encode_key`]).
    pub key: Bytes,
    /// The encoded value ([`super::encode_value`]), or `None` for the
    /// tombstone of an expired transactional id.
    pub value: Option<Bytes>,
}

/// The markers that end one transaction: WriteTxnMarkers (API 27) to the
/// leader of each partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionMarkers {
    /// The transactional id (for logs).
    pub transactional_id: String,
    /// The producer whose transaction ends.
    pub producer_id: i64,
    /// Its epoch: the one the transaction ran at, or the bumped epoch of a
    /// coordinator-initiated abort (timeout, fencing).
    pub producer_epoch: i16,
    /// Commit (`true`) or abort markers.
    pub committed: bool,
    /// The leader epoch of the transaction's `__transaction_state`
    /// partition (Kafka's coordinator epoch), so partitions can refuse a
    /// deposed coordinator's markers.
    pub coordinator_epoch: i32,
    /// Every partition of the transaction, `__consumer_offsets` ones
    /// included.
    pub partitions: Vec<TopicPartition>,
}

/// Something the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `response` for the request that came with `token`.
    Respond {
        /// The request's token.
        token: RequestToken,
        /// The response.
        response: Response,
    },
    /// Append `record` to `__transaction_state` partition `partition` with
    /// acks=all, then call [`super::TransactionCoordinator::persisted`]
    /// with `id` and the outcome. Appends to one partition must be applied
    /// in the order they were emitted.
    Persist {
        /// The append's id.
        id: PersistId,
        /// The `__transaction_state` partition.
        partition: u32,
        /// The record.
        record: StateRecord,
    },
    /// Write `markers` to every partition (retrying each until it is
    /// written or the partition no longer exists), then call
    /// [`super::TransactionCoordinator::markers_written`] with `id`.
    SendMarkers {
        /// The send's id.
        id: MarkerId,
        /// What to write where.
        markers: TransactionMarkers,
    },
}
