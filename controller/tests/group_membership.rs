//! Rebalance protocol: joins, syncs, leaves, expiries, static membership.

mod group_support;

use group_support::*;
use skein_controller::group_coordinator::*;

#[test]
fn three_members_join_one_generation_with_one_leader_and_voted_protocol() {
    let mut h = Harness::new();
    let t1 = h.join("g", "", "c1", &["range", "roundrobin"]);
    let t2 = h.join("g", "", "c2", &["range", "roundrobin"]);
    let t3 = h.join("g", "", "c3", &["roundrobin", "range"]);
    assert_eq!(h.state("g"), Some(GroupState::PreparingRebalance));
    // The first rebalance of an empty group waits
    // group.initial.rebalance.delay.ms, and one more delay because members
    // kept arriving during the first.
    h.advance(5_999);
    assert!(h.is_pending(t1) && h.is_pending(t2) && h.is_pending(t3));
    h.advance(1);
    let (j1, j2, j3) = (h.joined(t1), h.joined(t2), h.joined(t3));
    assert_eq!(h.state("g"), Some(GroupState::CompletingRebalance));
    for j in [&j1, &j2, &j3] {
        assert_eq!(j.generation_id, 1);
        assert_eq!(j.leader, j1.member_id);
        assert_eq!(j.protocol_name.as_deref(), Some("range"));
        assert_eq!(j.protocol_type.as_deref(), Some("consumer"));
    }
    assert!(j1.member_id.starts_with("c1-"));
    assert_eq!(j1.members.len(), 3);
    assert!(j2.members.is_empty() && j3.members.is_empty());
}

#[test]
fn protocol_must_be_supported_by_every_member() {
    let mut h = Harness::new();
    let t1 = h.join("g", "", "c1", &["range", "roundrobin"]);
    let t2 = h.join("g", "", "c2", &["roundrobin"]);
    let t3 = h.join("g", "", "c3", &["sticky"]);
    assert_eq!(
        h.join_result(t3),
        Err(GroupError::InconsistentGroupProtocol)
    );
    h.advance(6_000);
    assert_eq!(h.joined(t1).protocol_name.as_deref(), Some("roundrobin"));
    assert_eq!(h.joined(t2).protocol_name.as_deref(), Some("roundrobin"));
}

#[test]
fn different_protocol_type_is_inconsistent() {
    let mut h = Harness::new();
    h.join("g", "", "c1", &["range"]);
    let mut other = join("g", "", "c2", &["range"]);
    other.protocol_type = "connect".into();
    let t = h.send(Request::JoinGroup(other));
    assert_eq!(h.join_result(t), Err(GroupError::InconsistentGroupProtocol));
}

#[test]
fn initial_delay_extends_while_new_members_arrive() {
    let mut h = Harness::new();
    let t1 = h.join("g", "", "c1", &["range"]);
    h.advance(2_000);
    let t2 = h.join("g", "", "c2", &["range"]);
    h.advance(1_000);
    // A member arrived during the first delay: wait another delay.
    assert!(h.is_pending(t1));
    h.advance(3_000);
    assert_eq!(h.joined(t1).generation_id, 1);
    assert_eq!(h.joined(t2).generation_id, 1);
}

