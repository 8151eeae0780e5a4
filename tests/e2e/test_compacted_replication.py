"""A follower catches up from a compacted leader (issue 14).

A leader's log cleaner removes whole batches, so a follower that was away
while it ran fetches batches with gaps between them, and an answer that
starts past the offset it asked for. Kafka's follower keeps those gaps; a
follower that insisted on dense offsets would refuse the answer forever and
never rejoin the ISR (what Skein did before).

Three controller-only voters and three brokers (as in test_isr.py), so
pausing and killing brokers never costs the quorum its majority.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import NewTopic

from clients import admin, consume_partition, produce, unique_topic
from test_cluster import cluster_factory, wait_topic_placed  # noqa: F401  (a fixture)
from test_isr import LAG_MAX_MS, wait_isr

BROKERS = {4, 5, 6}
KEYS = [f"key-{k}".encode() for k in range(5)]
# How long the leader's cleaner and the follower's catch-up may take on a
# loaded 2-core CI machine.
DEADLINE_S = 60.0


@pytest.mark.timeout(300)
def test_a_follower_away_while_its_leader_compacted_catches_up_and_serves_the_compacted_log(
        cluster_factory):
    cluster = cluster_factory(controllers=3, brokers=3, properties={
        "replica.lag.time.max.ms": str(LAG_MAX_MS),
        "broker.session.timeout.ms": "30000",
        "log.cleaner.backoff.ms": "200",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
    })
    cluster.start()
    cluster.wait_ready(BROKERS)
    topic = unique_topic("compacted-rf3")
    a = admin(cluster.bootstrap())
    a.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3, config={
        "cleanup.policy": "compact",
        "segment.bytes": "4096",
        "min.cleanable.dirty.ratio": "0.01",
        "min.insync.replicas": "2",
    })], operation_timeout=10, request_timeout=30)[topic].result(30)
    views = wait_topic_placed(cluster, topic, 1, BROKERS, 3)
    state = next(iter(views.values())).topics[topic].partitions[0]
    leader = cluster.node(state.leader)
    away, other = [cluster.node(b) for b in state.replicas if b != state.leader]

    # The follower is away (paused) from the first record on: it holds
    # nothing, and fetches from offset 0 when it is back.
    away.pause()
    latest: dict[bytes, tuple[int, bytes]] = {}
    for round_ in range(40):
        batch = [{"key": KEYS[i % len(KEYS)], "value": f"value-{round_}-{i}".encode(), "partition": 0}
                 for i in range(25)]
        for m in produce(leader.bootstrap, topic, batch, acks="all", **{"linger.ms": 0}):
            latest[m.key()] = (m.offset(), m.value())
    # Unique keys after them, more than a segment: every record of the five
    # keys above is in a sealed segment, which the cleaner compacts.
    tail: list[tuple[int, bytes, bytes]] = []
    for round_ in range(3):
        batch = [{"key": f"tail-{round_}-{i}".encode(), "value": b"t" * 24, "partition": 0}
                 for i in range(60)]
        for m in produce(leader.bootstrap, topic, batch, acks="all", **{"linger.ms": 0}):
            tail.append((m.offset(), m.key(), m.value()))
    expected = sorted([(offset, key, value) for key, (offset, value) in latest.items()] + tail)
    assert len(expected) == len(KEYS) + 180

    def served(node) -> list[tuple[int, bytes, bytes]]:
        return [(m.offset, m.key, m.value) for m in consume_partition(node.bootstrap, topic, 0)]

    # The leader compacts: offset 0 and most batches after it are gone.
    cluster.wait_for("the leader's log compacted", lambda: (served(leader) == expected, None), DEADLINE_S)

    # Back: the follower fetches from 0, is answered from the first batch
    # the cleaner kept (and batches with gaps between them), keeps them,
    # catches up and rejoins the ISR.
    away.resume()
    wait_isr(cluster, topic, 0, BROKERS, [leader, other])

    # Only the follower that was away is left: it leads and serves exactly
    # the compacted log, offsets and contents.
    leader.kill()
    other.kill()
    cluster.wait_for(f"broker {away.node_id} leads {topic}/0",
                     lambda: (cluster.metadata_from([away], [topic])[away.node_id]
                              .topics[topic].partitions[0].leader == away.node_id, None), DEADLINE_S)
    deadline = time.monotonic() + DEADLINE_S
    seen = served(away)
    while seen != expected and time.monotonic() < deadline:
        # Its own cleaner may still be compacting what it fetched before the
        # leader's had finished; it never loses a latest value.
        assert set(expected) <= set(seen), f"records lost: {sorted(set(expected) - set(seen))[:5]}"
        time.sleep(0.5)
        seen = served(away)
    assert seen == expected
