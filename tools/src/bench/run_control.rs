//! The timing every worker of a run shares: the clock, when measuring
//! starts, when load stops, and a stop flag for an early end (Ctrl-C, or a
//! fatal setup error).
use std::sync::atomic::{AtomicBool, Ordering};

use super::clock::Clock;
use crate::client::ConnectionConfig;

/// Shared, read-mostly run state.
#[derive(Debug)]
pub struct RunControl {
    /// The run's clock.
    pub clock: Clock,
    /// When load starts, ns since the origin.
    pub start_ns: u64,
    /// Records intended before this (the warm-up) are not measured, ns since the origin.
    pub measure_from_ns: u64,
    /// When load stops, ns since the origin.
    pub end_ns: u64,
    /// Connection settings for every worker connection.
    pub connection: ConnectionConfig,
    stop: AtomicBool,
    load_finished: AtomicBool,
}

impl RunControl {
    /// A run starting at `start_ns` with `warmup_s` then `duration_s` seconds of load.
    pub fn new(
        clock: Clock,
        start_ns: u64,
        warmup_s: u64,
        duration_s: u64,
        connection: ConnectionConfig,
    ) -> Self {
        let measure_from_ns = start_ns + warmup_s * 1_000_000_000;
        Self {
            clock,
            start_ns,
            measure_from_ns,
            end_ns: measure_from_ns + duration_s * 1_000_000_000,
            connection,
            stop: AtomicBool::new(false),
            load_finished: AtomicBool::new(false),
        }
    }

    /// Asks every worker to stop generating load now.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Records that every producer has finished (sent and drained).
    pub fn finish_load(&self) {
        self.load_finished.store(true, Ordering::Relaxed);
    }

    /// Whether [`finish_load`](Self::finish_load) was called.
    pub fn load_finished(&self) -> bool {
        self.load_finished.load(Ordering::Relaxed)
    }

    /// The request timeout in ns.
    pub fn request_timeout_ns(&self) -> u64 {
        u64::try_from(self.connection.request_timeout.as_nanos()).unwrap_or(u64::MAX)
    }
}
