//! Record-batch compression: the codecs of `attributes` bits 0-2 (none,
//! gzip, snappy, lz4, zstd, in Kafka's stream formats), a topic's
//! `compression.type`, and the rebuild of a batch with another codec that an
//! append makes when the two differ (Kafka's `LogValidator`).
//!
//! Invariants: decompression never allocates by a length read from the bytes
//! and stops past `decompressed_bytes_max`; a rebuilt batch keeps every
//! header field (offset delta, timestamps, producer id/epoch/sequence, the
//! transactional and timestamp-type bits) and its record bytes exactly,
//! changing only the codec bits, `batchLength` and the CRC. With
//! `compression.type=producer` (the default) nothing here runs: the append
//! stays zero-copy.
//!
//! Stream formats, as Kafka's clients write them:
//! * gzip: RFC 1952 members (concatenated members are read as one stream).
//! * snappy: snappy-java's "xerial" framing (magic `\x82SNAPPY\0`, two
//!   versions, then blocks of a big-endian `u32` length and a raw snappy
//!   block of at most 32 KiB uncompressed); raw snappy without the magic is
//!   read too, as snappy-java does.
//! * lz4: an LZ4 frame with independent 64 KiB blocks and no checksums
//!   (Kafka's `KafkaLZ4BlockOutputStream`).
//! * zstd: zstd frames.

use std::io::Read;

use crate::batch::{self, BatchHeader, ATTR_COMPRESSION_MASK, HEADER_BYTES};
use crate::record::{RecordFault, Records};

/// A compression codec, as `attributes` bits 0-2 name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// 0: records stored as they are.
    None,
    /// 1: gzip.
    Gzip,
    /// 2: snappy (xerial framing).
    Snappy,
    /// 3: lz4 (frame format).
    Lz4,
    /// 4: zstd.
    Zstd,
}

impl Codec {
    /// The codec named by the compression bits of `attributes`.
    ///
    /// # Errors
    /// [`CompressionError::UnknownCodec`] for ids 5 to 7.
    pub fn from_attributes(attributes: i16) -> Result<Codec, CompressionError> {
        match attributes & ATTR_COMPRESSION_MASK {
            0 => Ok(Codec::None),
            1 => Ok(Codec::Gzip),
            2 => Ok(Codec::Snappy),
            3 => Ok(Codec::Lz4),
            4 => Ok(Codec::Zstd),
            codec => Err(CompressionError::UnknownCodec { codec }),
        }
    }

    /// The id written in `attributes` bits 0-2.
    pub fn id(self) -> i16 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Snappy => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
        }
    }
}

/// A topic's `compression.type`, with the level of its codec
/// (`compression.gzip.level`, `compression.lz4.level`,
/// `compression.zstd.level`). Default: `Producer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompressionType {
    /// `producer`: keep every batch as the producer compressed it.
    #[default]
    Producer,
    /// `uncompressed`: store records uncompressed.
    Uncompressed,
    /// `gzip` at `level`: 1..=9, or -1 for zlib's default (6).
    Gzip {
        /// `compression.gzip.level`.
        level: i32,
    },
    /// `snappy` (no levels).
    Snappy,
    /// `lz4` at `level`: 1..=17 (1 and 2 are lz4's fast mode; liblz4 treats
    /// levels past 12 as 12).
    Lz4 {
        /// `compression.lz4.level`.
        level: i32,
    },
    /// `zstd` at `level`: -131072..=22.
    Zstd {
        /// `compression.zstd.level`.
        level: i32,
    },
}

impl CompressionType {
    /// The codec batches are stored with, or `None` for `producer`.
    pub fn codec(self) -> Option<Codec> {
        match self {
            CompressionType::Producer => None,
            CompressionType::Uncompressed => Some(Codec::None),
            CompressionType::Gzip { .. } => Some(Codec::Gzip),
            CompressionType::Snappy => Some(Codec::Snappy),
            CompressionType::Lz4 { .. } => Some(Codec::Lz4),
            CompressionType::Zstd { .. } => Some(Codec::Zstd),
        }
    }
}

