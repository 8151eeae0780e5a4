//! The throttle of a partition move, as Kafka's `kafka-reassign-partitions
//! --throttle` sets it and `--verify` removes it: the partition's current
//! replicas go into its topic's `leader.replication.throttled.replicas`
//! (they serve the new replicas) and the added replicas into
//! `follower.replication.throttled.replicas`, as `partition:broker`
//! entries kept beside the other partitions' entries.
//!
//! The rates are the brokers' `leader.replication.throttled.rate` and
//! `follower.replication.throttled.rate`, which are static broker
//! properties in Skein (Kafka's tool sets them as dynamic broker configs):
//! a move throttled on brokers that leave them at the default is not
//! slowed, and `throttle_move` names those brokers.
use anyhow::Context;

use super::brokers::Brokers;
use crate::client::{ConfigChange, ConfigResource};

/// The topic config listing the replicas leaders throttle.
pub const LEADER_THROTTLED_REPLICAS: &str = "leader.replication.throttled.replicas";
/// The topic config listing the replicas followers throttle.
pub const FOLLOWER_THROTTLED_REPLICAS: &str = "follower.replication.throttled.replicas";
const LEADER_RATE: &str = "leader.replication.throttled.rate";
const FOLLOWER_RATE: &str = "follower.replication.throttled.rate";
/// Kafka's default rate: unthrottled.
const UNBOUNDED_RATE: &str = "9223372036854775807";

/// What [`throttle_move`] set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ThrottledMove {
    /// The brokers whose replicas leaders throttle (the current replicas).
    pub leader_throttled: Vec<i32>,
    /// The brokers whose replicas followers throttle (the added replicas).
    pub follower_throttled: Vec<i32>,
    /// Involved brokers whose rate for their side is the default
    /// (unthrottled), so the move is not slowed there.
    pub unbounded_brokers: Vec<i32>,
}

/// `current` (a throttled-replicas list; empty when unset) with
/// `partition:broker` added for each of `brokers`, keeping its entries and
/// their order. `*` stays `*`.
pub fn with_replicas(current: &str, partition: i32, brokers: &[i32]) -> String {
    if current.trim() == "*" {
        return "*".to_owned();
    }
    let mut entries: Vec<String> = entries(current).map(str::to_owned).collect();
    for broker in brokers {
        let entry = format!("{partition}:{broker}");
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    }
    entries.join(",")
}

/// `current` without the entries of `partition` (`None`: nothing left, so
/// the config is to be removed). `*` stays `*`: it was not set per move.
pub fn without_partition(current: &str, partition: i32) -> Option<String> {
    if current.trim() == "*" {
        return Some("*".to_owned());
    }
    let kept: Vec<&str> = entries(current)
        .filter(|entry| {
            entry
                .split_once(':')
                .and_then(|(p, _)| p.trim().parse::<i32>().ok())
                != Some(partition)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join(","))
}

/// The non-empty, trimmed entries of a list.
fn entries(list: &str) -> impl Iterator<Item = &str> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
}

/// The topic's current value of each throttled-replicas list (empty when
/// unset).
fn current_lists(brokers: &mut Brokers, topic: &str) -> anyhow::Result<(String, String)> {
    let configs = brokers
        .bootstrap()
        .describe_configs(ConfigResource::Topic, topic)?;
    let value = |name: &str| {
        configs
            .iter()
            .find(|entry| entry.name == name)
            .and_then(|entry| entry.value.clone())
            .unwrap_or_default()
    };
    Ok((
        value(LEADER_THROTTLED_REPLICAS),
        value(FOLLOWER_THROTTLED_REPLICAS),
    ))
}

