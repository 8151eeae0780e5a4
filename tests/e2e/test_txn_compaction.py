"""Compaction of transactional data end to end (issue 15), Kafka's
LogCleaner rules: a confluent-kafka transactional producer commits some
transactions and aborts others over the same keys on a compacted topic;
once the cleaner has run (every 200 ms here), the aborted records are gone
from the log (a read_uncommitted consumer no longer sees them) and a
read_committed consumer sees exactly the latest committed value of every
key, at its original offset. Markers stay while their transaction has data
and go after delete.retention.ms (KIP-534's delete horizon): in the end the
only control batch left is the commit marker of the last transaction, whose
records are the latest values, and no aborted transaction is listed any more
(the aborted-transaction index files are gone).
"""

from __future__ import annotations

import struct
import time

from confluent_kafka import Producer

import clients
from test_txn_markers import fetch_committed

CLEANER = {"log.cleaner.backoff.ms": "200"}
DEADLINE_S = 90.0
KEYS = [f"k{i}".encode() for i in range(5)]
ATTR_CONTROL = 1 << 5


def varint(data: bytes, position: int) -> tuple[int, int]:
    """A zigzag varint at `position`: (value, next position)."""
    shift = value = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1), position


def control_batches(records: bytes) -> list[tuple[int, int]]:
    """(base offset, control type) of the control batches holding a record in
    a v2 record set: baseOffset INT64 | batchLength INT32 | ... attributes
    INT16 at 21 ... recordsCount INT32 at 57, then the records (length
    varint | attributes INT8 | timestampDelta varint | offsetDelta varint |
    key length varint | key ...); a marker's key is version INT16 | type
    INT16 (0 abort, 1 commit)."""
    found = []
    position = 0
    while position + 61 <= len(records):
        base_offset, length = struct.unpack_from(">qi", records, position)
        end = position + 12 + length
        if end > len(records):
            break
        (attributes,) = struct.unpack_from(">h", records, position + 21)
        (count,) = struct.unpack_from(">i", records, position + 57)
        if attributes & ATTR_CONTROL and count > 0:
            at = position + 61
            _, at = varint(records, at)  # record length
            at += 1  # attributes
            _, at = varint(records, at)  # timestamp delta
            _, at = varint(records, at)  # offset delta
            key_length, at = varint(records, at)
            assert key_length == 4, records[position:end]
            (control_type,) = struct.unpack_from(">h", records, at + 2)
            found.append((base_offset, control_type))
        position = end
    return found


def test_the_cleaner_removes_aborted_records_and_keeps_the_latest_committed_ones(broker_factory):
    broker = broker_factory(CLEANER)
    bootstrap = broker.bootstrap
    topic = clients.unique_topic("txn-compact")
    clients.create_topic(bootstrap, topic, 1, {
        "cleanup.policy": "compact",
        "segment.bytes": "2048",
        "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": "1000",
    })
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"txc-{topic}",
                  "linger.ms": 0})
    p.init_transactions(clients.TIMEOUT_S)
    latest: dict[bytes, tuple[int, bytes]] = {}
    committed_rounds = 0
    last_commit_end = -1
    # 12 transactions over the same 5 keys, every third aborted, the last
    # one committed: about 4 KiB of records and markers.
    for round_ in range(12):
        aborted = round_ % 3 == 1
        delivered: list[tuple[int, bytes, bytes]] = []
        p.begin_transaction()
        for key in KEYS:
            value = f"{'aborted' if aborted else 'committed'}-{round_}-{key.decode()}".encode()
            p.produce(topic, key=key, value=value.ljust(40, b"."), partition=0,
                      on_delivery=lambda err, m, out=delivered: out.append(
                          (m.offset(), m.key(), m.value())) if err is None else None)
        # librdkafka sends AddPartitionsToTxn on a timer: flush first so an
        # abort reaches the broker (see test_txn_markers).
        assert p.flush(clients.TIMEOUT_S) == 0
        assert len(delivered) == len(KEYS)
        if aborted:
            p.abort_transaction(clients.TIMEOUT_S)
        else:
            p.commit_transaction(clients.TIMEOUT_S)
            committed_rounds += 1
            for offset, key, value in delivered:
                latest[key] = (offset, value)
            last_commit_end = max(offset for offset, _, _ in delivered)
    assert committed_rounds == 8
    txn_expected = sorted((offset, key, value) for key, (offset, value) in latest.items())
    last_commit_marker = last_commit_end + 1

    plain = clients.producer(bootstrap)
    tail: list[tuple[int, bytes, bytes]] = []

    def produce_tail() -> None:
        # More than a segment of unique keys: every transactional record
        # and marker is in a sealed segment, and each call makes a new pass
        # due (the cleaner only runs when there is dirty data).
        n = len(tail)
        batch = [{"key": f"tail-{n + i}".encode(), "value": b"t" * 40, "partition": 0}
                 for i in range(40)]
        for m in clients.produce(bootstrap, topic, batch, **{"linger.ms": 0}):
            tail.append((m.offset(), m.key(), m.value()))

    def read(isolation: str) -> list[tuple[int, bytes, bytes]]:
        return [(m.offset, m.key, m.value) for m in clients.consume_partition(
            bootstrap, topic, 0, **{"isolation.level": isolation})]

    deadline = time.monotonic() + DEADLINE_S
    state = None
    while time.monotonic() < deadline:
        produce_tail()
        time.sleep(0.6)
        expected = txn_expected + sorted(tail)
        uncommitted = read("read_uncommitted")
        _, _, aborted_listed, records = fetch_committed(broker.port, topic, 0, 0)
        markers = control_batches(records)
        txn_files = sorted(f.name for f in (broker.data_dir / f"{topic}-0").glob("*.txnindex"))
        state = (uncommitted == expected, aborted_listed, markers, txn_files)
        if state == (True, [], [(last_commit_marker, 1)], []):
            break
    else:
        raise AssertionError(
            f"after {DEADLINE_S}s: read_uncommitted exact: {state and state[0]}, "
            f"aborted listed {state and state[1]}, markers {state and state[2]} "
            f"(expected only {(last_commit_marker, 1)}), txnindex files {state and state[3]}")
    # The fetch above covered the transactional records and markers (a
    # record set of up to 1 MiB from offset 0).
    assert read("read_committed") == txn_expected + sorted(tail)
    assert all(value.startswith(b"committed-") for _, key, value in read("read_uncommitted")
               if key in KEYS)

    # The compacted log survives a restart unchanged.
    broker.restart()
    assert read("read_committed") == txn_expected + sorted(tail)
    assert read("read_uncommitted") == txn_expected + sorted(tail)
    clients.assert_healthy(broker)
