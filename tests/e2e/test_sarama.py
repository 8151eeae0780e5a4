"""sarama (Go client, Debian's golang-github-shopify-sarama-dev 1.22.1) against
a real broker. The Go program in sarama/ (sarama_e2e.go, group.go) is built
by tests/run.sh, and by these tests when missing or older than its source.

- sarama_e2e <bootstrap> <topic> <partitions>: SyncProducer + partition
  Consumer; the program asserts exact read-back itself.
- sarama_e2e idempotent <bootstrap> <topic> <partitions>: an idempotent
  AsyncProducer (acks=all, one request in flight); the program asserts
  every acknowledgement's offset and the exact read-back itself.
- sarama_e2e group <bootstrap> <group> <topic> <name>: one ConsumerGroup
  member reporting its sessions and messages as JSON lines; the consumer
  group test runs two of them as separate processes.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

import clients
import kafka_wire as w
from clients import Msg, consume_partition, create_topic, unique_topic
from conftest import _die_with_parent

HERE = Path(__file__).resolve().parent
SOURCE_DIR = HERE / "sarama"
BINARY = Path(os.environ.get("SARAMA_E2E_BIN", HERE / ".deps" / "bin" / "sarama_e2e"))
BASE_TS = 1_700_000_000_000


def ensure_binary() -> Path:
    newest_source = max(f.stat().st_mtime for f in SOURCE_DIR.glob("*.go"))
    if BINARY.exists() and BINARY.stat().st_mtime >= newest_source:
        return BINARY
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOFLAGS": "",
           "GOCACHE": str(HERE / ".deps" / "gocache")}
    try:
        r = subprocess.run(["go", "build", "-o", str(BINARY), "."], cwd=SOURCE_DIR, env=env,
                           capture_output=True, timeout=600)
    except FileNotFoundError:
        pytest.fail("go not installed (tests/run.sh installs golang-go and golang-github-shopify-sarama-dev)")
    assert r.returncode == 0, f"building sarama_e2e failed:\n{r.stderr.decode()}"
    return BINARY


def expected_partition(p: int) -> list[Msg]:
    """Mirror of messageFor() in sarama_e2e.go."""
    return [
        Msg(p, i, f"sarama-key-{p}-{i}".encode(), f"sarama-value-{p}-{i}-".encode() + b"\x00\xff-binary",
            (("h-partition", str(p).encode()), ("h-index", str(i).encode()), ("h-empty", b"")),
            BASE_TS + p * 100000 + i * 1000)
        for i in range(6)
    ]


def test_sarama_sync_producer_and_consumer(broker):
    binary = ensure_binary()
    topic = unique_topic("sarama")
    create_topic(broker.bootstrap, topic, 3)
    r = subprocess.run([str(binary), broker.bootstrap, topic, "3"], capture_output=True, timeout=120)
    assert r.returncode == 0, f"sarama_e2e exited {r.returncode}\nstdout:\n{r.stdout.decode()}\nstderr:\n{r.stderr.decode()}"
    assert r.stdout.decode().strip() == "sarama ok: 18 messages"
    # librdkafka reads exactly what sarama wrote.
    for p in range(3):
        assert consume_partition(broker.bootstrap, topic, p, 0, expect_count=6) == expected_partition(p)


def test_sarama_idempotent_producer_writes_each_record_once_in_order(broker):
    binary = ensure_binary()
    topic = unique_topic("sarama-idem")
    create_topic(broker.bootstrap, topic, 3)
    r = subprocess.run([str(binary), "idempotent", broker.bootstrap, topic, "3"], capture_output=True,
                       timeout=120)
    assert r.returncode == 0, f"sarama_e2e exited {r.returncode}\nstdout:\n{r.stdout.decode()}\nstderr:\n{r.stderr.decode()}"
    assert r.stdout.decode().strip() == "sarama idempotent ok: 600 messages"
    for p in range(3):
        # The stored batches carry one producer id and sequences that start
        # at 0 and continue batch after batch, as the offsets do.
        # Read from the partition's leader: with SKEIN_E2E_NODES=3 the
        # fixture is a cluster, and the other nodes answer
        # NOT_LEADER_OR_FOLLOWER.
        cluster = getattr(broker, "cluster", None)
        ports = [n.client_port for n in cluster.broker_nodes()] if cluster else [broker.port]
        body = w.fetch_v4_body(topic, p, 0, max_bytes=4 << 20)
        answers = []
        for port in ports:
            [answer] = w.parse_fetch_v4(w.request(port, w.header_v1(w.FETCH, 4, 7) + body)[4:])
            answers.append(answer)
        led = [a for a in answers if a[2] != w.NOT_LEADER_OR_FOLLOWER]
        assert len(led) == 1, answers
        [(_, _, error_code, high_watermark, records)] = led
        assert (error_code, high_watermark) == (w.NONE, 200)
        headers = w.batch_headers(records)
        assert len(headers) > 1
        assert len({producer_id for _, _, _, producer_id, _ in headers}) == 1
        assert headers[0][3] >= 0
        assert [base_sequence for base_offset, _, _, _, base_sequence in headers] == [
            base_offset for base_offset, _, _, _, _ in headers]
        assert sum(count for _, _, count, _, _ in headers) == 200
        # librdkafka reads the same records.
        got = consume_partition(broker.bootstrap, topic, p, 0, expect_count=200)
        assert [(m.offset, m.key, m.value) for m in got] == [
            (i, f"idem-key-{p}-{i}".encode(), f"idem-value-{p}-{i}-".encode() + b"\x00\xff")
            for i in range(200)]


# ------------------------------------------------------------ consumer group

GROUP_SETTINGS = {"group.initial.rebalance.delay.ms": "0"}
PARTITIONS = 6
FIRST_PER_PARTITION = 100  # 600 records while both members run
LATER_PER_PARTITION = 10  # 60 more after one member left
# The takeover after a LeaveGroup must come well before group.go's session
# timeout (10 s), or the broker waited for the session to expire instead.
TAKEOVER_DEADLINE_S = 5.0
GROUP_DEADLINE_S = 15.0


class SaramaGroup:
    """`sarama_e2e group` member processes and everything they reported.

    A reader thread per process parses its stdout JSON lines into one queue;
    `until()` drains the queue into `events` (in arrival order) until a
    condition over them holds or a deadline passes."""

    def __init__(self, binary: Path, bootstrap: str, group: str, topic: str, log_dir: Path):
        self.argv = [str(binary), "group", bootstrap, group, topic]
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.queue: queue.Queue = queue.Queue()
        self.events: list[dict] = []

    def start(self, name: str, flags: tuple[str, ...] = ()) -> None:
        with open(self.log_dir / f"sarama-{name}.stderr", "wb") as err:
            proc = subprocess.Popen([*self.argv[:2], *flags, *self.argv[2:], name], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=err, preexec_fn=_die_with_parent)
        self.procs[name] = proc
        threading.Thread(target=self._read, args=(name, proc), daemon=True).start()

    def _read(self, name: str, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "unparsable", "member": name, "line": line.decode(errors="replace")}
            self.queue.put(event)
        self.queue.put({"event": "eof", "member": name})

    def leave(self, name: str) -> None:
        """End of stdin: the member ends its session (final commit), leaves
        the group (Close → LeaveGroup) and exits 0."""
        self.procs[name].stdin.close()

    def until(self, condition, what: str, timeout_s: float = GROUP_DEADLINE_S) -> float:
        """Returns the seconds it took for `condition()` to hold."""
        start = time.monotonic()
        deadline = start + timeout_s
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"sarama group: timed out after {timeout_s}s waiting for {what}\n"
                                     f"{self.summary()}")
            try:
                self.events.append(self.queue.get(timeout=min(left, 0.5)))
            except queue.Empty:
                pass
        return time.monotonic() - start

    def of(self, kind: str, member: str | None = None) -> list[dict]:
        return [e for e in self.events if e["event"] == kind and (member is None or e["member"] == member)]

    def exited(self, name: str) -> bool:
        return bool(self.of("eof", name)) and self.procs[name].poll() is not None

    def summary(self) -> str:
        lines = []
        for name, proc in self.procs.items():
            setups = [(e["generation"], e["claims"]) for e in self.of("setup", name)]
            stderr = (self.log_dir / f"sarama-{name}.stderr").read_text(errors="replace")[-2000:]
            lines.append(f"member {name}: exit code {proc.poll()}, setups (generation, claims) {setups}, "
                         f"{len(self.of('message', name))} messages, closed {bool(self.of('closed', name))}, "
                         f"errors {[e['error'] for e in self.of('error', name)]}, "
                         f"unparsable {[e['line'] for e in self.of('unparsable', name)]}, stderr: {stderr!r}")
        return "\n".join(lines)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if not proc.stdin.closed:
                proc.stdin.close()


def shared_generation(g: SaramaGroup, members: list[str]) -> tuple[int, dict[str, list[int]]] | None:
    """The latest generation in which every member ran Setup, with each
    member's claims in it."""
    by_generation: dict[int, dict[str, list[int]]] = {}
    for e in g.of("setup"):
        by_generation.setdefault(e["generation"], {})[e["member"]] = e["claims"] or []
    for generation in sorted(by_generation, reverse=True):
        if set(by_generation[generation]) == set(members):
            return generation, by_generation[generation]
    return None


