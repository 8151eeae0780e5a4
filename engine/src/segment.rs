//! One segment of a partition log: the `<base>.log` file of whole batches,
//! its sparse offset and time indexes, and the bookkeeping an append keeps
//! (size, next offset, largest timestamp). Invariants: bytes
//! `[0, written_bytes)` of the file are whole batches with increasing offsets
//! from `base_offset` — dense as appended; a compacted segment may have gaps
//! between batches (offsets are never renumbered); `written_bytes <= size`;
//! the indexes point only inside `size`.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::{DmaFile, ReadResult};

use crate::batch::{self, BatchHeader, HEADER_BYTES};
use crate::durable_write::write_synced;
use crate::error::LogError;
use crate::offset_index::OffsetIndex;
use crate::segment_files::SegmentFile;
use crate::time_index::TimeIndex;

/// Alignment of every direct-IO position and length. 4 KiB satisfies every
/// logical block size Linux supports for O_DIRECT.
pub const ALIGNMENT: u64 = 4096;

/// Bytes read per window when scanning a segment (recovery, time lookups).
const SCAN_WINDOW_BYTES: u64 = 1 << 20;

const _: () = assert!(SCAN_WINDOW_BYTES.is_multiple_of(ALIGNMENT));

/// Rounds `value` down to `ALIGNMENT`.
pub fn align_down(value: u64) -> u64 {
    value & !(ALIGNMENT - 1)
}

/// Rounds `value` up to `ALIGNMENT`.
pub fn align_up(value: u64) -> u64 {
    value.div_ceil(ALIGNMENT) * ALIGNMENT
}

/// Bytes read from a segment by [`Segment::read_window`].
#[derive(Debug)]
pub struct SegmentWindow {
    /// The position asked for.
    pub position: u64,
    /// The aligned read; `read[skip..]` starts at `position`.
    pub read: ReadResult,
    /// Where the position asked for lies in `read`.
    pub skip: usize,
    /// The segment's written bytes when the read was issued: bytes at or
    /// past it are padding or bytes being appended, never batches.
    pub limit: u64,
}

impl SegmentWindow {
    /// The bytes from `position` that may hold batches: below `limit`
    /// (the caller's view of the written size) and below `self.limit`.
    pub fn batch_bytes(&self, limit: u64) -> &[u8] {
        let valid = usize::try_from(limit.min(self.limit).saturating_sub(self.position))
            .unwrap_or(usize::MAX);
        let start = self.skip.min(self.read.len());
        &self.read[start..self.read.len().min(self.skip.saturating_add(valid))]
    }
}

/// `dir/<base_offset as 20 digits>.<extension>`, Kafka's file naming.
pub fn segment_file_path(dir: &Path, base_offset: i64, extension: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{extension}"))
}

