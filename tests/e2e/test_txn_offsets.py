"""Transactional offset commits (issue 15) where they cross nodes and
restarts, with confluent-kafka's transactional producer and consumers.

* The group's coordinator (the leader of its __consumer_offsets
  partition) on another node than the transactional id's coordinator (the
  leader of its __transaction_state partition): the transaction
  coordinator's WriteTxnMarkers reach the group's partition on the group
  coordinator's node, which then makes the offsets committed (commit) or
  drops them (abort), as Kafka's `onTransactionCompleted`.
* KIP-447's `require_stable`: while a transaction holds offsets of a
  partition, OffsetFetch v7+ with require_stable answers that partition
  UNSTABLE_OFFSET_COMMIT (88), and librdkafka's read_committed consumer
  (which sets it) waits for the transaction instead of reading a stale
  offset; read_uncommitted sees the last committed offset.
* An open transaction with sent offsets across a kill -9 of the group
  coordinator: the reload finds the offsets as a transactional batch
  without a marker and holds them pending (Kafka's loader), so the
  transaction's later commit makes them visible and its abort on timeout
  drops them.

Both coordinators are chosen as Kafka chooses them:
abs(String.hashCode(id)) % 50, then that partition's leader.
"""

from __future__ import annotations

import threading
import time

from confluent_kafka import TopicPartition

import kafka_wire as kw

from clients import TIMEOUT_S, consumer, create_topic, producer, unique_topic, wait_until
from test_cluster import (  # noqa: F401  (cluster_factory is a fixture)
    TOPIC_TIMEOUT_S,
    cluster_factory,
    wait_topic_placed,
)
from test_cluster import create_topic as create_cluster_topic
from test_transactions import BROKER_SETTINGS, describe, state_name, txn_producer

OFFSETS_TOPIC = "__consumer_offsets"
STATE_TOPIC = "__transaction_state"
INTERNAL_PARTITIONS = 50
NO_OFFSET = -1001
UNSTABLE_OFFSET_COMMIT = 88


def java_string_hash(s: str) -> int:
    """Java's String.hashCode (UTF-16 code units, 32-bit wrap-around)."""
    h = 0
    data = s.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + int.from_bytes(data[i:i + 2], "big")) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def coordinator_partition(key: str, partitions: int = INTERNAL_PARTITIONS) -> int:
    """Kafka's Utils.abs(key.hashCode) % partitions (abs(MIN_VALUE) is 0)."""
    h = java_string_hash(key)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def committed_offset(bootstrap: str, group: str, topic: str, partition: int = 0,
                     isolation: str = "read_uncommitted") -> int:
    """What a fresh consumer of `group` finds committed (OffsetFetch).
    read_committed makes librdkafka set require_stable, so it waits while
    a transaction holds offsets of the partition."""
    c = consumer(bootstrap, **{"group.id": group, "isolation.level": isolation})
    try:
        [tp] = c.committed([TopicPartition(topic, partition)], timeout=TIMEOUT_S)
        return tp.offset
    finally:
        c.close()


def first_offset_read(bootstrap: str, group: str, topic: str) -> int:
    """The offset of the first record a fresh consumer of `group` reads
    from partition 0 when it starts at the committed offset."""
    c = consumer(bootstrap, **{"group.id": group})
    try:
        c.assign([TopicPartition(topic, 0)])
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                return m.offset()
        raise AssertionError("the fresh consumer read nothing")
    finally:
        c.close()


def consume(c, n: int) -> list:
    """The next `n` records from the consumer's assignment."""
    got = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m)
    assert len(got) == n, f"read {len(got)} of {n}"
    return got


def transform(p, c, out: str, n: int, commit: bool) -> int:
    """One consume-transform-produce transaction: reads `n` records, writes
    their upper-cased values to `out`, sends the position after them as
    the group's offset, then commits or aborts; returns that position."""
    records = consume(c, n)
    p.begin_transaction()
    for m in records:
        p.produce(out, value=m.value().upper(), partition=0)
    position = records[-1].offset() + 1
    p.send_offsets_to_transaction([TopicPartition(records[-1].topic(), 0, position)],
                                  c.consumer_group_metadata(), TIMEOUT_S)
    if commit:
        p.commit_transaction(TIMEOUT_S)
    else:
        p.abort_transaction(TIMEOUT_S)
    return position


def wait_transaction_state(bootstrap: str, tid: str, state: str, timeout_s: float = 30):
    def reached():
        d = describe(bootstrap, tid)
        return d if state_name(d) == state else None

    return wait_until(reached, f"transaction {tid} in state {state}", timeout_s=timeout_s)


