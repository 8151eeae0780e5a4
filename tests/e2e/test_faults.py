"""The fault test of replication (issue 14): no acknowledged record is lost,
duplicated or moved, and no record a consumer saw disappears, while leaders
are killed, paused and cut off.

Three combined nodes (tests/e2e/cluster.py) whose node-to-node traffic
(raft, broker heartbeats, follower fetches) goes through loopback TCP
proxies (tests/e2e/tcp_proxy.py); clients reach every node directly. A
topic of PARTITIONS partitions, replication factor 3, min.insync.replicas=2.

While an idempotent confluent-kafka producer (acks=all) writes unique
values round-robin over the partitions, recording each delivery report,
and a read_uncommitted consumer reads every partition and records each
(partition, offset, value) it sees, the test runs a seeded random schedule
of faults, one at a time, each after a random pause:
  kill     kill -9 of the leader of a random partition, restarted after a
           random while (KILLS_PER_ROUND per round)
  pause    SIGSTOP of the leader of a random partition for longer than the
           broker session timeout, then SIGCONT
  isolate  the leader of a random partition cut off from the other nodes
           (both ways) for longer than the session timeout, then healed
and after each waits until every broker is registered and unfenced again.

Then, everything healed, every partition must take acks=all writes again
within RECOVERY_TIMEOUT_S (the ISR grows back); the producer is flushed,
a consumer reads every partition from the beginning, and fault_checker.py
checks the history (LOST, DUPLICATE, NEVER_SENT, WRONG_PARTITION,
ACK_OFFSET, OFFSETS, VANISHED, CHANGED: see there). The counts and the
fault timeline are printed (pytest -s shows them on success too).

Knobs for longer runs by hand (CI runs the defaults, about 3 minutes):
  SKEIN_FAULT_SEED    the schedule's seed (default 1)
  SKEIN_FAULT_ROUNDS  rounds of (KILLS_PER_ROUND kills, one pause, one
                      isolation), shuffled together (default 1)
  SKEIN_FAULT_MIN_ISR the topic's min.insync.replicas (default 2)
e.g. SKEIN_FAULT_ROUNDS=5 SKEIN_FAULT_SEED=7 pytest ... test_faults.py -s
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import fault_checker
from cluster import SESSION_TIMEOUT_MS, Cluster, Node, metadata, wait_port_closed
from clients import unique_topic
from test_cluster import cluster_factory  # noqa: F401  (a fixture)

SEED = int(os.environ.get("SKEIN_FAULT_SEED", "1"))
ROUNDS = int(os.environ.get("SKEIN_FAULT_ROUNDS", "1"))
KILLS_PER_ROUND = 10
PARTITIONS = 4
# The topic's min.insync.replicas; SKEIN_FAULT_MIN_ISR=1 runs the faults
# against a broker that refuses 2 (diagnosis by hand, not what CI runs).
MIN_INSYNC_REPLICAS = int(os.environ.get("SKEIN_FAULT_MIN_ISR", "2"))
SESSION_S = SESSION_TIMEOUT_MS / 1000
# One value every PRODUCE_EVERY_S, round-robin over the partitions.
PRODUCE_EVERY_S = 0.005
# A value not acknowledged within this long fails (its delivery report
# carries the error); the broker's own request timeout is shorter.
MESSAGE_TIMEOUT_MS = 30000
REQUEST_TIMEOUT_MS = 5000
# Between two faults: a random pause in this range (seconds).
GAP_S = (0.5, 3.0)
# A killed node stays down this long before its restart.
DOWN_S = (0.2, 5.0)  # shorter or longer than the session timeout
# Paused / cut off this long beyond the session timeout.
BEYOND_SESSION_S = (1.0, 3.0)
# After a fault: every broker registered and unfenced again.
REJOIN_TIMEOUT_S = 40.0
# After the last fault: every partition acknowledges a value sent after it.
RECOVERY_TIMEOUT_S = 40.0
# The final read: every partition's high watermark past its highest
# acknowledged offset, and read to it.
FINAL_READ_TIMEOUT_S = 40.0
# The node log lines a failing run lists (the whole logs are in the node
# directories; the report's tails miss the start of a long run).
NODE_EVENTS = re.compile(r"truncat|fenced|registered|recovery|ERROR|WARN|panick|skein started|stopped")
# Producer errors (error_cb) only counted, not spelled out: a node down.
QUIET_ERRORS = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}
# Per round, plus start-up and the end.
TIMEOUT_S = 150 * ROUNDS + 150


@dataclass(frozen=True)
class Fault:
    kind: str  # "kill" | "pause" | "isolate"
    gap_s: float  # pause before it
    partition: int  # whose leader it hits
    duration_s: float  # down, paused or cut off this long


def schedule(rng: random.Random, rounds: int) -> list[Fault]:
    """`rounds` x (KILLS_PER_ROUND kills, one pause, one isolation), each
    round shuffled; every draw from `rng`, so a seed is one schedule."""
    faults = []
    for _ in range(rounds):
        kinds = ["kill"] * KILLS_PER_ROUND + ["pause", "isolate"]
        rng.shuffle(kinds)
        for kind in kinds:
            duration = (rng.uniform(*DOWN_S) if kind == "kill"
                        else SESSION_S + rng.uniform(*BEYOND_SESSION_S))
            faults.append(Fault(kind, rng.uniform(*GAP_S), rng.randrange(PARTITIONS), duration))
    return faults


@dataclass
class History:
    """What the producer and the running consumer saw, under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: dict[bytes, int] = field(default_factory=dict)
    sent_at: dict[bytes, float] = field(default_factory=dict)
    acked: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    acked_at: dict[bytes, float] = field(default_factory=dict)
    failed: dict[bytes, str] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)  # delivery errors by name
    producer_errors: list[str] = field(default_factory=list)  # error_cb, fatal ones first
    producer_error_names: Counter = field(default_factory=Counter)
    fatal: int = 0
    observed: list[tuple[int, int, bytes]] = field(default_factory=list)
    consumer_errors: Counter = field(default_factory=Counter)

    def acks(self) -> int:
        with self.lock:
            return len(self.acked)


