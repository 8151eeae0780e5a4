"""Idempotent producers across restarts and leader changes (issue 15):
a producer whose batch was written but whose answer it never saw retries
the same batch (same producer id, epoch and sequences); the broker answers
it as a duplicate with the original base offset, and the log holds the
records once — after a kill -9 and restart of a single broker (the state
is rebuilt from producer-state snapshots plus the log), and on a new leader
after the old one was killed (followers rebuild the state from what they
replicate). Sequence gaps and fenced epochs get Kafka's codes, and
DescribeProducers (kafka-python's admin client) reports the state.

Raw protocol (bytes documented in kafka_wire.py): Produce v3 with one
hand-encoded v2 batch carrying producerId / producerEpoch / baseSequence;
Fetch v4 to count what the log holds.
"""

from __future__ import annotations

import time

import pytest
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient

import kafka_wire as w
from clients import create_topic, unique_topic
from test_cluster import (  # noqa: F401  (cluster_factory is a fixture)
    FENCE_TIMEOUT_S,
    TOPIC_TIMEOUT_S,
    cluster_factory,
    wait_topic_placed,
)
from test_cluster import create_topic as create_cluster_topic

OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47
PRODUCER_ID = 4242
BASE_TIMESTAMP = int(time.time() * 1000)

_correlation = iter(range(9000, 1 << 30))


def idempotent_batch(tag: str, count: int, base_sequence: int, epoch: int = 0) -> bytes:
    records = [(None, f"{tag}-{i}".encode(), []) for i in range(count)]
    return w.record_batch(records, BASE_TIMESTAMP, producer_id=PRODUCER_ID,
                          producer_epoch=epoch, base_sequence=base_sequence)


NOT_READY = {w.UNKNOWN_TOPIC_OR_PARTITION, w.LEADER_NOT_AVAILABLE, 6}  # 6: NOT_LEADER_OR_FOLLOWER


def produce(port: int, topic: str, batch: bytes, ready_timeout_s: float = 30.0) -> tuple[int, int]:
    """Produce v3, acks=all, partition 0: (error_code, base_offset). Retried,
    as a client would, while the partition is not open yet (after a
    restart) or its leader not known."""
    deadline = time.monotonic() + ready_timeout_s
    while True:
        try:
            answer = produce_once(port, topic, batch)
        except (ConnectionError, w.Closed):
            # A broker just restarted may reset a connection accepted while
            # it was still starting; a client reconnects and retries.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
            continue
        if answer[0] not in NOT_READY or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def produce_once(port: int, topic: str, batch: bytes) -> tuple[int, int]:
    correlation_id = next(_correlation)
    frame = w.request(port, w.header_v1(w.PRODUCE, 3, correlation_id)
                      + w.produce_v3_body(topic, 0, batch))
    r = w.Reader(frame)
    assert r.i32() == correlation_id
    [(name, partition, error_code, base_offset)] = w.parse_produce_v3(r.take(r.remaining()))
    assert (name, partition) == (topic, 0)
    return error_code, base_offset


def varint(r: w.Reader) -> int:
    """A zigzag varint (record fields)."""
    v = r.uvarint()
    return (v >> 1) ^ -(v & 1)


def stored_values(port: int, topic: str) -> list[bytes]:
    """Every record value of partition 0, fetched from offset 0 (Fetch v4);
    the batches are uncompressed, so values are read off the records."""
    values: list[bytes] = []
    offset = 0
    while True:
        correlation_id = next(_correlation)
        frame = w.request(port, w.header_v1(w.FETCH, 4, correlation_id)
                          + w.fetch_v4_body(topic, 0, offset))
        r = w.Reader(frame)
        assert r.i32() == correlation_id
        [(_, _, error_code, high_watermark, records)] = w.parse_fetch_v4(r.take(r.remaining()))
        assert error_code == w.NONE
        if not records:
            return values
        position = 0
        while position + 61 <= len(records):
            h = w.Reader(records[position:position + 61])
            base_offset, batch_length = h.i64(), h.i32()
            end = position + 12 + batch_length
            if end > len(records):
                break
            h.take(4 + 1 + 4 + 2)
            last_offset_delta = h.i32()
            body = w.Reader(records[position + 61:end])
            for _ in range(last_offset_delta + 1):
                record = w.Reader(body.take(varint(body)))
                record.i8()  # attributes
                varint(record)  # timestamp delta
                varint(record)  # offset delta
                key_length = varint(record)
                if key_length > 0:
                    record.take(key_length)
                value_length = varint(record)
                values.append(record.take(value_length))
            offset = base_offset + last_offset_delta + 1
            position = end
        if offset >= high_watermark:
            return values


