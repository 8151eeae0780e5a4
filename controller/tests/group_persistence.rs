//! `__consumer_offsets` replay: the appended records rebuild the same
//! groups and offsets; loading and unloading partitions.

mod group_support;

use group_support::*;
use proptest::prelude::*;
use skein_controller::group_coordinator::*;

/// Everything a client can observe about the coordinator's groups.
#[derive(Debug, PartialEq)]
struct Observed {
    groups: Vec<ListedGroup>,
    described: Vec<DescribedGroup>,
    offsets: Vec<Vec<FetchedOffset>>,
}

fn observe(h: &mut Harness, extra_groups: &[&str]) -> Observed {
    let t = h.send(Request::ListGroups(ListGroups::default()));
    let Some(Response::ListGroups { result, groups }) = h.take(t) else {
        panic!("expected ListGroups");
    };
    result.unwrap();
    let mut ids: Vec<String> = groups.iter().map(|g| g.group_id.clone()).collect();
    ids.extend(extra_groups.iter().map(|g| (*g).to_owned()));
    let described: Vec<DescribedGroup> = ids.iter().map(|g| h.describe(g)).collect();
    let offsets: Vec<Vec<FetchedOffset>> = ids.iter().map(|g| h.fetch(g, None)).collect();
    // An empty generation-0 group without offsets (e.g. after OffsetDelete
    // removed its last offset) has nothing durable; Kafka drops it at the
    // next retention check, and a replay never creates it.
    let durable = |d: &DescribedGroup, o: &Vec<FetchedOffset>| d.generation_id > 0 || !o.is_empty();
    let keep: Vec<bool> = described
        .iter()
        .zip(&offsets)
        .map(|(d, o)| durable(d, o))
        .collect();
    let groups = groups
        .into_iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(g, _)| g)
        .collect();
    let described = described
        .into_iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(d, _)| d)
        .collect();
    let offsets = offsets
        .into_iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(o, _)| o)
        .collect();
    Observed {
        groups,
        described,
        offsets,
    }
}

/// A fresh coordinator that replayed `h`'s log.
fn replayed(h: &Harness) -> Harness {
    let mut fresh = Harness::new();
    fresh.now_ms = h.now_ms;
    for p in 0..50 {
        fresh
            .coordinator
            .load_partition(p, h.records_of(p), h.now_ms)
            .unwrap();
    }
    fresh
}

#[test]
fn replaying_the_log_rebuilds_identical_groups_and_offsets() {
    let mut h = Harness::new();
    h.commit_ok("simple", -1, "", &[("a", 0, 1), ("b", 3, 2)]);
    let t = h.send(Request::OffsetDelete(OffsetDelete {
        group_id: "simple".into(),
        partitions: vec![tp("a", 0)],
    }));
    h.take(t);
    let (solo, g) = h.stable_group("gone", 1);
    h.commit_ok("gone", g, &solo[0], &[("t", 0, 1)]);
    h.leave("gone", &solo[0]).unwrap();
    let t = h.send(Request::DeleteGroups(DeleteGroups {
        group_ids: vec!["gone".into()],
    }));
    h.take(t);
    let (left, g) = h.stable_group("emptied", 2);
    h.commit_ok("emptied", g, &left[0], &[("t", 2, 9)]);
    h.leave("emptied", &left[0]).unwrap();
    h.leave("emptied", &left[1]).unwrap();
    let (ids, generation) = h.stable_group("g1", 3);
    h.commit_ok("g1", generation, &ids[0], &[("t", 0, 5), ("t", 1, 6)]);
    h.commit_ok("g1", generation, &ids[1], &[("t", 0, 8)]);
    assert_eq!(h.state("g1"), Some(GroupState::Stable));

    let before = observe(&mut h, &["gone"]);
    let mut after_replay = replayed(&h);
    let after = observe(&mut after_replay, &["gone"]);
    assert_eq!(before, after);
    assert_eq!(
        after_replay.coordinator.group_generation("g1"),
        Some(generation)
    );
    assert_eq!(
        after_replay.coordinator.group_generation("emptied"),
        Some(g + 1)
    );
    assert_eq!(after_replay.state("gone"), None);
}

#[test]
fn replayed_members_keep_their_sessions_and_assignments() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 2);
    let mut r = replayed(&h);
    assert_eq!(r.heartbeat("g", generation, &ids[1]), Ok(()));
    let s = r.sync("g", generation, &ids[1], &[]);
    assert_eq!(
        r.sync_result(s).unwrap().assignment,
        bytes::Bytes::from(format!("assign-{}", ids[1]))
    );
    // ids[0] stays silent past its session: a rebalance starts.
    for _ in 0..3 {
        r.advance(4_000);
        let _ = r.heartbeat("g", generation, &ids[1]);
    }
    assert_eq!(r.state("g"), Some(GroupState::PreparingRebalance));
}

