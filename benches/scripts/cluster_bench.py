"""Figures of a three-node Skein cluster on loopback (issue 13's closing
note), measured with the e2e harness (tests/e2e/cluster.py): three combined
broker,controller nodes from Kafka's KRaft properties,
broker.heartbeat.interval.ms=500, broker.session.timeout.ms=3000.

  elect   kill -9 the active controller, then ask the survivors with
          DescribeCluster every 50 ms: the time from the kill to the first
          answer naming another (surviving) controller. The killed node is
          restarted and the cluster settles before the next run. Median,
          min and max of --runs runs.
  fence   SIGSTOP a broker that is not the active controller, then ask
          another node for Metadata every 50 ms: the time from the SIGSTOP
          to the first answer that no longer lists it. SIGCONT, wait until
          it is listed again, repeat (--fence-runs).
  rate    --topics topics of one partition (replication factor 3) created
          by --clients concurrent AdminClients, one topic per CreateTopics
          request, so one quorum commit each: topics/s, and metadata
          records/s counting the two records a topic is at least (its
          TopicRecord and one PartitionRecord).
  size    --churn topic creations then as many deletions (1 partition,
          replication factor --churn-rf, 50 topics a request, --clients
          concurrent clients); then the size of every node's
          <log.dirs>/__skein_metadata (quorum log, snapshots) file by file.

Usage (SKEIN_BIN as for the e2e tests, default target/release/skein):
  tests/e2e/.deps/venv/bin/python benches/scripts/cluster_bench.py
  tests/e2e/.deps/venv/bin/python benches/scripts/cluster_bench.py --only elect --runs 10
  tests/e2e/.deps/venv/bin/python benches/scripts/cluster_bench.py --only size --churn 10000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from cluster import Cluster, describe_cluster, metadata, wait_port_closed  # noqa: E402

POLL_S = 0.05
SETTLE_TIMEOUT_S = 60.0
MEASURE_TIMEOUT_S = 60.0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def summary(name: str, samples: list[float]) -> None:
    print(f"{name}: median {ms(statistics.median(samples))}, min {ms(min(samples))}, "
          f"max {ms(max(samples))} over {len(samples)} runs "
          f"({', '.join(ms(s) for s in samples)})")


def settle(cluster: Cluster) -> int:
    """Every node lists every broker and names one controller; returns it."""
    cluster.wait_ready({1, 2, 3}, timeout_s=SETTLE_TIMEOUT_S)
    controller, _ = cluster.agreed_controller(cluster.broker_nodes(), {1, 2, 3}, SETTLE_TIMEOUT_S)
    return controller


def first_time(what: str, check, timeout_s: float = MEASURE_TIMEOUT_S) -> float:
    """Polls check() every POLL_S from now; returns the monotonic time of
    the first True (a node that does not answer counts as not yet)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return time.monotonic()
        except OSError:
            pass
        time.sleep(POLL_S)
    raise SystemExit(f"{what}: not within {timeout_s}s")


def elect(cluster: Cluster, runs: int) -> None:
    samples = []
    for run in range(runs):
        old = settle(cluster)
        victim = cluster.node(old)
        survivors = [n for n in cluster.broker_nodes() if n is not victim]
        alive = {n.node_id for n in survivors}

        def new_controller() -> bool:
            for n in survivors:
                try:
                    d = describe_cluster(n.client_port, n.node_id, timeout_s=1.0)
                except OSError:
                    continue
                if d.error_code == 0 and d.controller_id in alive:
                    return True
            return False

        killed_at = time.monotonic()
        victim.kill()
        elected_at = first_time(f"run {run}: a new controller after kill -9 of {old}", new_controller)
        samples.append(elected_at - killed_at)
        print(f"  run {run}: controller {old} killed, another active after {ms(samples[-1])}", flush=True)
        wait_port_closed(victim.client_port, 10)
        wait_port_closed(victim.controller_port, 10)
        victim.start()
    settle(cluster)
    summary("elect (kill -9 of the active controller -> DescribeCluster names another)", samples)


def fence(cluster: Cluster, runs: int) -> None:
    samples = []
    for run in range(runs):
        controller = settle(cluster)
        candidates = [n for n in cluster.broker_nodes() if n.node_id != controller]
        paused = candidates[run % len(candidates)]
        asked = cluster.node(controller)

        def not_listed() -> bool:
            return paused.node_id not in metadata(asked.client_port, asked.node_id, [], 1.0).brokers

        stopped_at = time.monotonic()
        paused.pause()
        fenced_at = first_time(f"run {run}: node {paused.node_id} fenced", not_listed)
        samples.append(fenced_at - stopped_at)
        print(f"  run {run}: node {paused.node_id} paused, unlisted after {ms(samples[-1])}", flush=True)
        paused.resume()
    settle(cluster)
    summary("fence (SIGSTOP -> Metadata no longer lists the broker)", samples)


