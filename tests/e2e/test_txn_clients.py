"""Transactional producers of other clients (issue 15): kafka-python's and
kafkajs's. Each commits some transactions and aborts others across three
partitions; a read_committed confluent-kafka consumer then sees exactly the
committed records, in order, and a read_uncommitted one sees every record.
(confluent-kafka's own transactional producer is in test_transactions.py,
sarama's idempotent producer in test_sarama.py.)
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from confluent_kafka import TopicPartition
from kafka import KafkaProducer

from clients import TIMEOUT_S, consume_partition, consumer, create_topic, unique_topic, wait_until
from conftest import which_or_fail
from test_transactions import BROKER_SETTINGS, describe, state_name

NODE_DIR = Path(__file__).resolve().parent / "node"
PARTITIONS = 3
ROUNDS = 4
PER_ROUND = 9


def round_records(round_: int) -> list[tuple[int, bytes]]:
    """Round r's (partition, value) pairs; mirrored in kafkajs_e2e.mjs."""
    return [(i % PARTITIONS, b"r%d-%d" % (round_, i)) for i in range(PER_ROUND)]


def read_committed(bootstrap: str, topic: str, partition: int, want: int) -> list[bytes]:
    c = consumer(bootstrap, **{"isolation.level": "read_committed"})
    c.assign([TopicPartition(topic, partition, 0)])
    seen = []
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and len(seen) < want:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            seen.append(m.value())
    # Nothing more may follow (an aborted record leaking through).
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            seen.append(m.value())
    c.close()
    return seen


def check_committed_and_aborted(bootstrap: str, topic: str, tid: str) -> None:
    committed = [r for n in range(ROUNDS) if n % 2 == 0 for r in round_records(n)]
    everything = [r for n in range(ROUNDS) for r in round_records(n)]
    # EndTxn answers once PrepareAbort is written; the markers complete it.
    wait_until(lambda: state_name(describe(bootstrap, tid)) == "CompleteAbort",
               "the last transaction completes its abort")
    for partition in range(PARTITIONS):
        want = [v for p, v in committed if p == partition]
        assert read_committed(bootstrap, topic, partition, len(want)) == want
        every = [m.value for m in consume_partition(bootstrap, topic, partition,
                                                    **{"isolation.level": "read_uncommitted"})]
        assert every == [v for p, v in everything if p == partition]


def test_kafka_python_transactional_producer_commits_and_aborts(broker_factory):
    broker = broker_factory(BROKER_SETTINGS)
    topic = unique_topic("txn-kp")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    tid = unique_topic("tid-kp")
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=tid,
                      enable_idempotence=True, acks="all", request_timeout_ms=10000)
    try:
        p.init_transactions()
        for round_ in range(ROUNDS):
            p.begin_transaction()
            futures = [p.send(topic, key=b"k", value=value, partition=partition)
                       for partition, value in round_records(round_)]
            p.flush(TIMEOUT_S)
            assert all(f.get(TIMEOUT_S).offset >= 0 for f in futures)
            if round_ % 2 == 0:
                p.commit_transaction()
            else:
                p.abort_transaction()
    finally:
        p.close(timeout=5)
    check_committed_and_aborted(broker.bootstrap, topic, tid)


def test_kafkajs_transactional_producer_commits_and_aborts(broker_factory, tmp_path):
    broker = broker_factory(BROKER_SETTINGS)
    topic = unique_topic("txn-js")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    tid = unique_topic("tid-js")
    if not (NODE_DIR / "node_modules" / "kafkajs").is_dir():
        raise AssertionError("kafkajs not installed (tests/run.sh runs npm ci in tests/e2e/node)")
    out = tmp_path / "kafkajs-txn.json"
    argv = [which_or_fail("node"), str(NODE_DIR / "kafkajs_e2e.mjs"), "transactions", broker.bootstrap,
            topic, str(out), tid]
    r = subprocess.run(argv, cwd=NODE_DIR, capture_output=True, timeout=120)
    assert r.returncode == 0, f"kafkajs exited {r.returncode}\nstdout:\n{r.stdout.decode()}\nstderr:\n{r.stderr.decode()}"
    report = json.loads(out.read_text())
    assert report == {"committed": [0, 2], "aborted": [1, 3]}
    check_committed_and_aborted(broker.bootstrap, topic, tid)
