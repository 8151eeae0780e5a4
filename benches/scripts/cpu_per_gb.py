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

`--perf-record FILE` records the broker of the (single) run with
`perf record --call-graph dwarf` over the produce phase, for the budget.

Usage: python3 benches/scripts/cpu_per_gb.py --bin target/release/skein \\
           [--bin-b OTHER] [--runs 3] [--records 2000000] [--partitions 8] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "benches" / "clients" / "librdkafka_throughput.py"
VENV_PYTHON = REPO / "tests" / "e2e" / ".deps" / "venv" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(bin_path: str, base: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    data = base / "data"
    data.mkdir(parents=True)
    bootstrap = f"127.0.0.1:{port}"
    proc = subprocess.Popen(
        [bin_path, "serve", "--listen", bootstrap, "--data-dir", str(data),
         "--set", "log.flush.policy=batch"],
        stdout=subprocess.DEVNULL, stderr=open(base / "broker.log", "ab"), env={**os.environ, **env})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, bootstrap
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"skein serve exited with {proc.returncode}; see {base}/broker.log")
            time.sleep(0.1)
    proc.kill()
    raise TimeoutError("the broker did not listen within 60 s")


def one_run(bin_path: str, args) -> dict:
    base = Path(tempfile.mkdtemp(prefix="skein-cpu-per-gb-", dir=args.data_dir))
    proc, bootstrap = start_broker(bin_path, base, dict(kv.split("=", 1) for kv in args.broker_env))
    perf = None
    try:
        python = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
        client = subprocess.Popen(
            [python, str(CLIENT), "--bootstrap", bootstrap, "--record-bytes", str(args.record_bytes),
             "--partitions", str(args.partitions), "--records", str(args.records), "--acks", "all",
             "--linger-ms", "5", "--produce-only", "--broker-pid", str(proc.pid)],
            stdout=subprocess.PIPE, text=True)
        if args.perf_record:
            # The topic is created within the first second; the profile covers the rest.
            time.sleep(1.0)
            perf = subprocess.Popen(
                ["perf", "record", "-F", "999", "--call-graph", "dwarf,16384", "-p", str(proc.pid),
                 "-o", args.perf_record], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out, _ = client.communicate(timeout=600)
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(120)
        if client.returncode != 0:
            raise RuntimeError(f"client failed: {out}")
        result = json.loads(out.strip().splitlines()[-1])
        return {"bin": bin_path, **result}
    finally:
        proc.terminate()
        proc.wait(60)
        shutil.rmtree(base, ignore_errors=True)


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
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.perf_record and (args.bin_b or args.runs != 1):
        parser.error("--perf-record profiles one run: use --runs 1 and no --bin-b")

    binaries = [args.bin] + ([args.bin_b] if args.bin_b else [])
    runs = []
    for i in range(args.runs):
        order = binaries if i % 2 == 0 else list(reversed(binaries))
        for bin_path in order:
            run = one_run(bin_path, args)
            print(json.dumps(run), flush=True)
            runs.append(run)
    report = {"runs": runs, "summary": {}}
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
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
