//! Key-based compaction of a real log: latest value per key kept with its
//! offset and bytes, tombstones dropped only after delete.retention.ms,
//! reads and the offset index across gaps, reopen, and crash safety of the
//! segment swap at every step.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use skein_engine::{CleanerTxns, CleanupPolicy, LogConfig, PartitionLog, Records};
use support::{read_all, run, segment_file_name, BatchBuilder};

const T0: i64 = 1_700_000_000_000;

/// One record as a consumer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    encoded: Vec<u8>,
}

fn compact_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 64,
        retention_ms: -1,
        cleanup_policy: CleanupPolicy::Compact,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

/// Every record from the log start, decoded; also checks every batch.
async fn records(log: &PartitionLog) -> Vec<Seen> {
    let mut out = Vec::new();
    for (base, batch) in read_all(log, log.log_start_offset()).await {
        assert!(
            skein_engine::validate_batch(&batch, usize::MAX).is_ok() || stored_valid(&batch),
            "a served batch at {base} is invalid"
        );
        for record in Records::new(&batch).expect("header") {
            let record = record.expect("records decode");
            out.push(Seen {
                offset: base + record.offset_delta,
                key: record.key.map(<[u8]>::to_vec),
                value: record.value.map(<[u8]>::to_vec),
                encoded: record.encoded.to_vec(),
            });
        }
    }
    out
}

/// A compacted batch: CRC good, fewer records than offsets.
fn stored_valid(batch: &[u8]) -> bool {
    let crc = u32::from_be_bytes(batch[17..21].try_into().expect("4"));
    let count = i32::from_be_bytes(batch[57..61].try_into().expect("4"));
    let delta = i32::from_be_bytes(batch[23..27].try_into().expect("4"));
    crc32c::crc32c(&batch[21..]) == crc && count > 0 && count <= delta + 1
}

/// Appends one batch of `(key, value)` records (None value = tombstone).
async fn produce(log: &PartitionLog, records: &[(&str, Option<&str>)], timestamp: i64) -> i64 {
    let mut builder = BatchBuilder::new(timestamp);
    for (key, value) in records {
        builder = match value {
            Some(value) => builder.record(key.as_bytes(), value.as_bytes(), 0),
            None => builder.tombstone(key.as_bytes(), 0),
        };
    }
    log.append(&builder.build(), 0, timestamp)
        .await
        .expect("append")
        .base_offset
}

/// What compaction must leave: below `active_base`, a record survives iff
/// no later record below `active_base` has its key (keyless ones survive);
/// from `active_base` on, everything.
fn expected_after(before: &[Seen], active_base: i64) -> Vec<Seen> {
    let mut latest: HashMap<Vec<u8>, i64> = HashMap::new();
    for seen in before.iter().filter(|s| s.offset < active_base) {
        if let Some(key) = &seen.key {
            latest.insert(key.clone(), seen.offset);
        }
    }
    before
        .iter()
        .filter(|s| {
            s.offset >= active_base
                || s.key
                    .as_ref()
                    .is_none_or(|key| latest.get(key) == Some(&s.offset))
        })
        .cloned()
        .collect()
}

/// The base offset of the active segment: the largest `.log` file name.
fn active_base(dir: &Path) -> i64 {
    std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            name.strip_suffix(".log")?.parse::<i64>().ok()
        })
        .max()
        .expect("a segment")
}

/// Fills a log with 400 single- and multi-record batches over 12 keys,
/// with keyless records mixed in, across many small segments.
async fn fill(log: &PartitionLog) {
    for i in 0..400u32 {
        let key = format!("key-{}", i % 12);
        let value = format!("value-{i}");
        if i % 5 == 0 {
            let other = format!("key-{}", (i * 7) % 12);
            let second = format!("second-{i}");
            produce(
                log,
                &[
                    (key.as_str(), Some(value.as_str())),
                    (other.as_str(), Some(second.as_str())),
                    ("", Some("keyless")),
                ],
                T0 + i64::from(i),
            )
            .await;
        } else {
            produce(
                log,
                &[(key.as_str(), Some(value.as_str()))],
                T0 + i64::from(i),
            )
            .await;
        }
    }
}

