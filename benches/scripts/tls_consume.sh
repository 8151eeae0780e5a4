#!/bin/bash
# Catch-up consume over PLAINTEXT against SSL on one broker, same run: kcat
# (librdkafka, OpenSSL on the client side) reads N 1 KiB records of one
# partition from the start, alternating PLAINTEXT and SSL, 3 runs each;
# prints throughput and the broker's CPU (utime+stime) per GB fetched.
# Usage: benches/scripts/tls_consume.sh [N]   (SKEIN_BIN to pick the binary)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SKEIN_BIN:-$REPO/target/release/skein}
N=${1:-1500000}
DIR=$(mktemp -d)
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
cat > "$DIR/server.properties" <<PROPS
listeners=PLAINTEXT://127.0.0.1:19192,SSL://127.0.0.1:19193
log.dirs=$DIR/data
log.flush.policy=none
ssl.keystore.type=PEM
ssl.keystore.location=$REPO/net/testdata/tls/server.pem
PROPS
"$BIN" serve --config "$DIR/server.properties" --admin-listen off > "$DIR/broker.log" 2>&1 &
PID=$!
sleep 3
"$BIN" bench produce -b 127.0.0.1:19192 --topic tlsb --partitions 1 --record-size 1024 \
  --acks 1 --duration 15 --warmup 0 | tail -3
ticks() { awk '{print $14+$15}' /proc/$PID/stat; }
for run in 1 2 3; do
  for proto in plaintext ssl; do
    if [ $proto = ssl ]; then
      ARGS=(-b 127.0.0.1:19193 -X security.protocol=ssl -X ssl.ca.location=$REPO/net/testdata/tls/ca.pem)
    else
      ARGS=(-b 127.0.0.1:19192)
    fi
    t0=$(ticks); s0=$(date +%s.%N)
    bytes=$(kcat "${ARGS[@]}" -C -t tlsb -p 0 -o beginning -c "$N" -q -f '%S\n' \
      -X fetch.max.bytes=52428800 -X max.partition.fetch.bytes=10485760 | awk '{s+=$1} END {print s}')
    s1=$(date +%s.%N); t1=$(ticks)
    awk -v p=$proto -v r=$run -v b="$bytes" -v w="$(echo "$s1 - $s0" | bc)" -v c=$((t1 - t0)) \
      'BEGIN { gb=b/1e9; printf "%s run %d: %.2f GB in %.2f s = %.0f MB/s; broker CPU %.2f s = %.2f CPU-s/GB\n", p, r, gb, w, b/1e6/w, c/100, c/100/gb }'
  done
done
