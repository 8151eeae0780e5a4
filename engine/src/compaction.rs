//! Key-based log compaction (`cleanup.policy=compact`), as Kafka's log
//! cleaner does it, simply: keep the latest record of every key in the
//! sealed segments. Invariants: offsets are never renumbered (a cleaned
//! batch keeps its `baseOffset` and `lastOffsetDelta`); retained records are
//! byte-identical; the active segment is never touched; a crash at any
//! moment leaves each segment either wholly old or wholly cleaned.
//!
//! # One pass
//!
//! 1. *Plan.* The sealed segments from the cleaner checkpoint (the first
//!    offset not yet compacted) up to the first segment younger than
//!    `min.compaction.lag.ms` are *dirty*; the sealed ones before the
//!    checkpoint are *clean*. A pass runs when dirty bytes are at least
//!    `min.cleanable.dirty.ratio` of all sealed bytes, or the oldest dirty
//!    segment is older than `max.compaction.lag.ms`.
//! 2. *Offset map.* Scanning the dirty segments builds key → latest offset
//!    (keys are hashed to 128 bits, two SipHash passes, as Kafka keys its
//!    map by MD5; at most [`OFFSET_MAP_ENTRIES_MAX`] keys, and the pass
//!    stops at the last dirty segment that fit whole).
//! 3. *Clean.* Every segment from the log start to the end of the mapped
//!    range is rewritten, keeping a record unless its key maps to a larger
//!    offset, or it is a tombstone (null value) whose timestamp is more than
//!    `delete.retention.ms` in the past. Records without a key are kept
//!    (Kafka refuses them at produce time on compacted topics). Compressed,
//!    control and transactional batches are copied untouched: the engine
//!    does not decompress, and does not know which transactions aborted,
//!    so their keys neither enter the map nor lose records —
//!    a newer compressed value still wins for a reader, older ones stay.
//!    A batch that loses every record disappears; one that loses some is
//!    re-encoded with the retained records' bytes, `recordsCount`, a
//!    recomputed `maxTimestamp` and CRC. A segment that changes is written
//!    beside the original and swapped in; one left empty is deleted
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
//! # Tombstones and timestamps
//!
//! Kafka dates a tombstone by when the cleaner first saw it; this cleaner
//! dates it by the record's own timestamp (LogAppendTime: the batch's), which
//! needs no extra state. A producer-supplied CreateTime far in the past makes
//! a tombstone removable at once; the key is gone either way.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};
use std::path::Path;
use std::rc::Rc;

use zerocopy::FromBytes;

