"""Hostile and broken input on raw sockets.

Kafka's scopes: a broken frame closes that connection; a malformed request
gets an error response or a closed connection; a bad partition gets a
per-partition error code. Never a crash, never a hang, and other clients
keep being served. After every case the broker must still be alive and a
fresh librdkafka client must still create a topic, produce and read back
(clients.assert_healthy).

The admin HTTP endpoint gets its own flood: idle and half-sent connections
must not keep /health from answering.

Frames are hand-encoded in kafka_wire.py, where every byte layout is
documented; the comments here name what each case changes.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import kafka_wire as w
from conftest import free_port
from clients import (
    TopicPartition,
    assert_healthy,
    consume_partition,
    consumer,
    create_topic,
    unique_topic,
)

SOCKET_REQUEST_MAX_BYTES = 104_857_600  # socket.request.max.bytes default


# ---------------------------------------------------------------------------
# Frame sizes.

@pytest.mark.parametrize("size", [
    -1,                               # negative
    -(2**31),                         # INT32_MIN
    0,                                # empty frame: no room for a header
    SOCKET_REQUEST_MAX_BYTES + 1,     # one byte over socket.request.max.bytes
    2**31 - 1,                        # INT32_MAX
], ids=["minus1", "int32_min", "zero", "max_plus_1", "int32_max"])
def test_bad_frame_size_closes_connection(broker, size):
    with w.connect(broker.port) as s:
        # Only the 4-byte size prefix (plus a few body bytes for the large
        # ones): the broker must decide from the prefix alone, without
        # waiting for (or allocating) the announced body.
        w.send_all(s, struct.pack(">i", size) + (b"\x00" * 16 if size > 0 else b""))
        w.expect_closed(s)
    assert_healthy(broker)


def test_three_byte_frame_closes_connection(broker):
    # Frame size 3 followed by 3 bytes: shorter than the 8-byte minimum of
    # api_key + api_version + correlation_id (+ client_id length).
    with w.connect(broker.port) as s:
        w.send_all(s, w.i32(3) + b"\x00\x12\x00")
        w.expect_closed(s)
    assert_healthy(broker)


@pytest.mark.parametrize("header", [
    b"\x00",                                  # 1 byte: half an api_key
    b"\x00\x12\x00",                          # 3 bytes: api_key + half an api_version
    b"\x00\x12\x00\x00\x00\x00\x00",          # 7 bytes: correlation_id cut short
    w.i16(18) + w.i16(0) + w.i32(5) + w.i16(50) + b"abc",  # client_id length 50, 3 bytes present
    w.i16(3) + w.i16(9) + w.i32(5) + w.i16(-1),  # flexible Metadata v9: tagged-fields byte missing
], ids=["1_byte", "3_bytes", "7_bytes", "client_id_overrun", "v2_header_without_tags"])
def test_truncated_request_header(broker, header):
    with w.connect(broker.port) as s:
        w.send_all(s, w.frame(header))
        correlation = struct.unpack(">i", header[4:8])[0] if len(header) >= 8 else None
        if correlation is None:
            w.expect_closed(s)
        else:
            w.closed_or_response(s, correlation)
    assert_healthy(broker)


# ---------------------------------------------------------------------------
# Lying lengths inside otherwise valid requests.

def test_metadata_v1_control_request_is_answered(broker):
    # The valid form of the requests below, so that the lying variants
    # differ from something the broker accepts in exactly one field.
    resp = w.request(broker.port, w.header_v1(w.METADATA, 1, 101) + w.metadata_v1_body(["x"]))
    assert resp[:4] == w.i32(101)


@pytest.mark.parametrize("body", [
    # topics ARRAY count 0x7fffffff, then one real topic entry.
    w.i32(0x7FFFFFFF) + w.string("x"),
    # topics ARRAY count 0x7fffffff and nothing after it.
    w.i32(0x7FFFFFFF),
    # topics ARRAY count 0x10000000 (268M entries of at least 2 bytes).
    w.i32(0x10000000) + w.string("x"),
    # count -2: negative but not the null marker -1.
    w.i32(-2) + w.string("x"),
    # count 1, topic name STRING length 0x7fff, only 3 bytes follow.
    w.i32(1) + w.i16(0x7FFF) + b"abc",
], ids=["count_int32_max", "count_int32_max_empty", "count_2pow28", "count_minus2", "string_overrun"])
def test_metadata_v1_lying_lengths(broker, body):
    with w.connect(broker.port) as s:
        w.send_all(s, w.frame(w.header_v1(w.METADATA, 1, 102) + body))
        w.closed_or_response(s, 102)
    assert_healthy(broker)


def test_metadata_v9_control_request_is_answered(broker):
    resp = w.request(broker.port, w.header_v2(w.METADATA, 9, 201) + w.metadata_v9_body(["x"]))
    assert resp[:4] == w.i32(201)
    resp = w.request(broker.port, w.header_v2(w.METADATA, 9, 202) + w.metadata_v9_body(None))
    assert resp[:4] == w.i32(202)


V9_TAIL = w.i8(0) + w.i8(0) + w.i8(0) + w.TAGGED_FIELDS_EMPTY  # three booleans + tagged fields


@pytest.mark.parametrize("body", [
    # topics COMPACT_ARRAY with count+1 = 0xffffffff (uvarint ff ff ff ff 0f).
    w.uvarint(0xFFFFFFFF) + w.compact_string("x") + w.TAGGED_FIELDS_EMPTY + V9_TAIL,
    # count+1 = 0x7fffffff and nothing after it.
    w.uvarint(0x7FFFFFFF),
    # An unterminated varint: ten continuation bytes then a final byte,
    # longer than any 32-bit varint may be.
    b"\xff" * 10 + b"\x01" + V9_TAIL,
    # count 1, topic name COMPACT_STRING length+1 = 0x7ffffff0, 3 bytes follow.
    w.uvarint(2) + w.uvarint(0x7FFFFFF0) + b"abc",
    # count 1, the topic's tagged fields claim 0xfffffff fields.
    w.uvarint(2) + w.compact_string("x") + w.uvarint(0xFFFFFFF) + V9_TAIL,
    # count 1, one tagged field whose size is 0x7fffffff.
    w.uvarint(2) + w.compact_string("x") + w.uvarint(1) + w.uvarint(0) + w.uvarint(0x7FFFFFFF) + V9_TAIL,
], ids=["count_u32_max", "count_int32_max_empty", "overlong_varint", "compact_string_overrun",
        "tag_count_huge", "tag_size_huge"])
def test_metadata_v9_lying_lengths(broker, body):
    with w.connect(broker.port) as s:
        w.send_all(s, w.frame(w.header_v2(w.METADATA, 9, 203) + body))
        w.closed_or_response(s, 203)
    assert_healthy(broker)


def test_lying_length_in_request_header_tagged_fields(broker):
    # Header v2 whose tagged fields claim 0x7fffffff entries.
    header = w.header_v1(w.METADATA, 9, 204) + w.uvarint(0x7FFFFFFF)
    with w.connect(broker.port) as s:
        w.send_all(s, w.frame(header + w.metadata_v9_body(None)))
        w.closed_or_response(s, 204)
    assert_healthy(broker)


# ---------------------------------------------------------------------------
# Truncated bodies.

@pytest.mark.parametrize("payload", [
    # Metadata v1 announcing 2 topics, carrying 1.
    w.header_v1(w.METADATA, 1, 301) + w.i32(2) + w.string("x"),
    # Produce v3 whose records BYTES length says 1000, 10 bytes present.
    w.header_v1(w.PRODUCE, 3, 301) + w.string(None) + w.i16(-1) + w.i32(1000) + w.i32(1) + w.string("t")
    + w.i32(1) + w.i32(0) + w.i32(1000) + b"\x00" * 10,
    # Produce v3 cut right after acks.
    w.header_v1(w.PRODUCE, 3, 301) + w.string(None) + w.i16(-1),
    # CreateTopics v2 cut in the middle of the first topic.
    w.header_v1(w.CREATE_TOPICS, 2, 301) + w.i32(1) + w.string("t") + w.i32(1),
    # ApiVersions v3 (flexible) with client_software_name length+1 = 100, 2 bytes present.
    w.header_v2(w.API_VERSIONS, 3, 301) + w.uvarint(100) + b"ab",
], ids=["metadata_v1", "produce_records", "produce_after_acks", "create_topics", "api_versions_v3"])
def test_truncated_body(broker, payload):
    with w.connect(broker.port) as s:
        w.send_all(s, w.frame(payload))
        w.closed_or_response(s, 301)
    assert_healthy(broker)


def test_produce_batch_length_lies(broker):
    # A v2 batch whose batchLength field claims more bytes than the records
    # field holds, inside an otherwise valid Produce v3.
    topic = unique_topic("liar")
    create_topic(broker.bootstrap, topic, 1)
    batch = bytearray(w.record_batch([(b"k", b"v", [])], 1_700_000_000_000))
    batch[8:12] = w.i32(0x7FFFFFF0)
    with w.connect(broker.port) as s:
        w.send_all(s, w.frame(w.header_v1(w.PRODUCE, 3, 302) + w.produce_v3_body(topic, 0, bytes(batch))))
        body = w.closed_or_response(s, 302)
        if body is not None:
            [(name, partition, error_code, _)] = w.parse_produce_v3(body)
            assert (name, partition) == (topic, 0)
            assert error_code != w.NONE
    c = consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) == (0, 0)
    finally:
        c.close()
    assert_healthy(broker)


# ---------------------------------------------------------------------------
# Random bytes.

def test_random_frames(broker):
    rng = random.Random(0x5EED)
    for i in range(40):
        size = rng.randrange(8, 600)
        payload = bytearray(rng.randbytes(size))
        # Keep the api key away from requests that may legitimately not
        # answer at once (Produce acks=0, Fetch max_wait, group joins).
        while struct.unpack(">h", payload[0:2])[0] in (0, 1, 11, 14):
            payload[0:2] = rng.randbytes(2)
        correlation = struct.unpack(">i", payload[4:8])[0]
        with w.connect(broker.port) as s:
            w.send_all(s, w.frame(bytes(payload)))
            w.closed_or_response(s, correlation)
        assert broker.alive(), f"died on random frame {i}: {bytes(payload)[:32].hex()}"
    assert_healthy(broker)


def test_random_unframed_stream(broker):
    rng = random.Random(0xBAD)
    for _ in range(10):
        with w.connect(broker.port) as s:
            try:
                s.sendall(rng.randbytes(rng.randrange(1, 65536)))
            except (ConnectionResetError, BrokenPipeError):
                pass  # the broker may close as soon as it sees a bad size
        assert broker.alive()
    assert_healthy(broker)


# ---------------------------------------------------------------------------
# Versions and api keys.

def api_versions(broker, version: int, correlation_id: int, flexible_header: bool):
    header = (w.header_v2 if flexible_header else w.header_v1)(w.API_VERSIONS, version, correlation_id)
    # A v3+ body (client_software_name, client_software_version, tags); a
    # broker that does not parse unsupported versions ignores it.
    body = w.compact_string("skein-e2e") + w.compact_string("1.0") + w.TAGGED_FIELDS_EMPTY if flexible_header else b""
    resp = w.request(broker.port, header + body)
    assert resp[:4] == w.i32(correlation_id)
    return resp[4:]


def test_api_versions_v0_lists_supported_ranges(broker):
    error_code, ranges = w.parse_api_versions_v0(api_versions(broker, 0, 401, False))
    assert error_code == w.NONE
    # What every client in this suite needs.
    for key in (w.PRODUCE, w.FETCH, w.LIST_OFFSETS, w.METADATA, w.API_VERSIONS, w.CREATE_TOPICS):
        assert key in ranges, f"api key {key} not advertised: {ranges}"
    for key, (lo, hi) in ranges.items():
        assert 0 <= lo <= hi, (key, lo, hi)
    assert ranges[w.API_VERSIONS][0] == 0 and ranges[w.API_VERSIONS][1] >= 3


def test_api_versions_999_gets_v0_response_with_unsupported_version(broker):
    _, supported = w.parse_api_versions_v0(api_versions(broker, 0, 402, False))
    # Kafka answers an ApiVersions request of a version it does not know
    # with a v0 response: error_code 35 and its real ranges, so that the
    # client can retry with a version both sides support.
    error_code, ranges = w.parse_api_versions_v0(api_versions(broker, 999, 403, True))
    assert error_code == w.UNSUPPORTED_VERSION
    assert ranges == supported
    # The connection stays usable for the retry at a supported version.
    with w.connect(broker.port) as s:
        w.send_all(s, w.frame(w.header_v2(w.API_VERSIONS, 999, 404)))
        resp = w.read_frame(s)
        assert resp[:4] == w.i32(404)
        assert w.parse_api_versions_v0(resp[4:])[0] == w.UNSUPPORTED_VERSION
        w.send_all(s, w.frame(w.header_v1(w.API_VERSIONS, 0, 405)))
        resp = w.read_frame(s)
        assert resp[:4] == w.i32(405)
        assert w.parse_api_versions_v0(resp[4:]) == (w.NONE, supported)
    assert_healthy(broker)


def test_unknown_api_key_closes_connection(broker):
    with w.connect(broker.port) as s:
        w.send_all(s, w.frame(w.header_v1(9999, 0, 501) + b"\x00" * 8))
        w.expect_closed(s)
    assert_healthy(broker)


def test_unsupported_version_of_known_api_closes_or_errors(broker):
    # Metadata v999: Kafka closes the connection (it cannot even parse the
    # header with certainty). An error response is also acceptable.
    with w.connect(broker.port) as s:
        w.send_all(s, w.frame(w.header_v2(w.METADATA, 999, 502) + w.metadata_v9_body(None)))
        w.closed_or_response(s, 502)
    assert_healthy(broker)


# ---------------------------------------------------------------------------
# Produce with a corrupt batch.

def test_produce_with_bad_crc_is_corrupt_message_and_appends_nothing(broker):
    topic = unique_topic("crc")
    create_topic(broker.bootstrap, topic, 1)
    records = [(b"crc-key", b"crc-value", [(b"h", b"1")])]

    def produce_raw(batch: bytes, correlation_id: int):
        resp = w.request(broker.port, w.header_v1(w.PRODUCE, 3, correlation_id) + w.produce_v3_body(topic, 0, batch))
        assert resp[:4] == w.i32(correlation_id)
        [(name, partition, error_code, base_offset)] = w.parse_produce_v3(resp[4:])
        assert (name, partition) == (topic, 0)
        return error_code, base_offset

    # Control: the same batch with a correct CRC is appended at offset 0.
    assert produce_raw(w.record_batch(records, 1_700_000_000_000), 601) == (w.NONE, 0)
    # One flipped CRC bit: CORRUPT_MESSAGE, nothing appended.
    bad = w.record_batch([(b"evil-key", b"evil-value", [])], 1_700_000_000_100, corrupt_crc=True)
    error_code, _ = produce_raw(bad, 602)
    assert error_code == w.CORRUPT_MESSAGE
    # A flipped payload byte (CRC now stale) is caught the same way.
    good = bytearray(w.record_batch([(b"evil-key", b"evil-value", [])], 1_700_000_000_100))
    good[-3] ^= 0x20
    error_code, _ = produce_raw(bytes(good), 603)
    assert error_code == w.CORRUPT_MESSAGE

    c = consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) == (0, 1)
    finally:
        c.close()
    got = consume_partition(broker.bootstrap, topic, 0, 0, expect_count=1)
    assert [(m.offset, m.key, m.value) for m in got] == [(0, b"crc-key", b"crc-value")]
    # The next good batch continues densely at offset 1.
    assert produce_raw(w.record_batch(records, 1_700_000_000_200), 604) == (w.NONE, 1)
    assert_healthy(broker)


# ---------------------------------------------------------------------------
# Hostile topic names.

HOSTILE_NAMES = ["../../etc", "a/b", "", "x" * 250, ".", "..", "../escape", "/abs", "a\\b", "nul\x00byte"]


def tree(root: Path, skip: Path) -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if d == skip or skip in d.parents:
            dirnames[:] = []
            continue
        for n in dirnames + filenames:
            out.add(str((d / n).relative_to(root)))
    return out


def test_create_topics_hostile_names_are_invalid_and_touch_nothing(broker):
    # The fixture nests the data dir as <tmp>/brokerN/a/b/data, so the
    # "../.." names resolve inside <tmp>/brokerN, which is inspected here.
    root = broker.data_dir.parents[2]
    outside_before = tree(root, broker.data_dir)
    inside_before = set(os.listdir(broker.data_dir))

    resp = w.request(broker.port, w.header_v1(w.CREATE_TOPICS, 2, 701) + w.create_topics_v2_body(HOSTILE_NAMES))
    assert resp[:4] == w.i32(701)
    result = w.parse_create_topics_v2(resp[4:])
    assert result == {name: w.INVALID_TOPIC_EXCEPTION for name in HOSTILE_NAMES}

    # One name per request too, including validate_only.
    for i, name in enumerate(HOSTILE_NAMES):
        for validate_only in (False, True):
            resp = w.request(broker.port, w.header_v1(w.CREATE_TOPICS, 2, 710 + i)
                             + w.create_topics_v2_body([name], validate_only=validate_only))
            assert w.parse_create_topics_v2(resp[4:]) == {name: w.INVALID_TOPIC_EXCEPTION}

    assert tree(root, broker.data_dir) == outside_before
    # Inside the data dir nothing named after a hostile topic appeared
    # (the broker may create its own bookkeeping files there).
    new_inside = set(os.listdir(broker.data_dir)) - inside_before
    suspicious = [e for e in new_inside if e.startswith(("etc", "a-", "a\\", "x" * 32, "escape", "abs", "nul", ".", "-"))]
    assert suspicious == [], suspicious
    for p in ("/etc-0", "/abs-0", "/abs", "/escape-0"):
        assert not Path(p).exists(), p
    assert_no_such_topics(broker, HOSTILE_NAMES)
    assert_healthy(broker)


def assert_no_such_topics(broker, names):
    resp = w.request(broker.port, w.header_v1(w.METADATA, 4, 799) + w.metadata_v4_body(None, False))
    listed = w.parse_metadata_v4_topics(resp[4:])
    for name in names:
        assert name not in listed, f"hostile topic {name!r} exists"


# ---------------------------------------------------------------------------
# Idle, half-open connections.

def test_200_stalled_connections_do_not_block_other_clients(broker):
    stalled = []
    try:
        for i in range(200):
            s = socket.create_connection(("127.0.0.1", broker.port), timeout=10)
            # Half a frame: a size prefix announcing 40 bytes, then 10 of
            # them (alternating with only 2 bytes of the size prefix).
            s.sendall(w.i32(40) + b"\x00" * 10 if i % 2 == 0 else b"\x00\x00")
            stalled.append(s)
        t0 = time.monotonic()
        assert_healthy(broker)
        assert time.monotonic() - t0 < 30
        # Also a raw ApiVersions on a 201st connection is answered at once.
        resp = w.request(broker.port, w.header_v1(w.API_VERSIONS, 0, 801), timeout=5)
        assert resp[:4] == w.i32(801)
    finally:
        for s in stalled:
            s.close()
    assert_healthy(broker)


# ---------------------------------------------------------------------------
# The admin HTTP endpoint (/health, /metrics).


def http_get(port: int, path: str, timeout: float = 10) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_idle_and_half_sent_admin_http_connections_do_not_block_health(broker_factory):
    admin_port = free_port()
    broker = broker_factory(admin_port=admin_port)
    deadline = time.monotonic() + 30
    while http_get(admin_port, "/health")[0] != 200:
        assert time.monotonic() < deadline, "the broker never became ready"
        time.sleep(0.1)
    idle = []
    try:
        for i in range(200):
            s = socket.create_connection(("127.0.0.1", admin_port), timeout=10)
            # Every fourth sends half a request head and stops.
            if i % 4 == 0:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")
            idle.append(s)
        t0 = time.monotonic()
        assert http_get(admin_port, "/health") == (200, b"ready\n")
        # Generous: the hand-written server this replaces took 5 s per idle
        # connection ahead of the health check.
        assert time.monotonic() - t0 < 4
        status, body = http_get(admin_port, "/metrics")
        assert status == 200 and b"skein_connections_open" in body
        assert_healthy(broker)
    finally:
        for s in idle:
            s.close()
    assert http_get(admin_port, "/health") == (200, b"ready\n")
