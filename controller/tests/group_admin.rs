//! DescribeGroups, ListGroups and DeleteGroups.

mod group_support;

use group_support::*;
use skein_controller::group_coordinator::*;

fn delete(h: &mut Harness, groups: &[&str]) -> Vec<(String, Result<(), GroupError>)> {
    let t = h.send(Request::DeleteGroups(DeleteGroups {
        group_ids: groups.iter().map(|g| (*g).to_owned()).collect(),
    }));
    match h.take(t) {
        Some(Response::DeleteGroups(r)) => r,
        other => panic!("expected DeleteGroups, got {other:?}"),
    }
}

fn list(h: &mut Harness, states: &[GroupState]) -> Vec<(String, GroupState)> {
    let t = h.send(Request::ListGroups(ListGroups {
        states_filter: states.iter().map(|s| s.kafka_name().to_owned()).collect(),
        types_filter: Vec::new(),
    }));
    match h.take(t) {
        Some(Response::ListGroups {
            result: Ok(()),
            groups,
        }) => groups.into_iter().map(|g| (g.group_id, g.state)).collect(),
        other => panic!("expected ListGroups, got {other:?}"),
    }
}

#[test]
fn delete_groups_refuses_non_empty_and_deletes_empty_groups() {
    let mut h = Harness::new();
    h.stable_group("busy", 1);
    h.commit_ok("idle", -1, "", &[("t", 0, 3)]);
    let r = delete(&mut h, &["busy", "idle", "missing"]);
    assert_eq!(r[0], ("busy".into(), Err(GroupError::NonEmptyGroup)));
    assert_eq!(r[1], ("idle".into(), Ok(())));
    assert_eq!(r[2], ("missing".into(), Err(GroupError::GroupIdNotFound)));
    assert_eq!(h.state("idle"), None);
    assert_eq!(h.fetch("idle", Some(vec![tp("t", 0)]))[0].offset, -1);
    let (_, tombstone) = h.log.last().unwrap();
    assert_eq!(tombstone.value, None);
}

#[test]
fn deleting_a_formerly_managed_group_tombstones_its_metadata() {
    let mut h = Harness::new();
    let (ids, _) = h.stable_group("g", 1);
    h.leave("g", &ids[0]).unwrap();
    assert_eq!(delete(&mut h, &["g"])[0].1, Ok(()));
    let key = RecordKey::GroupMetadata {
        group_id: "g".into(),
    }
    .encode();
    let (_, last) = h.log.last().unwrap();
    assert_eq!((last.key.clone(), last.value.clone()), (key, None));
}

#[test]
fn list_groups_filters_by_state() {
    let mut h = Harness::new();
    h.stable_group("stable", 1);
    h.commit_ok("empty", -1, "", &[("t", 0, 1)]);
    h.join("joining", "", "c", &["range"]);
    let all = list(&mut h, &[]);
    assert_eq!(all.len(), 3);
    assert_eq!(
        list(&mut h, &[GroupState::Stable]),
        vec![("stable".into(), GroupState::Stable)]
    );
    assert_eq!(
        list(&mut h, &[GroupState::Empty, GroupState::PreparingRebalance]),
        vec![
            ("empty".into(), GroupState::Empty),
            ("joining".into(), GroupState::PreparingRebalance)
        ]
    );
    assert_eq!(list(&mut h, &[GroupState::Dead]), vec![]);
}

#[test]
fn describe_stable_group_shows_protocol_members_metadata_and_assignment() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 2);
    let d = h.describe("g");
    assert!(d.exists);
    assert_eq!(d.result, Ok(()));
    assert_eq!(d.state, GroupState::Stable);
    assert_eq!(d.state.kafka_name(), "Stable");
    assert_eq!(d.protocol_type, "consumer");
    assert_eq!(d.protocol_name, "range");
    assert_eq!(d.generation_id, generation);
    assert_eq!(d.leader, ids[0]);
    assert_eq!(d.members.len(), 2);
    assert_eq!(d.members[1].member_id, ids[1]);
    assert_eq!(d.members[1].client_id, "client-1");
    assert_eq!(d.members[1].client_host, "/127.0.0.1");
    assert_eq!(d.members[1].metadata, subscription(&["t"]));
    assert_eq!(
        d.members[1].assignment,
        format!("assign-{}", ids[1]).into_bytes()
    );
}

#[test]
fn describe_rebalancing_group_hides_protocol_and_assignments() {
    let mut h = Harness::new();
    let (ids, _) = h.stable_group("g", 2);
    h.join("g", &ids[0], "client-0", &["range"]);
    let d = h.describe("g");
    assert_eq!(d.state, GroupState::PreparingRebalance);
    assert_eq!(d.protocol_name, "");
    assert!(d
        .members
        .iter()
        .all(|m| m.metadata.is_empty() && m.assignment.is_empty()));
}

#[test]
fn describe_missing_group_is_dead() {
    let mut h = Harness::new();
    let d = h.describe("nope");
    assert!(!d.exists);
    assert_eq!(d.result, Ok(()));
    assert_eq!(d.state, GroupState::Dead);
    assert!(d.members.is_empty());
}