/// The base offset named by a `<20 digits>.log` file name, if it is one.
pub fn parse_log_file_name(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

thread_local! {
    /// Devices (st_dev) whose io_uring poll support glommio has probed on
    /// this thread with a non-empty file.
    static PROBED_DEVICES: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Makes glommio's per-thread io_uring poll-ring probe for the device under
/// `dir` run against a non-empty file.
///
/// glommio 0.9 decides whether a device supports polled IO by reading the
/// first page of the first DMA file opened on it, and caches the answer per
/// thread. If that file is empty (a fresh segment), the read succeeds
/// trivially, the poll ring is chosen, and every later read of real data on
/// a device without poll queues (virtio, most SATA) fails with EOPNOTSUPP.
/// Opening a one-page file first gives the probe a real read to fail.
/// `PartitionLog::open` calls this; a shard that opens other DMA files
/// (before any log) on the same device should call it first too.
///
/// # Errors
/// IO failures writing or opening the probe file.
pub async fn prime_iopoll_probe(dir: &Path) -> Result<(), LogError> {
    use std::os::unix::fs::MetadataExt;
    let device = std::fs::metadata(dir)
        .map_err(|e| LogError::io(dir, e))?
        .dev();
    if PROBED_DEVICES.with(|probed| probed.borrow().contains(&device)) {
        return Ok(());
    }
    let path = dir.join(".iopoll-probe");
    std::fs::write(&path, [0u8; ALIGNMENT as usize]).map_err(|e| LogError::io(&path, e))?;
    let file = DmaFile::open(&path)
        .await
        .map_err(|e| LogError::glommio(&path, e))?;
    file.close()
        .await
        .map_err(|e| LogError::glommio(&path, e))?;
    std::fs::remove_file(&path).map_err(|e| LogError::io(&path, e))?;
    PROBED_DEVICES.with(|probed| probed.borrow_mut().push(device));
    Ok(())
}

/// One segment. Lives on: the partition's owner shard; shared through `Rc`
/// between the log and in-flight readers (a deleted segment's file stays
/// readable until the last reader drops it).
#[derive(Debug)]
pub struct Segment {
    base_offset: i64,
    path: PathBuf,
    /// The `.log` file, opened and closed within the shard's budget.
    file: SegmentFile,
    /// Bytes appended, including those still in the write buffer.
    size: Cell<u64>,
    /// Bytes on disk (written by direct IO, maybe not yet fdatasynced).
    written_bytes: Cell<u64>,
    /// Offset after the last appended batch.
    next_offset: Cell<i64>,
    /// (largest timestamp, last offset of the batch holding it).
    max_timestamp: Cell<Option<(i64, i64)>>,
    /// Wall-clock ms of the first append since creation or open (segment.ms).
    roll_clock_ms: Cell<Option<i64>>,
    bytes_since_index_entry: Cell<u64>,
    offset_index: RefCell<OffsetIndex>,
    time_index: RefCell<TimeIndex>,
}

/// How a scan of a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanEnd {
    /// Every batch up to the scan's end was visited.
    Complete,
    /// The visitor asked to stop at the batch at this position.
    Stopped {
        /// File position of the batch the visitor refused.
        position: u64,
    },
    /// Zeroes stand where the batch at `position` would start: page
    /// padding, preallocated space, or a write that never landed.
    Zeroed {
        /// File position of the first zero byte.
        position: u64,
    },
    /// The bytes at `position` are not a valid batch (torn or corrupt).
    Invalid {
        /// File position of the first invalid byte.
        position: u64,
        /// Why.
        reason: &'static str,
    },
}

/// Where and how a truncation cuts a segment: computed by
/// [`Segment::plan_cut`] (reads only), applied by [`Segment::apply_cut`].
#[derive(Debug)]
pub struct SegmentCut {
    /// File position of the first batch removed (the new size).
    position: u64,
    /// Offset after the last batch kept.
    next_offset: i64,
    max_timestamp: Option<(i64, i64)>,
    bytes_since_index_entry: u64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
}

impl SegmentCut {
    /// File position of the first batch removed: the segment's new size.
    pub fn position(&self) -> u64 {
        self.position
    }
}

/// What a scan visitor wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Go on to the next batch.
    Continue,
    /// Stop before this batch.
    Stop,
}

impl Segment {
    /// Creates an empty segment file for `base_offset` in `dir`.
    ///
    /// # Errors
    /// IO failures creating the file.
    pub async fn create(dir: &Path, base_offset: i64) -> Result<Segment, LogError> {
        assert!(base_offset >= 0, "negative base offset {base_offset}");
        let path = segment_file_path(dir, base_offset, "log");
        let file = SegmentFile::create(path.clone()).await?;
        Ok(Segment::with_file(base_offset, path, file, 0))
    }

    /// Creates the file `<base>.log.cleaned` in `dir` for a compacted copy
    /// of the segment at `base_offset`. The segment's `path` is the final
    /// `<base>.log` name it takes when the swap commits
    /// ([`swapped_in`](Self::swapped_in)); an open handle stays valid
    /// across the renames.
    ///
    /// # Errors
    /// IO failures creating the file.
    pub async fn create_cleaned(dir: &Path, base_offset: i64) -> Result<Segment, LogError> {
        assert!(base_offset >= 0, "negative base offset {base_offset}");
        let cleaned = segment_file_path(dir, base_offset, "log.cleaned");
        let file = SegmentFile::create(cleaned).await?;
        let path = segment_file_path(dir, base_offset, "log");
        Ok(Segment::with_file(base_offset, path, file, 0))
    }

