//! Committed offsets: commit validation, durability before the response,
//! fetch, delete and retention.

mod group_support;

use group_support::*;
use skein_controller::group_coordinator::*;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[test]
fn commit_is_answered_only_after_the_append_and_fetch_returns_it() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 1);
    h.auto_persist = false;
    let t = h.commit("g", generation, &ids[0], &[("t", 0, 42), ("t", 1, 7)]);
    assert!(h.is_pending(t));
    let (_, partition, records) = &h.queued[0];
    assert_eq!(*partition, partition_for_group("g", 50));
    assert_eq!(records.len(), 2);
    // Not visible before it is durable.
    assert_eq!(h.fetch("g", Some(vec![tp("t", 0)]))[0].offset, -1);
    h.complete_persists(Ok(()));
    assert!(h.commit_result(t).iter().all(|(_, r)| r.is_ok()));
    let fetched = h.fetch(
        "g",
        Some(vec![tp("t", 0), tp("t", 1), tp("t", 2), tp("u", 0)]),
    );
    assert_eq!(fetched[0].offset, 42);
    assert_eq!(fetched[0].leader_epoch, Some(5));
    assert_eq!(fetched[0].metadata, "m42");
    assert_eq!(fetched[1].offset, 7);
    assert_eq!(fetched[2].offset, -1, "unknown partitions fetch -1");
    assert_eq!(fetched[2].leader_epoch, None);
    assert_eq!(fetched[3].metadata, "");
    assert_eq!(h.fetch("g", None).len(), 2);
}

#[test]
fn failed_append_fails_the_commit_and_keeps_the_old_offset() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 1);
    h.commit_ok("g", generation, &ids[0], &[("t", 0, 1)]);
    h.auto_persist = false;
    let t = h.commit("g", generation, &ids[0], &[("t", 0, 2)]);
    h.complete_persists(Err(AppendError::Unavailable));
    assert_eq!(
        h.commit_result(t)[0].1,
        Err(GroupError::CoordinatorNotAvailable)
    );
    let t = h.commit("g", generation, &ids[0], &[("t", 0, 3)]);
    h.complete_persists(Err(AppendError::TooLarge));
    assert_eq!(
        h.commit_result(t)[0].1,
        Err(GroupError::InvalidCommitOffsetSize)
    );
    assert_eq!(h.fetch("g", Some(vec![tp("t", 0)]))[0].offset, 1);
}

#[test]
fn standalone_commit_creates_an_empty_group() {
    let mut h = Harness::new();
    h.commit_ok("simple", -1, "", &[("t", 0, 10)]);
    assert_eq!(h.state("simple"), Some(GroupState::Empty));
    assert_eq!(h.fetch("simple", None)[0].offset, 10);
}

#[test]
fn standalone_commit_to_a_group_with_members_is_unknown_member() {
    let mut h = Harness::new();
    h.stable_group("g", 1);
    let t = h.commit("g", -1, "", &[("t", 0, 10)]);
    assert_eq!(h.commit_result(t)[0].1, Err(GroupError::UnknownMemberId));
}

#[test]
fn commit_with_a_generation_to_a_missing_group_is_illegal_generation() {
    let mut h = Harness::new();
    let t = h.commit("gone", 3, "m", &[("t", 0, 10)]);
    assert_eq!(h.commit_result(t)[0].1, Err(GroupError::IllegalGeneration));
}

#[test]
fn commit_errors_for_generation_and_member() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 2);
    let t = h.commit("g", generation + 1, &ids[0], &[("t", 0, 1)]);
    assert_eq!(h.commit_result(t)[0].1, Err(GroupError::IllegalGeneration));
    let t = h.commit("g", generation, "ghost", &[("t", 0, 1)]);
    assert_eq!(h.commit_result(t)[0].1, Err(GroupError::UnknownMemberId));
}

#[test]
fn commit_while_completing_rebalance_is_rebalance_in_progress() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 1);
    let j = h.join("g", &ids[0], "client-0", &["range"]);
    let new_generation = h.joined(j).generation_id;
    assert_eq!(new_generation, generation + 1);
    let t = h.commit("g", new_generation, &ids[0], &[("t", 0, 1)]);
    assert_eq!(
        h.commit_result(t)[0].1,
        Err(GroupError::RebalanceInProgress)
    );
}

