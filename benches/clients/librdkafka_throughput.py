#!/usr/bin/env python3
"""Produce and catch-up consume throughput of one broker with librdkafka
(through confluent-kafka), as a real client sees it.

    python3 benches/clients/librdkafka_throughput.py --bootstrap 127.0.0.1:9092 \
        --record-bytes 1024 --partitions 8 --records 1000000 --acks all

Creates a fresh topic, produces --records records of --record-bytes bytes
spread round-robin over its partitions (linger.ms=5, batch.size=1 MiB, no
compression, as rdkafka_performance's defaults), waits for every delivery
report, then consumes the whole topic from the beginning with assign() and
reports records/s and MB/s for both phases as one JSON line. Errors in
delivery reports are counted; a non-zero count fails the run.

With --broker-pid (a broker on this machine), the broker's CPU time
(utime + stime from /proc/PID/stat) is sampled around each phase and
reported as core-seconds and core-seconds per GB of payload (issue 18's
"CPU per GB" figure for the produce phase). --produce-only skips the
consume phase.
"""
import argparse
import json
import os
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of process `pid` so far, or None without a pid."""
    if pid is None:
        return None
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else round(after - before, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--record-bytes", type=int, default=1024)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--acks", default="all")
    parser.add_argument("--linger-ms", type=int, default=5)
    parser.add_argument("--broker-pid", type=int, help="report this process's CPU time per phase")
    parser.add_argument("--produce-only", action="store_true", help="skip the consume phase")
    args = parser.parse_args()

    topic = f"tput-{args.record_bytes}b-{args.partitions}p-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    for future in admin.create_topics([NewTopic(topic, args.partitions, 1)]).values():
        future.result(30)

    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "acks": args.acks,
        "linger.ms": args.linger_ms,
        "batch.size": 1 << 20,
        "queue.buffering.max.kbytes": 1 << 20,
        "queue.buffering.max.messages": 1_000_000,
        "enable.idempotence": False,
    })
    errors = 0

    def report(err, _msg):
        nonlocal errors
        if err is not None:
            errors += 1

    payload = b"x" * args.record_bytes
    producer.list_topics(topic, timeout=30)  # connected before the clock starts
    produce_cpu_before = cpu_seconds(args.broker_pid)
    started = time.perf_counter()
    for i in range(args.records):
        while True:
            try:
                producer.produce(topic, payload, partition=i % args.partitions, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.001)
        if i % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(120)
    produce_s = time.perf_counter() - started
    produce_cpu = delta(cpu_seconds(args.broker_pid), produce_cpu_before)
    if remaining:
        errors += remaining
    megabytes = args.records * args.record_bytes / 1e6
    gigabytes = megabytes / 1e3
    produced = {
        "topic": topic,
        "record_bytes": args.record_bytes,
        "partitions": args.partitions,
        "records": args.records,
        "acks": args.acks,
        "produce_records_per_s": round(args.records / produce_s),
        "produce_mb_per_s": round(megabytes / produce_s, 1),
        "produce_broker_cpu_s": produce_cpu,
        "produce_broker_cpu_per_gb": None if produce_cpu is None else round(produce_cpu / gigabytes, 3),
    }
    if args.produce_only:
        print(json.dumps({**produced, "delivery_errors": errors}))
        return 0 if errors == 0 else 1

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "unused-assign-only",
        "enable.auto.commit": False,
        "fetch.max.bytes": 64 << 20,
        "max.partition.fetch.bytes": 8 << 20,
        "fetch.wait.max.ms": 100,
    })
    consumer.assign([TopicPartition(topic, p, 0) for p in range(args.partitions)])
    consumed = 0
    consume_cpu_before = cpu_seconds(args.broker_pid)
    consume_started = time.perf_counter()
    deadline = consume_started + 300
    while consumed < args.records and time.perf_counter() < deadline:
        batch = consumer.consume(num_messages=10_000, timeout=1.0)
        for message in batch:
            if message.error() is None:
                consumed += 1
    consume_s = time.perf_counter() - consume_started
    consume_cpu = delta(cpu_seconds(args.broker_pid), consume_cpu_before)
    consumer.close()

    print(json.dumps({
        **produced,
        "consume_records_per_s": round(consumed / consume_s),
        "consume_mb_per_s": round(consumed * args.record_bytes / 1e6 / consume_s, 1),
        "consumed": consumed,
        "consume_broker_cpu_s": consume_cpu,
        "consume_broker_cpu_per_gb": None if consume_cpu is None else round(consume_cpu / gigabytes, 3),
        "delivery_errors": errors,
    }))
    return 0 if errors == 0 and consumed == args.records else 1


if __name__ == "__main__":
    sys.exit(main())