#[test]
fn compaction_keeps_the_latest_record_per_key_with_its_offset_and_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let log = PartitionLog::open(path.clone(), compact_config(1_500))
            .await
            .expect("open");
        fill(&log).await;
        let before = records(&log).await;
        let end = log.log_end_offset();
        let active = active_base(&path);
        assert!(active > 0, "the test needs sealed segments");
        let report = log
            .compact(T0 + 1_000, &CleanerTxns::non_transactional())
            .await
            .expect("compact")
            .expect("due");
        assert!(report.bytes_after < report.bytes_before / 2, "{report:?}");
        let after = records(&log).await;
        assert_eq!(after, expected_after(&before, active));
        assert_eq!(log.log_end_offset(), end);
        assert_eq!(log.log_start_offset(), 0);
        // Every record below the end reads back from its own offset: the
        // offset index and the reads step over the gaps.
        for offset in 0..end {
            let mut chunks = Vec::new();
            log.read(offset, 1, i64::MAX, &mut chunks)
                .await
                .expect("read");
            let got: Vec<_> = chunks
                .iter()
                .flat_map(|c| support::split_batches(c.as_slice()))
                .collect();
            let first_kept = after.iter().find(|s| s.offset >= offset).expect("kept");
            let (base, batch) = got.first().expect("a read below the end returns a batch");
            let last = base + i64::from(i32::from_be_bytes(batch[23..27].try_into().unwrap()));
            assert!(last >= offset, "the batch ends at or after the offset read");
            assert!(*base <= first_kept.offset, "no retained record is skipped");
        }
        // Nothing is due until new dirty data arrives.
        assert_eq!(
            log.compact(T0 + 1_000, &CleanerTxns::non_transactional())
                .await
                .expect("compact"),
            None
        );
        // Appends go on after the compaction, at the same offsets.
        let next = produce(&log, &[("key-1", Some("fresh"))], T0 + 2_000).await;
        assert_eq!(next, end);
        log.close().await.expect("close");
        // Reopen, clean and unclean, serves the same records.
        for clean in [true, false] {
            let log = PartitionLog::open(path.clone(), compact_config(1_500))
                .await
                .expect("reopen");
            let reopened = records(&log).await;
            assert_eq!(&reopened[..after.len()], &after[..]);
            assert_eq!(reopened.len(), after.len() + 1);
            if clean {
                log.close().await.expect("close");
            } else {
                drop(log);
                // Without indexes and the marker, the compacted sealed
                // segments are rebuilt by scanning, gaps and all.
                for file in support::list(&path) {
                    if file.ends_with(".index") {
                        std::fs::remove_file(path.join(file)).expect("rm index");
                    }
                }
                let log = PartitionLog::open(path.clone(), compact_config(1_500))
                    .await
                    .expect("reopen without indexes");
                assert_eq!(records(&log).await[..after.len()], after[..]);
            }
        }
    });
}

#[test]
fn tombstones_are_dropped_only_after_delete_retention_ms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = LogConfig {
            delete_retention_ms: 10_000,
            ..compact_config(200)
        };
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("open");
        produce(&log, &[("a", Some("a1"))], T0).await;
        produce(&log, &[("b", Some("b1"))], T0).await;
        produce(&log, &[("a", None)], T0 + 5).await;
        for i in 0..4 {
            produce(
                &log,
                &[("c", Some("filler-value-long-enough"))],
                T0 + 10 + i,
            )
            .await;
        }
        let active = active_base(&path);
        assert!(active >= 3, "the tombstone is in a sealed segment");
        log.compact(T0 + 100, &CleanerTxns::non_transactional())
            .await
            .expect("compact")
            .expect("due");
        let keys: Vec<(Option<Vec<u8>>, bool)> = records(&log)
            .await
            .into_iter()
            .filter(|s| s.offset < 3)
            .map(|s| (s.key, s.value.is_none()))
            .collect();
        assert_eq!(
            keys,
            vec![(Some(b"b".to_vec()), false), (Some(b"a".to_vec()), true)],
            "a1 goes, the young tombstone stays"
        );
        // More dirty data makes a pass due. The first pass wrote the delete
        // horizon (KIP-534): its own time plus delete.retention.ms, T0 + 10 100.
        for i in 0..4 {
            produce(
                &log,
                &[("d", Some("filler-value-long-enough"))],
                T0 + 20 + i,
            )
            .await;
        }
        log.compact(T0 + 10_100, &CleanerTxns::non_transactional())
            .await
            .expect("compact")
            .expect("due");
        let keys: Vec<Option<Vec<u8>>> = records(&log)
            .await
            .into_iter()
            .filter(|s| s.offset < 3)
            .map(|s| s.key)
            .collect();
        assert_eq!(keys, vec![Some(b"b".to_vec())], "the old tombstone goes");
    });
}

