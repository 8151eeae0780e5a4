//! `PartitionLog`: the log of one partition on its owner shard — appends
//! through an aligned direct-IO write buffer with group commit, reads from
//! the tail cache or aligned DMA reads, recovery, retention.
//!
//! # Durability promises (`flush.policy`)
//!
//! * `batch`: `append` resolves only after an fdatasync that covers its
//!   batches. One fdatasync covers every append that arrived while the
//!   previous write+fdatasync was in flight (group commit). An acknowledged
//!   batch survives a crash and a power loss.
//! * `interval:<ms>`: `append` resolves once the direct-IO write completed;
//!   an fdatasync follows at most `ms` ms later. Survives kill -9; a power
//!   loss may take back the last `ms` of acknowledged appends.
//! * `none`: `append` resolves once the direct-IO write completed (O_DIRECT:
//!   the bytes are in the device, not the page cache). Survives kill -9, not
//!   a power loss. Segments are still fdatasynced when sealed and at close.
//!
//! The *durable end offset* (`durable_end_offset()`) is the end of the
//! appends whose promise holds: the offset after the last batch that is as
//! durable as the flush policy promises (fdatasynced under `batch`, written
//! under `interval`/`none`). An append is acknowledged once the mark passes
//! it, and readers never see past it, so a reader never sees data a crash
//! could take back (under the promise of the policy). It is this replica's
//! own mark; the partition's *high watermark* (what consumers may read) is
//! replication's, the minimum over the in-sync replicas, and never above it.
//!
//! # Concurrency
//!
//! All methods take `&self`; the log lives in an `Rc` on one shard. Appends
//! are admitted in arrival order: offsets are assigned and batches copied
//! into the write buffer synchronously, then the append waits for its
//! promise. Background tasks per log do the IO: two flushers write the
//! buffer whenever bytes are pending (while a write is in flight, new appends
//! accumulate in a fresh buffer), and the syncer fdatasyncs what has been
//! written as the policy asks — under `batch` it runs back to back, so the
//! fdatasync of one group overlaps the write of the next.
//!
//! One write is in flight at a time, except when appends wait for buffer
//! room: then each write is *closed* (it stops at the last page boundary,
//! leaving the partial page for the next write), so the second flusher can
//! issue the next write at once instead of after the first completes,
//! hiding the gap between them. Written offsets advance only over the
//! completed prefix of the writes, in issue order, and only to the end of
//! appends wholly on disk.
//!
//! The partial last page is rewritten in place by the next write; its
//! already-acknowledged prefix is byte-identical in both versions, so a torn
//! write of that page (sector by sector) cannot damage acknowledged bytes.
//!
//! The active segment's file is extended with `fallocate` ahead of the
//! writes (`LogTuning::preallocate_bytes`): a direct-IO write past the end
//! of the file takes the filesystem's exclusive inode lock, serialising it
//! against the other write and the fdatasync in flight; a write into
//! allocated space does not. The zeroes past the last batch are cut off
//! when the segment is sealed (roll, close) and by recovery, which stops at
//! the first zeroed batch header.
//!
//! # Reads
//!
//! The offset index gives a file position; one aligned DMA read of about
//! `max_bytes` is trimmed to whole batches and handed out zero-copy. Batch
//! headers (magic, length) are checked on the way out; CRCs are verified on
//! append and in recovery, not on every read (consumers verify them too).
//! While readers tail the log, appends are also kept in the tail cache.
//!
//! # Memory
//!
//! Each appending partition takes up to two write buffers from glommio's
//! DMA pool (the executor's `io_memory`), each sized to demand: twice the
//! last write, from 64 KiB up to `LogTuning::write_buffer_bytes`. When the
//! pool is exhausted glommio falls back to the system allocator, which works
//! but page-faults fresh memory per write. Size `io_memory` for the
//! partitions a shard appends to concurrently (`run_shards` does, for the
//! broker).
//!
//! # Recovery
//!
//! `close` writes a clean-shutdown marker. A clean `open` leaves it in
//! place until the first change to the log's segments (an append, a
//! truncation, a compaction swap) removes it, durably, before that change
//! starts; so a log nobody changed since a clean open still has a marker
//! that tells the truth, after a crash too, and closing it writes nothing
//! (100 000 idle partitions stop and restart without a sync each). A new
//! log starts with the marker: it is clean while empty.
//! `open` without the marker scans
//! every segment from the recovery point (the base of the segment that was
//! active at the last roll) and the whole active segment, verifying each
//! batch's length, CRC and offset sequence; the first bad batch and
//! everything after it is cut off and the indexes are rebuilt. Sealed
//! segments' indexes are checked and rebuilt if they disagree with the log.
//! A compaction swap a crash interrupted is completed or discarded first
//! (see the `compaction` module); sealed segments may have offset gaps.
//!
//! # Compaction
//!
//! `compact` runs one pass of the key-based cleaner over the sealed
//! segments when `cleanup.policy` includes `compact`; swapped-in segments
//! replace the old `Rc<Segment>`s, which in-flight readers keep reading.
//! Reads step over offset gaps: a read that finds nothing in its segment
//! goes on to the next one.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::io::ReadResult;

use crate::batch::{self, BatchFault, BatchHeader};
use crate::cleaned_txns::{CleanerTxns, TxnTracker};
use crate::compaction::{self, OffsetMap, Retention, SegmentOutcome};
use crate::compression;
use crate::config::{FlushPolicy, LogConfig, TimestampType};
use crate::durable_write::{replace_file, sync_dir, write_synced};
use crate::error::{AppendError, LogError, ReadError, ReplicaAppendError};
use crate::log_chunk::LogChunk;
use crate::off_shard::off_shard;
use crate::offset_index::read_optional;
use crate::read_ahead::ReadAhead;
use crate::read_run::{find_run, ReadRun};
use crate::segment::{
    self, align_down, align_up, parse_log_file_name, Segment, SegmentWindow, ALIGNMENT,
};
use crate::tail_cache::TailCache;
use crate::wait_list::WaitList;
use crate::write_buffer::WriteBuffer;

/// Name of the clean-shutdown marker file.
const CLEAN_SHUTDOWN_FILE: &str = ".clean-shutdown";
/// File holding the base offset of the segment active at the last roll.
const RECOVERY_POINT_FILE: &str = "recovery-point";
/// File holding the log start offset set by DeleteRecords.
const LOG_START_OFFSET_FILE: &str = "log-start-offset";
/// File holding the cleaner checkpoint: the first offset not yet compacted.
const CLEANER_CHECKPOINT_FILE: &str = "cleaner-checkpoint";

/// How long after a read of the active segment appends keep being copied
/// into the tail cache.
const TAIL_READ_INTEREST: Duration = Duration::from_secs(10);

/// Memory sizes of one partition log, fixed when it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogTuning {
    /// Capacity of each of the (at most two) direct-IO write buffers, in
    /// bytes; a multiple of 4096. Larger buffers let one group commit cover
    /// more appends. Default 4 MiB.
    pub write_buffer_bytes: usize,
    /// Bytes of the newest batches kept in memory for tailing readers.
    /// Default 4 MiB. Appends are copied into the cache only while some
    /// reader has read the active segment in the last 10 s, so a
    /// producer-only partition pays neither the copy nor the memory; the
    /// first tailing read after a quiet spell goes to disk.
    pub tail_cache_bytes: usize,
    /// At most how far ahead of its end the active segment's file is
    /// extended with `fallocate`, in bytes; 0 turns preallocation off.
    /// Default 16 MiB. A direct-IO write past the end of the file takes the
    /// filesystem's exclusive inode lock (ext4, XFS), so it cannot overlap
    /// another write; one into allocated space can. The extension grows
    /// with the segment (as far ahead as it is long, from 256 KiB) so a
    /// quiet partition reserves little; seal and close cut it off again.
    pub preallocate_bytes: u64,
}

impl Default for LogTuning {
    fn default() -> Self {
        LogTuning {
            write_buffer_bytes: 4 << 20,
            tail_cache_bytes: 4 << 20,
            preallocate_bytes: 16 << 20,
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the first record of the first batch.
    pub base_offset: i64,
    /// Offset of the last record of the last batch.
    pub last_offset: i64,
    /// The broker timestamp stamped on the batches under LogAppendTime, or -1.
    pub log_append_time_ms: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
    /// Records appended across all batches.
    pub record_count: u32,
}

/// What a compaction pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionReport {
    /// Segments rewritten or deleted.
    pub segments_cleaned: usize,
    /// Bytes of the segments the pass looked at, before.
    pub bytes_before: u64,
    /// The same segments' bytes after.
    pub bytes_after: u64,
    /// Distinct keys in the dirty range.
    pub keys: usize,
    /// Offsets of the abort markers met whose aborted transaction has no
    /// data left in the log: their aborted-transaction index entries can go
    /// (Kafka leaves them out of a cleaned segment's index).
    pub emptied_aborts: Vec<i64>,
}

/// Clears `Inner::cleaning` when a pass ends, however it ends.
struct CleaningGuard<'a>(&'a Inner);

impl Drop for CleaningGuard<'_> {
    fn drop(&mut self) {
        self.0.cleaning.set(false);
    }
}

/// What a read returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadInfo {
    /// Bytes appended to `out`.
    pub bytes: usize,
    /// The log start offset at the read.
    pub log_start_offset: i64,
    /// The durable end offset at the read.
    pub durable_end_offset: i64,
    /// The log end offset at the read.
    pub log_end_offset: i64,
}

/// The log of one partition. Lives on: the partition's owner shard (`!Send`).
#[derive(Debug)]
pub struct PartitionLog {
    inner: Rc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    config: Cell<LogConfig>,
    tuning: LogTuning,
    state: RefCell<State>,
    /// Woken when the durable end offset moves, the flusher goes idle, or the
    /// log is poisoned.
    durable_waiters: WaitList,
    /// Woken when the admission queue, the buffer space or a roll changes.
    admission_waiters: WaitList,
    /// Woken when the flusher has work (pending bytes, close).
    flusher_wake: WaitList,
    /// Woken after every append, before it is durable: the long-polls of
    /// followers, which may read the tail cache past the durable end.
    tail_waiters: WaitList,
    /// A compaction pass is running (at most one per log).
    cleaning: Cell<bool>,
    /// The first offset no compaction pass has covered yet.
    cleaner_checkpoint: Cell<i64>,
    /// The next window of a sequential reader from disk.
    read_ahead: ReadAhead,
}

#[derive(Debug)]
struct State {
    /// Ascending by base offset; the last is the active segment.
    segments: Vec<Rc<Segment>>,
    buffer: WriteBuffer,
    tail: TailCache,
    log_start_offset: i64,
    log_end_offset: i64,
    /// End offset of the bytes written to disk.
    written_offset: i64,
    /// End offset of the bytes covered by an fdatasync.
    synced_offset: i64,
    /// What the flush policy has made durable: `synced_offset` under
    /// `batch`, `written_offset` otherwise (see the module doc).
    durable_end_offset: i64,
    max_timestamp: Option<(i64, i64)>,
    poisoned: bool,
    closed: bool,
    /// Writes issued and not yet accounted, oldest first: at most
    /// [`MAX_WRITES_IN_FLIGHT`], and a new one only behind closed ones.
    in_flight: VecDeque<InFlightWrite>,
    next_write_id: u64,
    /// `(end position, next offset)` of each append whose bytes are not yet
    /// known to be on disk, oldest first.
    append_ends: VecDeque<(u64, i64)>,
    /// An append waits for buffer room: the next write may be closed, so
    /// the one after it can be issued while it is in flight.
    room_wanted: bool,
    unsynced_since: Option<Instant>,
    /// The active segment's file size as extended by preallocation: writes
    /// below it fill allocated space instead of extending the file.
    preallocated_end: u64,
    /// A flusher is extending the active segment's file; seal waits for it.
    preallocating: bool,
    /// A roll (or the clean-shutdown marker's removal) is in progress: no
    /// append is admitted.
    rolling: bool,
    /// The clean-shutdown marker is still on disk: nothing has changed the
    /// segments since a clean open (see the module doc, "Recovery").
    clean_marker: bool,
    /// A truncation is in progress: no append is admitted.
    truncating: bool,
    /// Truncations so far: an fdatasync that started before one does not
    /// advance the synced offset (its target is gone).
    truncations: u64,
    /// Until when appends are copied into the tail cache: set by reads of
    /// the active segment.
    tail_read_until: Option<Instant>,
    /// Tickets of appends waiting for admission, in arrival order.
    admission: VecDeque<u64>,
    next_ticket: u64,
}

/// A direct-IO write issued by a flusher.
#[derive(Debug, Clone, Copy)]
struct InFlightWrite {
    id: u64,
    /// Where the bytes it puts on disk end (see `PendingWrite`).
    end_position: u64,
    closed: bool,
    done: bool,
}