class Workload:
    """The producer and the running consumer, each on its own thread."""

    def __init__(self, bootstrap: str, topic: str, started: float):
        self.bootstrap = bootstrap
        self.topic = topic
        self.started = started
        self.history = History()
        self.stop_producing = threading.Event()
        self.stop_consuming = threading.Event()
        self.threads = [threading.Thread(target=self._produce, name="fault-producer", daemon=True),
                        threading.Thread(target=self._consume, name="fault-consumer", daemon=True)]
        self.failure: list[str] = []

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _producer(self) -> Producer:
        def on_error(err):
            with self.history.lock:
                self.history.producer_error_names[err.name()] += 1
                if err.fatal():
                    self.history.fatal += 1
                    self.history.producer_errors.insert(0, f"FATAL {err.name()}: {err.str()}")
                elif err.code() not in QUIET_ERRORS and len(self.history.producer_errors) < 20:
                    self.history.producer_errors.append(f"{err.name()}: {err.str()}")

        return Producer({
            "bootstrap.servers": self.bootstrap,
            "client.id": "skein-fault-producer",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": MESSAGE_TIMEOUT_MS,
            "request.timeout.ms": REQUEST_TIMEOUT_MS,
            "socket.timeout.ms": REQUEST_TIMEOUT_MS,
            "topic.metadata.refresh.interval.ms": 1000,
            "error_cb": on_error,
        })

    def _produce(self) -> None:
        history = self.history
        try:
            producer = self._producer()
            fatal_seen = 0
            seq = 0

            def on_delivery(err, msg):
                value = msg.value()
                with history.lock:
                    if err is None:
                        # librdkafka reports a batch it learnt was persisted
                        # without its offset (e.g. a retry answered as a
                        # duplicate of a batch in flight) with offset None:
                        # acknowledged, place unknown (-1 for the checker).
                        offset = msg.offset()
                        history.acked[value] = (msg.partition(), -1 if offset is None else offset)
                        history.acked_at[value] = time.monotonic()
                    else:
                        history.failed[value] = err.name()
                        history.errors[err.name()] += 1

            while not self.stop_producing.is_set():
                if history.fatal > fatal_seen:
                    # An idempotent producer that hit a fatal error refuses
                    # every further produce: report what it held and go on
                    # with a new one (new producer id).
                    fatal_seen = history.fatal
                    producer.flush(1)
                    producer.purge()
                    producer.flush(1)
                    producer = self._producer()
                partition = seq % PARTITIONS
                value = f"s{SEED}-{seq:08d}".encode()
                with history.lock:
                    history.sent[value] = partition
                    history.sent_at[value] = time.monotonic()
                try:
                    producer.produce(self.topic, value=value, partition=partition,
                                     on_delivery=on_delivery)
                except BufferError:
                    with history.lock:
                        del history.sent[value]
                    producer.poll(0.1)
                    continue
                except Exception as e:  # a fatal error between two checks
                    with history.lock:
                        history.failed[value] = f"produce() raised {type(e).__name__}"
                        history.errors[f"produce() raised {type(e).__name__}"] += 1
                seq += 1
                producer.poll(PRODUCE_EVERY_S)
            left = producer.flush(MESSAGE_TIMEOUT_MS / 1000 + 10)
            if left:
                self.failure.append(f"{left} messages without a delivery report after the flush")
        except Exception as e:  # reported by the test, not lost in a thread
            self.failure.append(f"producer thread: {type(e).__name__}: {e}")

    def _consume(self) -> None:
        history = self.history
        try:
            consumer = Consumer({
                "bootstrap.servers": self.bootstrap,
                "client.id": "skein-fault-observer",
                "group.id": "skein-fault-unused-group",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_uncommitted",
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 100,
                "topic.metadata.refresh.interval.ms": 1000,
                "socket.timeout.ms": REQUEST_TIMEOUT_MS,
            })
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
            while not self.stop_consuming.is_set():
                for msg in consumer.consume(500, 0.2):
                    if msg.error() is not None:
                        with history.lock:
                            history.consumer_errors[msg.error().name()] += 1
                        continue
                    with history.lock:
                        history.observed.append((msg.partition(), msg.offset(), msg.value()))
            consumer.close()
        except Exception as e:
            self.failure.append(f"consumer thread: {type(e).__name__}: {e}")


