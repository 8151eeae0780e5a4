//! Replica placement: which brokers hold each new partition. Round robin
//! over the usable brokers (registered, unfenced, not shutting down) from a
//! random start, each partition's followers shifted so leaders and
//! followers both spread; with racks, the broker list alternates racks and
//! each partition's replicas take every rack once before any rack twice.
//! Kafka's replica assignment (`AdminUtils.assignReplicasToBrokers`, rack
//! aware and not), which its `StripedReplicaPlacer` refines.
//!
//! The randomness comes from a seed the caller draws (the topic id, itself
//! random), so a placement is reproducible in tests and simulations.
//!
//! Invariant: every placement has `replication_factor` distinct brokers, and
//! its first (the preferred leader) cycles through all brokers.

use std::collections::{BTreeMap, BTreeSet};

/// A broker that may take new replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UsableBroker {
    pub broker_id: i32,
    pub rack: Option<String>,
}

/// The replicas of partitions `first_partition..first_partition + count`,
/// `replication_factor` each, over `brokers`.
///
/// # Panics
/// If `replication_factor` is 0 or more than the brokers (the caller
/// refuses that with INVALID_REPLICATION_FACTOR), or brokers repeat.
pub(super) fn place(
    brokers: &[UsableBroker],
    first_partition: i32,
    count: i32,
    replication_factor: usize,
    seed: u64,
) -> Vec<Vec<i32>> {
    assert!(replication_factor >= 1, "a partition has a replica");
    assert!(replication_factor <= brokers.len(), "checked by the caller");
    assert!(first_partition >= 0 && count >= 0);
    let arranged = rack_alternated(brokers);
    let n = arranged.len();
    let rack_count = arranged
        .iter()
        .map(|(_, rack)| *rack)
        .collect::<BTreeSet<_>>()
        .len();
    let rack_aware = brokers.iter().any(|broker| broker.rack.is_some());
    let start_index = (seed % n as u64) as usize;
    let mut replica_shift = ((seed >> 32) % n as u64) as usize;
    let mut placements = Vec::new();
    for partition in first_partition..first_partition.saturating_add(count) {
        let partition = partition as usize;
        if partition > 0 && partition.is_multiple_of(n) {
            replica_shift += 1;
        }
        let first = (partition + start_index) % n;
        let mut replicas = vec![arranged[first].0];
        let mut racks = BTreeSet::from([arranged[first].1]);
        let mut k = 0;
        while replicas.len() < replication_factor {
            // `n - 1` candidates (every broker but the first) come round
            // each cycle: a full cycle without a pick cannot happen, since a
            // broker not yet chosen is always acceptable once every rack
            // holds a replica.
            assert!(k < 2 * n * replication_factor, "placement makes progress");
            let shift = if rack_aware {
                replica_shift * rack_count
            } else {
                replica_shift
            };
            let (broker, rack) = arranged[replica_index(first, shift, k, n)];
            k += 1;
            let new_rack = !racks.contains(rack) || racks.len() == rack_count;
            if replicas.contains(&broker) || (rack_aware && !new_rack) {
                continue;
            }
            replicas.push(broker);
            racks.insert(rack);
        }
        placements.push(replicas);
    }
    placements
}

/// The follower position `k` of a partition whose leader is at `first`.
fn replica_index(first: usize, shift: usize, k: usize, n: usize) -> usize {
    assert!(n >= 2, "followers need a second broker");
    let offset = 1 + (shift + k) % (n - 1);
    (first + offset) % n
}

/// The brokers ordered so that racks alternate (rack a, rack b, rack c,
/// rack a, …), each rack's brokers by id; a broker without a rack counts as
/// rack "".
fn rack_alternated(brokers: &[UsableBroker]) -> Vec<(i32, &str)> {
    let mut by_rack: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for broker in brokers {
        by_rack
            .entry(broker.rack.as_deref().unwrap_or(""))
            .or_default()
            .push(broker.broker_id);
    }
    for ids in by_rack.values_mut() {
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "usable brokers are distinct");
    }
    let mut arranged = Vec::with_capacity(brokers.len());
    let longest = by_rack.values().map(Vec::len).max().unwrap_or(0);
    for index in 0..longest {
        for (rack, ids) in &by_rack {
            if let Some(id) = ids.get(index) {
                arranged.push((*id, *rack));
            }
        }
    }
    arranged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers(racks: &[Option<&str>]) -> Vec<UsableBroker> {
        racks
            .iter()
            .enumerate()
            .map(|(id, rack)| UsableBroker {
                broker_id: id as i32 + 1,
                rack: rack.map(str::to_owned),
            })
            .collect()
    }

    #[test]
    fn replicas_are_distinct_and_leaders_spread_evenly() {
        let brokers = brokers(&[None, None, None]);
        for seed in 0..20 {
            let placements = place(&brokers, 0, 6, 3, seed);
            let mut leaders = BTreeMap::new();
            for replicas in &placements {
                let distinct: BTreeSet<_> = replicas.iter().collect();
                assert_eq!(distinct.len(), 3);
                *leaders.entry(replicas[0]).or_insert(0) += 1;
            }
            assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
        }
    }

    #[test]
    fn placement_is_round_robin_from_the_seeded_start() {
        let brokers = brokers(&[None, None, None, None]);
        let placements = place(&brokers, 0, 4, 2, 1);
        // Start index 1, shift 0: leaders 2, 3, 4, 1; each follower next.
        assert_eq!(
            placements,
            vec![vec![2, 3], vec![3, 4], vec![4, 1], vec![1, 2]]
        );
    }

    #[test]
    fn racks_are_spread_before_any_repeats() {
        let brokers = brokers(&[
            Some("a"),
            Some("a"),
            Some("b"),
            Some("b"),
            Some("c"),
            Some("c"),
        ]);
        for seed in 0..50 {
            for replicas in place(&brokers, 0, 12, 3, seed) {
                let racks: BTreeSet<_> = replicas
                    .iter()
                    .map(|id| brokers[*id as usize - 1].rack.clone())
                    .collect();
                assert_eq!(racks.len(), 3, "{replicas:?}");
            }
        }
    }

    #[test]
    fn more_replicas_than_racks_still_places_distinct_brokers() {
        let brokers = brokers(&[Some("a"), Some("a"), Some("b")]);
        for seed in 0..20 {
            for replicas in place(&brokers, 0, 5, 3, seed) {
                let distinct: BTreeSet<_> = replicas.iter().collect();
                assert_eq!(distinct.len(), 3);
            }
        }
    }

    #[test]
    fn added_partitions_continue_the_stripe() {
        let brokers = brokers(&[None, None, None]);
        let all = place(&brokers, 0, 5, 2, 7);
        let tail = place(&brokers, 3, 2, 2, 7);
        assert_eq!(&all[3..], &tail[..]);
    }
}
