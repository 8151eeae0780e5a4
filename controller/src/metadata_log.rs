//! The metadata log: an append-only file of framed metadata records, synced
//! before a change is acknowledged, replayed at start. The single-voter
//! [`MetadataStorage`].
//!
//! Frame: `length: u32` (of the payload) + `crc32c: u32` (of the payload) +
//! payload. On open, the first frame that is short or fails its CRC marks a
//! torn tail (a crash during an append that was never acknowledged): the file
//! is truncated there. Blocking file IO is fine here: the log lives on the
//! control shard, which serves no data-path traffic.
//!
//! Invariant: `positions` holds the file position of every whole record, in
//! order, and `file_len` is the end of the last one; an append that fails
//! part-way poisons the log (what follows `file_len` on disk is unknown)
//! until it is reopened.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::MetadataError;
use crate::metadata_record::MetadataRecord;
use crate::metadata_storage::{read_start, MetadataStorage};

/// The largest payload a frame may claim; records are small (a topic with its
/// configs), so anything larger is corruption.
const RECORD_BYTES_MAX: usize = 1 << 20;
const FRAME_HEADER_BYTES: usize = 8;

/// The durable sequence of metadata records.
///
/// Lives on: the control shard.
pub struct MetadataLog {
    path: PathBuf,
    file: File,
    scratch: Vec<u8>,
    /// File position of each record's frame: `positions[offset]`.
    positions: Vec<u64>,
    /// Where the last whole frame ends.
    file_len: u64,
    poisoned: bool,
}

impl MetadataLog {
    /// Opens (creating) the log at `dir/records.log`, returning it with every
    /// record already committed, in order.
    ///
    /// # Errors
    /// [`MetadataError::Io`] if the file cannot be read, truncated or synced.
    pub fn open(dir: &Path) -> Result<(MetadataLog, Vec<MetadataRecord>), MetadataError> {
        std::fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
        let path = dir.join("records.log");
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|source| io(&path, source))?;
        let mut contents = Vec::new();
        file.read_to_end(&mut contents)
            .map_err(|source| io(&path, source))?;
        let (records, positions, valid_len) = replay(&contents);
        if valid_len < contents.len() {
            tracing::warn!(
                path = %path.display(),
                kept = valid_len,
                dropped = contents.len() - valid_len,
                "metadata log: truncating a torn tail"
            );
            file.set_len(valid_len as u64)
                .map_err(|source| io(&path, source))?;
            file.sync_data().map_err(|source| io(&path, source))?;
        }
        file.seek(SeekFrom::End(0))
            .map_err(|source| io(&path, source))?;
        let log = MetadataLog {
            path,
            file,
            scratch: Vec::new(),
            positions,
            file_len: valid_len as u64,
            poisoned: false,
        };
        Ok((log, records))
    }
}

impl MetadataStorage for MetadataLog {
    /// Appends `records` and syncs them to disk; once this returns they are
    /// committed.
    ///
    /// # Errors
    /// [`MetadataError::Io`] if the write or sync fails (the log is then
    /// poisoned), [`MetadataError::Poisoned`] after such a failure; the
    /// change must then be reported as failed.
    fn append(&mut self, records: &[MetadataRecord]) -> Result<u64, MetadataError> {
        if self.poisoned {
            return Err(MetadataError::Poisoned {
                path: self.path.clone(),
            });
        }
        self.scratch.clear();
        let mut frame_positions = Vec::with_capacity(records.len());
        let mut payload = Vec::new();
        for record in records {
            payload.clear();
            record.encode(&mut payload);
            assert!(
                payload.len() <= RECORD_BYTES_MAX,
                "metadata record too large"
            );
            let len = u32::try_from(payload.len()).expect("bounded above");
            frame_positions.push(self.file_len + self.scratch.len() as u64);
            self.scratch.extend_from_slice(&len.to_be_bytes());
            self.scratch
                .extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
            self.scratch.extend_from_slice(&payload);
        }
        // A failed write or fsync leaves the file in an unknown state, and
        // retrying an fsync can report success for pages the kernel already
        // dropped: no append is acknowledged after one fails.
        let written = self
            .file
            .write_all(&self.scratch)
            .and_then(|()| self.file.sync_data());
        if let Err(source) = written {
            self.poisoned = true;
            return Err(io(&self.path, source));
        }
        self.positions.extend(frame_positions);
        self.file_len += self.scratch.len() as u64;
        Ok(self.log_end_offset())
    }

