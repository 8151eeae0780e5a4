//! The metadata image of a node that follows the committed metadata log
//! without voting (a broker-only node, as a KRaft observer): it starts
//! empty, installs the snapshot it is sent when it is behind the voters'
//! log, and applies the committed entries after it in order. Every entry
//! and snapshot is checked as hostile bytes before it changes the image.

use std::sync::Arc;

use crate::image::MetadataImage;
use crate::image_snapshot::{check_applicable, decode_image_snapshot};
use crate::metadata_entry::decode_metadata_entry;
use crate::metadata_record::MetadataRecord;
use crate::quorum::CommittedTail;
use crate::MetadataError;

/// A committed entry or snapshot that does not decode or apply.
#[derive(Debug, thiserror::Error)]
#[error("metadata log index {index} cannot be applied: {source}")]
pub struct FollowError {
    /// Its index in the quorum's log.
    pub index: u64,
    /// Why.
    #[source]
    pub source: MetadataError,
}

/// The image of the committed log up to [`MetadataFollower::applied_index`].
/// Lives on: the control shard.
#[derive(Debug)]
pub struct MetadataFollower {
    image: Arc<MetadataImage>,
    applied_index: u64,
}

impl MetadataFollower {
    /// A follower that has applied nothing; `local_broker_id` is this
    /// node's `node.id`.
    pub fn new(local_broker_id: i32) -> MetadataFollower {
        MetadataFollower {
            image: Arc::new(MetadataImage::new(local_broker_id)),
            applied_index: 0,
        }
    }

    /// The image of every record applied so far.
    pub fn image(&self) -> &Arc<MetadataImage> {
        &self.image
    }

    /// The last quorum log index applied (0: none).
    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// Applies `tail`: its snapshot if it is ahead of this image, then each
    /// entry after the applied index. Returns whether the image changed.
    ///
    /// # Errors
    /// [`FollowError`] for a snapshot or entry that does not decode or
    /// apply; the image then holds everything before it.
    pub fn apply(&mut self, tail: CommittedTail) -> Result<bool, FollowError> {
        let version = self.image.version;
        if let Some(snapshot) = tail.snapshot {
            if snapshot.index > self.applied_index {
                let image = decode_image_snapshot(&snapshot.data, self.image.local_broker_id())
                    .map_err(|source| FollowError {
                        index: snapshot.index,
                        source,
                    })?;
                self.image = Arc::new(image);
                self.applied_index = snapshot.index;
            }
        }
        for entry in tail.entries {
            if entry.index <= self.applied_index {
                continue;
            }
            let (_, image) =
                checked_entry(&self.image, &entry.payload).map_err(|source| FollowError {
                    index: entry.index,
                    source,
                })?;
            self.image = Arc::new(image);
            self.applied_index = entry.index;
        }
        self.applied_index = self.applied_index.max(tail.last_index);
        Ok(self.image.version != version)
    }
}

/// Decodes committed entry `payload` and applies its records to a copy of
/// `image`, checking each against the image it applies to: the records and
/// the new image, or why the entry is corrupt.
///
/// # Errors
/// [`MetadataError`] for bytes that do not decode, or a record the image
/// would refuse (corruption, never a crash).
pub fn checked_entry(
    image: &MetadataImage,
    payload: &[u8],
) -> Result<(Vec<MetadataRecord>, MetadataImage), MetadataError> {
    let records = decode_metadata_entry(payload)?;
    let mut image = image.clone();
    for record in &records {
        check_applicable(&image, record)?;
        image.apply(record);
    }
    Ok((records, image))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::image_snapshot::encode_image_snapshot;
    use crate::metadata_entry::encode_metadata_entry;
    use crate::quorum::{CommittedEntry, CommittedSnapshot};

    fn cluster_id(id: &str) -> MetadataRecord {
        MetadataRecord::ClusterId {
            cluster_id: id.into(),
        }
    }

    fn entry(index: u64, records: &[MetadataRecord]) -> CommittedEntry {
        CommittedEntry {
            index,
            term: 1,
            payload: Bytes::from(encode_metadata_entry(records)),
        }
    }

    #[test]
    fn applies_a_snapshot_then_only_the_entries_after_it() {
        let voter_image = MetadataImage::new(1);
        let mut follower = MetadataFollower::new(4);
        let changed = follower
            .apply(CommittedTail {
                snapshot: Some(CommittedSnapshot {
                    index: 5,
                    data: Bytes::from(encode_image_snapshot(&voter_image)),
                }),
                // Index 5 is in the snapshot already: skipped.
                entries: vec![
                    entry(5, &[cluster_id("stale")]),
                    entry(7, &[cluster_id("b")]),
                ],
                last_index: 9,
            })
            .unwrap();
        assert!(changed);
        assert_eq!(follower.image().cluster_id.as_deref(), Some("b"));
        assert_eq!(follower.image().version, 1);
        assert_eq!(follower.image().local_broker_id(), 4);
        assert_eq!(follower.applied_index(), 9);
        let unchanged = follower
            .apply(CommittedTail {
                last_index: 9,
                ..CommittedTail::default()
            })
            .unwrap();
        assert!(!unchanged);
    }

    #[test]
    fn a_corrupt_entry_is_an_error_and_keeps_what_came_before() {
        let mut follower = MetadataFollower::new(4);
        let error = follower
            .apply(CommittedTail {
                snapshot: None,
                entries: vec![
                    entry(1, &[cluster_id("a")]),
                    CommittedEntry {
                        index: 2,
                        term: 1,
                        payload: Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 1]),
                    },
                ],
                last_index: 2,
            })
            .unwrap_err();
        assert_eq!(error.index, 2);
        assert_eq!(follower.applied_index(), 1);
        assert_eq!(follower.image().cluster_id.as_deref(), Some("a"));
    }
}
