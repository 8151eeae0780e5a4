"""The consumer group protocol of KIP-848 with librdkafka
(`group.protocol=consumer`): server-side assignment, incremental
reconciliation, members leaving and joining, committed offsets resumed by
other members and after a broker restart.

Every member's on_assign/on_revoke/on_lost callback updates one shared
ownership map; a partition assigned to a member while another still owns it
fails the test at that moment. Members are polled in turn from the test's
thread, so the callbacks (which librdkafka runs inside poll) never race.
"""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient

import kafka_wire as w
from clients import (
    common_conf,
    create_topic,
    produce,
    unique_topic,
)

TIMEOUT_S = 60.0


class Ownership:
    """(topic, partition) → member, as the members' callbacks report it."""

    def __init__(self) -> None:
        self.owner: dict[tuple[str, int], str] = {}
        self.events: list[tuple[float, str, str, list[tuple[str, int]]]] = []

    def assign(self, member: str, partitions: list[tuple[str, int]]) -> None:
        self.events.append((time.monotonic(), member, "assign", partitions))
        for p in partitions:
            holder = self.owner.get(p)
            assert holder is None or holder == member, (
                f"partition {p} assigned to {member} while {holder} owns it; "
                f"events: {self.events[-10:]}"
            )
            self.owner[p] = member

    def release(self, member: str, partitions: list[tuple[str, int]], how: str) -> None:
        self.events.append((time.monotonic(), member, how, partitions))
        for p in partitions:
            assert self.owner.get(p) == member, (
                f"{member} {how} partition {p} owned by {self.owner.get(p)}"
            )
            del self.owner[p]

    def of(self, member: str) -> set[tuple[str, int]]:
        return {p for p, m in self.owner.items() if m == member}


