//! `skein produce`: records from stdin, one per line (kcat -P style), or as
//! JSON objects, to a topic. Keys route with Kafka's default partitioner
//! unless a partition is given; unkeyed records go round-robin per batch.
use std::collections::BTreeMap;
use std::io::BufRead;

use anyhow::Context;
use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record};
use serde::Serialize;

use super::brokers::{Brokers, ConnectOptions};
use super::exit_status::UsageError;
use super::output::{print_json, OutputFormat};
use super::topic::key_value;
use crate::client::partitioner::partition_for_key;
use crate::client::{plain_record, ClientError};

/// Record headers, in order (the type of `Record::headers`).
type HeaderMap = kafka_protocol::indexmap::IndexMap<StrBytes, Option<Bytes>>;

/// How stdin is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum InputFormat {
    /// One record per line; `-K` splits a key off the front.
    Line,
    /// One JSON object per line: `{"key": "k", "value": "v", "headers": {"h": "x"}, "partition": 0}`
    /// (every field optional).
    Json,
}

/// Batch compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CompressionArg {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionArg {
    fn codec(self) -> Compression {
        match self {
            Self::None => Compression::None,
            Self::Gzip => Compression::Gzip,
            Self::Snappy => Compression::Snappy,
            Self::Lz4 => Compression::Lz4,
            Self::Zstd => Compression::Zstd,
        }
    }
}

