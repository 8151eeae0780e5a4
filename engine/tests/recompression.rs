//! Appends to a log whose `compression.type` names a codec: batches of
//! another codec are stored rebuilt in it, with the offsets a producer's
//! bytes would have had; batches that cannot be rebuilt write nothing.

mod support;

use skein_engine::{
    recompress, AppendError, Codec, CompressionError, CompressionType, LogConfig, PartitionLog,
};
use support::{patched, read_all, run, BatchBuilder};

fn keyed_batch(count: usize) -> Vec<u8> {
    let value = b"a value that compresses well, well, well, well, well".repeat(20);
    (0..count)
        .fold(BatchBuilder::new(1_700_000_000_000), |builder, i| {
            builder.record(format!("key-{i}").as_bytes(), &value, i as i64)
        })
        .producer(7, 0, 0)
        .build()
}

fn codec_of(batch: &[u8]) -> Codec {
    let header = skein_engine::BatchHeader::read(batch).expect("header");
    Codec::from_attributes(header.attributes.get()).expect("known codec")
}

#[test]
fn an_lz4_topic_stores_an_uncompressed_batch_as_lz4() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let lz4 = CompressionType::Lz4 { level: 9 };
        let config = LogConfig {
            compression_type: lz4,
            ..LogConfig::default()
        };
        let log = PartitionLog::open(path, config).await.expect("open");
        let first = keyed_batch(5);
        let info = log.append(&first, 3, 1_000).await.expect("append");
        assert_eq!((info.base_offset, info.last_offset), (0, 4));
        let second = keyed_batch(2);
        let info = log.append(&second, 3, 1_000).await.expect("append");
        assert_eq!((info.base_offset, info.last_offset), (5, 6));
        let stored = read_all(&log, 0).await;
        assert_eq!(stored.len(), 2);
        for ((offset, batch), original) in stored.iter().zip([&first, &second]) {
            assert_eq!(codec_of(batch), Codec::Lz4);
            assert!(batch.len() < original.len());
            let expected = recompress(original, lz4, 1 << 20)
                .expect("recompresses")
                .expect("rebuilt");
            assert_eq!(batch, &patched(&expected, *offset, 3));
        }
    });
}

#[test]
fn the_producer_type_stores_batches_as_sent_and_a_matching_codec_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let zstd = CompressionType::Zstd { level: 3 };
        let sent = recompress(&keyed_batch(3), zstd, 1 << 20)
            .expect("compresses")
            .expect("rebuilt");
        let log = PartitionLog::open(path, LogConfig::default())
            .await
            .expect("open");
        log.append(&sent, 0, 0).await.expect("append");
        log.set_config(LogConfig {
            compression_type: zstd,
            ..LogConfig::default()
        });
        log.append(&sent, 0, 0).await.expect("append");
        let stored = read_all(&log, 0).await;
        assert_eq!(
            stored,
            vec![(0, patched(&sent, 0, 0)), (3, patched(&sent, 3, 0))]
        );
    });
}

#[test]
fn a_batch_that_does_not_decompress_or_grows_too_large_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t-0");
    run(move || async move {
        let gzip = CompressionType::Gzip { level: -1 };
        let compressed = recompress(&keyed_batch(20), gzip, 1 << 20)
            .expect("compresses")
            .expect("rebuilt");
        let config = LogConfig {
            compression_type: CompressionType::Uncompressed,
            max_message_bytes: u32::try_from(compressed.len() + 100).expect("small"),
            ..LogConfig::default()
        };
        let log = PartitionLog::open(path, config).await.expect("open");
        // Accepted as sent, too large once decompressed: Kafka checks
        // max.message.bytes after recompression too.
        let error = log.append(&compressed, 0, 0).await.expect_err("too large");
        assert!(
            matches!(error, AppendError::BatchTooLarge { .. }),
            "{error}"
        );
        // A gzip payload cut short.
        let mut broken = compressed[..compressed.len() - 10].to_vec();
        skein_engine::test_batch::reseal(&mut broken);
        let error = log.append(&broken, 0, 0).await.expect_err("corrupt");
        assert!(
            matches!(
                error,
                AppendError::Compression {
                    position: 0,
                    source: CompressionError::Decompress {
                        codec: Codec::Gzip,
                        ..
                    }
                }
            ),
            "{error}"
        );
        assert_eq!(log.log_end_offset(), 0);
        assert!(read_all(&log, 0).await.is_empty());
    });
}
