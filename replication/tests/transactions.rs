//! Transactions on real logs: coordinators' markers end producers'
//! transactions, the last stable offset holds read_committed reads at the
//! oldest open transaction, aborted transactions come back with the reads
//! that overlap them — across a clean restart, a crash-like stop, a
//! corrupt aborted-transaction index, and on a follower that becomes
//! leader.

mod support;

use std::path::Path;

use skein_engine::test_batch::{reseal, BatchBuilder};
use skein_engine::LogChunk;
use skein_replication::{
    AbortedTxn, Partition, PartitionError, ProducerError, Role, TxnResult, TXN_INDEX_SUFFIX,
};
use support::{batch, leader, open, run};

/// A transactional batch of `count` records of `producer_id`.
fn transactional(producer_id: i64, base_sequence: i32, count: usize) -> Vec<u8> {
    let mut bytes = BatchBuilder::new(1_700_000_000_000)
        .records(count, 40, 3)
        .producer(producer_id, 0, base_sequence)
        .build();
    let attributes = i16::from_be_bytes([bytes[21], bytes[22]]) | (1 << 4);
    bytes[21..23].copy_from_slice(&attributes.to_be_bytes());
    reseal(&mut bytes);
    bytes
}

fn index_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(TXN_INDEX_SUFFIX))
        .collect();
    names.sort();
    names
}

/// Reads committed from `offset`: the base offsets of the batches and the
/// aborted transactions as (producer, first offset).
async fn read_committed(partition: &Partition, offset: i64) -> (Vec<i64>, Vec<(i64, i64)>, i64) {
    let mut chunks = Vec::new();
    let (info, aborted) = partition
        .read_committed(offset, 1 << 20, &mut chunks)
        .await
        .expect("read");
    let bases = base_offsets(&chunks);
    let aborted = aborted
        .iter()
        .map(|txn: &AbortedTxn| (txn.producer_id, txn.first_offset))
        .collect();
    (bases, aborted, info.last_stable_offset)
}

fn base_offsets(chunks: &[LogChunk]) -> Vec<i64> {
    let mut bases = Vec::new();
    for chunk in chunks {
        let mut bytes = chunk.as_slice();
        while bytes.len() >= 12 {
            let base = i64::from_be_bytes(bytes[0..8].try_into().expect("8"));
            let length = i32::from_be_bytes(bytes[8..12].try_into().expect("4"));
            bases.push(base);
            bytes = &bytes[12 + usize::try_from(length).expect("length")..];
        }
    }
    bases
}

/// Producer 1 writes [0, 1], a plain batch takes 2, producer 2 opens a
/// transaction at 3, producer 1 aborts (marker at 4).
async fn one_aborted_one_open(partition: &Partition) {
    partition
        .append(&transactional(1, 0, 2), 0)
        .await
        .expect("append");
    partition.append(&batch(1), 0).await.expect("append");
    partition
        .append(&transactional(2, 0, 1), 0)
        .await
        .expect("append");
    let marker = partition
        .write_txn_marker(1, 0, 0, TxnResult::Abort, 0)
        .await
        .expect("marker");
    assert_eq!(marker.base_offset, 4);
}

async fn assert_one_aborted_one_open(partition: &Partition) {
    assert_eq!(partition.last_stable_offset(), 3, "producer 2 is open at 3");
    assert_eq!(partition.offsets().high_watermark, 5);
    let (bases, aborted, lso) = read_committed(partition, 0).await;
    assert_eq!(bases, vec![0, 2], "up to the last stable offset");
    assert_eq!(aborted, vec![(1, 0)]);
    assert_eq!(lso, 3);
    let listed = partition
        .list_offset_isolated(-1, true)
        .await
        .expect("list");
    assert_eq!(listed.offset, 3, "ListOffsets latest, read_committed");
    let listed = partition
        .list_offset_isolated(-1, false)
        .await
        .expect("list");
    assert_eq!(listed.offset, 5, "ListOffsets latest, read_uncommitted");
}

#[test]
fn markers_and_the_last_stable_offset_survive_a_crash_and_a_clean_restart() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || async move {
        let partition = open(&dir, leader(0)).await;
        one_aborted_one_open(&partition).await;
        assert_one_aborted_one_open(&partition).await;
        assert_eq!(index_files(&dir), vec!["00000000000000000000.txnindex"]);
        // A crash-like stop: no snapshot, no clean-shutdown marker.
        drop(partition);
        let partition = open(&dir, leader(1)).await;
        assert_one_aborted_one_open(&partition).await;
        // Producer 2 commits: everything is stable.
        partition
            .write_txn_marker(2, 0, 0, TxnResult::Commit, 0)
            .await
            .expect("commit");
        assert_eq!(partition.last_stable_offset(), 6);
        let (bases, aborted, _) = read_committed(&partition, 3).await;
        assert_eq!(bases, vec![3, 4, 5]);
        assert_eq!(aborted, vec![(1, 0)], "producer 1's abort marker is at 4");
        let (bases, aborted, _) = read_committed(&partition, 5).await;
        assert_eq!(bases, vec![5]);
        assert!(aborted.is_empty(), "producer 1's transaction ends before 5");
        let (_, aborted, _) = read_committed(&partition, 0).await;
        assert_eq!(aborted, vec![(1, 0)]);
        partition.close().await.expect("close");
        let partition = open(&dir, leader(2)).await;
        assert_eq!(partition.last_stable_offset(), 6);
        let (_, aborted, _) = read_committed(&partition, 0).await;
        assert_eq!(aborted, vec![(1, 0)]);
    });
}

