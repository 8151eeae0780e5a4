"""The open-files budget (`log.open.files.max`): a broker holding far more
segment files than it may keep open serves every partition exactly —
produce, consume, a clean restart and a kill -9 restart — while the number
of segment files it holds open stays within the budget (read from
/proc/PID/fd and from the `skein_log_open_files` gauge)."""
from __future__ import annotations

import os
import re
import urllib.request

import pytest
from confluent_kafka import Producer

from clients import TIMEOUT_S, consume_partition, create_topic, unique_topic
from conftest import E2E_NODES, free_port

PARTITIONS = 60
RECORDS = 40
# 16 per data shard (the least a shard is given), whatever the core count.
BUDGET = 16


def open_log_files(pid: int) -> int:
    """The process's open descriptors that name a segment (.log) file."""
    count = 0
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except FileNotFoundError:
            continue  # closed meanwhile
        if re.search(r"/\d{20}\.log(\.\w+)?( \(deleted\))?$", target):
            count += 1
    return count


def gauges(admin_port: int) -> tuple[dict[str, int], int]:
    """`skein_log_open_files` by shard, and the reopens summed over shards."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    open_files = {m.group(1): int(float(m.group(2))) for m in
                  re.finditer(r'^skein_log_open_files\{shard="(\d+)"\} (\S+)$', text, re.MULTILINE)}
    reopens = sum(int(float(m.group(1))) for m in
                  re.finditer(r'^skein_log_file_reopens_total\{shard="\d+"\} (\S+)$', text, re.MULTILINE))
    return open_files, reopens


def produce_all(bootstrap: str, topic: str, round_: int) -> None:
    """RECORDS records to every partition, interleaved across partitions so
    appends go round-robin over more active segments than the budget."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0,
                  "message.timeout.ms": int(TIMEOUT_S * 1000)})
    failed = []
    for i in range(RECORDS):
        for partition in range(PARTITIONS):
            p.produce(topic, value=f"r{round_}-p{partition}-{i}".encode() + b"x" * 200,
                      partition=partition, on_delivery=lambda err, _m: err and failed.append(err))
            p.poll(0)
    assert p.flush(TIMEOUT_S) == 0
    assert not failed, failed[:3]


def check_all(bootstrap: str, topic: str, rounds: int) -> None:
    for partition in range(PARTITIONS):
        got = consume_partition(bootstrap, topic, partition, expect_count=rounds * RECORDS)
        want = [f"r{r}-p{partition}-{i}".encode() + b"x" * 200
                for r in range(rounds) for i in range(RECORDS)]
        assert [m.value for m in got] == want, f"partition {partition}"
        assert [m.offset for m in got] == list(range(len(want)))


@pytest.mark.skipif(E2E_NODES != 1, reason="reads the broker's /proc and admin port")
def test_a_broker_serves_more_segments_than_its_open_files_budget(broker_factory):
    admin_port = free_port()
    # ~3 records' batches per segment: every partition rolls several times.
    broker = broker_factory({"log.open.files.max": str(BUDGET), "log.segment.bytes": "4096"},
                            admin_port=admin_port)
    topic = unique_topic("budget")
    create_topic(broker.bootstrap, topic, PARTITIONS)
    produce_all(broker.bootstrap, topic, 0)
    check_all(broker.bootstrap, topic, 1)
    shards, reopens = gauges(admin_port)
    assert shards, "the gauge is exported"
    # Each shard's share is at least 16 (the floor), so allow that many per shard.
    limit = max(BUDGET, 16 * len(shards))
    assert sum(shards.values()) <= limit, shards
    assert open_log_files(broker.proc.pid) <= limit
    assert reopens > 0, "more active segments than the budget: files were reopened"

    broker.restart()
    check_all(broker.bootstrap, topic, 1)
    produce_all(broker.bootstrap, topic, 1)
    broker.restart(kill=True)
    check_all(broker.bootstrap, topic, 2)
    shards, _ = gauges(admin_port)
    assert sum(shards.values()) <= limit, shards
    assert open_log_files(broker.proc.pid) <= limit