#[test]
fn replayed_static_member_restart_uses_the_persisted_member_id() {
    let mut h = Harness::new();
    let mut j = join("g", "", "c", &["range"]);
    j.group_instance_id = Some("i".into());
    let t = h.send(Request::JoinGroup(j.clone()));
    h.advance(3_000);
    let old = h.joined(t).member_id;
    let s = h.sync("g", 1, &old, &[(&old, "a")]);
    h.sync_result(s).unwrap();
    let t = h.send(Request::JoinGroup(j));
    let new = h.joined(t).member_id;
    let mut r = replayed(&h);
    assert_eq!(r.heartbeat_static("g", 1, &new, Some("i")), Ok(()));
    assert_eq!(
        r.heartbeat_static("g", 1, &old, Some("i")),
        Err(GroupError::FencedInstanceId)
    );
}

#[test]
fn requests_before_the_partition_is_loaded_get_load_in_progress() {
    let mut c = GroupCoordinator::new(GroupCoordinatorConfig::default(), 1);
    let actions = c.request(
        T0,
        RequestToken(1),
        Request::JoinGroup(join("g", "", "c", &["range"])),
    );
    assert_eq!(
        actions,
        vec![Action::Respond {
            token: RequestToken(1),
            response: Response::JoinGroup(Err(GroupError::CoordinatorLoadInProgress)),
        }]
    );
    let actions = c.request(
        T0,
        RequestToken(2),
        Request::ListGroups(ListGroups::default()),
    );
    assert!(matches!(
        &actions[0],
        Action::Respond {
            response: Response::ListGroups {
                result: Err(GroupError::CoordinatorLoadInProgress),
                ..
            },
            ..
        }
    ));
}

#[test]
fn unloading_a_partition_answers_parked_joins_with_not_coordinator() {
    let mut h = Harness::new();
    let t = h.join("g", "", "c", &["range"]);
    let actions = h
        .coordinator
        .unload_partition(partition_for_group("g", 50))
        .unwrap();
    h.apply(actions);
    assert_eq!(h.join_result(t), Err(GroupError::NotCoordinator));
    assert_eq!(h.heartbeat("g", 0, "x"), Err(GroupError::NotCoordinator));
    assert_eq!(h.state("g"), None);
}

#[test]
fn corrupt_record_fails_the_load() {
    let mut c = GroupCoordinator::new(GroupCoordinatorConfig::default(), 1);
    let key = RecordKey::GroupMetadata {
        group_id: "g".into(),
    }
    .encode();
    let err = c
        .load_partition(
            partition_for_group("g", 50),
            vec![OffsetsRecord {
                key,
                value: Some(bytes::Bytes::from_static(&[0, 3, 0])),
            }],
            T0,
        )
        .unwrap_err();
    assert!(matches!(err, LoadError::Record { .. }));
    assert!(c.load_partition(50, Vec::new(), T0).is_err());
}

#[derive(Debug, Clone)]
enum Op {
    Commit {
        group: usize,
        topic: usize,
        partition: i32,
        offset: i64,
    },
    DeleteOffset {
        group: usize,
        topic: usize,
        partition: i32,
    },
    DeleteGroup {
        group: usize,
    },
    Advance {
        days: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..4usize, 0..2usize, 0..3i32, 0..1000i64)
            .prop_map(|(group, topic, partition, offset)| Op::Commit { group, topic, partition, offset }),
        2 => (0..4usize, 0..2usize, 0..3i32)
            .prop_map(|(group, topic, partition)| Op::DeleteOffset { group, topic, partition }),
        1 => (0..4usize).prop_map(|group| Op::DeleteGroup { group }),
        1 => (1..4i64).prop_map(|days| Op::Advance { days }),
    ]
}

const GROUPS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];
const TOPICS: [&str; 2] = ["x", "y"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replay_of_any_offset_history_rebuilds_the_same_offsets(ops in proptest::collection::vec(op(), 1..40)) {
        let mut h = Harness::new();
        for op in ops {
            match op {
                Op::Commit { group, topic, partition, offset } => {
                    h.commit_ok(GROUPS[group], -1, "", &[(TOPICS[topic], partition, offset)]);
                }
                Op::DeleteOffset { group, topic, partition } => {
                    let t = h.send(Request::OffsetDelete(OffsetDelete {
                        group_id: GROUPS[group].into(),
                        partitions: vec![tp(TOPICS[topic], partition)],
                    }));
                    h.take(t);
                }
                Op::DeleteGroup { group } => {
                    let t = h.send(Request::DeleteGroups(DeleteGroups { group_ids: vec![GROUPS[group].into()] }));
                    h.take(t);
                }
                Op::Advance { days } => h.advance(days * 24 * 60 * 60 * 1000),
            }
        }
        let before = observe(&mut h, &GROUPS);
        let mut r = replayed(&h);
        let after = observe(&mut r, &GROUPS);
        prop_assert_eq!(before, after);
    }
}

