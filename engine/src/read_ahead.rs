//! `ReadAhead`: the next disk windows of a sequential cold reader, read while
//! the reader handles the window it has. Direct IO bypasses the page cache
//! and the kernel's readahead with it, so a consumer catching up from disk
//! would otherwise leave the disk idle between its reads.
//!
//! Per log, a chain of at most [`DEPTH`] windows. A disk read that starts
//! exactly where the previous disk read of the log ended (same segment, the
//! next offset) is sequential and asks for the window after its own. The
//! log's read-ahead task reads the chain's windows one after the other; when
//! one lands it finds where a read of it would end (`read_run::find_run`,
//! the rule the read itself uses) and asks for the window after that, so
//! the disk stays busy while the reader works. A read that wants anything
//! else (a second reader, a seek) drops the chain.
//!
//! Invariants: a window is only handed to a read of the same segment object
//! at the same position; bytes of a window at or past its `limit` are never
//! treated as batches; landed windows hold at most [`SHARD_BUDGET_BYTES`]
//! per shard, so readers that go away cannot pin unbounded memory; the
//! task has at most one read in flight. Lives on: the log's shard (`!Send`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use crate::log_stats::{record_read_ahead, ReadAheadEvent};
use crate::read_run::{find_run, ReadRun};
use crate::segment::{Segment, SegmentWindow};
use crate::wait_list::WaitList;

/// Windows a log reads ahead at most: one landed for the reader's next read
/// while the one after it is read.
pub const DEPTH: usize = 2;

/// Bytes of landed windows a shard holds at most; past it, reads go
/// without read-ahead until windows are taken or dropped.
pub const SHARD_BUDGET_BYTES: usize = 32 << 20;

thread_local! {

    /// Bytes held by landed windows on this shard.
    static HELD_BYTES: Cell<usize> = const { Cell::new(0) };
}

/// The read-ahead state of one log.
#[derive(Debug)]
pub struct ReadAhead {
    /// Where the last disk read of the log ended.
    last_end: RefCell<Option<ReadEnd>>,
    /// Oldest first: the window the next read wants, then the ones after it.
    chain: RefCell<VecDeque<Window>>,
    next_generation: Cell<u64>,
    /// The read-ahead task waits here for work (or the log's stop).
    task_wake: WaitList,
    /// Readers wait here for an in-flight window to land.
    landed: WaitList,
}

impl Default for ReadAhead {
    fn default() -> Self {
        ReadAhead {
            last_end: RefCell::new(None),
            chain: RefCell::new(VecDeque::with_capacity(DEPTH)),
            next_generation: Cell::new(0),
            task_wake: WaitList::default(),
            landed: WaitList::default(),
        }
    }
}

/// The first batch after a disk read's last returned one.
#[derive(Debug)]
struct ReadEnd {
    segment: Weak<Segment>,
    next_offset: i64,
    next_position: u64,
}

/// A read a window is for: of `offset` at `position` in `segment`,
/// returning at most `max_bytes`; `len` is what the reader itself would
/// read there (at least `max_bytes`).
#[derive(Debug, Clone)]
struct ReadShape {
    segment: Weak<Segment>,
    offset: i64,
    position: u64,
    len: u64,
    max_bytes: usize,
}

impl ReadShape {
    fn is_at(&self, segment: &Rc<Segment>, position: u64) -> bool {
        self.position == position && Weak::as_ptr(&self.segment) == Rc::as_ptr(segment)
    }
}

#[derive(Debug)]
struct Window {
    shape: ReadShape,
    /// Bytes the window reads: up to the last batch boundary the read can
    /// reach when the offset index knows it, so the next window starts
    /// where this one's run ends instead of re-reading a cut-off batch
    /// (with 512 KiB batches and 1 MiB reads, half of every window);
    /// else `shape.len`.
    read_len: u64,
    generation: u64,
    state: WindowState,
}

#[derive(Debug)]
enum WindowState {
    Wanted,
    InFlight,
    Landed(HeldWindow),
}

/// A landed window, counted against the shard's budget while it lives.
#[derive(Debug)]
struct HeldWindow(Option<SegmentWindow>);

