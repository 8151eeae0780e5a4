//! The transaction coordinator's answers, before the network layer encodes
//! them.

use crate::group_coordinator::TopicPartition;

use super::error::TransactionError;

/// One transaction as DescribeTransactions shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedTransaction {
    /// Kafka's state name.
    pub state: &'static str,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// When the current transaction began, or -1.
    pub start_ms: i64,
    /// Its partitions, sorted.
    pub partitions: Vec<TopicPartition>,
}

/// One transaction as ListTransactions shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTransaction {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: i64,
    /// Kafka's state name.
    pub state: &'static str,
}

/// A response, matching the request's variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The producer id and epoch.
    InitProducerId(Result<(i64, i16), TransactionError>),
    /// Per partition, in request order.
    AddPartitions(Vec<(TopicPartition, Result<(), TransactionError>)>),
    /// AddOffsetsToTxn's outcome.
    AddOffsets(Result<(), TransactionError>),
    /// EndTxn's outcome.
    EndTxn(Result<(), TransactionError>),
    /// Per transactional id, in request order.
    DescribeTransactions(Vec<(String, Result<DescribedTransaction, TransactionError>)>),
    /// The transactions and the state filters that name no state.
    ListTransactions(Result<(Vec<ListedTransaction>, Vec<String>), TransactionError>),
}
