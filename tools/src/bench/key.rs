//! Record keys and the partition each record goes to. Keyed records use
//! Kafka's default partitioner (murmur2 of the key, positive, modulo the
//! partition count) so they land where a Java client would put them; null
//! keys use a sticky partitioner that fills one partition's batch before
//! moving on, as Kafka clients have done since 2.4.
use rand::Rng;

use super::options::KeyMode;

/// Zipf-distributed ranks `0..n` with `P(k) ∝ 1 / (k + 1)^s`, sampled by a
/// binary search in a precomputed cumulative table (n × 8 bytes).
#[derive(Debug, Clone)]
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    /// A distribution over `n` (≥ 1) ranks with exponent `s` (> 0).
    ///
    /// # Panics
    /// If `n` is 0 or `s` is not positive.
    pub fn new(n: u64, s: f64) -> Self {
        assert!(n > 0);
        assert!(s > 0.0);
        let mut cumulative = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        let mut total = 0.0;
        for rank in 0..n {
            total += 1.0 / ((rank + 1) as f64).powf(s);
            cumulative.push(total);
        }
        for weight in &mut cumulative {
            *weight /= total;
        }
        Self { cumulative }
    }

    /// Draws a rank.
    pub fn sample(&self, rng: &mut impl Rng) -> u64 {
        let uniform: f64 = rng.gen();
        let rank = self.cumulative.partition_point(|weight| *weight < uniform);
        rank.min(self.cumulative.len() - 1) as u64
    }
}

/// The partition Kafka's default partitioner picks for a non-null key.
pub fn partition_for_key(key: &[u8], partition_count: usize) -> usize {
    let partitions = i32::try_from(partition_count).expect("partition counts fit i32");
    crate::client::partitioner::partition_for_key(key, partitions) as usize
}

/// Chooses each record's key and partition.
#[derive(Debug)]
pub struct KeyChooser {
    mode: KeyMode,
    key_space: u64,
    zipf: Option<Zipf>,
    next_round_robin: u64,
    partition_count: usize,
    sticky_partition: usize,
    sticky_bytes: u64,
    sticky_bytes_max: u64,
}

impl KeyChooser {
    /// A chooser for `partition_count` (≥ 1) partitions. Null keys stick to
    /// one partition for `sticky_bytes_max` bytes (the batch size).
    ///
    /// # Panics
    /// If `partition_count` or `key_space` is 0.
    pub fn new(
        mode: KeyMode,
        key_space: u64,
        zipf_exponent: f64,
        partition_count: usize,
        sticky_bytes_max: u64,
        rng: &mut impl Rng,
    ) -> Self {
        assert!(partition_count > 0);
        assert!(key_space > 0);
        Self {
            mode,
            key_space,
            zipf: (mode == KeyMode::Zipf).then(|| Zipf::new(key_space, zipf_exponent)),
            next_round_robin: 0,
            partition_count,
            sticky_partition: rng.gen_range(0..partition_count),
            sticky_bytes: 0,
            sticky_bytes_max: sticky_bytes_max.max(1),
        }
    }

    /// The next key rank (`None` for null keys).
    pub fn next_key(&mut self, rng: &mut impl Rng) -> Option<u64> {
        match self.mode {
            KeyMode::None => None,
            KeyMode::RoundRobin => {
                let key = self.next_round_robin;
                self.next_round_robin = (self.next_round_robin + 1) % self.key_space;
                Some(key)
            }
            KeyMode::Random => Some(rng.gen_range(0..self.key_space)),
            KeyMode::Zipf => self.zipf.as_ref().map(|zipf| zipf.sample(rng)),
        }
    }

