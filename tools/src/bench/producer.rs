//! A producer worker: one thread generating records on its schedule,
//! batching them per partition and pipelining Produce requests to each
//! partition leader, plus one reader thread per connection matching the
//! in-order responses to what was sent.
//!
//! Invariants: at most `max_in_flight` requests are outstanding per
//! connection (acks=0 requests get no response and are not counted); every
//! record's latency is measured from its intended send time.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{RecordBatchEncoder, RecordEncodeOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::accumulator::{Accumulator, Batch};
use super::key::{key_bytes, KeyChooser};
use super::meter::Meter;
use super::options::{ProducerOptions, RecordSize};
use super::payload::PayloadPool;
use super::run_control::RunControl;
use super::schedule::Schedule;
use crate::client::{
    decode_response, plain_record, Connection, PendingResponse, RequestWriter, ResponseReader,
};

/// One connection a producer opens: the leader of some of its partitions.
#[derive(Debug, Clone)]
pub struct LanePlan {
    /// `host:port` of the leader.
    pub address: String,
    /// Indexes into [`ProducerPlan::partitions`] this leader leads.
    pub partition_indexes: Vec<usize>,
    /// Where this connection's counts go.
    pub meter: Arc<Meter>,
}

/// What one producer thread does.
#[derive(Debug, Clone)]
pub struct ProducerPlan {
    /// Topic to produce to.
    pub topic: String,
    /// Partition ids of the topic, all of them.
    pub partitions: Vec<i32>,
    /// One entry per leader broker.
    pub lanes: Vec<LanePlan>,
    /// The user's producer options.
    pub options: ProducerOptions,
    /// This producer's share of the target rate; `None` for max.
    pub records_per_second: Option<f64>,
    /// Whether values carry a send-time stamp (end-to-end runs).
    pub stamp_values: bool,
}

/// A request whose response is outstanding.
#[derive(Debug)]
struct InFlight {
    pending: PendingResponse,
    batches: Vec<SentBatch>,
}

#[derive(Debug)]
struct SentBatch {
    partition: i32,
    intended_ns: Vec<u64>,
    payload_bytes: u64,
}

/// State one connection's writer and reader share.
#[derive(Debug, Default)]
struct Lane {
    in_flight: Mutex<VecDeque<InFlight>>,
    writer_done: AtomicBool,
    dead: AtomicBool,
}