use crate::batch::{self, BatchHeader, CRC_COVERAGE_START, HEADER_BYTES, LOG_OVERHEAD};
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
/// last); `checkpoint` is the first offset not yet compacted.
pub fn plan(
    sealed: &[Rc<Segment>],
    next_bases: &[i64],
    checkpoint: i64,
    config: &LogConfig,
    now_ms: i64,
) -> Option<CleanPlan> {
    assert_eq!(sealed.len(), next_bases.len());
    let first_dirty = next_bases.partition_point(|&next| next <= checkpoint);
    let lag_horizon = now_ms.saturating_sub(config.min_compaction_lag_ms);
    // The dirty range ends before the first segment holding a record younger
    // than min.compaction.lag.ms.
    let dirty_end = first_dirty
        + sealed[first_dirty..]
            .iter()
            .take_while(|s| s.max_timestamp().is_none_or(|(max, _)| max <= lag_horizon))
            .count();
    if dirty_end == first_dirty {
        return None;
    }
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

/// Whether the batch's records are decoded by the cleaner. Transactional
/// batches are not: whether their transaction aborted is producer state
/// the engine does not know, so they are kept whole and their keys do not
/// enter the map (an aborted value must not shadow a committed one) —
/// correct, only not compacted (Kafka's cleaner removes aborted data and
/// old markers; this one keeps them).
fn is_cleanable(header: &BatchHeader) -> bool {
    !header.is_compressed() && !header.is_control() && !header.is_transactional()
}

/// Scans `segments` in order into `map`. Returns how many segments went in
/// whole (a segment that overflowed the map is not counted, though some of
/// its keys may be in the map: they point at later records, so acting on
/// them is still right).
///
/// # Errors
/// `CorruptSegment` for bytes that do not decode; IO failures.
pub async fn build_offset_map(
    segments: &[Rc<Segment>],
    map: &mut OffsetMap,
) -> Result<usize, LogError> {
    for (mapped, segment) in segments.iter().enumerate() {
        let mut fault: Option<(u64, RecordFault)> = None;
        let mut full = false;
        let end = segment
            .scan_from(0, true, |position, bytes| {
                let header = BatchHeader::read(bytes).expect("scan hands out whole batches");
                if !is_cleanable(header) {
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

/// What the cleaner keeps.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Tombstones with a timestamp below this are removed
    /// (`now - delete.retention.ms`).
    pub tombstone_horizon_ms: i64,
}

/// What cleaning one batch produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchOutcome {
    /// Every record kept: the batch was copied as it is.
    Kept,
    /// Some records kept: a new batch was written.
    Rewritten,
    /// No record kept: nothing was written.
    Dropped,
}

/// Appends to `out` the cleaned form of the whole, validated batch `batch`.
///
/// # Errors
/// The record fault if its records do not decode (nothing is appended).
fn clean_batch(
    batch: &[u8],
    map: &OffsetMap,
    retention: Retention,
    out: &mut Vec<u8>,
) -> Result<BatchOutcome, RecordFault> {
    let header = BatchHeader::read(batch).expect("a validated batch");
    if !is_cleanable(header) {
        out.extend_from_slice(batch);
        return Ok(BatchOutcome::Kept);
    }
    let base_offset = header.base_offset.get();
    let base_timestamp = header.base_timestamp.get();
    let log_append_time = header.is_log_append_time();
    let start = out.len();
    out.extend_from_slice(&batch[..HEADER_BYTES]);
    let mut kept: i32 = 0;
    let mut total: i32 = 0;
    let mut max_timestamp = i64::MIN;
    for record in Records::new(batch)? {
        let record = match record {
            Ok(record) => record,
            Err(fault) => {
                out.truncate(start);
                return Err(fault);
            }
        };
        total += 1;
        let offset = base_offset + record.offset_delta;
        let timestamp = if log_append_time {
            header.max_timestamp.get()
        } else {
            base_timestamp.saturating_add(record.timestamp_delta)
        };
        let keep = match record.key {
            None => true,
            Some(key) => {
                let superseded = map.latest(key).is_some_and(|latest| latest > offset);
                let expired_tombstone =
                    record.value_is_null && timestamp < retention.tombstone_horizon_ms;
                !superseded && !expired_tombstone
            }
        };
        if keep {
            kept += 1;
            max_timestamp = max_timestamp.max(timestamp);
            out.extend_from_slice(record.encoded);
        }
    }
    assert_eq!(total, header.records_count.get());
    if kept == total {
        out.truncate(start);
        out.extend_from_slice(batch);
        return Ok(BatchOutcome::Kept);
    }
    if kept == 0 {
        out.truncate(start);
        return Ok(BatchOutcome::Dropped);
    }
    let new_batch = &mut out[start..];
    let length = i32::try_from(new_batch.len() - LOG_OVERHEAD).expect("smaller than the original");
    {
        let (new_header, _) =
            BatchHeader::mut_from_prefix(&mut *new_batch).expect("header copied above");
        new_header.batch_length.set(length);
        new_header.records_count.set(kept);
        if !log_append_time {
            new_header.max_timestamp.set(max_timestamp);
        }
    }
    let crc = crc32c::crc32c(&new_batch[CRC_COVERAGE_START..]);
    let (new_header, _) =
        BatchHeader::mut_from_prefix(&mut *new_batch).expect("header copied above");
    new_header.crc.set(crc);
    debug_assert!(batch::validate_stored(new_batch, usize::MAX).is_ok());
    assert!(new_batch.len() < batch.len(), "a cleaned batch shrinks");
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

/// Cleans `segment` against `map`: first a read-only pass to see whether
/// anything goes, then the rewrite into `<base>.log.cleaned`.
///
/// # Errors
/// `CorruptSegment` for bytes that do not decode; IO failures (a partial
/// `.cleaned` file may remain; `recover_swaps` removes it).
pub async fn clean_segment(
    dir: &Path,
    segment: &Segment,
    map: &OffsetMap,
    retention: Retention,
    index_interval_bytes: u32,
) -> Result<SegmentOutcome, LogError> {
    let mut scratch = Vec::new();
    let mut changed = false;
    let mut any_kept = false;
    let mut fault = None;
    let end = segment
        .scan_from(0, true, |position, bytes| {
            scratch.clear();
            match clean_batch(bytes, map, retention, &mut scratch) {
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
        return Ok(SegmentOutcome::Unchanged);
    }
    if !any_kept {
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
                match clean_batch(bytes, map, retention, &mut writer.pending) {
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
    assert!(cleaned.size() < segment.size(), "a changed segment shrinks");
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
        let file = self.segment.file();
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
        let file = self.segment.file();
        file.truncate(end)
            .await
            .map_err(|e| LogError::glommio(&path, e))?;
        file.fdatasync()
            .await
            .map_err(|e| LogError::glommio(&path, e))?;
        self.segment.set_written_bytes(end);
        self.segment
            .write_indexes_as("index.cleaned", "timeindex.cleaned")?;
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
        let mut out = Vec::new();
        let retention = Retention {
            tombstone_horizon_ms: 0,
        };
        let outcome = clean_batch(&batch, &map, retention, &mut out).expect("decodes");
        assert_eq!(outcome, BatchOutcome::Rewritten);
        assert_eq!(validate_stored(&out, usize::MAX), Ok(out.len()));
        let header = BatchHeader::read(&out).expect("header");
        assert_eq!(header.base_offset.get(), 100);
        assert_eq!(header.last_offset(), 103, "lastOffsetDelta is kept");
        assert_eq!(header.records_count.get(), 2);
        assert_eq!(header.max_timestamp.get(), 1_003);
        let original: Vec<_> = Records::new(&batch)
            .expect("ok")
            .map(|r| r.expect("ok"))
            .collect();
        let kept: Vec<_> = Records::new(&out)
            .expect("ok")
            .map(|r| r.expect("ok"))
            .collect();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0], original[2], "a2 byte-identical at offset delta 2");
        assert_eq!(kept[1], original[3], "the keyless record is kept");
    }

    #[test]
    fn clean_batch_copies_untouched_drops_empty_and_skips_compressed() {
        let retention = Retention {
            tombstone_horizon_ms: 0,
        };
        let mut map = OffsetMap::with_capacity(8);
        map.insert(b"a", 10);
        let mut out = Vec::new();
        let old = at(5, BatchBuilder::new(0).record(b"a", b"old", 0));
        assert_eq!(
            clean_batch(&old, &map, retention, &mut out),
            Ok(BatchOutcome::Dropped)
        );
        assert!(out.is_empty());
        let latest = at(10, BatchBuilder::new(0).record(b"a", b"new", 0));
        assert_eq!(
            clean_batch(&latest, &map, retention, &mut out),
            Ok(BatchOutcome::Kept)
        );
        assert_eq!(out, latest);
        out.clear();
        let compressed = at(
            5,
            BatchBuilder::new(0).record(b"a", b"old", 0).compression(1),
        );
        assert_eq!(
            clean_batch(&compressed, &map, retention, &mut out),
            Ok(BatchOutcome::Kept)
        );
        assert_eq!(out, compressed);
    }

    #[test]
    fn transactional_and_control_batches_are_kept_whole() {
        let retention = Retention {
            tombstone_horizon_ms: 0,
        };
        let mut map = OffsetMap::with_capacity(8);
        map.insert(b"a", 10);
        for attributes in [crate::batch::ATTR_TRANSACTIONAL, crate::batch::ATTR_CONTROL] {
            let mut batch = at(5, BatchBuilder::new(0).record(b"a", b"old", 0));
            batch[21..23].copy_from_slice(&attributes.to_be_bytes());
            crate::test_batch::reseal(&mut batch);
            let mut out = Vec::new();
            assert_eq!(
                clean_batch(&batch, &map, retention, &mut out),
                Ok(BatchOutcome::Kept),
                "attributes {attributes:#x}"
            );
            assert_eq!(out, batch);
        }
    }

    #[test]
    fn tombstones_go_only_after_delete_retention() {
        let batch = at(7, BatchBuilder::new(5_000).tombstone(b"a", 0));
        let mut map = OffsetMap::with_capacity(8);
        map.insert(b"a", 7);
        let mut out = Vec::new();
        let young = Retention {
            tombstone_horizon_ms: 5_000,
        };
        assert_eq!(
            clean_batch(&batch, &map, young, &mut out),
            Ok(BatchOutcome::Kept)
        );
        out.clear();
        let old = Retention {
            tombstone_horizon_ms: 5_001,
        };
        assert_eq!(
            clean_batch(&batch, &map, old, &mut out),
            Ok(BatchOutcome::Dropped)
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
        let retention = Retention {
            tombstone_horizon_ms: 0,
        };
        assert!(clean_batch(&batch, &map, retention, &mut out).is_err());
        assert_eq!(out, vec![1, 2, 3]);
    }
}
