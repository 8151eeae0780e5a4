//! Producer-state snapshots: `<offset>.snapshot` files beside a partition's
//! segments (Kafka's name, a 20-digit offset), each holding the applied
//! producer state of every batch below `offset` — exactly those, so that
//! recovery loads the newest snapshot at or below the log end and replays
//! the log from its offset.
//!
//! Format (big-endian; our own, with Kafka's fields plus the last five
//! batches rather than Kafka's one):
//!
//! ```text
//! version u16 (1) | crc32c u32 of everything after it | offset i64 | producers u32
//! producer: id i64 | epoch i16 | last_timestamp i64 | coordinator_epoch i32
//!           | current_txn_first_offset i64 (-1: none) | batches u8 (0..=5)
//!   batch:  first_sequence i32 | last_sequence i32 | first_offset i64
//!           | last_offset i64 | timestamp i64
//! ```
//!
//! A snapshot is input from disk: its size is bounded before it is read, its
//! CRC, counts and ordering are checked, and anything wrong makes it
//! [`SnapshotError::Corrupt`] — skipped (and deleted) by the caller, never
//! trusted. Writes are atomic and durable (temporary file, fdatasync,
//! rename, directory fsync), all through glommio.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use crate::producer_state::{BatchMetadata, ProducerEntry, ProducerStates, REMEMBERED_BATCHES};

/// The file name suffix.
pub const SNAPSHOT_SUFFIX: &str = ".snapshot";
/// The suffix of a snapshot being written (left behind only by a crash).
const TEMP_SUFFIX: &str = ".snapshot.tmp";
/// The only format version.
const VERSION: u16 = 1;
/// Bytes before the first producer.
const HEADER_BYTES: usize = 2 + 4 + 8 + 4;
/// Bytes of a producer without its batches.
const PRODUCER_BYTES: usize = 8 + 2 + 8 + 4 + 8 + 1;
/// Bytes of one batch.
const BATCH_BYTES: usize = 4 + 4 + 8 + 8 + 8;
/// The largest snapshot read: a million producers with five batches each,
/// far above a real partition; small enough that a corrupt size cannot make
/// us allocate much.
pub const SNAPSHOT_BYTES_MAX: u64 = 256 << 20;

/// Why a snapshot could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// An IO operation on `path` failed.
    #[error("I/O on {path:?}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid snapshot.
    #[error("producer-state snapshot {path:?} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl From<crate::durable_file::DurableWriteError> for SnapshotError {
    fn from(error: crate::durable_file::DurableWriteError) -> SnapshotError {
        SnapshotError::Io {
            path: error.path,
            source: error.source,
        }
    }
}

/// The file name of the snapshot at `offset`.
pub fn file_name(offset: i64) -> String {
    assert!(offset >= 0, "snapshots are named by a log offset");
    format!("{offset:020}{SNAPSHOT_SUFFIX}")
}

/// The offset a snapshot file is named by, `None` for any other file.
pub fn parse_file_name(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(SNAPSHOT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The snapshot bytes of `states` at `offset`.
pub fn encode(offset: i64, states: &ProducerStates) -> Vec<u8> {
    let mut producers: Vec<(i64, &ProducerEntry)> = states.entries().collect();
    producers.sort_unstable_by_key(|(id, _)| *id);
    let mut bytes = Vec::with_capacity(
        HEADER_BYTES + producers.len() * (PRODUCER_BYTES + REMEMBERED_BATCHES * BATCH_BYTES),
    );
    bytes.extend_from_slice(&VERSION.to_be_bytes());
    bytes.extend_from_slice(&0u32.to_be_bytes());
    bytes.extend_from_slice(&offset.to_be_bytes());
    let count = u32::try_from(producers.len()).expect("fewer than 2^32 producers");
    bytes.extend_from_slice(&count.to_be_bytes());
    for (producer_id, entry) in producers {
        assert!(entry.batches.len() <= REMEMBERED_BATCHES);
        bytes.extend_from_slice(&producer_id.to_be_bytes());
        bytes.extend_from_slice(&entry.epoch.to_be_bytes());
        bytes.extend_from_slice(&entry.last_timestamp.to_be_bytes());
        bytes.extend_from_slice(&entry.coordinator_epoch.to_be_bytes());
        let txn = entry.current_txn_first_offset.unwrap_or(-1);
        bytes.extend_from_slice(&txn.to_be_bytes());
        bytes.push(u8::try_from(entry.batches.len()).expect("at most five"));
        for batch in &entry.batches {
            bytes.extend_from_slice(&batch.first_sequence.to_be_bytes());
            bytes.extend_from_slice(&batch.last_sequence.to_be_bytes());
            bytes.extend_from_slice(&batch.first_offset.to_be_bytes());
            bytes.extend_from_slice(&batch.last_offset.to_be_bytes());
            bytes.extend_from_slice(&batch.timestamp.to_be_bytes());
        }
    }
    let crc = crc32c::crc32c(&bytes[6..]);
    bytes[2..6].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// A cursor over snapshot bytes that fails instead of reading past the end.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or("truncated")?;
        self.0 = rest;
        Ok(*head)
    }
    fn i64(&mut self) -> Result<i64, &'static str> {
        self.take().map(i64::from_be_bytes)
    }
    fn i32(&mut self) -> Result<i32, &'static str> {
        self.take().map(i32::from_be_bytes)
    }
    fn i16(&mut self) -> Result<i16, &'static str> {
        self.take().map(i16::from_be_bytes)
    }
}

