#!/usr/bin/env python3
"""Many partitions on one node (issue 18, item 2): one topic of N partitions
created in one CreateTopics request, the broker's idle memory, and restart
to ready, clean and after kill -9, for each N in `--partitions`.

For every N, on a fresh single-node `skein serve` (default settings, data
under `--data-dir` or the repository's target/, admin HTTP off):

1. create: one CreateTopics request for a topic of N partitions (RF 1,
   confluent-kafka's AdminClient); `create_s` is until the response,
   `led_s` until a Metadata request shows all N partitions with a leader,
   `ready_s` until one ListOffsets of all N answers every partition (the
   metadata image says "led" before the data shards have opened the logs).
2. data: `--records` records of 1 KiB to each of `--data-partitions`
   partitions spread over the topic (acks=all), so a recovery has segments
   with batches to scan.
3. idle: `--idle-s` seconds of nothing, then the broker's VmRSS (and VmHWM,
   the peak so far) from /proc.
4. clean restart: SIGTERM (`stop_s` until it exits), start again;
   `listen_s` until the port accepts, `led_s` and `ready_s` as above.
5. kill -9 restart: the same after SIGKILL, so start-up recovers every
   partition's log. After each restart every partition's log end offset
   (from that ListOffsets) is checked: the written ones hold `--records`,
   the others none.

The broker keeps segment files open within a budget (`log.open.files.max`,
by default 75% of the open-files limit, which it raises to the hard limit),
so N may exceed `ulimit -n`; `open_fds` (idle, and after each restart)
counts the broker's open file descriptors. A broker from before the budget
(one open file per partition) fails with EMFILE past the limit.

Around every phase the broker's CPU (utime + stime) is sampled. The per-N
table adds each time divided by N (µs per partition) and the RSS per
partition (idle RSS less the RSS before the topic was created):
growth no faster than linear shows as a flat or falling per-partition
figure. With `--runs R` the N list is gone through R times (N interleaved)
and the summary gives medians and the spread (min–max).

Usage: tests/e2e/.deps/venv/bin/python benches/scripts/partitions_bench.py \\
           --bin target/release/skein [--partitions 10000,30000,100000] [--runs 1] \\
           [--data-dir DIR] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
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

from confluent_kafka import KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
TOPIC = "many"
RECORD_SIZE = 1024
# One Metadata attempt while waiting for the partitions to be led.
METADATA_TIMEOUT_S = 30.0
# Free disk the run needs beyond the data it writes: every partition has a
# directory and a few small files.
DISK_HEADROOM_BYTES = 4 << 30


def say(message: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One `skein serve` on 127.0.0.1 with its data in `data_dir`."""

    def __init__(self, bin_path: str, data_dir: Path, log_path: Path):
        self.bin_path = bin_path
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.bin_path, "serve", "--listen", self.bootstrap, "--data-dir", str(self.data_dir),
                 "--admin-listen", "off"],
                stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)

    def wait_listening(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"skein exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        raise TimeoutError(f"skein not listening after {timeout_s}s")

    def stop(self, timeout_s: float) -> float:
        """SIGTERM; seconds until the process exited (code 0 required)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout_s)
        if code != 0:
            raise RuntimeError(f"skein exited with {code} on SIGTERM; see {self.log_path}")
        return time.monotonic() - t0

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(60)

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def memory_kib(self) -> dict:
        out = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(value.split()[0])
        return out


def led_partitions(bootstrap: str, partitions: int, timeout_s: float) -> int:
    """How many of the topic's partitions a Metadata request shows with a
    leader and no error (0 if the topic is not there yet)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    metadata = admin.list_topics(TOPIC, timeout=timeout_s)
    topic = metadata.topics.get(TOPIC)
    if topic is None or topic.error is not None:
        return 0
    led = sum(1 for p in topic.partitions.values() if p.error is None and p.leader >= 0)
    return min(led, partitions)


def serving_offsets(bootstrap: str, partitions: int, timeout_s: float) -> dict[int, int] | None:
    """The log end offset of every partition from one ListOffsets (latest)
    of all of them, or None while any partition answers an error (not open
    on its shard yet). Metadata alone is not enough: it answers from the
    metadata image before the data shards have opened the logs."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    wanted = {TopicPartition(TOPIC, p): OffsetSpec.latest() for p in range(partitions)}
    offsets = {}
    try:
        for tp, future in admin.list_offsets(wanted, request_timeout=timeout_s).items():
            offsets[tp.partition] = future.result(timeout_s).offset
    except (KafkaException, TimeoutError):  # a busy broker may answer late: ask again
        return None
    return offsets


def wait_ready(broker: Broker, partitions: int, t0: float, timeout_s: float) -> tuple[float, float, dict]:
    """Seconds from t0 until Metadata shows all partitions led, and until
    all of them answer ListOffsets; and those offsets."""
    deadline = t0 + timeout_s
    led_s = None
    led = 0
    while time.monotonic() < deadline:
        if broker.proc.poll() is not None:
            raise RuntimeError(f"skein exited with {broker.proc.returncode}; see {broker.log_path}")
        try:
            if led_s is None:
                led = led_partitions(broker.bootstrap, partitions, METADATA_TIMEOUT_S)
                if led == partitions:
                    led_s = time.monotonic() - t0
            if led_s is not None:
                offsets = serving_offsets(broker.bootstrap, partitions, METADATA_TIMEOUT_S)
                if offsets is not None:
                    return led_s, time.monotonic() - t0, offsets
        except KafkaException:  # not answering yet: try again
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{led} of {partitions} partitions led, not all serving, after {timeout_s}s")


def written_partitions(partitions: int, count: int) -> list[int]:
    count = min(count, partitions)
    return sorted({i * partitions // count for i in range(count)})


def write_data(bootstrap: str, targets: list[int], records: int, timeout_s: float) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "message.timeout.ms": int(timeout_s * 1000)})
    payload = b"x" * RECORD_SIZE
    failed = []
    for p in targets:
        for _ in range(records):
            while True:
                try:
                    producer.produce(TOPIC, value=payload, partition=p,
                                     on_delivery=lambda err, _m: err and failed.append(str(err)))
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.poll(0)
    left = producer.flush(timeout_s)
    if left or failed:
        raise RuntimeError(f"produce: {left} undelivered, errors {failed[:3]}")


def check_data(offsets: dict[int, int], targets: list[int], records: int) -> None:
    wrong = {p: offsets[p] for p in targets if offsets[p] != records}
    if wrong:
        raise RuntimeError(f"log end offsets {dict(list(wrong.items())[:5])}, expected {records}")
    others = [p for p, o in offsets.items() if p not in set(targets) and o != 0]
    if others:
        raise RuntimeError(f"partitions never written hold records: {others[:5]}")


def disk_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def restart(broker: Broker, partitions: int, kill: bool, timeout_s: float) -> dict:
    out = {}
    if kill:
        broker.kill()
    else:
        out["stop_s"] = round(broker.stop(timeout_s), 3)
    t0 = time.monotonic()
    broker.start()
    broker.wait_listening(timeout_s)
    out["listen_s"] = round(time.monotonic() - t0, 3)
    led, serving, offsets = wait_ready(broker, partitions, t0, timeout_s)
    out["led_s"] = round(led, 3)
    out["ready_s"] = round(serving, 3)
    out["cpu_s"] = round(broker.cpu_s(), 2)
    out["open_fds"] = broker.open_fds()
    return out, offsets


def one_run(args, partitions: int, run: int) -> dict:
    base_parent = Path(args.data_dir) if args.data_dir else REPO / "target"
    base_parent.mkdir(parents=True, exist_ok=True)
    needed = DISK_HEADROOM_BYTES + args.data_partitions * args.records * RECORD_SIZE * 2
    free = shutil.disk_usage(base_parent).free
    if free < needed:
        raise SystemExit(f"{free >> 30} GiB free under {base_parent}, need {needed >> 30} GiB")
    base = Path(tempfile.mkdtemp(prefix="skein-partitions-bench-", dir=base_parent))
    broker = Broker(args.bin, base / "data", base / "broker.log")
    result: dict = {"partitions": partitions, "run": run + 1}
    try:
        broker.start()
        broker.wait_listening(args.timeout_s)
        time.sleep(1)
        result["empty"] = broker.memory_kib()
        # The broker answers CreateTopics once the data shards hold the
        # partitions: past librdkafka's default 60 s socket timeout at 100 000
        # (300 s is its most).
        admin = AdminClient({"bootstrap.servers": broker.bootstrap,
                             "socket.timeout.ms": min(int(args.timeout_s * 1000), 300_000)})
        cpu0 = broker.cpu_s()
        t0 = time.monotonic()
        future = admin.create_topics([NewTopic(TOPIC, num_partitions=partitions, replication_factor=1)],
                                     request_timeout=args.timeout_s, operation_timeout=args.timeout_s)[TOPIC]
        future.result(args.timeout_s)
        created = time.monotonic() - t0
        led, ready, _ = wait_ready(broker, partitions, t0, args.timeout_s)
        result["create"] = {"create_s": round(created, 3), "led_s": round(led, 3), "ready_s": round(ready, 3),
                            "cpu_s": round(broker.cpu_s() - cpu0, 2), **broker.memory_kib()}
        say(f"N={partitions}: created in {created:.2f}s, all led at {ready:.2f}s")
        targets = written_partitions(partitions, args.data_partitions)
        t0 = time.monotonic()
        write_data(broker.bootstrap, targets, args.records, args.timeout_s)
        result["data"] = {"partitions": len(targets), "records_each": args.records,
                          "seconds": round(time.monotonic() - t0, 3)}
        say(f"N={partitions}: data written in {result['data']['seconds']}s")
        cpu0 = broker.cpu_s()
        time.sleep(args.idle_s)
        result["idle"] = {**broker.memory_kib(), "cpu_s_per_s": round((broker.cpu_s() - cpu0) / args.idle_s, 3),
                          "disk_mib": round(disk_bytes(broker.data_dir) / 2**20, 1),
                          "open_fds": broker.open_fds()}
        result["clean_restart"], offsets = restart(broker, partitions, False, args.timeout_s)
        say(f"N={partitions}: clean restart {result['clean_restart']}")
        check_data(offsets, targets, args.records)
        time.sleep(args.idle_s)
        result["clean_restart"]["VmRSS"] = broker.memory_kib()["VmRSS"]
        result["kill_restart"], offsets = restart(broker, partitions, True, args.timeout_s)
        say(f"N={partitions}: kill -9 restart {result['kill_restart']}")
        check_data(offsets, targets, args.records)
        broker.stop(args.timeout_s)
        return result
    finally:
        if broker.proc is not None and broker.proc.poll() is None:
            broker.kill()
        if args.keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


def summary_row(r: dict) -> dict:
    n = r["partitions"]
    per = 1e6 / n
    return {
        "create_s": r["create"]["create_s"],
        "create_led_s": r["create"]["led_s"],
        "create_ready_s": r["create"]["ready_s"],
        "create_cpu_s": r["create"]["cpu_s"],
        "empty_rss_mib": round(r["empty"]["VmRSS"] / 1024, 1),
        "idle_rss_mib": round(r["idle"]["VmRSS"] / 1024, 1),
        "peak_rss_mib": round(r["idle"]["VmHWM"] / 1024, 1),
        "idle_cpu_per_s": r["idle"]["cpu_s_per_s"],
        "idle_open_fds": r["idle"]["open_fds"],
        "disk_mib": r["idle"]["disk_mib"],
        "clean_stop_s": r["clean_restart"]["stop_s"],
        "clean_led_s": r["clean_restart"]["led_s"],
        "clean_ready_s": r["clean_restart"]["ready_s"],
        "clean_cpu_s": r["clean_restart"]["cpu_s"],
        "restarted_rss_mib": round(r["clean_restart"]["VmRSS"] / 1024, 1),
        "clean_open_fds": r["clean_restart"]["open_fds"],
        "kill9_led_s": r["kill_restart"]["led_s"],
        "kill9_ready_s": r["kill_restart"]["ready_s"],
        "kill9_cpu_s": r["kill_restart"]["cpu_s"],
        "kill9_open_fds": r["kill_restart"]["open_fds"],
        "create_us_per_partition": round(r["create"]["ready_s"] * per),
        "rss_kib_per_partition": round((r["idle"]["VmRSS"] - r["empty"]["VmRSS"]) / n, 2),
        "clean_ready_us_per_partition": round(r["clean_restart"]["ready_s"] * per),
        "kill9_ready_us_per_partition": round(r["kill_restart"]["ready_s"] * per),
    }


def print_table(by_n: dict[int, list[dict]]) -> dict:
    keys = list(next(iter(by_n.values()))[0])
    medians = {n: {k: statistics.median(row[k] for row in rows) for k in keys} for n, rows in by_n.items()}
    width = max(len(k) for k in keys)
    print(f"{'median (min-max)':<{width}} " + " ".join(f"{'N=' + str(n):>22}" for n in by_n))
    for k in keys:
        cells = []
        for n, rows in by_n.items():
            values = [row[k] for row in rows]
            spread = f" ({min(values):g}-{max(values):g})" if len(values) > 1 else ""
            cells.append(f"{medians[n][k]:g}{spread}")
        print(f"{k:<{width}} " + " ".join(f"{c:>22}" for c in cells))
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.environ.get("SKEIN_BIN", str(REPO / "target" / "release" / "skein")))
    parser.add_argument("--partitions", default="10000,30000,100000",
                        help="comma-separated partition counts, one topic each")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--data-partitions", type=int, default=200,
                        help="partitions that get records before the restarts")
    parser.add_argument("--records", type=int, default=100, help="1 KiB records per written partition")
    parser.add_argument("--idle-s", type=float, default=5.0)
    parser.add_argument("--timeout-s", type=float, default=900.0, help="limit of every wait")
    parser.add_argument("--data-dir", help="parent of the temp data dirs (default: the repository's target/)")
    parser.add_argument("--keep", action="store_true", help="keep the data dirs")
    parser.add_argument("--json", help="write every run's figures and the medians to this file")
    args = parser.parse_args()
    if not Path(args.bin).exists():
        sys.exit(f"no skein binary at {args.bin}")
    counts = [int(n) for n in args.partitions.split(",")]
    results = []
    by_n: dict[int, list[dict]] = {n: [] for n in counts}
    for run in range(args.runs):
        for n in counts:
            result = one_run(args, n, run)
            results.append(result)
            by_n[n].append(summary_row(result))
            print(f"N={n} run {run + 1}: " + json.dumps(result), flush=True)
    print()
    medians = print_table(by_n)
    if args.json:
        report = {"config": {k: v for k, v in vars(args).items() if k != "json"},
                  "rlimit_nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
                  "load_average_at_end": os.getloadavg(), "runs": results,
                  "summary_rows": {str(n): rows for n, rows in by_n.items()},
                  "medians": {str(n): m for n, m in medians.items()}}
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