class Member:
    """One librdkafka consumer in the group, polled by the test."""

    def __init__(self, name: str, bootstrap: str, group: str, topic: str,
                 ownership: Ownership, **conf) -> None:
        self.name = name
        self.ownership = ownership
        self.seen: list[tuple[int, int]] = []
        self.consumer = Consumer({
            **common_conf(bootstrap),
            "client.id": name,
            "group.id": group,
            "group.protocol": "consumer",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            **conf,
        })
        self.consumer.subscribe(
            [topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    def _on_assign(self, _consumer, partitions) -> None:
        self.ownership.assign(self.name, [(tp.topic, tp.partition) for tp in partitions])

    def _on_revoke(self, consumer, partitions) -> None:
        # As applications do: commit what was consumed before letting go, so
        # the next owner resumes exactly there.
        self._commit(consumer, partitions)
        self.ownership.release(self.name, [(tp.topic, tp.partition) for tp in partitions], "revoke")

    @staticmethod
    def _commit(consumer, partitions) -> None:
        positions = [tp for tp in consumer.position(partitions) if tp.offset >= 0]
        if positions:
            consumer.commit(offsets=positions, asynchronous=False)

    def _on_lost(self, _consumer, partitions) -> None:
        self.ownership.release(self.name, [(tp.topic, tp.partition) for tp in partitions], "lost")

    def poll(self, timeout_s: float = 0.05) -> None:
        msg = self.consumer.poll(timeout_s)
        if msg is None:
            return
        if msg.error():
            raise KafkaException(msg.error())
        self.seen.append((msg.partition(), msg.offset()))

    def commit(self) -> None:
        self._commit(self.consumer, self.consumer.assignment())

    def close(self) -> None:
        self.consumer.close()


def poll_until(members: list[Member], predicate, what: str,
               timeout_s: float = TIMEOUT_S) -> float:
    """Polls every member in turn until `predicate()`; returns the seconds
    it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out waiting for {what}")
        for m in members:
            m.poll()
    return time.monotonic() - start


def balanced(ownership: Ownership, members: list[Member], partitions: int) -> bool:
    counts = [len(ownership.of(m.name)) for m in members]
    return (sum(counts) == partitions
            and max(counts) - min(counts) <= 1
            and min(counts) >= 1)


def produce_round(bootstrap: str, topic: str, partitions: int, per_partition: int,
                  tag: str) -> None:
    msgs = [
        {"partition": p, "key": f"{tag}-{p}-{i}".encode(), "value": b"v"}
        for p in range(partitions)
        for i in range(per_partition)
    ]
    produce(bootstrap, topic, msgs)


def all_seen(members: list[Member]) -> list[tuple[int, int]]:
    return sorted(pos for m in members for pos in m.seen)


def test_two_members_share_hand_over_and_resume_committed_offsets(broker):
    topic, group, partitions = unique_topic(), unique_topic("g848"), 6
    create_topic(broker.bootstrap, topic, partitions)
    produce_round(broker.bootstrap, topic, partitions, 10, "r1")
    ownership = Ownership()
    a = Member("member-a", broker.bootstrap, group, topic, ownership)
    poll_until([a], lambda: len(ownership.of("member-a")) == partitions,
               "the first member to own every partition")
    b = Member("member-b", broker.bootstrap, group, topic, ownership)
    members = [a, b]
    poll_until(members, lambda: balanced(ownership, members, partitions),
               "two members to own three partitions each")
    poll_until(members, lambda: len(all_seen(members)) >= 60, "the first 60 records")
    for m in members:
        m.commit()
    # Exactly once each: partitions moved only after their owner let go.
    assert all_seen(members) == [(p, o) for p in range(partitions) for o in range(10)]

    # a leaves: b takes its partitions and resumes from a's commits.
    a.close()
    assert ownership.of("member-a") == set()
    produce_round(broker.bootstrap, topic, partitions, 5, "r2")
    poll_until([b], lambda: len(ownership.of("member-b")) == partitions,
               "the remaining member to own every partition")
    poll_until([b], lambda: len(all_seen(members)) >= 90, "the next 30 records")
    assert all_seen(members) == [(p, o) for p in range(partitions) for o in range(15)]
    b.commit()

    # c joins: b gives up half, c gets exactly those.
    c = Member("member-c", broker.bootstrap, group, topic, ownership)
    members = [b, c]
    poll_until(members, lambda: balanced(ownership, members, partitions),
               "b and c to own three partitions each")
    produce_round(broker.bootstrap, topic, partitions, 1, "r3")
    poll_until(members, lambda: len(all_seen([a, b, c])) >= 96, "the last 6 records")
    assert all_seen([a, b, c]) == [(p, o) for p in range(partitions) for o in range(16)]
    for m in members:
        m.close()
    assert ownership.owner == {}


def test_five_members_one_leaves_and_one_joins(broker):
    topic, group, partitions = unique_topic(), unique_topic("g848"), 10
    create_topic(broker.bootstrap, topic, partitions)
    ownership = Ownership()
    members: list[Member] = []
    for i in range(5):
        members.append(Member(f"m{i}", broker.bootstrap, group, topic, ownership))
    poll_until(members, lambda: all(len(ownership.of(m.name)) == 2 for m in members),
               "five members with two partitions each")
    leaver = members.pop(2)
    leaver.close()
    poll_until(members, lambda: balanced(ownership, members, partitions),
               "four members to share the ten partitions")
    members.append(Member("m5", broker.bootstrap, group, topic, ownership))
    poll_until(members, lambda: all(len(ownership.of(m.name)) == 2 for m in members),
               "five members again with two each")
    produce_round(broker.bootstrap, topic, partitions, 3, "r1")
    poll_until(members, lambda: len(all_seen(members)) >= 30, "30 records")
    assert all_seen(members) == [(p, o) for p in range(partitions) for o in range(3)]
    # The group as ConsumerGroupDescribe shows it.
    admin = AdminClient(common_conf(broker.bootstrap))
    described = admin.describe_consumer_groups([group])[group].result(timeout=20)
    assert len(described.members) == 5
    assert str(described.type).endswith("CONSUMER")
    for m in members:
        m.close()


def test_group_resumes_from_committed_offsets_after_a_broker_restart(broker):
    topic, group, partitions = unique_topic(), unique_topic("g848"), 3
    create_topic(broker.bootstrap, topic, partitions)
    produce_round(broker.bootstrap, topic, partitions, 4, "r1")
    ownership = Ownership()
    a = Member("member-a", broker.bootstrap, group, topic, ownership)
    poll_until([a], lambda: len(a.seen) >= 12, "the first 12 records")
    a.commit()
    events_before = len(ownership.events)
    broker.restart()
    # The coordinator reloads the group from __consumer_offsets: a goes on
    # heartbeating at its epoch, keeps its partitions and is never fenced
    # (no revoke, lost or assign callback).
    produce_round(broker.bootstrap, topic, partitions, 2, "r2")
    poll_until([a], lambda: len(a.seen) >= 18, "6 more records after the restart")
    for _ in range(20):
        a.poll(0.1)
    assert ownership.events[events_before:] == []
    assert sorted(a.seen) == [(p, o) for p in range(partitions) for o in range(6)]
    a.commit()
    a.close()
    # A new member resumes exactly from a's commits.
    produce_round(broker.bootstrap, topic, partitions, 1, "r3")
    b = Member("member-b", broker.bootstrap, group, topic, ownership)
    poll_until([b], lambda: len(b.seen) >= 3, "the 3 newest records")
    for _ in range(10):
        b.poll(0.1)
    assert sorted(b.seen) == [(p, 6) for p in range(partitions)]
    admin = AdminClient(common_conf(broker.bootstrap))
    described = admin.describe_consumer_groups([group])[group].result(timeout=20)
    assert [m.client_id for m in described.members] == ["member-b"]
    b.close()


def test_list_groups_shows_types_and_a_classic_member_cannot_join_a_consumer_group(broker):
    from confluent_kafka import ConsumerGroupType, KafkaError

    topic, partitions = unique_topic(), 2
    create_topic(broker.bootstrap, topic, partitions)
    new_group, classic_group = unique_topic("g848"), unique_topic("gclassic")
    ownership = Ownership()
    a = Member("member-a", broker.bootstrap, new_group, topic, ownership)
    poll_until([a], lambda: len(ownership.of("member-a")) == partitions, "an assignment")
    classic = Consumer({**common_conf(broker.bootstrap), "group.id": classic_group,
                        "group.protocol": "classic"})
    classic.subscribe([topic])
    # A classic member asking to join the consumer group is refused with
    # INCONSISTENT_GROUP_PROTOCOL, as Kafka 4 answers without migration.
    intruder = Consumer({**common_conf(broker.bootstrap), "group.id": new_group,
                         "group.protocol": "classic"})
    intruder.subscribe([topic])
    errors = []
    deadline = time.monotonic() + TIMEOUT_S
    while not errors and time.monotonic() < deadline:
        msg = intruder.poll(0.1)
        if msg is not None and msg.error():
            errors.append(msg.error().code())
        classic.poll(0.05)
        a.poll()
    assert errors == [KafkaError.INCONSISTENT_GROUP_PROTOCOL]
    intruder.close()
    poll_until([a], lambda: classic.assignment() or classic.poll(0.1) or classic.assignment(),
               "the classic group to form")
    admin = AdminClient(common_conf(broker.bootstrap))

    def listed(**kwargs):
        result = admin.list_consumer_groups(**kwargs).result(timeout=20)
        return {g.group_id: g for g in result.valid}

    both = listed()
    assert both[new_group].type == ConsumerGroupType.CONSUMER
    assert both[classic_group].type == ConsumerGroupType.CLASSIC
    assert set(listed(types={ConsumerGroupType.CONSUMER})) == {new_group}
    assert classic_group in listed(types={ConsumerGroupType.CLASSIC})
    assert new_group not in listed(types={ConsumerGroupType.CLASSIC})
    # The member's own group stays untouched by the intruder.
    assert len(ownership.of("member-a")) == partitions
    a.close()
    classic.close()


def test_regex_subscription_picks_up_topics_created_later(broker):
    prefix = unique_topic("rx")
    first = f"{prefix}-one"
    create_topic(broker.bootstrap, first, 2)
    ownership = Ownership()
    a = Member("member-a", broker.bootstrap, unique_topic("g848"), f"^{prefix}-.*", ownership)
    poll_until([a], lambda: len(a.consumer.assignment()) == 2, "the first topic's partitions")
    second = f"{prefix}-two"
    create_topic(broker.bootstrap, second, 3)
    poll_until([a], lambda: len(a.consumer.assignment()) == 5,
               "the new matching topic's partitions too")
    assert {tp.topic for tp in a.consumer.assignment()} == {first, second}
    a.close()


def api_version_ranges(broker) -> dict[int, tuple[int, int]]:
    resp = w.request(broker.port, w.header_v1(w.API_VERSIONS, 0, 7) + b"")
    assert resp[:4] == w.i32(7)
    _, ranges = w.parse_api_versions_v0(resp[4:])
    return ranges


def test_api_versions_advertises_the_consumer_protocol_only_when_enabled(broker_factory):
    enabled = broker_factory()
    ranges = api_version_ranges(enabled)
    assert ranges[68] == (0, 1)  # ConsumerGroupHeartbeat
    assert ranges[69] == (0, 1)  # ConsumerGroupDescribe
    classic_only = broker_factory({"group.coordinator.rebalance.protocols": "classic"})
    ranges = api_version_ranges(classic_only)
    assert 68 not in ranges and 69 not in ranges
    assert ranges[11] == (0, 9)  # JoinGroup still served
