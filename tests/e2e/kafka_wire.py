"""Hand-encoded Kafka wire protocol, just enough for the raw-socket tests.

Everything here is written from the Kafka protocol specification with
`struct`, deliberately independent of the broker's codec and of the client
libraries, so that the bytes a test sends are exactly the bytes documented
next to the code that builds them. All integers are big-endian.

Frame:            length INT32 (bytes that follow) | request or response
Request header v1 (non-flexible request versions):
                  api_key INT16 | api_version INT16 | correlation_id INT32 |
                  client_id NULLABLE_STRING (INT16 length, -1 = null, bytes)
Request header v2 (flexible request versions): header v1 followed by
                  TAGGED_FIELDS (UNSIGNED_VARINT count, 0 = none)
Response header v0: correlation_id INT32
Response header v1: correlation_id INT32 | TAGGED_FIELDS
(ApiVersions responses always use response header v0.)

Non-flexible types: STRING = INT16 length + UTF-8; ARRAY = INT32 count
(-1 = null) + elements; BYTES = INT32 length + bytes.
Flexible ("compact") types: COMPACT_STRING = UNSIGNED_VARINT (length + 1)
+ bytes (0 = null); COMPACT_ARRAY = UNSIGNED_VARINT (count + 1) + elements.
"""

from __future__ import annotations

import socket
import struct
import time

# API keys used by the tests.
PRODUCE = 0
FETCH = 1
LIST_OFFSETS = 2
METADATA = 3
OFFSET_COMMIT = 8
OFFSET_FETCH = 9
API_VERSIONS = 18
CREATE_TOPICS = 19

# Error codes used by the tests.
NONE = 0
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
LEADER_NOT_AVAILABLE = 5
NOT_LEADER_OR_FOLLOWER = 6
COORDINATOR_LOAD_IN_PROGRESS = 14
ILLEGAL_GENERATION = 22
UNKNOWN_MEMBER_ID = 25
INVALID_TOPIC_EXCEPTION = 17
UNSUPPORTED_VERSION = 35
TOPIC_ALREADY_EXISTS = 36
FETCH_SESSION_ID_NOT_FOUND = 70
INVALID_FETCH_SESSION_EPOCH = 71

CLIENT_ID = b"skein-e2e-raw"


# --------------------------------------------------------------------------
# Primitive encoders.

def i8(v: int) -> bytes:
    return struct.pack(">b", v)