#[test]
fn sync_relays_the_leaders_assignment_to_every_member() {
    let mut h = Harness::new();
    let mut h_single = Harness::new();
    assert_eq!(h_single.stable_group("g", 1).1, 1);
    let tokens: Vec<_> = (0..3)
        .map(|i| h.join("g", "", &format!("c{i}"), &["range"]))
        .collect();
    h.advance(6_000);
    let members: Vec<String> = tokens.into_iter().map(|t| h.joined(t).member_id).collect();
    // Followers sync first and wait for the leader.
    let f1 = h.sync("g", 1, &members[1], &[]);
    let f2 = h.sync("g", 1, &members[2], &[]);
    assert!(h.is_pending(f1) && h.is_pending(f2));
    h.auto_persist = false;
    let leader = h.sync(
        "g",
        1,
        &members[0],
        &[
            (&members[0], "p0"),
            (&members[1], "p1"),
            (&members[2], "p2"),
        ],
    );
    // Nothing is answered until the group record is durable.
    assert!(h.is_pending(leader) && h.is_pending(f1));
    assert_eq!(h.queued.len(), 1);
    h.complete_persists(Ok(()));
    assert_eq!(&h.sync_result(leader).unwrap().assignment[..], b"p0");
    assert_eq!(&h.sync_result(f1).unwrap().assignment[..], b"p1");
    let r2 = h.sync_result(f2).unwrap();
    assert_eq!(&r2.assignment[..], b"p2");
    assert_eq!(r2.protocol_name.as_deref(), Some("range"));
    assert_eq!(h.state("g"), Some(GroupState::Stable));
    // A late SyncGroup in Stable gets the stored assignment at once.
    let again = h.sync("g", 1, &members[1], &[]);
    assert_eq!(&h.sync_result(again).unwrap().assignment[..], b"p1");
}

#[test]
fn failed_assignment_append_fails_syncs_and_rebalances() {
    let mut h = Harness::new();
    let t1 = h.join("g", "", "c1", &["range"]);
    let t2 = h.join("g", "", "c2", &["range"]);
    h.advance(6_000);
    let (m1, m2) = (h.joined(t1).member_id, h.joined(t2).member_id);
    h.auto_persist = false;
    let s2 = h.sync("g", 1, &m2, &[]);
    let s1 = h.sync("g", 1, &m1, &[(&m1, "a"), (&m2, "b")]);
    h.complete_persists(Err(AppendError::NotLeader));
    assert_eq!(h.sync_result(s1), Err(GroupError::NotCoordinator));
    assert_eq!(h.sync_result(s2), Err(GroupError::NotCoordinator));
    assert_eq!(h.state("g"), Some(GroupState::PreparingRebalance));
}

#[test]
fn sync_errors_for_wrong_generation_unknown_member_and_rebalance() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 2);
    let t = h.sync("g", generation + 1, &ids[0], &[]);
    assert_eq!(h.sync_result(t), Err(GroupError::IllegalGeneration));
    let t = h.sync("g", generation, "nobody", &[]);
    assert_eq!(h.sync_result(t), Err(GroupError::UnknownMemberId));
    // The leader rejoins: rebalance, and a SyncGroup now is too early.
    let j = h.join("g", &ids[0], "client-0", &["range"]);
    assert!(h.is_pending(j));
    let t = h.sync("g", generation, &ids[1], &[]);
    assert_eq!(h.sync_result(t), Err(GroupError::RebalanceInProgress));
}

#[test]
fn member_leave_rebalances_and_remaining_members_get_a_new_generation() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 3);
    let left = h.leave("g", &ids[2]).unwrap();
    assert_eq!(left[0].result, Ok(()));
    assert_eq!(h.state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(
        h.heartbeat("g", generation, &ids[0]),
        Err(GroupError::RebalanceInProgress)
    );
    let j0 = h.join("g", &ids[0], "client-0", &["range"]);
    assert!(h.is_pending(j0));
    let j1 = h.join("g", &ids[1], "client-1", &["range"]);
    // Everyone rejoined: the join phase completes without waiting.
    let (r0, r1) = (h.joined(j0), h.joined(j1));
    assert_eq!(r0.generation_id, generation + 1);
    assert_eq!(r1.generation_id, generation + 1);
    assert_eq!(r0.members.len(), 2);
    let s1 = h.sync("g", generation + 1, &ids[1], &[]);
    let s0 = h.sync(
        "g",
        generation + 1,
        &ids[0],
        &[(&ids[0], "x"), (&ids[1], "y")],
    );
    assert_eq!(&h.sync_result(s1).unwrap().assignment[..], b"y");
    assert_eq!(&h.sync_result(s0).unwrap().assignment[..], b"x");
    assert_eq!(h.state("g"), Some(GroupState::Stable));
    assert_eq!(h.heartbeat("g", generation + 1, &ids[0]), Ok(()));
}

