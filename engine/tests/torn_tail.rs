//! Torn-tail tests: garble or truncate the last bytes of the active segment
//! and its index files, then reopen; the log must cut exactly the damaged
//! batch (and what follows), keep every earlier batch intact, never serve a
//! corrupt batch, and accept appends again.

mod support;

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use skein_engine::{LogConfig, PartitionLog};
use support::{batch, patched, read_all, run, small_config};

/// Appends 30 batches (closing cleanly if `clean`) and returns the patched
/// batches with the path of the active segment's files (without extension).
fn fill(path: PathBuf, clean: bool) -> (Vec<(i64, Vec<u8>)>, PathBuf) {
    run(move || async move {
        let log = PartitionLog::open(path.clone(), config())
            .await
            .expect("open");
        let mut expected = Vec::new();
        for i in 0..30u64 {
            let b = batch(1 + (i % 4) as usize, 300 + (i as usize * 13) % 500, i);
            let info = log.append(&b, 2, 0).await.expect("append");
            expected.push((info.base_offset, patched(&b, info.base_offset, 2)));
        }
        if clean {
            log.close().await.expect("close");
        }
        let active = support::list(&path)
            .into_iter()
            .filter(|n| n.ends_with(".log"))
            .max()
            .expect("a segment");
        (expected, path.join(active.trim_end_matches(".log")))
    })
}

fn config() -> LogConfig {
    small_config(8_000)
}

fn with_extension(stem: &Path, extension: &str) -> PathBuf {
    stem.with_extension(extension)
}

/// Reopens and returns what the log holds, after checking it accepts appends.
fn reopen(path: PathBuf) -> Vec<(i64, Vec<u8>)> {
    run(move || async move {
        let log = PartitionLog::open(path.clone(), config())
            .await
            .expect("reopen");
        let batches = read_all(&log, log.log_start_offset()).await;
        let end = log.log_end_offset();
        let info = log
            .append(&batch(1, 10, 999), 2, 0)
            .await
            .expect("append after recovery");
        assert_eq!(info.base_offset, end);
        assert_eq!(
            log.offset_for_timestamp(0)
                .await
                .expect("lookup")
                .map(|(o, _)| o),
            Some(0)
        );
        log.close().await.expect("close");
        batches
    })
}

fn active_batch_starts(expected: &[(i64, Vec<u8>)], stem: &Path) -> (usize, u64) {
    // The active segment's first base offset is its file name.
    let base: i64 = stem
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .expect("base");
    let first = expected
        .iter()
        .position(|(b, _)| *b == base)
        .expect("base is a batch");
    let size: u64 = expected[first..].iter().map(|(_, b)| b.len() as u64).sum();
    (first, size)
}

#[test]
fn truncated_last_batch_is_cut_and_earlier_batches_kept() {
    for clean in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t-0");
        let (expected, stem) = fill(path.clone(), clean);
        let (_, size) = active_batch_starts(&expected, &stem);
        let log_file = with_extension(&stem, "log");
        let cut = expected.last().expect("batches").1.len() as u64 / 2;
        let file = OpenOptions::new()
            .write(true)
            .open(&log_file)
            .expect("open");
        file.set_len(size - cut).expect("truncate");
        let recovered = reopen(path);
        assert_eq!(recovered, expected[..expected.len() - 1], "clean={clean}");
    }
}

#[test]
fn garbled_last_bytes_are_cut() {
    for clean in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t-0");
        let (expected, stem) = fill(path.clone(), clean);
        let (_, size) = active_batch_starts(&expected, &stem);
        let mut file = OpenOptions::new()
            .write(true)
            .open(with_extension(&stem, "log"))
            .expect("open");
        file.seek(SeekFrom::Start(size - 5)).expect("seek");
        file.write_all(&[0xAB; 5]).expect("garble");
        drop(file);
        let recovered = reopen(path);
        assert_eq!(recovered, expected[..expected.len() - 1], "clean={clean}");
    }
}

#[test]
fn garbage_appended_after_the_last_batch_is_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    let (expected, stem) = fill(path.clone(), false);
    let mut file = OpenOptions::new()
        .append(true)
        .open(with_extension(&stem, "log"))
        .expect("open");
    // A plausible header claiming a huge batch, then zeros.
    let mut junk = vec![0u8; 200];
    junk[8..12].copy_from_slice(&1_000_000i32.to_be_bytes());
    junk[16] = 2;
    file.write_all(&junk).expect("junk");
    drop(file);
    assert_eq!(reopen(path), expected);
}

#[test]
fn damaged_index_files_are_rebuilt() {
    for clean in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t-0");
        let (expected, stem) = fill(path.clone(), clean);
        // Torn offset index, garbled time index, on the active segment.
        let index = with_extension(&stem, "index");
        if let Ok(bytes) = std::fs::read(&index) {
            std::fs::write(&index, &bytes[..bytes.len().saturating_sub(3)]).expect("tear index");
        }
        std::fs::write(with_extension(&stem, "timeindex"), [0xFF; 30]).expect("garble time index");
        // And an offset index on a sealed segment that points into the
        // middle of batches but still looks sane (increasing, in range).
        let first = support::list(&path)
            .into_iter()
            .find(|n| n.ends_with(".index"))
            .expect("an index");
        let mut lying = Vec::new();
        for entry in 1..4u32 {
            lying.extend_from_slice(&entry.to_be_bytes());
            lying.extend_from_slice(&(entry * 97).to_be_bytes());
        }
        std::fs::write(path.join(first), lying).expect("lying index");
        assert_eq!(reopen(path), expected, "clean={clean}");
    }
}

#[test]
fn missing_marker_and_zero_padding_recover_exact_end() {
    // An unclean stop leaves the aligned zero padding of the last page.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    let (expected, stem) = fill(path.clone(), false);
    let len = std::fs::metadata(with_extension(&stem, "log"))
        .expect("stat")
        .len();
    assert_eq!(len % 4096, 0, "unclean stop leaves an aligned file");
    assert_eq!(reopen(path), expected);
}
