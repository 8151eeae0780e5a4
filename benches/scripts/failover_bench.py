#!/usr/bin/env python3
"""Failover time of a replicated partition: on a three-node cluster
(tests/e2e/cluster.py, three combined `skein serve` processes on
127.0.0.1), a confluent-kafka producer (acks=all) writes one record every
10 ms to a fresh replication-factor-3 topic of one partition; the leader is
killed with kill -9, and the figure is the time from the kill to the first
record acknowledged that was produced after it. The killed node is
restarted and the cluster settles before the next run. Prints each run,
the median, and how many acknowledged records were missing when the topic
was read back from its new leader (must be 0).

Usage: SKEIN_BIN=target/release/skein benches/scripts/failover_bench.py [--runs 10]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from cluster import Cluster, metadata, wait_port_closed  # noqa: E402

PRODUCE_EVERY_S = 0.01


def leader_of(cluster: Cluster, topic: str) -> tuple[int, int] | None:
    """(leader, leader epoch) of partition 0 as a live broker reports it."""
    for node in cluster.broker_nodes():
        if not node.alive():
            continue
        try:
            view = metadata(node.client_port, node.node_id, [topic])
        except OSError:
            continue
        partition = view.topics.get(topic) and view.topics[topic].partitions.get(0)
        if partition and partition.leader >= 0:
            return partition.leader, partition.leader_epoch
    return None


def wait_for(what: str, predicate, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(what)


def one_run(cluster: Cluster, run: int) -> tuple[float, int, int]:
    topic = f"failover-{run}-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3)])[topic].result(30)
    old_leader, epoch = wait_for("a leader", lambda: leader_of(cluster, topic))
    producer = Producer({"bootstrap.servers": cluster.bootstrap(), "acks": "all",
                         "enable.idempotence": True, "linger.ms": 0,
                         "message.timeout.ms": 60000, "request.timeout.ms": 5000})
    acked: dict[int, float] = {}
    sent_at: dict[int, float] = {}
    stop = threading.Event()

    def on_delivery(err, msg):
        if err is None:
            acked[int(msg.value())] = time.monotonic()

    def produce():
        i = 0
        while not stop.is_set():
            sent_at[i] = time.monotonic()
            producer.produce(topic, value=str(i).encode(), on_delivery=on_delivery)
            producer.poll(0)
            i += 1
            time.sleep(PRODUCE_EVERY_S)
        producer.flush(60)

    thread = threading.Thread(target=produce)
    thread.start()
    wait_for("acks before the kill", lambda: len(acked) >= 50)
    victim = cluster.node(old_leader)
    killed_at = time.monotonic()
    victim.kill()
    first_after = wait_for(
        "an ack for a record sent after the kill",
        lambda: min((t for i, t in acked.items() if sent_at.get(i, 0) > killed_at), default=None))
    stop.set()
    thread.join()
    elapsed = first_after - killed_at
    # Every acknowledged value is on the new leader.
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap(), "group.id": topic,
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen: set[int] = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not set(acked) <= seen:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            seen.add(int(msg.value()))
    consumer.close()
    missing = len(set(acked) - seen)
    wait_port_closed(victim.client_port, 10)
    wait_port_closed(victim.controller_port, 10)
    victim.start()
    cluster.wait_ready({1, 2, 3}, timeout_s=60)
    return elapsed, len(acked), missing


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="skein-failover-bench-"))
    cluster = Cluster(base, combined=3, properties={
        "broker.heartbeat.interval.ms": "500", "broker.session.timeout.ms": "3000"})
    samples = []
    try:
        cluster.start()
        cluster.wait_ready({1, 2, 3})
        for run in range(args.runs):
            elapsed, acked, missing = one_run(cluster, run)
            samples.append(elapsed)
            print(f"run {run + 1}: produces acknowledged again {elapsed * 1000:.0f} ms after kill -9 "
                  f"of the leader; {acked} acknowledged, {missing} missing on the new leader", flush=True)
        print(f"failover: median {statistics.median(samples) * 1000:.0f} ms, "
              f"min {min(samples) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms over {len(samples)} runs")
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
