//! The clean-shutdown marker after a clean open: it stays while nothing
//! changes the log (closing such a log writes nothing, and a crash still
//! finds a marker that tells the truth), and the first change — an append,
//! a truncation — removes it before the change starts. A new log starts
//! with the marker.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use skein_engine::PartitionLog;
use support::{batch, patched, read_all, run, small_config};

const MARKER: &str = ".clean-shutdown";

/// Every file of `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    support::list(dir)
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(dir.join(&name)).expect("read file");
            (name, bytes)
        })
        .collect()
}

/// Appends `batches` batches to a fresh log in `dir`, closes it cleanly and
/// returns the batches as stored.
fn fill_and_close(dir: PathBuf, batches: u64) -> Vec<(i64, Vec<u8>)> {
    run(move || async move {
        let log = PartitionLog::open(dir, small_config(4_000))
            .await
            .expect("open");
        assert!(log.is_as_opened(), "a new log starts clean");
        let mut stored = Vec::new();
        for seed in 0..batches {
            let b = batch(2, 300, seed);
            let info = log.append(&b, 1, 0).await.expect("append");
            stored.push((info.base_offset, patched(&b, info.base_offset, 1)));
        }
        log.close().await.expect("close");
        stored
    })
}

/// How a reopened log ends: closed cleanly, or dropped as in a crash.
#[derive(Clone, Copy)]
enum End {
    Close,
    Crash,
}

/// Opens the log in `dir`, reads every batch, ends it as `end`, and returns
/// whether the open found it as a clean close left it, with the batches.
fn reopen_and_read(dir: &Path, end: End) -> (bool, Vec<(i64, Vec<u8>)>) {
    let dir = dir.to_path_buf();
    run(move || async move {
        let log = PartitionLog::open(dir, small_config(4_000))
            .await
            .expect("reopen");
        let as_opened = log.is_as_opened();
        let read = read_all(&log, 0).await;
        match end {
            End::Close => log.close().await.expect("close"),
            End::Crash => drop(log),
        }
        (as_opened, read)
    })
}

#[test]
fn a_log_unchanged_since_a_clean_open_closes_without_writing_and_survives_a_crash_clean() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("t-0");
    let stored = fill_and_close(dir.clone(), 20);
    let closed = files(&dir);
    assert!(closed.contains_key(MARKER), "{:?}", closed.keys());
    assert!(
        closed.keys().filter(|n| n.ends_with(".log")).count() > 1,
        "the log rolled: sealed segments and an active one"
    );

    // A clean open, reads, and a clean close: every file as it was.
    let (as_opened, read) = reopen_and_read(&dir, End::Close);
    assert!(as_opened);
    assert_eq!(read, stored);
    assert_eq!(
        files(&dir),
        closed,
        "closing an unchanged log wrote nothing"
    );

    // A clean open, then a crash (no close): the marker still tells the truth.
    let crashed = dir.clone();
    run(move || async move {
        let log = PartitionLog::open(crashed, small_config(4_000))
            .await
            .expect("reopen");
        assert_eq!(log.log_end_offset(), 40);
        drop(log);
    });
    assert_eq!(files(&dir), closed);
    let (as_opened, read) = reopen_and_read(&dir, End::Crash);
    assert!(as_opened, "reopened after the crash");
    assert_eq!(read, stored);
}

#[test]
fn the_first_append_after_a_clean_open_removes_the_marker_and_a_crash_then_keeps_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("t-0");
    let mut stored = fill_and_close(dir.clone(), 3);
    let appended = dir.clone();
    let more = run(move || async move {
        let log = PartitionLog::open(appended.clone(), small_config(4_000))
            .await
            .expect("reopen");
        assert!(log.is_as_opened());
        let b = batch(1, 100, 77);
        let info = log.append(&b, 2, 0).await.expect("append");
        assert_eq!(info.base_offset, 6);
        assert!(!log.is_as_opened());
        assert!(
            !appended.join(MARKER).exists(),
            "the marker went before the append was acknowledged"
        );
        // A crash: no close.
        drop(log);
        (info.base_offset, patched(&b, info.base_offset, 2))
    });
    stored.push(more);
    assert!(!dir.join(MARKER).exists());
    let (as_opened, read) = reopen_and_read(&dir, End::Close);
    assert!(!as_opened, "no marker: the open recovered");
    assert_eq!(read, stored, "the acknowledged append survived the crash");
    assert!(dir.join(MARKER).exists(), "a changed log's close writes it");
}

#[test]
fn a_truncation_after_a_clean_open_removes_the_marker() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("t-0");
    let stored = fill_and_close(dir.clone(), 4);
    let truncated = dir.clone();
    run(move || async move {
        let log = PartitionLog::open(truncated.clone(), small_config(4_000))
            .await
            .expect("reopen");
        log.truncate_to(4).await.expect("truncate");
        assert!(!log.is_as_opened());
        assert!(!truncated.join(MARKER).exists());
        drop(log);
    });
    let (_, read) = reopen_and_read(&dir, End::Crash);
    assert_eq!(read, stored[..2].to_vec());
}

#[test]
fn a_new_log_closed_untouched_holds_its_marker_and_an_empty_segment() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("t-0");
    let created = dir.clone();
    run(move || async move {
        let log = PartitionLog::open(created, small_config(4_000))
            .await
            .expect("open");
        assert!(log.is_as_opened());
        log.close().await.expect("close");
    });
    assert_eq!(
        support::list(&dir),
        vec![MARKER.to_string(), support::segment_file_name(0, "log")]
    );
    let reopened = dir.clone();
    run(move || async move {
        let log = PartitionLog::open(reopened, small_config(4_000))
            .await
            .expect("reopen");
        assert!(log.is_as_opened());
        assert_eq!(log.log_end_offset(), 0);
        let info = log.append(&batch(1, 10, 1), 0, 0).await.expect("append");
        assert_eq!(info.base_offset, 0);
        log.close().await.expect("close");
    });
    assert!(dir.join(MARKER).exists());
}
