//! Incremental fetch sessions (KIP-227): the broker remembers, per fetcher,
//! which partitions it fetches and what it last told it about each, so that
//! the fetcher's next request names only what changed and the response
//! carries only partitions with something new. A consumer of 1 000 idle
//! partitions then sends and receives a few dozen bytes per poll instead of
//! 1 000 partition entries each way.
//!
//! The rules are Kafka's (`FetchSession.scala`): a request's
//! `(session_id, session_epoch)` is
//! * `(0, -1)`: a full fetch without a session (and Fetch v4–v6, which have
//!   neither field);
//! * `(id, -1)`: a full fetch that closes session `id` and opens none;
//! * `(0 or id, 0)`: a full fetch that closes `id` (if given) and asks for a
//!   new session, created when the response is built if the cache has room;
//! * `(id, epoch > 0)`: an incremental fetch of session `id`, whose epoch
//!   must be the one the session expects (1 after creation, then +1 per
//!   fetch); otherwise FETCH_SESSION_ID_NOT_FOUND or
//!   INVALID_FETCH_SESSION_EPOCH, and the fetcher starts a new session.
//!
//! **One cache per data shard.** A connection lives on the shard that
//! accepted it, and so do the sessions it creates; shard state is never
//! shared. A fetcher whose next request arrives on a connection accepted by
//! another shard (after a reconnect, say) names a session that shard does
//! not have: the answer is FETCH_SESSION_ID_NOT_FOUND, which every client
//! handles by sending a full fetch and opening a new session there. Session
//! ids carry their shard (`id % data_shards == shard`), so ids are unique
//! across the broker and a session of one shard is never mistaken for
//! another's.
//!
//! **Bounded memory.** A shard holds at most
//! `max.incremental.fetch.session.cache.slots / data_shards` sessions (at
//! least one) and at most [`CACHED_PARTITIONS_MAX`] cached partitions over
//! all of them. A session is created only within both bounds; one that
//! would grow past the partition bound by an incremental request is closed
//! (FETCH_SESSION_ID_NOT_FOUND, the client opens a new one).
//!
//! **Eviction** when a new session does not fit is Kafka's: first the least
//! recently used session if it has been idle longer than
//! `min.incremental.fetch.session.eviction.ms`; otherwise the least
//! valuable evictable session — unprivileged (consumers) before privileged
//! (followers), then the fewest partitions — if the new session is worth
//! more. A session is evictable by a consumer's new session only if it was
//! older than the eviction time when last used; a follower's new session may
//! also evict any consumer session.
//!
//! **Idle polls touch no partition.** When a session's last answer read
//! only partitions of this shard and found no records and no errors, the
//! session remembers the shard's [`LogState`] from just before those reads.
//! An incremental fetch that names and forgets nothing while that state is
//! unchanged (no high watermark or log start offset of any log on the shard
//! moved, same metadata image) would get the same empty answer, so it gets
//! [`FetchContext::Quiet`]: the handler waits for a change of the shard's
//! logs instead of reading and waiting on each partition. The mark is
//! trusted for at most [`QUIET_REREAD_MS`], so an idle session still reads
//! its partitions now and then (keeping the logs' tail caches warm for it).
//!
//! Sans-IO: every method takes the time as `now_ms`; the fetch handler does
//! the reads.

use std::collections::HashMap;

use kafka_protocol::messages::TopicName;
use skein_controller::TopicId;
use uuid::Uuid;

/// The session id meaning "no session".
pub const INVALID_SESSION_ID: i32 = 0;
/// The epoch of a full fetch that asks for a new session.
pub const INITIAL_EPOCH: i32 = 0;
/// The epoch of a full fetch that closes its session and opens none.
pub const FINAL_EPOCH: i32 = -1;
/// The most partitions one shard caches over all its sessions. A cached
/// partition costs about 150 bytes (entry and index), so this bounds a
/// shard's session memory to about 75 MB whatever clients send.
pub const CACHED_PARTITIONS_MAX: usize = 500_000;

/// The longest a session's quiet mark is trusted before its partitions are
/// read again, in ms: under the logs' 10 s tail-read interest, so an idle
/// consumer's next records are still served from memory.
pub const QUIET_REREAD_MS: u64 = 5_000;

/// What the shard's logs and metadata were at one moment: if both numbers
/// are unchanged, no fetch answer about this shard's partitions changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogState {
    /// `skein_engine::LogChanges::generation` of the shard.
    pub log_generation: u64,
    /// The metadata image's version.
    pub image_version: u64,
}

/// The epoch after `epoch` (Kafka's `FetchMetadata.nextEpoch`).
pub fn next_epoch(epoch: i32) -> i32 {
    if epoch < 0 {
        FINAL_EPOCH
    } else if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

/// How a request names a topic: by id from Fetch v13, by name before.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TopicRef {
    /// Fetch v13 and later.
    Id(Uuid),
    /// Fetch v12 and earlier.
    Name(TopicName),
}