#[test]
fn the_dirty_ratio_and_min_compaction_lag_hold_a_pass_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = LogConfig {
            min_compaction_lag_ms: 1_000,
            ..compact_config(300)
        };
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("open");
        for i in 0..20 {
            produce(&log, &[("k", Some("v"))], T0 + i).await;
        }
        assert_eq!(
            log.compact(T0 + 500, &CleanerTxns::non_transactional())
                .await
                .expect("compact"),
            None,
            "too young"
        );
        assert!(log
            .compact(T0 + 2_000, &CleanerTxns::non_transactional())
            .await
            .expect("compact")
            .is_some());
        // Only a little new data: below a 0.9 ratio nothing is due.
        log.set_config(LogConfig {
            min_cleanable_dirty_ratio: 0.95,
            ..config
        });
        for i in 0..8 {
            produce(&log, &[("k", Some("v"))], T0 + 100 + i).await;
        }
        assert_eq!(
            log.compact(T0 + 5_000, &CleanerTxns::non_transactional())
                .await
                .expect("compact"),
            None
        );
        // A delete-only log is never compacted.
        log.set_config(LogConfig {
            cleanup_policy: CleanupPolicy::Delete,
            min_cleanable_dirty_ratio: 0.0,
            ..config
        });
        assert_eq!(
            log.compact(T0 + 5_000, &CleanerTxns::non_transactional())
                .await
                .expect("compact"),
            None
        );
    });
}

/// Copies every regular file of `from` into a fresh `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// Opens `dir` (as after a crash), returns its records and checks that no
/// compaction file is left.
fn open_records(dir: PathBuf) -> Vec<Seen> {
    run(move || async move {
        std::fs::remove_file(dir.join(".clean-shutdown")).ok();
        let log = PartitionLog::open(dir.clone(), compact_config(1_500))
            .await
            .expect("open after a crash");
        let seen = records(&log).await;
        let leftovers: Vec<String> = support::list(&dir)
            .into_iter()
            .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        seen
    })
}

