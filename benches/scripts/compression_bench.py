#!/usr/bin/env python3
"""Compressed batches (issue 18, item 3): the same client produces the same
1 KiB records uncompressed and with each of lz4, zstd, snappy and gzip; the
broker must store the batches as sent and spend no more CPU per GB on them
than on uncompressed ones.

One single-node `skein serve` (default settings: `compression.type=producer`,
`flush.policy=batch`) on a free port with its data in a temp dir. Each round
runs every case once (the order rotates from round to round), each on a
fresh topic of `--partitions` partitions that is deleted afterwards:

1. produce: confluent-kafka (librdkafka) with acks=all, linger.ms=5,
   batch.size=1 MiB, no idempotence (rdkafka_performance's settings),
   `compression.type` = the case's codec, `--records` records of 1 KiB
   spread round-robin over the partitions. The values are JSON-like event
   text with random fields (ids, numbers, words from a small vocabulary), so
   they compress about as real events do (lz4 ~2-4x), drawn from a pool of
   8192 distinct values so no value repeats inside one batch.
2. stored as sent: the partition logs (`<topic>-<p>/*.log`) are walked batch
   by batch; every batch must carry the expected codec in its attributes
   (the client's, or the topic's `compression.type` when it is not
   `producer`), the records must all be there, and the stored bytes are
   compared with the payload (compression ratio) and with the bytes
   librdkafka sent (its `txbytes` statistic: the wire).
3. catch-up consume: a fresh confluent-kafka consumer reads the topic from
   offset 0 with assign() until it has every record (checking the total
   value bytes), decompressing in the client.

Around both phases the broker's CPU (utime + stime from /proc/PID/stat) is
sampled: CPU per GB of payload (what the client produced) and per GB stored
(what the broker handled), with the ratio to the uncompressed case of the
same round. The client's own CPU (this process: Python and librdkafka's
threads, so the compression itself) is shown too.

With `--shaped`, each of lz4, zstd and snappy is followed by `none~C`:
uncompressed records, as many stored bytes as C stored, in batches of C's
stored size (records / ratio, handed to the client one batch's worth for
one partition at a time), paced to take as long as C's produce took. librdkafka counts batch.size before compression, so a
compressed run sends as many requests and batches as an uncompressed one
with fewer bytes in each, and the client's compression makes it slower:
per stored GB it carries the broker's per-request costs on fewer bytes, and
sparse requests find the broker's shards asleep (each costs wake-ups).
`none~C` has C's request shape and pace, so "vs shaped" is what the codec
itself costs the broker.

Cases: `none`, `lz4`, `zstd`, `snappy`, `gzip` (topic `compression.type=
producer`) and, unless `--cases` says otherwise, `lz4>lz4` (a topic with
`compression.type=lz4` and a client sending lz4: must not be recompressed)
and `none>lz4` (the control: the broker must rebuild every batch in lz4,
which the codec check and the CPU figure make visible).

Usage: tests/e2e/.deps/venv/bin/python benches/scripts/compression_bench.py \\
           --bin target/release/skein [--rounds 3] [--records 300000] [--partitions 8] \\
           [--cases none,lz4,zstd,snappy,gzip,lz4>lz4,none>lz4] [--shaped] [--data-dir DIR] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench_support import Broker, own_cpu_seconds

REPO = Path(__file__).resolve().parents[2]
RECORD_SIZE = 1024
VALUE_POOL = 8192
DEFAULT_CASES = "none,lz4,zstd,snappy,gzip,lz4>lz4,none>lz4"
# Cases `--shaped` pairs with an uncompressed run of the same stored shape.
SHAPED_CASES = ("lz4", "zstd", "snappy")
# Kafka's attribute bits 0-2: the codec of a v2 batch.
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
CODEC_NAMES = {v: k for k, v in CODEC_IDS.items()}

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar "
         "papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu checkout cart search "
         "login logout view click scroll purchase refund shipped pending failed retry timeout cache "
         "miss hit user admin guest mobile desktop tablet android ios linux windows chrome firefox "
         "safari edge berlin paris london tokyo oslo lima cairo delhi seoul lagos quito perth").split()
EVENTS = ("page_view", "add_to_cart", "checkout", "purchase", "search", "login", "logout", "error")
AGENTS = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
          "okhttp/4.12.0", "curl/8.5.0")


def event_value(rng: random.Random) -> bytes:
    """One JSON-like event of exactly RECORD_SIZE bytes with random fields."""
    head = (
        f'{{"ts":{1_700_000_000_000 + rng.randrange(10**9)},"event":"{rng.choice(EVENTS)}",'
        f'"user_id":{rng.randrange(10**9)},"session":"{rng.getrandbits(128):032x}",'
        f'"ip":"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",'
        f'"agent":"{rng.choice(AGENTS)}","path":"/{"/".join(rng.choices(WORDS, k=3))}",'
        f'"amount":{rng.random() * 1000:.2f},"items":[{",".join(str(rng.randrange(10**6)) for _ in range(4))}],'
        f'"tags":["{rng.choice(WORDS)}","{rng.choice(WORDS)}"],"trace":"{rng.getrandbits(64):016x}",'
        f'"latency_ms":{rng.randrange(5000)},"msg":"'
    )
    words = []
    length = len(head) + 2
    while length < RECORD_SIZE + 2:
        word = rng.choice(WORDS) if rng.random() < 0.8 else f"{rng.randrange(10**6)}"
        words.append(word)
        length += len(word) + 1
    text = (head + " ".join(words))[: RECORD_SIZE - 2] + '"}'
    value = text.encode()
    assert len(value) == RECORD_SIZE
    return value


def parse_case(case: str) -> tuple[str, str]:
    """`lz4` → (client lz4, topic producer); `none>lz4` → (client none, topic lz4)."""
    client, _, topic = case.partition(">")
    topic = topic or "producer"
    for codec in (client, topic):
        if codec not in CODEC_IDS and codec != "producer":
            raise SystemExit(f"unknown codec {codec!r} in case {case!r}")
    return client, topic


def walk_logs(data_dir: Path, topic: str, partitions: int) -> dict:
    """Every batch of the topic's partition logs: count, bytes, records and codecs."""
    batches = stored = records = 0
    codecs: dict[str, int] = {}
    for p in range(partitions):
        for path in sorted((data_dir / f"{topic}-{p}").glob("*.log")):
            size = path.stat().st_size
            with path.open("rb") as f:
                position = 0
                while position + 61 <= size:
                    f.seek(position)
                    header = f.read(61)
                    batch_length = struct.unpack_from(">i", header, 8)[0]
                    if batch_length <= 0:
                        break  # padding or preallocated space past the last batch
                    total = 12 + batch_length
                    if position + total > size:
                        break
                    magic = header[16]
                    attributes = struct.unpack_from(">h", header, 21)[0]
                    if magic != 2:
                        raise RuntimeError(f"{path} at {position}: magic {magic}")
                    if not attributes & 0x20:  # control batches (none here) are not data
                        codec = CODEC_NAMES.get(attributes & 0x7, f"codec {attributes & 0x7}")
                        codecs[codec] = codecs.get(codec, 0) + 1
                        records += struct.unpack_from(">i", header, 57)[0]
                    batches += 1
                    stored += total
                    position += total
    return {"batches": batches, "stored_bytes": stored, "records": records, "codecs": codecs}