/// What a fetcher asks of one partition (the request's partition fields the
/// session remembers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRequest {
    /// Where to read from.
    pub fetch_offset: i64,
    /// The most record bytes of this partition in one response.
    pub partition_max_bytes: i32,
    /// The leader epoch the fetcher knows (-1: none).
    pub current_leader_epoch: i32,
    /// The epoch of the last batch a follower holds (Fetch v12+, -1:
    /// none): the leader answers a diverging epoch when it is not on its
    /// log.
    pub last_fetched_epoch: i32,
}

/// What a read of one partition found, as far as the session cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOutcome {
    /// The partition's error code (0 for none).
    pub error_code: i16,
    /// The high watermark (-1 with an error).
    pub high_watermark: i64,
    /// The last stable offset (-1 with an error).
    pub last_stable_offset: i64,
    /// The log start offset (-1 with an error).
    pub log_start_offset: i64,
    /// Whether records came back.
    pub has_records: bool,
}

/// One partition of a session: what the fetcher asks and what it was last
/// told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPartition {
    /// The topic as the session names it.
    pub topic: TopicRef,
    /// The partition index.
    pub partition: i32,
    /// The topic id the broker resolved when the fetcher last named this
    /// partition (all zero: unknown then).
    pub topic_id: TopicId,
    /// The fetcher's current request for the partition.
    pub request: PartitionRequest,
    /// The high watermark last sent (-1: never, or an error was sent).
    pub high_watermark: i64,
    /// The last stable offset last sent.
    pub last_stable_offset: i64,
    /// The log start offset last sent.
    pub log_start_offset: i64,
}

impl CachedPartition {
    /// A partition the fetcher named, not yet answered: its first outcome
    /// always differs, so it is always in the next response.
    pub fn new(
        topic: TopicRef,
        partition: i32,
        topic_id: TopicId,
        request: PartitionRequest,
    ) -> CachedPartition {
        CachedPartition {
            topic,
            partition,
            topic_id,
            request,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
        }
    }

    /// Whether an incremental response must carry this partition: it has
    /// records, an error, or offsets other than those last sent (Kafka's
    /// `maybeUpdateResponseData`).
    pub fn must_respond(&self, outcome: &PartitionOutcome) -> bool {
        outcome.has_records
            || outcome.error_code != 0
            || outcome.high_watermark != self.high_watermark
            || outcome.last_stable_offset != self.last_stable_offset
            || outcome.log_start_offset != self.log_start_offset
    }

    /// Remembers what was sent. After an error the high watermark is
    /// forgotten (-1), so the partition is sent again once the error clears.
    pub fn remember(&mut self, outcome: &PartitionOutcome) {
        self.high_watermark = if outcome.error_code == 0 {
            outcome.high_watermark
        } else {
            -1
        };
        self.last_stable_offset = outcome.last_stable_offset;
        self.log_start_offset = outcome.log_start_offset;
    }

    fn key(&self) -> (TopicRef, i32) {
        (self.topic.clone(), self.partition)
    }
}

/// Why a fetch cannot use the session it names. Each variant becomes a
/// top-level error of the Fetch response (see `error_code.rs`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchSessionError {
    /// No such session on this shard: never created, evicted, closed, or
    /// created on another shard.
    #[error("no fetch session {session_id} on this shard")]
    SessionIdNotFound {
        /// The session the request named.
        session_id: i32,
    },
    /// The request's epoch is not the one the session expects (a duplicate
    /// or lost request).
    #[error("fetch session {session_id} expects epoch {expected}, the request has {requested}")]
    InvalidEpoch {
        /// The session.
        session_id: i32,
        /// The epoch the session expects.
        expected: i32,
        /// The request's epoch.
        requested: i32,
    },
    /// A session opened with topic ids (v13+) fetched with names, or the
    /// reverse.
    #[error("fetch session {session_id} was opened {} topic ids", if *.uses_topic_ids { "with" } else { "without" })]
    TopicIdUsageChanged {
        /// The session.
        session_id: i32,
        /// Whether the session names topics by id.
        uses_topic_ids: bool,
    },
    /// The request would grow the session past the shard's cached-partition
    /// bound; the session is closed.
    #[error(
        "fetch session {session_id} would cache {partitions} partitions, past this shard's bound"
    )]
    Outgrown {
        /// The session, now closed.
        session_id: i32,
        /// How many partitions it would have had.
        partitions: usize,
    },
}

/// A fetch session. Lives on: the shard whose connection created it.
#[derive(Debug)]
struct FetchSession {
    id: i32,
    /// Created by a follower (a request with a replica id).
    privileged: bool,
    uses_topic_ids: bool,
    /// The epoch the next incremental request must carry.
    epoch: i32,
    created_ms: u64,
    last_used_ms: u64,
    /// In response order: partitions that returned records move to the end,
    /// so that under a response byte limit every partition gets its turn.
    partitions: Vec<CachedPartition>,
    /// Where each partition is in `partitions`.
    index: HashMap<(TopicRef, i32), usize>,
    /// Set when the last answer found nothing: the shard's state just before
    /// its reads, and when (ms).
    quiet: Option<(LogState, u64)>,
}

impl FetchSession {
    fn rebuild_index(&mut self) {
        self.index.clear();
        for (position, cached) in self.partitions.iter().enumerate() {
            self.index.insert(cached.key(), position);
        }
    }

