//! The quorum's durable store on disk: one journal file, `quorum.log`, in
//! the node's metadata directory.
//!
//! Layout: an 8-byte magic (`SKNQLOG1`), then records
//! `[body_len: u32 LE][crc32c(body): u32 LE][body]` where `body` is a kind
//! byte and a protobuf-encoded raft value (hard state, conf state, one entry,
//! or a snapshot with the application's bytes). Replaying the records in
//! order rebuilds the state: an entry replaces the entries at and after its
//! index, a hard state or conf state replaces the previous one.
//!
//! Writes are buffered until [`RaftLogStore::sync`], which writes them with
//! one `write` and `fdatasync`s. A snapshot rewrites the whole file into
//! `quorum.log.tmp`, syncs it, renames it over the journal and syncs the
//! directory, so a crash leaves one file or the other, never a mix.
//!
//! Recovery: bytes on disk are hostile. Every length is checked against the
//! bytes present (nothing is allocated from a length read off the disk) and
//! every body against its CRC before it is decoded. A damaged region that
//! runs to the end of the file (a record cut short, a last record with a bad
//! CRC, or zeros left by a crash) is a torn tail: it was never synced, so it
//! was never acknowledged, and it is truncated. A record that fails its CRC
//! with more records after it is corruption of possibly acknowledged data,
//! and the store refuses to open.
//!
//! Blocking `std::fs` calls and fsyncs: this store runs on the control shard,
//! never on a data shard's thread.
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};

use super::log_store::{RaftLogStore, StoredLog};
use super::message_codec::decode_protobuf;
use super::QuorumStoreError;

const MAGIC: &[u8; 8] = b"SKNQLOG1";
const RECORD_HEADER_BYTES: usize = 8;
const JOURNAL_FILE: &str = "quorum.log";
const REWRITE_FILE: &str = "quorum.log.tmp";

const KIND_HARD_STATE: u8 = 1;
const KIND_CONF_STATE: u8 = 2;
const KIND_ENTRY: u8 = 3;
const KIND_SNAPSHOT: u8 = 4;

/// A [`RaftLogStore`] in one journal file. Lives on: the control shard.
#[derive(Debug)]
pub struct FileLogStore {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    /// Records written by the next sync.
    staged: Vec<u8>,
    /// Set by a failed write or sync: what reached the disk is unknown.
    poisoned: bool,
}

impl FileLogStore {
    /// Opens (or creates) the journal in `dir`, truncating a torn tail.
    ///
    /// # Errors
    /// [`QuorumStoreError::Io`] when the directory or file cannot be
    /// created, read or truncated; [`QuorumStoreError::Corrupt`] when the
    /// magic is wrong or a record in the middle fails its CRC.
    pub fn open(dir: &Path) -> Result<Self, QuorumStoreError> {
        std::fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
        let path = dir.join(JOURNAL_FILE);
        // A rewrite that crashed before its rename left this behind; the
        // journal is still the truth.
        let tmp = dir.join(REWRITE_FILE);
        if tmp.exists() {
            std::fs::remove_file(&tmp).map_err(|source| io(&tmp, source))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|source| io(&path, source))?;
        let mut store = Self {
            dir: dir.to_path_buf(),
            path,
            file,
            staged: Vec::new(),
            poisoned: false,
        };
        let len = store.file_len()?;
        if len < MAGIC.len() as u64 {
            // New, or torn before its creation was synced: nothing in it was
            // ever acknowledged.
            store
                .file
                .set_len(0)
                .map_err(|source| io(&store.path, source))?;
            store.staged.extend_from_slice(MAGIC);
            store.sync()?;
        }
        Ok(store)
    }

    fn file_len(&self) -> Result<u64, QuorumStoreError> {
        Ok(self
            .file
            .metadata()
            .map_err(|source| io(&self.path, source))?
            .len())
    }

    fn check_poisoned(&self) -> Result<(), QuorumStoreError> {
        if self.poisoned {
            return Err(QuorumStoreError::Poisoned);
        }
        Ok(())
    }

    fn corrupt(&self, position: usize, reason: &'static str) -> QuorumStoreError {
        QuorumStoreError::Corrupt {
            path: self.path.clone(),
            position: position as u64,
            reason,
        }
    }
}

