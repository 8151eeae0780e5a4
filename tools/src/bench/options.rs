//! Command-line options of `skein bench` and the small value languages they
//! use: sizes (`100`, `1KiB`, `64KB`), size ranges (`100..1000`), rates
//! (`50000`, `50k`, `50MB/s`, `max`), core lists (`0,2-3`).
use std::path::PathBuf;
use std::str::FromStr;

use kafka_protocol::records::Compression;

/// Options every subcommand shares: where the broker is and which topic.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct TargetOptions {
    /// Comma-separated `host:port` list of brokers to bootstrap from.
    #[arg(short = 'b', long, default_value = "localhost:9092")]
    pub bootstrap_servers: String,
    /// Topic to produce to / consume from; created if missing.
    #[arg(long, default_value = "skein-bench")]
    pub topic: String,
    /// Partitions of the topic when it has to be created.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=100_000))]
    pub partitions: i32,
    /// Replication factor of the topic when it has to be created.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i16).range(1..=16))]
    pub replication_factor: i16,
    /// How long to wait for any one response before counting a timeout, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub request_timeout_ms: u64,
    /// Kafka client properties for TLS and SASL (-X, --command-config);
    /// left out of the JSON results, as they may hold passwords.
    #[command(flatten)]
    #[serde(skip)]
    pub client: crate::cli::client_properties::ClientProperties,
}

/// Options of the timing and reporting of a run.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct RunOptions {
    /// Seconds of load before measuring starts (excluded from every figure).
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Seconds of measured load after the warm-up.
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Cores to pin worker threads to, round-robin (e.g. `0,2-3`). Unpinned if absent.
    #[arg(long, value_parser = parse_core_list)]
    pub cores: Option<CoreList>,
    /// Write every figure and the full configuration as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write an HDR histogram interval log (one interval per second) to this file.
    #[arg(long)]
    pub hdr_log: Option<PathBuf>,
    /// Write an SVG plot (throughput over time, latency percentile curve) to this file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// Options of the producing side.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct ProducerOptions {
    /// Producer threads, each with its own connections.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub producers: u32,
    /// Value size in bytes: fixed (`100`, `1KiB`) or a uniform range (`100..1000`).
    #[arg(long, default_value = "100", value_parser = parse_record_size)]
    pub record_size: RecordSize,
    /// Keys: none (null keys, sticky partitioning), round-robin, random or zipf over `--key-space` keys.
    #[arg(long, value_enum, default_value_t = KeyMode::None)]
    pub keys: KeyMode,
    /// Number of distinct keys for keyed modes.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub key_space: u64,
    /// Exponent of the zipf key distribution (> 0; 1.0 is classic zipf).
    #[arg(long, default_value_t = 1.0)]
    pub zipf_exponent: f64,
    /// Acknowledgements: 0 (none), 1 (leader), all (in-sync replicas).
    #[arg(long, value_enum, default_value_t = Acks::One)]
    pub acks: Acks,
    /// How long a partition's batch may wait for more records, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub linger_ms: u64,
    /// Largest batch per partition, in bytes of records before compression.
    #[arg(long, default_value = "16KiB", value_parser = parse_byte_size)]
    pub batch_size: u64,
    /// Largest Produce request, in bytes of records before compression (Kafka's `max.request.size`): a request stops taking batches before it would pass this.
    #[arg(long, default_value = "1MiB", value_parser = parse_byte_size)]
    pub max_request_size: u64,
    /// Compression of record batches, applied by this client as real clients do.
    #[arg(long, value_enum, default_value_t = CompressionKind::None)]
    pub compression: CompressionKind,
    /// Produce requests in flight per connection.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_in_flight: u32,
    /// Target rate over all producers: records/s (`50000`, `50k`), bytes/s (`50MB/s`, `1GiB/s`) or `max`.
    #[arg(long, default_value = "max", value_parser = parse_rate)]
    pub rate: Rate,
    /// Bytes of records a producer may buffer before it stops generating (then intended times fall behind, and latency shows it).
    #[arg(long, default_value = "32MiB", value_parser = parse_byte_size)]
    pub buffer_memory: u64,
}

/// Options of the consuming side.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct ConsumerOptions {
    /// Consumer threads; partitions are dealt out round-robin.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub consumers: u32,
    /// Largest response per Fetch, in bytes.
    #[arg(long, default_value = "50MiB", value_parser = parse_byte_size)]
    pub fetch_max_bytes: u64,
    /// Largest response per partition per Fetch, in bytes.
    #[arg(long, default_value = "1MiB", value_parser = parse_byte_size)]
    pub partition_max_bytes: u64,
    /// How long the broker may hold a Fetch waiting for data, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub fetch_max_wait_ms: u32,
}

/// `skein bench produce` options.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct ProduceOptions {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: TargetOptions,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub producer: ProducerOptions,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunOptions,
}

