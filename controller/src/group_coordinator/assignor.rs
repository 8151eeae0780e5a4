//! Server-side partition assignors of the consumer group protocol (KIP-848):
//! `uniform` (Kafka's `UniformAssignor`: balanced and sticky) and `range`
//! (Kafka's `RangeAssignor`: per topic, contiguous ranges in member-id order,
//! so co-partitioned topics line up).
//!
//! Both are pure functions of the members' subscriptions, the topics'
//! partition counts and (for `uniform`) the previous target assignment.
//! Invariants of every result: each partition of a subscribed topic is
//! assigned to exactly one member subscribed to its topic, and only such
//! partitions are assigned.

use std::collections::{BTreeMap, BTreeSet};

use crate::TopicId;

/// Partitions per topic id: a member's assignment.
pub type Assignment = BTreeMap<TopicId, BTreeSet<i32>>;

/// A server-side assignor, by Kafka's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConsumerAssignor {
    /// `uniform`: every member gets the same number of partitions (±1 where
    /// subscriptions are equal), moving as few partitions as possible.
    Uniform,
    /// `range`: per topic, each subscribed member gets a contiguous range.
    Range,
}

impl ConsumerAssignor {
    /// Kafka's name (`ConsumerGroupHeartbeat.ServerAssignor`).
    pub fn name(self) -> &'static str {
        match self {
            ConsumerAssignor::Uniform => "uniform",
            ConsumerAssignor::Range => "range",
        }
    }

    /// The assignor named `name`: its short name or Kafka's class name, as
    /// `group.consumer.assignors` accepts them; case-insensitive.
    pub fn from_name(name: &str) -> Option<ConsumerAssignor> {
        let name = name.trim();
        let is = |short: &str, class: &str| {
            name.eq_ignore_ascii_case(short) || name.eq_ignore_ascii_case(class)
        };
        if is(
            "uniform",
            "org.apache.kafka.coordinator.group.assignor.UniformAssignor",
        ) {
            Some(ConsumerAssignor::Uniform)
        } else if is(
            "range",
            "org.apache.kafka.coordinator.group.assignor.RangeAssignor",
        ) {
            Some(ConsumerAssignor::Range)
        } else {
            None
        }
    }

    /// The target assignment of every member in `subscriptions` (member id →
    /// subscribed topic ids), given each topic's partition count in
    /// `partitions` (topics missing there are ignored) and the previous
    /// target assignment `previous` (used by `uniform` to stay sticky).
    pub fn assign(
        self,
        subscriptions: &BTreeMap<String, BTreeSet<TopicId>>,
        partitions: &BTreeMap<TopicId, i32>,
        previous: &BTreeMap<String, Assignment>,
    ) -> BTreeMap<String, Assignment> {
        let result = match self {
            ConsumerAssignor::Uniform => assign_uniform(subscriptions, partitions, previous),
            ConsumerAssignor::Range => assign_range(subscriptions, partitions),
        };
        debug_assert!(is_complete(subscriptions, partitions, &result));
        result
    }
}

/// Whether `result` assigns every partition of every subscribed topic
/// exactly once, to a subscriber of its topic.
fn is_complete(
    subscriptions: &BTreeMap<String, BTreeSet<TopicId>>,
    partitions: &BTreeMap<TopicId, i32>,
    result: &BTreeMap<String, Assignment>,
) -> bool {
    let mut seen: BTreeSet<(TopicId, i32)> = BTreeSet::new();
    for (member, assignment) in result {
        for (topic, ps) in assignment {
            let subscribed = subscriptions.get(member).is_some_and(|s| s.contains(topic));
            if !subscribed {
                return false;
            }
            for p in ps {
                if !seen.insert((*topic, *p)) {
                    return false;
                }
            }
        }
    }
    let subscribed: BTreeSet<&TopicId> = subscriptions.values().flatten().collect();
    let expected: usize = subscribed
        .iter()
        .filter_map(|t| partitions.get(*t))
        .map(|n| usize::try_from(*n).unwrap_or(0))
        .sum();
    seen.len() == expected
}

fn assign_range(
    subscriptions: &BTreeMap<String, BTreeSet<TopicId>>,
    partitions: &BTreeMap<TopicId, i32>,
) -> BTreeMap<String, Assignment> {
    let mut result: BTreeMap<String, Assignment> = subscriptions
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    for (topic, count) in partitions {
        let members: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, topics)| topics.contains(topic))
            .map(|(m, _)| m)
            .collect();
        if members.is_empty() || *count <= 0 {
            continue;
        }
        let n = i32::try_from(members.len()).unwrap_or(i32::MAX);
        let (quota, extra) = (count / n, count % n);
        let mut start = 0;
        for (i, member) in members.into_iter().enumerate() {
            let i = i32::try_from(i).unwrap_or(i32::MAX);
            let len = quota + i32::from(i < extra);
            if len > 0 {
                if let Some(a) = result.get_mut(member) {
                    a.entry(*topic).or_default().extend(start..start + len);
                }
            }
            start += len;
        }
    }
    result
}

