//! Key-based log compaction (`cleanup.policy=compact`), as Kafka's log
//! cleaner does it, simply: keep the latest record of every key in the
//! sealed segments. Invariants: offsets are never renumbered (a cleaned
//! batch keeps its `baseOffset` and `lastOffsetDelta`); retained records are
//! byte-identical but for a timestamp delta a delete horizon re-encodes;
//! nothing at or past the last stable offset and never the active segment
//! is touched; a crash at any
//! moment leaves each segment either wholly old or wholly cleaned.
//!
//! # One pass
//!
//! 1. *Plan.* The sealed segments from the cleaner checkpoint (the first
//!    offset not yet compacted) up to the first segment younger than
//!    `min.compaction.lag.ms` or reaching the last stable offset (a segment
//!    that may hold an undecided transaction is never cleaned) are *dirty*;
//!    the sealed ones before the checkpoint are *clean*. A pass runs when
//!    dirty bytes are at least `min.cleanable.dirty.ratio` of all sealed
//!    bytes, or the oldest dirty segment is older than `max.compaction.lag.ms`.
//! 2. *Offset map.* Scanning the dirty segments builds key → latest offset
//!    (keys are hashed to 128 bits, two SipHash passes, as Kafka keys its
//!    map by MD5; at most [`OFFSET_MAP_ENTRIES_MAX`] keys, and the pass
//!    stops at the last dirty segment that fit whole). Records of aborted
//!    transactions, of control batches and of compressed batches (the
//!    engine does not decompress) add no key.
//! 3. *Clean.* Every segment from the log start to the end of the mapped
//!    range is rewritten with Kafka's `LogCleaner` rules ([`clean_batch`];
//!    transactions are followed by a [`TxnTracker`] over what the
//!    partition's owner knows of them, a [`CleanerTxns`]): batches of
//!    aborted transactions go; a keyed record goes if its key maps to a
//!    larger offset, or it is a tombstone past its batch's delete horizon;
//!    a transaction marker stays while its transaction has data and goes
//!    once its delete horizon has passed; keyless records stay (Kafka
//!    refuses them at produce time on compacted topics); records of
//!    compressed batches stay. A batch that loses every record disappears,
//!    unless it holds its producer's last record (its header then stays,
//!    empty, so the producer's epoch and sequence survive); one that loses
//!    some is re-encoded with the retained records' bytes, `recordsCount`,
//!    a recomputed `maxTimestamp` and CRC. A segment that changes is
//!    written beside the original and swapped in; one left empty is deleted
//!    (except the first, kept empty so the log start stays where it was).
//!
//! # The swap
//!
//! The cleaned copy is written as `<base>.log.cleaned` with
//! `<base>.index.cleaned` and `<base>.timeindex.cleaned`, fdatasynced, then
//! renamed, in this order: the indexes to `.swap`, the log to `.log.swap`
//! (the commit point), the indexes over the originals, the log over the
//! original. `recover_swaps`, run before a log opens, completes the renames
//! when `<base>.log.swap` exists (the copy is whole) and otherwise deletes
//! every `.cleaned`/`.swap` file (the originals are untouched until the
//! commit point). Readers holding the old `Segment` keep reading the old
//! file through its open handle.
//!
//! # Delete horizons (KIP-534)
//!
//! The first pass that keeps a tombstone, or a marker whose transaction has
//! no data left, writes a delete horizon into its batch: `now +
//! delete.retention.ms` in `baseTimestamp`, flagged by attribute bit 6,
//! every record's timestamp delta re-encoded so timestamps do not change (a
//! batch may grow by a few bytes). A later pass at or after the horizon
//! removes the tombstone or the marker, so a consumer that reads the log
//! within `delete.retention.ms` of the cleaner's first sight still sees it.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};
use std::path::Path;
use std::rc::Rc;

use zerocopy::FromBytes;

use crate::batch::{self, BatchHeader, CRC_COVERAGE_START, HEADER_BYTES, LOG_OVERHEAD};
use crate::cleaned_txns::{CleanerTxns, TxnTracker};
use crate::config::LogConfig;
use crate::error::LogError;
use crate::record::{RecordFault, Records};
use crate::segment::{align_down, align_up, segment_file_path, ScanEnd, Segment, Visit};

/// Largest number of keys in one pass's offset map (about 40 bytes each).
pub const OFFSET_MAP_ENTRIES_MAX: usize = 4 << 20;

/// Bytes of cleaned batches gathered before a direct-IO write.
const WRITE_CHUNK_BYTES: usize = 1 << 20;

/// The file renames of a swap, in commit order; the third is the commit
/// point. Extensions are relative to `<base>.`.
pub const SWAP_RENAMES: [(&str, &str); 6] = [
    ("index.cleaned", "index.swap"),
    ("timeindex.cleaned", "timeindex.swap"),
    ("log.cleaned", "log.swap"),
    ("index.swap", "index"),
    ("timeindex.swap", "timeindex"),
    ("log.swap", "log"),
];

/// Renames before this index prepare; from it on the swap is committed.
const SWAP_COMMIT: usize = 3;

const _: () = assert!(SWAP_COMMIT < SWAP_RENAMES.len());

/// 128-bit hash of a record key.
type KeyHash = u128;

