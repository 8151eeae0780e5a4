#!/usr/bin/env python3
"""How long each kind of io_uring request takes, machine-wide, while a load
runs: records the kernel's `io_uring:io_uring_submit_req` and
`io_uring:io_uring_complete` tracepoints with `perf record -a` for
`--seconds`, pairs each completion with its submission (same ring, same
user_data), and prints per opcode the count and the p50 / p90 / p99 time
from submission to completion, then how long after the last write
completion on the same ring each FSYNC was submitted (the hop between a
log's write finishing and its fdatasync starting, a user-space delay).

A diagnostic, not a benchmark: start the load first (e.g.
benches/scripts/replication_probe.py), then run this beside it. Needs root
(or perf_event_paranoid <= -1) and a kernel with the io_uring tracepoints.
POLL_ADD and TIMEOUT measure waits, not IO. Every io_uring user on the
machine is counted; `--comm PREFIX` keeps the submissions of threads whose
name starts with PREFIX (e.g. `skein-shard`).

Usage: sudo python3 benches/scripts/io_uring_latency.py [--seconds 2] [--comm skein]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

EVENT = re.compile(
    r"^\s*(?P<comm>.+?)\s+\d+\s+\[\d+\]\s+(?P<time>\d+\.\d+):\s+io_uring:(?P<event>\w+):"
    r" ring (?P<ring>\w+), req \w+, user_data (?P<user_data>\w+)(?:, opcode (?P<opcode>\w+))?"
)
WRITES = {"WRITE", "WRITE_FIXED", "WRITEV"}


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--comm", default="", help="count only submissions by threads named PREFIX*")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="io-uring-latency-") as scratch:
        data = Path(scratch) / "perf.data"
        subprocess.run(
            ["perf", "record", "-q", "-a", "-o", str(data),
             "-e", "io_uring:io_uring_submit_req", "-e", "io_uring:io_uring_complete",
             "--", "sleep", str(args.seconds)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        script = subprocess.run(["perf", "script", "-i", str(data)], check=True,
                                capture_output=True, text=True).stdout

    submitted: dict[tuple[str, str], tuple[str, float]] = {}
    latencies: dict[str, list[float]] = defaultdict(list)
    last_write_done: dict[str, float] = {}
    fsync_gaps: list[float] = []
    for line in script.splitlines():
        match = EVENT.match(line)
        if not match:
            continue
        at = float(match["time"])
        key = (match["ring"], match["user_data"])
        if match["event"] == "io_uring_submit_req":
            if not match["comm"].startswith(args.comm):
                continue
            opcode = match["opcode"] or "?"
            submitted[key] = (opcode, at)
            if opcode == "FSYNC" and match["ring"] in last_write_done:
                fsync_gaps.append((at - last_write_done[match["ring"]]) * 1e6)
        elif match["event"] == "io_uring_complete":
            started = submitted.pop(key, None)
            if started is None:
                continue
            opcode, since = started
            latencies[opcode].append((at - since) * 1e6)
            if opcode in WRITES:
                last_write_done[match["ring"]] = at

    if not latencies:
        sys.exit("no io_uring requests recorded (is a load running, and may perf trace?)")
    print(f"io_uring requests over {args.seconds:g} s, submission to completion (µs):")
    for opcode, values in sorted(latencies.items(), key=lambda item: -len(item[1])):
        values.sort()
        print(f"  {opcode:<15} {len(values):>8}   p50 {percentile(values, 0.5):>9.0f}"
              f"   p90 {percentile(values, 0.9):>9.0f}   p99 {percentile(values, 0.99):>9.0f}")
    if fsync_gaps:
        fsync_gaps.sort()
        print(f"FSYNC submitted after the ring's last write completed (µs): n {len(fsync_gaps)}"
              f"   p10 {percentile(fsync_gaps, 0.1):.0f}   p50 {percentile(fsync_gaps, 0.5):.0f}"
              f"   p90 {percentile(fsync_gaps, 0.9):.0f}")


if __name__ == "__main__":
    main()
