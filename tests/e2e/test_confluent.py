"""librdkafka (confluent-kafka) producer and consumer against a real broker."""

from __future__ import annotations

import time

import pytest

import kafka_wire as w
from clients import (
    KafkaError,
    TopicPartition,
    admin,
    consume_partition,
    consumer,
    create_topic,
    expected,
    keyed_messages,
    produce,
    producer,
    to_msg,
    unique_topic,
)


def test_acks_all_keyed_messages_with_headers_read_back_exactly(broker):
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    msgs = keyed_messages(20, partition=0)
    delivered = produce(broker.bootstrap, topic, msgs, acks="all")
    assert [(d.partition(), d.offset()) for d in delivered] == [(0, i) for i in range(20)]
    got = consume_partition(broker.bootstrap, topic, 0, 0, expect_count=20)
    assert got == expected(msgs, 0)


def test_acks_0_every_message_arrives(broker):
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    msgs = keyed_messages(50, partition=0, tag="acks0")
    # With acks=0 the broker sends no Produce response at all; librdkafka
    # reports success as soon as the request is written.
    produce(broker.bootstrap, topic, msgs, acks="0")
    # Nothing tells an acks=0 producer when the broker appended; poll the
    # high watermark until all 50 are there (bounded), then read them.
    c = consumer(broker.bootstrap)
    try:
        deadline = time.monotonic() + 10
        while c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) != (0, 50):
            assert time.monotonic() < deadline, c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
            time.sleep(0.1)
    finally:
        c.close()
    assert consume_partition(broker.bootstrap, topic, 0, 0, expect_count=50) == expected(msgs, 0)


@pytest.mark.parametrize("cores", [None, "0"], ids=["default_cores", "one_core"])
def test_eight_partitions_explicit_partition_dense_offsets(broker_factory, cores):
    # With several data shards the partitions spread over shards, so most
    # produce and fetch requests cross the shard mesh; on one core none do.
    broker = broker_factory(cores=cores)
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 8)
    per_partition = {p: keyed_messages(7, partition=p, tag=f"p{p}") for p in range(8)}
    # Interleave partitions so every produce batch mixes them.
    interleaved = [per_partition[p][i] for i in range(7) for p in range(8)]
    delivered = produce(broker.bootstrap, topic, interleaved)
    assert [(d.partition(), d.offset()) for d in delivered] == [(p, i) for i in range(7) for p in range(8)]
    for p in range(8):
        got = consume_partition(broker.bootstrap, topic, p, 0, expect_count=7)
        assert got == expected(per_partition[p], p), f"partition {p}"


def test_producer_timestamps_come_back_even_out_of_order(broker):
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    timestamps = [1_600_000_005_000, 1_600_000_001_000, 1_600_000_009_999, 1, 1_600_000_003_000]
    msgs = [
        {"key": b"k%d" % i, "value": b"v%d" % i, "headers": [("ts", str(ts).encode())],
         "timestamp": ts, "partition": 0}
        for i, ts in enumerate(timestamps)
    ]
    produce(broker.bootstrap, topic, msgs, **{"linger.ms": 50})
    got = consume_partition(broker.bootstrap, topic, 0, 0, expect_count=5)
    assert [m.timestamp for m in got] == timestamps
    assert got == expected(msgs, 0)


def test_null_key_null_value_and_null_header_value(broker):
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    msgs = [
        {"key": None, "value": b"no-key", "headers": [("h", None)], "timestamp": 1_700_000_000_000, "partition": 0},
        {"key": b"tombstone", "value": None, "headers": [("a", b"1"), ("a", b"2")], "timestamp": 1_700_000_000_001, "partition": 0},
        {"key": b"", "value": b"", "headers": [], "timestamp": 1_700_000_000_002, "partition": 0},
    ]
    produce(broker.bootstrap, topic, msgs)
    got = consume_partition(broker.bootstrap, topic, 0, 0, expect_count=3)
    assert [(m.key, m.value) for m in got] == [(None, b"no-key"), (b"tombstone", None), (b"", b"")]
    assert got[0].headers == (("h", None),)
    # Repeated header keys are kept, in order.
    assert got[1].headers == (("a", b"1"), ("a", b"2"))
    assert got[2].headers == ()


def test_large_message_round_trips(broker):
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    value = bytes(range(256)) * 3000  # 768000 bytes, below the 1 MiB default limit
    msgs = [{"key": b"big", "value": value, "headers": [("size", b"768000")], "timestamp": 1_700_000_000_000, "partition": 0}]
    produce(broker.bootstrap, topic, msgs)
    assert consume_partition(broker.bootstrap, topic, 0, 0, expect_count=1) == expected(msgs, 0)