fn key_hash(key: &[u8]) -> KeyHash {
    let half = |salt: u8| {
        let mut hasher = DefaultHasher::new();
        hasher.write_u8(salt);
        hasher.write(key);
        hasher.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// Key → offset of its latest record in the dirty range. Lives on: the
/// shard running the pass; dropped when the pass ends.
#[derive(Debug, Default)]
pub struct OffsetMap {
    latest: HashMap<KeyHash, i64>,
    capacity: usize,
}

impl OffsetMap {
    /// An empty map holding at most `capacity` keys.
    pub fn with_capacity(capacity: usize) -> OffsetMap {
        assert!(capacity > 0, "an offset map needs room for a key");
        OffsetMap {
            latest: HashMap::new(),
            capacity,
        }
    }

    /// Records that `key`'s record at `offset` is its latest so far.
    /// Returns false (and changes nothing) if the key is new and the map
    /// is full.
    ///
    /// # Panics
    /// If `offset` is below the key's recorded offset (scans go forward).
    pub fn insert(&mut self, key: &[u8], offset: i64) -> bool {
        let hash = key_hash(key);
        if let Some(latest) = self.latest.get_mut(&hash) {
            assert!(offset > *latest, "offset map fed out of order");
            *latest = offset;
            return true;
        }
        if self.latest.len() >= self.capacity {
            return false;
        }
        self.latest.insert(hash, offset);
        true
    }

    /// The latest offset of `key`, if it is in the map.
    pub fn latest(&self, key: &[u8]) -> Option<i64> {
        self.latest.get(&key_hash(key)).copied()
    }

    /// Keys in the map.
    pub fn len(&self) -> usize {
        self.latest.len()
    }
}

/// The segments one pass works on.
#[derive(Debug)]
pub struct CleanPlan {
    /// Sealed segments from the log start through the dirty range.
    pub segments: Vec<Rc<Segment>>,
    /// Index in `segments` of the first dirty segment.
    pub first_dirty: usize,
}

/// Decides whether a pass is due and over which segments.
///
/// `sealed` are the log's sealed segments in order; `next_bases[i]` is the
/// base offset of the segment after `sealed[i]` (the active one for the
/// last); `checkpoint` is the first offset not yet compacted;
/// `last_stable_offset` bounds the cleanable range (Kafka's first
/// uncleanable offset): a segment holding an offset at or past it, which
/// may belong to a transaction not decided yet, is never cleaned.
pub fn plan(
    sealed: &[Rc<Segment>],
    next_bases: &[i64],
    checkpoint: i64,
    last_stable_offset: i64,
    config: &LogConfig,
    now_ms: i64,
) -> Option<CleanPlan> {
    assert_eq!(sealed.len(), next_bases.len());
    let first_dirty = next_bases.partition_point(|&next| next <= checkpoint);
    let lag_horizon = now_ms.saturating_sub(config.min_compaction_lag_ms);
    // The dirty range ends before the first segment holding a record younger
    // than min.compaction.lag.ms, or an offset not below the last stable
    // offset.
    let dirty_end = first_dirty
        + sealed[first_dirty..]
            .iter()
            .zip(&next_bases[first_dirty..])
            .take_while(|(s, &next)| {
                next <= last_stable_offset
                    && s.max_timestamp().is_none_or(|(max, _)| max <= lag_horizon)
            })
            .count();
    if dirty_end == first_dirty {
        return None;
    }
    assert!(next_bases[dirty_end - 1] <= last_stable_offset);
    let bytes = |segments: &[Rc<Segment>]| -> u64 { segments.iter().map(|s| s.size()).sum() };
    let dirty_bytes = bytes(&sealed[first_dirty..dirty_end]);
    let total_bytes = bytes(&sealed[..dirty_end]);
    let ratio_met = total_bytes > 0
        && dirty_bytes as f64 >= config.min_cleanable_dirty_ratio * total_bytes as f64;
    let overdue = sealed[first_dirty]
        .max_timestamp()
        .is_some_and(|(max, _)| now_ms.saturating_sub(max) > config.max_compaction_lag_ms);
    if dirty_bytes == 0 || !(ratio_met || overdue) {
        return None;
    }
    Some(CleanPlan {
        segments: sealed[..dirty_end].to_vec(),
        first_dirty,
    })
}

/// The end of a scan of `segment`, or the error for bytes it found that do
/// not decode: `fault` from the visitor (records) or an invalid batch.
fn checked_scan(
    segment: &Segment,
    end: ScanEnd,
    fault: Option<(u64, RecordFault)>,
) -> Result<ScanEnd, LogError> {
    if let Some((position, fault)) = fault {
        return Err(LogError::CorruptRecords {
            path: segment.path().to_path_buf(),
            position,
            fault,
        });
    }
    let (position, reason) = match end {
        ScanEnd::Complete | ScanEnd::Stopped { .. } => return Ok(end),
        ScanEnd::Zeroed { position } => (position, "zeroes where a batch should start"),
        ScanEnd::Invalid { position, reason } => (position, reason),
    };
    Err(LogError::CorruptSegment {
        path: segment.path().to_path_buf(),
        position,
        reason,
    })
}

/// Scans `segments` in order into `map`, following transactions with
/// `txns` (made for the first segment's base offset): control batches and
/// batches of aborted transactions add no key, and neither do compressed
/// batches (the engine does not decompress them, so an older value they
/// supersede stays; a reader still sees the newer one last). Returns how
/// many segments went in whole (a segment that overflowed the map is not
/// counted, though some of its keys may be in the map: they point at later
/// records, so acting on them is still right).
///
/// # Errors
/// `CorruptSegment` for bytes that do not decode; IO failures.
pub async fn build_offset_map(
    segments: &[Rc<Segment>],
    map: &mut OffsetMap,
    txns: &mut TxnTracker,
) -> Result<usize, LogError> {
    for (mapped, segment) in segments.iter().enumerate() {
        let mut fault: Option<(u64, RecordFault)> = None;
        let mut full = false;
        let end = segment
            .scan_from(0, true, |position, bytes| {
                let header = BatchHeader::read(bytes).expect("scan hands out whole batches");
                if header.is_control() {
                    txns.on_control_batch(bytes);
                    return Visit::Continue;
                }
                if txns.on_batch(header) || header.is_compressed() {
                    return Visit::Continue;
                }
                let base_offset = header.base_offset.get();
                let records = match Records::new(bytes) {
                    Ok(records) => records,
                    Err(error) => {
                        fault = Some((position, error));
                        return Visit::Stop;
                    }
                };
                for record in records {
                    match record {
                        Ok(record) => {
                            let Some(key) = record.key else { continue };
                            if !map.insert(key, base_offset + record.offset_delta) {
                                full = true;
                                return Visit::Stop;
                            }
                        }
                        Err(error) => {
                            fault = Some((position, error));
                            return Visit::Stop;
                        }
                    }
                }
                Visit::Continue
            })
            .await?;
        let end = checked_scan(segment, end, fault)?;
        if full {
            return Ok(mapped);
        }
        assert_eq!(end, ScanEnd::Complete, "a map scan stops only when full");
    }
    Ok(segments.len())
}

/// What one pass keeps, beside its offset map and transaction tracker.
#[derive(Debug, Clone, Copy)]
pub struct Retention<'a> {
    /// When the pass started (ms since the epoch): a delete horizon at or
    /// before it has passed.
    pub now_ms: i64,
    /// `delete.retention.ms`: how long tombstones and the markers of
    /// transactions without data stay once the cleaner has first seen them
    /// removable (the delete horizon it writes is `now_ms` plus this).
    pub delete_retention_ms: i64,
    /// The partition's transactional facts (the last record of every
    /// active producer is kept, at least as an empty batch).
    pub txns: &'a CleanerTxns,
}

impl Retention<'_> {
    /// The delete horizon a batch gets when the cleaner first finds a
    /// tombstone or a removable marker in it.
    fn new_delete_horizon_ms(&self) -> i64 {
        self.now_ms.saturating_add(self.delete_retention_ms)
    }
}