#[test]
fn last_member_leaving_empties_the_group_and_stores_it() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 1);
    h.leave("g", &ids[0]).unwrap();
    assert_eq!(h.state("g"), Some(GroupState::Empty));
    assert_eq!(h.coordinator.group_generation("g"), Some(generation + 1));
    let (_, last) = h.log.last().unwrap();
    let value = GroupMetadataValue::decode(last.value.as_ref().unwrap()).unwrap();
    assert!(value.members.is_empty());
    assert_eq!(value.protocol_type, "consumer");
}

#[test]
fn leave_of_unknown_member_reports_unknown_member_id() {
    let mut h = Harness::new();
    h.stable_group("g", 1);
    let r = h.leave("g", "ghost").unwrap();
    assert_eq!(r[0].result, Err(GroupError::UnknownMemberId));
    let r = h.leave("nope", "ghost").unwrap();
    assert_eq!(r[0].result, Err(GroupError::UnknownMemberId));
}

#[test]
fn session_expiry_removes_a_silent_member_and_rebalances() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 3);
    for _ in 0..2 {
        h.advance(4_000);
        assert_eq!(h.heartbeat("g", generation, &ids[0]), Ok(()));
        assert_eq!(h.heartbeat("g", generation, &ids[1]), Ok(()));
    }
    assert_eq!(h.state("g"), Some(GroupState::Stable));
    // ids[2] has now been silent for 12 s > the 10 s session timeout.
    h.advance(4_000);
    assert_eq!(h.state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(
        h.heartbeat("g", generation, &ids[0]),
        Err(GroupError::RebalanceInProgress)
    );
    assert_eq!(
        h.heartbeat("g", generation, &ids[2]),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(h.describe("g").members.len(), 2);
}

#[test]
fn rebalance_timeout_drops_a_member_that_does_not_rejoin() {
    let mut h = Harness::new();
    let tokens: Vec<_> = (0..3)
        .map(|i| {
            let mut j = join("g", "", &format!("c{i}"), &["range"]);
            j.session_timeout_ms = 60_000;
            j.rebalance_timeout_ms = 20_000;
            h.send(Request::JoinGroup(j))
        })
        .collect();
    h.advance(6_000);
    let ids: Vec<String> = tokens.into_iter().map(|t| h.joined(t).member_id).collect();
    let s: Vec<_> = ids.iter().map(|m| h.sync("g", 1, m, &[(m, "a")])).collect();
    for t in s {
        h.sync_result(t).unwrap();
    }
    // The leader rejoins; the second member too; the third never does.
    let mut j = join("g", &ids[0], "c0", &["range"]);
    j.session_timeout_ms = 60_000;
    j.rebalance_timeout_ms = 20_000;
    let j0 = h.send(Request::JoinGroup(j.clone()));
    j.member_id = ids[1].clone();
    let j1 = h.send(Request::JoinGroup(j));
    h.advance(19_999);
    assert!(h.is_pending(j0));
    h.advance(1);
    let r0 = h.joined(j0);
    assert_eq!(r0.generation_id, 2);
    assert_eq!(r0.members.len(), 2);
    assert_eq!(h.joined(j1).generation_id, 2);
    assert_eq!(
        h.heartbeat("g", 2, &ids[2]),
        Err(GroupError::UnknownMemberId)
    );
}

#[test]
fn member_that_never_syncs_is_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new();
    let t1 = h.join("g", "", "c1", &["range"]);
    let t2 = h.join("g", "", "c2", &["range"]);
    h.advance(6_000);
    let (m1, m2) = (h.joined(t1).member_id, h.joined(t2).member_id);
    let s1 = h.sync("g", 1, &m1, &[(&m1, "a"), (&m2, "b")]);
    h.sync_result(s1).unwrap();
    // m2 heartbeats (so its session stays alive) but never syncs.
    for _ in 0..8 {
        h.advance(4_000);
        let _ = h.heartbeat("g", 1, &m2);
        let _ = h.heartbeat("g", 1, &m1);
    }
    assert_eq!(h.heartbeat("g", 1, &m2), Err(GroupError::UnknownMemberId));
}

