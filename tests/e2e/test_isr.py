"""The ISR follows the followers (issue 14): a leader drops a follower that
has not caught up for replica.lag.time.max.ms and takes it back once it
has, always through the active controller (AlterPartition), and acks=all
honours min.insync.replicas against that ISR.

Three controller-only voters and three brokers (tests/e2e/cluster.py; a
single voter would be a single-node cluster, and pausing two of three
combined nodes would cost the quorum its majority, so no ISR could
change), so pausing brokers never stops the controller. The session
timeout is long (30 s): a paused follower stays registered and unfenced,
so the ISR shrinks because its leader asked, not because the controller
fenced the broker.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request

import pytest
from confluent_kafka.admin import NewTopic

import kafka_wire as kw
from cluster import Cluster, Node
from conftest import SKEIN_BIN
from clients import admin, consume_partition, expected, keyed_messages, produce, unique_topic
from test_cluster import cluster_factory, wait_topic_placed  # noqa: F401  (a fixture)

LAG_MAX_MS = 2000
# A follower leaves within lag + lag/2 (the check period) + an AlterPartition
# round trip and the image reaching every broker; generous for a loaded CI.
ISR_CHANGE_TIMEOUT_S = 20.0
NOT_ENOUGH_REPLICAS = 19
BROKERS = {4, 5, 6}
PARTITIONS = 1


def create_topic_with_min_isr(bootstrap: str, topic: str, min_isr: int) -> None:
    a = admin(bootstrap)
    futures = a.create_topics(
        [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=3,
                  config={"min.insync.replicas": str(min_isr)})],
        operation_timeout=10, request_timeout=30)
    futures[topic].result(30)


def wait_isr(cluster: Cluster, topic: str, partition: int, isr: set[int],
             asked: list[Node]) -> None:
    """Waits until Metadata from every node in `asked` shows `partition` of
    `topic` with exactly the in-sync replicas `isr`."""
    def probe():
        views = cluster.metadata_from(asked, [topic])
        seen = {i: sorted(v.topics[topic].partitions[partition].isr) for i, v in views.items()}
        return all(set(s) == isr for s in seen.values()), seen
    cluster.wait_for(f"{topic}/{partition}: ISR {sorted(isr)} on nodes "
                     f"{[n.node_id for n in asked]}", probe, ISR_CHANGE_TIMEOUT_S)


def metric_lines(node: Node, name: str) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{node.admin_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def metric_sum(node: Node, name: str) -> int:
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in metric_lines(node, name))


def skein_cli(node: Node, *args: str) -> str:
    """`skein ARGS` against `node`; returns its standard output."""
    run = subprocess.run([str(SKEIN_BIN), *args, "--bootstrap-servers", node.bootstrap,
                          "--timeout-ms", "3000"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def produce_acks_all_raw(node: Node, topic: str, partition: int) -> int:
    """One record produced with Produce v3, acks=-1, straight to `node`;
    returns the partition's error code."""
    batch = kw.record_batch([(b"k", b"refused", [])], base_timestamp=int(time.time() * 1000))
    response = kw.request(node.client_port,
                          kw.header_v1(kw.PRODUCE, 3, 21) + kw.produce_v3_body(topic, partition, batch, acks=-1))
    [(name, index, error_code, _)] = kw.parse_produce_v3(response[4:])
    assert (name, index) == (topic, partition)
    return error_code


