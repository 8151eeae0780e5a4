//! A leader `Partition` with followers on a real log: the high watermark
//! follows the ISR's fetches, consumer reads stop at it, acks=all waits
//! (`wait_for_high_watermark`) and long-polls are woken by the fetch that
//! moves it and ended by a lost leadership or a shrunk ISR, and a partition
//! with one replica keeps the log's durable end offset as before.

mod support;

use std::cell::Cell;
use std::future::Future;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use skein_replication::{BrokerId, Partition, ReplicaAssignment, ReplicationError, Role};
use support::{batch, leader, open, run};

fn assignment(replicas: &[BrokerId], isr: &[BrokerId], partition_epoch: i32) -> ReplicaAssignment {
    ReplicaAssignment {
        local_broker: 1,
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        partition_epoch,
    }
}

/// Broker 1 leading replicas 1, 2, 3 at epoch 3 with `isr`, holding
/// `records` records appended in one batch.
async fn leading(dir: &std::path::Path, isr: &[BrokerId], records: usize) -> Rc<Partition> {
    let partition = open(dir, leader(3)).await;
    partition.set_replicas(assignment(&[1, 2, 3], isr, 5), 1_000);
    if records > 0 {
        partition.append(&batch(records), 0).await.expect("append");
    }
    Rc::new(partition)
}

/// Runs `test` on a fresh executor, with a partition directory of its own.
fn in_partition_dir<F, G>(test: G)
where
    G: FnOnce(PathBuf) -> F + Send + 'static,
    F: Future<Output = ()> + 'static,
{
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || test(dir));
}

/// What an acks=all produce meets with `min.insync.replicas=2` and the
/// leader alone in the ISR.
const LEADER_ALONE_BELOW_TWO: ReplicationError = ReplicationError::NotEnoughReplicas {
    isr_size: 1,
    min_insync_replicas: 2,
};

/// Spawns `work` and a flag set once it has finished.
fn spawn_watched<T: 'static>(
    work: impl Future<Output = T> + 'static,
) -> (glommio::Task<T>, Rc<Cell<bool>>) {
    let finished = Rc::new(Cell::new(false));
    let flag = Rc::clone(&finished);
    let task = glommio::spawn_local(async move {
        let output = work.await;
        flag.set(true);
        output
    });
    (task, finished)
}

/// Lets spawned tasks run.
async fn settle() {
    glommio::timer::sleep(Duration::from_millis(5)).await;
}

#[test]
fn an_acks_all_wait_is_woken_by_the_follower_fetch_that_moves_the_high_watermark() {
    in_partition_dir(|dir| async move {
        let partition = leading(dir.as_path(), &[1, 2, 3], 3).await;
        assert_eq!(partition.offsets().log_end_offset, 3);
        assert_eq!(partition.high_watermark(), 0, "no follower has fetched");
        let waiter = Rc::clone(&partition);
        let (waited, finished) =
            spawn_watched(async move { waiter.wait_for_high_watermark(2).await });
        settle().await;
        assert!(!finished.get());
        assert_eq!(partition.record_follower_fetch(2, 3, 3, 1_100), Ok(false));
        settle().await;
        assert!(!finished.get(), "follower 3 has not fetched");
        assert_eq!(partition.record_follower_fetch(3, 2, 3, 1_100), Ok(true));
        assert_eq!(partition.high_watermark(), 2);
        settle().await;
        assert!(!finished.get(), "offset 2 is not below the mark");
        assert_eq!(partition.record_follower_fetch(3, 3, 3, 1_200), Ok(true));
        assert_eq!(waited.await, Ok(()));
        assert_eq!(partition.high_watermark(), 3);
    });
}

#[test]
fn consumers_read_up_to_the_high_watermark_only() {
    in_partition_dir(|dir| async move {
        let partition = leading(dir.as_path(), &[1, 2], 2).await;
        partition.append(&batch(3), 0).await.expect("append");
        let mut chunks = Vec::new();
        let read = partition.read(0, 1 << 20, &mut chunks).await.expect("read");
        assert_eq!((read.bytes, read.high_watermark), (0, 0));
        // Follower 2 has the first batch only.
        partition
            .record_follower_fetch(2, 2, 5, 1_100)
            .expect("fetch");
        let read = partition.read(0, 1 << 20, &mut chunks).await.expect("read");
        assert_eq!((read.high_watermark, read.log_end_offset), (2, 5));
        assert_eq!(
            read.bytes,
            batch(2).len(),
            "the first batch, not the second"
        );
        assert_eq!(partition.offsets().high_watermark, 2);
        assert_eq!(partition.list_offset(-1).await.expect("latest").offset, 2);
    });
}

