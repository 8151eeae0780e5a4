//! The `leader-epoch-checkpoint` file in a partition's directory: Kafka's
//! checkpoint format, version 0 —
//!
//! ```text
//! 0            <- format version
//! 2            <- number of entries
//! 1 0          <- leader epoch, start offset
//! 3 10
//! ```
//!
//! The file is input from disk, so it is parsed as hostile: a size limit
//! before it is read, one exact shape per line, and the cache's ordering
//! invariant checked; anything else is [`CheckpointError::Corrupt`], and the
//! caller rebuilds the epochs from the log's batches. Writes are atomic and
//! durable: a temporary file, fdatasync, rename, directory fsync — all
//! through glommio, so no write blocks the shard's thread.

use std::path::{Path, PathBuf};

use crate::leader_epoch_cache::EpochEntry;

/// The file's name in the partition directory (Kafka's).
pub const CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
/// The temporary file a write goes through.
const CHECKPOINT_TEMP_FILE: &str = "leader-epoch-checkpoint.tmp";
/// The only format version.
const VERSION: u32 = 0;
/// The largest checkpoint read: far above any real one (an entry is at
/// most 32 bytes, and a partition sees few epochs), small enough that a
/// corrupt size cannot make us allocate much.
pub const CHECKPOINT_BYTES_MAX: u64 = 1 << 20;

/// Why the checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// An IO operation on `path` failed.
    #[error("I/O on {path:?}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid checkpoint.
    #[error("leader-epoch checkpoint {path:?} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl From<crate::durable_file::DurableWriteError> for CheckpointError {
    fn from(error: crate::durable_file::DurableWriteError) -> CheckpointError {
        CheckpointError::Io {
            path: error.path,
            source: error.source,
        }
    }
}

/// Parses checkpoint bytes into ordered entries.
///
/// # Errors
/// The first thing wrong with `bytes`, as a static reason.
pub fn parse(bytes: &[u8]) -> Result<Vec<EpochEntry>, &'static str> {
    // Every line ends in a newline: a file cut inside its last number
    // ("3 1" of "3 10") would otherwise parse.
    if !bytes.ends_with(b"\n") {
        return Err("truncated: no final newline");
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8")?;
    let mut lines = text.lines();
    let version: u32 = number(lines.next().ok_or("empty")?)?;
    if version != VERSION {
        return Err("unknown version");
    }
    let count: usize = number(lines.next().ok_or("no entry count")?)?;
    // Each entry takes at least 4 bytes ("0 0\n"): a count beyond that is a
    // lie, and must not size an allocation.
    if count > bytes.len() / 4 {
        return Err("entry count larger than the file");
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let line = lines.next().ok_or("fewer entries than the count")?;
        let (epoch, offset) = line.split_once(' ').ok_or("entry is not two numbers")?;
        let entry = EpochEntry {
            leader_epoch: number(epoch)?,
            start_offset: number(offset)?,
        };
        if entry.leader_epoch < 0 || entry.start_offset < 0 {
            return Err("negative epoch or offset");
        }
        if let Some(previous) = entries.last() {
            let previous: &EpochEntry = previous;
            if entry.leader_epoch <= previous.leader_epoch
                || entry.start_offset < previous.start_offset
            {
                return Err("entries out of order");
            }
        }
        entries.push(entry);
    }
    if lines.any(|line| !line.is_empty()) {
        return Err("more entries than the count");
    }
    Ok(entries)
}

/// A decimal number, exactly (no sign other than a leading '-', no spaces).
pub(crate) fn number<T: std::str::FromStr>(text: &str) -> Result<T, &'static str> {
    if text.is_empty() || text.starts_with('+') || text.trim() != text {
        return Err("not a number");
    }
    text.parse().map_err(|_| "not a number")
}

/// The file's bytes for `entries`.
pub fn encode(entries: &[EpochEntry]) -> Vec<u8> {
    let mut text = format!("{VERSION}\n{}\n", entries.len());
    for entry in entries {
        text.push_str(&format!("{} {}\n", entry.leader_epoch, entry.start_offset));
    }
    text.into_bytes()
}

