//! Idempotent producers across restarts, rolls and replication on real
//! logs: a retried batch is answered with its original offsets after a
//! clean restart (from the shutdown snapshot), after a crash-like stop (no
//! snapshot: rebuilt from the log), from roll snapshots plus a scan, past a
//! corrupt snapshot, on a follower that becomes leader, and after a
//! follower's truncation.

mod support;

use std::path::Path;
use std::time::Duration;

use skein_engine::test_batch::BatchBuilder;
use skein_engine::{AppendInfo, LogConfig};
use skein_replication::{
    Partition, PartitionError, ProducerDescription, ProducerError, Role, SNAPSHOT_SUFFIX,
};
use support::{batch, leader, open, run, tuning};

/// A batch of `count` records of producer `producer_id`.
fn idempotent(producer_id: i64, epoch: i16, base_sequence: i32, count: usize) -> Vec<u8> {
    BatchBuilder::new(1_700_000_000_000)
        .records(count, 40, 3)
        .producer(producer_id, epoch, base_sequence)
        .build()
}

fn snapshots(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(SNAPSHOT_SUFFIX))
        .collect();
    names.sort();
    names
}

/// Opens with segments small enough that a few batches roll them.
async fn open_small_segments(dir: &Path, role: Role) -> Partition {
    let config = LogConfig {
        segment_bytes: 2048,
        ..LogConfig::default()
    };
    Partition::open(dir.to_path_buf(), config, tuning(), role)
        .await
        .expect("open")
}

/// Appends three batches of producer 9 (sequences 0..2, 2..5, 5..6) with a
/// plain batch between, returning their outcomes.
async fn three_batches(partition: &Partition) -> Vec<AppendInfo> {
    let mut infos = Vec::new();
    infos.push(
        partition
            .append(&idempotent(9, 0, 0, 2), 0)
            .await
            .expect("append"),
    );
    partition.append(&batch(1), 0).await.expect("append");
    infos.push(
        partition
            .append(&idempotent(9, 0, 2, 3), 0)
            .await
            .expect("append"),
    );
    infos.push(
        partition
            .append(&idempotent(9, 0, 5, 1), 0)
            .await
            .expect("append"),
    );
    infos
}

/// Every retry is answered with its original offsets and writes nothing;
/// the next sequence is accepted and a gap refused.
async fn assert_deduplicated(partition: &Partition, infos: &[AppendInfo]) {
    let end = partition.offsets().log_end_offset;
    for (retry, original) in [
        (idempotent(9, 0, 0, 2), infos[0]),
        (idempotent(9, 0, 2, 3), infos[1]),
        (idempotent(9, 0, 5, 1), infos[2]),
    ] {
        let answered = partition.append(&retry, 0).await.expect("duplicate");
        assert_eq!(
            (answered.base_offset, answered.last_offset),
            (original.base_offset, original.last_offset)
        );
    }
    assert_eq!(
        partition.offsets().log_end_offset,
        end,
        "nothing written twice"
    );
    assert!(matches!(
        partition.append(&idempotent(9, 0, 7, 1), 0).await,
        Err(PartitionError::Producer(
            ProducerError::OutOfOrderSequence {
                base_sequence: 7,
                expected: 6
            }
        ))
    ));
    let next = partition
        .append(&idempotent(9, 0, 6, 1), 0)
        .await
        .expect("next");
    assert_eq!(next.base_offset, end);
}

#[test]
fn a_retry_after_a_clean_restart_is_a_duplicate_with_its_original_offsets() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || async move {
        let partition = open(&dir, leader(0)).await;
        let infos = three_batches(&partition).await;
        assert_eq!(infos[1].base_offset, 3);
        partition.close().await.expect("close");
        assert_eq!(
            snapshots(&dir),
            vec!["00000000000000000007.snapshot".to_string()],
            "a snapshot at the log end on clean shutdown"
        );
        let partition = open(&dir, leader(1)).await;
        assert_deduplicated(&partition, &infos).await;
    });
}

#[test]
fn a_retry_after_a_crash_without_a_snapshot_is_deduplicated_from_the_log() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || async move {
        let partition = open(&dir, leader(0)).await;
        let infos = three_batches(&partition).await;
        // No close: no clean-shutdown marker and no snapshot.
        drop(partition);
        assert!(snapshots(&dir).is_empty());
        let partition = open(&dir, leader(1)).await;
        assert_deduplicated(&partition, &infos).await;
    });
}

/// Appends batches of producers 1..=4 (several epochs for producer 4),
/// enough to roll 2 KiB segments several times.
async fn many_producers(partition: &Partition) {
    for round in 0..12 {
        for producer_id in 1..=3 {
            partition
                .append(&idempotent(producer_id, 2, round * 2, 2), 0)
                .await
                .expect("append");
        }
        let epoch = i16::try_from(round / 4).expect("small");
        let sequence = (round % 4) * 3;
        partition
            .append(&idempotent(4, epoch, sequence, 3), 0)
            .await
            .expect("append");
    }
}

