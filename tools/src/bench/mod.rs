//! `skein bench`: the load generator. It speaks the Kafka protocol itself
//! (through [`crate::client`]), so it works against any Kafka-compatible
//! broker, not just Skein.
//!
//! A run: create the topic if missing, look up partition leaders, start
//! pinned producer and/or consumer threads, close one measurement interval
//! a second (live progress on a terminal), then print a summary and write
//! the JSON, HDR log and SVG plot asked for. Latency is measured from each
//! record's intended send time (no coordinated omission); the warm-up is
//! excluded. Any error makes the run invalid and the exit status non-zero.
mod accumulator;
mod clock;
mod compare;
mod consumer;
mod hdr_log;
mod interrupt;
mod key;
mod meter;
mod options;
mod payload;
mod plot;
mod producer;
mod run_control;
mod schedule;
mod summary;
mod timeline;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};

use crate::client::{
    ClientError, ClusterMetadata, Connection, ConnectionConfig, TopicCreation, TopicSpec,
};
use clock::Clock;
use meter::Meter;
use options::{
    ConsumeOptions, ConsumerOptions, EndToEndOptions, ProduceOptions, ProducerOptions, RunOptions,
    StartFrom, TargetOptions,
};
use run_control::RunControl;
use summary::{Report, SeriesSummary};
use timeline::Series;

/// Kafka's NOT_CONTROLLER error code.
const NOT_CONTROLLER: i16 = 41;

/// How long to wait for a new topic's partitions to get leaders.
const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The `skein bench` subcommands. Options are boxed so the binary's
/// command enum stays small.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Produce at a target rate and report throughput and acknowledgement latency.
    ///
    /// Speaks the Kafka protocol itself, so it works against any
    /// Kafka-compatible broker (Skein, Apache Kafka, Redpanda, …). Latency
    /// is measured from each record's intended send time at the target rate,
    /// so a stalled broker shows as latency (no coordinated omission).
    Produce(Box<ProduceOptions>),
    /// Fetch every partition from earliest (catch-up) or latest (tail) and report throughput.
    ///
    /// Speaks the Kafka protocol itself, so it works against any
    /// Kafka-compatible broker. Records are counted from batch headers;
    /// bytes are record-batch bytes as fetched.
    Consume(Box<ConsumeOptions>),
    /// Produce and consume at once; report end-to-end latency from a send-time stamp in each record.
    ///
    /// Speaks the Kafka protocol itself, so it works against any
    /// Kafka-compatible broker. Each value starts with a stamp of its
    /// intended send time; consumers start at the log end before producing
    /// begins.
    E2e(Box<EndToEndOptions>),
}

/// `skein bench`: a load subcommand, or `--compare A.json B.json`.
#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_required = false,
    arg_required_else_help = true
)]
pub struct BenchArgs {
    /// Print two runs' `--json` reports side by side, series by series, with
    /// the ratio B/A of each figure (throughput, latency percentiles) and the
    /// options that differ between them, instead of running a load.
    #[arg(long, num_args = 2, value_names = ["A.json", "B.json"])]
    compare: Option<Vec<PathBuf>>,
    #[command(subcommand)]
    command: Option<BenchCommand>,
}

/// Runs `skein bench`: a comparison, or one load subcommand.
///
/// # Errors
/// Setup failures (no broker reachable, topic creation refused, unknown
/// cores, output files not writable, a report that cannot be read). Errors
/// during the load are counted and reported instead, with a failing exit
/// status.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    match (args.compare.as_deref(), args.command) {
        (Some([a, b]), _) => compare::run(a, b),
        (Some(_), _) => bail!("--compare takes two reports: A.json B.json"),
        (None, Some(command)) => run_load(command),
        (None, None) => {
            bail!("give a subcommand (produce, consume, e2e) or --compare A.json B.json")
        }
    }
}

fn run_load(command: BenchCommand) -> anyhow::Result<ExitCode> {
    let workload = match command {
        BenchCommand::Produce(options) => Workload {
            command: "produce",
            configuration: serde_json::to_value(&options)?,
            target: options.target,
            run: options.run,
            producer: Some(options.producer),
            consumer: None,
            until_end: false,
        },
        BenchCommand::Consume(options) => Workload {
            command: "consume",
            configuration: serde_json::to_value(&options)?,
            target: options.target,
            run: options.run,
            producer: None,
            consumer: Some((options.consumer, options.from)),
            until_end: options.until_end,
        },
        BenchCommand::E2e(options) => Workload {
            command: "e2e",
            configuration: serde_json::to_value(&options)?,
            target: options.target,
            run: options.run,
            producer: Some(options.producer),
            consumer: Some((options.consumer, StartFrom::Latest)),
            until_end: false,
        },
    };
    workload.execute()
}

