//! A list of tasks waiting for a condition on shard-local state, woken all at
//! once by `notify_all` (a condition variable for one thread). Invariant: a
//! waiting future is registered at most once and unregisters when dropped,
//! so cancelled waits leave nothing behind.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Tasks waiting for some predicate. Lives on: one shard; `!Send`.
#[derive(Debug, Default)]
pub struct WaitList {
    waiters: RefCell<Vec<(u64, Waker)>>,
    spare: RefCell<Vec<(u64, Waker)>>,
    next_key: Cell<u64>,
}

impl WaitList {
    /// Resolves once `ready()` is true, re-checked after every `notify_all`.
    ///
    /// # Cancel safety
    /// Dropping the future unregisters it.
    pub fn wait_until<F: Fn() -> bool>(&self, ready: F) -> WaitUntil<'_, F> {
        WaitUntil {
            list: self,
            ready,
            key: None,
        }
    }

    /// Wakes every waiter so it re-checks its predicate. Allocation-free
    /// once the lists have grown to the number of concurrent waiters.
    pub fn notify_all(&self) {
        let mut spare = self.spare.borrow_mut();
        assert!(spare.is_empty());
        std::mem::swap(&mut *spare, &mut *self.waiters.borrow_mut());
        for (_, waker) in spare.drain(..) {
            waker.wake();
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
        self.next_key.set(fresh + 1);
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

/// Future returned by [`WaitList::wait_until`].
#[derive(Debug)]
pub struct WaitUntil<'a, F: Fn() -> bool> {
    list: &'a WaitList,
    ready: F,
    key: Option<u64>,
}

impl<F: Fn() -> bool> Future for WaitUntil<'_, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: nothing is moved out of the pinned future; `key` and
        // `ready` are plain data not relied on to stay pinned.
        let this = unsafe { self.get_unchecked_mut() };
        if (this.ready)() {
            if let Some(key) = this.key.take() {
                this.list.unregister(key);
            }
            return Poll::Ready(());
        }
        this.list.register(&mut this.key, cx.waker());
        Poll::Pending
    }
}

impl<F: Fn() -> bool> Drop for WaitUntil<'_, F> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.list.unregister(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    fn run<F: std::future::Future<Output = ()> + 'static>(
        make: impl FnOnce() -> F + Send + 'static,
    ) {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(1 << 20)
            .spawn(move || async move { make().await })
            .expect("executor")
            .join()
            .expect("join");
    }

    #[test]
    fn waiter_resolves_after_notify_when_predicate_holds() {
        run(|| async {
            let list = Rc::new(WaitList::default());
            let value = Rc::new(Cell::new(0));
            let task = {
                let (list, value) = (list.clone(), value.clone());
                glommio::spawn_local(async move { list.wait_until(|| value.get() >= 2).await })
            };
            glommio::yield_if_needed().await;
            for v in 1..=2 {
                value.set(v);
                list.notify_all();
                glommio::executor().yield_now().await;
            }
            task.await;
            assert!(list.waiters.borrow().is_empty());
        });
    }

    #[test]
    fn dropped_waiter_unregisters() {
        run(|| async {
            let list = WaitList::default();
            let pending = futures_lite::future::or(
                async {
                    list.wait_until(|| false).await;
                    false
                },
                async { true },
            );
            assert!(pending.await);
            assert!(list.waiters.borrow().is_empty());
        });
    }
}
