//! Transaction coordinator errors: one variant per Kafka error code the
//! coordinator returns, so `net/src/error_code.rs` maps them with one
//! exhaustive `match`.

/// An outcome of a transactional request that Kafka reports as an error
/// code; each variant names the Kafka error and its code.
///
/// Lives on: the control shard (returned inside [`super::Response`]s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// `UNKNOWN_SERVER_ERROR` (-1): a state record too large to append.
    #[error("unexpected server error")]
    UnknownServerError,
    /// `COORDINATOR_LOAD_IN_PROGRESS` (14): the transactional id's
    /// `__transaction_state` partition is still being replayed; retriable.
    #[error("the transaction state partition is still loading")]
    CoordinatorLoadInProgress,
    /// `COORDINATOR_NOT_AVAILABLE` (15): the state append failed
    /// transiently (replicas short, timeout), or the node is stopping.
    #[error("transaction coordinator not available")]
    CoordinatorNotAvailable,
    /// `NOT_COORDINATOR` (16): this broker does not lead the transactional
    /// id's `__transaction_state` partition (any more).
    #[error("not the transaction coordinator for this transactional id")]
    NotCoordinator,
    /// `INVALID_PRODUCER_EPOCH` (47): an old client's name for a fenced
    /// producer (the network layer turns [`Self::ProducerFenced`] into this
    /// for request versions that predate PRODUCER_FENCED).
    #[error("invalid producer epoch")]
    InvalidProducerEpoch,
    /// `INVALID_TXN_STATE` (48): the request does not fit the transaction's
    /// state (EndTxn with nothing begun, commit of an aborted transaction).
    #[error("the request is invalid in the transaction's current state")]
    InvalidTxnState,
    /// `INVALID_PRODUCER_ID_MAPPING` (49): the producer id is not the
    /// transactional id's.
    #[error("the producer id does not belong to this transactional id")]
    InvalidProducerIdMapping,
    /// `INVALID_TRANSACTION_TIMEOUT` (50): the timeout is not in
    /// `1..=transaction.max.timeout.ms`.
    #[error("transaction timeout outside 1..=transaction.max.timeout.ms")]
    InvalidTransactionTimeout,
    /// `CONCURRENT_TRANSACTIONS` (51): the previous transaction of this
    /// id is still being completed; retriable.
    #[error("a previous transaction is still completing")]
    ConcurrentTransactions,
    /// `TRANSACTIONAL_ID_NOT_FOUND` (105): DescribeTransactions of an id
    /// the coordinator does not know.
    #[error("transactional id not found")]
    TransactionalIdNotFound,
    /// `PRODUCER_FENCED` (90): a newer instance with the same
    /// transactional id (or the coordinator, aborting a timed-out
    /// transaction) bumped the epoch.
    #[error("producer fenced by a newer epoch")]
    ProducerFenced,
}

/// Why a `__transaction_state` partition could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionLoadError {
    /// The partition is not one of `transaction.state.log.num.partitions`.
    #[error("__transaction_state partition {partition} is out of range (0..{partitions})")]
    PartitionOutOfRange {
        /// The partition asked for.
        partition: u32,
        /// The configured partition count.
        partitions: u32,
    },
    /// A stored record does not decode.
    #[error("record {index} of __transaction_state partition {partition}: {reason}")]
    Record {
        /// The partition.
        partition: u32,
        /// The record's position in the replay.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
}
