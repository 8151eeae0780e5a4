"""A consumer's fetch session on a replicated partition sees its high
watermark move (issues 14 and the fetch-session work of the parity issue).

An incremental fetch whose session's last answer was empty may skip its
reads until a log of the shard changes (net/src/fetch_session.rs, "idle
polls touch no partition"). On a partition with followers the records a
consumer may read end at the high watermark, which moves when a follower's
fetch reports its log end: that is a change too, or a consumer with a
session (the Java client, kafka-python) would not see records the leader
already counts as committed until some other log of the shard moved or
the quiet mark expired (seconds).

Raw Fetch v7 requests (kafka_wire.py) against the leader of a partition
with two followers; one follower is paused with SIGSTOP so the high
watermark stays behind the log end while the session goes quiet, then
resumed so that the high watermark moves with no other change on the
leader. Each broker runs one data shard (`--cores 0`), so the session and
the partition share a shard, as the quiet rule requires.
"""

from __future__ import annotations

import time

import pytest

import kafka_wire as w
from clients import keyed_messages, produce, unique_topic
from test_cluster import cluster_factory, wait_topic_placed  # noqa: F401  (a fixture)
from test_fetch_sessions import FetchConnection, summary
from test_isr import BROKERS, create_topic_with_min_isr

HIGH_WATERMARK_TIMEOUT_S = 20.0


def wait_high_watermark(port: int, topic: str, partition: int, offset: int) -> None:
    """Waits until a sessionless fetch of `partition` reports the high
    watermark `offset`."""
    probe = FetchConnection(port)
    try:
        deadline = time.monotonic() + HIGH_WATERMARK_TIMEOUT_S
        while True:
            error, _, parts = probe.fetch(0, -1, [(topic, partition, 0)])
            assert error == w.NONE
            [(_, _, high_watermark, _)] = summary(parts)
            if high_watermark == offset:
                return
            assert time.monotonic() < deadline, f"high watermark {high_watermark}, waiting for {offset}"
            time.sleep(0.05)
    finally:
        probe.close()


@pytest.mark.timeout(180)
def test_an_idle_session_sees_the_high_watermark_move(cluster_factory):
    cluster = cluster_factory(controllers=3, brokers=3, cores="0", properties={
        # The paused follower stays in the ISR: the high watermark waits for it.
        "replica.lag.time.max.ms": "60000",
        "broker.session.timeout.ms": "60000",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
    })
    cluster.start()
    cluster.wait_ready(BROKERS)
    topic = unique_topic("rfs")
    create_topic_with_min_isr(cluster.bootstrap(), topic, 2)
    views = wait_topic_placed(cluster, topic, 1, BROKERS, 3)
    state = next(iter(views.values())).topics[topic].partitions[0]
    leader = cluster.node(state.leader)
    follower = cluster.node(next(b for b in state.replicas if b != state.leader))
    delivered = produce(leader.bootstrap, topic, keyed_messages(1, partition=0, tag="first"), acks="all")
    assert [m.offset() for m in delivered] == [0]

    session = FetchConnection(leader.client_port)
    try:
        # A session at the log end; an incremental fetch finds nothing new
        # and marks the session quiet.
        error, session_id, parts = session.fetch(0, 0, [(topic, 0, 1)])
        assert (error, summary(parts)) == (w.NONE, [(0, 0, 1, 0)])
        assert session_id > 0
        error, _, parts = session.fetch(session_id, 1, max_wait_ms=200)
        assert (error, parts) == (w.NONE, [])

        # With a follower paused, a record moves the leader's log end (and
        # its durable end) but not the high watermark: the session reads,
        # finds nothing it may return, and goes quiet again, after that
        # change.
        follower.pause()
        try:
            delivered = produce(leader.bootstrap, topic, keyed_messages(1, partition=0, tag="second"), acks=1)
            assert [m.offset() for m in delivered] == [1]
            error, _, parts = session.fetch(session_id, 2, max_wait_ms=300)
            assert (error, parts) == (w.NONE, [])
        finally:
            follower.resume()
        # The follower catches up: the high watermark moves, nothing else.
        wait_high_watermark(leader.client_port, topic, 0, 2)

        # The session's next fetch answers the record at once.
        started = time.monotonic()
        error, _, parts = session.fetch(session_id, 3, max_wait_ms=2000)
        waited = time.monotonic() - started
        assert (error, summary(parts)) == (w.NONE, [(0, 0, 2, 1)]), f"after {waited:.2f} s"
    finally:
        session.close()