@pytest.mark.timeout(240)
def test_isr_shrinks_and_expands_through_the_controller_and_gates_acks_all(cluster_factory):
    cluster = cluster_factory(controllers=3, brokers=3, properties={
        "replica.lag.time.max.ms": str(LAG_MAX_MS),
        "broker.session.timeout.ms": "30000",
        # The internal topics without followers: a partition created just
        # before a pause would (rightly) lose the paused follower too and
        # blur the exact under-replicated counts below.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
    })
    cluster.start()
    cluster.wait_ready(BROKERS)
    topic = unique_topic("isr")
    create_topic_with_min_isr(cluster.bootstrap(), topic, 2)
    views = wait_topic_placed(cluster, topic, PARTITIONS, BROKERS, 3)
    p = 0
    state = next(iter(views.values())).topics[topic].partitions[p]
    leader = cluster.node(state.leader)
    followers = [cluster.node(b) for b in state.replicas if b != state.leader]
    everyone = [cluster.node(b) for b in sorted(BROKERS)]

    first = keyed_messages(40, partition=p, tag="all3")
    delivered = produce(leader.bootstrap, topic, first, acks="all")
    assert [m.offset() for m in delivered] == list(range(40))
    assert metric_sum(leader, "skein_under_replicated_partitions") == 0
    # Each follower's fetcher appended exactly those 40 records (acks=all
    # answered once both had them; the internal topics have no followers).
    for f in followers:
        assert metric_sum(f, "skein_replica_fetched_records_total") == 40
        assert metric_sum(f, "skein_replica_fetched_bytes_total") > 40 * 10

    # A paused follower falls behind the writes that follow and leaves the
    # ISR after replica.lag.time.max.ms (a follower at the leader's log end
    # is never out of sync, as in Kafka); the acks=all writes wait for that
    # and then succeed with the two that remain (min.insync.replicas=2).
    paused = followers[0]
    paused.pause()
    remaining = [n for n in everyone if n is not paused]
    second = keyed_messages(30, partition=p, tag="two")
    delivered = produce(leader.bootstrap, topic, second, acks="all")
    assert [m.offset() for m in delivered] == list(range(40, 70))
    wait_isr(cluster, topic, p, {leader.node_id, followers[1].node_id}, remaining)
    assert metric_sum(leader, "skein_under_replicated_partitions") == 1, (
        [line for line in metric_lines(leader, "skein_partition_isr") if not line.endswith(" 3")],
        [line for line in metric_lines(leader, "skein_follower_lag_records") if not line.endswith(" 0")])
    isr_gauge = [line for line in metric_lines(leader, "skein_partition_isr") if f'topic="{topic}",partition="{p}"' in line]
    assert [line.rsplit(" ", 1)[1] for line in isr_gauge] == ["2"], isr_gauge
    lag = [line for line in metric_lines(leader, "skein_follower_lag_records")
           if f'topic="{topic}",partition="{p}"' in line and f'replica="{paused.node_id}"' in line]
    assert len(lag) == 1 and int(lag[0].rsplit(" ", 1)[1]) > 0, lag
    # The CLI: `skein cluster` lists the partition, `skein topic describe`
    # shows the ISR and each follower's lag (the paused one does not answer).
    others = ",".join(str(b) for b in sorted({leader.node_id, followers[1].node_id}))
    shown = skein_cli(leader, "cluster")
    assert "Under-replicated partitions: 1\n" in shown, shown
    row = next(line.split() for line in shown.splitlines() if line.startswith(topic))
    assert row == [topic, str(p), str(leader.node_id), ",".join(map(str, state.replicas)),
                   ",".join(str(b) for b in state.replicas if b != paused.node_id)], shown
    described = skein_cli(leader, "topic", "describe", topic)
    fields = dict(f.split(": ", 1) for f in described.splitlines()[1].strip().split("\t"))
    assert sorted(map(int, fields["Isr"].split(","))) == sorted(map(int, others.split(","))), described
    assert fields["Lag"] == ",".join(
        f"{b}:?" if b == paused.node_id else f"{b}:0" for b in state.replicas if b != leader.node_id), described

    # Resumed, it catches up and joins again.
    paused.resume()
    wait_isr(cluster, topic, p, BROKERS, everyone)
    assert metric_sum(leader, "skein_under_replicated_partitions") == 0
    assert "Under-replicated partitions: none\n" in skein_cli(leader, "cluster")
    third = keyed_messages(20, partition=p, tag="back")
    delivered = produce(leader.bootstrap, topic, third, acks="all")
    assert [m.offset() for m in delivered] == list(range(70, 90))

    # With both followers paused the ISR is the leader alone: acks=all is
    # refused with NOT_ENOUGH_REPLICAS, before anything is appended.
    # (acks=1 writes move the log end past them.)
    for follower in followers:
        follower.pause()
    fourth = keyed_messages(5, partition=p, tag="alone")
    delivered = produce(leader.bootstrap, topic, fourth, acks=1)
    assert [m.offset() for m in delivered] == list(range(90, 95))
    wait_isr(cluster, topic, p, {leader.node_id}, [leader])
    assert produce_acks_all_raw(leader, topic, p) == NOT_ENOUGH_REPLICAS
    for follower in followers:
        follower.resume()
    wait_isr(cluster, topic, p, BROKERS, everyone)

    got = consume_partition(leader.bootstrap, topic, p, 0, expect_count=95)
    assert got == expected(first + second + third + fourth, p)
