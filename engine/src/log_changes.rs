//! A shard-wide signal that some partition log of this shard changed what a
//! fetch of it would answer: its durable end offset moved, its log start offset
//! moved, or it stopped (closed, removed, poisoned). A generation counter
//! goes up by one at each change, so a reader that saw generation `g` knows
//! nothing changed while the counter still reads `g`. Fetch sessions use it
//! to answer an idle poll without touching any of its partitions.
//!
//! Invariant: every change of a log's durable end offset or log start offset
//! bumps the generation after the new value is visible. The replication
//! crate bumps it too (through [`log_changed`]) when a replicated
//! partition's high watermark, ISR or leadership changes: for such a
//! partition that, not the durable end, bounds what a consumer's fetch
//! answers. Lives on: one shard (a thread-local, like the log statistics).

use std::cell::Cell;
use std::rc::Rc;

use crate::wait_list::WaitList;

/// The change signal of one shard's logs. Lives on: that shard; `!Send`.
#[derive(Debug, Default)]
pub struct LogChanges {
    generation: Cell<u64>,
    waiters: WaitList,
}

impl LogChanges {
    /// The current generation (starts at 0, wraps).
    pub fn generation(&self) -> u64 {
        self.generation.get()
    }

    /// Resolves once the generation is no longer `generation`.
    ///
    /// # Cancel safety
    /// Dropping the future unregisters it.
    pub async fn wait_past(&self, generation: u64) {
        self.waiters
            .wait_until(|| self.generation.get() != generation)
            .await;
    }

    fn bump(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        self.waiters.notify_all();
    }
}

thread_local! {
    static SHARD_LOG_CHANGES: Rc<LogChanges> = Rc::new(LogChanges::default());
}

/// This shard's (thread's) log change signal.
pub fn shard_log_changes() -> Rc<LogChanges> {
    SHARD_LOG_CHANGES.with(Rc::clone)
}

/// Records that a log of the calling shard changed what a fetch of it
/// would answer. A no-op while the thread is being torn down (a log
/// dropped then has no reader left).
pub fn log_changed() {
    // `try_with` fails only during thread exit, when nobody can be waiting:
    // there is nothing to tell then.
    if let Err(_thread_exiting) = SHARD_LOG_CHANGES.try_with(|changes| changes.bump()) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_change_moves_the_generation_and_wakes_waiters() {
        let changes = shard_log_changes();
        let before = changes.generation();
        log_changed();
        assert_eq!(changes.generation(), before.wrapping_add(1));
        futures_lite::future::block_on(changes.wait_past(before));
    }
}
