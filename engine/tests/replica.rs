//! A follower's side of the log: `append_replicated` keeps the leader's
//! batches byte for byte, keeps the gaps a leader's compaction left between
//! them (also across a crash), and refuses overlaps, a start away from the
//! log end and corrupt batches with nothing written; `truncate_to` cuts a divergent tail at a batch boundary
//! (inside the active segment, at a segment boundary, across segments, to
//! the log start), appends go on from the new end, and the truncated state
//! survives a restart and a crash part-way through.

mod support;

use std::path::PathBuf;

use skein_engine::{LogConfig, PartitionLog, ReplicaAppendError};
use support::{batch, read_all, run, small_config};

/// The leader's batches: `count` batches of 3 records appended with epoch 7.
async fn leader_batches(dir: PathBuf, count: usize) -> Vec<(i64, Vec<u8>)> {
    let leader = PartitionLog::open(dir, small_config(8 * 1024))
        .await
        .expect("open leader");
    for seed in 0..count {
        leader
            .append(&batch(3, 200, seed as u64), 7, 0)
            .await
            .expect("append");
    }
    read_all(&leader, 0).await
}

fn concat(batches: &[(i64, Vec<u8>)]) -> Vec<u8> {
    batches.iter().flat_map(|(_, b)| b.clone()).collect()
}

/// Appends `batches` to `follower` one fetch each (so segments roll).
async fn replicate_one_by_one(follower: &PartitionLog, batches: &[(i64, Vec<u8>)]) {
    for (_, bytes) in batches {
        follower
            .append_replicated(bytes, 0)
            .await
            .expect("replicate");
    }
}

fn config() -> LogConfig {
    small_config(8 * 1024)
}

#[test]
fn replicated_batches_are_stored_byte_for_byte() {
    let root = tempfile::tempdir().expect("tempdir");
    let (leader_dir, follower_dir) = (root.path().join("l"), root.path().join("f"));
    run(move || async move {
        let batches = leader_batches(leader_dir, 40).await;
        let follower = PartitionLog::open(follower_dir, config())
            .await
            .expect("open");
        // One fetch of 3 batches, then the rest one at a time.
        let info = follower
            .append_replicated(&concat(&batches[..3]), 0)
            .await
            .expect("replicate");
        assert_eq!((info.base_offset, info.last_offset), (0, 8));
        assert_eq!(info.record_count, 9);
        for (base, bytes) in &batches[3..] {
            let info = follower
                .append_replicated(bytes, 0)
                .await
                .expect("replicate");
            assert_eq!(info.base_offset, *base);
            assert_eq!(info.last_offset, base + 2);
        }
        assert_eq!(follower.log_end_offset(), 120);
        assert!(follower.segment_count() > 1, "replicated appends roll");
        assert_eq!(read_all(&follower, 0).await, batches);
    });
}

#[test]
fn replicated_overlap_stale_start_or_corrupt_batch_writes_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let (leader_dir, follower_dir) = (root.path().join("l"), root.path().join("f"));
    run(move || async move {
        let batches = leader_batches(leader_dir, 4).await;
        let follower = PartitionLog::open(follower_dir, config())
            .await
            .expect("open");
        follower
            .append_replicated(&batches[0].1, 0)
            .await
            .expect("first");
        // Overlap: the first batch again.
        let overlap = follower.append_replicated(&batches[0].1, 0).await;
        assert!(matches!(
            overlap,
            Err(ReplicaAppendError::OffsetMismatch {
                expected: 3,
                found: 0,
                ..
            })
        ));
        // Gap: batch 2 without batch 1.
        let gap = follower.append_replicated(&batches[2].1, 0).await;
        assert!(matches!(
            gap,
            Err(ReplicaAppendError::OffsetMismatch {
                expected: 3,
                found: 6,
                ..
            })
        ));
        // An overlap inside the fetch: batch 1 twice.
        let inner_overlap = [batches[1].1.clone(), batches[1].1.clone()].concat();
        let refused = follower.append_replicated(&inner_overlap, 0).await;
        assert!(matches!(
            refused,
            Err(ReplicaAppendError::OffsetMismatch { expected: 6, found: 3, position, .. })
                if position == batches[1].1.len()
        ));
        // A fetch from an offset this log no longer ends at (an answer a
        // truncation overtook) would leave a hole: refused.
        let stale = follower
            .append_replicated_observed(&batches[2].1, Some(6), 0, &mut |_| {})
            .await;
        assert!(matches!(
            stale,
            Err(ReplicaAppendError::OffsetMismatch {
                expected: 3,
                found: 6,
                ..
            })
        ));
        // Corrupt: a flipped byte in the second batch of a good pair.
        let mut corrupt = concat(&batches[1..3]);
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xFF;
        let refused = follower.append_replicated(&corrupt, 0).await;
        assert!(matches!(refused, Err(ReplicaAppendError::Append(_))));
        assert_eq!(follower.log_end_offset(), 3);
        assert_eq!(follower.durable_end_offset(), 3);
        assert_eq!(read_all(&follower, 0).await, batches[..1].to_vec());
    });
}