class Faults:
    """Runs the schedule against the cluster and keeps a timeline."""

    def __init__(self, cluster: Cluster, topic: str, workload: Workload):
        self.cluster = cluster
        self.topic = topic
        self.workload = workload
        self.timeline: list[str] = []
        self.events: list[tuple[float, float, str]] = []  # (start, end, what), test clock

    def now(self) -> float:
        return time.monotonic() - self.workload.started

    def note(self, line: str) -> None:
        """A timeline line: test clock, wall clock (UTC, as the node logs
        write it), acknowledgements so far, what happened."""
        wall = datetime.now(timezone.utc).strftime("%H:%M:%S.%f")[:-3]
        self.timeline.append(f"{self.now():7.2f}s {wall} acks={self.workload.history.acks():6d} {line}")

    def reachable(self) -> list[Node]:
        return [n for n in self.cluster.running_brokers() if n.node_id != self.cluster.isolated]

    def partitions(self) -> dict[int, tuple[int, int, tuple[int, ...]]]:
        """partition -> (leader, leader epoch, isr), the newest epoch any
        reachable node reports."""
        best: dict[int, tuple[int, int, tuple[int, ...]]] = {}
        for node in self.reachable():
            try:
                view = metadata(node.client_port, node.node_id, [self.topic])
            except Exception:
                continue
            topic = view.topics.get(self.topic)
            for p, pv in (topic.partitions.items() if topic else []):
                if p not in best or pv.leader_epoch > best[p][1]:
                    best[p] = (pv.leader, pv.leader_epoch, pv.isr)
        return best

    def state(self) -> str:
        parts = self.partitions()
        return " ".join(f"p{p}:L{leader}/e{epoch}/isr{list(isr)}"
                        for p, (leader, epoch, isr) in sorted(parts.items()))

    def victim(self, fault: Fault) -> tuple[Node, str]:
        """The leader of the fault's partition, else (it has none: every
        replica that may lead is down or fenced) a running node picked by
        the partition number; and how the timeline names it."""
        leader = self.partitions().get(fault.partition, (-1, -1, ()))[0]
        if leader in self.cluster.nodes and self.cluster.node(leader).alive():
            return self.cluster.node(leader), f"leader of p{fault.partition}"
        running = self.cluster.running_brokers()
        return running[fault.partition % len(running)], f"p{fault.partition} has no leader ({leader})"

    def wait_rejoined(self, what: str) -> None:
        self.cluster.wait_ready({1, 2, 3}, timeout_s=REJOIN_TIMEOUT_S)
        self.note(f"rejoined after {what}; {self.state()}")

    def run(self, faults: list[Fault]) -> None:
        for i, fault in enumerate(faults, start=1):
            time.sleep(fault.gap_s)
            victim, why = self.victim(fault)
            what = f"#{i} {fault.kind} node {victim.node_id} ({why})"
            self.note(f"{what} for {fault.duration_s:.1f}s; before: {self.state()}")
            start = self.now()
            if fault.kind == "kill":
                victim.kill()
                time.sleep(fault.duration_s)
                for port in (victim.client_port, victim.controller_port, victim.internal_port):
                    wait_port_closed(port, 10)
                victim.start()
            elif fault.kind == "pause":
                victim.pause()
                time.sleep(fault.duration_s)
                victim.resume()
            elif fault.kind == "isolate":
                self.cluster.isolate(victim.node_id)
                time.sleep(fault.duration_s)
                self.cluster.heal()
            else:
                raise AssertionError(f"unknown fault {fault.kind}")
            self.events.append((start, self.now(), what))
            self.wait_rejoined(what)


