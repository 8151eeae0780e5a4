//! Criterion micro-benchmarks of the hot pure functions: record-batch
//! validation, CRC32C, offset-index lookup, request decode and response
//! encode (the zero-copy Fetch header writer and a Produce response).
//!
//! `cargo bench -p skein-benches --bench micro`

use std::hint::black_box;

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use kafka_protocol::messages::produce_response::{
    PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ApiKey, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use skein_engine::test_batch::BatchBuilder;
use skein_engine::{validate_batch, LogChunk, OffsetIndex};
use skein_net::fetch_response::{write_fetch_response, FetchedPartition, FetchedTopic};
use skein_net::frame::RequestHeader;
use skein_net::request::decode_frame;
use skein_net::response::encode_response;

fn batch(records: usize, value_bytes: usize) -> Vec<u8> {
    BatchBuilder::new(1_700_000_000_000)
        .records(records, value_bytes, 7)
        .build()
}

fn batch_validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch_validation");
    for (name, records) in [("16KiB", 16), ("1MiB", 1000)] {
        let bytes = batch(records, 1000);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| validate_batch(black_box(&bytes), 1 << 21).unwrap())
        });
    }
    group.finish();
}

fn crc(c: &mut Criterion) {
    let mut group = c.benchmark_group("crc32c");
    for size in [16 << 10, 1 << 20] {
        let bytes = vec![0xa5u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("{}KiB", size >> 10), |b| {
            b.iter(|| crc32c::crc32c(black_box(&bytes)))
        });
    }
    group.finish();
}

fn index_lookup(c: &mut Criterion) {
    // A 1 GiB segment indexed every 4 KiB: 262 144 entries.
    let mut index = OffsetIndex::new(0);
    for entry in 0..262_144u64 {
        index.append(entry as i64 * 4, entry * 4096);
    }
    let mut probe = 12_345i64;
    c.bench_function("offset_index_lookup_262k_entries", |b| {
        b.iter(|| {
            probe = (probe * 1_103_515_245 + 12_345) % (262_144 * 4);
            index.lookup(black_box(probe))
        })
    });
}

fn frame(api_key: i16, version: i16, body: &[u8]) -> Bytes {
    let mut frame = BytesMut::new();
    frame.put_i16(api_key);
    frame.put_i16(version);
    frame.put_i32(1);
    frame.put_i16(5);
    frame.put_slice(b"bench");
    frame.put_u8(0); // empty tagged fields (header v2)
    frame.put_slice(body);
    frame.freeze()
}

fn request_decode(c: &mut Criterion) {
    let records = Bytes::from(batch(16, 1000));
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("orders")))
            .with_partition_data(
                (0..8)
                    .map(|p| {
                        PartitionProduceData::default()
                            .with_index(p)
                            .with_records(Some(records.clone()))
                    })
                    .collect(),
            )]);
    let mut body = BytesMut::new();
    request.encode(&mut body, 9).unwrap();
    let produce = frame(ApiKey::Produce as i16, 9, &body);
    let mut group = c.benchmark_group("request_decode");
    group.throughput(Throughput::Bytes(produce.len() as u64));
    group.bench_function("produce_v9_8x16KiB", |b| {
        b.iter(|| decode_frame(black_box(produce.clone())).unwrap())
    });
    group.finish();
}

fn response_encode(c: &mut Criterion) {
    let header = RequestHeader {
        api_key: ApiKey::Fetch as i16,
        api_version: 12,
        correlation_id: 1,
        client_id: None,
    };
    let chunk = Bytes::from(batch(16, 1000));
    c.bench_function("fetch_response_v12_8_partitions_zero_copy", |b| {
        b.iter(|| {
            let topics = vec![FetchedTopic {
                name: TopicName(StrBytes::from_static_str("orders")),
                topic_id: Default::default(),
                partitions: (0..8)
                    .map(|p| FetchedPartition {
                        partition_index: p,
                        error_code: 0,
                        high_watermark: 1000,
                        last_stable_offset: 1000,
                        log_start_offset: 0,
                        diverging_epoch: None,
                        aborted_transactions: None,
                        chunks: vec![LogChunk::Memory(chunk.clone())],
                    })
                    .collect(),
            }];
            write_fetch_response(black_box(&header), 0, 0, topics).unwrap()
        })
    });
    let produce_header = RequestHeader {
        api_key: ApiKey::Produce as i16,
        api_version: 9,
        correlation_id: 1,
        client_id: None,
    };
    let response = ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
        .with_name(TopicName(StrBytes::from_static_str("orders")))
        .with_partition_responses(
            (0..8)
                .map(|p| {
                    PartitionProduceResponse::default()
                        .with_index(p)
                        .with_base_offset(1000)
                })
                .collect(),
        )]);
    c.bench_function("produce_response_v9_8_partitions", |b| {
        b.iter(|| encode_response(black_box(&produce_header), ApiKey::Produce, &response).unwrap())
    });
}

criterion_group!(
    benches,
    batch_validation,
    crc,
    index_lookup,
    request_decode,
    response_encode
);
criterion_main!(benches);