def keyed_records(per_partition: int, first: int, tag: str) -> list[dict]:
    """Keyed records spread round-robin over the partitions, with binary
    bytes in the value."""
    out = []
    for i in range(first * PARTITIONS, (first + per_partition) * PARTITIONS):
        out.append({"key": f"{tag}-key-{i}".encode(),
                    "value": f"{tag}-value-{i}-".encode() + bytes([i % 256, 0, 255]),
                    "partition": i % PARTITIONS})
    return out


def record_set(delivered: list) -> list[tuple[int, int, bytes, bytes]]:
    return sorted((m.partition(), m.offset(), m.key(), m.value()) for m in delivered)


def consumed(events: list[dict]) -> list[tuple[int, int, bytes, bytes]]:
    return sorted((e["partition"], e["offset"], base64.b64decode(e.get("key", "")),
                   base64.b64decode(e.get("value", ""))) for e in events)


def assert_same_records(got: list, want: list, what: str) -> None:
    if got == want:
        return
    seen: dict = {}
    for r in got:
        seen[r] = seen.get(r, 0) + 1
    duplicated = sorted(r[:2] for r, n in seen.items() if n > 1)
    missing = sorted(r[:2] for r in set(want) - set(got))
    unexpected = sorted(r[:2] for r in set(got) - set(want))
    raise AssertionError(f"{what}: got {len(got)} records, want {len(want)}; (partition, offset) "
                         f"duplicated {duplicated[:20]}, missing {missing[:20]}, unexpected {unexpected[:20]}")


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int = PARTITIONS) -> dict[int, int]:
    a = clients.admin(bootstrap)
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])
    result = a.list_consumer_group_offsets([request])[group].result(clients.TIMEOUT_S)
    for tp in result.topic_partitions:
        assert tp.error is None, f"committed offset of {topic}/{tp.partition}: {tp.error}"
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def end_offsets(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> dict[int, int]:
    c = clients.consumer(bootstrap)
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=clients.TIMEOUT_S, cached=False)[1]
                for p in range(partitions)}
    finally:
        c.close()