/// One run's options, whichever subcommand gave them.
struct Workload {
    command: &'static str,
    configuration: serde_json::Value,
    target: TargetOptions,
    run: RunOptions,
    producer: Option<ProducerOptions>,
    consumer: Option<(ConsumerOptions, StartFrom)>,
    /// Consumers stop at the log end offsets they saw at start.
    until_end: bool,
}

impl Workload {
    fn execute(self) -> anyhow::Result<ExitCode> {
        let connection_config = ConnectionConfig {
            client_id: "skein-bench".to_owned(),
            request_timeout: Duration::from_millis(self.target.request_timeout_ms),
            connect_timeout: Duration::from_secs(10),
            security: self.target.client.security(&[], &[])?,
        };
        let cores = self.pinning_cores()?;
        let (metadata, topic_created) = prepare_topic(&self.target, &connection_config)?;
        let partitions: Vec<i32> = metadata.topics[&self.target.topic]
            .partitions
            .iter()
            .map(|partition| partition.partition)
            .collect();
        let keep_histograms = self.run.hdr_log.is_some();
        let mut thread_index = 0;
        let mut next_core = || {
            let core = cores
                .as_ref()
                .map(|cores| cores[thread_index % cores.len()]);
            thread_index += 1;
            core
        };

        // Consumers connect and find their start offsets before load starts.
        let mut consumer_setups = Vec::new();
        let mut consumer_meters = Vec::new();
        if let Some((options, from)) = &self.consumer {
            for consumer_index in 0..options.consumers as usize {
                let assigned: Vec<i32> = partitions
                    .iter()
                    .copied()
                    .skip(consumer_index)
                    .step_by(options.consumers as usize)
                    .collect();
                if assigned.is_empty() {
                    continue;
                }
                let fetches = group_by_leader(&metadata, &self.target.topic, &assigned)?
                    .into_iter()
                    .map(|(address, partitions)| {
                        let meter = Arc::new(Meter::default());
                        consumer_meters.push(Arc::clone(&meter));
                        consumer::FetchPlan {
                            address,
                            partitions,
                            meter,
                        }
                    })
                    .collect();
                let plan = consumer::ConsumerPlan {
                    topic: self.target.topic.clone(),
                    fetches,
                    options: options.clone(),
                    from: *from,
                    end_to_end: self.producer.is_some(),
                    until_end: self.until_end,
                };
                let positions =
                    consumer::connect(&plan, &connection_config).with_context(|| {
                        format!("consumer {consumer_index}: connect and find start offsets")
                    })?;
                consumer_setups.push((plan, positions));
            }
        }

        let mut producer_plans = Vec::new();
        let mut producer_meters = Vec::new();
        if let Some(options) = &self.producer {
            let indexes: Vec<usize> = (0..partitions.len()).collect();
            let by_leader = group_by_leader(&metadata, &self.target.topic, &partitions)?;
            for _ in 0..options.producers {
                let lanes = by_leader
                    .iter()
                    .map(|(address, led)| {
                        let meter = Arc::new(Meter::default());
                        producer_meters.push(Arc::clone(&meter));
                        producer::LanePlan {
                            address: address.clone(),
                            partition_indexes: indexes
                                .iter()
                                .copied()
                                .filter(|index| led.contains(&partitions[*index]))
                                .collect(),
                            meter,
                        }
                    })
                    .collect();
                producer_plans.push(producer::ProducerPlan {
                    topic: self.target.topic.clone(),
                    partitions: partitions.clone(),
                    lanes,
                    options: options.clone(),
                    records_per_second: options
                        .rate
                        .records_per_second_each(options.record_size, options.producers),
                    stamp_values: self.consumer.is_some(),
                });
            }
        }

        let mut series = Vec::new();
        if self.producer.is_some() {
            series.push(Series::new(
                "produce",
                "payload",
                Some("ack"),
                producer_meters,
                keep_histograms,
            ));
        }
        if self.consumer.is_some() {
            let (name, latency_kind) = if self.producer.is_some() {
                ("e2e", Some("end-to-end"))
            } else {
                ("consume", None)
            };
            series.push(Series::new(
                name,
                "record_batches",
                latency_kind,
                consumer_meters,
                keep_histograms,
            ));
        }

        interrupt::install();
        let started_at = SystemTime::now();
        let clock = Clock::start();
        let control = Arc::new(RunControl::new(
            clock,
            clock.now_ns(),
            self.run.warmup,
            self.run.duration,
            connection_config,
        ));
        let mut consumers: Vec<JoinHandle<()>> = Vec::new();
        let mut producers: Vec<JoinHandle<()>> = Vec::new();
        for (plan, positions) in consumer_setups {
            let control = Arc::clone(&control);
            let core = next_core();
            consumers.push(spawn_pinned("bench-consume", core, move || {
                consumer::run(&plan, positions, &control);
            })?);
        }
        for plan in producer_plans {
            let control = Arc::clone(&control);
            let core = next_core();
            producers.push(spawn_pinned("bench-produce", core, move || {
                producer::run(plan, control, core);
            })?);
        }

        collect(
            &control,
            &mut series,
            &producers,
            &consumers,
            self.run.warmup,
            self.run.duration,
        );
        for worker in producers.into_iter().chain(consumers) {
            if worker.join().is_err() {
                bail!("a bench worker thread panicked");
            }
        }
        // Whatever completed since the last full second: the drain after
        // the end, or the last part-second of a run whose workers finished
        // early (a catch-up read), which is measured if inside the window.
        let drain_end_s = control.clock.now_ns().saturating_sub(control.start_ns) as f64 / 1e9;
        let window_s = (
            self.run.warmup as f64,
            (self.run.warmup + self.run.duration) as f64,
        );
        for one in &mut series {
            let last_s = one.points.last().map_or(0.0, |point| point.elapsed_s);
            let measured = last_s >= window_s.0 && last_s < window_s.1;
            let end_s = if measured {
                drain_end_s.min(window_s.1)
            } else {
                drain_end_s
            };
            one.close_interval(last_s, end_s.max(last_s + 1e-3), measured);
        }

        let mut report = Report {
            command: self.command.to_owned(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at_unix_ms: started_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(0)),
            topic: self.target.topic.clone(),
            partitions: partitions.len(),
            topic_created,
            configuration: self.configuration.clone(),
            interrupted: interrupt::interrupted(),
            series: series.iter().map(SeriesSummary::from_series).collect(),
            problems: Vec::new(),
            valid: false,
        };
        report.judge();
        print!("{}", report.to_text());
        if let Some(path) = &self.run.json {
            let json = serde_json::to_string_pretty(&report)?;
            std::fs::write(path, json + "\n")
                .with_context(|| format!("write {}", path.display()))?;
        }
        if let Some(path) = &self.run.hdr_log {
            hdr_log::write(path, &series, started_at)?;
        }
        if let Some(path) = &self.run.plot {
            let title = format!(
                "skein bench {} — topic {} ({} partitions), {} s warm-up + {} s",
                self.command,
                self.target.topic,
                partitions.len(),
                self.run.warmup,
                self.run.duration
            );
            let end_s = (self.run.warmup + self.run.duration) as f64;
            let svg = plot::render(&series, self.run.warmup as f64, end_s, &title);
            std::fs::write(path, svg).with_context(|| format!("write {}", path.display()))?;
        }
        Ok(if report.valid {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }

    fn pinning_cores(&self) -> anyhow::Result<Option<Vec<core_affinity::CoreId>>> {
        let Some(list) = &self.run.cores else {
            return Ok(None);
        };
        let available = core_affinity::get_core_ids().unwrap_or_default();
        let mut cores = Vec::with_capacity(list.0.len());
        for wanted in &list.0 {
            let core = available
                .iter()
                .find(|core| core.id == *wanted)
                .with_context(|| {
                    format!(
                        "core {wanted} is not available (have {:?})",
                        available.iter().map(|c| c.id).collect::<Vec<_>>()
                    )
                })?;
            cores.push(*core);
        }
        Ok(Some(cores))
    }
}

/// Creates the topic if missing and waits until every partition has a
/// leader. Returns the metadata and whether this call created the topic.
fn prepare_topic(
    target: &TargetOptions,
    config: &ConnectionConfig,
) -> anyhow::Result<(ClusterMetadata, bool)> {
    let mut bootstrap = Connection::connect_bootstrap(&target.bootstrap_servers, config)
        .with_context(|| format!("connect to {}", target.bootstrap_servers))?;
    let spec = TopicSpec {
        name: target.topic.clone(),
        partitions: target.partitions,
        replication_factor: target.replication_factor,
        configs: Vec::new(),
        assignments: Vec::new(),
    };
    let creation = match bootstrap.create_topic(&spec, Duration::from_secs(30)) {
        Err(ClientError::Kafka {
            code: NOT_CONTROLLER,
            ..
        }) => {
            // Older brokers do not forward CreateTopics: ask the controller.
            let metadata = bootstrap.metadata(Some(&[]))?;
            let controller = metadata
                .brokers
                .get(&metadata.controller_id)
                .context("CreateTopics: NOT_CONTROLLER, and metadata names no controller")?;
            Connection::connect(&controller.to_address(), config)?
                .create_topic(&spec, Duration::from_secs(30))
        }
        other => other,
    }
    .with_context(|| format!("create topic {}", target.topic))?;
    let give_up = std::time::Instant::now() + TOPIC_READY_TIMEOUT;
    loop {
        let metadata = bootstrap.metadata(Some(&[target.topic.as_str()]))?;
        let ready = metadata.topics.get(&target.topic).is_some_and(|topic| {
            topic.error_code == 0
                && !topic.partitions.is_empty()
                && topic.partitions.iter().all(|partition| {
                    metadata
                        .leader_address(&target.topic, partition.partition)
                        .is_ok()
                })
        });
        if ready {
            return Ok((metadata, creation == TopicCreation::Created));
        }
        if std::time::Instant::now() >= give_up {
            bail!(
                "topic {} has no leader for some partition after {:?}: {:?}",
                target.topic,
                TOPIC_READY_TIMEOUT,
                metadata.topics.get(&target.topic)
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Groups `partitions` by their leader's address.
fn group_by_leader(
    metadata: &ClusterMetadata,
    topic: &str,
    partitions: &[i32],
) -> anyhow::Result<BTreeMap<String, Vec<i32>>> {
    let mut grouped: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for &partition in partitions {
        grouped
            .entry(metadata.leader_address(topic, partition)?)
            .or_default()
            .push(partition);
    }
    Ok(grouped)
}

fn spawn_pinned(
    name: &str,
    core: Option<core_affinity::CoreId>,
    work: impl FnOnce() + Send + 'static,
) -> anyhow::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            if let Some(core) = core {
                core_affinity::set_for_current(core);
            }
            work();
        })
        .with_context(|| format!("spawn {name} thread"))
}

/// Closes one interval per second until the load ends and the workers are
/// done, printing a progress line each second on a terminal.
fn collect(
    control: &RunControl,
    series: &mut [Series],
    producers: &[JoinHandle<()>],
    consumers: &[JoinHandle<()>],
    warmup_s: u64,
    duration_s: u64,
) {
    let live = std::io::stderr().is_terminal();
    let all_finished = || {
        let producers_finished = producers.iter().all(JoinHandle::is_finished);
        if producers_finished {
            control.finish_load();
        }
        producers_finished && consumers.iter().all(JoinHandle::is_finished)
    };
    let give_up_ns = control.end_ns + control.request_timeout_ns() + 5_000_000_000;
    let mut second: u64 = 1;
    loop {
        let tick_ns = control.start_ns + second * 1_000_000_000;
        loop {
            let now_ns = control.clock.now_ns();
            if now_ns >= tick_ns {
                break;
            }
            if all_finished() {
                // Finished early: the caller closes the part-second.
                if live {
                    eprintln!();
                }
                return;
            }
            thread::sleep(Duration::from_nanos(tick_ns - now_ns).min(Duration::from_millis(50)));
        }
        let measured = second > warmup_s && second <= warmup_s + duration_s;
        let mut line = format!(
            "[{second:>4}s{}]",
            if second <= warmup_s { " warm-up" } else { "" }
        );
        for one in series.iter_mut() {
            let point = one.close_interval((second - 1) as f64, second as f64, measured);
            line.push_str(&format!(
                "  {} {} rec/s {:.1} MB/s",
                one.name,
                summary::group_thousands(point.records_per_s.round() as u64),
                point.bytes_per_s / 1e6
            ));
            if let Some(p99) = point.latency_p99_us {
                line.push_str(&format!(" p99 {} ms", summary::millis(p99)));
            }
            if point.errors > 0 {
                line.push_str(&format!(" ERRORS {}", point.errors));
            }
        }
        if live {
            let mut stderr = std::io::stderr().lock();
            // Progress is best effort: a closed stderr must not end the run.
            if write!(stderr, "\r\x1b[2K{line}")
                .and_then(|()| stderr.flush())
                .is_err()
            {
                tracing::debug!("progress line not written");
            }
        }
        let finished = all_finished();
        if interrupt::interrupted() && !control.stopped() {
            control.stop();
            if live {
                eprintln!("\ninterrupted: stopping the load, draining and summarising");
            }
        }
        if tick_ns >= control.end_ns && finished {
            break;
        }
        if tick_ns >= give_up_ns {
            control.stop();
            break;
        }
        second += 1;
    }
    if live {
        eprintln!();
    }
}
