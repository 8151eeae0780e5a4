//! The transaction coordinator's driver: the IO around the sans-IO
//! [`TransactionCoordinator`]. It lives on the control shard beside the
//! group driver and works the same way: each request from a data shard gets
//! a token and waits for the answer (`parked_requests.rs`); state records
//! are appended (acks=all, `offsets.commit.timeout.ms`) to
//! `__transaction_state` through the partition's owner shard, one append
//! per partition at a time in emission order; the coordinator is ticked at
//! its deadline; and the leadership of `__transaction_state` in each
//! published image decides which partitions are replayed (to their log
//! end, once committed) and served, which are dropped.
//!
//! Markers go out as WriteTxnMarkers (API 27) to each partition's leader
//! over its inter-broker listener, this broker included, one connection per
//! broker; a failed or refused send (a closed connection, an unsupported
//! API, a retriable error code) is retried with a backoff until every
//! partition has its marker, the partition is gone, or the coordinator no
//! longer waits for that send.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures::channel::mpsc;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic, WriteTxnMarkersRequest,
};
use kafka_protocol::messages::write_txn_markers_response::WriteTxnMarkersResponse;
use kafka_protocol::messages::{ApiKey, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use skein_controller::group_coordinator::{OffsetsRecord, TopicPartition};
use skein_controller::transaction_coordinator::{
    Action, AppendError, MarkerId, PersistId, Request, Response, StateRecord,
    TransactionCoordinator, TransactionError, TransactionMarkers, TRANSACTION_STATE_TOPIC,
};
use skein_controller::{BrokerConfig, MetadataImage, TopicId};
use skein_engine::Mesh;
use skein_net::client_security::PeerSecurity;
use skein_net::controller_client::ControllerConnection;
use skein_net::offsets_topic::encode_batch;

use super::parked_requests::ParkedRequests;
use skein_net::shard_message::{PartitionOp, ShardReply, ShardRequest};
use skein_net::shard_state::now_ms;

use crate::node::group_driver::{
    append_error, leader_epochs_of, partition_call, read_partition, tenure_changes, Tenure,
    TenureChange,
};

/// The first wait before a failed marker send or replay is retried; it
/// doubles up to [`RETRY_MAX_MS`].
const RETRY_MIN_MS: u64 = 50;
/// The longest wait between retries.
const RETRY_MAX_MS: u64 = 2_000;
/// WriteTxnMarkers' only version.
const WRITE_TXN_MARKERS_VERSION: i16 = 1;
/// Kafka's UNKNOWN_TOPIC_OR_PARTITION: the partition is gone, its marker
/// is not needed.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// Appends waiting for their partition.
#[derive(Default)]
struct WriteQueue {
    queued: VecDeque<(PersistId, StateRecord)>,
    busy: bool,
}

/// The transaction coordinator and its IO. Lives on: the control shard only.
pub struct TransactionDriver {
    coordinator: RefCell<TransactionCoordinator>,
    parked: ParkedRequests<Response>,
    queues: RefCell<Vec<WriteQueue>>,
    state_topic_id: Cell<Option<TopicId>>,
    mesh: Mesh<ShardRequest, ShardReply>,
    data_shards: usize,
    timer_wake: RefCell<mpsc::Sender<()>>,
    timer_woken: RefCell<Option<mpsc::Receiver<()>>>,
    stopped: Cell<bool>,
    local_broker_id: i32,
    tenures: RefCell<Vec<Tenure>>,
    next_load: Cell<u64>,
    commit_timeout_ms: u64,
    /// The listener markers are sent to (`inter.broker.listener.name`).
    inter_broker_listener: String,
    /// The newest image, for the leaders markers go to.
    image: RefCell<Option<Arc<MetadataImage>>>,
    /// How markers' connections log in to the inter-broker listener.
    peer_security: Arc<PeerSecurity>,
    /// Idle connections to brokers, for markers.
    connections: RefCell<HashMap<i32, ControllerConnection>>,
}

impl TransactionDriver {
    /// A driver whose coordinator has every partition loading;
    /// `partitions` is `__transaction_state`'s partition count and
    /// `offsets_partitions` `__consumer_offsets`'s.
    pub fn new(
        config: &BrokerConfig,
        partitions: u32,
        offsets_partitions: u32,
        mesh: Mesh<ShardRequest, ShardReply>,
        data_shards: usize,
        peer_security: Arc<PeerSecurity>,
    ) -> TransactionDriver {
        assert!(partitions > 0);
        assert!(data_shards > 0);
        let coordinator_config =
            config.transaction_coordinator_config(partitions, offsets_partitions);
        let (timer_wake, timer_woken) = mpsc::channel(1);
        TransactionDriver {
            coordinator: RefCell::new(TransactionCoordinator::new(coordinator_config)),
            parked: ParkedRequests::default(),
            queues: RefCell::new((0..partitions).map(|_| WriteQueue::default()).collect()),
            state_topic_id: Cell::new(None),
            mesh,
            data_shards,
            timer_wake: RefCell::new(timer_wake),
            timer_woken: RefCell::new(Some(timer_woken)),
            stopped: Cell::new(false),
            local_broker_id: config.node_id(),
            tenures: RefCell::new(vec![Tenure::Unknown; partitions as usize]),
            next_load: Cell::new(0),
            commit_timeout_ms: config.offsets_commit_timeout_ms(),
            // A controller-only node has no client listener (and leads no
            // __transaction_state partition, so sends no markers).
            inter_broker_listener: if config.client_listeners().is_empty() {
                String::new()
            } else {
                config.client_listener().0.name
            },
            image: RefCell::new(None),
            peer_security,
            connections: RefCell::new(HashMap::new()),
        }
    }

    /// The partition count `__transaction_state` has in `image`, or
    /// `transaction.state.log.num.partitions` if it does not exist yet.
    pub fn partition_count(config: &BrokerConfig, image: &MetadataImage) -> u32 {
        let count = image
            .topic(TRANSACTION_STATE_TOPIC)
            .map_or(config.transaction_state_log_partitions(), |topic| {
                topic.partitions
            });
        u32::try_from(count).unwrap_or(1).max(1)
    }

    /// Handles one request and waits for its answer.
    ///
    /// # Errors
    /// [`TransactionError::CoordinatorNotAvailable`] if the driver shut
    /// down before the coordinator answered.
    pub async fn handle(self: &Rc<Self>, request: Request) -> Result<Response, TransactionError> {
        if self.stopped.get() {
            return Err(TransactionError::CoordinatorNotAvailable);
        }
        let (token, answered) = self.parked.park();
        let actions = self
            .coordinator
            .borrow_mut()
            .request(now_ms(), token, request);
        self.execute(actions);
        answered
            .await
            .map_err(|_| TransactionError::CoordinatorNotAvailable)
    }

    /// Refuses parked and later requests (the node is stopping).
    pub fn shutdown(&self) {
        self.stopped.set(true);
        self.parked.drop_all();
    }

    fn execute(self: &Rc<Self>, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Respond { token, response } => {
                    self.parked.answer(token, response, "transaction");
                }
                Action::Persist {
                    id,
                    partition,
                    record,
                } => self.enqueue_write(id, partition, record),
                Action::SendMarkers { id, markers } => {
                    let driver = Rc::clone(self);
                    glommio::spawn_local(async move { driver.send_markers(id, markers).await })
                        .detach();
                }
            }
        }
        // A full channel means a wake-up is already pending.
        if let Err(error) = self.timer_wake.borrow_mut().try_send(()) {
            if error.is_disconnected() {
                tracing::debug!("transaction timer task gone");
            }
        }
    }

    fn enqueue_write(self: &Rc<Self>, id: PersistId, partition: u32, record: StateRecord) {
        let start = {
            let mut queues = self.queues.borrow_mut();
            let Some(queue) = queues.get_mut(partition as usize) else {
                drop(queues);
                self.report(vec![(id, Err(AppendError::NotLeader))]);
                return;
            };
            queue.queued.push_back((id, record));
            !std::mem::replace(&mut queue.busy, true)
        };
        if start {
            let driver = Rc::clone(self);
            glommio::spawn_local(async move { driver.drain_queue(partition).await }).detach();
        }
    }

    /// Appends `partition`'s queued records, all queued at once as one
    /// batch, until the queue is empty.
    async fn drain_queue(self: Rc<Self>, partition: u32) {
        loop {
            let taken: Vec<(PersistId, StateRecord)> = {
                let mut queues = self.queues.borrow_mut();
                let Some(queue) = queues.get_mut(partition as usize) else {
                    return;
                };
                if queue.queued.is_empty() {
                    queue.busy = false;
                    return;
                }
                queue.queued.drain(..).collect()
            };
            let records: Vec<OffsetsRecord> = taken
                .iter()
                .map(|(_, record)| OffsetsRecord {
                    key: record.key.clone(),
                    value: record.value.clone(),
                })
                .collect();
            let result = self.append(partition, &records).await;
            if let Err(error) = result {
                tracing::warn!(partition, %error, "__transaction_state append failed");
            }
            self.report(taken.into_iter().map(|(id, _)| (id, result)).collect());
        }
    }

    async fn append(&self, partition: u32, records: &[OffsetsRecord]) -> Result<(), AppendError> {
        let Some(topic_id) = self.state_topic_id.get() else {
            return Err(AppendError::Unavailable);
        };
        let batch = encode_batch(records, now_ms()).map_err(|error| {
            tracing::error!(%error, "transaction state records not persisted");
            AppendError::TooLarge
        })?;
        let mut batches = BytesMut::with_capacity(batch.len());
        batches.extend_from_slice(&batch);
        let op = PartitionOp::Append {
            records: batches.freeze(),
            acks_all_timeout_ms: Some(self.commit_timeout_ms),
        };
        match partition_call(&self.mesh, self.data_shards, topic_id, partition, op).await {
            ShardReply::Appended(Ok(_)) => Ok(()),
            ShardReply::Appended(Err(error)) => Err(append_error(&error)),
            _ => Err(AppendError::NotLeader),
        }
    }

    fn report(self: &Rc<Self>, outcomes: Vec<(PersistId, Result<(), AppendError>)>) {
        for (id, result) in outcomes {
            let actions = self
                .coordinator
                .borrow_mut()
                .persisted(now_ms(), id, result);
            self.execute(actions);
        }
    }

    /// Writes `markers` to every partition's leader, retrying until each is
    /// written (or gone), then reports the send complete.
    async fn send_markers(self: Rc<Self>, id: MarkerId, markers: TransactionMarkers) {
        let mut pending: Vec<TopicPartition> = markers.partitions.clone();
        let mut backoff_ms = RETRY_MIN_MS;
        while !pending.is_empty() {
            if self.stopped.get() || !self.coordinator.borrow().is_sending(id) {
                return;
            }
            let image = self.image.borrow().clone();
            let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
            let mut gone = Vec::new();
            for tp in &pending {
                match image.as_ref().and_then(|image| {
                    let topic = image.topic(&tp.topic)?;
                    Some(topic.partition(tp.partition).map(|state| state.leader))
                }) {
                    Some(Some(leader)) if leader >= 0 => {
                        by_leader.entry(leader).or_default().push(tp.clone())
                    }
                    Some(None) => gone.push(tp.clone()),
                    // No image yet, or no leader: wait.
                    _ => {}
                }
            }
            if let Some(image) = &image {
                // A deleted topic needs no marker.
                gone.extend(
                    pending
                        .iter()
                        .filter(|tp| image.topic(&tp.topic).is_none())
                        .cloned(),
                );
            }
            let mut written = gone;
            for (leader, partitions) in by_leader {
                match self
                    .write_markers(leader, &markers, &partitions, image.as_deref())
                    .await
                {
                    Ok(done) => written.extend(done),
                    Err(error) => {
                        tracing::debug!(leader, %error, transactional_id = %markers.transactional_id, "WriteTxnMarkers failed; retrying")
                    }
                }
            }
            pending.retain(|tp| !written.contains(tp));
            if !pending.is_empty() {
                glommio::timer::sleep(Duration::from_millis(backoff_ms)).await;
                backoff_ms = (backoff_ms * 2).min(RETRY_MAX_MS);
            }
        }
        let actions = self.coordinator.borrow_mut().markers_written(now_ms(), id);
        self.execute(actions);
    }

    /// One WriteTxnMarkers to `leader`; returns the partitions it wrote (or
    /// that no longer exist).
    async fn write_markers(
        &self,
        leader: i32,
        markers: &TransactionMarkers,
        partitions: &[TopicPartition],
        image: Option<&MetadataImage>,
    ) -> Result<Vec<TopicPartition>, String> {
        let mut topics: Vec<WritableTxnMarkerTopic> = Vec::new();
        for tp in partitions {
            match topics.iter_mut().find(|t| t.name.as_str() == tp.topic) {
                Some(topic) => topic.partition_indexes.push(tp.partition),
                None => topics.push(
                    WritableTxnMarkerTopic::default()
                        .with_name(TopicName(StrBytes::from_string(tp.topic.clone())))
                        .with_partition_indexes(vec![tp.partition]),
                ),
            }
        }
        let request =
            WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
                .with_producer_id(ProducerId(markers.producer_id))
                .with_producer_epoch(markers.producer_epoch)
                .with_transaction_result(markers.committed)
                .with_coordinator_epoch(markers.coordinator_epoch)
                .with_topics(topics)]);
        let existing = self.connections.borrow_mut().remove(&leader);
        let mut connection = match existing {
            Some(connection) => connection,
            None => {
                let address = image
                    .and_then(|image| image.broker(leader))
                    .and_then(|registration| {
                        registration
                            .listener(&self.inter_broker_listener)
                            .or_else(|| registration.listeners.first())
                            .map(|endpoint| format!("{}:{}", endpoint.host, endpoint.port))
                    })
                    .ok_or_else(|| format!("broker {leader} has no registered listener"))?;
                ControllerConnection::connect_to(&address, &self.peer_security.inter_broker)
                    .await
                    .map_err(|error| error.to_string())?
            }
        };
        let response: WriteTxnMarkersResponse = connection
            .call(ApiKey::WriteTxnMarkers, WRITE_TXN_MARKERS_VERSION, &request)
            .await
            .map_err(|error| error.to_string())?;
        self.connections.borrow_mut().insert(leader, connection);
        let mut done = Vec::new();
        for result in response
            .markers
            .iter()
            .filter(|m| m.producer_id.0 == markers.producer_id)
        {
            for topic in &result.topics {
                for partition in &topic.partitions {
                    if partition.error_code == 0
                        || partition.error_code == UNKNOWN_TOPIC_OR_PARTITION
                    {
                        done.push(TopicPartition {
                            topic: topic.name.to_string(),
                            partition: partition.partition_index,
                        });
                    } else {
                        tracing::debug!(topic = %topic.name.as_str(), partition = partition.partition_index, code = partition.error_code, "marker refused; retrying");
                    }
                }
            }
        }
        Ok(done)
    }

    /// Follows the leadership of `__transaction_state` in `image`, as
    /// [`crate::node::group_driver::GroupDriver::apply_image`] does for
    /// `__consumer_offsets`: partitions newly led here (or at a new leader
    /// epoch, the coordinator epoch) are replayed in the background and
    /// served, partitions led elsewhere are dropped.
    pub fn apply_image(self: &Rc<Self>, image: Arc<MetadataImage>) {
        if self.stopped.get() {
            return;
        }
        *self.image.borrow_mut() = Some(Arc::clone(&image));
        let topic = image.topic(TRANSACTION_STATE_TOPIC).cloned();
        let topic_id = topic.as_ref().map(|topic| topic.topic_id);
        let partitions = self
            .coordinator
            .borrow()
            .config()
            .transaction_state_num_partitions;
        if self.state_topic_id.get().is_some() && self.state_topic_id.get() != topic_id {
            for partition in 0..partitions {
                self.resign(partition);
            }
        }
        self.state_topic_id.set(topic_id);
        let leaders = leader_epochs_of(topic.as_deref(), self.local_broker_id, partitions);
        let current: Vec<Tenure> = self.tenures.borrow().clone();
        let mut elected = Vec::new();
        for (partition, change) in (0..partitions).zip(tenure_changes(&current, &leaders)) {
            match change {
                TenureChange::Keep => {}
                TenureChange::Resign => self.resign(partition),
                TenureChange::Elect { leader_epoch } => {
                    let load = self.next_load.get();
                    self.next_load.set(load.wrapping_add(1));
                    self.set_tenure(partition, Tenure::Loading { leader_epoch, load });
                    let began = self.coordinator.borrow_mut().begin_load(partition);
                    match began {
                        Ok(actions) => self.execute(actions),
                        Err(error) => {
                            tracing::error!(%error, "elected to a __transaction_state partition out of range")
                        }
                    }
                    elected.push((partition, load));
                }
            }
        }
        if let (Some(topic_id), false) = (topic_id, elected.is_empty()) {
            let driver = Rc::clone(self);
            glommio::spawn_local(async move { driver.load_partitions(topic_id, elected).await })
                .detach();
        }
    }

    fn resign(self: &Rc<Self>, partition: u32) {
        let was = self.tenures.borrow().get(partition as usize).copied();
        if was == Some(Tenure::Resigned) || was.is_none() {
            return;
        }
        self.set_tenure(partition, Tenure::Resigned);
        let unloaded = self.coordinator.borrow_mut().unload_partition(partition);
        match unloaded {
            Ok(actions) => self.execute(actions),
            Err(error) => {
                tracing::error!(%error, "resigned a __transaction_state partition out of range")
            }
        }
    }

    fn set_tenure(&self, partition: u32, tenure: Tenure) {
        if let Some(slot) = self.tenures.borrow_mut().get_mut(partition as usize) {
            *slot = tenure;
        }
    }

    fn current_load(&self, partition: u32, load: u64) -> Option<i32> {
        match self.tenures.borrow().get(partition as usize) {
            Some(Tenure::Loading {
                leader_epoch,
                load: current,
            }) if *current == load => Some(*leader_epoch),
            _ => None,
        }
    }

    async fn appends_settled(&self, partition: u32) {
        while self
            .queues
            .borrow()
            .get(partition as usize)
            .is_some_and(|queue| queue.busy)
        {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Replays the elected partitions and serves each; failed reads are
    /// retried with a backoff while the tenure lasts.
    async fn load_partitions(self: Rc<Self>, topic_id: TopicId, mut pending: Vec<(u32, u64)>) {
        let mut backoff_ms = RETRY_MIN_MS;
        let mut loaded = 0_usize;
        loop {
            let mut retry = Vec::new();
            for (partition, load) in pending {
                if self.stopped.get() || self.current_load(partition, load).is_none() {
                    continue;
                }
                self.appends_settled(partition).await;
                let read = read_partition(&self.mesh, self.data_shards, topic_id, partition).await;
                let Some(leader_epoch) = self.current_load(partition, load) else {
                    continue;
                };
                let records = match read {
                    Ok(records) => records,
                    Err(error) => {
                        tracing::debug!(partition, %error, "cannot read a __transaction_state partition yet; retrying");
                        retry.push((partition, load));
                        continue;
                    }
                };
                let records = records
                    .into_iter()
                    .map(|record| StateRecord {
                        key: record.key,
                        value: record.value,
                    })
                    .collect();
                let replayed = self.coordinator.borrow_mut().load_partition(
                    partition,
                    leader_epoch,
                    records,
                    now_ms(),
                );
                match replayed {
                    Ok(actions) => {
                        loaded += 1;
                        self.set_tenure(partition, Tenure::Serving { leader_epoch });
                        self.execute(actions);
                    }
                    Err(error) => {
                        tracing::error!(partition, %error, "cannot load a __transaction_state partition; its transactional ids stay unavailable")
                    }
                }
            }
            if retry.is_empty() || self.stopped.get() {
                break;
            }
            glommio::timer::sleep(Duration::from_millis(backoff_ms)).await;
            backoff_ms = (backoff_ms * 2).min(RETRY_MAX_MS);
            pending = retry;
        }
        tracing::info!(
            partitions = loaded,
            "transaction coordinator loaded the __transaction_state partitions elected here"
        );
    }

    /// Ticks the coordinator at its deadlines until the node stops. Call
    /// once; spawn it on the control shard.
    pub async fn run_timer(self: Rc<Self>) {
        let Some(woken) = self.timer_woken.borrow_mut().take() else {
            return;
        };
        crate::node::coordinator_timer::run(
            woken,
            || self.coordinator.borrow().next_deadline(),
            |now| {
                let actions = self.coordinator.borrow_mut().tick(now);
                self.execute(actions);
            },
        )
        .await;
    }
}

/// The `__transaction_state` topic to create if absent: compacted like
/// `__consumer_offsets`, `transaction.state.log.segment.bytes` segments,
/// `min.insync.replicas` = `transaction.state.log.min.isr` (capped at the
/// replication factor).
pub fn transaction_state_topic(config: &BrokerConfig) -> skein_net::shard_message::NewTopic {
    let replication_factor = config.transaction_state_topic_replication_factor();
    let mut configs =
        skein_net::offsets_topic::topic_configs(config.transaction_state_log_segment_bytes());
    let min_isr = config
        .transaction_state_log_min_isr()
        .min(i32::from(replication_factor));
    configs.push(("min.insync.replicas".to_string(), min_isr.to_string()));
    skein_net::shard_message::NewTopic {
        name: TRANSACTION_STATE_TOPIC.to_string(),
        partitions: config.transaction_state_log_partitions(),
        replication_factor,
        configs,
        assignments: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_topic_is_compacted_with_min_isr_capped_at_one_replica_on_a_single_node() {
        let config = BrokerConfig::default();
        let topic = transaction_state_topic(&config);
        assert_eq!(topic.partitions, 50);
        assert_eq!(topic.replication_factor, 1);
        let get = |key: &str| {
            topic
                .configs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("cleanup.policy"), Some("compact"));
        assert_eq!(get("min.insync.replicas"), Some("1"));
        assert_eq!(get("segment.bytes"), Some("104857600"));
    }
}