    /// Kafka's eviction key: less valuable sessions sort first.
    fn evictable_key(&self) -> (bool, usize, i32) {
        (self.privileged, self.partitions.len(), self.id)
    }
}

/// How to answer a fetch, decided before reading.
#[derive(Debug, PartialEq, Eq)]
pub enum FetchContext {
    /// Answer every partition of the request; the response carries session
    /// id 0.
    Sessionless,
    /// Answer every partition of the request, then offer a new session with
    /// [`FetchSessionCache::create`].
    Full,
    /// Nothing changed since the session's last answer, which was empty:
    /// wait for a change of the shard's logs (then
    /// [`FetchSessionCache::resume`]) or answer nothing at the deadline.
    Quiet {
        /// The session.
        session_id: i32,
        /// The session's epoch once this request is answered.
        next_epoch: i32,
    },
    /// Answer from the session's partitions (after the request's additions
    /// and removals), then keep only those [`CachedPartition::must_respond`]
    /// selects, with [`FetchSessionCache::complete_incremental`].
    Incremental {
        /// The session.
        session_id: i32,
        /// The session's epoch once this request is answered.
        next_epoch: i32,
        /// The session's partitions in response order.
        partitions: Vec<CachedPartition>,
    },
}

/// The request fields that decide a fetch's session handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRequest {
    /// The request's `session_id` (0 before v7).
    pub session_id: i32,
    /// The request's `session_epoch` (-1 before v7).
    pub epoch: i32,
    /// From a follower (replica id ≥ 0).
    pub privileged: bool,
    /// The request names topics by id (v13+).
    pub uses_topic_ids: bool,
}

/// One shard's fetch sessions. Lives on: that data shard only.
#[derive(Debug)]
pub struct FetchSessionCache {
    shard: u32,
    data_shards: u32,
    slots: usize,
    eviction_ms: u64,
    partitions_max: usize,
    partitions_cached: usize,
    sessions: HashMap<i32, FetchSession>,
}

impl FetchSessionCache {
    /// The cache of shard `shard` of `data_shards`, holding at most `slots`
    /// sessions (0: sessions disabled) and `partitions_max` cached
    /// partitions; a session idle for more than `eviction_ms` may be evicted
    /// by any new one.
    ///
    /// # Panics
    /// If `shard` is not below `data_shards` (our bug).
    pub fn new(
        shard: u32,
        data_shards: u32,
        slots: usize,
        eviction_ms: u64,
        partitions_max: usize,
    ) -> FetchSessionCache {
        assert!(shard < data_shards, "shard {shard} of {data_shards}");
        FetchSessionCache {
            shard,
            data_shards,
            slots,
            eviction_ms,
            partitions_max,
            partitions_cached: 0,
            sessions: HashMap::new(),
        }
    }

    /// How many sessions the shard holds.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// How many partitions the shard's sessions cache in all.
    pub fn partitions_cached(&self) -> usize {
        self.partitions_cached
    }