/// Why a batch could not be recompressed. Nothing is appended when this is
/// returned.
#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    /// The compression bits name no codec (5 to 7). Maps to `CORRUPT_MESSAGE`.
    #[error("unknown compression codec {codec}")]
    UnknownCodec {
        /// The id found in `attributes`.
        codec: i16,
    },
    /// The records do not decompress. Maps to `CORRUPT_MESSAGE`.
    #[error("{codec:?} records do not decompress: {source}")]
    Decompress {
        /// The batch's codec.
        codec: Codec,
        /// What the decoder reported.
        #[source]
        source: std::io::Error,
    },
    /// The records decompress to more than the limit (a decompression
    /// bomb, or a batch too large to rebuild). Maps to `MESSAGE_TOO_LARGE`.
    #[error("{codec:?} records decompress to more than {limit} bytes")]
    DecompressedTooLarge {
        /// The batch's codec.
        codec: Codec,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The decompressed bytes are not the batch's records. Maps to
    /// `CORRUPT_MESSAGE`.
    #[error("decompressed records do not decode: {0}")]
    Records(#[from] RecordFault),
    /// The compressor failed (a bug of ours or a level out of range). Maps
    /// to `UNKNOWN_SERVER_ERROR`.
    #[error("{codec:?} compression failed: {source}")]
    Compress {
        /// The target codec.
        codec: Codec,
        /// What the encoder reported.
        #[source]
        source: std::io::Error,
    },
}

/// The most bytes a batch's records may decompress to, for a topic with
/// `max_message_bytes`: 16 times it, within 1 MiB..=256 MiB, and never
/// below `max_message_bytes` itself (an uncompressed batch of that size is
/// accepted). 16 covers the ratios of ordinary data; a larger one is
/// refused rather than allocated for.
pub fn decompressed_bytes_max(max_message_bytes: u32) -> usize {
    const FLOOR: usize = 1 << 20;
    const CEILING: usize = 256 << 20;
    const _: () = assert!(FLOOR < CEILING);
    let max_message_bytes = max_message_bytes as usize;
    max_message_bytes
        .saturating_mul(16)
        .clamp(FLOOR, CEILING)
        .max(max_message_bytes)
}

/// Snappy-java's stream header: magic, version 1, compatible version 1.
const XERIAL_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
/// The magic part of [`XERIAL_HEADER`] (readers accept any versions).
const XERIAL_MAGIC_BYTES: usize = 8;
/// Uncompressed bytes per xerial block (snappy-java's default).
const XERIAL_BLOCK_BYTES: usize = 32 * 1024;
/// The largest zstd window (log2) accepted: zstd's default limit, 128 MiB.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;
/// zstd's smallest window (log2).
const ZSTD_WINDOW_LOG_MIN: u32 = 10;

/// Appends the compressed form of `records` to `out`, in `target`'s codec
/// and level (`Uncompressed` copies them).
///
/// # Errors
/// [`CompressionError::Compress`] if the encoder fails.
///
/// # Panics
/// If `target` is `Producer` (there is nothing to compress to).
pub fn compress(
    target: CompressionType,
    records: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let start = out.len();
    let failed = compress_failed;
    match target {
        CompressionType::Producer => panic!("compress called for compression.type=producer"),
        CompressionType::Uncompressed => out.extend_from_slice(records),
        CompressionType::Gzip { level } => {
            let level = u32::try_from(level).map_or(flate2::Compression::default(), |level| {
                flate2::Compression::new(level)
            });
            let mut encoder = flate2::write::GzEncoder::new(&mut *out, level);
            std::io::Write::write_all(&mut encoder, records).map_err(failed(Codec::Gzip))?;
            encoder.finish().map_err(failed(Codec::Gzip))?;
        }
        CompressionType::Snappy => {
            out.extend_from_slice(XERIAL_HEADER);
            let mut encoder = snap::raw::Encoder::new();
            for block in records.chunks(XERIAL_BLOCK_BYTES) {
                let length_at = out.len();
                out.extend_from_slice(&[0; 4]);
                let block_start = out.len();
                out.resize(block_start + snap::raw::max_compress_len(block.len()), 0);
                let written =
                    encoder
                        .compress(block, &mut out[block_start..])
                        .map_err(|error| CompressionError::Compress {
                            codec: Codec::Snappy,
                            source: error.into(),
                        })?;
                out.truncate(block_start + written);
                let written = u32::try_from(written).expect("a 32 KiB block compresses small");
                out[length_at..block_start].copy_from_slice(&written.to_be_bytes());
            }
        }
        CompressionType::Lz4 { level } => {
            let mut encoder = lz4::EncoderBuilder::new()
                .level(u32::try_from(level).unwrap_or(0))
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .block_checksum(lz4::liblz4::BlockChecksum::NoBlockChecksum)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .build(&mut *out)
                .map_err(failed(Codec::Lz4))?;
            std::io::Write::write_all(&mut encoder, records).map_err(failed(Codec::Lz4))?;
            let (_, result) = encoder.finish();
            result.map_err(failed(Codec::Lz4))?;
        }
        CompressionType::Zstd { level } => {
            let mut encoder =
                zstd::stream::write::Encoder::new(&mut *out, level).map_err(failed(Codec::Zstd))?;
            // Writing the content size lets readers size their window to it.
            encoder
                .set_pledged_src_size(Some(records.len() as u64))
                .map_err(failed(Codec::Zstd))?;
            std::io::Write::write_all(&mut encoder, records).map_err(failed(Codec::Zstd))?;
            encoder.finish().map_err(failed(Codec::Zstd))?;
        }
    }
    debug_assert!(out.len() >= start);
    Ok(())
}

/// The error of a failed encoder of `codec`.
fn compress_failed(codec: Codec) -> impl Fn(std::io::Error) -> CompressionError {
    move |source| CompressionError::Compress { codec, source }
}

/// Appends the decompressed form of `compressed` (in `codec`) to `out`,
/// refusing to produce more than `limit` bytes. What is appended on error
/// is unspecified.
///
/// # Errors
/// [`CompressionError::Decompress`] for bytes that are not a whole stream
/// of `codec`; [`CompressionError::DecompressedTooLarge`] past `limit`.
pub fn decompress(
    codec: Codec,
    compressed: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let corrupt = |source| CompressionError::Decompress { codec, source };
    let start = out.len();
    match codec {
        Codec::None => {
            if compressed.len() > limit {
                return Err(CompressionError::DecompressedTooLarge { codec, limit });
            }
            out.extend_from_slice(compressed);
        }
        Codec::Gzip => {
            let decoder = flate2::read::MultiGzDecoder::new(compressed);
            read_bounded(decoder, limit, out).map_err(corrupt)?;
        }
        Codec::Snappy => decompress_snappy(compressed, limit, out)?,
        Codec::Lz4 => {
            let mut decoder = lz4::Decoder::new(compressed).map_err(corrupt)?;
            read_bounded(&mut decoder, limit, out).map_err(corrupt)?;
            // A truncated frame reads as a short stream: only `finish`
            // tells that the end mark was never seen.
            if out.len() - start <= limit {
                let (_, finished) = decoder.finish();
                finished.map_err(corrupt)?;
            }
        }
        Codec::Zstd => {
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(compressed).map_err(corrupt)?;
            // A frame's window is allocated before any output: bound it by
            // the limit too, not by what the frame header asks for.
            let window_log = (usize::BITS - limit.leading_zeros())
                .clamp(ZSTD_WINDOW_LOG_MIN, ZSTD_WINDOW_LOG_MAX);
            decoder.window_log_max(window_log).map_err(corrupt)?;
            read_bounded(decoder, limit, out).map_err(corrupt)?;
        }
    }
    if out.len() - start > limit {
        return Err(CompressionError::DecompressedTooLarge { codec, limit });
    }
    Ok(())
}

/// Reads `reader` to its end into `out`, stopping one byte past `limit`
/// (the caller sees the excess and refuses it). `out` grows with the bytes
/// actually produced, never by a declared size.
fn read_bounded(reader: impl Read, limit: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(cap).read_to_end(out).map(|_| ())
}

/// Snappy: xerial-framed blocks, or one raw snappy block without the magic.
/// Each block's declared length is checked against what is left of `limit`
/// before `out` grows by it.
fn decompress_snappy(
    compressed: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let codec = Codec::Snappy;
    let corrupt = |reason: &str| CompressionError::Decompress {
        codec,
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason.to_owned()),
    };
    let start = out.len();
    let block = |block: &[u8], out: &mut Vec<u8>| -> Result<(), CompressionError> {
        let length = snap::raw::decompress_len(block).map_err(|_| corrupt("bad block length"))?;
        let produced = out.len() - start;
        if length > limit - produced {
            return Err(CompressionError::DecompressedTooLarge { codec, limit });
        }
        let block_start = out.len();
        out.resize(block_start + length, 0);
        let written = snap::raw::Decoder::new()
            .decompress(block, &mut out[block_start..])
            .map_err(|_| corrupt("bad block"))?;
        if written != length {
            return Err(corrupt("block shorter than its declared length"));
        }
        Ok(())
    };
    let Some(mut rest) = compressed
        .get(..XERIAL_MAGIC_BYTES)
        .filter(|magic| *magic == &XERIAL_HEADER[..XERIAL_MAGIC_BYTES])
        .and_then(|_| compressed.get(XERIAL_HEADER.len()..))
    else {
        return block(compressed, out);
    };
    while !rest.is_empty() {
        let (length, after) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt("truncated block length"))?;
        let length = usize::try_from(u32::from_be_bytes(*length))
            .map_err(|_| corrupt("block length overflows"))?;
        let body = after
            .get(..length)
            .ok_or_else(|| corrupt("block longer than the stream"))?;
        block(body, out)?;
        rest = &after[length..];
    }
    Ok(())
}

