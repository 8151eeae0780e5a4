"""Replication throttles (issue 14, KIP-73) slowing a partition move.

Leader side: `leader.replication.throttled.rate` on the brokers and the
topic's `leader.replication.throttled.replicas` naming the partition's
replica on its leader. While the leader's rate is exceeded, a follower
that is not in the ISR (the move's new replica) gets no records of that
partition (Kafka's ReplicaManager.shouldLeaderThrottle); consumers are
never throttled. Follower side: `follower.replication.throttled.rate` and
`follower.replication.throttled.replicas` naming the new replica; its
fetcher leaves the partition out while the rate is exceeded.

A bound that a slow machine cannot break: Kafka's quota measures its bytes
over at least 10 of its 11 one-second windows, so about 11 s worth of the
rate (plus one fetch) passes before it bites, and each admitted fetch may
overshoot by one fetch. Moving BYTES therefore takes at least
(BYTES - 11 R - F) / (R + F / 11) seconds at rate R with fetches of at most
F bytes; the tests assert 80% of it. Unthrottled, the same move takes
about a second here.

Three combined nodes, one data shard each (a broker's rate is split evenly
between its data shards; with one shard the partition gets all of it).
The moves go through `skein topic reassign` (the leader test with its
--throttle and --verify, which set and remove the throttled replica lists
as Kafka's kafka-reassign-partitions does), the follower test's lists
through `skein topic alter-config`.
"""

from __future__ import annotations

import os
import time

import pytest

from cluster import Cluster
from confluent_kafka.admin import ConfigResource

from clients import admin, consume_partition, produce, unique_topic
from test_cluster import cluster_factory, create_topic, wait_topic_placed  # noqa: F401
from test_isr import metric_lines
from test_reassignment import reassignments, skein, wait_replicas

RECORD_BYTES = 1024
RECORDS = 8192  # 8 MiB of values
BYTES = RECORDS * RECORD_BYTES
RATE = 256 * 1024  # bytes/s
# replica.fetch.max.bytes; producer batches are smaller, so no fetch
# returns more than this per partition.
FETCH_MAX = 64 * 1024
BATCH_BYTES = 16 * 1024
LOWER_BOUND_S = (BYTES - 11 * RATE - FETCH_MAX) / (RATE + FETCH_MAX / 11)
THROTTLED_MOVE_TIMEOUT_S = 240.0
MOVE_TIMEOUT_S = 60.0


def make_cluster(cluster_factory, properties: dict[str, str]) -> Cluster:
    cluster = cluster_factory(combined=3, properties={
        "replica.fetch.max.bytes": str(FETCH_MAX), **properties})
    if os.environ.get("SKEIN_E2E_CORES") is None:
        cpus = os.cpu_count() or 1
        for node_id, node in cluster.nodes.items():
            node.cores = str((node_id - 1) % cpus)
    cluster.start()
    cluster.wait_ready({1, 2, 3})
    return cluster


