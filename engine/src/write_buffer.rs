//! The aligned direct-IO write buffer of the active segment. Appends are
//! copied (and patched) into it; the flusher writes it at its aligned file
//! position. The partial last page stays in memory: after a write, a fresh
//! buffer starts with a copy of that page, so the next write rewrites the
//! page in place at its aligned offset.
//!
//! Invariants: `file_position` is aligned; `buffer[..len]` holds the file's
//! bytes `[file_position, file_position + len)`; `buffer[..clean_len]` is
//! already on disk (it is the partial page carried over).

use glommio::io::{DmaBuffer, DmaFile};

use crate::segment::{align_down, align_up, ALIGNMENT};

/// A write ready for `DmaFile::write_at`.
#[derive(Debug)]
pub struct PendingWrite {
    /// Aligned buffer, trimmed to an aligned length.
    pub buffer: DmaBuffer,
    /// Aligned file position to write at.
    pub position: u64,
    /// The segment's logical end after this write (<= position + buffer.len()).
    pub end_position: u64,
}

/// The active segment's write buffer. Lives on: the partition's owner shard.
#[derive(Debug)]
pub struct WriteBuffer {
    buffer: DmaBuffer,
    file_position: u64,
    len: usize,
    clean_len: usize,
    capacity: usize,
}

impl WriteBuffer {
    /// A buffer of `capacity` bytes continuing a file whose logical end is
    /// `end_position`; `partial_page` is the file's bytes from
    /// `align_down(end_position)` to the end.
    pub fn new(
        file: &DmaFile,
        capacity: usize,
        end_position: u64,
        partial_page: &[u8],
    ) -> WriteBuffer {
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
        let mut buffer = file.alloc_dma_buffer(capacity);
        buffer.as_bytes_mut()[..len].copy_from_slice(partial_page);
        WriteBuffer {
            buffer,
            file_position,
            len,
            clean_len: len,
            capacity,
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
        self.buffer.len() - self.len
    }

    /// Ensures `bytes` more fit. If nothing is pending and the buffer is too
    /// small (a batch larger than the capacity), it is replaced by a larger
    /// one. Returns false if the bytes do not fit until a write drains it.
    pub fn reserve(&mut self, file: &DmaFile, bytes: usize) -> bool {
        if self.buffer.len() - self.len >= bytes {
            return true;
        }
        if self.is_pending() {
            return false;
        }
        let size = align_up((self.len + bytes).max(self.capacity) as u64);
        let mut larger = file.alloc_dma_buffer(usize::try_from(size).expect("fits memory"));
        larger.as_bytes_mut()[..self.len].copy_from_slice(&self.buffer.as_bytes()[..self.len]);
        self.buffer = larger;
        true
    }

    /// The next `bytes` bytes of the buffer, appended (reserve first).
    ///
    /// # Panics
    /// If `reserve` did not make room.
    pub fn append_slot(&mut self, bytes: usize) -> &mut [u8] {
        assert!(
            self.buffer.len() - self.len >= bytes,
            "append_slot without reserve"
        );
        let start = self.len;
        self.len += bytes;
        &mut self.buffer.as_bytes_mut()[start..self.len]
    }

    /// The bytes of the file from `align_down(end)` to `end` (the partial page).
    pub fn partial_page(&self) -> &[u8] {
        let start =
            usize::try_from(align_down(self.end_position()) - self.file_position).expect("fits");
        &self.buffer.as_bytes()[start..self.len]
    }

    /// Hands the pending bytes over for a write and starts a fresh buffer
    /// holding a copy of the partial last page. `None` if nothing is pending.
    pub fn take_for_write(&mut self, file: &DmaFile) -> Option<PendingWrite> {
        if !self.is_pending() {
            return None;
        }
        let end_position = self.end_position();
        let next = WriteBuffer::new(file, self.capacity, end_position, self.partial_page());
        let mut buffer = std::mem::replace(&mut self.buffer, next.buffer);
        let aligned_len = usize::try_from(align_up(self.len as u64)).expect("fits");
        // Zero the padding after the logical end: recovery must see zeros,
        // never stale bytes, past the last batch.
        buffer.as_bytes_mut()[self.len..aligned_len].fill(0);
        buffer.trim_to_size(aligned_len);
        let position = self.file_position;
        self.file_position = next.file_position;
        self.len = next.len;
        self.clean_len = next.clean_len;
        assert!(position.is_multiple_of(ALIGNMENT));
        assert_eq!(self.end_position(), end_position);
        Some(PendingWrite {
            buffer,
            position,
            end_position,
        })
    }
}
