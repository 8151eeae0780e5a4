"""Consumer groups through librdkafka's subscribe(). The broker does not
implement groups yet: these run only with SKEIN_E2E_GROUPS=1 (tests/run.sh
passes the environment through), like the kafkajs group consumer."""

from __future__ import annotations

import os
import time

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

from clients import common_conf, create_topic, expected, keyed_messages, produce, to_msg, unique_topic

pytestmark = pytest.mark.skipif(
    os.environ.get("SKEIN_E2E_GROUPS") != "1",
    reason="needs consumer groups in the broker; enable with SKEIN_E2E_GROUPS=1",
)


def group_consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer({
        **common_conf(bootstrap),
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 1000,
    })


def read(c: Consumer, n: int, timeout_s: float = 30) -> list:
    out = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        assert m.error() is None or m.error().code() == KafkaError._PARTITION_EOF, m.error()
        if m.error() is None:
            out.append(to_msg(m))
    assert len(out) == n, f"read {len(out)} of {n}"
    return out


def test_subscribe_reads_everything_then_resumes_from_committed_offset(broker):
    topic = unique_topic("grp")
    group = unique_topic("group")
    create_topic(broker.bootstrap, topic, 1)
    first = keyed_messages(6, partition=0, tag="first")
    produce(broker.bootstrap, topic, first)

    c = group_consumer(broker.bootstrap, group)
    c.subscribe([topic])
    assert read(c, 6) == expected(first, 0)
    c.commit(asynchronous=False)
    [tp] = c.committed([TopicPartition(topic, 0)], timeout=10)
    assert tp.offset == 6
    c.close()

    second = keyed_messages(3, partition=0, tag="second")
    produce(broker.bootstrap, topic, second)
    c = group_consumer(broker.bootstrap, group)
    c.subscribe([topic])
    # A new member of the same group starts at the committed offset.
    assert read(c, 3) == expected(second, 0, first_offset=6)
    c.close()