/// What cleaning one batch produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchOutcome {
    /// Kept as it is: the batch was copied.
    Kept,
    /// Some records (or only its header) kept, or a delete horizon set: a
    /// new batch was written.
    Rewritten,
    /// Nothing kept: nothing was written.
    Dropped,
}

/// Appends to `out` the cleaned form of the whole, validated batch `batch`,
/// with Kafka's `LogCleaner` rules (`checkBatchRetention`,
/// `shouldRetainRecord`, `MemoryRecords.filterTo`):
///
/// * A batch of an aborted transaction loses every record; a marker whose
///   transaction has no data left loses its record once its delete horizon
///   has passed (the first pass to see it removable writes the horizon).
/// * Other data records: a keyed record goes if its key maps to a later
///   offset, or if it is a tombstone whose batch's delete horizon has
///   passed (a batch keeping a tombstone without a horizon gets one).
///   Keyless records stay (Kafka refuses them at produce time). Records of
///   compressed batches are not decoded and stay.
/// * A batch left without records disappears, unless it holds its
///   producer's last record: then its header stays, empty.
///
/// # Errors
/// The record fault if its records do not decode (nothing is appended).
fn clean_batch(
    batch: &[u8],
    map: &OffsetMap,
    txns: &mut TxnTracker,
    retention: Retention<'_>,
    out: &mut Vec<u8>,
) -> Result<BatchOutcome, RecordFault> {
    let header = BatchHeader::read(batch).expect("a validated batch");
    let control = header.is_control();
    let discardable = if control {
        txns.on_control_batch(batch)
    } else {
        txns.on_batch(header)
    };
    let horizon = header.delete_horizon_ms();
    let discard_records = if control {
        discardable && horizon.is_some_and(|horizon| horizon <= retention.now_ms)
    } else {
        discardable
    };
    let retain_empty = retention.txns.is_last_of_producer(header);
    let start = out.len();
    if discard_records {
        if !retain_empty {
            return Ok(BatchOutcome::Dropped);
        }
        batch::write_empty(header, out);
        return Ok(if out[start..] == *batch {
            BatchOutcome::Kept
        } else {
            BatchOutcome::Rewritten
        });
    }
    if header.records_count.get() == 0 {
        // Emptied by an earlier pass: kept only while it holds its
        // producer's last record.
        if !retain_empty {
            return Ok(BatchOutcome::Dropped);
        }
        out.extend_from_slice(batch);
        return Ok(BatchOutcome::Kept);
    }
    if header.is_compressed() {
        out.extend_from_slice(batch);
        return Ok(BatchOutcome::Kept);
    }
    let marker_of_empty_txn = control && discardable;
    let base_offset = header.base_offset.get();
    let base_timestamp = header.base_timestamp.get();
    let log_append_time = header.is_log_append_time();
    let timestamp_of = |delta: i64| {
        if log_append_time {
            header.max_timestamp.get()
        } else {
            base_timestamp.saturating_add(delta)
        }
    };
    // First pass over the records: which stay.
    let mut kept: i32 = 0;
    let mut total: i32 = 0;
    let mut tombstones = false;
    let mut keep = Vec::new();
    for record in Records::new(batch)? {
        let record = record?;
        total += 1;
        let offset = base_offset + record.offset_delta;
        let retained = control
            || match record.key {
                None => true,
                Some(key) => {
                    let superseded = map.latest(key).is_some_and(|latest| latest > offset);
                    let deletes_retained = horizon.is_none_or(|horizon| retention.now_ms < horizon);
                    !superseded && (!record.value_is_null || deletes_retained)
                }
            };
        keep.push(retained);
        if retained {
            kept += 1;
            tombstones |= record.value_is_null && !control;
        }
    }
    assert_eq!(total, header.records_count.get());
    if kept == 0 {
        if !retain_empty {
            return Ok(BatchOutcome::Dropped);
        }
        batch::write_empty(header, out);
        return Ok(BatchOutcome::Rewritten);
    }
    let set_horizon = (tombstones || marker_of_empty_txn) && horizon.is_none();
    if kept == total && !set_horizon {
        out.extend_from_slice(batch);
        return Ok(BatchOutcome::Kept);
    }
    // Second pass: write the retained records. Offsets are kept (the header
    // keeps baseOffset and lastOffsetDelta, so the producer's last sequence
    // survives); a new delete horizon becomes the base timestamp, so every
    // record's timestamp delta is re-encoded against it.
    let new_base_timestamp = if set_horizon {
        retention.new_delete_horizon_ms()
    } else {
        base_timestamp
    };
    out.extend_from_slice(&batch[..HEADER_BYTES]);
    let mut max_timestamp = i64::MIN;
    for (record, retained) in Records::new(batch)?.zip(keep) {
        let record = record?;
        if !retained {
            continue;
        }
        let timestamp = timestamp_of(record.timestamp_delta);
        max_timestamp = max_timestamp.max(timestamp);
        if set_horizon {
            let delta = timestamp.saturating_sub(new_base_timestamp);
            record.encode_with_timestamp_delta(delta, out);
        } else {
            out.extend_from_slice(record.encoded);
        }
    }
    let new_batch = &mut out[start..];
    let batch_length = i32::try_from(new_batch.len() - LOG_OVERHEAD).expect("no larger than 2 GiB");
    {
        let (new_header, _) =
            BatchHeader::mut_from_prefix(&mut *new_batch).expect("header copied above");
        new_header.batch_length.set(batch_length);
        new_header.records_count.set(kept);
        if set_horizon {
            let attributes = new_header.attributes.get() | batch::ATTR_DELETE_HORIZON;
            new_header.attributes.set(attributes);
            new_header.base_timestamp.set(new_base_timestamp);
        }
        if !log_append_time {
            new_header.max_timestamp.set(max_timestamp);
        }
    }
    let crc = crc32c::crc32c(&new_batch[CRC_COVERAGE_START..]);
    let (new_header, _) = BatchHeader::mut_from_prefix(&mut *new_batch).expect("header");
    new_header.crc.set(crc);
    debug_assert!(batch::validate_stored(new_batch, usize::MAX).is_ok());
    Ok(BatchOutcome::Rewritten)
}

