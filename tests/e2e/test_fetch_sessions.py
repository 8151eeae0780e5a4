"""Incremental fetch sessions (KIP-227).

Raw Fetch v7 requests (hand-encoded in kafka_wire.py) pin down the session
rules as Kafka has them: epoch 0 opens a session, an incremental fetch
answers only partitions with something new, forgotten partitions leave the
session, epoch -1 closes it, and a wrong session id or epoch gets
FETCH_SESSION_ID_NOT_FOUND (70) or INVALID_FETCH_SESSION_EPOCH (71). Then
kafka-python, which opens fetch sessions, consumes many partitions through
one session and gets every record exactly once.

librdkafka (2.16) never opens a fetch session: it always sends session 0
and epoch -1 (rdkafka_fetcher.c), so its fetches stay sessionless full
fetches, which the rest of the suite covers.

The raw tests run the broker on one core: sessions live on the shard of the
connection that opened them, and the slot limit is per shard.
"""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition

import kafka_wire as w
from clients import create_topic, keyed_messages, produce, unique_topic

TIMEOUT_S = 30


class FetchConnection:
    """One connection sending Fetch v7 requests in order."""

    def __init__(self, port: int):
        self.sock = w.connect(port)
        self.correlation_id = 0

    def fetch(self, session_id: int, epoch: int, partitions=(), forgotten=(), **kwargs):
        self.correlation_id += 1
        body = w.fetch_v7_body(session_id, epoch, list(partitions), list(forgotten), **kwargs)
        w.send_all(self.sock, w.frame(w.header_v1(w.FETCH, 7, self.correlation_id) + body))
        response = w.read_frame(self.sock)
        assert response[:4] == w.i32(self.correlation_id)
        return w.parse_fetch_v7(response[4:])

    def close(self):
        self.sock.close()


def summary(partitions):
    """[(partition, error, high_watermark, record count)] of a parsed response."""
    return [
        (index, error, high_watermark, sum(count for _, _, count, _, _ in w.batch_headers(records)))
        for _, index, error, high_watermark, _, records in partitions
    ]


def test_incremental_fetches_answer_only_what_changed(broker_factory):
    broker = broker_factory(cores="0")
    topic = unique_topic("fs")
    create_topic(broker.bootstrap, topic, 4)
    produce(broker.bootstrap, topic, keyed_messages(3, partition=1, tag="a"))
    produce(broker.bootstrap, topic, keyed_messages(2, partition=2, tag="b"))
    conn = FetchConnection(broker.port)
    try:
        # Full fetch, epoch 0: every partition answered, a session opened.
        error, session_id, parts = conn.fetch(0, 0, [(topic, p, 0) for p in range(4)])
        assert error == w.NONE
        assert session_id > 0
        assert summary(parts) == [(0, 0, 0, 0), (1, 0, 3, 3), (2, 0, 2, 2), (3, 0, 0, 0)]

        # Epoch 1 moves partitions 1 and 2 to their ends: nothing is new.
        error, sid, parts = conn.fetch(session_id, 1, [(topic, 1, 3), (topic, 2, 2)])
        assert (error, sid, parts) == (w.NONE, session_id, [])

        # New records on partition 3 only: it alone is answered, although the
        # request names no partition.
        produce(broker.bootstrap, topic, keyed_messages(4, partition=3, tag="c"))
        error, sid, parts = conn.fetch(session_id, 2)
        assert (error, sid) == (w.NONE, session_id)
        assert [(name, *row) for name, row in zip([p[0] for p in parts], summary(parts))] == [
            (topic, 3, 0, 4, 4)
        ]

        # The client moves partition 3 on and forgets partition 0; records
        # then written to partition 0 are no longer fetched.
        produce(broker.bootstrap, topic, keyed_messages(1, partition=0, tag="d"))
        error, sid, parts = conn.fetch(session_id, 3, [(topic, 3, 4)], forgotten=[(topic, 0)])
        assert (error, sid, parts) == (w.NONE, session_id, [])

        # A duplicate of epoch 3 is refused; the session still expects 4.
        error, sid, parts = conn.fetch(session_id, 3)
        assert (error, sid, parts) == (w.INVALID_FETCH_SESSION_EPOCH, 0, [])
        error, sid, parts = conn.fetch(session_id, 4)
        assert (error, sid, parts) == (w.NONE, session_id, [])

        # Epoch -1 closes the session: a full fetch answered without one.
        error, sid, parts = conn.fetch(session_id, -1, [(topic, 1, 0)])
        assert (error, sid) == (w.NONE, 0)
        assert summary(parts) == [(1, 0, 3, 3)]
        error, sid, parts = conn.fetch(session_id, 5)
        assert (error, sid, parts) == (w.FETCH_SESSION_ID_NOT_FOUND, 0, [])
    finally:
        conn.close()