/// Parses snapshot bytes into the offset and the producer state.
///
/// # Errors
/// The first thing wrong with `bytes`, as a static reason.
pub fn decode(bytes: &[u8]) -> Result<(i64, ProducerStates), &'static str> {
    let mut cursor = Cursor(bytes);
    let version = u16::from_be_bytes(cursor.take()?);
    if version != VERSION {
        return Err("unknown version");
    }
    let crc = u32::from_be_bytes(cursor.take()?);
    if crc32c::crc32c(cursor.0) != crc {
        return Err("CRC mismatch");
    }
    let offset = cursor.i64()?;
    if offset < 0 {
        return Err("negative offset");
    }
    let count = u32::from_be_bytes(cursor.take()?);
    let count = usize::try_from(count).map_err(|_| "producer count too large")?;
    // Each producer takes at least PRODUCER_BYTES: a larger count is a lie
    // and must not size an allocation.
    if count > cursor.0.len() / PRODUCER_BYTES {
        return Err("producer count larger than the file");
    }
    let mut entries = Vec::with_capacity(count);
    let mut previous_id = None;
    for _ in 0..count {
        let producer_id = cursor.i64()?;
        if producer_id < 0 || previous_id.is_some_and(|previous| producer_id <= previous) {
            return Err("producer ids negative or out of order");
        }
        previous_id = Some(producer_id);
        let epoch = cursor.i16()?;
        let last_timestamp = cursor.i64()?;
        let coordinator_epoch = cursor.i32()?;
        let txn = cursor.i64()?;
        if txn >= offset {
            return Err("open transaction past the snapshot");
        }
        let [batch_count] = cursor.take::<1>()?;
        let batch_count = usize::from(batch_count);
        if batch_count > REMEMBERED_BATCHES {
            return Err("more than five batches");
        }
        let mut batches = VecDeque::with_capacity(REMEMBERED_BATCHES);
        for _ in 0..batch_count {
            let batch = BatchMetadata {
                first_sequence: cursor.i32()?,
                last_sequence: cursor.i32()?,
                first_offset: cursor.i64()?,
                last_offset: cursor.i64()?,
                timestamp: cursor.i64()?,
            };
            if batch.first_sequence < 0
                || batch.last_sequence < 0
                || batch.first_offset < 0
                || batch.last_offset < batch.first_offset
                || batch.last_offset >= offset
            {
                return Err("batch offsets or sequences out of range");
            }
            if batches
                .back()
                .is_some_and(|last: &BatchMetadata| batch.first_offset <= last.last_offset)
            {
                return Err("batches out of order");
            }
            batches.push_back(batch);
        }
        entries.push((
            producer_id,
            ProducerEntry {
                epoch,
                batches,
                last_timestamp,
                coordinator_epoch,
                current_txn_first_offset: (txn >= 0).then_some(txn),
            },
        ));
    }
    if !cursor.0.is_empty() {
        return Err("bytes after the last producer");
    }
    Ok((offset, ProducerStates::from_entries(entries)))
}

/// The offsets of the snapshots in `dir`, ascending; removes temporary
/// files a crash left behind. Blocking: run at open only.
///
/// # Errors
/// `Io` when the directory cannot be listed.
pub fn list(dir: &Path) -> Result<Vec<i64>, SnapshotError> {
    let io = |source| SnapshotError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut offsets = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if let Some(offset) = parse_file_name(name) {
            offsets.push(offset);
        } else if name.ends_with(TEMP_SUFFIX) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|source| SnapshotError::Io { path, source })?;
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

