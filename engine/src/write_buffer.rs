//! The aligned direct-IO write buffer of the active segment. Appends are
//! copied (and patched) into it; the flusher writes it at its aligned file
//! position. The partial last page stays in memory: after a write, a copy of
//! that page starts the next buffer, so the next write rewrites the page in
//! place at its aligned offset.
//!
//! The DMA buffer is taken from glommio's pool only when bytes arrive, so an
//! idle partition holds at most one 4 KiB page, not a whole buffer — and no
//! page at all while its end is page-aligned (an empty partition: a broker
//! with 100 000 of them would otherwise hold 400 MB of empty pages), until
//! its first write. Its size follows
//! demand: twice the last write, between [`MIN_BUFFER_BYTES`] and the
//! capacity. A partition taking one small batch at a time uses small
//! buffers (many partitions fit the shard's pool); a loaded one grows to
//! the capacity within a few writes, so a group commit can gather more.
//!
//! A write is *open* when it ends with the partial last page: the next write
//! rewrites that page, so the two must not be in flight together. A *closed*
//! write stops at the last page boundary and leaves the partial page pending
//! in the next buffer; the next write starts where it ends, so it may be
//! issued while the closed one is still in flight (the log does so when
//! appends wait for room).
//!
//! A write that rewrites the partial page an earlier (open) write put on
//! disk, and goes on past it, is handed over in two pieces: that page on
//! its own and the rest from the next page boundary (`PendingWrite::head`).
//! Each is then either a pure overwrite or a write into fresh (preallocated)
//! space, which ext4 and io_uring carry out inline and concurrently; one
//! write over both would take the inode lock exclusively and be punted to a
//! worker thread, serialised with every other write to the file.
//!
//! Invariants: `file_position` is aligned; the buffer (or, while none is
//! allocated, `tail_page`) holds the file's bytes
//! `[file_position, file_position + len)`; the first `clean_len` of them are
//! already on disk (the partial page carried over from an open write; 0
//! after a closed one).

use glommio::io::DmaBuffer;

use crate::segment::{align_down, align_up, ALIGNMENT};

/// The smallest buffer taken from the pool (unless the capacity is smaller).
pub const MIN_BUFFER_BYTES: usize = 64 << 10;

/// A write ready for `DmaFile::write_at`: one buffer, or two when it starts
/// by rewriting a page already on disk (see `head`).
#[derive(Debug)]
pub struct PendingWrite {
    /// The first page, when it is the partial page an earlier write put on
    /// disk and more pages follow: written on its own at `position`, so that
    /// it is a pure overwrite and `buffer` covers only new space. (One write
    /// over both is not an overwrite to ext4 when the new space is
    /// preallocated: it takes the inode lock exclusively, and io_uring hands
    /// every such write to a worker thread, one at a time per file.)
    pub head: Option<DmaBuffer>,
    /// Aligned buffer, trimmed to an aligned length: written at `position`,
    /// or one page further when there is a `head`.
    pub buffer: DmaBuffer,
    /// Aligned file position to write at.
    pub position: u64,
    /// Where the bytes this write puts on disk end: the segment's logical
    /// end for an open write, `position + buffer.len()` for a closed one.
    pub end_position: u64,
    /// Whether the write stops at a page boundary short of the logical end
    /// (the partial page stays pending), so the next write may overlap it.
    pub closed: bool,
}

/// The active segment's write buffer. Lives on: the partition's owner shard.
#[derive(Debug)]
pub struct WriteBuffer {
    buffer: Option<DmaBuffer>,
    /// The partial last page while no buffer is allocated: capacity one
    /// page once the log has a partial page or has been written, none before.
    tail_page: Vec<u8>,
    file_position: u64,
    len: usize,
    clean_len: usize,
    capacity: usize,
    /// Size of the next buffer taken from the pool: follows demand.
    next_size: usize,
}

impl WriteBuffer {
    /// A buffer of `capacity` bytes (allocated on first use) continuing a
    /// file whose logical end is `end_position`; `partial_page` is the
    /// file's bytes from `align_down(end_position)` to the end.
    pub fn new(capacity: usize, end_position: u64, partial_page: &[u8]) -> WriteBuffer {
        assert!(
            (capacity as u64).is_multiple_of(ALIGNMENT),
            "capacity must be aligned"
        );
        assert!(capacity as u64 >= 2 * ALIGNMENT);
        let file_position = align_down(end_position);
        let len = usize::try_from(end_position - file_position).expect("within a page");
        assert_eq!(
            partial_page.len(),
            len,
            "partial page must reach the logical end"
        );
        let tail_page = if partial_page.is_empty() {
            Vec::new()
        } else {
            let mut page = Vec::with_capacity(ALIGNMENT as usize);
            page.extend_from_slice(partial_page);
            page
        };
        WriteBuffer {
            buffer: None,
            tail_page,
            file_position,
            len,
            clean_len: len,
            capacity,
            next_size: MIN_BUFFER_BYTES.min(capacity),
        }
    }