def test_offsets_commit_where_the_group_and_transaction_coordinators_are_on_different_nodes(
        cluster_factory):
    cluster = cluster_factory(combined=3, properties=BROKER_SETTINGS)
    cluster.start()
    cluster.wait_ready({1, 2, 3})
    bootstrap = cluster.bootstrap()
    # The leaders as the wait saw them: a fresh Metadata request may land on
    # a data shard still taking the image (it swaps the image after opening
    # its partitions' logs) and miss partitions, as seen in a full e2e run.
    first = cluster.running_brokers()[0].node_id
    offsets_leaders, state_leaders = (
        wait_topic_placed(cluster, internal, INTERNAL_PARTITIONS, {1, 2, 3}, 3,
                          timeout_s=TOPIC_TIMEOUT_S * 2)[first].leaders(internal)
        for internal in (OFFSETS_TOPIC, STATE_TOPIC))
    prefix = unique_topic("ctp")
    group = next(f"{prefix}-group-{i}" for i in range(1000))
    group_coordinator = offsets_leaders[coordinator_partition(group)]
    tid = next(t for t in (f"{prefix}-tid-{i}" for i in range(1000))
               if state_leaders[coordinator_partition(t)] != group_coordinator)
    txn_coordinator = state_leaders[coordinator_partition(tid)]
    assert group_coordinator != txn_coordinator

    topic, out = f"{prefix}-in", f"{prefix}-out"
    for name in (topic, out):
        create_cluster_topic(bootstrap, name, partitions=1, replication_factor=3)
        wait_topic_placed(cluster, name, 1, {1, 2, 3}, 3)
    plain = producer(bootstrap)
    for i in range(12):
        plain.produce(topic, value=b"v%d" % i, partition=0)
    assert plain.flush(TIMEOUT_S) == 0

    c = consumer(bootstrap, **{"group.id": group, "isolation.level": "read_committed"})
    c.assign([TopicPartition(topic, 0, 0)])
    p = txn_producer(bootstrap, tid)
    p.init_transactions(TIMEOUT_S)

    # Commit: the group's coordinator makes the offset visible.
    assert transform(p, c, out, 4, commit=True) == 4
    wait_until(lambda: committed_offset(bootstrap, group, topic) == 4,
               "the committed transaction's offset 4 is visible")
    assert first_offset_read(bootstrap, group, topic) == 4

    # Abort: once the abort's markers are written, the offset 7 is gone.
    assert transform(p, c, out, 3, commit=False) == 7
    wait_transaction_state(bootstrap, tid, "CompleteAbort")
    assert committed_offset(bootstrap, group, topic) == 4
    assert first_offset_read(bootstrap, group, topic) == 4

    # The next transaction (the same producer id) commits only its own
    # offset: the aborted one was dropped, not kept pending.
    c.seek(TopicPartition(topic, 0, 4))
    assert transform(p, c, out, 8, commit=True) == 12
    wait_until(lambda: committed_offset(bootstrap, group, topic) == 12,
               "the second committed transaction's offset 12 is visible")
    c.close()


def offset_fetch_v7(port: int, group: str, topic: str, partitions: list[int],
                    require_stable: bool) -> dict[int, tuple[int, int]]:
    """OffsetFetch v7 on the wire: {partition: (committed offset, error code)}."""
    body = kw.offset_fetch_v7_body(group, {topic: partitions}, require_stable)
    response = kw.request(port, kw.header_v2(kw.OFFSET_FETCH, 7, 71) + body)
    r = kw.Reader(response)
    assert r.i32() == 71
    r.tagged_fields()
    error_code, offsets = kw.parse_offset_fetch_v7(r.take(r.remaining()))
    assert error_code == 0
    return {partition: answer for (name, partition), answer in offsets.items() if name == topic}


def transactional_offsets_setup(broker, prefix: str):
    """A topic of 2 partitions, a group id, a transactional id with its
    initialised producer, and the group's metadata for
    send_offsets_to_transaction."""
    topic = unique_topic(f"{prefix}-in")
    create_topic(broker.bootstrap, topic, partitions=2)
    group, tid = unique_topic(f"{prefix}-group"), unique_topic(f"{prefix}-tid")
    p = txn_producer(broker.bootstrap, tid)
    p.init_transactions(TIMEOUT_S)
    c = consumer(broker.bootstrap, **{"group.id": group})
    metadata = c.consumer_group_metadata()
    c.close()
    return topic, group, tid, p, metadata


