//! The group coordinator's driver: the IO around the sans-IO
//! [`GroupCoordinator`]. It lives on the control shard, gives each request
//! from a data shard a [`RequestToken`] and completes that request's reply
//! when the coordinator answers the token (JoinGroup and SyncGroup may be
//! answered many steps later); appends `__consumer_offsets` records through
//! the partition's owner shard and reports the outcome back; ticks the
//! coordinator at its next deadline; and replays `__consumer_offsets` at
//! start-up.
//!
//! Invariants: every token handed to the coordinator has exactly one waiter
//! until it is answered; appends to one `__consumer_offsets` partition are
//! issued one at a time, in the order the coordinator emitted them (queued
//! persists of one partition are sent as one append, a group commit).
//!
//! [`ask`] is the data-shard side: it sends a request over the mesh.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::channel::{mpsc, oneshot};
use futures::StreamExt;
use skein_controller::group_coordinator::{
    Action, AppendError, GroupCoordinator, GroupError, OffsetsRecord, PersistId, Request,
    RequestToken, Response, CONSUMER_OFFSETS_TOPIC,
};
use skein_controller::{BrokerConfig, MetadataImage, TopicId};
use skein_engine::{owner_shard, Mesh, ShardId};

use crate::offsets_topic::{self, decode_batches, encode_batch, REPLAY_READ_BYTES};
use crate::shard_message::{PartitionError, PartitionOp, ShardReply, ShardRequest};
use crate::shard_state::{now_ms, ShardState};

/// The longest the timer task sleeps without looking at the deadline again.
const TICK_INTERVAL_MAX_MS: i64 = 1_000;
/// Bytes of queued persists of one partition sent as one append; the rest
/// waits for the next append.
const GROUP_COMMIT_BYTES_MAX: usize = 512 << 10;

/// Sends a group or offset request to the coordinator on the control shard
/// and waits for its answer. Lives on: a data shard.
///
/// # Errors
/// [`GroupError::CoordinatorNotAvailable`] if the control shard cannot be
/// reached or drops the request (shutting down).
pub async fn ask(ctx: &ShardState, request: Request) -> Result<Response, GroupError> {
    match ctx
        .mesh
        .call(ctx.plan.control_shard(), ShardRequest::Group(request))
        .await
    {
        Ok(ShardReply::Group(result)) => result,
        _ => Err(GroupError::CoordinatorNotAvailable),
    }
}

/// Persists waiting for their partition's append.
#[derive(Default)]
struct PersistQueue {
    queued: VecDeque<(PersistId, Vec<OffsetsRecord>)>,
    /// Whether a task is appending this partition's queue.
    busy: bool,
}

