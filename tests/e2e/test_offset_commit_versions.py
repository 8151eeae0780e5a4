"""OffsetCommit v0 and v1 on the wire: the versions Kafka 4 dropped and
sarama 1.22.1 still sends (v1 on default settings). Requests and expected
responses are hand-encoded in kafka_wire.py from Kafka 3.x's schemas;
what was committed is read back with OffsetFetch v1.

- v0 carries no generation or member: a standalone commit.
- v1 carries generation and member, checked as in later versions, and a
  per-partition commit timestamp.
"""

from __future__ import annotations

import time

import kafka_wire as w
from clients import create_topic, unique_topic, wait_until


def call(broker, api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    """One non-flexible request (header v1) on a fresh connection; returns the
    response body after the correlation id (response header v0)."""
    resp = w.request(broker.port, w.header_v1(api_key, version, correlation_id) + body)
    assert resp[:4] == w.i32(correlation_id)
    return resp[4:]


def fetch_v1(broker, group: str, topic: str, partitions: list[int]) -> dict:
    body = w.offset_fetch_v1_body(group, {topic: partitions})
    return w.parse_offset_fetch_v1(call(broker, w.OFFSET_FETCH, 1, 900, body))


def wait_for_coordinator(broker, group: str, topic: str) -> None:
    """Right after a start the broker loads __consumer_offsets and answers
    group requests with COORDINATOR_LOAD_IN_PROGRESS (14), which clients
    retry; wait as they do, so the assertions below see the loaded state."""
    def loaded() -> bool:
        errors = {e for (_, _, e) in fetch_v1(broker, group, topic, [0]).values()}
        return errors != {w.COORDINATOR_LOAD_IN_PROGRESS}

    wait_until(loaded, "the group coordinator to finish loading", timeout_s=30)


def test_api_versions_advertises_offset_commit_v0_to_v9(broker):
    _, ranges = w.parse_api_versions_v0(call(broker, w.API_VERSIONS, 0, 1, b""))
    assert ranges[w.OFFSET_COMMIT] == (0, 9)


def test_offset_commit_v0_is_a_standalone_commit_read_back_by_offset_fetch(broker):
    topic = unique_topic("oc-v0")
    group = unique_topic("oc-v0-group")
    create_topic(broker.bootstrap, topic, 2)
    wait_for_coordinator(broker, group, topic)
    body = w.offset_commit_v0_body(group, {topic: [(0, 5, "m0"), (1, 7, None), (9, 1, "")]})
    resp = call(broker, w.OFFSET_COMMIT, 0, 101, body)
    assert resp == w.offset_commit_v0_response_body(
        {topic: [(0, w.NONE), (1, w.NONE), (9, w.UNKNOWN_TOPIC_OR_PARTITION)]})
    # Null metadata is kept as "", as Kafka does.
    assert fetch_v1(broker, group, topic, [0, 1]) == {(topic, 0): (5, "m0", w.NONE),
                                                      (topic, 1): (7, "", w.NONE)}
    # A later v0 commit to the same (empty) group overwrites.
    body = w.offset_commit_v0_body(group, {topic: [(0, 6, None)]})
    assert call(broker, w.OFFSET_COMMIT, 0, 102, body) == w.offset_commit_v0_response_body({topic: [(0, w.NONE)]})
    assert fetch_v1(broker, group, topic, [0])[(topic, 0)] == (6, "", w.NONE)


def test_offset_commit_v1_commits_with_a_timestamp_and_checks_generation_and_member(broker):
    topic = unique_topic("oc-v1")
    group = unique_topic("oc-v1-group")
    create_topic(broker.bootstrap, topic, 1)
    wait_for_coordinator(broker, group, topic)
    ok = w.offset_commit_v0_response_body({topic: [(0, w.NONE)]})

    # Standalone (generation -1, no member) with an explicit commit timestamp.
    now_ms = int(time.time() * 1000)
    body = w.offset_commit_v1_body(group, -1, "", {topic: [(0, 11, "v1")]}, commit_timestamp=now_ms)
    assert call(broker, w.OFFSET_COMMIT, 1, 201, body) == ok
    assert fetch_v1(broker, group, topic, [0]) == {(topic, 0): (11, "v1", w.NONE)}

    # The default commit timestamp (-1: the broker's clock).
    body = w.offset_commit_v1_body(group, -1, "", {topic: [(0, 12, None)]})
    assert call(broker, w.OFFSET_COMMIT, 1, 202, body) == ok
    assert fetch_v1(broker, group, topic, [0]) == {(topic, 0): (12, "", w.NONE)}

    # v1's generation and member are checked: a member the group does not
    # have is refused, and so is a generation of a group that does not exist.
    body = w.offset_commit_v1_body(group, 3, "ghost", {topic: [(0, 99, None)]})
    assert call(broker, w.OFFSET_COMMIT, 1, 203, body) == w.offset_commit_v0_response_body(
        {topic: [(0, w.UNKNOWN_MEMBER_ID)]})
    missing = unique_topic("oc-v1-missing")
    body = w.offset_commit_v1_body(missing, 3, "ghost", {topic: [(0, 99, None)]})
    assert call(broker, w.OFFSET_COMMIT, 1, 204, body) == w.offset_commit_v0_response_body(
        {topic: [(0, w.ILLEGAL_GENERATION)]})
    assert fetch_v1(broker, group, topic, [0]) == {(topic, 0): (12, "", w.NONE)}
    assert fetch_v1(broker, missing, topic, [0]) == {(topic, 0): (-1, "", w.NONE)}


def test_truncated_offset_commit_v1_closes_only_that_connection(broker):
    topic = unique_topic("oc-v1-cut")
    group = unique_topic("oc-v1-cut-group")
    create_topic(broker.bootstrap, topic, 1)
    wait_for_coordinator(broker, group, topic)
    body = w.offset_commit_v1_body(group, -1, "", {topic: [(0, 1, None)]})
    # Cut inside commit_timestamp, the field v2+ does not have.
    cut = body[:-2 - 8 + 3]
    with w.connect(broker.port) as s:
        w.send_all(s, w.frame(w.header_v1(w.OFFSET_COMMIT, 1, 301) + cut))
        w.expect_closed(s)
    # Nothing was committed, and the broker still serves v1.
    assert fetch_v1(broker, group, topic, [0]) == {(topic, 0): (-1, "", w.NONE)}
    body = w.offset_commit_v1_body(group, -1, "", {topic: [(0, 2, None)]})
    assert call(broker, w.OFFSET_COMMIT, 1, 302, body) == w.offset_commit_v0_response_body({topic: [(0, w.NONE)]})