    /// Opens the existing segment file for `base_offset` in `dir` (read and
    /// write). The caller then recovers or loads its indexes.
    ///
    /// # Errors
    /// IO failures opening or sizing the file.
    pub async fn open(dir: &Path, base_offset: i64) -> Result<Segment, LogError> {
        let path = segment_file_path(dir, base_offset, "log");
        let file = SegmentFile::open(path.clone()).await?;
        let size = file
            .get()
            .await?
            .file_size()
            .await
            .map_err(|e| LogError::glommio(&path, e))?;
        Ok(Segment::with_file(base_offset, path, file, size))
    }

    fn with_file(base_offset: i64, path: PathBuf, file: SegmentFile, size: u64) -> Segment {
        Segment {
            base_offset,
            path,
            file,
            size: Cell::new(size),
            written_bytes: Cell::new(size),
            next_offset: Cell::new(base_offset),
            max_timestamp: Cell::new(None),
            roll_clock_ms: Cell::new(None),
            bytes_since_index_entry: Cell::new(0),
            offset_index: RefCell::new(OffsetIndex::new(base_offset)),
            time_index: RefCell::new(TimeIndex::new(base_offset)),
        }
    }

    /// Offset of the first batch (the file name).
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Path of the `.log` file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The direct-IO file, reopened first if the shard's budget of open
    /// files closed it (see `segment_files`). Hold it for one IO, not
    /// longer.
    ///
    /// # Errors
    /// IO failures reopening the file.
    pub async fn file(&self) -> Result<Rc<DmaFile>, LogError> {
        self.file.get().await
    }

    /// Prepares for the file's name to go (unlinked, renamed over, its
    /// directory renamed): if anyone besides the caller's `Rc` still holds
    /// this segment (a reader), its file is opened if need be and kept open
    /// until the segment drops, so that reader reads on as before.
    ///
    /// # Errors
    /// IO failures reopening the file.
    pub async fn retire(self: &Rc<Self>) -> Result<(), LogError> {
        if Rc::strong_count(self) > 1 {
            self.file.keep_open().await?;
        }
        Ok(())
    }

    /// A compacted copy's swap committed: its file now has the segment's
    /// own name, which later reopens use.
    pub fn swapped_in(&self) {
        self.file.renamed(self.path.clone());
    }

    /// Bytes appended (including those not yet written).
    pub fn size(&self) -> u64 {
        self.size.get()
    }

    /// Bytes on disk, readable by direct IO.
    pub fn written_bytes(&self) -> u64 {
        self.written_bytes.get()
    }

    /// Records that the bytes up to `end` are written.
    pub fn set_written_bytes(&self, end: u64) {
        assert!(end <= self.size.get(), "written past appended bytes");
        assert!(end >= self.written_bytes.get(), "written bytes went back");
        self.written_bytes.set(end);
    }

    /// Offset after the last batch.
    pub fn next_offset(&self) -> i64 {
        self.next_offset.get()
    }

