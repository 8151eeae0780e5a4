//! Follower truncation on real logs: a replica that led with a tail its
//! follower never fetched loses that tail when it follows the new leader
//! (by OffsetForLeaderEpoch or by the diverging epoch of a fetch), its
//! leader epochs beyond the cut go with it; an empty restart at the
//! leader's log start; and the high-watermark checkpoint restoring a
//! replica's mark after a restart.

mod support;

use std::collections::HashMap;

use skein_engine::LogConfig;
use skein_replication::{
    checkpoint_file_name, EpochEndOffset, EpochEntry, FetchingReplica, Partition, PartitionTable,
    ReplicaAssignment, ReplicaSpec, Role,
};
use support::{batch, follower, leader, log_dirs, open, run, tuning};

fn replicas(local_broker: i32) -> ReplicaAssignment {
    ReplicaAssignment {
        local_broker,
        replicas: vec![1, 2],
        isr: vec![1, 2],
        partition_epoch: 1,
    }
}

fn following(leader: i32, leader_epoch: i32) -> Role {
    Role::Follower {
        leader,
        leader_epoch,
    }
}

fn entry(leader_epoch: i32, start_offset: i64) -> EpochEntry {
    EpochEntry {
        leader_epoch,
        start_offset,
    }
}

/// `follower` (broker `broker`) fetches from `leading` from its log end,
/// with its latest epoch, until it has all; returns the diverging epoch the
/// leader reported instead, if it did.
async fn fetch_all(
    leading: &Partition,
    broker: i32,
    follower: &Partition,
) -> Option<EpochEndOffset> {
    loop {
        let mut chunks = Vec::new();
        let info = leading
            .read_for_follower(
                FetchingReplica {
                    broker,
                    broker_epoch: -1,
                },
                follower.follower_fetch_offset(),
                follower.latest_epoch().unwrap_or(-1),
                1 << 20,
                &mut chunks,
                2_000,
            )
            .await
            .expect("follower read");
        if info.diverging_epoch.is_some() {
            return info.diverging_epoch;
        }
        if chunks.is_empty() {
            return None;
        }
        let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.as_slice().to_vec()).collect();
        let fetched_from = follower.follower_fetch_offset();
        follower
            .append_as_follower(&bytes, fetched_from, 2_000)
            .await
            .expect("follower append");
    }
}

/// Broker 1 leads epoch 1 and appends 3 + 2 records; broker 2 fetches only
/// the first batch; broker 1 "dies", broker 2 leads epoch 2 and appends 2.
/// Returns (old leader, new leader).
async fn leader_died_with_a_tail(dir: &std::path::Path) -> (Partition, Partition) {
    let old = open(&dir.join("a"), leader(1)).await;
    old.set_replicas(replicas(1), 1_000);
    old.append(&batch(3), 0).await.expect("append");
    old.append(&batch(2), 0).await.expect("append");
    let new = open(&dir.join("b"), following(1, 1)).await;
    new.set_replicas(replicas(2), 1_000);
    let mut chunks = Vec::new();
    old.read_for_follower(follower(2), 0, -1, 1, &mut chunks, 1_100)
        .await
        .expect("read");
    let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.as_slice().to_vec()).collect();
    new.append_as_follower(&bytes, 0, 1_100)
        .await
        .expect("append");
    assert_eq!(new.follower_fetch_offset(), 3, "only the first batch");
    new.set_role(leader(2));
    new.append(&batch(2), 0).await.expect("append");
    old.set_role(following(2, 2));
    (old, new)
}

#[test]
fn a_leader_that_died_with_an_unreplicated_tail_loses_it_by_offset_for_leader_epoch() {
    run(|| async {
        let temp = tempfile::tempdir().expect("tempdir");
        let (old, new) = leader_died_with_a_tail(temp.path()).await;
        assert_eq!(old.latest_epoch(), Some(1));
        let answer = new.end_offset_for_epoch(1).expect("leader");
        assert_eq!(
            answer,
            EpochEndOffset {
                leader_epoch: 1,
                end_offset: 3
            }
        );
        let cut = old.truncate_to_leader_epoch(answer).await.expect("cut");
        assert!(cut.completed);
        assert_eq!(old.offsets().log_end_offset, 3);
        assert_eq!(old.leader_epochs(), vec![entry(1, 0)]);
        assert_eq!(fetch_all(&new, 1, &old).await, None);
        assert_eq!(old.offsets().log_end_offset, 5);
        assert_eq!(old.leader_epochs(), new.leader_epochs());
        assert_eq!(new.leader_epochs(), vec![entry(1, 0), entry(2, 3)]);
    });
}

