//! `SegmentFiles`: the shard's budget of open segment files. A segment's
//! `.log` file is opened on demand and closed again, least recently used
//! first, when the shard holds more open segment files than its budget — so
//! a shard can hold far more segments (100 000 partitions on one node) than
//! the process may hold open files (`RLIMIT_NOFILE`).
//!
//! Invariants and why they hold:
//! * The files counted (open and in the LRU, being opened, or kept open)
//!   never exceed the budget while some open file is idle: making room
//!   closes idle files only. A file is idle when no IO holds it — every IO
//!   (read, write, fdatasync, scan) holds an `Rc<DmaFile>` clone for its
//!   duration, so closing from the cache never breaks an IO in progress. If
//!   every open file is busy, an open goes over the budget rather than wait;
//!   the next open brings the count back down.
//! * A closed file is reopened by its current name (read + write, no
//!   create). When a segment's name is about to go — unlinked by retention
//!   or a truncation, renamed over by a compaction swap, its directory
//!   renamed by a topic deletion — while readers still hold the segment,
//!   its file is *kept open* outside the LRU until the segment drops, so
//!   those readers keep reading the inode they had, as before budgets.
//! * Closing the active segment's file while its last writes wait for an
//!   fdatasync is safe: on Linux fdatasync covers the inode's data and
//!   metadata whichever descriptor wrote them, and an O_DIRECT write
//!   reports its errors itself. (A busy partition's file is recently used
//!   and stays open anyway.)
//!
//! Lives on: one shard (thread); the state is a thread-local, like
//! `log_stats`, so every log a shard opens draws on its budget without a
//! new parameter. Hot path: when the file is open, [`SegmentFile::get`] is
//! a `RefCell` borrow, an `Rc` clone and an O(1) move to the front of an
//! intrusive list — no allocation, no system call.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};

use glommio::io::{DmaFile, OpenOptions};

use crate::error::LogError;

/// No slot: the end of a list, or an entry not in the LRU.
const NIL: u32 = u32::MAX;

/// Share of the open-files limit the logs' segment files get by default;
/// the rest is for sockets, the metadata log, index and checkpoint writes.
const DEFAULT_SHARE_PERCENT: u64 = 75;

/// The fewest open segment files a shard is given (a tiny limit still runs).
const MIN_FILES_PER_SHARD: usize = 16;

/// One segment's `.log` file: open, closed by the budget, or kept open.
/// Lives on: the segment's owner shard (`!Send`).
#[derive(Debug)]
pub struct SegmentFile {
    entry: Rc<Entry>,
}

#[derive(Debug)]
struct Entry {
    /// The name a reopen uses (a compaction copy's changes at its swap).
    path: RefCell<PathBuf>,
    /// The cached handle while open.
    file: RefCell<Option<Rc<DmaFile>>>,
    /// This entry's slot in the LRU, or `NIL` (closed, or kept open).
    slot: Cell<u32>,
    /// Kept open outside the LRU until dropped (its name is going).
    kept: Cell<bool>,
}

/// A link of the LRU: an open file's entry and its neighbours.
#[derive(Debug)]
struct Slot {
    entry: Weak<Entry>,
    /// Towards the most recently used (or, in the free list, unused).
    prev: u32,
    /// Towards the least recently used; in the free list, the next free.
    next: u32,
}

/// The shard's open segment files, most recently used first.
#[derive(Debug)]
struct Lru {
    budget: usize,
    slots: Vec<Slot>,
    /// Head of the free slots, linked through `next`.
    free: u32,
    /// Most recently used.
    head: u32,
    /// Least recently used: the next to close.
    tail: u32,
    /// Files counted against the budget: linked, being opened, kept open.
    counted: usize,
}

thread_local! {
    static SEGMENT_FILES: RefCell<Lru> = RefCell::new(Lru::new(default_budget()));
}

/// The budget of a thread no one configured (tests, tools that open logs
/// directly): the default share of the current soft open-files limit.
fn default_budget() -> usize {
    shard_segment_files_max(open_files_limit(), 0, 1)
}

/// The soft `RLIMIT_NOFILE` (1024 if it cannot be read).
fn open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; the resource is valid.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    limit.rlim_cur
}

