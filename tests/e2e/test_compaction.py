"""Key-based compaction end to end: the real `skein serve` binary with its
log cleaner running every 200 ms, driven by librdkafka (confluent-kafka).

Covers: a `cleanup.policy=compact` topic ends up holding exactly the latest
value of every key at its original offset (plus everything in the active
segment, which is never compacted: the test fills it with unique keys so
the expected set is exact); keyless records are refused with
INVALID_RECORD; `__consumer_offsets` is compacted, so 20 000 commits of one
partition shrink to a few segments on disk, the last commit survives a
graceful restart and a kill -9, and a deleted group whose tombstones the
cleaner removed (delete.retention.ms=0) stays deleted; a data dir whose
`__consumer_offsets` is not compacted (made before compaction existed) gets
`cleanup.policy=compact` at the next start.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

import clients

CLEANER = {"log.cleaner.backoff.ms": "200", "group.initial.rebalance.delay.ms": "0"}
DEADLINE_S = 90.0
INVALID_RECORD = 87


def log_bytes(partition_dir: Path) -> int:
    """Bytes of the partition's segment files on disk."""
    return sum(p.stat().st_size for p in partition_dir.glob("*.log"))


def test_compacted_topic_keeps_exactly_the_latest_value_of_each_key(broker_factory):
    broker = broker_factory(CLEANER)
    bootstrap = broker.bootstrap
    topic = clients.unique_topic("compact")
    clients.create_topic(bootstrap, topic, 1, {
        "cleanup.policy": "compact",
        "segment.bytes": "4096",
        "min.cleanable.dirty.ratio": "0.01",
    })
    keys = [f"key-{k}".encode() for k in range(5)]
    latest: dict[bytes, tuple[int, bytes]] = {}
    produced = 0
    # 40 produce requests of 25 values over 5 keys: 1000 records, many
    # segments of 4 KiB.
    for round_ in range(40):
        batch = [
            {"key": keys[i % len(keys)], "value": f"value-{round_}-{i}".encode(), "partition": 0}
            for i in range(25)
        ]
        for m in clients.produce(bootstrap, topic, batch, **{"linger.ms": 0}):
            latest[m.key()] = (m.offset(), m.value())
            produced += 1
    # Then 3 requests of unique keys, more than a segment: every record of
    # the 5 keys above is now in a sealed segment; unique keys all survive.
    tail: list[tuple[int, bytes, bytes]] = []
    for round_ in range(3):
        batch = [
            {"key": f"tail-{round_}-{i}".encode(), "value": b"t" * 24, "partition": 0}
            for i in range(60)
        ]
        for m in clients.produce(bootstrap, topic, batch, **{"linger.ms": 0}):
            tail.append((m.offset(), m.key(), m.value()))
            produced += 1
    expected = sorted([(offset, key, value) for key, (offset, value) in latest.items()] + tail)
    assert len(expected) == len(keys) + 180

    deadline = time.monotonic() + DEADLINE_S
    seen: list[tuple[int, bytes, bytes]] = []
    while time.monotonic() < deadline:
        seen = [(m.offset, m.key, m.value) for m in clients.consume_partition(bootstrap, topic, 0)]
        if seen == expected:
            break
        assert len(seen) >= len(expected), f"compaction lost records: {len(seen)} < {len(expected)}"
        time.sleep(0.5)
    assert seen == expected, (
        f"after {DEADLINE_S}s: {len(seen)} records (started with {produced}), "
        f"first differences {[x for x in seen if x not in expected][:5]}"
    )

    # A keyless record on a compacted topic is refused, as Kafka does.
    errors = []
    p = clients.producer(bootstrap)
    p.produce(topic, value=b"no key", partition=0, on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(clients.TIMEOUT_S) == 0
    assert len(errors) == 1 and errors[0] is not None, errors
    assert errors[0].code() == INVALID_RECORD, errors[0]

    # The compacted log survives a restart unchanged.
    broker.restart()
    assert [(m.offset, m.key, m.value) for m in clients.consume_partition(bootstrap, topic, 0)] == expected


def committed(bootstrap: str, group: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        (tp,) = c.committed([TopicPartition(topic, 0)], timeout=clients.TIMEOUT_S)
        return tp.offset
    finally:
        c.close()


def test_consumer_offsets_is_compacted_and_reloads_the_last_commit(broker_factory):
    broker = broker_factory({
        **CLEANER,
        "offsets.topic.num.partitions": "1",
        "offsets.topic.segment.bytes": "16384",
        # Tombstones go in the first pass that sees them.
        "log.cleaner.delete.retention.ms": "0",
    })
    bootstrap = broker.bootstrap
    topic = clients.unique_topic("commits")
    clients.create_topic(bootstrap, topic, 1)
    group = f"compacted-{uuid.uuid4().hex[:10]}"
    # A group that commits, then is deleted: its tombstones, and the commits
    # they delete, are all compacted away below.
    deleted = f"deleted-{uuid.uuid4().hex[:10]}"
    d = Consumer({"bootstrap.servers": bootstrap, "group.id": deleted, "enable.auto.commit": False})
    for i in range(1, 51):
        d.commit(offsets=[TopicPartition(topic, 0, i)], asynchronous=False)
    d.close()
    assert committed(bootstrap, deleted, topic) == 50
    a = AdminClient({"bootstrap.servers": bootstrap})
    a.delete_consumer_groups([deleted])[deleted].result(clients.TIMEOUT_S)
    assert committed(bootstrap, deleted, topic) == -1001
    commits = 20_000
    failures = []
    c = Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
        "on_commit": lambda err, partitions: err and failures.append(err),
    })
    for i in range(1, commits + 1):
        c.commit(offsets=[TopicPartition(topic, 0, i)], asynchronous=True)
        if i % 200 == 0:
            c.poll(0)
    c.commit(offsets=[TopicPartition(topic, 0, commits)], asynchronous=False)
    c.close()
    assert not failures, failures
    assert committed(bootstrap, group, topic) == commits

    offsets_dir = broker.data_dir / "__consumer_offsets-0"
    # Every commit is a batch of at least 61 bytes of header plus its key.
    uncompacted = commits * 61
    deadline = time.monotonic() + DEADLINE_S
    size = log_bytes(offsets_dir)
    while time.monotonic() < deadline and size > uncompacted // 10:
        time.sleep(0.5)
        size = log_bytes(offsets_dir)
    assert size <= uncompacted // 10, f"__consumer_offsets-0 holds {size} bytes after {DEADLINE_S}s"
    segments = sorted(p.name for p in offsets_dir.glob("*.log"))
    assert len(segments) >= 2, f"the test needs rolled segments: {segments}"

    for kill in (False, True):
        broker.restart(kill=kill)
        assert committed(bootstrap, group, topic) == commits
        assert committed(bootstrap, deleted, topic) == -1001
        a = AdminClient({"bootstrap.servers": bootstrap})
        listed = a.list_consumer_groups().result(clients.TIMEOUT_S)
        assert deleted not in {g.group_id for g in listed.valid}
    clients.assert_healthy(broker)