def i16(v: int) -> bytes:
    return struct.pack(">h", v)


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def u32(v: int) -> bytes:
    return struct.pack(">I", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


def string(s: bytes | str | None) -> bytes:
    """STRING / NULLABLE_STRING: INT16 length (-1 = null) then the bytes."""
    if s is None:
        return i16(-1)
    b = s.encode() if isinstance(s, str) else s
    return i16(len(b)) + b


def uvarint(v: int) -> bytes:
    """UNSIGNED_VARINT: 7 bits per byte, low group first, MSB = more."""
    assert v >= 0
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        if v:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def varint(v: int) -> bytes:
    """VARINT (zig-zag encoded signed 32-bit), as used inside records."""
    return uvarint((v << 1) ^ (v >> 31))


def varlong(v: int) -> bytes:
    """VARLONG (zig-zag encoded signed 64-bit), as used inside records."""
    return uvarint((v << 1) ^ (v >> 63))


def compact_string(s: bytes | str | None) -> bytes:
    if s is None:
        return uvarint(0)
    b = s.encode() if isinstance(s, str) else s
    return uvarint(len(b) + 1) + b


TAGGED_FIELDS_EMPTY = uvarint(0)


def header_v1(api_key: int, api_version: int, correlation_id: int,
              client_id: bytes | None = CLIENT_ID) -> bytes:
    """Request header v1: api_key i16, api_version i16, correlation_id i32,
    client_id nullable string (i16 length + bytes)."""
    return i16(api_key) + i16(api_version) + i32(correlation_id) + string(client_id)


def header_v2(api_key: int, api_version: int, correlation_id: int,
              client_id: bytes | None = CLIENT_ID) -> bytes:
    """Request header v2: header v1 + tagged fields (one 0x00 byte = none).
    Note client_id stays a non-compact INT16-length string in v2."""
    return header_v1(api_key, api_version, correlation_id, client_id) + TAGGED_FIELDS_EMPTY


def frame(payload: bytes) -> bytes:
    """Size-prefixed frame: INT32 byte count of what follows, then payload."""
    return i32(len(payload)) + payload


# --------------------------------------------------------------------------
# CRC-32C (Castagnoli), reflected polynomial 0x82F63B78, as used by the v2
# record batch. Table-driven, pure Python: batches here are tiny.

def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# Known answer from RFC 3720 (iSCSI) B.4: 32 bytes of zeros.
assert crc32c(b"\x00" * 32) == 0x8A9136AA
assert crc32c(b"123456789") == 0xE3069283


# --------------------------------------------------------------------------
# Record batch v2 (magic 2).

def record(offset_delta: int, timestamp_delta: int, key: bytes | None,
           value: bytes | None, headers: list[tuple[bytes, bytes | None]]) -> bytes:
    """One record inside a v2 batch:

    length VARINT (bytes after this field) | attributes INT8 (unused, 0) |
    timestampDelta VARLONG | offsetDelta VARINT |
    keyLength VARINT (-1 = null) | key | valueLength VARINT (-1 = null) | value |
    headerCount VARINT | per header: keyLength VARINT | key (UTF-8) |
                                     valueLength VARINT (-1 = null) | value
    """
    body = bytearray()
    body += i8(0)
    body += varlong(timestamp_delta)
    body += varint(offset_delta)
    body += varint(-1) if key is None else varint(len(key)) + key
    body += varint(-1) if value is None else varint(len(value)) + value
    body += varint(len(headers))
    for hk, hv in headers:
        body += varint(len(hk)) + hk
        body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body)) + bytes(body)


def record_batch(records: list[tuple[bytes | None, bytes | None, list]],
                 base_timestamp: int, corrupt_crc: bool = False,
                 producer_id: int = -1, producer_epoch: int = -1,
                 base_sequence: int = -1) -> bytes:
    """A v2 record batch, uncompressed, non-transactional, no producer id
    unless one is given (an idempotent producer's batch: producer_id,
    producer_epoch and the base_sequence of its first record).

    baseOffset INT64 (0; the broker assigns) | batchLength INT32 (bytes after
    this field) | partitionLeaderEpoch INT32 (-1) | magic INT8 (2) |
    crc UINT32 (CRC-32C of everything from attributes to the end) |
    attributes INT16 (0) | lastOffsetDelta INT32 | baseTimestamp INT64 |
    maxTimestamp INT64 | producerId INT64 (-1) | producerEpoch INT16 (-1) |
    baseSequence INT32 (-1) | recordCount INT32 | records

    Record i gets timestamp base_timestamp + i. With corrupt_crc the CRC
    field is flipped in its lowest bit, so everything else stays valid.
    """
    n = len(records)
    assert n > 0
    encoded = b"".join(
        record(i, i, key, value, headers) for i, (key, value, headers) in enumerate(records)
    )
    after_crc = (
        i16(0)                       # attributes
        + i32(n - 1)                 # lastOffsetDelta
        + i64(base_timestamp)        # baseTimestamp
        + i64(base_timestamp + n - 1)  # maxTimestamp
        + i64(producer_id)           # producerId
        + i16(producer_epoch)        # producerEpoch
        + i32(base_sequence)         # baseSequence
        + i32(n)                     # recordCount
        + encoded
    )
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 1
    after_length = i32(-1) + i8(2) + u32(crc) + after_crc
    return i64(0) + i32(len(after_length)) + after_length


# --------------------------------------------------------------------------
# Request bodies.

