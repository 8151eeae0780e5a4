//! The group coordinator's driver: the IO around the sans-IO
//! [`GroupCoordinator`]. It lives on the control shard, gives each request
//! from a data shard a [`RequestToken`] and completes that request's reply
//! when the coordinator answers the token (JoinGroup and SyncGroup may be
//! answered many steps later); appends `__consumer_offsets` records through
//! the partition's owner shard and reports the outcome back; ticks the
//! coordinator at its next deadline; and follows the leadership of
//! `__consumer_offsets` in each published image ([`GroupDriver::apply_image`]):
//! as in Kafka, a group is coordinated by the leader of its partition, so
//! this broker replays the partitions it is elected to and unloads those it
//! resigns.
//!
//! Invariants: every token handed to the coordinator has exactly one waiter
//! until it is answered; appends to one `__consumer_offsets` partition are
//! issued one at a time, in the order the coordinator emitted them (queued
//! persists of one partition are sent as one append, a group commit); a
//! partition is replayed only after its earlier appends settled, and its
//! replay is installed only if its tenure (leader epoch) did not change
//! during the read.
//!
//! [`ask`] is the data-shard side: it sends a request over the mesh.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::channel::mpsc;
use skein_controller::group_coordinator::{
    Action, AppendError, GroupCoordinator, GroupError, OffsetsRecord, PersistId, Request, Response,
    TopicMetadata, CONSUMER_OFFSETS_TOPIC,
};
use skein_controller::{BrokerConfig, MetadataImage, TopicId, TopicImage};
use skein_engine::{owner_shard, Mesh, ShardId};

use skein_net::offsets_topic::{
    self, decode_transactional_batches, encode_batch, encode_transactional_batch, OpenTransactions,
    REPLAY_READ_BYTES,
};
use skein_net::shard_message::{
    PartitionError, PartitionOffsets, PartitionOp, ReplicationError, ShardReply, ShardRequest,
};
use skein_net::shard_state::now_ms;

use super::parked_requests::ParkedRequests;

/// How long one wait for a new leader's high watermark to cover its log
/// end lasts before the partition's offsets are asked again (a lost
/// leadership then ends the replay).
const REPLAY_COMMIT_WAIT_MS: u64 = 500;

/// Bytes of queued persists of one partition sent as one append; the rest
/// waits for the next append.
const GROUP_COMMIT_BYTES_MAX: usize = 512 << 10;
/// The first wait before a failed `__consumer_offsets` read is retried; it
/// doubles up to [`LOAD_RETRY_MAX_MS`].
const LOAD_RETRY_MIN_MS: u64 = 100;
/// The longest wait between retries of a failed `__consumer_offsets` read.
const LOAD_RETRY_MAX_MS: u64 = 5_000;

/// One persist waiting for its append: its id, records and, for a
/// TxnOffsetCommit, the producer whose transactional batch it is.
type QueuedPersist = (PersistId, Vec<OffsetsRecord>, Option<(i64, i16)>);

/// Persists waiting for their partition's append.
#[derive(Default)]
struct PersistQueue {
    queued: VecDeque<QueuedPersist>,
    /// Whether a task is appending this partition's queue.
    busy: bool,
}

/// The group coordinator and its IO. Lives on: the control shard only.
pub struct GroupDriver {
    coordinator: RefCell<GroupCoordinator>,
    parked: ParkedRequests<Response>,
    queues: RefCell<Vec<PersistQueue>>,
    /// The `__consumer_offsets` topic id, once the topic exists.
    offsets_topic_id: Cell<Option<TopicId>>,
    mesh: Mesh<ShardRequest, ShardReply>,
    data_shards: usize,
    /// Wakes the timer task after a step may have moved the deadline.
    timer_wake: RefCell<mpsc::Sender<()>>,
    timer_woken: RefCell<Option<mpsc::Receiver<()>>>,
    /// Set at shutdown: requests are refused rather than parked, so data
    /// shards can drain.
    stopped: Cell<bool>,
    /// `node.id`: the broker whose leaderships this coordinator serves.
    local_broker_id: i32,
    /// This broker's tenure of each `__consumer_offsets` partition.
    tenures: RefCell<Vec<Tenure>>,
    /// The id of the next replay started by an election.
    next_load: Cell<u64>,
    /// Whether a partition count differing from the image's was reported.
    count_mismatch_logged: Cell<bool>,
    /// `offsets.commit.timeout.ms`: how long an append waits for the ISR.
    commit_timeout_ms: u64,
}

/// What this broker does with one `__consumer_offsets` partition (Kafka's
/// coordinator epoch per partition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tenure {
    /// No image applied yet: the coordinator holds the partition as loading.
    Unknown,
    /// Led elsewhere or by nobody: its groups are not in memory.
    Resigned,
    /// Led here at `leader_epoch`; replay `load` runs, its groups get
    /// COORDINATOR_LOAD_IN_PROGRESS.
    Loading { leader_epoch: i32, load: u64 },
    /// Led here at `leader_epoch`, replayed and served.
    Serving { leader_epoch: i32 },
}

