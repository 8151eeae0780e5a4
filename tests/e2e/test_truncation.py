"""Follower truncation by leader epochs (issue 14; Kafka's KIP-101,
KIP-279, KIP-595) and the high-watermark checkpoint.

A leader that wrote records (acks=1) its followers never fetched, and then
died, must lose that tail when it comes back as a follower of a leader that
took other writes at the same offsets: after OffsetForLeaderEpoch (or a
fetch's diverging epoch) its log is cut back to where its epoch ends on the
new leader, and it fetches the new leader's records. Every replica ends
with the same batches, byte for byte.

Three brokers and two controller-only voters (tests/e2e/cluster.py), run
twice: the brokers combined with controllers (two brokers down keep the
quorum of five, the third down loses it until one comes back), and
broker-only (stopping brokers never costs the quorum; a restarted
broker-only node must not take the partition directories its first,
partial image does not list yet for orphans). The tail is made
deterministic with the topic's unclean.leader.election.enable: both
followers are killed (fenced, out of the ISR), the leader takes acks=1
writes alone and is killed, then a follower without the tail is started and
elected (uncleanly) and takes writes.

A follower restarted afterwards resumes fetching at its log end: its
leader's fetched-bytes counter (skein_topic_bytes_out_total) grows by far
less than the log it already holds, and its log says no truncation.
"""

from __future__ import annotations

import re
import urllib.request

import pytest
from confluent_kafka.admin import NewTopic

from cluster import Cluster
from clients import TIMEOUT_S, admin, consume_partition, keyed_messages, produce, unique_topic
from test_cluster import (  # noqa: F401  (cluster_factory is a fixture)
    FENCE_TIMEOUT_S,
    TOPIC_TIMEOUT_S,
    cluster_factory,
    wait_topic_placed,
)
from test_replication import follower_log_bytes

# A log much larger than what a resumed follower fetches afterwards.
FIRST = 400
TAIL = 50
AFTER = 30
CONVERGE_TIMEOUT_S = 30.0


def log_batches(raw: bytes) -> bytes:
    """The whole v2 batches at the start of segment bytes, walked by their
    length fields (an active segment may end in preallocated zeros)."""
    out = []
    position = 0
    while position + 12 <= len(raw):
        length = int.from_bytes(raw[position + 8:position + 12], "big", signed=True)
        end = position + 12 + length
        if length <= 0 or end > len(raw):
            break
        out.append(raw[position:end])
        position = end
    return b"".join(out)


def replica_batches(cluster: Cluster, node_id: int, topic: str) -> bytes:
    return log_batches(follower_log_bytes(cluster, node_id, topic, 0))


def topic_bytes_out(cluster: Cluster, node_id: int, topic: str) -> int:
    """skein_topic_bytes_out_total of `topic` on `node_id` (0 before any)."""
    url = f"http://127.0.0.1:{cluster.node(node_id).admin_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    found = re.search(r'^\w*topic_bytes_out_total\{topic="' + re.escape(topic) + r'"\} (\d+)',
                      text, re.MULTILINE)
    return int(found.group(1)) if found else 0


def leader_of(cluster: Cluster, topic: str, asked) -> tuple[int, int]:
    """(leader, leader epoch) of partition 0 as every node in `asked` says."""
    views = cluster.metadata_from(asked, [topic])
    seen = set()
    for view in views.values():
        t = view.topics.get(topic)
        pv = t and t.partitions.get(0)
        seen.add((pv.leader, pv.leader_epoch) if pv else None)
    only = seen.pop() if len(seen) == 1 else None
    return only if only is not None else (-1, -1)


def wait_leader(cluster: Cluster, topic: str, asked, want: int, above_epoch: int) -> int:
    def probe():
        leader, epoch = leader_of(cluster, topic, asked)
        return leader == want and epoch > above_epoch, (leader, epoch)
    (_, epoch), _ = cluster.wait_for(f"node {want} leading {topic}/0 above epoch {above_epoch}",
                                     probe, FENCE_TIMEOUT_S + TOPIC_TIMEOUT_S)
    return epoch


def wait_identical(cluster: Cluster, topic: str, nodes, what: str) -> bytes:
    def probe():
        logs = {n: replica_batches(cluster, n, topic) for n in nodes}
        sizes = {n: len(b) for n, b in logs.items()}
        return len(set(logs.values())) == 1 and sizes[min(nodes)] > 0, sizes
    cluster.wait_for(what, probe, CONVERGE_TIMEOUT_S)
    return replica_batches(cluster, min(nodes), topic)


