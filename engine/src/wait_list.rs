//! A list of tasks waiting for a condition on shard-local state (a
//! condition variable for one thread), woken all at once by `notify_all`,
//! or — for waiters on an offset — only once a notified end offset passes
//! theirs (`notify_passed`), so an fdatasync covering one append wakes that
//! append and not every append queued behind it. Invariant: a waiting
//! future is registered at most once and unregisters when dropped, so
//! cancelled waits leave nothing behind.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Tasks waiting for some predicate. Lives on: one shard; `!Send`.
#[derive(Debug, Default)]
pub struct WaitList {
    waiters: RefCell<Vec<Waiter>>,
    spare: RefCell<Vec<Waiter>>,
    next_key: Cell<u64>,
}

/// One registered wait.
#[derive(Debug)]
struct Waiter {
    key: u64,
    /// The offset waited on (woken once a notified end passes it), or
    /// `None` for a plain predicate (woken by every notification).
    offset: Option<i64>,
    waker: Waker,
}

impl WaitList {
    /// Resolves once `ready()` is true, re-checked after every notification.
    ///
    /// # Cancel safety
    /// Dropping the future unregisters it.
    pub fn wait_until<F: Fn() -> bool>(&self, ready: F) -> WaitUntil<'_, F> {
        WaitUntil {
            list: self,
            ready,
            offset: None,
            key: None,
        }
    }

    /// Resolves once `ready()` is true, re-checked after every
    /// `notify_all` and after a `notify_passed(end)` with `end > offset`
    /// only. The caller's contract: `ready()` turns true only when such an
    /// end is notified, or on an event announced with `notify_all` (a
    /// stop, a truncation).
    ///
    /// # Cancel safety
    /// Dropping the future unregisters it.
    pub fn wait_for_offset<F: Fn() -> bool>(&self, offset: i64, ready: F) -> WaitUntil<'_, F> {
        WaitUntil {
            list: self,
            ready,
            offset: Some(offset),
            key: None,
        }
    }

    /// Wakes every waiter so it re-checks its predicate. Allocation-free
    /// once the lists have grown to the number of concurrent waiters.
    pub fn notify_all(&self) {
        let mut spare = self.spare.borrow_mut();
        assert!(spare.is_empty());
        std::mem::swap(&mut *spare, &mut *self.waiters.borrow_mut());
        for waiter in spare.drain(..) {
            waiter.waker.wake();
        }
    }

    /// Wakes the waiters on offsets below `end` (now passed) and every
    /// plain predicate waiter; waiters on `end` or later stay asleep.
    /// Allocation-free as [`notify_all`](Self::notify_all).
    pub fn notify_passed(&self, end: i64) {
        let mut spare = self.spare.borrow_mut();
        assert!(spare.is_empty());
        {
            let mut waiters = self.waiters.borrow_mut();
            let mut slot = 0;
            while let Some(waiter) = waiters.get(slot) {
                if waiter.offset.is_none_or(|offset| offset < end) {
                    spare.push(waiters.swap_remove(slot));
                } else {
                    slot += 1;
                }
            }
        }
        // Woken outside the borrow of `waiters`: a waker may run code that
        // registers again.
        for waiter in spare.drain(..) {
            waiter.waker.wake();
        }
    }

    fn register(&self, key: &mut Option<u64>, offset: Option<i64>, waker: &Waker) {
        let mut waiters = self.waiters.borrow_mut();
        if let Some(existing) = *key {
            if let Some(slot) = waiters.iter_mut().find(|w| w.key == existing) {
                if !slot.waker.will_wake(waker) {
                    slot.waker = waker.clone();
                }
                return;
            }
        }
        let fresh = self.next_key.get();
        self.next_key.set(fresh + 1);
        waiters.push(Waiter {
            key: fresh,
            offset,
            waker: waker.clone(),
        });
        *key = Some(fresh);
    }

    fn unregister(&self, key: u64) {
        let mut waiters = self.waiters.borrow_mut();
        if let Some(slot) = waiters.iter().position(|w| w.key == key) {
            waiters.swap_remove(slot);
        }
    }
}

/// Future returned by [`WaitList::wait_until`] and
/// [`WaitList::wait_for_offset`].
#[derive(Debug)]
pub struct WaitUntil<'a, F: Fn() -> bool> {
    list: &'a WaitList,
    ready: F,
    offset: Option<i64>,
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
        this.list.register(&mut this.key, this.offset, cx.waker());
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
    fn notify_passed_wakes_only_the_waiters_it_covers() {
        run(|| async {
            let list = Rc::new(WaitList::default());
            let end = Rc::new(Cell::new(0i64));
            let polls = Rc::new([Cell::new(0u32), Cell::new(0u32), Cell::new(0u32)]);
            let waiter = |index: usize, offset: i64| {
                let (list, end, polls) = (list.clone(), end.clone(), polls.clone());
                glommio::spawn_local(async move {
                    list.wait_for_offset(offset, || {
                        polls[index].set(polls[index].get() + 1);
                        end.get() > offset
                    })
                    .await;
                })
            };
            let low = waiter(0, 5);
            let high = waiter(1, 100);
            let plain = {
                let (list, end, polls) = (list.clone(), end.clone(), polls.clone());
                glommio::spawn_local(async move {
                    list.wait_until(|| {
                        polls[2].set(polls[2].get() + 1);
                        end.get() > 7
                    })
                    .await;
                })
            };
            glommio::executor().yield_now().await;
            assert_eq!(polls.iter().map(Cell::get).collect::<Vec<_>>(), [1, 1, 1]);
            assert_eq!(list.waiters.borrow().len(), 3);

            // The end passes 5 but not 100: the waiter on 100 stays asleep,
            // the plain predicate re-checks (and is satisfied).
            end.set(10);
            list.notify_passed(10);
            low.await;
            plain.await;
            glommio::executor().yield_now().await;
            assert_eq!(polls.iter().map(Cell::get).collect::<Vec<_>>(), [2, 1, 2]);
            assert_eq!(list.waiters.borrow().len(), 1);

            // An end equal to the offset does not pass it.
            end.set(100);
            list.notify_passed(100);
            glommio::executor().yield_now().await;
            assert_eq!(polls[1].get(), 1);

            // notify_all wakes it regardless.
            end.set(101);
            list.notify_all();
            high.await;
            assert_eq!(polls[1].get(), 2);
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
