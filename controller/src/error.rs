//! The controller's typed errors.
use std::path::PathBuf;

/// A metadata change that could not be made, or a metadata log that could
/// not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// A record on disk does not decode.
    #[error("corrupt metadata record: {reason}")]
    CorruptRecord { reason: &'static str },
    /// Reading or writing the metadata log failed.
    #[error("metadata log I/O on {path:?}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