/// Writes a log keeps in flight at most (one flusher task each).
const MAX_WRITES_IN_FLIGHT: usize = 2;

/// The least the active segment is extended ahead of its end.
const MIN_PREALLOCATE_BYTES: u64 = 256 << 10;

impl State {
    /// Whether a flusher may issue a write now: bytes are pending, the
    /// file is not being extended (a write issued meanwhile would wait for
    /// the inode lock in an io-wq worker), and either nothing is in flight,
    /// or appends wait for room and every write in flight is closed (so the
    /// new one cannot overlap them).
    fn can_issue_write(&self) -> bool {
        self.buffer.is_pending()
            && !self.preallocating
            && (self.in_flight.is_empty()
                || (self.room_wanted
                    && self.in_flight.len() < MAX_WRITES_IN_FLIGHT
                    && self.in_flight.iter().all(|write| write.closed)))
    }

    /// Nothing pending, nothing in flight, the file not being extended.
    fn is_flushed(&self) -> bool {
        !self.buffer.is_pending() && self.in_flight.is_empty() && !self.preallocating
    }

    /// The file size to extend the active segment to before the next write,
    /// if that write would reach past the preallocated end; marks the
    /// extension as started.
    fn start_preallocation(&mut self, preallocate_bytes: u64, segment_bytes: u64) -> Option<u64> {
        let end = self.buffer.end_position();
        if preallocate_bytes == 0 || self.preallocating || end <= self.preallocated_end {
            return None;
        }
        let ahead = end.clamp(
            MIN_PREALLOCATE_BYTES,
            preallocate_bytes.max(MIN_PREALLOCATE_BYTES),
        );
        // A segment rolls before it passes segment.bytes (unless one batch
        // is larger): no need to reserve beyond.
        let to = align_up(end + ahead).min(align_up(segment_bytes.max(end)));
        assert!(to >= end && to > self.preallocated_end);
        self.preallocating = true;
        Some(to)
    }

    fn active(&self) -> &Rc<Segment> {
        self.segments
            .last()
            .expect("a log always has an active segment")
    }

    fn advance_durable_end_offset(&mut self, policy: FlushPolicy) {
        assert!(self.synced_offset <= self.written_offset);
        assert!(self.written_offset <= self.log_end_offset);
        let promised = match policy {
            FlushPolicy::Batch => self.synced_offset,
            FlushPolicy::Interval { .. } | FlushPolicy::None => self.written_offset,
        };
        self.durable_end_offset = self.durable_end_offset.max(promised);
    }
}

impl PartitionLog {
    /// Opens (creating if absent) the log in `dir` (= `data_dir/<topic>-<partition>/`),
    /// recovering after an unclean stop. Must run inside a glommio executor
    /// (it spawns the log's flusher task there).
    ///
    /// # Errors
    /// `LogError::Config` for an invalid config; IO failures.
    pub async fn open(dir: PathBuf, config: LogConfig) -> Result<PartitionLog, LogError> {
        PartitionLog::open_with(dir, config, LogTuning::default()).await
    }

    /// `open` with explicit memory sizes.
    ///
    /// # Errors
    /// As `open`.
    pub async fn open_with(
        dir: PathBuf,
        config: LogConfig,
        tuning: LogTuning,
    ) -> Result<PartitionLog, LogError> {
        config.validate()?;
        assert!(
            (tuning.write_buffer_bytes as u64).is_multiple_of(ALIGNMENT),
            "write buffer must be aligned"
        );
        let scanned = dir.clone();
        let DirScan {
            clean,
            recovery_point,
            start_checkpoint,
            cleaner_checkpoint,
            removed_deleted,
            bases,
        } = off_shard(move || DirScan::read(&scanned)).await?;
        segment::prime_iopoll_probe(&dir).await?;
        if removed_deleted {
            sync_dir(&dir).await?;
        }
        let segments = open_segments(
            &dir,
            &bases,
            clean,
            recovery_point,
            config.index_interval_bytes,
        )
        .await?;
        let segments = if segments.is_empty() {
            // A new (or emptied) log; `DirScan` gave it the marker, made
            // durable by this directory sync with the segment.
            let segment = Segment::create(&dir, start_checkpoint.max(0)).await?;
            sync_dir(&dir).await?;
            vec![Rc::new(segment)]
        } else {
            segments
        };
        let active = segments.last().expect("at least one segment").clone();
        let end = active.size();
        let partial_page = read_partial_page(&active, end).await?;
        let buffer = WriteBuffer::new(tuning.write_buffer_bytes, end, &partial_page);
        let log_end_offset = active.next_offset();
        let first_base = segments
            .first()
            .expect("at least one segment")
            .base_offset();
        let log_start_offset = start_checkpoint.max(first_base).min(log_end_offset);
        let max_timestamp = segments
            .iter()
            .filter_map(|s| s.max_timestamp())
            .fold(None, newer_max);
        let inner = Rc::new(Inner {
            dir,
            config: Cell::new(config),
            tuning,
            state: RefCell::new(State {
                segments,
                buffer,
                tail: TailCache::new(tuning.tail_cache_bytes),
                log_start_offset,
                log_end_offset,
                written_offset: log_end_offset,
                synced_offset: log_end_offset,
                durable_end_offset: log_end_offset,
                max_timestamp,
                poisoned: false,
                closed: false,
                in_flight: VecDeque::with_capacity(MAX_WRITES_IN_FLIGHT),
                next_write_id: 0,
                // Empty until the first appends: an idle partition holds no
                // queue memory (1.5 KiB each at 64 entries, 150 MB over
                // 100 000 partitions). The queues grow over a partition's
                // first appends and keep their capacity after.
                append_ends: VecDeque::new(),
                room_wanted: false,
                preallocated_end: 0,
                preallocating: false,
                unsynced_since: None,
                rolling: false,
                clean_marker: clean,
                truncating: false,
                truncations: 0,
                tail_read_until: None,
                admission: VecDeque::new(),
                next_ticket: 0,
            }),
            durable_waiters: WaitList::default(),
            admission_waiters: WaitList::default(),
            flusher_wake: WaitList::default(),
            tail_waiters: WaitList::default(),
            cleaning: Cell::new(false),
            cleaner_checkpoint: Cell::new(cleaner_checkpoint),
            read_ahead: ReadAhead::default(),
        });
        for _ in 0..MAX_WRITES_IN_FLIGHT {
            glommio::spawn_local(run_flusher(inner.clone())).detach();
        }
        glommio::spawn_local(run_syncer(inner.clone())).detach();
        glommio::spawn_local(run_read_ahead(inner.clone())).detach();
        Ok(PartitionLog { inner })
    }

    /// Validates `records` (one or more v2 batches, as in a Produce request),
    /// assigns offsets and the leader epoch by patching the headers, appends,
    /// and resolves once the flush policy's promise holds. All-or-nothing:
    /// every batch is validated before any is written. With a
    /// `compression.type` other than `producer`, batches of another codec
    /// are rebuilt in the topic's codec first.
    ///
    /// # Errors
    /// `CorruptBatch`, `BatchTooLarge`, `Compression`, `Empty` (nothing written);
    /// `Storage`/`Poisoned` when the disk failed (the log is now poisoned).
    ///
    /// # Cancel safety
    /// Dropping the future before it resolves is safe for the log, but the
    /// batches may or may not have been appended.
    pub async fn append(
        &self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, AppendError> {
        self.append_observed(records, leader_epoch, now_ms, &mut |_| {})
            .await
    }

    /// [`append`](Self::append), calling `observer` with the header of each
    /// batch as it is stored (its base offset, leader epoch and, under
    /// LogAppendTime, timestamps patched), in log order, synchronously at the
    /// moment the batches are copied in — before the append is durable, and
    /// never for an append refused before that. All batches of one call are
    /// copied in together, so the observer sees all of them or none. This is
    /// where a caller keeps state that must follow the log exactly (Kafka's
    /// producer state is updated under the log's lock at the same point).
    /// The observer must not block or touch the log.
    ///
    /// # Errors
    /// As `append`.
    ///
    /// # Cancel safety
    /// As `append`; once the observer has run, the batches are in the log
    /// (unless a later write fails and poisons it).
    pub async fn append_observed(
        &self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
        observer: &mut dyn FnMut(&BatchHeader),
    ) -> Result<AppendInfo, AppendError> {
        let config = self.inner.config.get();
        let (batch_count, record_count) = validate_records(records, config.max_message_bytes)?;
        assert!(batch_count > 0);
        if config.message_timestamp_type == TimestampType::CreateTime {
            check_timestamps(records, now_ms, &config)?;
        }
        // Kafka's LogValidator: batches not in the topic's codec are rebuilt
        // in it. `None` (always so for `compression.type=producer`) appends
        // the caller's bytes with no copy.
        let recompressed = compression::recompress(
            records,
            config.compression_type,
            compression::decompressed_bytes_max(config.max_message_bytes),
        )
        .map_err(|(position, source)| AppendError::Compression { position, source })?;
        let records: &[u8] = match &recompressed {
            None => records,
            Some(rebuilt) => {
                // A rebuilt batch may be larger (to `uncompressed`): Kafka
                // checks max.message.bytes again after validation.
                let (rebuilt_batches, rebuilt_records) =
                    validate_records(rebuilt, config.max_message_bytes)?;
                assert_eq!(rebuilt_batches, batch_count);
                assert_eq!(rebuilt_records, record_count);
                rebuilt
            }
        };
        let ticket = self
            .admit(records.len(), i64::from(record_count), now_ms)
            .await?;
        let stamp = Stamp::Leader {
            leader_epoch,
            log_append_time: config.message_timestamp_type == TimestampType::LogAppendTime,
        };
        let info = self
            .inner
            .copy_in(records, stamp, now_ms, &config, record_count, observer);
        drop(ticket);
        self.finish_append(info).await
    }

    /// A follower's append: `records` (one or more v2 batches fetched from
    /// the leader) are appended as they are — base offsets, leader epochs,
    /// timestamps, producer fields and CRCs are the leader's and are never
    /// patched — and the call resolves once the flush policy's promise
    /// holds, like [`append`](Self::append) (same write buffer, group
    /// commit, roll rules and durable end offset).
    ///
    /// Every batch is validated before any is written (CRC, lengths, magic 2,
    /// record count; a batch compacted on the leader may hold fewer records
    /// than its offset range, as in a stored segment). As Kafka's
    /// `appendAsFollower` (`validateAndAssignOffsets = false`,
    /// `ignoreRecordSize = true`), `max.message.bytes`, timestamp bounds and
    /// `compression.type` do not apply: the leader applied them. The first
    /// batch must start at the log end offset and each next one past the
    /// last offset of the previous; gaps between batches (a leader's
    /// compacted segments have them) are kept, as Kafka keeps them. A fetch
    /// that may start past the log end goes through
    /// [`append_replicated_observed`](Self::append_replicated_observed) with
    /// the offset it fetched from.
    ///
    /// The returned `AppendInfo` gives the first and last offsets appended
    /// (the batches' own), `log_append_time_ms` -1 and the record count.
    ///
    /// Lives on: the partition's owner shard.
    ///
    /// # Errors
    /// `OffsetMismatch` for an overlap or a first batch not at the log end,
    /// `Append(CorruptBatch | Empty)`
    /// for a bad batch (nothing written); `Append(Storage | Poisoned)` when the
    /// disk failed (the log is now poisoned).
    ///
    /// # Cancel safety
    /// As `append`: dropping the future is safe for the log, but the batches
    /// may or may not have been appended.
    pub async fn append_replicated(
        &self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<AppendInfo, ReplicaAppendError> {
        self.append_replicated_observed(records, None, now_ms, &mut |_| {})
            .await
    }

    /// [`append_replicated`](Self::append_replicated), calling `observer`
    /// with each batch's header as it is copied in, as
    /// [`append_observed`](Self::append_observed) does. With
    /// `fetched_from`, the batches are a leader's answer to a fetch from
    /// that offset: it must be this log's end, and the first batch may
    /// start past it (the batches between were compacted away on the
    /// leader). A fetch from another offset (an answer that a truncation
    /// overtook) is refused: taking it would leave a hole in this log.
    ///
    /// # Errors
    /// As `append_replicated`; `OffsetMismatch` also when `fetched_from` is
    /// not the log end.
    ///
    /// # Cancel safety
    /// As `append_replicated`.
    pub async fn append_replicated_observed(
        &self,
        records: &[u8],
        fetched_from: Option<i64>,
        now_ms: i64,
        observer: &mut dyn FnMut(&BatchHeader),
    ) -> Result<AppendInfo, ReplicaAppendError> {
        let config = self.inner.config.get();
        let shape = validate_replicated(records)?;
        assert!(shape.last_offset >= shape.base_offset);
        // The offsets the append moves the log end over, from where it was
        // fetched (a refused `fetched_from` only makes a needless roll).
        let first = fetched_from.map_or(shape.base_offset, |from| from.min(shape.base_offset));
        let span = shape.last_offset - first + 1;
        let ticket = self.admit(records.len(), span, now_ms).await?;
        // Checked once admitted: only then is the log end offset settled.
        let expected = self.log_end_offset();
        let starts_right = match fetched_from {
            None => shape.base_offset == expected,
            Some(from) => from == expected && shape.base_offset >= expected,
        };
        if !starts_right {
            return Err(ReplicaAppendError::OffsetMismatch {
                position: 0,
                expected,
                found: shape.base_offset,
            });
        }
        let info = self.inner.copy_in(
            records,
            Stamp::AsIs,
            now_ms,
            &config,
            shape.record_count,
            observer,
        );
        assert_eq!(info.last_offset, shape.last_offset);
        drop(ticket);
        Ok(self.finish_append(info).await?)
    }

    /// Waits for this append's turn in the admission queue, rolling the
    /// segment or waiting for buffer room as needed, and returns the ticket
    /// holding the turn: the caller copies its `bytes` (spanning `offsets`
    /// offsets) into the buffer before dropping it.
    async fn admit(
        &self,
        bytes: usize,
        offsets: i64,
        now_ms: i64,
    ) -> Result<Ticket<'_>, AppendError> {
        assert!(offsets > 0);
        let mut ticket = Ticket {
            inner: &self.inner,
            id: None,
        };
        loop {
            if self.inner.state.borrow().poisoned {
                return Err(AppendError::Poisoned);
            }
            if !ticket.is_turn() {
                ticket.enqueue();
                self.inner
                    .admission_waiters
                    .wait_until(|| ticket.is_turn() || self.inner.is_poisoned())
                    .await;
                continue;
            }
            let roll = self.inner.needs_roll(bytes, offsets, now_ms);
            if roll || self.inner.state.borrow().clean_marker {
                // The roll (and, before the first append since a clean open,
                // the marker's removal) runs as its own task so that dropping
                // this append cannot leave a segment half sealed; `rolling`
                // holds every append back until it is done.
                ticket.enqueue();
                self.inner.state.borrow_mut().rolling = true;
                let inner = self.inner.clone();
                let rolled = glommio::spawn_local(async move {
                    let mut result = inner.remove_clean_marker().await;
                    if roll && result.is_ok() {
                        result = inner.roll().await;
                    }
                    inner.state.borrow_mut().rolling = false;
                    if result.is_err() {
                        inner.poison();
                    }
                    inner.admission_waiters.notify_all();
                    result
                })
                .detach()
                .await;
                match rolled {
                    Some(Ok(())) => continue,
                    Some(Err(error)) => return Err(AppendError::Storage(error)),
                    None => return Err(AppendError::Poisoned),
                }
            }
            if !self.inner.reserve(bytes) {
                ticket.enqueue();
                self.inner.state.borrow_mut().room_wanted = true;
                self.inner.flusher_wake.notify_all();
                self.inner
                    .admission_waiters
                    .wait_until(|| self.inner.is_poisoned() || self.inner.has_room(bytes))
                    .await;
                continue;
            }
            return Ok(ticket);
        }
    }

    /// Wakes the flushers for an append copied in (its ticket dropped) and
    /// waits until the durable end offset passes it.
    async fn finish_append(&self, info: AppendInfo) -> Result<AppendInfo, AppendError> {
        self.inner.flusher_wake.notify_all();
        self.inner.tail_waiters.notify_all();
        let last_offset = info.last_offset;
        // Woken only by the durable end passing this append (or a stop),
        // not by every sync of the batches ahead of it.
        self.inner
            .durable_waiters
            .wait_for_offset(last_offset, || {
                let state = self.inner.state.borrow();
                state.poisoned || state.durable_end_offset > last_offset
            })
            .await;
        let state = self.inner.state.borrow();
        if state.durable_end_offset <= last_offset {
            assert!(state.poisoned);
            return Err(AppendError::Poisoned);
        }
        Ok(AppendInfo {
            log_start_offset: state.log_start_offset,
            ..info
        })
    }

    /// Appends to `out` whole batches starting at the batch containing
    /// `offset`, ending before any batch whose last offset >= `max_offset`
    /// (exclusive bound, e.g. the replication high watermark) or >= this
    /// log's `durable_end_offset()`; at most `max_bytes` in total except that the
    /// first batch is returned whole even if larger. Reads from a single
    /// segment; the caller reads again from the next offset for more.
    ///
    /// # Errors
    /// `OffsetOutOfRange` if `offset < log_start_offset` or `> log_end_offset`
    /// (`offset == log_end_offset` reads nothing); `Storage` on IO failure.
    ///
    /// # Cancel safety
    /// Cancel-safe: nothing is added to `out` until the read completes.
    pub async fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        out: &mut Vec<LogChunk>,
    ) -> Result<ReadInfo, ReadError> {
        self.read_within(offset, max_bytes, max_offset, Reach::Durable, out)
            .await
    }

