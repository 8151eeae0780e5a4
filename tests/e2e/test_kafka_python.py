"""kafka-python (pure-Python client, its own protocol code) against a real broker."""

from __future__ import annotations

import threading
import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.coordinator.base import MemberState
from kafka.errors import InvalidSessionTimeoutError, TopicAlreadyExistsError

from clients import consume_partition, create_topic, expected, keyed_messages, unique_topic

TIMEOUT_S = 20


def kp_messages(n: int, partition: int, tag: str) -> list[dict]:
    # The shared generator, in kafka-python's spelling (timestamp_ms).
    return keyed_messages(n, partition=partition, tag=tag)


def read_all(bootstrap: str, topic: str, partition: int, count: int) -> list:
    c = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        client_id="skein-e2e-kafka-python", request_timeout_ms=30000,
    )
    try:
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        c.seek_to_beginning(tp)
        out = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(out) < count and time.monotonic() < deadline:
            for records in c.poll(timeout_ms=500).values():
                out.extend(records)
        assert len(out) == count, f"read {len(out)} of {count}"
        # Nothing more than what was written.
        assert c.poll(timeout_ms=300) == {}
        assert c.position(tp) == count
        return out
    finally:
        c.close()


def test_producer_consumer_keyed_with_headers_exact(broker):
    topic = unique_topic("kp")
    create_topic(broker.bootstrap, topic, 2)
    # Idempotence off: this test is about the data path; the defaults
    # (idempotent producer) have their own test below.
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5,
                      enable_idempotence=False, client_id="skein-e2e-kafka-python")
    sent = {0: kp_messages(6, 0, "kp0"), 1: kp_messages(4, 1, "kp1")}
    futures = []
    for part, msgs in sent.items():
        for m in msgs:
            futures.append(p.send(topic, value=m["value"], key=m["key"], headers=m["headers"],
                                  partition=part, timestamp_ms=m["timestamp"]))
    metas = [f.get(timeout=TIMEOUT_S) for f in futures]
    p.close()
    assert [(md.partition, md.offset) for md in metas] == [(0, i) for i in range(6)] + [(1, i) for i in range(4)]

    for part, msgs in sent.items():
        got = read_all(broker.bootstrap, topic, part, len(msgs))
        assert [(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers), r.timestamp, r.timestamp_type)
                for r in got] == [
            (topic, part, i, m["key"], m["value"], m["headers"], m["timestamp"], 0)
            for i, m in enumerate(msgs)
        ]
        # And librdkafka reads the same bytes.
        assert consume_partition(broker.bootstrap, topic, part, 0, expect_count=len(msgs)) == expected(msgs, part)


def test_default_producer_config_delivers(broker):
    # kafka-python 3 defaults to an idempotent producer (InitProducerId,
    # sequence numbers), as the Java client does: what a user gets with no
    # configuration at all.
    topic = unique_topic("kpdef")
    create_topic(broker.bootstrap, topic, 1)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap)
    msgs = kp_messages(5, 0, "default")
    futures = [p.send(topic, value=m["value"], key=m["key"], headers=m["headers"], partition=0,
                      timestamp_ms=m["timestamp"]) for m in msgs]
    assert [f.get(timeout=TIMEOUT_S).offset for f in futures] == list(range(5))
    p.close()
    assert consume_partition(broker.bootstrap, topic, 0, 0, expect_count=5) == expected(msgs, 0)


def test_acks_0_every_message_arrives(broker):
    topic = unique_topic("kp0")
    create_topic(broker.bootstrap, topic, 1)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=0)
    msgs = kp_messages(30, 0, "acks0")
    for m in msgs:
        p.send(topic, value=m["value"], key=m["key"], headers=m["headers"], partition=0,
               timestamp_ms=m["timestamp"])
    p.flush(TIMEOUT_S)
    p.close()
    deadline = time.monotonic() + 10
    while True:
        try:
            got = consume_partition(broker.bootstrap, topic, 0, 0, expect_count=30, timeout_s=2)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
    assert got == expected(msgs, 0)


def test_admin_create_and_delete_topic(broker):
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="skein-e2e-kafka-python")
    try:
        topic = unique_topic("kpadmin")
        a.create_topics({topic: {"num_partitions": 3, "replication_factor": 1}}, wait_for_metadata=True)
        # Every node lists it once it applied the new metadata (at once on
        # one node; a moment later on the others of a cluster, as in Kafka).
        deadline = time.monotonic() + TIMEOUT_S
        while topic not in a.list_topics():
            assert time.monotonic() < deadline, f"{topic} not listed after create"
            time.sleep(0.1)
        [desc] = a.describe_topics([topic])
        assert desc["name"] == topic
        assert sorted(p["partition_index"] for p in desc["partitions"]) == [0, 1, 2]

        with pytest.raises(TopicAlreadyExistsError):
            a.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})

        a.delete_topics([topic])
        deadline = time.monotonic() + TIMEOUT_S
        while topic in a.list_topics():
            assert time.monotonic() < deadline, f"{topic} still listed after delete"
            time.sleep(0.1)
    finally:
        a.close()


# ---------------------------------------------------------------- groups
#
# kafka-python's own tests/integration test_group: consumers started at once
# in threads must reach one stable generation with a full, non-overlapping
# assignment within 15 s.

STABLE_WITHIN_S = 15