def test_a_retry_after_kill_9_is_a_duplicate_with_its_original_offset(broker):
    topic = unique_topic("idem")
    create_topic(broker.bootstrap, topic, partitions=1)
    first = idempotent_batch("a", 3, 0)
    second = idempotent_batch("b", 2, 3)
    assert produce(broker.port, topic, first) == (w.NONE, 0)
    plain = w.record_batch([(None, b"plain", [])], BASE_TIMESTAMP)
    assert produce(broker.port, topic, plain) == (w.NONE, 3)
    assert produce(broker.port, topic, second) == (w.NONE, 4)

    # The answers were "lost": the broker dies, the producer retries.
    broker.restart(kill=True)
    assert produce(broker.port, topic, first) == (w.NONE, 0)
    assert produce(broker.port, topic, second) == (w.NONE, 4)
    assert stored_values(broker.port, topic) == [
        b"a-0", b"a-1", b"a-2", b"plain", b"b-0", b"b-1"]

    # The state goes on from the last batch: a gap is refused, the next
    # sequence accepted; after a clean restart (from the shutdown snapshot)
    # too.
    assert produce(broker.port, topic, idempotent_batch("gap", 1, 9))[0] == \
        OUT_OF_ORDER_SEQUENCE_NUMBER
    assert produce(broker.port, topic, idempotent_batch("c", 1, 5)) == (w.NONE, 6)
    broker.restart()
    assert produce(broker.port, topic, idempotent_batch("c", 1, 5)) == (w.NONE, 6)

    # KIP-360 epoch bump: the new epoch starts at 0, the old one is fenced.
    assert produce(broker.port, topic, idempotent_batch("e", 1, 4, epoch=1))[0] == \
        OUT_OF_ORDER_SEQUENCE_NUMBER
    assert produce(broker.port, topic, idempotent_batch("e", 1, 0, epoch=1)) == (w.NONE, 7)
    assert produce(broker.port, topic, idempotent_batch("old", 1, 6))[0] == \
        INVALID_PRODUCER_EPOCH
    assert len(stored_values(broker.port, topic)) == 8

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        described = admin.describe_producers([TopicPartition(topic, 0)])
    finally:
        admin.close()
    [producer] = described[TopicPartition(topic, 0)].active_producers
    assert (producer.producer_id, producer.producer_epoch, producer.last_sequence) == \
        (PRODUCER_ID, 1, 0)
    assert producer.last_timestamp == BASE_TIMESTAMP
    assert producer.current_transaction_start_offset == -1


@pytest.mark.timeout(180)
def test_a_new_leader_deduplicates_a_retry_of_what_the_old_leader_wrote(cluster_factory):
    cluster = cluster_factory(combined=3)
    cluster.start()
    cluster.wait_ready({1, 2, 3})
    topic = unique_topic("idem-rf3")
    create_cluster_topic(cluster.bootstrap(), topic, partitions=1, replication_factor=3)
    views = wait_topic_placed(cluster, topic, 1, {1, 2, 3}, 3)
    before = next(iter(views.values())).topics[topic].partitions[0]
    leader = cluster.node(before.leader)
    followers = [b for b in before.replicas if b != before.leader]

    batches = [idempotent_batch("r", 2, 0), idempotent_batch("s", 3, 2)]
    assert produce(leader.client_port, topic, batches[0]) == (w.NONE, 0)
    assert produce(leader.client_port, topic, batches[1]) == (w.NONE, 2)

    # acks=all answered: every in-sync follower has both batches. The
    # leader dies before the producer saw the second answer.
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
    assert produce(new.client_port, topic, batches[1]) == (w.NONE, 2)
    assert produce(new.client_port, topic, batches[0]) == (w.NONE, 0)
    assert produce(new.client_port, topic, idempotent_batch("t", 1, 5)) == (w.NONE, 5)

    def all_once():
        values = stored_values(new.client_port, topic)
        return len(values) >= 6, values

    values, _ = cluster.wait_for("the new leader's high watermark past offset 5", all_once, 30)
    assert values == [b"r-0", b"r-1", b"s-0", b"s-1", b"s-2", b"t-0"]
