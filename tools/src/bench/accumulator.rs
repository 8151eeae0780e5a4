//! The producer's record accumulator: one open batch per partition, filled
//! up to the batch size, plus full batches queued behind it. A request
//! takes at most one batch per partition (as Kafka clients send), the
//! oldest first, when it is full or has lingered long enough, and stops
//! before the batches it holds would pass `max.request.size` (at least one
//! batch always goes). As the Java client's `RecordAccumulator.drain`, each
//! drain starts where the previous one stopped, so a capped request does not
//! favour the first partitions.
//!
//! Invariant: `buffered_bytes` is the payload of every record appended and
//! not yet drained.
use std::collections::VecDeque;

use kafka_protocol::records::Record;

/// Records bound for one partition in one request.
#[derive(Debug, Default)]
pub struct Batch {
    /// The records, offsets 0.. in order.
    pub records: Vec<Record>,
    /// Each record's intended send time, ns since the run's origin.
    pub intended_ns: Vec<u64>,
    /// Key and value bytes of all records.
    pub payload_bytes: u64,
    /// When the first record was appended, ns since the run's origin.
    pub created_ns: u64,
}

#[derive(Debug, Default)]
struct PartitionQueue {
    open: Batch,
    full: VecDeque<Batch>,
}

impl PartitionQueue {
    /// The payload bytes of the batch a drain would take now: the oldest
    /// full one, or the open one once it has lingered `linger_ns` (or at
    /// once when `flush`); `None` when neither is ready.
    fn ready_bytes(&self, now_ns: u64, linger_ns: u64, flush: bool) -> Option<u64> {
        match self.full.front() {
            Some(full) => Some(full.payload_bytes),
            None => (!self.open.records.is_empty()
                && (flush || self.open.created_ns + linger_ns <= now_ns))
                .then_some(self.open.payload_bytes),
        }
    }

    /// Takes the batch [`ready_bytes`](Self::ready_bytes) described.
    fn take_ready(&mut self) -> Batch {
        match self.full.pop_front() {
            Some(full) => full,
            None => std::mem::take(&mut self.open),
        }
    }
}

/// Batches per partition index (an index into the producer's partition list).
#[derive(Debug)]
pub struct Accumulator {
    queues: Vec<PartitionQueue>,
    batch_bytes_max: u64,
    request_bytes_max: u64,
    buffered_bytes: u64,
}

impl Accumulator {
    /// An empty accumulator for `partition_count` partitions whose batches
    /// hold up to `batch_bytes_max` payload bytes (a single larger record
    /// still gets a batch of its own) and whose drains take up to
    /// `request_bytes_max` payload bytes.
    pub fn new(partition_count: usize, batch_bytes_max: u64, request_bytes_max: u64) -> Self {
        Self {
            queues: (0..partition_count)
                .map(|_| PartitionQueue::default())
                .collect(),
            batch_bytes_max: batch_bytes_max.max(1),
            request_bytes_max,
            buffered_bytes: 0,
        }
    }

    /// Payload bytes appended and not yet drained.
    pub fn buffered_bytes(&self) -> u64 {
        self.buffered_bytes
    }

    /// Appends `record` to partition index `partition`.
    pub fn append(
        &mut self,
        partition: usize,
        mut record: Record,
        payload_bytes: u64,
        intended_ns: u64,
        now_ns: u64,
    ) {
        let batch_bytes_max = self.batch_bytes_max;
        let queue = &mut self.queues[partition];
        if !queue.open.records.is_empty()
            && queue.open.payload_bytes + payload_bytes > batch_bytes_max
        {
            queue.full.push_back(std::mem::take(&mut queue.open));
        }
        let open = &mut queue.open;
        if open.records.is_empty() {
            open.created_ns = now_ns;
        }
        let offset = open.records.len() as i64;
        record.offset = offset;
        // The encoder groups records into one batch only while
        // offset - sequence stays constant; sequence = offset - 1 also
        // makes the batch's base_sequence -1 (not idempotent).
        record.sequence = offset as i32 - 1;
        open.records.push(record);
        open.intended_ns.push(intended_ns);
        open.payload_bytes += payload_bytes;
        self.buffered_bytes += payload_bytes;
        if open.payload_bytes >= batch_bytes_max {
            queue.full.push_back(std::mem::take(open));
        }
    }

    /// Takes at most one batch from each of `partitions`: a full one, or the
    /// open one if it was created at least `linger_ns` before `now_ns` (or
    /// `flush` is set), looking at the partitions from `partitions[*cursor]`
    /// on (wrapping) and stopping before the request's payload would pass
    /// `request_bytes_max`; `*cursor` is left at the first partition not
    /// looked at. Returns `(partition index, batch)` pairs.
    pub fn drain(
        &mut self,
        partitions: &[usize],
        cursor: &mut usize,
        now_ns: u64,
        linger_ns: u64,
        flush: bool,
    ) -> Vec<(usize, Batch)> {
        let mut drained = Vec::new();
        let mut request_bytes = 0;
        for _ in 0..partitions.len() {
            *cursor %= partitions.len();
            let partition = partitions[*cursor];
            let queue = &mut self.queues[partition];
            if let Some(bytes) = queue.ready_bytes(now_ns, linger_ns, flush) {
                if !drained.is_empty() && request_bytes + bytes > self.request_bytes_max {
                    break;
                }
                let batch = queue.take_ready();
                request_bytes += bytes;
                self.buffered_bytes -= batch.payload_bytes;
                drained.push((partition, batch));
            }
            *cursor += 1;
        }
        drained
    }

