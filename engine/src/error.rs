//! Typed errors of the partition log: `AppendError`, `ReadError`, `LogError`.
//! Each variant is a domain outcome carrying what the caller needs to act;
//! the protocol edge (`net`) maps them to Kafka error codes.

use std::path::PathBuf;

/// Why an append was refused. Nothing of the call was written when this is
/// returned, except for `Storage`/`Poisoned` where the log is now offline.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// A batch failed validation (bad CRC, magic, lengths, counts). Maps to
    /// Kafka `CORRUPT_MESSAGE`.
    #[error("corrupt record batch at byte {position} of the request: {reason}")]
    CorruptBatch {
        /// Byte position of the offending batch within `records`.
        position: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A batch is larger than `max.message.bytes`. Maps to `MESSAGE_TOO_LARGE`.
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    BatchTooLarge {
        /// Size of the batch in bytes.
        size: usize,
        /// The configured `max.message.bytes`.
        max: u32,
    },
    /// A batch could not be rebuilt with the topic's `compression.type`
    /// (its records do not decompress or decode, or decompress to too
    /// much). Nothing was written.
    #[error("record batch at byte {position} of the request cannot be recompressed: {source}")]
    Compression {
        /// Byte position of the offending batch within `records`.
        position: usize,
        /// What went wrong.
        #[source]
        source: crate::compression::CompressionError,
    },
    /// Under `CreateTime`, a batch's timestamps lie outside
    /// `message.timestamp.before.max.ms` / `after.max.ms` of the broker's
    /// clock. Nothing was written. Maps to `INVALID_TIMESTAMP`.
    #[error("record batch at byte {position} of the request has timestamp {timestamp}, more than {bound_ms} ms {direction} the broker's clock {now_ms}")]
    InvalidTimestamp {
        /// Byte position of the offending batch within `records`.
        position: usize,
        /// The timestamp out of bounds.
        timestamp: i64,
        /// The broker's clock at the check.
        now_ms: i64,
        /// The bound that was passed.
        bound_ms: i64,
        /// `before` or `after`.
        direction: &'static str,
    },
    /// The request carried no batch at all.
    #[error("empty record set")]
    Empty,
    /// The disk failed under this append. Maps to `KAFKA_STORAGE_ERROR`.
    #[error(transparent)]
    Storage(#[from] LogError),
    /// An earlier fsync/write failure poisoned the log; it accepts nothing
    /// until reopened. Maps to `KAFKA_STORAGE_ERROR`.
    #[error("log poisoned by an earlier write or fsync failure")]
    Poisoned,
}

/// Why a follower's append of replicated batches was refused
/// ([`crate::PartitionLog::append_replicated`]). Nothing was written, except
/// for `Append(Storage | Poisoned)` where the log is now offline.
///
/// A type of its own rather than a variant of [`AppendError`]: the protocol
/// edge maps every `AppendError` to a Kafka error code for producers, and an
/// offset mismatch is never a producer's error (the follower fetcher acts on
/// it: it truncates or resets its fetch offset).
#[derive(Debug, thiserror::Error)]
pub enum ReplicaAppendError {
    /// A batch does not start where the log (for the first batch) or the
    /// previous batch (for the others) ends: a gap or an overlap. Kafka's
    /// follower raises `UnexpectedAppendOffsetException` for an overlap.
    #[error("replicated batch at byte {position} starts at offset {found}, expected {expected}")]
    OffsetMismatch {
        /// Byte position of the offending batch within `records`.
        position: usize,
        /// The offset it had to start at: the log end offset for the first
        /// batch, the previous batch's last offset + 1 for the others.
        expected: i64,
        /// Its base offset.
        found: i64,
    },
    /// Refused as an ordinary append would be (corrupt batch, empty,
    /// storage failure, poisoned log).
    #[error(transparent)]
    Append(#[from] AppendError),
}

/// Why a read was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// `requested` is below the log start or above the log end. Maps to
    /// `OFFSET_OUT_OF_RANGE`.
    #[error("offset {requested} outside [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        requested: i64,
        /// The current log start offset.
        log_start_offset: i64,
        /// The current log end offset.
        log_end_offset: i64,
    },
    /// The disk failed or holds bytes that contradict the index. Maps to
    /// `KAFKA_STORAGE_ERROR`.
    #[error(transparent)]
    Storage(#[from] LogError),
}

/// Failures of the log as a whole: opening, recovery, IO, retention.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An IO operation on `path` failed.
    #[error("I/O on {path:?}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A segment holds bytes that do not form valid batches where the log's
    /// own bookkeeping says they must (not a torn tail, which recovery cuts).
    #[error("segment {path:?} is corrupt at position {position}: {reason}")]
    CorruptSegment {
        /// The segment's log file.
        path: PathBuf,
        /// File position of the bad batch.
        position: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A sealed segment holds a valid batch whose records do not decode
    /// (found by compaction, which then leaves the segment alone).
    #[error(
        "segment {path:?} has undecodable records in the batch at position {position}: {fault}"
    )]
    CorruptRecords {
        /// The segment's log file.
        path: PathBuf,
        /// File position of the batch.
        position: u64,
        /// What is wrong with its records.
        #[source]
        fault: crate::record::RecordFault,
    },
    /// An offset argument outside what the log holds (e.g. DeleteRecords
    /// beyond the durable end offset).
    #[error("offset {requested} outside [{log_start_offset}, {durable_end_offset}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        requested: i64,
        /// The current log start offset.
        log_start_offset: i64,
        /// The current durable end offset.
        durable_end_offset: i64,
    },
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// An earlier write or fsync failure poisoned the log.
    #[error("log poisoned by an earlier write or fsync failure")]
    Poisoned,
}

impl LogError {
    /// Wraps an IO error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> LogError {
        LogError::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps a glommio error with the path it happened on.
    pub(crate) fn glommio<T: std::fmt::Debug>(
        path: impl Into<PathBuf>,
        source: glommio::GlommioError<T>,
    ) -> LogError {
        LogError::Io {
            path: path.into(),
            source: source.into(),
        }
    }
}
