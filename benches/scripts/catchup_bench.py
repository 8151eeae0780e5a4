#!/usr/bin/env python3
"""Catch-up read of a log larger than the tail cache (issue 18, item 4):
one consumer of 8 partitions (`skein bench consume --from earliest
--until-end`, one consumer thread, so every Fetch names all 8 partitions)
against the raw O_DIRECT read bandwidth of the same segment files, in the
same run.

* A single-node broker (`skein serve`, data under `--data-dir`) gets a
  topic of `--partitions` partitions filled to `--gb` GB with
  `skein bench produce` (1 KiB records, acks=1, `--batch-size` batches:
  default 512 KiB, as a librdkafka producer's large batches).
* The broker is restarted, so nothing is in its tail cache; every round then
  alternates a raw read (one `dd iflag=direct bs=1M` stream per partition,
  all at once, over that partition's segment files in order), a raw read
  sent over loopback TCP (below) and the broker's catch-up read of the
  whole log. All read the same bytes from the same files; the ratios are
  taken per round.
* "raw + loopback" is the ceiling for a broker on this machine: the bytes
  must also cross loopback TCP to a client on the same cores. A sender
  process (this script, `--loopback-send`) reads every partition's segment
  files at once, one thread per partition, O_DIRECT in 1 MiB reads (a
  consumer's `max.partition.fetch.bytes`) into aligned buffers, and sends
  each read over one TCP connection to a receiver process
  (`--loopback-receive`) that reads into a 1 MiB buffer and discards: the
  broker → consumer shape, with nothing in between but the kernel.

Usage: python3 benches/scripts/catchup_bench.py --bin target/release/skein \\
           [--bin-b OTHER] [--gb 8] [--partitions 8] [--rounds 3] [--batch-size 512KiB]
           [--data-dir DIR] [--json FILE]

Prints per round: raw O_DIRECT MB/s, raw + loopback MB/s, each binary's
catch-up MB/s with its ratio to both; then a JSON summary (medians, spread).
"""
from __future__ import annotations

import argparse
import json
import mmap
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_support import Broker, children_cpu_seconds

REPO = Path(__file__).resolve().parents[2]
TOPIC = "catchup"


COUNTERS = {
    "read_ahead_windows_read": re.compile(r'^skein_log_read_ahead_windows_total\{.*outcome="read".*\} (\S+)$'),
    "read_ahead_windows_used": re.compile(r'^skein_log_read_ahead_windows_total\{.*outcome="used".*\} (\S+)$'),
    "fetch_requests": re.compile(r'^skein_requests_total\{api="Fetch"\} (\S+)$'),
    "read_ahead_bytes": re.compile(r'^skein_log_read_ahead_bytes_total\{.*\} (\S+)$'),
}


def read_counters(broker: Broker) -> dict[str, float]:
    """The read-ahead windows read and used, their bytes, and Fetch requests, so far
    (summed over shards), from the admin endpoint's /metrics."""
    totals = dict.fromkeys(COUNTERS, 0.0)
    for line in broker.metrics_text().splitlines():
        for name, pattern in COUNTERS.items():
            match = pattern.match(line)
            if match:
                totals[name] += float(match.group(1))
    return totals


def log_bytes(data_dir: Path) -> int:
    return sum(f.stat().st_size for f in data_dir.glob(f"{TOPIC}-*/*.log"))


def fill(broker: Broker, args) -> None:
    while log_bytes(broker.data_dir) < args.gb * 1e9:
        subprocess.run(
            [args.bin, "bench", "produce", "-b", broker.bootstrap, "--topic", TOPIC,
             "--partitions", str(args.partitions), "--record-size", "1024", "--acks", "1",
             "--batch-size", args.batch_size, "--linger-ms", "5", "--warmup", "0", "--duration", "5"],
            check=True, capture_output=True, timeout=300)


def raw_read(data_dir: Path, partitions: int) -> dict:
    """All partitions' segment files read at once, one O_DIRECT stream each."""
    streams = []
    total = 0
    start = time.monotonic()
    for p in range(partitions):
        files = sorted((data_dir / f"{TOPIC}-{p}").glob("*.log"))
        total += sum(f.stat().st_size for f in files)
        script = "; ".join(f"dd if={f} of=/dev/null bs=1M iflag=direct status=none" for f in files)
        streams.append(subprocess.Popen(["sh", "-c", script]))
    for s in streams:
        if s.wait() != 0:
            raise RuntimeError("dd failed")
    seconds = time.monotonic() - start
    return {"mb_per_s": round(total / seconds / 1e6, 1), "bytes": total, "seconds": round(seconds, 2)}


