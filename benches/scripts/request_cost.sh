#!/bin/bash
# What one small produce request costs the broker when requests come one at
# a time (each wakes the broker from sleep), before/after style: for each
# binary given, alternating, ROUNDS times: one `skein serve` (defaults:
# flush.policy=batch), `skein bench produce` of 1 KiB records, acks=all,
# linger 0, six partitions, at RATE records/s (one request per record) for
# SECONDS; prints the broker's CPU (utime+stime from /proc) per record, then
# one more run per binary under `perf stat` counting per record: io_uring
# requests, io_uring_enter calls, context switches, membarrier calls (one
# per sleep) and io-wq hand-offs.
# Usage: benches/scripts/request_cost.sh [--rate 2000] [--seconds 8] [--rounds 3] BIN...
set -euo pipefail
RATE=2000
SECONDS_RUN=8
ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --seconds) SECONDS_RUN=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: $0 [--rate N] [--seconds S] [--rounds R] BIN..." >&2; exit 2; }
RECORDS=$((RATE * SECONDS_RUN))

# one_run BIN [perf]: starts a broker, warms the topic up, measures.
one_run() {
  local bin=$1 counting=${2:-}
  local dir port pid perf_pid before after
  dir=$(mktemp -d)
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  "$bin" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" > "$dir/broker.log" 2>&1 &
  pid=$!
  sleep 2
  "$bin" bench produce -b "127.0.0.1:$port" --topic cost --partitions 6 --record-size 1024 \
    --acks all --rate 1000 --warmup 0 --duration 1 > /dev/null 2>&1
  before=$(awk '{print $14+$15}' "/proc/$pid/stat")
  if [ -n "$counting" ]; then
    perf stat -p "$pid" -x, -o "$dir/stat.csv" \
      -e context-switches,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_membarrier \
      -e io_uring:io_uring_submit_req,io_uring:io_uring_queue_async_work -- sleep "$SECONDS_RUN" &
    perf_pid=$!
  fi
  "$bin" bench produce -b "127.0.0.1:$port" --topic cost --partitions 6 --record-size 1024 \
    --acks all --rate "$RATE" --warmup 0 --duration "$SECONDS_RUN" > "$dir/bench.out" 2>&1
  after=$(awk '{print $14+$15}' "/proc/$pid/stat")
  if [ -n "$counting" ]; then
    wait "$perf_pid" || true
    awk -F, -v n="$RECORDS" '$1 ~ /^[0-9]/ {printf "    %-40s %8.2f per record\n", $3, $1 / n}' "$dir/stat.csv"
  else
    awk -v t=$((after - before)) -v n="$RECORDS" -v hz="$(getconf CLK_TCK)" \
      'BEGIN {printf "%.1f us of broker CPU per record", t / hz * 1e6 / n}'
    grep -m1 -o "p50 [0-9.]*" "$dir/bench.out" | sed 's/^/, ack /; s/$/ ms/'
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}

for round in $(seq 1 "$ROUNDS"); do
  for bin in "$@"; do
    echo -n "round $round $bin: "
    one_run "$bin"
  done
done
if command -v perf > /dev/null; then
  for bin in "$@"; do
    echo "counts, $bin:"
    one_run "$bin" perf
  done
fi