#[test]
fn a_diverging_epoch_in_a_fetch_cuts_the_tail_and_the_refetch_converges() {
    run(|| async {
        let temp = tempfile::tempdir().expect("tempdir");
        let (old, new) = leader_died_with_a_tail(temp.path()).await;
        // The old leader fetches at 5 with epoch 1: off the new leader's log.
        let before = new.high_watermark();
        let diverging = fetch_all(&new, 1, &old).await.expect("diverges");
        assert_eq!(
            diverging,
            EpochEndOffset {
                leader_epoch: 1,
                end_offset: 3
            }
        );
        assert!(new.leads_followers());
        assert_eq!(
            new.high_watermark(),
            before,
            "a diverging fetch is not recorded as the follower's position"
        );
        assert!(before < 5);
        old.truncate_to_leader_epoch(diverging).await.expect("cut");
        assert_eq!(old.offsets().log_end_offset, 3);
        assert_eq!(fetch_all(&new, 1, &old).await, None);
        assert_eq!(old.offsets().log_end_offset, 5);
        assert_eq!(old.leader_epochs(), new.leader_epochs());
    });
}

#[test]
fn a_follower_with_a_replicated_tail_beyond_its_high_watermark_keeps_it() {
    run(|| async {
        let temp = tempfile::tempdir().expect("tempdir");
        let leading = open(&temp.path().join("a"), leader(1)).await;
        leading.set_replicas(replicas(1), 1_000);
        leading.append(&batch(4), 0).await.expect("append");
        let follower = open(&temp.path().join("b"), following(1, 1)).await;
        follower.set_replicas(replicas(2), 1_000);
        assert_eq!(fetch_all(&leading, 2, &follower).await, None);
        follower.learn_high_watermark(0);
        // A new leader epoch (the same leader re-elected): the follower's
        // epoch 1 ends at the leader's log end; nothing is cut, unlike the
        // high-watermark rule that would cut to 0.
        leading.set_role(leader(2));
        follower.set_role(following(1, 2));
        let answer = leading.end_offset_for_epoch(1).expect("leader");
        let cut = follower
            .truncate_to_leader_epoch(answer)
            .await
            .expect("cut");
        assert_eq!((cut.offset, cut.completed), (4, true));
        assert_eq!(follower.offsets().log_end_offset, 4);
    });
}

#[test]
fn a_follower_behind_the_leaders_log_start_starts_over_there() {
    run(|| async {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().join("b");
        let follower = open(&dir, following(1, 1)).await;
        let leading = open(&temp.path().join("a"), leader(1)).await;
        leading.set_replicas(replicas(1), 1_000);
        leading.append(&batch(3), 0).await.expect("append");
        follower.set_replicas(replicas(2), 1_000);
        assert_eq!(fetch_all(&leading, 2, &follower).await, None);
        follower
            .truncate_fully_and_start_at(20)
            .await
            .expect("start over");
        let offsets = follower.offsets();
        assert_eq!((offsets.log_start_offset, offsets.log_end_offset), (20, 20));
        assert!(follower.leader_epochs().is_empty());
        follower.close().await.expect("close");
        let reopened = open(&dir, following(1, 1)).await;
        let offsets = reopened.offsets();
        assert_eq!((offsets.log_start_offset, offsets.log_end_offset), (20, 20));
    });
}

#[test]
fn the_high_watermark_checkpoint_restores_a_restarted_replicas_mark() {
    let temp = tempfile::tempdir().expect("tempdir");
    let data_dir = temp.path().to_path_buf();
    run(move || async move {
        let key = ([3; 16], 0);
        let spec = |role| ReplicaSpec {
            topic: "orders".into(),
            log_config: LogConfig::default(),
            tuning: tuning(),
            role,
            replicas: replicas(2),
            min_insync_replicas: 1,
        };
        let table = PartitionTable::new(log_dirs(std::slice::from_ref(&data_dir)));
        table
            .reconcile(HashMap::from([(key, spec(following(1, 1)))]), 0)
            .await;
        let follower = table.get(&key).expect("held");
        let leading = open(&data_dir.join("leader"), leader(1)).await;
        leading.set_replicas(replicas(1), 1_000);
        leading.append(&batch(6), 0).await.expect("append");
        assert_eq!(fetch_all(&leading, 2, &follower).await, None);
        follower.learn_high_watermark(4);
        drop(follower);
        table
            .checkpoint_high_watermarks(&checkpoint_file_name(0))
            .await
            .expect("checkpoint");
        let file = std::fs::read_to_string(data_dir.join("replication-offset-checkpoint.0"))
            .expect("read");
        assert_eq!(file, "0\n1\norders 0 4\n");
        table.close_all().await;

        let restarted = PartitionTable::new(log_dirs(std::slice::from_ref(&data_dir)));
        restarted
            .reconcile(HashMap::from([(key, spec(following(1, 1)))]), 0)
            .await;
        let follower = restarted.get(&key).expect("held");
        assert_eq!(follower.checkpoint_high_watermark(), 4);
        assert_eq!(
            follower.follower_fetch_offset(),
            6,
            "resumes at its log end"
        );
        assert_eq!(follower.latest_epoch(), Some(1), "keeps its epochs");
        // Made leader, it starts from the restored mark, not the log start.
        restarted
            .reconcile(HashMap::from([(key, spec(leader(2)))]), 0)
            .await;
        assert_eq!(follower.offsets().high_watermark, 4);
    });
}
