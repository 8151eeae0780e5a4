//! The aborted-transaction index of a partition (Kafka's `.txnindex`): one
//! entry per aborted transaction that wrote records, kept in memory in the
//! order of the abort markers and persisted beside the segments as
//! `<segment base offset>.txnindex` files, each holding the entries whose
//! marker lies in that segment, in Kafka's format (big-endian, 34 bytes per
//! entry):
//!
//! ```text
//! version i16 (0) | producer_id i64 | first_offset i64 | last_offset i64
//!                 | last_stable_offset i64
//! ```
//!
//! `last_offset` is the abort marker's offset; `last_stable_offset` the
//! partition's last stable offset right after the abort (the first offset
//! of the next open transaction, or the marker's offset + 1). A read of a
//! range collects the entries whose transactions overlap it and stops at
//! the first whose `last_stable_offset` passes the range: every later
//! abort's transaction starts at or after it.
//!
//! Files are bytes from disk: a file that is not a whole number of valid
//! entries in ascending marker order is corrupt, and the caller rebuilds
//! the index from the log. Sans-IO apart from [`read_file`]/[`write_file`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file name suffix.
pub const TXN_INDEX_SUFFIX: &str = ".txnindex";
/// Bytes of one entry.
pub const ENTRY_BYTES: usize = 34;
/// The only entry version.
const VERSION: i16 = 0;
/// The largest index file read (a million aborted transactions in one
/// segment): a corrupt size cannot make us allocate more.
const FILE_BYTES_MAX: u64 = ENTRY_BYTES as u64 * 1_000_000;

/// One aborted transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer that aborted it.
    pub producer_id: i64,
    /// The offset of its first record.
    pub first_offset: i64,
    /// The offset of its abort marker.
    pub last_offset: i64,
    /// The last stable offset right after the abort.
    pub last_stable_offset: i64,
}

/// Why an index file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TxnIndexError {
    /// An IO operation on `path` failed.
    #[error("I/O on {path:?}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid index.
    #[error("transaction index {path:?} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl From<crate::durable_file::DurableWriteError> for TxnIndexError {
    fn from(error: crate::durable_file::DurableWriteError) -> TxnIndexError {
        TxnIndexError::Io {
            path: error.path,
            source: error.source,
        }
    }
}

/// The aborted transactions of a partition, by marker offset.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AbortedTxns {
    by_marker: BTreeMap<i64, AbortedTxn>,
}

impl AbortedTxns {
    /// Records an abort; an entry already known (a replay) changes nothing.
    pub fn insert(&mut self, aborted: AbortedTxn) {
        assert!(aborted.first_offset <= aborted.last_offset);
        assert!(aborted.last_stable_offset > aborted.first_offset);
        self.by_marker.entry(aborted.last_offset).or_insert(aborted);
    }

    /// The aborted transactions overlapping `[from, upper)` (their marker at
    /// or after `from`, their first record before `upper`), in marker order:
    /// what a read_committed fetch of that range returns.
    pub fn overlapping(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        let mut found = Vec::new();
        for aborted in self.by_marker.range(from..).map(|(_, aborted)| aborted) {
            if aborted.first_offset < upper {
                found.push(*aborted);
            }
            if aborted.last_stable_offset >= upper {
                break;
            }
        }
        found
    }

    /// Adds the aborts of `other` not known yet.
    pub fn merge(&mut self, other: &AbortedTxns) {
        for aborted in other.by_marker.values() {
            self.insert(*aborted);
        }
    }

    /// Forgets the aborts whose marker is at or after `offset` (a
    /// truncation of the log to `offset`).
    pub fn truncate_to(&mut self, offset: i64) {
        self.by_marker.split_off(&offset);
    }

    /// Forgets the aborts whose marker is below `offset` (a new log start).
    pub fn start_at(&mut self, offset: i64) {
        self.by_marker = self.by_marker.split_off(&offset);
    }

    /// Forgets the abort whose marker is at `marker_offset`, if known (the
    /// cleaner removed every record of its transaction).
    pub fn remove(&mut self, marker_offset: i64) {
        self.by_marker.remove(&marker_offset);
    }