#[test]
fn a_corrupt_or_missing_aborted_index_is_rebuilt_from_the_log() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || async move {
        let partition = open(&dir, leader(0)).await;
        one_aborted_one_open(&partition).await;
        partition.close().await.expect("close");
        let index = dir.join("00000000000000000000.txnindex");
        std::fs::write(&index, b"not an index").expect("corrupt");
        let partition = open(&dir, leader(1)).await;
        assert_one_aborted_one_open(&partition).await;
        assert_eq!(std::fs::read(&index).expect("rewritten").len(), 34);
        drop(partition);
        // Missing and no snapshot to skip the scan: rebuilt by the replay.
        std::fs::remove_file(&index).expect("remove");
        for entry in std::fs::read_dir(&dir).expect("dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|ext| ext == "snapshot") {
                std::fs::remove_file(path).expect("remove snapshot");
            }
        }
        let partition = open(&dir, leader(2)).await;
        assert_one_aborted_one_open(&partition).await;
        assert!(index.exists());
    });
}

#[test]
fn a_follower_applies_the_markers_it_replicates_and_leads_with_the_same_lso() {
    let temp = tempfile::tempdir().expect("tempdir");
    let leader_dir = temp.path().join("leader");
    let follower_dir = temp.path().join("follower");
    run(move || async move {
        let partition = open(&leader_dir, leader(0)).await;
        one_aborted_one_open(&partition).await;
        let follower_role = Role::Follower {
            leader: 1,
            leader_epoch: 0,
        };
        let follower = open(&follower_dir, follower_role).await;
        let mut chunks = Vec::new();
        partition.read(0, 1 << 20, &mut chunks).await.expect("read");
        let mut bytes = Vec::new();
        for chunk in &chunks {
            bytes.extend_from_slice(chunk.as_slice());
        }
        follower
            .append_as_follower(&bytes, 0, 0)
            .await
            .expect("replicate");
        follower.set_role(leader(1));
        assert_one_aborted_one_open(&follower).await;
        assert_eq!(
            index_files(&follower_dir),
            vec!["00000000000000000000.txnindex"]
        );
    });
}

#[test]
fn clients_may_not_write_control_batches_and_stale_markers_are_fenced() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || async move {
        let partition = open(&dir, leader(0)).await;
        partition
            .append(&transactional(1, 0, 1), 0)
            .await
            .expect("append");
        partition
            .write_txn_marker(1, 0, 5, TxnResult::Commit, 0)
            .await
            .expect("marker");
        assert!(matches!(
            partition
                .write_txn_marker(1, 0, 4, TxnResult::Commit, 0)
                .await,
            Err(PartitionError::Producer(
                ProducerError::TransactionCoordinatorFenced { .. }
            ))
        ));
        // The coordinator's marker bytes sent by a client.
        let mut chunks = Vec::new();
        partition.read(1, 1 << 20, &mut chunks).await.expect("read");
        let marker: Vec<u8> = chunks[0].as_slice().to_vec();
        assert!(matches!(
            partition.append(&marker, 0).await,
            Err(PartitionError::Producer(
                ProducerError::InvalidRecord { .. }
            ))
        ));
        // A marker for a producer this partition never saw is written.
        let unknown = partition
            .write_txn_marker(77, 0, 0, TxnResult::Abort, 0)
            .await
            .expect("unknown producer");
        assert_eq!(unknown.base_offset, 2);
        assert_eq!(partition.last_stable_offset(), 3);
        assert!(
            index_files(&dir).is_empty(),
            "an empty transaction aborts nothing"
        );
    });
}

#[test]
fn index_files_follow_their_segments_and_go_with_them() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || async move {
        let config = skein_engine::LogConfig {
            segment_bytes: 2048,
            ..skein_engine::LogConfig::default()
        };
        let partition = Partition::open(dir.clone(), config, support::tuning(), leader(0))
            .await
            .expect("open");
        partition
            .append(&transactional(1, 0, 2), 0)
            .await
            .expect("append");
        partition
            .write_txn_marker(1, 0, 0, TxnResult::Abort, 0)
            .await
            .expect("abort");
        for _ in 0..40 {
            partition.append(&batch(3), 0).await.expect("append");
        }
        partition
            .append(&transactional(1, 2, 1), 0)
            .await
            .expect("append");
        let second = partition
            .write_txn_marker(1, 0, 0, TxnResult::Abort, 0)
            .await
            .expect("abort");
        assert!(partition.segment_count() > 2, "the log rolled");
        let files = index_files(&dir);
        assert_eq!(
            files.len(),
            2,
            "one file per segment with an abort: {files:?}"
        );
        assert_eq!(files[0], "00000000000000000000.txnindex");
        let (_, aborted, _) = read_committed(&partition, 0).await;
        assert_eq!(
            aborted,
            vec![(1, 0)],
            "the first read stops within its segment"
        );
        let (_, aborted, _) = read_committed(&partition, second.base_offset - 1).await;
        assert_eq!(aborted, vec![(1, second.base_offset - 1)]);
        // DeleteRecords to the second transaction: the first segments go,
        // and with them the first file.
        partition
            .delete_records(second.base_offset - 1)
            .await
            .expect("delete");
        let files = index_files(&dir);
        assert_eq!(files.len(), 1, "{files:?}");
        assert_ne!(files[0], "00000000000000000000.txnindex");
        drop(partition);
        let partition = open(&dir, leader(1)).await;
        let (_, aborted, _) = read_committed(&partition, second.base_offset - 1).await;
        assert_eq!(aborted, vec![(1, second.base_offset - 1)]);
    });
}
