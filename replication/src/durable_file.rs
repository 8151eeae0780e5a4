//! Durable file replacement, the one write protocol of this crate's small
//! files (leader-epoch and high-watermark checkpoints, producer-state
//! snapshots, transaction indexes): the bytes go to a temporary file,
//! fdatasynced, renamed over the target, and the directory fsynced, so a
//! crash leaves either the new file or the old one, never half of one.
use std::path::{Path, PathBuf};

/// A failed step of a durable write, with the path it failed on.
#[derive(Debug, thiserror::Error)]
#[error("I/O on {path:?}: {source}")]
pub struct DurableWriteError {
    /// The file or directory.
    pub path: PathBuf,
    /// The failure.
    #[source]
    pub source: std::io::Error,
}

impl DurableWriteError {
    fn at(path: &Path) -> impl FnOnce(glommio::GlommioError<()>) -> DurableWriteError {
        let path = path.to_path_buf();
        move |error| DurableWriteError {
            path,
            source: error.into(),
        }
    }
}

/// Replaces `name` in `dir` with `bytes`: written to `temp_name`,
/// fdatasynced, renamed over `name`, the directory fsynced.
///
/// # Errors
/// The step that failed; the previous file (or none) stays.
///
/// # Cancel safety
/// Dropping the future may leave the temporary file behind (the next write
/// replaces it); `name` is never half-written.
pub async fn replace(
    dir: &Path,
    temp_name: &str,
    name: &str,
    bytes: Vec<u8>,
) -> Result<(), DurableWriteError> {
    let temp = dir.join(temp_name);
    let path = dir.join(name);
    let file = glommio::io::BufferedFile::create(&temp)
        .await
        .map_err(DurableWriteError::at(&temp))?;
    let length = bytes.len();
    let written = file
        .write_at(bytes, 0)
        .await
        .map_err(DurableWriteError::at(&temp))?;
    if written != length {
        return Err(DurableWriteError {
            path: temp,
            source: std::io::Error::new(std::io::ErrorKind::WriteZero, "short write"),
        });
    }
    file.fdatasync()
        .await
        .map_err(DurableWriteError::at(&temp))?;
    file.close().await.map_err(DurableWriteError::at(&temp))?;
    glommio::io::rename(&temp, &path)
        .await
        .map_err(DurableWriteError::at(&path))?;
    sync_dir(dir).await
}

/// Fsyncs the directory `dir`, so that creations, renames and deletions in
/// it survive a crash.
///
/// # Errors
/// If the directory cannot be opened or synced.
pub async fn sync_dir(dir: &Path) -> Result<(), DurableWriteError> {
    let directory = glommio::io::Directory::open(dir)
        .await
        .map_err(DurableWriteError::at(dir))?;
    directory.sync().await.map_err(DurableWriteError::at(dir))?;
    directory
        .close()
        .await
        .map_err(DurableWriteError::at(dir))?;
    Ok(())
}