    /// Whether any of `partitions` has a batch [`drain`](Self::drain) would take.
    pub fn has_ready(
        &self,
        partitions: &[usize],
        now_ns: u64,
        linger_ns: u64,
        flush: bool,
    ) -> bool {
        partitions.iter().any(|&partition| {
            self.queues[partition]
                .ready_bytes(now_ns, linger_ns, flush)
                .is_some()
        })
    }

    /// The earliest time an open batch's linger expires, if any is open.
    pub fn next_linger_deadline_ns(&self, linger_ns: u64) -> Option<u64> {
        self.queues
            .iter()
            .filter(|queue| !queue.open.records.is_empty())
            .map(|queue| queue.open.created_ns + linger_ns)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::plain_record;
    use bytes::Bytes;

    fn record(size: usize) -> Record {
        plain_record(0, None, Some(Bytes::from(vec![b'x'; size])))
    }

    #[test]
    fn a_batch_seals_when_the_next_record_would_overflow_it() {
        let mut accumulator = Accumulator::new(1, 250, u64::MAX);
        for time in 0..3 {
            accumulator.append(0, record(100), 100, time, time);
        }
        // 100 + 100 fit; the third starts a new batch.
        assert!(accumulator.has_ready(&[0], 0, u64::MAX / 2, false));
        let drained = accumulator.drain(&[0], &mut 0, 0, u64::MAX / 2, false);
        assert_eq!(drained.len(), 1);
        assert_eq!(drained[0].1.records.len(), 2);
        assert_eq!(drained[0].1.records[1].offset, 1);
        assert_eq!(drained[0].1.records[1].sequence, 0);
        assert_eq!(drained[0].1.intended_ns, vec![0, 1]);
        assert_eq!(accumulator.buffered_bytes(), 100);
    }

    #[test]
    fn an_open_batch_waits_for_linger_unless_flushed() {
        let mut accumulator = Accumulator::new(2, 1_000, u64::MAX);
        accumulator.append(1, record(10), 10, 5, 5);
        assert_eq!(accumulator.next_linger_deadline_ns(100), Some(105));
        assert!(accumulator
            .drain(&[0, 1], &mut 0, 104, 100, false)
            .is_empty());
        assert_eq!(accumulator.drain(&[0, 1], &mut 0, 105, 100, false).len(), 1);
        accumulator.append(0, record(10), 10, 200, 200);
        assert_eq!(accumulator.drain(&[0, 1], &mut 0, 200, 100, true).len(), 1);
        assert_eq!(accumulator.buffered_bytes(), 0);
        assert!(!accumulator.has_ready(&[0, 1], 200, 0, true));
    }

    #[test]
    fn drain_takes_one_batch_per_partition_oldest_first() {
        let mut accumulator = Accumulator::new(1, 10, u64::MAX);
        for time in 0..3 {
            accumulator.append(0, record(10), 10, time, time);
        }
        let first = accumulator.drain(&[0], &mut 0, 10, 0, true);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].1.intended_ns, vec![0]);
        let second = accumulator.drain(&[0], &mut 0, 10, 0, true);
        assert_eq!(second[0].1.intended_ns, vec![1]);
    }

    #[test]
    fn a_request_stops_before_max_request_size_and_the_next_starts_after_it() {
        let mut accumulator = Accumulator::new(4, 100, 250);
        for partition in 0..4 {
            accumulator.append(partition, record(100), 100, 0, 0);
        }
        let mut cursor = 0;
        let first = accumulator.drain(&[0, 1, 2, 3], &mut cursor, 0, 0, false);
        let taken: Vec<usize> = first.iter().map(|(partition, _)| *partition).collect();
        assert_eq!(taken, vec![0, 1]);
        assert_eq!(cursor, 2);
        for partition in 0..2 {
            accumulator.append(partition, record(100), 100, 1, 1);
        }
        let second = accumulator.drain(&[0, 1, 2, 3], &mut cursor, 1, 0, false);
        let taken: Vec<usize> = second.iter().map(|(partition, _)| *partition).collect();
        assert_eq!(taken, vec![2, 3]);
        // A single batch larger than the cap still goes, alone.
        let mut big = Accumulator::new(2, 1_000, 50);
        big.append(0, record(100), 100, 0, 0);
        big.append(1, record(100), 100, 0, 0);
        assert_eq!(big.drain(&[0, 1], &mut 0, 0, 0, false).len(), 1);
    }
}