def records() -> list[dict]:
    return [{"key": f"t-{i}".encode(),
             "value": (f"{i:08d}".encode() * (RECORD_BYTES // 8)),
             "partition": 0}
            for i in range(RECORDS)]


def single_replica_topic(cluster: Cluster, prefix: str) -> tuple[str, int, int, list[dict]]:
    """A topic with one partition on one broker a, filled with RECORDS;
    returns it, a, another broker c, and the records."""
    topic = unique_topic(prefix)
    create_topic(cluster.bootstrap(), topic, partitions=1, replication_factor=1)
    views = wait_topic_placed(cluster, topic, 1, {1, 2, 3}, 1)
    a = next(iter(views.values())).topics[topic].partitions[0].leader
    c = next(i for i in (1, 2, 3) if i != a)
    sent = records()
    delivered = produce(cluster.bootstrap(), topic, sent, acks="all",
                        **{"batch.size": BATCH_BYTES, "linger.ms": 5})
    assert [m.offset() for m in delivered] == list(range(RECORDS))
    return topic, a, c, sent


def throttled_bytes(cluster: Cluster, node_id: int, side: str) -> int:
    """skein_replication_throttled_bytes_total{side=...} of a node."""
    lines = [line for line in metric_lines(cluster.node(node_id),
                                           "skein_replication_throttled_bytes_total")
             if f'side="{side}"' in line]
    assert len(lines) == 1, lines
    return int(float(lines[0].rsplit(" ", 1)[1]))


def moving(cluster: Cluster, topic: str) -> bool:
    return any(r["topic"] == topic for r in reassignments(cluster.node(1)))


def start_move(cluster: Cluster, topic: str, replicas: list[int],
               *options: str) -> tuple[float, str]:
    """Starts moving `topic`/0 to `replicas`; returns when it started
    (monotonic), once node 1 lists it, and the command's standard error."""
    started = time.monotonic()
    run = skein(cluster.node(replicas[0]), "topic", "reassign", "--topic", topic,
                "--partition", "0", "--replicas", ",".join(map(str, replicas)), *options)
    cluster.wait_for(f"the move of {topic}/0 listed", lambda: (moving(cluster, topic), None),
                     MOVE_TIMEOUT_S)
    return started, run.stderr


def throttled_replica_configs(cluster: Cluster, topic: str) -> dict[str, str]:
    """The topic's throttled-replica lists that are set."""
    a = admin(cluster.bootstrap())
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = a.describe_configs([resource])[resource].result(30)
    return {name: entry.value for name, entry in entries.items()
            if name.endswith(".replication.throttled.replicas") and entry.value}


def assert_every_record_on(cluster: Cluster, topic: str, broker: int, sent: list[dict]) -> None:
    """Moves `topic`/0 to `broker` alone (it is in the ISR: no data moves)
    and reads every record back from it."""
    skein(cluster.node(broker), "topic", "reassign", "--topic", topic, "--partition", "0",
          "--replicas", str(broker))
    wait_replicas(cluster, topic, [broker], {broker}, cluster.broker_nodes())
    got = consume_partition(cluster.bootstrap([cluster.node(broker)]), topic, 0, 0,
                            expect_count=RECORDS)
    assert len(got) == RECORDS, f"{len(got)} of {RECORDS} records on node {broker}"
    assert [(m.offset, m.key, m.value) for m in got] == \
        [(i, m["key"], m["value"]) for i, m in enumerate(sent)]


@pytest.mark.timeout(420)
def test_the_leader_throttle_slows_a_new_replica_but_not_consumers(cluster_factory):
    cluster = make_cluster(cluster_factory, {"leader.replication.throttled.rate": str(RATE)})
    topic, a, c, sent = single_replica_topic(cluster, "leader-throttled")
    throttled_before = throttled_bytes(cluster, a, "leader")

    # --throttle: a's replica in the leader list, c's in the follower list
    # (whose rate nobody set here: the command names c).
    started, warnings = start_move(cluster, topic, [a, c], "--throttle")
    assert f"brokers {c} leave their replication throttled rate at the default" in warnings, \
        warnings
    assert throttled_replica_configs(cluster, topic) == {
        "leader.replication.throttled.replicas": f"0:{a}",
        "follower.replication.throttled.replicas": f"0:{c}"}
    # A consumer reads the whole partition from the leader meanwhile, at
    # its own pace: it is done while the new replica is still throttled.
    got = consume_partition(cluster.bootstrap([cluster.node(a)]), topic, 0, 0,
                            expect_count=RECORDS)
    consumed_s = time.monotonic() - started
    assert len(got) == RECORDS
    assert moving(cluster, topic), (
        f"the move finished before a consumer read {BYTES} bytes ({consumed_s:.1f} s)")

    def finished():
        return not moving(cluster, topic), consumed_s
    cluster.wait_for(f"the throttled move of {topic}/0 to finish", finished,
                     THROTTLED_MOVE_TIMEOUT_S)
    took = time.monotonic() - started
    wait_replicas(cluster, topic, [a, c], {a, c}, cluster.broker_nodes())
    assert took >= 0.8 * LOWER_BOUND_S, (
        f"{BYTES} bytes moved in {took:.1f} s at {RATE} B/s: the leader did not throttle "
        f"(at least {LOWER_BOUND_S:.1f} s expected)")
    # Every byte the leader sent the new replica was counted against its rate.
    sent_throttled = throttled_bytes(cluster, a, "leader") - throttled_before
    assert sent_throttled >= BYTES, sent_throttled
    assert throttled_bytes(cluster, c, "follower") == 0
    # --verify: the move is complete and its throttle goes.
    out = skein(cluster.node(a), "topic", "reassign", "--topic", topic, "--partition", "0",
                "--verify").stdout
    assert f"reassignment of {topic}-0 is complete" in out, out
    assert throttled_replica_configs(cluster, topic) == {}
    assert_every_record_on(cluster, topic, c, sent)


@pytest.mark.timeout(420)
def test_the_follower_throttle_slows_a_new_replica_until_it_is_removed(cluster_factory):
    cluster = make_cluster(cluster_factory, {"follower.replication.throttled.rate": str(RATE)})
    topic, a, c, sent = single_replica_topic(cluster, "follower-throttled")
    skein(cluster.node(a), "topic", "alter-config", topic, "--set",
          f"follower.replication.throttled.replicas=0:{c}")

    started, _ = start_move(cluster, topic, [a, c])
    while time.monotonic() - started < 0.8 * LOWER_BOUND_S:
        assert moving(cluster, topic), (
            f"{BYTES} bytes moved within {time.monotonic() - started:.1f} s at {RATE} B/s: "
            f"the follower did not throttle (at least {LOWER_BOUND_S:.1f} s expected)")
        time.sleep(1.0)
    assert throttled_bytes(cluster, c, "follower") > 0
    assert throttled_bytes(cluster, a, "leader") == 0

    # Removing the throttle lets the rest through.
    skein(cluster.node(a), "topic", "alter-config", topic, "--delete",
          "follower.replication.throttled.replicas")

    def finished():
        return not moving(cluster, topic), None
    cluster.wait_for(f"the move of {topic}/0 to finish", finished, MOVE_TIMEOUT_S)
    wait_replicas(cluster, topic, [a, c], {a, c}, cluster.broker_nodes())
    assert_every_record_on(cluster, topic, c, sent)