/// Raises the soft open-files limit (`RLIMIT_NOFILE`) to the hard limit
/// and returns the soft limit in force afterwards. Call once at process
/// start, before the shards open logs.
pub fn raise_open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; the resource is valid.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads a struct we own; failure leaves the limit as is.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return raised.rlim_cur;
        }
        tracing::warn!(
            soft = limit.rlim_cur,
            hard = limit.rlim_max,
            "could not raise the open-files limit to its hard limit"
        );
    }
    limit.rlim_cur
}

/// Open segment files each of `data_shards` shards may hold: `configured`
/// (over all shards) when non-zero, else 75% of `open_files_limit`; split
/// evenly, at least 16 per shard.
pub fn shard_segment_files_max(
    open_files_limit: u64,
    configured: u64,
    data_shards: usize,
) -> usize {
    assert!(data_shards > 0, "at least one data shard");
    let total = if configured > 0 {
        configured
    } else {
        open_files_limit / 100 * DEFAULT_SHARE_PERCENT
    };
    let per_shard = usize::try_from(total / data_shards as u64).unwrap_or(usize::MAX);
    per_shard.max(MIN_FILES_PER_SHARD)
}

/// Sets the calling shard's budget of open segment files (at least 1).
/// Files open beyond a lowered budget close as files are next opened.
///
/// # Panics
/// If `files` is 0.
pub fn set_shard_segment_files_max(files: usize) {
    assert!(files > 0, "a budget of no open files cannot serve a read");
    with_lru(|lru| lru.budget = files);
}

/// Segment files the calling shard holds open (counted against its budget).
pub fn shard_segment_files_open() -> usize {
    with_lru(|lru| lru.counted)
}

fn with_lru<T>(f: impl FnOnce(&mut Lru) -> T) -> T {
    SEGMENT_FILES.with(|lru| f(&mut lru.borrow_mut()))
}

impl Lru {
    fn new(budget: usize) -> Lru {
        assert!(budget > 0);
        Lru {
            budget,
            slots: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
            counted: 0,
        }
    }

    /// Links `entry` as the most recently used; returns its slot.
    fn push_front(&mut self, entry: &Rc<Entry>) -> u32 {
        let slot = if self.free == NIL {
            let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 open files");
            assert!(slot != NIL);
            self.slots.push(Slot {
                entry: Rc::downgrade(entry),
                prev: NIL,
                next: NIL,
            });
            slot
        } else {
            let slot = self.free;
            self.free = self.slots[slot as usize].next;
            self.slots[slot as usize].entry = Rc::downgrade(entry);
            slot
        };
        self.link_front(slot);
        slot
    }

    fn link_front(&mut self, slot: u32) {
        self.slots[slot as usize].prev = NIL;
        self.slots[slot as usize].next = self.head;
        if self.head != NIL {
            self.slots[self.head as usize].prev = slot;
        }
        self.head = slot;
        if self.tail == NIL {
            self.tail = slot;
        }
    }

    fn unlink(&mut self, slot: u32) {
        let Slot { prev, next, .. } = self.slots[slot as usize];
        if prev == NIL {
            assert_eq!(self.head, slot, "an unlinked slot's predecessor");
            self.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            assert_eq!(self.tail, slot, "an unlinked slot's successor");
            self.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
    }

    /// Unlinks `slot` and returns it to the free list.
    fn remove(&mut self, slot: u32) {
        self.unlink(slot);
        self.slots[slot as usize].entry = Weak::new();
        self.slots[slot as usize].next = self.free;
        self.free = slot;
    }

    /// Moves `slot` to the front (most recently used).
    fn touch(&mut self, slot: u32) {
        if self.head != slot {
            self.unlink(slot);
            self.link_front(slot);
        }
    }

    /// Closes idle files, least recently used first, until the count is
    /// within the budget or no idle file is left.
    fn make_room(&mut self) {
        let mut cursor = self.tail;
        while self.counted > self.budget && cursor != NIL {
            let prev = self.slots[cursor as usize].prev;
            let entry = self.slots[cursor as usize]
                .entry
                .upgrade()
                .expect("a dropped segment file leaves the LRU");
            let idle = entry
                .file
                .borrow()
                .as_ref()
                .is_some_and(|file| Rc::strong_count(file) == 1);
            if idle {
                // Dropping the handle queues the close on the reactor
                // (glommio closes a dropped file asynchronously).
                let closed = entry.file.borrow_mut().take();
                assert!(closed.is_some());
                entry.slot.set(NIL);
                self.remove(cursor);
                self.counted -= 1;
            }
            cursor = prev;
        }
        crate::log_stats::record_segment_files_open(self.counted);
    }
}

/// One file counted against the budget while it is being opened; released
/// if the open fails or its future is dropped.
struct Reservation {
    live: bool,
}

impl Reservation {
    fn take() -> Reservation {
        with_lru(|lru| {
            lru.counted += 1;
            lru.make_room();
        });
        Reservation { live: true }
    }