    /// [`read`](Self::read) for a follower replicating this log: batches
    /// appended but not yet durable are also returned while the tail cache
    /// holds them (Kafka's followers read up to the log end). The leader's
    /// own durability still bounds the high watermark, so a follower
    /// copying them early only lets the two fdatasyncs overlap; from disk
    /// the read stops at the durable end as any other.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    ///
    /// # Cancel safety
    /// Cancel-safe: nothing is added to `out` until the read completes.
    pub async fn read_for_replica(
        &self,
        offset: i64,
        max_bytes: usize,
        out: &mut Vec<LogChunk>,
    ) -> Result<ReadInfo, ReadError> {
        self.read_within(offset, max_bytes, i64::MAX, Reach::Appended, out)
            .await
    }

    async fn read_within(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        reach: Reach,
        out: &mut Vec<LogChunk>,
    ) -> Result<ReadInfo, ReadError> {
        let (segment, bound, mut info) = {
            let mut state = self.inner.state.borrow_mut();
            let mut info = ReadInfo {
                bytes: 0,
                log_start_offset: state.log_start_offset,
                durable_end_offset: state.durable_end_offset,
                log_end_offset: state.log_end_offset,
            };
            if offset < state.log_start_offset || offset > state.log_end_offset {
                return Err(ReadError::OffsetOutOfRange {
                    requested: offset,
                    log_start_offset: state.log_start_offset,
                    log_end_offset: state.log_end_offset,
                });
            }
            // A reader of the active segment, or one waiting at its end for
            // more, wants the next appends: keep them in memory for it.
            if offset >= state.active().base_offset() {
                state.tail_read_until = Some(Instant::now() + TAIL_READ_INTEREST);
            }
            let bound = max_offset.min(state.durable_end_offset);
            let cached_bound = match reach {
                Reach::Durable => bound,
                Reach::Appended => max_offset.min(state.log_end_offset),
            };
            if offset >= cached_bound {
                return Ok(info);
            }
            if let Some(bytes) = state.tail.read(offset, max_bytes, cached_bound, out) {
                info.bytes = bytes;
                return Ok(info);
            }
            if offset >= bound {
                return Ok(info);
            }
            (segment_for(&state.segments, offset).clone(), bound, info)
        };
        let interval = u64::from(self.inner.config.get().index_interval_bytes);
        let mut segment = segment;
        let mut offset = offset;
        loop {
            info.bytes = read_segment(
                &segment,
                &self.inner.read_ahead,
                offset,
                max_bytes,
                bound,
                interval,
                out,
            )
            .await?;
            if info.bytes > 0 {
                return Ok(info);
            }
            // Nothing at or after `offset` in this segment: compaction removed
            // its last batches. Go on to the next segment, if it is readable.
            let state = self.inner.state.borrow();
            let Some(next) = state
                .segments
                .iter()
                .find(|s| s.base_offset() > segment.base_offset())
                .cloned()
            else {
                return Ok(info);
            };
            if next.base_offset() >= bound {
                return Ok(info);
            }
            if let Some(bytes) = state.tail.read(next.base_offset(), max_bytes, bound, out) {
                info.bytes = bytes;
                return Ok(info);
            }
            offset = offset.max(next.base_offset());
            segment = next;
        }
    }

    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.inner.state.borrow().log_start_offset
    }

    /// The next offset to assign.
    pub fn log_end_offset(&self) -> i64 {
        self.inner.state.borrow().log_end_offset
    }

    /// The durable end offset: the end of the acknowledged appends (durable
    /// as the flush policy promises); readers are bounded by it. Never above
    /// the log end offset; moves backwards only with `truncate_to`.
    pub fn durable_end_offset(&self) -> i64 {
        self.inner.state.borrow().durable_end_offset
    }

    /// Bytes appended to the log's segments (written or still buffered),
    /// summed over the segments: O(segments), for metrics at scrape.
    pub fn size_bytes(&self) -> u64 {
        self.inner
            .state
            .borrow()
            .segments
            .iter()
            .map(|s| s.size())
            .sum()
    }

    /// How many segments the log has (the active one included; at least 1).
    pub fn segment_count(&self) -> usize {
        let count = self.inner.state.borrow().segments.len();
        assert!(count >= 1, "a log always has an active segment");
        count
    }

    /// The base offset of the active segment (the newest; it changes when
    /// the log rolls, and by truncation).
    pub fn active_segment_base_offset(&self) -> i64 {
        self.inner.state.borrow().active().base_offset()
    }

    /// The base offsets of the segments, ascending (the last is the active
    /// segment's): where files kept beside each segment belong. O(segments).
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        let state = self.inner.state.borrow();
        let bases: Vec<i64> = state.segments.iter().map(|s| s.base_offset()).collect();
        debug_assert!(bases.windows(2).all(|pair| pair[0] < pair[1]));
        bases
    }

    /// Whether an earlier write or fdatasync failure poisoned the log.
    pub fn is_poisoned(&self) -> bool {
        self.inner.is_poisoned()
    }

    /// Resolves once `durable_end_offset() > offset` (or the log is poisoned or
    /// closed).
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future unregisters it.
    pub async fn wait_for_append(&self, offset: i64) {
        self.inner
            .durable_waiters
            .wait_for_offset(offset, || {
                let state = self.inner.state.borrow();
                state.durable_end_offset > offset || state.poisoned || state.closed
            })
            .await;
    }

    /// Resolves once a [`read_for_replica`](Self::read_for_replica) from
    /// `offset` would return something: the durable end offset passes it,
    /// or the log end does with the batch at `offset` in the tail cache (or
    /// the log is poisoned or closed).
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future unregisters it.
    pub async fn wait_for_replica_read(&self, offset: i64) {
        let cached = self.inner.tail_waiters.wait_until(|| {
            let state = self.inner.state.borrow();
            state.log_end_offset > offset && state.tail.holds(offset)
        });
        futures_lite::future::or(self.wait_for_append(offset), cached).await;
    }

    /// `(offset, timestamp)` of the first record at or after the log start
    /// and below the durable end offset with timestamp >= `timestamp_ms`, or
    /// `None`. Exact for uncompressed CreateTime batches; for compressed
    /// batches it answers with the batch (its base offset and its max
    /// timestamp); under LogAppendTime every record carries the batch's
    /// timestamp.
    ///
    /// # Errors
    /// `Storage` on IO failure.
    pub async fn offset_for_timestamp(
        &self,
        timestamp_ms: i64,
    ) -> Result<Option<(i64, i64)>, ReadError> {
        let (segments, log_start_offset, durable_end_offset) = {
            let state = self.inner.state.borrow();
            let candidates: Vec<Rc<Segment>> = state
                .segments
                .iter()
                .filter(|s| {
                    s.max_timestamp()
                        .is_some_and(|(max, _)| max >= timestamp_ms)
                })
                .cloned()
                .collect();
            (candidates, state.log_start_offset, state.durable_end_offset)
        };
        for segment in segments {
            let start = segment.time_scan_start(timestamp_ms).max(log_start_offset);
            let (_, position) = segment.lookup(start);
            let mut found = None;
            segment
                .scan_from(position, false, |_, bytes| {
                    let header = BatchHeader::read(bytes).expect("scan hands out whole batches");
                    if header.base_offset.get() >= durable_end_offset {
                        return segment::Visit::Stop;
                    }
                    if header.last_offset() < start || header.max_timestamp.get() < timestamp_ms {
                        return segment::Visit::Continue;
                    }
                    found = Some(match_in_batch(bytes, header, timestamp_ms, start));
                    segment::Visit::Stop
                })
                .await?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// `(offset, timestamp)` of the batch with the largest timestamp
    /// (ListOffsets -3): the offset is that batch's last offset.
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let state = self.inner.state.borrow();
        state
            .max_timestamp
            .map(|(timestamp, offset)| (offset, timestamp))
    }

    /// Advances the log start offset to `before_offset` (DeleteRecords; -1
    /// means the durable end offset) and deletes whole segments below it.
    /// Returns the new log start offset (never moves backwards).
    ///
    /// # Errors
    /// `OffsetOutOfRange` if `before_offset` is above the durable end offset or
    /// below -1; IO failures.
    pub async fn delete_records(&self, before_offset: i64) -> Result<i64, LogError> {
        let (target, changed) = {
            let mut state = self.inner.state.borrow_mut();
            let target = if before_offset == -1 {
                state.durable_end_offset
            } else {
                before_offset
            };
            if target < 0 || target > state.durable_end_offset {
                return Err(LogError::OffsetOutOfRange {
                    requested: before_offset,
                    log_start_offset: state.log_start_offset,
                    durable_end_offset: state.durable_end_offset,
                });
            }
            let changed = target > state.log_start_offset;
            state.log_start_offset = state.log_start_offset.max(target);
            (state.log_start_offset, changed)
        };
        if changed {
            crate::log_changes::log_changed();
        }
        if changed {
            write_i64_file(&self.inner.dir, LOG_START_OFFSET_FILE, target).await?;
        }
        self.inner.delete_segments_below(target).await?;
        Ok(target)
    }

    /// Truncates the log to `offset`: every batch holding an offset at or
    /// after it goes (a follower's divergent tail; Kafka's `truncateTo`).
    /// Later segments are deleted and the segment holding `offset` is cut at
    /// a batch boundary and becomes the active segment; its indexes, the log
    /// end offset, the durable end offset, the tail cache, read-ahead and
    /// write buffer follow. Returns once the cut is on disk.
    ///
    /// If `offset` falls inside a batch, that whole batch goes too (as
    /// Kafka's `LogSegment.truncateTo` cuts at the batch containing the
    /// target): the log end offset becomes the batch's base offset, not
    /// `offset` (Kafka sets it to `offset`; here it always agrees with the
    /// bytes on disk, and the follower fetches that batch again). An
    /// `offset` at or past the log end offset changes nothing (as Kafka).
    /// If the log start offset lay inside the removed batch, it moves back
    /// to the new log end offset (Kafka's `min(target, logStartOffset)`).
    ///
    /// Waits for its turn behind the appends already admitted and for every
    /// one of them to be durable (each resolves before its bytes can be cut),
    /// and holds new appends back until it is done.
    ///
    /// Crash safety: the segments after the cut are unlinked newest first
    /// (the directory synced after each), then the cut segment's file is
    /// truncated and fdatasynced. A crash at any point leaves a prefix of the
    /// old segments, whole batches only, which recovery opens as it does any
    /// unclean stop (the last one verified batch by batch): it may still
    /// hold part of the tail that was being cut, never a torn or corrupt
    /// batch and never a hole; the caller truncates again.
    ///
    /// Lives on: the partition's owner shard.
    ///
    /// # Errors
    /// `OffsetOutOfRange` if `offset` is below the log start offset;
    /// `Poisoned`/IO failures (the log is then poisoned).
    ///
    /// # Cancel safety
    /// Dropping the future while it waits for its turn changes nothing.
    /// Once its turn came, the truncation runs to the end as its own task
    /// (like a roll): dropping the future does not stop it.
    pub async fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        let ticket = self.truncation_turn().await?;
        {
            let mut state = self.inner.state.borrow_mut();
            if state.poisoned || state.closed {
                return Err(LogError::Poisoned);
            }
            if offset < state.log_start_offset {
                return Err(LogError::OffsetOutOfRange {
                    requested: offset,
                    log_start_offset: state.log_start_offset,
                    durable_end_offset: state.durable_end_offset,
                });
            }
            if offset >= state.log_end_offset {
                return Ok(());
            }
            state.truncating = true;
        }
        let inner = self.inner.clone();
        let truncated = glommio::spawn_local(async move {
            let result = inner.truncate_to(offset).await;
            inner.state.borrow_mut().truncating = false;
            if result.is_err() {
                inner.poison();
            }
            inner.admission_waiters.notify_all();
            result
        })
        .detach()
        .await;
        drop(ticket);
        truncated.unwrap_or(Err(LogError::Poisoned))
    }

    /// Waits for a truncation's turn behind the appends already admitted
    /// (the returned ticket holds new ones back until dropped).
    ///
    /// # Errors
    /// `Poisoned` when the log stopped meanwhile.
    async fn truncation_turn(&self) -> Result<Ticket<'_>, LogError> {
        let mut ticket = Ticket {
            inner: &self.inner,
            id: None,
        };
        while !ticket.is_turn() {
            if self.inner.is_stopped() {
                return Err(LogError::Poisoned);
            }
            ticket.enqueue();
            self.inner
                .admission_waiters
                .wait_until(|| ticket.is_turn() || self.inner.is_stopped())
                .await;
        }
        Ok(ticket)
    }

    /// Empties the log and starts it over at `offset` (Kafka's
    /// `truncateFullyAndStartAt`: a follower whose log ends below its
    /// leader's log start): every segment goes, one empty segment based at
    /// `offset` takes their place, and the log start, log end and durable
    /// end offsets all become `offset`. Returns once that is on disk.
    ///
    /// Waits for its turn and for every admitted append to be durable, as
    /// [`PartitionLog::truncate_to`] does, and holds new appends back.
    ///
    /// Crash safety: the new log start offset is written first, then the
    /// old segments are unlinked newest first (the directory synced after
    /// each), then the new segment is created. A crash leaves a prefix of
    /// the old segments (the log start offset then lies past their end, so
    /// the log opens with its start at its end and the follower fetches out
    /// of range again and repeats this) or no segment (the log opens empty
    /// at the recorded start).
    ///
    /// Lives on: the partition's owner shard.
    ///
    /// # Errors
    /// `OffsetOutOfRange` for a negative `offset`; `Poisoned`/IO failures
    /// (the log is then poisoned).
    ///
    /// # Cancel safety
    /// As [`PartitionLog::truncate_to`].
    pub async fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), LogError> {
        let ticket = self.truncation_turn().await?;
        {
            let mut state = self.inner.state.borrow_mut();
            if state.poisoned || state.closed {
                return Err(LogError::Poisoned);
            }
            if offset < 0 {
                return Err(LogError::OffsetOutOfRange {
                    requested: offset,
                    log_start_offset: state.log_start_offset,
                    durable_end_offset: state.durable_end_offset,
                });
            }
            state.truncating = true;
        }
        let inner = self.inner.clone();
        let reset = glommio::spawn_local(async move {
            let result = inner.truncate_fully_and_start_at(offset).await;
            inner.state.borrow_mut().truncating = false;
            if result.is_err() {
                inner.poison();
            }
            inner.admission_waiters.notify_all();
            result
        })
        .detach()
        .await;
        drop(ticket);
        reset.unwrap_or(Err(LogError::Poisoned))
    }

    /// Deletes sealed segments (never the active one), oldest first, whose
    /// largest timestamp is older than `now_ms - retention.ms`, then while
    /// the log is larger than `retention.bytes`; advances the log start.
    /// Does nothing unless `cleanup.policy` includes `delete`.
    ///
    /// # Errors
    /// IO failures.
    pub async fn enforce_retention(&self, now_ms: i64) -> Result<(), LogError> {
        let config = self.inner.config.get();
        if !config.cleanup_policy.deletes() {
            return Ok(());
        }
        let new_start = {
            let state = self.inner.state.borrow();
            let sealed = &state.segments[..state.segments.len() - 1];
            let mut total: i64 = state.segments.iter().map(|s| s.size() as i64).sum();
            let mut delete = 0;
            for segment in sealed {
                let expired = config.retention_ms >= 0
                    && segment
                        .max_timestamp()
                        .is_none_or(|(max, _)| max < now_ms.saturating_sub(config.retention_ms));
                let oversized = config.retention_bytes >= 0
                    && total - segment.size() as i64 >= config.retention_bytes;
                if !expired && !oversized {
                    break;
                }
                total -= segment.size() as i64;
                delete += 1;
            }
            if delete == 0 {
                return Ok(());
            }
            state.segments[delete].base_offset()
        };
        {
            let mut state = self.inner.state.borrow_mut();
            state.log_start_offset = state.log_start_offset.max(new_start);
        }
        crate::log_changes::log_changed();
        write_i64_file(
            &self.inner.dir,
            LOG_START_OFFSET_FILE,
            self.log_start_offset(),
        )
        .await?;
        self.inner.delete_segments_below(new_start).await
    }

    /// Runs one compaction pass if `cleanup.policy` includes `compact` and
    /// one is due (see the `compaction` module): builds the offset map over
    /// the dirty sealed segments below `txns.last_stable_offset`, then
    /// rewrites and swaps in every sealed segment up to the end of the
    /// mapped range, with Kafka's rules for transactional data (`txns`: see
    /// [`CleanerTxns`]). Returns what it did, or
    /// `None` if no pass was due (or one is already running on this log).
    ///
    /// # Errors
    /// IO failures; `CorruptSegment`/`CorruptRecords` if a sealed segment
    /// does not decode (it is left as it is). Segments swapped in before the
    /// error stay swapped in: each swap is whole.
    ///
    /// # Cancel safety
    /// Dropping the future between swaps is safe: each swap is synchronous,
    /// and a dropped pass leaves at most a `.cleaned` file that the next
    /// open (or pass) replaces.
    pub async fn compact(
        &self,
        now_ms: i64,
        txns: &CleanerTxns,
    ) -> Result<Option<CompactionReport>, LogError> {
        let config = self.inner.config.get();
        if !config.cleanup_policy.compacts() || self.inner.cleaning.get() {
            return Ok(None);
        }
        self.inner.cleaning.set(true);
        let _running = CleaningGuard(&self.inner);
        let (sealed, next_bases, checkpoint) = {
            let state = self.inner.state.borrow();
            let sealed = state.segments[..state.segments.len() - 1].to_vec();
            let next_bases = state.segments[1..]
                .iter()
                .map(|s| s.base_offset())
                .collect::<Vec<_>>();
            let checkpoint = self
                .inner
                .cleaner_checkpoint
                .get()
                .max(state.log_start_offset);
            (sealed, next_bases, checkpoint)
        };
        let Some(plan) = compaction::plan(
            &sealed,
            &next_bases,
            checkpoint,
            txns.last_stable_offset,
            &config,
            now_ms,
        ) else {
            return Ok(None);
        };
        let mut map = OffsetMap::with_capacity(compaction::OFFSET_MAP_ENTRIES_MAX);
        let dirty = &plan.segments[plan.first_dirty..];
        let mut map_txns = TxnTracker::new(&txns.aborted, dirty[0].base_offset());
        let mapped = compaction::build_offset_map(dirty, &mut map, &mut map_txns).await?;
        if mapped == 0 {
            tracing::warn!(dir = ?self.inner.dir, "a dirty segment has more keys than the offset map holds; not compacted");
            return Ok(None);
        }
        let end = plan.first_dirty + mapped;
        let retention = Retention {
            now_ms,
            delete_retention_ms: config.delete_retention_ms,
            txns,
        };
        let mut report = CompactionReport {
            segments_cleaned: 0,
            bytes_before: 0,
            bytes_after: 0,
            keys: map.len(),
            emptied_aborts: Vec::new(),
        };
        let mut clean_txns = TxnTracker::new(&txns.aborted, plan.segments[0].base_offset());
        for segment in &plan.segments[..end] {
            let outcome = compaction::clean_segment(
                &self.inner.dir,
                segment,
                &map,
                &mut clean_txns,
                retention,
                config.index_interval_bytes,
            )
            .await?;
            report.bytes_before += segment.size();
            report.bytes_after += match &outcome {
                SegmentOutcome::Unchanged => segment.size(),
                SegmentOutcome::Cleaned(cleaned) => cleaned.size(),
                SegmentOutcome::Empty => 0,
            };
            if !matches!(outcome, SegmentOutcome::Unchanged) {
                report.segments_cleaned += 1;
            }
            self.inner.swap_in(segment, outcome).await?;
        }
        // Everything below the next segment's base has been compacted.
        // (A truncation meanwhile may have moved the log end below it.)
        let new_checkpoint = next_bases[end - 1].min(self.log_end_offset());
        self.inner.cleaner_checkpoint.set(new_checkpoint);
        write_i64_file(&self.inner.dir, CLEANER_CHECKPOINT_FILE, new_checkpoint).await?;
        report.emptied_aborts = clean_txns.emptied_aborts().to_vec();
        Ok(Some(report))
    }

    /// Replaces the configuration (AlterConfigs); applies from the next append.
    ///
    /// # Panics
    /// If `config` fails `validate()` (callers validate first).
    pub fn set_config(&self, config: LogConfig) {
        assert!(
            config.validate().is_ok(),
            "set_config with an invalid config"
        );
        self.inner.config.set(config);
        self.inner.flusher_wake.notify_all();
    }

    /// The current configuration.
    pub fn config(&self) -> LogConfig {
        self.inner.config.get()
    }

    /// The directory holding the log.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Whether the clean-shutdown marker a clean open found is still on
    /// disk: nothing has changed the segments since, so closing writes
    /// nothing (see the module doc, "Recovery").
    pub fn is_as_opened(&self) -> bool {
        self.inner.state.borrow().clean_marker
    }

    /// Flushes everything, writes the active segment's indexes and the
    /// clean-shutdown marker; a log [`is_as_opened`](Self::is_as_opened)
    /// still has its marker and its files as they were, and is left so.
    ///
    /// # Errors
    /// IO failures (the marker is then not written, so the next open recovers).
    pub async fn close(self) -> Result<(), LogError> {
        self.inner.drain().await?;
        let (active, as_opened) = {
            let mut state = self.inner.state.borrow_mut();
            state.closed = true;
            (state.active().clone(), state.clean_marker)
        };
        self.inner.wake_background();
        if as_opened {
            return Ok(());
        }
        seal(&active).await?;
        write_synced(&self.inner.dir.join(CLEAN_SHUTDOWN_FILE), b"").await?;
        sync_dir(&self.inner.dir).await
    }

    /// Deletes the log and its directory (topic deletion).
    ///
    /// # Errors
    /// IO failures.
    pub async fn remove(self) -> Result<(), LogError> {
        {
            let mut state = self.inner.state.borrow_mut();
            state.closed = true;
        }
        self.inner.wake_background();
        // Let an in-flight write finish before the files go.
        self.inner
            .durable_waiters
            .wait_until(|| self.inner.state.borrow().in_flight.is_empty())
            .await;
        // Readers holding a segment read on from the renamed directory.
        let held: Vec<Rc<Segment>> = {
            let state = self.inner.state.borrow();
            let held = state.segments.iter().filter(|s| Rc::strong_count(s) > 1);
            held.cloned().collect()
        };
        for segment in &held {
            segment.retire().await?;
        }
        remove_partition_dir(
            &self.inner.dir,
            self.inner.config.get().file_delete_delay_ms,
        )
        .await
    }
}

