#!/usr/bin/env bash
# End-to-end benchmark of a Skein broker with `skein bench`, modelled on
# OpenMessaging Benchmark workloads: 1 topic × 1 and × 16 partitions,
# 100 B and 1 KiB records, acks=1 and acks=all. Each scenario first
# produces at the maximum rate, then runs produce+consume (e2e) at 50 % of
# that rate for latency. The broker's CPU time (utime+stime from
# /proc/<pid>/stat) and RSS are sampled around every run. Results: one JSON,
# HDR log and SVG per run, and report.md with a table linking the plots.
#
# Usage: benches/run.sh [--quick] [--results DIR] [--bootstrap HOST:PORT]
#                       [--cpu-per-gb] [--many-partitions] [--compressed] [--catchup]
#                       [--issue18] [--no-default]
#   --quick        1 s warm-up + 3 s per run (CI smoke); default 5 s + 30 s
#   --results DIR  where to write (default target/bench-results/<UTC time>)
#   --bootstrap    benchmark an already running broker instead of starting
#                  `skein serve` (broker CPU/RSS are then not collected)
# Issue 18 scenarios (opt-in; real clients from the e2e venv, $PYTHON):
#   --cpu-per-gb       librdkafka 1 KiB acks=all linger 5 produce + catch-up
#                      consume on this broker, broker CPU per GB (ROUNDS runs)
#   --many-partitions  benches/scripts/partitions_bench.py (N = $PARTITIONS) and
#                      partitions_produce_bench.py (10 000 against 8 partitions)
#   --compressed       benches/scripts/compression_bench.py (none/lz4/zstd/
#                      snappy/gzip from librdkafka, stored as sent, CPU per GB)
#   --catchup          benches/scripts/catchup_bench.py ($CATCHUP_GB GB log)
#   --issue18          all four;  --no-default  skip the scenarios above them
# Environment: SKEIN_BIN (default target/release/skein), WARMUP, DURATION,
#   SKEIN_SERVE_ARGS (default "serve --listen 127.0.0.1:{port} --data-dir {data}";
#   {port} and {data} are substituted), PYTHON (default the e2e venv's),
#   ROUNDS (3; --quick 1), PARTITIONS (10000; --quick 1000),
#   CATCHUP_GB (8; --quick 1), LIBRDKAFKA_RECORDS (1000000; --quick 200000),
#   COMPRESSION_RECORDS (500000; --quick 50000).
# Exit status: non-zero if any run reported errors or the broker died.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
skein=${SKEIN_BIN:-$repo/target/release/skein}
warmup=${WARMUP:-5}
duration=${DURATION:-30}
results=""
bootstrap=""
quick=0
default_scenarios=1
cpu_per_gb=0
many_partitions=0
compressed=0
catchup=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) warmup=${WARMUP:-1}; duration=${DURATION:-3}; quick=1; shift ;;
    --results) results=$2; shift 2 ;;
    --bootstrap) bootstrap=$2; shift 2 ;;
    --cpu-per-gb) cpu_per_gb=1; shift ;;
    --many-partitions) many_partitions=1; shift ;;
    --compressed) compressed=1; shift ;;
    --catchup) catchup=1; shift ;;
    --issue18) cpu_per_gb=1; many_partitions=1; compressed=1; catchup=1; shift ;;
    --no-default) default_scenarios=0; shift ;;
    -h|--help) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$quick" = 1 ]; then
  rounds=${ROUNDS:-1}; n_partitions=${PARTITIONS:-1000}; catchup_gb=${CATCHUP_GB:-1}
  librdkafka_records=${LIBRDKAFKA_RECORDS:-200000}; compression_records=${COMPRESSION_RECORDS:-50000}
else
  rounds=${ROUNDS:-3}; n_partitions=${PARTITIONS:-10000}; catchup_gb=${CATCHUP_GB:-8}
  librdkafka_records=${LIBRDKAFKA_RECORDS:-1000000}; compression_records=${COMPRESSION_RECORDS:-500000}
