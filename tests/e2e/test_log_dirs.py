"""Several log directories (`log.dirs`, JBOD) as Kafka has them: partitions
spread over every directory, one meta.properties per directory,
DescribeLogDirs / AlterReplicaLogDirs through kafka-python's admin client
(confluent-kafka 2.16.1 has no describe_log_dirs), a failed directory that
takes only its own partitions offline with KAFKA_STORAGE_ERROR, and the
delayed delete of `log.segment.delete.delay.ms`."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from confluent_kafka import TopicPartition
from kafka import TopicPartitionReplica
from kafka.admin import KafkaAdminClient

import kafka_wire as w
from clients import (consume_partition, consumer, create_topic, expected, keyed_messages,
                     produce, unique_topic, wait_until)

KAFKA_STORAGE_ERROR = 56


def start_jbod(broker_factory, tmp_path: Path, extra: str = "", dirs: int = 2):
    """A broker whose log.dirs names `dirs` directories (set in a
    properties file: --data-dir would name one)."""
    port = w_free_port()
    paths = [tmp_path / f"disk{i}" / "kafka-logs" for i in range(dirs)]
    config = tmp_path / "server.properties"
    config.write_text(
        f"listeners=PLAINTEXT://127.0.0.1:{port}\n"
        f"log.dirs={','.join(str(p) for p in paths)}\n"
        "log.dir.probe.interval.ms=200\n"
        "group.initial.rebalance.delay.ms=0\n"
        + extra
    )
    broker = broker_factory(config_file=config, port=port)
    return broker, paths


def w_free_port() -> int:
    from conftest import free_port
    return free_port()


def holder(paths: list[Path], topic: str, partition: int) -> int:
    """The index of the one log dir holding the partition."""
    found = [i for i, p in enumerate(paths) if (p / f"{topic}-{partition}").is_dir()]
    assert len(found) == 1, f"{topic}-{partition} in dirs {found}"
    return found[0]


def describe(bootstrap: str, topic: str, partitions: list[int]) -> dict[str, dict]:
    """kafka-python DescribeLogDirs: log dir path -> its result."""
    kp = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        (described,) = kp.describe_log_dirs({topic: partitions})
        return {d["log_dir"]: d for d in described["log_dirs"]}
    finally:
        kp.close()


def partitions_in(result: dict, topic: str) -> dict[int, int]:
    """partition -> size listed under `topic` in one DescribeLogDirs result."""
    return {
        p["partition_index"]: p["partition_size"]
        for t in result["topics"] if t["name"] == topic
        for p in t["partitions"]
    }


def move(bootstrap: str, topic: str, partition: int, path: Path) -> int:
    kp = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=60_000)
    try:
        moved = kp.alter_replica_log_dirs({TopicPartitionReplica(topic, partition, 0): str(path)})
        (err,) = moved.values()
        return err.errno
    finally:
        kp.close()


def meta_properties(path: Path) -> dict[str, str]:
    lines = (path / "meta.properties").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def produce_raw(port: int, topic: str, partition: int, correlation_id: int) -> int:
    batch = w.record_batch([(b"k", b"v", [])], 1_700_000_000_000)
    resp = w.request(port, w.header_v1(w.PRODUCE, 3, correlation_id)
                     + w.produce_v3_body(topic, partition, batch))
    [(name, index, error_code, _)] = w.parse_produce_v3(resp[4:])
    assert (name, index) == (topic, partition)
    return error_code


def fetch_raw(port: int, topic: str, partition: int, correlation_id: int) -> int:
    resp = w.request(port, w.header_v1(w.FETCH, 4, correlation_id)
                     + w.fetch_v4_body(topic, partition, 0))
    [(name, index, error_code, *_)] = w.parse_fetch_v4(resp[4:])
    assert (name, index) == (topic, partition)
    return error_code


def test_partitions_spread_over_every_log_dir_and_survive_restarts(broker_factory, tmp_path):
    broker, paths = start_jbod(broker_factory, tmp_path)
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 6)
    where = [holder(paths, topic, p) for p in range(6)]
    # Kafka's LogManager puts each new partition in the dir with the fewest.
    assert sorted(where.count(i) for i in range(2)) == [3, 3], where
    first, second = meta_properties(paths[0]), meta_properties(paths[1])
    assert first["cluster.id"] == second["cluster.id"] and first["cluster.id"]
    assert first["node.id"] == second["node.id"] == "0"
    assert first["version"] == second["version"] == "1"
    assert first["directory.id"] != second["directory.id"]

    sent = {p: keyed_messages(5, partition=p, tag=f"p{p}") for p in range(6)}
    produce(broker.bootstrap, topic, [m for p in range(6) for m in sent[p]])
    for p in range(6):
        assert consume_partition(broker.bootstrap, topic, p, expect_count=5) == expected(sent[p], p)

    described = describe(broker.bootstrap, topic, list(range(6)))
    assert sorted(described) == sorted(str(p.resolve()) for p in paths)
    for i, path in enumerate(paths):
        result = described[str(path.resolve())]
        assert result["error_code"] == 0
        assert 0 < result["usable_bytes"] <= result["total_bytes"]
        sizes = partitions_in(result, topic)
        assert sorted(sizes) == [p for p in range(6) if where[p] == i]
        assert all(size > 0 for size in sizes.values())

    broker.restart()
    for p in range(6):
        assert holder(paths, topic, p) == where[p]
        assert consume_partition(broker.bootstrap, topic, p, expect_count=5) == expected(sent[p], p)
    broker.restart(kill=True)
    for p in range(6):
        assert consume_partition(broker.bootstrap, topic, p, expect_count=5) == expected(sent[p], p)


def test_a_partition_in_two_log_dirs_stops_the_broker_at_start(broker_factory, tmp_path):
    broker, paths = start_jbod(broker_factory, tmp_path)
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    here = holder(paths, topic, 0)
    assert broker.stop() == 0
    shutil.copytree(paths[here] / f"{topic}-0", paths[1 - here] / f"{topic}-0")
    broker.proc = None
    try:
        broker.start()
        raise AssertionError("the broker started with a partition in two log dirs")
    except AssertionError as error:
        assert "exited with code" in str(error), error
    assert f"partition {topic}-0 is in two log directories" in broker.log_path.read_text()
    shutil.rmtree(paths[1 - here] / f"{topic}-0")
    broker.start()
    assert holder(paths, topic, 0) == here


def test_alter_replica_log_dirs_moves_a_partition_with_its_records(broker_factory, tmp_path):
    broker, paths = start_jbod(broker_factory, tmp_path)
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 2)
    sent = keyed_messages(20, partition=0, tag="before")
    produce(broker.bootstrap, topic, sent)
    before = consume_partition(broker.bootstrap, topic, 0, expect_count=20)
    assert before == expected(sent, 0)
    source = holder(paths, topic, 0)
    target = 1 - source

    assert move(broker.bootstrap, topic, 0, paths[target]) == 0
    assert holder(paths, topic, 0) == target
    # No future or delete copy is left behind.
    assert [p.name for p in paths[source].iterdir() if p.name.startswith(topic)] == \
        ([f"{topic}-1"] if holder(paths, topic, 1) == source else [])
    described = describe(broker.bootstrap, topic, [0])
    assert partitions_in(described[str(paths[target].resolve())], topic).keys() == {0}
    assert partitions_in(described[str(paths[source].resolve())], topic) == {}
    assert consume_partition(broker.bootstrap, topic, 0, expect_count=20) == before

    more = keyed_messages(5, partition=0, tag="after")
    produce(broker.bootstrap, topic, more)
    assert consume_partition(broker.bootstrap, topic, 0, expect_count=25) == \
        before + expected(more, 0, first_offset=20)
    # Unknown path: LOG_DIR_NOT_FOUND (57), as Kafka answers.
    assert move(broker.bootstrap, topic, 0, tmp_path / "elsewhere") == 57

    broker.restart(kill=True)
    assert holder(paths, topic, 0) == target
    assert consume_partition(broker.bootstrap, topic, 0, expect_count=25) == \
        before + expected(more, 0, first_offset=20)


def test_a_failed_log_dir_takes_only_its_partitions_offline(broker_factory, tmp_path):
    broker, paths = start_jbod(broker_factory, tmp_path)
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 4)
    where = {p: holder(paths, topic, p) for p in range(4)}
    # The metadata log is in the first dir: the second one fails.
    failing = [p for p in range(4) if where[p] == 1]
    healthy = [p for p in range(4) if where[p] == 0]
    assert failing and healthy, where
    # The disk goes away: its mount point no longer holds the directory
    # (renamed first, atomically, since the broker may be creating files in it).
    gone = paths[1].with_name("removed")
    paths[1].rename(gone)
    shutil.rmtree(gone, ignore_errors=True)

    def offline():
        return all(produce_raw(broker.port, topic, p, 700 + p) == KAFKA_STORAGE_ERROR
                   for p in failing)
    wait_until(offline, "the removed dir's partitions answer KAFKA_STORAGE_ERROR", timeout_s=10)
    for p in failing:
        assert fetch_raw(broker.port, topic, p, 710 + p) == KAFKA_STORAGE_ERROR
    described = describe(broker.bootstrap, topic, list(range(4)))
    assert described[str(paths[1].resolve())]["error_code"] == KAFKA_STORAGE_ERROR
    assert described[str(paths[1].resolve())]["topics"] == []
    assert sorted(partitions_in(described[str(paths[0].resolve())], topic)) == healthy

    for p in healthy:
        sent = keyed_messages(7, partition=p, tag=f"ok{p}")
        produce(broker.bootstrap, topic, sent)
        assert consume_partition(broker.bootstrap, topic, p, expect_count=7) == expected(sent, p)
    # New partitions go to the dir that still works.
    other = unique_topic()
    create_topic(broker.bootstrap, other, 2)
    assert [holder(paths[:1], other, p) for p in range(2)] == [0, 0]
    # Moving into the failed dir: KAFKA_STORAGE_ERROR.
    assert move(broker.bootstrap, topic, healthy[0], paths[1]) == KAFKA_STORAGE_ERROR


def segment_files(path: Path, suffix: str) -> list[str]:
    return sorted(f.name for f in path.iterdir() if f.name.endswith(suffix))


def test_deleted_segments_and_partitions_wait_for_the_delete_delay(broker_factory, tmp_path):
    delay_s = 3
    broker = broker_factory(settings={
        "log.segment.delete.delay.ms": str(delay_s * 1000),
        "log.retention.check.interval.ms": "200",
    })
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1, config={
        "segment.bytes": "1024", "retention.bytes": "1024",
    })
    # One record per batch, so that the 1 KiB segments roll.
    one_per_batch = {"batch.num.messages": 1, "linger.ms": 0}
    produce(broker.bootstrap, topic, [{"partition": 0, "value": bytes([i]) * 300} for i in range(30)],
            **one_per_batch)
    partition_dir = broker.data_dir / f"{topic}-0"
    deleted = wait_until(lambda: segment_files(partition_dir, ".log.deleted"),
                         "retention renames segments to .deleted", timeout_s=10)
    renamed_at = time.monotonic()
    c = consumer(broker.bootstrap)
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
    finally:
        c.close()
    assert high == 30 and low > 0
    # Still there for the delay, gone after it.
    time.sleep(max(0.0, delay_s - 1.0 - (time.monotonic() - renamed_at)))
    assert set(deleted) <= set(segment_files(partition_dir, ".log.deleted"))
    wait_until(lambda: not set(deleted) & set(segment_files(partition_dir, ".log.deleted")),
               "the .deleted files are removed after the delay", timeout_s=delay_s + 5)
    assert not any(f.name.endswith(".deleted") and f.name.startswith(tuple(deleted))
                   for f in partition_dir.iterdir())

    # A crash leaves .deleted files: the next start removes them.
    produce(broker.bootstrap, topic, [{"partition": 0, "value": bytes([i]) * 300} for i in range(30)],
            **one_per_batch)
    wait_until(lambda: segment_files(partition_dir, ".deleted"), "more .deleted files", timeout_s=10)
    broker.restart(kill=True)
    # Removed when the partition is opened (the timers died with the process).
    wait_until(lambda: segment_files(partition_dir, ".deleted") == [],
               "the .deleted files a crash left are removed at start", timeout_s=5)
    assert consume_partition(broker.bootstrap, topic, 0, start_offset=-2)[-1].offset == 59

    # Topic deletion: the directory is renamed <topic>-0.<uuid>-delete, then removed.
    from clients import admin
    a = admin(broker.bootstrap)
    a.delete_topics([topic])[topic].result(10)
    doomed = wait_until(lambda: [p for p in broker.data_dir.iterdir()
                                 if p.name.startswith(f"{topic}-0.") and p.name.endswith("-delete")],
                        "the deleted partition's directory is renamed", timeout_s=10)
    assert not partition_dir.exists()
    wait_until(lambda: not any(p.exists() for p in doomed),
               "the renamed directory is removed after the delay", timeout_s=delay_s + 5)
