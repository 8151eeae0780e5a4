"""The partition side of transactions (issue 15), without a transaction
coordinator: a test plays the coordinator by hand. It takes producer ids
from ordinary InitProducerId requests, produces transactional batches
(attributes bit 4) with a transactional id, and ends each transaction with
WriteTxnMarkers (API 27 v1, Kafka's inter-broker request), as a coordinator
would. Then real consumers check what users rely on: a confluent-kafka
consumer with isolation.level=read_committed sees exactly the committed
records (aborted ones and the control batches dropped by the client from
the aborted-transactions list), a read_uncommitted one sees all; a
read_committed consumer waits at an open transaction (the last stable
offset) until its marker; kill -9 keeps the last stable offset and the
aborted list, and so does a follower that becomes leader (it applied the
markers it replicated). Hostile input gets Kafka's codes, and so do the coordinator's requests out
of order (EndTxn before InitProducerId, wrong producer id or epoch, EndTxn
with nothing begun).

Raw protocol, encoded here from the Kafka protocol specification with the
primitives of kafka_wire.py (bytes documented next to each encoder).
"""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import KafkaError, TopicPartition

import kafka_wire as w
from clients import consumer, create_topic, unique_topic
from test_cluster import (  # noqa: F401  (cluster_factory is a fixture)
    FENCE_TIMEOUT_S,
    TOPIC_TIMEOUT_S,
    cluster_factory,
    wait_topic_placed,
)
from test_cluster import create_topic as create_cluster_topic

INIT_PRODUCER_ID = 22
WRITE_TXN_MARKERS = 27

INVALID_TXN_STATE = 48
INVALID_PRODUCER_EPOCH = 47
TRANSACTION_COORDINATOR_FENCED = 52
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
INVALID_RECORD = 87
NOT_READY = {w.UNKNOWN_TOPIC_OR_PARTITION, w.LEADER_NOT_AVAILABLE, 6}

TRANSACTIONAL_ID = "skein-e2e-txn"
ATTR_TRANSACTIONAL = 1 << 4
ATTR_CONTROL = 1 << 5
BASE_TIMESTAMP = int(time.time() * 1000)

_correlation = iter(range(70_000, 1 << 30))


def call(port: int, api_key: int, version: int, body: bytes, flexible: bool = False) -> w.Reader:
    """Sends one request, returns a reader after the response header."""
    correlation_id = next(_correlation)
    header = (w.header_v2 if flexible else w.header_v1)(api_key, version, correlation_id)
    r = w.Reader(w.request(port, header + body))
    assert r.i32() == correlation_id
    if flexible:
        r.tagged_fields()
    return r


def init_producer_id(port: int) -> tuple[int, int]:
    """InitProducerId v0 without a transactional id (idempotence):
    transactional_id NULLABLE_STRING (null) | transaction_timeout_ms INT32.
    Response: throttle_time_ms INT32 | error_code INT16 | producer_id INT64
    | producer_epoch INT16. Returns (producer_id, producer_epoch)."""
    r = call(port, INIT_PRODUCER_ID, 0, w.string(None) + w.i32(60_000))
    r.i32()
    assert r.i16() == w.NONE
    return r.i64(), r.i16()


def batch(values: list[bytes], producer_id: int = -1, epoch: int = -1, base_sequence: int = -1,
          attributes: int = 0) -> bytes:
    """A v2 batch as kafka_wire.record_batch builds it, with `attributes`
    (bit 4 transactional, bit 5 control) and the CRC-32C over attributes
    to the end recomputed."""
    plain = w.record_batch([(None, v, []) for v in values], BASE_TIMESTAMP,
                           producer_id=producer_id, producer_epoch=epoch,
                           base_sequence=base_sequence)
    after_crc = w.i16(attributes) + plain[23:]
    return plain[:17] + w.u32(w.crc32c(after_crc)) + after_crc


def txn_batch(values: list[bytes], producer_id: int, epoch: int, base_sequence: int) -> bytes:
    return batch(values, producer_id, epoch, base_sequence, ATTR_TRANSACTIONAL)