/// What cleaning a segment produced.
#[derive(Debug)]
pub enum SegmentOutcome {
    /// Nothing to remove: the segment stays as it is.
    Unchanged,
    /// A cleaned copy, written and fsynced as `<base>.*.cleaned`, ready for
    /// [`commit_swap`]. Its bookkeeping (indexes, size, next offset) is loaded.
    Cleaned(Segment),
    /// Every record was removed (no `.cleaned` file is left).
    Empty,
}

/// Cleans `segment` against `map`, following transactions with `txns`
/// (left as they are after the segment): first a read-only pass, on a copy
/// of `txns`, to see whether anything changes, then the rewrite into
/// `<base>.log.cleaned`.
///
/// # Errors
/// `CorruptSegment` for bytes that do not decode; IO failures (a partial
/// `.cleaned` file may remain; `recover_swaps` removes it).
pub async fn clean_segment(
    dir: &Path,
    segment: &Segment,
    map: &OffsetMap,
    txns: &mut TxnTracker,
    retention: Retention<'_>,
    index_interval_bytes: u32,
) -> Result<SegmentOutcome, LogError> {
    let mut trial = txns.clone();
    let mut scratch = Vec::new();
    let mut changed = false;
    let mut any_kept = false;
    let mut fault = None;
    let end = segment
        .scan_from(0, true, |position, bytes| {
            scratch.clear();
            match clean_batch(bytes, map, &mut trial, retention, &mut scratch) {
                Ok(BatchOutcome::Kept) => any_kept = true,
                Ok(BatchOutcome::Rewritten) => {
                    any_kept = true;
                    changed = true;
                }
                Ok(BatchOutcome::Dropped) => changed = true,
                Err(error) => {
                    fault = Some((position, error));
                    return Visit::Stop;
                }
            }
            Visit::Continue
        })
        .await?;
    checked_scan(segment, end, fault)?;
    if !changed {
        *txns = trial;
        return Ok(SegmentOutcome::Unchanged);
    }
    if !any_kept {
        *txns = trial;
        return Ok(SegmentOutcome::Empty);
    }
    let mut writer =
        CleanedWriter::create(dir, segment.base_offset(), index_interval_bytes).await?;
    let mut position = 0;
    loop {
        let mut fault = None;
        let end = segment
            .scan_from(position, true, |at, bytes| {
                if writer.pending.len() >= WRITE_CHUNK_BYTES {
                    return Visit::Stop;
                }
                let start = writer.pending.len();
                match clean_batch(bytes, map, txns, retention, &mut writer.pending) {
                    Ok(BatchOutcome::Dropped) => {}
                    Ok(BatchOutcome::Kept | BatchOutcome::Rewritten) => writer.track(start),
                    Err(error) => {
                        fault = Some((at, error));
                        return Visit::Stop;
                    }
                }
                Visit::Continue
            })
            .await?;
        let end = checked_scan(segment, end, fault)?;
        writer.write_aligned().await?;
        match end {
            ScanEnd::Complete => break,
            ScanEnd::Stopped { position: at } => {
                assert!(at >= position, "the scan went back");
                position = at;
            }
            ScanEnd::Zeroed { .. } | ScanEnd::Invalid { .. } => {
                unreachable!("checked_scan refuses it")
            }
        }
    }
    let cleaned = writer.finish().await?;
    // A segment may grow: a delete horizon re-encodes timestamp deltas.
    assert!(cleaned.next_offset() <= segment.next_offset());
    Ok(SegmentOutcome::Cleaned(cleaned))
}