    /// The logical end of the file including buffered bytes.
    pub fn end_position(&self) -> u64 {
        self.file_position + self.len as u64
    }

    /// Whether bytes are waiting to be written.
    pub fn is_pending(&self) -> bool {
        self.len > self.clean_len
    }

    /// Bytes that fit before the buffer is full.
    pub fn room(&self) -> usize {
        match &self.buffer {
            Some(buffer) => buffer.len() - self.len,
            None => self.next_size - self.len,
        }
    }

    /// Whether `reserve(bytes)` would succeed now.
    pub fn would_reserve(&self, bytes: usize) -> bool {
        match &self.buffer {
            None => true,
            Some(_) => self.room() >= bytes || !self.is_pending(),
        }
    }

    /// Ensures `bytes` more fit, taking a buffer from the pool if none is
    /// held. If nothing is pending and the buffer is too small (a batch
    /// larger than the capacity), it is replaced by a larger one. Returns
    /// false if the bytes do not fit until a write drains the buffer.
    pub fn reserve(&mut self, bytes: usize) -> bool {
        if self.buffer.is_some() {
            if self.room() >= bytes {
                return true;
            }
            if self.is_pending() {
                return false;
            }
        }
        // No buffer, or an idle one too small: the only bytes to keep are
        // the partial page (clean after an open write, pending after a
        // closed one), and the buffer starts at its page.
        assert_eq!(self.file_position, align_down(self.end_position()));
        let size = align_up((self.len + bytes).max(self.next_size) as u64);
        let mut fresh = glommio::allocate_dma_buffer(usize::try_from(size).expect("fits memory"));
        fresh.as_bytes_mut()[..self.len].copy_from_slice(self.partial_page());
        self.buffer = Some(fresh);
        assert!(self.room() >= bytes);
        true
    }

    /// The next `bytes` bytes of the buffer, appended (reserve first).
    ///
    /// # Panics
    /// If `reserve` did not make room.
    pub fn append_slot(&mut self, bytes: usize) -> &mut [u8] {
        let start = self.len;
        let buffer = self.buffer.as_mut().expect("append_slot without reserve");
        assert!(buffer.len() - start >= bytes, "append_slot without reserve");
        self.len += bytes;
        &mut buffer.as_bytes_mut()[start..start + bytes]
    }

    /// The bytes of the file from `align_down(end)` to `end` (the partial page).
    pub fn partial_page(&self) -> &[u8] {
        let start =
            usize::try_from(align_down(self.end_position()) - self.file_position).expect("fits");
        match &self.buffer {
            Some(buffer) => &buffer.as_bytes()[start..self.len],
            None => {
                assert_eq!(start, 0);
                &self.tail_page
            }
        }
    }

