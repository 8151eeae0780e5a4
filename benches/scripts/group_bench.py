"""Consumer-group figures against a running `skein serve` (librdkafka via
confluent-kafka):

  rebalance N   time from one of N members leaving (close() returned) to
                the group being Stable again with N-1 members, as
                DescribeGroups reports it
  commits N S   synchronous OffsetCommits per second from N consumers (one
                group each, so commits spread over __consumer_offsets
                partitions) for S seconds

Usage:
  python benches/scripts/group_bench.py 127.0.0.1:9092 rebalance 3
  python benches/scripts/group_bench.py 127.0.0.1:9092 commits 100 10

Start the broker with `--set group.initial.rebalance.delay.ms=0`.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def member(bootstrap: str, group: str, topic: str) -> Consumer:
    c = Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
        "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
    })
    c.subscribe([topic])
    return c


def describe(admin: AdminClient, group: str):
    return admin.describe_consumer_groups([group])[group].result(10)


def rebalance(bootstrap: str, n: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic, group = f"rb-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 2 * n, 1)])[topic].result(10)
    members = [member(bootstrap, group, topic) for _ in range(n)]
    stop = threading.Event()

    def poller(c: Consumer) -> None:
        while not stop.is_set():
            c.poll(0.05)

    threads = {id(c): threading.Thread(target=poller, args=(c,)) for c in members}
    for t in threads.values():
        t.start()

    def stable_with(count: int) -> bool:
        d = describe(admin, group)
        return d.state.name == "STABLE" and len(d.members) == count and all(
            m.assignment.topic_partitions for m in d.members)

    while not stable_with(n):
        time.sleep(0.01)
    leaving = members.pop()
    # Stop its poller, then leave.
    stop_one = threads.pop(id(leaving))
    stop.set()
    stop_one.join()
    for t in threads.values():
        t.join()
    stop.clear()
    threads = {id(c): threading.Thread(target=poller, args=(c,)) for c in members}
    for t in threads.values():
        t.start()
    leaving.close()
    left = time.monotonic()
    while not stable_with(n - 1):
        time.sleep(0.005)
    elapsed = time.monotonic() - left
    print(f"rebalance members={n}: leave -> Stable with {n - 1} members in {elapsed * 1000:.0f} ms")
    stop.set()
    for t in threads.values():
        t.join()
    for c in members:
        c.close()


def commits(bootstrap: str, n: int, seconds: float) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = f"cm-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    consumers = [Consumer({"bootstrap.servers": bootstrap, "group.id": f"cg-{i}-{uuid.uuid4().hex[:6]}",
                           "enable.auto.commit": False}) for i in range(n)]
    counts = [0] * n
    deadline = time.monotonic() + 1 + seconds
    start = time.monotonic() + 1

    def run(i: int) -> None:
        c = consumers[i]
        offset = 0
        while time.monotonic() < deadline:
            offset += 1
            c.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
            if time.monotonic() >= start:
                counts[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(counts)
    print(f"commits consumers={n}: {total / seconds:.0f} synchronous commits/s over {seconds:.0f} s")
    for c in consumers:
        c.close()


if __name__ == "__main__":
    bootstrap, what = sys.argv[1], sys.argv[2]
    if what == "rebalance":
        rebalance(bootstrap, int(sys.argv[3]))
    else:
        commits(bootstrap, int(sys.argv[3]), float(sys.argv[4]))
