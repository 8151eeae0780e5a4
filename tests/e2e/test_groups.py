"""Consumer groups end to end: the real `skein serve` binary driven by
librdkafka (confluent-kafka), kafka-python and kcat group consumers.

Covers: sharing partitions and taking over a leaving member's partitions
with an exact message set; committed offsets equal consumed positions;
resuming from commits after a graceful restart and after kill -9; static
membership; cooperative-sticky; admin list/describe/delete groups and
alter/list offsets; `__consumer_offsets` is internal.

Rebalances are kept fast with group.initial.rebalance.delay.ms=0 and short
client session timeouts.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import clients

try:
    from confluent_kafka import ConsumerGroupTopicPartitions
except ImportError:  # older confluent-kafka
    ConsumerGroupTopicPartitions = None

GROUP_SETTINGS = {"group.initial.rebalance.delay.ms": "0"}
TIMEOUT_S = 30.0


@pytest.fixture
def skein(broker_factory):
    """A broker whose groups rebalance at once (conftest stops it with
    SIGTERM at teardown and asserts exit code 0)."""
    return broker_factory(GROUP_SETTINGS)


# ---------------------------------------------------------------- helpers


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    client = admin(bootstrap)  # kept alive until the result is in
    futures = client.create_topics([NewTopic(topic, partitions, 1)])
    futures[topic].result(TIMEOUT_S)


def produce(bootstrap: str, topic: str, partitions: int, count: int, tag: str) -> set[bytes]:
    """Produces `count` unique values round-robin over the partitions."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    values = set()
    errors = []
    for i in range(count):
        value = f"{tag}-{i}".encode()
        values.add(value)
        p.produce(topic, value=value, partition=i % partitions,
                  on_delivery=lambda err, msg: err and errors.append(err))
        p.poll(0)
    assert p.flush(TIMEOUT_S) == 0
    assert not errors, errors
    return values


def group_consumer(bootstrap: str, group: str, **conf) -> Consumer:
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "topic.metadata.refresh.interval.ms": 2000,
        **conf,
    })


class Member:
    """A group consumer that records what it read and commits after every
    poll that returned records (so its commits equal its positions)."""

    def __init__(self, bootstrap: str, group: str, topic: str, **conf):
        self.assigned_count = 0
        self.consumer = group_consumer(bootstrap, group, **conf)
        self.values: list[bytes] = []
        self.consumer.subscribe([topic], on_assign=self._on_assign)

    def _on_assign(self, consumer, partitions):
        self.assigned_count += 1

    def poll(self, timeout: float = 0.1) -> None:
        msgs = self.consumer.consume(100, timeout)
        got = False
        for m in msgs:
            if m.error():
                assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                continue
            self.values.append(m.value())
            got = True
        if got:
            self.consumer.commit(asynchronous=False)

    def partitions(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}

    def close(self) -> None:
        self.consumer.close()


def poll_until(members: list[Member], condition, timeout_s: float = TIMEOUT_S, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for m in members:
            m.poll(0.05)
        if condition():
            return
    raise AssertionError(f"timed out waiting for {what}: "
                         f"assignments {[sorted(m.partitions()) for m in members]}, "
                         f"read {[len(m.values) for m in members]}")


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("probe")})
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    c.close()
    return ends


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    c = group_consumer(bootstrap, group)
    tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=TIMEOUT_S)
    c.close()
    return {tp.partition: tp.offset for tp in tps}


def read_group(bootstrap: str, group: str, topic: str, count: int, **conf) -> list[bytes]:
    m = Member(bootstrap, group, topic, **conf)
    poll_until([m], lambda: len(m.values) >= count, what=f"{count} records")
    # Nothing more than expected arrives.
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        m.poll(0.1)
    m.close()
    return m.values


# ---------------------------------------------------------------- tests


def test_three_members_share_partitions_and_take_over_after_a_leave(skein):
    bootstrap = skein.bootstrap
    topic, group = unique("share"), unique("group")
    create_topic(bootstrap, topic, 6)
    produced = produce(bootstrap, topic, 6, 600, "a")
    members = [Member(bootstrap, group, topic) for _ in range(3)]
    poll_until(members, lambda: sorted(len(m.partitions()) for m in members) == [2, 2, 2]
               and sum(len(m.values) for m in members) >= 600, what="three members with 2 partitions each")
    assert set().union(*(m.partitions() for m in members)) == set(range(6))
    leaving = members.pop()
    leaving.close()
    produced |= produce(bootstrap, topic, 6, 600, "b")
    poll_until(members, lambda: sorted(len(m.partitions()) for m in members) == [3, 3]
               and len(set().union(*(set(m.values) for m in members + [leaving]))) >= 1200,
               what="two members with 3 partitions each and every record")
    consumed = [v for m in members + [leaving] for v in m.values]
    assert set(consumed) == produced
    # Commits after every poll: a takeover re-reads nothing that was committed.
    assert len(consumed) == len(produced), f"{len(consumed) - len(produced)} duplicates"
    assert committed(bootstrap, group, topic, 6) == end_offsets(bootstrap, topic, 6)
    if ConsumerGroupTopicPartitions is not None:
        client = admin(bootstrap)
        listed = client.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
        offsets = listed[group].result(TIMEOUT_S).topic_partitions
        assert {tp.partition: tp.offset for tp in offsets} == end_offsets(bootstrap, topic, 6)
    for m in members:
        m.close()


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "kill9"])
def test_group_resumes_from_its_commits_after_a_broker_restart(skein, kill):
    bootstrap = skein.bootstrap
    topic, group = unique("restart"), unique("group")
    create_topic(bootstrap, topic, 3)
    first = produce(bootstrap, topic, 3, 90, "first")
    assert set(read_group(bootstrap, group, topic, 90)) == first
    before = committed(bootstrap, group, topic, 3)
    assert before == end_offsets(bootstrap, topic, 3)
    skein.restart(kill=kill)
    assert committed(bootstrap, group, topic, 3) == before
    second = produce(bootstrap, topic, 3, 30, "second")
    assert sorted(read_group(bootstrap, group, topic, 30)) == sorted(second)


