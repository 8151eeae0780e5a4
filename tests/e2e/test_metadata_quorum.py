"""The metadata quorum on disk: topics survive graceful and crash restarts
when the quorum log has been cut down by snapshots of the metadata image,
and a data dir written before the quorum existed is upgraded in place.

The quorum's journal is `<data dir>/__skein_metadata/quorum.log`: an 8-byte
magic `SKNQLOG1`, then records `[body_len u32 LE][crc32c u32 LE][body]`
whose body starts with a kind byte (1 hard state, 2 conf state, 3 log entry,
4 snapshot). A snapshot rewrites the file with the snapshot and only the
entries after it.

`SKEIN_OLD_BIN` names a skein binary from before the quorum (with the
single-file `__skein_metadata/records.log`) for the upgrade test; without
it that test is skipped.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

import kafka_wire as kw
from clients import TIMEOUT_S, admin, unique_topic

TOPICS = 300
SNAPSHOT_BYTES = "4096"

KIND_ENTRY = 3
KIND_SNAPSHOT = 4


def journal_kinds(data_dir: Path) -> dict[int, int]:
    """How many records of each kind the quorum's journal holds."""
    data = (data_dir / "__skein_metadata" / "quorum.log").read_bytes()
    assert data[:8] == b"SKNQLOG1"
    pos, kinds = 8, {}
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from("<I", data, pos)
        body = data[pos + 8:pos + 8 + length]
        if len(body) < length or not body:
            break
        kinds[body[0]] = kinds.get(body[0], 0) + 1
        pos += 8 + length
    return kinds


def create_topics(bootstrap: str, names: list[str], partitions: int = 1,
                  config: dict | None = None) -> None:
    a = admin(bootstrap)
    futures = a.create_topics([NewTopic(n, partitions, 1, config=config or {}) for n in names],
                              request_timeout=TIMEOUT_S)
    for f in futures.values():
        f.result(TIMEOUT_S)


def listed_topics(bootstrap: str) -> dict[str, int]:
    """Every topic with its partition count, from Metadata."""
    md = admin(bootstrap).list_topics(timeout=TIMEOUT_S)
    return {name: len(t.partitions) for name, t in md.topics.items()}


def topic_config(bootstrap: str, topic: str, key: str) -> str:
    res = ConfigResource(ResourceType.TOPIC, topic)
    a = admin(bootstrap)
    return a.describe_configs([res])[res].result(TIMEOUT_S)[key].value


def init_producer_id(port: int) -> int:
    """A producer id from InitProducerId v0 (no transactional id)."""
    body = kw.string(None) + kw.i32(60000)
    response = kw.request(port, kw.header_v1(22, 0, 7) + body)
    r = kw.Reader(response)
    assert r.i32() == 7  # correlation id
    r.i32()  # throttle_time_ms
    assert r.i16() == kw.NONE
    return r.i64()


def test_many_topics_survive_restarts_from_a_snapshot_and_the_log_after_it(broker_factory):
    broker = broker_factory(settings={"metadata.log.max.record.bytes.between.snapshots": SNAPSHOT_BYTES})
    prefix = unique_topic("quorum")
    names = [f"{prefix}-{i:03d}" for i in range(TOPICS)]
    # Ten topics per CreateTopics request, one quorum entry each: 30
    # entries, far more than one snapshot's worth of bytes.
    for i in range(0, TOPICS, 10):
        create_topics(broker.bootstrap, names[i:i + 10], partitions=1 + i % 3)
    expected = {n: 1 + (i - i % 10) % 3 for i, n in enumerate(names)}
    a = admin(broker.bootstrap)
    res = ConfigResource(ResourceType.TOPIC, names[7],
                         incremental_configs=[ConfigEntry("retention.ms", "123456",
                                                          incremental_operation=AlterConfigOpType.SET)])
    a.incremental_alter_configs([res])[res].result(TIMEOUT_S)

    kinds = journal_kinds(broker.data_dir)
    assert kinds.get(KIND_SNAPSHOT) == 1, kinds
    # 31 changes were committed; the log after the snapshot holds only
    # those since it (at most one snapshot's worth of bytes, ~9 entries of
    # ten topics, plus the leader's own empty entry).
    assert kinds.get(KIND_ENTRY, 0) <= 12, kinds

    for kill in (False, True):
        broker.restart(kill=kill)
        topics = listed_topics(broker.bootstrap)
        missing = [n for n in names if n not in topics]
        assert not missing, f"{len(missing)} topics lost after {'kill -9' if kill else 'SIGTERM'}"
        assert {n: topics[n] for n in names} == expected
        assert topic_config(broker.bootstrap, names[7], "retention.ms") == "123456"

    # Changes go on after the restarts, and survive the next one.
    extra = f"{prefix}-extra"
    create_topics(broker.bootstrap, [extra], partitions=2)
    broker.restart(kill=True)
    topics = listed_topics(broker.bootstrap)
    assert topics[extra] == 2
    assert all(n in topics for n in names)
    assert journal_kinds(broker.data_dir).get(KIND_SNAPSHOT) == 1


OLD_BIN = os.environ.get("SKEIN_OLD_BIN")


@pytest.mark.skipif(not OLD_BIN, reason="SKEIN_OLD_BIN (a pre-quorum skein) not set")
def test_pre_quorum_data_dir_is_upgraded_in_place(broker_factory):
    broker = broker_factory(binary=Path(OLD_BIN))
    prefix = unique_topic("upgrade")
    kept, grown, deleted = f"{prefix}-kept", f"{prefix}-grown", f"{prefix}-deleted"
    create_topics(broker.bootstrap, [kept], partitions=3, config={"retention.ms": "3600000"})
    create_topics(broker.bootstrap, [grown, deleted])
    a = admin(broker.bootstrap)
    for f in a.create_partitions([NewPartitions(grown, 4)]).values():
        f.result(TIMEOUT_S)
    for f in a.delete_topics([deleted], operation_timeout=TIMEOUT_S).values():
        f.result(TIMEOUT_S)
    res = ConfigResource(ResourceType.TOPIC, grown,
                         incremental_configs=[ConfigEntry("cleanup.policy", "compact",
                                                          incremental_operation=AlterConfigOpType.SET)])
    a.incremental_alter_configs([res])[res].result(TIMEOUT_S)
    old_producer_id = init_producer_id(broker.port)
    metadata_dir = broker.data_dir / "__skein_metadata"
    assert (metadata_dir / "records.log").exists()
    assert not (metadata_dir / "quorum.log").exists()
    before = listed_topics(broker.bootstrap)

    broker.stop()
    broker.binary = None
    broker.start()
    assert (metadata_dir / "quorum.log").exists()
    assert (metadata_dir / "records.log.pre-quorum").exists()
    assert not (metadata_dir / "records.log").exists()
    assert "upgraded the metadata log to the metadata quorum" in broker.log_path.read_text()

    def check() -> None:
        topics = listed_topics(broker.bootstrap)
        assert topics == before
        assert topics[kept] == 3 and topics[grown] == 4 and deleted not in topics
        assert topic_config(broker.bootstrap, kept, "retention.ms") == "3600000"
        assert topic_config(broker.bootstrap, grown, "cleanup.policy") == "compact"

    check()
    # The old block is not handed out again: a new block starts after it.
    new_producer_id = init_producer_id(broker.port)
    assert new_producer_id > old_producer_id
    # The restarted new binary replays its snapshot and log; nothing is
    # upgraded twice.
    broker.restart()
    check()
    assert init_producer_id(broker.port) > new_producer_id
    assert broker.log_path.read_text().count("upgraded the metadata log to the metadata quorum") == 1
