//! The transaction coordinator's state machine: Kafka's
//! `TransactionCoordinator` and `TransactionStateManager` without IO.
//!
//! Invariants: a transactional id has at most one write in flight, and its
//! state changes only when that write is durable (so what a client was told
//! is always what a replay rebuilds); markers are sent only from
//! PrepareCommit/PrepareAbort, and Complete* is written only after every
//! marker is; a transactional id is served only while its
//! `__transaction_state` partition is loaded here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::group_coordinator::{
    partition_for_group, AppendError, PersistId, TopicPartition, CONSUMER_OFFSETS_TOPIC,
};

use super::action::{Action, MarkerId, RequestToken, StateRecord, TransactionMarkers};
use super::config::TransactionCoordinatorConfig;
use super::error::{TransactionError, TransactionLoadError};
use super::metadata::{AfterWrite, PendingWrite, TransactionMetadata, TransactionState};
use super::record::{
    decode_key, decode_value, encode_key, encode_value, partition_for_transactional_id,
    TransactionLogValue,
};
use super::request::{AddPartitions, EndTxn, InitProducerId, ListTransactions, Request};
use super::response::{DescribedTransaction, ListedTransaction, Response};

/// The epoch at which a producer id is exhausted: the next bump rotates to
/// a fresh producer id (Kafka's `isEpochExhausted`: `epoch >= Short.MAX_VALUE - 1`).
const EPOCH_EXHAUSTED: i16 = i16::MAX - 1;

/// What this broker does with one `__transaction_state` partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartitionStatus {
    /// Led elsewhere: its ids get NOT_COORDINATOR.
    Unowned,
    /// Being replayed: its ids get COORDINATOR_LOAD_IN_PROGRESS.
    Loading,
    /// Loaded at this coordinator epoch (the partition's leader epoch).
    Serving { coordinator_epoch: i32 },
}

/// The transaction coordinator. Lives on: the control shard only.
#[derive(Debug)]
pub struct TransactionCoordinator {
    config: TransactionCoordinatorConfig,
    transactions: BTreeMap<String, TransactionMetadata>,
    partitions: Vec<PartitionStatus>,
    /// Writes in flight → their transactional id.
    writes: HashMap<PersistId, String>,
    /// Marker sends in flight → their transactional id.
    marker_sends: HashMap<MarkerId, String>,
    next_persist: u64,
    next_marker: u64,
    next_abort_scan_ms: i64,
    next_expire_scan_ms: i64,
}