def test_static_member_rejoins_with_its_partitions_without_rebalancing_others(skein):
    bootstrap = skein.bootstrap
    topic, group = unique("static"), unique("group")
    create_topic(bootstrap, topic, 6)
    conf = {"session.timeout.ms": 10000}
    a = Member(bootstrap, group, topic, **{"group.instance.id": "a", **conf})
    b = Member(bootstrap, group, topic, **{"group.instance.id": "b", **conf})
    poll_until([a, b], lambda: len(a.partitions()) == 3 and len(b.partitions()) == 3,
               what="two static members with 3 partitions each")
    a_partitions = a.partitions()
    b_assigns = b.assigned_count
    a.close()  # a static member does not leave the group on close
    a = Member(bootstrap, group, topic, **{"group.instance.id": "a", **conf})
    poll_until([a, b], lambda: a.partitions() == a_partitions, what="a to get its partitions back")
    end = time.monotonic() + 2
    while time.monotonic() < end:
        for m in (a, b):
            m.poll(0.05)
    assert b.assigned_count == b_assigns, "the other static member was rebalanced"
    assert b.partitions() == set(range(6)) - a_partitions
    a.close()
    b.close()


def test_cooperative_sticky_members_share_and_read_everything(skein):
    bootstrap = skein.bootstrap
    topic, group = unique("coop"), unique("group")
    create_topic(bootstrap, topic, 4)
    produced = produce(bootstrap, topic, 4, 200, "c")
    conf = {"partition.assignment.strategy": "cooperative-sticky"}
    first = Member(bootstrap, group, topic, **conf)
    poll_until([first], lambda: len(first.partitions()) == 4, what="first member owning everything")
    second = Member(bootstrap, group, topic, **conf)
    both = [first, second]
    poll_until(both, lambda: len(first.partitions()) == 2 and len(second.partitions()) == 2
               and len(set(first.values) | set(second.values)) >= 200, what="a 2/2 split")
    assert set(first.values) | set(second.values) == produced
    for m in both:
        m.close()


def test_kafka_python_group_consumer_commits_what_it_read(skein):
    kafka = pytest.importorskip("kafka")
    bootstrap = skein.bootstrap
    topic, group = unique("kpy"), unique("group")
    create_topic(bootstrap, topic, 2)
    produced = produce(bootstrap, topic, 2, 40, "k")
    consumer = kafka.KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500,
        consumer_timeout_ms=1000,
    )
    values = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(values) < 40 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            values.extend(r.value for r in records)
    consumer.commit()
    consumer.close()
    assert sorted(values) == sorted(produced)
    assert committed(bootstrap, group, topic, 2) == end_offsets(bootstrap, topic, 2)


def test_kcat_group_consumer_commits_on_exit(skein):
    kcat = shutil.which("kcat")
    if kcat is None:
        pytest.skip("kcat not installed")
    bootstrap = skein.bootstrap
    topic, group = unique("kcat"), unique("group")
    create_topic(bootstrap, topic, 2)
    produced = produce(bootstrap, topic, 2, 20, "kc")
    argv = [kcat, "-b", bootstrap, "-G", group, "-X", "auto.offset.reset=earliest", "-e", "-q", topic]
    out = subprocess.run(argv, capture_output=True, timeout=TIMEOUT_S, check=True).stdout
    assert set(out.split()) == produced
    assert committed(bootstrap, group, topic, 2) == end_offsets(bootstrap, topic, 2)
    # A second run of the same group starts at the commits: nothing to read.
    out = subprocess.run(argv, capture_output=True, timeout=TIMEOUT_S, check=True).stdout
    assert out.split() == []