#[test]
fn member_id_required_round_trip_then_join() {
    let mut h = Harness::new();
    let mut first = join("g", "", "rdkafka", &["range"]);
    first.require_known_member_id = true;
    let t = h.send(Request::JoinGroup(first.clone()));
    let Err(GroupError::MemberIdRequired { member_id }) = h.join_result(t) else {
        panic!("expected MEMBER_ID_REQUIRED");
    };
    assert!(member_id.starts_with("rdkafka-"));
    first.member_id = member_id.clone();
    let t = h.send(Request::JoinGroup(first));
    h.advance(6_000);
    let joined = h.joined(t);
    assert_eq!(joined.member_id, member_id);
    assert_eq!(joined.leader, member_id);
}

#[test]
fn pending_member_that_never_rejoins_expires() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 1);
    let mut first = join("g", "", "late", &["range"]);
    first.require_known_member_id = true;
    let t = h.send(Request::JoinGroup(first.clone()));
    let Err(GroupError::MemberIdRequired { member_id }) = h.join_result(t) else {
        panic!("expected MEMBER_ID_REQUIRED");
    };
    for _ in 0..3 {
        h.advance(4_000);
        assert_eq!(h.heartbeat("g", generation, &ids[0]), Ok(()));
    }
    first.member_id = member_id;
    let t = h.send(Request::JoinGroup(first));
    assert_eq!(h.join_result(t), Err(GroupError::UnknownMemberId));
}

#[test]
fn follower_rejoining_stable_with_same_metadata_keeps_the_generation() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 2);
    let t = h.join("g", &ids[1], "client-1", &["range"]);
    let r = h.joined(t);
    assert_eq!(r.generation_id, generation);
    assert_eq!(r.leader, ids[0]);
    assert_eq!(h.state("g"), Some(GroupState::Stable));
}

#[test]
fn follower_rejoining_with_changed_metadata_triggers_a_rebalance() {
    let mut h = Harness::new();
    let (ids, _) = h.stable_group("g", 2);
    let t = h.join("g", &ids[1], "client-1", &["range", "roundrobin"]);
    assert!(h.is_pending(t));
    assert_eq!(h.state("g"), Some(GroupState::PreparingRebalance));
}

#[test]
fn sole_member_rejoining_completes_the_rebalance_immediately() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 1);
    let t = h.join("g", &ids[0], "client-0", &["range"]);
    let r = h.joined(t);
    assert_eq!(r.generation_id, generation + 1);
    assert_eq!(h.state("g"), Some(GroupState::CompletingRebalance));
}

