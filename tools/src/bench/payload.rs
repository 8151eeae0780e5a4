//! Record values. Payload bytes are random uppercase letters (as Kafka's
//! `kafka-producer-perf-test` uses), so compression has something to do
//! but far from everything. For end-to-end runs the first 12 bytes of a
//! value are a stamp: the magic `SKBN` and the record's intended send time
//! in microseconds since the UNIX epoch (big-endian), which a consumer in
//! any process on the same host can read back.
use bytes::{BufMut, Bytes, BytesMut};
use rand::Rng;

/// Magic that opens a stamped value.
pub const STAMP_MAGIC: &[u8; 4] = b"SKBN";

/// Bytes of a stamp.
pub const STAMP_BYTES: usize = 12;

/// A pool of random payload bytes that values are sliced from, so
/// producing a record copies nothing.
#[derive(Debug, Clone)]
pub struct PayloadPool {
    bytes: Bytes,
    value_bytes_max: usize,
}

impl PayloadPool {
    /// A pool for values of up to `value_bytes_max` bytes.
    pub fn new(value_bytes_max: usize, rng: &mut impl Rng) -> Self {
        let len = value_bytes_max + (1 << 20);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen_range(b'A'..=b'Z')).collect();
        Self {
            bytes: Bytes::from(bytes),
            value_bytes_max,
        }
    }

    /// A value of `size` (≤ the pool's maximum) bytes; stamped with
    /// `stamp_unix_us` if given and `size` has room for a stamp.
    ///
    /// # Panics
    /// If `size` exceeds the pool's maximum.
    pub fn value(&self, size: usize, stamp_unix_us: Option<u64>, rng: &mut impl Rng) -> Bytes {
        assert!(size <= self.value_bytes_max);
        let start = rng.gen_range(0..=self.bytes.len() - size);
        let payload = self.bytes.slice(start..start + size);
        match stamp_unix_us {
            Some(unix_us) if size >= STAMP_BYTES => {
                let mut value = BytesMut::with_capacity(size);
                value.put_slice(STAMP_MAGIC);
                value.put_u64(unix_us);
                value.put_slice(&payload[STAMP_BYTES..]);
                value.freeze()
            }
            _ => payload,
        }
    }
}

/// The stamp in `value`, if it has one.
pub fn read_stamp(value: &[u8]) -> Option<u64> {
    let stamp = value.get(..STAMP_BYTES)?;
    if &stamp[..4] != STAMP_MAGIC {
        return None;
    }
    let mut unix_us = [0; 8];
    unix_us.copy_from_slice(&stamp[4..]);
    Some(u64::from_be_bytes(unix_us))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn stamped_values_keep_their_size_and_read_back() {
        let mut rng = SmallRng::seed_from_u64(1);
        let pool = PayloadPool::new(1000, &mut rng);
        let value = pool.value(100, Some(1_700_000_000_123_456), &mut rng);
        assert_eq!(value.len(), 100);
        assert_eq!(read_stamp(&value), Some(1_700_000_000_123_456));
    }

    #[test]
    fn unstamped_and_short_values_have_no_stamp() {
        let mut rng = SmallRng::seed_from_u64(2);
        let pool = PayloadPool::new(1000, &mut rng);
        assert_eq!(read_stamp(&pool.value(100, None, &mut rng)), None);
        let short = pool.value(8, Some(5), &mut rng);
        assert_eq!(short.len(), 8);
        assert_eq!(read_stamp(&short), None);
        assert!(short.iter().all(u8::is_ascii_uppercase));
    }
}