#[test]
fn commit_during_preparing_rebalance_is_accepted() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 2);
    h.join("g", &ids[0], "client-0", &["range"]);
    assert_eq!(h.state("g"), Some(GroupState::PreparingRebalance));
    h.commit_ok("g", generation, &ids[1], &[("t", 0, 9)]);
}

#[test]
fn oversized_metadata_is_rejected_per_partition() {
    let mut h = Harness::new();
    let t = h.send(Request::OffsetCommit(OffsetCommit {
        api_version: 9,
        group_id: "simple".into(),
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
        retention_time_ms: None,
        offsets: vec![
            OffsetCommitPartition {
                topic_partition: tp("t", 0),
                offset: 1,
                leader_epoch: None,
                metadata: Some("x".repeat(4097)),
                commit_timestamp_ms: None,
            },
            OffsetCommitPartition {
                topic_partition: tp("t", 1),
                offset: 2,
                leader_epoch: None,
                metadata: None,
                commit_timestamp_ms: None,
            },
        ],
    }));
    let r = h.commit_result(t);
    assert_eq!(r[0].1, Err(GroupError::OffsetMetadataTooLarge));
    assert_eq!(r[1].1, Ok(()));
}

#[test]
fn offsets_of_a_standalone_group_expire_after_retention() {
    let mut h = Harness::new();
    h.commit_ok("simple", -1, "", &[("t", 0, 10)]);
    h.advance(6 * DAY_MS);
    h.commit_ok("simple", -1, "", &[("t", 1, 11)]);
    h.advance(DAY_MS + 600_000);
    // t-0 is 7 days old and gone; t-1 is not.
    let fetched = h.fetch("simple", None);
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].topic_partition, tp("t", 1));
    let (_, tombstone) = h.log.last().unwrap();
    assert_eq!(tombstone.value, None);
    h.advance(7 * DAY_MS);
    assert_eq!(
        h.state("simple"),
        None,
        "the empty group without offsets is removed"
    );
    assert_eq!(h.fetch("simple", Some(vec![tp("t", 1)]))[0].offset, -1);
}

#[test]
fn offsets_of_an_empty_group_expire_from_when_it_became_empty() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 1);
    h.commit_ok("g", generation, &ids[0], &[("t", 0, 10)]);
    h.advance(8 * DAY_MS);
    assert_eq!(
        h.heartbeat("g", generation, &ids[0]),
        Err(GroupError::UnknownMemberId)
    );
    // The member's session expired long ago; the group has been empty
    // since then (≈ 8 days), so the offset went with the cleanup.
    assert_eq!(h.state("g"), None);
    assert_eq!(h.fetch("g", Some(vec![tp("t", 0)]))[0].offset, -1);
}

#[test]
fn offsets_of_a_stable_group_do_not_expire_for_subscribed_topics() {
    let mut h = Harness::new();
    let mut j = join("g", "", "c", &["range"]);
    j.session_timeout_ms = 1_800_000;
    let t = h.send(Request::JoinGroup(j));
    h.advance(3_000);
    let member = h.joined(t).member_id;
    let s = h.sync("g", 1, &member, &[(&member, "a")]);
    h.sync_result(s).unwrap();
    h.commit_ok("g", 1, &member, &[("t", 0, 10), ("other", 0, 3)]);
    for _ in 0..(8 * DAY_MS / 1_000_000) {
        h.advance(1_000_000);
        assert_eq!(h.heartbeat("g", 1, &member), Ok(()));
    }
    // "other" is not in the subscription and was committed 8 days ago.
    let fetched = h.fetch("g", None);
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].topic_partition, tp("t", 0));
}

#[test]
fn offset_delete_in_an_empty_group_writes_tombstones() {
    let mut h = Harness::new();
    h.commit_ok("simple", -1, "", &[("t", 0, 10), ("t", 1, 11)]);
    let t = h.send(Request::OffsetDelete(OffsetDelete {
        group_id: "simple".into(),
        partitions: vec![tp("t", 0)],
    }));
    let Some(Response::OffsetDelete(Ok(r))) = h.take(t) else {
        panic!("expected OffsetDelete");
    };
    assert_eq!(r, vec![(tp("t", 0), Ok(()))]);
    assert_eq!(h.fetch("simple", None).len(), 1);
    assert_eq!(h.log.last().unwrap().1.value, None);
}

