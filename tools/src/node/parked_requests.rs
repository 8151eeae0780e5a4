//! Requests a control-core driver handed to its coordinator state machine
//! (the group or the transaction coordinator) and that wait for its answer.
//!
//! Each request gets a fresh [`RequestToken`]; the coordinator's `Respond`
//! action names the token, and [`ParkedRequests::answer`] hands the response
//! to whoever waits on it. A request whose caller went away, or that was
//! dropped at shutdown, is simply not there any more. Lives on: the control
//! core (`!Send`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use futures::channel::oneshot;
use skein_controller::group_coordinator::RequestToken;

/// Requests waiting for their coordinator's answer, by token.
#[derive(Debug)]
pub(crate) struct ParkedRequests<R> {
    waiters: RefCell<HashMap<RequestToken, oneshot::Sender<R>>>,
    next_token: Cell<u64>,
}

impl<R> Default for ParkedRequests<R> {
    fn default() -> Self {
        ParkedRequests {
            waiters: RefCell::new(HashMap::new()),
            next_token: Cell::new(0),
        }
    }
}

impl<R> ParkedRequests<R> {
    /// Parks a new request: its token for the coordinator, and where its
    /// answer arrives (closed if the request is dropped unanswered).
    pub(crate) fn park(&self) -> (RequestToken, oneshot::Receiver<R>) {
        let token = RequestToken(self.next_token.get());
        self.next_token.set(token.0.wrapping_add(1));
        let (answer, answered) = oneshot::channel();
        let earlier = self.waiters.borrow_mut().insert(token, answer);
        assert!(
            earlier.is_none(),
            "request tokens are never reused while parked"
        );
        (token, answered)
    }

    /// Hands `response` to the request `token` names; `coordinator` names
    /// the state machine in the debug log when nobody waits any more.
    pub(crate) fn answer(&self, token: RequestToken, response: R, coordinator: &str) {
        let waiter = self.waiters.borrow_mut().remove(&token);
        match waiter {
            Some(waiter) => {
                if waiter.send(response).is_err() {
                    tracing::debug!(token = token.0, coordinator, "the request's caller is gone");
                }
            }
            None => tracing::debug!(token = token.0, coordinator, "answer for a dropped request"),
        }
    }

    /// Drops every parked request (each caller sees its answer channel
    /// closed); returns how many there were.
    pub(crate) fn drop_all(&self) -> usize {
        self.waiters.borrow_mut().drain().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_reaches_the_request_its_token_names() {
        let parked = ParkedRequests::<&str>::default();
        let (first, mut first_answer) = parked.park();
        let (second, mut second_answer) = parked.park();
        assert_ne!(first, second);
        parked.answer(second, "two", "test");
        assert_eq!(second_answer.try_recv(), Ok(Some("two")));
        assert_eq!(first_answer.try_recv(), Ok(None));
        // A second answer for the same token finds nobody.
        parked.answer(second, "again", "test");
        assert_eq!(parked.drop_all(), 1);
        assert!(
            first_answer.try_recv().is_err(),
            "dropped: the channel is closed"
        );
    }
}
