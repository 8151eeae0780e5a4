#!/usr/bin/env python3
"""Where a replicated produce load goes, node by node: one three-node
cluster (tests/e2e/cluster.py, all on 127.0.0.1 and this machine's cores),
one topic of `--partitions` partitions at `--rf`, `skein bench produce`
(1 KiB records) at `--rate` for `--seconds`; prints the client's figures,
then per node the requests per second by API (from /metrics) and the CPU of
its threads by name (shards, controller, io_uring workers, from /proc), and
one summary line: MB/s, the three brokers' cores and their core·s per GB.

A diagnostic for replication_bench.py's figures, not a benchmark of its
own: one run, no rounds. `--idle-partitions N` first creates an idle topic
of N partitions at the same replication factor, to see what partitions
that carry nothing cost the followers of the ones that do. `--leaders-on
NODE` places every partition's leader on that node (the others follow all
of them), so each node's core·s per GB is a leader's or a follower's cost
alone.

Usage: tests/e2e/.deps/venv/bin/python benches/scripts/replication_probe.py \\
           --bin target/release/skein [--rf 3] [--seconds 10] [--rate max] \\
           [--property log.flush.policy=none] [--cores 0,1,0] [--idle-partitions 1500] \\
           [--leaders-on 2]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from kafka.admin import KafkaAdminClient  # noqa: E402
from kafka.admin import NewTopic as KafkaNewTopic  # noqa: E402

import cluster as cluster_module  # noqa: E402
from cluster import Cluster  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
REQUESTS = re.compile(r'skein_requests_total\{api="(\w+)"\}\s+([\d.e+]+)')


def requests_by_api(admin_port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5).read().decode()
    return {m.group(1): float(m.group(2)) for m in REQUESTS.finditer(text)}


def cpu_ticks_by_thread_name(pid: int) -> dict[str, int]:
    """utime + stime per thread name, numbered names folded together
    (`iou-wrk-1234` -> `iou-wrk-N`)."""
    out: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread exited
        name = re.sub(r"\d+$", "N", name)
        out[name] = out.get(name, 0) + int(fields[11]) + int(fields[12])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.environ.get("SKEIN_BIN", str(REPO / "target" / "release" / "skein")))
    parser.add_argument("--rf", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", default="max", help="records/s, or max")
    parser.add_argument("--acks", help="default: all with replicas, else 1")
    parser.add_argument("--property", action="append", default=[], metavar="KEY=VALUE",
                        help="a broker property for every node (log.flush.policy=batch by default)")
    parser.add_argument("--cores", help="one --cores value per node, comma-separated (e.g. 0,1,0)")
    parser.add_argument("--idle-partitions", type=int, default=0)
    parser.add_argument("--leaders-on", type=int, choices=(1, 2, 3),
                        help="place every partition's leader on this node (the first replica of each)")
    args = parser.parse_args()
    cluster_module.SKEIN_BIN = Path(args.bin)
    base = Path(tempfile.mkdtemp(prefix="skein-replication-probe-"))
    properties = {"log.flush.policy": "batch"}
    properties.update(tuple(item.split("=", 1)) for item in args.property)  # type: ignore[misc]
    cluster = Cluster(base, combined=3, properties=properties)
    if args.cores:
        cluster.pin_nodes(args.cores)
    try:
        cluster.start()
        cluster.wait_ready({1, 2, 3})
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
        if args.idle_partitions:
            idle = NewTopic("idle", num_partitions=args.idle_partitions, replication_factor=args.rf)
            admin.create_topics([idle])["idle"].result(120)
            time.sleep(15)  # every replica opened and fetching
        config = {"min.insync.replicas": str(min(args.rf, 2))}
        if args.leaders_on:
            # kafka-python: this confluent-kafka refuses any replica assignment.
            others = [n for n in (1, 2, 3) if n != args.leaders_on]
            replicas = [args.leaders_on, *others][:args.rf]
            placed = KafkaNewTopic("probe", -1, -1, topic_configs=config,
                                   replica_assignments={p: replicas for p in range(args.partitions)})
            placer = KafkaAdminClient(bootstrap_servers=cluster.bootstrap())
            placer.create_topics([placed], timeout_ms=60_000)
            placer.close()
        else:
            topic = NewTopic("probe", num_partitions=args.partitions, replication_factor=args.rf,
                             config=config)
            admin.create_topics([topic])["probe"].result(60)
        time.sleep(2)
        nodes = list(cluster.nodes.values())
        acks = args.acks or ("all" if args.rf > 1 else "1")
        bench = subprocess.Popen(
            [args.bin, "bench", "produce", "-b", cluster.bootstrap(), "--topic", "probe",
             "--partitions", str(args.partitions), "--record-size", "1024", "--acks", acks,
             "--rate", args.rate, "--warmup", "2", "--duration", str(args.seconds)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # Sample inside the measured window: after the warm-up, before the end.
        time.sleep(2.5)
        requests_before = [requests_by_api(n.admin_port) for n in nodes]
        cpu_before = [cpu_ticks_by_thread_name(n.proc.pid) for n in nodes]
        started = time.monotonic()
        time.sleep(max(1, args.seconds - 3))
        requests_after = [requests_by_api(n.admin_port) for n in nodes]
        cpu_after = [cpu_ticks_by_thread_name(n.proc.pid) for n in nodes]
        window = time.monotonic() - started
        output = bench.communicate(timeout=args.seconds + 120)[0]
        print("\n".join(line for line in output.splitlines() if "records/s" in line or "latency" in line))
        total_cores = 0.0
        for node, r0, r1, c0, c1 in zip(nodes, requests_before, requests_after, cpu_before, cpu_after):
            rates = {api: (r1[api] - r0.get(api, 0)) / window for api in r1}
            print(f"node {node.node_id}: " + ", ".join(
                f"{api} {rate:.0f}/s" for api, rate in sorted(rates.items()) if rate >= 1))
            cores = {name: (c1[name] - c0.get(name, 0)) / TICKS / window for name in c1}
            total_cores += sum(cores.values())
            print("  cores: " + ", ".join(
                f"{name} {v:.2f}" for name, v in sorted(cores.items(), key=lambda x: -x[1]) if v >= 0.005))
        mb = re.search(r"([\d.]+) MB/s", output)
        if mb:
            mb_s = float(mb.group(1))
            print(f"summary: {mb_s:.1f} MB/s, brokers {total_cores:.2f} cores, "
                  f"{total_cores / mb_s * 1000:.2f} core·s/GB")
            for node, c0, c1 in zip(nodes, cpu_before, cpu_after):
                node_cores = sum(c1[name] - c0.get(name, 0) for name in c1) / TICKS / window
                print(f"  node {node.node_id}: {node_cores / mb_s * 1000:.2f} core·s/GB")
    finally:
        cluster.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