/// `skein bench consume` options.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct ConsumeOptions {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: TargetOptions,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub consumer: ConsumerOptions,
    /// Where to start: earliest (catch-up read of what is there) or latest (tail new records).
    #[arg(long, value_enum, default_value_t = StartFrom::Earliest)]
    pub from: StartFrom,
    /// Stop once every partition is read up to the log end offset it had at
    /// start (a catch-up read); throughput then covers the time it took.
    /// `--duration` still bounds the run.
    #[arg(long)]
    pub until_end: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunOptions,
}

/// `skein bench e2e` options.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct EndToEndOptions {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub target: TargetOptions,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub producer: ProducerOptions,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub consumer: ConsumerOptions,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunOptions,
}

/// How record keys are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyMode {
    /// Null keys; partitions chosen by a sticky partitioner.
    None,
    /// Keys 0, 1, 2, … cycling through the key space.
    RoundRobin,
    /// Keys drawn uniformly from the key space.
    Random,
    /// Keys drawn from a zipf distribution over the key space (key 0 hottest).
    Zipf,
}

/// The producer's `acks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Acks {
    /// No acknowledgement: the broker sends no response.
    #[value(name = "0")]
    #[serde(rename = "0")]
    Zero,
    /// The leader has the records.
    #[value(name = "1")]
    #[serde(rename = "1")]
    One,
    /// Every in-sync replica has the records.
    #[value(name = "all", alias = "-1")]
    #[serde(rename = "all")]
    All,
}

impl Acks {
    /// The value of the Produce request's `acks` field.
    pub fn wire_value(self) -> i16 {
        match self {
            Self::Zero => 0,
            Self::One => 1,
            Self::All => -1,
        }
    }
}

/// Batch compression codecs offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompressionKind {
    /// Uncompressed batches.
    None,
    /// LZ4 frame format, as Kafka clients write it.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl CompressionKind {
    /// The codec as kafka-protocol names it.
    pub fn codec(self) -> Compression {
        match self {
            Self::None => Compression::None,
            Self::Lz4 => Compression::Lz4,
            Self::Zstd => Compression::Zstd,
        }
    }
}

/// Where a consumer starts in each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartFrom {
    /// The log start offset.
    Earliest,
    /// The log end offset at start-up.
    Latest,
}

/// The size of each record's value, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordSize {
    /// Every value has this many bytes.
    Fixed(u64),
    /// Sizes drawn uniformly from `min..=max`.
    Range {
        /// Smallest size.
        min: u64,
        /// Largest size.
        max: u64,
    },
}

impl RecordSize {
    /// The mean value size, in bytes.
    pub fn mean(self) -> f64 {
        match self {
            Self::Fixed(size) => size as f64,
            Self::Range { min, max } => (min + max) as f64 / 2.0,
        }
    }
}

/// A target rate over all producers.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rate {
    /// As fast as the broker accepts (bounded by in-flight and buffer limits).
    Max,
    /// Records per second.
    RecordsPerSecond(f64),
    /// Value bytes per second (converted to records with the mean record size).
    BytesPerSecond(f64),
}

impl Rate {
    /// Records per second for one of `producers` producers, `None` for max.
    pub fn records_per_second_each(self, record_size: RecordSize, producers: u32) -> Option<f64> {
        let total = match self {
            Self::Max => return None,
            Self::RecordsPerSecond(rate) => rate,
            Self::BytesPerSecond(rate) => rate / record_size.mean().max(1.0),
        };
        Some(total / f64::from(producers))
    }
}

/// Cores to pin worker threads to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CoreList(pub Vec<usize>);

/// Parses a byte count with an optional unit: `B`, `KB`/`MB`/`GB` (powers of
/// 1000), `KiB`/`MiB`/`GiB` (powers of 1024), `k`/`m`/`g` as decimal.
///
/// # Errors
/// A message naming the bad input.
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (try 100, 1KiB, 64KB)"))?;
    let multiplier: f64 = match unit.trim() {
        "" | "B" | "b" => 1.0,
        "k" | "K" | "KB" | "kB" => 1e3,
        "m" | "M" | "MB" => 1e6,
        "g" | "G" | "GB" => 1e9,
        "KiB" | "Ki" => 1024.0,
        "MiB" | "Mi" => 1024.0 * 1024.0,
        "GiB" | "Gi" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    let bytes = number * multiplier;
    if !(bytes.is_finite() && (0.0..1e15).contains(&bytes)) {
        return Err(format!("size {text:?} out of range"));
    }
    Ok(bytes.round() as u64)
}

