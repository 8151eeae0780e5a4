//! The sans-IO contract: what the driver feeds the coordinator
//! ([`RequestToken`]s with requests, ticks, append completions) and what the
//! coordinator asks the driver to do ([`Action`]s).

use bytes::Bytes;

use super::response::Response;

/// An opaque handle the driver attaches to each request so it can route the
/// (possibly much later) response back to its connection and correlation id.
/// The coordinator never interprets it; it answers each token exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestToken(pub u64);

/// Identifies one [`Action::Persist`]; the driver passes it back to
/// [`super::GroupCoordinator::persisted`] once the append resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersistId(pub u64);

/// One `__consumer_offsets` record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetsRecord {
    /// The encoded key (see [`super::RecordKey`]).
    pub key: Bytes,
    /// The encoded value, or `None` for a tombstone.
    pub value: Option<Bytes>,
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
    /// Append `records` to `__consumer_offsets` partition `partition` as one
    /// batch (atomically: all or none), then call
    /// [`super::GroupCoordinator::persisted`] with `id` and the outcome. The
    /// responses that depend on the append (offset commits, the SyncGroup
    /// that completes a rebalance, a static member's rejoin) are only
    /// produced by that call. Appends to one partition must be applied in
    /// the order they were emitted.
    Persist {
        /// The append's id.
        id: PersistId,
        /// The `__consumer_offsets` partition (see
        /// [`super::partition_for_group`]).
        partition: u32,
        /// The records, in order.
        records: Vec<OffsetsRecord>,
        /// `Some((producer_id, producer_epoch))`: write them as a
        /// transactional batch of that producer (TxnOffsetCommit), visible
        /// once its commit marker follows; `None` for every other append.
        transactional: Option<(i64, i16)>,
    },
}