/// What an image asks of one partition's tenure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TenureChange {
    /// Nothing: still led here at the same epoch, or still not led here.
    Keep,
    /// Led here at a new epoch: replay it (Kafka's `onElection`).
    Elect { leader_epoch: i32 },
    /// No longer led here: unload it (Kafka's `onResignation`).
    Resign,
}

/// For each of the first `partitions` partitions of `__consumer_offsets`
/// (`topic`, `None` if it does not exist), its leader epoch if `broker`
/// leads it, else `None`.
pub(crate) fn leader_epochs_of(
    topic: Option<&TopicImage>,
    broker: i32,
    partitions: u32,
) -> Vec<Option<i32>> {
    (0..partitions)
        .map(|partition| {
            let state = topic?.partition(i32::try_from(partition).ok()?)?;
            (state.leader == broker).then_some(state.leader_epoch)
        })
        .collect()
}

/// The change each partition's tenure needs: `current[p]` is partition `p`'s
/// tenure, `leader_epochs[p]` its leader epoch in the image if this broker
/// leads it there (`None` if another broker or nobody leads it). A
/// partition led here at a new leader epoch is replayed again even if it was
/// served: another leader may have written to it in between.
pub(crate) fn tenure_changes(
    current: &[Tenure],
    leader_epochs: &[Option<i32>],
) -> Vec<TenureChange> {
    current
        .iter()
        .zip(leader_epochs)
        .map(|(tenure, led)| match (led, tenure) {
            (
                Some(epoch),
                Tenure::Loading { leader_epoch, .. } | Tenure::Serving { leader_epoch },
            ) if epoch == leader_epoch => TenureChange::Keep,
            (Some(epoch), _) => TenureChange::Elect {
                leader_epoch: *epoch,
            },
            (None, Tenure::Resigned) => TenureChange::Keep,
            (None, _) => TenureChange::Resign,
        })
        .collect()
}

impl GroupDriver {
    /// A driver whose coordinator has every partition loading.
    /// `partitions` is the partition count of `__consumer_offsets`: the
    /// existing topic's, or `offsets.topic.num.partitions` for a new one.
    ///
    /// # Panics
    /// If `config`'s group settings do not validate
    /// ([`BrokerConfig::group_coordinator_config`]; `run_node` checks them
    /// before any shard starts).
    pub fn new(
        config: &BrokerConfig,
        partitions: u32,
        mesh: Mesh<ShardRequest, ShardReply>,
        data_shards: usize,
    ) -> GroupDriver {
        assert!(partitions > 0);
        assert!(data_shards > 0);
        let coordinator_config = config.group_coordinator_config(partitions);
        let seed = u64::from_le_bytes(
            uuid::Uuid::new_v4().as_bytes()[..8]
                .try_into()
                .unwrap_or([7; 8]),
        );
        let (timer_wake, timer_woken) = mpsc::channel(1);
        let queues: Vec<PersistQueue> = (0..partitions).map(|_| PersistQueue::default()).collect();
        let queue_count = queues.len();
        GroupDriver {
            coordinator: RefCell::new(GroupCoordinator::new(coordinator_config, seed)),
            parked: ParkedRequests::default(),
            queues: RefCell::new(queues),
            offsets_topic_id: Cell::new(None),
            mesh,
            data_shards,
            timer_wake: RefCell::new(timer_wake),
            timer_woken: RefCell::new(Some(timer_woken)),
            stopped: Cell::new(false),
            local_broker_id: config.node_id(),
            tenures: RefCell::new(vec![Tenure::Unknown; queue_count]),
            next_load: Cell::new(0),
            count_mismatch_logged: Cell::new(false),
            commit_timeout_ms: config.offsets_commit_timeout_ms(),
        }
    }

    /// The partition count `__consumer_offsets` has in `image`, or `config`'s
    /// `offsets.topic.num.partitions` if it does not exist yet.
    pub fn partition_count(config: &BrokerConfig, image: &MetadataImage) -> u32 {
        let count = match image.topic(CONSUMER_OFFSETS_TOPIC) {
            Some(topic) => {
                if topic.partitions != config.offsets_topic_partitions() {
                    tracing::warn!(
                        existing = topic.partitions,
                        configured = config.offsets_topic_partitions(),
                        "__consumer_offsets keeps its partition count; offsets.topic.num.partitions ignored"
                    );
                }
                topic.partitions
            }
            None => config.offsets_topic_partitions(),
        };
        u32::try_from(count).unwrap_or(1).max(1)
    }