impl Drop for PartitionLog {
    fn drop(&mut self) {
        // Stops the flusher; unwritten appends are lost as in a crash.
        self.inner.state.borrow_mut().closed = true;
        self.inner.wake_background();
    }
}

/// How far a read may reach.
#[derive(Debug, Clone, Copy)]
enum Reach {
    /// Up to the durable end offset (consumers, and the leader's own reads).
    Durable,
    /// Also the appended batches the tail cache holds past it (followers).
    Appended,
}

/// How `copy_in` treats the headers of the batches it copies.
#[derive(Debug, Clone, Copy)]
enum Stamp {
    /// A leader's append: assign offsets from the log end and stamp the
    /// leader epoch (and the broker time under LogAppendTime).
    Leader {
        leader_epoch: i32,
        log_append_time: bool,
    },
    /// A follower's append: the headers are the leader's, kept byte for byte.
    AsIs,
}

/// An append's place in the admission queue; leaves the queue when dropped.
struct Ticket<'a> {
    inner: &'a Inner,
    id: Option<u64>,
}

impl Ticket<'_> {
    fn is_turn(&self) -> bool {
        let state = self.inner.state.borrow();
        if state.rolling || state.truncating {
            return false;
        }
        match (state.admission.front(), self.id) {
            (None, _) => true,
            (Some(&front), Some(id)) => front == id,
            (Some(_), None) => false,
        }
    }

    fn enqueue(&mut self) {
        if self.id.is_none() {
            let mut state = self.inner.state.borrow_mut();
            let id = state.next_ticket;
            state.next_ticket += 1;
            state.admission.push_back(id);
            self.id = Some(id);
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let mut state = self.inner.state.borrow_mut();
            if let Some(slot) = state.admission.iter().position(|&t| t == id) {
                state.admission.remove(slot);
            }
            drop(state);
            self.inner.admission_waiters.notify_all();
        }
    }
}