    /// Decides how to answer a fetch and, for an incremental one, applies
    /// the request's partitions (`named`: added, or their request fields
    /// updated) and `forgotten` partitions to the session, bumps its epoch
    /// and marks it used. A full fetch closes the session it names.
    ///
    /// # Errors
    /// [`FetchSessionError`] when the incremental fetch cannot use its
    /// session; the response is then that error with no partitions.
    pub fn new_context(
        &mut self,
        request: SessionRequest,
        named: impl IntoIterator<Item = CachedPartition>,
        forgotten: impl IntoIterator<Item = (TopicRef, i32)>,
        state: LogState,
        now_ms: u64,
    ) -> Result<FetchContext, FetchSessionError> {
        let session_id = request.session_id;
        if request.epoch == INITIAL_EPOCH || request.epoch == FINAL_EPOCH {
            if session_id != INVALID_SESSION_ID {
                self.remove(session_id);
            }
            return Ok(if request.epoch == FINAL_EPOCH {
                FetchContext::Sessionless
            } else {
                FetchContext::Full
            });
        }
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return Err(FetchSessionError::SessionIdNotFound { session_id });
        };
        if session.epoch != request.epoch {
            return Err(FetchSessionError::InvalidEpoch {
                session_id,
                expected: session.epoch,
                requested: request.epoch,
            });
        }
        if session.uses_topic_ids != request.uses_topic_ids {
            return Err(FetchSessionError::TopicIdUsageChanged {
                session_id,
                uses_topic_ids: session.uses_topic_ids,
            });
        }
        let before = session.partitions.len();
        // What the shard may still cache for this session.
        let room = self
            .partitions_max
            .saturating_sub(self.partitions_cached - before);
        // What the request names is added or updated first, then what it
        // forgets is removed (Kafka's order).
        let mut outgrown = None;
        let mut touched = false;
        for cached in named {
            touched = true;
            match session.index.get(&cached.key()) {
                Some(&position) => {
                    if let Some(existing) = session.partitions.get_mut(position) {
                        existing.request = cached.request;
                        existing.topic_id = cached.topic_id;
                    }
                }
                None if session.partitions.len() >= room => {
                    outgrown = Some(session.partitions.len() + 1);
                    break;
                }
                None => {
                    session.index.insert(cached.key(), session.partitions.len());
                    session.partitions.push(cached);
                }
            }
        }
        if outgrown.is_none() {
            let mut forgot_any = false;
            for key in forgotten {
                touched = true;
                forgot_any |= session.index.remove(&key).is_some();
            }
            if forgot_any {
                let index = &session.index;
                session
                    .partitions
                    .retain(|cached| index.contains_key(&cached.key()));
                session.rebuild_index();
            }
        }
        let after = session.partitions.len();
        self.partitions_cached = self.partitions_cached + after - before;
        if let Some(partitions) = outgrown {
            self.remove(session_id);
            return Err(FetchSessionError::Outgrown {
                session_id,
                partitions,
            });
        }
        if after == 0 {
            // Nothing left to fetch: Kafka closes the session and answers
            // the request without one.
            self.remove(session_id);
            return Ok(FetchContext::Sessionless);
        }
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return Err(FetchSessionError::SessionIdNotFound { session_id });
        };
        session.last_used_ms = now_ms;
        session.epoch = next_epoch(session.epoch);
        debug_assert_eq!(session.index.len(), session.partitions.len());
        if touched {
            session.quiet = None;
        }
        let quiet = session.quiet.is_some_and(|(quiet_state, since_ms)| {
            quiet_state == state && now_ms.saturating_sub(since_ms) < QUIET_REREAD_MS
        });
        if quiet {
            return Ok(FetchContext::Quiet {
                session_id,
                next_epoch: session.epoch,
            });
        }
        Ok(FetchContext::Incremental {
            session_id,
            next_epoch: session.epoch,
            partitions: session.partitions.clone(),
        })
    }

    /// Offers a new session for an answered full fetch of `partitions` (each
    /// already [`CachedPartition::remember`]ed with its outcome); `quiet` is
    /// the shard's state before the reads if they all found nothing (see the
    /// module doc). Returns its id, or [`INVALID_SESSION_ID`] when the cache
    /// has no room and nothing may be evicted for it.
    pub fn create(
        &mut self,
        privileged: bool,
        uses_topic_ids: bool,
        partitions: Vec<CachedPartition>,
        quiet: Option<LogState>,
        now_ms: u64,
    ) -> i32 {
        if self.slots == 0 || partitions.len() > self.partitions_max {
            return INVALID_SESSION_ID;
        }
        let size = partitions.len();
        if self.sessions.len() >= self.slots && !self.try_evict(privileged, size, now_ms) {
            return INVALID_SESSION_ID;
        }
        // Make room for the partitions too, by the same rules.
        while self.partitions_cached + size > self.partitions_max {
            if !self.try_evict(privileged, size, now_ms) {
                return INVALID_SESSION_ID;
            }
        }
        let id = self.new_session_id();
        let mut session = FetchSession {
            id,
            privileged,
            uses_topic_ids,
            epoch: next_epoch(INITIAL_EPOCH),
            created_ms: now_ms,
            last_used_ms: now_ms,
            partitions,
            index: HashMap::with_capacity(size),
            quiet: quiet.map(|state| (state, now_ms)),
        };
        session.rebuild_index();
        // A request may name a partition twice; the session keeps one.
        if session.index.len() != session.partitions.len() {
            let mut seen = std::collections::HashSet::with_capacity(size);
            session
                .partitions
                .retain(|cached| seen.insert(cached.key()));
            session.rebuild_index();
        }
        self.partitions_cached += session.partitions.len();
        self.sessions.insert(id, session);
        assert!(self.sessions.len() <= self.slots);
        id
    }

    /// Records an answered incremental fetch: `outcomes` are the reads of
    /// the context's partitions, in its order. Returns which of them the
    /// response carries ([`CachedPartition::must_respond`]), remembers what
    /// they were told, and moves those that returned records to the end of
    /// the session's order. A session evicted meanwhile is left alone (its
    /// fetcher learns on its next request).
    ///
    /// # Errors
    /// [`FetchSessionError::InvalidEpoch`] if another request of the session
    /// was answered meanwhile (Kafka's check for duplicate requests).
    pub fn complete_incremental(
        &mut self,
        session_id: i32,
        next_epoch: i32,
        snapshot: &[CachedPartition],
        outcomes: &[PartitionOutcome],
        quiet: Option<LogState>,
        now_ms: u64,
    ) -> Result<Vec<bool>, FetchSessionError> {
        assert_eq!(snapshot.len(), outcomes.len());
        let selected: Vec<bool> = snapshot
            .iter()
            .zip(outcomes)
            .map(|(cached, outcome)| cached.must_respond(outcome))
            .collect();
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return Ok(selected);
        };
        if session.epoch != next_epoch {
            return Err(FetchSessionError::InvalidEpoch {
                session_id,
                expected: session.epoch,
                requested: next_epoch,
            });
        }
        // The epoch did not move, so the session's partitions are the
        // snapshot's, in the same order.
        debug_assert_eq!(session.partitions.as_slice(), snapshot);
        session.quiet = quiet.map(|state| (state, now_ms));
        let mut moved = false;
        for (cached, outcome) in session.partitions.iter_mut().zip(outcomes) {
            cached.remember(outcome);
            moved |= outcome.has_records;
        }
        if moved {
            // A stable partition: untouched partitions first, then those
            // that returned records, each in their old order — what Kafka's
            // remove-and-append of each returned partition amounts to.
            let mut returned = Vec::new();
            let mut kept = Vec::with_capacity(session.partitions.len());
            for (cached, outcome) in session.partitions.drain(..).zip(outcomes) {
                if outcome.has_records {
                    returned.push(cached);
                } else {
                    kept.push(cached);
                }
            }
            kept.append(&mut returned);
            session.partitions = kept;
            session.rebuild_index();
        }
        Ok(selected)
    }

    /// The partitions of a [`FetchContext::Quiet`] session once its wait
    /// ended with a change: answer them as an incremental fetch. `None` if
    /// the session was evicted meanwhile (answer nothing).
    ///
    /// # Errors
    /// [`FetchSessionError::InvalidEpoch`] if another request of the session
    /// came meanwhile.
    pub fn resume(
        &self,
        session_id: i32,
        next_epoch: i32,
    ) -> Result<Option<Vec<CachedPartition>>, FetchSessionError> {
        let Some(session) = self.sessions.get(&session_id) else {
            return Ok(None);
        };
        if session.epoch != next_epoch {
            return Err(FetchSessionError::InvalidEpoch {
                session_id,
                expected: session.epoch,
                requested: next_epoch,
            });
        }
        Ok(Some(session.partitions.clone()))
    }

    /// Closes a session; false if there was none.
    pub fn remove(&mut self, session_id: i32) -> bool {
        match self.sessions.remove(&session_id) {
            Some(session) => {
                self.partitions_cached -= session.partitions.len();
                true
            }
            None => false,
        }
    }

    /// Evicts one session to make room for a new one of `size` partitions:
    /// the least recently used if stale, else the least valuable evictable
    /// one if the new session is worth more (Kafka's `tryEvict`). O(sessions),
    /// and only when the cache is full.
    fn try_evict(&mut self, privileged: bool, size: usize, now_ms: u64) -> bool {
        let least_recent = self
            .sessions
            .values()
            .min_by_key(|session| (session.last_used_ms, session.id));
        let Some(least_recent) = least_recent else {
            return false;
        };
        if now_ms.saturating_sub(least_recent.last_used_ms) > self.eviction_ms {
            let id = least_recent.id;
            return self.remove(id);
        }
        let eviction_ms = self.eviction_ms;
        // As in Kafka, a session's standing is judged when it was last used.
        let evictable = self
            .sessions
            .values()
            .filter(|session| {
                let mature = session.last_used_ms.saturating_sub(session.created_ms) > eviction_ms;
                mature || (privileged && !session.privileged)
            })
            .min_by_key(|session| session.evictable_key());
        let Some(victim) = evictable else {
            return false;
        };
        // The new session has no id yet; Kafka compares it as id 0, so it
        // must be strictly worth more than the victim.
        if (privileged, size, 0) < victim.evictable_key() {
            return false;
        }
        let id = victim.id;
        self.remove(id)
    }

    /// A random positive id, not in use, that names this shard.
    fn new_session_id(&self) -> i32 {
        let per_shard = (i32::MAX as u32) / self.data_shards;
        loop {
            let random = (Uuid::new_v4().as_u128() as u32) % per_shard;
            let id = random * self.data_shards + self.shard;
            let Ok(id) = i32::try_from(id) else {
                continue;
            };
            if id != INVALID_SESSION_ID && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    /// Whether `session_id` was issued by this shard's cache (it may since
    /// have been closed).
    pub fn is_ours(&self, session_id: i32) -> bool {
        u32::try_from(session_id).is_ok_and(|id| id % self.data_shards == self.shard)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::StrBytes;

    const EVICTION_MS: u64 = 120_000;
    const STATE: LogState = LogState {
        log_generation: 1,
        image_version: 1,
    };

    fn topic(name: &'static str) -> TopicRef {
        TopicRef::Name(TopicName(StrBytes::from_static_str(name)))
    }

    fn partition(name: &'static str, index: i32, fetch_offset: i64) -> CachedPartition {
        CachedPartition::new(
            topic(name),
            index,
            [7; 16],
            PartitionRequest {
                fetch_offset,
                partition_max_bytes: 1_048_576,
                current_leader_epoch: -1,
                last_fetched_epoch: -1,
            },
        )
    }

    fn idle(high_watermark: i64) -> PartitionOutcome {
        PartitionOutcome {
            error_code: 0,
            high_watermark,
            last_stable_offset: high_watermark,
            log_start_offset: 0,
            has_records: false,
        }
    }

    fn request(session_id: i32, epoch: i32) -> SessionRequest {
        SessionRequest {
            session_id,
            epoch,
            privileged: false,
            uses_topic_ids: false,
        }
    }

    /// Creates a session as a full fetch would, every partition answered
    /// idle at high watermark 5.
    fn open(
        cache: &mut FetchSessionCache,
        privileged: bool,
        partitions: Vec<CachedPartition>,
        now_ms: u64,
    ) -> i32 {
        let partitions = partitions
            .into_iter()
            .map(|mut cached| {
                cached.remember(&idle(5));
                cached
            })
            .collect();
        cache.create(privileged, false, partitions, None, now_ms)
    }

    fn incremental(
        cache: &mut FetchSessionCache,
        session_id: i32,
        epoch: i32,
        named: Vec<CachedPartition>,
        forgotten: Vec<(TopicRef, i32)>,
    ) -> Result<FetchContext, FetchSessionError> {
        cache.new_context(request(session_id, epoch), named, forgotten, STATE, 10)
    }

    #[test]
    fn epoch_zero_asks_for_a_session_and_minus_one_for_none() {
        let mut cache = FetchSessionCache::new(0, 1, 10, EVICTION_MS, 1_000);
        assert_eq!(
            cache.new_context(request(0, 0), vec![], vec![], STATE, 0),
            Ok(FetchContext::Full)
        );
        assert_eq!(
            cache.new_context(request(0, -1), vec![], vec![], STATE, 0),
            Ok(FetchContext::Sessionless)
        );
        let id = open(&mut cache, false, vec![partition("a", 0, 0)], 0);
        assert_ne!(id, INVALID_SESSION_ID);
        assert_eq!(cache.len(), 1);
        // A full fetch naming the session closes it.
        assert_eq!(
            cache.new_context(request(id, -1), vec![], vec![], STATE, 0),
            Ok(FetchContext::Sessionless)
        );
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.partitions_cached(), 0);
    }

    #[test]
    fn a_new_session_expects_epoch_one_then_each_next_epoch() {
        let mut cache = FetchSessionCache::new(0, 1, 10, EVICTION_MS, 1_000);
        let id = open(&mut cache, false, vec![partition("a", 0, 0)], 0);
        assert_eq!(
            incremental(&mut cache, id, 2, vec![], vec![]),
            Err(FetchSessionError::InvalidEpoch {
                session_id: id,
                expected: 1,
                requested: 2
            })
        );
        let Ok(FetchContext::Incremental { next_epoch, .. }) =
            incremental(&mut cache, id, 1, vec![], vec![])
        else {
            panic!("incremental context expected");
        };
        assert_eq!(next_epoch, 2);
        // The same epoch again is a duplicate.
        assert!(matches!(
            incremental(&mut cache, id, 1, vec![], vec![]),
            Err(FetchSessionError::InvalidEpoch { expected: 2, .. })
        ));
        assert!(incremental(&mut cache, id, 2, vec![], vec![]).is_ok());
        assert_eq!(next_epoch_of(i32::MAX), 1);
    }

    fn next_epoch_of(epoch: i32) -> i32 {
        next_epoch(epoch)
    }

    #[test]
    fn an_unknown_session_is_not_found() {
        let mut cache = FetchSessionCache::new(0, 1, 10, EVICTION_MS, 1_000);
        assert_eq!(
            incremental(&mut cache, 12345, 1, vec![], vec![]),
            Err(FetchSessionError::SessionIdNotFound { session_id: 12345 })
        );
        // Session id 0 with a positive epoch names no session either.
        assert_eq!(
            incremental(&mut cache, 0, 3, vec![], vec![]),
            Err(FetchSessionError::SessionIdNotFound { session_id: 0 })
        );
    }

    #[test]
    fn a_session_keeps_to_its_way_of_naming_topics() {
        let mut cache = FetchSessionCache::new(0, 1, 10, EVICTION_MS, 1_000);
        let id = open(&mut cache, false, vec![partition("a", 0, 0)], 0);
        let mut by_id = request(id, 1);
        by_id.uses_topic_ids = true;
        assert_eq!(
            cache.new_context(by_id, vec![], vec![], STATE, 0),
            Err(FetchSessionError::TopicIdUsageChanged {
                session_id: id,
                uses_topic_ids: false
            })
        );
    }

    #[test]
    fn incremental_fetches_add_update_and_forget_partitions() {
        let mut cache = FetchSessionCache::new(0, 1, 10, EVICTION_MS, 1_000);
        let id = open(
            &mut cache,
            false,
            vec![partition("a", 0, 0), partition("a", 1, 0)],
            0,
        );
        let context = incremental(
            &mut cache,
            id,
            1,
            vec![partition("a", 1, 42), partition("b", 0, 7)],
            vec![(topic("a"), 0), (topic("zzz"), 9)],
        )
        .unwrap();
        let FetchContext::Incremental { partitions, .. } = context else {
            panic!("incremental context expected");
        };
        let names: Vec<(TopicRef, i32, i64)> = partitions
            .iter()
            .map(|c| (c.topic.clone(), c.partition, c.request.fetch_offset))
            .collect();
        assert_eq!(names, vec![(topic("a"), 1, 42), (topic("b"), 0, 7)]);
        // The updated partition keeps what it was told; the new one was told
        // nothing yet.
        assert_eq!(partitions[0].high_watermark, 5);
        assert_eq!(partitions[1].high_watermark, -1);
        assert_eq!(cache.partitions_cached(), 2);
    }

    #[test]
    fn forgetting_every_partition_closes_the_session() {
        let mut cache = FetchSessionCache::new(0, 1, 10, EVICTION_MS, 1_000);
        let id = open(&mut cache, false, vec![partition("a", 0, 0)], 0);
        assert_eq!(
            incremental(&mut cache, id, 1, vec![], vec![(topic("a"), 0)]),
            Ok(FetchContext::Sessionless)
        );
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.partitions_cached(), 0);
    }

    #[test]
    fn incremental_responses_carry_only_changed_partitions() {
        let mut cache = FetchSessionCache::new(0, 1, 10, EVICTION_MS, 1_000);
        let id = open(
            &mut cache,
            false,
            vec![
                partition("a", 0, 5),
                partition("a", 1, 5),
                partition("a", 2, 5),
                partition("a", 3, 5),
            ],
            0,
        );
        let Ok(FetchContext::Incremental {
            partitions,
            next_epoch,
            ..
        }) = incremental(&mut cache, id, 1, vec![], vec![])
        else {
            panic!("incremental context expected");
        };
        let mut with_records = idle(9);
        with_records.has_records = true;
        let mut failed = idle(-1);
        failed.error_code = 6;
        let mut new_start = idle(5);
        new_start.log_start_offset = 3;
        let outcomes = [idle(5), with_records, failed, new_start];
        let selected = cache
            .complete_incremental(id, next_epoch, &partitions, &outcomes, None, 10)
            .unwrap();
        assert_eq!(selected, vec![false, true, true, true]);
        // Next time an idle session answers nothing, except the partition
        // whose error cleared; the one that returned records went last.
        let Ok(FetchContext::Incremental {
            partitions,
            next_epoch,
            ..
        }) = incremental(&mut cache, id, 2, vec![], vec![])
        else {
            panic!("incremental context expected");
        };
        let order: Vec<i32> = partitions.iter().map(|c| c.partition).collect();
        assert_eq!(order, vec![0, 2, 3, 1]);
        let mut start_kept = idle(5);
        start_kept.log_start_offset = 3;
        let outcomes = [idle(5), idle(5), start_kept, idle(9)];
        let selected = cache
            .complete_incremental(id, next_epoch, &partitions, &outcomes, None, 10)
            .unwrap();
        assert_eq!(selected, vec![false, true, false, false]);
    }

    #[test]
    fn a_request_answered_after_a_newer_one_gets_invalid_epoch() {
        let mut cache = FetchSessionCache::new(0, 1, 10, EVICTION_MS, 1_000);
        let id = open(&mut cache, false, vec![partition("a", 0, 0)], 0);
        let Ok(FetchContext::Incremental {
            partitions: first,
            next_epoch: first_epoch,
            ..
        }) = incremental(&mut cache, id, 1, vec![], vec![])
        else {
            panic!("incremental context expected");
        };
        assert!(incremental(&mut cache, id, 2, vec![], vec![]).is_ok());
        assert!(matches!(
            cache.complete_incremental(id, first_epoch, &first, &[idle(5)], None, 10),
            Err(FetchSessionError::InvalidEpoch { .. })
        ));
    }

    #[test]
    fn a_full_cache_evicts_a_stale_session_first() {
        let mut cache = FetchSessionCache::new(0, 1, 2, EVICTION_MS, 1_000);
        let big = open(
            &mut cache,
            false,
            (0..5).map(|i| partition("a", i, 0)).collect(),
            0,
        );
        let small = open(&mut cache, false, vec![partition("b", 0, 0)], 1_000);
        // Neither is stale yet and neither is old enough to be evicted by a
        // consumer: no room.
        assert_eq!(
            open(&mut cache, false, vec![partition("c", 0, 0)], 2_000),
            INVALID_SESSION_ID
        );
        // Once the big one has been idle past the eviction time, it goes.
        let third = open(
            &mut cache,
            false,
            vec![partition("c", 0, 0)],
            EVICTION_MS + 1,
        );
        assert_ne!(third, INVALID_SESSION_ID);
        assert!(incremental(&mut cache, big, 1, vec![], vec![]).is_err());
        assert!(incremental(&mut cache, small, 1, vec![], vec![]).is_ok());
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.partitions_cached(), 2);
    }

    #[test]
    fn a_follower_may_evict_a_consumer_session_but_not_the_reverse() {
        let mut cache = FetchSessionCache::new(0, 1, 1, EVICTION_MS, 1_000);
        let consumer = open(&mut cache, false, vec![partition("a", 0, 0)], 0);
        let follower = open(&mut cache, true, vec![partition("b", 0, 0)], 10);
        assert_ne!(follower, INVALID_SESSION_ID);
        assert!(incremental(&mut cache, consumer, 1, vec![], vec![]).is_err());
        // A consumer cannot evict the young follower session, however big.
        assert_eq!(
            open(
                &mut cache,
                false,
                (0..50).map(|i| partition("c", i, 0)).collect(),
                20
            ),
            INVALID_SESSION_ID
        );
    }

    #[test]
    fn a_bigger_session_evicts_the_smallest_mature_one() {
        let mut cache = FetchSessionCache::new(0, 1, 2, EVICTION_MS, 1_000);
        let small = open(&mut cache, false, vec![partition("a", 0, 0)], 0);
        let medium = open(
            &mut cache,
            false,
            (0..3).map(|i| partition("b", i, 0)).collect(),
            0,
        );
        // Both are used again after the eviction time has passed since their
        // creation, so they are mature but not stale.
        let later = EVICTION_MS + 10;
        for id in [small, medium] {
            cache
                .new_context(request(id, 1), vec![], vec![], STATE, later)
                .unwrap();
        }
        // A session no bigger than the smallest cannot evict it.
        assert_eq!(
            open(&mut cache, false, vec![partition("c", 0, 0)], later + 1),
            INVALID_SESSION_ID
        );
        let bigger = open(
            &mut cache,
            false,
            (0..2).map(|i| partition("c", i, 0)).collect(),
            later + 1,
        );
        assert_ne!(bigger, INVALID_SESSION_ID);
        assert!(cache
            .new_context(request(small, 2), vec![], vec![], STATE, later + 2)
            .is_err());
        assert!(cache
            .new_context(request(medium, 2), vec![], vec![], STATE, later + 2)
            .is_ok());
    }

    #[test]
    fn cached_partitions_stay_within_the_shard_bound() {
        let mut cache = FetchSessionCache::new(0, 1, 10, EVICTION_MS, 4);
        assert_eq!(
            open(
                &mut cache,
                false,
                (0..5).map(|i| partition("a", i, 0)).collect(),
                0
            ),
            INVALID_SESSION_ID
        );
        let id = open(
            &mut cache,
            false,
            (0..3).map(|i| partition("a", i, 0)).collect(),
            0,
        );
        assert!(incremental(&mut cache, id, 1, vec![partition("a", 3, 0)], vec![]).is_ok());
        assert_eq!(
            incremental(&mut cache, id, 2, vec![partition("a", 4, 0)], vec![]),
            Err(FetchSessionError::Outgrown {
                session_id: id,
                partitions: 5
            })
        );
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.partitions_cached(), 0);
    }

    #[test]
    fn session_ids_name_their_shard_and_zero_slots_disable_sessions() {
        let mut cache = FetchSessionCache::new(2, 3, 50, EVICTION_MS, 1_000);
        for _ in 0..50 {
            let id = open(&mut cache, false, vec![partition("a", 0, 0)], 0);
            assert!(id > 0);
            assert_eq!(id % 3, 2);
            assert!(cache.is_ours(id));
        }
        assert!(!cache.is_ours(3));
        let mut disabled = FetchSessionCache::new(0, 1, 0, EVICTION_MS, 1_000);
        assert_eq!(
            open(&mut disabled, false, vec![partition("a", 0, 0)], 0),
            INVALID_SESSION_ID
        );
    }

    #[test]
    fn a_full_fetch_naming_a_partition_twice_caches_it_once() {
        let mut cache = FetchSessionCache::new(0, 1, 10, EVICTION_MS, 1_000);
        open(
            &mut cache,
            false,
            vec![partition("a", 0, 0), partition("a", 0, 3)],
            0,
        );
        assert_eq!(cache.partitions_cached(), 1);
    }

    #[test]
    fn an_idle_session_is_quiet_until_its_shard_changes() {
        let mut cache = FetchSessionCache::new(0, 1, 10, EVICTION_MS, 1_000);
        let partitions = vec![partition("a", 0, 5)];
        let id = cache.create(false, false, partitions, Some(STATE), 0);
        // Same state, nothing named: no partition needs reading.
        assert_eq!(
            cache.new_context(request(id, 1), vec![], vec![], STATE, 100),
            Ok(FetchContext::Quiet {
                session_id: id,
                next_epoch: 2
            })
        );
        // After a wake the session answers as an incremental fetch.
        let resumed = cache.resume(id, 2).unwrap().unwrap();
        assert_eq!(resumed.len(), 1);
        assert!(matches!(
            cache.resume(id, 1),
            Err(FetchSessionError::InvalidEpoch { .. })
        ));
        // A log of the shard changed: read again.
        let changed = LogState {
            log_generation: 2,
            ..STATE
        };
        assert!(matches!(
            cache.new_context(request(id, 2), vec![], vec![], changed, 200),
            Ok(FetchContext::Incremental { .. })
        ));
    }

    #[test]
    fn a_quiet_mark_ends_with_a_named_partition_or_after_the_reread_time() {
        let mut cache = FetchSessionCache::new(0, 1, 10, EVICTION_MS, 1_000);
        let id = cache.create(false, false, vec![partition("a", 0, 5)], Some(STATE), 0);
        assert!(matches!(
            cache.new_context(
                request(id, 1),
                vec![partition("a", 0, 6)],
                vec![],
                STATE,
                10
            ),
            Ok(FetchContext::Incremental { .. })
        ));
        // The mark was cleared by the named partition.
        assert!(matches!(
            cache.new_context(request(id, 2), vec![], vec![], STATE, 20),
            Ok(FetchContext::Incremental { .. })
        ));
        let other = cache.create(false, false, vec![partition("b", 0, 5)], Some(STATE), 0);
        assert!(matches!(
            cache.new_context(request(other, 1), vec![], vec![], STATE, QUIET_REREAD_MS),
            Ok(FetchContext::Incremental { .. })
        ));
    }
}