#[test]
fn a_crash_at_any_step_of_the_swap_leaves_the_old_or_the_new_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pre = dir.path().join("pre");
    let post = dir.path().join("post");
    {
        let pre = pre.clone();
        let post = post.clone();
        run(move || async move {
            let live = post.clone();
            let log = PartitionLog::open(live.clone(), compact_config(1_500))
                .await
                .expect("open");
            fill(&log).await;
            log.close().await.expect("close");
            copy_dir(&live, &pre);
            let log = PartitionLog::open(live.clone(), compact_config(1_500))
                .await
                .expect("reopen");
            log.compact(T0 + 1_000, &CleanerTxns::non_transactional())
                .await
                .expect("compact")
                .expect("due");
            log.close().await.expect("close");
        });
    }
    let pre_records = open_records(copy_of(&pre, &dir.path().join("pre-check")));
    let post_records = open_records(copy_of(&post, &dir.path().join("post-check")));
    assert_ne!(pre_records, post_records);
    // Segments the pass rewrote: their .log differs (or is gone).
    let mut changed: Vec<i64> = Vec::new();
    for entry in std::fs::read_dir(&pre).expect("dir") {
        let file = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        let Some(base) = file
            .strip_suffix(".log")
            .and_then(|d| d.parse::<i64>().ok())
        else {
            continue;
        };
        let old = std::fs::read(pre.join(&file)).expect("read");
        let new = std::fs::read(post.join(&file)).ok();
        if new.as_deref() != Some(&old[..]) {
            changed.push(base);
        }
    }
    changed.sort_unstable();
    let swapped: Vec<i64> = changed
        .iter()
        .copied()
        .filter(|&b| post.join(segment_file_name(b, "log")).exists())
        .collect();
    assert!(
        swapped.len() >= 2,
        "the test needs swapped segments: {changed:?}"
    );
    // A crash while cleaning segment `swapped[j]`: earlier swapped segments
    // are done (post files), later ones untouched (pre files).
    let mut cases = 0;
    for j in 0..swapped.len().min(3) {
        let base = swapped[j];
        let prefix = |case: &Path| {
            copy_dir(&pre, case);
            for &done in &swapped[..j] {
                for ext in ["log", "index", "timeindex"] {
                    std::fs::copy(
                        post.join(segment_file_name(done, ext)),
                        case.join(segment_file_name(done, ext)),
                    )
                    .expect("copy done segment");
                }
            }
            for ext in ["log", "index", "timeindex"] {
                std::fs::copy(
                    post.join(segment_file_name(base, ext)),
                    case.join(segment_file_name(base, &format!("{ext}.cleaned"))),
                )
                .expect("copy cleaned");
            }
        };
        let reference = |swapped_in: bool| -> Vec<Seen> {
            let case = dir.path().join(format!("ref-{j}-{swapped_in}"));
            if case.exists() {
                std::fs::remove_dir_all(&case).expect("rm");
            }
            copy_dir(&pre, &case);
            let done = if swapped_in { j + 1 } else { j };
            for &b in &swapped[..done] {
                for ext in ["log", "index", "timeindex"] {
                    std::fs::copy(
                        post.join(segment_file_name(b, ext)),
                        case.join(segment_file_name(b, ext)),
                    )
                    .expect("copy");
                }
            }
            open_records(case)
        };
        let old = reference(false);
        let new = reference(true);
        assert_ne!(old, new);
        // A torn .cleaned file: the crash came before the renames.
        let case = dir.path().join(format!("torn-{j}"));
        prefix(&case);
        let cleaned = case.join(segment_file_name(base, "log.cleaned"));
        let bytes = std::fs::read(&cleaned).expect("read");
        std::fs::write(&cleaned, &bytes[..bytes.len() / 2]).expect("tear");
        assert_eq!(open_records(case), old, "torn .cleaned");
        for step in 0..=skein_engine::SWAP_RENAMES.len() {
            let case = dir.path().join(format!("crash-{j}-{step}"));
            prefix(&case);
            for (from, to) in &skein_engine::SWAP_RENAMES[..step] {
                std::fs::rename(
                    case.join(segment_file_name(base, from)),
                    case.join(segment_file_name(base, to)),
                )
                .expect("rename");
            }
            let expected = if step >= 3 { &new } else { &old };
            assert_eq!(
                &open_records(case),
                expected,
                "crash after rename {step} of segment {base}"
            );
            cases += 1;
        }
    }
    assert!(cases >= 14);
    // The per-key view is the same in every state: compaction never changes
    // what a reader that reads everything ends up with.
    let last = |seen: &[Seen]| -> BTreeMap<Option<Vec<u8>>, Option<Vec<u8>>> {
        seen.iter()
            .map(|s| (s.key.clone(), s.value.clone()))
            .collect()
    };
    assert_eq!(last(&pre_records), last(&post_records));
}

fn copy_of(from: &Path, to: &Path) -> PathBuf {
    copy_dir(from, to);
    to.to_path_buf()
}

#[test]
fn compaction_never_cleans_at_or_past_the_last_stable_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let log = PartitionLog::open(path.clone(), compact_config(512))
            .await
            .expect("open");
        fill(&log).await;
        let before = records(&log).await;
        // An undecided transaction would start at 200: nothing from the
        // segment holding 200 on may change.
        let txns = CleanerTxns {
            last_stable_offset: 200,
            ..CleanerTxns::non_transactional()
        };
        let report = log
            .compact(T0 + 1_000, &txns)
            .await
            .expect("compact")
            .expect("due");
        assert!(report.segments_cleaned > 0);
        let after = records(&log).await;
        let from = |seen: &[Seen], offset: i64| -> Vec<Seen> {
            seen.iter()
                .filter(|s| s.offset >= offset)
                .cloned()
                .collect()
        };
        assert_eq!(from(&after, 200), from(&before, 200));
        assert!(after.len() < before.len(), "below the bound it compacted");
        // The segments cleaned all end at or below the bound: the first
        // record changed is below the segment that holds 200.
        let first_kept_at_or_past = after.iter().position(|s| s.offset >= 200).expect("some");
        let unchanged_from = before.iter().position(|s| s.offset >= 200).expect("some");
        assert_eq!(
            after.len() - first_kept_at_or_past,
            before.len() - unchanged_from
        );
        // With the bound lifted the rest is cleaned too.
        let report = log
            .compact(T0 + 2_000, &CleanerTxns::non_transactional())
            .await
            .expect("compact")
            .expect("due");
        assert!(report.segments_cleaned > 0);
    });
}
