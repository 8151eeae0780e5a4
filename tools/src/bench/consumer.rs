//! A consumer worker: one thread fetching its assigned partitions from
//! their leaders, one Fetch at a time per connection (as Kafka consumers
//! do), counting records and bytes from the batch headers. In end-to-end
//! runs it also decodes each batch (decompressing it) to read every
//! record's send-time stamp.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::meter::{Meter, Tally};
use super::options::{ConsumerOptions, StartFrom};
use super::payload::read_stamp;
use super::run_control::RunControl;
use crate::client::{BatchHeaders, ClientError, Connection, ConnectionConfig, OffsetSpec};

/// Kafka's OFFSET_OUT_OF_RANGE error code.
const OFFSET_OUT_OF_RANGE: i16 = 1;

/// One leader a consumer fetches from.
#[derive(Debug, Clone)]
pub struct FetchPlan {
    /// `host:port` of the leader.
    pub address: String,
    /// Partition ids it leads that this consumer reads.
    pub partitions: Vec<i32>,
    /// Where this connection's counts go.
    pub meter: Arc<Meter>,
}

/// What one consumer thread does.
#[derive(Debug, Clone)]
pub struct ConsumerPlan {
    /// Topic to read.
    pub topic: String,
    /// One entry per leader.
    pub fetches: Vec<FetchPlan>,
    /// The user's consumer options.
    pub options: ConsumerOptions,
    /// Where to start in each partition.
    pub from: StartFrom,
    /// Whether to decode records and measure end-to-end latency from their stamps.
    pub end_to_end: bool,
    /// Whether to stop at the log end offsets found at start.
    pub until_end: bool,
}

/// A consumer's connection to one leader with its next fetch offsets.
#[derive(Debug)]
pub struct Position {
    connection: Connection,
    plan: FetchPlan,
    offsets: BTreeMap<i32, i64>,
    /// Where to stop per partition (`--until-end`), else empty.
    end_offsets: BTreeMap<i32, i64>,
}

impl Position {
    fn reached_end(&self) -> bool {
        !self.end_offsets.is_empty()
            && self.end_offsets.iter().all(|(partition, end)| {
                self.offsets
                    .get(partition)
                    .is_some_and(|offset| offset >= end)
            })
    }
}

/// Connects to each leader of `plan` and looks up the start offsets. Runs
/// before load starts, so an end-to-end run's "latest" is taken before any
/// record is produced.
///
/// # Errors
/// The first connection or ListOffsets failure.
pub fn connect(
    plan: &ConsumerPlan,
    config: &ConnectionConfig,
) -> Result<Vec<Position>, ClientError> {
    let spec = match plan.from {
        StartFrom::Earliest => OffsetSpec::Earliest,
        StartFrom::Latest => OffsetSpec::Latest,
    };
    plan.fetches
        .iter()
        .map(|fetch| {
            let mut connection = Connection::connect(&fetch.address, config)?;
            let offsets = connection.list_offsets(&plan.topic, &fetch.partitions, spec)?;
            let end_offsets = if plan.until_end {
                connection.list_offsets(&plan.topic, &fetch.partitions, OffsetSpec::Latest)?
            } else {
                Vec::new()
            };
            Ok(Position {
                connection,
                plan: fetch.clone(),
                offsets: offsets.into_iter().collect(),
                end_offsets: end_offsets.into_iter().collect(),
            })
        })
        .collect()
}

/// Fetches until the run ends. Failures are counted in the meters; a
/// connection that fails is dropped.
pub fn run(plan: &ConsumerPlan, mut positions: Vec<Position>, control: &RunControl) {
    let topic = TopicName(StrBytes::from_string(plan.topic.clone()));
    // End-to-end consumers keep reading after the end until the producers
    // are done and a round of fetches comes back empty, so every
    // acknowledged record is seen; bounded by the grace period.
    let grace_end_ns = control.end_ns + control.request_timeout_ns() + 5_000_000_000;
    positions.retain(|position| !position.reached_end());
    while !positions.is_empty() && !control.stopped() {
        let now_ns = control.clock.now_ns();
        if now_ns >= control.end_ns && (!plan.end_to_end || now_ns >= grace_end_ns) {
            break;
        }
        let producers_done = control.load_finished();
        let before: i64 = positions.iter().flat_map(|p| p.offsets.values()).sum();
        positions.retain_mut(
            |position| match fetch_once(position, &topic, plan, control) {
                Ok(()) => !position.reached_end(),
                Err(error) => {
                    position
                        .plan
                        .meter
                        .update(|tally| tally.record_transport_error(error));
                    false
                }
            },
        );
        let after: i64 = positions.iter().flat_map(|p| p.offsets.values()).sum();
        if now_ns >= control.end_ns && producers_done && after == before {
            break;
        }
    }
}

