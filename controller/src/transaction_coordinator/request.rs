//! The requests the transaction coordinator accepts: the fields of Kafka's
//! transactional APIs it needs, decoded and version-normalised by the
//! network layer.

use crate::group_coordinator::TopicPartition;

/// InitProducerId (API 22) with a transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerId {
    /// The transactional id (non-empty).
    pub transactional_id: String,
    /// The producer's `transaction.timeout.ms`.
    pub transaction_timeout_ms: i32,
    /// KIP-360 (v3+): the producer id and epoch the producer has, when it
    /// re-initialises itself after an abortable error; `None` for -1/-1.
    pub producer_id_and_epoch: Option<(i64, i16)>,
    /// A producer id never handed out before, taken from the controller's
    /// producer id blocks by the driver, used if this id needs one (its
    /// first initialisation, or its epoch is exhausted).
    pub fresh_producer_id: i64,
}

/// AddPartitionsToTxn (API 24): one transaction's partitions. v0–v3 come
/// from producers; v4+ batches from brokers may be `verify_only`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitions {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The partitions to add (or, verifying, to check).
    pub partitions: Vec<TopicPartition>,
    /// KIP-890: only check that every partition is already in the ongoing
    /// transaction; change nothing.
    pub verify_only: bool,
}

/// AddOffsetsToTxn (API 25): the group's `__consumer_offsets` partition
/// joins the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOffsets {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The consumer group whose offsets the transaction commits.
    pub group_id: String,
}

/// EndTxn (API 26).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTxn {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// Commit (`true`) or abort.
    pub committed: bool,
}

/// ListTransactions (API 66).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListTransactions {
    /// Only these states (Kafka's names); empty for all.
    pub state_filters: Vec<String>,
    /// Only these producer ids; empty for all.
    pub producer_id_filters: Vec<i64>,
    /// v1+: only transactions running longer than this, in ms; `None`
    /// for -1.
    pub duration_filter_ms: Option<i64>,
}

/// A request to the transaction coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// InitProducerId; answered once the new epoch is durable.
    InitProducerId(InitProducerId),
    /// AddPartitionsToTxn; answered once the partitions are durable.
    AddPartitions(AddPartitions),
    /// AddOffsetsToTxn; answered once the partition is durable.
    AddOffsets(AddOffsets),
    /// EndTxn; answered once PrepareCommit/PrepareAbort is durable.
    EndTxn(EndTxn),
    /// DescribeTransactions of these ids; immediate.
    DescribeTransactions(Vec<String>),
    /// ListTransactions; immediate.
    ListTransactions(ListTransactions),
}