LAYOUTS = {
    "combined": ({"combined": 3, "controllers": 2}, {1, 2, 3}),
    "broker-only": ({"controllers": 2, "brokers": 3}, {3, 4, 5}),
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_dead_leaders_unreplicated_tail_is_truncated_and_replicas_end_identical(
        cluster_factory, layout):
    nodes, BROKERS = LAYOUTS[layout]  # noqa: N806 (the broker ids, fixed per layout)
    cluster = cluster_factory(**nodes)
    cluster.start()
    cluster.wait_ready(BROKERS)
    topic = unique_topic("truncation")
    a = admin(cluster.bootstrap())
    a.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3,
                              config={"unclean.leader.election.enable": "true"})],
                    operation_timeout=10, request_timeout=TIMEOUT_S)[topic].result(TIMEOUT_S)
    views = wait_topic_placed(cluster, topic, 1, BROKERS, 3)
    first_state = next(iter(views.values())).topics[topic].partitions[0]
    old_leader = first_state.leader
    followers = sorted(b for b in first_state.replicas if b != old_leader)
    new_leader, offline = followers

    # 1. Records every replica holds.
    first = keyed_messages(FIRST, partition=0, tag="first")
    delivered = produce(cluster.bootstrap(), topic, first, acks="all")
    assert [m.offset() for m in delivered] == list(range(FIRST))
    common = wait_identical(cluster, topic, BROKERS, "every replica holding the first records")

    # 2. Both followers die; the leader takes acks=1 writes alone.
    cluster.node(new_leader).kill()
    cluster.node(offline).kill()

    def isr_is_the_leader():
        views = cluster.metadata_from([cluster.node(old_leader)], [topic])
        pv = views[old_leader].topics[topic].partitions[0]
        return list(pv.isr) == [old_leader], pv
    cluster.wait_for("the ISR shrunk to the leader", isr_is_the_leader, FENCE_TIMEOUT_S)
    tail = keyed_messages(TAIL, partition=0, tag="tail")
    delivered = produce(cluster.node(old_leader).bootstrap, topic, tail, acks=1)
    assert [m.offset() for m in delivered] == list(range(FIRST, FIRST + TAIL))
    old_log = replica_batches(cluster, old_leader, topic)
    assert old_log.startswith(common) and len(old_log) > len(common)
    assert all(m["value"] in old_log for m in tail)

    # 3. The leader dies with that tail; a follower without it is elected
    #    (uncleanly: the ISR is the dead leader alone) and takes writes.
    cluster.node(old_leader).kill()
    cluster.node(new_leader).start()
    cluster.wait_ready({new_leader}, asked=[cluster.node(new_leader)])
    wait_leader(cluster, topic, [cluster.node(new_leader)], new_leader, first_state.leader_epoch)
    after = keyed_messages(AFTER, partition=0, tag="after")
    delivered = produce(cluster.node(new_leader).bootstrap, topic, after, acks=1)
    assert [m.offset() for m in delivered] == list(range(FIRST, FIRST + AFTER)), \
        "the new leader writes at the offsets of the lost tail"

    # 4. The old leader comes back as a follower: its divergent tail goes.
    #    The follower that was offline across those epochs comes back too.
    cluster.node(old_leader).start()
    cluster.node(offline).start()
    cluster.wait_ready(BROKERS)
    final = wait_identical(cluster, topic, BROKERS, "every replica with identical batches")
    assert final.startswith(common)
    assert not any(m["value"] in final for m in tail), "the dead leader's tail is gone everywhere"
    assert all(m["value"] in final for m in after)
    old_start = cluster.node(old_leader).log_of_last_start()
    assert "truncating a follower's divergent tail" in old_start, old_start[-3000:]

    got = consume_partition(cluster.bootstrap(), topic, 0, 0, expect_count=FIRST + AFTER)
    assert [m.value for m in got] == [m["value"] for m in first + after]
    assert [m.offset for m in got] == list(range(FIRST + AFTER))

    # 5. A follower restarted (clean stop: its high-watermark checkpoint is
    #    written) resumes fetching at its log end.
    restarted = offline
    leader_now, _ = leader_of(cluster, topic, cluster.running_brokers())
    assert leader_now == new_leader
    assert cluster.node(restarted).stop() == 0
    checkpoints = "".join(p.read_text() for p in
                          cluster.node(restarted).data_dir.glob("replication-offset-checkpoint.*"))
    assert f"{topic} 0 {FIRST + AFTER}\n" in checkpoints, checkpoints
    before = topic_bytes_out(cluster, leader_now, topic)
    cluster.node(restarted).start()
    cluster.wait_ready(BROKERS)
    more = keyed_messages(5, partition=0, tag="more")
    produce(cluster.node(leader_now).bootstrap, topic, more, acks="all")
    resumed = wait_identical(cluster, topic, BROKERS, "the restarted follower caught up")
    assert all(m["value"] in resumed for m in more)
    fetched = topic_bytes_out(cluster, leader_now, topic) - before
    # Both followers fetched the new records; neither refetched the log.
    assert 0 < fetched < len(final) // 2, (fetched, len(final))
    restarted_log = cluster.node(restarted).log_of_last_start()
    assert "truncating a follower's divergent tail" not in restarted_log