#[test]
fn roll_snapshots_plus_a_log_scan_rebuild_the_state_before_a_crash() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || async move {
        let partition = open_small_segments(&dir, leader(0)).await;
        many_producers(&partition).await;
        // Let the background snapshot writes finish.
        glommio::timer::sleep(Duration::from_millis(200)).await;
        let before: Vec<ProducerDescription> = partition.describe_producers().expect("leader");
        assert_eq!(before.len(), 4);
        assert!(partition.segment_count() > 3, "the log rolled");
        let taken = snapshots(&dir);
        assert!(taken.len() >= 2, "snapshots at the rolls: {taken:?}");
        // One more batch after the last snapshot, then a crash-like stop.
        partition
            .append(&idempotent(1, 2, 24, 1), 0)
            .await
            .expect("append");
        let before: Vec<ProducerDescription> = partition.describe_producers().expect("leader");
        drop(partition);

        let reopened = open_small_segments(&dir, leader(1)).await;
        assert_eq!(reopened.describe_producers().expect("leader"), before);
        let producer_4 = before.iter().find(|p| p.producer_id == 4).expect("4");
        assert_eq!(
            (producer_4.producer_epoch, producer_4.last_sequence),
            (2, 11)
        );
        drop(reopened);

        // The newest snapshot torn: skipped (and deleted), an older one
        // plus a longer scan gives the same state.
        let newest = snapshots(&dir).last().expect("a snapshot").clone();
        let path = dir.join(&newest);
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("tear");
        let reopened = open_small_segments(&dir, leader(2)).await;
        assert_eq!(reopened.describe_producers().expect("leader"), before);
        assert!(
            !snapshots(&dir).contains(&newest),
            "a corrupt snapshot is deleted"
        );
        // A retry of producer 1's last batch is still a duplicate.
        let end = reopened.offsets().log_end_offset;
        reopened
            .append(&idempotent(1, 2, 24, 1), 0)
            .await
            .expect("duplicate");
        assert_eq!(reopened.offsets().log_end_offset, end);
    });
}

#[test]
fn a_follower_that_becomes_leader_deduplicates_what_the_old_leader_wrote() {
    run(|| async {
        let temp = tempfile::tempdir().expect("tempdir");
        let leading = open(&temp.path().join("leader"), leader(3)).await;
        let infos = three_batches(&leading).await;
        let following = open(
            &temp.path().join("follower"),
            Role::Follower {
                leader: 1,
                leader_epoch: 3,
            },
        )
        .await;
        let mut chunks = Vec::new();
        let mut offset = 0;
        while offset < leading.offsets().log_end_offset {
            chunks.clear();
            // A leader alone serves its whole log to a consumer read.
            leading
                .read(offset, 1 << 20, &mut chunks)
                .await
                .expect("read");
            for chunk in &chunks {
                let info = following
                    .append_as_follower(chunk.as_slice(), offset, 0)
                    .await
                    .expect("follower append");
                offset = info.last_offset + 1;
            }
        }
        assert!(matches!(
            following.describe_producers(),
            Err(PartitionError::NotLeader { .. })
        ));
        following.set_role(leader(4));
        assert_eq!(
            following.describe_producers().expect("leader"),
            leading.describe_producers().expect("leader")
        );
        assert_deduplicated(&following, &infos).await;
    });
}

#[test]
fn truncation_rebuilds_the_producer_state_of_the_log_prefix() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("t-0");
    run(move || async move {
        let partition = open(&dir, leader(0)).await;
        let infos = three_batches(&partition).await;
        // A snapshot past the cut must not survive it.
        partition.close().await.expect("close");
        let partition = open(&dir, leader(0)).await;
        assert_eq!(snapshots(&dir).len(), 1);
        // As a follower whose high watermark is after the second producer
        // batch (offsets 0..6), cut back before fetching from a new leader.
        let cut = infos[1].last_offset + 1;
        partition.set_role(Role::Follower {
            leader: 2,
            leader_epoch: 1,
        });
        partition.learn_high_watermark(cut);
        assert_eq!(
            partition.truncate_to_high_watermark().await.expect("cut"),
            cut
        );
        assert!(snapshots(&dir).is_empty(), "the snapshot at 7 is gone");
        partition.set_role(leader(2));
        let described = partition.describe_producers().expect("leader");
        assert_eq!(described[0].last_sequence, 4, "the cut batch is forgotten");
        assert_eq!(
            partition
                .append(&idempotent(9, 0, 2, 3), 0)
                .await
                .expect("duplicate")
                .base_offset,
            infos[1].base_offset
        );
        let again = partition
            .append(&idempotent(9, 0, 5, 1), 0)
            .await
            .expect("the cut batch is appended again");
        assert_eq!(again.base_offset, cut);
    });
}