    /// Hands the pending bytes over for a write, keeping a copy of the
    /// partial last page for the next one. `None` if nothing is pending.
    /// A `closed` write stops at the last page boundary if there is a whole
    /// page to write before it (otherwise the write is open).
    pub fn take_for_write(&mut self, closed: bool) -> Option<PendingWrite> {
        if !self.is_pending() {
            return None;
        }
        if self.buffer.is_none() {
            // Only a pending partial page, left by a closed write.
            self.reserve(0);
        }
        let logical_end = self.end_position();
        let next_position = align_down(logical_end);
        let closed = closed && next_position > self.file_position;
        let page_start = usize::try_from(next_position - self.file_position).expect("fits");
        let mut buffer = self.buffer.take().expect("reserved above");
        self.tail_page.clear();
        // A whole page at the first write, so later ones do not reallocate.
        self.tail_page.reserve_exact(ALIGNMENT as usize);
        self.tail_page
            .extend_from_slice(&buffer.as_bytes()[page_start..self.len]);
        let written_len = if closed {
            page_start
        } else {
            usize::try_from(align_up(self.len as u64)).expect("fits")
        };
        self.next_size = usize::try_from(align_up(2 * self.len as u64))
            .expect("fits")
            .clamp(MIN_BUFFER_BYTES.min(self.capacity), self.capacity);
        if !closed {
            // Zero the padding after the logical end: recovery must see
            // zeros, never stale bytes, past the last batch.
            buffer.as_bytes_mut()[self.len..written_len].fill(0);
        }
        buffer.trim_to_size(written_len);
        let page = ALIGNMENT as usize;
        let head = (self.clean_len > 0 && written_len > page).then(|| {
            let mut head = glommio::allocate_dma_buffer(page);
            head.as_bytes_mut()
                .copy_from_slice(&buffer.as_bytes()[..page]);
            buffer.trim_front(page);
            head
        });
        let position = self.file_position;
        self.file_position = next_position;
        self.len = self.tail_page.len();
        // An open write puts the partial page on disk; a closed one leaves
        // it for the next write.
        self.clean_len = if closed { 0 } else { self.len };
        assert!(position.is_multiple_of(ALIGNMENT));
        assert_eq!(self.end_position(), logical_end);
        Some(PendingWrite {
            head,
            buffer,
            position,
            end_position: if closed { next_position } else { logical_end },
            closed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `test` on an executor with a 16 MiB DMA pool (the buffers'
    /// source).
    fn with_executor<F, T>(test: T)
    where
        T: FnOnce() -> F + Send + 'static,
        F: std::future::Future<Output = ()> + 'static,
    {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(16 << 20)
            .spawn(move || async move { test().await })
            .expect("executor")
            .join()
            .expect("join");
    }

    #[test]
    fn partial_page_is_carried_into_the_next_buffer_and_padding_zeroed() {
        with_executor(|| async move {
            let mut buffer = WriteBuffer::new(2 * ALIGNMENT as usize, 0, &[]);
            assert!(!buffer.is_pending());
            assert!(buffer.reserve(5_000));
            buffer.append_slot(5_000).fill(7);
            let write = buffer.take_for_write(false).expect("pending");
            assert_eq!((write.position, write.end_position), (0, 5_000));
            assert_eq!(write.buffer.len(), 8_192);
            assert!(write.buffer.as_bytes()[5_000..].iter().all(|&b| b == 0));
            // The next buffer starts at the partial page, already clean.
            assert_eq!(buffer.end_position(), 5_000);
            assert!(!buffer.is_pending());
            assert_eq!(buffer.partial_page().len(), 5_000 - 4_096);
            // A batch larger than the capacity grows an idle buffer.
            assert!(buffer.reserve(20_000));
            buffer.append_slot(20_000).fill(9);
            assert!(!buffer.reserve(100_000), "pending bytes block growth");
            let write = buffer.take_for_write(false).expect("pending");
            assert_eq!(write.position, 4_096);
            assert_eq!(write.end_position, 25_000);
            // The rewritten page goes on its own: the carried bytes, then
            // the new ones.
            let head = write.head.expect("the first page is on disk");
            assert!(head.as_bytes()[..904].iter().all(|&b| b == 7));
            assert!(head.as_bytes()[904..].iter().all(|&b| b == 9));
            assert_eq!(write.buffer.len(), 24_576 - 4_096);
        });
    }

    #[test]
    fn a_write_rewriting_an_on_disk_page_carries_that_page_apart() {
        with_executor(|| async move {
            let mut buffer = WriteBuffer::new(64 * ALIGNMENT as usize, 0, &[]);
            // From an empty file: nothing on disk to rewrite.
            assert!(buffer.reserve(6_000));
            buffer.append_slot(6_000).fill(1);
            let first = buffer.take_for_write(false).expect("pending");
            assert!(first.head.is_none());
            assert_eq!(first.buffer.len(), 8_192);
            // Within the partial page alone: one pure overwrite, no head.
            assert!(buffer.reserve(100));
            buffer.append_slot(100).fill(2);
            let small = buffer.take_for_write(false).expect("pending");
            assert!(small.head.is_none());
            assert_eq!((small.position, small.buffer.len()), (4_096, 4_096));
            // Past it: the page [4096, 8192) apart, the new pages after it.
            assert!(buffer.reserve(10_000));
            buffer.append_slot(10_000).fill(3);
            let split = buffer.take_for_write(false).expect("pending");
            assert_eq!((split.position, split.end_position), (4_096, 16_100));
            let head = split.head.expect("the partial page is on disk");
            assert_eq!(head.len(), 4_096);
            assert!(head.as_bytes()[..1_904].iter().all(|&b| b == 1));
            assert!(head.as_bytes()[1_904..2_004].iter().all(|&b| b == 2));
            assert!(head.as_bytes()[2_004..].iter().all(|&b| b == 3));
            // The body starts one page later and is padded with zeroes.
            let body = split.buffer.as_bytes();
            assert_eq!(body.len(), 16_384 - 8_192);
            assert!(body[..16_100 - 8_192].iter().all(|&b| b == 3));
            assert!(body[16_100 - 8_192..].iter().all(|&b| b == 0));
            // After a closed write the partial page is not on disk: the next
            // write starts at fresh space, in one piece.
            assert!(buffer.reserve(9_000));
            buffer.append_slot(9_000).fill(4);
            let closed = buffer.take_for_write(true).expect("pending");
            assert!(closed.closed);
            assert!(closed.head.is_some(), "it still rewrites [12288, 16384)");
            assert!(buffer.reserve(5_000));
            buffer.append_slot(5_000).fill(5);
            let after_closed = buffer.take_for_write(false).expect("pending");
            assert!(after_closed.head.is_none());
            assert_eq!(after_closed.position, closed.end_position);
        });
    }

    #[test]
    fn a_closed_write_stops_at_a_page_boundary_and_the_next_one_starts_there() {
        with_executor(|| async move {
            let mut buffer = WriteBuffer::new(64 * ALIGNMENT as usize, 0, &[]);
            assert!(buffer.reserve(10_000));
            buffer.append_slot(10_000).fill(7);
            let first = buffer.take_for_write(true).expect("pending");
            assert!(first.closed);
            assert_eq!((first.position, first.end_position), (0, 8_192));
            assert_eq!(first.buffer.len(), 8_192);
            // The partial page is still to be written, from the new position.
            assert!(buffer.is_pending());
            assert_eq!(buffer.end_position(), 10_000);
            assert_eq!(buffer.partial_page().len(), 10_000 - 8_192);
            assert!(buffer.reserve(3_000));
            buffer.append_slot(3_000).fill(9);
            let second = buffer.take_for_write(false).expect("pending");
            assert!(!second.closed);
            assert_eq!((second.position, second.end_position), (8_192, 13_000));
            let bytes = second.buffer.as_bytes();
            assert!(bytes[..1_808].iter().all(|&b| b == 7));
            assert!(bytes[1_808..4_808].iter().all(|&b| b == 9));
            assert!(bytes[4_808..].iter().all(|&b| b == 0), "padding zeroed");
            // Open: the partial page is on disk and nothing is pending.
            assert!(!buffer.is_pending());
            // Less than a page pending: a closed request writes it open.
            assert!(buffer.reserve(10));
            buffer.append_slot(10).fill(1);
            let small = buffer.take_for_write(true).expect("pending");
            assert!(!small.closed);
            assert_eq!(small.end_position, 13_010);
            // A closed write leaving only a pending page, then an open
            // write of that page alone (no buffer held in between).
            assert!(buffer.reserve(8_000));
            buffer.append_slot(8_000).fill(2);
            let closed = buffer.take_for_write(true).expect("pending");
            assert_eq!((closed.position, closed.end_position), (12_288, 20_480));
            let tail = buffer.take_for_write(false).expect("pending");
            assert_eq!((tail.position, tail.end_position), (20_480, 21_010));
            assert!(tail.buffer.as_bytes()[..530].iter().all(|&b| b == 2));
        });
    }

    #[test]
    fn buffer_size_follows_demand_between_the_minimum_and_the_capacity() {
        with_executor(|| async move {
            let capacity = 1 << 20;
            let mut buffer = WriteBuffer::new(capacity, 0, &[]);
            // A small batch takes the minimum, not the capacity.
            assert!(buffer.reserve(100));
            assert_eq!(buffer.room(), MIN_BUFFER_BYTES);
            buffer.append_slot(100).fill(1);
            assert_eq!(buffer.room(), MIN_BUFFER_BYTES - 100);
            buffer.take_for_write(false).expect("pending");
            // A full buffer doubles the next one, up to the capacity.
            let mut sizes = Vec::new();
            for _ in 0..6 {
                let room = {
                    assert!(buffer.reserve(1));
                    buffer.room() + buffer.partial_page().len()
                };
                sizes.push(room);
                buffer
                    .append_slot(room - buffer.partial_page().len())
                    .fill(2);
                buffer.take_for_write(false).expect("pending");
            }
            assert_eq!(sizes[0], MIN_BUFFER_BYTES);
            assert_eq!(sizes[1], 2 * MIN_BUFFER_BYTES);
            assert_eq!(sizes[4], capacity);
            assert_eq!(sizes[5], capacity, "never beyond the capacity");
            // Quiet again: back to the minimum.
            assert!(buffer.reserve(10));
            buffer.append_slot(10).fill(3);
            buffer.take_for_write(false).expect("pending");
            assert!(buffer.reserve(10));
            assert_eq!(
                buffer.room() + buffer.partial_page().len(),
                MIN_BUFFER_BYTES
            );
        });
    }
}