def offsets_topic_configs(bootstrap: str) -> dict[str, str]:
    a = AdminClient({"bootstrap.servers": bootstrap})
    res = ConfigResource(ResourceType.TOPIC, "__consumer_offsets")
    entries = a.describe_configs([res], request_timeout=clients.TIMEOUT_S)[res].result(clients.TIMEOUT_S)
    return {name: entry.value for name, entry in entries.items()}


def test_an_uncompacted_consumer_offsets_is_made_compact_at_start(broker_factory):
    broker = broker_factory({**CLEANER, "offsets.topic.num.partitions": "2"})
    bootstrap = broker.bootstrap
    configs = offsets_topic_configs(bootstrap)
    assert configs["cleanup.policy"] == "compact"
    assert configs["segment.bytes"] == "104857600"
    # As a data dir from before compaction has it: cleanup.policy=delete and
    # another segment size.
    a = AdminClient({"bootstrap.servers": bootstrap})
    res = ConfigResource(ResourceType.TOPIC, "__consumer_offsets", incremental_configs=[
        ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("segment.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
    ])
    assert a.incremental_alter_configs([res])[res].result(clients.TIMEOUT_S) is None
    assert offsets_topic_configs(bootstrap)["cleanup.policy"] == "delete"
    broker.settings["offsets.topic.segment.bytes"] = "65536"
    broker.restart()
    configs = offsets_topic_configs(bootstrap)
    assert configs["cleanup.policy"] == "compact"
    assert configs["segment.bytes"] == "65536"
