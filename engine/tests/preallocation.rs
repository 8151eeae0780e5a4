//! Preallocation of the active segment: the file is extended ahead of the
//! appends while the segment is active, and cut back to exactly its batches
//! by a close, a roll, or recovery after an unclean stop.

mod support;

use std::path::Path;

use skein_engine::{FlushPolicy, LogTuning, PartitionLog};
use support::{batch, list, patched, read_all, run, segment_file_name, small_config_with};

const PAGE: u64 = 4096;

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("segment file").len()
}

fn first_segment(dir: &Path) -> std::path::PathBuf {
    dir.join(segment_file_name(0, "log"))
}

/// Appends `count` batches of 4 records; returns them as the log holds them.
async fn append_batches(log: &PartitionLog, count: u64, seed: u64) -> Vec<(i64, Vec<u8>)> {
    let mut appended = Vec::new();
    for i in 0..count {
        let b = batch(4, 900 + (i as usize % 5) * 40, seed + i);
        let info = log.append(&b, 3, 0).await.expect("append");
        appended.push((info.base_offset, patched(&b, info.base_offset, 3)));
    }
    appended
}

fn total_bytes(batches: &[(i64, Vec<u8>)]) -> u64 {
    batches.iter().map(|(_, bytes)| bytes.len() as u64).sum()
}

#[test]
fn the_active_segment_is_preallocated_and_cut_back_exactly_at_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = small_config_with(FlushPolicy::None, 8 << 20);
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("open");
        let expected = append_batches(&log, 20, 0).await;
        let end = total_bytes(&expected);
        assert!(end > 60_000 && end < 256 << 10, "end {end}");
        // Extended by at least 256 KiB ahead of the first write.
        let open_len = file_len(&first_segment(&path));
        assert!(open_len >= 256 << 10, "file {open_len} bytes while open");
        assert!(open_len.is_multiple_of(PAGE));

        log.close().await.expect("close");
        assert_eq!(file_len(&first_segment(&path)), end);
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("reopen");
        assert_eq!(read_all(&log, 0).await, expected);
        assert_eq!(log.log_end_offset(), 80);
        log.close().await.expect("close");
    });
}

#[test]
fn an_unclean_stop_keeps_every_append_and_cuts_the_preallocated_zeroes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = small_config_with(FlushPolicy::Batch, 8 << 20);
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("open");
        let mut expected = append_batches(&log, 30, 100).await;
        let end = total_bytes(&expected);
        assert!(file_len(&first_segment(&path)) >= end + PAGE);
        // No close: as after kill -9, no clean-shutdown marker.
        drop(log);

        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("recover");
        assert_eq!(file_len(&first_segment(&path)), end, "zeroes cut");
        assert_eq!(read_all(&log, 0).await, expected);
        assert_eq!(log.log_end_offset(), 120);
        // Appends go on after the recovered end, extending the file again.
        expected.extend(append_batches(&log, 5, 200).await);
        assert!(file_len(&first_segment(&path)) > total_bytes(&expected));
        assert_eq!(read_all(&log, 0).await, expected);
        drop(log);

        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("recover again");
        assert_eq!(read_all(&log, 0).await, expected);
        log.close().await.expect("close");
        assert_eq!(file_len(&first_segment(&path)), total_bytes(&expected));
    });
}

#[test]
fn preallocation_stays_within_segment_bytes_and_sealed_segments_are_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let segment_bytes = 100_000;
        let config = small_config_with(FlushPolicy::None, segment_bytes);
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("open");
        let expected = append_batches(&log, 150, 300).await;
        let names: Vec<String> = list(&path)
            .into_iter()
            .filter(|name| name.ends_with(".log"))
            .collect();
        assert!(names.len() >= 4, "segments {names:?}");
        let (active, sealed) = names.split_last().expect("segments");
        let sealed_bytes: u64 = sealed.iter().map(|name| file_len(&path.join(name))).sum();
        for name in sealed {
            assert!(file_len(&path.join(name)) <= segment_bytes, "{name}");
        }
        let active_len = file_len(&path.join(active));
        assert!(
            active_len <= segment_bytes.next_multiple_of(PAGE),
            "active {active_len}"
        );
        assert!(active_len >= total_bytes(&expected) - sealed_bytes);
        log.close().await.expect("close");
        let all_bytes: u64 = names.iter().map(|name| file_len(&path.join(name))).sum();
        assert_eq!(all_bytes, total_bytes(&expected));
        let log = PartitionLog::open(path.clone(), config)
            .await
            .expect("reopen");
        assert_eq!(read_all(&log, 0).await, expected);
        log.close().await.expect("close");
    });
}

#[test]
fn preallocate_bytes_zero_leaves_only_the_page_padding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = small_config_with(FlushPolicy::None, 8 << 20);
        let tuning = LogTuning {
            preallocate_bytes: 0,
            ..LogTuning::default()
        };
        let log = PartitionLog::open_with(path.clone(), config, tuning)
            .await
            .expect("open");
        let expected = append_batches(&log, 10, 400).await;
        let end = total_bytes(&expected);
        assert_eq!(file_len(&first_segment(&path)), end.next_multiple_of(PAGE));
        log.close().await.expect("close");
        assert_eq!(file_len(&first_segment(&path)), end);
    });
}
