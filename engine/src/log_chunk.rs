//! `LogChunk`: a run of whole batches handed to a reader, either from the
//! tail cache (`Bytes`) or from a direct-IO read (`ReadResult`), both
//! zero-copy. Invariant: a chunk starts and ends on batch boundaries.

use bytes::Bytes;
use glommio::io::ReadResult;

/// A run of whole batches. Lives on: the shard that read it (`Disk` is `!Send`;
/// convert with [`LogChunk::into_bytes`] to cross shards).
#[derive(Debug, Clone)]
pub enum LogChunk {
    /// From the tail cache: `Send`, cloning is a reference-count increment.
    Memory(Bytes),
    /// From a direct-IO read: a slice of the aligned read buffer.
    Disk(ReadResult),
}

impl LogChunk {
    /// The batch bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            LogChunk::Memory(bytes) => bytes,
            LogChunk::Disk(read) => read,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether the chunk is empty (never, for chunks the log hands out).
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// Owned `Bytes`: free for `Memory`, one copy for `Disk`.
    pub fn into_bytes(self) -> Bytes {
        match self {
            LogChunk::Memory(bytes) => bytes,
            LogChunk::Disk(read) => Bytes::copy_from_slice(&read),
        }
    }
}