    /// The file is installed: it stays counted, now as a linked entry.
    fn keep(mut self) {
        self.live = false;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.live {
            with_lru(|lru| {
                lru.counted -= 1;
                crate::log_stats::record_segment_files_open(lru.counted);
            });
        }
    }
}

impl SegmentFile {
    /// Creates (or truncates) the file at `path` for reading and writing.
    ///
    /// # Errors
    /// IO failures creating the file.
    pub async fn create(path: PathBuf) -> Result<SegmentFile, LogError> {
        let reservation = Reservation::take();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .dma_open(&path)
            .await
            .map_err(|e| LogError::glommio(&path, e))?;
        Ok(SegmentFile::installed(path, file, reservation))
    }

    /// Opens the existing file at `path` for reading and writing.
    ///
    /// # Errors
    /// IO failures opening the file.
    pub async fn open(path: PathBuf) -> Result<SegmentFile, LogError> {
        let reservation = Reservation::take();
        let file = open_existing(&path).await?;
        Ok(SegmentFile::installed(path, file, reservation))
    }

    fn installed(path: PathBuf, file: DmaFile, reservation: Reservation) -> SegmentFile {
        let entry = Rc::new(Entry {
            path: RefCell::new(path),
            file: RefCell::new(Some(Rc::new(file))),
            slot: Cell::new(NIL),
            kept: Cell::new(false),
        });
        entry.slot.set(with_lru(|lru| lru.push_front(&entry)));
        reservation.keep();
        SegmentFile { entry }
    }

    /// The open file, reopened first if the budget closed it. Hold the
    /// `Rc` for the duration of one IO (or one scan), not longer: a held
    /// file cannot be closed to make room.
    ///
    /// # Errors
    /// IO failures reopening the file.
    ///
    /// # Cancel safety
    /// Safe: a reopen dropped midway releases its place in the budget.
    pub async fn get(&self) -> Result<Rc<DmaFile>, LogError> {
        let open = self.entry.file.borrow().clone();
        match open {
            Some(file) => {
                self.touch();
                Ok(file)
            }
            None => self.reopen().await,
        }
    }

    fn touch(&self) {
        let slot = self.entry.slot.get();
        if slot != NIL {
            with_lru(|lru| lru.touch(slot));
        }
    }

    async fn reopen(&self) -> Result<Rc<DmaFile>, LogError> {
        let path = self.entry.path.borrow().clone();
        let reservation = Reservation::take();
        let file = open_existing(&path).await?;
        crate::log_stats::record_segment_file_reopen();
        let raced = self.entry.file.borrow().clone();
        if let Some(open) = raced {
            // Another task reopened it meanwhile: use that one; ours closes.
            drop(reservation);
            self.touch();
            return Ok(open);
        }
        let file = Rc::new(file);
        *self.entry.file.borrow_mut() = Some(Rc::clone(&file));
        if !self.entry.kept.get() {
            let slot = with_lru(|lru| lru.push_front(&self.entry));
            self.entry.slot.set(slot);
        }
        reservation.keep();
        Ok(file)
    }

    /// Keeps the file open until this `SegmentFile` drops, outside the LRU
    /// (still counted): its name is about to be unlinked or renamed over
    /// while readers may still read it. Opens it first if closed.
    ///
    /// # Errors
    /// IO failures reopening the file.
    pub async fn keep_open(&self) -> Result<(), LogError> {
        if self.entry.kept.get() {
            return Ok(());
        }
        let _held = self.get().await?;
        // No await since `get`: still open, and linked (not kept).
        let slot = self.entry.slot.get();
        assert!(slot != NIL, "an open file not kept open is in the LRU");
        with_lru(|lru| lru.remove(slot));
        self.entry.slot.set(NIL);
        self.entry.kept.set(true);
        Ok(())
    }