@pytest.mark.timeout(90)
def test_sarama_consumer_group_shares_commits_and_takes_over(broker_factory, tmp_path):
    """Two sarama ConsumerGroup members (separate processes, V2_1_0_0) share
    six partitions, consume exactly what was produced, and commit it; one
    leaves, the other takes over every partition from the commits."""
    binary = ensure_binary()
    broker = broker_factory(GROUP_SETTINGS)
    topic = unique_topic("sarama-group")
    group = unique_topic("sarama-cg")
    create_topic(broker.bootstrap, topic, PARTITIONS)
    everything = set(range(PARTITIONS))

    g = SaramaGroup(binary, broker.bootstrap, group, topic, tmp_path)
    try:
        g.start("a")
        g.start("b")

        # Both members in one generation, with non-empty disjoint claims
        # that cover every partition.
        g.until(lambda: shared_generation(g, ["a", "b"]) is not None, "a generation with both members")
        generation, claims = shared_generation(g, ["a", "b"])
        print(f"sarama group {group} generation {generation} claims: a={claims['a']} b={claims['b']}")
        assert claims["a"] and claims["b"], f"a member got no partitions: {claims}"
        assert not set(claims["a"]) & set(claims["b"]), f"overlapping claims: {claims}"
        assert set(claims["a"]) | set(claims["b"]) == everything, f"claims miss partitions: {claims}"

        # 600 keyed records; together the members read exactly those.
        first = clients.produce(broker.bootstrap, topic, keyed_records(FIRST_PER_PARTITION, 0, "first"))
        want_first = record_set(first)
        g.until(lambda: len(g.of("message")) >= len(want_first), f"{len(want_first)} records consumed")
        for e in g.of("message"):
            assert e["generation"] == generation, f"rebalance while both members ran: {e}\n{g.summary()}"
            assert e["partition"] in claims[e["member"]], f"{e['member']} read a partition it did not claim: {e}"
        for name in ("a", "b"):
            assert len(g.of("message", name)) == FIRST_PER_PARTITION * len(claims[name]), g.summary()

        # b leaves: its session ends with a final commit, then LeaveGroup.
        g.leave("b")
        g.until(lambda: g.exited("b"), "member b to leave and exit")
        assert g.procs["b"].returncode == 0 and g.of("closed", "b"), g.summary()
        # The leave rebalances at once: a sets up a newer generation with
        # every partition, long before b's session could have expired.
        takeover_s = g.until(
            lambda: any(e["generation"] > generation and set(e["claims"] or []) == everything
                        for e in g.of("setup", "a")),
            "member a to take over every partition", timeout_s=TAKEOVER_DEADLINE_S)
        takeover = [e for e in g.of("setup", "a") if e["generation"] > generation][-1]
        print(f"sarama group {group} generation {takeover['generation']} claims: a={takeover['claims']} "
              f"({takeover_s:.2f}s after b exited)")
        # Both members committed what they read: b before leaving, a when its
        # previous session ended.
        assert not g.of("error"), g.summary()
        committed = committed_offsets(broker.bootstrap, group, topic)
        assert committed == {p: FIRST_PER_PARTITION for p in everything}, f"committed {committed}\n{g.summary()}"

        # a reads exactly the records produced after the takeover, starting
        # at the committed offsets of b's former partitions too.
        later = clients.produce(broker.bootstrap, topic,
                                keyed_records(LATER_PER_PARTITION, FIRST_PER_PARTITION, "later"))
        want_all = sorted(want_first + record_set(later))
        g.until(lambda: len(g.of("message")) >= len(want_all), f"{len(want_all)} records consumed in all")

        g.leave("a")
        g.until(lambda: g.exited("a"), "member a to leave and exit")
        assert g.procs["a"].returncode == 0 and g.of("closed", "a"), g.summary()
    finally:
        g.stop_all()

    assert not g.of("error") and not g.of("unparsable"), g.summary()
    # Exact contents over the whole run, including anything that arrived
    # after the counts were reached: no loss, no duplicates.
    assert_same_records(consumed(g.of("message")), want_all, "records consumed by the group")
    later_events = g.of("message")[len(want_first):]
    assert all(e["member"] == "a" and e["generation"] == takeover["generation"] for e in later_events), g.summary()
    # Committed offsets are exactly the end offsets.
    ends = end_offsets(broker.bootstrap, topic)
    assert ends == {p: FIRST_PER_PARTITION + LATER_PER_PARTITION for p in everything}
    assert committed_offsets(broker.bootstrap, group, topic) == ends


