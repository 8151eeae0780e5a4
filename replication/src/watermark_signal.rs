//! `WatermarkSignal`: a generation counter bumped whenever a partition's
//! high watermark or leadership may have changed, and the tasks waiting for
//! it to move (acks=all produces, long-polling fetches), kept in the
//! engine's [`WaitList`] (cancelled waits unregister themselves).

use std::cell::Cell;

use skein_engine::{WaitList, WaitUntil};

/// A change signal. Lives on: the partition's owner shard; `!Send`.
#[derive(Debug, Default)]
pub(crate) struct WatermarkSignal {
    generation: Cell<u64>,
    waiters: WaitList,
}

impl WatermarkSignal {
    /// The current generation.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.get()
    }

    /// Bumps the generation and wakes every waiter, and tells the shard's
    /// fetch sessions that a log changed: an idle session skips its reads
    /// until one has (`skein_engine::log_changed`), and the high watermark
    /// is what a consumer's fetch of a replicated partition stops at.
    pub(crate) fn notify(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        self.waiters.notify_all();
        skein_engine::log_changed();
    }

    /// Resolves once the generation is no longer `generation`.
    ///
    /// # Cancel safety
    /// Dropping the future unregisters it.
    pub(crate) fn changed_since(&self, generation: u64) -> WaitUntil<'_, impl Fn() -> bool + '_> {
        self.waiters
            .wait_until(move || self.generation.get() != generation)
    }
}
