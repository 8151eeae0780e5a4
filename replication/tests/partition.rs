//! The typed operations of a `Partition` and its `PartitionTable` on real
//! logs: leader-epoch stamping and checkpointing, follower refusals,
//! idempotent producers, ListOffsets, DeleteRecords, OffsetForLeaderEpoch,
//! and the recovery of leader epochs from a missing, corrupt, truncated or
//! stale checkpoint.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use skein_engine::test_batch::BatchBuilder;
use skein_engine::{BatchHeader, LogChunk, LogConfig, LogDirs};
use skein_replication::{
    EpochEndOffset, EpochEntry, ListedOffset, Partition, PartitionError, PartitionTable,
    ProducerError, ReplicaAssignment, ReplicaSpec, Role, CHECKPOINT_FILE,
};
use support::{batch, leader, log_dirs, open, run, tuning};

/// Every batch header of the partition, read as its leader would serve it.
async fn headers(partition: &Partition) -> Vec<BatchHeader> {
    let mut offset = partition.offsets().log_start_offset;
    let mut found = Vec::new();
    while offset < partition.high_watermark() {
        let mut chunks = Vec::new();
        partition
            .read(offset, 1 << 20, &mut chunks)
            .await
            .expect("read");
        for chunk in &chunks {
            let mut bytes = chunk.as_slice();
            while let Some(header) = BatchHeader::read(bytes) {
                found.push(*header);
                offset = header.last_offset() + 1;
                bytes = &bytes[header.total_bytes() as usize..];
            }
        }
        assert!(!chunks.iter().all(LogChunk::is_empty));
    }
    found
}

fn checkpoint(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(CHECKPOINT_FILE)).expect("checkpoint")
}

fn entry(leader_epoch: i32, start_offset: i64) -> EpochEntry {
    EpochEntry {
        leader_epoch,
        start_offset,
    }
}

/// A partition led in epoch 1 for offsets 0..3, then in epoch 4 for 3..5,
/// closed cleanly.
async fn two_epochs(dir: PathBuf) {
    let partition = open(&dir, leader(1)).await;
    partition.append(&batch(2), 0).await.expect("append");
    partition.append(&batch(1), 0).await.expect("append");
    partition.set_role(leader(4));
    partition.append(&batch(2), 0).await.expect("append");
    partition.close().await.expect("close");
}

#[test]
fn a_leaders_batches_carry_its_leader_epoch_and_start_its_epoch_in_the_checkpoint() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    let checkpointed = run(move || async move {
        let partition = open(&dir, leader(7)).await;
        let info = partition.append(&batch(3), 0).await.expect("append");
        assert_eq!((info.base_offset, info.last_offset), (0, 2));
        partition.append(&batch(2), 0).await.expect("append");
        let epochs: Vec<i32> = headers(&partition)
            .await
            .iter()
            .map(|h| h.partition_leader_epoch.get())
            .collect();
        assert_eq!(epochs, vec![7, 7]);
        assert_eq!(partition.leader_epochs(), vec![entry(7, 0)]);
        checkpoint(&dir)
    });
    assert_eq!(checkpointed, "0\n1\n7 0\n");
}

#[test]
fn a_follower_refuses_produce_reads_and_leader_only_queries() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || async move {
        let partition = open(&dir, leader(1)).await;
        partition.append(&batch(2), 0).await.expect("append");
        let follower = Role::Follower {
            leader: 3,
            leader_epoch: 2,
        };
        partition.set_role(follower);
        let not_leader = |result: Result<(), PartitionError>| {
            assert!(
                matches!(
                    result,
                    Err(PartitionError::NotLeader {
                        leader: 3,
                        leader_epoch: 2
                    })
                ),
                "{result:?}"
            );
        };
        not_leader(partition.append(&batch(1), 0).await.map(drop));
        not_leader(partition.read(0, 1024, &mut Vec::new()).await.map(drop));
        not_leader(partition.list_offset(-1).await.map(drop));
        not_leader(partition.delete_records(1).await.map(drop));
        not_leader(partition.end_offset_for_epoch(1).map(drop));
        // Any replica reports its offsets and size.
        assert_eq!(partition.offsets().log_end_offset, 2);
        assert!(partition.size_bytes() > 0);
        partition.set_role(leader(0));
        assert_eq!(
            partition.role(),
            follower,
            "a leader epoch never goes backwards"
        );
        partition.set_role(leader(2));
        partition.append(&batch(1), 0).await.expect("leader again");
    });
}