fn io(path: &Path, source: std::io::Error) -> QuorumStoreError {
    QuorumStoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Appends one record with `kind` and `value`'s protobuf encoding to `out`.
fn encode_record<M: protobuf::Message>(out: &mut Vec<u8>, kind: u8, value: &M) {
    let body_start = out.len() + RECORD_HEADER_BYTES;
    out.extend_from_slice(&[0; RECORD_HEADER_BYTES]);
    out.push(kind);
    // Encoding into a Vec cannot fail for raft's messages (no required
    // fields, no size above 4 GiB in a metadata quorum).
    value
        .write_to_vec(out)
        .expect("encoding a raft value into a Vec");
    let body = &out[body_start..];
    let body_len = u32::try_from(body.len()).expect("quorum record body fits u32");
    let crc = crc32c::crc32c(body);
    out[body_start - 8..body_start - 4].copy_from_slice(&body_len.to_le_bytes());
    out[body_start - 4..body_start].copy_from_slice(&crc.to_le_bytes());
}

/// The outcome of scanning the journal's bytes.
struct Replay {
    log: StoredLog,
    /// Bytes of valid records (including the magic); a torn tail starts here.
    valid_len: usize,
}

/// How the record at some position ends the scan, if it does.
enum RecordRead<'a> {
    Body(&'a [u8], usize),
    /// The rest of the file cannot be a synced record.
    TornTail,
    /// A complete record with a bad CRC, followed by more bytes.
    BadCrc,
}

fn read_record(bytes: &[u8], position: usize) -> RecordRead<'_> {
    let rest = bytes.get(position..).unwrap_or_default();
    let Some(header) = rest.get(..RECORD_HEADER_BYTES) else {
        return RecordRead::TornTail;
    };
    let body_len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let end = RECORD_HEADER_BYTES.saturating_add(body_len);
    let Some(body) = rest.get(RECORD_HEADER_BYTES..end) else {
        // The length runs past the end of the file: cut short.
        return RecordRead::TornTail;
    };
    if body_len == 0 || crc32c::crc32c(body) != crc {
        // The last record, or zeros to the end (a crash after the file grew
        // but before the data landed): never synced.
        if end == rest.len() || rest.iter().all(|&b| b == 0) {
            return RecordRead::TornTail;
        }
        return RecordRead::BadCrc;
    }
    RecordRead::Body(body, position + end)
}

impl FileLogStore {
    fn replay(&self, bytes: &[u8]) -> Result<Replay, QuorumStoreError> {
        if bytes.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
            return Err(self.corrupt(0, "not a quorum log (bad magic)"));
        }
        let mut log = StoredLog::default();
        let mut position = MAGIC.len();
        while position < bytes.len() {
            let (body, next) = match read_record(bytes, position) {
                RecordRead::Body(body, next) => (body, next),
                RecordRead::TornTail => break,
                RecordRead::BadCrc => {
                    return Err(self.corrupt(position, "record CRC mismatch before the tail"))
                }
            };
            let (kind, value) = body.split_first().expect("body_len checked > 0");
            match *kind {
                KIND_HARD_STATE => {
                    log.hard_state = decode_protobuf::<HardState>(value)
                        .ok_or_else(|| self.corrupt(position, "hard state does not decode"))?;
                }
                KIND_CONF_STATE => {
                    log.conf_state = decode_protobuf::<ConfState>(value)
                        .ok_or_else(|| self.corrupt(position, "conf state does not decode"))?;
                }
                KIND_ENTRY => {
                    let entry = decode_protobuf::<Entry>(value)
                        .ok_or_else(|| self.corrupt(position, "entry does not decode"))?;
                    let snapshot_index = log.snapshot.get_metadata().index;
                    if entry.index <= snapshot_index || entry.index > log.last_index() + 1 {
                        return Err(self.corrupt(position, "entry index does not follow the log"));
                    }
                    log.append(std::slice::from_ref(&entry));
                }
                KIND_SNAPSHOT => {
                    let snapshot = decode_protobuf::<Snapshot>(value)
                        .ok_or_else(|| self.corrupt(position, "snapshot does not decode"))?;
                    if !log.entries.is_empty() {
                        return Err(self.corrupt(position, "snapshot after entries"));
                    }
                    log.snapshot = snapshot;
                }
                _ => return Err(self.corrupt(position, "unknown record kind")),
            }
            position = next;
        }
        Ok(Replay {
            log,
            valid_len: position.min(bytes.len()),
        })
    }
}

impl RaftLogStore for FileLogStore {
    fn load(&mut self) -> Result<StoredLog, QuorumStoreError> {
        self.check_poisoned()?;
        assert!(self.staged.is_empty(), "load with staged writes");
        let mut bytes = Vec::new();
        File::open(&self.path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|source| io(&self.path, source))?;
        let replay = self.replay(&bytes)?;
        if replay.valid_len < bytes.len() {
            tracing::warn!(
                path = ?self.path,
                valid_bytes = replay.valid_len,
                file_bytes = bytes.len(),
                "truncating the torn tail of the quorum log"
            );
            self.file
                .set_len(replay.valid_len as u64)
                .and_then(|()| self.file.sync_data())
                .map_err(|source| io(&self.path, source))?;
        }
        Ok(replay.log)
    }

