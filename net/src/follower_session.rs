//! The follower's side of an incremental fetch session (KIP-227), as
//! Kafka's `FetchSessionHandler` keeps it for a `ReplicaFetcherThread`: a
//! replica fetcher opens a session at its leader with a full fetch, then
//! names in each fetch only the partitions whose fetch position (offset,
//! leader epochs) changed since the leader last heard it, and forgets the
//! ones it no longer fetches. The leader reads every partition of the
//! session each time (recording each follower position, see
//! `fetch_session.rs`) and answers only those with something new. A
//! follower of thousands of partitions of which a few carry traffic then
//! sends and decodes a few partition entries per round, not thousands.
//!
//! The leader may not open a session (its cache is full): the fetcher
//! then keeps sending full fetches that ask for one. A session error
//! (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH: the leader
//! restarted or evicted it, or a new connection landed on another shard)
//! or a failed call starts again with a full fetch that closes the old
//! session. Sans-IO: the fetcher does the calls.

use std::collections::{HashMap, HashSet};

use skein_replication::PartitionKey;

use crate::fetch_session::{next_epoch, INITIAL_EPOCH, INVALID_SESSION_ID};
use crate::replica_fetcher::FollowerFetch;

/// A partition's fetch position as the leader's session holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    fetch_offset: i64,
    current_leader_epoch: i32,
    last_fetched_epoch: i32,
}

impl Position {
    fn of(wanted: &FollowerFetch) -> Position {
        Position {
            fetch_offset: wanted.fetch_offset,
            current_leader_epoch: wanted.current_leader_epoch,
            last_fetched_epoch: wanted.last_fetched_epoch,
        }
    }
}

/// What one fetch of a session sends.
#[derive(Debug, PartialEq, Eq)]
pub struct SessionFetch {
    /// The request's `session_id`.
    pub session_id: i32,
    /// The request's `session_epoch` (0: a full fetch asking for a session).
    pub session_epoch: i32,
    /// Indexes into the wanted partitions of those to name: all of them in
    /// a full fetch, the new and changed ones in an incremental one.
    pub named: Vec<usize>,
    /// The partitions the leader's session holds that this fetch leaves
    /// out, with their topic names: `forgotten_topics_data`.
    pub forgotten: Vec<(PartitionKey, String)>,
}

impl SessionFetch {
    /// Whether this is a full fetch (every wanted partition named).
    pub fn is_full(&self) -> bool {
        self.session_epoch == INITIAL_EPOCH
    }
}

/// One fetcher's session with its leader. Lives on: the fetcher's task.
#[derive(Debug, Default)]
pub struct FollowerSession {
    /// The leader's session id; `INVALID_SESSION_ID` while there is none.
    id: i32,
    /// The epoch of the next incremental fetch.
    epoch: i32,
    /// What the leader's session holds: each partition's position last
    /// sent, and its topic name (to forget it by).
    held: HashMap<PartitionKey, (Position, String)>,
    /// A session to close with the next full fetch (one that failed).
    stale: i32,
}

impl FollowerSession {
    /// The fetch to send for `wanted` (this round's partitions).
    pub fn next_fetch(&self, wanted: &[FollowerFetch]) -> SessionFetch {
        if self.id == INVALID_SESSION_ID {
            return SessionFetch {
                session_id: self.stale,
                session_epoch: INITIAL_EPOCH,
                named: (0..wanted.len()).collect(),
                forgotten: Vec::new(),
            };
        }
        let named = wanted
            .iter()
            .enumerate()
            .filter(|(_, one)| {
                self.held
                    .get(&(one.topic_id, one.partition))
                    .map(|(p, _)| *p)
                    != Some(Position::of(one))
            })
            .map(|(index, _)| index)
            .collect();
        let wanted_keys: HashSet<PartitionKey> = wanted
            .iter()
            .map(|one| (one.topic_id, one.partition))
            .collect();
        let forgotten = self
            .held
            .iter()
            .filter(|(key, _)| !wanted_keys.contains(*key))
            .map(|(key, (_, topic))| (*key, topic.clone()))
            .collect();
        SessionFetch {
            session_id: self.id,
            session_epoch: self.epoch,
            named,
            forgotten,
        }
    }