impl Inner {
    fn is_poisoned(&self) -> bool {
        self.state.borrow().poisoned
    }

    /// Whether the background tasks should exit (closed, dropped, poisoned).
    fn is_stopped(&self) -> bool {
        let state = self.state.borrow();
        state.closed || state.poisoned
    }

    fn poison(&self) {
        self.state.borrow_mut().poisoned = true;
        tracing::error!(dir = ?self.dir, "partition log poisoned by an IO failure; it is offline until reopened");
        self.admission_waiters.notify_all();
        self.wake_background();
    }

    /// Wakes the log's background tasks and the waiters on its high
    /// watermark so they see a stop (close, drop, poison).
    fn wake_background(&self) {
        self.flusher_wake.notify_all();
        self.durable_waiters.notify_all();
        crate::log_changes::log_changed();
        self.read_ahead.wake_task();
    }

    /// Whether an append of `bytes` spanning `offsets` offsets must roll
    /// the active segment first.
    fn needs_roll(&self, bytes: usize, offsets: i64, now_ms: i64) -> bool {
        let config = self.config.get();
        let state = self.state.borrow();
        let active = state.active();
        if active.size() == 0 {
            return false;
        }
        let too_big = active.size() + bytes as u64 > config.segment_bytes;
        let too_old = active
            .roll_clock_ms()
            .is_some_and(|start| now_ms.saturating_sub(start) > config.segment_ms);
        let relative_end = state.log_end_offset + offsets - active.base_offset();
        too_big || too_old || relative_end > i64::from(u32::MAX)
    }

    fn has_room(&self, bytes: usize) -> bool {
        self.state.borrow().buffer.would_reserve(bytes)
    }

    fn reserve(&self, bytes: usize) -> bool {
        self.state.borrow_mut().buffer.reserve(bytes)
    }

    /// Copies the validated `records` into the write buffer — patching each
    /// header for a leader's append, as they are for a follower's — and
    /// records them in the segment, indexes and tail cache.
    fn copy_in(
        &self,
        records: &[u8],
        stamp: Stamp,
        now_ms: i64,
        config: &LogConfig,
        record_count: u32,
        observer: &mut dyn FnMut(&BatchHeader),
    ) -> AppendInfo {
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        let active = state.segments.last().expect("active segment").clone();
        active.start_roll_clock(now_ms);
        let base_offset = state.log_end_offset;
        // Copy into the tail cache only while someone reads the tail: a
        // producer-only partition saves the copy (and its memory).
        let cache = state
            .tail_read_until
            .is_some_and(|until| Instant::now() < until);
        if !cache {
            state.tail.clear();
        }
        let mut offset = base_offset;
        // The first offset appended: past `base_offset` when a follower's
        // first batch follows a compacted gap.
        let mut first_offset = None;
        let mut rest = records;
        while !rest.is_empty() {
            let header = BatchHeader::read(rest).expect("validated");
            let total = usize::try_from(header.total_bytes()).expect("validated");
            let position = state.buffer.end_position();
            let slot = state.buffer.append_slot(total);
            slot.copy_from_slice(&rest[..total]);
            match stamp {
                Stamp::Leader {
                    leader_epoch,
                    log_append_time,
                } => {
                    batch::patch_offset_and_epoch(slot, offset, leader_epoch);
                    if log_append_time {
                        batch::patch_log_append_time(slot, now_ms);
                    }
                    debug_assert!(
                        batch::validate(slot, usize::MAX).is_ok(),
                        "patched batch must stay valid"
                    );
                }
                Stamp::AsIs => {
                    assert!(
                        header.base_offset.get() >= offset,
                        "replicated batches were checked increasing"
                    );
                    offset = header.base_offset.get();
                    first_offset.get_or_insert(offset);
                }
            }
            let patched = BatchHeader::read(slot).expect("whole batch");
            observer(patched);
            let last_offset = patched.last_offset();
            match stamp {
                Stamp::Leader { .. } => {
                    active.on_append(position, patched, total as u64, config.index_interval_bytes);
                }
                // A follower's batches may have gaps (compacted on the leader).
                Stamp::AsIs => {
                    active.on_batch(position, patched, total as u64, config.index_interval_bytes);
                }
            }
            let timestamp = patched.max_timestamp.get();
            state.max_timestamp = newer_max(state.max_timestamp, (timestamp, last_offset));
            if cache {
                state.tail.push(slot, offset, last_offset);
            }
            offset = last_offset + 1;
            rest = &rest[total..];
        }
        if let Stamp::Leader { .. } = stamp {
            assert_eq!(
                offset - base_offset,
                i64::from(record_count),
                "offsets assigned match the records"
            );
        }
        assert_eq!(active.size(), state.buffer.end_position());
        state.log_end_offset = offset;
        let end_position = state.buffer.end_position();
        state.append_ends.push_back((end_position, offset));
        let log_append_time = matches!(
            stamp,
            Stamp::Leader {
                log_append_time: true,
                ..
            }
        );
        AppendInfo {
            base_offset: first_offset.unwrap_or(base_offset),
            last_offset: offset - 1,
            log_append_time_ms: if log_append_time { now_ms } else { -1 },
            log_start_offset: state.log_start_offset,
            record_count,
        }
    }

    /// Waits until every appended byte is written and the flusher is idle
    /// (callers fdatasync themselves: roll and close seal the segment).
    async fn drain(&self) -> Result<(), LogError> {
        self.flusher_wake.notify_all();
        self.durable_waiters
            .wait_until(|| {
                let state = self.state.borrow();
                let idle = state.is_flushed();
                state.poisoned || state.closed || idle
            })
            .await;
        // A dropped log stops its flusher: nothing more will be written.
        if self.is_stopped() {
            return Err(LogError::Poisoned);
        }
        Ok(())
    }