def wait_recovered(workload: Workload, faults: Faults, since: float) -> list[str]:
    """Waits until every partition acknowledged a value sent after `since`
    (test clock); returns the partitions that did not, with the errors of
    their values sent since, if RECOVERY_TIMEOUT_S runs out."""
    history = workload.history
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while True:
        with history.lock:
            recovered = {history.acked[v][0] for v, t in history.sent_at.items()
                         if t - workload.started > since and v in history.acked}
            failed = Counter((history.sent[v], e) for v, e in history.failed.items()
                             if history.sent_at[v] - workload.started > since)
        if len(recovered) == PARTITIONS:
            faults.note("every partition acknowledges writes again")
            return []
        if time.monotonic() >= deadline:
            missing = sorted(set(range(PARTITIONS)) - recovered)
            return [f"p{p}: no value sent after the last fault acknowledged within "
                    f"{RECOVERY_TIMEOUT_S:.0f}s (failures: "
                    f"{ {e: n for (q, e), n in failed.items() if q == p} }); {faults.state()}"
                    for p in missing]
        time.sleep(0.2)


def read_back(bootstrap: str, topic: str, seen: Iterable[tuple[int, int]]
              ) -> tuple[dict[int, list[tuple[int, bytes]]], list[str]]:
    """Every partition from the beginning up to its high watermark, once
    the high watermark is past the highest offset in `seen` (acknowledged
    or read by the running consumer: committed, so a new leader's high
    watermark, which may lag for a moment, must get there) or
    FINAL_READ_TIMEOUT_S ran out (then what is there). Returns the records
    and notes on partitions that did not get there."""
    highest: dict[int, int] = {}
    for p, o in seen:
        highest[p] = max(highest.get(p, -1), o)
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "client.id": "skein-fault-reader",
        "group.id": "skein-fault-unused-group",
        "enable.auto.commit": False,
        "isolation.level": "read_uncommitted",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
        "fetch.wait.max.ms": 100,
    })
    notes = []
    final: dict[int, list[tuple[int, bytes]]] = {}
    try:
        deadline = time.monotonic() + FINAL_READ_TIMEOUT_S
        ends: dict[int, int] = {}
        for p in range(PARTITIONS):
            while True:
                try:
                    _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
                except Exception as e:
                    high, error = -1, e
                else:
                    error = None
                if high > highest.get(p, -1) or time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
            if high <= highest.get(p, -1):
                notes.append(f"p{p}: high watermark {high} (error {error}) not past the highest "
                             f"acknowledged or read offset {highest.get(p)} within "
                             f"{FINAL_READ_TIMEOUT_S:.0f}s")
            ends[p] = max(high, 0)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        final = {p: [] for p in range(PARTITIONS)}
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + FINAL_READ_TIMEOUT_S
        while len(done) < PARTITIONS and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                p = msg.partition()
                if msg.error() is not None:
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        if msg.offset() >= ends[p]:
                            done.add(p)
                        continue
                    notes.append(f"p{p}: read error {msg.error().name()}")
                    continue
                if msg.offset() < ends[p]:
                    final[p].append((msg.offset(), msg.value()))
                if msg.offset() >= ends[p] - 1:
                    done.add(p)
        for p in sorted(set(range(PARTITIONS)) - done):
            notes.append(f"p{p}: read {len(final[p])} of {ends[p]} records within {FINAL_READ_TIMEOUT_S:.0f}s")
    finally:
        consumer.close()
    return final, notes


