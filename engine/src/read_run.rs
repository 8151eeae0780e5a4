//! `ReadRun`: which bytes of a disk window a read returns — the run of whole
//! batches from the one holding the read's offset, at most `max_bytes` (the
//! first batch whole even if larger), ending before the first batch at or
//! past the bound. One rule for the read itself and for the read-ahead that
//! predicts where the next read starts.

use crate::batch::{self, BatchHeader, HEADER_BYTES};

/// What a window holds for a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadRun {
    /// `window[start..start + len]` are the batches to return; the next
    /// batch after them starts at `start + len` with offset `next_offset`
    /// or later.
    Batches {
        start: usize,
        len: usize,
        next_offset: i64,
    },
    /// No whole batch to return: the one at `at` is cut off by the end of
    /// the window (`batch_bytes` long, when its header was whole).
    CutOff {
        at: usize,
        batch_bytes: Option<usize>,
    },
    /// Nothing to return (the bound was reached).
    Nothing,
}

/// A batch header in the window that cannot be: at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadBatch {
    pub at: usize,
}

/// Finds the run of whole batches `window` (starting at a batch boundary)
/// holds for a read of `offset`: batches ending before `offset` are
/// skipped, batches whose last offset is `>= bound` end the run.
///
/// # Errors
/// `BadBatch` where a header has an impossible length or magic.
pub fn find_run(
    window: &[u8],
    offset: i64,
    max_bytes: usize,
    bound: i64,
) -> Result<ReadRun, BadBatch> {
    let mut cursor = 0usize;
    // (start, length, offset after its last batch) of the run so far.
    let mut run: Option<(usize, usize, i64)> = None;
    // Why the scan stopped: what the read gets when the run is empty.
    let stop = loop {
        let rest = &window[cursor..];
        let Some(header) = BatchHeader::read(rest) else {
            break ReadRun::CutOff {
                at: cursor,
                batch_bytes: None,
            };
        };
        let total = header.total_bytes();
        if total < HEADER_BYTES as i64 || header.magic != batch::MAGIC_V2 {
            return Err(BadBatch { at: cursor });
        }
        let total = total as usize;
        if header.last_offset() >= bound {
            break ReadRun::Nothing;
        }
        if total > rest.len() {
            break ReadRun::CutOff {
                at: cursor,
                batch_bytes: Some(total),
            };
        }
        if header.last_offset() < offset {
            cursor += total;
            continue;
        }
        let next_offset = header.last_offset() + 1;
        run = match run {
            None => Some((cursor, total, next_offset)),
            // Full: the run is returned (never empty here).
            Some((_, len, _)) if len + total > max_bytes => break ReadRun::Nothing,
            Some((start, len, _)) => Some((start, len + total, next_offset)),
        };
        debug_assert!(
            batch::validate_stored(&rest[..total], usize::MAX).is_ok(),
            "stored batch must be valid"
        );
        cursor += total;
    };
    Ok(match run {
        Some((start, len, next_offset)) => ReadRun::Batches {
            start,
            len,
            next_offset,
        },
        None => stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_batch::BatchBuilder;

    /// Three 2-record batches at offsets 0, 2, 4.
    fn three_batches() -> (Vec<u8>, usize) {
        let mut log = Vec::new();
        let mut one = 0;
        for base in [0i64, 2, 4] {
            let mut batch = BatchBuilder::new(1_700_000_000_000)
                .records(2, 100, 1)
                .build();
            batch::patch_offset_and_epoch(&mut batch, base, 0);
            one = batch.len();
            log.extend_from_slice(&batch);
        }
        (log, one)
    }

    #[test]
    fn a_run_stops_at_max_bytes_but_keeps_the_first_batch_whole() {
        let (log, one) = three_batches();
        let next = |start, len, next_offset| ReadRun::Batches {
            start,
            len,
            next_offset,
        };
        assert_eq!(find_run(&log, 0, 1, i64::MAX), Ok(next(0, one, 2)));
        assert_eq!(
            find_run(&log, 0, 2 * one, i64::MAX),
            Ok(next(0, 2 * one, 4))
        );
        assert_eq!(
            find_run(&log, 3, usize::MAX, i64::MAX),
            Ok(next(one, 2 * one, 6))
        );
        assert_eq!(find_run(&log, 0, usize::MAX, 4), Ok(next(0, 2 * one, 4)));
        assert_eq!(find_run(&log, 0, usize::MAX, 1), Ok(ReadRun::Nothing));
    }

    #[test]
    fn a_cut_off_batch_is_reported_with_its_length_when_known() {
        let (log, one) = three_batches();
        assert_eq!(
            find_run(&log[..one - 1], 0, usize::MAX, i64::MAX),
            Ok(ReadRun::CutOff {
                at: 0,
                batch_bytes: Some(one)
            })
        );
        assert_eq!(
            find_run(&log[..one + 10], 2, usize::MAX, i64::MAX),
            Ok(ReadRun::CutOff {
                at: one,
                batch_bytes: None
            })
        );
        let mut bad = log.clone();
        bad[one + 16] = 1; // magic of the second batch
        assert_eq!(
            find_run(&bad, 2, usize::MAX, i64::MAX),
            Err(BadBatch { at: one })
        );
    }
}