def control_batch(producer_id: int, epoch: int, commit: bool, coordinator_epoch: int = 0) -> bytes:
    """A commit/abort marker as a client must not send it: one record whose
    key is version INT16 (0) | type INT16 (0 abort, 1 commit) and value
    version INT16 (0) | coordinator_epoch INT32; attributes control +
    transactional; base sequence -1."""
    key = w.i16(0) + w.i16(1 if commit else 0)
    value = w.i16(0) + w.i32(coordinator_epoch)
    plain = w.record_batch([(key, value, [])], BASE_TIMESTAMP, producer_id=producer_id,
                           producer_epoch=epoch, base_sequence=-1)
    after_crc = w.i16(ATTR_CONTROL | ATTR_TRANSACTIONAL) + plain[23:]
    return plain[:17] + w.u32(w.crc32c(after_crc)) + after_crc


def produce(port: int, topic: str, partition: int, records: bytes,
            transactional_id: str | None = TRANSACTIONAL_ID) -> tuple[int, int]:
    """Produce v3, acks=all: transactional_id NULLABLE_STRING | acks INT16 |
    timeout_ms INT32 | topic_data ARRAY[ name STRING | partition_data
    ARRAY[ index INT32 | records BYTES ] ]. Retried while the partition is
    not ready. Returns (error_code, base_offset)."""
    body = (w.string(transactional_id) + w.i16(-1) + w.i32(10_000)
            + w.i32(1) + w.string(topic) + w.i32(1) + w.i32(partition)
            + w.i32(len(records)) + records)
    deadline = time.monotonic() + 30
    while True:
        r = call(port, w.PRODUCE, 3, body)
        [(_, _, error_code, base_offset)] = w.parse_produce_v3(r.take(r.remaining()))
        if error_code not in NOT_READY or time.monotonic() > deadline:
            return error_code, base_offset
        time.sleep(0.2)


def write_txn_markers(port: int, producer_id: int, epoch: int, commit: bool,
                      partitions: dict[str, list[int]], coordinator_epoch: int = 0) -> dict:
    """WriteTxnMarkers v1 (flexible): markers COMPACT_ARRAY[ producer_id
    INT64 | producer_epoch INT16 | transaction_result BOOLEAN | topics
    COMPACT_ARRAY[ name COMPACT_STRING | partition_indexes
    COMPACT_ARRAY[INT32] | TAGS ] | coordinator_epoch INT32 | TAGS ] | TAGS.
    Response: markers COMPACT_ARRAY[ producer_id INT64 | topics
    COMPACT_ARRAY[ name COMPACT_STRING | partitions COMPACT_ARRAY[
    partition_index INT32 | error_code INT16 | TAGS ] | TAGS ] | TAGS ] |
    TAGS. Returns {(topic, partition): error_code}."""
    topics = b"".join(
        w.compact_string(name) + w.uvarint(len(indexes) + 1)
        + b"".join(w.i32(i) for i in indexes) + w.uvarint(0)
        for name, indexes in partitions.items()
    )
    body = (w.uvarint(2) + w.i64(producer_id) + w.i16(epoch) + w.i8(1 if commit else 0)
            + w.uvarint(len(partitions) + 1) + topics + w.i32(coordinator_epoch) + w.uvarint(0)
            + w.uvarint(0))
    r = call(port, WRITE_TXN_MARKERS, 1, body, flexible=True)
    out = {}
    for _ in range(r.uvarint() - 1):
        assert r.i64() == producer_id
        for _ in range(r.uvarint() - 1):
            name = r.compact_string()
            for _ in range(r.uvarint() - 1):
                index = r.i32()
                out[(name, index)] = r.i16()
                r.tagged_fields()
            r.tagged_fields()
        r.tagged_fields()
    r.tagged_fields()
    assert r.remaining() == 0
    return out


