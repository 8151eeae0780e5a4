//! Property test: random sequences of append / read / roll (tiny
//! segment.bytes) / retention / delete_records / compaction / reopen (clean
//! and unclean) against a simple in-memory model of the log.
//!
//! Records carry keys from a small set, so compaction removes some. The
//! model of a compaction pass: every record the log still serves is one the
//! model had, byte-identical at the same offset and in order; every record
//! it no longer serves has a later record of the same key; keyless records
//! and the latest record of each key all stay. The model then takes the
//! compacted batches as its own, and later reads, retention and reopens are
//! checked against them.

mod support;

use std::path::PathBuf;

use std::collections::HashMap;

use proptest::prelude::*;
use skein_engine::{CleanerTxns, CleanupPolicy, LogConfig, PartitionLog, ReadError, Records};
use support::{patched, read_all, run, split_batches, BatchBuilder};

#[derive(Debug, Clone)]
enum Op {
    /// Append `batches` batches of (records, value bytes) in one call.
    Append(Vec<(usize, usize)>),
    /// Read from the batch at `index` fraction of the log, up to `max_bytes`.
    Read { at: f64, max_bytes: usize },
    /// Retention by bytes (keeps at least `keep` bytes).
    RetainBytes { keep: i64 },
    /// DeleteRecords at a fraction of the durable end offset.
    DeleteRecords { at: f64 },
    /// Reopen, closing cleanly or not.
    Reopen { clean: bool },
    /// One compaction pass.
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((1usize..6, 1usize..700), 1..4).prop_map(Op::Append),
        3 => (0.0f64..1.0, 1usize..5_000).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        1 => (1_000i64..20_000).prop_map(|keep| Op::RetainBytes { keep }),
        1 => (0.0f64..1.0).prop_map(|at| Op::DeleteRecords { at }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
        1 => Just(Op::Compact),
    ]
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 3_000,
        index_interval_bytes: 512,
        retention_ms: -1,
        cleanup_policy: CleanupPolicy::CompactDelete,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

/// Base timestamp of every batch; compaction runs well after it.
const T0: i64 = 1_700_000_000_000;

/// A batch of `count` records of `value_bytes` each; keys from a set of 4
/// (every seventh record has none), picked by `seed`.
fn keyed_batch(count: usize, value_bytes: usize, seed: u64) -> Vec<u8> {
    let mut builder = BatchBuilder::new(T0);
    for i in 0..count as u64 {
        let pick = seed.wrapping_mul(31).wrapping_add(i * 7);
        let key = if pick.is_multiple_of(7) {
            Vec::new()
        } else {
            format!("k{}", pick % 4).into_bytes()
        };
        let value = vec![(pick % 251) as u8; value_bytes];
        builder = builder.record(&key, &value, i as i64);
    }
    builder.build()
}

/// (offset, key, encoded record) of every record of `batches`.
fn records_of(batches: &[(i64, Vec<u8>)]) -> Vec<(i64, Option<Vec<u8>>, Vec<u8>)> {
    let mut out = Vec::new();
    for (base, bytes) in batches {
        for record in Records::new(bytes).expect("header") {
            let record = record.expect("stored records decode");
            out.push((
                base + record.offset_delta,
                record.key.map(<[u8]>::to_vec),
                record.encoded.to_vec(),
            ));
        }
    }
    out
}

/// Checks one compaction pass against the model (see the module docs) and
/// makes the compacted batches the model's.
async fn check_compaction(log: &PartitionLog, model: &mut Model) {
    let start = model.log_start_offset;
    let before: Vec<(i64, Vec<u8>)> = model
        .batches
        .iter()
        .filter(|b| b.1 >= start)
        .map(|b| (b.0, b.2.clone()))
        .collect();
    log.compact(T0 + 1_000_000, &CleanerTxns::non_transactional())
        .await
        .expect("compact");
    let after = read_all(log, start).await;
    let old = records_of(&before);
    let new = records_of(&after);
    let mut latest: HashMap<Vec<u8>, i64> = HashMap::new();
    for (offset, key, _) in &old {
        if let Some(key) = key {
            latest.insert(key.clone(), *offset);
        }
    }
    let mut kept = new.iter().peekable();
    for record in &old {
        if kept.peek() == Some(&record) {
            kept.next();
            continue;
        }
        let (offset, key, _) = record;
        let key = key.as_ref().expect("a keyless record was removed");
        assert!(
            latest[key] > *offset,
            "the latest record of a key was removed"
        );
    }
    assert!(
        kept.next().is_none(),
        "compaction served a record the model never had"
    );
    let mut batches: Vec<(i64, i64, Vec<u8>)> = model
        .batches
        .iter()
        .filter(|b| b.1 < start)
        .cloned()
        .collect();
    for (base, bytes) in after {
        let delta = i32::from_be_bytes(bytes[23..27].try_into().expect("4 bytes"));
        batches.push((base, base + i64::from(delta), bytes));
    }
    assert_eq!(
        batches.last().map(|b| b.1),
        model.batches.last().map(|b| b.1)
    );
    model.batches = batches;
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
                            keyed_batch(count, bytes, seed)
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
                    assert_eq!(log.durable_end_offset(), model.end());
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
                    // Retention cuts between batches (compaction may have
                    // left a segment starting in an offset gap).
                    let boundary = start == model.end()
                        || !model.batches.iter().any(|b| b.0 < start && start <= b.1);
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
                Op::Compact => check_compaction(&log, &mut model).await,
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

/// Found by the property test: a batch cached in the tail cache while its
/// segment was active must not be served after compaction rewrote it.
#[test]
fn compaction_after_tail_reads_serves_no_stale_batch() {
    run_ops(vec![
        Op::Append(vec![(3, 212)]),
        Op::Append(vec![(1, 96), (3, 425)]),
        Op::Compact,
        Op::Append(vec![(5, 31)]),
        Op::Append(vec![(2, 195)]),
        Op::Compact,
    ]);
}

/// Found by the property test: DeleteRecords into the offset gap a
/// compaction left at the end of a segment keeps its log start on reopen.
#[test]
fn delete_records_into_a_compacted_gap_survives_reopen() {
    run_ops(vec![
        Op::Append(vec![(1, 1), (1, 1), (4, 1)]),
        Op::Append(vec![(4, 1), (4, 1), (3, 1)]),
        Op::Append(vec![(3, 1)]),
        Op::Append(vec![(4, 1)]),
        Op::Append(vec![(2, 166), (3, 590)]),
        Op::Append(vec![(2, 64), (2, 214)]),
        Op::Compact,
        Op::Append(vec![(2, 1)]),
        Op::DeleteRecords {
            at: 0.583_923_391_046_388_4,
        },
        Op::Reopen { clean: false },
    ]);
}
