"""Topic compression.type with real clients: a topic whose type names a
codec stores every producer batch in that codec (Kafka's recompression on
append), `producer` keeps the producer's codec, and consumers read back
exactly what was sent. The stored codec is read from the batch attributes
of a raw Fetch."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import ConfigResource, ConfigSource, NewTopic, ResourceType

import kafka_wire as w
from clients import (
    TIMEOUT_S,
    admin,
    consume_partition,
    create_topic,
    expected,
    kafka_error_code,
    keyed_messages,
    produce,
    unique_topic,
)

CODEC_IDS = {"uncompressed": 0, "none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def stored_batches(port: int, topic: str) -> list[tuple[int, int, int, int, int]]:
    """The headers of every batch of partition 0, read with a raw Fetch v4."""
    resp = w.request(port, w.header_v1(w.FETCH, 4, 71) + w.fetch_v4_body(topic, 0, 0, 16 << 20))
    assert resp[:4] == w.i32(71)
    [(name, partition, error_code, high_watermark, records)] = w.parse_fetch_v4(resp[4:])
    assert (name, partition, error_code) == (topic, 0, w.NONE)
    headers = w.batch_headers(records)
    assert sum(count for _, _, count, _, _ in headers) == high_watermark
    return headers


def describe(bootstrap: str, resource: ConfigResource) -> dict:
    a = admin(bootstrap)
    return a.describe_configs([resource], request_timeout=TIMEOUT_S)[resource].result(TIMEOUT_S)


@pytest.mark.parametrize(
    ("topic_type", "producer_codec"),
    [
        ("lz4", "gzip"),
        ("zstd", "snappy"),
        ("gzip", "lz4"),
        ("snappy", "zstd"),
        ("uncompressed", "zstd"),
        ("lz4", "none"),
        ("producer", "lz4"),
    ],
)
def test_topic_compression_type_is_the_stored_codec(broker, topic_type, producer_codec):
    topic = unique_topic(f"comp-{topic_type}")
    create_topic(broker.bootstrap, topic, config={"compression.type": topic_type})
    configs = describe(broker.bootstrap, ConfigResource(ResourceType.TOPIC, topic))
    assert configs["compression.type"].value == topic_type
    assert configs["compression.type"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value

    # Idempotent, so producer id and sequences must survive the rebuild;
    # several batches, so more than one is rebuilt.
    messages = keyed_messages(300, partition=0, tag=f"{topic_type}-{producer_codec}")
    for m in messages:
        m["value"] = m["value"] * 20
    produce(broker.bootstrap, topic, messages, **{
        "compression.type": producer_codec,
        "enable.idempotence": True,
        "batch.num.messages": 50,
    })

    got = consume_partition(broker.bootstrap, topic, 0, expect_count=len(messages))
    assert got == expected(messages, partition=0)

    headers = stored_batches(broker.port, topic)
    assert len(headers) >= 2
    want = CODEC_IDS[producer_codec if topic_type == "producer" else topic_type]
    assert [attributes & 0x7 for _, attributes, _, _, _ in headers] == [want] * len(headers)
    producer_ids = {producer_id for _, _, _, producer_id, _ in headers}
    assert len(producer_ids) == 1 and producer_ids.pop() >= 0
    # Sequences run on from batch to batch: each starts where the last ended.
    offset = 0
    for base_offset, _, count, _, base_sequence in headers:
        assert (base_offset, base_sequence) == (offset, offset)
        offset += count
    assert offset == len(messages)


def test_broker_compression_type_is_the_default_of_every_topic(broker_factory):
    broker = broker_factory(settings={"compression.type": "zstd", "compression.zstd.level": "7"})
    topic = unique_topic("comp-broker")
    create_topic(broker.bootstrap, topic)
    messages = keyed_messages(20, partition=0)
    produce(broker.bootstrap, topic, messages, **{"compression.type": "gzip"})
    assert consume_partition(broker.bootstrap, topic, 0, expect_count=20) == expected(messages, 0)
    assert {attributes & 0x7 for _, attributes, _, _, _ in stored_batches(broker.port, topic)} == {4}
    configs = describe(broker.bootstrap, ConfigResource(ResourceType.TOPIC, topic))
    assert configs["compression.type"].value == "zstd"
    assert configs["compression.zstd.level"].value == "7"
    assert configs["compression.type"].source == ConfigSource.STATIC_BROKER_CONFIG.value


def test_describe_configs_reports_kafkas_compression_defaults(broker):
    topic = unique_topic("comp-defaults")
    create_topic(broker.bootstrap, topic)
    defaults = {
        "compression.type": "producer",
        "compression.gzip.level": "-1",
        "compression.lz4.level": "9",
        "compression.zstd.level": "3",
    }
    for resource in (ConfigResource(ResourceType.TOPIC, topic), ConfigResource(ResourceType.BROKER, "0")):
        configs = describe(broker.bootstrap, resource)
        for name, value in defaults.items():
            assert configs[name].value == value, (resource, name)
            assert configs[name].source == ConfigSource.DEFAULT_CONFIG.value, (resource, name)


def test_invalid_compression_configs_are_refused(broker):
    a = admin(broker.bootstrap)
    for name, value in [("compression.type", "brotli"), ("compression.gzip.level", "0"),
                        ("compression.lz4.level", "18"), ("compression.zstd.level", "23")]:
        topic = unique_topic("comp-bad")
        fs = a.create_topics([NewTopic(topic, 1, 1, config={name: value})], request_timeout=TIMEOUT_S)
        with pytest.raises(KafkaException) as e:
            fs[topic].result(TIMEOUT_S)
        assert kafka_error_code(e.value) == KafkaError.INVALID_CONFIG, (name, value)


def test_a_batch_that_does_not_decompress_is_refused_with_corrupt_message(broker):
    topic = unique_topic("comp-corrupt")
    create_topic(broker.bootstrap, topic, config={"compression.type": "zstd"})
    batch = bytearray(w.record_batch([(b"k", b"v" * 100, [])], 1_700_000_000_000))
    # Claim lz4 (attributes low byte at 22) for records that are not lz4,
    # with a CRC that matches, so only decompression can find the fault.
    batch[22] |= 3
    batch[17:21] = w.u32(w.crc32c(bytes(batch[21:])))
    resp = w.request(broker.port, w.header_v1(w.PRODUCE, 3, 81) + w.produce_v3_body(topic, 0, bytes(batch)))
    [(name, partition, error_code, base_offset)] = w.parse_produce_v3(resp[4:])
    assert (name, partition, error_code, base_offset) == (topic, 0, w.CORRUPT_MESSAGE, -1)
    # The same records uncompressed are accepted and stored as zstd.
    good = w.record_batch([(b"k", b"v" * 100, [])], 1_700_000_000_000)
    resp = w.request(broker.port, w.header_v1(w.PRODUCE, 3, 82) + w.produce_v3_body(topic, 0, good))
    assert w.parse_produce_v3(resp[4:]) == [(topic, 0, w.NONE, 0)]
    [(base_offset, attributes, count, producer_id, _)] = stored_batches(broker.port, topic)
    assert (base_offset, attributes & 0x7, count, producer_id) == (0, 4, 1, -1)
