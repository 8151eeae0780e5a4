#!/usr/bin/env python3
"""Produce throughput over many partitions against over a few (issue 18,
item 2): `skein bench produce`, 1 KiB records, acks=all, null keys (the
sticky partitioner moves to the next partition after every full batch, so
the records are spread over all partitions of the topic), to a topic of
`--many` partitions (default 10 000) and to one of `--few` (default 8).
The figure is the ratio many/few of records/s, from the same broker.

Every round starts a fresh single-node `skein serve` per binary (temp data
dir, free port, default settings: flush.policy=batch), creates both topics
(creation is not timed), then runs `skein bench produce` on each, the order
swapped every other round; with `--bin-b` the two binaries alternate round
by round too (A B, then B A, …), so both see the same machine noise. The
broker's utime+stime over each run gives its core·s per GB. Prints one JSON
line per run, then per binary and topic the median and spread (min-max) of
records/s and of the ratio per round; `--json FILE` writes everything.

With `--fsync-ceiling`, every round also measures, before its broker
starts and on the same file system, what the device allows a design that
makes each batch durable on its own: `FSYNC_CEILING_THREADS` threads write
16 KiB (one batch of `skein bench produce`'s default size) with O_DIRECT at
the end of one of `--many` preallocated files in turn and fdatasync it, for
`--duration` seconds; its MB/s is printed beside the broker's. Over many
partitions each batch is the only one of its partition in a request, so the
broker's `flush.policy=batch` costs one write and one fdatasync per batch;
over a few, the batches of one partition share them.

Usage: tests/e2e/.deps/venv/bin/python benches/scripts/partitions_produce_bench.py \\
           --bin target/release/skein [--bin-b OTHER] [--runs 3] [--many 10000] [--few 8] \\
           [--warmup 5] [--duration 20] [--set log.flush.policy=none] [--fsync-ceiling] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import mmap
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_support import Broker, process_cpu_seconds

REPO = Path(__file__).resolve().parents[2]
# Threads of --fsync-ceiling: as many fdatasyncs in flight as the broker's
# shards allow their io-wq workers (engine/src/shard.rs).
FSYNC_CEILING_THREADS = 64
FSYNC_CEILING_WRITE_BYTES = 16 << 10
FSYNC_CEILING_FILE_BYTES = 1 << 20


def fsync_ceiling(parent: Path, files: int, seconds: float) -> dict:
    """Write + fdatasync of 16 KiB O_DIRECT appends spread over `files`
    preallocated files in a fresh directory under `parent`, on
    FSYNC_CEILING_THREADS threads for `seconds`; the directory is removed
    after."""
    root = parent / "fsync-ceiling"
    root.mkdir()
    try:
        fds = []
        for index in range(files):
            fd = os.open(root / f"f{index}", os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o644)
            os.posix_fallocate(fd, 0, FSYNC_CEILING_FILE_BYTES)
            fds.append(fd)
        ends = [0] * files
        counts = [0] * FSYNC_CEILING_THREADS
        deadline = time.monotonic() + seconds

        def work(thread: int) -> None:
            buffer = mmap.mmap(-1, FSYNC_CEILING_WRITE_BYTES)  # page-aligned, as O_DIRECT needs
            buffer.write(b"x" * FSYNC_CEILING_WRITE_BYTES)
            index = thread
            while time.monotonic() < deadline:
                file = index % files
                fd = fds[file]
                end = ends[file]
                ends[file] = (end + FSYNC_CEILING_WRITE_BYTES) % FSYNC_CEILING_FILE_BYTES
                os.pwrite(fd, buffer, end)
                os.fdatasync(fd)
                counts[thread] += 1
                index += FSYNC_CEILING_THREADS

        started = time.monotonic()
        threads = [threading.Thread(target=work, args=(t,)) for t in range(FSYNC_CEILING_THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        for fd in fds:
            os.close(fd)
        return {"files": files, "writes_per_s": round(sum(counts) / elapsed),
                "mb_per_s": round(sum(counts) * FSYNC_CEILING_WRITE_BYTES / elapsed / 1e6, 1)}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench(bin_path: str, bootstrap: str, topic: str, partitions: int, warmup: int, duration: int,
          out: Path, extra: list[str]) -> dict:
    """One `skein bench produce`; its report's produce series."""
    cmd = [bin_path, "bench", "produce", "-b", bootstrap, "--topic", topic, "--partitions", str(partitions),
           "--record-size", "1024", "--acks", "all", "--rate", "max", "--producers", "1",
           "--warmup", str(warmup), "--duration", str(duration), "--json", str(out), *extra]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=3600, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"skein bench produce exited with {done.returncode}: {done.stderr[-2000:]}")
    report = json.loads(out.read_text())
    return next(s for s in report["series"] if s["name"] == "produce")


def create_topic(bin_path: str, bootstrap: str, topic: str, partitions: int, out: Path) -> None:
    """Creates the topic through a 1-second `skein bench produce` run (the
    bench creates a missing topic and waits for its leaders), so the timed
    runs see a topic that is open on every shard. The bench waits 30 s for
    the leaders: on a loaded machine 10 000 partitions may take longer, so
    it is asked again (the topic exists by then)."""
    for attempt in range(5):
        try:
            bench(bin_path, bootstrap, topic, partitions, 0, 1, out, [])
            return
        except RuntimeError as error:
            print(f"creating {topic}, attempt {attempt + 1}: {error}", file=sys.stderr, flush=True)
    raise RuntimeError(f"could not create {topic}")