def produce(broker: Broker, topic: str, codec: str, values: list[bytes], records: int, batch_size: int,
            pace: tuple[float, int] | None, args) -> dict:
    """Produces `records` round-robin over the partitions as fast as the client goes; with
    `pace` = (seconds, burst), paced to take about that long, handing the client `burst`
    records at a time, all to one partition (the next burst to the next): one batch each,
    sent one after another at an even rate, as a compressing client sends them."""
    stats: list[dict] = []
    producer = Producer({
        "bootstrap.servers": broker.bootstrap,
        "acks": "all",
        "linger.ms": 5,
        "batch.size": batch_size,
        "compression.type": codec,
        "queue.buffering.max.kbytes": 1 << 20,
        "queue.buffering.max.messages": 1_000_000,
        "enable.idempotence": False,
        "statistics.interval.ms": 500,
        "stats_cb": lambda text: stats.append(json.loads(text)),
    })
    # Connect and learn the leaders before the clock starts.
    producer.list_topics(topic, timeout=30)
    errors = 0

    def report(err, _msg):
        nonlocal errors
        if err is not None:
            errors += 1

    pool = len(values)
    broker_before, client_before = broker.cpu_seconds(), own_cpu_seconds()
    started = time.perf_counter()
    for i in range(records):
        if pace and i % pace[1] == 0:
            ahead = started + pace[0] * i / records - time.perf_counter()
            while ahead > 0:
                producer.poll(ahead)
                ahead = started + pace[0] * i / records - time.perf_counter()
        partition = (i // pace[1] if pace else i) % args.partitions
        while True:
            try:
                producer.produce(topic, values[i % pool], partition=partition, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.001)
        if i % 10_000 == 0:
            producer.poll(0)
    errors += producer.flush(300)
    seconds = time.perf_counter() - started
    broker_cpu = broker.cpu_seconds() - broker_before
    client_cpu = own_cpu_seconds() - client_before
    # One more statistics callback after the last request.
    stats.clear()
    deadline = time.monotonic() + 5
    while not stats and time.monotonic() < deadline:
        producer.poll(0.1)
    wire = sum(b.get("txbytes", 0) for b in stats[-1]["brokers"].values()) if stats else None
    requests = sum(b.get("tx", 0) for b in stats[-1]["brokers"].values()) if stats else None
    if errors:
        raise RuntimeError(f"{errors} delivery errors producing {codec}")
    return {"seconds": seconds, "broker_cpu_s": broker_cpu, "client_cpu_s": client_cpu,
            "wire_bytes": wire, "requests": requests}


def consume(broker: Broker, topic: str, records: int, args) -> dict:
    consumer = Consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": "unused-assign-only",
        "enable.auto.commit": False,
        "fetch.max.bytes": 64 << 20,
        "max.partition.fetch.bytes": 8 << 20,
        "fetch.wait.max.ms": 100,
    })
    consumer.assign([TopicPartition(topic, p, 0) for p in range(args.partitions)])
    consumed = value_bytes = 0
    broker_before, client_before = broker.cpu_seconds(), own_cpu_seconds()
    started = time.perf_counter()
    deadline = started + 600
    while consumed < records and time.perf_counter() < deadline:
        for message in consumer.consume(num_messages=10_000, timeout=1.0):
            if message.error() is None:
                consumed += 1
                value_bytes += len(message.value())
    seconds = time.perf_counter() - started
    broker_cpu = broker.cpu_seconds() - broker_before
    client_cpu = own_cpu_seconds() - client_before
    consumer.close()
    if consumed != records or value_bytes != records * RECORD_SIZE:
        raise RuntimeError(f"consumed {consumed} records, {value_bytes} value bytes; "
                           f"expected {records}, {records * RECORD_SIZE}")
    return {"seconds": seconds, "broker_cpu_s": broker_cpu, "client_cpu_s": client_cpu}


