//! A follower `Partition` fed by a leader on a real log: the leader serves
//! its followers up to its log end and records their fetches, the follower
//! appends the fetched batches as they are (leader epochs kept), refuses
//! batches that do not start at its log end, and cuts its log back to the
//! high watermark it knew before fetching from a new leader.

mod support;

use skein_replication::{
    FollowerAppendError, PartitionError, ReplicaAssignment, ReplicationError, Role,
};
use support::{batch, follower, leader, open, run};

fn replicas(local_broker: i32) -> ReplicaAssignment {
    ReplicaAssignment {
        local_broker,
        replicas: vec![1, 2, 3],
        isr: vec![1, 2, 3],
        partition_epoch: 1,
    }
}

const FOLLOWING_1: Role = Role::Follower {
    leader: 1,
    leader_epoch: 3,
};

#[test]
fn a_follower_appends_what_the_leader_serves_it_and_keeps_its_epochs() {
    run(|| async {
        let temp = tempfile::tempdir().expect("tempdir");
        let leading = open(&temp.path().join("leader"), leader(3)).await;
        leading.set_replicas(replicas(1), 1_000);
        leading.append(&batch(3), 0).await.expect("append");
        leading.append(&batch(2), 0).await.expect("append");
        let following = open(&temp.path().join("follower"), FOLLOWING_1).await;
        following.set_replicas(replicas(2), 1_000);
        assert_eq!(following.follower_fetch_offset(), 0);

        // The consumer bound is the high watermark (no follower fetched
        // yet); a follower reads to the log end.
        let mut chunks = Vec::new();
        let info = leading
            .read_for_follower(follower(2), 0, -1, 1 << 20, &mut chunks, 1_100)
            .await
            .expect("follower read");
        assert_eq!(info.log_end_offset, 5);
        let fetched: Vec<u8> = chunks.iter().flat_map(|c| c.as_slice().to_vec()).collect();
        assert!(!fetched.is_empty());
        let appended = following
            .append_as_follower(&fetched, 0, 1_200)
            .await
            .expect("follower append");
        assert_eq!((appended.base_offset, appended.last_offset), (0, 4));
        assert_eq!(following.follower_fetch_offset(), 5);
        assert_eq!(following.leader_epochs(), leading.leader_epochs());

        // The same batches again overlap the log: refused, nothing written.
        match following.append_as_follower(&fetched, 5, 1_300).await {
            Err(FollowerAppendError::OffsetMismatch { expected, found }) => {
                assert_eq!((expected, found), (5, 0));
            }
            other => panic!("expected an offset mismatch, got {other:?}"),
        }
        assert_eq!(following.offsets().log_end_offset, 5);

        // Both followers at the log end: the high watermark reaches it.
        let mut none = Vec::new();
        leading
            .read_for_follower(follower(2), 5, -1, 1 << 20, &mut none, 1_400)
            .await
            .expect("follower read");
        leading
            .read_for_follower(follower(3), 5, -1, 1 << 20, &mut none, 1_400)
            .await
            .expect("follower read");
        assert_eq!(leading.high_watermark(), 5);

        // A leader refuses appends as a follower.
        assert!(matches!(
            leading.append_as_follower(&fetched, 5, 1_500).await,
            Err(FollowerAppendError::NotFollower)
        ));
    });
}

#[test]
fn a_broker_without_a_replica_cannot_fetch_as_a_follower() {
    run(|| async {
        let temp = tempfile::tempdir().expect("tempdir");
        let leading = open(&temp.path().join("leader"), leader(3)).await;
        leading.set_replicas(replicas(1), 1_000);
        let mut chunks = Vec::new();
        let refused = leading
            .read_for_follower(follower(9), 0, -1, 1 << 20, &mut chunks, 1_100)
            .await;
        assert!(matches!(
            refused,
            Err(PartitionError::Replication(ReplicationError::NotAReplica {
                broker: 9
            }))
        ));
        let beyond = leading
            .read_for_follower(follower(2), 7, -1, 1 << 20, &mut chunks, 1_100)
            .await;
        assert!(matches!(
            beyond,
            Err(PartitionError::Replication(
                ReplicationError::FetchOffsetBeyondLogEnd { .. }
            ))
        ));
    });
}

#[test]
fn a_follower_truncates_to_its_high_watermark_before_fetching_from_a_new_leader() {
    run(|| async {
        let temp = tempfile::tempdir().expect("tempdir");
        let leading = open(&temp.path().join("leader"), leader(3)).await;
        leading.set_replicas(replicas(1), 1_000);
        leading.append(&batch(3), 0).await.expect("append");
        leading.append(&batch(2), 0).await.expect("append");
        let mut chunks = Vec::new();
        leading
            .read_for_follower(follower(2), 0, -1, 1 << 20, &mut chunks, 1_100)
            .await
            .expect("follower read");
        let fetched: Vec<u8> = chunks.iter().flat_map(|c| c.as_slice().to_vec()).collect();

        let following = open(&temp.path().join("follower"), FOLLOWING_1).await;
        following.set_replicas(replicas(2), 1_000);
        following
            .append_as_follower(&fetched, 0, 1_200)
            .await
            .expect("follower append");
        // The leader said its high watermark was 3 (the first batch).
        following.learn_high_watermark(3);
        following.set_role(Role::Follower {
            leader: 3,
            leader_epoch: 4,
        });
        let end = following
            .truncate_to_high_watermark()
            .await
            .expect("truncate");
        assert_eq!(end, 3);
        assert_eq!(following.offsets().log_end_offset, 3);
        assert_eq!(following.follower_fetch_offset(), 3);
        // Nothing above the high watermark: a second cut changes nothing.
        assert_eq!(
            following
                .truncate_to_high_watermark()
                .await
                .expect("truncate"),
            3
        );
    });
}
