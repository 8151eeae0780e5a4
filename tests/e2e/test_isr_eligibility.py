"""Who may be in an ISR (issue 14), as Kafka 3.7+ decides it:

* KIP-903: a follower that restarted with an empty disk registers with a
  new broker epoch; its leader knows each follower's epoch from its Fetch
  (v15 `ReplicaState`) and the controller refuses an ISR member whose
  epoch is not its registration's, so the follower rejoins only once it has
  caught up as its new incarnation — and then holds every acknowledged
  record.
* KIP-858: a broker whose log directory fails reports it in its heartbeats
  (`OfflineLogDirs`, with AssignReplicasToDirs naming the replicas there);
  the controller moves the leadership of those partitions to another ISR
  member and takes the broker out of their ISRs, while its healthy
  directory keeps serving. acks=all produces continue through the new
  leader and lose nothing acknowledged.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from confluent_kafka.admin import NewTopic

from cluster import Cluster, Node
from conftest import SKEIN_BIN
from clients import admin, consume_partition, expected, keyed_messages, produce, unique_topic
from test_cluster import cluster_factory, wait_topic_placed  # noqa: F401  (a fixture)

TIMEOUT_S = 30.0


def create_topic(bootstrap: str, topic: str, partitions: int, min_isr: int = 2) -> None:
    client = admin(bootstrap)  # held until the result: a dropped client cancels it
    futures = client.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=3,
                  config={"min.insync.replicas": str(min_isr)})],
        operation_timeout=10, request_timeout=30)
    futures[topic].result(30)


def listed_views(cluster: Cluster, asked: list[Node], topic: str, partitions: list[int]):
    """node id -> {partition -> PartitionView} of `partitions` as each asked
    node's Metadata shows them, once every asked node lists them all. Each
    data shard of a node takes a new image on its own, after it has opened
    its partitions' logs, so a fresh connection may land on a shard still
    doing so (seen in CI: the topic without its partitions right after
    every node had listed it)."""
    def probe():
        views = cluster.metadata_from(asked, [topic])
        listed = {i: v.topics[topic].partitions for i, v in views.items() if topic in v.topics}
        ok = len(listed) == len(views) and all(set(partitions) <= set(seen) for seen in listed.values())
        return ok, ({i: {p: seen[p] for p in partitions} for i, seen in listed.items()} if ok
                    else {i: v.topics.get(topic) for i, v in views.items()})

    views, _ = cluster.wait_for(f"{topic}: Metadata from nodes {[n.node_id for n in asked]} listing "
                                f"partitions {partitions}", probe, TIMEOUT_S)
    return views


def partition_view(cluster: Cluster, asked: list[Node], topic: str, partition: int):
    """Each asked node's view of the partition: node id -> PartitionView."""
    return {i: seen[partition] for i, seen in listed_views(cluster, asked, topic, [partition]).items()}