    /// Every group the coordinator holds, with its state and committed
    /// offsets, for a scrape (run by the refresh task, not per request).
    pub fn group_gauges(&self) -> Vec<skein_net::metrics::GroupGauge> {
        let coordinator = self.coordinator.borrow();
        coordinator
            .groups()
            .map(
                |(group_id, state, offsets)| skein_net::metrics::GroupGauge {
                    group_id: group_id.to_owned(),
                    // A consumer group's offsets live in a classic group of its
                    // id: report the consumer group's state.
                    state: coordinator
                        .consumer_group_state(group_id)
                        .map_or(state.kafka_name(), |s| s.kafka_name()),
                    committed: offsets
                        .map(|(topic, partition, offset)| (topic.to_owned(), partition, offset))
                        .collect(),
                },
            )
            .collect()
    }

    /// Handles one request and waits for its answer.
    ///
    /// # Errors
    /// [`GroupError::CoordinatorNotAvailable`] if the driver shut down
    /// before the coordinator answered.
    pub async fn handle(self: &Rc<Self>, request: Request) -> Result<Response, GroupError> {
        if self.stopped.get() {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let (token, answered) = self.parked.park();
        let actions = self
            .coordinator
            .borrow_mut()
            .request(now_ms(), token, request);
        self.execute(actions);
        answered
            .await
            .map_err(|_| GroupError::CoordinatorNotAvailable)
    }

    /// Answers every parked request, and every later one, with
    /// COORDINATOR_NOT_AVAILABLE (the node is stopping), so data shards can
    /// drain.
    pub fn shutdown(&self) {
        self.stopped.set(true);
        let parked = self.parked.drop_all();
        if parked > 0 {
            tracing::info!(parked, "group requests dropped at shutdown");
        }
    }

    /// Carries out the coordinator's actions in order.
    fn execute(self: &Rc<Self>, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Respond { token, response } => {
                    self.parked.answer(token, response, "group");
                }
                Action::Persist {
                    id,
                    partition,
                    records,
                    transactional,
                } => self.enqueue_persist(id, partition, records, transactional),
            }
        }
        self.wake_timer();
    }

    fn wake_timer(&self) {
        // A full channel means a wake-up is already pending.
        if let Err(error) = self.timer_wake.borrow_mut().try_send(()) {
            if error.is_disconnected() {
                tracing::debug!("group timer task gone");
            }
        }
    }

    fn enqueue_persist(
        self: &Rc<Self>,
        id: PersistId,
        partition: u32,
        records: Vec<OffsetsRecord>,
        transactional: Option<(i64, i16)>,
    ) {
        let start = {
            let mut queues = self.queues.borrow_mut();
            let Some(queue) = usize::try_from(partition)
                .ok()
                .and_then(|index| queues.get_mut(index))
            else {
                drop(queues);
                tracing::error!(
                    partition,
                    "persist for a __consumer_offsets partition that does not exist"
                );
                self.report(vec![(id, Err(AppendError::NotLeader))]);
                return;
            };
            queue.queued.push_back((id, records, transactional));
            !std::mem::replace(&mut queue.busy, true)
        };
        if start {
            let driver = Rc::clone(self);
            glommio::spawn_local(async move { driver.drain_queue(partition).await }).detach();
        }
    }

    /// Appends `partition`'s queued persists until the queue is empty.
    async fn drain_queue(self: Rc<Self>, partition: u32) {
        let index = usize::try_from(partition).unwrap_or(usize::MAX);
        loop {
            let taken = {
                let mut queues = self.queues.borrow_mut();
                let Some(queue) = queues.get_mut(index) else {
                    return;
                };
                let mut taken = Vec::new();
                let mut bytes = 0;
                while let Some((id, records, transactional)) = queue.queued.pop_front() {
                    bytes += records
                        .iter()
                        .map(|r| r.key.len() + r.value.as_ref().map_or(0, Bytes::len))
                        .sum::<usize>();
                    taken.push((id, records, transactional));
                    if bytes >= GROUP_COMMIT_BYTES_MAX {
                        break;
                    }
                }
                if taken.is_empty() {
                    queue.busy = false;
                    return;
                }
                taken
            };
            let outcomes = self.append(partition, taken).await;
            self.report(outcomes);
        }
    }

    /// Writes the persists as one append (one batch each) and returns each
    /// one's outcome.
    async fn append(
        &self,
        partition: u32,
        persists: Vec<QueuedPersist>,
    ) -> Vec<(PersistId, Result<(), AppendError>)> {
        let now = now_ms();
        let mut outcomes = Vec::with_capacity(persists.len());
        let mut ids = Vec::with_capacity(persists.len());
        let mut batches = BytesMut::new();
        for (id, records, transactional) in persists {
            if records.is_empty() {
                outcomes.push((id, Ok(())));
                continue;
            }
            let encoded = match transactional {
                Some(producer) => encode_transactional_batch(&records, now, producer),
                None => encode_batch(&records, now),
            };
            match encoded {
                Ok(batch) => {
                    batches.extend_from_slice(&batch);
                    ids.push(id);
                }
                Err(error) => {
                    tracing::error!(%error, "group coordinator records not persisted");
                    outcomes.push((id, Err(AppendError::TooLarge)));
                }
            }
        }
        if ids.is_empty() {
            return outcomes;
        }
        let result = match self.offsets_topic_id.get() {
            None => Err(AppendError::Unavailable),
            Some(topic_id) => {
                // Written as Kafka writes its coordinator records: acks=all,
                // so a commit that was answered survives the loss of the
                // coordinator (its partition's leader).
                let op = PartitionOp::Append {
                    records: batches.freeze(),
                    acks_all_timeout_ms: Some(self.commit_timeout_ms),
                };
                match self.partition_call(topic_id, partition, op).await {
                    ShardReply::Appended(Ok(_)) => Ok(()),
                    ShardReply::Appended(Err(error)) => Err(append_error(&error)),
                    _ => Err(AppendError::NotLeader),
                }
            }
        };
        if let Err(error) = result {
            tracing::warn!(partition, %error, "__consumer_offsets append failed");
        }
        outcomes.extend(ids.into_iter().map(|id| (id, result)));
        outcomes
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

    async fn partition_call(
        &self,
        topic_id: TopicId,
        partition: u32,
        op: PartitionOp,
    ) -> ShardReply {
        partition_call(&self.mesh, self.data_shards, topic_id, partition, op).await
    }

    /// Makes the coordinator hold exactly the groups whose
    /// `__consumer_offsets` partition this broker leads in `image` (Kafka's
    /// `onElection`/`onResignation`). A partition newly led here, or led here
    /// at a new leader epoch, is replayed from its log in the background and
    /// served once replayed (its groups get COORDINATOR_LOAD_IN_PROGRESS
    /// meanwhile); a partition no longer led here has its groups and offsets
    /// dropped from memory, its parked JoinGroup/SyncGroup requests answered
    /// NOT_COORDINATOR, and later requests for its groups get
    /// NOT_COORDINATOR. A partition led here at the epoch already loaded or
    /// loading is left alone, so calling this with every published image is
    /// cheap (O(partitions)). It also hands the coordinator the image's
    /// topics, which consumer groups (KIP-848) assign from (O(topics)).
    ///
    /// Call it on the control shard with each image the data shards have
    /// applied (they must have opened a partition before it is read):
    /// `node.rs` hands it every published image. It returns at once; the
    /// replays run in a task of their own. A read that fails (the
    /// owner shard has not opened the partition yet) is retried with a
    /// backoff while the partition is still led here at the same epoch; a
    /// partition whose records cannot be decoded stays loading and the
    /// failure is logged.
    pub fn apply_image(self: &Rc<Self>, image: Arc<MetadataImage>) {
        if self.stopped.get() {
            return;
        }
        // Consumer groups (KIP-848) assign from the image's topics.
        self.coordinator
            .borrow_mut()
            .set_topics(image.topics().map(|topic| {
                (
                    topic.name.clone(),
                    TopicMetadata {
                        topic_id: topic.topic_id,
                        partitions: topic.partitions,
                    },
                )
            }));
        let topic = image.topic(CONSUMER_OFFSETS_TOPIC).cloned();
        let topic_id = topic.as_ref().map(|topic| topic.topic_id);
        let partitions = self
            .coordinator
            .borrow()
            .config()
            .offsets_topic_num_partitions;
        if let Some(topic) = &topic {
            if i64::from(topic.partitions) != i64::from(partitions)
                && !self.count_mismatch_logged.replace(true)
            {
                tracing::error!(
                    image = topic.partitions,
                    coordinator = partitions,
                    "__consumer_offsets changed its partition count; groups of partitions beyond the coordinator's count are not served"
                );
            }
        }
        if self.offsets_topic_id.get().is_some() && self.offsets_topic_id.get() != topic_id {
            // A re-created topic is a new log: every tenure ends.
            for partition in 0..partitions {
                self.resign(partition);
            }
        }
        self.offsets_topic_id.set(topic_id);
        let leaders = leader_epochs_of(topic.as_deref(), self.local_broker_id, partitions);
        let current: Vec<Tenure> = self.tenures.borrow().clone();
        let mut elected = Vec::new();
        for (partition, change) in (0..partitions).zip(tenure_changes(&current, &leaders)) {
            match change {
                TenureChange::Keep => {}
                TenureChange::Resign => self.resign(partition),
                TenureChange::Elect { leader_epoch } => {
                    if let Some(load) = self.elect(partition, leader_epoch) {
                        elected.push((partition, load));
                    }
                }
            }
        }
        if let (Some(topic_id), false) = (topic_id, elected.is_empty()) {
            let driver = Rc::clone(self);
            glommio::spawn_local(async move { driver.load_partitions(topic_id, elected).await })
                .detach();
        }
        self.wake_timer();
    }

    /// Starts a new tenure of `partition` at `leader_epoch`: its groups are
    /// dropped (parked requests get COORDINATOR_LOAD_IN_PROGRESS) until the
    /// replay. Returns the load's id, or `None` for a partition out of range.
    fn elect(self: &Rc<Self>, partition: u32, leader_epoch: i32) -> Option<u64> {
        let load = self.next_load.get();
        self.next_load.set(load.wrapping_add(1));
        self.set_tenure(partition, Tenure::Loading { leader_epoch, load });
        let began = self.coordinator.borrow_mut().begin_load(partition);
        match began {
            Ok(actions) => self.execute(actions),
            Err(error) => {
                tracing::error!(%error, "elected to a __consumer_offsets partition out of range");
                return None;
            }
        }
        // Debug: a single node elects all 50 partitions at every start; the
        // load task logs one summary line.
        tracing::debug!(
            partition,
            leader_epoch,
            "leading a __consumer_offsets partition; loading its groups"
        );
        Some(load)
    }

    /// Ends this broker's tenure of `partition`, if it had one: its groups
    /// leave memory and their parked requests get NOT_COORDINATOR.
    fn resign(self: &Rc<Self>, partition: u32) {
        {
            let mut tenures = self.tenures.borrow_mut();
            let Some(tenure) = usize::try_from(partition)
                .ok()
                .and_then(|index| tenures.get_mut(index))
            else {
                return;
            };
            if *tenure == Tenure::Resigned {
                return;
            }
            if *tenure != Tenure::Unknown {
                tracing::info!(
                    partition,
                    "no longer leading a __consumer_offsets partition; its groups are unloaded"
                );
            }
            *tenure = Tenure::Resigned;
        }
        let unloaded = self.coordinator.borrow_mut().unload_partition(partition);
        match unloaded {
            Ok(actions) => self.execute(actions),
            Err(error) => {
                tracing::error!(%error, "resigned a __consumer_offsets partition out of range")
            }
        }
    }

    fn set_tenure(&self, partition: u32, tenure: Tenure) {
        let mut tenures = self.tenures.borrow_mut();
        if let Some(slot) = usize::try_from(partition)
            .ok()
            .and_then(|index| tenures.get_mut(index))
        {
            *slot = tenure;
        }
    }

    /// The leader epoch of load `load` of `partition` if it is still the
    /// partition's current tenure.
    fn current_load(&self, partition: u32, load: u64) -> Option<i32> {
        let tenures = self.tenures.borrow();
        match usize::try_from(partition)
            .ok()
            .and_then(|index| tenures.get(index))
        {
            Some(Tenure::Loading {
                leader_epoch,
                load: current,
            }) if *current == load => Some(*leader_epoch),
            _ => None,
        }
    }

    /// Replays the elected partitions (`(partition, load id)`) one at a time
    /// and starts serving each; a partition whose tenure changed meanwhile is
    /// skipped. Failed reads are retried with a backoff.
    async fn load_partitions(self: Rc<Self>, topic_id: TopicId, mut pending: Vec<(u32, u64)>) {
        let started = std::time::Instant::now();
        let mut loaded = 0_usize;
        let mut total = 0_usize;
        let mut backoff_ms = LOAD_RETRY_MIN_MS;
        loop {
            let mut retry = Vec::new();
            for (partition, load) in pending {
                if self.stopped.get() || self.current_load(partition, load).is_none() {
                    continue;
                }
                // An append of an earlier tenure still in flight would land
                // after the read and be missing from memory.
                self.appends_settled(partition).await;
                let read = self.read_partition(topic_id, partition).await;
                let Some(leader_epoch) = self.current_load(partition, load) else {
                    continue;
                };
                let (records, open) = match read {
                    Ok(read) => read,
                    Err(error) => {
                        tracing::warn!(partition, %error, retry_ms = backoff_ms, "cannot read a __consumer_offsets partition yet; retrying");
                        retry.push((partition, load));
                        continue;
                    }
                };
                total += records.len();
                let replayed = self
                    .coordinator
                    .borrow_mut()
                    .load_partition_with_open_transactions(partition, records, open, now_ms());
                match replayed {
                    Ok(()) => {
                        loaded += 1;
                        self.set_tenure(partition, Tenure::Serving { leader_epoch });
                    }
                    Err(error) => {
                        tracing::error!(partition, %error, "cannot load a __consumer_offsets partition; its groups stay unavailable")
                    }
                }
            }
            if retry.is_empty() || self.stopped.get() {
                break;
            }
            glommio::timer::sleep(Duration::from_millis(backoff_ms)).await;
            backoff_ms = (backoff_ms * 2).min(LOAD_RETRY_MAX_MS);
            pending = retry;
        }
        tracing::info!(
            partitions = loaded,
            records = total,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "group coordinator loaded the __consumer_offsets partitions elected here"
        );
        self.wake_timer();
    }

    /// Waits until no append to `partition` is queued or in flight.
    async fn appends_settled(&self, partition: u32) {
        loop {
            let busy = usize::try_from(partition)
                .ok()
                .and_then(|index| self.queues.borrow().get(index).map(|queue| queue.busy))
                .unwrap_or(false);
            if !busy {
                return;
            }
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Every record of one `__consumer_offsets` partition, and its open
    /// transactions' ([`read_partition_replay`]).
    async fn read_partition(
        &self,
        topic_id: TopicId,
        partition: u32,
    ) -> Result<(Vec<OffsetsRecord>, Vec<(i64, Vec<OffsetsRecord>)>), String> {
        read_partition_replay(&self.mesh, self.data_shards, topic_id, partition).await
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

/// One operation on an internal-topic partition, on its owner shard.
pub(crate) async fn partition_call(
    mesh: &Mesh<ShardRequest, ShardReply>,
    data_shards: usize,
    topic_id: TopicId,
    partition: u32,
    op: PartitionOp,
) -> ShardReply {
    let partition = i32::try_from(partition).unwrap_or(i32::MAX);
    let owner: ShardId = owner_shard(topic_id, partition, data_shards);
    let request = ShardRequest::Partition {
        topic_id,
        partition,
        op,
    };
    mesh.call(owner, request)
        .await
        .unwrap_or(ShardReply::Unavailable)
}

/// The log start, high watermark and log end of one `__consumer_offsets`
/// partition; an error once it is not led here.
async fn partition_offsets(
    mesh: &Mesh<ShardRequest, ShardReply>,
    data_shards: usize,
    topic_id: TopicId,
    partition: u32,
) -> Result<PartitionOffsets, String> {
    match partition_call(mesh, data_shards, topic_id, partition, PartitionOp::Offsets).await {
        ShardReply::Offsets(Ok(offsets)) => Ok(offsets),
        ShardReply::Offsets(Err(error)) => Err(error.to_string()),
        _ => Err("partition owner unavailable".into()),
    }
}

/// Every record of one internal-topic partition (`__consumer_offsets`,
/// `__transaction_state`) led here, in log order, up to the log end it had
/// when asked, once that log end is committed; the records of
/// transactions still open there are left out ([`read_partition_replay`]).
pub(crate) async fn read_partition(
    mesh: &Mesh<ShardRequest, ShardReply>,
    data_shards: usize,
    topic_id: TopicId,
    partition: u32,
) -> Result<Vec<OffsetsRecord>, String> {
    read_partition_replay(mesh, data_shards, topic_id, partition)
        .await
        .map(|(records, _)| records)
}

/// As [`read_partition`], with the records of the transactions still open
/// at the end of the read, by producer id (each in log order).
pub(crate) async fn read_partition_replay(
    mesh: &Mesh<ShardRequest, ShardReply>,
    data_shards: usize,
    topic_id: TopicId,
    partition: u32,
) -> Result<(Vec<OffsetsRecord>, Vec<(i64, Vec<OffsetsRecord>)>), String> {
    let offsets = partition_offsets(mesh, data_shards, topic_id, partition).await?;
    let mut offset = offsets.log_start_offset;
    // A new leader learnt its predecessor's high watermark one fetch
    // late, so records that were committed (and answered) may still lie
    // above its own: like Kafka's loader, which reads to the log end,
    // replay everything this leader holds, once it is committed here.
    let high_watermark = offsets.log_end_offset;
    let mut committed = offsets.high_watermark;
    while committed < high_watermark {
        let op = PartitionOp::WaitForAppend {
            offset: high_watermark - 1,
            timeout_ms: REPLAY_COMMIT_WAIT_MS,
            replica: false,
        };
        partition_call(mesh, data_shards, topic_id, partition, op).await;
        committed = partition_offsets(mesh, data_shards, topic_id, partition)
            .await?
            .high_watermark;
    }
    let mut records = Vec::new();
    // Transactional offset commits wait for their marker; a transaction
    // still open at the log end is handed back apart (the coordinator holds
    // it pending until its completion).
    let mut open = OpenTransactions::new();
    while offset < high_watermark {
        let op = PartitionOp::Read {
            offset,
            max_bytes: REPLAY_READ_BYTES,
            replica: None,
        };
        let chunks = match partition_call(mesh, data_shards, topic_id, partition, op).await {
            ShardReply::Read(Ok((chunks, _))) => chunks,
            ShardReply::Read(Err(error)) => return Err(error.to_string()),
            _ => return Err("partition owner unavailable".into()),
        };
        let mut next = None;
        for chunk in &chunks {
            if let Some(after) = decode_transactional_batches(chunk, &mut records, &mut open)
                .map_err(|error| error.to_string())?
            {
                next = Some(after);
            }
        }
        match next {
            Some(after) if after > offset => offset = after,
            _ => {
                return Err(format!(
                    "read at offset {offset} (high watermark {high_watermark}) made no progress"
                ))
            }
        }
    }
    let mut open: Vec<(i64, Vec<OffsetsRecord>)> = open.into_iter().collect();
    open.sort_by_key(|(producer_id, _)| *producer_id);
    Ok((records, open))
}

/// The coordinator's view of a failed append (Kafka's mapping in
/// `GroupMetadataManager`: storage and leadership failures are
/// NOT_COORDINATOR, replication shortfalls and timeouts
/// COORDINATOR_NOT_AVAILABLE, size failures their own codes).
pub(crate) fn append_error(error: &PartitionError) -> AppendError {
    match error {
        PartitionError::Replication(
            ReplicationError::NotEnoughReplicas { .. }
            | ReplicationError::NotEnoughReplicasAfterAppend { .. },
        )
        | PartitionError::ReplicationTimedOut => AppendError::Unavailable,
        PartitionError::Append(skein_engine::AppendError::BatchTooLarge { .. }) => {
            AppendError::TooLarge
        }
        PartitionError::Append(skein_engine::AppendError::CorruptBatch { .. })
        | PartitionError::Append(skein_engine::AppendError::Compression { .. })
        | PartitionError::Append(skein_engine::AppendError::InvalidTimestamp { .. })
        | PartitionError::Append(skein_engine::AppendError::Empty)
        | PartitionError::Producer(_) => AppendError::Unavailable,
        PartitionError::Append(skein_engine::AppendError::Storage(_))
        | PartitionError::Append(skein_engine::AppendError::Poisoned)
        | PartitionError::UnknownTopicOrPartition
        | PartitionError::Read(_)
        | PartitionError::Log(_)
        | PartitionError::OwnerUnavailable
        | PartitionError::NotLeader { .. }
        | PartitionError::Replication(_)
        | PartitionError::LogDirOffline
        | PartitionError::Moving
        | PartitionError::UnexpectedReply => AppendError::NotLeader,
    }
}

/// The `__consumer_offsets` topic to create at start-up if it is absent;
/// `segment_bytes` is `offsets.topic.segment.bytes`.
pub fn offsets_topic(partitions: u32, segment_bytes: u64) -> skein_net::shard_message::NewTopic {
    skein_net::shard_message::NewTopic {
        name: CONSUMER_OFFSETS_TOPIC.to_string(),
        partitions: i32::try_from(partitions).unwrap_or(i32::MAX),
        replication_factor: -1,
        configs: offsets_topic::topic_configs(segment_bytes),
        assignments: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use skein_controller::group_coordinator::{
        partition_for_group, GroupCoordinatorConfig, OffsetFetch, RequestToken,
    };
    use skein_controller::MetadataRecord;

    use super::*;

    const OFFSETS_ID: TopicId = [7; 16];

    /// `__consumer_offsets` (50 partitions) with partition `p` led by
    /// `leader(p)` at leader epoch `epoch(p)`, as the controller records it.
    fn image(leader: impl Fn(u32) -> i32, epoch: impl Fn(u32) -> i32) -> MetadataImage {
        let mut records = vec![MetadataRecord::Topic {
            topic_id: OFFSETS_ID,
            name: CONSUMER_OFFSETS_TOPIC.into(),
            partitions: 50,
            configs: Vec::new(),
        }];
        records.extend((0..50).map(|partition: u32| MetadataRecord::Partition {
            topic_id: OFFSETS_ID,
            partition: i32::try_from(partition).unwrap_or(0),
            replicas: vec![1, 2],
            isr: vec![1, 2],
            leader: leader(partition),
            leader_epoch: epoch(partition),
            partition_epoch: epoch(partition),
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }));
        MetadataImage::replay(1, &records)
    }

    /// Carries out `changes` on a sans-IO coordinator the way the driver
    /// does (with empty logs) and returns the new tenures.
    fn apply(
        coordinator: &mut GroupCoordinator,
        current: &[Tenure],
        leaders: &[Option<i32>],
    ) -> Vec<Tenure> {
        let changes = tenure_changes(current, leaders);
        (0..)
            .zip(current.iter().zip(changes))
            .map(|(partition, (tenure, change))| match change {
                TenureChange::Keep => *tenure,
                TenureChange::Resign => {
                    assert!(coordinator.unload_partition(partition).is_ok());
                    Tenure::Resigned
                }
                TenureChange::Elect { leader_epoch } => {
                    assert!(coordinator.begin_load(partition).is_ok());
                    assert!(coordinator.load_partition(partition, Vec::new(), 0).is_ok());
                    Tenure::Serving { leader_epoch }
                }
            })
            .collect()
    }

    fn fetch(coordinator: &mut GroupCoordinator, group: &str) -> Response {
        let request = Request::OffsetFetch(OffsetFetch {
            member: None,
            group_id: group.into(),
            partitions: None,
            require_stable: false,
        });
        match coordinator.request(0, RequestToken(1), request).pop() {
            Some(Action::Respond { response, .. }) => response,
            other => unreachable!("OffsetFetch answers at once, got {other:?}"),
        }
    }

    #[test]
    fn groups_of_partitions_led_elsewhere_get_not_coordinator() {
        // "my-group" lives in partition 12, "a" in 47.
        let lost = partition_for_group("my-group", 50);
        assert_eq!(lost, 12);
        let mut coordinator = GroupCoordinator::new(GroupCoordinatorConfig::default(), 1);
        let first = image(|p| if p == lost { 2 } else { 1 }, |_| 3);
        let offsets = first.topic(CONSUMER_OFFSETS_TOPIC).map(|t| t.as_ref());
        let tenures = apply(
            &mut coordinator,
            &[Tenure::Unknown; 50],
            &leader_epochs_of(offsets, 1, 50),
        );
        assert_eq!(tenures.get(12), Some(&Tenure::Resigned));
        assert_eq!(
            fetch(&mut coordinator, "my-group"),
            Response::OffsetFetch(Err(GroupError::NotCoordinator))
        );
        assert_eq!(
            fetch(&mut coordinator, "a"),
            Response::OffsetFetch(Ok(Vec::new()))
        );
        // Broker 2 fails over to this broker at epoch 4: partition 12 is
        // elected (and replayed), the others keep their tenure.
        let second = image(|_| 1, |p| if p == lost { 4 } else { 3 });
        let offsets = second.topic(CONSUMER_OFFSETS_TOPIC).map(|t| t.as_ref());
        let leaders = leader_epochs_of(offsets, 1, 50);
        let changes = tenure_changes(&tenures, &leaders);
        assert_eq!(
            changes.get(12),
            Some(&TenureChange::Elect { leader_epoch: 4 })
        );
        let kept = changes.iter().filter(|c| **c == TenureChange::Keep).count();
        assert_eq!(kept, 49);
        apply(&mut coordinator, &tenures, &leaders);
        assert_eq!(
            fetch(&mut coordinator, "my-group"),
            Response::OffsetFetch(Ok(Vec::new()))
        );
    }

    #[test]
    fn missing_offsets_topic_leads_nothing() {
        assert_eq!(leader_epochs_of(None, 1, 3), vec![None; 3]);
    }

    #[test]
    fn first_image_elects_the_partitions_led_here_and_resigns_the_rest() {
        let current = [Tenure::Unknown; 3];
        assert_eq!(
            tenure_changes(&current, &[Some(4), None, Some(0)]),
            vec![
                TenureChange::Elect { leader_epoch: 4 },
                TenureChange::Resign,
                TenureChange::Elect { leader_epoch: 0 },
            ]
        );
    }

    #[test]
    fn same_leader_epoch_keeps_a_loading_or_served_partition() {
        let current = [
            Tenure::Loading {
                leader_epoch: 4,
                load: 9,
            },
            Tenure::Serving { leader_epoch: 4 },
            Tenure::Resigned,
        ];
        assert_eq!(
            tenure_changes(&current, &[Some(4), Some(4), None]),
            vec![TenureChange::Keep; 3]
        );
    }

    #[test]
    fn leadership_lost_resigns_and_regained_at_a_new_epoch_reloads() {
        let served = [Tenure::Serving { leader_epoch: 4 }];
        assert_eq!(tenure_changes(&served, &[None]), vec![TenureChange::Resign]);
        assert_eq!(
            tenure_changes(&[Tenure::Resigned], &[Some(6)]),
            vec![TenureChange::Elect { leader_epoch: 6 }]
        );
        // Led here again at a later epoch without an image in between that
        // showed another leader: another broker may have written, reload.
        assert_eq!(
            tenure_changes(&served, &[Some(6)]),
            vec![TenureChange::Elect { leader_epoch: 6 }]
        );
        let loading = [Tenure::Loading {
            leader_epoch: 4,
            load: 1,
        }];
        assert_eq!(
            tenure_changes(&loading, &[Some(5)]),
            vec![TenureChange::Elect { leader_epoch: 5 }]
        );
        assert_eq!(
            tenure_changes(&loading, &[None]),
            vec![TenureChange::Resign]
        );
    }
}
