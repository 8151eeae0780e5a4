//! The deadline timer of a sans-IO coordinator (the group coordinator, the
//! transaction coordinator): ticks it whenever its next deadline has
//! passed, sleeps until the next one, and wakes early when a step may have
//! moved it. Lives on: the control shard.

use std::time::Duration;

use futures::channel::mpsc;
use futures::StreamExt;
use skein_net::shard_state::now_ms;

/// The longest the timer sleeps without a deadline, in ms.
const TICK_INTERVAL_MAX_MS: i64 = 1_000;

/// Calls `tick(now)` whenever `next_deadline()` has passed, then sleeps
/// until the next deadline (at least 1 ms, so a deadline a tick did not
/// clear cannot spin the shard; at most [`TICK_INTERVAL_MAX_MS`]) or until
/// `woken` yields. Returns once `woken` has ended (the node stops).
pub async fn run(
    mut woken: mpsc::Receiver<()>,
    next_deadline: impl Fn() -> Option<i64>,
    mut tick: impl FnMut(i64),
) {
    loop {
        let now = now_ms();
        if next_deadline().is_some_and(|due| due <= now) {
            tick(now);
        }
        let now = now_ms();
        let wait_ms = next_deadline().map_or(TICK_INTERVAL_MAX_MS, |deadline| {
            (deadline - now).clamp(1, TICK_INTERVAL_MAX_MS)
        });
        let sleep = glommio::timer::sleep(Duration::from_millis(wait_ms.unsigned_abs()));
        futures::pin_mut!(sleep);
        if let futures::future::Either::Right((None, _)) =
            futures::future::select(sleep, woken.next()).await
        {
            return;
        }
    }
}