def case_records(case: str, args) -> int:
    """Records for `case`: a fifth of `--records` where a codec is slow (gzip in the
    client, or a broker rebuilding every batch), so a round takes minutes, not hours."""
    client_codec, topic_codec = parse_case(case)
    slow = client_codec == "gzip" or topic_codec not in ("producer", client_codec)
    return args.records // args.slow_divisor if slow else args.records


def idle_cpu_rate(broker: Broker, seconds: float) -> float:
    """The broker's CPU seconds per second with no load (its timers and background tasks)."""
    before, started = broker.cpu_seconds(), time.perf_counter()
    time.sleep(seconds)
    return (broker.cpu_seconds() - before) / (time.perf_counter() - started)


def run_case(broker: Broker, admin: AdminClient, case: str, round_no: int, values: list[bytes],
             idle_rate: float, args, shape_of: dict | None = None) -> dict:
    """One case; with `shape_of` (a compressed case's result), uncompressed records shaped
    like it: as many stored bytes, in batches (requests) of the same stored size, sent over
    the same time (so at the same request rate)."""
    client_codec, topic_codec = parse_case(case.split("~")[0])
    records = case_records(case.split("~")[0], args)
    batch_size = args.batch_size
    pace = None
    if shape_of is not None:
        records = round(shape_of["records"] / shape_of["ratio"])
        # Room for one burst in a batch: it goes when linger.ms expires.
        batch_size = round(args.batch_size / shape_of["ratio"] * 1.1)
        pace = (shape_of["produce_s"], max(1, records // shape_of["batches"]))
    topic = f"comp-{case.replace('>', '-to-').replace('~', '-like-')}-r{round_no}"
    config = {} if topic_codec == "producer" else {"compression.type": topic_codec}
    for future in admin.create_topics([NewTopic(topic, args.partitions, 1, config=config)]).values():
        future.result(30)
    try:
        p = produce(broker, topic, client_codec, values, records, batch_size, pace, args)
        log = walk_logs(broker.data_dir, topic, args.partitions)
        c = consume(broker, topic, records, args) if not args.produce_only else \
            {"seconds": float("nan"), "broker_cpu_s": float("nan"), "client_cpu_s": float("nan")}
    finally:
        for future in admin.delete_topics([topic]).values():
            future.result(30)
    expected = client_codec if topic_codec == "producer" else topic_codec
    payload = records * RECORD_SIZE
    stored = log["stored_bytes"]
    # Net of what the idle broker spends in as long (timers, background tasks): a
    # slow client (gzip) would otherwise be charged for the broker's idle time.
    produce_net = max(0.0, p["broker_cpu_s"] - idle_rate * p["seconds"])
    consume_net = max(0.0, c["broker_cpu_s"] - idle_rate * c["seconds"])
    result = {
        "case": case, "client_codec": client_codec, "topic_compression_type": topic_codec,
        "records": records, "batch_size": batch_size, "produce_s": round(p["seconds"], 2), "consume_s": round(c["seconds"], 2),
        "broker_idle_cpu_per_s": round(idle_rate, 4),
        "records_per_s": round(records / p["seconds"]),
        "payload_mb_per_s": round(payload / p["seconds"] / 1e6, 1),
        "payload_bytes": payload, "stored_bytes": stored, "wire_bytes": p["wire_bytes"],
        "produce_requests": p["requests"], "batches": log["batches"],
        "ratio": round(payload / stored, 2),
        "stored_codecs": log["codecs"], "stored_records": log["records"],
        "stored_as_expected": log["codecs"] == {expected: log["batches"]} and log["records"] == records,
        "produce_broker_cpu_s": round(p["broker_cpu_s"], 2),
        "produce_client_cpu_s": round(p["client_cpu_s"], 2),
        "produce_cpu_per_gb_payload": round(p["broker_cpu_s"] / (payload / 1e9), 3),
        "produce_cpu_per_gb_stored": round(p["broker_cpu_s"] / (stored / 1e9), 3),
        "produce_net_cpu_per_gb_payload": round(produce_net / (payload / 1e9), 3),
        "produce_net_cpu_per_gb_stored": round(produce_net / (stored / 1e9), 3),
        "consume_mb_per_s": round(payload / c["seconds"] / 1e6, 1),
        "consume_broker_cpu_s": round(c["broker_cpu_s"], 2),
        "consume_client_cpu_s": round(c["client_cpu_s"], 2),
        "consume_cpu_per_gb_payload": round(c["broker_cpu_s"] / (payload / 1e9), 3),
        "consume_cpu_per_gb_stored": round(c["broker_cpu_s"] / (stored / 1e9), 3),
        "consume_net_cpu_per_gb_payload": round(consume_net / (payload / 1e9), 3),
        "consume_net_cpu_per_gb_stored": round(consume_net / (stored / 1e9), 3),
    }
    if not result["stored_as_expected"]:
        print(f"  !! {case}: expected every batch in {expected} with {records} records, found "
              f"{log['codecs']} with {log['records']} records", file=sys.stderr)
    return result


# Per case, the figures whose medians and spreads are summarised.
SUMMARY_KEYS = ("records", "records_per_s", "payload_mb_per_s", "ratio", "stored_bytes", "wire_bytes",
                "produce_cpu_per_gb_payload", "produce_cpu_per_gb_stored",
                "produce_net_cpu_per_gb_payload", "produce_net_cpu_per_gb_stored", "consume_mb_per_s",
                "consume_cpu_per_gb_payload", "consume_cpu_per_gb_stored",
                "consume_net_cpu_per_gb_payload", "consume_net_cpu_per_gb_stored",
                "produce_client_cpu_s", "consume_client_cpu_s", "broker_idle_cpu_per_s")
# Ratios to the uncompressed case of the same round.
RELATIVE_KEYS = ("produce_cpu_per_gb_payload", "produce_cpu_per_gb_stored",
                 "produce_net_cpu_per_gb_payload", "produce_net_cpu_per_gb_stored",
                 "consume_cpu_per_gb_payload", "consume_cpu_per_gb_stored",
                 "consume_net_cpu_per_gb_payload", "consume_net_cpu_per_gb_stored")


def summarise(rounds: list[dict[str, dict]], cases: list[str]) -> dict:
    summary = {}
    for case in cases:
        rows = [r[case] for r in rounds]
        entry = {"stored_as_expected": all(row["stored_as_expected"] for row in rows)}
        for key in SUMMARY_KEYS:
            values = [row[key] for row in rows if row[key] is not None]
            if values:
                entry[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
        for base, suffix in (("none", "vs_none"), (f"none~{case}", "vs_shaped")):
            if base not in cases:
                continue
            for key in RELATIVE_KEYS:
                ratios = [r[case][key] / r[base][key] for r in rounds if r[base][key]]
                if ratios:
                    entry[f"{key}_{suffix}"] = {"median": round(statistics.median(ratios), 3),
                                                "min": round(min(ratios), 3), "max": round(max(ratios), 3)}
        summary[case] = entry
    return summary


def print_table(summary: dict) -> None:
    """A markdown table of the medians (min-max over rounds)."""
    def fig(entry, key, fmt="{:.0f}", scale=1.0):
        value = entry.get(key)
        if value is None:
            return "-"
        low, mid, high = (fmt.format(value[k] / scale) for k in ("min", "median", "max"))
        return f"{mid} ({low}-{high})"

    print("\nBroker CPU in core-seconds per GB, net of its idle rate (gross figures in the JSON); "
          "'vs none' = ratio to the uncompressed case of the same round, per stored GB; 'vs shaped' = "
          "the same against `none~C` (uncompressed: as many requests as C, as large, as often).\n")
    print("| case | records | rec/s | payload MB/s | ratio | stored MB | wire MB | produce s/GB payload | "
          "produce s/GB stored | vs none | vs shaped | consume MB/s | consume s/GB payload | "
          "consume s/GB stored | vs none | stored as sent |")
    print("|---|" + "---:|" * 14 + "---|")
    for case, entry in summary.items():
        print("| " + " | ".join([
            case, fig(entry, "records"), fig(entry, "records_per_s"), fig(entry, "payload_mb_per_s", "{:.1f}"),
            fig(entry, "ratio", "{:.2f}"), fig(entry, "stored_bytes", scale=1e6),
            fig(entry, "wire_bytes", scale=1e6),
            fig(entry, "produce_net_cpu_per_gb_payload", "{:.3f}"),
            fig(entry, "produce_net_cpu_per_gb_stored", "{:.3f}"),
            fig(entry, "produce_net_cpu_per_gb_stored_vs_none", "{:.2f}"),
            fig(entry, "produce_net_cpu_per_gb_stored_vs_shaped", "{:.2f}"),
            fig(entry, "consume_mb_per_s", "{:.1f}"),
            fig(entry, "consume_net_cpu_per_gb_payload", "{:.3f}"),
            fig(entry, "consume_net_cpu_per_gb_stored", "{:.3f}"),
            fig(entry, "consume_net_cpu_per_gb_stored_vs_none", "{:.2f}"),
            "yes" if entry["stored_as_expected"] else "NO"]) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.environ.get("SKEIN_BIN", str(REPO / "target" / "release" / "skein")))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=300_000, help="1 KiB records per case and round")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=1 << 20,
                        help="the producer's batch.size in bytes (librdkafka counts it before "
                             "compression; default %(default)s)")
    parser.add_argument("--slow-divisor", type=int, default=5,
                        help="gzip and recompressing cases produce --records / this (default %(default)s)")
    parser.add_argument("--idle-s", type=float, default=3.0,
                        help="seconds of no load per round to measure the broker's idle CPU rate")
    parser.add_argument("--cases", default=DEFAULT_CASES,
                        help="comma-separated client codecs; `C>T` = client C into a topic with "
                             "compression.type=T (default %(default)s)")
    parser.add_argument("--shaped", action="store_true",
                        help="after each of lz4, zstd, snappy, run `none~C`: uncompressed records "
                             "as many stored bytes as C stored, in batches of C's stored size")
    parser.add_argument("--produce-only", action="store_true",
                        help="skip the consume phase (to profile the broker's produce path alone)")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the broker's data goes (default: a temp dir under target/)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    for case in cases:
        parse_case(case)

    rng = random.Random(args.seed)
    values = [event_value(rng) for _ in range(VALUE_POOL)]
    parent = args.data_dir or REPO / "target"
    parent.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="skein-compression-", dir=parent))
    broker = Broker(args.bin, base / "data")
    broker.data_dir.mkdir()
    rounds: list[dict[str, dict]] = []
    try:
        broker.start()
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        # Let start-up work (internal topics, the first metadata) settle before the
        # first idle measurement: it would otherwise count as idle CPU.
        time.sleep(args.idle_s)
        for round_no in range(args.rounds):
            shift = round_no % len(cases)
            row = {}
            idle_rate = idle_cpu_rate(broker, args.idle_s)
            for case in cases[shift:] + cases[:shift]:
                result = run_case(broker, admin, case, round_no, values, idle_rate, args)
                row[case] = result
                print(f"round {round_no + 1} {case}: " + json.dumps(result), flush=True)
                if args.shaped and case in SHAPED_CASES:
                    shaped = f"none~{case}"
                    row[shaped] = run_case(broker, admin, shaped, round_no, values, idle_rate, args,
                                           shape_of=result)
                    print(f"round {round_no + 1} {shaped}: " + json.dumps(row[shaped]), flush=True)
            rounds.append(row)
    finally:
        broker.stop()
        shutil.rmtree(base, ignore_errors=True)
    if args.shaped:
        cases += [f"none~{case}" for case in cases if case in SHAPED_CASES]
    summary = summarise(rounds, cases)
    print_table(summary)
    if args.json:
        config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "json"}
        args.json.write_text(json.dumps({"config": config, "rounds": rounds, "summary": summary}, indent=2))
    return 0 if all(entry["stored_as_expected"] for entry in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
