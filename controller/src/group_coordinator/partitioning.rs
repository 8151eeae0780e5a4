//! Which `__consumer_offsets` partition holds a group: Kafka's rule,
//! `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`, bit for bit,
//! so a group lands on the same partition as on a Kafka broker.

/// The compacted topic holding committed offsets and group metadata.
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Java's `String.hashCode()`: `s[0]*31^(n-1) + … + s[n-1]` over UTF-16 code
/// units with wrapping 32-bit arithmetic. Characters outside the BMP count as
/// two code units (a surrogate pair), exactly as in Java.
pub fn java_string_hash_code(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Kafka's `Utils.abs`: `Math.abs` except that `i32::MIN` maps to 0 (where
/// Java's `Math.abs` would return `i32::MIN` itself). Note this is *not*
/// `n & 0x7fffffff` (that is `Utils.toPositive`, used by the producer's
/// partitioner): for -5 this returns 5, `toPositive` returns 2147483643.
pub fn kafka_abs(n: i32) -> i32 {
    if n == i32::MIN {
        0
    } else {
        n.abs()
    }
}

/// The `__consumer_offsets` partition that holds `group_id`'s offsets and
/// metadata, as Kafka computes it: `Utils.abs(groupId.hashCode()) %
/// partition_count`.
///
/// # Panics
/// If `partition_count` is 0 (the config's `validate` rejects that).
pub fn partition_for_group(group_id: &str, partition_count: u32) -> u32 {
    assert!(partition_count > 0, "partition_count must be positive");
    let hash = kafka_abs(java_string_hash_code(group_id)).unsigned_abs();
    hash % partition_count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_string_hashes_to_zero() {
        assert_eq!(java_string_hash_code(""), 0);
        assert_eq!(partition_for_group("", 50), 0);
    }

    #[test]
    fn hash_matches_java_for_known_strings() {
        // Values of "…".hashCode() in Java.
        assert_eq!(java_string_hash_code("a"), 97);
        assert_eq!(java_string_hash_code("abc"), 96_354);
        assert_eq!(java_string_hash_code("hello"), 99_162_322);
        assert_eq!(java_string_hash_code("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn non_bmp_characters_hash_as_surrogate_pairs() {
        // U+1F600 is the pair D83D DE00 in UTF-16: 0xD83D * 31 + 0xDE00.
        assert_eq!(java_string_hash_code("\u{1F600}"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn min_hash_maps_to_partition_zero() {
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE; Utils.abs → 0.
        assert_eq!(partition_for_group("polygenelubricants", 50), 0);
        assert_eq!(kafka_abs(i32::MIN), 0);
    }

    #[test]
    fn negative_hash_uses_absolute_value_not_mask() {
        assert_eq!(kafka_abs(-5), 5);
        // Java: "my-group".hashCode() == -1906497762; abs → 1906497762 → 12.
        assert_eq!(java_string_hash_code("my-group"), -1_906_497_762);
        assert_eq!(partition_for_group("my-group", 50), 12);
        // With `& 0x7fffffff` it would have been partition 36.
        assert_eq!((-1_906_497_762i32 & 0x7fff_ffff) % 50, 36);
    }

    #[test]
    fn known_groups_land_on_kafkas_partitions() {
        // Java: "test-group".hashCode() == 627841412.
        assert_eq!(java_string_hash_code("test-group"), 627_841_412);
        assert_eq!(partition_for_group("test-group", 50), 12);
        assert_eq!(partition_for_group("console-consumer-1", 50), 24);
        assert_eq!(partition_for_group("a", 50), 47);
    }
}