fn assign_uniform(
    subscriptions: &BTreeMap<String, BTreeSet<TopicId>>,
    partitions: &BTreeMap<TopicId, i32>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let mut owner: BTreeMap<(TopicId, i32), String> = BTreeMap::new();
    let mut load: BTreeMap<String, usize> = subscriptions.keys().map(|m| (m.clone(), 0)).collect();
    let subscribed = |member: &str, topic: &TopicId| {
        subscriptions
            .get(member)
            .is_some_and(|topics| topics.contains(topic))
    };
    let mut all: Vec<(TopicId, i32)> = Vec::new();
    for (topic, count) in partitions {
        if subscriptions.values().any(|t| t.contains(topic)) {
            all.extend((0..*count).map(|p| (*topic, p)));
        }
    }
    // The number each member may keep: an even share of what it can get.
    // With equal subscriptions this is ceil(total / members), so stickiness
    // never leaves the result unbalanced by more than one.
    let members = subscriptions.len().max(1);
    let keep_max = all.len().div_ceil(members);
    // 1. Sticky: keep previous partitions that are still valid, up to the
    // share.
    for (member, assignment) in previous {
        if !subscriptions.contains_key(member) {
            continue;
        }
        for (topic, ps) in assignment {
            for p in ps {
                let valid = partitions.get(topic).is_some_and(|n| p < n);
                let current = load.get(member).copied().unwrap_or(0);
                if valid
                    && subscribed(member, topic)
                    && current < keep_max
                    && !owner.contains_key(&(*topic, *p))
                {
                    owner.insert((*topic, *p), member.clone());
                    *load.entry(member.clone()).or_default() += 1;
                }
            }
        }
    }
    // 2. Everything else goes to the least-loaded subscriber (ties: member
    // id order, deterministic).
    for tp in &all {
        if owner.contains_key(tp) {
            continue;
        }
        let best = load
            .iter()
            .filter(|(m, _)| subscribed(m, &tp.0))
            .min_by_key(|(m, l)| (**l, (*m).clone()))
            .map(|(m, _)| m.clone());
        if let Some(best) = best {
            *load.entry(best.clone()).or_default() += 1;
            owner.insert(*tp, best);
        }
    }
    // 3. Balance: move a partition from a member to a subscriber holding
    // two or more fewer, until none can move. Each move lowers the sum of
    // squared loads, so this ends.
    loop {
        let mut moved = false;
        for tp in &all {
            let Some(from) = owner.get(tp).cloned() else {
                continue;
            };
            let from_load = load.get(&from).copied().unwrap_or(0);
            let to = load
                .iter()
                .filter(|(m, l)| **l + 2 <= from_load && subscribed(m, &tp.0))
                .min_by_key(|(m, l)| (**l, (*m).clone()))
                .map(|(m, _)| m.clone());
            if let Some(to) = to {
                *load.entry(from).or_default() -= 1;
                *load.entry(to.clone()).or_default() += 1;
                owner.insert(*tp, to);
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    let mut result: BTreeMap<String, Assignment> = subscriptions
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    for ((topic, p), member) in owner {
        if let Some(a) = result.get_mut(&member) {
            a.entry(topic).or_default().insert(p);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: TopicId = [1; 16];
    const T2: TopicId = [2; 16];

    fn subs(members: &[(&str, &[TopicId])]) -> BTreeMap<String, BTreeSet<TopicId>> {
        members
            .iter()
            .map(|(m, t)| (m.to_string(), t.iter().copied().collect()))
            .collect()
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    #[test]
    fn uniform_balances_equal_subscriptions_within_one() {
        let s = subs(&[("a", &[T1, T2]), ("b", &[T1, T2]), ("c", &[T1, T2])]);
        let p = BTreeMap::from([(T1, 5), (T2, 3)]);
        let r = ConsumerAssignor::Uniform.assign(&s, &p, &BTreeMap::new());
        let counts: Vec<usize> = r.values().map(count).collect();
        assert_eq!(counts.iter().sum::<usize>(), 8);
        assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1);
    }

    #[test]
    fn uniform_keeps_partitions_of_members_that_stay() {
        let p = BTreeMap::from([(T1, 6)]);
        let two = subs(&[("a", &[T1]), ("b", &[T1])]);
        let first = ConsumerAssignor::Uniform.assign(&two, &p, &BTreeMap::new());
        let three = subs(&[("a", &[T1]), ("b", &[T1]), ("c", &[T1])]);
        let second = ConsumerAssignor::Uniform.assign(&three, &p, &first);
        for m in ["a", "b"] {
            let kept = second[m][&T1].intersection(&first[m][&T1]).count();
            assert_eq!(kept, 2, "{m} keeps two of its three partitions");
        }
        assert_eq!(count(&second["c"]), 2);
    }

    #[test]
    fn uniform_gives_each_topic_only_to_its_subscribers() {
        let s = subs(&[("a", &[T1]), ("b", &[T2]), ("c", &[T1, T2])]);
        let p = BTreeMap::from([(T1, 4), (T2, 2)]);
        let r = ConsumerAssignor::Uniform.assign(&s, &p, &BTreeMap::new());
        assert!(!r["a"].contains_key(&T2));
        assert!(!r["b"].contains_key(&T1));
        assert_eq!(r.values().map(count).sum::<usize>(), 6);
        assert_eq!(r.values().map(count).max(), Some(2));
    }

    #[test]
    fn range_gives_contiguous_ranges_in_member_order() {
        let s = subs(&[("a", &[T1]), ("b", &[T1])]);
        let p = BTreeMap::from([(T1, 5)]);
        let r = ConsumerAssignor::Range.assign(&s, &p, &BTreeMap::new());
        assert_eq!(r["a"][&T1], BTreeSet::from([0, 1, 2]));
        assert_eq!(r["b"][&T1], BTreeSet::from([3, 4]));
    }

    #[test]
    fn assignor_names_accept_kafka_class_names() {
        assert_eq!(
            ConsumerAssignor::from_name(
                "org.apache.kafka.coordinator.group.assignor.RangeAssignor"
            ),
            Some(ConsumerAssignor::Range)
        );
        assert_eq!(
            ConsumerAssignor::from_name("UNIFORM"),
            Some(ConsumerAssignor::Uniform)
        );
        assert_eq!(ConsumerAssignor::from_name("sticky"), None);
    }
}