/// Reads and checks the snapshot at `offset` in `dir`.
///
/// # Errors
/// `Io` when it cannot be read; `Corrupt` when it is not a valid snapshot
/// (too large, torn, a CRC mismatch, named for another offset).
pub async fn read(dir: &Path, offset: i64) -> Result<ProducerStates, SnapshotError> {
    let path = dir.join(file_name(offset));
    let io = |error: glommio::GlommioError<()>| SnapshotError::Io {
        path: path.clone(),
        source: error.into(),
    };
    let corrupt = |reason| SnapshotError::Corrupt {
        path: path.clone(),
        reason,
    };
    let file = glommio::io::BufferedFile::open(&path).await.map_err(io)?;
    let read = async {
        let size = file.file_size().await.map_err(io)?;
        if size > SNAPSHOT_BYTES_MAX {
            return Err(corrupt("larger than any snapshot"));
        }
        let size = usize::try_from(size).map_err(|_| corrupt("larger than any snapshot"))?;
        let bytes = file.read_at(0, size).await.map_err(io)?;
        if bytes.len() != size {
            return Err(corrupt("shorter than its size"));
        }
        Ok(bytes.to_vec())
    }
    .await;
    if let Err(error) = file.close().await {
        tracing::warn!(%error, path = %path.display(), "closing a producer-state snapshot failed");
    }
    let (found, states) = decode(&read?).map_err(corrupt)?;
    if found != offset {
        return Err(corrupt("offset differs from the file name"));
    }
    Ok(states)
}

/// Writes `bytes` (from [`encode`]) as the snapshot at `offset` in `dir`,
/// durably: when this returns `Ok`, a crash leaves the whole snapshot.
///
/// # Errors
/// `Io` when a step fails; no snapshot at `offset` is left half-written.
///
/// # Cancel safety
/// Dropping the future may leave the temporary file behind (removed at the
/// next open).
pub async fn write(dir: &Path, offset: i64, bytes: Vec<u8>) -> Result<(), SnapshotError> {
    let temp = format!("{offset:020}{TEMP_SUFFIX}");
    crate::durable_file::replace(dir, &temp, &file_name(offset), bytes).await?;
    Ok(())
}

/// Deletes the snapshot at `offset` in `dir` (absent is fine); the caller
/// syncs the directory with [`sync_dir`] when the deletion must survive a
/// crash.
///
/// # Errors
/// `Io` when the removal fails.
pub async fn delete(dir: &Path, offset: i64) -> Result<(), SnapshotError> {
    let path = dir.join(file_name(offset));
    match glommio::io::remove(&path).await {
        Ok(()) => Ok(()),
        Err(error) => {
            let error = std::io::Error::from(error);
            if error.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(SnapshotError::Io {
                    path,
                    source: error,
                })
            }
        }
    }
}

/// Makes renames and removals in `dir` durable.
///
/// # Errors
/// `Io` when the directory cannot be synced.
pub async fn sync_dir(dir: &Path) -> Result<(), SnapshotError> {
    crate::durable_file::sync_dir(dir).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use skein_engine::test_batch::BatchBuilder;

    fn states() -> ProducerStates {
        let mut states = ProducerStates::default();
        for (producer_id, batches) in [(3i64, 7i64), (9, 2)] {
            for i in 0..batches {
                let mut batch = BatchBuilder::new(500 + i)
                    .producer(producer_id, 2, i32::try_from(i).unwrap() * 2)
                    .record(b"", b"a", 0)
                    .record(b"", b"b", 0)
                    .build();
                let base = producer_id * 100 + i * 2;
                batch[0..8].copy_from_slice(&base.to_be_bytes());
                states.apply(skein_engine::BatchHeader::read(&batch).unwrap(), None);
            }
        }
        states
    }

    fn sorted(states: &ProducerStates) -> Vec<(i64, ProducerEntry)> {
        let mut entries: Vec<_> = states.entries().map(|(id, e)| (id, e.clone())).collect();
        entries.sort_by_key(|(id, _)| *id);
        entries
    }

    #[test]
    fn a_snapshot_round_trips() {
        let original = states();
        let bytes = encode(2_000, &original);
        let (offset, decoded) = decode(&bytes).unwrap();
        assert_eq!(offset, 2_000);
        assert_eq!(sorted(&decoded), sorted(&original));
        assert_eq!(decoded.entry(3).unwrap().batches.len(), REMEMBERED_BATCHES);
        assert_eq!(decoded.entry(3).unwrap().last_sequence(), 13);
    }

    #[test]
    fn every_torn_or_flipped_snapshot_is_corrupt() {
        let bytes = encode(2_000, &states());
        for end in 0..bytes.len() {
            assert!(decode(&bytes[..end]).is_err(), "cut at {end}");
        }
        for position in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[position] ^= 0x40;
            assert!(decode(&flipped).is_err(), "flip at {position}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }

    #[test]
    fn a_batch_at_or_past_the_snapshot_offset_is_corrupt() {
        let bytes = encode(300, &states());
        assert_eq!(
            decode(&bytes).err(),
            Some("batch offsets or sequences out of range")
        );
    }

    #[test]
    fn file_names_are_twenty_digit_offsets() {
        assert_eq!(file_name(42), "00000000000000000042.snapshot");
        assert_eq!(parse_file_name("00000000000000000042.snapshot"), Some(42));
        assert_eq!(parse_file_name("42.snapshot"), None);
        assert_eq!(parse_file_name("00000000000000000042.log"), None);
        assert_eq!(parse_file_name("00000000000000000042.snapshot.tmp"), None);
    }
}
