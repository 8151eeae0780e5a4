//! Property test: random sequences of append / read / roll (tiny
//! segment.bytes) / retention / delete_records / reopen (clean and unclean)
//! against a simple in-memory model of the log.

mod support;

use std::path::PathBuf;

use proptest::prelude::*;
use skein_engine::{LogConfig, PartitionLog, ReadError};
use support::{batch, patched, run, split_batches};

#[derive(Debug, Clone)]
enum Op {
    /// Append `batches` batches of (records, value bytes) in one call.
    Append(Vec<(usize, usize)>),
    /// Read from the batch at `index` fraction of the log, up to `max_bytes`.
    Read { at: f64, max_bytes: usize },
    /// Retention by bytes (keeps at least `keep` bytes).
    RetainBytes { keep: i64 },
    /// DeleteRecords at a fraction of the high watermark.
    DeleteRecords { at: f64 },
    /// Reopen, closing cleanly or not.
    Reopen { clean: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((1usize..6, 1usize..700), 1..4).prop_map(Op::Append),
        3 => (0.0f64..1.0, 1usize..5_000).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        1 => (1_000i64..20_000).prop_map(|keep| Op::RetainBytes { keep }),
        1 => (0.0f64..1.0).prop_map(|at| Op::DeleteRecords { at }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 3_000,
        index_interval_bytes: 512,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

/// The model: every batch ever appended (patched) and the log start offset.
#[derive(Debug, Default)]
struct Model {
    batches: Vec<(i64, i64, Vec<u8>)>,
    log_start_offset: i64,
}

impl Model {
    fn end(&self) -> i64 {
        self.batches.last().map_or(0, |b| b.1 + 1)
    }

    fn holding(&self, offset: i64) -> usize {
        self.batches.partition_point(|b| b.1 < offset)
    }
}

async fn check_read(log: &PartitionLog, model: &Model, offset: i64, max_bytes: usize) {
    let mut out = Vec::new();
    let result = log.read(offset, max_bytes, i64::MAX, &mut out).await;
    if offset < model.log_start_offset || offset > model.end() {
        assert!(
            matches!(result, Err(ReadError::OffsetOutOfRange { .. })),
            "{offset}: {result:?}"
        );
        return;
    }
    let info = result.expect("read in range");
    assert_eq!(info.log_end_offset, model.end());
    let got: Vec<(i64, Vec<u8>)> = out
        .iter()
        .flat_map(|c| split_batches(c.as_slice()))
        .collect();
    assert_eq!(got.iter().map(|b| b.1.len()).sum::<usize>(), info.bytes);
    if offset == model.end() {
        assert!(got.is_empty());
        return;
    }
    assert!(
        !got.is_empty(),
        "read at {offset} below the end returned nothing"
    );
    assert!(
        got.len() == 1 || info.bytes <= max_bytes,
        "only a lone first batch may exceed max_bytes"
    );
    let first = model.holding(offset);
    for (i, (base, bytes)) in got.iter().enumerate() {
        let (model_base, _, model_bytes) = &model.batches[first + i];
        assert_eq!(base, model_base);
        assert_eq!(bytes, model_bytes, "batch at {base}");
    }
}

fn run_ops(ops: Vec<Op>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path: PathBuf = dir.path().join("p-0");
    run(move || async move {
        let mut log = PartitionLog::open(path.clone(), config())
            .await
            .expect("open");
        let mut model = Model::default();
        let mut seed = 0u64;
        for op in ops {
            match op {
                Op::Append(shapes) => {
                    let batches: Vec<Vec<u8>> = shapes
                        .iter()
                        .map(|&(count, bytes)| {
                            seed += 1;
                            batch(count, bytes, seed)
                        })
                        .collect();
                    let info = log.append(&batches.concat(), 1, 0).await.expect("append");
                    assert_eq!(info.base_offset, model.end());
                    let mut offset = info.base_offset;
                    for (b, &(count, _)) in batches.iter().zip(&shapes) {
                        let last = offset + count as i64 - 1;
                        model.batches.push((offset, last, patched(b, offset, 1)));
                        offset = last + 1;
                    }
                    assert_eq!(info.last_offset, offset - 1);
                    assert_eq!(log.high_watermark(), model.end());
                }
                Op::Read { at, max_bytes } => {
                    let span = (model.end() - model.log_start_offset + 2) as f64;
                    let offset = model.log_start_offset - 1 + (at * span) as i64;
                    check_read(&log, &model, offset, max_bytes).await;
                }
                Op::RetainBytes { keep } => {
                    log.set_config(LogConfig {
                        retention_bytes: keep,
                        ..config()
                    });
                    log.enforce_retention(0).await.expect("retention");
                    log.set_config(config());
                    let start = log.log_start_offset();
                    assert!(start >= model.log_start_offset);
                    assert!(start <= model.end());
                    let boundary =
                        start == model.end() || model.batches.iter().any(|b| b.0 == start);
                    assert!(
                        boundary || start == model.log_start_offset,
                        "retention must cut at a segment base"
                    );
                    model.log_start_offset = start;
                }
                Op::DeleteRecords { at } => {
                    let target = model.log_start_offset
                        + (at * (model.end() - model.log_start_offset) as f64) as i64;
                    let start = log.delete_records(target).await.expect("delete");
                    assert_eq!(start, target.max(model.log_start_offset));
                    model.log_start_offset = start;
                }
                Op::Reopen { clean } => {
                    if clean {
                        log.close().await.expect("close");
                    } else {
                        drop(log);
                    }
                    log = PartitionLog::open(path.clone(), config())
                        .await
                        .expect("reopen");
                    assert_eq!(log.log_end_offset(), model.end());
                    assert_eq!(log.log_start_offset(), model.log_start_offset);
                }
            }
            assert_eq!(log.log_end_offset(), model.end());
            assert_eq!(log.log_start_offset(), model.log_start_offset);
        }
        // Finally every offset in range reads back as the model says.
        let mut offset = model.log_start_offset;
        while offset < model.end() {
            check_read(&log, &model, offset, 2_000).await;
            offset += 3;
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 40,
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn log_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        run_ops(ops);
    }
}