    fn append_entries(&mut self, entries: &[Entry]) -> Result<(), QuorumStoreError> {
        self.check_poisoned()?;
        for entry in entries {
            encode_record(&mut self.staged, KIND_ENTRY, entry);
        }
        Ok(())
    }

    fn save_hard_state(&mut self, hard_state: &HardState) -> Result<(), QuorumStoreError> {
        self.check_poisoned()?;
        encode_record(&mut self.staged, KIND_HARD_STATE, hard_state);
        Ok(())
    }

    fn save_conf_state(&mut self, conf_state: &ConfState) -> Result<(), QuorumStoreError> {
        self.check_poisoned()?;
        encode_record(&mut self.staged, KIND_CONF_STATE, conf_state);
        Ok(())
    }

    fn rewrite(&mut self, log: &StoredLog) -> Result<(), QuorumStoreError> {
        self.check_poisoned()?;
        // Staged writes are superseded by `log`, which holds them.
        self.staged.clear();
        let mut bytes = Vec::from(MAGIC.as_slice());
        if log.snapshot.get_metadata().index > 0 {
            encode_record(&mut bytes, KIND_SNAPSHOT, &log.snapshot);
        }
        encode_record(&mut bytes, KIND_CONF_STATE, &log.conf_state);
        for entry in &log.entries {
            encode_record(&mut bytes, KIND_ENTRY, entry);
        }
        encode_record(&mut bytes, KIND_HARD_STATE, &log.hard_state);
        let tmp = self.dir.join(REWRITE_FILE);
        let result = (|| {
            let mut file = File::create(&tmp).map_err(|source| io(&tmp, source))?;
            file.write_all(&bytes)
                .and_then(|()| file.sync_all())
                .map_err(|source| io(&tmp, source))?;
            std::fs::rename(&tmp, &self.path).map_err(|source| io(&self.path, source))?;
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|source| io(&self.dir, source))?;
            OpenOptions::new()
                .read(true)
                .append(true)
                .open(&self.path)
                .map_err(|source| io(&self.path, source))
        })();
        match result {
            Ok(file) => {
                self.file = file;
                Ok(())
            }
            Err(e) => {
                self.poisoned = true;
                Err(e)
            }
        }
    }

    fn sync(&mut self) -> Result<(), QuorumStoreError> {
        self.check_poisoned()?;
        if self.staged.is_empty() {
            return Ok(());
        }
        let result = self
            .file
            .write_all(&self.staged)
            .and_then(|()| self.file.sync_data());
        self.staged.clear();
        result.map_err(|source| {
            self.poisoned = true;
            io(&self.path, source)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::eraftpb::SnapshotMetadata;

    fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
        Entry {
            index,
            term,
            data: bytes::Bytes::copy_from_slice(data),
            ..Entry::default()
        }
    }

    fn hard_state(term: u64, vote: u64, commit: u64) -> HardState {
        HardState {
            term,
            vote,
            commit,
            ..HardState::default()
        }
    }

    fn journal_len(dir: &Path) -> u64 {
        std::fs::metadata(dir.join(JOURNAL_FILE)).unwrap().len()
    }

    #[test]
    fn synced_writes_are_read_back_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileLogStore::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap(), StoredLog::default());
        let cs = ConfState {
            voters: vec![1, 2, 3],
            ..ConfState::default()
        };
        store.save_conf_state(&cs).unwrap();
        store
            .append_entries(&[entry(1, 1, b"a"), entry(2, 1, b"b"), entry(3, 1, b"c")])
            .unwrap();
        store.save_hard_state(&hard_state(1, 2, 1)).unwrap();
        store.sync().unwrap();
        // A conflicting suffix from a new leader replaces entries 3..
        store
            .append_entries(&[entry(3, 2, b"x"), entry(4, 2, b"y")])
            .unwrap();
        store.save_hard_state(&hard_state(2, 3, 3)).unwrap();
        store.sync().unwrap();
        drop(store);

        let mut store = FileLogStore::open(dir.path()).unwrap();
        let log = store.load().unwrap();
        assert_eq!(log.conf_state.voters, vec![1, 2, 3]);
        assert_eq!(log.hard_state, hard_state(2, 3, 3));
        let got: Vec<(u64, u64, &[u8])> = log
            .entries
            .iter()
            .map(|e| (e.index, e.term, e.data.as_ref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 1, &b"a"[..]),
                (2, 1, &b"b"[..]),
                (3, 2, &b"x"[..]),
                (4, 2, &b"y"[..])
            ]
        );
    }

    #[test]
    fn unsynced_writes_are_not_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileLogStore::open(dir.path()).unwrap();
        store.append_entries(&[entry(1, 1, b"a")]).unwrap();
        drop(store);
        let mut store = FileLogStore::open(dir.path()).unwrap();
        assert!(store.load().unwrap().entries.is_empty());
    }

    #[test]
    fn torn_tail_is_truncated_on_open_and_never_served() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileLogStore::open(dir.path()).unwrap();
        store.append_entries(&[entry(1, 1, b"kept")]).unwrap();
        store.sync().unwrap();
        let synced_len = journal_len(dir.path());
        store.append_entries(&[entry(2, 1, b"torn")]).unwrap();
        store.sync().unwrap();
        drop(store);
        let full_len = journal_len(dir.path());

        // Every cut inside the last record is a torn tail.
        for cut in synced_len + 1..full_len {
            let file = OpenOptions::new()
                .write(true)
                .open(dir.path().join(JOURNAL_FILE))
                .unwrap();
            file.set_len(cut).unwrap();
            drop(file);
            let mut store = FileLogStore::open(dir.path()).unwrap();
            let log = store.load().unwrap();
            assert_eq!(log.entries.len(), 1, "cut at {cut}");
            assert_eq!(log.entries[0].data.as_ref(), b"kept");
            assert_eq!(journal_len(dir.path()), synced_len, "cut at {cut}");
            // Appending after the truncation continues the log cleanly.
            store.append_entries(&[entry(2, 1, b"torn")]).unwrap();
            store.sync().unwrap();
            drop(store);
            assert_eq!(journal_len(dir.path()), full_len);
        }
    }

    #[test]
    fn zeros_after_the_last_record_are_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileLogStore::open(dir.path()).unwrap();
        store.append_entries(&[entry(1, 1, b"kept")]).unwrap();
        store.sync().unwrap();
        drop(store);
        let synced_len = journal_len(dir.path());
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(JOURNAL_FILE))
            .unwrap();
        file.write_all(&[0; 4096]).unwrap();
        drop(file);
        let mut store = FileLogStore::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap().entries.len(), 1);
        assert_eq!(journal_len(dir.path()), synced_len);
    }

    #[test]
    fn crc_mismatch_before_the_tail_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileLogStore::open(dir.path()).unwrap();
        store.append_entries(&[entry(1, 1, b"first")]).unwrap();
        store.sync().unwrap();
        store.append_entries(&[entry(2, 1, b"second")]).unwrap();
        store.sync().unwrap();
        drop(store);
        let path = dir.path().join(JOURNAL_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        // Flip a bit in the first record's body (right after its header).
        bytes[MAGIC.len() + RECORD_HEADER_BYTES + 3] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let mut store = FileLogStore::open(dir.path()).unwrap();
        match store.load() {
            Err(QuorumStoreError::Corrupt { position, .. }) => {
                assert_eq!(position, MAGIC.len() as u64)
            }
            other => panic!("expected a corrupt log, got {other:?}"),
        }
        // The file is left as found for an operator to inspect.
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn a_huge_length_does_not_allocate_or_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let mut bytes = Vec::from(MAGIC.as_slice());
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(b"garbage");
        std::fs::write(&path, &bytes).unwrap();
        let mut store = FileLogStore::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap(), StoredLog::default());
        assert_eq!(journal_len(dir.path()), MAGIC.len() as u64);
    }

    #[test]
    fn bad_magic_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(JOURNAL_FILE), b"NOTALOG!....").unwrap();
        let mut store = FileLogStore::open(dir.path()).unwrap();
        assert!(matches!(
            store.load(),
            Err(QuorumStoreError::Corrupt { position: 0, .. })
        ));
    }

    #[test]
    fn rewrite_replaces_the_log_with_a_snapshot_and_its_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = FileLogStore::open(dir.path()).unwrap();
        store
            .append_entries(&[entry(1, 1, b"a"), entry(2, 1, b"b"), entry(3, 1, b"c")])
            .unwrap();
        store.sync().unwrap();
        let mut snapshot = Snapshot::default();
        let mut meta = SnapshotMetadata {
            index: 2,
            term: 1,
            ..SnapshotMetadata::default()
        };
        let cs = ConfState {
            voters: vec![1],
            ..ConfState::default()
        };
        meta.set_conf_state(cs.clone());
        snapshot.set_metadata(meta);
        snapshot.data = bytes::Bytes::from_static(b"image at 2");
        let log = StoredLog {
            hard_state: hard_state(1, 1, 3),
            conf_state: cs,
            snapshot,
            entries: vec![entry(3, 1, b"c")],
        };
        store.rewrite(&log).unwrap();
        store.append_entries(&[entry(4, 1, b"d")]).unwrap();
        store.sync().unwrap();
        drop(store);
        let mut store = FileLogStore::open(dir.path()).unwrap();
        let got = store.load().unwrap();
        assert_eq!(got.snapshot, log.snapshot);
        assert_eq!(got.hard_state, log.hard_state);
        assert_eq!(
            got.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert!(!dir.path().join(REWRITE_FILE).exists());
    }
}