impl HeldWindow {
    fn new(window: SegmentWindow) -> HeldWindow {
        HELD_BYTES.with(|held| held.set(held.get() + window.read.len()));
        HeldWindow(Some(window))
    }

    fn window(&self) -> &SegmentWindow {
        self.0.as_ref().expect("a held window holds one")
    }

    fn into_inner(mut self) -> SegmentWindow {
        let window = self.0.take().expect("a held window holds one");
        release(window.read.len());
        window
    }
}

impl Drop for HeldWindow {
    fn drop(&mut self) {
        if let Some(window) = &self.0 {
            release(window.read.len());
        }
    }
}

fn release(bytes: usize) {
    HELD_BYTES.with(|held| {
        assert!(held.get() >= bytes, "read-ahead budget underflow");
        held.set(held.get() - bytes);
    });
}

fn within_budget(len: u64) -> bool {
    HELD_BYTES.with(|held| (held.get() as u64).saturating_add(len) <= SHARD_BUDGET_BYTES as u64)
}

impl ReadAhead {
    /// The position of the batch holding `offset` in `segment`, when a read
    /// of `offset` continues the log's last disk read (skipping the index).
    pub fn continuation(&self, segment: &Rc<Segment>, offset: i64) -> Option<u64> {
        let last_end = self.last_end.borrow();
        let end = last_end.as_ref()?;
        let same_segment = Weak::as_ptr(&end.segment) == Rc::as_ptr(segment);
        (same_segment && end.next_offset == offset).then_some(end.next_position)
    }

    /// The window read ahead for `position` of `segment`: waits while it is
    /// being read. `None` when the chain does not start there (the chain is
    /// then dropped) or the window's read failed (the caller reads again
    /// itself and sees the error).
    pub async fn take(&self, segment: &Rc<Segment>, position: u64) -> Option<SegmentWindow> {
        let front = self
            .chain
            .borrow()
            .front()
            .map(|window| (window.shape.is_at(segment, position), window.generation));
        let generation = match front {
            Some((true, generation)) => generation,
            Some((false, _)) => {
                self.drop_chain();
                return None;
            }
            None => return None,
        };
        self.landed
            .wait_until(|| match self.chain.borrow().front() {
                Some(window) if window.generation == generation => {
                    matches!(window.state, WindowState::Landed(_))
                }
                _ => true,
            })
            .await;
        let mut chain = self.chain.borrow_mut();
        match chain.front() {
            Some(window)
                if window.generation == generation
                    && matches!(window.state, WindowState::Landed(_)) => {}
            _ => return None,
        }
        let Some(Window {
            state: WindowState::Landed(held),
            ..
        }) = chain.pop_front()
        else {
            unreachable!("checked above");
        };
        drop(chain);
        record_read_ahead(ReadAheadEvent::Used);
        // The chain has room again.
        self.extend();
        Some(held.into_inner())
    }

    /// Records where a disk read of `segment` ended: at `next_position`,
    /// offset `next_offset`, having read `len` bytes for `max_bytes`. A
    /// sequential read whose successor is not read ahead yet asks for it.
    pub fn note_end(
        &self,
        segment: &Rc<Segment>,
        sequential: bool,
        next: (i64, u64),
        len: u64,
        max_bytes: usize,
    ) {
        let (next_offset, next_position) = next;
        *self.last_end.borrow_mut() = Some(ReadEnd {
            segment: Rc::downgrade(segment),
            next_offset,
            next_position,
        });
        let ahead = self.chain.borrow().front().map(|window| {
            window.shape.is_at(segment, next_position) && window.shape.offset == next_offset
        });
        match ahead {
            Some(true) => return,
            Some(false) => self.drop_chain(),
            None => {}
        }
        if sequential {
            self.want(ReadShape {
                segment: Rc::downgrade(segment),
                offset: next_offset,
                position: next_position,
                len,
                max_bytes,
            });
        }
    }

    /// Forgets the last read and drops the chain: a truncation cut bytes a
    /// window may hold, and the positions after the cut will hold others.
    pub fn forget(&self) {
        *self.last_end.borrow_mut() = None;
        self.drop_chain();
    }

    /// Wakes the read-ahead task so it sees the log stop.
    pub fn wake_task(&self) {
        self.task_wake.notify_all();
    }

