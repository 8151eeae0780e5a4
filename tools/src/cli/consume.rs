//! `skein consume`: print a topic's records (kcat -C style) from an offset
//! or a time, up to a count, stopping at the end of the log unless
//! `--follow`. Reads partitions directly (no consumer group, no commits).
use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::records::Record;

use super::brokers::{Brokers, ConnectOptions};
use super::exit_status::UsageError;
use super::record_template::RecordTemplate;
use crate::client::{ClientError, ClusterMetadata, OffsetSpec};

/// How records are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RecordFormat {
    /// The value (with `-K`, key SEP value), one record per line.
    Text,
    /// One JSON object per line: topic, partition, offset, timestamp, key, value, headers.
    Json,
}

/// Options of `skein consume`.
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Examples:
  skein consume events                         # everything there is now, then exit
  skein consume events -o end -f               # wait for new records (Ctrl-C to stop)
  skein consume events -p 0 -o 42 -c 10        # ten records of partition 0 from offset 42
  skein consume events -o -5                   # the last five records of each partition
  skein consume events --from-timestamp 1700000000000 --format json | jq .value
  skein consume events -F '%p:%o %k=%s\\n'      # kcat-style template",
    "\n\n",
    crate::exit_codes_help!()
))]
pub struct ConsumeArgs {
    #[command(flatten)]
    connect: ConnectOptions,
    /// Topic to read.
    topic: String,
    /// Read only this partition. Repeatable; default: every partition.
    #[arg(short, long = "partition")]
    partitions: Vec<i32>,
    /// Where to start: `beginning`, `end`, an offset N, or -N (N before the end).
    #[arg(short, long, default_value = "beginning", allow_hyphen_values = true)]
    offset: String,
    /// Start at the first record at or after this time (ms since the UNIX epoch);
    /// overrides --offset.
    #[arg(long, value_name = "MS")]
    from_timestamp: Option<i64>,
    /// Stop after this many records.
    #[arg(short, long)]
    count: Option<u64>,
    /// Keep waiting for new records instead of exiting at the end of the log.
    #[arg(short, long)]
    follow: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: RecordFormat,
    /// Text format: print the key, then SEP, then the value.
    #[arg(short = 'K', long, value_name = "SEP")]
    key_delimiter: Option<String>,
    /// Print each record by a kcat-style template instead of --format:
    /// %t topic, %p partition, %o offset, %k key, %s value, %T timestamp
    /// (ms), %h headers (name=value,…), %S value size, %K key size, %%;
    /// escapes \n \t \r \\. No newline is added: end with \n.
    #[arg(short = 'F', long, value_name = "FMT", conflicts_with_all = ["format", "key_delimiter"])]
    template: Option<String>,
    /// Largest fetch per partition, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_bytes: i32,
}

enum Start {
    Beginning,
    End,
    Offset(i64),
    BeforeEnd(i64),
}

fn parse_start(text: &str) -> Result<Start, UsageError> {
    match text {
        "beginning" | "earliest" => Ok(Start::Beginning),
        "end" | "latest" => Ok(Start::End),
        _ => match text.parse::<i64>() {
            Ok(offset) if offset >= 0 => Ok(Start::Offset(offset)),
            Ok(back) => Ok(Start::BeforeEnd(-back)),
            Err(_) => Err(UsageError(format!(
                "--offset {text:?}: expected beginning, end, N or -N"
            ))),
        },
    }
}

struct Position {
    next: i64,
    /// Where a non-following consumer stops.
    end: i64,
}