def fetch_committed(port: int, topic: str, partition: int, offset: int) -> tuple[int, int, list, bytes]:
    """Fetch v4 with isolation_level 1 (READ_COMMITTED); the body as
    kafka_wire.fetch_v4_body with that byte set. Response partitions:
    partition INT32 | error_code INT16 | high_watermark INT64 |
    last_stable_offset INT64 | aborted_transactions ARRAY[ producer_id
    INT64 | first_offset INT64 ] | records BYTES. Returns (high_watermark,
    last_stable_offset, [(producer_id, first_offset)], records)."""
    body = (w.i32(-1) + w.i32(0) + w.i32(0) + w.i32(1 << 20) + w.i8(1)
            + w.i32(1) + w.string(topic) + w.i32(1) + w.i32(partition) + w.i64(offset)
            + w.i32(1 << 20))
    r = call(port, w.FETCH, 4, body)
    r.i32()  # throttle
    assert r.i32() == 1 and r.string() == topic and r.i32() == 1
    assert r.i32() == partition
    assert r.i16() == w.NONE
    high_watermark, last_stable_offset = r.i64(), r.i64()
    aborted = [(r.i64(), r.i64()) for _ in range(max(r.i32(), 0))]
    length = r.i32()
    records = r.take(length) if length > 0 else b""
    return high_watermark, last_stable_offset, aborted, records


def list_latest(port: int, topic: str, partition: int, read_committed: bool) -> int:
    """ListOffsets v2: replica_id INT32 | isolation_level INT8 | topics
    ARRAY[ name STRING | partitions ARRAY[ partition INT32 | timestamp
    INT64 (-1 latest) ] ]. Response: throttle INT32 | topics ARRAY[ name |
    partitions ARRAY[ partition INT32 | error_code INT16 | timestamp INT64
    | offset INT64 ] ]."""
    body = (w.i32(-1) + w.i8(1 if read_committed else 0) + w.i32(1) + w.string(topic)
            + w.i32(1) + w.i32(partition) + w.i64(-1))
    r = call(port, w.LIST_OFFSETS, 2, body)
    r.i32()
    assert r.i32() == 1 and r.string() == topic and r.i32() == 1
    assert r.i32() == partition
    assert r.i16() == w.NONE
    r.i64()
    return r.i64()


def values(bootstrap: str, topic: str, partition: int, isolation: str,
           expect: int, timeout_s: float = 20.0) -> list[bytes]:
    """Every value a confluent-kafka consumer with `isolation` reads from
    the partition's start, until `expect` values and the end of the
    partition (as librdkafka sees it: the LSO under read_committed)."""
    c = consumer(bootstrap, **{"isolation.level": isolation})
    try:
        c.assign([TopicPartition(topic, partition, 0)])
        out: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            m = c.poll(0.3)
            if m is None:
                continue
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF:
                    if len(out) >= expect:
                        return out
                    continue
                raise AssertionError(f"consume {topic}/{partition}: {m.error()}")
            out.append(m.value())
        raise AssertionError(f"{isolation} read {out}, expected {expect} values")
    finally:
        c.close()