def test_an_unknown_session_is_not_found(broker_factory):
    broker = broker_factory(cores="0")
    conn = FetchConnection(broker.port)
    try:
        assert conn.fetch(123456, 1) == (w.FETCH_SESSION_ID_NOT_FOUND, 0, [])
        # Session id 0 with a positive epoch names no session either.
        assert conn.fetch(0, 1) == (w.FETCH_SESSION_ID_NOT_FOUND, 0, [])
    finally:
        conn.close()


def test_a_session_can_be_continued_on_another_connection_of_its_shard(broker_factory):
    broker = broker_factory(cores="0")
    topic = unique_topic("fs")
    create_topic(broker.bootstrap, topic, 1)
    first = FetchConnection(broker.port)
    try:
        _, session_id, _ = first.fetch(0, 0, [(topic, 0, 0)])
        assert session_id > 0
    finally:
        first.close()
    produce(broker.bootstrap, topic, keyed_messages(2, partition=0, tag="e"))
    second = FetchConnection(broker.port)
    try:
        error, sid, parts = second.fetch(session_id, 1)
        assert (error, sid) == (w.NONE, session_id)
        assert summary(parts) == [(0, 0, 2, 2)]
    finally:
        second.close()


def test_a_full_cache_gives_no_session_until_one_is_stale(broker_factory):
    # One slot; a session idle for more than 1 s may be evicted.
    broker = broker_factory(cores="0", settings={
        "max.incremental.fetch.session.cache.slots": "1",
        "min.incremental.fetch.session.eviction.ms": "1000",
    })
    topic = unique_topic("fs")
    create_topic(broker.bootstrap, topic, 1)
    conn = FetchConnection(broker.port)
    try:
        _, first, _ = conn.fetch(0, 0, [(topic, 0, 0)])
        assert first > 0
        # The cache is full and the first session is young: no session.
        error, second, parts = conn.fetch(0, 0, [(topic, 0, 0)])
        assert (error, second, summary(parts)) == (w.NONE, 0, [(0, 0, 0, 0)])
        time.sleep(1.5)
        # Now the first session is stale and makes room.
        _, third, _ = conn.fetch(0, 0, [(topic, 0, 0)])
        assert third > 0 and third != first
        assert conn.fetch(first, 1) == (w.FETCH_SESSION_ID_NOT_FOUND, 0, [])
        assert conn.fetch(third, 1)[:2] == (w.NONE, third)
    finally:
        conn.close()


def rows(records) -> list[tuple]:
    """kafka-python records as (partition, offset, key, value, timestamp)."""
    return [(r.partition, r.offset, r.key, r.value, r.timestamp) for r in records]


def expected_rows(messages: list[dict], partition: int) -> list[tuple]:
    return [(partition, i, m["key"], m["value"], m["timestamp"]) for i, m in enumerate(messages)]


def test_kafka_python_consumes_many_partitions_through_one_session(broker):
    partitions = 200
    topic = unique_topic("fs-kp")
    create_topic(broker.bootstrap, topic, partitions)
    written = {p: keyed_messages(2, partition=p, tag=f"p{p}") for p in range(0, partitions, 10)}
    produce(broker.bootstrap, topic, [m for msgs in written.values() for m in msgs])
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False,
        client_id="skein-e2e-fetch-sessions", fetch_max_wait_ms=100,
    )
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)

        def read(count: int) -> dict[int, list]:
            got: dict[int, list] = {}
            deadline = time.monotonic() + TIMEOUT_S
            while sum(map(len, got.values())) < count and time.monotonic() < deadline:
                for tp, records in consumer.poll(timeout_ms=200).items():
                    got.setdefault(tp.partition, []).extend(records)
            return got

        got = read(2 * len(written))
        assert sorted(got) == sorted(written)
        for p, msgs in written.items():
            assert rows(got[p]) == expected_rows(msgs, p), f"partition {p}"

        # The consumer polls idle partitions through its session for a
        # while: the broker keeps the session and answers incrementally.
        for _ in range(10):
            assert consumer.poll(timeout_ms=100) == {}
        handlers = consumer._fetcher._session_handlers
        assert handlers, "kafka-python opened no fetch session"
        metadata = next(iter(handlers.values())).next_metadata
        assert metadata.session_id > 0
        assert metadata.epoch > 1

        # Records written now, to one partition, arrive through the session.
        later = keyed_messages(3, partition=57, tag="late")
        produce(broker.bootstrap, topic, later)
        got = read(3)
        assert list(got) == [57]
        assert rows(got[57]) == expected_rows(later, 57)
        assert next(iter(handlers.values())).next_metadata.session_id == metadata.session_id
    finally:
        consumer.close()