#[test]
fn an_idempotent_retry_is_answered_from_memory_and_a_gap_is_refused() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || async move {
        let partition = open(&dir, leader(0)).await;
        let first = BatchBuilder::new(0)
            .records(2, 8, 1)
            .producer(9, 0, 0)
            .build();
        let appended = partition.append(&first, 0).await.expect("append");
        let retried = partition.append(&first, 0).await.expect("retry");
        assert_eq!(appended, retried);
        assert_eq!(partition.offsets().log_end_offset, 2, "written once");
        let gap = BatchBuilder::new(0)
            .records(1, 8, 1)
            .producer(9, 0, 5)
            .build();
        assert!(matches!(
            partition.append(&gap, 0).await,
            Err(PartitionError::Producer(
                ProducerError::OutOfOrderSequence {
                    base_sequence: 5,
                    expected: 2
                }
            ))
        ));
    });
}

#[test]
fn list_offsets_name_the_epoch_that_appended_the_offset() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || async move {
        two_epochs(dir.clone()).await;
        let partition = open(&dir, leader(6)).await;
        assert_eq!(
            partition.list_offset(-1).await.expect("latest"),
            ListedOffset {
                offset: 5,
                timestamp: -1,
                leader_epoch: 6
            }
        );
        assert_eq!(
            partition.list_offset(-2).await.expect("earliest"),
            ListedOffset {
                offset: 0,
                timestamp: -1,
                leader_epoch: 1
            }
        );
        let by_time = partition.list_offset(0).await.expect("by timestamp");
        assert_eq!((by_time.offset, by_time.leader_epoch), (0, 1));
        let max = partition.list_offset(-3).await.expect("max timestamp");
        assert_eq!(max.leader_epoch, if max.offset >= 3 { 4 } else { 1 });
        assert_eq!(partition.list_offset(-5).await.expect("tiered").offset, -1);
    });
}

#[test]
fn offset_for_leader_epoch_follows_kafkas_rules_after_a_restart() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || async move {
        two_epochs(dir.clone()).await;
        let partition = open(&dir, leader(6)).await;
        // Kafka's makeLeader: the new leader's epoch starts at its log end.
        assert_eq!(
            partition.leader_epochs(),
            vec![entry(1, 0), entry(4, 3), entry(6, 5)]
        );
        let end = |epoch| partition.end_offset_for_epoch(epoch).expect("leader");
        let at = |leader_epoch, end_offset| EpochEndOffset {
            leader_epoch,
            end_offset,
        };
        assert_eq!(end(1), at(1, 3));
        assert_eq!(end(2), at(1, 3), "an epoch that never appended");
        assert_eq!(end(4), at(4, 5), "the latest ends at the log end");
        assert_eq!(end(0), at(0, 0), "older than the first");
        assert_eq!(end(5), at(4, 5), "below the current epoch, never appended");
        assert_eq!(end(7), at(-1, -1), "newer than the current epoch");
        assert_eq!(end(-1), at(-1, -1));
        partition.append(&batch(1), 0).await.expect("append");
        assert_eq!(end(4), at(4, 5));
        assert_eq!(end(6), at(6, 6));
        assert_eq!(checkpoint(&dir), "0\n3\n1 0\n4 3\n6 5\n");
    });
}

#[test]
fn delete_records_moves_the_first_epoch_to_the_new_log_start() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || async move {
        two_epochs(dir.clone()).await;
        let partition = open(&dir, leader(4)).await;
        assert_eq!(partition.delete_records(4).await.expect("delete"), 4);
        assert_eq!(partition.offsets().log_start_offset, 4);
        assert_eq!(partition.leader_epochs(), vec![entry(4, 4)]);
        assert_eq!(checkpoint(&dir), "0\n1\n4 4\n");
        assert!(partition.delete_records(99).await.is_err());
    });
}

#[test]
fn wait_for_append_resolves_once_the_high_watermark_passes() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || async move {
        let partition = std::rc::Rc::new(open(&dir, leader(0)).await);
        let waiter = std::rc::Rc::clone(&partition);
        let waited = glommio::spawn_local(async move {
            waiter.wait_for_append(0).await;
            waiter.high_watermark()
        });
        partition.append(&batch(1), 0).await.expect("append");
        assert_eq!(waited.await, 1);
    });
}

/// Reopens the partition of [`two_epochs`] after `damage` did something to
/// its checkpoint, and returns the epochs it restored and the checkpoint
/// then on disk.
fn reopened_after(damage: fn(&Path)) -> (Vec<EpochEntry>, String) {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || async move {
        two_epochs(dir.clone()).await;
        damage(&dir);
        let partition = open(&dir, leader(6)).await;
        let epochs = partition.leader_epochs();
        (epochs, checkpoint(&dir))
    })
}