    /// Appends a wanted window to the chain, if the segment has written
    /// bytes there and the shard's budget allows.
    fn want(&self, shape: ReadShape) {
        let Some(segment) = shape.segment.upgrade() else {
            return;
        };
        let read_len = segment
            .bytes_to_batch_boundary(shape.position, shape.max_bytes)
            .unwrap_or(shape.len);
        let mut chain = self.chain.borrow_mut();
        if chain.len() >= DEPTH
            || shape.position >= segment.written_bytes()
            || !within_budget(read_len)
        {
            return;
        }
        let generation = self.next_generation.get();
        self.next_generation.set(generation + 1);
        chain.push_back(Window {
            shape,
            read_len,
            generation,
            state: WindowState::Wanted,
        });
        drop(chain);
        self.task_wake.notify_all();
    }

    fn drop_chain(&self) {
        let dropped = !self.chain.borrow().is_empty();
        self.chain.borrow_mut().clear();
        if dropped {
            self.landed.notify_all();
        }
    }

    /// The window after the chain's last one, when that one has landed: where
    /// a read of it would end.
    fn successor(&self) -> Option<ReadShape> {
        let chain = self.chain.borrow();
        let last = chain.back()?;
        let WindowState::Landed(held) = &last.state else {
            return None;
        };
        let shape = &last.shape;
        let window = held.window();
        let run = find_run(
            window.batch_bytes(u64::MAX),
            shape.offset,
            shape.max_bytes,
            i64::MAX,
        );
        let Ok(ReadRun::Batches {
            start,
            len,
            next_offset,
        }) = run
        else {
            return None;
        };
        Some(ReadShape {
            segment: shape.segment.clone(),
            offset: next_offset,
            position: shape.position + (start + len) as u64,
            len: shape.len,
            max_bytes: shape.max_bytes,
        })
    }

    /// Asks for the window after the chain's last one, when that one has
    /// landed and the chain has room.
    fn extend(&self) {
        if self.chain.borrow().len() < DEPTH {
            if let Some(shape) = self.successor() {
                self.want(shape);
            }
        }
    }

    fn has_wanted(&self) -> bool {
        self.chain
            .borrow()
            .iter()
            .any(|window| matches!(window.state, WindowState::Wanted))
    }

    /// The log's read-ahead task: reads the chain's wanted windows, one at a
    /// time, extending the chain as each lands; returns once `stopped()`
    /// (the log closed, dropped or poisoned).
    pub async fn run(&self, stopped: impl Fn() -> bool) {
        loop {
            self.task_wake
                .wait_until(|| stopped() || self.has_wanted())
                .await;
            if stopped() {
                self.drop_chain();
                return;
            }
            let (shape, read_len, generation) = {
                let mut chain = self.chain.borrow_mut();
                let window = chain
                    .iter_mut()
                    .find(|window| matches!(window.state, WindowState::Wanted))
                    .expect("woken for a wanted window");
                window.state = WindowState::InFlight;
                (window.shape.clone(), window.read_len, window.generation)
            };
            // A segment gone meanwhile (retention, a compaction swap) reads
            // as nothing.
            let read = match shape.segment.upgrade() {
                Some(segment) => segment.read_window(shape.position, read_len).await.ok(),
                None => None,
            };
            {
                let mut chain = self.chain.borrow_mut();
                let slot = chain
                    .iter()
                    .position(|window| window.generation == generation);
                match (slot, read) {
                    (Some(slot), Some(read)) => {
                        let bytes = read.read.len() as u64;
                        chain[slot].state = WindowState::Landed(HeldWindow::new(read));
                        record_read_ahead(ReadAheadEvent::Read { bytes });
                    }
                    // The read failed: drop it and the windows after it.
                    (Some(slot), None) => chain.truncate(slot),
                    // The chain was dropped meanwhile: the read goes with it.
                    (None, _) => {}
                }
            }
            self.extend();
            self.landed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_bounds_the_bytes_of_landed_windows() {
        assert!(within_budget(SHARD_BUDGET_BYTES as u64));
        HELD_BYTES.with(|held| held.set(SHARD_BUDGET_BYTES - 10));
        assert!(within_budget(10));
        assert!(!within_budget(11));
        HELD_BYTES.with(|held| held.set(0));
    }
}