impl Lane {
    fn in_flight_count(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

/// Wakes the writer when a reader made progress.
#[derive(Debug, Default)]
struct Progress {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Progress {
    fn notify(&self) {
        *self.generation.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.changed.notify_all();
    }

    fn generation(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `deadline` or until the generation moves past `seen`.
    fn wait(&self, seen: u64, deadline: Instant) {
        let mut generation = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        while *generation == seen {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            generation = match self.changed.wait_timeout(generation, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

/// Runs one producer to the end of the run. Failures are counted in the
/// lanes' meters, never returned.
pub fn run(plan: ProducerPlan, control: Arc<RunControl>, core: Option<core_affinity::CoreId>) {
    let progress = Arc::new(Progress::default());
    let mut writers = Vec::with_capacity(plan.lanes.len());
    let mut readers = Vec::with_capacity(plan.lanes.len());
    for lane_plan in &plan.lanes {
        let lane = Arc::new(Lane::default());
        match Connection::connect(&lane_plan.address, &control.connection) {
            Ok(connection) => {
                let (writer, reader) = connection.split();
                let context = ReaderContext {
                    lane: Arc::clone(&lane),
                    meter: Arc::clone(&lane_plan.meter),
                    control: Arc::clone(&control),
                    progress: Arc::clone(&progress),
                };
                let spawned = thread::Builder::new()
                    .name("bench-produce-rx".to_owned())
                    .spawn(move || {
                        if let Some(core) = core {
                            core_affinity::set_for_current(core);
                        }
                        read_responses(reader, &context);
                    });
                match spawned {
                    Ok(handle) => readers.push(handle),
                    Err(error) => {
                        lane.dead.store(true, Ordering::Relaxed);
                        lane_plan.meter.update(|tally| {
                            tally.record_transport_error(format!("spawn reader: {error}"))
                        });
                    }
                }
                writers.push((Some(writer), lane));
            }
            Err(error) => {
                lane.dead.store(true, Ordering::Relaxed);
                lane_plan
                    .meter
                    .update(|tally| tally.record_transport_error(error.to_report()));
                writers.push((None, lane));
            }
        }
    }
    produce(&plan, &control, &progress, &mut writers);
    for (_, lane) in &writers {
        lane.writer_done.store(true, Ordering::Relaxed);
    }
    for handle in readers {
        if handle.join().is_err() {
            tracing::error!("a producer reader thread panicked");
        }
    }
}

/// The writer loop: generate due records, send ready batches, wait.
fn produce(
    plan: &ProducerPlan,
    control: &RunControl,
    progress: &Progress,
    lanes: &mut [(Option<RequestWriter>, Arc<Lane>)],
) {
    let options = &plan.options;
    let clock = control.clock;
    let mut rng = SmallRng::from_entropy();
    let value_bytes_max = match options.record_size {
        RecordSize::Fixed(size) | RecordSize::Range { max: size, .. } => size,
    };
    let pool = PayloadPool::new(
        usize::try_from(value_bytes_max).unwrap_or(usize::MAX),
        &mut rng,
    );
    let mut chooser = KeyChooser::new(
        options.keys,
        options.key_space,
        options.zipf_exponent,
        plan.partitions.len(),
        options.batch_size,
        &mut rng,
    );
    let mut accumulator = Accumulator::new(
        plan.partitions.len(),
        options.batch_size,
        options.max_request_size,
    );
    let mut drain_cursors = vec![0; plan.lanes.len()];
    let mut schedule = plan
        .records_per_second
        .map(|rate| Schedule::new(control.start_ns, rate));
    let linger_ns = options.linger_ms * 1_000_000;
    let max_in_flight = options.max_in_flight as usize;
    let unlimited_round = (options.batch_size as f64 / options.record_size.mean().max(1.0))
        .clamp(1.0, 10_000.0) as usize;
    let topic = TopicName(StrBytes::from_string(plan.topic.clone()));
    let mut key_scratch = Vec::new();
    let flush_deadline_ns = control.end_ns + control.request_timeout_ns();
    loop {
        let seen = progress.generation();
        let now_ns = clock.now_ns();
        let any_dead = lanes
            .iter()
            .any(|(_, lane)| lane.dead.load(Ordering::Relaxed));
        let stopping = now_ns >= control.end_ns || control.stopped() || any_dead;
        if !stopping {
            let mut generated = 0;
            while accumulator.buffered_bytes() < options.buffer_memory {
                let intended_ns = match &mut schedule {
                    Some(schedule) => match schedule.take_due(now_ns) {
                        Some(intended_ns) => intended_ns,
                        None => break,
                    },
                    None if generated < unlimited_round => now_ns,
                    None => break,
                };
                generated += 1;
                let key = chooser.next_key(&mut rng).map(|rank| {
                    key_bytes(rank, &mut key_scratch);
                    Bytes::copy_from_slice(&key_scratch)
                });
                let value_bytes = match options.record_size {
                    RecordSize::Fixed(size) => size,
                    RecordSize::Range { min, max } => rng.gen_range(min..=max),
                };
                let intended_unix_us = clock.unix_us_at(intended_ns);
                let value = pool.value(
                    usize::try_from(value_bytes).unwrap_or(0),
                    plan.stamp_values.then_some(intended_unix_us),
                    &mut rng,
                );
                let payload_bytes = value_bytes + key.as_ref().map_or(0, |key| key.len() as u64);
                let partition = chooser.partition(key.as_deref(), payload_bytes, &mut rng);
                let timestamp_ms = i64::try_from(intended_unix_us / 1_000).unwrap_or(i64::MAX);
                let record = plain_record(timestamp_ms, key, Some(value));
                accumulator.append(partition, record, payload_bytes, intended_ns, now_ns);
            }
        }
        // Send every batch that is ready, as far as in-flight limits allow.
        let mut blocked_on_in_flight = false;
        for (((writer, lane), lane_plan), cursor) in
            lanes.iter_mut().zip(&plan.lanes).zip(&mut drain_cursors)
        {
            let Some(writer) = writer.as_mut() else {
                continue;
            };
            if lane.dead.load(Ordering::Relaxed) {
                continue;
            }
            loop {
                if options.acks.wire_value() != 0 && lane.in_flight_count() >= max_in_flight {
                    blocked_on_in_flight |= accumulator.has_ready(
                        &lane_plan.partition_indexes,
                        now_ns,
                        linger_ns,
                        stopping,
                    );
                    break;
                }
                let batches = accumulator.drain(
                    &lane_plan.partition_indexes,
                    cursor,
                    now_ns,
                    linger_ns,
                    stopping,
                );
                if batches.is_empty() {
                    break;
                }
                if let Err(error) = send(writer, lane, lane_plan, plan, control, &topic, batches) {
                    lane.dead.store(true, Ordering::Relaxed);
                    lane_plan
                        .meter
                        .update(|tally| tally.record_transport_error(error));
                    break;
                }
            }
        }
        if stopping {
            let live_lanes_done = lanes.iter().zip(&plan.lanes).all(|((_, lane), lane_plan)| {
                lane.dead.load(Ordering::Relaxed)
                    || (lane.in_flight_count() == 0
                        && !accumulator.has_ready(&lane_plan.partition_indexes, now_ns, 0, true))
            });
            if live_lanes_done || now_ns >= flush_deadline_ns {
                abandon_unsent(&mut accumulator, plan, now_ns);
                return;
            }
        }
        // Sleep until the next record is due, a batch's linger expires, or
        // a response frees an in-flight slot.
        let mut wake_ns = now_ns + 10_000_000;
        if !stopping {
            wake_ns = wake_ns.min(control.end_ns);
            if accumulator.buffered_bytes() < options.buffer_memory {
                match &schedule {
                    Some(schedule) => wake_ns = wake_ns.min(schedule.next_intended_ns()),
                    None => wake_ns = now_ns,
                }
            }
        }
        if !blocked_on_in_flight {
            if let Some(deadline) = accumulator.next_linger_deadline_ns(linger_ns) {
                wake_ns = wake_ns.min(deadline.max(now_ns));
            }
        }
        if wake_ns > now_ns {
            progress.wait(seen, clock.instant_at(wake_ns));
        }
    }
}

/// Counts records that were never sent (their connection failed, or the
/// flush deadline passed) as failed.
fn abandon_unsent(accumulator: &mut Accumulator, plan: &ProducerPlan, now_ns: u64) {
    for lane_plan in &plan.lanes {
        loop {
            let batches = accumulator.drain(&lane_plan.partition_indexes, &mut 0, now_ns, 0, true);
            if batches.is_empty() {
                break;
            }
            let records: u64 = batches
                .iter()
                .map(|(_, batch)| batch.records.len() as u64)
                .sum();
            lane_plan
                .meter
                .update(|tally| tally.failed_records += records);
        }
    }
}

/// Encodes `batches` into one Produce request and writes it.
fn send(
    writer: &mut RequestWriter,
    lane: &Lane,
    lane_plan: &LanePlan,
    plan: &ProducerPlan,
    control: &RunControl,
    topic: &TopicName,
    batches: Vec<(usize, Batch)>,
) -> Result<(), String> {
    let encode_options = RecordEncodeOptions {
        version: 2,
        compression: plan.options.compression.codec(),
    };
    let mut partition_data = Vec::with_capacity(batches.len());
    let mut sent = Vec::with_capacity(batches.len());
    for (partition_index, batch) in batches {
        let mut encoded =
            BytesMut::with_capacity(usize::try_from(batch.payload_bytes).unwrap_or(0) + 128);
        RecordBatchEncoder::encode(&mut encoded, &batch.records, &encode_options)
            .map_err(|error| format!("encode record batch: {error:#}"))?;
        let partition = plan.partitions[partition_index];
        partition_data.push(
            PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(encoded.freeze())),
        );
        sent.push(SentBatch {
            partition,
            intended_ns: batch.intended_ns,
            payload_bytes: batch.payload_bytes,
        });
    }
    let acks = plan.options.acks.wire_value();
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(
            i32::try_from(control.connection.request_timeout.as_millis()).unwrap_or(i32::MAX),
        )
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic.clone())
            .with_partition_data(partition_data)]);
    let pending = writer.send(&request).map_err(|error| error.to_report())?;
    if acks == 0 {
        // No response will come: the record is done once it is written.
        let now_ns = control.clock.now_ns();
        lane_plan.meter.update(|tally| {
            tally.requests += 1;
            for batch in &sent {
                account_delivered(tally, batch, now_ns, control.measure_from_ns);
            }
        });
        return Ok(());
    }
    lane.in_flight
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push_back(InFlight {
            pending,
            batches: sent,
        });
    Ok(())
}

fn account_delivered(
    tally: &mut super::meter::Tally,
    batch: &SentBatch,
    now_ns: u64,
    measure_from_ns: u64,
) {
    tally.records += batch.intended_ns.len() as u64;
    tally.bytes += batch.payload_bytes;
    for &intended_ns in &batch.intended_ns {
        if intended_ns >= measure_from_ns {
            tally.record_latency_us(now_ns.saturating_sub(intended_ns) / 1_000);
        }
    }
}

struct ReaderContext {
    lane: Arc<Lane>,
    meter: Arc<Meter>,
    control: Arc<RunControl>,
    progress: Arc<Progress>,
}

/// The reader loop of one connection: runs until the writer is done and
/// nothing is outstanding, or the connection fails or times out.
fn read_responses(mut reader: ResponseReader, context: &ReaderContext) {
    let ReaderContext {
        lane,
        meter,
        control,
        progress,
    } = context;
    let timeout = control.connection.request_timeout;
    loop {
        match reader.poll_frame() {
            Ok(Some(frame)) => {
                let Some(in_flight) = pop_in_flight(lane) else {
                    fail_lane(
                        lane,
                        meter,
                        progress,
                        "response to no outstanding request".to_owned(),
                    );
                    return;
                };
                let now_ns = control.clock.now_ns();
                match decode_response::<ProduceRequest>(frame, &in_flight.pending) {
                    Ok(response) => {
                        meter.update(|tally| {
                            account_response(
                                tally,
                                &response,
                                &in_flight,
                                now_ns,
                                control.measure_from_ns,
                            )
                        });
                        progress.notify();
                    }
                    Err(error) => {
                        lane.in_flight
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push_front(in_flight);
                        fail_lane(lane, meter, progress, error.to_report());
                        return;
                    }
                }
            }
            Ok(None) => {
                let queue = lane.in_flight.lock().unwrap_or_else(|p| p.into_inner());
                let oldest = queue.front().map(|in_flight| in_flight.pending.sent_at);
                let outstanding = queue.len();
                drop(queue);
                match oldest {
                    None if lane.writer_done.load(Ordering::Relaxed)
                        || lane.dead.load(Ordering::Relaxed) =>
                    {
                        return
                    }
                    Some(sent_at) if sent_at.elapsed() > timeout => {
                        meter.update(|tally| tally.timeouts += outstanding as u64);
                        fail_lane(
                            lane,
                            meter,
                            progress,
                            format!(
                                "no Produce response within {timeout:?} from {}",
                                reader.address()
                            ),
                        );
                        return;
                    }
                    _ => {}
                }
            }
            Err(error) => {
                fail_lane(lane, meter, progress, error.to_report());
                return;
            }
        }
    }
}

/// Takes the oldest outstanding request. The writer pushes a request just
/// after writing it, so a fast response may arrive first: wait briefly.
fn pop_in_flight(lane: &Lane) -> Option<InFlight> {
    let give_up = Instant::now() + Duration::from_secs(1);
    loop {
        if let Some(in_flight) = lane
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
        {
            return Some(in_flight);
        }
        if Instant::now() >= give_up {
            return None;
        }
        thread::yield_now();
    }
}

/// Marks the connection dead and counts everything outstanding as failed.
fn fail_lane(lane: &Lane, meter: &Meter, progress: &Progress, error: String) {
    lane.dead.store(true, Ordering::Relaxed);
    let abandoned: u64 = lane
        .in_flight
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain(..)
        .flat_map(|in_flight| in_flight.batches)
        .map(|batch| batch.intended_ns.len() as u64)
        .sum();
    meter.update(|tally| {
        tally.failed_records += abandoned;
        tally.record_transport_error(error);
    });
    progress.notify();
}

fn account_response(
    tally: &mut super::meter::Tally,
    response: &ProduceResponse,
    in_flight: &InFlight,
    now_ns: u64,
    measure_from_ns: u64,
) {
    tally.requests += 1;
    for batch in &in_flight.batches {
        let outcome = response
            .responses
            .iter()
            .flat_map(|topic| &topic.partition_responses)
            .find(|partition| partition.index == batch.partition)
            .map(|partition| partition.error_code);
        match outcome {
            Some(0) => account_delivered(tally, batch, now_ns, measure_from_ns),
            Some(code) => {
                *tally.errors.entry(code).or_default() += 1;
                tally.failed_records += batch.intended_ns.len() as u64;
            }
            None => {
                tally.failed_records += batch.intended_ns.len() as u64;
                tally.record_transport_error(format!(
                    "Produce response does not mention partition {}",
                    batch.partition
                ));
            }
        }
    }
}