    /// (largest timestamp, offset of the batch holding it), if any batch.
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        self.max_timestamp.get()
    }

    /// Wall-clock ms of the first append since creation or open.
    pub fn roll_clock_ms(&self) -> Option<i64> {
        self.roll_clock_ms.get()
    }

    /// Notes the wall clock for segment.ms if not yet set.
    pub fn start_roll_clock(&self, now_ms: i64) {
        if self.roll_clock_ms.get().is_none() {
            self.roll_clock_ms.set(Some(now_ms));
        }
    }

    /// Bookkeeping for a batch appended at `position`: size, next offset,
    /// largest timestamp, and index entries every `index_interval_bytes`.
    ///
    /// # Panics
    /// If the batch does not start at the current end or its offsets do not
    /// follow on (the appender's invariant).
    pub fn on_append(
        &self,
        position: u64,
        header: &BatchHeader,
        batch_bytes: u64,
        index_interval_bytes: u32,
    ) {
        assert_eq!(
            header.base_offset.get(),
            self.next_offset.get(),
            "appended offsets must be dense"
        );
        self.on_batch(position, header, batch_bytes, index_interval_bytes);
    }

    /// `on_append` for a batch of a compacted segment, which may start past
    /// `next_offset` (the batches between were compacted away).
    ///
    /// # Panics
    /// If the batch does not start at the current end or its offsets do not
    /// increase.
    pub fn on_batch(
        &self,
        position: u64,
        header: &BatchHeader,
        batch_bytes: u64,
        index_interval_bytes: u32,
    ) {
        let base_offset = header.base_offset.get();
        let last_offset = header.last_offset();
        assert_eq!(
            position,
            self.size.get(),
            "batch must start at the segment end"
        );
        assert!(
            base_offset >= self.next_offset.get(),
            "offsets must increase"
        );
        assert!(last_offset >= base_offset);
        let timestamp = header.max_timestamp.get();
        if self
            .max_timestamp
            .get()
            .is_none_or(|(max, _)| timestamp > max)
        {
            self.max_timestamp.set(Some((timestamp, last_offset)));
        }
        if self.bytes_since_index_entry.get() >= u64::from(index_interval_bytes) && position > 0 {
            self.offset_index.borrow_mut().append(base_offset, position);
            let (max, _) = self.max_timestamp.get().expect("set above");
            self.time_index.borrow_mut().maybe_append(max, last_offset);
            self.bytes_since_index_entry.set(0);
        }
        self.bytes_since_index_entry
            .set(self.bytes_since_index_entry.get() + batch_bytes);
        self.size.set(position + batch_bytes);
        self.next_offset.set(last_offset + 1);
    }

    /// Plans cutting this segment before the first batch whose last offset
    /// is at or after `offset` (the batch holding it, or the first after a
    /// gap): its position, and the bookkeeping of the batches kept — found
    /// by scanning at most from the index entry before the cut, not the
    /// whole segment. Reads only; every byte is written (the log drained).
    ///
    /// # Errors
    /// IO failures; `CorruptSegment` if the written bytes are not batches.
    pub async fn plan_cut(&self, offset: i64) -> Result<SegmentCut, LogError> {
        assert!(offset >= self.base_offset, "cut below the segment");
        assert_eq!(
            self.written_bytes(),
            self.size(),
            "cut of an undrained segment"
        );
        let corrupt = |position, reason| LogError::CorruptSegment {
            path: self.path.clone(),
            position,
            reason,
        };
        let (_, start) = self.lookup(offset);
        let mut position = self.written_bytes();
        let end = self
            .scan_from(start, false, |at, bytes| {
                let header = BatchHeader::read(bytes).expect("scan hands out whole batches");
                if header.last_offset() >= offset {
                    position = at;
                    return Visit::Stop;
                }
                Visit::Continue
            })
            .await?;
        match end {
            ScanEnd::Complete | ScanEnd::Stopped { .. } => {}
            ScanEnd::Zeroed { position } => {
                return Err(corrupt(position, "zeroes in written bytes"))
            }
            ScanEnd::Invalid { position, reason } => return Err(corrupt(position, reason)),
        }
        let mut offset_index = self.offset_index.borrow().clone();
        offset_index.truncate_from_position(position);
        let (indexed_offset, indexed_position) = offset_index.lookup(i64::MAX);
        // Scan the kept batches after the last index entry for the
        // segment's next offset and their largest timestamp.
        let mut next_offset = indexed_offset;
        let mut tail_max: Option<(i64, i64)> = None;
        let tail = scan(
            &*self.file().await?,
            &self.path,
            indexed_position,
            position,
            false,
            |_, bytes| {
                let header = BatchHeader::read(bytes).expect("scan hands out whole batches");
                next_offset = header.last_offset() + 1;
                let timestamp = header.max_timestamp.get();
                if tail_max.is_none_or(|(max, _)| timestamp > max) {
                    tail_max = Some((timestamp, header.last_offset()));
                }
                Visit::Continue
            },
        )
        .await?;
        match tail {
            ScanEnd::Complete => {}
            ScanEnd::Stopped { position } | ScanEnd::Zeroed { position } => {
                return Err(corrupt(position, "kept batches end early"))
            }
            ScanEnd::Invalid { position, reason } => return Err(corrupt(position, reason)),
        }
        if position == 0 {
            next_offset = self.base_offset;
        }
        assert!(next_offset <= offset.max(self.base_offset));
        let mut time_index = self.time_index.borrow().clone();
        time_index.truncate_from_offset(next_offset);
        let max_timestamp = match (time_index.last_entry(), tail_max) {
            (Some(a), Some(b)) => Some(if b.0 > a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
        Ok(SegmentCut {
            position,
            next_offset,
            max_timestamp,
            bytes_since_index_entry: position - indexed_position,
            offset_index,
            time_index,
        })
    }

    /// Applies a cut planned by [`plan_cut`](Self::plan_cut) to the
    /// bookkeeping (the caller truncates the file): the segment then ends
    /// at the cut and takes appends from its next offset.
    pub fn apply_cut(&self, cut: SegmentCut) {
        assert!(cut.position <= self.size.get(), "a cut only shortens");
        assert!(cut.next_offset <= self.next_offset.get());
        assert!(cut.next_offset >= self.base_offset);
        self.size.set(cut.position);
        self.written_bytes.set(cut.position);
        self.next_offset.set(cut.next_offset);
        self.max_timestamp.set(cut.max_timestamp);
        self.bytes_since_index_entry
            .set(cut.bytes_since_index_entry);
        *self.offset_index.borrow_mut() = cut.offset_index;
        *self.time_index.borrow_mut() = cut.time_index;
    }

    /// The greatest indexed (offset, position) at or below `offset`.
    pub fn lookup(&self, offset: i64) -> (i64, u64) {
        self.offset_index.borrow().lookup(offset)
    }

    /// Bytes from the batch at `position` to the last indexed batch start
    /// at or below `position + max_bytes`: a read of at most `max_bytes`
    /// from `position` that ends on that boundary. `None` when the index
    /// knows no batch start in that range (a first batch larger than
    /// `max_bytes`, or batches smaller than the index interval).
    pub fn bytes_to_batch_boundary(&self, position: u64, max_bytes: usize) -> Option<u64> {
        let up_to = position.saturating_add(max_bytes as u64);
        let end = self
            .offset_index
            .borrow()
            .batch_start_within(position, up_to)?;
        Some(end - position)
    }

    /// Where to start scanning for the first record with timestamp >= target.
    pub fn time_scan_start(&self, target_ms: i64) -> i64 {
        self.time_index.borrow().scan_start(target_ms)
    }

    /// Writes both indexes (with a final time-index entry for the largest
    /// timestamp, as Kafka does on roll) and fsyncs them.
    ///
    /// # Errors
    /// IO failures.
    pub async fn write_indexes(&self) -> Result<(), LogError> {
        self.write_indexes_as("index", "timeindex").await
    }

    /// `write_indexes` to files named `<base>.<offset_extension>` and
    /// `<base>.<time_extension>` (compaction writes `index.cleaned`).
    ///
    /// # Errors
    /// IO failures.
    pub async fn write_indexes_as(
        &self,
        offset_extension: &str,
        time_extension: &str,
    ) -> Result<(), LogError> {
        if let Some((timestamp, offset)) = self.max_timestamp.get() {
            let last_offset = self.next_offset.get() - 1;
            assert!(offset <= last_offset);
            self.time_index
                .borrow_mut()
                .maybe_append(timestamp, last_offset);
        }
        // Encoded before the awaits: no borrow is held across them.
        let offset_bytes = self.offset_index.borrow().to_bytes();
        let time_bytes = self.time_index.borrow().to_bytes();
        let dir = self.dir();
        write_synced(
            &segment_file_path(dir, self.base_offset, offset_extension),
            &offset_bytes,
        )
        .await?;
        write_synced(
            &segment_file_path(dir, self.base_offset, time_extension),
            &time_bytes,
        )
        .await
    }

    fn dir(&self) -> &Path {
        self.path.parent().expect("segment path has a directory")
    }

    /// Loads both index files if they agree with a sealed log of the current
    /// size ending at `next_offset`; returns false if either is missing or
    /// fails its checks (the caller then recovers by scanning).
    ///
    /// # Errors
    /// IO failures other than missing files.
    pub fn load_indexes(&self, next_offset: i64) -> Result<bool, LogError> {
        let dir = self.dir();
        let offset_path = segment_file_path(dir, self.base_offset, "index");
        let time_path = segment_file_path(dir, self.base_offset, "timeindex");
        let Some(offsets) = OffsetIndex::load(&offset_path, self.base_offset, self.size.get())?
        else {
            return Ok(false);
        };
        let Some(times) = TimeIndex::load(&time_path, self.base_offset, next_offset)? else {
            return Ok(false);
        };
        let empty = self.size.get() == 0;
        let Some(last_entry) = times.last_entry() else {
            return Ok(empty);
        };
        self.max_timestamp.set(Some(last_entry));
        *self.offset_index.borrow_mut() = offsets;
        *self.time_index.borrow_mut() = times;
        self.next_offset.set(next_offset);
        Ok(true)
    }

    /// Rebuilds all bookkeeping by scanning the file from the start,
    /// verifying every batch (CRC; offsets increasing — gaps are allowed, as
    /// compaction and a follower of a compacted leader leave them), and
    /// truncates the file at the first invalid byte. Returns the number of
    /// bytes cut off.
    ///
    /// # Errors
    /// IO failures.
    pub async fn recover(&self, index_interval_bytes: u32) -> Result<u64, LogError> {
        let file_bytes = self.size.get();
        self.size.set(0);
        self.written_bytes.set(0);
        self.next_offset.set(self.base_offset);
        self.max_timestamp.set(None);
        self.bytes_since_index_entry.set(0);
        *self.offset_index.borrow_mut() = OffsetIndex::new(self.base_offset);
        *self.time_index.borrow_mut() = TimeIndex::new(self.base_offset);
        let end = scan(
            &*self.file().await?,
            &self.path,
            0,
            file_bytes,
            true,
            |position, bytes| {
                let header = BatchHeader::read(bytes).expect("scan hands out whole batches");
                let base_offset = header.base_offset.get();
                if base_offset < self.next_offset.get() || header.last_offset() < base_offset {
                    return Visit::Stop;
                }
                if header.last_offset() - self.base_offset > i64::from(u32::MAX) {
                    return Visit::Stop;
                }
                self.on_batch(position, header, bytes.len() as u64, index_interval_bytes);
                Visit::Continue
            },
        )
        .await?;
        let valid = self.size.get();
        self.written_bytes.set(valid);
        let cut_bytes = file_bytes - valid;
        let torn = match end {
            ScanEnd::Complete => {
                assert_eq!(valid, file_bytes);
                None
            }
            ScanEnd::Zeroed { position } => {
                assert_eq!(position, valid);
                // Page padding or preallocated space: nothing was written there.
                tracing::info!(path = ?self.path, cut_bytes, "recovery cut zeroes after the last batch");
                None
            }
            ScanEnd::Stopped { position } => {
                assert_eq!(position, valid);
                Some("batch out of offset order")
            }
            ScanEnd::Invalid { position, reason } => {
                assert_eq!(position, valid);
                Some(reason)
            }
        };
        if let Some(reason) = torn.filter(|_| cut_bytes > 0) {
            // An operator wants to know data past the last valid batch was dropped.
            tracing::warn!(path = ?self.path, cut_bytes, reason, "recovery truncated a torn segment tail");
        }
        if valid < file_bytes {
            let file = self.file().await?;
            file.truncate(valid)
                .await
                .map_err(|e| LogError::glommio(&self.path, e))?;
            file.fdatasync()
                .await
                .map_err(|e| LogError::glommio(&self.path, e))?;
        }
        Ok(cut_bytes)
    }

    /// Loads the bookkeeping of the tail of a cleanly closed segment: scans
    /// (verifying) from the last offset-index entry to the end. Falls back to
    /// a full `recover` if the tail does not line up with the index.
    ///
    /// # Errors
    /// IO failures.
    pub async fn load_tail(&self, index_interval_bytes: u32) -> Result<u64, LogError> {
        let loaded_offsets = OffsetIndex::load(
            &segment_file_path(self.dir(), self.base_offset, "index"),
            self.base_offset,
            self.size.get(),
        )?;
        let Some(offsets) = loaded_offsets else {
            return self.recover(index_interval_bytes).await;
        };
        let (start_offset, start_position) = offsets.lookup(i64::MAX);
        let file_bytes = self.size.get();
        let mut expected = start_offset;
        let mut end_position = start_position;
        let mut tail_max: Option<(i64, i64)> = None;
        let end = scan(
            &*self.file().await?,
            &self.path,
            start_position,
            file_bytes,
            true,
            |position, bytes| {
                let header = BatchHeader::read(bytes).expect("scan hands out whole batches");
                // Increasing, with gaps (compacted on this log or its leader).
                if header.base_offset.get() < expected {
                    return Visit::Stop;
                }
                expected = header.last_offset() + 1;
                end_position = position + bytes.len() as u64;
                let timestamp = header.max_timestamp.get();
                if tail_max.is_none_or(|(max, _)| timestamp > max) {
                    tail_max = Some((timestamp, header.last_offset()));
                }
                Visit::Continue
            },
        )
        .await?;
        let times = TimeIndex::load(
            &segment_file_path(self.dir(), self.base_offset, "timeindex"),
            self.base_offset,
            expected,
        )?;
        let (ScanEnd::Complete, Some(times)) = (end, times) else {
            return self.recover(index_interval_bytes).await;
        };
        assert_eq!(end_position, file_bytes);
        let indexed_max = times.last_entry();
        let max = match (indexed_max, tail_max) {
            (Some(a), Some(b)) => Some(if b.0 > a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
        self.max_timestamp.set(max);
        *self.offset_index.borrow_mut() = offsets;
        *self.time_index.borrow_mut() = times;
        self.next_offset.set(expected);
        self.bytes_since_index_entry
            .set(file_bytes - start_position);
        Ok(0)
    }

    /// Reads `[position, position + len)` rounded out to alignment, never past
    /// `written_bytes`.
    ///
    /// # Errors
    /// IO failures.
    pub async fn read_window(&self, position: u64, len: u64) -> Result<SegmentWindow, LogError> {
        let written = self.written_bytes.get();
        assert!(position <= written, "reading past the written bytes");
        let start = align_down(position);
        let end = align_up((position + len).min(written));
        let size = usize::try_from(end - start).expect("window fits memory");
        let read = self
            .file()
            .await?
            .read_at_aligned(start, size)
            .await
            .map_err(|e| LogError::glommio(&self.path, e))?;
        let skip = usize::try_from(position - start).expect("within a page");
        Ok(SegmentWindow {
            position,
            read,
            skip,
            limit: written,
        })
    }

    /// Scans this segment's written bytes from `position` (see [`scan`]).
    ///
    /// # Errors
    /// IO failures.
    pub async fn scan_from<F: FnMut(u64, &[u8]) -> Visit>(
        &self,
        position: u64,
        verify: bool,
        visit: F,
    ) -> Result<ScanEnd, LogError> {
        scan(
            &*self.file().await?,
            &self.path,
            position,
            self.written_bytes.get(),
            verify,
            visit,
        )
        .await
    }
}

/// Visits every whole batch of `file` in `[start, end)` in order, reading
/// aligned windows of `SCAN_WINDOW_BYTES` (or one batch, if larger). With
/// `verify`, each batch is fully validated (CRC included) before the visit.
///
/// # Errors
/// IO failures. Bad bytes are not an error: they end the scan with
/// `ScanEnd::Invalid` (or `ScanEnd::Zeroed`).
pub async fn scan<F: FnMut(u64, &[u8]) -> Visit>(
    file: &DmaFile,
    path: &Path,
    start: u64,
    mut end: u64,
    verify: bool,
    mut visit: F,
) -> Result<ScanEnd, LogError> {
    assert!(start <= end, "scan start {start} past end {end}");
    let mut file_shorter = false;
    let mut position = start;
    let mut needed = SCAN_WINDOW_BYTES;
    while position < end {
        let window_start = align_down(position);
        let window_end = align_up((position + needed).min(end)).min(align_up(end));
        let size = usize::try_from(window_end - window_start).expect("window fits memory");
        let read = file
            .read_at_aligned(window_start, size)
            .await
            .map_err(|e| LogError::glommio(path, e))?;
        if read.len() < size && window_start + (read.len() as u64) < end {
            // The file is shorter than the caller believed: scan what is there.
            end = window_start + read.len() as u64;
            file_shorter = true;
        }
        let available = usize::try_from((end - window_start).min(read.len() as u64)).expect("fits");
        let window = &read[..available];
        let mut cursor = usize::try_from(position - window_start).expect("within a page");
        needed = SCAN_WINDOW_BYTES;
        loop {
            let remaining = &window[cursor..];
            let at_end = window_start + available as u64 >= end;
            if remaining.is_empty() {
                break;
            }
            let Some(header) = BatchHeader::read(remaining) else {
                if at_end {
                    if remaining.iter().all(|&byte| byte == 0) {
                        return Ok(ScanEnd::Zeroed { position });
                    }
                    return Ok(ScanEnd::Invalid {
                        position,
                        reason: "torn batch header",
                    });
                }
                break;
            };
            let total = header.total_bytes();
            if header.base_offset.get() == 0 && header.batch_length.get() == 0 {
                return Ok(ScanEnd::Zeroed { position });
            }
            if total < HEADER_BYTES as i64 || header.magic != batch::MAGIC_V2 {
                return Ok(ScanEnd::Invalid {
                    position,
                    reason: "bad batch length or magic",
                });
            }
            let total = total as u64;
            if position + total > end {
                return Ok(ScanEnd::Invalid {
                    position,
                    reason: "batch runs past the end of the file",
                });
            }
            if total > remaining.len() as u64 {
                needed = needed.max(total + ALIGNMENT);
                break;
            }
            let bytes = &remaining[..total as usize];
            if verify {
                if let Err(fault) = batch::validate_stored(bytes, usize::MAX) {
                    let reason = match fault {
                        batch::BatchFault::Corrupt(reason) => reason,
                        batch::BatchFault::Truncated | batch::BatchFault::TooLarge { .. } => {
                            "bad batch length"
                        }
                    };
                    return Ok(ScanEnd::Invalid { position, reason });
                }
            }
            if visit(position, bytes) == Visit::Stop {
                return Ok(ScanEnd::Stopped { position });
            }
            cursor += total as usize;
            position += total;
        }
    }
    assert_eq!(position, end);
    if file_shorter {
        return Ok(ScanEnd::Invalid {
            position,
            reason: "file shorter than expected",
        });
    }
    Ok(ScanEnd::Complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_twenty_digits() {
        let path = segment_file_path(Path::new("/d"), 42, "log");
        assert_eq!(path, Path::new("/d/00000000000000000042.log"));
        assert_eq!(parse_log_file_name("00000000000000000042.log"), Some(42));
        assert_eq!(parse_log_file_name("42.log"), None);
        assert_eq!(parse_log_file_name("00000000000000000042.index"), None);
    }

    #[test]
    fn alignment_rounds_both_ways() {
        assert_eq!(align_down(4097), 4096);
        assert_eq!(align_up(4097), 8192);
        assert_eq!(align_up(4096), 4096);
        assert_eq!(align_up(0), 0);
    }

    /// How a verifying scan of a file holding `bytes` ends, and the
    /// positions of the batches it visited.
    fn scan_of(bytes: Vec<u8>) -> (ScanEnd, Vec<u64>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.log");
        std::fs::write(&path, &bytes).expect("write");
        let end = bytes.len() as u64;
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .spawn(move || async move {
                let file = DmaFile::open(&path).await.expect("open");
                let mut visited = Vec::new();
                let scan_end = scan(&file, &path, 0, end, true, |position, _| {
                    visited.push(position);
                    Visit::Continue
                })
                .await
                .expect("scan");
                file.close().await.expect("close");
                (scan_end, visited)
            })
            .expect("executor")
            .join()
            .expect("join")
    }

    #[test]
    fn a_scan_tells_zeroes_after_the_last_batch_from_bad_bytes() {
        let batch = crate::test_batch::BatchBuilder::new(1_700_000_000_000)
            .records(3, 100, 1)
            .build();
        let len = batch.len() as u64;
        let followed_by = |tail: &[u8]| [batch.as_slice(), tail].concat();
        let page_rest = usize::try_from(align_up(len) - len).expect("fits");

        assert_eq!(scan_of(batch.clone()), (ScanEnd::Complete, vec![0]));
        // Page padding or preallocated space.
        let zeroed = (ScanEnd::Zeroed { position: len }, vec![0]);
        assert_eq!(scan_of(followed_by(&vec![0; page_rest])), zeroed);
        // A zeroed header with bytes after it: a head page that never landed.
        let mut head_lost = vec![0; HEADER_BYTES];
        head_lost.extend_from_slice(&batch[HEADER_BYTES..]);
        assert_eq!(scan_of(followed_by(&head_lost)), zeroed);

        let (end, visited) = scan_of(followed_by(&vec![0xA5; page_rest]));
        assert!(matches!(end, ScanEnd::Invalid { position, .. } if position == len));
        assert_eq!(visited, vec![0]);
        let mut torn = batch.clone();
        *torn.last_mut().expect("not empty") ^= 0xFF;
        let (end, visited) = scan_of(followed_by(&torn));
        assert_eq!(
            end,
            ScanEnd::Invalid {
                position: len,
                reason: "CRC32C mismatch"
            }
        );
        assert_eq!(visited, vec![0]);
    }
}