fi
python=${PYTHON:-$repo/tests/e2e/.deps/venv/bin/python}
if [ $((cpu_per_gb + many_partitions + compressed + catchup)) -gt 0 ] &&
  ! "$python" -c 'import confluent_kafka' 2>/dev/null; then
  echo "run.sh: the issue 18 scenarios need confluent-kafka: set PYTHON (default $python)" >&2
  exit 2
fi
[ -x "$skein" ] || { echo "run.sh: $skein not found; build it with: cargo build --release -p skein (or set SKEIN_BIN)" >&2; exit 2; }
results=${results:-$repo/target/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$results"
results=$(cd "$results" && pwd)

broker_pid=""
workdir=$(mktemp -d)
cleanup() {
  if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
    kill "$broker_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$broker_pid" 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# CPU seconds (utime + stime) the broker has used so far.
broker_cpu_seconds() {
  # A broker that died has no /proc entry: report 0 and let the caller's
  # liveness check say what happened.
  [ -n "$broker_pid" ] && [ -r "/proc/$broker_pid/stat" ] || { echo 0; return; }
  local ticks
  ticks=$(getconf CLK_TCK)
  # Fields after the parenthesised command name: utime is the 12th, stime the 13th.
  awk -v tck="$ticks" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / tck }' "/proc/$broker_pid/stat"
}

# Resident set size and its peak, in MiB.
broker_rss_mib() {
  [ -n "$broker_pid" ] && [ -r "/proc/$broker_pid/status" ] || { echo "- -"; return; }
  awk '/^VmRSS:/ { rss = $2 } /^VmHWM:/ { hwm = $2 } END { printf "%.0f %.0f\n", rss / 1024, hwm / 1024 }' "/proc/$broker_pid/status"
}

if [ -z "$bootstrap" ]; then
  port=$(free_port)
  data="$workdir/data"
  mkdir -p "$data"
  serve_args=${SKEIN_SERVE_ARGS:-"serve --listen 127.0.0.1:{port} --data-dir {data}"}
  serve_args=${serve_args//\{port\}/$port}
  serve_args=${serve_args//\{data\}/$data}
  # shellcheck disable=SC2086 # word splitting of the argument list is intended
  (cd "$workdir" && exec "$skein" $serve_args) >"$results/broker.log" 2>&1 &
  broker_pid=$!
  bootstrap="127.0.0.1:$port"
  for _ in $(seq 100); do
    if ! kill -0 "$broker_pid" 2>/dev/null; then
      echo "run.sh: skein serve exited at start-up; see $results/broker.log" >&2
      tail -n 20 "$results/broker.log" >&2
      exit 1
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
fi
echo "run.sh: broker at $bootstrap, results in $results, ${warmup}s warm-up + ${duration}s per run"

# Reads one figure out of a bench JSON report: json_field FILE SERIES PATH...
json_field() {
  python3 - "$@" <<'PY'
import json, sys
path, series, *keys = sys.argv[1:]
try:
    report = json.load(open(path))
    value = next(s for s in report["series"] if s["name"] == series)
    for key in keys:
        value = value[key]
    print(f"{value:.0f}" if isinstance(value, float) else value)
except Exception:
    print("-")
PY
}
ms() { awk -v us="$1" 'BEGIN { if (us == "-") print "-"; else printf "%.2f", us / 1000 }'; }
valid() { python3 -c 'import json,sys; print("yes" if json.load(open(sys.argv[1]))["valid"] else "NO")' "$1" 2>/dev/null || echo "NO"; }

failures=0
rows=()
# Runs one bench; records CPU seconds, wall seconds and RSS of the broker.
# run_bench NAME ARGS...
run_bench() {
  local name=$1; shift
  local cpu_before cpu_after start end status=0
  cpu_before=$(broker_cpu_seconds)
  start=$(date +%s.%N)
  "$skein" bench "$@" -b "$bootstrap" --warmup "$warmup" --duration "$duration" \
    --json "$results/$name.json" --hdr-log "$results/$name.hlog" --plot "$results/$name.svg" \
    >"$results/$name.txt" 2>"$results/$name.err" || status=$?
  end=$(date +%s.%N)
  cpu_after=$(broker_cpu_seconds)
  cat "$results/$name.txt"
  if [ "$status" -ne 0 ]; then
    failures=$((failures + 1))
    echo "run.sh: $name exited with $status" >&2
    tail -n 5 "$results/$name.err" >&2
  fi
  if [ -n "$broker_pid" ] && ! kill -0 "$broker_pid" 2>/dev/null; then
    echo "run.sh: the broker died during $name; last lines of $results/broker.log:" >&2
    tail -n 5 "$results/broker.log" >&2
    exit 1
  fi
  run_cpu=$(awk -v a="$cpu_before" -v b="$cpu_after" -v s="$start" -v e="$end" \
    'BEGIN { if (a == "0" && b == "0") print "- -"; else printf "%.1f %.0f%%\n", b - a, 100 * (b - a) / (e - s) }')
  run_rss=$(broker_rss_mib)
}

for partitions in $( [ "$default_scenarios" = 1 ] && echo 1 16 ); do
  for size in 100 1024; do
    for acks in 1 all; do
      scenario="p${partitions}-r${size}-acks${acks}"
      echo "== $scenario: max rate"
      run_bench "$scenario-max" produce --topic "bench-$scenario-max" --partitions "$partitions" \
        --record-size "$size" --acks "$acks" --rate max --producers 1
      max_rate=$(json_field "$results/$scenario-max.json" produce records_per_s)
      read -r max_cpu max_cpu_pct <<<"$run_cpu"
      max_mb=$(awk -v b="$(json_field "$results/$scenario-max.json" produce bytes_per_s)" 'BEGIN { if (b == "-") print "-"; else printf "%.1f", b / 1e6 }')
      max_p99=$(ms "$(json_field "$results/$scenario-max.json" produce latency p99_us)")
      max_valid=$(valid "$results/$scenario-max.json")
      half=$(awk -v r="$max_rate" 'BEGIN { if (r == "-" || r < 2) print 1; else printf "%d", r / 2 }')
      echo "== $scenario: e2e latency at $half records/s (50 % of max)"
      run_bench "$scenario-lat" e2e --topic "bench-$scenario-lat" --partitions "$partitions" \
        --record-size "$size" --acks "$acks" --rate "$half" --producers 1 --consumers 1
      read -r lat_cpu lat_cpu_pct <<<"$run_cpu"
      read -r rss hwm <<<"$run_rss"
      f="$results/$scenario-lat.json"
      rows+=("| $scenario | $max_rate | $max_mb | $max_p99 | $max_cpu_pct | [svg]($scenario-max.svg) | $half | $(ms "$(json_field "$f" produce latency p50_us)") / $(ms "$(json_field "$f" produce latency p99_us)") / $(ms "$(json_field "$f" produce latency p99_9_us)") | $(ms "$(json_field "$f" e2e latency p50_us)") / $(ms "$(json_field "$f" e2e latency p99_us)") / $(ms "$(json_field "$f" e2e latency p99_9_us)") | $lat_cpu_pct | $rss / $hwm | [svg]($scenario-lat.svg) | $max_valid / $(valid "$f") |")
    done
  done
done

# Runs one benchmark script; its output goes to $results/NAME.log.
# run_script NAME COMMAND...
run_script() {
  local name=$1; shift
  local status=0
  "$@" >"$results/$name.log" 2>&1 || status=$?
  tail -n 25 "$results/$name.log"
  if [ "$status" -ne 0 ]; then
    failures=$((failures + 1))
    echo "run.sh: $name exited with $status; see $results/$name.log" >&2
  fi
}

if [ "$cpu_per_gb" = 1 ]; then
  echo "== issue 18: librdkafka produce, 1 KiB, acks=all, linger 5 ms, 8 partitions: broker CPU per GB ($rounds runs)"
  for i in $(seq "$rounds"); do
    status=0
    "$python" "$repo/benches/clients/librdkafka_throughput.py" --bootstrap "$bootstrap" \
      --record-bytes 1024 --partitions 8 --records "$librdkafka_records" --acks all --linger-ms 5 \
      ${broker_pid:+--broker-pid "$broker_pid"} >"$results/cpu-per-gb-$i.json" 2>"$results/cpu-per-gb-$i.err" || status=$?
    cat "$results/cpu-per-gb-$i.json"
    if [ "$status" -ne 0 ]; then
      failures=$((failures + 1))
      echo "run.sh: librdkafka run $i exited with $status" >&2
      tail -n 5 "$results/cpu-per-gb-$i.err" >&2
    fi
    if [ -n "$broker_pid" ] && ! kill -0 "$broker_pid" 2>/dev/null; then
      echo "run.sh: the broker died during the librdkafka run; see $results/broker.log" >&2
      exit 1
    fi
  done
fi
if [ "$many_partitions" = 1 ]; then
  echo "== issue 18: $n_partitions partitions on one node (partitions_bench.py, $rounds runs)"
  run_script partitions "$python" "$repo/benches/scripts/partitions_bench.py" --bin "$skein" \
    --partitions "$n_partitions" --runs "$rounds" --json "$results/partitions.json"
  echo "== issue 18: produce over 10 000 partitions against 8 (partitions_produce_bench.py, $rounds rounds)"
  run_script partitions-produce "$python" "$repo/benches/scripts/partitions_produce_bench.py" --bin "$skein" \
    --runs "$rounds" --warmup "$warmup" --duration "$duration" --json "$results/partitions-produce.json"
fi
if [ "$compressed" = 1 ]; then
  echo "== issue 18: compressed batches from librdkafka (compression_bench.py, $rounds rounds)"
  run_script compression "$python" "$repo/benches/scripts/compression_bench.py" --bin "$skein" \
    --rounds "$rounds" --records "$compression_records" --shaped --json "$results/compression.json"
fi
if [ "$catchup" = 1 ]; then
  echo "== issue 18: catch-up read of a ${catchup_gb} GB log vs raw O_DIRECT (catchup_bench.py, $rounds rounds)"
  run_script catchup "$python" "$repo/benches/scripts/catchup_bench.py" --bin "$skein" \
    --gb "$catchup_gb" --rounds "$rounds" --json "$results/catchup.json"
fi

# The issue 18 sections of report.md, from the JSON files in $results.
issue18_report() {
  python3 - "$results" <<'PY'
import glob, json, os, statistics, sys
results = sys.argv[1]

def load(name):
    try:
        return json.load(open(os.path.join(results, name)))
    except (OSError, ValueError):
        return None

def spread(values, fmt="{:.3f}"):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"

out = []
runs = [r for r in (load(os.path.basename(f)) for f in sorted(glob.glob(os.path.join(results, "cpu-per-gb-*.json")))) if r]
if runs:
    out += ["## Broker CPU per GB: librdkafka, 1 KiB, acks=all, linger 5 ms, 8 partitions", "",
            f"{len(runs)} run(s) of {runs[0]['records']} records; median (min–max). Broker CPU from /proc (core·s per GB of payload).", "",
            "| produce MB/s | produce broker s/GB | catch-up consume MB/s | consume broker s/GB | delivery errors |",
            "|---:|---:|---:|---:|---:|",
            f"| {spread([r['produce_mb_per_s'] for r in runs], '{:.1f}')} | {spread([r.get('produce_broker_cpu_per_gb') for r in runs])} "
            f"| {spread([r['consume_mb_per_s'] for r in runs], '{:.1f}')} | {spread([r.get('consume_broker_cpu_per_gb') for r in runs])} "
            f"| {sum(r['delivery_errors'] for r in runs)} |", ""]
parts = load("partitions.json")
if parts and parts.get("medians"):
    out += ["## Many partitions (partitions_bench.py)", "", "Medians over runs; µs per partition in brackets.", "",
            "| N | create to ready s | idle RSS MiB | clean restart to ready s | kill -9 restart to ready s |",
            "|---:|---:|---:|---:|---:|"]
    for n, m in parts["medians"].items():
        out.append(f"| {n} | {m['create_ready_s']:.2f} [{m['create_us_per_partition']:.0f}] | {m['idle_rss_mib']:.0f} "
                   f"| {m['clean_ready_s']:.2f} [{m['clean_ready_us_per_partition']:.0f}] "
                   f"| {m['kill9_ready_s']:.2f} [{m['kill9_ready_us_per_partition']:.0f}] |")
    out.append("")
comp = load("compression.json")
if comp and comp.get("summary"):
    def fig(entry, key, fmt="{:.3f}"):
        v = entry.get(key)
        return "-" if v is None else f"{fmt.format(v['median'])} ({fmt.format(v['min'])}–{fmt.format(v['max'])})"
    out += ["## Compressed batches (compression_bench.py)", "",
            "librdkafka acks=all linger 5 ms, 1 KiB JSON-like records. Broker CPU in core·s per GB net of its idle rate; "
            "'vs none' / 'vs shaped': per stored GB, against the uncompressed run of the same round / an uncompressed run "
            "with the same stored bytes per request at the same pace (`none~C`). `C>T`: client codec C, topic compression.type=T.", "",
            "| case | ratio | payload MB/s | produce s/GB payload | produce s/GB stored | vs none | vs shaped | consume s/GB stored | stored as sent |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for case, e in comp["summary"].items():
        out.append(f"| {case} | {fig(e, 'ratio', '{:.2f}')} | {fig(e, 'payload_mb_per_s', '{:.1f}')} "
                   f"| {fig(e, 'produce_net_cpu_per_gb_payload')} | {fig(e, 'produce_net_cpu_per_gb_stored')} "
                   f"| {fig(e, 'produce_net_cpu_per_gb_stored_vs_none', '{:.2f}')} | {fig(e, 'produce_net_cpu_per_gb_stored_vs_shaped', '{:.2f}')} "
                   f"| {fig(e, 'consume_net_cpu_per_gb_stored')} | {'yes' if e['stored_as_expected'] else 'NO'} |")
    out.append("")
catch = load("catchup.json")
if catch and catch.get("summary"):
    s = catch["summary"]
    out += ["## Catch-up read (catchup_bench.py)", "",
            "| raw O_DIRECT MB/s (median) | skein catch-up MB/s (median) | ratio median (min–max) |", "|---:|---:|---:|",
            f"| {s['raw_mb_per_s_median']} | {s.get('skein_mb_per_s_median', '-')} | {s.get('skein_ratio_median', '-')} "
            f"({s.get('skein_ratio_min', '-')}–{s.get('skein_ratio_max', '-')}) |", ""]
print("\n".join(out))
PY
}

{
  echo "# skein bench report"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
  echo "- broker: $bootstrap$( [ -n "$broker_pid" ] && echo " (skein serve started by run.sh, log: [broker.log](broker.log))")"
  echo
  if [ "${#rows[@]}" -gt 0 ]; then
    echo "Each run: ${warmup} s warm-up (excluded) + ${duration} s measured; 1 producer, 1 consumer, batch 16 KiB, linger 0, 5 in flight, no compression."
    echo "Max rate: \`skein bench produce --rate max\`. Latency: \`skein bench e2e\` at 50 % of the measured max rate;"
    echo "ack = produce request to response, e2e = intended send time to consumer receipt, both from the intended send time (no coordinated omission)."
    echo "Broker CPU is (utime+stime) / wall time of the run (100 % = one core); RSS is current / peak after the latency run."
    echo
    echo "| scenario | max rec/s | max MB/s | ack p99 ms @max | broker CPU @max | plot | rate @50% | ack p50 / p99 / p99.9 ms | e2e p50 / p99 / p99.9 ms | broker CPU @50% | RSS / peak MiB | plot | valid |"
    echo "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Per run: \`<name>.json\` (every figure and the configuration), \`<name>.hlog\` (HDR interval log), \`<name>.txt\` (summary)."
    echo
  fi
  issue18_report
} >"$results/report.md"

echo "run.sh: report at $results/report.md"
if [ "$failures" -ne 0 ]; then
  echo "run.sh: $failures run(s) reported errors" >&2
  exit 1
fi
