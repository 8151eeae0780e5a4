"""Durability across restarts: graceful (SIGTERM) and crash (SIGKILL).

Under the default flush policy an acknowledged acks=all produce is on disk,
so after kill -9 every acknowledged message must come back, byte for byte,
at the offset it was acknowledged with, and new appends continue densely.
"""

from __future__ import annotations

import threading
import time

from confluent_kafka.admin import ConfigResource, ResourceType

from clients import (
    TIMEOUT_S,
    admin,
    consume_partition,
    create_topic,
    expected,
    keyed_messages,
    produce,
    producer,
    unique_topic,
    wait_for_topic,
)


def seed(broker) -> dict:
    """Two topics (3 and 1 partitions, one with a config override), keyed
    messages with headers in every partition. Returns what was written."""
    multi, single = unique_topic("multi"), unique_topic("single")
    create_topic(broker.bootstrap, multi, 3, {"retention.ms": "3600000"})
    create_topic(broker.bootstrap, single, 1)
    written = {}
    for p in range(3):
        msgs = keyed_messages(4 + p, partition=p, tag=f"multi{p}")
        produce(broker.bootstrap, multi, msgs)
        written[(multi, p)] = msgs
    msgs = keyed_messages(25, partition=0, tag="single")
    produce(broker.bootstrap, single, msgs)
    written[(single, 0)] = msgs
    return written


def verify_and_extend(broker, written: dict) -> None:
    """Everything written is back exactly; appends continue densely."""
    topics = {t for t, _ in written}
    for t in topics:
        wait_for_topic(broker.bootstrap, t, sum(1 for tt, _ in written if tt == t))
    for (t, p), msgs in written.items():
        got = consume_partition(broker.bootstrap, t, p, 0, expect_count=len(msgs))
        assert got == expected(msgs, p), f"{t}/{p} after restart"
    # Topic configs survive too.
    [multi] = [t for t in topics if t.startswith("multi")]
    res = ConfigResource(ResourceType.TOPIC, multi)
    a = admin(broker.bootstrap)  # keep the handle alive until the future resolves
    configs = a.describe_configs([res])[res].result(TIMEOUT_S)
    assert configs["retention.ms"].value == "3600000"
    # New appends get the next offsets, densely.
    for (t, p), msgs in written.items():
        more = keyed_messages(3, partition=p, tag=f"more-{t}-{p}")
        delivered = produce(broker.bootstrap, t, more)
        n = len(msgs)
        assert [d.offset() for d in delivered] == [n, n + 1, n + 2], f"{t}/{p}"
        got = consume_partition(broker.bootstrap, t, p, 0, expect_count=n + 3)
        assert got == expected(msgs, p) + expected(more, p, first_offset=n)


def test_graceful_restart_keeps_topics_and_data(broker):
    written = seed(broker)
    broker.restart()
    verify_and_extend(broker, written)
    # And once more, now that the log has segments from two runs.
    broker.restart()
    for (t, p), msgs in written.items():
        got = consume_partition(broker.bootstrap, t, p, 0, expect_count=len(msgs) + 3)
        assert got[: len(msgs)] == expected(msgs, p)


def test_kill_9_keeps_every_acknowledged_message(broker):
    written = seed(broker)
    broker.restart(kill=True)
    verify_and_extend(broker, written)


def test_kill_9_during_produce_keeps_acknowledged_prefix(broker):
    """A producer streams acks=all messages (one request in flight, no
    retries, so the log can only hold a prefix of what was sent); the
    broker is killed mid-stream. After restart the partition holds exactly
    sent[0:k] for some k >= the number of acknowledged messages."""
    topic = unique_topic("crash")
    create_topic(broker.bootstrap, topic, 1)
    p = producer(broker.bootstrap, **{
        "max.in.flight.requests.per.connection": 1,
        "retries": 0,
        "linger.ms": 2,
        "message.timeout.ms": 5000,
    })
    sent: list[dict] = []
    acked: dict[int, int] = {}  # offset -> index in sent
    lock = threading.Lock()
    stop = threading.Event()

    def on_delivery(i):
        def cb(err, msg):
            if err is None:
                with lock:
                    acked[msg.offset()] = i
        return cb

    def run():
        i = 0
        while not stop.is_set() and i < 200_000:
            m = {"key": f"k{i}".encode(), "value": f"crash-value-{i}".encode() * 4,
                 "headers": [("i", str(i).encode())], "timestamp": 1_700_000_000_000 + i, "partition": 0}
            try:
                p.produce(topic, on_delivery=on_delivery(i), **m)
            except BufferError:
                p.poll(0.01)
                continue
            sent.append(m)
            i += 1
            p.poll(0)

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 2000:
        assert time.monotonic() < deadline, f"only {len(acked)} acks in 30s"
        assert t.is_alive()
        time.sleep(0.01)
    broker.kill()
    stop.set()
    t.join(10)
    # Drop whatever is still queued so that it can never reach the restarted
    # broker; outcomes of in-flight requests stay unknown, which is allowed.
    p.purge()
    p.poll(0.5)
    p.flush(0)
    with lock:
        acked_snapshot = dict(acked)
    # Acknowledged offsets are dense from 0 and in send order.
    assert sorted(acked_snapshot) == list(range(len(acked_snapshot)))
    assert all(acked_snapshot[o] == o for o in acked_snapshot)

    broker.start()
    got = consume_partition(broker.bootstrap, topic, 0, 0, expect_count=len(acked_snapshot), timeout_s=60)
    assert len(got) >= len(acked_snapshot), f"lost acknowledged messages: {len(got)} < {len(acked_snapshot)}"
    assert len(got) <= len(sent)
    assert got == expected(sent[: len(got)], 0), "log is not an exact prefix of what was sent"
    # And appends continue right after the recovered end.
    more = keyed_messages(2, partition=0, tag="after-crash")
    delivered = produce(broker.bootstrap, topic, more)
    assert [d.offset() for d in delivered] == [len(got), len(got) + 1]