    /// Before the first change to the segments since a clean open: removes
    /// the clean-shutdown marker and syncs the directory, so a crash during
    /// or after the change recovers the log. Then and later a no-op.
    async fn remove_clean_marker(&self) -> Result<(), LogError> {
        if !self.state.borrow().clean_marker {
            return Ok(());
        }
        let marker = self.dir.join(CLEAN_SHUTDOWN_FILE);
        off_shard(move || match std::fs::remove_file(&marker) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LogError::io(&marker, e)),
            _ => Ok(()),
        })
        .await?;
        sync_dir(&self.dir).await?;
        self.state.borrow_mut().clean_marker = false;
        Ok(())
    }

    /// Seals the active segment and starts a new one at the log end offset.
    /// The caller holds the admission turn, so no append interleaves.
    async fn roll(&self) -> Result<(), LogError> {
        self.drain().await?;
        let old = self.state.borrow().active().clone();
        let new_base = self.state.borrow().log_end_offset;
        assert_eq!(old.next_offset(), new_base);
        seal(&old).await?;
        let segment = Rc::new(Segment::create(&self.dir, new_base).await?);
        sync_dir(&self.dir).await?;
        write_i64_file(&self.dir, RECOVERY_POINT_FILE, new_base).await?;
        let mut state = self.state.borrow_mut();
        assert!(
            state.append_ends.is_empty(),
            "a drained log has every append accounted"
        );
        state.buffer = WriteBuffer::new(self.tuning.write_buffer_bytes, 0, &[]);
        state.preallocated_end = 0;
        state.segments.push(segment);
        state.synced_offset = state.written_offset;
        state.unsynced_since = None;
        let policy = self.config.get().flush_policy;
        state.advance_durable_end_offset(policy);
        drop(state);
        self.durable_waiters.notify_all();
        crate::log_changes::log_changed();
        Ok(())
    }

    /// Waits until every admitted append is written and durable (none waits
    /// on bytes a truncation cuts, and no write is in flight).
    ///
    /// # Errors
    /// `Poisoned` when the log stopped meanwhile.
    async fn settle(&self) -> Result<(), LogError> {
        self.flusher_wake.notify_all();
        self.durable_waiters
            .wait_until(|| {
                let state = self.state.borrow();
                let settled =
                    state.is_flushed() && state.durable_end_offset == state.log_end_offset;
                state.poisoned || state.closed || settled
            })
            .await;
        if self.is_stopped() {
            return Err(LogError::Poisoned);
        }
        Ok(())
    }

    /// The body of `PartitionLog::truncate_to` (`log_start_offset <= offset
    /// < log_end_offset` when it was admitted); the caller set `truncating`.
    async fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        assert!(self.state.borrow().truncating);
        // Every admitted append written and durable: none waits on bytes
        // this cuts, and no write is in flight.
        self.settle().await?;
        self.remove_clean_marker().await?;
        let (segment, cut, partial_page, doomed) = loop {
            let segment = {
                let state = self.state.borrow();
                if offset < state.log_start_offset {
                    // Retention moved the log start while we waited.
                    return Err(LogError::OffsetOutOfRange {
                        requested: offset,
                        log_start_offset: state.log_start_offset,
                        durable_end_offset: state.durable_end_offset,
                    });
                }
                segment_for(&state.segments, offset).clone()
            };
            let cut = segment.plan_cut(offset).await?;
            let partial_page = read_partial_page(&segment, cut.position()).await?;
            // No await from here to the end of the in-memory change.
            let mut state = self.state.borrow_mut();
            let Some(slot) = state.segments.iter().position(|s| Rc::ptr_eq(s, &segment)) else {
                // Compaction swapped the segment for a cleaned copy: again.
                continue;
            };
            let doomed = state.segments.split_off(slot + 1);
            break (segment, cut, partial_page, doomed);
        };
        let end = {
            let mut guard = self.state.borrow_mut();
            let state = &mut *guard;
            assert!(state.is_flushed(), "a settled log has nothing to write");
            assert!(state.append_ends.is_empty());
            let position = cut.position();
            segment.apply_cut(cut);
            let end = segment.next_offset();
            assert!(end <= offset, "truncated past the target");
            assert_eq!(segment.size(), position);
            state.buffer =
                WriteBuffer::new(self.tuning.write_buffer_bytes, position, &partial_page);
            state.preallocated_end = 0;
            state.room_wanted = false;
            state.log_end_offset = end;
            state.written_offset = end;
            state.synced_offset = state.synced_offset.min(end);
            state.durable_end_offset = end;
            state.truncations += 1;
            state.tail.truncate_from(end);
            state.max_timestamp = state
                .segments
                .iter()
                .filter_map(|s| s.max_timestamp())
                .fold(None, newer_max);
            state.log_start_offset = state.log_start_offset.min(end);
            end
        };
        self.read_ahead.forget();
        let cleaner_moved = self.cleaner_checkpoint.get() > end;
        if cleaner_moved {
            self.cleaner_checkpoint.set(end);
        }
        self.durable_waiters.notify_all();
        crate::log_changes::log_changed();
        // On disk, in crash order: a prefix of the segments at every step.
        let recovery_point = read_i64_file(&self.dir.join(RECOVERY_POINT_FILE))?.unwrap_or(0);
        if segment.base_offset() < recovery_point {
            write_i64_file(&self.dir, RECOVERY_POINT_FILE, segment.base_offset()).await?;
        }
        for later in doomed.iter().rev() {
            later.retire().await?;
            remove_segment_files(&self.dir, vec![later.base_offset()]).await?;
            sync_dir(&self.dir).await?;
        }
        let file = segment.file().await?;
        file.truncate(segment.size())
            .await
            .map_err(|e| LogError::glommio(segment.path(), e))?;
        file.fdatasync()
            .await
            .map_err(|e| LogError::glommio(segment.path(), e))?;
        {
            let mut state = self.state.borrow_mut();
            if state.log_end_offset == end {
                // The fdatasync covered the whole active segment.
                state.synced_offset = end;
                state.unsynced_since = None;
            }
        }
        if self.log_start_offset_below_checkpoint(end)? {
            write_i64_file(&self.dir, LOG_START_OFFSET_FILE, end).await?;
        }
        if cleaner_moved {
            write_i64_file(&self.dir, CLEANER_CHECKPOINT_FILE, end).await?;
        }
        Ok(())
    }

    /// The body of `PartitionLog::truncate_fully_and_start_at`; the caller
    /// set `truncating`.
    async fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), LogError> {
        assert!(self.state.borrow().truncating);
        assert!(offset >= 0);
        self.settle().await?;
        self.remove_clean_marker().await?;
        write_i64_file(&self.dir, LOG_START_OFFSET_FILE, offset).await?;
        let doomed: Vec<Rc<Segment>> = self.state.borrow().segments.clone();
        for old in doomed.iter().rev() {
            old.retire().await?;
            remove_segment_files(&self.dir, vec![old.base_offset()]).await?;
            sync_dir(&self.dir).await?;
        }
        let segment = Rc::new(Segment::create(&self.dir, offset).await?);
        sync_dir(&self.dir).await?;
        write_i64_file(&self.dir, RECOVERY_POINT_FILE, offset).await?;
        {
            let mut state = self.state.borrow_mut();
            assert!(state.is_flushed(), "a settled log has nothing to write");
            assert!(state.append_ends.is_empty());
            state.segments = vec![segment];
            state.buffer = WriteBuffer::new(self.tuning.write_buffer_bytes, 0, &[]);
            state.preallocated_end = 0;
            state.room_wanted = false;
            state.log_start_offset = offset;
            state.log_end_offset = offset;
            state.written_offset = offset;
            state.synced_offset = offset;
            state.durable_end_offset = offset;
            state.unsynced_since = None;
            state.truncations += 1;
            state.tail = TailCache::new(self.tuning.tail_cache_bytes);
            state.max_timestamp = None;
        }
        self.read_ahead.forget();
        self.cleaner_checkpoint.set(offset);
        self.durable_waiters.notify_all();
        crate::log_changes::log_changed();
        write_i64_file(&self.dir, CLEANER_CHECKPOINT_FILE, offset).await?;
        Ok(())
    }

    /// Whether the persisted log start offset lies above `end` (a truncation
    /// moved the log start back to it).
    fn log_start_offset_below_checkpoint(&self, end: i64) -> Result<bool, LogError> {
        let persisted = read_i64_file(&self.dir.join(LOG_START_OFFSET_FILE))?;
        Ok(persisted.is_some_and(|start| start > end))
    }

    /// Puts the outcome of cleaning `old` in its place: swaps a cleaned copy
    /// in, deletes an emptied segment (keeps the first one, empty, so the
    /// log start stays put). If `old` left the log meanwhile (retention,
    /// DeleteRecords), the cleaned copy is discarded.
    async fn swap_in(&self, old: &Rc<Segment>, outcome: SegmentOutcome) -> Result<(), LogError> {
        let base = old.base_offset();
        let outcome = match outcome {
            SegmentOutcome::Unchanged => return Ok(()),
            SegmentOutcome::Empty if self.slot_of(old) == Some(0) => {
                // Keep the first segment as an empty file: write it like any
                // cleaned copy so the swap stays one protocol.
                let empty = Segment::create_cleaned(&self.dir, base).await?;
                empty
                    .file()
                    .await?
                    .fdatasync()
                    .await
                    .map_err(|e| LogError::glommio(empty.path(), e))?;
                empty
                    .write_indexes_as("index.cleaned", "timeindex.cleaned")
                    .await?;
                SegmentOutcome::Cleaned(empty)
            }
            other => other,
        };
        self.remove_clean_marker().await?;
        // Readers holding the old segment must not reopen its name once
        // the cleaned copy (or nothing) has it.
        old.retire().await?;
        // No await from here on: the check and the swap are one step. A
        // segment a truncation made active again (cut, appended to) is no
        // longer the one cleaned.
        let sealed = |slot: &usize| slot + 1 < self.state.borrow().segments.len();
        let Some(slot) = self.slot_of(old).filter(sealed) else {
            compaction::recover_swaps(&self.dir)?;
            return Ok(());
        };
        match outcome {
            SegmentOutcome::Cleaned(cleaned) => {
                compaction::commit_swap(&self.dir, base)?;
                cleaned.swapped_in();
                let mut state = self.state.borrow_mut();
                // The tail cache may still hold this segment's batches from
                // when it was active; they must not outlive the swap.
                state.tail.clear();
                assert!(Rc::ptr_eq(&state.segments[slot], old));
                assert!(slot + 1 < state.segments.len(), "never the active segment");
                state.segments[slot] = Rc::new(cleaned);
            }
            SegmentOutcome::Empty => {
                // Out of the log before any await (`slot` holds only until
                // then); a crash before the unlink leaves an empty segment
                // file, which the next open lists harmlessly.
                {
                    let mut state = self.state.borrow_mut();
                    assert!(slot > 0 && slot + 1 < state.segments.len());
                    state.tail.clear();
                    state.segments.remove(slot);
                }
                remove_segment_files(&self.dir, vec![base]).await?;
                sync_dir(&self.dir).await?;
            }
            SegmentOutcome::Unchanged => unreachable!("returned above"),
        }
        Ok(())
    }

    /// Where `segment` is in the log, if it still is.
    fn slot_of(&self, segment: &Rc<Segment>) -> Option<usize> {
        self.state
            .borrow()
            .segments
            .iter()
            .position(|s| Rc::ptr_eq(s, segment))
    }

    /// Unlinks the files of sealed segments whose offset range (up to the
    /// next segment's base) ends at or below `offset`.
    async fn delete_segments_below(&self, offset: i64) -> Result<(), LogError> {
        let doomed: Vec<Rc<Segment>> = {
            let mut state = self.state.borrow_mut();
            // A segment covers offsets up to the next one's base (its own
            // next offset may be lower: compaction removed its last batches),
            // so it goes only when that whole range is below `offset`.
            let keep_from = state
                .segments
                .windows(2)
                .position(|pair| pair[1].base_offset() > offset)
                .unwrap_or(state.segments.len() - 1);
            let doomed: Vec<Rc<Segment>> = state.segments.drain(..keep_from).collect();
            if !doomed.is_empty() {
                state.max_timestamp = state
                    .segments
                    .iter()
                    .filter_map(|s| s.max_timestamp())
                    .fold(None, newer_max);
            }
            doomed
        };
        for segment in &doomed {
            segment.retire().await?;
        }
        let delay_ms = self.config.get().file_delete_delay_ms;
        let bases: Vec<i64> = doomed.iter().map(|s| s.base_offset()).collect();
        if delay_ms == 0 {
            remove_segment_files(&self.dir, bases).await?;
        } else if !bases.is_empty() {
            // Kafka's asynchronous delete: renamed now (readers holding the
            // files keep reading them), removed after `file.delete.delay.ms`;
            // a crash before then leaves `.deleted` files that the next open
            // removes. Both steps run on the blocking pool.
            let dir = self.dir.clone();
            let renamed = off_shard(move || mark_segments_deleted(&dir, &bases)).await?;
            let delay = std::time::Duration::from_millis(delay_ms.unsigned_abs());
            glommio::spawn_local(async move {
                glommio::timer::sleep(delay).await;
                off_shard(move || {
                    for path in renamed {
                        if let Err(error) = remove_if_present(&path) {
                            tracing::warn!(%error, path = %path.display(), "could not remove a deleted segment file; the next start removes it");
                        }
                    }
                })
                .await;
            })
            .detach();
        }
        if !doomed.is_empty() {
            sync_dir(&self.dir).await?;
        }
        Ok(())
    }

    /// Issues one direct-IO write of the pending bytes — closed when
    /// appends wait for room, so another flusher can issue the next write
    /// while this one is in flight — and, once it and every earlier write
    /// are done, advances the written offset and, for `none`/`interval`,
    /// the durable end offset.
    async fn write_once(&self) -> Result<(), LogError> {
        self.preallocate().await;
        let (write, segment, id) = {
            let mut guard = self.state.borrow_mut();
            let state = &mut *guard;
            if !state.can_issue_write() {
                return Ok(());
            }
            let segment = state.active().clone();
            let closed = state.room_wanted;
            let Some(write) = state.buffer.take_for_write(closed) else {
                return Ok(());
            };
            state.room_wanted = false;
            let id = state.next_write_id;
            state.next_write_id += 1;
            assert!(state.in_flight.len() < MAX_WRITES_IN_FLIGHT);
            state.in_flight.push_back(InFlightWrite {
                id,
                end_position: write.end_position,
                closed: write.closed,
                done: false,
            });
            (write, segment, id)
        };
        self.admission_waiters.notify_all();
        let expected = write.head.as_ref().map_or(0, |head| head.len()) + write.buffer.len();
        let outcome = match segment.file().await {
            Ok(file) => {
                let result = match write.head {
                    None => file.write_at(write.buffer, write.position).await,
                    Some(head) => {
                        let body_position = write.position + head.len() as u64;
                        let (head, body) = futures_lite::future::zip(
                            file.write_at(head, write.position),
                            file.write_at(write.buffer, body_position),
                        )
                        .await;
                        head.and_then(|a| body.map(|b| a + b))
                    }
                };
                match result {
                    Ok(written) if written == expected => Ok(()),
                    Ok(_) => Err(LogError::io(
                        segment.path(),
                        std::io::Error::new(std::io::ErrorKind::WriteZero, "short direct-IO write"),
                    )),
                    Err(error) => Err(LogError::glommio(segment.path(), error)),
                }
            }
            Err(error) => Err(error),
        };
        let policy = self.config.get().flush_policy;
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        let slot = state
            .in_flight
            .iter()
            .position(|write| write.id == id)
            .expect("a write stays in flight until it completes");
        if let Err(error) = outcome {
            // The log is poisoned by the caller; nothing after this write
            // will be accounted.
            state.in_flight.remove(slot);
            return Err(error);
        }
        state.in_flight[slot].done = true;
        // Account the completed prefix of the writes, in issue order.
        let mut written_to = None;
        while state.in_flight.front().is_some_and(|write| write.done) {
            let write = state.in_flight.pop_front().expect("checked");
            while let Some(&(end, next_offset)) = state.append_ends.front() {
                if end > write.end_position {
                    break;
                }
                state.append_ends.pop_front();
                written_to = Some((end, next_offset));
            }
        }
        let advanced = if let Some((end, next_offset)) = written_to {
            segment.set_written_bytes(end);
            assert!(
                next_offset >= state.written_offset,
                "written offset went back"
            );
            state.written_offset = next_offset;
            state.unsynced_since.get_or_insert_with(Instant::now);
            let before = state.durable_end_offset;
            state.advance_durable_end_offset(policy);
            state.durable_end_offset > before
        } else {
            false
        };
        drop(guard);
        // The syncer and the other flusher wait on the same list.
        self.flusher_wake.notify_all();
        if advanced {
            self.notify_durable_end();
            crate::log_changes::log_changed();
        }
        self.durable_waiters_if_idle();
        Ok(())
    }

    /// Extends the active segment's file ahead of the next write (see
    /// `LogTuning::preallocate_bytes`). A failure (a filesystem without
    /// `fallocate`, a full disk) only turns preallocation off for this
    /// segment: the writes then extend the file themselves, and a full disk
    /// fails them.
    async fn preallocate(&self) {
        let segment_bytes = self.config.get().segment_bytes;
        let (segment, to) = {
            let mut state = self.state.borrow_mut();
            let Some(to) = state.start_preallocation(self.tuning.preallocate_bytes, segment_bytes)
            else {
                return;
            };
            (state.active().clone(), to)
        };
        let result = match segment.file().await {
            Ok(file) => file
                .pre_allocate(to, false)
                .await
                .map_err(|e| LogError::glommio(segment.path(), e)),
            Err(error) => Err(error),
        };
        let mut state = self.state.borrow_mut();
        state.preallocating = false;
        match result {
            Ok(()) => state.preallocated_end = to,
            Err(error) => {
                tracing::warn!(path = ?segment.path(), %error, "cannot preallocate the active segment; writes extend it instead");
                state.preallocated_end = u64::MAX;
            }
        }
        drop(state);
        // The other flusher may be waiting for the extension to end.
        self.flusher_wake.notify_all();
        self.durable_waiters_if_idle();
    }

    /// Wakes `drain` when nothing is pending or in flight.
    fn durable_waiters_if_idle(&self) {
        let idle = {
            let state = self.state.borrow();
            state.is_flushed()
        };
        if idle {
            self.notify_durable_end();
        }
    }

    /// Wakes the durable waiters the durable end offset has passed, and the
    /// plain ones (drain, settle, close) to re-check their conditions.
    fn notify_durable_end(&self) {
        let end = self.state.borrow().durable_end_offset;
        self.durable_waiters.notify_passed(end);
    }

    /// fdatasyncs the active segment, covering every write completed before
    /// it starts (group commit), and advances the durable end offset.
    async fn sync_once(&self) -> Result<(), LogError> {
        let (segment, target, truncations) = {
            let state = self.state.borrow();
            (
                state.active().clone(),
                state.written_offset,
                state.truncations,
            )
        };
        let started = Instant::now();
        segment
            .file()
            .await?
            .fdatasync()
            .await
            .map_err(|e| LogError::glommio(segment.path(), e))?;
        crate::log_stats::record_fsync(started.elapsed());
        let policy = self.config.get().flush_policy;
        let mut state = self.state.borrow_mut();
        if state.truncations != truncations {
            // A truncation cut what this fdatasync was for (and synced what
            // it kept): nothing to account.
            return Ok(());
        }
        state.synced_offset = state.synced_offset.max(target);
        if state.synced_offset == state.written_offset {
            state.unsynced_since = None;
        }
        state.advance_durable_end_offset(policy);
        drop(state);
        self.notify_durable_end();
        crate::log_changes::log_changed();
        Ok(())
    }

    /// Whether the syncer has an fdatasync to do now, and if not, when the
    /// next `interval` one falls due.
    fn sync_due(&self) -> (bool, Option<Instant>) {
        let state = self.state.borrow();
        if state.written_offset <= state.synced_offset {
            return (false, None);
        }
        match self.config.get().flush_policy {
            FlushPolicy::Batch => (true, None),
            FlushPolicy::None => (false, None),
            FlushPolicy::Interval { ms } => {
                let deadline = state
                    .unsynced_since
                    .map(|since| since + Duration::from_millis(ms));
                (deadline.is_some_and(|d| d <= Instant::now()), deadline)
            }
        }
    }
}