/// Runs `skein consume`.
///
/// # Errors
/// Usage, connection and Kafka errors.
pub fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let start = parse_start(&args.offset)?;
    let template = args
        .template
        .as_deref()
        .map(RecordTemplate::parse)
        .transpose()?;
    let mut brokers = Brokers::connect(&args.connect)?;
    let metadata = brokers.bootstrap().metadata(Some(&[&args.topic]))?;
    let topic = metadata
        .topics
        .get(&args.topic)
        .with_context(|| format!("metadata does not mention {}", args.topic))?;
    if topic.error_code != 0 {
        return Err(ClientError::Kafka {
            api: ApiKey::Metadata,
            code: topic.error_code,
            context: Some(args.topic.clone()),
            message: None,
        }
        .into());
    }
    let all: Vec<i32> = topic.partitions.iter().map(|p| p.partition).collect();
    let chosen = if args.partitions.is_empty() {
        all.clone()
    } else {
        for partition in &args.partitions {
            if !all.contains(partition) {
                return Err(UsageError(format!(
                    "--partition {partition}: {} has partitions {all:?}",
                    args.topic
                ))
                .into());
            }
        }
        args.partitions.clone()
    };
    let mut positions = BTreeMap::new();
    for partition in chosen {
        let position = start_position(&mut brokers, &metadata, &args, &start, partition)?;
        positions.insert(partition, position);
    }
    let mut printed = 0u64;
    let mut out = std::io::stdout().lock();
    let wait_ms = if args.follow { 500 } else { 0 };
    loop {
        let mut active = false;
        for (partition, position) in &mut positions {
            if !args.follow && position.next >= position.end {
                continue;
            }
            active = true;
            let fetched = brokers
                .leader(&metadata, &args.topic, *partition)?
                .fetch_records(
                    &args.topic,
                    *partition,
                    position.next,
                    wait_ms,
                    args.max_bytes,
                )?;
            for record in &fetched.records {
                if !args.follow && record.offset >= position.end {
                    break;
                }
                if args.count.is_some_and(|count| printed >= count) {
                    return Ok(());
                }
                let printed_record = match &template {
                    Some(template) => template.write(&mut out, &args.topic, *partition, record),
                    None => print_record(&mut out, &args, *partition, record),
                };
                if printed_record.is_err() {
                    // stdout closed (`| head`): nothing more to do.
                    return Ok(());
                }
                printed += 1;
            }
            position.next = position.next.max(fetched.next_offset);
        }
        if args.count.is_some_and(|count| printed >= count) || !active {
            return Ok(());
        }
    }
}

fn start_position(
    brokers: &mut Brokers,
    metadata: &ClusterMetadata,
    args: &ConsumeArgs,
    start: &Start,
    partition: i32,
) -> anyhow::Result<Position> {
    let leader = brokers.leader(metadata, &args.topic, partition)?;
    let only = |pairs: Vec<(i32, i64)>| pairs.first().map_or(0, |pair| pair.1);
    let earliest = only(leader.list_offsets(&args.topic, &[partition], OffsetSpec::Earliest)?);
    let latest = only(leader.list_offsets(&args.topic, &[partition], OffsetSpec::Latest)?);
    let next = if let Some(timestamp) = args.from_timestamp {
        leader
            .offsets_for_time(&args.topic, &[partition], timestamp)?
            .first()
            .and_then(|pair| pair.1)
            .unwrap_or(latest)
    } else {
        match start {
            Start::Beginning => earliest,
            Start::End => latest,
            Start::Offset(offset) => *offset,
            Start::BeforeEnd(back) => (latest - back).max(earliest),
        }
    };
    Ok(Position { next, end: latest })
}

fn lossy(bytes: Option<&bytes::Bytes>) -> Option<String> {
    bytes.map(|bytes| String::from_utf8_lossy(bytes).into_owned())
}

fn print_record(
    out: &mut impl Write,
    args: &ConsumeArgs,
    partition: i32,
    record: &Record,
) -> std::io::Result<()> {
    match args.format {
        RecordFormat::Text => {
            if let Some(separator) = &args.key_delimiter {
                let key = lossy(record.key.as_ref()).unwrap_or_default();
                write!(out, "{key}{separator}")?;
            }
            writeln!(out, "{}", lossy(record.value.as_ref()).unwrap_or_default())?;
        }
        RecordFormat::Json => {
            let headers: serde_json::Map<String, serde_json::Value> = record
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        lossy(value.as_ref()).map_or(serde_json::Value::Null, Into::into),
                    )
                })
                .collect();
            let line = serde_json::json!({
                "topic": args.topic,
                "partition": partition,
                "offset": record.offset,
                "timestamp": record.timestamp,
                "key": lossy(record.key.as_ref()),
                "value": lossy(record.value.as_ref()),
                "headers": headers,
            });
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}
