//! The run's clock: monotonic nanoseconds since the run's origin, with the
//! wall-clock time of that origin so times can be written into records
//! (microseconds since the UNIX epoch) for end-to-end latency.
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Shared by every thread of a run; cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    origin_unix_us: u64,
}

impl Clock {
    /// A clock whose origin is now.
    pub fn start() -> Self {
        let origin = Instant::now();
        let origin_unix_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
            });
        Self {
            origin,
            origin_unix_us,
        }
    }

    /// Nanoseconds since the origin.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant `ns` after the origin.
    pub fn instant_at(&self, ns: u64) -> Instant {
        self.origin + std::time::Duration::from_nanos(ns)
    }

    /// Microseconds since the UNIX epoch at `ns` after the origin.
    pub fn unix_us_at(&self, ns: u64) -> u64 {
        self.origin_unix_us + ns / 1_000
    }

    /// Microseconds since the UNIX epoch now, from the wall clock (for
    /// comparing with times written by another process).
    pub fn unix_us_now(&self) -> u64 {
        self.unix_us_at(self.now_ns())
    }
}