@pytest.mark.timeout(TIMEOUT_S)
def test_no_acknowledged_record_is_lost_while_leaders_are_killed_paused_and_cut_off(cluster_factory):
    rng = random.Random(SEED)
    faults_planned = schedule(rng, ROUNDS)
    cluster = cluster_factory(combined=3, proxied=True)
    cluster.start()
    cluster.wait_ready({1, 2, 3})
    topic = unique_topic("faults")
    bootstrap = cluster.bootstrap(cluster.broker_nodes())
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=3,
                                  config={"min.insync.replicas": str(MIN_INSYNC_REPLICAS)})],
                        request_timeout=20)[topic].result(20)
    del admin  # a live client would keep reconnecting to the stopped nodes

    workload = Workload(bootstrap, topic, time.monotonic())
    faults = Faults(cluster, topic, workload)
    cluster.wait_for(f"{topic} led on every partition",
                     lambda: (len(p := faults.partitions()) == PARTITIONS
                              and all(v[0] > 0 for v in p.values()), p), 20)
    workload.start()
    cluster.wait_for("the first acknowledgements",
                     lambda: (workload.history.acks() >= 50, workload.history.acks()), 20)
    faults.note(f"seed {SEED}, {ROUNDS} round(s), {len(faults_planned)} faults; {faults.state()}")

    problems: list[str] = []
    try:
        faults.run(faults_planned)
        problems += wait_recovered(workload, faults, faults.now())
    except AssertionError as e:
        # A wait ran out (or a node died): say so, undo the fault in
        # progress and check what was written anyway.
        problems.append(f"stalled: {e}")
        faults.note(f"stalled: {str(e).splitlines()[0]}")
        cluster.heal()
        for node in cluster.nodes.values():
            if node.paused:
                node.resume()
            elif not node.alive():
                node.start()
    finally:
        workload.stop_producing.set()
        workload.threads[0].join(MESSAGE_TIMEOUT_MS / 1000 + 30)
        time.sleep(1.0)  # the running consumer reads what was acknowledged last
        workload.stop_consuming.set()
        workload.threads[1].join(30)
    faults.note("producer flushed, running consumer stopped")
    problems += workload.failure

    history = workload.history
    final, notes = read_back(bootstrap, topic, [*history.acked.values(),
                                                *((p, o) for p, o, _ in history.observed)])
    problems += notes
    faults.note(f"read back {sum(len(r) for r in final.values())} records")
    verdict = fault_checker.check(history.sent, history.acked, history.failed, final, history.observed)
    if history.fatal:
        problems.append(f"the idempotent producer hit {history.fatal} fatal error(s)")

    def when(violation: fault_checker.Violation) -> str:
        """For a value's violation: when it was acknowledged, in the
        timeline (the value is the first quoted one in the detail)."""
        value = violation.detail.split("'")[1].encode() if "'" in violation.detail else b""
        acked_at = history.acked_at.get(value)
        if acked_at is None:
            return ""
        t = acked_at - workload.started
        before = [what for start, _, what in faults.events if start <= t]
        return f"  acknowledged at {t:.2f}s, last fault before it: {before[-1] if before else 'none'}"

    lost = [v for v in verdict.violations if v.kind in (fault_checker.LOST, fault_checker.DUPLICATE)]
    report = "\n".join([
        f"fault test, seed {SEED}, {ROUNDS} round(s): {verdict.counts()} "
        f"acked_without_offset={sum(1 for _, o in history.acked.values() if o < 0)}",
        f"delivery errors: {dict(history.errors)}; running consumer errors: {dict(history.consumer_errors)}",
        f"producer errors: {dict(history.producer_error_names)} {history.producer_errors[:10]}",
        verdict.summary(),
        *([f"lost or duplicated, first {min(10, len(lost))}, with their ack time:"]
          + [f"  {v}\n{when(v)}" for v in lost[:10]] if lost else []),
        *(f"PROBLEM {p}" for p in problems),
        "timeline:",
        *faults.timeline,
    ])
    print(report)
    if not verdict.ok or problems:
        print(node_events(cluster, topic))
    assert verdict.acked > 0, report
    assert verdict.ok and not problems, report


def node_events(cluster: Cluster, topic: str) -> str:
    """Each node's log lines about this topic's replicas or the cluster's
    membership (NODE_EVENTS), with the harness's start lines."""
    out = []
    for node in cluster.nodes.values():
        out.append(f"----- node {node.node_id} events ({node.log_path}) -----")
        for line in node.log_text().splitlines():
            if line.startswith("[cluster.py] start #") or (
                    NODE_EVENTS.search(line) and "__consumer_offsets" not in line
                    and ("dir=" not in line or topic in line)):
                out.append(line[:300])
    return "\n".join(out)
