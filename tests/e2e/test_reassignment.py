"""Partition reassignment (issue 14, KIP-455): AlterPartitionReassignments
adds the target replicas, which catch up as followers and join the ISR
(AlterPartition); the controller then switches the replica set, moves the
leader off a removed replica, and the removed broker deletes its copy.
ListPartitionReassignments lists the move until then; a move can be
cancelled.

Three combined nodes (tests/e2e/cluster.py), a topic with replication
factor 2. The installed confluent-kafka (2.16) has no
alter_partition_reassignments, so the moves go through `skein topic
reassign` (which speaks AlterPartitionReassignments), and the listing
through `skein topic reassignments`.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from cluster import Cluster, Node
from clients import consume_partition, expected, keyed_messages, produce, unique_topic
from conftest import SKEIN_BIN
from test_cluster import (  # noqa: F401  (cluster_factory is a fixture)
    FENCE_TIMEOUT_S,
    TOPIC_TIMEOUT_S,
    cluster_factory,
    create_topic,
    wait_topic_placed,
)

MESSAGES = 500
# The new replica fetches the whole log and the leader's ISR driver then
# asks the controller to add it: seconds on a loaded two-core machine.
MOVE_TIMEOUT_S = 60.0
NO_REASSIGNMENT_IN_PROGRESS = "NO_REASSIGNMENT_IN_PROGRESS"


def skein(node: Node, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`skein ARGS` against `node`."""
    run = subprocess.run([str(SKEIN_BIN), *args, "--bootstrap-servers", node.bootstrap,
                          "--timeout-ms", "30000"], capture_output=True, text=True, timeout=90)
    if check:
        assert run.returncode == 0, run.stderr
    return run


def reassignments(node: Node) -> list[dict]:
    return json.loads(skein(node, "topic", "reassignments", "--format", "json").stdout)


def wait_replicas(cluster: Cluster, topic: str, replicas: list[int], isr: set[int],
                  asked: list[Node]) -> None:
    """Waits until every node in `asked` says `topic`/0 has exactly
    `replicas` (in order) and ISR `isr`, led by one of them."""
    def probe():
        views = cluster.metadata_from(asked, [topic])
        seen = {i: v.topics[topic].partitions.get(0) for i, v in views.items()}
        ok = all(pv is not None and list(pv.replicas) == replicas and set(pv.isr) == isr
                 and pv.leader in replicas for pv in seen.values())
        return ok, seen
    cluster.wait_for(f"{topic}/0 on replicas {replicas} with ISR {sorted(isr)}", probe,
                     MOVE_TIMEOUT_S)


def placed(cluster: Cluster, topic: str) -> tuple[int, int, int]:
    """The topic's replicas (a, b) in order, a leading, and the third node c."""
    views = wait_topic_placed(cluster, topic, 1, {1, 2, 3}, 2)
    view = next(iter(views.values())).topics[topic].partitions[0]
    a, b = view.replicas
    if view.leader != a:
        a, b = b, a
    [c] = {1, 2, 3} - {a, b}
    return a, b, c


@pytest.mark.timeout(300)
def test_a_moved_partition_keeps_every_record_and_leaves_its_old_broker(cluster_factory):
    cluster = cluster_factory(combined=3)
    cluster.start()
    cluster.wait_ready({1, 2, 3})
    topic = unique_topic("moved")
    create_topic(cluster.bootstrap(), topic, partitions=1, replication_factor=2)
    a, b, c = placed(cluster, topic)
    messages = keyed_messages(MESSAGES, partition=0, tag="move")
    delivered = produce(cluster.bootstrap(), topic, messages, acks="all")
    assert [m.offset() for m in delivered] == list(range(MESSAGES))
    old_dir = cluster.node(a).data_dir / f"{topic}-0"
    assert old_dir.is_dir()

    # Move from [a, b] (a leading) to [b, c]: c is added, a removed.
    out = skein(cluster.node(b), "topic", "reassign", "--topic", topic, "--partition", "0",
                "--replicas", f"{b},{c}").stdout
    assert f"reassigning {topic}-0 to replicas {b},{c}" in out

    def finished():
        ongoing = [r for r in reassignments(cluster.node(c)) if r["topic"] == topic]
        return not ongoing, ongoing
    cluster.wait_for(f"the move of {topic}/0 to finish", finished, MOVE_TIMEOUT_S)
    wait_replicas(cluster, topic, [b, c], {b, c}, cluster.broker_nodes())

    # The removed broker deleted its copy.
    cluster.wait_for(f"{old_dir} removed", lambda: (not old_dir.exists(), old_dir),
                     TOPIC_TIMEOUT_S)

    # kill -9 b: c alone serves every acknowledged record, exactly.
    cluster.node(b).kill()
    survivors = [cluster.node(a), cluster.node(c)]

    def c_leads():
        views = cluster.metadata_from(survivors, [topic])
        seen = {i: v.topics[topic].partitions.get(0) for i, v in views.items()}
        return all(pv is not None and pv.leader == c for pv in seen.values()), seen
    cluster.wait_for(f"node {c} leading {topic}/0", c_leads, FENCE_TIMEOUT_S + TOPIC_TIMEOUT_S)
    got = consume_partition(cluster.bootstrap([cluster.node(c)]), topic, 0, 0,
                            expect_count=MESSAGES)
    assert len(got) == MESSAGES, f"{len(got)} of {MESSAGES} records on node {c}"
    assert got == expected(messages, 0)


