//! Fuzzes record-batch decompression and recompression: any bytes, read as
//! a compressed payload of any codec or as a batch to rebuild in any
//! `compression.type`, must decompress, rebuild or be refused without a
//! panic, an abort or an allocation sized by a length read off the wire
//! (the output is bounded by the limit passed in).
#![no_main]

use libfuzzer_sys::fuzz_target;
use skein_engine::{decompress, recompress, validate_batch, Codec, CompressionType};

/// The decompression limit: small, so a bomb is found quickly.
const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let codec = match selector % 5 {
        0 => Codec::None,
        1 => Codec::Gzip,
        2 => Codec::Snappy,
        3 => Codec::Lz4,
        _ => Codec::Zstd,
    };
    let mut out = Vec::new();
    if decompress(codec, rest, LIMIT, &mut out).is_ok() {
        assert!(out.len() <= LIMIT, "decompressed past the limit");
    }
    // A whole valid batch (CRC and all; the fuzzer finds them through the
    // corpus) is rebuilt in the selected type.
    let target = match (selector / 5) % 5 {
        0 => CompressionType::Uncompressed,
        1 => CompressionType::Gzip { level: 1 },
        2 => CompressionType::Snappy,
        3 => CompressionType::Lz4 { level: 1 },
        _ => CompressionType::Zstd { level: 1 },
    };
    if let Ok(size) = validate_batch(rest, usize::MAX) {
        if let Ok(Some(rebuilt)) = recompress(&rest[..size], target, LIMIT) {
            assert!(
                validate_batch(&rebuilt, usize::MAX).is_ok(),
                "rebuilt batch invalid"
            );
        }
    }
});