def one_round(args, bin_path: str, label: str, run: int, reverse: bool) -> list[dict]:
    base_parent = Path(args.data_dir) if args.data_dir else REPO / "target"
    base_parent.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="skein-partitions-produce-", dir=base_parent))
    ceiling = None
    if args.fsync_ceiling:
        ceiling = fsync_ceiling(base, args.many, args.duration)
        print(json.dumps({"bin": label, "run": run + 1, "fsync_ceiling": ceiling}), flush=True)
    broker = Broker(bin_path, base / "data", [f"--set={item}" for item in args.set],
                    log_path=base / "broker.log")
    try:
        broker.start(60)
        proc, bootstrap = broker.proc, broker.bootstrap
        topics = [(f"many-{args.many}", args.many), (f"few-{args.few}", args.few)]
        for topic, n in topics:
            create_topic(bin_path, bootstrap, topic, n, base / f"create-{topic}.json")
        rows = []
        for topic, n in (reversed(topics) if reverse else topics):
            cpu0 = process_cpu_seconds(proc.pid)
            series = bench(bin_path, bootstrap, topic, n, args.warmup, args.duration, base / f"{topic}.json",
                           args.bench_args.split() if args.bench_args else [])
            cpu = process_cpu_seconds(proc.pid) - cpu0
            # The broker's CPU covers warm-up and measured time; so do the bytes.
            gb = series["bytes_per_s"] * (args.warmup + args.duration) / 1e9
            row = {"bin": label, "run": run + 1, "partitions": n,
                   "records_per_s": round(series["records_per_s"]),
                   "mb_per_s": round(series["bytes_per_s"] / 1e6, 1),
                   "p99_ms": round(series["latency"]["p99_us"] / 1000, 2),
                   "broker_core_s_per_gb": round(cpu / gb, 2) if gb else None,
                   "load_average": os.getloadavg()[0]}
            if ceiling is not None and n == args.many:
                row["fsync_ceiling_mb_per_s"] = ceiling["mb_per_s"]
            print(json.dumps(row), flush=True)
            rows.append(row)
        return rows
    finally:
        try:
            broker.stop(120)
        except subprocess.TimeoutExpired:
            broker.kill()
        shutil.rmtree(base, ignore_errors=True)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):g} ({min(values):g}-{max(values):g})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=str(REPO / "target" / "release" / "skein"))
    parser.add_argument("--bin-b", help="a second binary, alternated with --bin round by round")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--many", type=int, default=10_000)
    parser.add_argument("--few", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--bench-args", help="more `skein bench produce` options, space-separated")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a broker property for every broker (repeatable), e.g. log.flush.policy=none")
    parser.add_argument("--data-dir", help="parent of the temp data dirs (default: the repository's target/)")
    parser.add_argument("--fsync-ceiling", action="store_true",
                        help="per round, also measure 16 KiB O_DIRECT write + fdatasync over --many files")
    parser.add_argument("--json", help="write every run and the summary to this file")
    args = parser.parse_args()
    bins = [("A", args.bin)] + ([("B", args.bin_b)] if args.bin_b else [])
    rows: list[dict] = []
    for run in range(args.runs):
        order = bins if run % 2 == 0 else list(reversed(bins))
        for label, path in order:
            rows += one_round(args, path, label, run, reverse=run % 2 == 1)
    summary = {}
    for label, path in bins:
        mine = [r for r in rows if r["bin"] == label]
        many = {r["run"]: r for r in mine if r["partitions"] == args.many}
        few = {r["run"]: r for r in mine if r["partitions"] == args.few}
        ratios = [round(many[k]["records_per_s"] / few[k]["records_per_s"], 3) for k in sorted(many)]
        summary[label] = {"bin": path, "ratios": ratios, "ratio": statistics.median(ratios),
                          "many_records_per_s": statistics.median(r["records_per_s"] for r in many.values()),
                          "few_records_per_s": statistics.median(r["records_per_s"] for r in few.values())}
        print(f"{label} {path}:", file=sys.stderr)
        for n, by_run in ((args.many, many), (args.few, few)):
            runs = list(by_run.values())
            print(f"  {n:>6} partitions: records/s {spread([r['records_per_s'] for r in runs])}, "
                  f"p99 ms {spread([r['p99_ms'] for r in runs])}, "
                  f"broker core·s/GB {spread([r['broker_core_s_per_gb'] for r in runs])}", file=sys.stderr)
        ceilings = [r["fsync_ceiling_mb_per_s"] for r in many.values() if "fsync_ceiling_mb_per_s" in r]
        if ceilings:
            skein = [many[k]["mb_per_s"] / many[k]["fsync_ceiling_mb_per_s"] for k in sorted(many)]
            print(f"  fsync ceiling over {args.many} files: MB/s {spread(ceilings)}; "
                  f"{args.many} partitions / ceiling, per round: {spread([round(x, 3) for x in skein])}",
                  file=sys.stderr)
        print(f"  ratio {args.many}/{args.few}: {spread(ratios)}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps({"config": vars(args), "runs": rows, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
