//! `WatermarkSignal`: a generation counter bumped whenever a partition's
//! high watermark or leadership may have changed, and the tasks waiting for
//! it to move (acks=all produces, long-polling fetches). Invariant: a
//! waiting future is registered at most once and unregisters when dropped,
//! so cancelled waits leave nothing behind.
//!
//! The engine has the same shape for its durable mark (`wait_list.rs`), but
//! keeps it crate-private; this one serves the replication crate until the
//! engine exports its own.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A change signal. Lives on: the partition's owner shard; `!Send`.
#[derive(Debug, Default)]
pub(crate) struct WatermarkSignal {
    generation: Cell<u64>,
    waiters: RefCell<Vec<(u64, Waker)>>,
    /// The emptied list, kept to swap in so notifying allocates nothing
    /// once the lists have grown to the number of concurrent waiters.
    spare: RefCell<Vec<(u64, Waker)>>,
    next_key: Cell<u64>,
}

impl WatermarkSignal {
    /// The current generation.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.get()
    }

    /// Bumps the generation and wakes every waiter.
    pub(crate) fn notify(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        let mut spare = self.spare.borrow_mut();
        assert!(spare.is_empty());
        std::mem::swap(&mut *spare, &mut *self.waiters.borrow_mut());
        for (_, waker) in spare.drain(..) {
            waker.wake();
        }
    }

    /// Resolves once the generation is no longer `generation`.
    ///
    /// # Cancel safety
    /// Dropping the future unregisters it.
    pub(crate) fn changed_since(&self, generation: u64) -> Changed<'_> {
        Changed {
            signal: self,
            generation,
            key: None,
        }
    }

    fn register(&self, key: &mut Option<u64>, waker: &Waker) {
        let mut waiters = self.waiters.borrow_mut();
        if let Some(existing) = *key {
            if let Some(slot) = waiters.iter_mut().find(|(k, _)| *k == existing) {
                if !slot.1.will_wake(waker) {
                    slot.1 = waker.clone();
                }
                return;
            }
        }
        let fresh = self.next_key.get();
        self.next_key.set(fresh.wrapping_add(1));
        waiters.push((fresh, waker.clone()));
        *key = Some(fresh);
    }

    fn unregister(&self, key: u64) {
        let mut waiters = self.waiters.borrow_mut();
        if let Some(slot) = waiters.iter().position(|(k, _)| *k == key) {
            waiters.swap_remove(slot);
        }
    }
}

/// Future returned by [`WatermarkSignal::changed_since`].
#[derive(Debug)]
pub(crate) struct Changed<'a> {
    signal: &'a WatermarkSignal,
    generation: u64,
    key: Option<u64>,
}

impl Future for Changed<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.generation() != self.generation {
            if let Some(key) = self.key.take() {
                self.signal.unregister(key);
            }
            return Poll::Ready(());
        }
        let signal = self.signal;
        signal.register(&mut self.key, cx.waker());
        Poll::Pending
    }
}

impl Drop for Changed<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.signal.unregister(key);
        }
    }
}
