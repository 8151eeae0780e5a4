//! Durable small writes on the shard's io_uring: a directory fsync that
//! makes created, renamed or removed names survive a crash, and a small file
//! written and fdatasynced whole. The fsyncs run as io_uring operations (in
//! the kernel's io-wq workers), so the shard thread keeps serving its other
//! partitions while the disk flushes; many of them in flight at once share
//! the device's cache flushes.
use std::path::Path;

use crate::error::LogError;

/// Fsyncs the directory `dir`, so that creations, renames and deletions in
/// it survive a crash. Must run inside a glommio executor.
///
/// # Errors
/// `LogError::Io` if the directory cannot be opened or synced.
pub(crate) async fn sync_dir(dir: &Path) -> Result<(), LogError> {
    let directory = glommio::io::Directory::open(dir)
        .await
        .map_err(|e| LogError::glommio(dir, e))?;
    let synced = directory.sync().await;
    let closed = directory.close().await;
    synced.map_err(|e| LogError::glommio(dir, e))?;
    closed.map_err(|e| LogError::glommio(dir, e))
}

/// Creates (or truncates) `path` holding exactly `bytes`, fdatasynced. The
/// caller fsyncs the directory if the name is new. Must run inside a
/// glommio executor.
///
/// # Errors
/// `LogError::Io` on any failed step, or a short write; the file may then
/// hold part of `bytes`.
pub(crate) async fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    let file = glommio::io::BufferedFile::create(path)
        .await
        .map_err(|e| LogError::glommio(path, e))?;
    let written = if bytes.is_empty() {
        Ok(0)
    } else {
        file.write_at(bytes.to_vec(), 0).await
    };
    let synced = match written {
        Ok(n) if n == bytes.len() => file
            .fdatasync()
            .await
            .map_err(|e| LogError::glommio(path, e)),
        Ok(_) => Err(LogError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::WriteZero, "short write"),
        )),
        Err(e) => Err(LogError::glommio(path, e)),
    };
    let closed = file.close().await;
    synced?;
    closed.map_err(|e| LogError::glommio(path, e))
}

/// Replaces `dir/name` with `bytes` atomically: written to `<name>.tmp`,
/// fdatasynced, renamed over `name`, the directory fsynced.
///
/// # Errors
/// `LogError::Io` on the step that failed; `name` is never half-written.
pub(crate) async fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), LogError> {
    let temp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    write_synced(&temp, bytes).await?;
    glommio::io::rename(&temp, &path)
        .await
        .map_err(|e| LogError::glommio(&path, e))?;
    sync_dir(dir).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_executor;

    #[test]
    fn write_synced_leaves_exactly_the_bytes_and_replaces_a_longer_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("small");
        std::fs::write(&path, b"a much longer old content").expect("seed");
        let written = path.clone();
        test_executor::run(move || async move {
            write_synced(&written, b"12345").await.expect("write");
        });
        assert_eq!(std::fs::read(&path).expect("read"), b"12345");
        let empty = dir.path().join("marker");
        let marker = empty.clone();
        test_executor::run(move || async move {
            write_synced(&marker, b"").await.expect("write empty");
        });
        assert_eq!(std::fs::read(&empty).expect("read").len(), 0);
    }

    #[test]
    fn replace_file_swaps_the_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        test_executor::run(move || async move {
            replace_file(&path, "recovery-point-offset-checkpoint", b"7")
                .await
                .expect("first");
            replace_file(&path, "recovery-point-offset-checkpoint", b"1234")
                .await
                .expect("second");
            sync_dir(&path).await.expect("sync");
        });
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["recovery-point-offset-checkpoint".to_string()]);
        assert_eq!(
            std::fs::read(dir.path().join("recovery-point-offset-checkpoint")).expect("read"),
            b"1234"
        );
    }

    #[test]
    fn sync_dir_of_a_missing_directory_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("gone");
        let expected = missing.clone();
        let result = test_executor::run(move || async move { sync_dir(&missing).await });
        match result {
            Err(LogError::Io { path, .. }) => assert_eq!(path, expected),
            other => panic!("expected an IO error, got {other:?}"),
        }
    }
}