def produce_v3_body(topic: str, partition: int, batch: bytes, acks: int = -1,
                    timeout_ms: int = 10000) -> bytes:
    """Produce v3 body: transactional_id NULLABLE_STRING (null) | acks INT16 |
    timeout_ms INT32 | topic_data ARRAY[ name STRING |
    partition_data ARRAY[ index INT32 | records BYTES (INT32 len) ] ]"""
    return (
        string(None) + i16(acks) + i32(timeout_ms)
        + i32(1) + string(topic)
        + i32(1) + i32(partition) + i32(len(batch)) + batch
    )


def fetch_v4_body(topic: str, partition: int, fetch_offset: int,
                  max_bytes: int = 1 << 20, max_wait_ms: int = 0) -> bytes:
    """Fetch v4 body: replica_id INT32 (-1, a consumer) | max_wait_ms INT32 |
    min_bytes INT32 | max_bytes INT32 | isolation_level INT8 (0) |
    topics ARRAY[ topic STRING | partitions ARRAY[ partition INT32 |
    fetch_offset INT64 | partition_max_bytes INT32 ] ]"""
    return (
        i32(-1) + i32(max_wait_ms) + i32(0) + i32(max_bytes) + i8(0)
        + i32(1) + string(topic)
        + i32(1) + i32(partition) + i64(fetch_offset) + i32(max_bytes)
    )


def fetch_v7_body(session_id: int, session_epoch: int,
                  partitions: list[tuple[str, int, int]],
                  forgotten: list[tuple[str, int]] = (),
                  max_wait_ms: int = 0, min_bytes: int = 0,
                  max_bytes: int = 1 << 20) -> bytes:
    """Fetch v7 body (the first with fetch sessions, KIP-227):
    replica_id INT32 (-1, a consumer) | max_wait_ms INT32 | min_bytes INT32 |
    max_bytes INT32 | isolation_level INT8 (0) | session_id INT32 |
    session_epoch INT32 | topics ARRAY[ topic STRING | partitions ARRAY[
    partition INT32 | fetch_offset INT64 | log_start_offset INT64 (-1) |
    partition_max_bytes INT32 ] ] | forgotten_topics_data ARRAY[
    topic STRING | partitions ARRAY[INT32] ]

    `partitions` is [(topic, partition, fetch_offset)], grouped by topic in
    the order given; `forgotten` is [(topic, partition)]."""
    def grouped(items):
        out: list[tuple[str, list]] = []
        for topic, *rest in items:
            if not out or out[-1][0] != topic:
                out.append((topic, []))
            out[-1][1].append(rest)
        return out
    body = (
        i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0)
        + i32(session_id) + i32(session_epoch)
    )
    topics = grouped(partitions)
    body += i32(len(topics))
    for topic, parts in topics:
        body += string(topic) + i32(len(parts))
        for partition, fetch_offset in parts:
            body += i32(partition) + i64(fetch_offset) + i64(-1) + i32(max_bytes)
    forgotten_topics = grouped(forgotten)
    body += i32(len(forgotten_topics))
    for topic, parts in forgotten_topics:
        body += string(topic) + i32(len(parts))
        for (partition,) in parts:
            body += i32(partition)
    return body


def metadata_v1_body(topics: list[str] | None) -> bytes:
    """Metadata v1 body: topics ARRAY[ name STRING ] (-1 = all topics)."""
    if topics is None:
        return i32(-1)
    return i32(len(topics)) + b"".join(string(t) for t in topics)


def metadata_v4_body(topics: list[str] | None, allow_auto_topic_creation: bool) -> bytes:
    """Metadata v4 body: topics ARRAY[ name STRING ] | allow_auto_topic_creation BOOLEAN."""
    return metadata_v1_body(topics) + i8(1 if allow_auto_topic_creation else 0)


def metadata_v9_body(topics: list[str] | None, allow_auto_topic_creation: bool = False) -> bytes:
    """Metadata v9 body (flexible): topics COMPACT_ARRAY[ name COMPACT_STRING |
    TAGGED_FIELDS ] (0 = null = all topics) | allow_auto_topic_creation BOOLEAN |
    include_cluster_authorized_operations BOOLEAN |
    include_topic_authorized_operations BOOLEAN | TAGGED_FIELDS"""
    if topics is None:
        arr = uvarint(0)
    else:
        arr = uvarint(len(topics) + 1) + b"".join(
            compact_string(t) + TAGGED_FIELDS_EMPTY for t in topics
        )
    return arr + i8(1 if allow_auto_topic_creation else 0) + i8(0) + i8(0) + TAGGED_FIELDS_EMPTY