/// Rebuilds the batches of `records` (whole batches that passed
/// `batch::validate`) whose codec differs from `target`'s, as Kafka's
/// `LogValidator` does, and returns the new record set; `None` when every
/// batch already has the target codec, or `target` is `Producer`, so the
/// caller appends `records` as they are without a copy. Control batches are
/// kept as they are (transaction markers are never compressed).
///
/// The records of every rebuilt batch are decoded (bounds, count, offset
/// deltas) before they are compressed again.
///
/// # Errors
/// The first batch that cannot be rebuilt, with its byte position in
/// `records`.
pub fn recompress(
    records: &[u8],
    target: CompressionType,
    decompressed_bytes_max: usize,
) -> Result<Option<Vec<u8>>, (usize, CompressionError)> {
    let Some(target_codec) = target.codec() else {
        return Ok(None);
    };
    let batches = || {
        let mut rest = records;
        let mut position = 0;
        std::iter::from_fn(move || {
            let header = BatchHeader::read(rest)?;
            let total = usize::try_from(header.total_bytes()).expect("validated batches");
            let (batch, after) = rest.split_at(total);
            let at = position;
            rest = after;
            position += total;
            Some((at, batch, header))
        })
    };
    let needs_rebuild = |header: &BatchHeader| {
        !header.is_control() && header.attributes.get() & ATTR_COMPRESSION_MASK != target_codec.id()
    };
    if !batches().any(|(_, _, header)| needs_rebuild(header)) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(records.len());
    let mut scratch = Vec::new();
    for (position, batch, header) in batches() {
        if needs_rebuild(header) {
            rebuild(
                batch,
                target,
                decompressed_bytes_max,
                &mut scratch,
                &mut out,
            )
            .map_err(|error| (position, error))?;
        } else {
            out.extend_from_slice(batch);
        }
    }
    Ok(Some(out))
}