    /// The partition index (into the topic's partition list) for a record
    /// with `key` (its bytes) and `record_bytes` of payload.
    pub fn partition(
        &mut self,
        key: Option<&[u8]>,
        record_bytes: u64,
        rng: &mut impl Rng,
    ) -> usize {
        if let Some(key) = key {
            return partition_for_key(key, self.partition_count);
        }
        if self.sticky_bytes >= self.sticky_bytes_max {
            self.sticky_bytes = 0;
            if self.partition_count > 1 {
                // Move to a different partition, uniformly among the others.
                let step = rng.gen_range(1..self.partition_count);
                self.sticky_partition = (self.sticky_partition + step) % self.partition_count;
            }
        }
        self.sticky_bytes += record_bytes;
        self.sticky_partition
    }
}

/// The bytes of key rank `rank`: its decimal digits, like `key-42`.
pub fn key_bytes(rank: u64, into: &mut Vec<u8>) {
    use std::io::Write;
    into.clear();
    // Writing into a Vec cannot fail.
    write!(into, "key-{rank}").expect("write to Vec");
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn zipf_rank_zero_is_hottest_and_frequencies_follow_the_law() {
        let zipf = Zipf::new(100, 1.0);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = [0u32; 100];
        for _ in 0..200_000 {
            counts[zipf.sample(&mut rng) as usize] += 1;
        }
        // P(0) / P(1) = 2 and P(0) / P(9) = 10 for s = 1.
        let ratio_1 = f64::from(counts[0]) / f64::from(counts[1]);
        let ratio_9 = f64::from(counts[0]) / f64::from(counts[9]);
        assert!((1.8..2.2).contains(&ratio_1), "{ratio_1}");
        assert!((8.5..11.5).contains(&ratio_9), "{ratio_9}");
        // H(100) ≈ 5.187, so P(0) ≈ 0.193.
        let share_0 = f64::from(counts[0]) / 200_000.0;
        assert!((0.18..0.205).contains(&share_0), "{share_0}");
    }

    #[test]
    fn round_robin_keys_cycle_through_the_key_space() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut chooser = KeyChooser::new(KeyMode::RoundRobin, 3, 1.0, 4, 100, &mut rng);
        let keys: Vec<Option<u64>> = (0..5).map(|_| chooser.next_key(&mut rng)).collect();
        assert_eq!(keys, vec![Some(0), Some(1), Some(2), Some(0), Some(1)]);
    }

    #[test]
    fn random_keys_cover_the_key_space_evenly() {
        let mut rng = SmallRng::seed_from_u64(3);
        let mut chooser = KeyChooser::new(KeyMode::Random, 10, 1.0, 1, 100, &mut rng);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[chooser.next_key(&mut rng).unwrap() as usize] += 1;
        }
        assert!(
            counts.iter().all(|count| (9_000..11_000).contains(count)),
            "{counts:?}"
        );
    }

    #[test]
    fn null_keys_stick_to_a_partition_for_a_batch_then_move() {
        let mut rng = SmallRng::seed_from_u64(5);
        let mut chooser = KeyChooser::new(KeyMode::None, 1, 1.0, 4, 300, &mut rng);
        let partitions: Vec<usize> = (0..6)
            .map(|_| chooser.partition(None, 100, &mut rng))
            .collect();
        assert_eq!(partitions[0], partitions[1]);
        assert_eq!(partitions[1], partitions[2]);
        assert_ne!(partitions[2], partitions[3]);
        assert_eq!(partitions[3], partitions[5]);
        assert_eq!(chooser.next_key(&mut rng), None);
    }

    #[test]
    fn keyed_records_use_the_default_partitioner() {
        let mut rng = SmallRng::seed_from_u64(5);
        let mut chooser = KeyChooser::new(KeyMode::Random, 10, 1.0, 16, 300, &mut rng);
        let mut key = Vec::new();
        key_bytes(42, &mut key);
        assert_eq!(key, b"key-42");
        let expected = partition_for_key(&key, 16);
        assert_eq!(chooser.partition(Some(&key), 100, &mut rng), expected);
        assert!(expected < 16);
    }
}