/// Parses `--record-size`: a size or `min..max` (inclusive).
///
/// # Errors
/// A message naming the bad input.
pub fn parse_record_size(text: &str) -> Result<RecordSize, String> {
    let size = match text.split_once("..") {
        None => RecordSize::Fixed(parse_byte_size(text)?),
        Some((min, max)) => {
            let min = parse_byte_size(min)?;
            let max = parse_byte_size(max.trim_start_matches('='))?;
            if min > max {
                return Err(format!("empty size range {text:?}"));
            }
            RecordSize::Range { min, max }
        }
    };
    let largest = match size {
        RecordSize::Fixed(size) | RecordSize::Range { max: size, .. } => size,
    };
    if largest > 64 << 20 {
        return Err(format!("record size {text:?} above 64 MiB"));
    }
    Ok(size)
}

/// Parses `--rate`: `max`/`unlimited`, records per second (`50000`, `50k`,
/// `1.5m`, optionally with `/s`), or bytes per second (`50MB/s`, `1GiB/s`).
///
/// # Errors
/// A message naming the bad input.
pub fn parse_rate(text: &str) -> Result<Rate, String> {
    let text = text.trim();
    if matches!(text, "max" | "unlimited" | "0") {
        return Ok(Rate::Max);
    }
    let body = text.strip_suffix("/s").unwrap_or(text);
    let is_bytes = body.ends_with('B') || body.ends_with("Bi") || body.ends_with("iB");
    let amount = parse_byte_size(body)
        .map_err(|_| format!("{text:?} is not a rate (try 50000, 50k, 50MB/s or max)"))?;
    if amount == 0 {
        return Ok(Rate::Max);
    }
    let amount = amount as f64;
    Ok(if is_bytes {
        Rate::BytesPerSecond(amount)
    } else {
        Rate::RecordsPerSecond(amount)
    })
}

/// Parses `--cores`: comma-separated indexes and inclusive ranges (`0,2-3`).
///
/// # Errors
/// A message naming the bad input.
pub fn parse_core_list(text: &str) -> Result<CoreList, String> {
    let mut cores = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("{part:?} in {text:?} is not a core index or range");
        match part.split_once('-') {
            None => cores.push(usize::from_str(part).map_err(|_| bad())?),
            Some((first, last)) => {
                let first = usize::from_str(first).map_err(|_| bad())?;
                let last = usize::from_str(last).map_err(|_| bad())?;
                if first > last {
                    return Err(bad());
                }
                cores.extend(first..=last);
            }
        }
    }
    if cores.is_empty() {
        return Err(format!("no cores in {text:?}"));
    }
    Ok(CoreList(cores))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_decimal_and_binary_units() {
        assert_eq!(parse_byte_size("100"), Ok(100));
        assert_eq!(parse_byte_size("1KiB"), Ok(1024));
        assert_eq!(parse_byte_size("64KB"), Ok(64_000));
        assert_eq!(parse_byte_size("1.5MiB"), Ok(1_572_864));
        assert_eq!(parse_byte_size("2k"), Ok(2_000));
        assert!(parse_byte_size("ten").is_err());
        assert!(parse_byte_size("10 parsecs").is_err());
    }

    #[test]
    fn record_size_is_fixed_or_an_inclusive_range() {
        assert_eq!(parse_record_size("1KiB"), Ok(RecordSize::Fixed(1024)));
        assert_eq!(
            parse_record_size("100..1000"),
            Ok(RecordSize::Range {
                min: 100,
                max: 1000
            })
        );
        assert!(parse_record_size("1000..100").is_err());
        assert!(parse_record_size("1GiB").is_err());
        assert_eq!(RecordSize::Range { min: 100, max: 300 }.mean(), 200.0);
    }

    #[test]
    fn rates_are_records_or_bytes_per_second_or_max() {
        assert_eq!(parse_rate("max"), Ok(Rate::Max));
        assert_eq!(parse_rate("50000"), Ok(Rate::RecordsPerSecond(50_000.0)));
        assert_eq!(parse_rate("50k/s"), Ok(Rate::RecordsPerSecond(50_000.0)));
        assert_eq!(parse_rate("50MB/s"), Ok(Rate::BytesPerSecond(50e6)));
        assert_eq!(
            parse_rate("1GiB/s"),
            Ok(Rate::BytesPerSecond(1024.0 * 1024.0 * 1024.0))
        );
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn byte_rates_convert_to_records_with_the_mean_size_and_split_over_producers() {
        let rate = Rate::BytesPerSecond(1_000_000.0);
        let each = rate.records_per_second_each(RecordSize::Fixed(100), 4);
        assert_eq!(each, Some(2_500.0));
        assert_eq!(
            Rate::Max.records_per_second_each(RecordSize::Fixed(1), 1),
            None
        );
    }

    #[test]
    fn core_lists_mix_indexes_and_ranges() {
        assert_eq!(parse_core_list("0,2-4"), Ok(CoreList(vec![0, 2, 3, 4])));
        assert!(parse_core_list("3-1").is_err());
        assert!(parse_core_list("").is_err());
    }
}
