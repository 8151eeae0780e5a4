"""kafka-python (pure-Python client, its own protocol code) against a real broker."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import TopicAlreadyExistsError

from clients import consume_partition, create_topic, expected, keyed_messages, unique_topic

TIMEOUT_S = 20


def kp_messages(n: int, partition: int, tag: str) -> list[dict]:
    # The shared generator, in kafka-python's spelling (timestamp_ms).
    return keyed_messages(n, partition=partition, tag=tag)


def read_all(bootstrap: str, topic: str, partition: int, count: int) -> list:
    c = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        client_id="skein-e2e-kafka-python", request_timeout_ms=30000,
    )
    try:
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        c.seek_to_beginning(tp)
        out = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(out) < count and time.monotonic() < deadline:
            for records in c.poll(timeout_ms=500).values():
                out.extend(records)
        assert len(out) == count, f"read {len(out)} of {count}"
        # Nothing more than what was written.
        assert c.poll(timeout_ms=300) == {}
        assert c.position(tp) == count
        return out
    finally:
        c.close()


def test_producer_consumer_keyed_with_headers_exact(broker):
    topic = unique_topic("kp")
    create_topic(broker.bootstrap, topic, 2)
    # Idempotence off: this test is about the data path; the defaults
    # (idempotent producer) have their own test below.
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5,
                      enable_idempotence=False, client_id="skein-e2e-kafka-python")
    sent = {0: kp_messages(6, 0, "kp0"), 1: kp_messages(4, 1, "kp1")}
    futures = []
    for part, msgs in sent.items():
        for m in msgs:
            futures.append(p.send(topic, value=m["value"], key=m["key"], headers=m["headers"],
                                  partition=part, timestamp_ms=m["timestamp"]))
    metas = [f.get(timeout=TIMEOUT_S) for f in futures]
    p.close()
    assert [(md.partition, md.offset) for md in metas] == [(0, i) for i in range(6)] + [(1, i) for i in range(4)]

    for part, msgs in sent.items():
        got = read_all(broker.bootstrap, topic, part, len(msgs))
        assert [(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers), r.timestamp, r.timestamp_type)
                for r in got] == [
            (topic, part, i, m["key"], m["value"], m["headers"], m["timestamp"], 0)
            for i, m in enumerate(msgs)
        ]
        # And librdkafka reads the same bytes.
        assert consume_partition(broker.bootstrap, topic, part, 0, expect_count=len(msgs)) == expected(msgs, part)


def test_default_producer_config_delivers(broker):
    # kafka-python 3 defaults to an idempotent producer (InitProducerId,
    # sequence numbers), as the Java client does: what a user gets with no
    # configuration at all.
    topic = unique_topic("kpdef")
    create_topic(broker.bootstrap, topic, 1)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap)
    msgs = kp_messages(5, 0, "default")
    futures = [p.send(topic, value=m["value"], key=m["key"], headers=m["headers"], partition=0,
                      timestamp_ms=m["timestamp"]) for m in msgs]
    assert [f.get(timeout=TIMEOUT_S).offset for f in futures] == list(range(5))
    p.close()
    assert consume_partition(broker.bootstrap, topic, 0, 0, expect_count=5) == expected(msgs, 0)


def test_acks_0_every_message_arrives(broker):
    topic = unique_topic("kp0")
    create_topic(broker.bootstrap, topic, 1)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=0)
    msgs = kp_messages(30, 0, "acks0")
    for m in msgs:
        p.send(topic, value=m["value"], key=m["key"], headers=m["headers"], partition=0,
               timestamp_ms=m["timestamp"])
    p.flush(TIMEOUT_S)
    p.close()
    deadline = time.monotonic() + 10
    while True:
        try:
            got = consume_partition(broker.bootstrap, topic, 0, 0, expect_count=30, timeout_s=2)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
    assert got == expected(msgs, 0)


def test_admin_create_and_delete_topic(broker):
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="skein-e2e-kafka-python")
    try:
        topic = unique_topic("kpadmin")
        a.create_topics({topic: {"num_partitions": 3, "replication_factor": 1}}, wait_for_metadata=True)
        assert topic in a.list_topics()
        [desc] = a.describe_topics([topic])
        assert desc["name"] == topic
        assert sorted(p["partition_index"] for p in desc["partitions"]) == [0, 1, 2]

        with pytest.raises(TopicAlreadyExistsError):
            a.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})

        a.delete_topics([topic])
        deadline = time.monotonic() + TIMEOUT_S
        while topic in a.list_topics():
            assert time.monotonic() < deadline, f"{topic} still listed after delete"
            time.sleep(0.1)
    finally:
        a.close()