def test_read_committed_sees_exactly_the_committed_records(broker):
    topic = unique_topic("txn")
    create_topic(broker.bootstrap, topic, partitions=2)
    port = broker.port
    producer_id, epoch = init_producer_id(port)
    assert produce(port, topic, 0, batch([b"plain-0"]), transactional_id=None) == (w.NONE, 0)
    assert produce(port, topic, 0, txn_batch([b"c0", b"c1", b"c2"], producer_id, epoch, 0)) \
        == (w.NONE, 1)
    assert produce(port, topic, 1, txn_batch([b"a0", b"a1"], producer_id, epoch, 0)) == (w.NONE, 0)
    assert produce(port, topic, 1, txn_batch([b"a2"], producer_id, epoch, 2)) == (w.NONE, 2)
    # Open on both partitions: read_committed stops at the transaction.
    assert list_latest(port, topic, 0, read_committed=True) == 1
    assert list_latest(port, topic, 0, read_committed=False) == 4
    assert list_latest(port, topic, 1, read_committed=True) == 0

    assert write_txn_markers(port, producer_id, epoch, True, {topic: [0]}) == {(topic, 0): w.NONE}
    assert write_txn_markers(port, producer_id, epoch, False, {topic: [1]}) == {(topic, 1): w.NONE}
    assert produce(port, topic, 1, batch([b"plain-1"]), transactional_id=None) == (w.NONE, 4)

    assert list_latest(port, topic, 0, read_committed=True) == 5
    assert list_latest(port, topic, 1, read_committed=True) == 5
    high_watermark, lso, aborted, _ = fetch_committed(port, topic, 1, 0)
    assert (high_watermark, lso) == (5, 5)
    assert aborted == [(producer_id, 0)]
    _, _, aborted, _ = fetch_committed(port, topic, 0, 0)
    assert aborted == []

    b = broker.bootstrap
    assert values(b, topic, 0, "read_committed", 4) == [b"plain-0", b"c0", b"c1", b"c2"]
    assert values(b, topic, 1, "read_committed", 1) == [b"plain-1"]
    assert values(b, topic, 0, "read_uncommitted", 4) == [b"plain-0", b"c0", b"c1", b"c2"]
    assert values(b, topic, 1, "read_uncommitted", 4) == [b"a0", b"a1", b"a2", b"plain-1"]


def test_a_read_committed_consumer_waits_at_an_open_transaction_until_its_marker(broker):
    topic = unique_topic("txn-wait")
    create_topic(broker.bootstrap, topic)
    port = broker.port
    producer_id, epoch = init_producer_id(port)
    assert produce(port, topic, 0, batch([b"before"]), transactional_id=None) == (w.NONE, 0)
    assert produce(port, topic, 0, txn_batch([b"t0", b"t1"], producer_id, epoch, 0)) == (w.NONE, 1)
    assert produce(port, topic, 0, batch([b"during"]), transactional_id=None) == (w.NONE, 3)
    assert list_latest(port, topic, 0, read_committed=True) == 1

    seen: list[bytes] = []
    done = threading.Event()
    failures: list[BaseException] = []

    def consume():
        c = consumer(broker.bootstrap, **{"isolation.level": "read_committed",
                                          "enable.partition.eof": False})
        try:
            c.assign([TopicPartition(topic, 0, 0)])
            deadline = time.monotonic() + 30
            while len(seen) < 4 and time.monotonic() < deadline:
                m = c.poll(0.2)
                if m is not None and m.error() is None:
                    seen.append(m.value())
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            c.close()
            done.set()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    time.sleep(3)
    assert seen == [b"before"], "held at the last stable offset"
    assert write_txn_markers(port, producer_id, epoch, True, {topic: [0]}) == {(topic, 0): w.NONE}
    assert done.wait(30)
    assert not failures, failures
    assert seen == [b"before", b"t0", b"t1", b"during"]


