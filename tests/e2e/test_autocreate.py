"""Topic auto-creation on Metadata requests (auto.create.topics.enable)."""

from __future__ import annotations

import kafka_wire as w
from clients import (
    admin,
    consume_partition,
    expected,
    keyed_messages,
    produce,
    unique_topic,
    wait_for_topic,
)


def metadata_v4(broker, topic: str, allow: bool, correlation_id: int = 7) -> tuple[int, list[int]]:
    resp = w.request(broker.port, w.header_v1(w.METADATA, 4, correlation_id) + w.metadata_v4_body([topic], allow))
    assert resp[:4] == w.i32(correlation_id)
    topics = w.parse_metadata_v4_topics(resp[4:])
    assert list(topics) == [topic]
    return topics[topic]


def test_metadata_auto_creates_with_default_one_partition(broker):
    topic = unique_topic("auto")
    error_code, _ = metadata_v4(broker, topic, allow=True)
    # Kafka answers the creating request with LEADER_NOT_AVAILABLE (or
    # already with the topic when creation is immediate).
    assert error_code in (w.NONE, w.LEADER_NOT_AVAILABLE)
    wait_for_topic(broker.bootstrap, topic, 1)
    assert metadata_v4(broker, topic, allow=False) == (w.NONE, [0])


def test_metadata_auto_creates_with_num_partitions(broker_factory):
    broker = broker_factory({"num.partitions": "3"})
    topic = unique_topic("auto")
    error_code, _ = metadata_v4(broker, topic, allow=True)
    assert error_code in (w.NONE, w.LEADER_NOT_AVAILABLE)
    wait_for_topic(broker.bootstrap, topic, 3)
    error_code, partitions = metadata_v4(broker, topic, allow=False)
    assert (error_code, sorted(partitions)) == (w.NONE, [0, 1, 2])


def test_metadata_without_allow_flag_does_not_create(broker):
    topic = unique_topic("noauto")
    assert metadata_v4(broker, topic, allow=False) == (w.UNKNOWN_TOPIC_OR_PARTITION, [])
    assert topic not in admin(broker.bootstrap).list_topics(timeout=10).topics


def test_auto_create_disabled_does_not_create(broker_factory):
    broker = broker_factory({"auto.create.topics.enable": "false"})
    topic = unique_topic("noauto")
    assert metadata_v4(broker, topic, allow=True) == (w.UNKNOWN_TOPIC_OR_PARTITION, [])
    assert topic not in admin(broker.bootstrap).list_topics(timeout=10).topics


def test_metadata_v1_auto_creates(broker_factory):
    # Before v4 there was no flag: every Metadata request for a named
    # topic auto-creates when the broker allows it.
    broker = broker_factory({"num.partitions": "2"})
    topic = unique_topic("autov1")
    resp = w.request(broker.port, w.header_v1(w.METADATA, 1, 9) + w.metadata_v1_body([topic]))
    assert resp[:4] == w.i32(9)
    wait_for_topic(broker.bootstrap, topic, 2)


def test_producer_to_new_topic_auto_creates_and_delivers(broker_factory):
    broker = broker_factory({"num.partitions": "3"})
    topic = unique_topic("autoprod")
    msgs = keyed_messages(5, partition=2)
    delivered = produce(broker.bootstrap, topic, msgs)
    assert [(d.partition(), d.offset()) for d in delivered] == [(2, i) for i in range(5)]
    wait_for_topic(broker.bootstrap, topic, 3)
    assert consume_partition(broker.bootstrap, topic, 2, 0, expect_count=5) == expected(msgs, 2)