#[test]
fn a_long_poll_is_woken_by_a_follower_fetch() {
    in_partition_dir(|dir| async move {
        let partition = leading(dir.as_path(), &[1, 2], 1).await;
        let waiter = Rc::clone(&partition);
        let (waited, finished) = spawn_watched(async move {
            waiter.wait_for_append(0).await;
            waiter.high_watermark()
        });
        settle().await;
        assert!(!finished.get());
        partition
            .record_follower_fetch(2, 1, 1, 1_100)
            .expect("fetch");
        assert_eq!(waited.await, 1);
    });
}

#[test]
fn an_acks_all_wait_ends_with_not_leader_when_leadership_is_lost() {
    in_partition_dir(|dir| async move {
        let partition = leading(dir.as_path(), &[1, 2, 3], 1).await;
        let waiter = Rc::clone(&partition);
        let (waited, finished) =
            spawn_watched(async move { waiter.wait_for_high_watermark(0).await });
        settle().await;
        assert!(!finished.get());
        partition.set_role(Role::Follower {
            leader: 2,
            leader_epoch: 4,
        });
        assert_eq!(
            waited.await,
            Err(ReplicationError::NotLeader {
                leader: 2,
                leader_epoch: 4
            })
        );
        assert_eq!(
            partition.record_follower_fetch(2, 1, 1, 1_100),
            Err(ReplicationError::NotLeader {
                leader: 2,
                leader_epoch: 4
            })
        );
    });
}

#[test]
fn an_isr_shrunk_below_min_insync_replicas_while_waiting_fails_after_the_append() {
    in_partition_dir(|dir| async move {
        let partition = leading(dir.as_path(), &[1, 2], 1).await;
        partition.set_min_insync_replicas(2);
        assert_eq!(partition.check_enough_replicas(), Ok(()));
        let waiter = Rc::clone(&partition);
        let (waited, finished) =
            spawn_watched(async move { waiter.wait_for_high_watermark(0).await });
        settle().await;
        assert!(!finished.get());
        // Follower 2 lags; the controller commits the shrink the leader
        // proposed.
        assert_eq!(partition.isr_to_shrink(31_001, 30_000), Some(vec![1]));
        partition.propose_isr(vec![1]);
        partition.set_replicas(assignment(&[1, 2, 3], &[1], 6), 31_002);
        assert_eq!(
            waited.await,
            Err(ReplicationError::NotEnoughReplicasAfterAppend {
                isr_size: 1,
                min_insync_replicas: 2
            })
        );
        assert_eq!(partition.high_watermark(), 1, "the leader alone is the ISR");
        assert_eq!(
            partition.check_enough_replicas(),
            Err(LEADER_ALONE_BELOW_TWO)
        );
    });
}

#[test]
fn a_caught_up_follower_is_proposed_for_the_isr() {
    in_partition_dir(|dir| async move {
        let partition = leading(dir.as_path(), &[1, 2], 4).await;
        partition
            .record_follower_fetch(2, 4, 4, 1_100)
            .expect("fetch");
        partition
            .record_follower_fetch(3, 3, 4, 1_100)
            .expect("fetch");
        assert_eq!(partition.isr_to_expand(), None);
        partition
            .record_follower_fetch(3, 4, 4, 1_200)
            .expect("fetch");
        assert_eq!(partition.isr_to_expand(), Some(vec![1, 2, 3]));
    });
}

#[test]
fn a_partition_with_one_replica_keeps_the_durable_end_offset_as_high_watermark() {
    in_partition_dir(|dir| async move {
        let partition = open(dir.as_path(), leader(0)).await;
        partition.set_replicas(ReplicaAssignment::single(1), 0);
        let info = partition.append(&batch(2), 0).await.expect("append");
        assert_eq!(partition.high_watermark(), 2);
        assert_eq!(partition.check_enough_replicas(), Ok(()));
        assert_eq!(
            partition.wait_for_high_watermark(info.last_offset).await,
            Ok(())
        );
        assert_eq!(
            partition.record_follower_fetch(2, 2, 2, 0),
            Err(ReplicationError::NotAReplica { broker: 2 })
        );
        assert!(partition.replica_set().is_none());
        partition.set_min_insync_replicas(2);
        assert_eq!(
            partition.check_enough_replicas(),
            Err(LEADER_ALONE_BELOW_TWO)
        );
    });
}