@pytest.mark.timeout(300)
def test_a_cancelled_move_restores_the_replicas_and_bad_moves_are_refused(cluster_factory):
    cluster = cluster_factory(combined=3)
    cluster.start()
    cluster.wait_ready({1, 2, 3})
    topic = unique_topic("cancelled")
    create_topic(cluster.bootstrap(), topic, partitions=1, replication_factor=2)
    a, b, c = placed(cluster, topic)
    produce(cluster.bootstrap(), topic, keyed_messages(50, partition=0, tag="c"), acks="all")

    # Refusals, with Kafka's codes, before anything changes.
    bad = skein(cluster.node(a), "topic", "reassign", "--topic", topic, "--partition", "0",
                "--replicas", f"{a},{a}", check=False)
    assert bad.returncode != 0 and "INVALID_REPLICA_ASSIGNMENT" in bad.stderr, bad.stderr
    bad = skein(cluster.node(a), "topic", "reassign", "--topic", topic, "--partition", "0",
                "--replicas", f"{a},42", check=False)
    assert bad.returncode != 0 and "INVALID_REPLICA_ASSIGNMENT" in bad.stderr, bad.stderr
    bad = skein(cluster.node(a), "topic", "reassign", "--topic", topic, "--partition", "7",
                "--replicas", f"{a},{b}", check=False)
    assert bad.returncode != 0 and "UNKNOWN_TOPIC_OR_PARTITION" in bad.stderr, bad.stderr
    bad = skein(cluster.node(a), "topic", "reassign", "--topic", topic, "--partition", "0",
                "--cancel", check=False)
    assert bad.returncode != 0 and NO_REASSIGNMENT_IN_PROGRESS in bad.stderr, bad.stderr

    # c is down (still registered, fenced): a move to it cannot finish.
    cluster.node(c).kill()
    live = [cluster.node(a), cluster.node(b)]
    skein(cluster.node(a), "topic", "reassign", "--topic", topic, "--partition", "0",
          "--replicas", f"{b},{c}")

    def listed():
        ongoing = [r for r in reassignments(cluster.node(b)) if r["topic"] == topic]
        return ongoing == [{"topic": topic, "partition": 0, "replicas": [b, c, a],
                            "adding_replicas": [c], "removing_replicas": [a]}], ongoing
    cluster.wait_for(f"the move of {topic}/0 listed", listed, TOPIC_TIMEOUT_S)
    wait_replicas(cluster, topic, [b, c, a], {a, b}, live)

    # Cancel: back to the original replicas (in the reassigning order, as
    # Kafka reverts), nothing listed, and a second cancel finds nothing.
    out = skein(cluster.node(b), "topic", "reassign", "--topic", topic, "--partition", "0",
                "--cancel").stdout
    assert f"cancelled the reassignment of {topic}-0" in out
    wait_replicas(cluster, topic, [b, a], {a, b}, live)
    assert [r for r in reassignments(cluster.node(a)) if r["topic"] == topic] == []
    again = skein(cluster.node(a), "topic", "reassign", "--topic", topic, "--partition", "0",
                  "--cancel", check=False)
    assert again.returncode != 0 and NO_REASSIGNMENT_IN_PROGRESS in again.stderr, again.stderr
