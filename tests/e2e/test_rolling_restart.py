"""A rolling restart under load, the way operators upgrade a cluster: each
node in turn (three combined nodes; or three controllers, then three
brokers) gets SIGTERM, exits 0, starts again on its data dir and catches
up, while an idempotent acks=all producer and a consumer group keep running
(confluent-kafka, i.e. librdkafka); a transactional producer rides the
same rolls, and kafkajs's idempotent producer a roll of three combined
nodes.

What users rely on, as with Kafka: a graceful stop is a controlled
shutdown (the stopping broker's leaderships move to the other in-sync
replicas and it leaves every ISR before it exits, so no acknowledged write
depends on it); the producer never reports a failed delivery (every error
it meets on the way is retriable and retried); every acknowledged value is
in the log exactly once, in dense offsets; the consumer group goes on
through its coordinator's restarts and sees every acknowledged value; a
restarted broker rejoins every ISR and a restarted controller catches up
with the metadata quorum before the next node stops; once the roll is over
the periodic leader rebalance (`auto.leader.rebalance.enable`, here every
`leader.imbalance.check.interval.seconds`=3 instead of 300) gives every
partition back to its preferred replica.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from cluster import Cluster, describe_quorum
from clients import TIMEOUT_S, admin, common_conf, unique_topic
from conftest import which_or_fail
from test_cluster import cluster_factory, wait_topic_placed  # noqa: F401  (fixture)
from test_kafkajs import NODE_DIR
from test_kafkajs import SCRIPT as KAFKAJS_SCRIPT

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


def read_everything(bootstrap: str, topic: str, ends: dict[int, int],
                    **conf) -> dict[int, list[tuple[int, bytes]]]:
    """Every partition of `topic` from offset 0 up to its end in `ends`,
    (offset, value) in log order, read by an assigned consumer (`conf`
    added to its settings)."""
    c = Consumer({**common_conf(bootstrap), "group.id": unique_topic("rolling-check"),
                  "enable.auto.commit": False, "enable.partition.eof": True, **conf})
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
    survivors = cluster.running_brokers()

    def probe():
        problems = []
        for i, view in cluster.metadata_from(survivors, [topic]).items():
            for p, pv in sorted(view.topics[topic].partitions.items()):
                if (pv.leader == stopped or pv.leader < 0 or stopped in pv.isr
                        or pv.offline != (stopped,)):
                    problems.append(f"node {i} partition {p}: {pv}")
        return not problems, problems

    cluster.wait_for(f"node {stopped} out of every leadership and ISR of {topic}", probe, TIMEOUT_S)


def start_with_topic(cluster: Cluster) -> str:
    """Starts the cluster and creates a topic of PARTITIONS partitions,
    replication factor 3 and min.insync.replicas=2, every replica in sync;
    returns its name."""
    cluster.start()
    cluster.wait_ready(cluster.broker_ids())
    topic = unique_topic("rolling")
    a = admin(cluster.bootstrap())
    a.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=3,
                              config={"min.insync.replicas": "2"})],
                    operation_timeout=10)[topic].result(TIMEOUT_S)
    wait_topic_placed(cluster, topic, PARTITIONS, cluster.broker_ids(), 3)
    return topic


def wait_quorum_caught_up(cluster: Cluster, node_id: int) -> None:
    """Waits until the metadata quorum has a leader and voter `node_id`'s
    log reaches the quorum's high watermark (what an operator checks with
    `kafka-metadata-quorum describe --replication` before restarting the
    next controller: two voters of three must stay up to date)."""
    asked = cluster.running_brokers()[0]

    def probe():
        quorum = describe_quorum(asked.client_port)
        ok = (quorum.error_code == 0 and quorum.leader_id >= 0
              and quorum.voters.get(node_id, -1) >= quorum.high_watermark >= 0)
        return ok, quorum

    cluster.wait_for(f"voter {node_id} caught up with the metadata quorum", probe, REJOIN_TIMEOUT_S)


def roll(cluster: Cluster, topic: str, after_restart: Callable[[int, int], int] | None = None) -> None:
    """The rolling restart, load already running: each node in turn, in id
    order, gets SIGTERM and must exit 0 — a broker with its leaderships
    and ISR places given up — then starts again; a broker rejoins every
    ISR, a voter catches up with the metadata quorum. `after_restart(
    node_id, mark)` checks the load after each node is back and returns
    the next mark."""
    time.sleep(SETTLE_S)
    mark = 0
    brokers = cluster.broker_ids()
    for node_id, node in sorted(cluster.nodes.items()):
        code = node.stop(STOP_TIMEOUT_S)
        assert code == 0, f"node {node_id} exited {code} on SIGTERM"
        if node.is_broker:
            wait_left_everywhere(cluster, topic, node_id)
        node.start()
        if node.is_broker:
            wait_topic_placed(cluster, topic, PARTITIONS, brokers, 3, timeout_s=REJOIN_TIMEOUT_S)
        if node.is_controller:
            wait_quorum_caught_up(cluster, node_id)
        time.sleep(SETTLE_S)
        if after_restart is not None:
            mark = after_restart(node_id, mark)


def stored_exactly_once(cluster: Cluster, topic: str) -> dict[bytes, tuple[int, int]]:
    """Every value of `topic` read back from offset 0 to the high watermark:
    offsets dense, no value twice. Returns value -> (partition, offset)."""
    ends = log_ends(cluster.bootstrap(), topic)
    got = read_everything(cluster.bootstrap(), topic, ends)
    stored: dict[bytes, tuple[int, int]] = {}
    for p, records in got.items():
        offsets = [o for o, _ in records]
        assert offsets == list(range(ends[p])), f"partition {p}: offsets not dense 0..{ends[p]}"
        for offset, value in records:
            assert value not in stored, f"{value!r} stored twice: {stored[value]} and {(p, offset)}"
            stored[value] = (p, offset)
    return stored


# Three combined nodes, or three controllers and three brokers (Kafka's
# production layout: a controller's restart moves no partition).
TOPOLOGIES = {"combined": {"combined": 3}, "dedicated-controllers": {"controllers": 3, "brokers": 3}}


@pytest.mark.timeout(420)
@pytest.mark.parametrize("topology", sorted(TOPOLOGIES))
def test_a_rolling_restart_under_load_loses_and_duplicates_nothing(cluster_factory, topology):
    cluster = cluster_factory(
        **TOPOLOGIES[topology],
        properties={"leader.imbalance.check.interval.seconds": str(IMBALANCE_CHECK_S)})
    topic = start_with_topic(cluster)

    producer = LoadProducer(cluster.bootstrap(), topic)
    group = GroupConsumer(cluster.bootstrap(), topic)
    producer.start()
    group.start()

    def after_restart(node_id: int, acked_before: int) -> int:
        assert len(producer.acked) > acked_before, (
            f"no write acknowledged while node {node_id} restarted")
        assert not producer.failed, (
            f"{len(producer.failed)} deliveries failed by node {node_id}'s restart, "
            f"first {producer.failed[:3]}")
        return len(producer.acked)

    try:
        roll(cluster, topic, after_restart)
    finally:
        producer.stop()
    assert not producer.failed, f"{len(producer.failed)} deliveries failed, first {producer.failed[:3]}"
    assert len(producer.acked) == producer.sent, f"{producer.sent - len(producer.acked)} never answered"
    stored = stored_exactly_once(cluster, topic)
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


@pytest.mark.timeout(420)
def test_a_kafkajs_idempotent_producer_rides_a_rolling_restart(cluster_factory, tmp_path):
    """kafkajs reacts to the leader moves and closed connections of a roll
    by its own rules (metadata refresh, its retry schedule, seed brokers
    when the one it knows is down): no send fails, and every acknowledged
    value is stored once at the offset kafkajs was told."""
    if not (NODE_DIR / "node_modules" / "kafkajs").is_dir():
        pytest.fail(f"kafkajs not installed: run `npm ci` in {NODE_DIR} (tests/run.sh does)")
    cluster = cluster_factory(combined=3)
    topic = start_with_topic(cluster)
    out = tmp_path / "kafkajs-rolling.json"
    argv = [which_or_fail("node"), str(KAFKAJS_SCRIPT), "rolling-produce", cluster.bootstrap(),
            topic, str(out)]
    load = subprocess.Popen(argv, cwd=NODE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        roll(cluster, topic)
    finally:
        Path(f"{out}.stop").touch()
        stdout, stderr = load.communicate(timeout=120)
    assert load.returncode == 0, f"exited {load.returncode}\n{stdout.decode()}\n{stderr.decode()}"
    report = json.loads(out.read_text())
    assert not report["failed"], f"{len(report['failed'])} sends failed, first {report['failed'][:3]}"
    acked = {value.encode(): (partition, offset) for value, partition, offset in report["acked"]}
    assert len(acked) == len(report["acked"]) > 100, f"{len(report['acked'])} acknowledged"
    assert stored_exactly_once(cluster, topic) == acked
    print(f"kafkajs rolling restart: {len(acked)} records acknowledged, none failed")


class TransactionLoad:
    """A transactional producer (confluent-kafka) in a thread, committing
    transactions of ten records `t-<n>-<i>` across the partitions back to
    back, as librdkafka's documentation says to drive it: a retriable
    commit error is retried, an abortable one aborts the transaction."""

    def __init__(self, bootstrap: str, topic: str):
        self.topic = topic
        self.producer = Producer({
            **common_conf(bootstrap),
            "transactional.id": unique_topic("rolling-txn"),
            "linger.ms": 5,
            "transaction.timeout.ms": 60000,
            "message.timeout.ms": 60000,
        })
        self.committed: list[bytes] = []
        self.aborted: list[bytes] = []
        self.fatal: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="txn-load", daemon=True)

    def _retrying(self, call) -> None:
        while True:
            try:
                call(30)
                return
            except KafkaException as e:
                if not e.args[0].retriable():
                    raise

    def _run(self) -> None:
        try:
            self._retrying(self.producer.init_transactions)
            n = 0
            while not self._stop.is_set():
                values = [f"t-{n}-{i}".encode() for i in range(10)]
                n += 1
                self.producer.begin_transaction()
                for i, value in enumerate(values):
                    self.producer.produce(self.topic, key=value, value=value, partition=i % PARTITIONS)
                try:
                    self._retrying(self.producer.commit_transaction)
                    self.committed.extend(values)
                except KafkaException as e:
                    if not e.args[0].txn_requires_abort():
                        raise
                    self._retrying(self.producer.abort_transaction)
                    self.aborted.extend(values)
        except KafkaException as e:
            self.fatal.append(str(e.args[0]))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)
        assert not self._thread.is_alive(), "the transaction loop did not end within 120 s"


@pytest.mark.timeout(420)
@pytest.mark.parametrize("topology", sorted(TOPOLOGIES))
def test_transactions_commit_exactly_once_through_a_rolling_restart(cluster_factory, topology):
    """The transaction coordinators (`__transaction_state`) and the
    partitions' leaders move three times under a transactional producer:
    no fatal error; a read_committed consumer sees every committed
    transaction's records once and no aborted one's."""
    cluster = cluster_factory(**TOPOLOGIES[topology])
    topic = start_with_topic(cluster)
    load = TransactionLoad(cluster.bootstrap(), topic)
    load.start()

    def after_restart(node_id: int, committed_before: int) -> int:
        assert not load.fatal, f"fatal by node {node_id}'s restart: {load.fatal}"
        assert len(load.committed) > committed_before, (
            f"no transaction committed while node {node_id} restarted")
        return len(load.committed)

    try:
        roll(cluster, topic, after_restart)
    finally:
        load.stop()
    assert not load.fatal, load.fatal
    ends = log_ends(cluster.bootstrap(), topic)
    got = read_everything(cluster.bootstrap(), topic, ends, **{"isolation.level": "read_committed"})
    seen = [value for records in got.values() for _, value in records]
    assert len(seen) == len(set(seen)), "a committed record was read twice"
    assert not set(seen) & set(load.aborted), "records of an aborted transaction were read"
    assert set(seen) == set(load.committed), (
        f"{len(set(load.committed) - set(seen))} committed records missing, "
        f"{len(set(seen) - set(load.committed))} read that were not committed")
    print(f"transactions through a rolling restart: {len(load.committed) // 10} committed, "
          f"{len(load.aborted) // 10} aborted")