def create_concurrently(bootstrap: str, names: list[str], clients: int, per_request: int,
                        replication_factor: int) -> float:
    """Creates `names` from `clients` threads, each with its own
    AdminClient, `per_request` topics per CreateTopics; returns seconds."""
    errors: list[str] = []

    def work(part: list[str]) -> None:
        a = AdminClient({"bootstrap.servers": bootstrap})
        for i in range(0, len(part), per_request):
            chunk = part[i:i + per_request]
            futures = a.create_topics([NewTopic(n, 1, replication_factor) for n in chunk],
                                      operation_timeout=30, request_timeout=60)
            for name, f in futures.items():
                try:
                    f.result(60)
                except Exception as e:  # reported below, the bench goes on
                    errors.append(f"{name}: {e}")

    start = time.perf_counter()
    run_threads(work, names, clients)
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} creations failed, first: {errors[0]}")
    return elapsed


def delete_concurrently(bootstrap: str, names: list[str], clients: int, per_request: int) -> float:
    errors: list[str] = []

    def work(part: list[str]) -> None:
        a = AdminClient({"bootstrap.servers": bootstrap})
        for i in range(0, len(part), per_request):
            futures = a.delete_topics(part[i:i + per_request], operation_timeout=30, request_timeout=60)
            for name, f in futures.items():
                try:
                    f.result(60)
                except Exception as e:
                    errors.append(f"{name}: {e}")

    start = time.perf_counter()
    run_threads(work, names, clients)
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} deletions failed, first: {errors[0]}")
    return elapsed


def run_threads(work, names: list[str], clients: int) -> None:
    threads = [threading.Thread(target=work, args=(names[i::clients],)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def rate(cluster: Cluster, topics: int, clients: int) -> None:
    settle(cluster)
    prefix = f"rate-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-{i}" for i in range(topics)]
    elapsed = create_concurrently(cluster.bootstrap(), names, clients, 1, 3)
    print(f"rate: {topics} topics (1 partition, RF 3) by {clients} clients in {elapsed:.2f} s = "
          f"{topics / elapsed:.0f} topics/s, >= {2 * topics / elapsed:.0f} metadata records/s")


def size(cluster: Cluster, churn: int, clients: int, replication_factor: int) -> None:
    settle(cluster)
    prefix = f"churn-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-{i}" for i in range(churn)]
    created = create_concurrently(cluster.bootstrap(), names, clients, 50, replication_factor)
    deleted = delete_concurrently(cluster.bootstrap(), names, clients, 50)
    print(f"size: {churn} topics created in {created:.1f} s, deleted in {deleted:.1f} s")
    for n in cluster.nodes.values():
        directory = n.data_dir / "__skein_metadata"
        files = sorted(p for p in directory.rglob("*") if p.is_file())
        total = sum(p.stat().st_size for p in files)
        listing = ", ".join(f"{p.relative_to(directory)} {p.stat().st_size}" for p in files)
        print(f"  node {n.node_id}: {total / 1e6:.2f} MB in {directory} ({listing})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="elect,fence,rate,size",
                        help="comma-separated subset of elect,fence,rate,size")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--fence-runs", type=int, default=5)
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--churn", type=int, default=10_000)
    parser.add_argument("--churn-rf", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra property for every node")
    parser.add_argument("--dir", help="keep the nodes' data and logs here (default: a temp dir)")
    args = parser.parse_args()
    only = set(args.only.split(","))
    extra = dict(item.split("=", 1) for item in args.set)
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="skein-cluster-bench-"))
    cluster = Cluster(base, combined=3, properties=extra)
    print(f"nodes' data and logs in {base}", flush=True)
    try:
        cluster.start()
        settle(cluster)
        if "elect" in only:
            elect(cluster, args.runs)
        if "fence" in only:
            fence(cluster, args.fence_runs)
        if "rate" in only:
            rate(cluster, args.topics, args.clients)
        if "size" in only:
            size(cluster, args.churn, args.clients, args.churn_rf)
    except BaseException:
        print(cluster.log_tails()[-20000:], file=sys.stderr)
        raise
    finally:
        for problem in cluster.close():
            print(f"shutdown: {problem}", file=sys.stderr)


if __name__ == "__main__":
    main()