#[test]
fn heartbeat_errors_for_generation_member_and_rebalance() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 2);
    assert_eq!(h.heartbeat("g", generation, &ids[1]), Ok(()));
    assert_eq!(
        h.heartbeat("g", generation + 7, &ids[1]),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        h.heartbeat("g", generation, "ghost"),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(
        h.heartbeat("nope", 1, "ghost"),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(h.heartbeat("", 1, "ghost"), Err(GroupError::InvalidGroupId));
    h.join("g", &ids[0], "client-0", &["range"]);
    assert_eq!(
        h.heartbeat("g", generation, &ids[1]),
        Err(GroupError::RebalanceInProgress)
    );
}

#[test]
fn invalid_session_timeout_is_rejected() {
    let mut h = Harness::new();
    let mut j = join("g", "", "c", &["range"]);
    j.session_timeout_ms = 5_999;
    let t = h.send(Request::JoinGroup(j.clone()));
    assert_eq!(h.join_result(t), Err(GroupError::InvalidSessionTimeout));
    j.session_timeout_ms = 1_800_001;
    let t = h.send(Request::JoinGroup(j));
    assert_eq!(h.join_result(t), Err(GroupError::InvalidSessionTimeout));
}

#[test]
fn known_member_of_missing_group_is_unknown() {
    let mut h = Harness::new();
    let t = h.join("g", "someone", "c", &["range"]);
    assert_eq!(h.join_result(t), Err(GroupError::UnknownMemberId));
}

#[test]
fn group_max_size_rejects_extra_members() {
    let config = GroupCoordinatorConfig {
        group_max_size: 2,
        ..GroupCoordinatorConfig::default()
    };
    let mut h = Harness::with_config(config);
    h.join("g", "", "c1", &["range"]);
    h.join("g", "", "c2", &["range"]);
    let t3 = h.join("g", "", "c3", &["range"]);
    assert_eq!(h.join_result(t3), Err(GroupError::GroupMaxSizeReached));
}

fn static_join(member_id: &str, instance: &str) -> JoinGroup {
    let mut j = join("g", member_id, &format!("client-{instance}"), &["range"]);
    j.group_instance_id = Some(instance.into());
    j.require_known_member_id = true;
    j
}

/// Two static members, Stable at generation 1; returns their member ids.
fn stable_static_group(h: &mut Harness) -> (String, String) {
    let t1 = h.send(Request::JoinGroup(static_join("", "i1")));
    let t2 = h.send(Request::JoinGroup(static_join("", "i2")));
    h.advance(6_000);
    let (m1, m2) = (h.joined(t1).member_id, h.joined(t2).member_id);
    assert!(
        m1.starts_with("i1-"),
        "static ids are prefixed by the instance id"
    );
    let s2 = h.sync("g", 1, &m2, &[]);
    let s1 = h.sync("g", 1, &m1, &[(&m1, "a1"), (&m2, "a2")]);
    h.sync_result(s1).unwrap();
    h.sync_result(s2).unwrap();
    (m1, m2)
}

#[test]
fn static_member_restart_gets_its_assignment_without_a_new_generation() {
    let mut h = Harness::new();
    let (m1, m2) = stable_static_group(&mut h);
    h.auto_persist = false;
    // i2 restarts: it has no member id, only its instance id.
    let t = h.send(Request::JoinGroup(static_join("", "i2")));
    assert!(
        h.is_pending(t),
        "answered once the new member id is durable"
    );
    h.complete_persists(Ok(()));
    let r = h.joined(t);
    assert_ne!(r.member_id, m2);
    assert_eq!(r.generation_id, 1);
    assert_eq!(r.leader, m1);
    assert_eq!(h.state("g"), Some(GroupState::Stable));
    let s = h.sync("g", 1, &r.member_id, &[]);
    assert_eq!(&h.sync_result(s).unwrap().assignment[..], b"a2");
    assert_eq!(h.coordinator.group_generation("g"), Some(1));
}

#[test]
fn static_leader_restart_with_v9_is_told_to_skip_assignment() {
    let mut h = Harness::new();
    let (m1, _) = stable_static_group(&mut h);
    let mut j = static_join("", "i1");
    j.supports_skip_assignment = true;
    let t = h.send(Request::JoinGroup(j));
    let r = h.joined(t);
    assert_ne!(r.member_id, m1);
    assert_eq!(r.leader, r.member_id);
    assert!(r.skip_assignment);
    assert_eq!(r.members.len(), 2);
    assert_eq!(r.generation_id, 1);
}

#[test]
fn old_member_id_of_a_replaced_static_member_is_fenced() {
    let mut h = Harness::new();
    let (_, m2) = stable_static_group(&mut h);
    let t = h.send(Request::JoinGroup(static_join("", "i2")));
    let new_id = h.joined(t).member_id;
    assert_eq!(
        h.heartbeat_static("g", 1, &m2, Some("i2")),
        Err(GroupError::FencedInstanceId)
    );
    assert_eq!(h.heartbeat_static("g", 1, &new_id, Some("i2")), Ok(()));
    let t = h.send(Request::JoinGroup(static_join(&m2, "i2")));
    assert_eq!(h.join_result(t), Err(GroupError::FencedInstanceId));
    let c = h.send(Request::OffsetCommit(OffsetCommit {
        api_version: 9,
        group_id: "g".into(),
        generation_id: 1,
        member_id: m2.clone(),
        group_instance_id: Some("i2".into()),
        retention_time_ms: None,
        offsets: vec![OffsetCommitPartition {
            topic_partition: tp("t", 0),
            offset: 1,
            leader_epoch: None,
            metadata: None,
            commit_timestamp_ms: None,
        }],
    }));
    assert_eq!(h.commit_result(c)[0].1, Err(GroupError::FencedInstanceId));
}

#[test]
fn static_member_is_removed_by_instance_id() {
    let mut h = Harness::new();
    let (_, m2) = stable_static_group(&mut h);
    let t = h.send(Request::LeaveGroup(LeaveGroup {
        group_id: "g".into(),
        members: vec![MemberIdentity {
            member_id: String::new(),
            group_instance_id: Some("i2".into()),
            reason: Some("scale down".into()),
        }],
    }));
    let Some(Response::LeaveGroup(Ok(results))) = h.take(t) else {
        panic!("expected LeaveGroup");
    };
    assert_eq!(results[0].result, Ok(()));
    assert_eq!(h.heartbeat("g", 1, &m2), Err(GroupError::UnknownMemberId));
    assert_eq!(h.state("g"), Some(GroupState::PreparingRebalance));
}

#[test]
fn static_member_that_heartbeats_but_does_not_rejoin_is_kept() {
    // Kafka removes only dynamic members that miss the join phase; a static
    // member stays as long as its session is alive.
    let mut h = Harness::new();
    let (m1, m2) = stable_static_group(&mut h);
    let t = h.send(Request::JoinGroup(static_join(&m1, "i1")));
    for _ in 0..8 {
        h.advance(4_000);
        if h.is_pending(t) {
            assert_eq!(
                h.heartbeat_static("g", 1, &m2, Some("i2")),
                Err(GroupError::RebalanceInProgress)
            );
        }
    }
    let r = h.joined(t);
    assert_eq!(r.generation_id, 2);
    assert_eq!(r.members.len(), 2, "the absent static member {m2} stays");
}

#[test]
fn silent_static_member_expires_during_a_rebalance() {
    let mut h = Harness::new();
    let (m1, m2) = stable_static_group(&mut h);
    let t = h.send(Request::JoinGroup(static_join(&m1, "i1")));
    h.advance(i64::from(REBALANCE_MS));
    let r = h.joined(t);
    assert_eq!(r.generation_id, 2);
    assert_eq!(r.members.len(), 1, "{m2} missed its session");
}

#[test]
fn deadlines_are_exposed_for_the_driver_to_schedule() {
    let mut h = Harness::new();
    assert_eq!(
        h.coordinator.next_deadline(),
        Some(T0 + 600_000),
        "retention check"
    );
    h.join("g", "", "c", &["range"]);
    assert_eq!(
        h.coordinator.next_deadline(),
        Some(T0 + 3_000),
        "initial delay"
    );
    assert!(h.coordinator.tick(T0 + 2_999).is_empty());
    assert_eq!(h.coordinator.persisted(T0, PersistId(999), Ok(())), vec![]);
}

#[test]
fn leader_leaving_promotes_the_oldest_remaining_member() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 3);
    h.leave("g", &ids[0]).unwrap();
    let j2 = h.join("g", &ids[2], "client-2", &["range"]);
    let j1 = h.join("g", &ids[1], "client-1", &["range"]);
    let (r1, r2) = (h.joined(j1), h.joined(j2));
    assert_eq!(r1.generation_id, generation + 1);
    assert_eq!(r1.leader, ids[1]);
    assert_eq!(r1.members.len(), 2);
    assert!(r2.members.is_empty());
}