#[test]
fn a_leader_that_gains_followers_keeps_its_high_watermark() {
    in_partition_dir(|dir| async move {
        let partition = open(dir.as_path(), leader(0)).await;
        partition.append(&batch(3), 0).await.expect("append");
        assert_eq!(partition.high_watermark(), 3);
        // A reassignment adds two replicas, not yet in sync.
        partition.set_replicas(assignment(&[1, 2, 3], &[1], 1), 1_000);
        assert_eq!(partition.high_watermark(), 3);
        partition.append(&batch(1), 0).await.expect("append");
        assert_eq!(partition.high_watermark(), 4, "the ISR is the leader alone");
        // They join the ISR before fetching (an image may say so): the mark
        // stays where it is until they fetch.
        partition.set_replicas(assignment(&[1, 2, 3], &[1, 2, 3], 2), 1_100);
        partition.append(&batch(1), 0).await.expect("append");
        assert_eq!(partition.high_watermark(), 4);
    });
}

#[test]
fn a_new_leader_starts_from_the_high_watermark_it_knew_as_a_follower() {
    in_partition_dir(|dir| async move {
        let partition = open(dir.as_path(), leader(1)).await;
        partition.append(&batch(3), 0).await.expect("append");
        partition.set_role(Role::Follower {
            leader: 2,
            leader_epoch: 2,
        });
        // The new leader has replicated only 2 of the 3 offsets.
        partition.learn_high_watermark(2);
        partition.set_replicas(assignment(&[1, 2, 3], &[1, 2, 3], 7), 1_000);
        partition.set_role(leader(3));
        assert_eq!(partition.high_watermark(), 2);
        let set = partition.replica_set().expect("leading followers");
        assert_eq!((set.leader_epoch(), set.partition_epoch()), (3, 7));
        // A leader alone again reports its durable end offset.
        partition.set_replicas(assignment(&[1], &[1], 8), 1_100);
        assert_eq!(partition.high_watermark(), 3);
    });
}

#[test]
fn a_reopened_leader_with_followers_starts_from_its_log_start() {
    in_partition_dir(|dir| async move {
        let partition = open(dir.as_path(), leader(1)).await;
        partition.append(&batch(3), 0).await.expect("append");
        partition.close().await.expect("close");
        // No high-watermark checkpoint: the tail may not be on the
        // followers, so it is not shown until they fetch it.
        let partition = leading(dir.as_path(), &[1, 2, 3], 0).await;
        assert_eq!(partition.high_watermark(), 0);
        partition
            .record_follower_fetch(2, 3, 3, 1_100)
            .expect("fetch");
        partition
            .record_follower_fetch(3, 3, 3, 1_100)
            .expect("fetch");
        assert_eq!(partition.high_watermark(), 3);
    });
}

#[test]
fn an_isr_committed_by_the_controller_applies_before_its_image_and_an_older_image_is_ignored() {
    in_partition_dir(|dir| async move {
        let partition = leading(dir.as_path(), &[1, 2, 3], 4).await;
        partition.propose_isr(vec![1, 2]);
        // The answer names another leader epoch: not this leadership's.
        assert!(!partition.commit_isr(vec![1, 2], 2, 6, 1_100));
        // Not newer than the partition epoch held: nothing to apply.
        assert!(!partition.commit_isr(vec![1, 2], 3, 5, 1_100));
        assert!(partition.commit_isr(vec![1, 2], 3, 6, 1_100));
        let set = partition.replica_set().expect("leads followers");
        assert_eq!((set.isr(), set.partition_epoch()), (&[1, 2][..], 6));
        assert_eq!(set.proposed_isr(), None);
        // An image from before the change (partition epoch 5) changes
        // nothing; the one that records it is already applied.
        partition.set_replicas(assignment(&[1, 2, 3], &[1, 2, 3], 5), 1_200);
        assert_eq!(partition.replicas().isr, vec![1, 2]);
        partition.set_replicas(assignment(&[1, 2, 3], &[1, 2], 6), 1_200);
        assert_eq!(partition.replicas().partition_epoch, 6);
    });
}

#[test]
fn an_abandoned_proposal_lets_the_next_check_propose_again() {
    in_partition_dir(|dir| async move {
        let partition = leading(dir.as_path(), &[1, 2], 4).await;
        partition
            .record_follower_fetch(3, 4, 4, 1_100)
            .expect("fetch");
        let expanded = partition.isr_to_expand().expect("3 caught up");
        partition.propose_isr(expanded);
        assert_eq!(partition.isr_to_expand(), None);
        // INELIGIBLE_REPLICA: the controller did not apply it.
        partition.abandon_proposed_isr();
        assert_eq!(partition.isr_to_expand(), Some(vec![1, 2, 3]));
    });
}