const RESTORED: &str = "0\n2\n1 0\n4 3\n";

#[test]
fn leader_epochs_are_restored_from_the_checkpoint() {
    let (epochs, file) = reopened_after(|_| {});
    assert_eq!(epochs, vec![entry(1, 0), entry(4, 3), entry(6, 5)]);
    assert_eq!(file, RESTORED);
}

#[test]
fn a_missing_checkpoint_is_rebuilt_from_the_batches() {
    let (epochs, file) = reopened_after(|dir| {
        std::fs::remove_file(dir.join(CHECKPOINT_FILE)).expect("remove");
    });
    assert_eq!(epochs, vec![entry(1, 0), entry(4, 3), entry(6, 5)]);
    assert_eq!(file, RESTORED);
}

#[test]
fn a_truncated_checkpoint_is_rebuilt_from_the_batches() {
    let (epochs, file) = reopened_after(|dir| {
        let path = dir.join(CHECKPOINT_FILE);
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() - 2]).expect("truncate");
    });
    assert_eq!(epochs, vec![entry(1, 0), entry(4, 3), entry(6, 5)]);
    assert_eq!(file, RESTORED);
}

#[test]
fn a_corrupt_checkpoint_is_rebuilt_from_the_batches() {
    for garbage in [
        &b"0\n2\n4 3\n1 0\n"[..],
        b"\x00\xff garbage",
        b"0\n999999999\n",
    ] {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().join("t-0");
        let garbage = garbage.to_vec();
        let (epochs, file) = run(move || async move {
            two_epochs(dir.clone()).await;
            std::fs::write(dir.join(CHECKPOINT_FILE), garbage).expect("write");
            let partition = open(&dir, leader(6)).await;
            (partition.leader_epochs(), checkpoint(&dir))
        });
        assert_eq!(epochs, vec![entry(1, 0), entry(4, 3), entry(6, 5)]);
        assert_eq!(file, RESTORED);
    }
}

#[test]
fn a_checkpoint_missing_the_newest_epoch_is_completed_from_the_log() {
    // As after a crash between an epoch's first append and its checkpoint.
    let (epochs, file) = reopened_after(|dir| {
        std::fs::write(dir.join(CHECKPOINT_FILE), "0\n1\n1 0\n").expect("write");
    });
    assert_eq!(epochs, vec![entry(1, 0), entry(4, 3), entry(6, 5)]);
    assert_eq!(file, RESTORED);
}

#[test]
fn a_checkpoint_claiming_epochs_the_log_does_not_hold_is_rebuilt() {
    let (epochs, file) = reopened_after(|dir| {
        std::fs::write(dir.join(CHECKPOINT_FILE), "0\n3\n1 0\n4 3\n9 4\n").expect("write");
    });
    assert_eq!(epochs, vec![entry(1, 0), entry(4, 3), entry(6, 5)]);
    assert_eq!(file, RESTORED);
    let (epochs, _) = reopened_after(|dir| {
        std::fs::write(dir.join(CHECKPOINT_FILE), "0\n2\n1 0\n8 50\n").expect("write");
    });
    assert_eq!(
        epochs,
        vec![entry(1, 0), entry(4, 3), entry(6, 5)],
        "beyond the log end"
    );
}

#[test]
fn the_table_opens_updates_and_removes_replicas_as_declared() {
    let temp = tempfile::tempdir().expect("tempdir");
    let data_dir = temp.path().to_path_buf();
    run(move || async move {
        let table = PartitionTable::new(log_dirs(std::slice::from_ref(&data_dir)));
        let key = ([1; 16], 0);
        let spec = |role| ReplicaSpec {
            topic: "t".into(),
            log_config: LogConfig::default(),
            tuning: tuning(),
            role,
            replicas: ReplicaAssignment::single(2),
            min_insync_replicas: 1,
        };
        table
            .reconcile(HashMap::from([(key, spec(leader(2)))]), 0)
            .await;
        assert_eq!(table.len(), 1);
        let partition = table.get(&key).expect("held");
        partition.append(&batch(1), 0).await.expect("append");
        assert!(data_dir.join("t-0").join("partition.metadata").exists());
        drop(partition);
        let follower = Role::Follower {
            leader: 5,
            leader_epoch: 3,
        };
        table
            .reconcile(HashMap::from([(key, spec(follower))]), 0)
            .await;
        assert_eq!(table.get(&key).expect("held").role(), follower);
        assert!(matches!(
            table.get(&([2; 16], 0)),
            Err(PartitionError::UnknownTopicOrPartition)
        ));
        table.reconcile(HashMap::new(), 0).await;
        assert!(table.is_empty());
        assert!(
            !data_dir.join("t-0").exists(),
            "a removed replica's files go"
        );
        table.close_all().await;
    });
}

