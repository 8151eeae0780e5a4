"""kcat (the command-line librdkafka client) against a real broker."""

from __future__ import annotations

import json
import re
import subprocess
import time

from clients import consume_partition, create_topic, unique_topic
from conftest import E2E_NODES, which_or_fail

KCAT_TIMEOUT_S = 60


def kcat(broker, *args: str, stdin: bytes | None = None) -> str:
    argv = [which_or_fail("kcat"), "-b", broker.bootstrap, "-X", "socket.timeout.ms=10000", *args]
    r = subprocess.run(argv, input=stdin, capture_output=True, timeout=KCAT_TIMEOUT_S)
    assert r.returncode == 0, f"{argv} exited {r.returncode}\nstdout: {r.stdout!r}\nstderr: {r.stderr!r}"
    return r.stdout.decode()


LINES = [(f"key-{i}", f"value {i} with spaces, commas and = signs") for i in range(10)]


def produce_lines(broker, topic: str, acks: str, lines=LINES) -> tuple[int, int]:
    """kcat -P with -K: key delimiter and two -H headers on every message.
    Returns the wall-clock window (ms) in which the producer ran."""
    stdin = "".join(f"{k}:{v}\n" for k, v in lines).encode()
    before = int(time.time() * 1000)
    kcat(broker, "-P", "-t", topic, "-p", "0", "-K:", "-H", "source=kcat", "-H", "acks=" + acks,
         "-X", f"acks={acks}", stdin=stdin)
    after = int(time.time() * 1000)
    return before, after


def test_produce_with_keys_and_headers_consume_with_format(broker):
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    before, after = produce_lines(broker, topic, "all")
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e",
               "-f", "%o|%k|%h|%s|%T\n")
    rows = [line.split("|") for line in out.splitlines()]
    assert [r[:4] for r in rows] == [
        [str(i), k, "source=kcat,acks=all", v] for i, (k, v) in enumerate(LINES)
    ]
    for r in rows:
        # kcat's producer stamps CreateTime from the client clock.
        assert before - 1000 <= int(r[4]) <= after + 1000, (r, before, after)


def test_consume_json_matches_exactly(broker):
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    produce_lines(broker, topic, "all")
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-J")
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["topic"], r["partition"], r["offset"], r["key"], r["payload"], r["headers"], r["tstype"])
            for r in records] == [
        (topic, 0, i, k, v, ["source", "kcat", "acks", "all"], "create") for i, (k, v) in enumerate(LINES)
    ]


def test_acks_0_every_message_arrives(broker):
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    lines = [(f"k{i}", f"v{i}") for i in range(100)]
    produce_lines(broker, topic, "0", lines)
    got = consume_partition(broker.bootstrap, topic, 0, 0, expect_count=100)
    assert [(m.offset, m.key, m.value, m.headers) for m in got] == [
        (i, k.encode(), v.encode(), (("source", b"kcat"), ("acks", b"0"))) for i, (k, v) in enumerate(lines)
    ]


def test_offset_option_reads_from_the_middle(broker):
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    produce_lines(broker, topic, "all")
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "7", "-e", "-f", "%o %k\n")
    assert out.splitlines() == ["7 key-7", "8 key-8", "9 key-9"]
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "-2", "-e", "-f", "%o %k\n")
    assert out.splitlines() == ["8 key-8", "9 key-9"]


def test_metadata_listing_shows_topic_and_partitions(broker):
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 3)
    out = kcat(broker, "-L", "-t", topic)
    brokers = re.findall(r"^\s*broker (\d+) at 127\.0\.0\.1:(\d+)", out, re.M)
    assert len(brokers) == E2E_NODES and broker.port in {int(port) for _, port in brokers}, out
    ids = {int(broker_id) for broker_id, _ in brokers}
    assert re.search(rf'^\s*topic "{re.escape(topic)}" with 3 partitions:$', out, re.M), out
    parts = re.findall(r"^\s*partition (\d+), leader (-?\d+), replicas: ([\d,]*), isrs: ([\d,]*)", out, re.M)
    assert sorted(int(p) for p, *_ in parts) == [0, 1, 2], out
    for _, leader, replicas, isrs in parts:
        # Each partition's replicas are listed brokers, led by one of them,
        # all in sync; a single broker holds and leads them all.
        replica_ids = sorted(int(r) for r in replicas.split(","))
        assert replica_ids and set(replica_ids) <= ids, out
        assert int(leader) in replica_ids, out
        assert sorted(int(i) for i in isrs.split(",")) == replica_ids, out
    if E2E_NODES == 1:
        assert {int(leader) for _, leader, _, _ in parts} == ids, out
    # Full listing includes it too.
    out = kcat(broker, "-L")
    assert f'topic "{topic}" with 3 partitions:' in out
