//! The send schedule of one producer at a target rate: record `i` is
//! intended to be sent at `start + i / rate`. Latency is measured from that
//! intended time, not from when the producer got round to it, so a stalled
//! broker shows up as latency instead of silently lowering the offered load
//! (no coordinated omission).
//!
//! Times are nanoseconds since the run's origin ([`super::clock::Clock`]).

/// Intended send times at a fixed rate.
#[derive(Debug, Clone)]
pub struct Schedule {
    start_ns: u64,
    interval_ns: f64,
    next_index: u64,
}

impl Schedule {
    /// A schedule of `records_per_second` (> 0) starting at `start_ns`.
    ///
    /// # Panics
    /// If the rate is not a positive finite number (the option parser
    /// guarantees it).
    pub fn new(start_ns: u64, records_per_second: f64) -> Self {
        assert!(records_per_second.is_finite());
        assert!(records_per_second > 0.0);
        Self {
            start_ns,
            interval_ns: 1e9 / records_per_second,
            next_index: 0,
        }
    }

    /// The intended time of the next record.
    pub fn next_intended_ns(&self) -> u64 {
        self.start_ns + (self.next_index as f64 * self.interval_ns) as u64
    }

    /// Takes the next record's intended time if it is at or before `now_ns`.
    pub fn take_due(&mut self, now_ns: u64) -> Option<u64> {
        let intended = self.next_intended_ns();
        if intended > now_ns {
            return None;
        }
        self.next_index += 1;
        Some(intended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_times_are_evenly_spaced_from_the_start() {
        let mut schedule = Schedule::new(1_000, 1_000.0);
        let due: Vec<u64> = std::iter::from_fn(|| schedule.take_due(3_000_000)).collect();
        assert_eq!(due, vec![1_000, 1_001_000, 2_001_000]);
        assert_eq!(schedule.next_intended_ns(), 3_001_000);
    }

    #[test]
    fn nothing_is_due_before_the_start() {
        let mut schedule = Schedule::new(5_000, 10.0);
        assert_eq!(schedule.take_due(4_999), None);
        assert_eq!(schedule.take_due(5_000), Some(5_000));
    }

    #[test]
    fn a_late_producer_gets_the_missed_intended_times_not_new_ones() {
        // The producer was stalled for 10 ms at 1 000 records/s: the ten
        // records it owes keep their original intended times.
        let mut schedule = Schedule::new(0, 1_000.0);
        let owed: Vec<u64> = std::iter::from_fn(|| schedule.take_due(9_500_000)).collect();
        assert_eq!(owed.len(), 10);
        assert_eq!(owed[9], 9_000_000);
    }

    #[test]
    fn fractional_intervals_do_not_drift() {
        let mut schedule = Schedule::new(0, 3.0);
        let due: Vec<u64> = std::iter::from_fn(|| schedule.take_due(3_000_000_000)).collect();
        assert_eq!(due.len(), 10);
        assert_eq!(due[9], 3_000_000_000);
    }
}
