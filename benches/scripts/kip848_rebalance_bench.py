"""Rebalance time of the consumer group protocol (KIP-848,
`group.protocol=consumer`) against the classic protocol, in the same run,
with librdkafka (confluent-kafka) against a running `skein serve`.

One round: N members of a fresh group share a topic of P partitions and are
stable; then one more member subscribes. Measured from its subscribe() to
the moment every member's on_assign/on_revoke callbacks say the P
partitions are all owned, balanced within one, the new member included
("all stable, as the members see it"), and then to DescribeGroups /
ConsumerGroupDescribe reporting the group Stable with N+1 members.

Usage:
  python benches/scripts/kip848_rebalance_bench.py 127.0.0.1:9092 [N] [P] [ROUNDS] [CLASSIC_HB_MS]

CLASSIC_HB_MS sets the classic members' heartbeat.interval.ms (librdkafka's
default 3000); KIP-848 members heartbeat at the broker's
group.consumer.heartbeat.interval.ms (5000; to compare at 500 ms start the
broker with --set group.consumer.min.heartbeat.interval.ms=500
--set group.consumer.heartbeat.interval.ms=500).

Prints one line per round and the medians per protocol. The broker's
heartbeat settings decide most of the figure for both protocols (the
classic members learn of a rebalance at their next heartbeat, KIP-848
members of their new target at theirs): quote them with the result.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic


CLASSIC_HEARTBEAT_MS: int | None = None


class Owners:
    def __init__(self) -> None:
        self.owner: dict[int, str] = {}

    def assign(self, name: str, partitions) -> None:
        for tp in partitions:
            self.owner[tp.partition] = name

    def revoke(self, name: str, partitions) -> None:
        for tp in partitions:
            if self.owner.get(tp.partition) == name:
                del self.owner[tp.partition]

    def balanced(self, names: list[str], partitions: int) -> bool:
        counts = [sum(1 for m in self.owner.values() if m == n) for n in names]
        return len(self.owner) == partitions and max(counts) - min(counts) <= 1 and min(counts) > 0


def member(bootstrap: str, protocol: str, group: str, topic: str, name: str,
           owners: Owners) -> Consumer:
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": name,
        "group.protocol": protocol,
        "enable.auto.commit": False,
    }
    if protocol == "classic" and CLASSIC_HEARTBEAT_MS:
        conf["heartbeat.interval.ms"] = CLASSIC_HEARTBEAT_MS
    c = Consumer(conf)
    c.subscribe(
        [topic],
        on_assign=lambda _c, ps: owners.assign(name, ps),
        on_revoke=lambda _c, ps: owners.revoke(name, ps),
        on_lost=lambda _c, ps: owners.revoke(name, ps),
    )
    return c


def poll_until(consumers: list[Consumer], predicate, timeout_s: float = 120.0) -> None:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise TimeoutError("group did not stabilise")
        for c in consumers:
            c.poll(0.01)


def described_stable(admin: AdminClient, group: str, members: int) -> bool:
    d = admin.describe_consumer_groups([group])[group].result(10)
    return d.state.name == "STABLE" and len(d.members) == members and all(
        m.assignment.topic_partitions for m in d.members)


def one_round(bootstrap: str, admin: AdminClient, protocol: str, topic: str,
              n: int, partitions: int) -> tuple[float, float]:
    group = f"rb-{protocol}-{uuid.uuid4().hex[:8]}"
    owners = Owners()
    names = [f"m{i}" for i in range(n)]
    consumers = [member(bootstrap, protocol, group, topic, name, owners) for name in names]
    poll_until(consumers, lambda: owners.balanced(names, partitions))
    poll_until(consumers, lambda: described_stable(admin, group, n))
    start = time.monotonic()
    names.append(f"m{n}")
    consumers.append(member(bootstrap, protocol, group, topic, names[-1], owners))
    poll_until(consumers, lambda: owners.balanced(names, partitions))
    owned = time.monotonic() - start
    poll_until(consumers, lambda: described_stable(admin, group, n + 1))
    stable = time.monotonic() - start
    for c in consumers:
        c.close()
    return owned, stable


def main() -> None:
    bootstrap = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    partitions = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    global CLASSIC_HEARTBEAT_MS
    CLASSIC_HEARTBEAT_MS = int(sys.argv[5]) if len(sys.argv) > 5 else None
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = f"rb-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(10)
    time.sleep(1)
    results: dict[str, list[tuple[float, float]]] = {"classic": [], "consumer": []}
    for r in range(rounds):
        # Interleaved, so both protocols see the same broker state.
        for protocol in ("classic", "consumer"):
            owned, stable = one_round(bootstrap, admin, protocol, topic, n, partitions)
            results[protocol].append((owned, stable))
            print(f"round {r} {protocol:8} join of member {n + 1}: all partitions owned and "
                  f"balanced in {owned * 1000:.0f} ms, group Stable in {stable * 1000:.0f} ms",
                  flush=True)
    for protocol, rs in results.items():
        owned = statistics.median(o for o, _ in rs)
        stable = statistics.median(s for _, s in rs)
        print(f"median {protocol:8} members {n}->{n + 1}, {partitions} partitions: "
              f"owned+balanced {owned * 1000:.0f} ms, Stable {stable * 1000:.0f} ms "
              f"({len(rs)} rounds)")


if __name__ == "__main__":
    main()