/// Throttles the move of `topic`'s `partition` to `target` before it
/// starts: its current replicas into the leader list, the replicas
/// `target` adds into the follower list.
///
/// # Errors
/// The metadata, DescribeConfigs or IncrementalAlterConfigs call failed.
pub fn throttle_move(
    brokers: &mut Brokers,
    topic: &str,
    partition: i32,
    target: &[i32],
) -> anyhow::Result<ThrottledMove> {
    let metadata = brokers.bootstrap().metadata(Some(&[topic]))?;
    let current: Vec<i32> = metadata
        .topics
        .get(topic)
        .and_then(|t| t.partitions.iter().find(|p| p.partition == partition))
        .map(|p| p.replicas.clone())
        .with_context(|| format!("metadata does not mention {topic}-{partition}"))?;
    let added: Vec<i32> = target
        .iter()
        .copied()
        .filter(|broker| !current.contains(broker))
        .collect();
    let (leader_list, follower_list) = current_lists(brokers, topic)?;
    brokers.bootstrap().alter_configs(
        ConfigResource::Topic,
        topic,
        &[
            ConfigChange::Set(
                LEADER_THROTTLED_REPLICAS.to_owned(),
                with_replicas(&leader_list, partition, &current),
            ),
            ConfigChange::Set(
                FOLLOWER_THROTTLED_REPLICAS.to_owned(),
                with_replicas(&follower_list, partition, &added),
            ),
        ],
    )?;
    // Best effort: a broker that does not answer is not named.
    let mut unbounded_brokers = Vec::new();
    let sides = current
        .iter()
        .map(|broker| (*broker, LEADER_RATE))
        .chain(added.iter().map(|broker| (*broker, FOLLOWER_RATE)));
    for (broker, rate) in sides {
        let Some(address) = metadata.brokers.get(&broker) else {
            continue;
        };
        let Ok(connection) = brokers.to(&address.to_address()) else {
            continue;
        };
        let Ok(configs) = connection.describe_configs(ConfigResource::Broker, &broker.to_string())
        else {
            continue;
        };
        let unbounded = configs
            .iter()
            .find(|entry| entry.name == rate)
            .is_none_or(|entry| entry.value.as_deref().is_none_or(|v| v == UNBOUNDED_RATE));
        if unbounded && !unbounded_brokers.contains(&broker) {
            unbounded_brokers.push(broker);
        }
    }
    Ok(ThrottledMove {
        leader_throttled: current,
        follower_throttled: added,
        unbounded_brokers,
    })
}

/// Removes `partition`'s entries from `topic`'s throttled-replicas lists
/// (a list left empty is removed), as Kafka's `--verify` does once a move
/// is complete.
///
/// # Errors
/// The DescribeConfigs or IncrementalAlterConfigs call failed.
pub fn clear_throttle(brokers: &mut Brokers, topic: &str, partition: i32) -> anyhow::Result<()> {
    let (leader_list, follower_list) = current_lists(brokers, topic)?;
    let change = |name: &str, list: &str| match without_partition(list, partition) {
        Some(kept) => ConfigChange::Set(name.to_owned(), kept),
        None => ConfigChange::Delete(name.to_owned()),
    };
    brokers.bootstrap().alter_configs(
        ConfigResource::Topic,
        topic,
        &[
            change(LEADER_THROTTLED_REPLICAS, &leader_list),
            change(FOLLOWER_THROTTLED_REPLICAS, &follower_list),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_adds_its_replicas_beside_the_other_partitions_entries() {
        assert_eq!(with_replicas("", 0, &[1, 2]), "0:1,0:2");
        assert_eq!(with_replicas("1:3, 0:1", 0, &[1, 2]), "1:3,0:1,0:2");
        assert_eq!(with_replicas("*", 0, &[1]), "*");
        assert_eq!(with_replicas("1:3", 0, &[]), "1:3");
    }

    #[test]
    fn a_finished_move_removes_only_its_partitions_entries() {
        assert_eq!(without_partition("0:1,1:3,0:2", 0), Some("1:3".to_owned()));
        assert_eq!(without_partition("0:1,0:2", 0), None);
        assert_eq!(without_partition("", 0), None);
        assert_eq!(without_partition("*", 0), Some("*".to_owned()));
    }
}