fn fetch_once(
    position: &mut Position,
    topic: &TopicName,
    plan: &ConsumerPlan,
    control: &RunControl,
) -> Result<(), String> {
    let options = &plan.options;
    let partitions = position
        .offsets
        .iter()
        .map(|(&partition, &offset)| {
            FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(
                    i32::try_from(options.partition_max_bytes).unwrap_or(i32::MAX),
                )
        })
        .collect();
    let request = FetchRequest::default()
        .with_max_wait_ms(i32::try_from(options.fetch_max_wait_ms).unwrap_or(i32::MAX))
        .with_min_bytes(1)
        .with_max_bytes(i32::try_from(options.fetch_max_bytes).unwrap_or(i32::MAX))
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic.clone())
            .with_partitions(partitions)]);
    let response = position
        .connection
        .call(&request)
        .map_err(|error| error.to_report())?;
    let received_unix_us = control.clock.unix_us_now();
    let measure_from_unix_us = control.clock.unix_us_at(control.measure_from_ns);
    let mut reset = Vec::new();
    let mut had_error = false;
    position.plan.meter.update(|tally| {
        tally.requests += 1;
        if response.error_code != 0 {
            *tally.errors.entry(response.error_code).or_default() += 1;
            had_error = true;
            return Ok(());
        }
        account_fetch(
            tally,
            &response,
            &mut position.offsets,
            &mut reset,
            &mut had_error,
            plan.end_to_end,
            received_unix_us,
            measure_from_unix_us,
        )
    })?;
    if !reset.is_empty() {
        let earliest = position
            .connection
            .list_offsets(&plan.topic, &reset, OffsetSpec::Earliest)
            .map_err(|error| error.to_report())?;
        position.offsets.extend(earliest);
    }
    if had_error {
        // Back off so a persistent error does not spin.
        thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn account_fetch(
    tally: &mut Tally,
    response: &FetchResponse,
    offsets: &mut BTreeMap<i32, i64>,
    reset: &mut Vec<i32>,
    had_error: &mut bool,
    end_to_end: bool,
    received_unix_us: u64,
    measure_from_unix_us: u64,
) -> Result<(), String> {
    for partition in response
        .responses
        .iter()
        .flat_map(|topic| &topic.partitions)
    {
        let Some(offset) = offsets.get_mut(&partition.partition_index) else {
            continue;
        };
        if partition.error_code == OFFSET_OUT_OF_RANGE {
            reset.push(partition.partition_index);
            continue;
        }
        if partition.error_code != 0 {
            *tally.errors.entry(partition.error_code).or_default() += 1;
            *had_error = true;
            continue;
        }
        let Some(records) = partition.records.clone() else {
            continue;
        };
        for batch in BatchHeaders::new(records) {
            let (header, bytes) = batch.map_err(|error| error.to_report())?;
            if header.next_offset() <= *offset {
                continue;
            }
            if !header.is_control() {
                // A compressed batch may start before the fetch offset; count only what is new.
                let skipped = (*offset - header.base_offset).max(0);
                let new_records = (i64::from(header.last_offset_delta) + 1 - skipped).max(0);
                tally.records += u64::try_from(new_records).unwrap_or(0);
                tally.bytes += bytes.len() as u64;
                if end_to_end {
                    let mut bytes = bytes;
                    let set = RecordBatchDecoder::decode(&mut bytes)
                        .map_err(|error| format!("decode record batch: {error:#}"))?;
                    for record in set.records.iter().filter(|record| record.offset >= *offset) {
                        let stamp_unix_us = record
                            .value
                            .as_deref()
                            .and_then(read_stamp)
                            .unwrap_or_else(|| {
                                u64::try_from(record.timestamp).unwrap_or(0) * 1_000
                            });
                        if stamp_unix_us >= measure_from_unix_us {
                            tally.record_latency_us(received_unix_us.saturating_sub(stamp_unix_us));
                        }
                    }
                }
            }
            *offset = header.next_offset();
        }
    }
    Ok(())
}
