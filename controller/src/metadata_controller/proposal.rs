//! A proposal being built: the records of one change so far, and the image
//! as it will be once they are committed, so that each rule deciding the
//! next record sees the effect of the earlier ones (fencing two brokers in
//! one tick elects the second's successors among brokers still live).
//!
//! The image is cloned only when the first record is pushed: most
//! heartbeats and ticks write nothing, and a clone costs one `Arc` per
//! topic.

use std::sync::Arc;

use crate::image::MetadataImage;
use crate::metadata_record::MetadataRecord;

/// Records of one change, and the image they lead to.
pub(super) struct Proposal<'a> {
    committed: &'a Arc<MetadataImage>,
    draft: Option<MetadataImage>,
    records: Vec<MetadataRecord>,
}

impl<'a> Proposal<'a> {
    /// An empty proposal on top of the committed image.
    pub(super) fn new(committed: &'a Arc<MetadataImage>) -> Proposal<'a> {
        Proposal {
            committed,
            draft: None,
            records: Vec::new(),
        }
    }

    /// The image once every record pushed so far is committed.
    pub(super) fn image(&self) -> &MetadataImage {
        self.draft.as_ref().unwrap_or(self.committed)
    }

    /// Adds `record` and applies it to the draft image.
    pub(super) fn push(&mut self, record: MetadataRecord) {
        let committed = self.committed;
        let draft = self
            .draft
            .get_or_insert_with(|| MetadataImage::clone(committed));
        draft.apply(&record);
        self.records.push(record);
    }

    /// How many records were pushed.
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// The records, in order.
    pub(super) fn into_records(self) -> Vec<MetadataRecord> {
        self.records
    }
}