    fn read(&self, from: u64) -> Result<Vec<MetadataRecord>, MetadataError> {
        let start = read_start(from, self.log_end_offset())?;
        let Some(&position) = self.positions.get(start) else {
            return Ok(Vec::new());
        };
        let len = usize::try_from(self.file_len - position).expect("the log fits in memory");
        let mut contents = vec![0; len];
        self.file
            .read_exact_at(&mut contents, position)
            .map_err(|source| io(&self.path, source))?;
        let (records, _, valid_len) = replay(&contents);
        if valid_len != len || records.len() != self.positions.len() - start {
            return Err(MetadataError::CorruptRecord {
                reason: "acknowledged records no longer read back",
            });
        }
        Ok(records)
    }

    fn log_end_offset(&self) -> u64 {
        self.positions.len() as u64
    }
}

/// Decodes every whole, valid frame from the start of `contents`; returns the
/// records, the position of each, and how many bytes they span.
fn replay(contents: &[u8]) -> (Vec<MetadataRecord>, Vec<u64>, usize) {
    let mut records = Vec::new();
    let mut positions = Vec::new();
    let mut position = 0;
    while let Some(header) = contents.get(position..position + FRAME_HEADER_BYTES) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if len > RECORD_BYTES_MAX {
            break;
        }
        let start = position + FRAME_HEADER_BYTES;
        let Some(payload) = contents.get(start..start + len) else {
            break;
        };
        if crc32c::crc32c(payload) != crc {
            break;
        }
        match MetadataRecord::decode(payload) {
            Ok(record) => {
                records.push(record);
                positions.push(position as u64);
            }
            Err(_) => break,
        }
        position = start + len;
    }
    (records, positions, position)
}

fn io(path: &Path, source: std::io::Error) -> MetadataError {
    MetadataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str) -> MetadataRecord {
        MetadataRecord::Topic {
            topic_id: [name.len() as u8; 16],
            name: name.into(),
            partitions: 2,
            configs: vec![],
        }
    }

    #[test]
    fn appended_records_are_replayed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, replayed) = MetadataLog::open(dir.path()).unwrap();
        assert!(replayed.is_empty());
        log.append(&[topic("a")]).unwrap();
        log.append(&[topic("bb"), topic("ccc")]).unwrap();
        drop(log);
        let (_, replayed) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(replayed, vec![topic("a"), topic("bb"), topic("ccc")]);
    }

    #[test]
    fn read_returns_the_records_from_an_offset_before_and_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(log.read(0).unwrap(), vec![]);
        assert_eq!(log.append(&[topic("a"), topic("bb")]).unwrap(), 2);
        assert_eq!(log.append(&[topic("ccc")]).unwrap(), 3);
        assert_eq!(log.read(1).unwrap(), vec![topic("bb"), topic("ccc")]);
        assert!(matches!(
            log.read(4),
            Err(MetadataError::ReadPastEnd { from: 4, .. })
        ));
        drop(log);
        let (mut log, replayed) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(log.log_end_offset(), 3);
        assert_eq!(log.read(0).unwrap(), replayed);
        assert_eq!(log.append(&[topic("dddd")]).unwrap(), 4);
        assert_eq!(log.read(2).unwrap(), vec![topic("ccc"), topic("dddd")]);
        assert_eq!(log.read(4).unwrap(), vec![]);
    }

    #[test]
    fn torn_tail_is_truncated_and_later_appends_survive() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = MetadataLog::open(dir.path()).unwrap();
        log.append(&[topic("a"), topic("bb")]).unwrap();
        drop(log);
        let path = dir.path().join("records.log");
        let full = std::fs::read(&path).unwrap();
        for cut in 1..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (_, replayed) = MetadataLog::open(dir.path()).unwrap();
            assert!(replayed.len() < 2);
            assert!(std::fs::metadata(&path).unwrap().len() <= cut as u64);
        }
        let mut garbled = full.clone();
        let last = garbled.len() - 1;
        garbled[last] ^= 0xff;
        std::fs::write(&path, &garbled).unwrap();
        let (mut log, replayed) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(replayed, vec![topic("a")]);
        log.append(&[topic("dddd")]).unwrap();
        drop(log);
        let (_, replayed) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(replayed, vec![topic("a"), topic("dddd")]);
    }
}