def test_assign_then_seek_moves_the_fetch_position(broker):
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    msgs = keyed_messages(10, partition=0)
    produce(broker.bootstrap, topic, msgs)
    want = expected(msgs, 0)
    c = consumer(broker.bootstrap, **{"enable.partition.eof": False})
    try:
        c.assign([TopicPartition(topic, 0, 0)])

        def next_msg():
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is None:
                    continue
                assert m.error() is None, m.error()
                return to_msg(m)
            raise AssertionError("no message within 15s")

        assert [next_msg() for _ in range(3)] == want[0:3]
        c.seek(TopicPartition(topic, 0, 7))
        assert [next_msg() for _ in range(3)] == want[7:10]
        c.seek(TopicPartition(topic, 0, 2))
        assert next_msg() == want[2]
        assert c.position([TopicPartition(topic, 0)])[0].offset == 3
    finally:
        c.close()


def test_start_in_the_middle_of_a_batch(broker):
    # One produce batch of 10 records; a fetch from offset 6 must deliver
    # 6..9 only (the client drops the batch's earlier records, but the
    # broker must return the batch containing offset 6).
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    msgs = keyed_messages(10, partition=0)
    produce(broker.bootstrap, topic, msgs, **{"linger.ms": 100})
    assert consume_partition(broker.bootstrap, topic, 0, 6, expect_count=4) == expected(msgs, 0)[6:]


def test_offsets_for_times(broker):
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    base = 1_700_000_000_000
    msgs = keyed_messages(10, partition=0, base_ts=base)  # timestamps base + i*1000
    produce(broker.bootstrap, topic, msgs)
    c = consumer(broker.bootstrap)
    try:
        cases = {
            base - 1: 0,            # before everything: first offset
            base: 0,                # exact first
            base + 2000: 2,         # exact match
            base + 2500: 3,         # between: first with timestamp >= target
            base + 9000: 9,         # exact last
            base + 9001: -1,        # after everything: -1 (no such offset)
        }
        for ts, want in cases.items():
            [tp] = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)
            assert tp.error is None, (ts, tp.error)
            assert tp.offset == want, f"timestamp {ts}: offset {tp.offset}, want {want}"
    finally:
        c.close()


def test_get_watermark_offsets(broker):
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 2)
    c = consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) == (0, 0)
        produce(broker.bootstrap, topic, keyed_messages(7, partition=0))
        produce(broker.bootstrap, topic, keyed_messages(3, partition=1))
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) == (0, 7)
        assert c.get_watermark_offsets(TopicPartition(topic, 1), timeout=10, cached=False) == (0, 3)
    finally:
        c.close()


def test_produce_to_missing_topic_with_auto_create_disabled(broker_factory):
    broker = broker_factory({"auto.create.topics.enable": "false"})
    topic = unique_topic("missing")
    p = producer(broker.bootstrap, **{"message.timeout.ms": 5000, "topic.metadata.propagation.max.ms": 500})
    errors = []
    p.produce(topic, b"v", key=b"k", partition=0, on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(15) == 0
    assert len(errors) == 1 and errors[0] is not None, errors
    # librdkafka turns the broker's UNKNOWN_TOPIC_OR_PART in metadata into
    # its local _UNKNOWN_TOPIC; either way it must not be a timeout.
    assert errors[0].code() in (KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_OR_PART), errors[0]

    # The broker's own answers, without client interpretation:
    # Produce v3 to the missing topic -> partition error 3.
    batch = w.record_batch([(b"k", b"v", [])], 1_700_000_000_000)
    resp = w.request(broker.port, w.header_v1(w.PRODUCE, 3, 41) + w.produce_v3_body(topic, 0, batch))
    assert resp[:4] == w.i32(41)
    assert w.parse_produce_v3(resp[4:]) == [(topic, 0, w.UNKNOWN_TOPIC_OR_PARTITION, -1)]
    # Metadata v4 asking for auto-creation -> topic error 3, nothing created.
    resp = w.request(broker.port, w.header_v1(w.METADATA, 4, 42) + w.metadata_v4_body([topic], True))
    assert w.parse_metadata_v4_topics(resp[4:]) == {topic: (w.UNKNOWN_TOPIC_OR_PARTITION, [])}
    assert topic not in admin(broker.bootstrap).list_topics(timeout=10).topics
