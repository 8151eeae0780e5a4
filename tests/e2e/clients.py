"""Shared confluent-kafka (librdkafka) helpers for the end-to-end tests.

Reads use assign() with explicit offsets, never subscribe(): consumer
groups are not part of what these tests depend on. librdkafka insists on a
group.id even for assign(); it is set but never joined, and auto commit is
off so no offsets are ever committed.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT_S = 20.0
# The broker returns this timestamp type for producer-set timestamps.
TIMESTAMP_CREATE_TIME = 1


def unique_topic(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Msg:
    """A message as the tests compare it: exact bytes, headers in order."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp: int
    timestamp_type: int = TIMESTAMP_CREATE_TIME


def common_conf(bootstrap: str) -> dict:
    return {
        "bootstrap.servers": bootstrap,
        "client.id": "skein-e2e-confluent",
        # Fail fast instead of waiting out librdkafka's long defaults.
        "socket.timeout.ms": 10000,
        "topic.metadata.refresh.interval.ms": 5000,
    }


def producer(bootstrap: str, **conf) -> Producer:
    return Producer({
        **common_conf(bootstrap),
        "acks": "all",
        "linger.ms": 5,
        "enable.idempotence": False,
        "message.timeout.ms": 15000,
        **conf,
    })


def admin(bootstrap: str) -> AdminClient:
    return AdminClient(common_conf(bootstrap))


def consumer(bootstrap: str, **conf) -> Consumer:
    return Consumer({
        **common_conf(bootstrap),
        "group.id": "skein-e2e-unused-group",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "fetch.wait.max.ms": 100,
        **conf,
    })


def produce(bootstrap: str, topic: str, messages: list[dict], **conf) -> list:
    """Produces each message (dict of produce() kwargs) and waits for every
    delivery report. Returns the delivered confluent Message objects in send
    order; raises AssertionError naming the first delivery error."""
    p = producer(bootstrap, **conf)
    reports: list = [None] * len(messages)

    def on_delivery(i):
        def cb(err, msg):
            reports[i] = (err, msg)
        return cb

    for i, m in enumerate(messages):
        p.produce(topic, on_delivery=on_delivery(i), **m)
        p.poll(0)
    remaining = p.flush(TIMEOUT_S)
    assert remaining == 0, f"{remaining} messages still in flight after {TIMEOUT_S}s"
    out = []
    for i, r in enumerate(reports):
        assert r is not None, f"no delivery report for message {i}"
        err, msg = r
        assert err is None, f"delivery of message {i} failed: {err}"
        out.append(msg)
    return out


def to_msg(m) -> Msg:
    ts_type, ts = m.timestamp()
    headers = tuple((k, v) for k, v in (m.headers() or []))
    return Msg(m.partition(), m.offset(), m.key(), m.value(), headers, ts, ts_type)


def consume_partition(bootstrap: str, topic: str, partition: int, start_offset: int = 0,
                      expect_count: int | None = None, timeout_s: float = TIMEOUT_S,
                      **conf) -> list[Msg]:
    """Reads `topic`/`partition` from `start_offset` (or OFFSET_BEGINNING)
    until end of partition, via assign(). Returns every message read.
    If expect_count is given, reading stops once that many have arrived or
    end-of-partition is reached after them. `conf` is extra consumer
    configuration (librdkafka reads read_committed by default)."""
    c = consumer(bootstrap, **conf)
    try:
        c.assign([TopicPartition(topic, partition, start_offset)])
        out: list[Msg] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    if expect_count is None or len(out) >= expect_count:
                        return out
                    continue
                raise AssertionError(f"consume {topic}/{partition}: {err}")
            out.append(to_msg(m))
        try:
            watermarks = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=5, cached=False)
        except Exception as e:  # only for the message below
            watermarks = f"unavailable: {e}"
        raise AssertionError(
            f"consume {topic}/{partition} from {start_offset}: no end of partition within "
            f"{timeout_s}s; got {len(out)} messages (offsets {[x.offset for x in out][:20]}); "
            f"watermarks (low, high) {watermarks}; librdkafka retries fetch errors silently: "
            f"`kcat -C -d fetch` shows them"
        )
    finally:
        c.close()


def create_topic(bootstrap: str, topic: str, partitions: int = 1, config: dict | None = None) -> None:
    a = admin(bootstrap)
    futures = a.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=10, request_timeout=TIMEOUT_S,
    )
    futures[topic].result(TIMEOUT_S)
    wait_for_topic(bootstrap, topic, partitions)


def wait_until(predicate, what: str, timeout_s: float = TIMEOUT_S):
    """Polls `predicate` every 0.1 s until it returns something truthy, which
    is returned; fails the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.1)


def wait_for_topic(bootstrap: str, topic: str, partitions: int, timeout_s: float = TIMEOUT_S) -> None:
    """Waits until metadata lists `topic` with exactly `partitions`
    partitions, each with a leader."""
    a = admin(bootstrap)
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        md = a.list_topics(topic=topic, timeout=TIMEOUT_S)
        t = md.topics.get(topic)
        last = t
        if t is not None and t.error is None and len(t.partitions) == partitions and all(
            p.leader >= 0 for p in t.partitions.values()
        ):
            return
        time.sleep(0.1)
    raise AssertionError(f"topic {topic} not ready with {partitions} partitions: {last and last.partitions} {last and last.error}")


def kafka_error_code(exc: BaseException) -> int:
    """The KafkaError code carried by an admin future's exception."""
    assert isinstance(exc, KafkaException), f"expected KafkaException, got {exc!r}"
    return exc.args[0].code()


def keyed_messages(n: int, partition: int | None = None, base_ts: int = 1_700_000_000_000,
                   tag: str = "m") -> list[dict]:
    """n keyed messages with headers (one of them a null-valued header) and
    explicit, distinct millisecond timestamps."""
    out = []
    for i in range(n):
        m = {
            "key": f"{tag}-key-{i}".encode(),
            "value": f"{tag}-value-{i}-".encode() + bytes([i % 256, 0, 255]),
            "headers": [("idx", str(i).encode()), ("tag", tag.encode()), ("empty", b"")],
            "timestamp": base_ts + i * 1000,
        }
        if partition is not None:
            m["partition"] = partition
        out.append(m)
    return out


def expected(messages: list[dict], partition: int, first_offset: int = 0) -> list[Msg]:
    return [
        Msg(partition, first_offset + i, m["key"], m["value"],
            tuple((k, v) for k, v in m["headers"]), m["timestamp"])
        for i, m in enumerate(messages)
    ]


def assert_healthy(broker) -> None:
    """The broker process is alive and a fresh librdkafka client can create
    a topic, produce to it and read exactly that back."""
    assert broker.alive(), f"broker process died (exit code {broker.proc.returncode}; broker log below)"
    topic = unique_topic("health")
    create_topic(broker.bootstrap, topic, 1)
    msgs = keyed_messages(3, partition=0, tag="health")
    produce(broker.bootstrap, topic, msgs)
    got = consume_partition(broker.bootstrap, topic, 0, 0, expect_count=3)
    assert got == expected(msgs, 0), got
    assert broker.alive()


__all__ = [
    "OFFSET_BEGINNING", "KafkaError", "KafkaException", "TopicPartition", "Msg",
    "TIMESTAMP_CREATE_TIME", "TIMEOUT_S",
]