def test_kill_9_keeps_the_last_stable_offset_and_the_aborted_list(broker):
    topic = unique_topic("txn-crash")
    create_topic(broker.bootstrap, topic)
    port = broker.port
    aborter, aborter_epoch = init_producer_id(port)
    committer, committer_epoch = init_producer_id(port)
    assert produce(port, topic, 0, txn_batch([b"x0", b"x1"], aborter, aborter_epoch, 0)) \
        == (w.NONE, 0)
    assert write_txn_markers(port, aborter, aborter_epoch, False, {topic: [0]}) \
        == {(topic, 0): w.NONE}
    assert produce(port, topic, 0, txn_batch([b"k0"], committer, committer_epoch, 0)) \
        == (w.NONE, 3)
    assert produce(port, topic, 0, batch([b"plain"]), transactional_id=None) == (w.NONE, 4)
    assert fetch_committed(port, topic, 0, 0)[:3] == (5, 3, [(aborter, 0)])

    broker.restart(kill=True)
    # Retried as a client would while the partition opens (a connection
    # reset right after the restart is a known flake of main's broker too:
    # see test_idempotence).
    deadline = time.monotonic() + 30
    while True:
        try:
            answer = fetch_committed(port, topic, 0, 0)
            break
        except (AssertionError, w.Closed, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert answer[:3] == (5, 3, [(aborter, 0)]), "the LSO and the aborted list after kill -9"
    assert list_latest(port, topic, 0, read_committed=True) == 3

    assert write_txn_markers(port, committer, committer_epoch, True, {topic: [0]}) \
        == {(topic, 0): w.NONE}
    b = broker.bootstrap
    assert values(b, topic, 0, "read_committed", 2) == [b"k0", b"plain"]
    assert values(b, topic, 0, "read_uncommitted", 4) == [b"x0", b"x1", b"k0", b"plain"]


def test_hostile_transactional_input_gets_kafkas_error_codes(broker):
    topic = unique_topic("txn-bad")
    create_topic(broker.bootstrap, topic)
    port = broker.port
    producer_id, epoch = init_producer_id(port)
    # A client may not write a control batch (Kafka: InvalidRecordException).
    assert produce(port, topic, 0, control_batch(producer_id, epoch, commit=True))[0] \
        == INVALID_RECORD
    # Transactional records need the request's transactional id.
    assert produce(port, topic, 0, txn_batch([b"t"], producer_id, epoch, 0),
                   transactional_id=None)[0] == TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    assert produce(port, topic, 0, txn_batch([b"t"], producer_id, epoch, 0)) == (w.NONE, 0)
    # Non-transactional data while the transaction is open.
    assert produce(port, topic, 0, batch([b"i"], producer_id, epoch, 1))[0] == INVALID_TXN_STATE
    # Markers: a stale producer epoch, then a coordinator epoch older than
    # the last marker's; an unknown producer's marker is written; an
    # unknown topic or partition is named per partition.
    assert write_txn_markers(port, producer_id, epoch, True, {topic: [0]}, coordinator_epoch=3) \
        == {(topic, 0): w.NONE}
    assert write_txn_markers(port, producer_id, epoch, True, {topic: [0]}, coordinator_epoch=2) \
        == {(topic, 0): TRANSACTION_COORDINATOR_FENCED}
    assert write_txn_markers(port, producer_id, epoch + 1, False, {topic: [0]},
                             coordinator_epoch=3) == {(topic, 0): w.NONE}
    assert write_txn_markers(port, producer_id, epoch, False, {topic: [0]}, coordinator_epoch=3) \
        == {(topic, 0): INVALID_PRODUCER_EPOCH}
    assert write_txn_markers(port, 987_654, 0, False, {topic: [0, 7], "no-such-topic": [0]}) \
        == {(topic, 0): w.NONE, (topic, 7): w.UNKNOWN_TOPIC_OR_PARTITION,
            ("no-such-topic", 0): w.UNKNOWN_TOPIC_OR_PARTITION}
    # Nothing of this left a transaction open.
    assert list_latest(port, topic, 0, read_committed=True) \
        == list_latest(port, topic, 0, read_committed=False) == 4
    assert broker.alive()


@pytest.mark.timeout(180)
def test_a_new_leader_has_the_same_last_stable_offset_and_aborted_list(cluster_factory):
    cluster = cluster_factory(combined=3)
    cluster.start()
    cluster.wait_ready({1, 2, 3})
    topic = unique_topic("txn-rf3")
    create_cluster_topic(cluster.bootstrap(), topic, partitions=1, replication_factor=3)
    views = wait_topic_placed(cluster, topic, 1, {1, 2, 3}, 3)
    before = next(iter(views.values())).topics[topic].partitions[0]
    leader = cluster.node(before.leader)
    followers = [b for b in before.replicas if b != before.leader]
    port = leader.client_port
    aborter, aborter_epoch = init_producer_id(port)
    committer, committer_epoch = init_producer_id(port)
    assert produce(port, topic, 0, txn_batch([b"x0", b"x1"], aborter, aborter_epoch, 0)) \
        == (w.NONE, 0)
    assert write_txn_markers(port, aborter, aborter_epoch, False, {topic: [0]}) \
        == {(topic, 0): w.NONE}
    assert produce(port, topic, 0, txn_batch([b"k0"], committer, committer_epoch, 0)) \
        == (w.NONE, 3)
    assert produce(port, topic, 0, batch([b"plain"]), transactional_id=None) == (w.NONE, 4)
    assert fetch_committed(port, topic, 0, 0)[:3] == (5, 3, [(aborter, 0)])

    # Everything was acknowledged with acks=all: the followers hold the
    # markers. The leader dies; a follower takes over.
    leader.kill()
    survivors = [n for n in cluster.broker_nodes() if n is not leader]

    def new_leader():
        views = cluster.metadata_from(survivors, [topic])
        seen = {i: v.topics.get(topic) and v.topics[topic].partitions.get(0)
                for i, v in views.items()}
        leaders = {pv.leader for pv in seen.values() if pv}
        ok = (len(leaders) == 1 and next(iter(leaders)) in followers
              and all(pv and pv.leader_epoch > before.leader_epoch for pv in seen.values()))
        return ok, seen

    seen, _ = cluster.wait_for(f"a new leader of {topic}/0 among {followers}", new_leader,
                               FENCE_TIMEOUT_S + TOPIC_TIMEOUT_S)
    new = cluster.node(next(iter(seen.values())).leader)

    def same_state():
        try:
            answer = fetch_committed(new.client_port, topic, 0, 0)[:3]
        except (AssertionError, w.Closed, OSError) as error:
            return False, repr(error)
        return answer == (5, 3, [(aborter, 0)]), answer

    cluster.wait_for("the new leader's LSO 3 and aborted list", same_state, 30)
    assert write_txn_markers(new.client_port, committer, committer_epoch, True, {topic: [0]}) \
        == {(topic, 0): w.NONE}
    assert values(new.bootstrap, topic, 0, "read_committed", 2) == [b"k0", b"plain"]


ADD_PARTITIONS_TO_TXN = 24
ADD_OFFSETS_TO_TXN = 25
END_TXN = 26
INVALID_PRODUCER_ID_MAPPING = 49
PRODUCER_FENCED = 90
COORDINATOR_NOT_READY = {14, 15, 16}  # load in progress, not available, not coordinator


def init_transactional(port: int, transactional_id: str) -> tuple[int, int]:
    """InitProducerId v1 with a transactional id: transactional_id
    NULLABLE_STRING | transaction_timeout_ms INT32; retried while the
    coordinator loads __transaction_state. Returns (producer_id, epoch)."""
    deadline = time.monotonic() + 30
    while True:
        r = call(port, INIT_PRODUCER_ID, 1, w.string(transactional_id) + w.i32(60_000))
        r.i32()
        error_code, producer_id, epoch = r.i16(), r.i64(), r.i16()
        if error_code not in COORDINATOR_NOT_READY or time.monotonic() > deadline:
            assert error_code == w.NONE
            return producer_id, epoch
        time.sleep(0.2)


def add_partitions(port: int, version: int, transactional_id: str, producer_id: int, epoch: int,
                   topic: str, partition: int) -> int:
    """AddPartitionsToTxn v1/v2: transactional_id STRING | producer_id INT64 |
    producer_epoch INT16 | topics ARRAY[ name STRING | partitions
    ARRAY[INT32] ]. Response: throttle_time_ms INT32 | results ARRAY[ name
    STRING | results ARRAY[ partition INT32 | error_code INT16 ] ].
    Returns the partition's error code."""
    body = (w.string(transactional_id) + w.i64(producer_id) + w.i16(epoch)
            + w.i32(1) + w.string(topic) + w.i32(1) + w.i32(partition))
    r = call(port, ADD_PARTITIONS_TO_TXN, version, body)
    r.i32()
    assert r.i32() == 1 and r.string() == topic and r.i32() == 1 and r.i32() == partition
    return r.i16()


def end_txn(port: int, transactional_id: str, producer_id: int, epoch: int, commit: bool) -> int:
    """EndTxn v1: transactional_id STRING | producer_id INT64 |
    producer_epoch INT16 | committed BOOLEAN. Response: throttle_time_ms
    INT32 | error_code INT16."""
    body = w.string(transactional_id) + w.i64(producer_id) + w.i16(epoch) + w.i8(1 if commit else 0)
    r = call(port, END_TXN, 1, body)
    r.i32()
    return r.i16()


def add_offsets(port: int, transactional_id: str, producer_id: int, epoch: int, group: str) -> int:
    """AddOffsetsToTxn v1: transactional_id STRING | producer_id INT64 |
    producer_epoch INT16 | group_id STRING. Response: throttle_time_ms
    INT32 | error_code INT16."""
    body = w.string(transactional_id) + w.i64(producer_id) + w.i16(epoch) + w.string(group)
    r = call(port, ADD_OFFSETS_TO_TXN, 1, body)
    r.i32()
    return r.i16()


def test_transactional_requests_out_of_order_get_kafkas_error_codes(broker):
    topic = unique_topic("txn-order")
    create_topic(broker.bootstrap, topic)
    port = broker.port
    tid = unique_topic("tid-order")
    # The producer's own ids wait for InitProducerId: an id never
    # initialised has no producer id mapping.
    never = unique_topic("tid-never")
    assert end_txn(port, never, 1234, 0, commit=True) in COORDINATOR_NOT_READY | {INVALID_PRODUCER_ID_MAPPING}
    producer_id, epoch = init_transactional(port, tid)
    assert end_txn(port, never, producer_id, epoch, commit=False) == INVALID_PRODUCER_ID_MAPPING
    assert add_partitions(port, 1, never, producer_id, epoch, topic, 0) == INVALID_PRODUCER_ID_MAPPING
    assert add_offsets(port, never, producer_id, epoch, "g") == INVALID_PRODUCER_ID_MAPPING
    # Another producer id than the id's.
    assert add_partitions(port, 1, tid, producer_id + 1, epoch, topic, 0) == INVALID_PRODUCER_ID_MAPPING
    # A wrong epoch: INVALID_PRODUCER_EPOCH before v2, PRODUCER_FENCED after (KIP-588).
    assert add_partitions(port, 1, tid, producer_id, epoch + 1, topic, 0) == INVALID_PRODUCER_EPOCH
    assert add_partitions(port, 2, tid, producer_id, epoch + 1, topic, 0) == PRODUCER_FENCED
    assert end_txn(port, tid, producer_id, epoch + 1, commit=True) == INVALID_PRODUCER_EPOCH
    # EndTxn with no transaction begun.
    assert end_txn(port, tid, producer_id, epoch, commit=True) == INVALID_TXN_STATE
    assert end_txn(port, tid, producer_id, epoch, commit=False) == INVALID_TXN_STATE
    # In order, the same requests work; then the ended transaction cannot
    # be ended the other way.
    assert add_partitions(port, 1, tid, producer_id, epoch, topic, 0) == w.NONE
    assert end_txn(port, tid, producer_id, epoch, commit=False) == w.NONE
    # While the abort's markers are being written the transaction is still
    # completing: Kafka answers any EndTxn CONCURRENT_TRANSACTIONS (its
    # pending transition), and clients retry. Seen in CI under load.
    code = answer_once_settled(lambda: end_txn(port, tid, producer_id, epoch, commit=True), 10)
    assert code == INVALID_TXN_STATE
    assert broker.alive()


TXN_OFFSET_COMMIT = 28
CONCURRENT_TRANSACTIONS = 51


def answer_once_settled(request, timeout_s: float) -> int:
    """The error code `request()` answers once it is no longer
    CONCURRENT_TRANSACTIONS (a transition still pending: the markers of an
    ended transaction being written), retried as clients do, for at most
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    code = request()
    while code == CONCURRENT_TRANSACTIONS and time.monotonic() < deadline:
        time.sleep(0.1)
        code = request()
    return code


def txn_offset_commit(port: int, transactional_id: str, group: str, producer_id: int, epoch: int,
                      topic: str, partition: int, offset: int) -> int:
    """TxnOffsetCommit v0: transactional_id STRING | group_id STRING |
    producer_id INT64 | producer_epoch INT16 | topics ARRAY[ name STRING |
    partitions ARRAY[ partition_index INT32 | committed_offset INT64 |
    committed_metadata NULLABLE_STRING ] ]. Response: throttle_time_ms
    INT32 | topics ARRAY[ name STRING | partitions ARRAY[ partition_index
    INT32 | error_code INT16 ] ]. Returns the partition's error code."""
    body = (w.string(transactional_id) + w.string(group) + w.i64(producer_id) + w.i16(epoch)
            + w.i32(1) + w.string(topic) + w.i32(1)
            + w.i32(partition) + w.i64(offset) + w.string(None))
    r = call(port, TXN_OFFSET_COMMIT, 0, body)
    r.i32()
    assert r.i32() == 1 and r.string() == topic and r.i32() == 1 and r.i32() == partition
    return r.i16()


def test_txn_offset_commit_for_a_group_not_in_the_transaction_gets_invalid_txn_state(broker):
    # Kafka 4 verifies a transactional offset commit with the transaction
    # coordinator before writing it (KIP-890, on by default): the group's
    # __consumer_offsets partition must be in the ongoing transaction, put
    # there by AddOffsetsToTxn. A partition that is not gets
    # TRANSACTION_ABORTABLE from the coordinator, which TxnOffsetCommit v0-v3
    # answers as INVALID_TXN_STATE; PRODUCER_FENCED becomes
    # INVALID_PRODUCER_EPOCH.
    topic = unique_topic("txn-offsets-order")
    create_topic(broker.bootstrap, topic)
    port = broker.port
    tid = unique_topic("tid-offsets-order")
    group = unique_topic("group-offsets-order")
    producer_id, epoch = init_transactional(port, tid)
    # No transaction begun.
    assert txn_offset_commit(port, tid, group, producer_id, epoch, topic, 0, 5) == INVALID_TXN_STATE
    # A transaction with a data partition, but not the group.
    assert add_partitions(port, 1, tid, producer_id, epoch, topic, 0) == w.NONE
    assert txn_offset_commit(port, tid, group, producer_id, epoch, topic, 0, 5) == INVALID_TXN_STATE
    assert txn_offset_commit(port, tid, group, producer_id + 1, epoch, topic, 0, 5) \
        == INVALID_PRODUCER_ID_MAPPING
    assert txn_offset_commit(port, tid, group, producer_id, epoch + 1, topic, 0, 5) \
        == INVALID_PRODUCER_EPOCH
    # Added, it is accepted; committed, it is visible.
    assert add_offsets(port, tid, producer_id, epoch, group) == w.NONE
    assert txn_offset_commit(port, tid, group, producer_id, epoch, topic, 0, 5) == w.NONE
    assert end_txn(port, tid, producer_id, epoch, commit=True) == w.NONE
    c = consumer(broker.bootstrap, **{"group.id": group, "enable.auto.commit": False})
    try:
        deadline = time.monotonic() + 30
        while True:
            [committed] = c.committed([TopicPartition(topic, 0)], timeout=10)
            if committed.offset == 5 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert committed.offset == 5
    finally:
        c.close()
    # The transaction is over: the group is no longer in one (while its
    # markers are written the coordinator answers CONCURRENT_TRANSACTIONS).
    code = answer_once_settled(lambda: txn_offset_commit(port, tid, group, producer_id, epoch, topic, 0, 9), 30)
    assert code == INVALID_TXN_STATE
    assert broker.alive()
