#!/usr/bin/env python3
"""Many partitions on one node (issue 18, item 2): one topic of N partitions
created in one CreateTopics request, the broker's idle memory, and restart
to ready, clean and after kill -9, for each N in `--partitions`.

For every N, on a fresh single-node `skein serve` (default settings, data
under `--data-dir` or the repository's target/, admin HTTP off):

1. create: one CreateTopics request for a topic of N partitions (RF 1);
   `create_s` is until the response, `led_s` until a Metadata request
   shows all N partitions with a leader, `ready_s` until every partition
   has answered ListOffsets without an error (the metadata image says "led"
   before the data shards have opened the logs). These three requests go
   over the raw wire (struct-packed, ListOffsets in batches of 5000
   partitions), so the probe of 100 000 partitions costs the client little
   and waits as long as `--timeout-s`; the producer is confluent-kafka's.
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

With `--fs-ceiling`, each run first times the file system alone, before
its broker starts: in a fresh directory beside the broker's data (so on the
same file system) N partition directories are created the way the broker
lays out a new partition (mkdir `<topic>-<p>`; `partition.metadata` written
to a temp file, fdatasync'ed, renamed, the directory fsync'ed; the empty
`.clean-shutdown` marker and `00000000000000000000.log`; the directory
fsync'ed again), on 128 threads (the broker opens 64 partitions at a time on
each of its 2 shards), then that directory is removed (shutil.rmtree, one
thread). `fs_create_s` and `fs_remove_s`, with µs per partition and the
threads' user and system CPU (user is mostly Python's own, system the
kernel's file-system work), sit next to the broker's create figures: the
ceiling measured in the same run, which shows whether a per-partition
create time that grows with N comes from the file system.

Around every phase the broker's CPU (utime + stime) is sampled. The per-N
table adds each time divided by N (µs per partition) and the RSS per
partition (idle RSS less the RSS before the topic was created):
growth no faster than linear shows as a flat or falling per-partition
figure. With `--runs R` the N list is gone through R times (N interleaved)
and the summary gives medians and the spread (min–max).

The broker is bench_support.Broker with `--admin-listen off`.

Usage: tests/e2e/.deps/venv/bin/python benches/scripts/partitions_bench.py \\
           --bin target/release/skein [--partitions 10000,30000,100000] [--runs 1] \\
           [--fs-ceiling] [--data-dir DIR] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

from bench_support import Broker  # noqa: E402
from confluent_kafka import Producer  # noqa: E402

TOPIC = "many"
RECORD_SIZE = 1024
# One Metadata or ListOffsets request while waiting for the partitions.
PROBE_TIMEOUT_S = 60.0
# Partitions per ListOffsets request: 5000 make a 50 KiB request and a
# 110 KiB response.
LIST_OFFSETS_BATCH = 5000
API_LIST_OFFSETS, API_METADATA, API_CREATE_TOPICS = 2, 3, 19
# How often a restarted broker's port is tried: listen_s is timed to it.
LISTEN_POLL_S = 0.02
# Threads of the --fs-ceiling file-system work: the broker opens 64
# partitions at a time on each of its 2 shards.
FS_CEILING_WORKERS = 128
# Free disk the run needs beyond the data it writes: every partition has a
# directory and a few small files.
DISK_HEADROOM_BYTES = 4 << 30


def say(message: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


class WireError(Exception):
    """A response that does not parse or a broken connection."""


class Wire:
    """One Kafka connection speaking a few fixed request versions with
    struct-packed frames. The readiness probes of 100 000 partitions must
    stay cheap on the client: confluent-kafka's AdminClient.list_offsets
    over 100 000 partitions (a future per partition) grew past 1.4 GB and
    never finished, and its socket timeout is at most 300 s, less than a
    CreateTopics of 100 000 may take."""

    def __init__(self, bootstrap: str, timeout_s: float):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        self.correlation_id = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Wire":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def request(self, api_key: int, version: int, body: bytes) -> "Reader":
        """Sends a request with header v1 (client id "partitions-bench") and
        returns a reader of the response body (after the v0 header)."""
        self.correlation_id += 1
        client_id = b"partitions-bench"
        header = struct.pack(">hhih", api_key, version, self.correlation_id, len(client_id)) + client_id
        self.sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        size = struct.unpack(">i", self._read_exact(4))[0]
        frame = self._read_exact(size)
        reader = Reader(frame)
        if reader.i32() != self.correlation_id:
            raise WireError("correlation id mismatch")
        return reader

    def _read_exact(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self.sock.recv(min(n, 1 << 20))
            if not chunk:
                raise WireError("connection closed")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)


class Reader:
    """Big-endian fields out of one response frame."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _take(self, fmt: str):
        try:
            value = struct.unpack_from(fmt, self.data, self.pos)
        except struct.error as e:
            raise WireError(f"short response: {e}") from e
        self.pos += struct.calcsize(fmt)
        return value

    def i8(self) -> int:
        return self._take(">b")[0]

    def i16(self) -> int:
        return self._take(">h")[0]

    def i32(self) -> int:
        return self._take(">i")[0]

    def skip_i32_array(self) -> None:
        """Steps over an INT32 array (its length, then its items). The
        length is read before the position moves past it: `self.pos += 4 *
        self.i32()` would load `pos` first and lose the length's 4 bytes."""
        count = self.i32()
        self.pos += 4 * count

    def string(self) -> str | None:
        n = self.i16()
        if n < 0:
            return None
        self.pos += n
        return self.data[self.pos - n:self.pos].decode()