    /// The file now has the name `path` (a compaction copy swapped in):
    /// reopens use it.
    pub fn renamed(&self, path: PathBuf) {
        *self.entry.path.borrow_mut() = path;
    }

    /// Whether the file is open now.
    #[cfg(test)]
    pub fn is_open(&self) -> bool {
        self.entry.file.borrow().is_some()
    }

    /// The name a reopen uses.
    #[cfg(test)]
    pub fn path(&self) -> PathBuf {
        self.entry.path.borrow().clone()
    }
}

impl Drop for SegmentFile {
    fn drop(&mut self) {
        let slot = self.entry.slot.get();
        let counted = slot != NIL || self.entry.kept.get();
        if !counted {
            return;
        }
        // At thread exit the LRU may be gone already (an `AccessError`, not
        // an IO error): nothing left to account.
        let _ = SEGMENT_FILES.try_with(|lru| {
            let mut lru = lru.borrow_mut();
            if slot != NIL {
                lru.remove(slot);
            }
            lru.counted -= 1;
            crate::log_stats::record_segment_files_open(lru.counted);
        });
    }
}

async fn open_existing(path: &Path) -> Result<DmaFile, LogError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .dma_open(path)
        .await
        .map_err(|e| LogError::glommio(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The LRU's links, walked from the head, and the count of linked
    /// entries; checks the list is consistent both ways.
    fn linked() -> Vec<u32> {
        with_lru(|lru| {
            let mut order = Vec::new();
            let mut prev = NIL;
            let mut cursor = lru.head;
            while cursor != NIL {
                assert_eq!(lru.slots[cursor as usize].prev, prev);
                order.push(cursor);
                prev = cursor;
                cursor = lru.slots[cursor as usize].next;
            }
            assert_eq!(lru.tail, prev);
            order
        })
    }

    fn file_at(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, vec![7u8; 4096]).expect("write");
        path
    }

    #[test]
    fn the_least_recently_used_idle_file_closes_beyond_the_budget() {
        crate::test_executor::run(|| async {
            let dir = tempfile::tempdir().expect("tempdir");
            set_shard_segment_files_max(2);
            let a = SegmentFile::open(file_at(dir.path(), "a"))
                .await
                .expect("a");
            let b = SegmentFile::open(file_at(dir.path(), "b"))
                .await
                .expect("b");
            a.get().await.expect("touch a");
            let c = SegmentFile::open(file_at(dir.path(), "c"))
                .await
                .expect("c");
            assert!(
                a.is_open() && !b.is_open() && c.is_open(),
                "b was least recently used"
            );
            assert_eq!(shard_segment_files_open(), 2);
            assert_eq!(linked().len(), 2);
            // Reading b reopens it and closes a (now the least recent).
            let read = b
                .get()
                .await
                .expect("b")
                .read_at_aligned(0, 4096)
                .await
                .expect("read");
            assert_eq!(read[0], 7);
            assert!(!a.is_open() && b.is_open() && c.is_open());
            assert_eq!(shard_segment_files_open(), 2);
            drop((a, b, c));
            assert_eq!(shard_segment_files_open(), 0);
            assert!(linked().is_empty());
        });
    }

    #[test]
    fn a_file_held_by_an_io_is_not_closed() {
        crate::test_executor::run(|| async {
            let dir = tempfile::tempdir().expect("tempdir");
            set_shard_segment_files_max(1);
            let a = SegmentFile::open(file_at(dir.path(), "a"))
                .await
                .expect("a");
            let held = a.get().await.expect("a");
            let b = SegmentFile::open(file_at(dir.path(), "b"))
                .await
                .expect("b");
            // Over the budget rather than break the IO holding a.
            assert!(a.is_open() && b.is_open());
            assert_eq!(shard_segment_files_open(), 2);
            drop(held);
            let c = SegmentFile::open(file_at(dir.path(), "c"))
                .await
                .expect("c");
            assert!(!a.is_open() && !b.is_open() && c.is_open());
            assert_eq!(shard_segment_files_open(), 1);
        });
    }

    #[test]
    fn a_kept_file_survives_its_unlink_and_leaves_the_lru() {
        crate::test_executor::run(|| async {
            let dir = tempfile::tempdir().expect("tempdir");
            set_shard_segment_files_max(1);
            let path = file_at(dir.path(), "a");
            let a = SegmentFile::open(path.clone()).await.expect("a");
            let b = SegmentFile::open(file_at(dir.path(), "b"))
                .await
                .expect("b");
            assert!(!a.is_open());
            a.keep_open().await.expect("keep");
            std::fs::remove_file(&path).expect("unlink");
            let c = SegmentFile::open(file_at(dir.path(), "c"))
                .await
                .expect("c");
            assert!(a.is_open(), "kept open whatever the budget");
            assert!(!b.is_open() && c.is_open());
            let read = a
                .get()
                .await
                .expect("a")
                .read_at_aligned(0, 4096)
                .await
                .expect("read");
            assert_eq!(read[0], 7, "the unlinked file is still readable");
            assert_eq!(shard_segment_files_open(), 2, "kept files are counted");
            assert_eq!(linked().len(), 1);
            drop(a);
            assert_eq!(shard_segment_files_open(), 1);
        });
    }

    #[test]
    fn a_renamed_file_reopens_by_its_new_name() {
        crate::test_executor::run(|| async {
            let dir = tempfile::tempdir().expect("tempdir");
            set_shard_segment_files_max(1);
            let old = file_at(dir.path(), "a.cleaned");
            let a = SegmentFile::create(old.clone()).await.expect("a");
            let new = dir.path().join("a");
            std::fs::rename(&old, &new).expect("rename");
            a.renamed(new.clone());
            let _b = SegmentFile::open(file_at(dir.path(), "b"))
                .await
                .expect("b");
            assert!(!a.is_open());
            a.get().await.expect("reopen by the new name");
            assert_eq!(a.path(), new);
        });
    }

    #[test]
    fn a_failed_reopen_releases_its_place() {
        crate::test_executor::run(|| async {
            let dir = tempfile::tempdir().expect("tempdir");
            set_shard_segment_files_max(1);
            let path = file_at(dir.path(), "a");
            let a = SegmentFile::open(path.clone()).await.expect("a");
            let b = SegmentFile::open(file_at(dir.path(), "b"))
                .await
                .expect("b");
            std::fs::remove_file(&path).expect("unlink");
            assert!(a.get().await.is_err());
            // Room was made before the open (b closed); the failed one
            // holds none.
            assert!(!a.is_open() && !b.is_open());
            assert_eq!(shard_segment_files_open(), 0);
            assert!(linked().is_empty());
        });
    }

    #[test]
    fn many_files_cycle_through_a_small_budget() {
        crate::test_executor::run(|| async {
            let dir = tempfile::tempdir().expect("tempdir");
            set_shard_segment_files_max(3);
            let mut files = Vec::new();
            for i in 0..20 {
                let path = file_at(dir.path(), &format!("f{i}"));
                files.push(SegmentFile::open(path).await.expect("open"));
                assert!(shard_segment_files_open() <= 3);
            }
            for round in 0..3 {
                for (i, file) in files.iter().enumerate().rev() {
                    let handle = file.get().await.expect("reopen");
                    let read = handle.read_at_aligned(0, 4096).await.expect("read");
                    assert_eq!(read.len(), 4096, "file {i}, round {round}");
                    drop(handle);
                    assert!(shard_segment_files_open() <= 3);
                    assert_eq!(linked().len(), shard_segment_files_open());
                }
            }
            assert_eq!(files.iter().filter(|f| f.is_open()).count(), 3);
        });
    }

    #[test]
    fn the_default_share_leaves_room_for_sockets() {
        assert_eq!(shard_segment_files_max(20_000, 0, 2), 7_500);
        assert_eq!(shard_segment_files_max(20_000, 1_000, 2), 500);
        assert_eq!(shard_segment_files_max(64, 0, 4), MIN_FILES_PER_SHARD);
    }
}