LOOPBACK_READ_BYTES = 1 << 20


def loopback_send(data_dir: Path, partitions: int, port_file: Path) -> None:
    """The sending side of "raw + loopback": listens on 127.0.0.1, writes its
    port to `port_file`, and sends every partition's segment files (O_DIRECT
    reads, one thread per partition, 1 MiB each) to the one connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    port_file.write_text(str(listener.getsockname()[1]))
    conn, _ = listener.accept()
    listener.close()
    send_lock = threading.Lock()
    errors: list[BaseException] = []

    def partition_reader(p: int) -> None:
        # An anonymous mapping is page-aligned, as O_DIRECT wants.
        buf = mmap.mmap(-1, LOOPBACK_READ_BYTES)
        view = memoryview(buf)
        try:
            for path in sorted((data_dir / f"{TOPIC}-{p}").glob("*.log")):
                fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
                try:
                    position = 0
                    while True:
                        n = os.preadv(fd, [buf], position)
                        if n <= 0:
                            break
                        position += n
                        with send_lock:
                            conn.sendall(view[:n])
                        if n < LOOPBACK_READ_BYTES:
                            break
                finally:
                    os.close(fd)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            view.release()
            buf.close()

    threads = [threading.Thread(target=partition_reader, args=(p,)) for p in range(partitions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conn.close()
    if errors:
        raise errors[0]


def loopback_receive(port: int) -> None:
    """The receiving side of "raw + loopback": reads until the sender closes,
    discards, prints the byte count."""
    conn = socket.create_connection(("127.0.0.1", port))
    buf = bytearray(LOOPBACK_READ_BYTES)
    total = 0
    while True:
        n = conn.recv_into(buf)
        if n == 0:
            break
        total += n
    print(total)


def raw_loopback(data_dir: Path, partitions: int) -> dict:
    """The raw read of `raw_read`, every byte then sent over loopback TCP to
    a process that discards it (see the module doc)."""
    expected = log_bytes(data_dir)
    port_file = Path(tempfile.mkdtemp(prefix="skein-catchup-port-")) / "port"
    cpu_before = children_cpu_seconds()
    start = time.monotonic()
    sender = subprocess.Popen([sys.executable, __file__, "--loopback-send", str(data_dir),
                               "--partitions", str(partitions), "--port-file", str(port_file)])
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text():
        if sender.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the loopback sender did not start")
        time.sleep(0.01)
    receiver = subprocess.run([sys.executable, __file__, "--loopback-receive", port_file.read_text()],
                              check=True, capture_output=True, text=True, timeout=1000)
    if sender.wait(60) != 0:
        raise RuntimeError("the loopback sender failed")
    seconds = time.monotonic() - start
    shutil.rmtree(port_file.parent, ignore_errors=True)
    received = int(receiver.stdout.strip())
    if received != expected:
        raise RuntimeError(f"loopback received {received} bytes of {expected}")
    return {"mb_per_s": round(received / seconds / 1e6, 1), "bytes": received,
            "seconds": round(seconds, 2), "cpu_s": round(children_cpu_seconds() - cpu_before, 2)}


def catch_up(broker: Broker, args) -> dict:
    broker_before, client_before = broker.cpu_seconds(), children_cpu_seconds()
    counters_before = read_counters(broker)
    out = Path(tempfile.mkdtemp(prefix="skein-catchup-json-")) / "consume.json"
    result = subprocess.run(
        [args.bin, "bench", "consume", "-b", broker.bootstrap, "--topic", TOPIC,
         "--consumers", "1", "--from", "earliest", "--until-end", "--warmup", "0",
         "--duration", "900", "--json", str(out)],
        capture_output=True, text=True, timeout=1000)
    if result.returncode != 0:
        raise RuntimeError(f"skein bench consume failed ({result.returncode}): {result.stderr[-2000:]}")
    series = json.loads(out.read_text())["series"][0]
    counters = {name: round(value - counters_before[name])
                for name, value in read_counters(broker).items()}
    shutil.rmtree(out.parent, ignore_errors=True)
    return {"mb_per_s": round(series["bytes_per_s"] / 1e6, 1), "bytes": series["bytes"],
            "seconds": series["measured_seconds"],
            "broker_cpu_s": round(broker.cpu_seconds() - broker_before, 2),
            "client_cpu_s": round(children_cpu_seconds() - client_before, 2),
            **counters}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=str(REPO / "target" / "release" / "skein"))
    parser.add_argument("--bin-b", help="a second binary: each round also reads with it (before/after "
                        "in one run, on the same log); --bin fills the log")
    parser.add_argument("--gb", type=float, default=8.0)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--batch-size", default="512KiB",
                        help="the producer's batch size while filling (skein bench produce --batch-size)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the broker's data goes (default: a temp dir under target/)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--loopback-send", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--loopback-receive", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loopback_send:
        loopback_send(args.loopback_send, args.partitions, args.port_file)
        return
    if args.loopback_receive:
        loopback_receive(args.loopback_receive)
        return

    base = Path(tempfile.mkdtemp(prefix="skein-catchup-", dir=args.data_dir or REPO / "target"))
    broker = Broker(args.bin, base / "data")
    broker.data_dir.mkdir()
    rounds = []
    try:
        broker.start()
        fill(broker, args)
        broker.stop()
        broker.start()  # an empty tail cache: every read goes to disk
        print(f"log: {log_bytes(broker.data_dir) / 1e9:.2f} GB over {args.partitions} partitions")
        binaries = [args.bin] + ([args.bin_b] if args.bin_b else [])
        for i in range(args.rounds):
            raw = raw_read(broker.data_dir, args.partitions)
            loopback = raw_loopback(broker.data_dir, args.partitions)
            loopback_ratio = round(loopback["mb_per_s"] / raw["mb_per_s"], 3)
            print(f"round {i + 1}: raw O_DIRECT {raw['mb_per_s']} MB/s; raw + loopback TCP "
                  f"{loopback['mb_per_s']} MB/s (CPU {loopback['cpu_s']} s), {loopback_ratio} of raw")
            row = {"raw": raw, "raw_loopback": loopback, "raw_loopback_ratio": loopback_ratio}
            for tag, bin_path in zip(("skein", "skein_b"), binaries):
                if bin_path != broker.bin_path:
                    broker.stop()
                    broker.bin_path = bin_path
                    broker.start()
                skein = catch_up(broker, args)
                # The next read starts from an empty tail cache again.
                broker.stop()
                broker.start()
                ratio = round(skein["mb_per_s"] / raw["mb_per_s"], 3)
                ceiling_ratio = round(skein["mb_per_s"] / loopback["mb_per_s"], 3)
                row[tag] = skein
                row[f"{tag}_ratio"] = ratio
                row[f"{tag}_loopback_ratio"] = ceiling_ratio
                print(f"round {i + 1} {Path(bin_path).name}: raw O_DIRECT {raw['mb_per_s']} MB/s, skein catch-up "
                      f"{skein['mb_per_s']} MB/s ({skein['bytes'] / 1e9:.2f} GB in {skein['seconds']} s; CPU "
                      f"broker {skein['broker_cpu_s']} s, client {skein['client_cpu_s']} s; "
                      f"{skein['fetch_requests']} fetches, read-ahead windows "
                      f"{skein['read_ahead_windows_read']} read / {skein['read_ahead_windows_used']} used, "
                      f"{skein['read_ahead_bytes'] / 1e9:.2f} GB), ratio {ratio} of raw, "
                      f"{ceiling_ratio} of raw + loopback")
            rounds.append(row)
    finally:
        broker.stop()
        shutil.rmtree(base, ignore_errors=True)
    summary = {"raw_mb_per_s_median": statistics.median(r["raw"]["mb_per_s"] for r in rounds),
               "raw_loopback_mb_per_s_median": statistics.median(r["raw_loopback"]["mb_per_s"]
                                                                 for r in rounds),
               "raw_loopback_ratio_median": statistics.median(r["raw_loopback_ratio"] for r in rounds)}
    for tag in ("skein", "skein_b"):
        ratios = [r[f"{tag}_ratio"] for r in rounds if tag in r]
        if ratios:
            summary[f"{tag}_mb_per_s_median"] = statistics.median(r[tag]["mb_per_s"] for r in rounds)
            summary[f"{tag}_ratio_median"] = statistics.median(ratios)
            summary[f"{tag}_ratio_min"] = min(ratios)
            summary[f"{tag}_ratio_max"] = max(ratios)
            loopback_ratios = [r[f"{tag}_loopback_ratio"] for r in rounds if tag in r]
            summary[f"{tag}_loopback_ratio_median"] = statistics.median(loopback_ratios)
            summary[f"{tag}_loopback_ratio_min"] = min(loopback_ratios)
            summary[f"{tag}_loopback_ratio_max"] = max(loopback_ratios)
            summary[f"{tag}_broker_cpu_s_median"] = statistics.median(r[tag]["broker_cpu_s"]
                                                                      for r in rounds if tag in r)
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