def kafka_string(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def create_topic(bootstrap: str, partitions: int, timeout_s: float) -> None:
    """One CreateTopics (v2) of TOPIC with `partitions` partitions, RF 1;
    waits as long as the broker takes to answer (up to timeout_s)."""
    topic = kafka_string(TOPIC) + struct.pack(">ihii", partitions, 1, 0, 0)  # no assignments, no configs
    body = struct.pack(">i", 1) + topic + struct.pack(">ib", int(min(timeout_s, 2**31 // 1000 - 1) * 1000), 0)
    with Wire(bootstrap, timeout_s) as wire:
        r = wire.request(API_CREATE_TOPICS, 2, body)
    r.i32()  # throttle_time_ms
    for _ in range(r.i32()):
        name, code, message = r.string(), r.i16(), r.string()
        if code != 0:
            raise RuntimeError(f"CreateTopics {name}: error {code} {message}")


def led_partitions(bootstrap: str, partitions: int, timeout_s: float) -> int:
    """How many of the topic's partitions a Metadata request (v4, no
    auto-creation) shows with a leader and no error (0 if the topic is not
    there yet)."""
    body = struct.pack(">i", 1) + kafka_string(TOPIC) + struct.pack(">b", 0)
    with Wire(bootstrap, timeout_s) as wire:
        r = wire.request(API_METADATA, 4, body)
    r.i32()  # throttle_time_ms
    for _ in range(r.i32()):  # brokers: node_id, host, port, rack
        r.i32()
        r.string()
        r.i32()
        r.string()
    r.string()  # cluster_id
    r.i32()  # controller_id
    led = 0
    for _ in range(r.i32()):
        topic_code, name = r.i16(), r.string()
        r.i8()  # is_internal
        count = r.i32()
        for _ in range(count):
            code, _index, leader = r._take(">hii")
            r.skip_i32_array()  # replica_nodes
            r.skip_i32_array()  # isr_nodes
            if name == TOPIC and topic_code == 0 and code == 0 and leader >= 0:
                led += 1
    return min(led, partitions)


def list_offsets(wire: Wire, indexes: list[int]) -> dict[int, int | None]:
    """The log end offset (ListOffsets v1, latest, as a consumer) of each
    partition in `indexes`, None where the partition answered an error."""
    parts = b"".join(struct.pack(">iq", p, -1) for p in indexes)
    body = struct.pack(">ii", -1, 1) + kafka_string(TOPIC) + struct.pack(">i", len(indexes)) + parts
    r = wire.request(API_LIST_OFFSETS, 1, body)
    out: dict[int, int | None] = {}
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            index, code, _timestamp, offset = r._take(">ihqq")
            out[index] = offset if code == 0 else None
    return out


def serving_offsets(bootstrap: str, partitions: int, answered: dict[int, int],
                    timeout_s: float) -> bool:
    """Asks ListOffsets (latest) of every partition not yet in `answered`,
    in batches of LIST_OFFSETS_BATCH, and adds those that answer; true once
    all have. Metadata alone is not enough: it answers from the metadata
    image before the data shards have opened the logs. A partition that has
    answered once is not asked again (it stays open)."""
    missing = [p for p in range(partitions) if p not in answered]
    with Wire(bootstrap, timeout_s) as wire:
        for i in range(0, len(missing), LIST_OFFSETS_BATCH):
            for index, offset in list_offsets(wire, missing[i:i + LIST_OFFSETS_BATCH]).items():
                if offset is not None:
                    answered[index] = offset
    return len(answered) == partitions


def wait_ready(broker: Broker, partitions: int, t0: float, timeout_s: float) -> tuple[float, float, dict]:
    """Seconds from t0 until Metadata shows all partitions led, and until
    all of them have answered ListOffsets; and those offsets."""
    deadline = t0 + timeout_s
    led_s = None
    led = 0
    answered: dict[int, int] = {}
    while time.monotonic() < deadline:
        if broker.proc.poll() is not None:
            raise RuntimeError(f"skein exited with {broker.proc.returncode}; see {broker.log_path}")
        try:
            if led_s is None:
                led = led_partitions(broker.bootstrap, partitions, PROBE_TIMEOUT_S)
                if led == partitions:
                    led_s = time.monotonic() - t0
            if led_s is not None and serving_offsets(broker.bootstrap, partitions, answered, PROBE_TIMEOUT_S):
                return led_s, time.monotonic() - t0, answered
        except (OSError, WireError):  # not answering yet, or late: ask again
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{led} of {partitions} partitions led, {len(answered)} serving, after {timeout_s}s")


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


def stop(broker: Broker, timeout_s: float) -> float:
    """SIGTERM; seconds until the broker exited, which must be with code 0."""
    seconds = broker.stop(timeout_s)
    if broker.proc.returncode != 0:
        raise RuntimeError(f"skein exited with {broker.proc.returncode} on SIGTERM; see {broker.log_path}")
    return seconds


def create_partition_files(root: str, partition: int, metadata: bytes) -> None:
    """The file-system work of one new partition as the broker lays it out
    (replication's claim_partition_dir, then the engine's open of a new
    log): the directory; `partition.metadata` written to a temp file,
    fdatasync'ed, renamed and the directory fsync'ed; the log's empty
    `.clean-shutdown` marker and first segment `00000000000000000000.log`,
    and the directory fsync'ed again."""
    dir_path = os.path.join(root, f"{TOPIC}-{partition}")
    os.mkdir(dir_path)
    temp = os.path.join(dir_path, "partition.metadata.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, metadata)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    os.rename(temp, os.path.join(dir_path, "partition.metadata"))
    sync_dir(dir_path)
    for name in (".clean-shutdown", "00000000000000000000.log"):
        os.close(os.open(os.path.join(dir_path, name), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644))
    sync_dir(dir_path)


def sync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fs_ceiling(parent: Path, partitions: int) -> dict:
    """Times the raw file-system work of creating `partitions` partition
    directories (create_partition_files) in a fresh directory under
    `parent`, on FS_CEILING_WORKERS threads, then removing that directory
    (shutil.rmtree, one thread). The threads' user CPU is mostly Python's
    own; the system CPU is the kernel's file-system work."""
    root = parent / "fs-ceiling"
    root.mkdir()
    metadata = f"version: 0\ntopic_id: {os.urandom(16).hex()}\n".encode()
    errors: list[OSError] = []

    def work(first: int) -> None:
        try:
            for partition in range(first, partitions, FS_CEILING_WORKERS):
                create_partition_files(str(root), partition, metadata)
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(min(FS_CEILING_WORKERS, partitions))]
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    create_s = time.monotonic() - t0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    shutil.rmtree(root)
    remove_s = time.monotonic() - t0
    if errors:
        raise errors[0]
    return {"create_s": round(create_s, 3), "user_cpu_s": round(usage1.ru_utime - usage0.ru_utime, 2),
            "sys_cpu_s": round(usage1.ru_stime - usage0.ru_stime, 2), "remove_s": round(remove_s, 3)}


def restart(broker: Broker, partitions: int, kill: bool, timeout_s: float) -> dict:
    out = {}
    if kill:
        broker.kill()
    else:
        out["stop_s"] = round(stop(broker, timeout_s), 3)
    t0 = time.monotonic()
    broker.start(timeout_s, LISTEN_POLL_S)
    out["listen_s"] = round(time.monotonic() - t0, 3)
    led, serving, offsets = wait_ready(broker, partitions, t0, timeout_s)
    out["led_s"] = round(led, 3)
    out["ready_s"] = round(serving, 3)
    out["cpu_s"] = round(broker.cpu_seconds(), 2)
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
    broker = Broker(args.bin, base / "data", log_path=base / "broker.log", admin=False)
    result: dict = {"partitions": partitions, "run": run + 1}
    try:
        if args.fs_ceiling:
            result["fs_ceiling"] = fs_ceiling(base, partitions)
            say(f"N={partitions}: file system alone {result['fs_ceiling']}")
        broker.start(args.timeout_s, LISTEN_POLL_S)
        time.sleep(1)
        result["empty"] = broker.memory_kib()
        # The broker answers CreateTopics once the data shards hold the
        # partitions: past librdkafka's default 60 s socket timeout at 100 000,
        # so the request goes over the raw wire with the run's own timeout.
        cpu0 = broker.cpu_seconds()
        t0 = time.monotonic()
        create_topic(broker.bootstrap, partitions, args.timeout_s)
        created = time.monotonic() - t0
        led, ready, _ = wait_ready(broker, partitions, t0, args.timeout_s)
        result["create"] = {"create_s": round(created, 3), "led_s": round(led, 3), "ready_s": round(ready, 3),
                            "cpu_s": round(broker.cpu_seconds() - cpu0, 2), **broker.memory_kib()}
        say(f"N={partitions}: created in {created:.2f}s, all led at {ready:.2f}s")
        targets = written_partitions(partitions, args.data_partitions)
        t0 = time.monotonic()
        write_data(broker.bootstrap, targets, args.records, args.timeout_s)
        result["data"] = {"partitions": len(targets), "records_each": args.records,
                          "seconds": round(time.monotonic() - t0, 3)}
        say(f"N={partitions}: data written in {result['data']['seconds']}s")
        cpu0 = broker.cpu_seconds()
        time.sleep(args.idle_s)
        result["idle"] = {**broker.memory_kib(), "cpu_s_per_s": round((broker.cpu_seconds() - cpu0) / args.idle_s, 3),
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
        stop(broker, args.timeout_s)
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
    row = {
        "create_s": r["create"]["create_s"],
        "create_led_s": r["create"]["led_s"],
        "create_ready_s": r["create"]["ready_s"],
        "create_cpu_s": r["create"]["cpu_s"],
        "create_us_per_partition": round(r["create"]["ready_s"] * per),
    }
    if "fs_ceiling" in r:
        fs = r["fs_ceiling"]
        row.update({
            "fs_create_s": fs["create_s"],
            "fs_create_us_per_partition": round(fs["create_s"] * per),
            "fs_create_user_cpu_s": fs["user_cpu_s"],
            "fs_create_sys_cpu_s": fs["sys_cpu_s"],
            "fs_remove_s": fs["remove_s"],
            "fs_remove_us_per_partition": round(fs["remove_s"] * per),
        })
    return row | {
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
    parser.add_argument("--fs-ceiling", action="store_true",
                        help="before each broker, time creating (and removing) N partition directories "
                             "on the file system alone, the way the broker lays them out")
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
