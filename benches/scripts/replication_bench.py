#!/usr/bin/env python3
"""Produce throughput with replication factor 3 against 1 on one three-node
cluster (tests/e2e/cluster.py: three combined `skein serve` processes on
127.0.0.1, all sharing this machine's cores), measured by `skein bench
produce` (1 KiB records, acks=all), rounds interleaved RF 1 / RF 3; prints
each round and the medians, with the three brokers' CPU (utime + stime from
/proc) per GB produced.

Usage: SKEIN_BIN=target/release/skein benches/scripts/replication_bench.py
           [--rounds 3] [--seconds 10] [--partitions 6]
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from cluster import Cluster  # noqa: E402

SKEIN_BIN = os.environ.get("SKEIN_BIN", str(REPO / "target" / "release" / "skein"))
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def produce(bootstrap: str, topic: str, seconds: int, partitions: int) -> float:
    out = subprocess.run(
        [SKEIN_BIN, "bench", "produce", "-b", bootstrap, "--topic", topic,
         "--partitions", str(partitions), "--record-size", "1KiB", "--acks", "all",
         "--warmup", "0", "--duration", str(seconds)],
        capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    match = re.search(r"([\d.,]+) MB/s", out)
    assert match, out
    return float(match.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=6)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="skein-replication-bench-"))
    cluster = Cluster(base, combined=3, properties={"log.flush.policy": "batch"})
    try:
        cluster.start()
        cluster.wait_ready({1, 2, 3})
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
        topics = {rf: f"bench-rf{rf}" for rf in (1, 3)}
        futures = admin.create_topics([NewTopic(t, num_partitions=args.partitions, replication_factor=rf)
                                       for rf, t in topics.items()])
        for future in futures.values():
            future.result(30)
        time.sleep(2)
        pids = [n.proc.pid for n in cluster.nodes.values()]
        results: dict[int, list[tuple[float, float]]] = {1: [], 3: []}
        for round_ in range(args.rounds):
            for rf in (1, 3):
                before = cpu_seconds(pids)
                mb_s = produce(cluster.bootstrap(), topics[rf], args.seconds, args.partitions)
                cpu = cpu_seconds(pids) - before
                gb = mb_s * args.seconds / 1000
                results[rf].append((mb_s, cpu / gb if gb else float("nan")))
                print(f"round {round_ + 1} RF {rf}: {mb_s:.1f} MB/s, brokers {cpu / gb:.2f} core·s/GB",
                      flush=True)
        med = {rf: (statistics.median(m for m, _ in r), statistics.median(c for _, c in r))
               for rf, r in results.items()}
        for rf, (mb_s, cpu) in med.items():
            print(f"RF {rf}: median {mb_s:.1f} MB/s, brokers {cpu:.2f} core·s/GB")
        print(f"RF 3 / RF 1 throughput: {med[3][0] / med[1][0]:.0%}")
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