/// A flusher task: [`MAX_WRITES_IN_FLIGHT`] per log, on the log's shard;
/// each writes the buffer whenever bytes are pending and a write may be
/// issued (see `State::can_issue_write`). Exits when the log is closed,
/// dropped or poisoned.
async fn run_flusher(inner: Rc<Inner>) {
    loop {
        inner
            .flusher_wake
            .wait_until(|| inner.is_stopped() || inner.state.borrow().can_issue_write())
            .await;
        if inner.is_stopped() {
            return;
        }
        if let Err(error) = inner.write_once().await {
            tracing::error!(%error, "partition log write failed");
            inner.poison();
            return;
        }
    }
}

/// The syncer task: one per log; fdatasyncs written bytes as the flush
/// policy asks — at once under `batch` (overlapping the flusher's next
/// write), within `ms` under `interval:<ms>`, never under `none`.
async fn run_syncer(inner: Rc<Inner>) {
    loop {
        let stop_or_due = || inner.is_stopped() || inner.sync_due().0;
        match inner.sync_due().1 {
            None => inner.flusher_wake.wait_until(stop_or_due).await,
            Some(deadline) => {
                let wait = deadline.saturating_duration_since(Instant::now());
                futures_lite::future::or(inner.flusher_wake.wait_until(stop_or_due), async {
                    glommio::timer::sleep(wait).await;
                })
                .await;
            }
        }
        if inner.is_stopped() {
            return;
        }
        if !inner.sync_due().0 {
            continue;
        }
        if let Err(error) = inner.sync_once().await {
            tracing::error!(%error, "partition log fdatasync failed");
            inner.poison();
            return;
        }
    }
}

/// The read-ahead task: one per log; reads the window a sequential reader
/// will want next (see `ReadAhead`). Exits when the log is closed, dropped
/// or poisoned.
async fn run_read_ahead(inner: Rc<Inner>) {
    inner.read_ahead.run(|| inner.is_stopped()).await;
}

/// Validates every batch of a Produce record set; returns (batches, records).
/// Kafka's `message.timestamp.before.max.ms` / `after.max.ms` for
/// `CreateTime` topics, checked on the headers of `records` (validated), so
/// the records are never decoded: a batch's first timestamp must not be
/// older than `before` and its largest not newer than `after`. Records whose
/// timestamp is -1 (none) and control batches are not checked, as in Kafka.
fn check_timestamps(records: &[u8], now_ms: i64, config: &LogConfig) -> Result<(), AppendError> {
    let mut position = 0;
    while position < records.len() {
        let header = BatchHeader::read(&records[position..]).expect("validated");
        let total = usize::try_from(header.total_bytes()).expect("validated");
        assert!(total > 0);
        if !header.is_control() {
            let first = header.base_timestamp.get();
            let max = header.max_timestamp.get();
            let earliest = now_ms.saturating_sub(config.message_timestamp_before_max_ms);
            let latest = now_ms.saturating_add(config.message_timestamp_after_max_ms);
            let out_of_bounds = if first >= 0 && first < earliest {
                Some((first, config.message_timestamp_before_max_ms, "before"))
            } else if max >= 0 && max > latest {
                Some((max, config.message_timestamp_after_max_ms, "after"))
            } else {
                None
            };
            if let Some((timestamp, bound_ms, direction)) = out_of_bounds {
                return Err(AppendError::InvalidTimestamp {
                    position,
                    timestamp,
                    now_ms,
                    bound_ms,
                    direction,
                });
            }
        }
        position += total;
    }
    Ok(())
}

fn validate_records(records: &[u8], max_message_bytes: u32) -> Result<(usize, u32), AppendError> {
    if records.is_empty() {
        return Err(AppendError::Empty);
    }
    let mut position = 0;
    let mut batches = 0;
    let mut record_count: u32 = 0;
    while position < records.len() {
        let rest = &records[position..];
        let total =
            batch::validate(rest, max_message_bytes as usize).map_err(|fault| match fault {
                BatchFault::Truncated => AppendError::CorruptBatch {
                    position,
                    reason: "batch shorter than its batchLength",
                },
                BatchFault::Corrupt(reason) => AppendError::CorruptBatch { position, reason },
                BatchFault::TooLarge { size } => AppendError::BatchTooLarge {
                    size,
                    max: max_message_bytes,
                },
            })?;
        let header = BatchHeader::read(rest).expect("validated");
        let count = u32::try_from(header.records_count.get()).expect("validated positive");
        record_count = record_count
            .checked_add(count)
            .ok_or(AppendError::CorruptBatch {
                position,
                reason: "record count overflows",
            })?;
        batches += 1;
        position += total;
    }
    assert_eq!(position, records.len());
    Ok((batches, record_count))
}

/// The offsets and records of a validated replicated record set.
#[derive(Debug, Clone, Copy)]
struct ReplicatedShape {
    base_offset: i64,
    last_offset: i64,
    record_count: u32,
}

/// Validates every batch of a follower's record set (see
/// `PartitionLog::append_replicated`): whole v2 batches with good CRCs, no
/// size limit, a compacted batch's short record count allowed, offsets
/// increasing from batch to batch (gaps allowed: compacted on the leader)
/// and within the relative range a segment can index.
fn validate_replicated(records: &[u8]) -> Result<ReplicatedShape, ReplicaAppendError> {
    if records.is_empty() {
        return Err(AppendError::Empty.into());
    }
    let mut position = 0;
    let mut shape: Option<ReplicatedShape> = None;
    while position < records.len() {
        let rest = &records[position..];
        let total = batch::validate_stored(rest, usize::MAX).map_err(|fault| {
            let reason = match fault {
                BatchFault::Truncated => "batch shorter than its batchLength",
                BatchFault::Corrupt(reason) => reason,
                BatchFault::TooLarge { .. } => "bad batch length",
            };
            AppendError::CorruptBatch { position, reason }
        })?;
        let header = BatchHeader::read(rest).expect("validated");
        let base_offset = header.base_offset.get();
        let last_offset = header.last_offset();
        if base_offset < 0 || last_offset < base_offset {
            return Err(AppendError::CorruptBatch {
                position,
                reason: "base offset negative or past the last offset",
            }
            .into());
        }
        let count = u32::try_from(header.records_count.get()).expect("validated positive");
        shape =
            Some(match shape {
                None => ReplicatedShape {
                    base_offset,
                    last_offset,
                    record_count: count,
                },
                Some(previous) => {
                    if base_offset <= previous.last_offset {
                        return Err(ReplicaAppendError::OffsetMismatch {
                            position,
                            expected: previous.last_offset + 1,
                            found: base_offset,
                        });
                    }
                    let record_count = previous.record_count.checked_add(count).ok_or(
                        AppendError::CorruptBatch {
                            position,
                            reason: "record count overflows",
                        },
                    )?;
                    ReplicatedShape {
                        last_offset,
                        record_count,
                        ..previous
                    }
                }
            });
        position += total;
    }
    assert_eq!(position, records.len());
    let shape = shape.expect("records not empty");
    if shape.last_offset - shape.base_offset > i64::from(u32::MAX) {
        return Err(AppendError::CorruptBatch {
            position: 0,
            reason: "offsets span more than one segment can index",
        }
        .into());
    }
    Ok(shape)
}

/// Within the batch `bytes` (max timestamp >= target), the answer to a
/// timestamp lookup, never below `start`.
fn match_in_batch(bytes: &[u8], header: &BatchHeader, target_ms: i64, start: i64) -> (i64, i64) {
    let base = header.base_offset.get();
    let batch_answer = (base.max(start), header.max_timestamp.get());
    if header.is_log_append_time() || header.is_compressed() {
        return batch_answer;
    }
    match batch::first_record_at_or_after(bytes, target_ms) {
        Some((offset, timestamp)) if offset >= start => (offset, timestamp),
        // The match lies below the log start (DeleteRecords cut this batch):
        // answer with the first offset still in the log.
        Some(_) | None => batch_answer,
    }
}

/// The segment holding `offset`: the last whose base offset is <= it.
fn segment_for(segments: &[Rc<Segment>], offset: i64) -> &Rc<Segment> {
    let count = segments.partition_point(|s| s.base_offset() <= offset);
    &segments[count.saturating_sub(1)]
}

