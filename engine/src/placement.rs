//! Placement: which data shard owns a partition.
//!
//! `shard = mix(topic_id, partition) % data_shards`. The topic *id* (not its
//! name) is hashed, so a re-created topic may land elsewhere; the result is
//! stable across restarts for the same shard count because topic ids are
//! persisted in the metadata log.

/// Index of a shard: data shards are `0..data_shards`; the control shard comes
/// after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub usize);

/// The shard that owns `partition` of the topic `topic_id`, out of
/// `data_shards` data shards.
///
/// # Panics
/// If `data_shards` is zero (a broker always has at least one data shard).
pub fn owner_shard(topic_id: [u8; 16], partition: i32, data_shards: usize) -> ShardId {
    assert!(data_shards > 0, "a broker has at least one data shard");
    let high = u64::from_be_bytes(split_half(&topic_id, 0));
    let low = u64::from_be_bytes(split_half(&topic_id, 8));
    // Partition numbers are small and consecutive, so mix them through a
    // finaliser with good low bits rather than adding them to the topic hash.
    let key = fmix64(high ^ fmix64(low ^ fmix64(partition as u32 as u64)));
    let shard = (key % data_shards as u64) as usize;
    assert!(shard < data_shards);
    ShardId(shard)
}

fn split_half(bytes: &[u8; 16], start: usize) -> [u8; 8] {
    let mut half = [0u8; 8];
    half.copy_from_slice(&bytes[start..start + 8]);
    half
}

/// MurmurHash3's 64-bit finaliser: every input bit affects every output bit.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_is_deterministic_and_in_range() {
        let topic = [7u8; 16];
        for partition in 0..100 {
            let shard = owner_shard(topic, partition, 3);
            assert_eq!(shard, owner_shard(topic, partition, 3));
            assert!(shard.0 < 3);
        }
    }

    #[test]
    fn consecutive_partitions_spread_over_shards() {
        let topic = *b"0123456789abcdef";
        let mut counts = [0usize; 4];
        for partition in 0..400 {
            counts[owner_shard(topic, partition, 4).0] += 1;
        }
        for count in counts {
            assert!((60..=140).contains(&count), "unbalanced: {counts:?}");
        }
    }

    #[test]
    fn single_shard_owns_everything() {
        assert_eq!(owner_shard([1; 16], 5, 1), ShardId(0));
    }
}
