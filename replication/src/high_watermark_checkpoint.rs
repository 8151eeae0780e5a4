//! The high-watermark checkpoint: Kafka's `replication-offset-checkpoint`
//! format, version 0 —
//!
//! ```text
//! 0              <- format version
//! 2              <- number of entries
//! orders 0 120   <- topic, partition, high watermark
//! orders 1 98
//! ```
//!
//! Kafka keeps one such file per log dir. Here each data shard owns its
//! partitions outright, so each shard writes its own file in the data dir,
//! `replication-offset-checkpoint.<shard>` (one writer per file, no merge
//! across shards); recovery reads every shard's file, so a partition that
//! moved to another shard (a different `--cores`) still finds its mark.
//!
//! The files are input from disk, parsed as hostile (a size limit, one
//! exact shape per line); a corrupt file is ignored with a warning (the
//! partitions then start as without a checkpoint). Writes are atomic and
//! durable: a temporary file, fdatasync, rename, directory fsync, through
//! glommio.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::leader_epoch_checkpoint::{number, CheckpointError, CHECKPOINT_BYTES_MAX};

/// The prefix of each shard's file in the data dir (Kafka's file name).
pub const HIGH_WATERMARK_CHECKPOINT_FILE: &str = "replication-offset-checkpoint";
/// The only format version.
const VERSION: u32 = 0;

/// A partition's high watermark, by topic name and partition index.
pub type HighWatermarks = HashMap<(String, i32), i64>;

/// The file `shard` writes in the data dir.
pub fn checkpoint_file_name(shard: usize) -> String {
    format!("{HIGH_WATERMARK_CHECKPOINT_FILE}.{shard}")
}

/// Parses checkpoint bytes.
///
/// # Errors
/// The first thing wrong with `bytes`, as a static reason.
pub fn parse(bytes: &[u8]) -> Result<Vec<(String, i32, i64)>, &'static str> {
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
    // An entry takes at least 6 bytes ("t 0 0\n").
    if count > bytes.len() / 6 {
        return Err("entry count larger than the file");
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let line = lines.next().ok_or("fewer entries than the count")?;
        let mut fields = line.split(' ');
        let (Some(topic), Some(partition), Some(offset), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err("entry is not topic, partition, offset");
        };
        if topic.is_empty() {
            return Err("empty topic name");
        }
        let partition: i32 = number(partition)?;
        let offset: i64 = number(offset)?;
        if partition < 0 || offset < 0 {
            return Err("negative partition or offset");
        }
        entries.push((topic.to_string(), partition, offset));
    }
    if lines.any(|line| !line.is_empty()) {
        return Err("more entries than the count");
    }
    Ok(entries)
}

/// The file's bytes for `entries`.
pub fn encode(entries: &[(String, i32, i64)]) -> Vec<u8> {
    let mut text = format!("{VERSION}\n{}\n", entries.len());
    for (topic, partition, offset) in entries {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    text.into_bytes()
}

/// Reads every shard's checkpoint in `data_dir` (at startup, before the
/// shard serves: plain `std::fs`). A missing dir or file is no entry; a
/// corrupt or unreadable file is logged and skipped. When two files name a
/// partition, the newer file wins.
pub fn read_all(data_dir: &Path) -> HighWatermarks {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    let Ok(listing) = std::fs::read_dir(data_dir) else {
        return HighWatermarks::new();
    };
    for entry in listing.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(shard) = name.strip_prefix(HIGH_WATERMARK_CHECKPOINT_FILE) else {
            continue;
        };
        if !shard.starts_with('.') || shard.ends_with(".tmp") {
            continue;
        }
        let modified = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        found.push((modified, entry.path()));
    }
    found.sort();
    let mut marks = HighWatermarks::new();
    for (_, path) in found {
        match read_file(&path) {
            Ok(entries) => {
                for (topic, partition, offset) in entries {
                    marks.insert((topic, partition), offset);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "ignoring a high-watermark checkpoint");
            }
        }
    }
    marks
}

fn read_file(path: &Path) -> Result<Vec<(String, i32, i64)>, CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > CHECKPOINT_BYTES_MAX * 64 {
        return Err(CheckpointError::Corrupt {
            path: path.to_path_buf(),
            reason: "larger than any checkpoint",
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    parse(&bytes).map_err(|reason| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        reason,
    })
}

/// Replaces the file `file_name` in `dir` with `entries`, durably: when
/// this returns `Ok`, a crash leaves either this checkpoint or none newer.
///
/// # Errors
/// `Io` when a step fails; the previous file (or none) stays.
///
/// # Cancel safety
/// Dropping the future may leave the temporary file behind (the next write
/// replaces it); the checkpoint itself is never half-written.
pub async fn write(
    dir: &Path,
    file_name: &str,
    entries: &[(String, i32, i64)],
) -> Result<(), CheckpointError> {
    let temp = format!("{file_name}.tmp");
    crate::durable_file::replace(dir, &temp, file_name, encode(entries)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_entries_parse_back_in_kafkas_format() {
        let entries = vec![("orders".to_string(), 0, 120), ("a-b".to_string(), 3, 0)];
        let bytes = encode(&entries);
        assert_eq!(bytes, b"0\n2\norders 0 120\na-b 3 0\n");
        assert_eq!(parse(&bytes), Ok(entries));
        assert_eq!(parse(b"0\n0\n"), Ok(Vec::new()));
    }

    #[test]
    fn corrupt_checkpoints_are_refused() {
        assert!(parse(b"0\n1\norders 0 12").is_err(), "cut mid-number");
        assert!(parse(b"1\n0\n").is_err());
        assert!(parse(b"0\n2\norders 0 1\n").is_err());
        assert!(parse(b"0\n1\norders 0 1 2\n").is_err());
        assert!(parse(b"0\n1\norders -1 1\n").is_err());
        assert!(parse(b"0\n1\norders 0 -5\n").is_err());
        assert!(parse(b"0\n99999999\n").is_err());
        assert!(parse(b"0\n0\nextra 0 0\n").is_err());
    }

    #[test]
    fn every_shards_file_is_read_and_the_newest_wins() {
        let dir = std::env::temp_dir().join(format!("hw-checkpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(checkpoint_file_name(0)), b"0\n1\na 0 5\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.join(checkpoint_file_name(1)), b"0\n2\na 0 7\nb 1 3\n").unwrap();
        std::fs::write(
            dir.join(format!("{}.tmp", checkpoint_file_name(2))),
            b"junk",
        )
        .unwrap();
        std::fs::write(dir.join(checkpoint_file_name(3)), b"junk").unwrap();
        let marks = read_all(&dir);
        assert_eq!(marks.len(), 2);
        assert_eq!(marks.get(&("a".to_string(), 0)), Some(&7));
        assert_eq!(marks.get(&("b".to_string(), 1)), Some(&3));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
