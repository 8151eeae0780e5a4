//! The sparse offset index of one segment: (relative offset, file position)
//! of a batch start every `index.interval.bytes`, as Kafka's `.index` file
//! (8 bytes per entry, big-endian u32 pair). Invariant: entries strictly
//! increase in both offset and position; every entry points at the start of
//! a batch whose base offset it names.

use std::path::Path;

use crate::error::LogError;

/// Bytes per on-disk entry.
pub const ENTRY_BYTES: usize = 8;

/// In-memory sparse offset index of one segment. Lives on: the partition's
/// owner shard.
#[derive(Debug, Clone)]
pub struct OffsetIndex {
    base_offset: i64,
    /// (offset - base_offset, file position of the batch starting there).
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    /// An empty index for the segment starting at `base_offset`.
    pub fn new(base_offset: i64) -> OffsetIndex {
        assert!(base_offset >= 0);
        OffsetIndex {
            base_offset,
            entries: Vec::new(),
        }
    }

    /// Records that the batch with base offset `offset` starts at `position`.
    ///
    /// # Panics
    /// If `offset`/`position` do not increase or do not fit the relative form.
    pub fn append(&mut self, offset: i64, position: u64) {
        let relative =
            u32::try_from(offset - self.base_offset).expect("offset within segment range");
        let position = u32::try_from(position).expect("segment position fits u32");
        if let Some(&(last_relative, last_position)) = self.entries.last() {
            assert!(
                relative > last_relative,
                "offset index entries must increase"
            );
            assert!(
                position > last_position,
                "offset index positions must increase"
            );
        }
        self.entries.push((relative, position));
    }

    /// The greatest indexed (offset, position) with offset <= `offset`, or
    /// (base offset, 0) if none is.
    pub fn lookup(&self, offset: i64) -> (i64, u64) {
        let relative = offset - self.base_offset;
        let count = self
            .entries
            .partition_point(|&(entry, _)| i64::from(entry) <= relative);
        match count.checked_sub(1) {
            None => (self.base_offset, 0),
            Some(slot) => {
                let (entry, position) = self.entries[slot];
                (self.base_offset + i64::from(entry), u64::from(position))
            }
        }
    }

    /// The greatest indexed batch start in `(after, up_to]`, if any: where a
    /// read from the batch at `after` can end on a batch boundary.
    pub fn batch_start_within(&self, after: u64, up_to: u64) -> Option<u64> {
        let count = self
            .entries
            .partition_point(|&(_, position)| u64::from(position) <= up_to);
        let (_, position) = *self.entries.get(count.checked_sub(1)?)?;
        let position = u64::from(position);
        (position > after).then_some(position)
    }

    /// Drops the entries pointing at or after file position `position` (a
    /// truncation cut the segment there).
    pub fn truncate_from_position(&mut self, position: u64) {
        let keep = self
            .entries
            .partition_point(|&(_, entry)| u64::from(entry) < position);
        self.entries.truncate(keep);
    }

    /// The index file's bytes. Not on the append hot path: written when a
    /// segment is sealed or the log closes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.entries.len() * ENTRY_BYTES);
        for &(relative, position) in &self.entries {
            bytes.extend_from_slice(&relative.to_be_bytes());
            bytes.extend_from_slice(&position.to_be_bytes());
        }
        bytes
    }

    /// Loads the index at `path` for a segment of `log_bytes` bytes and
    /// checks it: whole entries, strictly increasing, positions inside the log.
    /// Returns `None` if the file is missing or fails a check (the caller
    /// rebuilds it from the log).
    ///
    /// # Errors
    /// IO failures other than a missing file.
    pub fn load(
        path: &Path,
        base_offset: i64,
        log_bytes: u64,
    ) -> Result<Option<OffsetIndex>, LogError> {
        let Some(bytes) = read_optional(path)? else {
            return Ok(None);
        };
        if bytes.len() % ENTRY_BYTES != 0 {
            return Ok(None);
        }
        let mut index = OffsetIndex::new(base_offset);
        for entry in bytes.chunks_exact(ENTRY_BYTES) {
            let relative = u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]);
            let position = u32::from_be_bytes([entry[4], entry[5], entry[6], entry[7]]);
            let increasing = index
                .entries
                .last()
                .is_none_or(|&(r, p)| relative > r && position > p);
            if !increasing || u64::from(position) >= log_bytes {
                return Ok(None);
            }
            index.entries.push((relative, position));
        }
        Ok(Some(index))
    }
}

/// Reads `path`, or `None` if it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, LogError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable_write::write_synced;

    #[test]
    fn batch_start_within_finds_the_last_indexed_start_in_the_range() {
        let mut index = OffsetIndex::new(100);
        index.append(100, 0);
        index.append(110, 5000);
        index.append(120, 9000);
        assert_eq!(index.batch_start_within(0, 8999), Some(5000));
        assert_eq!(index.batch_start_within(0, 9000), Some(9000));
        assert_eq!(index.batch_start_within(5000, 8999), None);
        assert_eq!(index.batch_start_within(5000, 100_000), Some(9000));
        assert_eq!(index.batch_start_within(9000, 100_000), None);
        assert_eq!(OffsetIndex::new(0).batch_start_within(0, 100), None);
    }

    #[test]
    fn lookup_finds_greatest_entry_at_or_below() {
        let mut index = OffsetIndex::new(100);
        index.append(110, 4096);
        index.append(130, 9000);
        assert_eq!(index.lookup(100), (100, 0));
        assert_eq!(index.lookup(109), (100, 0));
        assert_eq!(index.lookup(110), (110, 4096));
        assert_eq!(index.lookup(129), (110, 4096));
        assert_eq!(index.lookup(1_000), (130, 9000));
    }

    #[test]
    fn round_trips_and_rejects_torn_or_lying_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.index");
        let mut index = OffsetIndex::new(5);
        index.append(9, 100);
        index.append(12, 300);
        assert_eq!(index.entries.len(), 2);
        let written = path.clone();
        crate::test_executor::run(move || async move {
            write_synced(&written, &index.to_bytes())
                .await
                .expect("write");
        });
        let loaded = OffsetIndex::load(&path, 5, 1_000)
            .expect("io")
            .expect("valid");
        assert_eq!(loaded.lookup(12), (12, 300));
        // A position past the end of the log is a lie.
        assert!(OffsetIndex::load(&path, 5, 300).expect("io").is_none());
        // A torn last entry.
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() - 3]).expect("write");
        assert!(OffsetIndex::load(&path, 5, 1_000).expect("io").is_none());
        // Missing.
        assert!(OffsetIndex::load(&dir.path().join("x"), 5, 1_000)
            .expect("io")
            .is_none());
    }
}