/// A follower holding the leader's 40 batches (3 records each, several
/// segments), truncated to `offset`: checks the result and that appends of
/// both kinds continue at the new end, across a restart.
fn truncate_and_continue(offset: i64, expected_end: i64) {
    let root = tempfile::tempdir().expect("tempdir");
    let (leader_dir, follower_dir) = (root.path().join("l"), root.path().join("f"));
    run(move || async move {
        let batches = leader_batches(leader_dir, 40).await;
        let follower = PartitionLog::open(follower_dir.clone(), config())
            .await
            .expect("open");
        replicate_one_by_one(&follower, &batches).await;
        let segments_before = follower.segment_count();
        follower.truncate_to(offset).await.expect("truncate");
        assert_eq!(follower.log_end_offset(), expected_end);
        assert_eq!(follower.durable_end_offset(), expected_end);
        assert!(follower.segment_count() <= segments_before);
        let kept: Vec<_> = batches
            .iter()
            .filter(|(base, _)| *base < expected_end)
            .cloned()
            .collect();
        assert_eq!(read_all(&follower, 0).await, kept);
        // A replicated append of the leader's next batch, then a leader's append.
        let next = batches
            .iter()
            .find(|(base, _)| *base == expected_end)
            .expect("a batch starts at the new end");
        follower
            .append_replicated(&next.1, 0)
            .await
            .expect("replicate after truncation");
        let own = follower
            .append(&batch(2, 100, 99), 8, 0)
            .await
            .expect("append after truncation");
        assert_eq!(own.base_offset, expected_end + 3);
        let mut expected = kept.clone();
        expected.push(next.clone());
        let all = read_all(&follower, 0).await;
        assert_eq!(all[..expected.len()], expected[..]);
        assert_eq!(all.len(), expected.len() + 1);
        // An unclean restart (drop, no close) recovers the same log.
        drop(follower);
        let reopened = PartitionLog::open(follower_dir.clone(), config())
            .await
            .expect("reopen");
        assert_eq!(reopened.log_end_offset(), expected_end + 5);
        assert_eq!(read_all(&reopened, 0).await, all);
        reopened.close().await.expect("close");
        let clean = PartitionLog::open(follower_dir, config())
            .await
            .expect("reopen");
        assert_eq!(read_all(&clean, 0).await, all);
    });
}

#[test]
fn truncate_inside_a_batch_cuts_from_its_base_offset() {
    // 40 batches of 3 records: offset 100 lies in the batch [99, 101].
    truncate_and_continue(100, 99);
}

#[test]
fn truncate_in_the_active_segment() {
    truncate_and_continue(117, 117);
}