impl TransactionCoordinator {
    /// A coordinator with every partition loading (nothing served until the
    /// driver loads or unloads each).
    pub fn new(config: TransactionCoordinatorConfig) -> TransactionCoordinator {
        let partitions =
            vec![PartitionStatus::Loading; config.transaction_state_num_partitions as usize];
        TransactionCoordinator {
            config,
            transactions: BTreeMap::new(),
            partitions,
            writes: HashMap::new(),
            marker_sends: HashMap::new(),
            next_persist: 0,
            next_marker: 0,
            next_abort_scan_ms: 0,
            next_expire_scan_ms: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TransactionCoordinatorConfig {
        &self.config
    }

    /// The transactions held, as `(transactional id, state)`, for gauges
    /// and tests.
    pub fn transactions(&self) -> impl Iterator<Item = (&str, TransactionState)> {
        self.transactions
            .iter()
            .map(|(id, meta)| (id.as_str(), meta.state))
    }

    fn check_partition(&self, partition: u32) -> Result<usize, TransactionLoadError> {
        let index = partition as usize;
        if index >= self.partitions.len() {
            return Err(TransactionLoadError::PartitionOutOfRange {
                partition,
                partitions: self.config.transaction_state_num_partitions,
            });
        }
        Ok(index)
    }

    /// Starts a new tenure of `partition`: its transactions leave memory
    /// (waiting requests get COORDINATOR_LOAD_IN_PROGRESS) until
    /// [`Self::load_partition`].
    ///
    /// # Errors
    /// [`TransactionLoadError::PartitionOutOfRange`].
    pub fn begin_load(&mut self, partition: u32) -> Result<Vec<Action>, TransactionLoadError> {
        let index = self.check_partition(partition)?;
        let actions = self.drop_partition(partition, TransactionError::CoordinatorLoadInProgress);
        if let Some(status) = self.partitions.get_mut(index) {
            *status = PartitionStatus::Loading;
        }
        Ok(actions)
    }

    /// Ends this broker's tenure of `partition`: its transactions leave
    /// memory, waiting requests and later ones get NOT_COORDINATOR.
    ///
    /// # Errors
    /// [`TransactionLoadError::PartitionOutOfRange`].
    pub fn unload_partition(
        &mut self,
        partition: u32,
    ) -> Result<Vec<Action>, TransactionLoadError> {
        let index = self.check_partition(partition)?;
        let actions = self.drop_partition(partition, TransactionError::NotCoordinator);
        if let Some(status) = self.partitions.get_mut(index) {
            *status = PartitionStatus::Unowned;
        }
        Ok(actions)
    }

    /// Replays `records` (every record of `partition`, in log order; a
    /// `None` value removes its id) and serves the partition at
    /// `coordinator_epoch`. Transactions found preparing get their markers
    /// sent again (a previous coordinator may have died before writing
    /// them all); ongoing ones are aborted when they time out.
    ///
    /// # Errors
    /// [`TransactionLoadError`] if the partition is out of range or a
    /// record does not decode (the partition then stays unserved).
    pub fn load_partition(
        &mut self,
        partition: u32,
        coordinator_epoch: i32,
        records: Vec<StateRecord>,
        now_ms: i64,
    ) -> Result<Vec<Action>, TransactionLoadError> {
        let index = self.check_partition(partition)?;
        let mut actions =
            self.drop_partition(partition, TransactionError::CoordinatorLoadInProgress);
        let mut loaded: BTreeMap<String, TransactionMetadata> = BTreeMap::new();
        for (record_index, record) in records.into_iter().enumerate() {
            let bad = |reason: String| TransactionLoadError::Record {
                partition,
                index: record_index,
                reason,
            };
            let id = decode_key(&record.key).map_err(bad)?;
            match record.value {
                None => {
                    loaded.remove(&id);
                }
                Some(value) => {
                    let value = decode_value(&value).map_err(bad)?;
                    loaded.insert(id, TransactionMetadata::from_value(partition, value));
                }
            }
        }
        self.transactions.extend(loaded);
        if let Some(status) = self.partitions.get_mut(index) {
            *status = PartitionStatus::Serving { coordinator_epoch };
        }
        let preparing: Vec<String> = self
            .transactions
            .iter()
            .filter(|(_, meta)| meta.partition == partition && meta.state.is_preparing())
            .map(|(id, _)| id.clone())
            .collect();
        for id in preparing {
            actions.extend(self.send_markers(&id, now_ms));
        }
        Ok(actions)
    }

    /// Forgets every transaction of `partition`, answering their waiting
    /// requests with `error`.
    fn drop_partition(&mut self, partition: u32, error: TransactionError) -> Vec<Action> {
        let ids: Vec<String> = self
            .transactions
            .iter()
            .filter(|(_, meta)| meta.partition == partition)
            .map(|(id, _)| id.clone())
            .collect();
        let mut actions = Vec::new();
        for id in ids {
            let Some(meta) = self.transactions.remove(&id) else {
                continue;
            };
            if let Some(pending) = meta.pending {
                self.writes.remove(&pending.id);
                actions.extend(failed_after(&pending.after, error));
            }
            if let Some(markers) = meta.markers {
                self.marker_sends.remove(&markers);
            }
        }
        actions
    }

    /// Where `transactional_id` lives, if this coordinator serves it.
    fn serving(&self, transactional_id: &str) -> Result<(u32, i32), TransactionError> {
        let partition = partition_for_transactional_id(
            transactional_id,
            self.config.transaction_state_num_partitions,
        );
        match self.partitions.get(partition as usize) {
            Some(PartitionStatus::Serving { coordinator_epoch }) => {
                Ok((partition, *coordinator_epoch))
            }
            Some(PartitionStatus::Loading) => Err(TransactionError::CoordinatorLoadInProgress),
            Some(PartitionStatus::Unowned) | None => Err(TransactionError::NotCoordinator),
        }
    }

    /// Handles one request; the response may come in a later step.
    pub fn request(&mut self, now_ms: i64, token: RequestToken, request: Request) -> Vec<Action> {
        match request {
            Request::InitProducerId(init) => self.init_producer_id(now_ms, token, init),
            Request::AddPartitions(add) => {
                let partitions = add.partitions.clone();
                self.add_partitions(now_ms, token, add, move |result| {
                    Response::AddPartitions(
                        partitions.iter().map(|tp| (tp.clone(), result)).collect(),
                    )
                })
            }
            Request::AddOffsets(add) => {
                let partition =
                    partition_for_group(&add.group_id, self.config.offsets_topic_num_partitions);
                let add = AddPartitions {
                    transactional_id: add.transactional_id,
                    producer_id: add.producer_id,
                    producer_epoch: add.producer_epoch,
                    partitions: vec![TopicPartition {
                        topic: CONSUMER_OFFSETS_TOPIC.into(),
                        partition: i32::try_from(partition).unwrap_or(i32::MAX),
                    }],
                    verify_only: false,
                };
                self.add_partitions(now_ms, token, add, Response::AddOffsets)
            }
            Request::EndTxn(end) => self.end_txn(now_ms, token, end),
            Request::DescribeTransactions(ids) => {
                let described = ids
                    .into_iter()
                    .map(|id| {
                        let result = self.describe(&id);
                        (id, result)
                    })
                    .collect();
                vec![respond(token, Response::DescribeTransactions(described))]
            }
            Request::ListTransactions(list) => {
                vec![respond(
                    token,
                    Response::ListTransactions(self.list(now_ms, &list)),
                )]
            }
        }
    }

    fn init_producer_id(
        &mut self,
        now_ms: i64,
        token: RequestToken,
        init: InitProducerId,
    ) -> Vec<Action> {
        let fail = |error| vec![respond(token, Response::InitProducerId(Err(error)))];
        if init.transaction_timeout_ms <= 0
            || init.transaction_timeout_ms > self.config.transaction_max_timeout_ms
        {
            return fail(TransactionError::InvalidTransactionTimeout);
        }
        let partition = match self.serving(&init.transactional_id) {
            Ok((partition, _)) => partition,
            Err(error) => return fail(error),
        };
        let meta = self
            .transactions
            .entry(init.transactional_id.clone())
            .or_insert_with(|| TransactionMetadata {
                partition,
                producer_id: init.fresh_producer_id,
                last_producer_id: -1,
                producer_epoch: -1,
                last_producer_epoch: -1,
                timeout_ms: init.transaction_timeout_ms,
                state: TransactionState::Empty,
                partitions: BTreeSet::new(),
                start_ms: -1,
                last_update_ms: now_ms,
                pending: None,
                markers: None,
            });
        if meta.pending.is_some() {
            return fail(TransactionError::ConcurrentTransactions);
        }
        let mut retry = false;
        if let Some((producer_id, producer_epoch)) = init.producer_id_and_epoch {
            let current = producer_id == meta.producer_id && producer_epoch == meta.producer_epoch;
            retry = meta.last_producer_epoch >= 0
                && producer_id == meta.last_producer_id
                && producer_epoch == meta.last_producer_epoch;
            if !(meta.producer_epoch < 0 || current || retry) {
                return fail(TransactionError::ProducerFenced);
            }
        }
        match meta.state {
            TransactionState::PrepareCommit | TransactionState::PrepareAbort => {
                fail(TransactionError::ConcurrentTransactions)
            }
            TransactionState::Ongoing | TransactionState::PrepareEpochFence => {
                // Fence the running instance and abort its transaction;
                // the client retries until the abort is complete.
                let mut actions = self.fence_and_abort(&init.transactional_id, now_ms);
                actions.push(respond(
                    token,
                    Response::InitProducerId(Err(TransactionError::ConcurrentTransactions)),
                ));
                actions
            }
            TransactionState::Empty
            | TransactionState::CompleteCommit
            | TransactionState::CompleteAbort
            | TransactionState::Dead => {
                if retry {
                    // A retry of the bump that made the current epoch.
                    return vec![respond(
                        token,
                        Response::InitProducerId(Ok((meta.producer_id, meta.producer_epoch))),
                    )];
                }
                let mut target = meta.value();
                let last = (meta.producer_id, meta.producer_epoch);
                if meta.producer_epoch >= EPOCH_EXHAUSTED {
                    target.producer_id = init.fresh_producer_id;
                    target.producer_epoch = 0;
                } else {
                    target.producer_epoch = meta.producer_epoch + 1;
                }
                target.timeout_ms = init.transaction_timeout_ms;
                target.state = TransactionState::Empty;
                target.partitions.clear();
                target.start_ms = -1;
                target.last_update_ms = now_ms;
                let id = init.transactional_id;
                vec![self.write(&id, target, last, AfterWrite::RespondInit(token))]
            }
        }
    }

    /// Bumps the epoch of an ongoing transaction and writes PrepareAbort,
    /// after which its markers go out (Kafka's `prepareFenceProducerEpoch`
    /// then `prepareAbortOrCommit`).
    fn fence_and_abort(&mut self, transactional_id: &str, now_ms: i64) -> Vec<Action> {
        let Some(meta) = self.transactions.get(transactional_id) else {
            return Vec::new();
        };
        let mut target = meta.value();
        let last = (meta.producer_id, meta.producer_epoch);
        if meta.producer_epoch < EPOCH_EXHAUSTED {
            target.producer_epoch = meta.producer_epoch + 1;
        }
        target.state = TransactionState::PrepareAbort;
        target.last_update_ms = now_ms;
        vec![self.write(transactional_id, target, last, AfterWrite::SendMarkers)]
    }

    /// The checks every request of a running producer passes: the id is
    /// served here, the producer id is the id's, the epoch is current and
    /// no write is in flight.
    fn check_producer(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<&TransactionMetadata, TransactionError> {
        self.serving(transactional_id)?;
        let meta = self
            .transactions
            .get(transactional_id)
            .ok_or(TransactionError::InvalidProducerIdMapping)?;
        if meta.producer_id != producer_id {
            return Err(TransactionError::InvalidProducerIdMapping);
        }
        if meta.producer_epoch != producer_epoch {
            return Err(TransactionError::ProducerFenced);
        }
        if meta.pending.is_some() {
            return Err(TransactionError::ConcurrentTransactions);
        }
        Ok(meta)
    }

    fn add_partitions(
        &mut self,
        now_ms: i64,
        token: RequestToken,
        add: AddPartitions,
        answer: impl Fn(Result<(), TransactionError>) -> Response,
    ) -> Vec<Action> {
        let meta =
            match self.check_producer(&add.transactional_id, add.producer_id, add.producer_epoch) {
                Ok(meta) => meta,
                Err(error) => return vec![respond(token, answer(Err(error)))],
            };
        if meta.state.is_preparing() {
            return vec![respond(
                token,
                answer(Err(TransactionError::ConcurrentTransactions)),
            )];
        }
        if add.verify_only {
            let ongoing = meta.state == TransactionState::Ongoing;
            let verified = add
                .partitions
                .iter()
                .map(|tp| {
                    let result = if ongoing && meta.partitions.contains(tp) {
                        Ok(())
                    } else {
                        Err(TransactionError::InvalidTxnState)
                    };
                    (tp.clone(), result)
                })
                .collect();
            return vec![respond(token, Response::AddPartitions(verified))];
        }
        if !(meta.state.is_finished() || meta.state == TransactionState::Ongoing) {
            return vec![respond(
                token,
                answer(Err(TransactionError::InvalidTxnState)),
            )];
        }
        if meta.state == TransactionState::Ongoing
            && add.partitions.iter().all(|tp| meta.partitions.contains(tp))
        {
            return vec![respond(token, answer(Ok(())))];
        }
        let mut target = meta.value();
        if meta.state != TransactionState::Ongoing {
            target.partitions.clear();
            target.start_ms = now_ms;
        }
        target.state = TransactionState::Ongoing;
        target.partitions.extend(add.partitions.iter().cloned());
        target.partitions.sort();
        target.partitions.dedup();
        target.last_update_ms = now_ms;
        let last = (meta.last_producer_id, meta.last_producer_epoch);
        let after = match answer(Ok(())) {
            Response::AddOffsets(_) => AfterWrite::RespondAddOffsets(token),
            _ => AfterWrite::RespondAddPartitions(token, add.partitions),
        };
        vec![self.write(&add.transactional_id, target, last, after)]
    }

    fn end_txn(&mut self, now_ms: i64, token: RequestToken, end: EndTxn) -> Vec<Action> {
        let fail = |error| vec![respond(token, Response::EndTxn(Err(error)))];
        let meta =
            match self.check_producer(&end.transactional_id, end.producer_id, end.producer_epoch) {
                Ok(meta) => meta,
                Err(error) => return fail(error),
            };
        match (meta.state, end.committed) {
            (TransactionState::Ongoing, committed) => {
                let mut target = meta.value();
                target.state = if committed {
                    TransactionState::PrepareCommit
                } else {
                    TransactionState::PrepareAbort
                };
                target.last_update_ms = now_ms;
                let last = (meta.last_producer_id, meta.last_producer_epoch);
                vec![self.write(
                    &end.transactional_id,
                    target,
                    last,
                    AfterWrite::RespondEndTxn(token),
                )]
            }
            (TransactionState::PrepareCommit, true) | (TransactionState::PrepareAbort, false) => {
                fail(TransactionError::ConcurrentTransactions)
            }
            (TransactionState::CompleteCommit, true) | (TransactionState::CompleteAbort, false) => {
                vec![respond(token, Response::EndTxn(Ok(())))]
            }
            _ => fail(TransactionError::InvalidTxnState),
        }
    }

    fn describe(&self, transactional_id: &str) -> Result<DescribedTransaction, TransactionError> {
        self.serving(transactional_id)?;
        let meta = self
            .transactions
            .get(transactional_id)
            .filter(|meta| meta.state != TransactionState::Dead)
            .ok_or(TransactionError::TransactionalIdNotFound)?;
        Ok(DescribedTransaction {
            state: meta.state.kafka_name(),
            producer_id: meta.producer_id,
            producer_epoch: meta.producer_epoch,
            timeout_ms: meta.timeout_ms,
            start_ms: meta.start_ms,
            partitions: meta.partitions.iter().cloned().collect(),
        })
    }

    fn list(
        &self,
        now_ms: i64,
        list: &ListTransactions,
    ) -> Result<(Vec<ListedTransaction>, Vec<String>), TransactionError> {
        if self.partitions.contains(&PartitionStatus::Loading) {
            return Err(TransactionError::CoordinatorLoadInProgress);
        }
        let mut states = Vec::new();
        let mut unknown = Vec::new();
        for name in &list.state_filters {
            match ALL_STATES.iter().find(|s| s.kafka_name() == name) {
                Some(state) => states.push(*state),
                None => unknown.push(name.clone()),
            }
        }
        let listed = self
            .transactions
            .iter()
            .filter(|(_, meta)| {
                matches!(
                    self.partitions.get(meta.partition as usize),
                    Some(PartitionStatus::Serving { .. })
                )
            })
            .filter(|(_, meta)| meta.state != TransactionState::Dead)
            .filter(|(_, meta)| states.is_empty() || states.contains(&meta.state))
            .filter(|(_, meta)| {
                list.producer_id_filters.is_empty()
                    || list.producer_id_filters.contains(&meta.producer_id)
            })
            .filter(|(_, meta)| {
                list.duration_filter_ms.is_none_or(|duration| {
                    meta.start_ms >= 0 && now_ms.saturating_sub(meta.start_ms) >= duration
                })
            })
            .map(|(id, meta)| ListedTransaction {
                transactional_id: id.clone(),
                producer_id: meta.producer_id,
                state: meta.state.kafka_name(),
            })
            .collect();
        Ok((listed, unknown))
    }

    /// Starts the write of `target` for `transactional_id` (which must
    /// exist and have no write in flight).
    fn write(
        &mut self,
        transactional_id: &str,
        target: TransactionLogValue,
        last: (i64, i16),
        after: AfterWrite,
    ) -> Action {
        let id = PersistId(self.next_persist);
        self.next_persist = self.next_persist.wrapping_add(1);
        let value = (after != AfterWrite::Remove).then(|| encode_value(&target));
        let meta = self.transactions.get_mut(transactional_id);
        assert!(meta.is_some(), "write for an unknown transactional id");
        let partition = meta.as_ref().map_or(0, |meta| meta.partition);
        if let Some(meta) = meta {
            assert!(meta.pending.is_none(), "a second write in flight");
            meta.pending = Some(PendingWrite {
                id,
                target,
                last,
                after,
            });
        }
        self.writes.insert(id, transactional_id.to_owned());
        Action::Persist {
            id,
            partition,
            record: StateRecord {
                key: encode_key(transactional_id),
                value,
            },
        }
    }

    /// Reports the outcome of an [`Action::Persist`].
    pub fn persisted(
        &mut self,
        now_ms: i64,
        id: PersistId,
        result: Result<(), AppendError>,
    ) -> Vec<Action> {
        let Some(transactional_id) = self.writes.remove(&id) else {
            return Vec::new();
        };
        let Some(meta) = self.transactions.get_mut(&transactional_id) else {
            return Vec::new();
        };
        let Some(pending) = meta.pending.take_if(|pending| pending.id == id) else {
            return Vec::new();
        };
        if let Err(error) = result {
            // The state stays as it was: a failed Complete* write is
            // retried by the next scan (markers are sent again), a failed
            // coordinator-initiated abort too.
            let error = match error {
                AppendError::NotLeader => TransactionError::NotCoordinator,
                AppendError::Unavailable => TransactionError::CoordinatorNotAvailable,
                AppendError::TooLarge => TransactionError::UnknownServerError,
            };
            return failed_after(&pending.after, error).into_iter().collect();
        }
        meta.apply(&pending);
        match pending.after {
            AfterWrite::RespondInit(token) => vec![respond(
                token,
                Response::InitProducerId(Ok((meta.producer_id, meta.producer_epoch))),
            )],
            AfterWrite::RespondAddPartitions(token, partitions) => vec![respond(
                token,
                Response::AddPartitions(partitions.into_iter().map(|tp| (tp, Ok(()))).collect()),
            )],
            AfterWrite::RespondAddOffsets(token) => {
                vec![respond(token, Response::AddOffsets(Ok(())))]
            }
            AfterWrite::RespondEndTxn(token) => {
                let mut actions = vec![respond(token, Response::EndTxn(Ok(())))];
                actions.extend(self.send_markers(&transactional_id, now_ms));
                actions
            }
            AfterWrite::SendMarkers => self.send_markers(&transactional_id, now_ms),
            AfterWrite::Complete => Vec::new(),
            AfterWrite::Remove => {
                self.transactions.remove(&transactional_id);
                Vec::new()
            }
        }
    }

    /// Sends the markers of a preparing transaction, or writes its
    /// completion at once if it has no partition.
    fn send_markers(&mut self, transactional_id: &str, now_ms: i64) -> Vec<Action> {
        let Some(meta) = self.transactions.get(transactional_id) else {
            return Vec::new();
        };
        if !meta.state.is_preparing() || meta.pending.is_some() || meta.markers.is_some() {
            return Vec::new();
        }
        let Some(PartitionStatus::Serving { coordinator_epoch }) =
            self.partitions.get(meta.partition as usize).copied()
        else {
            return Vec::new();
        };
        if meta.partitions.is_empty() {
            return self.complete(transactional_id, now_ms);
        }
        let id = MarkerId(self.next_marker);
        self.next_marker = self.next_marker.wrapping_add(1);
        let markers = TransactionMarkers {
            transactional_id: transactional_id.to_owned(),
            producer_id: meta.producer_id,
            producer_epoch: meta.producer_epoch,
            committed: meta.state == TransactionState::PrepareCommit,
            coordinator_epoch,
            partitions: meta.partitions.iter().cloned().collect(),
        };
        if let Some(meta) = self.transactions.get_mut(transactional_id) {
            meta.markers = Some(id);
        }
        self.marker_sends.insert(id, transactional_id.to_owned());
        vec![Action::SendMarkers { id, markers }]
    }

    /// Whether the send `id` is still awaited (a driver stops retrying a
    /// send the coordinator dropped, e.g. after losing the partition).
    pub fn is_sending(&self, id: MarkerId) -> bool {
        self.marker_sends.contains_key(&id)
    }

    /// Reports that every marker of an [`Action::SendMarkers`] is written:
    /// CompleteCommit/CompleteAbort is written next.
    pub fn markers_written(&mut self, now_ms: i64, id: MarkerId) -> Vec<Action> {
        let Some(transactional_id) = self.marker_sends.remove(&id) else {
            return Vec::new();
        };
        let Some(meta) = self.transactions.get_mut(&transactional_id) else {
            return Vec::new();
        };
        if meta.markers != Some(id) {
            return Vec::new();
        }
        meta.markers = None;
        self.complete(&transactional_id, now_ms)
    }

    fn complete(&mut self, transactional_id: &str, now_ms: i64) -> Vec<Action> {
        let Some(meta) = self.transactions.get(transactional_id) else {
            return Vec::new();
        };
        if !meta.state.is_preparing() || meta.pending.is_some() {
            return Vec::new();
        }
        let mut target = meta.value();
        target.state = if meta.state == TransactionState::PrepareCommit {
            TransactionState::CompleteCommit
        } else {
            TransactionState::CompleteAbort
        };
        target.partitions.clear();
        target.last_update_ms = now_ms;
        let last = (meta.last_producer_id, meta.last_producer_epoch);
        vec![self.write(transactional_id, target, last, AfterWrite::Complete)]
    }

    /// When [`Self::tick`] has work next, ms since the epoch.
    pub fn next_deadline(&self) -> Option<i64> {
        Some(self.next_abort_scan_ms.min(self.next_expire_scan_ms))
    }

    /// Aborts ongoing transactions past their timeout (with an epoch bump,
    /// which fences their producer), sends again the markers of preparing
    /// transactions whose completion failed, and removes transactional ids
    /// idle past `transactional.id.expiration.ms`.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Action> {
        let mut actions = Vec::new();
        if now_ms >= self.next_abort_scan_ms {
            self.next_abort_scan_ms =
                now_ms.saturating_add(self.config.abort_timed_out_transaction_cleanup_interval_ms);
            let served = |meta: &TransactionMetadata, partitions: &[PartitionStatus]| {
                matches!(
                    partitions.get(meta.partition as usize),
                    Some(PartitionStatus::Serving { .. })
                )
            };
            let timed_out: Vec<String> = self
                .transactions
                .iter()
                .filter(|(_, meta)| served(meta, &self.partitions) && meta.pending.is_none())
                .filter(|(_, meta)| {
                    meta.state == TransactionState::Ongoing
                        && meta.start_ms.saturating_add(i64::from(meta.timeout_ms)) <= now_ms
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in timed_out {
                actions.extend(self.fence_and_abort(&id, now_ms));
            }
            let stalled: Vec<String> = self
                .transactions
                .iter()
                .filter(|(_, meta)| meta.state.is_preparing())
                .map(|(id, _)| id.clone())
                .collect();
            for id in stalled {
                actions.extend(self.send_markers(&id, now_ms));
            }
        }
        if now_ms >= self.next_expire_scan_ms {
            self.next_expire_scan_ms =
                now_ms.saturating_add(self.config.remove_expired_transaction_cleanup_interval_ms);
            let expiration_ms = self.config.transactional_id_expiration_ms;
            let expired: Vec<String> = self
                .transactions
                .iter()
                .filter(|(_, meta)| {
                    matches!(
                        self.partitions.get(meta.partition as usize),
                        Some(PartitionStatus::Serving { .. })
                    ) && meta.pending.is_none()
                        && meta.state.is_finished()
                        && meta.last_update_ms.saturating_add(expiration_ms) <= now_ms
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in expired {
                let Some(meta) = self.transactions.get(&id) else {
                    continue;
                };
                let mut target = meta.value();
                target.state = TransactionState::Dead;
                let last = (meta.last_producer_id, meta.last_producer_epoch);
                actions.push(self.write(&id, target, last, AfterWrite::Remove));
            }
        }
        actions
    }
}

/// Every state, for ListTransactions' filters.
const ALL_STATES: [TransactionState; 8] = [
    TransactionState::Empty,
    TransactionState::Ongoing,
    TransactionState::PrepareCommit,
    TransactionState::PrepareAbort,
    TransactionState::CompleteCommit,
    TransactionState::CompleteAbort,
    TransactionState::Dead,
    TransactionState::PrepareEpochFence,
];

fn respond(token: RequestToken, response: Response) -> Action {
    Action::Respond { token, response }
}

/// The answer to the request waiting on a write that failed with `error`.
fn failed_after(after: &AfterWrite, error: TransactionError) -> Option<Action> {
    let response = match after {
        AfterWrite::RespondInit(token) => (*token, Response::InitProducerId(Err(error))),
        AfterWrite::RespondAddPartitions(token, partitions) => (
            *token,
            Response::AddPartitions(
                partitions
                    .iter()
                    .map(|tp| (tp.clone(), Err(error)))
                    .collect(),
            ),
        ),
        AfterWrite::RespondAddOffsets(token) => (*token, Response::AddOffsets(Err(error))),
        AfterWrite::RespondEndTxn(token) => (*token, Response::EndTxn(Err(error))),
        AfterWrite::SendMarkers | AfterWrite::Complete | AfterWrite::Remove => return None,
    };
    Some(respond(response.0, response.1))
}

#[cfg(test)]
mod tests;
