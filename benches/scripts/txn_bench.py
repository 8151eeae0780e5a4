#!/usr/bin/env python3
"""Transactions against plain idempotent produce, through the real wire with
a real client (confluent-kafka, i.e. librdkafka), on one fresh `skein serve`
per run (temp data dir, free port on 127.0.0.1, default settings).

Each run measures, in this order, against the same broker:

1. idempotent produce: `--records` records of `--record-size` bytes,
   acks=all, enable.idempotence, spread round-robin over `--partitions`
   partitions; throughput from the first produce() to flush() returning.
2. transactional produce: the same records in transactions of
   `--txn-size` records (begin, produce, commit_transaction()), acks=all;
   throughput from the first begin to the last commit returning, and the
   time each commit_transaction() call took (it includes flushing the
   transaction's records that were still in flight, as a user sees it).
3. the cost of a commit alone: `--commit-samples` transactions on their own
   topic, each produced and flush()ed before commit_transaction(), so the
   call is EndTxn's round trip (the coordinator writes PrepareCommit to
   __transaction_state, answers, then writes the markers); and the time from
   that call until a read_committed consumer (already assigned, polling with
   fetch.wait.max.ms=`--fetch-wait-ms`) has seen every record of the
   transaction, i.e. until the markers are written and the last stable offset
   has passed them on every partition. One transaction at a time: the next
   starts once the previous one is visible.
4. consume: the topic of phase 2 read from the beginning to the end by a
   fresh consumer with isolation.level read_uncommitted and one with
   read_committed, alternated `--consume-passes` times; throughput from
   assign() to the last record, the faster pass of each counting (every
   pass is in the JSON).

The broker's CPU (utime + stime from /proc) and this client's are sampled
around every phase, so a client-bound figure shows as such. With `--runs N`
every run gets a fresh broker and the summary gives each figure's median.

Usage:
  tests/e2e/.deps/venv/bin/python benches/scripts/txn_bench.py \\
      --bin target/release/skein [--runs 3] [--records 50000] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from confluent_kafka import (  # noqa: E402
    OFFSET_BEGINNING,
    Consumer,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from bench_support import own_cpu_seconds, process_cpu_seconds  # noqa: E402
from conftest import Broker, free_port  # noqa: E402

TIMEOUT_S = 60.0


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


class Meter:
    """Wall time and broker/client CPU over one phase."""

    def __init__(self, pid: int):
        self.pid = pid

    def __enter__(self) -> "Meter":
        self.t0, self.b0, self.c0 = time.monotonic(), process_cpu_seconds(self.pid), own_cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.monotonic() - self.t0
        self.broker_cpu = process_cpu_seconds(self.pid) - self.b0
        self.client_cpu = own_cpu_seconds() - self.c0

    def figures(self, records: int, record_size: int) -> dict:
        return {
            "records": records,
            "seconds": round(self.seconds, 3),
            "records_per_s": round(records / self.seconds),
            "mb_per_s": round(records * record_size / self.seconds / 1e6, 2),
            "broker_cpu_s": round(self.broker_cpu, 2),
            "client_cpu_s": round(self.client_cpu, 2),
        }


def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1)
                                   for n in names])
    for future in futures.values():
        future.result(TIMEOUT_S)


def value(record_size: int, txn: int) -> bytes:
    """The transaction's index, then filler up to record_size bytes."""
    head = txn.to_bytes(8, "big")
    return head + b"x" * (record_size - len(head))


class Deliveries:
    def __init__(self):
        self.ok = 0
        self.errors: list[str] = []

    def __call__(self, err, _msg) -> None:
        if err is None:
            self.ok += 1
        else:
            self.errors.append(str(err))

    def check(self, expected: int, what: str) -> None:
        if self.errors or self.ok != expected:
            raise RuntimeError(f"{what}: {self.ok} of {expected} delivered, errors {self.errors[:5]}")