#[test]
fn the_table_generation_moves_with_every_change_a_view_of_it_must_see() {
    let temp = tempfile::tempdir().expect("tempdir");
    let paths = vec![temp.path().join("a"), temp.path().join("b")];
    run(move || async move {
        let table = PartitionTable::new(log_dirs(&paths));
        let key = ([6; 16], 0);
        let mut seen = vec![table.generation()];
        let mut changed = |table: &PartitionTable, what: &str| {
            let now = table.generation();
            assert!(
                !seen.contains(&now),
                "{what} leaves the generation at {now}"
            );
            seen.push(now);
        };
        table
            .reconcile(HashMap::from([(key, single_spec("g"))]), 0)
            .await;
        changed(&table, "a partition opened");
        let partition = table.get(&key).expect("held");
        let before = table.generation();
        partition.append(&batch(3), 0).await.expect("append");
        assert_eq!(
            table.generation(),
            before,
            "an append is no change to the table"
        );
        drop(partition);
        let follower = ReplicaSpec {
            role: Role::Follower {
                leader: 5,
                leader_epoch: 1,
            },
            ..single_spec("g")
        };
        table.reconcile(HashMap::from([(key, follower)]), 0).await;
        changed(&table, "a role changed");
        let dir = table.log_dir_of(&key).expect("held");
        table.move_to_log_dir(key, 1 - dir).await.expect("moved");
        changed(&table, "a partition moved");
        assert!(table.fail_log_dir_of(&key, "test"));
        changed(&table, "its log directory went offline");
        assert!(table.partitions().is_empty());
        table.reconcile(HashMap::new(), 0).await;
        changed(&table, "a partition removed");
        table.close_all().await;
    });
}

fn single_spec(topic: &str) -> ReplicaSpec {
    ReplicaSpec {
        topic: topic.into(),
        log_config: LogConfig::default(),
        tuning: tuning(),
        role: leader(2),
        replicas: ReplicaAssignment::single(2),
        min_insync_replicas: 1,
    }
}

/// Every batch of the partition as (base offset, CRC, record count): the
/// CRC covers the records, so equal lists mean equal data.
async fn batches(partition: &Partition) -> Vec<(i64, u32, i32)> {
    headers(partition)
        .await
        .iter()
        .map(|h| (h.base_offset.get(), h.crc.get(), h.records_count.get()))
        .collect()
}

#[test]
fn partitions_spread_over_the_log_dirs_with_the_fewest_first() {
    let temp = tempfile::tempdir().expect("tempdir");
    let paths = vec![temp.path().join("a"), temp.path().join("b")];
    run(move || async move {
        let dirs = log_dirs(&paths);
        let table = PartitionTable::new(Arc::clone(&dirs));
        let wanted: HashMap<_, _> = (0..4).map(|p| (([3; 16], p), single_spec("t"))).collect();
        table.reconcile(wanted, 0).await;
        assert_eq!(dirs.partition_counts(), vec![2, 2]);
        for p in 0..4 {
            let in_a = paths[0].join(format!("t-{p}")).exists();
            let in_b = paths[1].join(format!("t-{p}")).exists();
            assert!(in_a != in_b, "t-{p} is in exactly one dir");
        }
        table.close_all().await;
    });
}

#[test]
fn a_moved_partition_keeps_its_records_and_leaves_no_old_copy() {
    let temp = tempfile::tempdir().expect("tempdir");
    let paths = vec![temp.path().join("a"), temp.path().join("b")];
    run(move || async move {
        let dirs = log_dirs(&paths);
        let table = PartitionTable::new(Arc::clone(&dirs));
        let key = ([4; 16], 0);
        table
            .reconcile(HashMap::from([(key, single_spec("m"))]), 0)
            .await;
        let from = table.log_dir_of(&key).expect("held");
        let partition = table.get(&key).expect("held");
        for _ in 0..3 {
            partition.append(&batch(2), 0).await.expect("append");
        }
        let before = batches(&partition).await;
        drop(partition);
        let to = 1 - from;
        table.move_to_log_dir(key, to).await.expect("moved");
        assert_eq!(table.log_dir_of(&key), Some(to));
        assert!(!paths[from].join("m-0").exists());
        assert!(paths[to].join("m-0").join("partition.metadata").exists());
        let partition = table.get(&key).expect("held after the move");
        assert_eq!(batches(&partition).await, before);
        assert_eq!(partition.offsets().log_end_offset, 6);
        partition
            .append(&batch(1), 0)
            .await
            .expect("append after the move");
        drop(partition);
        table.move_to_log_dir(key, to).await.expect("already there");
        table.close_all().await;
        // A restart finds it in its new dir only.
        let reopened = LogDirs::open(&paths, 2).expect("reopen");
        assert_eq!(reopened.locate("m-0"), Some(to));
    });
}