@pytest.mark.skipif(ConsumerGroupTopicPartitions is None, reason="confluent-kafka too old")
def test_admin_lists_describes_alters_and_deletes_groups(skein):
    from confluent_kafka import ConsumerGroupState

    bootstrap = skein.bootstrap
    topic, group = unique("adm"), unique("group")
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, 2, 10, "x")
    member = Member(bootstrap, group, topic)
    poll_until([member], lambda: len(member.values) == 10, what="10 records")
    a = admin(bootstrap)
    listed = a.list_consumer_groups().result(TIMEOUT_S)
    assert group in {g.group_id for g in listed.valid}
    described = a.describe_consumer_groups([group])[group].result(TIMEOUT_S)
    assert described.state == ConsumerGroupState.STABLE
    assert len(described.members) == 1
    assert {tp.partition for tp in described.members[0].assignment.topic_partitions} == {0, 1}
    # A group with members cannot be deleted.
    with pytest.raises(KafkaException) as refused:
        a.delete_consumer_groups([group])[group].result(TIMEOUT_S)
    assert refused.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
    member.close()
    # Offsets of an empty group can be altered, and read back.
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 1), TopicPartition(topic, 1, 2)])
    a.alter_consumer_group_offsets([request])[group].result(TIMEOUT_S)
    offsets = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(TIMEOUT_S)
    assert sorted((tp.partition, tp.offset) for tp in offsets.topic_partitions) == [(0, 1), (1, 2)]
    a.delete_consumer_groups([group])[group].result(TIMEOUT_S)
    listed = a.list_consumer_groups().result(TIMEOUT_S)
    assert group not in {g.group_id for g in listed.valid}
    assert committed(bootstrap, group, topic, 2) == {0: -1001, 1: -1001}


def test_consumer_offsets_is_an_internal_topic_clients_cannot_delete(skein):
    a = admin(skein.bootstrap)
    metadata = a.list_topics(timeout=TIMEOUT_S)
    assert "__consumer_offsets" in metadata.topics
    assert len(metadata.topics["__consumer_offsets"].partitions) == 50
    with pytest.raises(KafkaException):
        a.delete_topics(["__consumer_offsets"])["__consumer_offsets"].result(TIMEOUT_S)
    assert "__consumer_offsets" in a.list_topics(timeout=TIMEOUT_S).topics


def test_kafka_python_admin_fetches_several_groups_and_deletes_offsets(skein):
    kafka = pytest.importorskip("kafka")
    from kafka.admin import KafkaAdminClient
    from kafka.structs import OffsetAndMetadata

    bootstrap = skein.bootstrap
    topic = unique("kpa")
    groups = [unique("group"), unique("group")]
    create_topic(bootstrap, topic, 2)
    client = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        tp0, tp1 = kafka.TopicPartition(topic, 0), kafka.TopicPartition(topic, 1)
        for i, group in enumerate(groups):
            client.alter_group_offsets(group, {
                tp0: OffsetAndMetadata(10 + i, "meta", -1),
                tp1: OffsetAndMetadata(20 + i, "", -1),
            })
        # One OffsetFetch (v8+) for both groups.
        fetched = client.list_group_offsets({group: None for group in groups})
        for i, group in enumerate(groups):
            assert {tp: om.offset for tp, om in fetched[group].items()} == {tp0: 10 + i, tp1: 20 + i}
        assert fetched[groups[0]][tp0].metadata == "meta"
        # OffsetDelete on an empty group drops just that partition.
        results = client.delete_group_offsets(groups[0], [tp0])
        assert results[tp0] is kafka.errors.NoError
        remaining = client.list_group_offsets({groups[0]: None})[groups[0]]
        assert {tp: om.offset for tp, om in remaining.items()} == {tp1: 20}
        listed = {g["group_id"]: g["group_state"] for g in client.list_groups()}
        assert {group: listed.get(group) for group in groups} == {group: "Empty" for group in groups}
        assert set(client.delete_groups(groups).values()) == {"OK"}
        assert not set(groups) & {g["group_id"] for g in client.list_groups()}
    finally:
        client.close()


def read_n(c: Consumer, n: int, timeout_s: float = 30) -> list:
    out = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        assert m.error() is None or m.error().code() == KafkaError._PARTITION_EOF, m.error()
        if m.error() is None:
            out.append(clients.to_msg(m))
    assert len(out) == n, f"read {len(out)} of {n}"
    return out


def test_subscribe_reads_everything_then_resumes_from_committed_offset(broker):
    topic = clients.unique_topic("grp")
    group = clients.unique_topic("group")
    clients.create_topic(broker.bootstrap, topic, 1)
    first = clients.keyed_messages(6, partition=0, tag="first")
    clients.produce(broker.bootstrap, topic, first)

    c = group_consumer(broker.bootstrap, group, **clients.common_conf(broker.bootstrap))
    c.subscribe([topic])
    assert read_n(c, 6) == clients.expected(first, 0)
    c.commit(asynchronous=False)
    [tp] = c.committed([TopicPartition(topic, 0)], timeout=10)
    assert tp.offset == 6
    c.close()

    second = clients.keyed_messages(3, partition=0, tag="second")
    clients.produce(broker.bootstrap, topic, second)
    c = group_consumer(broker.bootstrap, group, **clients.common_conf(broker.bootstrap))
    c.subscribe([topic])
    # A new member of the same group starts at the committed offset.
    assert read_n(c, 3) == clients.expected(second, 0, first_offset=6)
    c.close()