#[test]
fn truncate_to_a_segment_boundary_and_across_segments() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("f");
    let leader_dir = root.path().join("l");
    run(move || async move {
        let batches = leader_batches(leader_dir, 40).await;
        let follower = PartitionLog::open(dir.clone(), config())
            .await
            .expect("open");
        replicate_one_by_one(&follower, &batches).await;
        // Segment bases are the file names.
        let mut bases: Vec<i64> = support::list(&dir)
            .iter()
            .filter_map(|n| n.strip_suffix(".log")?.parse().ok())
            .collect();
        bases.sort_unstable();
        assert!(bases.len() >= 3, "several segments: {bases:?}");
        let boundary = bases[bases.len() - 2];
        follower
            .truncate_to(boundary)
            .await
            .expect("truncate at a boundary");
        assert_eq!(follower.log_end_offset(), boundary);
        assert_eq!(follower.segment_count(), bases.len() - 1);
        // As Kafka: the segment holding `boundary` (based there) stays, empty,
        // as the active one; the newer ones are gone.
        let cut = dir.join(support::segment_file_name(boundary, "log"));
        assert_eq!(std::fs::metadata(&cut).expect("kept").len(), 0);
        let newest = *bases.last().expect("segments");
        assert!(!dir.join(support::segment_file_name(newest, "log")).exists());
        let mid = bases[1] + 3;
        follower
            .truncate_to(mid)
            .await
            .expect("truncate across segments");
        assert_eq!(follower.log_end_offset(), mid);
        assert_eq!(follower.segment_count(), 2);
        follower
            .append_replicated(&batches[(mid / 3) as usize].1, 0)
            .await
            .expect("continue");
        drop(follower);
        let reopened = PartitionLog::open(dir, config()).await.expect("reopen");
        assert_eq!(reopened.log_end_offset(), mid + 3);
        assert_eq!(
            read_all(&reopened, 0).await,
            batches[..(mid / 3 + 1) as usize].to_vec()
        );
    });
}

#[test]
fn truncate_to_the_log_start_empties_the_log_and_beyond_the_end_is_a_no_op() {
    let root = tempfile::tempdir().expect("tempdir");
    let (leader_dir, dir) = (root.path().join("l"), root.path().join("f"));
    run(move || async move {
        let batches = leader_batches(leader_dir, 40).await;
        let follower = PartitionLog::open(dir.clone(), config())
            .await
            .expect("open");
        replicate_one_by_one(&follower, &batches).await;
        follower.truncate_to(500).await.expect("no-op");
        assert_eq!(follower.log_end_offset(), 120);
        follower.delete_records(30).await.expect("delete records");
        let below = follower.truncate_to(29).await;
        assert!(matches!(
            below,
            Err(skein_engine::LogError::OffsetOutOfRange { requested: 29, .. })
        ));
        follower
            .truncate_to(30)
            .await
            .expect("truncate to the log start");
        assert_eq!(follower.log_end_offset(), 30);
        assert_eq!(follower.log_start_offset(), 30);
        assert!(read_all(&follower, 30).await.is_empty());
        follower
            .append_replicated(&batches[10].1, 0)
            .await
            .expect("continue at the log start");
        assert_eq!(read_all(&follower, 30).await, batches[10..11].to_vec());
    });
}

/// A crash part-way through a truncation: the log directory as it was
/// before it, with only the newest segments unlinked (the order truncation
/// deletes them in), opened without a clean shutdown, serves a dense prefix
/// of valid batches; truncating again completes the job.
#[test]
fn a_crash_during_truncation_leaves_a_dense_prefix_of_valid_batches() {
    let root = tempfile::tempdir().expect("tempdir");
    let (leader_dir, dir) = (root.path().join("l"), root.path().join("f"));
    run(move || async move {
        let batches = leader_batches(leader_dir, 40).await;
        let follower = PartitionLog::open(dir.clone(), config())
            .await
            .expect("open");
        replicate_one_by_one(&follower, &batches).await;
        // Crash: the log is dropped (its flushers stop), not closed.
        drop(follower);
        let mut bases: Vec<i64> = support::list(&dir)
            .iter()
            .filter_map(|n| n.strip_suffix(".log")?.parse().ok())
            .collect();
        bases.sort_unstable();
        // Unlinked: the newest segment only (its index files were left).
        let newest = *bases.last().expect("segments");
        std::fs::remove_file(dir.join(support::segment_file_name(newest, "log"))).expect("rm");
        // The segment being cut holds a torn batch past the cut point.
        let target = bases[1] + 6;
        let cut_path = dir.join(support::segment_file_name(bases[bases.len() - 2], "log"));
        let len = std::fs::metadata(&cut_path).expect("stat").len();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&cut_path)
            .expect("open");
        file.set_len(len - 17).expect("tear");
        drop(file);
        let log = PartitionLog::open(dir.clone(), config())
            .await
            .expect("recover");
        let served = read_all(&log, 0).await;
        let end = log.log_end_offset();
        assert!(end < newest, "the torn batch is not served");
        assert_eq!(served, batches[..(end / 3) as usize].to_vec());
        log.truncate_to(target).await.expect("truncate again");
        assert_eq!(log.log_end_offset(), target);
        drop(log);
        let log = PartitionLog::open(dir, config()).await.expect("recover");
        assert_eq!(
            read_all(&log, 0).await,
            batches[..(target / 3) as usize].to_vec()
        );
    });
}