@pytest.mark.timeout(60)
def test_sarama_consumer_group_default_commit_version(broker_factory, tmp_path):
    """sarama's default commit path (Consumer.Offsets.Retention 0 →
    OffsetCommit v1, a version Kafka 4 dropped and Skein serves again); the
    test above commits with v2. The committed offset is exactly the one
    consumed."""
    binary = ensure_binary()
    broker = broker_factory(GROUP_SETTINGS)
    topic = unique_topic("sarama-v1")
    group = unique_topic("sarama-cg-v1")
    create_topic(broker.bootstrap, topic, 1)
    g = SaramaGroup(binary, broker.bootstrap, group, topic, tmp_path)
    try:
        g.start("solo", ("--commit-v1",))
        g.until(lambda: any(e["claims"] == [0] for e in g.of("setup")), "member solo to claim partition 0")
        delivered = clients.produce(broker.bootstrap, topic, [{"key": b"k", "value": b"v", "partition": 0}])
        g.until(lambda: len(g.of("message")) >= 1, "the record to be consumed")
        g.leave("solo")
        g.until(lambda: g.exited("solo"), "member solo to leave and exit")
    finally:
        g.stop_all()
    assert not g.of("error") and g.procs["solo"].returncode == 0, g.summary()
    assert consumed(g.of("message")) == record_set(delivered)
    assert committed_offsets(broker.bootstrap, group, topic, 1) == {0: 1}