/// The group coordinator and its IO. Lives on: the control shard only.
pub struct GroupDriver {
    coordinator: RefCell<GroupCoordinator>,
    waiters: RefCell<HashMap<RequestToken, oneshot::Sender<Response>>>,
    next_token: Cell<u64>,
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
    /// Per `__consumer_offsets` partition: whether this broker leads it
    /// (and so the coordinator owns it), as of the last image applied, and
    /// how many times it was gained: a replay applies only if the partition
    /// was not lost (or lost and gained again) while its log was read.
    owned: RefCell<std::collections::BTreeMap<u32, (bool, u64)>>,
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
        let queues = (0..partitions).map(|_| PersistQueue::default()).collect();
        GroupDriver {
            coordinator: RefCell::new(GroupCoordinator::new(coordinator_config, seed)),
            waiters: RefCell::new(HashMap::new()),
            next_token: Cell::new(0),
            queues: RefCell::new(queues),
            offsets_topic_id: Cell::new(None),
            mesh,
            data_shards,
            timer_wake: RefCell::new(timer_wake),
            timer_woken: RefCell::new(Some(timer_woken)),
            stopped: Cell::new(false),
            owned: RefCell::new(std::collections::BTreeMap::new()),
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
    pub fn group_gauges(&self) -> Vec<crate::metrics::GroupGauge> {
        self.coordinator
            .borrow()
            .groups()
            .map(|(group_id, state, offsets)| crate::metrics::GroupGauge {
                group_id: group_id.to_owned(),
                state: state.kafka_name(),
                committed: offsets
                    .map(|(topic, partition, offset)| (topic.to_owned(), partition, offset))
                    .collect(),
            })
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
        let token = RequestToken(self.next_token.get());
        self.next_token.set(token.0.wrapping_add(1));
        let (answer, answered) = oneshot::channel();
        self.waiters.borrow_mut().insert(token, answer);
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
        let parked = self.waiters.borrow_mut().drain().count();
        if parked > 0 {
            tracing::info!(parked, "group requests dropped at shutdown");
        }
    }

    /// Carries out the coordinator's actions in order.
    fn execute(self: &Rc<Self>, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Respond { token, response } => {
                    let waiter = self.waiters.borrow_mut().remove(&token);
                    match waiter {
                        Some(waiter) => {
                            if waiter.send(response).is_err() {
                                tracing::debug!(token = token.0, "group request's caller is gone");
                            }
                        }
                        None => tracing::debug!(token = token.0, "answer for a dropped request"),
                    }
                }
                Action::Persist {
                    id,
                    partition,
                    records,
                } => self.enqueue_persist(id, partition, records),
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
            queue.queued.push_back((id, records));
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
                while let Some((id, records)) = queue.queued.pop_front() {
                    bytes += records
                        .iter()
                        .map(|r| r.key.len() + r.value.as_ref().map_or(0, Bytes::len))
                        .sum::<usize>();
                    taken.push((id, records));
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
        persists: Vec<(PersistId, Vec<OffsetsRecord>)>,
    ) -> Vec<(PersistId, Result<(), AppendError>)> {
        let now = now_ms();
        let mut outcomes = Vec::with_capacity(persists.len());
        let mut ids = Vec::with_capacity(persists.len());
        let mut batches = BytesMut::new();
        for (id, records) in persists {
            if records.is_empty() {
                outcomes.push((id, Ok(())));
                continue;
            }
            match encode_batch(&records, now) {
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
                let op = PartitionOp::Append {
                    records: batches.freeze(),
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
        let partition = i32::try_from(partition).unwrap_or(i32::MAX);
        let owner: ShardId = owner_shard(topic_id, partition, self.data_shards);
        let request = ShardRequest::Partition {
            topic_id,
            partition,
            op,
        };
        self.mesh
            .call(owner, request)
            .await
            .unwrap_or(ShardReply::Unavailable)
    }

    /// Makes the coordinator own exactly the `__consumer_offsets`
    /// partitions this broker leads in `image` (Kafka's `onElection` and
    /// `onResignation`): a partition newly led here is replayed from its
    /// log, and serves its groups once replayed (until then they get
    /// COORDINATOR_LOAD_IN_PROGRESS); one led elsewhere now is dropped, its
    /// parked requests answered NOT_COORDINATOR, as are later ones. Call
    /// with every new image. A partition that cannot be read stays loading
    /// and the failure is logged.
    pub async fn apply_image(self: &Rc<Self>, image: Arc<MetadataImage>) {
        let Some(topic) = image.topic(CONSUMER_OFFSETS_TOPIC).cloned() else {
            return;
        };
        self.offsets_topic_id.set(Some(topic.topic_id));
        let local = image.local_broker_id();
        let partitions = self
            .coordinator
            .borrow()
            .config()
            .offsets_topic_num_partitions;
        let mut gained = Vec::new();
        for partition in 0..partitions {
            let index = i32::try_from(partition).unwrap_or(i32::MAX);
            let leads = image.leader(&topic.topic_id, index) == Some(local);
            let (owned, gains) = self
                .owned
                .borrow()
                .get(&partition)
                .map_or((None, 0), |(owned, gains)| (Some(*owned), *gains));
            let actions = match (leads, owned) {
                (true, Some(true)) | (false, Some(false)) => continue,
                (true, _) => {
                    gained.push((partition, gains + 1));
                    self.coordinator.borrow_mut().begin_load(partition)
                }
                (false, _) => self.coordinator.borrow_mut().unload_partition(partition),
            };
            let gains = if leads { gains + 1 } else { gains };
            self.owned.borrow_mut().insert(partition, (leads, gains));
            match actions {
                Ok(actions) => self.execute(actions),
                Err(error) => {
                    tracing::error!(partition, %error, "__consumer_offsets partition out of range")
                }
            }
        }
        if gained.is_empty() {
            return;
        }
        let started = std::time::Instant::now();
        let mut total = 0_usize;
        for (partition, gain) in &gained {
            let partition = *partition;
            let read = self.read_partition(topic.topic_id, partition).await;
            // Leadership may have moved while the log was read.
            if self.owned.borrow().get(&partition) != Some(&(true, *gain)) {
                continue;
            }
            match read {
                Ok(records) => {
                    total += records.len();
                    let loaded =
                        self.coordinator
                            .borrow_mut()
                            .load_partition(partition, records, now_ms());
                    if let Err(error) = loaded {
                        tracing::error!(partition, %error, "cannot load a __consumer_offsets partition; its groups stay unavailable");
                    }
                }
                Err(error) => {
                    tracing::error!(partition, %error, "cannot read a __consumer_offsets partition; its groups stay unavailable");
                }
            }
        }
        tracing::info!(
            partitions = gained.len(),
            records = total,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "group coordinator loaded __consumer_offsets partitions led here"
        );
        self.wake_timer();
    }

    /// Every record of one `__consumer_offsets` partition, in log order.
    async fn read_partition(
        &self,
        topic_id: TopicId,
        partition: u32,
    ) -> Result<Vec<OffsetsRecord>, String> {
        let (mut offset, high_watermark) = match self
            .partition_call(topic_id, partition, PartitionOp::Offsets)
            .await
        {
            ShardReply::Offsets(Ok(offsets)) => (offsets.log_start_offset, offsets.high_watermark),
            ShardReply::Offsets(Err(error)) => return Err(error.to_string()),
            _ => return Err("partition owner unavailable".into()),
        };
        let mut records = Vec::new();
        while offset < high_watermark {
            let op = PartitionOp::Read {
                offset,
                max_bytes: REPLAY_READ_BYTES,
            };
            let chunks = match self.partition_call(topic_id, partition, op).await {
                ShardReply::Read(Ok((chunks, _))) => chunks,
                ShardReply::Read(Err(error)) => return Err(error.to_string()),
                _ => return Err("partition owner unavailable".into()),
            };
            let mut next = None;
            for chunk in &chunks {
                if let Some(after) =
                    decode_batches(chunk, &mut records).map_err(|error| error.to_string())?
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
        Ok(records)
    }

    /// Ticks the coordinator at its deadlines until the node stops. Call
    /// once; spawn it on the control shard.
    pub async fn run_timer(self: Rc<Self>) {
        let Some(mut woken) = self.timer_woken.borrow_mut().take() else {
            return;
        };
        loop {
            let now = now_ms();
            let due = self.coordinator.borrow().next_deadline();
            if due.is_some_and(|due| due <= now) {
                let actions = self.coordinator.borrow_mut().tick(now);
                self.execute(actions);
            }
            // At least 1 ms: a deadline the tick did not clear must not
            // spin the control shard.
            let now = now_ms();
            let wait_ms = self
                .coordinator
                .borrow()
                .next_deadline()
                .map_or(TICK_INTERVAL_MAX_MS, |deadline| {
                    (deadline - now).clamp(1, TICK_INTERVAL_MAX_MS)
                });
            let sleep = glommio::timer::sleep(Duration::from_millis(wait_ms as u64));
            futures::pin_mut!(sleep);
            if let futures::future::Either::Right((None, _)) =
                futures::future::select(sleep, woken.next()).await
            {
                return;
            }
        }
    }
}

/// The coordinator's view of a failed append (Kafka's mapping in
/// `GroupMetadataManager`: storage and leadership failures are
/// NOT_COORDINATOR, size failures their own codes).
fn append_error(error: &PartitionError) -> AppendError {
    match error {
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
        | PartitionError::OwnerUnavailable => AppendError::NotLeader,
    }
}

/// The `__consumer_offsets` topic to create at start-up if it is absent;
/// `segment_bytes` is `offsets.topic.segment.bytes`.
pub fn offsets_topic(partitions: u32, segment_bytes: u64) -> crate::shard_message::NewTopic {
    crate::shard_message::NewTopic {
        name: CONSUMER_OFFSETS_TOPIC.to_string(),
        partitions: i32::try_from(partitions).unwrap_or(i32::MAX),
        replication_factor: -1,
        configs: offsets_topic::topic_configs(segment_bytes),
    }
}