/// Writes a cleaned segment through aligned direct-IO writes.
struct CleanedWriter {
    segment: Segment,
    /// Bytes not yet written, starting at file position `written`.
    pending: Vec<u8>,
    written: u64,
    index_interval_bytes: u32,
}

impl CleanedWriter {
    async fn create(
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u32,
    ) -> Result<CleanedWriter, LogError> {
        Ok(CleanedWriter {
            segment: Segment::create_cleaned(dir, base_offset).await?,
            pending: Vec::with_capacity(WRITE_CHUNK_BYTES),
            written: 0,
            index_interval_bytes,
        })
    }

    /// Records the batch just appended to `pending` at `start`.
    fn track(&mut self, start: usize) {
        let bytes = &self.pending[start..];
        let header = BatchHeader::read(bytes).expect("a whole batch");
        let position = self.written + start as u64;
        self.segment.on_batch(
            position,
            header,
            bytes.len() as u64,
            self.index_interval_bytes,
        );
        assert_eq!(
            self.segment.size(),
            self.written + self.pending.len() as u64
        );
    }

    /// Writes the whole pages of `pending`.
    async fn write_aligned(&mut self) -> Result<(), LogError> {
        let aligned = usize::try_from(align_down(self.pending.len() as u64)).expect("fits");
        self.write(aligned, aligned).await
    }

    /// Writes the first `len` pending bytes as `size` bytes (zero padded).
    async fn write(&mut self, len: usize, size: usize) -> Result<(), LogError> {
        if size == 0 {
            return Ok(());
        }
        assert!(len <= size && len <= self.pending.len());
        let file = self.segment.file().await?;
        let mut buffer = file.alloc_dma_buffer(size);
        buffer.as_bytes_mut()[..len].copy_from_slice(&self.pending[..len]);
        buffer.as_bytes_mut()[len..].fill(0);
        let path = segment_file_path(self.dir(), self.segment.base_offset(), "log.cleaned");
        let written = file
            .write_at(buffer, self.written)
            .await
            .map_err(|e| LogError::glommio(&path, e))?;
        if written != size {
            let source =
                std::io::Error::new(std::io::ErrorKind::WriteZero, "short direct-IO write");
            return Err(LogError::io(&path, source));
        }
        self.pending.drain(..len);
        self.written += len as u64;
        Ok(())
    }

    fn dir(&self) -> &Path {
        self.segment
            .path()
            .parent()
            .expect("segment path has a directory")
    }

    /// Writes the rest, cuts the padding, fdatasyncs, writes the indexes.
    async fn finish(mut self) -> Result<Segment, LogError> {
        let len = self.pending.len();
        let size = usize::try_from(align_up(len as u64)).expect("fits");
        self.write(len, size).await?;
        assert!(self.pending.is_empty());
        let end = self.segment.size();
        assert_eq!(end, self.written);
        let path = segment_file_path(self.dir(), self.segment.base_offset(), "log.cleaned");
        let file = self.segment.file().await?;
        file.truncate(end)
            .await
            .map_err(|e| LogError::glommio(&path, e))?;
        file.fdatasync()
            .await
            .map_err(|e| LogError::glommio(&path, e))?;
        self.segment.set_written_bytes(end);
        self.segment
            .write_indexes_as("index.cleaned", "timeindex.cleaned")
            .await?;
        Ok(self.segment)
    }
}

/// Renames the cleaned files of the segment at `base_offset` over the
/// originals (see the module docs), with a directory fsync after the commit
/// point and at the end.
///
/// # Errors
/// IO failures. Before the commit point the originals are intact; after it,
/// `recover_swaps` finishes the job at the next open.
pub fn commit_swap(dir: &Path, base_offset: i64) -> Result<(), LogError> {
    for (step, (from, to)) in SWAP_RENAMES.iter().enumerate() {
        rename(dir, base_offset, from, to)?;
        if step + 1 == SWAP_COMMIT || step + 1 == SWAP_RENAMES.len() {
            sync_dir(dir)?;
        }
    }
    Ok(())
}

