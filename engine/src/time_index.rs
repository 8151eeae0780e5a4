//! The sparse time index of one segment: (largest timestamp so far, last
//! offset of the batch that ended the interval), as Kafka's `.timeindex`
//! (12 bytes per entry: i64 timestamp, u32 relative offset, big-endian).
//! Invariant: timestamps never decrease and offsets strictly increase, so an
//! entry `(t, o)` promises every record at offset <= `o` has timestamp <= t.

use std::path::Path;

use crate::error::LogError;
use crate::offset_index::read_optional;

/// Bytes per on-disk entry.
pub const ENTRY_BYTES: usize = 12;

/// In-memory sparse time index of one segment. Lives on: the partition's
/// owner shard.
#[derive(Debug, Clone)]
pub struct TimeIndex {
    base_offset: i64,
    /// (largest timestamp so far, offset - base_offset).
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    /// An empty index for the segment starting at `base_offset`.
    pub fn new(base_offset: i64) -> TimeIndex {
        assert!(base_offset >= 0);
        TimeIndex {
            base_offset,
            entries: Vec::new(),
        }
    }

    /// Number of entries.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The last entry as (timestamp, absolute offset), if any.
    pub fn last_entry(&self) -> Option<(i64, i64)> {
        self.entries
            .last()
            .map(|&(timestamp, relative)| (timestamp, self.base_offset + i64::from(relative)))
    }

    /// Adds `(max_timestamp, offset)`: the largest timestamp of every record
    /// up to and including `offset`. Skipped if it would not keep the
    /// invariant (a timestamp below the last, or an offset not above it).
    pub fn maybe_append(&mut self, max_timestamp: i64, offset: i64) {
        let relative =
            u32::try_from(offset - self.base_offset).expect("offset within segment range");
        if let Some(&(last_timestamp, last_relative)) = self.entries.last() {
            if max_timestamp < last_timestamp || relative <= last_relative {
                return;
            }
        }
        self.entries.push((max_timestamp, relative));
    }

    /// The offset from which to scan for the first record with timestamp >=
    /// `target_ms`: one past the last entry whose timestamp is below the
    /// target (everything up to it is older), else the base offset.
    pub fn scan_start(&self, target_ms: i64) -> i64 {
        let count = self
            .entries
            .partition_point(|&(timestamp, _)| timestamp < target_ms);
        match count.checked_sub(1) {
            None => self.base_offset,
            Some(slot) => self.base_offset + i64::from(self.entries[slot].1) + 1,
        }
    }

    /// Drops the entries for offsets at or after `offset` (a truncation cut
    /// the segment there); the last kept one still bounds what is kept.
    pub fn truncate_from_offset(&mut self, offset: i64) {
        let relative = offset - self.base_offset;
        let keep = self
            .entries
            .partition_point(|&(_, entry)| i64::from(entry) < relative);
        self.entries.truncate(keep);
    }

    /// The index file's bytes (written at seal and close only).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.entries.len() * ENTRY_BYTES);
        for &(timestamp, relative) in &self.entries {
            bytes.extend_from_slice(&timestamp.to_be_bytes());
            bytes.extend_from_slice(&relative.to_be_bytes());
        }
        bytes
    }

    /// Loads and checks the index at `path` for a segment whose offsets end
    /// before `next_offset`; `None` if missing or failing a check.
    ///
    /// # Errors
    /// IO failures other than a missing file.
    pub fn load(
        path: &Path,
        base_offset: i64,
        next_offset: i64,
    ) -> Result<Option<TimeIndex>, LogError> {
        let Some(bytes) = read_optional(path)? else {
            return Ok(None);
        };
        if bytes.len() % ENTRY_BYTES != 0 {
            return Ok(None);
        }
        let mut index = TimeIndex::new(base_offset);
        for entry in bytes.chunks_exact(ENTRY_BYTES) {
            let mut timestamp = [0u8; 8];
            timestamp.copy_from_slice(&entry[..8]);
            let timestamp = i64::from_be_bytes(timestamp);
            let relative = u32::from_be_bytes([entry[8], entry[9], entry[10], entry[11]]);
            let increasing = index
                .entries
                .last()
                .is_none_or(|&(t, r)| timestamp >= t && relative > r);
            if !increasing || base_offset + i64::from(relative) >= next_offset {
                return Ok(None);
            }
            index.entries.push((timestamp, relative));
        }
        Ok(Some(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable_write::write_synced;

    #[test]
    fn scan_start_skips_batches_entirely_older_than_target() {
        let mut index = TimeIndex::new(0);
        index.maybe_append(100, 10);
        index.maybe_append(200, 20);
        index.maybe_append(150, 30); // timestamp went back: skipped
        assert_eq!(index.len(), 2);
        assert_eq!(index.scan_start(50), 0);
        assert_eq!(index.scan_start(100), 0);
        assert_eq!(index.scan_start(101), 11);
        assert_eq!(index.scan_start(500), 21);
    }

    #[test]
    fn round_trips_and_rejects_torn_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.timeindex");
        let mut index = TimeIndex::new(0);
        index.maybe_append(100, 3);
        index.maybe_append(200, 9);
        let written = path.clone();
        crate::test_executor::run(move || async move {
            write_synced(&written, &index.to_bytes())
                .await
                .expect("write");
        });
        let loaded = TimeIndex::load(&path, 0, 10).expect("io").expect("valid");
        assert_eq!(loaded.last_entry(), Some((200, 9)));
        assert!(TimeIndex::load(&path, 0, 9).expect("io").is_none());
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() - 1]).expect("write");
        assert!(TimeIndex::load(&path, 0, 10).expect("io").is_none());
    }
}
