//! Where committed metadata records are kept: the [`MetadataStorage`]
//! interface the controller's driver appends through, with an in-memory
//! implementation for tests and simulations. The broker's implementation is
//! the fsynced file [`MetadataLog`](crate::MetadataLog); the Raft quorum's
//! log (with its hard state and snapshots) will be another.
//!
//! Offsets count records from 0, the first record ever appended; the log end
//! offset is the offset the next record will take.

use crate::error::MetadataError;
use crate::metadata_record::MetadataRecord;

/// A durable, append-only sequence of metadata records.
///
/// Lives on: the control shard only. Implementations may block (file IO):
/// the control shard serves no data-path traffic.
pub trait MetadataStorage {
    /// Appends `records` after the last stored one and makes them durable;
    /// once this returns `Ok` they are committed (with one voter). Returns
    /// the new log end offset.
    ///
    /// # Errors
    /// If the records could not be made durable. None of them is then
    /// committed, and the change must be reported as failed.
    fn append(&mut self, records: &[MetadataRecord]) -> Result<u64, MetadataError>;

    /// Every stored record from offset `from` to the log end, in order.
    ///
    /// # Errors
    /// [`MetadataError::ReadPastEnd`] if `from` is past the log end offset;
    /// an IO or corruption error of the implementation.
    fn read(&self, from: u64) -> Result<Vec<MetadataRecord>, MetadataError>;

    /// The offset the next appended record will take: how many records are
    /// stored.
    fn log_end_offset(&self) -> u64;
}

/// The index of the record at offset `from` in a storage holding
/// `log_end_offset` records; `from == log_end_offset` reads nothing.
///
/// # Errors
/// [`MetadataError::ReadPastEnd`] if `from` is past the end.
pub(crate) fn read_start(from: u64, log_end_offset: u64) -> Result<usize, MetadataError> {
    if from > log_end_offset {
        return Err(MetadataError::ReadPastEnd {
            from,
            log_end_offset,
        });
    }
    Ok(usize::try_from(from).expect("a stored offset fits in memory"))
}

/// Metadata storage in memory, with fault injection: for unit tests and
/// simulations, where "durable" means "survives a simulated crash of the
/// controller that holds a copy".
#[derive(Debug, Clone, Default)]
pub struct MemoryMetadataStorage {
    records: Vec<MetadataRecord>,
    failing: bool,
}

impl MemoryMetadataStorage {
    /// Empty storage.
    pub fn new() -> MemoryMetadataStorage {
        MemoryMetadataStorage::default()
    }

    /// While `failing`, every append fails as a failed fsync would, storing
    /// nothing.
    pub fn set_failing(&mut self, failing: bool) {
        self.failing = failing;
    }
}

impl MetadataStorage for MemoryMetadataStorage {
    fn append(&mut self, records: &[MetadataRecord]) -> Result<u64, MetadataError> {
        if self.failing {
            return Err(MetadataError::Io {
                path: "memory".into(),
                source: std::io::Error::other("injected append failure"),
            });
        }
        self.records.extend_from_slice(records);
        Ok(self.log_end_offset())
    }

    fn read(&self, from: u64) -> Result<Vec<MetadataRecord>, MetadataError> {
        let start = read_start(from, self.log_end_offset())?;
        Ok(self.records[start..].to_vec())
    }

    fn log_end_offset(&self) -> u64 {
        self.records.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(next_block_start: i64) -> MetadataRecord {
        MetadataRecord::ProducerIdBlock { next_block_start }
    }

    #[test]
    fn memory_storage_reads_from_any_offset_up_to_the_end() {
        let mut storage = MemoryMetadataStorage::new();
        assert_eq!(storage.append(&[block(1), block(2)]).unwrap(), 2);
        assert_eq!(storage.append(&[block(3)]).unwrap(), 3);
        assert_eq!(storage.read(0).unwrap(), vec![block(1), block(2), block(3)]);
        assert_eq!(storage.read(2).unwrap(), vec![block(3)]);
        assert_eq!(storage.read(3).unwrap(), vec![]);
        assert!(matches!(
            storage.read(4),
            Err(MetadataError::ReadPastEnd {
                from: 4,
                log_end_offset: 3
            })
        ));
    }

    #[test]
    fn failing_memory_storage_stores_nothing() {
        let mut storage = MemoryMetadataStorage::new();
        storage.set_failing(true);
        assert!(storage.append(&[block(1)]).is_err());
        assert_eq!(storage.log_end_offset(), 0);
        storage.set_failing(false);
        assert_eq!(storage.append(&[block(1)]).unwrap(), 1);
    }
}
