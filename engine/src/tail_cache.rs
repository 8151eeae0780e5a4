//! The tail cache: the most recently appended batches as `Bytes`, so readers
//! tailing the log are served from memory without touching the disk.
//! Invariants: entries are whole batches with increasing offsets (a
//! follower's may have gaps, compacted away on its leader); the
//! cached bytes stay within `limit_bytes` plus one batch.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::log_chunk::LogChunk;

/// One cached batch.
#[derive(Debug, Clone)]
struct CachedBatch {
    base_offset: i64,
    last_offset: i64,
    bytes: Bytes,
}

/// Recent batches in memory. Lives on: the partition's owner shard.
///
/// Batches are copied into an arena (`BytesMut`) and frozen, so a cached
/// batch costs no allocation; full arenas are recycled once no reader holds
/// a slice of them.
#[derive(Debug)]
pub struct TailCache {
    entries: VecDeque<CachedBatch>,
    cached_bytes: usize,
    limit_bytes: usize,
    arena: BytesMut,
    arena_bytes: usize,
    retired: VecDeque<BytesMut>,
}

/// Arenas kept for reuse.
const RETIRED_ARENAS_MAX: usize = 4;

impl TailCache {
    /// A cache holding about `limit_bytes` of the newest batches.
    pub fn new(limit_bytes: usize) -> TailCache {
        let arena_bytes = (limit_bytes / 4).max(64 * 1024);
        TailCache {
            entries: VecDeque::new(),
            cached_bytes: 0,
            limit_bytes,
            // Allocated on the first push: an idle partition costs nothing.
            arena: BytesMut::new(),
            arena_bytes,
            retired: VecDeque::with_capacity(RETIRED_ARENAS_MAX + 1),
        }
    }

    /// The base offset of the oldest cached batch.
    #[cfg(test)]
    pub fn first_offset(&self) -> Option<i64> {
        self.entries.front().map(|entry| entry.base_offset)
    }

    /// Caches a copy of `batch` (offsets `base_offset..=last_offset`).
    ///
    /// # Panics
    /// If the offsets do not increase past the newest cached batch.
    pub fn push(&mut self, batch: &[u8], base_offset: i64, last_offset: i64) {
        if let Some(newest) = self.entries.back() {
            assert!(
                base_offset > newest.last_offset,
                "cached offsets must increase"
            );
        }
        assert!(last_offset >= base_offset);
        if batch.len() > self.limit_bytes {
            self.clear();
            return;
        }
        if self.arena.capacity() - self.arena.len() < batch.len() {
            self.renew_arena(batch.len());
        }
        self.arena.extend_from_slice(batch);
        let bytes = self.arena.split().freeze();
        self.cached_bytes += bytes.len();
        self.entries.push_back(CachedBatch {
            base_offset,
            last_offset,
            bytes,
        });
        while self.cached_bytes > self.limit_bytes {
            let oldest = self.entries.pop_front().expect("bytes imply entries");
            self.cached_bytes -= oldest.bytes.len();
        }
    }

    fn renew_arena(&mut self, needed: usize) {
        let full = std::mem::take(&mut self.arena);
        self.retired.push_back(full);
        let size = self.arena_bytes.max(needed);
        if self.retired.len() > RETIRED_ARENAS_MAX {
            let mut oldest = self.retired.pop_front().expect("non-empty");
            // Reclaims the arena's memory only if no reader holds a slice.
            if oldest.try_reclaim(size) {
                self.arena = oldest;
                return;
            }
        }
        self.arena = BytesMut::with_capacity(size);
    }

    /// Drops every cached batch (after truncation or a large batch).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.cached_bytes = 0;
    }

    /// Drops the cached batches at or after `offset` (a truncation; the
    /// cut is at a batch boundary, so no cached batch straddles it).
    pub fn truncate_from(&mut self, offset: i64) {
        while let Some(newest) = self.entries.back() {
            if newest.last_offset < offset {
                break;
            }
            assert!(newest.base_offset >= offset, "cut inside a cached batch");
            let newest = self.entries.pop_back().expect("checked");
            self.cached_bytes -= newest.bytes.len();
        }
    }

    /// Whether a [`read`](Self::read) from `offset` is served from the
    /// cache (a cached batch holds it, or it falls in a gap between cached
    /// batches).
    pub fn holds(&self, offset: i64) -> bool {
        self.entries
            .front()
            .is_some_and(|first| offset >= first.base_offset)
            && self
                .entries
                .back()
                .is_some_and(|last| offset <= last.last_offset)
    }

    /// Appends to `out` the cached batches starting with the one holding
    /// `offset`, stopping before a batch whose last offset is >= `max_offset`
    /// or that would exceed `max_bytes` (the first batch is always whole).
    /// Returns the bytes added, or `None` if `offset` is not cached.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        out: &mut Vec<LogChunk>,
    ) -> Option<usize> {
        let first = self.entries.front()?;
        if offset < first.base_offset {
            return None;
        }
        let start = self
            .entries
            .partition_point(|entry| entry.last_offset < offset);
        let mut total = 0;
        for entry in self.entries.range(start..) {
            if entry.last_offset >= max_offset {
                break;
            }
            if total > 0 && total + entry.bytes.len() > max_bytes {
                break;
            }
            total += entry.bytes.len();
            out.push(LogChunk::Memory(entry.bytes.clone()));
        }
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_whole_batches_from_the_one_holding_offset() {
        let mut cache = TailCache::new(1 << 20);
        cache.push(&[1; 100], 0, 9);
        cache.push(&[2; 100], 10, 19);
        cache.push(&[3; 100], 20, 29);
        let mut out = Vec::new();
        assert_eq!(cache.read(15, 1_000, 100, &mut out), Some(200));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].as_slice()[0], 2);
        out.clear();
        assert_eq!(cache.read(15, 1_000, 29, &mut out), Some(100));
        out.clear();
        assert_eq!(
            cache.read(0, 50, 100, &mut out),
            Some(100),
            "first batch whole"
        );
    }

    #[test]
    fn evicts_oldest_beyond_limit() {
        let mut cache = TailCache::new(250);
        for i in 0..5 {
            cache.push(&[0; 100], i * 10, i * 10 + 9);
        }
        assert_eq!(cache.first_offset(), Some(30));
        let mut out = Vec::new();
        assert_eq!(cache.read(5, 1_000, 100, &mut out), None);
    }
}