def create_topics_v2_body(names: list[bytes | str], num_partitions: int = 1,
                          timeout_ms: int = 10000, validate_only: bool = False,
                          replication_factor: int = 1) -> bytes:
    """CreateTopics v2 body: topics ARRAY[ name STRING | num_partitions INT32 |
    replication_factor INT16 | assignments ARRAY (empty) | configs ARRAY (empty) ] |
    timeout_ms INT32 | validate_only BOOLEAN"""
    body = i32(len(names))
    for name in names:
        body += string(name) + i32(num_partitions) + i16(replication_factor) + i32(0) + i32(0)
    return body + i32(timeout_ms) + i8(1 if validate_only else 0)


CommitPartition = tuple  # (partition_index, committed_offset, metadata or None)


def _commit_topics(topics: dict[str, list[CommitPartition]], commit_timestamp: int | None) -> bytes:
    out = i32(len(topics))
    for name, partitions in topics.items():
        out += string(name) + i32(len(partitions))
        for index, offset, metadata in partitions:
            out += i32(index) + i64(offset)
            if commit_timestamp is not None:
                out += i64(commit_timestamp)
            out += string(metadata)
    return out


def offset_commit_v0_body(group: str, topics: dict[str, list[CommitPartition]]) -> bytes:
    """OffsetCommit v0 body (Kafka 3.x OffsetCommitRequest.json): group_id STRING |
    topics ARRAY[ name STRING | partitions ARRAY[ partition_index INT32 |
    committed_offset INT64 | committed_metadata NULLABLE_STRING ] ]"""
    return string(group) + _commit_topics(topics, None)


def offset_commit_v1_body(group: str, generation_id: int, member_id: str,
                          topics: dict[str, list[CommitPartition]], commit_timestamp: int = -1) -> bytes:
    """OffsetCommit v1 body: group_id STRING | generation_id INT32 |
    member_id STRING | topics ARRAY[ name STRING | partitions ARRAY[
    partition_index INT32 | committed_offset INT64 | commit_timestamp INT64
    (v1 only; -1 = the broker's clock) | committed_metadata NULLABLE_STRING ] ]"""
    return string(group) + i32(generation_id) + string(member_id) + _commit_topics(topics, commit_timestamp)


def offset_commit_v0_response_body(topics: dict[str, list[tuple[int, int]]]) -> bytes:
    """OffsetCommit v0-v2 response body, built to compare byte for byte:
    topics ARRAY[ name STRING | partitions ARRAY[ partition_index INT32 |
    error_code INT16 ] ] (no throttle_time_ms: that is v3+)."""
    out = i32(len(topics))
    for name, partitions in topics.items():
        out += string(name) + i32(len(partitions))
        for index, error_code in partitions:
            out += i32(index) + i16(error_code)
    return out


def offset_fetch_v1_body(group: str, topics: dict[str, list[int]]) -> bytes:
    """OffsetFetch v1 body: group_id STRING | topics ARRAY[ name STRING |
    partition_indexes ARRAY[INT32] ]"""
    out = string(group) + i32(len(topics))
    for name, partitions in topics.items():
        out += string(name) + i32(len(partitions)) + b"".join(i32(p) for p in partitions)
    return out


def offset_fetch_v7_body(group: str, topics: dict[str, list[int]], require_stable: bool) -> bytes:
    """OffsetFetch v7 body (flexible): group_id COMPACT_STRING | topics
    COMPACT_ARRAY[ name COMPACT_STRING | partition_indexes
    COMPACT_ARRAY[INT32] | TAGGED ] | require_stable BOOLEAN | TAGGED"""
    out = compact_string(group) + uvarint(len(topics) + 1)
    for name, partitions in topics.items():
        out += compact_string(name) + uvarint(len(partitions) + 1)
        out += b"".join(i32(p) for p in partitions) + TAGGED_FIELDS_EMPTY
    return out + i8(1 if require_stable else 0) + TAGGED_FIELDS_EMPTY


