#!/usr/bin/env python3
"""Broker CPU while a consumer long-polls with fetch.min.bytes above what
arrives (one node, one partition, a 1 KiB record every 100 ms, a consumer
with fetch.min.bytes=1 MiB and fetch.wait.max.ms=500): each fetch holds a
few records below min_bytes until its deadline, which should cost a wait,
not a loop of re-reads. Prints the broker's core·seconds over `--seconds`.

Usage: tests/e2e/.deps/venv/bin/python benches/scripts/fetch_min_bytes_bench.py \\
           --bin target/release/skein [--seconds 10]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import cluster as cluster_module  # noqa: E402
from cluster import Cluster  # noqa: E402
from replication_bench import cpu_seconds  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=str(REPO / "target" / "release" / "skein"))
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    cluster_module.SKEIN_BIN = Path(args.bin)
    base = Path(tempfile.mkdtemp(prefix="skein-fetch-min-bytes-"))
    cluster = Cluster(base, combined=1, properties={"log.flush.policy": "batch"})
    try:
        cluster.start()
        cluster.wait_ready({1})
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
        admin.create_topics([NewTopic("t", 1, 1)])["t"].result(30)
        time.sleep(1)
        producer = Producer({"bootstrap.servers": cluster.bootstrap()})
        consumer = Consumer({"bootstrap.servers": cluster.bootstrap(), "group.id": "g",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False,
                             "fetch.min.bytes": 1048576, "fetch.wait.max.ms": 500})
        consumer.subscribe(["t"])
        warm_until = time.monotonic() + 5
        while time.monotonic() < warm_until:
            consumer.poll(0.2)
        pids = [node.proc.pid for node in cluster.nodes.values()]
        before = cpu_seconds(pids)
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            producer.produce("t", b"x" * 1024)
            producer.poll(0)
            consumer.poll(0.1)
        print(f"{args.bin}: broker core·s in {args.seconds:g} s of min.bytes long-polls: "
              f"{cpu_seconds(pids) - before:.2f}", flush=True)
        consumer.close()
        producer.flush(10)
    finally:
        cluster.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
