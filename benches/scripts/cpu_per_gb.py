#!/usr/bin/env python3
"""Broker CPU per GB produced (issue 18, item 1): 1 KiB records, acks=all,
flush.policy=batch, produced with librdkafka (confluent-kafka, linger 5 ms,
benches/clients/librdkafka_throughput.py --produce-only).

Every run starts a fresh single-node `skein serve` (temp data dir, free
port, `--set log.flush.policy=batch`), produces `--records` records to a new
topic of `--partitions` partitions and takes the broker's utime+stime
from /proc over the produce phase only (topic creation excluded). With
`--bin-b` the two binaries alternate run by run (A B A B …, the order
swapped every other round), so both see the same machine noise. Prints one
JSON line per run, then per binary the median, min and max of core·s/GB
and MB/s; `--json FILE` writes everything.

`--rdkafka-performance PATH` drives the load with librdkafka's own C
load generator instead, exactly as issue 18 states the target:
`rdkafka_performance -P -s 1024 -a -1 -X linger.ms=5` (plus `-t TOPIC -b
BROKER -c RECORDS`; the partition of each record is librdkafka's random
choice). PATH is a binary built from librdkafka's
examples/rdkafka_performance.c, which Debian does not package. The topic
is created first with confluent-kafka's admin client; the broker's CPU is
taken over the whole rdkafka_performance process (its connect and
metadata round trips included) and MB/s over its wall-clock time.

`--floor PATH` runs the produce floor (`benches/benches/produce_floor.rs`,
the bench binary PATH that `cargo bench -p skein-benches --bench
produce_floor --no-run` prints) once after every round, with the same
partition count and data directory, one round each: the CPU of the
design's own per-byte work alone (recv, CRC32C, copy into an aligned write
buffer, O_DIRECT write + fdatasync, response), with and without the disk,
and with the disk into one file.
Every run then also prints the floor of its round and Skein's ratio to it,
and the summary their medians, so a target below the floor shows as such.

`--perf-record FILE` records the broker of the (single) run with
`perf record --call-graph dwarf` over the produce phase, for the budget.

Usage: python3 benches/scripts/cpu_per_gb.py --bin target/release/skein \\
           [--bin-b OTHER] [--runs 3] [--records 2000000] [--partitions 8] [--json FILE]
           [--rdkafka-performance PATH] [--floor PATH [--floor-mb 1024]]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench_support import Broker, process_cpu_seconds

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "benches" / "clients" / "librdkafka_throughput.py"
VENV_PYTHON = REPO / "tests" / "e2e" / ".deps" / "venv" / "bin" / "python"


def start_perf_record(pid: int, path: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["perf", "record", "-F", "999", "--call-graph", "dwarf,16384", "-p", str(pid), "-o", path],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_perf_record(perf: subprocess.Popen | None) -> None:
    if perf is not None:
        perf.send_signal(signal.SIGINT)
        perf.wait(120)


# rdkafka_performance's summary line (printed every second, the last one at
# the end), e.g. "% 200000 messages produced (204800000 bytes), 200000
# delivered (offset 27938, 0 failed) in 5323ms: 37566 msgs/s and 38.47 MB/s,
# 26 produce failures, 0 in queue, no compression" ("produce failures" are
# its local queue-full retries, not failed deliveries).
RDKAFKA_PERFORMANCE_SUMMARY = re.compile(
    r"% (\d+) messages produced \((\d+) bytes\), (\d+) delivered \(offset -?\d+, (\d+) failed\)")


def rdkafka_performance_run(broker_pid: int, bootstrap: str, args) -> dict:
    """Creates a topic, produces `args.records` records into it with
    rdkafka_performance and returns the figures cpu_per_gb reports."""
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"cpu-{args.record_bytes}b-{args.partitions}p-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, args.partitions, 1)]).values():
        future.result(30)
    perf = start_perf_record(broker_pid, args.perf_record) if args.perf_record else None
    cpu_before = process_cpu_seconds(broker_pid)
    started = time.monotonic()
    client = subprocess.run(
        [args.rdkafka_performance, "-P", "-t", topic, "-b", bootstrap, "-s", str(args.record_bytes),
         "-a", "-1", "-X", "linger.ms=5", "-c", str(args.records)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    elapsed = time.monotonic() - started
    cpu = process_cpu_seconds(broker_pid) - cpu_before
    stop_perf_record(perf)
    summaries = RDKAFKA_PERFORMANCE_SUMMARY.findall(client.stdout)
    if client.returncode != 0 or not summaries:
        raise RuntimeError(f"rdkafka_performance failed ({client.returncode}): {client.stdout[-2000:]}")
    produced, produced_bytes, delivered, failed = map(int, summaries[-1])
    if delivered != args.records or failed != 0:
        raise RuntimeError(f"rdkafka_performance delivered {delivered} of {args.records}, {failed} failed")
    gigabytes = produced_bytes / 1e9
    return {
        "client": "rdkafka_performance",
        "topic": topic,
        "records": produced,
        "record_bytes": args.record_bytes,
        "partitions": args.partitions,
        "produce_seconds": round(elapsed, 3),
        "produce_mb_per_s": round(produced_bytes / 1e6 / elapsed, 1),
        "produce_broker_cpu_s": round(cpu, 2),
        "produce_broker_cpu_per_gb": round(cpu / gigabytes, 3),
    }


def one_run(bin_path: str, args) -> dict:
    base = Path(tempfile.mkdtemp(prefix="skein-cpu-per-gb-", dir=args.data_dir))
    env = {**os.environ, **dict(kv.split("=", 1) for kv in args.broker_env)}
    broker = Broker(bin_path, base / "data", ["--set", "log.flush.policy=batch"],
                    log_path=base / "broker.log", env=env)
    broker.start(60)
    proc, bootstrap = broker.proc, broker.bootstrap
    perf = None
    try:
        if args.rdkafka_performance:
            return {"bin": bin_path, **rdkafka_performance_run(proc.pid, bootstrap, args)}
        python = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
        client = subprocess.Popen(
            [python, str(CLIENT), "--bootstrap", bootstrap, "--record-bytes", str(args.record_bytes),
             "--partitions", str(args.partitions), "--records", str(args.records), "--acks", "all",
             "--linger-ms", "5", "--produce-only", "--broker-pid", str(proc.pid)],
            stdout=subprocess.PIPE, text=True)
        if args.perf_record:
            # The topic is created within the first second; the profile covers the rest.
            time.sleep(1.0)
            perf = start_perf_record(proc.pid, args.perf_record)
        out, _ = client.communicate(timeout=600)
        stop_perf_record(perf)
        if client.returncode != 0:
            raise RuntimeError(f"client failed: {out}")
        result = json.loads(out.strip().splitlines()[-1])
        return {"bin": bin_path, **result}
    finally:
        broker.stop(60)
        shutil.rmtree(base, ignore_errors=True)


FLOOR_JSON = re.compile(r"^FLOOR_JSON (\{.*\})$", re.MULTILINE)


def floor_run(args) -> dict:
    """One round of the produce floor bench at the broker's partition count
    (its core·s/GB with the disk and without, and each variant's steps),
    then with the disk into one file (`one_file_core_s_per_gb`): one write
    and one fdatasync per request, the least IO any layout can do."""
    figures = floor_bench(args, args.partitions, "disk,no-disk")
    one_file = floor_bench(args, 1, "disk")
    figures["one_file_core_s_per_gb"] = one_file["disk_core_s_per_gb"]
    figures["one_file_mb_per_s"] = one_file["disk_mb_per_s"]
    return figures


def floor_bench(args, partitions: int, variants: str) -> dict:
    env = {**os.environ, "SKEIN_BENCH_ROUNDS": "1", "SKEIN_BENCH_MB": str(args.floor_mb),
           "SKEIN_BENCH_PARTITIONS": str(partitions), "SKEIN_BENCH_VARIANTS": variants}
    env.pop("SKEIN_BENCH_QUICK", None)
    if args.data_dir:
        env["SKEIN_BENCH_DIR"] = args.data_dir
    bench = subprocess.run([args.floor], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=600, env=env)
    found = FLOOR_JSON.search(bench.stdout)
    if bench.returncode != 0 or not found:
        raise RuntimeError(f"floor bench failed ({bench.returncode}): {bench.stdout[-2000:]}")
    figures = json.loads(found.group(1))
    return {key: values[0] for key, values in figures.items()}


def summary(runs: list[dict], key: str) -> dict:
    values = [r[key] for r in runs]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=str(REPO / "target" / "release" / "skein"))
    parser.add_argument("--bin-b", help="a second binary, alternated with --bin run by run")
    parser.add_argument("--runs", type=int, default=3, help="runs per binary")
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--record-bytes", type=int, default=1024)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--data-dir", default=None, help="parent of the temp data dirs (default /tmp)")
    parser.add_argument("--broker-env", action="append", default=[], metavar="KEY=VALUE",
                        help="an environment variable for the broker (repeatable)")
    parser.add_argument("--perf-record", help="perf.data path: profile the broker of one run")
    parser.add_argument("--rdkafka-performance", metavar="PATH",
                        help="produce with this rdkafka_performance binary instead of confluent-kafka")
    parser.add_argument("--floor", metavar="PATH",
                        help="the produce_floor bench binary: run once per round, in the same run")
    parser.add_argument("--floor-mb", type=int, default=1024,
                        help="MiB of record values per floor variant (default 1024)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.perf_record and (args.bin_b or args.runs != 1):
        parser.error("--perf-record profiles one run: use --runs 1 and no --bin-b")

    binaries = [args.bin] + ([args.bin_b] if args.bin_b else [])
    runs, floors = [], []
    for i in range(args.runs):
        order = binaries if i % 2 == 0 else list(reversed(binaries))
        round_runs = []
        for bin_path in order:
            run = {**one_run(bin_path, args), "round": i, "load_average_1m": os.getloadavg()[0]}
            if not args.floor:
                print(json.dumps(run), flush=True)
            round_runs.append(run)
        if args.floor:
            floor = {"round": i, **floor_run(args), "load_average_1m": os.getloadavg()[0]}
            floors.append(floor)
            print(json.dumps({"floor": floor}), flush=True)
            for run in round_runs:
                run["floor_disk_core_s_per_gb"] = floor["disk_core_s_per_gb"]
                run["floor_no_disk_core_s_per_gb"] = floor["no_disk_core_s_per_gb"]
                run["ratio_to_floor"] = round(
                    run["produce_broker_cpu_per_gb"] / floor["disk_core_s_per_gb"], 3)
                print(json.dumps(run), flush=True)
                print(f"round {i}: {run['bin']}: {run['produce_broker_cpu_per_gb']:.3f} core·s/GB, "
                      f"floor {floor['disk_core_s_per_gb']:.3f} (one file "
                      f"{floor['one_file_core_s_per_gb']:.3f}, no disk "
                      f"{floor['no_disk_core_s_per_gb']:.3f}), ratio {run['ratio_to_floor']:.2f}",
                      flush=True)
        runs.extend(round_runs)
    report = {"runs": runs, "floors": floors, "summary": {}}
    for bin_path in binaries:
        mine = [r for r in runs if r["bin"] == bin_path]
        report["summary"][bin_path] = {
            "broker_core_s_per_gb": summary(mine, "produce_broker_cpu_per_gb"),
            "produce_mb_per_s": summary(mine, "produce_mb_per_s"),
        }
        s = report["summary"][bin_path]
        print(f"{bin_path}: {s['broker_core_s_per_gb']['median']:.3f} core·s/GB "
              f"[{s['broker_core_s_per_gb']['min']:.3f}–{s['broker_core_s_per_gb']['max']:.3f}], "
              f"{s['produce_mb_per_s']['median']:.0f} MB/s "
              f"[{s['produce_mb_per_s']['min']:.0f}–{s['produce_mb_per_s']['max']:.0f}] "
              f"over {len(mine)} runs")
        if floors:
            s["ratio_to_floor"] = summary(mine, "ratio_to_floor")
            r = s["ratio_to_floor"]
            print(f"{bin_path}: ratio to the floor (with disk) {r['median']:.2f} "
                  f"[{r['min']:.2f}–{r['max']:.2f}]")
    if floors:
        for key, label in [("disk_core_s_per_gb", f"with disk, {args.partitions} files"),
                           ("one_file_core_s_per_gb", "with disk, one file"),
                           ("no_disk_core_s_per_gb", "without disk")]:
            report["summary"][f"floor_{key}"] = f = summary(floors, key)
            print(f"floor {label}: {f['median']:.3f} core·s/GB [{f['min']:.3f}–{f['max']:.3f}] "
                  f"over {len(floors)} rounds")
        steps = ["recv", "crc", "copy", "write", "fdatasync", "handoff", "response"]
        for variant in ["disk", "no_disk"]:
            print(f"floor {variant} by step (medians, core·s/GB): " + "  ".join(
                f"{step} "
                f"{statistics.median(f[f'{variant}_{step}_core_s_per_gb'] for f in floors):.3f}"
                for step in steps))
    loads = [r["load_average_1m"] for r in runs]
    print(f"load average (1 min) after each run: {min(loads):.1f}–{max(loads):.1f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
