"""Broker CPU per idle poll, with and without fetch sessions (KIP-227).

Starts `skein serve` (one data shard by default), creates a topic of P
partitions with no records, and polls all of them from one connection with
raw Fetch v7 requests, the way a consumer does when its partitions are
idle (min_bytes 1, a small max_wait_ms):

  sessionless   every request names all P partitions (session 0, epoch -1)
                and every response carries all P back;
  session       one full fetch opens a session (epoch 0), then incremental
                fetches name nothing and get nothing back.

Broker CPU is utime + stime of the broker process from /proc/<pid>/stat,
read before and after N polls of one mode; both modes run in each round,
alternating which goes first, and the medians over the rounds are printed
(µs of broker CPU per poll, the same less the broker's own CPU with no
client over the poll's wall time, wall time per poll, request and response
bytes). /proc counts CPU in clock ticks (10 ms): use enough polls that a
mode runs for seconds.

Usage (from the repository root, after `cargo build --release -p skein`):
  tests/e2e/.deps/venv/bin/python benches/scripts/fetch_session_bench.py \
      --skein target/release/skein --partitions 1000 --polls 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from confluent_kafka.admin import AdminClient, NewTopic

from bench_support import free_port, process_cpu_seconds



def i8(v): return struct.pack(">b", v)
def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)


def string(s: str) -> bytes:
    b = s.encode()
    return i16(len(b)) + b


def fetch_v7(correlation_id: int, session_id: int, epoch: int, topic: str,
             partitions: list[int], max_wait_ms: int) -> bytes:
    """A framed Fetch v7 request (layout: tests/e2e/kafka_wire.py)."""
    body = (
        i16(1) + i16(7) + i32(correlation_id) + string("fetch-session-bench")
        + i32(-1) + i32(max_wait_ms) + i32(1) + i32(1 << 20) + i8(0)
        + i32(session_id) + i32(epoch)
    )
    if partitions:
        body += i32(1) + string(topic) + i32(len(partitions))
        for p in partitions:
            body += i32(p) + i64(0) + i64(-1) + i32(1 << 20)
    else:
        body += i32(0)
    body += i32(0)  # forgotten_topics_data
    return i32(len(body)) + body


def read_frame(sock: socket.socket) -> bytes:
    def exact(n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            out += chunk
        return bytes(out)
    (size,) = struct.unpack(">i", exact(4))
    return exact(size)


def response_session(frame: bytes) -> tuple[int, int]:
    """(error_code, session_id) of a Fetch v7 response frame."""
    # correlation_id INT32 | throttle_time_ms INT32 | error_code INT16 | session_id INT32
    error_code, session_id = struct.unpack(">hi", frame[8:14])
    return error_code, session_id


def poll_sessionless(sock, topic, partitions, polls, max_wait_ms):
    sent = received = 0
    for n in range(polls):
        request = fetch_v7(n, 0, -1, topic, partitions, max_wait_ms)
        sock.sendall(request)
        frame = read_frame(sock)
        assert response_session(frame) == (0, 0), response_session(frame)
        sent += len(request)
        received += len(frame) + 4
    return sent / polls, received / polls


def poll_session(sock, topic, partitions, polls, max_wait_ms):
    sock.sendall(fetch_v7(0, 0, 0, topic, partitions, max_wait_ms))
    error_code, session_id = response_session(read_frame(sock))
    assert error_code == 0 and session_id > 0, (error_code, session_id)
    sent = received = 0
    epoch = 1
    for n in range(polls):
        request = fetch_v7(n + 1, session_id, epoch, topic, [], max_wait_ms)
        sock.sendall(request)
        frame = read_frame(sock)
        assert response_session(frame) == (0, session_id), response_session(frame)
        sent += len(request)
        received += len(frame) + 4
        epoch += 1
    # Close the session.
    sock.sendall(fetch_v7(polls + 1, session_id, -1, topic, [], max_wait_ms))
    read_frame(sock)
    return sent / polls, received / polls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skein", default="target/release/skein")
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--polls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-wait-ms", type=int, default=1)
    parser.add_argument("--cores", default="0")
    parser.add_argument("--modes", default="sessionless,session",
                        help="which modes to run, comma-separated (one mode: for profiling)")
    args = parser.parse_args()

    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        log = open(os.path.join(data_dir, "broker.log"), "wb")
        broker = subprocess.Popen(
            [args.skein, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", os.path.join(data_dir, "d"),
             "--cores", args.cores, "--admin-listen", "off"],
            stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            topic = "idle-partitions"
            admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
            admin.create_topics([NewTopic(topic, args.partitions, 1)])[topic].result(30)
            time.sleep(1)
            # The broker's own CPU while nobody polls (timers, metrics).
            idle_before = process_cpu_seconds(broker.pid)
            time.sleep(3)
            idle = (process_cpu_seconds(broker.pid) - idle_before) / 3
            partitions = list(range(args.partitions))
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # Warm up both paths.
            poll_sessionless(sock, topic, partitions, 50, args.max_wait_ms)
            poll_session(sock, topic, partitions, 50, args.max_wait_ms)

            results: dict[str, list[tuple[float, float, float, float]]] = {"sessionless": [], "session": []}
            modes = {"sessionless": poll_sessionless, "session": poll_session}
            for round_index in range(args.rounds):
                order = [m for m in args.modes.split(",") if m in modes]
                if round_index % 2 == 1:
                    order.reverse()
                for mode in order:
                    cpu_before = process_cpu_seconds(broker.pid)
                    wall_before = time.monotonic()
                    sent, received = modes[mode](sock, topic, partitions, args.polls, args.max_wait_ms)
                    wall = time.monotonic() - wall_before
                    cpu = process_cpu_seconds(broker.pid) - cpu_before
                    results[mode].append((cpu / args.polls * 1e6, wall / args.polls * 1e6, sent, received))
                    print(f"round {round_index} {mode:12s} broker CPU {cpu / args.polls * 1e6:8.1f} µs/poll"
                          f"  wall {wall / args.polls * 1e6:8.1f} µs/poll"
                          f"  request {sent:8.0f} B  response {received:8.0f} B", file=sys.stderr)
            sock.close()
            print(f"{args.partitions} idle partitions, {args.polls} polls x {args.rounds} rounds, "
                  f"max_wait_ms {args.max_wait_ms}, --cores {args.cores}; medians:")
            for mode, rows in results.items():
                if not rows:
                    continue
                cpu = statistics.median(r[0] for r in rows)
                above_idle = statistics.median(r[0] - idle * r[1] for r in rows)
                wall = statistics.median(r[1] for r in rows)
                print(f"  {mode:12s} broker CPU {cpu:8.1f} µs/poll ({above_idle:8.1f} above idle)  "
                      f"wall {wall:8.1f} µs/poll  request {rows[0][2]:8.0f} B  response {rows[0][3]:8.0f} B")
            print(f"  broker CPU with no client: {idle * 100:.2f}% of a core")
        finally:
            broker.terminate()
            broker.wait(30)
            log.close()


if __name__ == "__main__":
    main()