#[test]
fn reloading_a_partition_serves_load_in_progress_then_the_replayed_groups() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 1);
    let partition = partition_for_group("g", 50);
    let parked = h.join("g", "", "late", &["range"]);
    let actions = h.coordinator.begin_load(partition).unwrap();
    h.apply(actions);
    assert_eq!(
        h.join_result(parked),
        Err(GroupError::CoordinatorLoadInProgress)
    );
    assert_eq!(
        h.heartbeat("g", generation, &ids[0]),
        Err(GroupError::CoordinatorLoadInProgress)
    );
    let records = h.records_of(partition);
    let now = h.now_ms;
    h.coordinator
        .load_partition(partition, records, now)
        .unwrap();
    assert_eq!(h.state("g"), Some(GroupState::Stable));
    assert_eq!(h.heartbeat("g", generation, &ids[0]), Ok(()));
}

/// The groups ListGroups returns, by id, and its error.
fn listed(h: &mut Harness) -> (Result<(), GroupError>, Vec<String>) {
    let t = h.send(Request::ListGroups(ListGroups::default()));
    let Some(Response::ListGroups { result, groups }) = h.take(t) else {
        panic!("expected ListGroups");
    };
    (result, groups.into_iter().map(|g| g.group_id).collect())
}

fn fetch_result(h: &mut Harness, group: &str) -> Result<Vec<FetchedOffset>, GroupError> {
    let t = h.send(Request::OffsetFetch(OffsetFetch {
        member: None,
        group_id: group.into(),
        partitions: None,
        require_stable: false,
    }));
    match h.take(t) {
        Some(Response::OffsetFetch(result)) => result,
        other => panic!("expected an OffsetFetch response, got {other:?}"),
    }
}

#[test]
fn partition_lost_then_regained_reloads_its_committed_offsets_from_the_log() {
    // "my-group" lives in partition 12, "a" in 47.
    let mut h = Harness::new();
    let lost = partition_for_group("my-group", 50);
    assert_ne!(lost, partition_for_group("a", 50));
    h.commit_ok("my-group", -1, "", &[("t", 0, 17), ("t", 1, 4)]);
    h.commit_ok("a", -1, "", &[("t", 0, 3)]);
    let before = h.fetch("my-group", None);

    let actions = h.coordinator.unload_partition(lost).unwrap();
    h.apply(actions);
    assert_eq!(
        fetch_result(&mut h, "my-group"),
        Err(GroupError::NotCoordinator)
    );
    assert_eq!(h.state("my-group"), None);
    assert_eq!(h.fetch("a", None).len(), 1);

    let actions = h.coordinator.begin_load(lost).unwrap();
    h.apply(actions);
    assert_eq!(
        fetch_result(&mut h, "my-group"),
        Err(GroupError::CoordinatorLoadInProgress)
    );
    let records = h.records_of(lost);
    let now = h.now_ms;
    h.coordinator.load_partition(lost, records, now).unwrap();
    assert_eq!(h.fetch("my-group", None), before);
    assert_eq!(before.len(), 2);
}

#[test]
fn list_groups_lists_only_the_groups_of_partitions_held_here() {
    let mut h = Harness::new();
    h.commit_ok("my-group", -1, "", &[("t", 0, 1)]);
    h.commit_ok("a", -1, "", &[("t", 0, 1)]);
    let actions = h
        .coordinator
        .unload_partition(partition_for_group("my-group", 50))
        .unwrap();
    h.apply(actions);
    // A partition led elsewhere is not loading: the listing is complete.
    assert_eq!(listed(&mut h), (Ok(()), vec!["a".to_owned()]));
    let described = h.describe("my-group");
    assert_eq!(described.result, Err(GroupError::NotCoordinator));
}

#[test]
fn resignation_answers_a_parked_sync_group_with_not_coordinator() {
    let mut h = Harness::new();
    let first = h.join("g", "", "c0", &["range"]);
    let second = h.join("g", "", "c1", &["range"]);
    h.advance(6_000);
    let leader = h.joined(first);
    let follower = h.joined(second);
    let follower_id = if leader.leader == leader.member_id {
        follower.member_id
    } else {
        leader.member_id
    };
    let parked = h.sync("g", leader.generation_id, &follower_id, &[]);
    assert!(h.is_pending(parked));
    let actions = h
        .coordinator
        .unload_partition(partition_for_group("g", 50))
        .unwrap();
    h.apply(actions);
    assert_eq!(h.sync_result(parked), Err(GroupError::NotCoordinator));
}
