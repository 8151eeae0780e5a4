#!/usr/bin/env python3
"""Produce throughput with replication factor 3 against 1 on one three-node
cluster (tests/e2e/cluster.py: three combined `skein serve` processes on
127.0.0.1, all sharing this machine's cores), in the same run:

* `skein bench produce` (1 KiB records, one producer thread) at the maximum
  rate: RF 1 with acks=1, RF 3 with acks=all;
* RF 3 acks=all again at half of that round's RF 3 maximum (records/s), for
  the acknowledgement latency (p50/p99/p99.9, from each record's intended
  send time);
* those three cases once per `--batching` pair (`--batch-size:--linger-ms`;
  default `16KiB:0`, skein bench's own defaults, and `256KiB:5`, close to
  librdkafka's 1 MB / 5 ms), since the cost of replication here is mostly
  per batch;
* with `--librdkafka`, the two max-rate cases with a librdkafka producer
  (confluent-kafka's Producer and the librdkafka it bundles; the machine has
  no rdkafka_performance): `--seconds` of produce() then flush(), records
  spread round-robin over the partitions. The loop is Python: on a small
  machine it is client-bound before the broker is, which flatters RF 3.

Rounds interleave the cases, so a noisy neighbour hits both sides of a
ratio alike. Around every case the three brokers' CPU (utime + stime from
/proc) is sampled, reported as core·seconds per GB produced. The raw disk
ceiling (`dd`, 1 MiB O_DIRECT writes, with and without O_DSYNC) is measured
on the data directory's filesystem before the first and after the last
round. Prints each round, the medians and the RF 3 / RF 1 ratios; `--json`
writes everything.

Usage: tests/e2e/.deps/venv/bin/python benches/scripts/replication_bench.py \\
           --bin target/release/skein [--rounds 3] [--seconds 10] [--partitions 6] [--librdkafka]
           [--property replica.fetch.min.bytes=32768 ...] [--cores 0,1,0]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from confluent_kafka import KafkaError, KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import cluster as cluster_module  # noqa: E402
from cluster import Cluster  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
RECORD_SIZE = 1024


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


def disk_ceiling(directory: Path) -> dict:
    """MB/s of 256 MiB written with dd in 1 MiB O_DIRECT writes, plain and
    with O_DSYNC (each write durable before the next, as a flush per batch)."""
    out = {}
    target = directory / "dd-probe"
    for name, flags in (("direct_mb_s", "direct"), ("direct_dsync_mb_s", "direct,dsync")):
        result = subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=1M", "count=256", f"oflag={flags}"],
                                capture_output=True, text=True, check=True)
        match = re.search(r"copied, ([\d.]+) s", result.stderr)
        out[name] = round(256 * 1048576 / float(match.group(1)) / 1e6, 1) if match else None
        target.unlink()
    return out


def skein_bench(bin_path: str, bootstrap: str, topic: str, args, acks: str, rate: str, tag: str,
                batching: tuple[str, str]) -> dict:
    json_path = Path(tempfile.mkdtemp(prefix="skein-replication-bench-json-")) / f"{tag}.json"
    result = subprocess.run(
        [bin_path, "bench", "produce", "-b", bootstrap, "--topic", topic,
         "--partitions", str(args.partitions), "--record-size", str(RECORD_SIZE), "--acks", acks,
         "--rate", rate, "--warmup", str(args.warmup), "--duration", str(args.seconds),
         "--batch-size", batching[0], "--linger-ms", batching[1], "--json", str(json_path)],
        capture_output=True, text=True, timeout=args.warmup + args.seconds + 120)
    if result.returncode != 0 or not json_path.exists():
        raise RuntimeError(f"skein bench {tag} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    report = json.loads(json_path.read_text())
    shutil.rmtree(json_path.parent, ignore_errors=True)
    series = report["series"][0]
    latency = series["latency"] or {}
    return {
        "mb_per_s": round(series["bytes_per_s"] / 1e6, 2),
        "records_per_s": round(series["records_per_s"]),
        "seconds": series["measured_seconds"],
        "bytes": series["bytes"],
        "latency_ms": {k: round(latency[f"{k}_us"] / 1000, 2) for k in ("p50", "p99", "p99_9", "max")
                       if f"{k}_us" in latency},
    }


def librdkafka_produce(bootstrap: str, topic: str, args, acks: str) -> dict:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5,
                         "message.timeout.ms": 60000})
    producer.list_topics(topic, 30)
    delivered = [0]
    errors: list[str] = []

    def on_delivery(err, _msg):
        if err is None:
            delivered[0] += 1
        else:
            errors.append(str(err))

    payload = b"x" * RECORD_SIZE
    start = time.monotonic()
    stop_at = start + args.seconds
    i = 0
    while time.monotonic() < stop_at:
        for _ in range(1000):
            try:
                producer.produce(topic, value=payload, partition=i % args.partitions, on_delivery=on_delivery)
                i += 1
            except BufferError:
                producer.poll(0.005)
        producer.poll(0)
    left = producer.flush(60)
    seconds = time.monotonic() - start
    if errors or left:
        raise RuntimeError(f"librdkafka acks={acks}: {len(errors)} errors ({errors[:3]}), {left} undelivered")
    return {"mb_per_s": round(delivered[0] * RECORD_SIZE / seconds / 1e6, 2),
            "records_per_s": round(delivered[0] / seconds), "seconds": round(seconds, 2),
            "bytes": delivered[0] * RECORD_SIZE}


def measured(pids: list[int], run) -> dict:
    """Runs one case; adds the brokers' and the client's CPU to its figures."""
    broker_before, client_before = cpu_seconds(pids), client_cpu_seconds()
    figures = run()
    broker_cpu = cpu_seconds(pids) - broker_before
    figures["broker_cpu_s"] = round(broker_cpu, 2)
    figures["client_cpu_s"] = round(client_cpu_seconds() - client_before, 2)
    # skein bench's warm-up bytes are not in `bytes`: count them at the
    # measured rate so the CPU is per byte actually produced.
    seconds = figures["seconds"]
    produced_gb = figures["bytes"] / 1e9 * (1 + figures.get("warmup_s", 0) / seconds if seconds else 1)
    figures["broker_core_s_per_gb"] = round(broker_cpu / produced_gb, 2) if produced_gb else None
    return figures


def batching(text: str) -> list[tuple[str, str]]:
    return [tuple(pair.split(":", 1)) for pair in text.split(",")]  # type: ignore[misc]


class Topics:
    """One fresh topic per case, deleted (and its files waited for) right
    after it: a round writes tens of GB at these rates, more than the disk
    of a shared machine can hold across rounds."""

    def __init__(self, cluster: Cluster, base: Path, partitions: int, min_free_gb: float):
        self.admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
        self.data_dirs = [n.data_dir for n in cluster.nodes.values()]
        self.base = base
        self.partitions = partitions
        self.min_free_gb = min_free_gb
        self.count = 0

    def case(self, rf: int, run):
        """Creates a topic of replication factor `rf`, runs `run(topic)`,
        deletes the topic; returns what `run` returned."""
        free_gb = shutil.disk_usage(self.base).free / 1e9
        if free_gb < self.min_free_gb:
            raise RuntimeError(f"only {free_gb:.1f} GB free on the data dir's disk (need {self.min_free_gb})")
        self.count += 1
        topic = f"bench-rf{rf}-{self.count}"
        new_topic = NewTopic(topic, num_partitions=self.partitions, replication_factor=rf,
                             config={"min.insync.replicas": str(min(rf, 2))})
        deadline = time.monotonic() + 60
        while True:
            try:
                self.admin.create_topics([new_topic])[topic].result(30)
                break
            except KafkaException as error:
                # Right after start on a loaded machine the nodes may not
                # know the active controller yet: ask again.
                if error.args[0].code() != KafkaError.NOT_CONTROLLER or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        time.sleep(1)  # leaders elected, followers fetching
        try:
            return run(topic)
        finally:
            self.admin.delete_topics([topic], operation_timeout=30)[topic].result(60)
            deadline = time.monotonic() + 120
            while any(d.name.startswith(f"{topic}-") for data in self.data_dirs if data.exists()
                      for d in data.iterdir()):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{topic}'s partition directories still on disk after 120 s")
                time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.environ.get("SKEIN_BIN", str(REPO / "target" / "release" / "skein")))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--batching", type=batching, default=batching("16KiB:0,256KiB:5"),
                        help="skein bench --batch-size:--linger-ms pairs, each a set of cases "
                             "(default 16KiB:0 = its defaults, and 256KiB:5 = near librdkafka's)")
    parser.add_argument("--librdkafka", action="store_true",
                        help="also produce with confluent-kafka's librdkafka producer")
    parser.add_argument("--min-free-gb", type=float, default=20.0,
                        help="refuse to start a case with less free space on the data dir's disk")
    parser.add_argument("--json", help="write every round's figures and the medians to this file")
    parser.add_argument("--property", action="append", default=[], metavar="KEY=VALUE",
                        help="a broker property added to every node's file (repeatable), e.g. "
                             "replica.fetch.min.bytes=32768")
    parser.add_argument("--cores", help="one --cores value per node, comma-separated: 0,1,0 gives each "
                                        "node one core of two, as docs/operations.md advises for several "
                                        "nodes on one machine (default: every node on every core)")
    args = parser.parse_args()
    if not Path(args.bin).exists():
        sys.exit(f"no skein binary at {args.bin}")
    cluster_module.SKEIN_BIN = Path(args.bin)
    base = Path(tempfile.mkdtemp(prefix="skein-replication-bench-"))
    # A deleted partition's directory goes after log.segment.delete.delay.ms
    # (Kafka's 60 s): a second here, so the next case has the disk back.
    properties = {"log.flush.policy": "batch", "log.segment.delete.delay.ms": "1000"}
    properties.update(tuple(item.split("=", 1)) for item in args.property)  # type: ignore[misc]
    cluster = Cluster(base, combined=3, properties=properties)
    if args.cores:
        cluster.pin_nodes(args.cores)
    report: dict = {"config": {k: v for k, v in vars(args).items() if k != "json"}, "rounds": []}
    try:
        report["disk_before"] = disk_ceiling(base)
        print(f"disk ceiling before: {report['disk_before']}", flush=True)
        cluster.start()
        cluster.wait_ready({1, 2, 3})
        bootstrap = cluster.bootstrap()
        topics = Topics(cluster, base, args.partitions, args.min_free_gb)
        pids = [n.proc.pid for n in cluster.nodes.values()]
        for round_ in range(args.rounds):
            row: dict = {"round": round_ + 1, "load_average": os.getloadavg()[0]}
            for batch_size, linger in args.batching:
                name = f"skein_{batch_size}_linger{linger}"

                def bench(topic: str, acks: str, rate: str, tag: str) -> dict:
                    figures = skein_bench(args.bin, bootstrap, topic, args, acks, rate, tag, (batch_size, linger))
                    figures["warmup_s"] = args.warmup
                    return figures

                row[f"{name}_rf1_acks1"] = topics.case(1, lambda t: measured(pids, lambda: bench(t, "1", "max", "rf1")))
                row[f"{name}_rf3_acksall"] = topics.case(
                    3, lambda t: measured(pids, lambda: bench(t, "all", "max", "rf3")))
                half = max(1, row[f"{name}_rf3_acksall"]["records_per_s"] // 2)
                row[f"{name}_rf3_acksall_half_rate"] = topics.case(
                    3, lambda t: measured(pids, lambda: bench(t, "all", str(half), "rf3-half")))
                row[f"{name}_rf3_acksall_half_rate"]["target_records_per_s"] = half
            if args.librdkafka:
                row["librdkafka_rf1_acks1"] = topics.case(
                    1, lambda t: measured(pids, lambda: librdkafka_produce(bootstrap, t, args, "1")))
                row["librdkafka_rf3_acksall"] = topics.case(
                    3, lambda t: measured(pids, lambda: librdkafka_produce(bootstrap, t, args, "all")))
            report["rounds"].append(row)
            print(f"round {round_ + 1}: " + json.dumps(row), flush=True)
        report["disk_after"] = disk_ceiling(base)
        print(f"disk ceiling after: {report['disk_after']}", flush=True)
        report["medians"] = summarize(report["rounds"], args)
        print(json.dumps({"medians": report["medians"]}, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
    finally:
        cluster.close()
        shutil.rmtree(base, ignore_errors=True)


def summarize(rounds: list[dict], args) -> dict:
    def median(case: str, key: str) -> float:
        return round(statistics.median(r[case][key] for r in rounds), 2)

    def ratios(rf3: str, rf1: str) -> list[float]:
        return [round(r[rf3]["mb_per_s"] / r[rf1]["mb_per_s"], 3) for r in rounds]

    out: dict = {}
    for batch_size, linger in args.batching:
        name = f"skein_{batch_size}_linger{linger}"
        out[f"{name}_rf1_acks1_mb_s"] = median(f"{name}_rf1_acks1", "mb_per_s")
        out[f"{name}_rf3_acksall_mb_s"] = median(f"{name}_rf3_acksall", "mb_per_s")
        out[f"{name}_rf3_over_rf1_each_round"] = ratios(f"{name}_rf3_acksall", f"{name}_rf1_acks1")
        out[f"{name}_rf3_over_rf1_median"] = statistics.median(out[f"{name}_rf3_over_rf1_each_round"])
        out[f"{name}_rf1_core_s_per_gb"] = median(f"{name}_rf1_acks1", "broker_core_s_per_gb")
        out[f"{name}_rf3_core_s_per_gb"] = median(f"{name}_rf3_acksall", "broker_core_s_per_gb")
        half = f"{name}_rf3_acksall_half_rate"
        out[f"{half}_mb_s"] = median(half, "mb_per_s")
        for p in ("p50", "p99", "p99_9"):
            out[f"{half}_{p}_ms"] = round(statistics.median(r[half]["latency_ms"][p] for r in rounds), 2)
    if args.librdkafka:
        out["librdkafka_rf1_acks1_mb_s"] = median("librdkafka_rf1_acks1", "mb_per_s")
        out["librdkafka_rf3_acksall_mb_s"] = median("librdkafka_rf3_acksall", "mb_per_s")
        out["librdkafka_rf3_over_rf1_each_round"] = ratios("librdkafka_rf3_acksall", "librdkafka_rf1_acks1")
        out["librdkafka_rf3_over_rf1_median"] = statistics.median(out["librdkafka_rf3_over_rf1_each_round"])
    return out


if __name__ == "__main__":
    main()