/// Reads whole batches of `segment` from the one holding `offset`; see
/// `PartitionLog::read`. Returns the bytes pushed to `out`. A read that
/// continues the log's last disk read takes the window read ahead for it
/// and asks for the next one (see `ReadAhead`).
async fn read_segment(
    segment: &Rc<Segment>,
    read_ahead: &ReadAhead,
    offset: i64,
    max_bytes: usize,
    bound: i64,
    index_interval_bytes: u64,
    out: &mut Vec<LogChunk>,
) -> Result<usize, LogError> {
    let limit = segment.written_bytes();
    let continued = read_ahead.continuation(segment, offset);
    let (indexed_offset, mut position) = match continued {
        Some(position) => (offset, position),
        None => segment.lookup(offset),
    };
    // The index is a hint: an entry that does not point at the batch it
    // names (a damaged index file) sends the read back to the segment start.
    let mut check_entry = continued.is_none() && position > 0;
    let mut needed = (max_bytes as u64).max(index_interval_bytes);
    loop {
        if position >= limit {
            return Ok(0);
        }
        let window = match read_ahead.take(segment, position).await {
            Some(window) => window,
            None => segment.read_window(position, needed).await?,
        };
        // Only bytes below the written size are batches; the rest of the
        // last page is padding or bytes being appended right now.
        let bytes = window.batch_bytes(limit);
        if check_entry {
            check_entry = false;
            let valid = BatchHeader::read(bytes).is_some_and(|h| {
                h.magic == batch::MAGIC_V2 && h.base_offset.get() == indexed_offset
            });
            if !valid {
                tracing::warn!(path = ?segment.path(), position, "offset index entry disagrees with the log; scanning");
                position = 0;
                continue;
            }
        }
        let run =
            find_run(bytes, offset, max_bytes, bound).map_err(|bad| LogError::CorruptSegment {
                path: segment.path().to_path_buf(),
                position: position + bad.at as u64,
                reason: "bad batch length or magic on read",
            })?;
        match run {
            ReadRun::Batches {
                start,
                len,
                next_offset,
            } => {
                let chunk = ReadResult::slice(&window.read, window.skip + start, len)
                    .expect("run lies within the read");
                out.push(LogChunk::Disk(chunk));
                let next_position = position + (start + len) as u64;
                read_ahead.note_end(
                    segment,
                    continued.is_some(),
                    (next_offset, next_position),
                    needed,
                    max_bytes,
                );
                return Ok(len);
            }
            ReadRun::CutOff { at, batch_bytes } => {
                let at = position + at as u64;
                match batch_bytes {
                    Some(total) => needed = needed.max(total as u64),
                    None if at < limit => {}
                    None => return Ok(0),
                }
                position = at;
            }
            ReadRun::Nothing => return Ok(0),
        }
    }
}

/// Makes a segment durable and exact: fdatasync, truncate the aligned
/// padding, write its indexes.
async fn seal(segment: &Segment) -> Result<(), LogError> {
    let file = segment.file().await?;
    let path = segment.path();
    file.fdatasync()
        .await
        .map_err(|e| LogError::glommio(path, e))?;
    file.truncate(segment.size())
        .await
        .map_err(|e| LogError::glommio(path, e))?;
    file.fdatasync()
        .await
        .map_err(|e| LogError::glommio(path, e))?;
    segment.write_indexes().await
}

/// Opens the segments named by `bases`, recovering those that need it, and
/// deleting any that follow a segment cut short by recovery. Any segment,
/// the active one too, may have gaps between its batches: compaction makes
/// them, and a follower copies its leader's.
async fn open_segments(
    dir: &Path,
    bases: &[i64],
    clean: bool,
    recovery_point: i64,
    index_interval_bytes: u32,
) -> Result<Vec<Rc<Segment>>, LogError> {
    let mut segments: Vec<Rc<Segment>> = Vec::with_capacity(bases.len());
    for (slot, &base) in bases.iter().enumerate() {
        let segment = Segment::open(dir, base).await?;
        let next_base = bases.get(slot + 1).copied();
        let mut cut = false;
        match next_base {
            None if clean => {
                segment.load_tail(index_interval_bytes).await?;
            }
            None => {
                segment.recover(index_interval_bytes).await?;
                // The recovered bytes were written but maybe not synced.
                segment
                    .file()
                    .await?
                    .fdatasync()
                    .await
                    .map_err(|e| LogError::glommio(segment.path(), e))?;
            }
            Some(next) => {
                let trusted = (clean || base < recovery_point) && segment.load_indexes(next)?;
                if !trusted {
                    let truncated_bytes = segment.recover(index_interval_bytes).await?;
                    segment.write_indexes().await?;
                    cut = truncated_bytes > 0;
                }
            }
        }
        // A sealed segment may end before the next base (compaction removed
        // its last batches) but never past it; one that recovery cut is
        // followed by nothing we can trust.
        let cut_short = cut || next_base.is_some_and(|next| segment.next_offset() > next);
        segments.push(Rc::new(segment));
        if cut_short {
            tracing::warn!(
                ?dir,
                base,
                "segment cut short by recovery; deleting the segments after it"
            );
            remove_segment_files(dir, bases[slot + 1..].to_vec()).await?;
            sync_dir(dir).await?;
            break;
        }
    }
    Ok(segments)
}

/// Unlinks the `.log`, `.index` and `.timeindex` files of the segments at
/// `base_offsets` (readers holding a log file open keep reading it), on the
/// blocking pool: unlinking a large file frees its extents, which can take
/// milliseconds.
async fn remove_segment_files(dir: &Path, base_offsets: Vec<i64>) -> Result<(), LogError> {
    let dir = dir.to_path_buf();
    off_shard(move || {
        for base_offset in base_offsets {
            for extension in ["log", "index", "timeindex"] {
                let path = segment::segment_file_path(&dir, base_offset, extension);
                remove_if_present(&path).map_err(|e| LogError::io(&path, e))?;
            }
        }
        Ok(())
    })
    .await
}

/// Unlinks `path`; one that is already gone is not an error.
fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Removes a deleted partition's directory `dir`: at once when `delay_ms`
/// is 0, else Kafka's delayed delete — renamed to
/// `<topic>-<p>.<uuid>-delete` at once (a re-created topic finds its name
/// free; readers holding its files keep reading) and removed `delay_ms`
/// later. The log directories' start-up scan removes one a crash left. Must
/// run inside a glommio executor (the delayed removal is a task there).
///
/// # Errors
/// IO failures of the removal or the rename.
pub async fn remove_partition_dir(dir: &Path, delay_ms: i64) -> Result<(), LogError> {
    // The removal and the rename run on the blocking pool: removing a
    // partition unlinks all its segment files.
    let owned = dir.to_path_buf();
    let parent = dir.parent().filter(|_| delay_ms > 0);
    let (Some(parent), Some(name)) = (parent, dir.file_name()) else {
        return off_shard(move || {
            std::fs::remove_dir_all(&owned).map_err(|e| LogError::io(&owned, e))
        })
        .await;
    };
    let mut doomed = name.to_os_string();
    doomed.push(format!(".{}-delete", uuid::Uuid::new_v4().simple()));
    let doomed = parent.join(doomed);
    let target = doomed.clone();
    off_shard(move || std::fs::rename(&owned, &target).map_err(|e| LogError::io(&owned, e)))
        .await?;
    sync_dir(parent).await?;
    let delay = std::time::Duration::from_millis(delay_ms.unsigned_abs());
    glommio::spawn_local(async move {
        glommio::timer::sleep(delay).await;
        off_shard(move || {
            if let Err(error) = std::fs::remove_dir_all(&doomed) {
                tracing::warn!(%error, path = %doomed.display(), "could not remove a deleted partition; the next start removes it");
            }
        })
        .await;
    })
    .detach();
    Ok(())
}

/// The suffix of a segment file deleted by retention and waiting for
/// `file.delete.delay.ms` (Kafka's name).
const DELETED_SUFFIX: &str = ".deleted";

/// Renames the `.log`, `.index` and `.timeindex` files of the segments at
/// `base_offsets` to `<name>.deleted`, returning the new paths of the files
/// that existed. Blocking: run it through `off_shard`.
fn mark_segments_deleted(dir: &Path, base_offsets: &[i64]) -> Result<Vec<PathBuf>, LogError> {
    let mut renamed = Vec::with_capacity(base_offsets.len() * 3);
    for &base_offset in base_offsets {
        for extension in ["log", "index", "timeindex"] {
            let path = segment::segment_file_path(dir, base_offset, extension);
            let mut target = path.clone().into_os_string();
            target.push(DELETED_SUFFIX);
            let target = PathBuf::from(target);
            match std::fs::rename(&path, &target) {
                Ok(()) => renamed.push(target),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(&path, e)),
            }
        }
    }
    Ok(renamed)
}

/// What `open` reads from a partition's directory before it opens the
/// segments, in one pass on the blocking pool (`off_shard`): the directory
/// is created if missing, a compaction swap a crash interrupted is finished,
/// `.deleted` files a crash left are removed, the checkpoints and the
/// segment files are read, and a directory without segments (a new log)
/// gets the clean-shutdown marker.
struct DirScan {
    /// The clean-shutdown marker is present (the segments need no recovery).
    clean: bool,
    recovery_point: i64,
    start_checkpoint: i64,
    cleaner_checkpoint: i64,
    /// Some `.deleted` files went (the directory needs an fsync).
    removed_deleted: bool,
    /// Base offsets of the `.log` files, ascending.
    bases: Vec<i64>,
}

impl DirScan {
    /// Blocking: run it through `off_shard`.
    fn read(dir: &Path) -> Result<DirScan, LogError> {
        std::fs::create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
        let checkpoint = |name| Ok::<_, LogError>(read_i64_file(&dir.join(name))?.unwrap_or(0));
        let marker = dir.join(CLEAN_SHUTDOWN_FILE);
        let mut clean = marker.exists();
        let recovery_point = checkpoint(RECOVERY_POINT_FILE)?;
        let start_checkpoint = checkpoint(LOG_START_OFFSET_FILE)?;
        let cleaner_checkpoint = checkpoint(CLEANER_CHECKPOINT_FILE)?;
        compaction::recover_swaps(dir)?;
        let removed_deleted = remove_deleted_files(dir)?;
        let bases = list_segment_bases(dir)?;
        if bases.is_empty() && !clean {
            // A new (or emptied) log is clean: its first change removes the
            // marker, and an idle one closes without writing. `open` syncs
            // the directory when it creates the first segment.
            std::fs::File::create(&marker).map_err(|e| LogError::io(&marker, e))?;
            clean = true;
        }
        Ok(DirScan {
            clean,
            recovery_point,
            start_checkpoint,
            cleaner_checkpoint,
            removed_deleted,
            bases,
        })
    }
}

/// Removes the `.deleted` files a crash left before their delay ran out.
/// Returns whether any went.
fn remove_deleted_files(dir: &Path) -> Result<bool, LogError> {
    let mut removed = false;
    for entry in std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(DELETED_SUFFIX))
        {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| LogError::io(&path, e))?;
            removed = true;
        }
    }
    Ok(removed)
}

/// Base offsets of the `.log` files in `dir`, ascending.
fn list_segment_bases(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        if let Some(base) = entry.file_name().to_str().and_then(parse_log_file_name) {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// The bytes from `align_down(end)` to `end` of the active segment.
async fn read_partial_page(segment: &Segment, end: u64) -> Result<Vec<u8>, LogError> {
    let start = align_down(end);
    if start == end {
        return Ok(Vec::new());
    }
    let SegmentWindow { read, skip, .. } = segment.read_window(start, end - start).await?;
    assert_eq!(skip, 0);
    let len = usize::try_from(end - start).expect("within a page");
    if read.len() < len {
        let source = std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "short read of the last page",
        );
        return Err(LogError::io(segment.path(), source));
    }
    Ok(read[..len].to_vec())
}

/// The larger-timestamp of two (timestamp, offset) pairs; ties keep `a`.
fn newer_max(a: Option<(i64, i64)>, b: (i64, i64)) -> Option<(i64, i64)> {
    match a {
        Some(a) if a.0 >= b.0 => Some(a),
        _ => Some(b),
    }
}

/// Writes a decimal i64 to `dir/name` atomically (temp file, rename, dir
/// fsync), on the shard's io_uring.
async fn write_i64_file(dir: &Path, name: &str, value: i64) -> Result<(), LogError> {
    replace_file(dir, name, value.to_string().as_bytes()).await
}

/// Reads a decimal i64 from `path`; `None` if absent or unreadable as one.
fn read_i64_file(path: &Path) -> Result<Option<i64>, LogError> {
    Ok(
        read_optional(path)?
            .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.trim().parse().ok()),
    )
}
