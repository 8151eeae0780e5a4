//! Producer ids: the controller reserves them in blocks of
//! [`PRODUCER_ID_BLOCK_SIZE`], one [`MetadataRecord::ProducerIdBlock`] per
//! block, so an id is never handed out twice, even across restarts; whoever
//! hands ids out to producers takes them one by one from its
//! [`ProducerIdBlock`]. Kafka's `ProducerIdControlManager` and, on the
//! broker side, its `ProducerIdManager`.
//!
//! Invariant: blocks only move forward. A restart forgets the rest of the
//! block in hand and reserves a fresh one: ids are skipped, never reused.

use super::{ControllerResult, MetadataController};
use crate::metadata_record::MetadataRecord;

/// Producer ids reserved by one metadata record.
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

const _: () = assert!(
    PRODUCER_ID_BLOCK_SIZE > 0,
    "a reserved block is never empty"
);

/// A reserved range of producer ids not yet handed out:
/// `next..end`. The default block is empty.
///
/// Lives on: whoever hands ids out (the control shard).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProducerIdBlock {
    next: i64,
    end: i64,
}

impl ProducerIdBlock {
    /// Hands out the next id of the block; `None` once it is used up.
    pub fn take(&mut self) -> Option<i64> {
        assert!(self.next <= self.end, "a block never runs past its end");
        if self.next == self.end {
            return None;
        }
        let id = self.next;
        self.next += 1;
        Some(id)
    }

    /// The block `start..start + len` that an active controller reserved
    /// for this node (AllocateProducerIds); `None` for an empty, negative
    /// or overflowing range, which no controller hands out.
    pub fn reserved(start: i64, len: i32) -> Option<ProducerIdBlock> {
        if start < 0 || len <= 0 {
            return None;
        }
        let end = start.checked_add(i64::from(len))?;
        Some(ProducerIdBlock { next: start, end })
    }

    /// The first id of the block.
    pub fn start(&self) -> i64 {
        self.next
    }

    /// How many ids are left.
    pub fn remaining(&self) -> i64 {
        self.end - self.next
    }
}

impl MetadataController {
    /// Reserves the next block of producer ids, starting at the first id
    /// the image has not reserved.
    pub fn reserve_producer_ids(&self) -> ControllerResult<ProducerIdBlock> {
        let start = self.image.next_producer_id_block;
        let end = start
            .checked_add(PRODUCER_ID_BLOCK_SIZE)
            .expect("producer ids are far from i64::MAX");
        ControllerResult {
            records: vec![MetadataRecord::ProducerIdBlock {
                next_block_start: end,
            }],
            response: ProducerIdBlock { next: start, end },
        }
    }
}