class GroupMember:
    """A kafka-python group consumer polling in its own thread, keeping what
    it read; `error` holds whatever ended its thread early."""

    def __init__(self, bootstrap: str, group: str, topic: str, index: int, **conf):
        self.values: list[bytes] = []
        self.error: Exception | None = None
        self._stop = threading.Event()
        self.consumer = KafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=group,
            client_id=f"consumer_thread-{index}", auto_offset_reset="earliest", **conf,
        )
        self._thread = threading.Thread(target=self._run, name=f"consumer_thread-{index}", daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for records in self.consumer.poll(timeout_ms=200).values():
                    self.values.extend(r.value for r in records)
        except Exception as e:  # surfaced by the test
            self.error = e

    def stable_assignment(self) -> tuple[int, str, set[TopicPartition]] | None:
        """(generation, member id, assignment) once this member is stable,
        else None."""
        meta = self.consumer.group_metadata()
        assignment = self.consumer.assignment()
        if meta.state is not MemberState.STABLE or not assignment:
            return None
        return meta.generation_id, meta.member_id, set(assignment)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), f"{self._thread.name} did not stop"
        self.consumer.close(timeout_ms=2000)


def start_members(bootstrap: str, group: str, topic: str, n: int, **conf) -> list[GroupMember]:
    # Construct first (each probes the broker), then start every poll loop at
    # once so the members join together.
    members = [GroupMember(bootstrap, group, topic, i, **conf) for i in range(n)]
    for m in members:
        m._thread.start()
    return members


def wait_stable(members: list[GroupMember], topic: str, partitions: int) -> list[str]:
    """Waits up to STABLE_WITHIN_S for one generation in which every member
    is stable and each partition is owned by exactly one member; returns the
    member ids."""
    deadline = time.monotonic() + STABLE_WITHIN_S
    while True:
        errors = [m.error for m in members if m.error is not None]
        assert not errors, errors
        states = [m.stable_assignment() for m in members]
        if all(states) and len({g for g, _, _ in states}) == 1:
            owned = [tp for _, _, assignment in states for tp in assignment]
            assert sorted(owned) == [TopicPartition(topic, p) for p in range(partitions)], states
            return [member_id for _, member_id, _ in states]
        assert time.monotonic() < deadline, f"group not stable within {STABLE_WITHIN_S}s: {states}"
        time.sleep(0.1)


def produce_values(bootstrap: str, topic: str, partitions: int, count: int) -> list[bytes]:
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    values = [f"v-{i}".encode() for i in range(count)]
    futures = [p.send(topic, value=v, partition=i % partitions) for i, v in enumerate(values)]
    p.flush(timeout=TIMEOUT_S)
    for f in futures:
        f.get(timeout=TIMEOUT_S)
    p.close()
    return values


def test_consumers_started_at_once_with_defaults_stabilise_and_read_everything_once(broker):
    # The broker's defaults (group.initial.rebalance.delay.ms=3000) and the
    # client's (45 s sessions, 3 s heartbeats, 5 min rebalance timeout,
    # JoinGroup with the MEMBER_ID_REQUIRED round trip); only the reset
    # policy is set, to read what was produced before the group formed.
    partitions, count = 4, 400
    topic, group = unique_topic("kpgroup"), unique_topic("kpgroup")
    create_topic(broker.bootstrap, topic, partitions)
    produced = produce_values(broker.bootstrap, topic, partitions, count)
    members = start_members(broker.bootstrap, group, topic, 4)
    try:
        ids = wait_stable(members, topic, partitions)
        assert len(set(ids)) == 4
        deadline = time.monotonic() + TIMEOUT_S
        while sum(len(m.values) for m in members) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # nothing more than produced arrives
        read = [v for m in members for v in m.values]
        assert sorted(read) == sorted(produced)
        # Nobody fell out of the group meanwhile.
        assert wait_stable(members, topic, partitions) == ids
    finally:
        for m in members:
            m.stop()


def test_kafka_python_test_group_settings_need_the_lowered_minimum_session_timeout(broker_factory):
    # kafka-python's test_group asks for 3000 ms sessions; its test broker
    # sets group.min.session.timeout.ms=1000. With Kafka's default minimum
    # (6000) the join is refused, as Kafka refuses it.
    conf = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 500, "request_timeout_ms": 4000}
    default = broker_factory()
    topic = unique_topic("kpgroup")
    create_topic(default.bootstrap, topic, 1)
    c = KafkaConsumer(topic, bootstrap_servers=default.bootstrap, group_id=unique_topic("kpgroup"), **conf)
    try:
        with pytest.raises(InvalidSessionTimeoutError):
            deadline = time.monotonic() + TIMEOUT_S
            while time.monotonic() < deadline:
                c.poll(timeout_ms=200)
    finally:
        c.close(timeout_ms=2000)

    lowered = broker_factory({"group.min.session.timeout.ms": "1000"})
    partitions = 4
    topic, group = unique_topic("kpgroup"), unique_topic("kpgroup")
    create_topic(lowered.bootstrap, topic, partitions)
    members = start_members(lowered.bootstrap, group, topic, 4, **conf)
    try:
        ids = wait_stable(members, topic, partitions)
        # 500 ms heartbeats keep the 3 s sessions: nobody expires.
        time.sleep(4.0)
        assert wait_stable(members, topic, partitions) == ids
    finally:
        for m in members:
            m.stop()