#[test]
fn rejoin_during_completing_rebalance_with_same_metadata_resends_the_generation() {
    let mut h = Harness::new();
    let t1 = h.join("g", "", "c1", &["range"]);
    let t2 = h.join("g", "", "c2", &["range"]);
    h.advance(6_000);
    let (m1, m2) = (h.joined(t1).member_id, h.joined(t2).member_id);
    // m2 lost its response and rejoins unchanged: same generation, no rebalance.
    let again = h.join("g", &m2, "c2", &["range"]);
    let r = h.joined(again);
    assert_eq!(r.generation_id, 1);
    assert_eq!(r.leader, m1);
    assert_eq!(h.state("g"), Some(GroupState::CompletingRebalance));
}

#[test]
fn cooperative_members_rejoining_with_revoked_partitions_get_another_generation() {
    // Incremental cooperative rebalancing is client-driven: after revoking,
    // members rejoin with new metadata (fewer owned partitions), which must
    // start a follow-up rebalance.
    let mut h = Harness::new();
    let coop = |member: &str, client: &str, owned: &[u8]| {
        let mut j = join("g", member, client, &["cooperative-sticky"]);
        let mut meta = subscription(&["t"]).to_vec();
        meta.extend_from_slice(owned);
        j.protocols[0].metadata = meta.into();
        j
    };
    let t1 = h.send(Request::JoinGroup(coop("", "c1", b"")));
    h.advance(3_000);
    let m1 = h.joined(t1).member_id;
    let s = h.sync("g", 1, &m1, &[(&m1, "all")]);
    h.sync_result(s).unwrap();
    // A second member arrives; m1 learns of the rebalance and rejoins owning all.
    let t2 = h.send(Request::JoinGroup(coop("", "c2", b"")));
    assert_eq!(
        h.heartbeat("g", 1, &m1),
        Err(GroupError::RebalanceInProgress)
    );
    let r1 = h.send(Request::JoinGroup(coop(&m1, "c1", b"owned:all")));
    let (g2, m2) = (h.joined(r1).generation_id, h.joined(t2).member_id);
    assert_eq!(g2, 2);
    let s2 = h.sync("g", 2, &m2, &[]);
    let s1 = h.sync("g", 2, &m1, &[(&m1, "half"), (&m2, "")]);
    h.sync_result(s1).unwrap();
    h.sync_result(s2).unwrap();
    // m1 revokes the other half and rejoins with its smaller ownership.
    let r1 = h.send(Request::JoinGroup(coop(&m1, "c1", b"owned:half")));
    assert_eq!(
        h.heartbeat("g", 2, &m2),
        Err(GroupError::RebalanceInProgress)
    );
    let r2 = h.send(Request::JoinGroup(coop(&m2, "c2", b"")));
    assert_eq!(h.joined(r1).generation_id, 3);
    assert_eq!(h.joined(r2).generation_id, 3);
}