#[test]
fn truncate_fully_and_start_at_the_leaders_log_start_then_replicate_from_there() {
    // A follower holding the first 10 batches whose leader's log now starts
    // at offset 60 (batch 20): it empties its log, starts at 60 and
    // replicates the leader's batches from there, also after a restart.
    let root = tempfile::tempdir().expect("tempdir");
    let (leader_dir, follower_dir) = (root.path().join("l"), root.path().join("f"));
    run(move || async move {
        let batches = leader_batches(leader_dir, 40).await;
        let follower = PartitionLog::open(follower_dir.clone(), config())
            .await
            .expect("open");
        replicate_one_by_one(&follower, &batches[..10]).await;
        assert_eq!(follower.log_end_offset(), 30);
        follower
            .truncate_fully_and_start_at(60)
            .await
            .expect("start over");
        assert_eq!(follower.log_start_offset(), 60);
        assert_eq!(follower.log_end_offset(), 60);
        assert_eq!(follower.durable_end_offset(), 60);
        assert_eq!(follower.segment_count(), 1);
        assert!(read_all(&follower, 60).await.is_empty());
        replicate_one_by_one(&follower, &batches[20..25]).await;
        assert_eq!(follower.log_end_offset(), 75);
        assert_eq!(read_all(&follower, 60).await, batches[20..25].to_vec());
        follower.close().await.expect("close");
        let reopened = PartitionLog::open(follower_dir, config())
            .await
            .expect("reopen");
        assert_eq!(reopened.log_start_offset(), 60);
        assert_eq!(reopened.log_end_offset(), 75);
        assert_eq!(read_all(&reopened, 60).await, batches[20..25].to_vec());
    });
}

/// A leader whose compaction removed whole batches serves a follower
/// batches with gaps between them, and a first batch past the fetch
/// offset: the follower keeps them as they are, reads step over the gaps,
/// and a crash (no clean shutdown) recovers the gapped active segment
/// whole instead of cutting it at the first gap.
#[test]
fn a_compacted_leaders_gaps_are_kept_by_the_follower_and_survive_a_crash() {
    let root = tempfile::tempdir().expect("tempdir");
    let (leader_dir, dir) = (root.path().join("l"), root.path().join("f"));
    run(move || async move {
        let batches = leader_batches(leader_dir, 8).await;
        // As compacted on the leader: batches 0, 3, 4 and 6 are gone.
        let kept: Vec<(i64, Vec<u8>)> = [1, 2, 5, 7].iter().map(|&i| batches[i].clone()).collect();
        let follower = PartitionLog::open(dir.clone(), small_config(1 << 20))
            .await
            .expect("open");
        // A fetch from 0 whose answer starts at 3, then a gap inside one fetch.
        let info = follower
            .append_replicated_observed(&concat(&kept[..2]), Some(0), 0, &mut |_| {})
            .await
            .expect("gap before the first batch");
        assert_eq!((info.base_offset, info.last_offset), (3, 8));
        let info = follower
            .append_replicated_observed(&concat(&kept[2..]), Some(9), 0, &mut |_| {})
            .await
            .expect("gaps between batches");
        assert_eq!((info.base_offset, info.last_offset), (15, 23));
        assert_eq!(follower.log_end_offset(), 24);
        assert_eq!(read_all(&follower, 0).await, kept);
        assert_eq!(
            read_all(&follower, 10).await,
            kept[2..].to_vec(),
            "a read in a gap starts after it"
        );
        // Crash: dropped, not closed.
        drop(follower);
        let log = PartitionLog::open(dir, small_config(1 << 20))
            .await
            .expect("recover");
        assert_eq!(log.log_end_offset(), 24);
        assert_eq!(read_all(&log, 0).await, kept);
        // Appends go on from the end.
        log.append_replicated(&batches[7].1, 0)
            .await
            .expect_err("an overlap is still refused");
    });
}
