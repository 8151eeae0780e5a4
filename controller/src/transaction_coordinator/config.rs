//! Transaction coordinator configuration, with Kafka's property names and
//! defaults.

/// Transaction coordinator settings; units are in the names.
///
/// Lives on: the control shard (an immutable copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionCoordinatorConfig {
    /// `transaction.state.log.num.partitions` (default 50): partitions of
    /// `__transaction_state`; decides which partition holds each
    /// transactional id, so it never changes once the topic exists. ≥ 1.
    pub transaction_state_num_partitions: u32,
    /// `offsets.topic.num.partitions` (default 50): AddOffsetsToTxn adds the
    /// group's `__consumer_offsets` partition to the transaction. ≥ 1.
    pub offsets_topic_num_partitions: u32,
    /// `transaction.max.timeout.ms` (default 900000): the longest
    /// `transaction.timeout.ms` a producer may ask for; longer gets
    /// INVALID_TRANSACTION_TIMEOUT. ≥ 1.
    pub transaction_max_timeout_ms: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`
    /// (default 10000): how often ongoing transactions past their timeout
    /// are looked for (and aborted with an epoch bump). ≥ 1.
    pub abort_timed_out_transaction_cleanup_interval_ms: i64,
    /// `transactional.id.expiration.ms` (default 604800000): a
    /// transactional id with no transaction in progress and no update for
    /// this long is removed (a tombstone is written). ≥ 1.
    pub transactional_id_expiration_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`
    /// (default 3600000): how often expired transactional ids are looked
    /// for. ≥ 1.
    pub remove_expired_transaction_cleanup_interval_ms: i64,
}

impl Default for TransactionCoordinatorConfig {
    fn default() -> Self {
        TransactionCoordinatorConfig {
            transaction_state_num_partitions: 50,
            offsets_topic_num_partitions: 50,
            transaction_max_timeout_ms: 900_000,
            abort_timed_out_transaction_cleanup_interval_ms: 10_000,
            transactional_id_expiration_ms: 604_800_000,
            remove_expired_transaction_cleanup_interval_ms: 3_600_000,
        }
    }
}