/// Reads the checkpoint in `dir`: `Ok(None)` if there is none.
///
/// # Errors
/// `Io` when it cannot be read; `Corrupt` when it is not a valid checkpoint
/// (too large, badly formed, out of order).
pub async fn read(dir: &Path) -> Result<Option<Vec<EpochEntry>>, CheckpointError> {
    let path = dir.join(CHECKPOINT_FILE);
    let file = match glommio::io::BufferedFile::open(&path).await {
        Ok(file) => file,
        Err(error) => {
            let error = std::io::Error::from(error);
            if error.kind() == std::io::ErrorKind::NotFound {
                return Ok(None);
            }
            return Err(CheckpointError::Io {
                path,
                source: error,
            });
        }
    };
    let read = read_whole(&file, &path).await;
    if let Err(error) = file.close().await {
        tracing::warn!(%error, path = %path.display(), "closing the leader-epoch checkpoint failed");
    }
    let bytes = read?;
    parse(&bytes)
        .map(Some)
        .map_err(|reason| CheckpointError::Corrupt { path, reason })
}

async fn read_whole(
    file: &glommio::io::BufferedFile,
    path: &Path,
) -> Result<Vec<u8>, CheckpointError> {
    let io = |error: glommio::GlommioError<()>| CheckpointError::Io {
        path: path.to_path_buf(),
        source: error.into(),
    };
    let size = file.file_size().await.map_err(io)?;
    if size > CHECKPOINT_BYTES_MAX {
        return Err(CheckpointError::Corrupt {
            path: path.to_path_buf(),
            reason: "larger than any checkpoint",
        });
    }
    let size = usize::try_from(size).map_err(|_| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        reason: "larger than any checkpoint",
    })?;
    let bytes = file.read_at(0, size).await.map_err(io)?;
    if bytes.len() != size {
        return Err(CheckpointError::Corrupt {
            path: path.to_path_buf(),
            reason: "shorter than its size",
        });
    }
    Ok(bytes.to_vec())
}

/// Replaces the checkpoint in `dir` with `entries`, durably: when this
/// returns `Ok`, a crash leaves either this checkpoint or none newer.
///
/// # Errors
/// `Io` when a step fails; the previous checkpoint (or none) stays.
///
/// # Cancel safety
/// Dropping the future may leave the temporary file behind (the next write
/// replaces it); the checkpoint itself is never half-written.
pub async fn write(dir: &Path, entries: &[EpochEntry]) -> Result<(), CheckpointError> {
    crate::durable_file::replace(dir, CHECKPOINT_TEMP_FILE, CHECKPOINT_FILE, encode(entries))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(leader_epoch: i32, start_offset: i64) -> EpochEntry {
        EpochEntry {
            leader_epoch,
            start_offset,
        }
    }

    #[test]
    fn encoded_entries_parse_back() {
        let entries = vec![entry(0, 0), entry(3, 10), entry(4, 10)];
        let bytes = encode(&entries);
        assert_eq!(bytes, b"0\n3\n0 0\n3 10\n4 10\n");
        assert_eq!(parse(&bytes), Ok(entries));
        assert_eq!(parse(b"0\n0\n"), Ok(Vec::new()));
    }

    #[test]
    fn a_truncated_checkpoint_is_corrupt() {
        let bytes = encode(&[entry(0, 0), entry(3, 10)]);
        for end in 0..bytes.len() {
            assert!(parse(&bytes[..end]).is_err(), "cut at {end}");
        }
    }

    #[test]
    fn malformed_checkpoints_are_corrupt() {
        for bad in [
            &b"1\n0\n"[..],
            b"0\n1\n0\n",
            b"0\n1\n0 0 0\n",
            b"0\n1\n0  0\n",
            b"0\n1\n-1 0\n",
            b"0\n1\n0 -5\n",
            b"0\n1\n+1 0\n",
            b"0\n2\n3 10\n1 20\n",
            b"0\n2\n1 20\n3 10\n",
            b"0\n1\n1 0\n2 5\n",
            b"0\n99999999999\n",
            b"0\n1\n99999999999 0\n",
            b"\xff\xfe\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
