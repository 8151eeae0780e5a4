"""A rolling restart under load, the way operators upgrade a cluster: each
of three combined nodes in turn gets SIGTERM, exits 0, starts again on its
data dir and catches up, while an idempotent acks=all producer and a
consumer group keep running (confluent-kafka, i.e. librdkafka).

What users rely on, as with Kafka: a graceful stop is a controlled
shutdown (the stopping broker's leaderships move to the other in-sync
replicas and it leaves every ISR before it exits, so no acknowledged write
depends on it); the producer never reports a failed delivery (every error
it meets on the way is retriable and retried); every acknowledged value is
in the log exactly once, in dense offsets; the consumer group goes on
through its coordinator's restarts and sees every acknowledged value; the
restarted node rejoins every ISR.
"""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from cluster import Cluster
from clients import TIMEOUT_S, admin, common_conf, unique_topic
from test_cluster import cluster_factory, wait_topic_placed  # noqa: F401  (fixture)

PARTITIONS = 6
# Records per second the producer aims at: enough that every restart
# happens with writes in flight on every partition.
RATE = 400
# A graceful stop of a node (controlled shutdown, flush, exit).
STOP_TIMEOUT_S = 30.0
# A restarted node back in the ISR of every partition it replicates.
REJOIN_TIMEOUT_S = 45.0
# Load between two restarts, so each starts from a settled cluster.
SETTLE_S = 2.0
# How often the controller looks for leaders to give back to their
# preferred replicas (Kafka's default is 300 s).
IMBALANCE_CHECK_S = 3


class LoadProducer:
    """An idempotent acks=all producer writing unique values `v-<n>` in a
    thread, paced at RATE; keeps every delivery report."""

    def __init__(self, bootstrap: str, topic: str):
        self.topic = topic
        self.producer = Producer({
            **common_conf(bootstrap),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            # Outlasts a restart's leader moves; a failed delivery is what
            # the test looks for, so none may come from a short timeout.
            "message.timeout.ms": 120000,
        })
        self.sent = 0
        self.acked: dict[bytes, tuple[int, int]] = {}
        self.failed: list[tuple[bytes, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-producer", daemon=True)

    def _on_delivery(self, err, msg) -> None:
        if err is not None:
            self.failed.append((msg.value(), str(err)))
        else:
            self.acked[msg.value()] = (msg.partition(), msg.offset())

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - start) * RATE)
            while self.sent < due:
                value = f"v-{self.sent}".encode()
                self.producer.produce(self.topic, key=value, value=value,
                                      on_delivery=self._on_delivery)
                self.sent += 1
            self.producer.poll(0.01)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT_S)
        remaining = self.producer.flush(120)
        assert remaining == 0, f"{remaining} records undelivered 120 s after the load stopped"


class GroupConsumer:
    """A consumer group member reading the topic from the beginning in a
    thread, committing as it goes; keeps every value it saw by
    (partition, offset) and every error."""

    def __init__(self, bootstrap: str, topic: str):
        self.consumer = Consumer({
            **common_conf(bootstrap),
            "group.id": unique_topic("rolling-group"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 500,
            "fetch.wait.max.ms": 100,
        })
        self.consumer.subscribe([topic])
        self.seen: dict[tuple[int, int], bytes] = {}
        self.fatal: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="group-consumer", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self.consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                # Broker-down and leader-change errors are transient and
                # librdkafka retries them; a fatal one ends the member.
                if msg.error().fatal():
                    self.fatal.append(str(msg.error()))
                continue
            self.seen[(msg.partition(), msg.offset())] = msg.value()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT_S)
        self.consumer.close()


def read_everything(bootstrap: str, topic: str, ends: dict[int, int]) -> dict[int, list[tuple[int, bytes]]]:
    """Every partition of `topic` from offset 0 up to its end in `ends`,
    (offset, value) in log order, read by an assigned consumer."""
    c = Consumer({**common_conf(bootstrap), "group.id": unique_topic("rolling-check"),
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    got: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(PARTITIONS)}
    done = {p for p, end in ends.items() if end == 0}
    deadline = time.monotonic() + 60
    try:
        while len(done) < PARTITIONS:
            assert time.monotonic() < deadline, (
                f"read back not finished in 60 s: {[(p, len(got[p]), ends[p]) for p in range(PARTITIONS)]}")
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                if msg.offset() >= ends[msg.partition()]:
                    done.add(msg.partition())
                continue
            got[msg.partition()].append((msg.offset(), msg.value()))
            if msg.offset() + 1 >= ends[msg.partition()]:
                done.add(msg.partition())
    finally:
        c.close()
    return got


def log_ends(bootstrap: str, topic: str) -> dict[int, int]:
    """Each partition's high watermark."""
    c = Consumer({**common_conf(bootstrap), "group.id": unique_topic("rolling-ends")})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT_S)[1]
                for p in range(PARTITIONS)}
    finally:
        c.close()