def describe_row(node: Node, topic: str, partition: int) -> dict[str, str]:
    """`skein topic describe` of `topic`: the fields of `partition`'s line."""
    run = subprocess.run([str(SKEIN_BIN), "topic", "describe", topic, "--bootstrap-servers",
                          node.bootstrap, "--timeout-ms", "3000"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    for line in run.stdout.splitlines()[1:]:
        fields = dict(f.split(": ", 1) for f in line.strip().split("\t") if ": " in f)
        if fields.get("Partition") == str(partition):
            return fields
    raise AssertionError(f"partition {partition} not in:\n{run.stdout}")


@pytest.mark.timeout(240)
def test_a_follower_restarted_with_an_empty_disk_rejoins_the_isr_only_once_caught_up(
        cluster_factory):
    # Controller-only voters: wiping a broker's disk never touches the
    # metadata quorum. Internal topics on one replica keep the ISRs here
    # about the test topic only.
    cluster = cluster_factory(controllers=3, brokers=3, properties={
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
    })
    cluster.start()
    brokers = cluster.broker_nodes()
    cluster.wait_ready({n.node_id for n in brokers})
    topic = unique_topic()
    create_topic(brokers[0].bootstrap, topic, 1)
    wait_topic_placed(cluster, topic, 1, {n.node_id for n in brokers}, 3)
    state = partition_view(cluster, brokers, topic, 0)[brokers[0].node_id]
    leader = cluster.node(state.leader)
    wiped, other = (cluster.node(b) for b in state.replicas if b != state.leader)

    first = keyed_messages(300, partition=0, tag="before")
    produce(leader.bootstrap, topic, first)
    # The follower dies and comes back with an empty disk: a new
    # incarnation, a new broker epoch, nothing of the partition.
    wiped.kill()
    shutil.rmtree(wiped.data_dir)
    wiped.start()
    second = keyed_messages(200, partition=0, tag="after")
    produce(leader.bootstrap, topic, second)

    # It rejoins the ISR: only once it has fetched everything as its new
    # incarnation (a stale epoch would be refused by leader and controller).
    def rejoined():
        views = partition_view(cluster, brokers, topic, 0)
        return all(set(v.isr) == set(state.replicas) for v in views.values()), views
    cluster.wait_for("the wiped follower back in the ISR", rejoined, TIMEOUT_S)
    # Proof that it joined with the data: the other two go away and it
    # alone serves every acknowledged record.
    leader.kill()
    other.kill()

    def leads():
        view = partition_view(cluster, [wiped], topic, 0)[wiped.node_id]
        return view.leader == wiped.node_id, view
    cluster.wait_for("the wiped follower leads", leads, TIMEOUT_S)
    got = consume_partition(wiped.bootstrap, topic, 0, expect_count=500)
    assert got == expected(first + second, 0)


@pytest.mark.timeout(240)
def test_a_failed_log_dir_moves_its_partitions_leadership_and_isr_without_loss(
        cluster_factory, tmp_path):
    cluster = cluster_factory(combined=3, properties={"log.dir.probe.interval.ms": "200"})
    jbod = cluster.node(1)
    # Node 1 keeps its partitions in two directories; the metadata log is
    # in the first, the second one will fail.
    disks = [jbod.data_dir.parent / f"disk{i}" / "kafka-logs" for i in range(2)]
    jbod.properties["log.dirs"] = ",".join(str(d) for d in disks)
    cluster.start()
    nodes = cluster.broker_nodes()
    cluster.wait_ready({1, 2, 3})
    topic = unique_topic()
    partitions = 12
    create_topic(nodes[1].bootstrap, topic, partitions)
    wait_topic_placed(cluster, topic, partitions, {1, 2, 3}, 3)
    views = partition_view_all(cluster, nodes, topic, partitions)
    led_by_jbod = [p for p, v in views.items() if v.leader == 1]
    # Every partition node 1 leads has its directory on one of its disks
    # (the shard owning it may still be opening it).
    cluster.wait_for(f"{topic}: node 1's partitions {led_by_jbod} on its disks",
                     lambda: (all(any((d / f"{topic}-{p}").is_dir() for d in disks)
                                  for p in led_by_jbod), None), TIMEOUT_S)
    on_failing = [p for p in led_by_jbod if (disks[1] / f"{topic}-{p}").is_dir()]
    on_healthy = [p for p in led_by_jbod if (disks[0] / f"{topic}-{p}").is_dir()]
    assert on_failing, f"node 1 leads {led_by_jbod}, none on the second disk"
    target = on_failing[0]
    before = keyed_messages(100, partition=target, tag="before")
    produce(nodes[1].bootstrap, topic, before)

    # The second disk goes away (renamed first: the broker may be writing).
    gone = disks[1].with_name("removed")
    disks[1].rename(gone)
    shutil.rmtree(gone, ignore_errors=True)
    # A file where the directory was, as a dead mount point would be: a
    # partition the broker opens meanwhile (the internal topics are still
    # being created) would otherwise recreate an empty directory, the probe
    # would find it writable, and the open files of the removed one keep
    # working, so nothing would ever fail.
    for _ in range(100):
        try:
            disks[1].write_bytes(b"")
            break
        except IsADirectoryError:  # recreated in between: remove it again
            shutil.rmtree(disks[1], ignore_errors=True)
    assert disks[1].is_file()

    def moved():
        seen = partition_view(cluster, nodes, topic, target)
        ok = all(v.leader not in (1, -1) and 1 not in v.isr and len(v.isr) == 2
                 for v in seen.values())
        return ok, seen
    cluster.wait_for(f"{topic}/{target}: led elsewhere, node 1 out of its ISR", moved, TIMEOUT_S)
    # The healthy directory's partitions stay with node 1.
    after = partition_view_all(cluster, nodes, topic, partitions)
    for p in on_healthy:
        assert after[p].leader == 1 and 1 in after[p].isr, (p, after[p])
    assert not cluster.node(1).exit_code(), "node 1 keeps running"
    row = describe_row(nodes[1], topic, target)
    assert row["Leader"] == str(after[target].leader), row
    assert "1" not in row["Isr"].split(","), row
    assert sorted(row["Isr"].split(",")) == sorted(str(b) for b in after[target].isr), row

    # acks=all produces go on through the new leader, nothing acknowledged
    # is lost.
    later = keyed_messages(100, partition=target, tag="later")
    produce(nodes[1].bootstrap, topic, later)
    got = consume_partition(nodes[1].bootstrap, topic, target, expect_count=200)
    assert got == expected(before + later, target)
    # The node reported it as the failed directory it is.
    assert "log directory failed" in jbod.log_text()


def partition_view_all(cluster: Cluster, asked: list[Node], topic: str, partitions: int):
    """partition -> the first asked node's view of it."""
    return listed_views(cluster, asked[:1], topic, list(range(partitions)))[asked[0].node_id]