#[test]
fn retried_join_answers_the_superseded_request() {
    let mut h = Harness::new();
    let (ids, _) = h.stable_group("g", 2);
    let first = h.join("g", &ids[0], "client-0", &["range"]);
    let retry = h.join("g", &ids[0], "client-0", &["range"]);
    assert_eq!(h.join_result(first), Err(GroupError::RebalanceInProgress));
    assert!(h.is_pending(retry));
}

/// kafka-python's own `test_group`: four consumers start at once with
/// JoinGroup v4+ (a MEMBER_ID_REQUIRED round trip), 3000 ms sessions and
/// 500 ms heartbeats, against a broker configured like kafka-python's test
/// broker (`group.min.session.timeout.ms=1000`, the default 3000 ms initial
/// delay). Skein used to hard-wire Kafka's 6000 ms minimum, so every join
/// got INVALID_SESSION_TIMEOUT (fatal for the client) and the group never
/// formed; Kafka configured the same way stabilises it.
#[test]
fn members_joining_at_once_with_sessions_above_the_configured_minimum_stabilise() {
    let mut broker = skein_controller::BrokerConfig::default();
    broker.set("group.min.session.timeout.ms", "1000").unwrap();
    let config = broker.group_coordinator_config(1);
    assert_eq!(config.group_min_session_timeout_ms, 1_000);
    assert_eq!(config.group_initial_rebalance_delay_ms, 3_000);
    let mut h = Harness::with_config(config);
    let requests: Vec<JoinGroup> = (0..4)
        .map(|i| {
            let mut j = join("g", "", &format!("consumer-{i}"), &["range"]);
            j.require_known_member_id = true;
            j.session_timeout_ms = 3_000;
            j.rebalance_timeout_ms = 300_000;
            j
        })
        .collect();
    let tokens: Vec<RequestToken> = requests
        .iter()
        .map(|j| {
            let t = h.send(Request::JoinGroup(j.clone()));
            let Err(GroupError::MemberIdRequired { member_id }) = h.join_result(t) else {
                panic!("expected MEMBER_ID_REQUIRED");
            };
            let mut rejoin = j.clone();
            rejoin.member_id = member_id;
            h.send(Request::JoinGroup(rejoin))
        })
        .collect();
    // One initial delay, extended once because members kept arriving.
    h.advance(5_999);
    assert!(tokens.iter().all(|t| h.is_pending(*t)));
    h.advance(1);
    let joined: Vec<JoinGroupResponse> = tokens.into_iter().map(|t| h.joined(t)).collect();
    assert!(joined.iter().all(|j| j.generation_id == 1));
    let leader = &joined[0].leader;
    let ids: Vec<&str> = joined.iter().map(|j| j.member_id.as_str()).collect();
    let assignment: Vec<(&str, &str)> = ids.iter().map(|id| (*id, *id)).collect();
    let syncs: Vec<RequestToken> = ids
        .iter()
        .map(|id| {
            let given = if id == leader {
                assignment.clone()
            } else {
                Vec::new()
            };
            h.sync("g", 1, id, &given)
        })
        .collect();
    for (t, id) in syncs.into_iter().zip(&ids) {
        assert_eq!(h.sync_result(t).unwrap().assignment, id.as_bytes());
    }
    assert_eq!(h.state("g"), Some(GroupState::Stable));
    // Heartbeats every 500 ms keep the 3000 ms sessions alive.
    for _ in 0..20 {
        h.advance(500);
        for id in &ids {
            assert_eq!(h.heartbeat("g", 1, id), Ok(()));
        }
    }
    assert_eq!(h.coordinator.group_generation("g"), Some(1));
    assert_eq!(h.describe("g").members.len(), 4);
}

#[test]
fn session_timeout_bounds_come_from_the_broker_properties() {
    let mut broker = skein_controller::BrokerConfig::default();
    assert_eq!(
        broker
            .group_coordinator_config(1)
            .group_min_session_timeout_ms,
        6_000
    );
    broker.set("group.max.session.timeout.ms", "20000").unwrap();
    let mut h = Harness::with_config(broker.group_coordinator_config(1));
    let mut j = join("g", "", "c", &["range"]);
    j.session_timeout_ms = 20_001;
    let t = h.send(Request::JoinGroup(j.clone()));
    assert_eq!(h.join_result(t), Err(GroupError::InvalidSessionTimeout));
    j.session_timeout_ms = 5_999;
    let t = h.send(Request::JoinGroup(j));
    assert_eq!(h.join_result(t), Err(GroupError::InvalidSessionTimeout));
    broker.set("group.min.session.timeout.ms", "30000").unwrap();
    assert!(broker.group_coordinator_config(1).validate().is_err());
}
