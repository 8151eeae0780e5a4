//! The committed log as a node that follows it without voting reads it (a
//! broker-only node, as a KRaft observer): from the index it has applied,
//! the latest snapshot when its log has moved past that index, then the
//! committed entries after it, up to a byte budget.

use bytes::Bytes;
use raft::eraftpb::EntryType;

use super::log_store::RaftLogStore;
use super::node::CommittedEntry;
use super::storage::QuorumStorage;

/// A snapshot of the application's state at `index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedSnapshot {
    /// The last index it covers.
    pub index: u64,
    /// The application's bytes (an encoded metadata image).
    pub data: Bytes,
}

/// The committed log after an index, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommittedTail {
    /// The snapshot to start from, when the asker is behind the log this
    /// node still holds.
    pub snapshot: Option<CommittedSnapshot>,
    /// The committed entries with a payload after the snapshot (or the
    /// asker's index), in index order.
    pub entries: Vec<CommittedEntry>,
    /// The last index this tail covers, including the leaders' empty
    /// entries it skips: the asker's next `after`.
    pub last_index: u64,
}

impl<S: RaftLogStore> QuorumStorage<S> {
    /// The committed log after index `after`, at most about `max_bytes` of
    /// payload (a snapshot, or the first entry, is always whole).
    pub fn committed_after(&self, after: u64, max_bytes: usize) -> CommittedTail {
        let commit = self.hard_state().commit;
        let snapshot = self.latest_snapshot();
        let snapshot_index = snapshot.get_metadata().index;
        let mut tail = CommittedTail {
            last_index: after,
            ..CommittedTail::default()
        };
        let mut bytes = 0usize;
        if after < snapshot_index {
            bytes = snapshot.data.len();
            tail.snapshot = Some(CommittedSnapshot {
                index: snapshot_index,
                data: snapshot.data.clone(),
            });
            tail.last_index = snapshot_index;
        }
        for entry in self.entries_after(tail.last_index) {
            if entry.index > commit {
                break;
            }
            let normal = entry.get_entry_type() == EntryType::EntryNormal && !entry.data.is_empty();
            if normal {
                if bytes > 0 && bytes.saturating_add(entry.data.len()) > max_bytes {
                    break;
                }
                bytes = bytes.saturating_add(entry.data.len());
                tail.entries.push(CommittedEntry {
                    index: entry.index,
                    term: entry.term,
                    payload: entry.data.clone(),
                });
            }
            tail.last_index = entry.index;
        }
        tail
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use raft::eraftpb::Entry;

    use super::*;
    use crate::quorum::MemoryLogStore;

    fn entry(index: u64, data: &'static [u8]) -> Entry {
        Entry {
            index,
            term: 1,
            data: Bytes::from_static(data),
            ..Entry::default()
        }
    }

    fn storage(entries: &[Entry], commit: u64) -> QuorumStorage<MemoryLogStore> {
        let mut storage = QuorumStorage::open(MemoryLogStore::new(), &[1]).unwrap();
        storage.append(entries).unwrap();
        storage.set_commit(commit).unwrap();
        storage
    }

    #[test]
    fn serves_only_committed_entries_and_skips_empty_ones() {
        let storage = storage(
            &[
                entry(1, b""),
                entry(2, b"a"),
                entry(3, b"bb"),
                entry(4, b"c"),
            ],
            3,
        );
        let tail = storage.committed_after(0, 1 << 20);
        assert_eq!(tail.snapshot, None);
        assert_eq!(
            tail.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(tail.last_index, 3);
        let caught_up = storage.committed_after(3, 1 << 20);
        assert!(caught_up.entries.is_empty());
        assert_eq!(caught_up.last_index, 3);
    }

    #[test]
    fn a_budget_stops_after_whole_entries_but_never_before_the_first() {
        let storage = storage(&[entry(1, b"aaaa"), entry(2, b"bbbb"), entry(3, b"cc")], 3);
        let tail = storage.committed_after(0, 2);
        assert_eq!(tail.entries.len(), 1);
        assert_eq!(tail.last_index, 1);
        let tail = storage.committed_after(1, 5);
        assert_eq!(tail.entries.len(), 1);
        assert_eq!(tail.last_index, 2);
    }

    #[test]
    fn an_asker_behind_the_snapshot_gets_it_then_the_entries_after() {
        let mut storage = storage(&[entry(1, b"a"), entry(2, b"b"), entry(3, b"c")], 3);
        storage.compact(2, Bytes::from_static(b"image")).unwrap();
        let tail = storage.committed_after(1, 1 << 20);
        assert_eq!(tail.snapshot.as_ref().unwrap().index, 2);
        assert_eq!(&tail.snapshot.unwrap().data[..], b"image");
        assert_eq!(
            tail.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
            [3]
        );
        assert_eq!(tail.last_index, 3);
    }
}