def produce_one(producer: Producer, topic: str, partition: int, payload: bytes, cb) -> None:
    while True:
        try:
            producer.produce(topic, value=payload, partition=partition, on_delivery=cb)
            return
        except BufferError:
            producer.poll(0.01)


def producer_conf(bootstrap: str) -> dict:
    return {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
            "linger.ms": 5, "message.timeout.ms": 60000, "socket.timeout.ms": 30000}


def idempotent_produce(bootstrap: str, topic: str, args, meter: Meter) -> dict:
    producer = Producer(producer_conf(bootstrap))
    deliveries = Deliveries()
    producer.list_topics(topic, TIMEOUT_S)  # metadata before the clock starts
    with meter:
        for i in range(args.records):
            produce_one(producer, topic, i % args.partitions, value(args.record_size, i // args.txn_size),
                        deliveries)
            producer.poll(0)
        left = producer.flush(TIMEOUT_S)
    deliveries.check(args.records, "idempotent produce")
    assert left == 0
    return meter.figures(args.records, args.record_size)


def transactional_producer(bootstrap: str, tid: str) -> Producer:
    producer = Producer({**producer_conf(bootstrap), "transactional.id": tid,
                         "transaction.timeout.ms": 60000})
    producer.init_transactions(TIMEOUT_S)
    return producer


def transactional_produce(bootstrap: str, topic: str, args, meter: Meter) -> dict:
    producer = transactional_producer(bootstrap, f"txn-bench-{uuid.uuid4().hex[:8]}")
    producer.list_topics(topic, TIMEOUT_S)
    deliveries = Deliveries()
    commits: list[float] = []
    transactions = args.records // args.txn_size
    with meter:
        for txn in range(transactions):
            producer.begin_transaction()
            payload = value(args.record_size, txn)
            for i in range(args.txn_size):
                produce_one(producer, topic, (txn * args.txn_size + i) % args.partitions, payload, deliveries)
                producer.poll(0)
            t0 = time.monotonic()
            producer.commit_transaction(TIMEOUT_S)
            commits.append(time.monotonic() - t0)
    deliveries.check(transactions * args.txn_size, "transactional produce")
    figures = meter.figures(transactions * args.txn_size, args.record_size)
    figures["transactions"] = transactions
    figures["commit_call_ms"] = ms_summary(commits)
    return figures


def ms_summary(samples: list[float]) -> dict:
    return {"p50": round(percentile(samples, 50) * 1000, 2), "p99": round(percentile(samples, 99) * 1000, 2),
            "max": round(max(samples) * 1000, 2), "n": len(samples),
            "worst5": [round(x * 1000, 1) for x in sorted(samples)[-5:]]}


class CommittedWatcher(threading.Thread):
    """A read_committed consumer of every partition of `topic` that notes
    when it has seen all `txn_size` records of each transaction."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, txn_size: int, fetch_wait_ms: int):
        super().__init__(daemon=True)
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"txn-bench-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False, "isolation.level": "read_committed",
            "fetch.wait.max.ms": fetch_wait_ms, "fetch.min.bytes": 1})
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        self.txn_size = txn_size
        self.seen: dict[int, int] = {}
        self.visible_at: dict[int, float] = {}
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.changed = threading.Condition()

    def run(self) -> None:
        while not self.stop.is_set():
            # poll(), not consume(n): consume waits for n records or the timeout.
            msg = self.consumer.poll(0.05)
            if msg is None:
                continue
            if msg.error() is not None:
                self.errors.append(str(msg.error()))
                continue
            txn = int.from_bytes(msg.value()[:8], "big")
            self.seen[txn] = self.seen.get(txn, 0) + 1
            if self.seen[txn] == self.txn_size:
                now = time.monotonic()
                with self.changed:
                    self.visible_at[txn] = now
                    self.changed.notify_all()
        self.consumer.close()

    def wait_visible(self, txn: int, timeout_s: float) -> float:
        with self.changed:
            if not self.changed.wait_for(lambda: txn in self.visible_at, timeout_s):
                raise TimeoutError(f"transaction {txn} not visible to read_committed after {timeout_s}s "
                                   f"(seen {self.seen.get(txn, 0)} records; errors {self.errors[:3]})")
            return self.visible_at[txn]


def commit_cost(bootstrap: str, topic: str, args) -> dict:
    watcher = CommittedWatcher(bootstrap, topic, args.partitions, args.txn_size, args.fetch_wait_ms)
    watcher.start()
    producer = transactional_producer(bootstrap, f"txn-bench-commit-{uuid.uuid4().hex[:8]}")
    producer.list_topics(topic, TIMEOUT_S)
    deliveries = Deliveries()
    commit_calls: list[float] = []
    visible: list[float] = []
    try:
        # Transaction 0 is not counted: the watcher's first fetches
        # (connections, ListOffsets) land in it.
        for txn in range(args.commit_samples + 1):
            producer.begin_transaction()
            payload = value(args.record_size, txn)
            for i in range(args.txn_size):
                produce_one(producer, topic, i % args.partitions, payload, deliveries)
            assert producer.flush(TIMEOUT_S) == 0
            t0 = time.monotonic()
            producer.commit_transaction(TIMEOUT_S)
            committed = time.monotonic()
            shown = watcher.wait_visible(txn, TIMEOUT_S)
            if txn > 0:
                commit_calls.append(committed - t0)
                visible.append(shown - t0)
    finally:
        watcher.stop.set()
        watcher.join(10)
    deliveries.check((args.commit_samples + 1) * args.txn_size, "commit-cost produce")
    return {"commit_call_ms": ms_summary(commit_calls),
            "commit_to_read_committed_visible_ms": ms_summary(visible)}


def consume_all(bootstrap: str, topic: str, args, isolation: str, expected: int, meter: Meter) -> dict:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"txn-bench-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "isolation.level": isolation})
    count = 0
    with meter:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(args.partitions)])
        deadline = time.monotonic() + 10 * TIMEOUT_S
        while count < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{isolation}: {count} of {expected} records")
            # consume(n) returns once n records are there (or at the timeout).
            for msg in consumer.consume(min(10000, expected - count), 1.0):
                if msg.error() is not None:
                    raise KafkaException(msg.error())
                count += 1
    consumer.close()
    if count != expected:
        raise RuntimeError(f"{isolation}: read {count} records, expected {expected}")
    return meter.figures(count, args.record_size)


def one_run(args, run: int) -> dict:
    base = Path(tempfile.mkdtemp(prefix="skein-txn-bench-"))
    broker = Broker(port=free_port(), data_dir=base / "data", log_path=base / "broker.log",
                    binary=Path(args.bin))
    broker.start()
    try:
        bootstrap = broker.bootstrap
        pid = broker.proc.pid
        topics = {name: f"{name}-{run}" for name in ("warmup", "idempotent", "transactional", "commit-cost")}
        create_topics(bootstrap, list(topics.values()), args.partitions)
        # Warm-up: the coordinator and __transaction_state exist, every
        # partition has been written once, before anything is timed.
        warm = transactional_producer(bootstrap, f"txn-bench-warmup-{run}")
        for txn in range(3):
            warm.begin_transaction()
            for p in range(args.partitions):
                warm.produce(topics["warmup"], value=value(args.record_size, txn), partition=p)
            warm.commit_transaction(TIMEOUT_S)
        result = {"run": run + 1}
        result["idempotent"] = idempotent_produce(bootstrap, topics["idempotent"], args, Meter(pid))
        result["transactional"] = transactional_produce(bootstrap, topics["transactional"], args, Meter(pid))
        result["commit_cost"] = commit_cost(bootstrap, topics["commit-cost"], args)
        expected = result["transactional"]["records"]
        passes: dict[str, list[dict]] = {"read_uncommitted": [], "read_committed": []}
        for _ in range(args.consume_passes):
            for isolation in passes:
                passes[isolation].append(
                    consume_all(bootstrap, topics["transactional"], args, isolation, expected, Meter(pid)))
        for isolation, runs in passes.items():
            best = max(runs, key=lambda f: f["mb_per_s"])
            result[isolation] = {**best, "mb_per_s_each_pass": [f["mb_per_s"] for f in runs]}
        return result
    finally:
        broker.stop()
        shutil.rmtree(base, ignore_errors=True)


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


def cpu_per_gb(figures: dict, record_size: int) -> float:
    return round(figures["broker_cpu_s"] / (figures["records"] * record_size / 1e9), 2)


def summary_row(r: dict, record_size: int) -> dict:
    return {
        "idempotent_mb_s": r["idempotent"]["mb_per_s"],
        "transactional_mb_s": r["transactional"]["mb_per_s"],
        "txn_over_idempotent": ratio(r["transactional"]["mb_per_s"], r["idempotent"]["mb_per_s"]),
        "txn_commit_call_in_stream_p50_ms": r["transactional"]["commit_call_ms"]["p50"],
        "txn_commit_call_in_stream_p99_ms": r["transactional"]["commit_call_ms"]["p99"],
        "endtxn_p50_ms": r["commit_cost"]["commit_call_ms"]["p50"],
        "endtxn_p99_ms": r["commit_cost"]["commit_call_ms"]["p99"],
        "commit_to_visible_p50_ms": r["commit_cost"]["commit_to_read_committed_visible_ms"]["p50"],
        "commit_to_visible_p99_ms": r["commit_cost"]["commit_to_read_committed_visible_ms"]["p99"],
        "read_uncommitted_mb_s": r["read_uncommitted"]["mb_per_s"],
        "read_committed_mb_s": r["read_committed"]["mb_per_s"],
        "committed_over_uncommitted": ratio(r["read_committed"]["mb_per_s"], r["read_uncommitted"]["mb_per_s"]),
        "broker_cpu_s_per_gb_idempotent": cpu_per_gb(r["idempotent"], record_size),
        "broker_cpu_s_per_gb_transactional": cpu_per_gb(r["transactional"], record_size),
    }


def print_table(rows: list[dict]) -> dict:
    keys = list(rows[0])
    medians = {k: round(statistics.median(row[k] for row in rows), 3) for k in keys}
    width = max(len(k) for k in keys)
    header = f"{'figure':<{width}} " + " ".join(f"{'run ' + str(i + 1):>9}" for i in range(len(rows)))
    print(header + f" {'median':>9}")
    for k in keys:
        print(f"{k:<{width}} " + " ".join(f"{row[k]:>9}" for row in rows) + f" {medians[k]:>9}")
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.environ.get("SKEIN_BIN", str(REPO / "target" / "release" / "skein")))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--records", type=int, default=100000)
    parser.add_argument("--record-size", type=int, default=1024)
    parser.add_argument("--txn-size", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--commit-samples", type=int, default=200)
    parser.add_argument("--fetch-wait-ms", type=int, default=10)
    parser.add_argument("--consume-passes", type=int, default=2)
    parser.add_argument("--json", help="write every run's figures and the medians to this file")
    args = parser.parse_args()
    if not Path(args.bin).exists():
        sys.exit(f"no skein binary at {args.bin}")
    results = []
    for run in range(args.runs):
        result = one_run(args, run)
        results.append(result)
        print(f"run {run + 1}: " + json.dumps(result), flush=True)
    rows = [summary_row(r, args.record_size) for r in results]
    print()
    medians = print_table(rows)
    report = {"config": {k: v for k, v in vars(args).items() if k != "json"},
              "load_average_at_end": os.getloadavg(), "runs": results, "summary_rows": rows, "medians": medians}
    print(json.dumps({"medians": medians}))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