/// Options of `skein produce`.
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Examples:
  echo hello | skein produce events
  printf 'user1:clicked\\nuser2:left\\n' | skein produce events -K :
  skein produce events -H source=cli -H trace=42 < records.txt
  echo '{\"key\":\"k\",\"value\":\"v\",\"headers\":{\"h\":\"x\"}}' | skein produce events --input json",
    "\n\n",
    crate::exit_codes_help!()
))]
pub struct ProduceArgs {
    #[command(flatten)]
    connect: ConnectOptions,
    /// Topic to write to.
    topic: String,
    /// Write every record to this partition (default: by key, round-robin without one).
    #[arg(short, long)]
    partition: Option<i32>,
    /// Split each line at the first SEP into key and value (line input).
    #[arg(short = 'K', long, value_name = "SEP")]
    key_delimiter: Option<String>,
    /// A header added to every record, `-H name=value`. Repeatable.
    #[arg(short = 'H', long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// How stdin is read.
    #[arg(long, value_enum, default_value = "line")]
    input: InputFormat,
    /// Acknowledgement: `all` (or -1: every in-sync replica), 1 (the
    /// leader) or 0 (none: nothing is confirmed and no offsets are reported).
    #[arg(long, default_value = "all", allow_negative_numbers = true, value_parser = parse_acks)]
    acks: i16,
    /// Batch compression.
    #[arg(long, value_enum, default_value = "none")]
    compression: CompressionArg,
    /// Records per Produce request and partition.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_records: u32,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

#[derive(Debug, serde::Deserialize)]
struct JsonRecord {
    key: Option<String>,
    value: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    partition: Option<i32>,
}

#[derive(Default, Serialize)]
struct PartitionSummary {
    records: u64,
    first_offset: Option<i64>,
}

struct Pending {
    records: Vec<Record>,
}

/// Runs `skein produce`.
///
/// # Errors
/// Usage errors for malformed input; connection and Kafka errors.
pub fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let mut headers = HeaderMap::default();
    for text in &args.headers {
        let (name, value) = key_value(text)?;
        headers.insert(
            StrBytes::from_string(name),
            Some(Bytes::from(value.into_bytes())),
        );
    }
    let mut brokers = Brokers::connect(&args.connect)?;
    let metadata = brokers.bootstrap().metadata(Some(&[&args.topic]))?;
    let topic = metadata
        .topics
        .get(&args.topic)
        .with_context(|| format!("metadata does not mention {}", args.topic))?;
    if topic.error_code != 0 {
        return Err(ClientError::Kafka {
            api: kafka_protocol::messages::ApiKey::Metadata,
            code: topic.error_code,
            context: Some(args.topic.clone()),
            message: None,
        }
        .into());
    }
    let partitions = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
    if partitions == 0 {
        return Err(anyhow::anyhow!("{} has no partitions", args.topic));
    }
    if let Some(partition) = args.partition {
        if !(0..partitions).contains(&partition) {
            return Err(UsageError(format!(
                "--partition {partition}: {} has partitions 0..{partitions}",
                args.topic
            ))
            .into());
        }
    }
    let mut pending: BTreeMap<i32, Pending> = BTreeMap::new();
    let mut summary: BTreeMap<i32, PartitionSummary> = BTreeMap::new();
    let mut next_round_robin = 0;
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
            })
    };
    let stdin = std::io::stdin().lock();
    for (line_number, line) in (1..).zip(stdin.lines()) {
        let line = line.context("cannot read stdin")?;
        let (key, value, mut record_headers, explicit) = match args.input {
            InputFormat::Line => {
                let (key, value) = match &args.key_delimiter {
                    Some(separator) => match line.split_once(separator.as_str()) {
                        Some((key, value)) => (Some(key.to_owned()), Some(value.to_owned())),
                        None => (None, Some(line)),
                    },
                    None => (None, Some(line)),
                };
                (key, value, HeaderMap::default(), None)
            }
            InputFormat::Json => {
                if line.trim().is_empty() {
                    continue;
                }
                let parsed: JsonRecord = serde_json::from_str(&line)
                    .map_err(|error| UsageError(format!("stdin line {line_number}: {error}")))?;
                let mut extra = HeaderMap::default();
                for (name, value) in parsed.headers {
                    extra.insert(
                        StrBytes::from_string(name),
                        Some(Bytes::from(value.into_bytes())),
                    );
                }
                (parsed.key, parsed.value, extra, parsed.partition)
            }
        };
        for (name, value) in &headers {
            record_headers.insert(name.clone(), value.clone());
        }
        let partition = match (args.partition.or(explicit), &key) {
            (Some(partition), _) => partition,
            (None, Some(key)) => partition_for_key(key.as_bytes(), partitions),
            (None, None) => next_round_robin,
        };
        let mut record = plain_record(
            now_ms(),
            key.map(|key| Bytes::from(key.into_bytes())),
            value.map(|value| Bytes::from(value.into_bytes())),
        );
        record.headers = record_headers;
        let batch = pending.entry(partition).or_insert_with(|| Pending {
            records: Vec::new(),
        });
        batch.records.push(record);
        if batch.records.len() >= args.batch_records as usize {
            let records = std::mem::take(&mut batch.records);
            send(
                &mut brokers,
                &metadata,
                &args,
                partition,
                records,
                &mut summary,
            )?;
            next_round_robin = (next_round_robin + 1) % partitions;
        }
    }
    for (partition, batch) in std::mem::take(&mut pending) {
        if !batch.records.is_empty() {
            send(
                &mut brokers,
                &metadata,
                &args,
                partition,
                batch.records,
                &mut summary,
            )?;
        }
    }
    let total: u64 = summary.values().map(|partition| partition.records).sum();
    match args.format {
        OutputFormat::Json => print_json(&serde_json::json!({
            "topic": args.topic,
            "records": total,
            "partitions": summary,
        }))?,
        OutputFormat::Table => eprintln!("produced {total} record(s) to {}", args.topic),
    }
    Ok(())
}

fn send(
    brokers: &mut Brokers,
    metadata: &crate::client::ClusterMetadata,
    args: &ProduceArgs,
    partition: i32,
    mut records: Vec<Record>,
    summary: &mut BTreeMap<i32, PartitionSummary>,
) -> anyhow::Result<()> {
    let count = records.len() as u64;
    let base_offset = brokers
        .leader(metadata, &args.topic, partition)?
        .produce_batch(
            &args.topic,
            partition,
            &mut records,
            args.compression.codec(),
            args.acks,
            args.connect.timeout(),
        )?;
    let entry = summary.entry(partition).or_default();
    entry.records += count;
    if let Some(base_offset) = base_offset {
        entry.first_offset.get_or_insert(base_offset);
    }
    Ok(())
}

/// `--acks`: `all` or -1, 1, 0, as Kafka's producers spell it.
fn parse_acks(text: &str) -> Result<i16, String> {
    match text {
        "all" | "-1" => Ok(-1),
        "1" => Ok(1),
        "0" => Ok(0),
        _ => Err(format!("{text:?} is not one of all, -1, 1, 0")),
    }
}