def test_require_stable_offset_fetch_waits_for_an_open_transactions_offsets(broker_factory):
    broker = broker_factory(BROKER_SETTINGS)
    topic, group, _, p, metadata = transactional_offsets_setup(broker, "stable")
    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(topic, 0, 4)], metadata, TIMEOUT_S)
    p.commit_transaction(TIMEOUT_S)
    wait_until(lambda: committed_offset(broker.bootstrap, group, topic, 0) == 4,
               "the first transaction's offset 4 is visible")

    # A second transaction holds offset 7 of partition 0 and stays open.
    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(topic, 0, 7)], metadata, TIMEOUT_S)
    assert offset_fetch_v7(broker.port, group, topic, [0, 1], require_stable=True) == \
        {0: (-1, UNSTABLE_OFFSET_COMMIT), 1: (-1, 0)}
    assert offset_fetch_v7(broker.port, group, topic, [0, 1], require_stable=False) == \
        {0: (4, 0), 1: (-1, 0)}
    assert committed_offset(broker.bootstrap, group, topic, 0) == 4

    # librdkafka's read_committed consumer retries UNSTABLE_OFFSET_COMMIT:
    # asked while the transaction is open, it answers with the offset the
    # commit makes visible, not the stale 4.
    answer: list = []
    waiter = threading.Thread(target=lambda: answer.append(
        committed_offset(broker.bootstrap, group, topic, 0, isolation="read_committed")))
    waiter.start()
    time.sleep(2)
    assert waiter.is_alive(), f"read_committed answered {answer} while the transaction was open"
    p.commit_transaction(TIMEOUT_S)
    waiter.join(TIMEOUT_S + 5)
    assert answer == [7]
    assert offset_fetch_v7(broker.port, group, topic, [0], require_stable=True) == {0: (7, 0)}


def test_offsets_of_a_transaction_open_across_a_kill_9_become_visible_when_it_commits(
        broker_factory):
    broker = broker_factory(BROKER_SETTINGS)
    topic, out = unique_topic("reload-in"), unique_topic("reload-out")
    create_topic(broker.bootstrap, topic, partitions=2)
    create_topic(broker.bootstrap, out, partitions=1)
    group, tid = unique_topic("reload-group"), unique_topic("reload-tid")
    p = txn_producer(broker.bootstrap, tid, **{"transaction.timeout.ms": 60000,
                                               "message.timeout.ms": 60000})
    p.init_transactions(TIMEOUT_S)
    c = consumer(broker.bootstrap, **{"group.id": group})
    p.begin_transaction()
    p.produce(out, value=b"result", partition=0)
    assert p.flush(TIMEOUT_S) == 0
    p.send_offsets_to_transaction([TopicPartition(topic, 0, 5), TopicPartition(topic, 1, 3)],
                                  c.consumer_group_metadata(), TIMEOUT_S)
    c.close()
    broker.restart(kill=True)
    # Reloaded as pending: not visible before the commit.
    assert committed_offset(broker.bootstrap, group, topic, 0) == NO_OFFSET
    assert committed_offset(broker.bootstrap, group, topic, 1) == NO_OFFSET
    p.commit_transaction(30)
    wait_until(lambda: committed_offset(broker.bootstrap, group, topic, 0) == 5,
               "the reloaded transaction's offset 5 is visible after its commit", timeout_s=30)
    assert committed_offset(broker.bootstrap, group, topic, 1) == 3
    # Visible for good: another restart replays the commit marker.
    broker.restart(kill=True)
    assert committed_offset(broker.bootstrap, group, topic, 0) == 5
    assert committed_offset(broker.bootstrap, group, topic, 1) == 3


def test_offsets_of_a_transaction_open_across_a_kill_9_are_dropped_when_it_times_out(
        broker_factory):
    broker = broker_factory(BROKER_SETTINGS)
    topic, group, tid, p, metadata = transactional_offsets_setup(broker, "reload")
    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(topic, 0, 5)], metadata, TIMEOUT_S)
    ongoing = describe(broker.bootstrap, tid)
    assert state_name(ongoing) == "Ongoing"
    broker.restart(kill=True)
    # transaction.timeout.ms passes: the coordinator aborts it (epoch bumped).
    aborted = wait_transaction_state(broker.bootstrap, tid, "CompleteAbort")
    assert (aborted.producer_id, aborted.producer_epoch) == \
        (ongoing.producer_id, ongoing.producer_epoch + 1)
    assert committed_offset(broker.bootstrap, group, topic, 0) == NO_OFFSET
    # A new instance (the same producer id) commits offsets of partition 1
    # only: had the aborted offset of partition 0 been kept pending, this
    # commit would have made it visible.
    p2 = txn_producer(broker.bootstrap, tid)
    p2.init_transactions(TIMEOUT_S)
    p2.begin_transaction()
    p2.send_offsets_to_transaction([TopicPartition(topic, 1, 9)], metadata, TIMEOUT_S)
    p2.commit_transaction(TIMEOUT_S)
    wait_until(lambda: committed_offset(broker.bootstrap, group, topic, 1) == 9,
               "the new instance's offset is visible")
    assert describe(broker.bootstrap, tid).producer_id == ongoing.producer_id
    assert committed_offset(broker.bootstrap, group, topic, 0) == NO_OFFSET