#[test]
fn a_failed_log_dir_takes_only_its_partitions_offline() {
    let temp = tempfile::tempdir().expect("tempdir");
    let paths = vec![temp.path().join("a"), temp.path().join("b")];
    run(move || async move {
        let dirs = log_dirs(&paths);
        let table = PartitionTable::new(Arc::clone(&dirs));
        let keys = [([5; 16], 0), ([5; 16], 1)];
        let wanted: HashMap<_, _> = keys.iter().map(|&k| (k, single_spec("f"))).collect();
        table.reconcile(wanted.clone(), 0).await;
        let failing = table.log_dir_of(&keys[0]).expect("held");
        assert_ne!(table.log_dir_of(&keys[1]), Some(failing));
        std::fs::remove_dir_all(&paths[failing]).expect("remove the dir");
        assert_eq!(dirs.probe(), vec![failing]);
        assert!(matches!(
            table.get(&keys[0]),
            Err(PartitionError::LogDirOffline)
        ));
        let healthy = table.get(&keys[1]).expect("the other dir serves");
        healthy.append(&batch(1), 0).await.expect("append");
        drop(healthy);
        assert!(matches!(
            table.move_to_log_dir(keys[1], failing).await,
            Err(PartitionError::LogDirOffline)
        ));
        // The image again: the offline partition is not reopened elsewhere.
        table.reconcile(wanted, 0).await;
        assert!(matches!(
            table.get(&keys[0]),
            Err(PartitionError::LogDirOffline)
        ));
        assert_eq!(table.partitions().len(), 1);
        table.close_all().await;
    });
}

#[test]
fn a_table_opens_and_closes_more_partitions_than_it_opens_at_once_each_one_cleanly() {
    // More than the table opens (and closes) at a time, so some wait for a
    // turn; every one must still be claimed, opened and closed cleanly.
    const PARTITIONS: i32 = 150;
    let temp = tempfile::tempdir().expect("tempdir");
    let data_dir = temp.path().to_path_buf();
    let reopened_dir = data_dir.clone();
    run(move || async move {
        let table = PartitionTable::new(log_dirs(std::slice::from_ref(&data_dir)));
        let wanted: HashMap<_, _> = (0..PARTITIONS)
            .map(|p| (([4; 16], p), single_spec("many")))
            .collect();
        table.reconcile(wanted, 0).await;
        assert_eq!(table.len(), PARTITIONS as usize);
        for p in [0, 77, PARTITIONS - 1] {
            let partition = table.get(&([4; 16], p)).expect("held");
            partition.append(&batch(3), 0).await.expect("append");
        }
        table.close_all().await;
        assert!(table.is_empty());
    });
    let topic_id_line = format!("topic_id: {}\n", "04".repeat(16));
    for p in 0..PARTITIONS {
        let dir = reopened_dir.join(format!("many-{p}"));
        let metadata = std::fs::read_to_string(dir.join("partition.metadata")).expect("metadata");
        assert_eq!(metadata, format!("version: 0\n{topic_id_line}"));
        assert!(
            dir.join(".clean-shutdown").exists(),
            "many-{p} closed cleanly"
        );
        assert!(!dir.join("partition.metadata.tmp").exists());
    }
    run(move || async move {
        let table = PartitionTable::new(log_dirs(std::slice::from_ref(&reopened_dir)));
        let wanted: HashMap<_, _> = (0..PARTITIONS)
            .map(|p| (([4; 16], p), single_spec("many")))
            .collect();
        table.reconcile(wanted, 0).await;
        assert_eq!(table.len(), PARTITIONS as usize);
        for p in 0..PARTITIONS {
            let expected = if [0, 77, PARTITIONS - 1].contains(&p) {
                3
            } else {
                0
            };
            let partition = table.get(&([4; 16], p)).expect("held");
            assert_eq!(partition.offsets().log_end_offset, expected, "many-{p}");
        }
        table.close_all().await;
    });
}