fn rename(dir: &Path, base_offset: i64, from: &str, to: &str) -> Result<(), LogError> {
    let from = segment_file_path(dir, base_offset, from);
    let to = segment_file_path(dir, base_offset, to);
    std::fs::rename(&from, &to).map_err(|e| LogError::io(&from, e))
}

/// Completes or discards every swap a crash interrupted in `dir`: with
/// `<base>.log.swap` present the remaining renames are done; otherwise every
/// `.cleaned` and `.swap` file goes. Run before the segments are listed.
///
/// # Errors
/// IO failures.
pub fn recover_swaps(dir: &Path) -> Result<(), LogError> {
    let mut committed = Vec::new();
    let mut leftovers = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if let Some(base) = name
            .strip_suffix(".log.swap")
            .and_then(|digits| digits.parse::<i64>().ok())
        {
            committed.push(base);
        } else if name.ends_with(".cleaned") || name.ends_with(".swap") {
            leftovers.push(entry.path());
        }
    }
    if committed.is_empty() && leftovers.is_empty() {
        return Ok(());
    }
    for &base in &committed {
        for (from, to) in &SWAP_RENAMES[SWAP_COMMIT..] {
            let source = segment_file_path(dir, base, from);
            if source.exists() {
                rename(dir, base, from, to)?;
            }
        }
        tracing::warn!(
            ?dir,
            base,
            "completed a compaction swap interrupted by a crash"
        );
    }
    for path in leftovers {
        // A committed segment's index `.swap` files were renamed above.
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::warn!(?path, "removed a compaction file left by a crash"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LogError::io(&path, e)),
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{patch_offset_and_epoch, validate_stored};
    use crate::cleaned_txns::{AbortedRange, ProducerLastRecord};
    use crate::test_batch::BatchBuilder;

    fn at(offset: i64, builder: BatchBuilder) -> Vec<u8> {
        let mut batch = builder.build();
        patch_offset_and_epoch(&mut batch, offset, 0);
        batch
    }

    #[test]
    fn offset_map_keeps_the_latest_offset_and_respects_its_capacity() {
        let mut map = OffsetMap::with_capacity(2);
        assert!(map.insert(b"a", 1));
        assert!(map.insert(b"b", 2));
        assert!(map.insert(b"a", 5));
        assert!(!map.insert(b"c", 6), "a full map refuses a new key");
        assert_eq!(map.latest(b"a"), Some(5));
        assert_eq!(map.latest(b"b"), Some(2));
        assert_eq!(map.latest(b"c"), None);
        assert_eq!(map.len(), 2);
    }

    #[test]
    #[should_panic(expected = "out of order")]
    fn offset_map_refuses_going_back() {
        let mut map = OffsetMap::with_capacity(4);
        map.insert(b"a", 5);
        map.insert(b"a", 4);
    }

    #[test]
    fn key_hashes_differ_for_prefixes_and_near_misses() {
        assert_ne!(key_hash(b"ab"), key_hash(b"a"));
        assert_ne!(key_hash(b"ab"), key_hash(b"ba"));
        assert_ne!(key_hash(b""), key_hash(b"\0"));
    }

    /// Cleans `batch` at `now_ms` (delete.retention.ms 1 000) with a fresh
    /// transaction tracker over `aborted` and the producers' last records
    /// of `txns`; returns the outcome and what was written.
    fn clean(
        batch: &[u8],
        map: &OffsetMap,
        tracker: &mut TxnTracker,
        txns: &CleanerTxns,
        now_ms: i64,
    ) -> (BatchOutcome, Vec<u8>) {
        let retention = Retention {
            now_ms,
            delete_retention_ms: 1_000,
            txns,
        };
        let mut out = Vec::new();
        let outcome = clean_batch(batch, map, tracker, retention, &mut out).expect("decodes");
        (outcome, out)
    }

    fn clean_plain(batch: &[u8], map: &OffsetMap, now_ms: i64) -> (BatchOutcome, Vec<u8>) {
        let txns = CleanerTxns::non_transactional();
        clean(batch, map, &mut TxnTracker::default(), &txns, now_ms)
    }

    fn records(batch: &[u8]) -> Vec<crate::record::RecordView<'_>> {
        Records::new(batch)
            .expect("ok")
            .map(|r| r.expect("ok"))
            .collect()
    }

    fn aborted(producer_id: i64, first_offset: i64, last_offset: i64) -> AbortedRange {
        AbortedRange {
            producer_id,
            first_offset,
            last_offset,
        }
    }

    #[test]
    fn clean_batch_keeps_latest_records_byte_identical_with_offsets() {
        let batch = at(
            100,
            BatchBuilder::new(1_000)
                .record(b"a", b"a1", 0)
                .record(b"b", b"b1", 1)
                .record(b"a", b"a2", 2)
                .record(b"", b"nokey", 3),
        );
        let mut map = OffsetMap::with_capacity(8);
        map.insert(b"a", 102);
        map.insert(b"b", 150);
        let (outcome, out) = clean_plain(&batch, &map, 0);
        assert_eq!(outcome, BatchOutcome::Rewritten);
        assert_eq!(validate_stored(&out, usize::MAX), Ok(out.len()));
        let header = BatchHeader::read(&out).expect("header");
        assert_eq!(header.base_offset.get(), 100);
        assert_eq!(header.last_offset(), 103, "lastOffsetDelta is kept");
        assert_eq!(header.records_count.get(), 2);
        assert_eq!(header.max_timestamp.get(), 1_003);
        let original = records(&batch);
        let kept = records(&out);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0], original[2], "a2 byte-identical at offset delta 2");
        assert_eq!(kept[1], original[3], "the keyless record is kept");
    }

    #[test]
    fn clean_batch_copies_untouched_drops_empty_and_skips_compressed() {
        let mut map = OffsetMap::with_capacity(8);
        map.insert(b"a", 10);
        let old = at(5, BatchBuilder::new(0).record(b"a", b"old", 0));
        assert_eq!(
            clean_plain(&old, &map, 0),
            (BatchOutcome::Dropped, Vec::new())
        );
        let latest = at(10, BatchBuilder::new(0).record(b"a", b"new", 0));
        assert_eq!(clean_plain(&latest, &map, 0), (BatchOutcome::Kept, latest));
        let compressed = at(
            5,
            BatchBuilder::new(0).record(b"a", b"old", 0).compression(1),
        );
        assert_eq!(
            clean_plain(&compressed, &map, 0),
            (BatchOutcome::Kept, compressed)
        );
    }

    #[test]
    fn a_tombstone_gets_a_delete_horizon_and_goes_only_after_it() {
        let batch = at(
            7,
            BatchBuilder::new(5_000)
                .record(b"b", b"kept", 0)
                .tombstone(b"a", 20),
        );
        let mut map = OffsetMap::with_capacity(8);
        map.insert(b"a", 8);
        // The first pass keeps it and writes the horizon: now + 1 000.
        let (outcome, first) = clean_plain(&batch, &map, 9_000);
        assert_eq!(outcome, BatchOutcome::Rewritten);
        let header = BatchHeader::read(&first).expect("header");
        assert_eq!(header.delete_horizon_ms(), Some(10_000));
        assert_eq!(header.base_timestamp.get(), 10_000);
        assert_eq!(header.max_timestamp.get(), 5_020);
        assert_eq!(header.last_offset(), 8);
        let kept = records(&first);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].timestamp_delta, -5_000, "timestamps are kept");
        assert_eq!(kept[1].timestamp_delta, -4_980);
        assert!(kept[1].value_is_null);
        // Before the horizon nothing changes; at it the tombstone goes.
        assert_eq!(
            clean_plain(&first, &map, 9_999),
            (BatchOutcome::Kept, first.clone())
        );
        let (outcome, after) = clean_plain(&first, &map, 10_000);
        assert_eq!(outcome, BatchOutcome::Rewritten);
        let kept = records(&after);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].key, Some(&b"b"[..]));
        assert_eq!(
            BatchHeader::read(&after).expect("h").delete_horizon_ms(),
            Some(10_000)
        );
    }

    #[test]
    fn a_batch_whose_records_do_not_decode_is_an_error_and_writes_nothing() {
        let mut batch = at(0, BatchBuilder::new(0).record(b"a", b"v", 0));
        batch.push(0);
        let length = i32::try_from(batch.len() - LOG_OVERHEAD).expect("small");
        batch[8..12].copy_from_slice(&length.to_be_bytes());
        let mut out = vec![1, 2, 3];
        let map = OffsetMap::with_capacity(1);
        let txns = CleanerTxns::non_transactional();
        let retention = Retention {
            now_ms: 0,
            delete_retention_ms: 0,
            txns: &txns,
        };
        let mut tracker = TxnTracker::default();
        assert!(clean_batch(&batch, &map, &mut tracker, retention, &mut out).is_err());
        assert_eq!(out, vec![1, 2, 3]);
    }

    #[test]
    fn aborted_transactional_batches_are_removed_and_committed_ones_compacted_by_key() {
        // Producer 7 aborts [10, 11] (marker 12); producer 8 commits [13]
        // (marker 14), overwriting key a.
        let txns = CleanerTxns {
            last_stable_offset: 100,
            aborted: vec![aborted(7, 10, 12)],
            producers: HashMap::new(),
        };
        let mut map = OffsetMap::with_capacity(8);
        map.insert(b"a", 13);
        let mut tracker = TxnTracker::new(&txns.aborted, 0);
        let aborted_batch = at(
            10,
            BatchBuilder::new(0)
                .record(b"a", b"aborted", 0)
                .record(b"z", b"aborted", 0)
                .producer(7, 0, 0)
                .transactional(),
        );
        assert_eq!(
            clean(&aborted_batch, &map, &mut tracker, &txns, 0),
            (BatchOutcome::Dropped, Vec::new())
        );
        let older = at(
            5,
            BatchBuilder::new(0)
                .record(b"a", b"old", 0)
                .producer(8, 0, 0)
                .transactional(),
        );
        // (An older committed value of a, read out of order here only to
        // show committed transactional records are compacted by key.)
        assert_eq!(
            clean(&older, &map, &mut tracker, &txns, 0).0,
            BatchOutcome::Dropped
        );
        let abort_marker = at(12, BatchBuilder::marker(7, 0, false));
        let (outcome, kept) = clean(&abort_marker, &map, &mut tracker, &txns, 0);
        assert_eq!(outcome, BatchOutcome::Kept, "its transaction had data");
        assert_eq!(kept, abort_marker);
        let committed = at(
            13,
            BatchBuilder::new(0)
                .record(b"a", b"new", 0)
                .producer(8, 0, 1)
                .transactional(),
        );
        assert_eq!(
            clean(&committed, &map, &mut tracker, &txns, 0),
            (BatchOutcome::Kept, committed.clone())
        );
        let commit_marker = at(14, BatchBuilder::marker(8, 0, true));
        assert_eq!(
            clean(&commit_marker, &map, &mut tracker, &txns, 0),
            (BatchOutcome::Kept, commit_marker.clone()),
            "kept while its transaction has data"
        );
        assert!(tracker.emptied_aborts().is_empty());
    }

    #[test]
    fn a_marker_without_data_gets_a_delete_horizon_and_goes_after_it() {
        let txns = CleanerTxns {
            last_stable_offset: 100,
            aborted: vec![aborted(7, 10, 12)],
            producers: HashMap::new(),
        };
        let map = OffsetMap::with_capacity(8);
        let abort_marker = at(12, BatchBuilder::marker(7, 0, false));
        let mut tracker = TxnTracker::new(&txns.aborted, 0);
        let (outcome, with_horizon) = clean(&abort_marker, &map, &mut tracker, &txns, 50_000);
        assert_eq!(outcome, BatchOutcome::Rewritten);
        assert_eq!(tracker.emptied_aborts(), &[12]);
        let header = BatchHeader::read(&with_horizon).expect("header");
        assert_eq!(header.delete_horizon_ms(), Some(51_000));
        assert_eq!(header.records_count.get(), 1);
        assert!(header.is_control() && header.is_transactional());
        assert_eq!(records(&with_horizon)[0].key, records(&abort_marker)[0].key);
        // Before the horizon it stays as it is; at the horizon it goes.
        for (now_ms, expected) in [
            (50_999, BatchOutcome::Kept),
            (51_000, BatchOutcome::Dropped),
        ] {
            let mut tracker = TxnTracker::new(&txns.aborted, 0);
            let (outcome, _) = clean(&with_horizon, &map, &mut tracker, &txns, now_ms);
            assert_eq!(outcome, expected, "at {now_ms}");
        }
        // A commit marker whose transaction's records were all compacted.
        let commit_marker = at(20, BatchBuilder::marker(8, 0, true));
        let mut tracker = TxnTracker::new(&[], 0);
        let (outcome, with_horizon) = clean(&commit_marker, &map, &mut tracker, &txns, 0);
        assert_eq!(outcome, BatchOutcome::Rewritten);
        let mut tracker = TxnTracker::new(&[], 0);
        assert_eq!(
            clean(&with_horizon, &map, &mut tracker, &txns, 1_000).0,
            BatchOutcome::Dropped
        );
    }

    #[test]
    fn the_last_batch_of_a_producer_stays_as_an_empty_batch() {
        let mut txns = CleanerTxns {
            last_stable_offset: 100,
            aborted: vec![aborted(7, 10, 12)],
            producers: HashMap::new(),
        };
        txns.producers.insert(
            7,
            ProducerLastRecord {
                last_data_offset: Some(11),
                producer_epoch: 2,
            },
        );
        let map = OffsetMap::with_capacity(8);
        let last = at(
            10,
            BatchBuilder::new(0)
                .record(b"a", b"aborted", 0)
                .record(b"b", b"aborted", 0)
                .producer(7, 2, 40)
                .transactional(),
        );
        let mut tracker = TxnTracker::new(&txns.aborted, 0);
        let (outcome, empty) = clean(&last, &map, &mut tracker, &txns, 0);
        assert_eq!(outcome, BatchOutcome::Rewritten);
        assert_eq!(empty.len(), HEADER_BYTES);
        let header = BatchHeader::read(&empty).expect("header");
        assert_eq!(header.records_count.get(), 0);
        assert_eq!(header.base_offset.get(), 10);
        assert_eq!(header.last_offset(), 11);
        assert_eq!(header.producer_id.get(), 7);
        assert_eq!(header.producer_epoch.get(), 2);
        assert_eq!(header.base_sequence.get(), 40);
        assert!(header.is_transactional());
        // An empty batch stays while it is the producer's last, then goes.
        let mut tracker = TxnTracker::new(&txns.aborted, 0);
        assert_eq!(
            clean(&empty, &map, &mut tracker, &txns, 0),
            (BatchOutcome::Kept, empty.clone())
        );
        txns.producers.insert(
            7,
            ProducerLastRecord {
                last_data_offset: Some(30),
                producer_epoch: 2,
            },
        );
        let mut tracker = TxnTracker::new(&txns.aborted, 0);
        assert_eq!(
            clean(&empty, &map, &mut tracker, &txns, 0).0,
            BatchOutcome::Dropped
        );
        // A marker after the producer's last data batch is its last record.
        txns.producers.insert(
            9,
            ProducerLastRecord {
                last_data_offset: None,
                producer_epoch: 0,
            },
        );
        let marker = at(40, BatchBuilder::marker(9, 0, true));
        let mut tracker = TxnTracker::new(&[], 0);
        let (_, with_horizon) = clean(&marker, &map, &mut tracker, &txns, 0);
        let mut tracker = TxnTracker::new(&[], 0);
        let (outcome, kept) = clean(&with_horizon, &map, &mut tracker, &txns, 5_000);
        assert_eq!(outcome, BatchOutcome::Rewritten);
        assert_eq!(BatchHeader::read(&kept).expect("h").records_count.get(), 0);
    }
}