    /// Records the leader's answer without a top-level error to `fetch`,
    /// sent for `wanted`: the session the leader opened (or none, for a
    /// full fetch answered with session id 0), and what it now holds.
    pub fn answered(
        &mut self,
        fetch: &SessionFetch,
        response_session_id: i32,
        wanted: &[FollowerFetch],
    ) {
        if fetch.is_full() {
            self.stale = INVALID_SESSION_ID;
            self.id = response_session_id;
            self.epoch = next_epoch(INITIAL_EPOCH);
            self.held.clear();
        } else {
            self.epoch = next_epoch(self.epoch);
            // The partitions not named still hold the positions sent
            // before: only the named and the forgotten change.
            for (key, _) in &fetch.forgotten {
                self.held.remove(key);
            }
        }
        if self.id == INVALID_SESSION_ID {
            return;
        }
        for one in fetch.named.iter().filter_map(|&index| wanted.get(index)) {
            let position = Position::of(one);
            match self.held.get_mut(&(one.topic_id, one.partition)) {
                Some((held, _)) => *held = position,
                None => {
                    self.held
                        .insert((one.topic_id, one.partition), (position, one.topic.clone()));
                }
            }
        }
    }

    /// Starts again with a full fetch, closing the current session (after
    /// a session error, a failed call, or a reconnect).
    pub fn reset(&mut self) {
        if self.id != INVALID_SESSION_ID {
            self.stale = self.id;
        }
        self.id = INVALID_SESSION_ID;
        self.epoch = INITIAL_EPOCH;
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(partition: i32, fetch_offset: i64) -> FollowerFetch {
        FollowerFetch {
            topic: "t".into(),
            topic_id: [7; 16],
            partition,
            fetch_offset,
            current_leader_epoch: 3,
            last_fetched_epoch: 2,
        }
    }

    #[test]
    fn a_session_names_only_the_partitions_that_moved_and_forgets_the_ones_left() {
        let mut session = FollowerSession::default();
        let round = vec![wanted(0, 10), wanted(1, 20), wanted(2, 30)];
        let full = session.next_fetch(&round);
        assert_eq!(
            full,
            SessionFetch {
                session_id: 0,
                session_epoch: 0,
                named: vec![0, 1, 2],
                forgotten: vec![],
            }
        );
        session.answered(&full, 42, &round);

        // Nothing moved: an incremental fetch naming nothing.
        let idle = session.next_fetch(&round);
        assert_eq!((idle.session_id, idle.session_epoch), (42, 1));
        assert!(idle.named.is_empty() && idle.forgotten.is_empty());
        session.answered(&idle, 42, &round);

        // Partition 1 appended, partition 2 left (a new leader, truncating).
        let round = vec![wanted(0, 10), wanted(1, 25)];
        let moved = session.next_fetch(&round);
        assert_eq!((moved.session_id, moved.session_epoch), (42, 2));
        assert_eq!(moved.named, vec![1]);
        assert_eq!(moved.forgotten, vec![(([7; 16], 2), "t".to_string())]);
        session.answered(&moved, 42, &round);

        // A new leader epoch is a change too.
        let mut epoch = wanted(0, 10);
        epoch.current_leader_epoch = 4;
        let round = vec![epoch, wanted(1, 25)];
        let fenced = session.next_fetch(&round);
        assert_eq!((fenced.session_epoch, fenced.named.clone()), (3, vec![0]));
        assert!(
            fenced.forgotten.is_empty(),
            "partition 2 was forgotten once"
        );
    }

    #[test]
    fn without_a_session_every_fetch_is_full_and_asks_again() {
        let mut session = FollowerSession::default();
        let round = vec![wanted(0, 10)];
        let full = session.next_fetch(&round);
        session.answered(&full, 0, &round);
        let again = session.next_fetch(&round);
        assert_eq!(
            (again.session_id, again.session_epoch, again.named),
            (0, 0, vec![0])
        );
    }

    #[test]
    fn a_reset_closes_the_session_with_the_next_full_fetch() {
        let mut session = FollowerSession::default();
        let round = vec![wanted(0, 10), wanted(1, 20)];
        let full = session.next_fetch(&round);
        session.answered(&full, 9, &round);
        session.reset();
        let reopen = session.next_fetch(&round);
        assert_eq!(
            reopen,
            SessionFetch {
                session_id: 9,
                session_epoch: 0,
                named: vec![0, 1],
                forgotten: vec![],
            }
        );
        session.answered(&reopen, 11, &round);
        let next = session.next_fetch(&round);
        assert_eq!((next.session_id, next.session_epoch), (11, 1));
        // Closed with that full fetch: a later reset does not name 9 again.
        session.reset();
        assert_eq!(session.next_fetch(&round).session_id, 11);
    }
}