def wait_left_everywhere(cluster: Cluster, topic: str, stopped: int) -> None:
    """After a graceful stop: the survivors lead every partition, the
    stopped node is in no ISR (Kafka's controlled shutdown) and Metadata
    lists its replicas as offline."""
    survivors = [n for n in cluster.running_brokers()]

    def probe():
        problems = []
        for i, view in cluster.metadata_from(survivors, [topic]).items():
            for p, pv in sorted(view.topics[topic].partitions.items()):
                if (pv.leader == stopped or pv.leader < 0 or stopped in pv.isr
                        or pv.offline != (stopped,)):
                    problems.append(f"node {i} partition {p}: {pv}")
        return not problems, problems

    cluster.wait_for(f"node {stopped} out of every leadership and ISR of {topic}", probe, TIMEOUT_S)


@pytest.mark.timeout(420)
def test_a_rolling_restart_under_load_loses_and_duplicates_nothing(cluster_factory):
    cluster = cluster_factory(
        combined=3, properties={"leader.imbalance.check.interval.seconds": str(IMBALANCE_CHECK_S)})
    cluster.start()
    cluster.wait_ready({1, 2, 3})
    topic = unique_topic("rolling")
    a = admin(cluster.bootstrap())
    a.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=3,
                              config={"min.insync.replicas": "2"})],
                    operation_timeout=10)[topic].result(TIMEOUT_S)
    wait_topic_placed(cluster, topic, PARTITIONS, {1, 2, 3}, 3)

    producer = LoadProducer(cluster.bootstrap(), topic)
    group = GroupConsumer(cluster.bootstrap(), topic)
    producer.start()
    group.start()
    try:
        time.sleep(SETTLE_S)
        for node_id in (1, 2, 3):
            node = cluster.node(node_id)
            acked_before = len(producer.acked)
            began = time.monotonic()
            code = node.stop(STOP_TIMEOUT_S)
            stop_s = time.monotonic() - began
            assert code == 0, f"node {node_id} exited {code} on SIGTERM"
            wait_left_everywhere(cluster, topic, node_id)
            node.start()
            wait_topic_placed(cluster, topic, PARTITIONS, {1, 2, 3}, 3, timeout_s=REJOIN_TIMEOUT_S)
            time.sleep(SETTLE_S)
            assert len(producer.acked) > acked_before, (
                f"no write acknowledged while node {node_id} restarted (stop took {stop_s:.1f} s)")
            assert not producer.failed, (
                f"{len(producer.failed)} deliveries failed by node {node_id}'s restart, "
                f"first {producer.failed[:3]}")
    finally:
        producer.stop()
    assert not producer.failed, f"{len(producer.failed)} deliveries failed, first {producer.failed[:3]}"
    assert len(producer.acked) == producer.sent, f"{producer.sent - len(producer.acked)} never answered"

    # The log holds every acknowledged value once, where it was acknowledged.
    ends = log_ends(cluster.bootstrap(), topic)
    got = read_everything(cluster.bootstrap(), topic, ends)
    stored: dict[bytes, tuple[int, int]] = {}
    for p, records in got.items():
        offsets = [o for o, _ in records]
        assert offsets == list(range(ends[p])), f"partition {p}: offsets not dense 0..{ends[p]}"
        for offset, value in records:
            assert value not in stored, f"{value!r} stored twice: {stored[value]} and {(p, offset)}"
            stored[value] = (p, offset)
    assert stored == producer.acked, (
        f"{len(set(producer.acked) - set(stored))} acknowledged values missing, "
        f"{len(set(stored) - set(producer.acked))} never acknowledged")

    # The group went on through three coordinator and leader moves and saw
    # every acknowledged value where it is stored.
    def group_caught_up():
        return len(group.seen) >= len(stored), f"{len(group.seen)} of {len(stored)} seen"

    try:
        cluster.wait_for("the consumer group seeing every record", group_caught_up, 60)
    finally:
        group.stop()
    assert not group.fatal, group.fatal
    assert {value: where for where, value in group.seen.items()} == stored

    # The last node restarted led nothing when it came back; the periodic
    # rebalance hands every partition back to its first replica.
    def preferred_leaders():
        views = cluster.metadata_from(cluster.running_brokers(), [topic])
        off = [(i, p, pv.leader, pv.replicas) for i, v in views.items()
               for p, pv in sorted(v.topics[topic].partitions.items()) if pv.leader != pv.replicas[0]]
        return not off, off

    cluster.wait_for("every partition led by its preferred replica", preferred_leaders,
                     IMBALANCE_CHECK_S * 5 + TIMEOUT_S)
    print(f"rolling restart: {producer.sent} records acknowledged, none failed, "
          f"{len(group.seen)} consumed by the group")
