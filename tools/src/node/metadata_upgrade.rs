//! The in-place upgrade of a data dir written before the metadata quorum:
//! its metadata log (`__skein_metadata/records.log`, one fsynced file of
//! records) becomes the initial snapshot of the quorum's log
//! (`__skein_metadata/quorum.log`), so nothing is replayed twice and nothing
//! is lost, and the old file is kept as `records.log.pre-quorum` for a
//! rollback.
//!
//! Crash safety: the quorum log is built in a staging directory, synced,
//! and renamed into place (the directory synced) before the old log is
//! renamed away. So after a crash at any point either no `quorum.log`
//! exists (the upgrade starts over from the untouched old log) or a whole
//! one does (and a leftover `records.log` is only renamed away).
//!
//! Rollback: stop the broker, delete `quorum.log` and rename
//! `records.log.pre-quorum` back to `records.log`; the metadata changes made
//! since the upgrade are lost. (A `records.log` that reappears next to a
//! `quorum.log` is taken for the leftover of an interrupted upgrade and
//! renamed away again, so remove `quorum.log` first.)
//!
//! Blocking `std::fs` calls: this runs once, on the control shard, before
//! it serves anything.

use std::fs::File;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use skein_controller::quorum::{
    FileLogStore, QuorumNodeId, QuorumStoreError, RaftLogStore, StoredLog,
};
use skein_controller::{encode_image_snapshot, MetadataError, MetadataImage, MetadataLog};

/// The pre-quorum metadata log's file, in the metadata directory.
pub const PRE_QUORUM_LOG: &str = "records.log";
/// What the pre-quorum log is renamed to once the quorum holds its records.
pub const PRE_QUORUM_LOG_KEPT: &str = "records.log.pre-quorum";
/// The quorum's journal (see `FileLogStore`).
const QUORUM_LOG: &str = "quorum.log";
/// Where the quorum log is built before it is renamed into place.
const STAGING_DIR: &str = "quorum-upgrade";

/// Why the upgrade failed. The data dir is then as it was, or a restart
/// finishes the upgrade.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The old metadata log could not be read.
    #[error("cannot read the pre-quorum metadata log")]
    OldLog(#[from] MetadataError),
    /// The quorum log could not be written.
    #[error("cannot write the quorum log")]
    QuorumLog(#[from] QuorumStoreError),
    /// A rename, removal or directory sync failed.
    #[error("I/O on {path:?}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What the upgrade found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// No pre-quorum log: nothing to do.
    NotNeeded,
    /// The old log's `records` now form the quorum's initial snapshot.
    Upgraded { records: usize, topics: usize },
    /// A crash interrupted an upgrade after the quorum log was in place:
    /// only the old log's rename was left to do.
    Finished,
}

/// Brings the pre-quorum metadata log in `metadata_dir`, if there is one
/// and no quorum log yet, into a new quorum log for `voters`.
///
/// # Errors
/// When the old log cannot be read or the new one cannot be written and
/// put in place.
pub fn upgrade_pre_quorum_log(
    metadata_dir: &Path,
    voters: &[QuorumNodeId],
    local_broker_id: i32,
) -> Result<Upgrade, UpgradeError> {
    let old = metadata_dir.join(PRE_QUORUM_LOG);
    if !old.exists() {
        return Ok(Upgrade::NotNeeded);
    }
    let kept = metadata_dir.join(PRE_QUORUM_LOG_KEPT);
    if metadata_dir.join(QUORUM_LOG).exists() {
        rename(&old, &kept)?;
        sync_dir(metadata_dir)?;
        tracing::warn!(
            kept = %kept.display(),
            "finished an interrupted upgrade of the metadata log to the metadata quorum"
        );
        return Ok(Upgrade::Finished);
    }
    let (log, records) = MetadataLog::open(metadata_dir)?;
    drop(log);
    let image = MetadataImage::replay(local_broker_id, &records);
    let topics = image.topics().count();
    let staging = metadata_dir.join(STAGING_DIR);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|source| io(&staging, source))?;
    }
    let mut store = FileLogStore::open(&staging)?;
    let snapshot = Bytes::from(encode_image_snapshot(&image));
    store.rewrite(&StoredLog::seeded(voters, snapshot))?;
    drop(store);
    rename(&staging.join(QUORUM_LOG), &metadata_dir.join(QUORUM_LOG))?;
    sync_dir(metadata_dir)?;
    std::fs::remove_dir_all(&staging).map_err(|source| io(&staging, source))?;
    rename(&old, &kept)?;
    sync_dir(metadata_dir)?;
    tracing::info!(
        records = records.len(),
        topics,
        next_producer_id_block = image.next_producer_id_block,
        kept = %kept.display(),
        "upgraded the metadata log to the metadata quorum: its records are the quorum's first snapshot; \
         the old log is kept for a rollback"
    );
    Ok(Upgrade::Upgraded {
        records: records.len(),
        topics,
    })
}

fn rename(from: &Path, to: &Path) -> Result<(), UpgradeError> {
    std::fs::rename(from, to).map_err(|source| io(from, source))
}

/// Makes the directory's entries (renames, new files) durable.
fn sync_dir(dir: &Path) -> Result<(), UpgradeError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| io(dir, source))
}

fn io(path: &Path, source: std::io::Error) -> UpgradeError {
    UpgradeError::Io {
        path: path.to_path_buf(),
        source,
    }
}