    /// Every known abort, in marker order.
    pub fn iter(&self) -> impl Iterator<Item = &AbortedTxn> + '_ {
        self.by_marker.values()
    }

    /// The aborts whose marker lies in `[from, to)`.
    pub fn in_range(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        if from >= to {
            return Vec::new();
        }
        self.by_marker.range(from..to).map(|(_, a)| *a).collect()
    }

    /// How many aborts are known.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_marker.len()
    }

    /// Whether no abort is known.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.by_marker.is_empty()
    }
}

/// The file name of the index of the segment at `base_offset`.
pub fn file_name(base_offset: i64) -> String {
    assert!(base_offset >= 0);
    format!("{base_offset:020}{TXN_INDEX_SUFFIX}")
}

/// The segment base offset an index file is named by, `None` for any other
/// file.
pub fn parse_file_name(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(TXN_INDEX_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The file bytes of `entries` (ascending by marker).
pub fn encode(entries: &[AbortedTxn]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(entries.len() * ENTRY_BYTES);
    for entry in entries {
        bytes.extend_from_slice(&VERSION.to_be_bytes());
        bytes.extend_from_slice(&entry.producer_id.to_be_bytes());
        bytes.extend_from_slice(&entry.first_offset.to_be_bytes());
        bytes.extend_from_slice(&entry.last_offset.to_be_bytes());
        bytes.extend_from_slice(&entry.last_stable_offset.to_be_bytes());
    }
    assert_eq!(bytes.len(), entries.len() * ENTRY_BYTES);
    bytes
}

/// Parses index bytes whose markers must lie in `[base_offset, end)`.
///
/// # Errors
/// The first thing wrong, as a static reason.
pub fn decode(bytes: &[u8], base_offset: i64, end: i64) -> Result<Vec<AbortedTxn>, &'static str> {
    if !bytes.len().is_multiple_of(ENTRY_BYTES) {
        return Err("not a whole number of entries");
    }
    let mut entries: Vec<AbortedTxn> = Vec::with_capacity(bytes.len() / ENTRY_BYTES);
    for chunk in bytes.chunks_exact(ENTRY_BYTES) {
        let i64_at = |at: usize| -> Result<i64, &'static str> {
            let field = chunk.get(at..at + 8).ok_or("truncated")?;
            Ok(i64::from_be_bytes(
                field.try_into().map_err(|_| "truncated")?,
            ))
        };
        let version = i16::from_be_bytes([chunk[0], chunk[1]]);
        if version != VERSION {
            return Err("unknown entry version");
        }
        let entry = AbortedTxn {
            producer_id: i64_at(2)?,
            first_offset: i64_at(10)?,
            last_offset: i64_at(18)?,
            last_stable_offset: i64_at(26)?,
        };
        if entry.producer_id < 0
            || entry.first_offset < 0
            || entry.first_offset > entry.last_offset
            || entry.last_stable_offset <= entry.first_offset
            || entry.last_offset < base_offset
            || entry.last_offset >= end
        {
            return Err("entry offsets out of range");
        }
        if entries
            .last()
            .is_some_and(|last| last.last_offset >= entry.last_offset)
        {
            return Err("entries out of order");
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// Reads and decodes the index file of the segment at `base_offset` in
/// `dir` (markers in `[base_offset, end)`); a missing file is empty, as in
/// Kafka.
///
/// # Errors
/// `Io` when the file cannot be read; `Corrupt` when it is not an index.
pub fn read_file(dir: &Path, base_offset: i64, end: i64) -> Result<Vec<AbortedTxn>, TxnIndexError> {
    let path = dir.join(file_name(base_offset));
    let size = match std::fs::metadata(&path) {
        Ok(metadata) => metadata.len(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(TxnIndexError::Io { path, source }),
    };
    if size > FILE_BYTES_MAX {
        return Err(TxnIndexError::Corrupt {
            path,
            reason: "larger than any index",
        });
    }
    let bytes = std::fs::read(&path).map_err(|source| TxnIndexError::Io {
        path: path.clone(),
        source,
    })?;
    decode(&bytes, base_offset, end).map_err(|reason| TxnIndexError::Corrupt { path, reason })
}

/// Writes the index file of the segment at `base_offset` atomically and
/// durably through glommio (temporary file, fdatasync, rename, directory
/// fsync); an empty `entries` deletes it.
///
/// # Errors
/// `Io` for a failed write, sync, rename or deletion.
///
/// # Cancel safety
/// Dropping the future may leave a temporary file behind (ignored).
pub async fn write_file(
    dir: &Path,
    base_offset: i64,
    entries: &[AbortedTxn],
) -> Result<(), TxnIndexError> {
    let name = file_name(base_offset);
    if entries.is_empty() {
        let path = dir.join(&name);
        return match glommio::io::remove(&path).await {
            Ok(()) => Ok(crate::durable_file::sync_dir(dir).await?),
            Err(error) => {
                let error = std::io::Error::from(error);
                if error.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(TxnIndexError::Io {
                        path,
                        source: error,
                    })
                }
            }
        };
    }
    let temp = format!("{name}.tmp");
    crate::durable_file::replace(dir, &temp, &name, encode(entries)).await?;
    Ok(())
}

/// The segment base offsets that have an index file in `dir`.
///
/// # Errors
/// `Io` when the directory cannot be listed.
pub fn list(dir: &Path) -> Result<Vec<i64>, TxnIndexError> {
    let io = |source| TxnIndexError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if let Some(base) = entry.file_name().to_str().and_then(parse_file_name) {
            found.push(base);
        }
    }
    found.sort_unstable();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aborted(producer_id: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    #[test]
    fn entries_round_trip_through_the_file_format() {
        let entries = vec![aborted(1, 0, 5, 6), aborted(2, 3, 9, 10)];
        let bytes = encode(&entries);
        assert_eq!(bytes.len(), 2 * ENTRY_BYTES);
        assert_eq!(decode(&bytes, 0, 10), Ok(entries.clone()));
        assert_eq!(
            decode(&bytes[..40], 0, 10),
            Err("not a whole number of entries")
        );
        assert_eq!(decode(&bytes, 6, 10), Err("entry offsets out of range"));
        let mut swapped = encode(&[entries[1], entries[0]]);
        assert_eq!(decode(&swapped, 0, 10), Err("entries out of order"));
        swapped[0] = 9;
        assert_eq!(decode(&swapped, 0, 10), Err("unknown entry version"));
    }

    #[test]
    fn files_are_written_read_and_removed_when_empty() {
        skein_engine::test_executor::run(files_round_trip);
    }

    async fn files_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let entries = vec![aborted(1, 100, 105, 106)];
        write_file(dir.path(), 100, &entries).await.expect("write");
        assert_eq!(list(dir.path()).expect("list"), vec![100]);
        assert_eq!(read_file(dir.path(), 100, 200).expect("read"), entries);
        assert!(read_file(dir.path(), 0, 100).expect("missing").is_empty());
        write_file(dir.path(), 100, &[]).await.expect("delete");
        assert!(list(dir.path()).expect("list").is_empty());
        std::fs::write(dir.path().join(file_name(7)), b"garbage").expect("write");
        assert!(matches!(
            read_file(dir.path(), 7, 100),
            Err(TxnIndexError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_range_gets_the_aborts_that_overlap_it() {
        let mut index = AbortedTxns::default();
        // Producer 1 aborts [0..5] at 5 while producer 2's txn from 3 is
        // open; producer 2 aborts at 9; producer 3 aborts [20..22] at 22.
        index.insert(aborted(1, 0, 5, 3));
        index.insert(aborted(2, 3, 9, 10));
        index.insert(aborted(3, 20, 22, 23));
        let ids = |found: Vec<AbortedTxn>| found.iter().map(|a| a.producer_id).collect::<Vec<_>>();
        assert_eq!(ids(index.overlapping(0, 4)), vec![1, 2]);
        assert_eq!(
            ids(index.overlapping(0, 3)),
            vec![1],
            "producer 2 starts at 3"
        );
        assert_eq!(ids(index.overlapping(6, 12)), vec![2]);
        assert_eq!(ids(index.overlapping(10, 20)), Vec::<i64>::new());
        assert_eq!(ids(index.overlapping(10, 21)), vec![3]);
        assert_eq!(ids(index.overlapping(23, 30)), Vec::<i64>::new());
        index.truncate_to(9);
        assert_eq!(index.len(), 1);
        index.insert(aborted(1, 0, 5, 3));
        assert_eq!(index.len(), 1, "a replayed abort is not added twice");
        index.start_at(6);
        assert!(index.is_empty());
    }
}