# --------------------------------------------------------------------------
# Response decoding.

class Reader:
    """Cursor over a response body; raises ValueError when bytes run out."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"need {n} bytes at {self.pos}, have {len(self.data) - self.pos}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def i8(self) -> int:
        return struct.unpack(">b", self.take(1))[0]

    def i16(self) -> int:
        return struct.unpack(">h", self.take(2))[0]

    def i32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def i64(self) -> int:
        return struct.unpack(">q", self.take(8))[0]

    def string(self) -> str | None:
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def uvarint(self) -> int:
        shift = 0
        value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 35:
                raise ValueError("varint too long")

    def compact_string(self) -> str | None:
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def tagged_fields(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.take(self.uvarint())

    def remaining(self) -> int:
        return len(self.data) - self.pos


def parse_api_versions_v0(body: bytes) -> tuple[int, dict[int, tuple[int, int]]]:
    """ApiVersions v0 response body: error_code INT16 |
    api_keys ARRAY[ api_key INT16 | min_version INT16 | max_version INT16 ]"""
    r = Reader(body)
    error_code = r.i16()
    count = r.i32()
    ranges = {}
    for _ in range(count):
        key = r.i16()
        ranges[key] = (r.i16(), r.i16())
    if r.remaining() != 0:
        raise ValueError(f"{r.remaining()} trailing bytes after ApiVersions v0 body")
    return error_code, ranges


def parse_produce_v3(body: bytes) -> list[tuple[str, int, int, int]]:
    """Produce v3 response body: responses ARRAY[ name STRING |
    partition_responses ARRAY[ index INT32 | error_code INT16 |
    base_offset INT64 | log_append_time_ms INT64 ] ] | throttle_time_ms INT32

    Returns [(topic, partition, error_code, base_offset)]."""
    r = Reader(body)
    out = []
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            index = r.i32()
            error_code = r.i16()
            base_offset = r.i64()
            r.i64()  # log_append_time_ms
            out.append((name, index, error_code, base_offset))
    r.i32()  # throttle_time_ms
    if r.remaining() != 0:
        raise ValueError(f"{r.remaining()} trailing bytes after Produce v3 body")
    return out


def parse_fetch_v4(body: bytes) -> list[tuple[str, int, int, int, bytes]]:
    """Fetch v4 response body: throttle_time_ms INT32 | responses ARRAY[
    topic STRING | partitions ARRAY[ partition INT32 | error_code INT16 |
    high_watermark INT64 | last_stable_offset INT64 |
    aborted_transactions ARRAY (-1 = null)[ producer_id INT64 |
    first_offset INT64 ] | records BYTES (INT32 length, -1 = null) ] ]

    Returns [(topic, partition, error_code, high_watermark, records)]."""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    out = []
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            index = r.i32()
            error_code = r.i16()
            high_watermark = r.i64()
            r.i64()  # last_stable_offset
            for _ in range(max(r.i32(), 0)):
                r.i64()
                r.i64()
            length = r.i32()
            records = r.take(length) if length > 0 else b""
            out.append((name, index, error_code, high_watermark, records))
    if r.remaining() != 0:
        raise ValueError(f"{r.remaining()} trailing bytes after Fetch v4 body")
    return out


def parse_fetch_v7(body: bytes) -> tuple[int, int, list[tuple[str, int, int, int, int, bytes]]]:
    """Fetch v7 response body: throttle_time_ms INT32 | error_code INT16 |
    session_id INT32 | responses ARRAY[ topic STRING | partitions ARRAY[
    partition INT32 | error_code INT16 | high_watermark INT64 |
    last_stable_offset INT64 | log_start_offset INT64 |
    aborted_transactions ARRAY (-1 = null)[ producer_id INT64 |
    first_offset INT64 ] | records BYTES (INT32 length, -1 = null) ] ]

    Returns (error_code, session_id, [(topic, partition, error_code,
    high_watermark, log_start_offset, records)])."""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    error_code = r.i16()
    session_id = r.i32()
    out = []
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            index = r.i32()
            partition_error = r.i16()
            high_watermark = r.i64()
            r.i64()  # last_stable_offset
            log_start_offset = r.i64()
            for _ in range(max(r.i32(), 0)):
                r.i64()
                r.i64()
            length = r.i32()
            records = r.take(length) if length > 0 else b""
            out.append((name, index, partition_error, high_watermark, log_start_offset, records))
    if r.remaining() != 0:
        raise ValueError(f"{r.remaining()} trailing bytes after Fetch v7 body")
    return error_code, session_id, out


def batch_headers(records: bytes) -> list[tuple[int, int, int, int, int]]:
    """The v2 batch headers of a record set (see record_batch for the layout),
    a partial last batch ignored. Returns [(base_offset, attributes,
    record_count, producer_id, base_sequence)]; attributes bits 0-2 are the
    codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)."""
    out = []
    position = 0
    while position + 61 <= len(records):
        r = Reader(records[position:position + 61])
        base_offset = r.i64()
        batch_length = r.i32()
        if position + 12 + batch_length > len(records):
            break
        r.i32()  # partitionLeaderEpoch
        r.i8()   # magic
        r.take(4)  # crc
        attributes = r.i16()
        r.i32()  # lastOffsetDelta
        r.i64()  # baseTimestamp
        r.i64()  # maxTimestamp
        producer_id = r.i64()
        r.i16()  # producerEpoch
        base_sequence = r.i32()
        record_count = r.i32()
        out.append((base_offset, attributes, record_count, producer_id, base_sequence))
        position += 12 + batch_length
    return out


def parse_create_topics_v2(body: bytes) -> dict[str, int]:
    """CreateTopics v2 response body: throttle_time_ms INT32 |
    topics ARRAY[ name STRING | error_code INT16 | error_message NULLABLE_STRING ]"""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        out[name] = r.i16()
        r.string()  # error_message
    if r.remaining() != 0:
        raise ValueError(f"{r.remaining()} trailing bytes after CreateTopics v2 body")
    return out


def parse_offset_fetch_v1(body: bytes) -> dict[tuple[str, int], tuple[int, str | None, int]]:
    """OffsetFetch v1 response body: topics ARRAY[ name STRING |
    partitions ARRAY[ partition_index INT32 | committed_offset INT64 |
    metadata NULLABLE_STRING | error_code INT16 ] ] (the top-level error_code
    is v2+, throttle_time_ms v3+).

    Returns {(topic, partition): (committed_offset, metadata, error_code)}."""
    r = Reader(body)
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            index = r.i32()
            offset = r.i64()
            metadata = r.string()
            out[(name, index)] = (offset, metadata, r.i16())
    if r.remaining() != 0:
        raise ValueError(f"{r.remaining()} trailing bytes after OffsetFetch v1 body")
    return out


def parse_offset_fetch_v7(body: bytes) -> tuple[int, dict[tuple[str, int], tuple[int, int]]]:
    """OffsetFetch v7 response body, after the response header v1:
    throttle_time_ms INT32 | topics COMPACT_ARRAY[ name COMPACT_STRING |
    partitions COMPACT_ARRAY[ partition_index INT32 | committed_offset INT64 |
    committed_leader_epoch INT32 | metadata COMPACT_NULLABLE_STRING |
    error_code INT16 | TAGGED ] | TAGGED ] | error_code INT16 | TAGGED.

    Returns (error_code, {(topic, partition): (committed_offset, error_code)})."""
    r = Reader(body)
    r.i32()  # throttle_time_ms
    out = {}
    for _ in range(r.uvarint() - 1):
        name = r.compact_string()
        for _ in range(r.uvarint() - 1):
            index = r.i32()
            offset = r.i64()
            r.i32()  # committed_leader_epoch
            r.compact_string()  # metadata
            out[(name, index)] = (offset, r.i16())
            r.tagged_fields()
        r.tagged_fields()
    error_code = r.i16()
    r.tagged_fields()
    if r.remaining() != 0:
        raise ValueError(f"{r.remaining()} trailing bytes after OffsetFetch v7 body")
    return error_code, out


def parse_metadata_v4_topics(body: bytes) -> dict[str, tuple[int, list[int]]]:
    """Metadata v4 response body: throttle_time_ms INT32 |
    brokers ARRAY[ node_id INT32 | host STRING | port INT32 | rack NULLABLE_STRING ] |
    cluster_id NULLABLE_STRING | controller_id INT32 |
    topics ARRAY[ error_code INT16 | name STRING | is_internal BOOLEAN |
      partitions ARRAY[ error_code INT16 | partition_index INT32 | leader_id INT32 |
        replica_nodes ARRAY[INT32] | isr_nodes ARRAY[INT32] ] ]

    Returns {topic: (error_code, [partition_index, ...])}."""
    r = Reader(body)
    r.i32()
    for _ in range(r.i32()):
        r.i32(); r.string(); r.i32(); r.string()
    r.string()
    r.i32()
    topics = {}
    for _ in range(r.i32()):
        error_code = r.i16()
        name = r.string()
        r.i8()
        parts = []
        for _ in range(r.i32()):
            r.i16()
            parts.append(r.i32())
            r.i32()
            for _ in range(r.i32()):
                r.i32()
            for _ in range(r.i32()):
                r.i32()
        topics[name] = (error_code, parts)
    if r.remaining() != 0:
        raise ValueError(f"{r.remaining()} trailing bytes after Metadata v4 body")
    return topics


# --------------------------------------------------------------------------
# Socket helpers.

class Closed(Exception):
    """The broker closed the connection (EOF or reset)."""


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = s.recv(n - len(buf))
        except (ConnectionResetError, BrokenPipeError) as e:
            raise Closed(str(e)) from e
        if not chunk:
            raise Closed(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def read_frame(s: socket.socket) -> bytes:
    """Reads one size-prefixed response; raises Closed on EOF/reset and
    socket.timeout if the broker neither answers nor closes."""
    (size,) = struct.unpack(">i", recv_exact(s, 4))
    if size < 4 or size > 64 * 1024 * 1024:
        raise ValueError(f"implausible response frame size {size}")
    return recv_exact(s, size)


def send_all(s: socket.socket, data: bytes) -> None:
    """Sends data; a reset while sending counts as the broker closing."""
    try:
        s.sendall(data)
    except (ConnectionResetError, BrokenPipeError) as e:
        raise Closed(str(e)) from e


def request(port: int, payload: bytes, timeout: float = 10.0) -> bytes:
    """Sends one framed request on a fresh connection, returns the response
    frame (header included)."""
    with connect(port, timeout) as s:
        send_all(s, frame(payload))
        return read_frame(s)


def expect_closed(s: socket.socket, timeout: float = 10.0) -> None:
    """Asserts that the broker closes the connection within `timeout`
    seconds without sending a response frame first."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            data = s.recv(65536)
            if not data:
                return
            raise AssertionError(f"expected the connection to be closed, got {len(data)} bytes: {data[:64]!r}")
    except (ConnectionResetError, BrokenPipeError):
        return
    except socket.timeout:
        pass
    raise AssertionError(f"broker kept the connection open for {timeout}s")


def closed_or_response(s: socket.socket, correlation_id: int, timeout: float = 10.0) -> bytes | None:
    """For malformed-but-framed requests: the broker may either close the
    connection or answer with a response carrying our correlation id. A
    hang (neither within `timeout`) or a response for someone else fails.
    Returns None when closed, else the response body after the
    correlation id."""
    s.settimeout(timeout)
    try:
        resp = read_frame(s)
    except Closed:
        return None
    except socket.timeout:
        raise AssertionError(f"broker neither answered nor closed within {timeout}s")
    (got,) = struct.unpack(">i", resp[:4])
    assert got == correlation_id, f"response correlation id {got}, sent {correlation_id}"
    return resp[4:]