#[test]
fn offset_delete_refuses_subscribed_topics_of_a_live_consumer_group() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 1);
    h.commit_ok("g", generation, &ids[0], &[("t", 0, 1), ("old", 0, 2)]);
    let t = h.send(Request::OffsetDelete(OffsetDelete {
        group_id: "g".into(),
        partitions: vec![tp("t", 0), tp("old", 0)],
    }));
    let Some(Response::OffsetDelete(Ok(r))) = h.take(t) else {
        panic!("expected OffsetDelete");
    };
    assert_eq!(r[0], (tp("t", 0), Err(GroupError::GroupSubscribedToTopic)));
    assert_eq!(r[1], (tp("old", 0), Ok(())));
    let t = h.send(Request::OffsetDelete(OffsetDelete {
        group_id: "missing".into(),
        partitions: vec![tp("t", 0)],
    }));
    assert_eq!(
        h.take(t),
        Some(Response::OffsetDelete(Err(GroupError::GroupIdNotFound)))
    );
}

#[test]
fn explicit_retention_time_expires_unsubscribed_offsets_early() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 1);
    let t = h.send(Request::OffsetCommit(OffsetCommit {
        api_version: 9,
        group_id: "g".into(),
        generation_id: generation,
        member_id: ids[0].clone(),
        group_instance_id: None,
        retention_time_ms: Some(60_000),
        offsets: vec![OffsetCommitPartition {
            topic_partition: tp("unsubscribed", 0),
            offset: 4,
            leader_epoch: None,
            metadata: None,
            commit_timestamp_ms: None,
        }],
    }));
    assert_eq!(h.commit_result(t)[0].1, Ok(()));
    let value = OffsetCommitValue::decode(h.log.last().unwrap().1.value.as_ref().unwrap()).unwrap();
    assert_eq!(value.expire_timestamp_ms, Some(h.now_ms + 60_000));
    for _ in 0..160 {
        h.advance(4_000);
        assert_eq!(h.heartbeat("g", generation, &ids[0]), Ok(()));
    }
    assert!(h.fetch("g", None).is_empty());
}

fn standalone_commit_stamped(h: &mut Harness, partition: i32, commit_timestamp_ms: i64) {
    let t = h.send(Request::OffsetCommit(OffsetCommit {
        api_version: 9,
        group_id: "simple".into(),
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
        retention_time_ms: None,
        offsets: vec![OffsetCommitPartition {
            topic_partition: tp("t", partition),
            offset: 3,
            leader_epoch: None,
            metadata: None,
            commit_timestamp_ms: Some(commit_timestamp_ms),
        }],
    }));
    assert_eq!(h.commit_result(t)[0].1, Ok(()));
}

#[test]
fn a_v1_commit_timestamp_is_stored_as_given_and_drives_expiry() {
    let mut h = Harness::new();
    // Kafka 3.x keeps a client's commit timestamp: one 8 days old makes the
    // standalone offset expire at the next expiry pass.
    let old = h.now_ms - 8 * DAY_MS;
    standalone_commit_stamped(&mut h, 0, old);
    let value = OffsetCommitValue::decode(h.log.last().unwrap().1.value.as_ref().unwrap()).unwrap();
    assert_eq!(value.commit_timestamp_ms, old);
    assert_eq!(value.expire_timestamp_ms, None);
    h.commit_ok("simple", -1, "", &[("t", 1, 11)]);
    h.advance(600_000);
    let fetched = h.fetch("simple", None);
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].topic_partition, tp("t", 1));
}

#[test]
fn extreme_v1_commit_timestamps_do_not_overflow_expiry() {
    let mut h = Harness::new();
    standalone_commit_stamped(&mut h, 0, i64::MIN);
    standalone_commit_stamped(&mut h, 1, i64::MAX);
    h.advance(600_000);
    // i64::MIN is as old as can be; i64::MAX lies in the future.
    let fetched = h.fetch("simple", None);
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].topic_partition, tp("t", 1));
}
