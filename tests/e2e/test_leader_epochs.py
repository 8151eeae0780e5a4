"""Leader epochs in the log: every batch a leader appends carries its leader
epoch, each restart (a new leader epoch) starts a new epoch in the
partition's leader-epoch checkpoint, and OffsetForLeaderEpoch and
ListOffsets answer from it with Kafka's rules.

Raw protocol (the bytes are documented next to each request):

OffsetForLeaderEpoch v3 request body: replica_id INT32 (-1, a consumer) |
topics ARRAY[ topic STRING | partitions ARRAY[ partition INT32 |
current_leader_epoch INT32 | leader_epoch INT32 ] ]
Response body: throttle_time_ms INT32 | topics ARRAY[ topic STRING |
partitions ARRAY[ error_code INT16 | partition INT32 | leader_epoch INT32 |
end_offset INT64 ] ]

ListOffsets v4 request body: replica_id INT32 | isolation_level INT8 |
topics ARRAY[ name STRING | partitions ARRAY[ partition_index INT32 |
current_leader_epoch INT32 | timestamp INT64 ] ]
Response body: throttle_time_ms INT32 | topics ARRAY[ name STRING |
partitions ARRAY[ partition_index INT32 | error_code INT16 | timestamp INT64 |
offset INT64 | leader_epoch INT32 ] ]
"""

from __future__ import annotations

import kafka_wire as w
from cluster import metadata
from clients import create_topic, keyed_messages, produce, unique_topic, wait_for_topic

OFFSET_FOR_LEADER_EPOCH = 23
FENCED_LEADER_EPOCH = 74
UNKNOWN_LEADER_EPOCH = 75
LATEST, EARLIEST = -1, -2

_correlation = iter(range(5000, 1 << 30))


def _response_body(port: int, api_key: int, version: int, body: bytes) -> w.Reader:
    correlation_id = next(_correlation)
    frame = w.request(port, w.header_v1(api_key, version, correlation_id) + body)
    r = w.Reader(frame)
    assert r.i32() == correlation_id
    return r


def end_offsets(port: int, topic: str, epochs: list[int],
                current_leader_epoch: int = -1) -> list[tuple[int, int, int]]:
    """OffsetForLeaderEpoch v3 for partition 0 and each of `epochs`:
    [(error_code, leader_epoch, end_offset)] in request order."""
    partitions = b"".join(w.i32(0) + w.i32(current_leader_epoch) + w.i32(epoch) for epoch in epochs)
    body = w.i32(-1) + w.i32(1) + w.string(topic) + w.i32(len(epochs)) + partitions
    r = _response_body(port, OFFSET_FOR_LEADER_EPOCH, 3, body)
    r.i32()  # throttle_time_ms
    out = []
    for _ in range(r.i32()):
        assert r.string() == topic
        for _ in range(r.i32()):
            error_code = r.i16()
            assert r.i32() == 0
            out.append((error_code, r.i32(), r.i64()))
    assert r.remaining() == 0
    return out


def list_offset(port: int, topic: str, timestamp: int) -> tuple[int, int, int]:
    """ListOffsets v4 for partition 0: (error_code, offset, leader_epoch)."""
    body = (w.i32(-1) + w.i8(0) + w.i32(1) + w.string(topic)
            + w.i32(1) + w.i32(0) + w.i32(-1) + w.i64(timestamp))
    r = _response_body(port, w.LIST_OFFSETS, 4, body)
    r.i32()  # throttle_time_ms
    assert r.i32() == 1 and r.string() == topic and r.i32() == 1
    assert r.i32() == 0
    error_code = r.i16()
    r.i64()  # timestamp
    offset = r.i64()
    leader_epoch = r.i32()
    assert r.remaining() == 0
    return error_code, offset, leader_epoch


def batch_leader_epochs(port: int, topic: str) -> list[tuple[int, int]]:
    """Fetch v4 of partition 0 from offset 0: [(base_offset,
    partitionLeaderEpoch)] of each batch (header bytes 0..8 and 12..16)."""
    r = _response_body(port, w.FETCH, 4, w.fetch_v4_body(topic, 0, 0))
    [(_, _, error_code, _, records)] = w.parse_fetch_v4(r.take(r.remaining()))
    assert error_code == w.NONE
    out = []
    position = 0
    while position + 61 <= len(records):
        h = w.Reader(records[position:position + 16])
        base_offset, batch_length, epoch = h.i64(), h.i32(), h.i32()
        out.append((base_offset, epoch))
        position += 12 + batch_length
    return out


def leader_epoch(broker, topic: str) -> int:
    view = metadata(broker.port, 0, [topic])
    return view.topics[topic].partitions[0].leader_epoch


def test_offset_for_leader_epoch_answers_each_epochs_end_across_restarts(broker):
    topic = unique_topic("epochs")
    create_topic(broker.bootstrap, topic, 1)
    wait_for_topic(broker.bootstrap, topic, 1)
    first = leader_epoch(broker, topic)
    produce(broker.bootstrap, topic, keyed_messages(3, partition=0, tag="a"))
    assert end_offsets(broker.port, topic, [first]) == [(w.NONE, first, 3)]

    broker.restart()
    wait_for_topic(broker.bootstrap, topic, 1)
    second = leader_epoch(broker, topic)
    assert second > first
    # No append in the new epoch yet: the first epoch is still the latest
    # in the log, so it ends at the log end.
    assert end_offsets(broker.port, topic, [first]) == [(w.NONE, first, 3)]
    produce(broker.bootstrap, topic, keyed_messages(2, partition=0, tag="b"))

    broker.restart()
    wait_for_topic(broker.bootstrap, topic, 1)
    third = leader_epoch(broker, topic)
    assert third > second
    produce(broker.bootstrap, topic, keyed_messages(1, partition=0, tag="c"))

    # Each batch carries the epoch of the leader that appended it.
    epochs = batch_leader_epochs(broker.port, topic)
    assert {offset: epoch for offset, epoch in epochs} == {
        **{o: first for o, _ in epochs if o < 3},
        **{o: second for o, _ in epochs if 3 <= o < 5},
        5: third,
    }
    assert [e for _, e in epochs] == sorted(e for _, e in epochs)

    asked = [first, second, third, first - 1 if first > 0 else 0, third + 1]
    answers = end_offsets(broker.port, topic, asked, current_leader_epoch=third)
    assert answers[0] == (w.NONE, first, 3), "an older epoch ends where the next starts"
    assert answers[1] == (w.NONE, second, 5)
    assert answers[2] == (w.NONE, third, 6), "the latest epoch ends at the log end"
    if first > 0:
        assert answers[3] == (w.NONE, first - 1, 0), "older than the first: where the first starts"
    assert answers[4] == (w.NONE, -1, -1), "an epoch newer than any known is undefined"
    # A stale or future current_leader_epoch is fenced or unknown.
    assert end_offsets(broker.port, topic, [first], current_leader_epoch=second)[0][0] == FENCED_LEADER_EPOCH
    assert end_offsets(broker.port, topic, [first], current_leader_epoch=third + 1)[0][0] == UNKNOWN_LEADER_EPOCH

    # ListOffsets names the epoch of the offset it answers.
    assert list_offset(broker.port, topic, LATEST) == (w.NONE, 6, third)
    assert list_offset(broker.port, topic, EARLIEST) == (w.NONE, 0, first)