/// Appends `batch` rebuilt with `target`'s codec to `out`. `scratch` is
/// reused for the header and decompressed records.
fn rebuild(
    batch: &[u8],
    target: CompressionType,
    limit: usize,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let header = BatchHeader::read(batch).expect("validated batch");
    let source = Codec::from_attributes(header.attributes.get())?;
    let target_codec = target.codec().expect("rebuilt only for a codec");
    assert!(
        source != target_codec,
        "rebuilding a batch in its own codec"
    );
    // The header, then the records uncompressed: a batch `Records` decodes.
    scratch.clear();
    scratch.extend_from_slice(&batch[..HEADER_BYTES]);
    decompress(source, &batch[HEADER_BYTES..], limit, scratch)?;
    for record in Records::new(scratch)? {
        record?;
    }
    let start = out.len();
    out.extend_from_slice(&batch[..HEADER_BYTES]);
    compress(target, &scratch[HEADER_BYTES..], out)?;
    batch::seal_with_codec(&mut out[start..], target_codec.id());
    debug_assert!(batch::validate(&out[start..], usize::MAX).is_ok());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_batch::BatchBuilder;

    const LIMIT: usize = 1 << 20;

    /// Every target type with a codec, at Kafka's default levels.
    const TARGETS: [CompressionType; 5] = [
        CompressionType::Uncompressed,
        CompressionType::Gzip { level: -1 },
        CompressionType::Snappy,
        CompressionType::Lz4 { level: 9 },
        CompressionType::Zstd { level: 3 },
    ];

    fn text(bytes: usize) -> Vec<u8> {
        b"the quick brown fox jumps over the lazy dog "
            .iter()
            .cycle()
            .take(bytes)
            .copied()
            .collect()
    }

    fn round_trip(target: CompressionType) {
        let codec = target.codec().expect("a codec");
        // Bigger than a snappy block and an lz4 block, and empty.
        for input in [text(200_000), text(10), Vec::new()] {
            let mut compressed = vec![0xAA];
            compress(target, &input, &mut compressed).expect("compresses");
            assert_eq!(compressed[0], 0xAA, "compress appends");
            if codec != Codec::None && input.len() > 1000 {
                assert!(compressed.len() < input.len() / 4, "{codec:?} compresses");
            }
            let mut back = Vec::new();
            decompress(codec, &compressed[1..], LIMIT, &mut back).expect("decompresses");
            assert_eq!(back, input, "{codec:?}");
        }
    }

    fn corrupt_input_is_refused(target: CompressionType) {
        let codec = target.codec().expect("a codec");
        let mut compressed = Vec::new();
        compress(target, &text(100_000), &mut compressed).expect("compresses");
        let truncated = &compressed[..compressed.len() / 2];
        let mut out = Vec::new();
        assert!(
            matches!(
                decompress(codec, truncated, LIMIT, &mut out),
                Err(CompressionError::Decompress { .. })
            ),
            "{codec:?} truncated"
        );
        let garbage = [0x5Au8; 64];
        let mut out = Vec::new();
        assert!(
            decompress(codec, &garbage, LIMIT, &mut out).is_err(),
            "{codec:?} garbage"
        );
    }

    fn bomb_is_refused_at_the_limit(target: CompressionType) {
        let codec = target.codec().expect("a codec");
        let mut compressed = Vec::new();
        compress(target, &vec![0u8; 4 << 20], &mut compressed).expect("compresses");
        let mut out = Vec::new();
        assert!(
            matches!(
                decompress(codec, &compressed, LIMIT, &mut out),
                Err(CompressionError::DecompressedTooLarge { limit: LIMIT, .. })
            ),
            "{codec:?}"
        );
        assert!(
            out.capacity() <= 4 * LIMIT,
            "{codec:?} grew to {}",
            out.capacity()
        );
    }

    #[test]
    fn gzip_round_trips_and_refuses_corrupt_input() {
        round_trip(CompressionType::Gzip { level: -1 });
        round_trip(CompressionType::Gzip { level: 1 });
        corrupt_input_is_refused(CompressionType::Gzip { level: 9 });
        bomb_is_refused_at_the_limit(CompressionType::Gzip { level: -1 });
    }

    #[test]
    fn snappy_round_trips_and_refuses_corrupt_input() {
        round_trip(CompressionType::Snappy);
        corrupt_input_is_refused(CompressionType::Snappy);
        bomb_is_refused_at_the_limit(CompressionType::Snappy);
    }

    #[test]
    fn lz4_round_trips_and_refuses_corrupt_input() {
        round_trip(CompressionType::Lz4 { level: 9 });
        round_trip(CompressionType::Lz4 { level: 1 });
        round_trip(CompressionType::Lz4 { level: 17 });
        corrupt_input_is_refused(CompressionType::Lz4 { level: 9 });
        bomb_is_refused_at_the_limit(CompressionType::Lz4 { level: 9 });
    }

    #[test]
    fn zstd_round_trips_and_refuses_corrupt_input() {
        round_trip(CompressionType::Zstd { level: 3 });
        round_trip(CompressionType::Zstd { level: -5 });
        round_trip(CompressionType::Zstd { level: 22 });
        corrupt_input_is_refused(CompressionType::Zstd { level: 3 });
        bomb_is_refused_at_the_limit(CompressionType::Zstd { level: 3 });
    }

    #[test]
    fn uncompressed_round_trips_and_refuses_more_than_the_limit() {
        round_trip(CompressionType::Uncompressed);
        let mut out = Vec::new();
        assert!(matches!(
            decompress(Codec::None, &[0; 11], 10, &mut out),
            Err(CompressionError::DecompressedTooLarge { limit: 10, .. })
        ));
    }

    #[test]
    fn raw_snappy_without_the_xerial_header_is_read() {
        let input = text(5_000);
        let raw = snap::raw::Encoder::new()
            .compress_vec(&input)
            .expect("compresses");
        let mut out = Vec::new();
        decompress(Codec::Snappy, &raw, LIMIT, &mut out).expect("raw snappy");
        assert_eq!(out, input);
    }

    #[test]
    fn snappy_block_claiming_more_than_the_limit_allocates_nothing() {
        // A raw block whose varint header claims 2^31 bytes.
        let hostile = [0x80, 0x80, 0x80, 0x80, 0x08, 0x00];
        let mut out = Vec::new();
        assert!(matches!(
            decompress(Codec::Snappy, &hostile, LIMIT, &mut out),
            Err(CompressionError::DecompressedTooLarge { .. })
        ));
        assert_eq!(out.capacity(), 0);
    }

    #[test]
    fn the_limit_scales_with_max_message_bytes_within_bounds() {
        assert_eq!(decompressed_bytes_max(1_048_588), 16 * 1_048_588);
        assert_eq!(decompressed_bytes_max(1_000), 1 << 20);
        assert_eq!(decompressed_bytes_max(100 << 20), 256 << 20);
        assert_eq!(decompressed_bytes_max(1 << 30), 1 << 30);
    }

    fn batch() -> Vec<u8> {
        BatchBuilder::new(1_700_000_000_000)
            .record(b"key-1", &text(3_000), 0)
            .record(b"key-2", b"v", 7)
            .tombstone(b"key-3", 9)
            .producer(42, 3, 17)
            .build()
    }

    #[test]
    fn recompressing_keeps_header_fields_and_records() {
        let original = batch();
        let header = *BatchHeader::read(&original).expect("header");
        for target in TARGETS.into_iter().skip(1) {
            let codec = target.codec().expect("codec");
            let rebuilt = recompress(&original, target, LIMIT)
                .expect("recompresses")
                .expect("codec differs");
            assert_eq!(batch::validate(&rebuilt, usize::MAX), Ok(rebuilt.len()));
            assert!(rebuilt.len() < original.len(), "{codec:?}");
            let new = BatchHeader::read(&rebuilt).expect("header");
            assert_eq!(
                Codec::from_attributes(new.attributes.get()).ok(),
                Some(codec)
            );
            assert_eq!(new.last_offset_delta.get(), header.last_offset_delta.get());
            assert_eq!(new.base_timestamp.get(), header.base_timestamp.get());
            assert_eq!(new.max_timestamp.get(), header.max_timestamp.get());
            assert_eq!(new.producer_id.get(), 42);
            assert_eq!(new.producer_epoch.get(), 3);
            assert_eq!(new.base_sequence.get(), 17);
            assert_eq!(new.records_count.get(), 3);
            // Back to uncompressed gives the original bytes exactly.
            let back = recompress(&rebuilt, CompressionType::Uncompressed, LIMIT)
                .expect("decompresses")
                .expect("codec differs");
            assert_eq!(back, original, "{codec:?}");
        }
    }

    #[test]
    fn batches_already_in_the_target_codec_and_producer_are_not_copied() {
        let original = batch();
        assert!(recompress(&original, CompressionType::Producer, LIMIT)
            .expect("nothing to do")
            .is_none());
        assert!(recompress(&original, CompressionType::Uncompressed, LIMIT)
            .expect("nothing to do")
            .is_none());
        let zstd = CompressionType::Zstd { level: 3 };
        let compressed = recompress(&original, zstd, LIMIT)
            .expect("ok")
            .expect("rebuilt");
        assert!(recompress(&compressed, zstd, LIMIT).expect("ok").is_none());
    }

    #[test]
    fn only_batches_of_another_codec_are_rebuilt_and_control_batches_are_kept() {
        let lz4 = CompressionType::Lz4 { level: 9 };
        let first = recompress(&batch(), lz4, LIMIT)
            .expect("ok")
            .expect("rebuilt");
        let mut control = BatchBuilder::new(5).record(b"\0\0\0\0", b"\0\0", 0).build();
        control[22] |= 1 << 5; // attributes low byte: control bit
        batch::seal_with_codec(&mut control, 0);
        let plain = batch();
        let records = [first.clone(), control.clone(), plain].concat();
        let out = recompress(&records, lz4, LIMIT)
            .expect("ok")
            .expect("rebuilt");
        assert_eq!(&out[..first.len()], &first[..]);
        assert_eq!(&out[first.len()..first.len() + control.len()], &control[..]);
        assert_eq!(&out[first.len() + control.len()..], &first[..]);
    }

    #[test]
    fn a_batch_that_does_not_decompress_is_refused_with_its_position() {
        let mut lying = batch();
        // Claims lz4, holds plain records.
        batch::seal_with_codec(&mut lying, Codec::Lz4.id());
        let records = [batch(), lying].concat();
        let (position, error) =
            recompress(&records, CompressionType::Uncompressed, LIMIT).expect_err("corrupt");
        assert_eq!(position, batch().len());
        assert!(matches!(
            error,
            CompressionError::Decompress {
                codec: Codec::Lz4,
                ..
            }
        ));
        let mut unknown = batch();
        batch::seal_with_codec(&mut unknown, 6);
        assert!(matches!(
            recompress(&unknown, CompressionType::Snappy, LIMIT),
            Err((0, CompressionError::UnknownCodec { codec: 6 }))
        ));
    }

    #[test]
    fn decompressed_bytes_that_are_not_the_records_are_refused() {
        let original = batch();
        // A gzip batch whose payload lost its last byte of records.
        let mut broken = original[..HEADER_BYTES].to_vec();
        compress(
            CompressionType::Gzip { level: -1 },
            &original[HEADER_BYTES..original.len() - 1],
            &mut broken,
        )
        .expect("compresses");
        batch::seal_with_codec(&mut broken, Codec::Gzip.id());
        assert!(matches!(
            recompress(&broken, CompressionType::Uncompressed, LIMIT),
            Err((0, CompressionError::Records(_)))
        ));
    }

    proptest::proptest! {
        #[test]
        fn damaged_streams_decompress_or_are_refused_within_the_limit(
            codec in 0usize..5,
            flips in proptest::collection::vec((proptest::num::usize::ANY, 1u8..=255), 0..4),
            cut in proptest::num::usize::ANY,
            noise in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        ) {
            let target = TARGETS[codec];
            let mut stream = Vec::new();
            compress(target, &text(40_000), &mut stream).expect("compresses");
            for (position, mask) in flips {
                let position = position % stream.len();
                stream[position] ^= mask;
            }
            stream.truncate(cut % (stream.len() + 1));
            stream.extend_from_slice(&noise);
            let mut out = Vec::new();
            let codec = target.codec().expect("a codec");
            let limit = 20_000;
            if decompress(codec, &stream, limit, &mut out).is_ok() {
                proptest::prop_assert!(out.len() <= limit);
            }
        }
    }
}
