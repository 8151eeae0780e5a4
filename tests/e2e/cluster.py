"""A multi-node Skein cluster on loopback for end-to-end tests and benches.

Each node is one `skein serve --config node<ID>.properties` process started
from Kafka's KRaft properties, exactly as an operator would write them:

    node.id=2
    process.roles=broker,controller
    controller.quorum.voters=1@127.0.0.1:C1,2@127.0.0.1:C2,3@127.0.0.1:C3
    listeners=PLAINTEXT://127.0.0.1:P2,CONTROLLER://127.0.0.1:C2
    controller.listener.names=CONTROLLER
    log.dirs=<base>/node2/data
    broker.heartbeat.interval.ms=500
    broker.session.timeout.ms=3000

A broker-only node lists only its PLAINTEXT listener, a controller-only node
only its CONTROLLER listener; both keep the voters and
controller.listener.names. Every node gets its own free ports (client,
controller, admin HTTP via `--admin-listen`) and its own log file, which the
test report shows when a test fails.

What the tests observe they ask one node at a time with hand-encoded
requests (`metadata`, `describe_cluster`): a client library would send a
request to whichever broker it likes, and "what does node 3 say" is the
question. Everything else (creating topics, producing, consuming) goes
through real clients.

Waiting is always polling against a deadline (`Cluster.wait_for`), never a
fixed sleep; a wait that runs out says what it last saw. While waiting, a
node that exited without the test asking for it fails the wait at once.
`Cluster.close` stops every process, a paused one included.

With `proxied=True` the nodes talk to each other only through loopback TCP
proxies (tests/e2e/tcp_proxy.py), one in front of each node's controller
listener and one in front of its inter-broker listener, so a test can cut
one node off from the others (`Cluster.isolate`, `Cluster.heal`) while
clients keep reaching every node directly. Each broker then has a second
client listener, INTERNAL, for replication, advertised at its proxy:

    listeners=PLAINTEXT://127.0.0.1:P2,INTERNAL://127.0.0.1:I2,CONTROLLER://127.0.0.1:C2
    advertised.listeners=PLAINTEXT://127.0.0.1:P2,INTERNAL://127.0.0.1:<proxy of I2>
    listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT
    inter.broker.listener.name=INTERNAL
    controller.quorum.voters=1@127.0.0.1:<proxy of C1>,2@127.0.0.1:<proxy of C2>,...

Environment: SKEIN_BIN (see conftest.py); SKEIN_E2E_CORES, a `--cores` value
for every node (default: none passed).
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import kafka_wire as kw
from conftest import LOG_TAIL_BYTES, SKEIN_BIN, _die_with_parent, free_port
from tcp_proxy import TcpProxy

T = TypeVar("T")

INTERNAL_LISTENER = "INTERNAL"

COMBINED = "broker,controller"
BROKER = "broker"
CONTROLLER = "controller"

HEARTBEAT_INTERVAL_MS = 500
SESSION_TIMEOUT_MS = 3000
# How long one probe request may take: short, so a SIGSTOPped node (whose
# kernel still completes the TCP handshake) costs a poll little.
PROBE_TIMEOUT_S = 2.0
# From the first process start to every broker listing every broker.
FORM_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 30.0

API_METADATA = 3
API_DESCRIBE_CLUSTER = 60
API_DESCRIBE_QUORUM = 55
METADATA_VERSION = 9
DESCRIBE_CLUSTER_VERSION = 0

NOT_LEADER_OR_FOLLOWER = 6
INVALID_REPLICATION_FACTOR = 38

_correlation = iter(range(1, 1 << 31))
# Prefix of the lines the harness writes into a node's log.
HARNESS_LINE = "[cluster.py] "
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


# --------------------------------------------------------------------------
# What a node says: Metadata v9 and DescribeCluster v0, decoded by hand.

@dataclass(frozen=True)
class PartitionView:
    error_code: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    offline: tuple[int, ...]


@dataclass(frozen=True)
class TopicView:
    error_code: int
    partitions: dict[int, PartitionView]


@dataclass(frozen=True)
class MetadataView:
    """One node's Metadata response."""

    node_id: int  # who answered (the harness's node, not a wire field)
    cluster_id: str | None
    controller_id: int
    brokers: dict[int, tuple[str, int]]  # node_id -> (host, port)
    topics: dict[str, TopicView]

    def leaders(self, topic: str) -> dict[int, int]:
        return {p: v.leader for p, v in sorted(self.topics[topic].partitions.items())}


@dataclass(frozen=True)
class ClusterDescription:
    """One node's DescribeCluster response."""

    node_id: int
    error_code: int
    cluster_id: str | None
    controller_id: int
    brokers: dict[int, tuple[str, int]]


def _compact_array_len(r: kw.Reader) -> int:
    n = r.uvarint()
    return n - 1  # 0 encodes null: -1, no elements


def _int32_compact_array(r: kw.Reader) -> tuple[int, ...]:
    return tuple(r.i32() for _ in range(max(0, _compact_array_len(r))))


def _flexible_request(port: int, api_key: int, version: int, body: bytes,
                      timeout_s: float) -> kw.Reader:
    """Sends one request with header v2 on a fresh connection; returns a
    reader past the response header v1 (correlation id checked)."""
    correlation_id = next(_correlation)
    response = kw.request(port, kw.header_v2(api_key, version, correlation_id) + body, timeout_s)
    r = kw.Reader(response)
    got = r.i32()
    if got != correlation_id:
        raise ValueError(f"correlation id {got} in the response to {correlation_id}")
    r.tagged_fields()
    return r


def metadata(port: int, node_id: int, topics: list[str] | None = None,
             timeout_s: float = PROBE_TIMEOUT_S) -> MetadataView:
    """Metadata v9 from the broker on `port` (all topics when `topics` is
    None). Response body: throttle_time_ms INT32 | brokers COMPACT_ARRAY[
    node_id INT32 | host COMPACT_STRING | port INT32 | rack
    COMPACT_NULLABLE_STRING | TAGGED ] | cluster_id COMPACT_NULLABLE_STRING |
    controller_id INT32 | topics COMPACT_ARRAY[ error_code INT16 | name
    COMPACT_STRING | is_internal BOOLEAN | partitions COMPACT_ARRAY[
    error_code INT16 | partition_index INT32 | leader_id INT32 |
    leader_epoch INT32 | replica_nodes, isr_nodes, offline_replicas
    COMPACT_ARRAY[INT32] | TAGGED ] | topic_authorized_operations INT32 |
    TAGGED ] | cluster_authorized_operations INT32 | TAGGED.

    Raises OSError / kw.Closed when the node does not answer, ValueError
    when the answer is malformed."""
    r = _flexible_request(port, API_METADATA, METADATA_VERSION,
                          kw.metadata_v9_body(topics, allow_auto_topic_creation=False), timeout_s)
    r.i32()  # throttle_time_ms
    brokers = {}
    for _ in range(_compact_array_len(r)):
        broker_id = r.i32()
        host = r.compact_string()
        broker_port = r.i32()
        r.compact_string()  # rack
        r.tagged_fields()
        brokers[broker_id] = (host, broker_port)
    cluster_id = r.compact_string()
    controller_id = r.i32()
    topic_views = {}
    for _ in range(max(0, _compact_array_len(r))):
        topic_error = r.i16()
        name = r.compact_string()
        r.i8()  # is_internal
        partitions = {}
        for _ in range(max(0, _compact_array_len(r))):
            error_code = r.i16()
            index = r.i32()
            leader = r.i32()
            leader_epoch = r.i32()
            replicas = _int32_compact_array(r)
            isr = _int32_compact_array(r)
            offline = _int32_compact_array(r)
            r.tagged_fields()
            partitions[index] = PartitionView(error_code, leader, leader_epoch, replicas, isr, offline)
        r.i32()  # topic_authorized_operations
        r.tagged_fields()
        topic_views[name] = TopicView(topic_error, partitions)
    r.i32()  # cluster_authorized_operations
    r.tagged_fields()
    if r.remaining() != 0:
        raise ValueError(f"{r.remaining()} trailing bytes after a Metadata v9 response")
    return MetadataView(node_id, cluster_id, controller_id, brokers, topic_views)


@dataclass(frozen=True)
class QuorumDescription:
    """The metadata quorum as a broker's DescribeQuorum v0 answers it."""

    error_code: int
    leader_id: int
    leader_epoch: int
    high_watermark: int
    voters: dict[int, int]  # voter id -> its log end offset, as the leader knows it


def describe_quorum(port: int, timeout_s: float = PROBE_TIMEOUT_S) -> QuorumDescription:
    """DescribeQuorum v0 of `__cluster_metadata`-0 from the broker on
    `port`. Response body: error_code INT16 | topics COMPACT_ARRAY[
    topic_name COMPACT_STRING | partitions COMPACT_ARRAY[ partition_index
    INT32 | error_code INT16 | leader_id INT32 | leader_epoch INT32 |
    high_watermark INT64 | current_voters, observers COMPACT_ARRAY[
    replica_id INT32 | log_end_offset INT64 | TAGGED ] | TAGGED ] | TAGGED ]
    | TAGGED."""
    body = (kw.uvarint(2) + kw.compact_string("__cluster_metadata")
            + kw.uvarint(2) + kw.i32(0) + kw.uvarint(0) + kw.uvarint(0) + kw.uvarint(0))
    r = _flexible_request(port, API_DESCRIBE_QUORUM, 0, body, timeout_s)
    top_error = r.i16()
    if top_error != 0:
        return QuorumDescription(top_error, -1, -1, -1, {})
    if _compact_array_len(r) != 1:
        raise ValueError("DescribeQuorum answered other than the one topic asked")
    r.compact_string()  # topic_name
    if _compact_array_len(r) != 1:
        raise ValueError("DescribeQuorum answered other than the one partition asked")
    r.i32()  # partition_index
    error_code, leader_id, leader_epoch, high_watermark = r.i16(), r.i32(), r.i32(), r.i64()
    voters = {}
    for _ in range(max(0, _compact_array_len(r))):
        replica_id, log_end_offset = r.i32(), r.i64()
        r.tagged_fields()
        voters[replica_id] = log_end_offset
    return QuorumDescription(error_code, leader_id, leader_epoch, high_watermark, voters)


def describe_cluster(port: int, node_id: int, timeout_s: float = PROBE_TIMEOUT_S) -> ClusterDescription:
    """DescribeCluster v0 from the broker on `port`. Request body:
    include_cluster_authorized_operations BOOLEAN | TAGGED. Response body:
    throttle_time_ms INT32 | error_code INT16 | error_message
    COMPACT_NULLABLE_STRING | cluster_id COMPACT_STRING | controller_id INT32
    | brokers COMPACT_ARRAY[ broker_id INT32 | host COMPACT_STRING | port
    INT32 | rack COMPACT_NULLABLE_STRING | TAGGED ] |
    cluster_authorized_operations INT32 | TAGGED."""
    r = _flexible_request(port, API_DESCRIBE_CLUSTER, DESCRIBE_CLUSTER_VERSION,
                          kw.i8(0) + kw.TAGGED_FIELDS_EMPTY, timeout_s)
    r.i32()  # throttle_time_ms
    error_code = r.i16()
    r.compact_string()  # error_message
    cluster_id = r.compact_string()
    controller_id = r.i32()
    brokers = {}
    for _ in range(max(0, _compact_array_len(r))):
        broker_id = r.i32()
        host = r.compact_string()
        broker_port = r.i32()
        r.compact_string()  # rack
        r.tagged_fields()
        brokers[broker_id] = (host, broker_port)
    r.i32()  # cluster_authorized_operations
    r.tagged_fields()
    if r.remaining() != 0:
        raise ValueError(f"{r.remaining()} trailing bytes after a DescribeCluster v0 response")
    return ClusterDescription(node_id, error_code, cluster_id, controller_id, brokers)


# --------------------------------------------------------------------------
# Processes.

@dataclass
class Node:
    """One `skein serve` process of the cluster and how to (re)start it."""

    node_id: int
    roles: str
    client_port: int | None  # PLAINTEXT (a broker)
    controller_port: int | None  # CONTROLLER (a controller)
    admin_port: int
    data_dir: Path
    log_path: Path
    config_path: Path
    properties: dict[str, str]
    cores: str | None = None
    # The inter-broker listener's port (a proxied cluster only).
    internal_port: int | None = None
    proc: subprocess.Popen | None = None
    starts: int = 0
    paused: bool = False
    # The test stopped, killed or expects the exit of this process: the
    # liveness checks and teardown do not count its exit as a failure.
    exit_expected: bool = False

    @property
    def is_broker(self) -> bool:
        return BROKER in self.roles.split(",")

    @property
    def is_controller(self) -> bool:
        return CONTROLLER in self.roles.split(",")

    @property
    def port(self) -> int:
        """For conftest's failure report: the port that names this node."""
        return self.client_port if self.client_port is not None else self.controller_port

    @property
    def bootstrap(self) -> str:
        assert self.client_port is not None, f"node {self.node_id} ({self.roles}) serves no clients"
        return f"127.0.0.1:{self.client_port}"

    def argv(self) -> list[str]:
        argv = [str(SKEIN_BIN), "serve", "--config", str(self.config_path),
                "--admin-listen", f"127.0.0.1:{self.admin_port}"]
        if self.cores is not None:
            argv += ["--cores", self.cores]
        return argv

    @staticmethod
    def environment() -> dict[str, str]:
        """The caller's environment without SKEIN_* variables (skein reads
        SKEIN_NODE_ID and the like as properties: the file is the truth)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SKEIN_")}
        return {**env, "RUST_BACKTRACE": "1", "NO_COLOR": "1"}

    def write_config(self) -> None:
        lines = [f"# node {self.node_id} ({self.roles}), written by tests/e2e/cluster.py"]
        for key, value in self.properties.items():
            # Java properties: a backslash would start an escape.
            assert "\\" not in value and "\n" not in value, (key, value)
            lines.append(f"{key}={value}")
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        """Starts the process; returns at once (a cluster node is ready only
        once the cluster is: see Cluster.wait_ready)."""
        assert not self.alive(), f"node {self.node_id} is already running"
        self.write_config()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        self.paused = False
        self.exit_expected = False
        with open(self.log_path, "ab") as log:
            log.write(f"\n{HARNESS_LINE}start #{self.starts}: {' '.join(self.argv())}\n".encode())
            for line in self.config_path.read_text().splitlines():
                log.write(f"{HARNESS_LINE}{line}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.environment(), preexec_fn=_die_with_parent,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def kill(self) -> None:
        """kill -9: nothing flushed that was not already durable."""
        assert self.alive(), f"node {self.node_id} is not running"
        self.exit_expected = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
        self.paused = False

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing."""
        assert self.alive() and not self.paused, f"node {self.node_id} is not running unpaused"
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.alive() and self.paused, f"node {self.node_id} is not paused"
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> int:
        """SIGTERM (SIGCONT first if paused) and wait; returns the exit code.
        A process still running after timeout_s is killed and reported."""
        assert self.proc is not None, f"node {self.node_id} was never started"
        self.exit_expected = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.paused:
                self.proc.send_signal(signal.SIGCONT)
                self.paused = False
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"node {self.node_id} ignored SIGTERM for {timeout_s}s (log below)")
        return self.proc.returncode

    def wait_exit(self, timeout_s: float) -> int:
        """Waits for a process the test expects to exit by itself."""
        assert self.proc is not None
        self.exit_expected = True
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"node {self.node_id} still running after {timeout_s}s; "
                                 f"it was expected to exit (log below)") from None

    def log_text(self) -> str:
        """The whole log, colour codes removed."""
        try:
            return ANSI_ESCAPE.sub("", self.log_path.read_text(errors="replace"))
        except FileNotFoundError:
            return ""

    def log_of_last_start(self) -> str:
        text = self.log_text()
        marker = f"{HARNESS_LINE}start #{self.starts}:"
        return text[text.rfind(marker):] if marker in text else text

    def output_of_last_start(self) -> list[str]:
        """What the process itself wrote since its last start, line by line
        (the harness's own lines, e.g. the properties, left out)."""
        return [line for line in self.log_of_last_start().splitlines()
                if not line.startswith(HARNESS_LINE)]

    def log_tail(self) -> str:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return f"(no log for node {self.node_id})"
        if len(data) > LOG_TAIL_BYTES:
            data = b"...(truncated)...\n" + data[-LOG_TAIL_BYTES:]
        state = ("paused" if self.paused else "running") if self.alive() else f"exited {self.exit_code()}"
        return (f"----- node {self.node_id} ({self.roles}, {state}) log {self.log_path} -----\n"
                + ANSI_ESCAPE.sub("", data.decode(errors="replace")))


class Cluster:
    """Nodes 1..V are the voters (`combined` broker,controller nodes, then
    `controllers` controller-only ones), nodes V+1.. the `brokers`
    broker-only ones. `properties` are added to every node's file;
    `cluster_id` sets cluster.id on every node (per node: Node.properties).
    `proxied`: node-to-node traffic goes through proxies (module doc).
    `client_listener` names the brokers' client listener (PLAINTEXT: give
    another name with its protocol in `properties`' security protocol map
    for a SASL or SSL cluster, whose nodes the plaintext probes here then
    cannot ask)."""

    def __init__(self, base_dir: Path, *, combined: int = 0, controllers: int = 0,
                 brokers: int = 0, cluster_id: str | None = None,
                 properties: dict[str, str] | None = None, cores: str | None = None,
                 proxied: bool = False, client_listener: str = "PLAINTEXT"):
        assert combined + controllers >= 1, "a cluster needs at least one voter"
        self.base_dir = base_dir
        taken: set[int] = set()

        def port() -> int:
            p = listen_port(taken)
            taken.add(p)
            return p

        roles = [COMBINED] * combined + [CONTROLLER] * controllers + [BROKER] * brokers
        plan = []
        for i, role in enumerate(roles, start=1):
            is_broker = BROKER in role.split(",")
            is_controller = CONTROLLER in role.split(",")
            plan.append((i, role, port() if is_broker else None, port() if is_controller else None,
                         port() if is_broker and proxied else None))
        # (destination node id, "controller" | "internal") -> its proxy.
        self.proxies: dict[tuple[int, str], TcpProxy] = {}
        if proxied:
            for i, _, _, controller_port, internal_port in plan:
                for kind, target in (("controller", controller_port), ("internal", internal_port)):
                    if target is not None:
                        self.proxies[(i, kind)] = TcpProxy(
                            target, name=f"node{i}-{kind}", source_pids=self._node_pids,
                            port=port())
        self._isolated: int | None = None

        def peer_port(i: int, kind: str, direct: int) -> int:
            """What other nodes are told to connect to: the proxy, if any."""
            proxy = self.proxies.get((i, kind))
            return proxy.port if proxy is not None else direct

        voters = ",".join(f"{i}@127.0.0.1:{peer_port(i, 'controller', c)}"
                          for i, _, _, c, _ in plan if c is not None)
        self.nodes: dict[int, Node] = {}
        for i, role, client_port, controller_port, internal_port in plan:
            listeners = []
            advertised = []
            if client_port is not None:
                listeners.append(f"{client_listener}://127.0.0.1:{client_port}")
            if internal_port is not None:
                listeners.append(f"{INTERNAL_LISTENER}://127.0.0.1:{internal_port}")
                advertised = [f"PLAINTEXT://127.0.0.1:{client_port}",
                              f"{INTERNAL_LISTENER}://127.0.0.1:{peer_port(i, 'internal', internal_port)}"]
            if controller_port is not None:
                listeners.append(f"CONTROLLER://127.0.0.1:{controller_port}")
            node_dir = base_dir / f"node{i}"
            node_dir.mkdir(parents=True, exist_ok=True)
            props = {
                "node.id": str(i),
                "process.roles": role,
                "controller.quorum.voters": voters,
                "listeners": ",".join(listeners),
                "controller.listener.names": "CONTROLLER",
                "log.dirs": str(node_dir / "data"),
                "broker.heartbeat.interval.ms": str(HEARTBEAT_INTERVAL_MS),
                "broker.session.timeout.ms": str(SESSION_TIMEOUT_MS),
            }
            if proxied:
                props["listener.security.protocol.map"] = (
                    f"PLAINTEXT:PLAINTEXT,{INTERNAL_LISTENER}:PLAINTEXT,CONTROLLER:PLAINTEXT")
                if advertised:
                    props["advertised.listeners"] = ",".join(advertised)
                    props["inter.broker.listener.name"] = INTERNAL_LISTENER
            if cluster_id is not None:
                props["cluster.id"] = cluster_id
            props.update(properties or {})
            self.nodes[i] = Node(
                node_id=i, roles=role, client_port=client_port, controller_port=controller_port,
                admin_port=port(), data_dir=node_dir / "data", log_path=base_dir / f"node{i}.log",
                config_path=node_dir / f"node{i}.properties", properties=props,
                cores=cores if cores is not None else os.environ.get("SKEIN_E2E_CORES"),
                internal_port=internal_port,
            )

    # ---- selection

    def node(self, node_id: int) -> Node:
        return self.nodes[node_id]

    def broker_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.is_broker]

    def broker_ids(self) -> set[int]:
        return {n.node_id for n in self.broker_nodes()}

    def running_brokers(self) -> list[Node]:
        """Broker nodes whose process runs unpaused."""
        return [n for n in self.broker_nodes() if n.alive() and not n.paused]

    def bootstrap(self, nodes: Iterable[Node] | None = None) -> str:
        return ",".join(n.bootstrap for n in (nodes if nodes is not None else self.running_brokers()))

    def pin_nodes(self, per_node: str) -> None:
        """Gives the nodes their own `--cores`, one value per node in node
        order, comma-separated (`0,1,0`: three nodes on two cores), as
        docs/operations.md advises for several nodes on one machine."""
        values = per_node.split(",")
        assert len(values) == len(self.nodes), f"{per_node!r}: one --cores value per node"
        for node, cores in zip(self.nodes.values(), values):
            node.cores = cores

    # ---- lifecycle

    def start(self, node_ids: Iterable[int] | None = None) -> None:
        """Starts the given nodes (default: all) without waiting."""
        for i in (node_ids if node_ids is not None else self.nodes):
            self.nodes[i].start()

    # ---- network partitions (a proxied cluster)

    def _node_pids(self) -> list[int]:
        return [n.proc.pid for n in self.nodes.values() if n.alive()]

    def _node_of_pid(self, pid: int | None) -> int | None:
        for n in self.nodes.values():
            if pid is not None and n.proc is not None and n.proc.pid == pid:
                return n.node_id
        return None

    def isolate(self, node_id: int) -> None:
        """Cuts node `node_id` off from the other nodes, both ways: every
        proxy drops (and refuses) the connections that cross the cut, i.e.
        from the node to another one and from another one to it. Clients
        still reach every node directly. Until `heal`."""
        assert self.proxies, "isolate needs a Cluster(proxied=True)"
        assert self._isolated is None, f"node {self._isolated} is already cut off"
        self._isolated = node_id
        for (destination, _), proxy in self.proxies.items():
            inside = destination == node_id

            def crosses(pid: int | None, inside: bool = inside) -> bool:
                return (self._node_of_pid(pid) == node_id) != inside

            proxy.block(crosses)

    def heal(self) -> None:
        """Undoes `isolate`: every proxy forwards everything again."""
        self._isolated = None
        for proxy in self.proxies.values():
            proxy.heal()

    @property
    def isolated(self) -> int | None:
        """The node `isolate` cut off, if any."""
        return self._isolated

    def close(self) -> list[str]:
        """Stops every process: SIGTERM to all at once (SIGCONT to a paused
        one), then waits; kills what is left after SHUTDOWN_TIMEOUT_S; then
        closes the proxies. Returns one line per problem: a node that exited
        non-zero on SIGTERM, ignored it, or had died without the test asking."""
        try:
            return self._stop_processes()
        finally:
            for proxy in self.proxies.values():
                proxy.close()

    def _stop_processes(self) -> list[str]:
        problems = []
        for n in self.nodes.values():
            if n.proc is None:
                continue
            code = n.proc.poll()
            if code is not None:
                if not n.exit_expected:
                    problems.append(f"node {n.node_id} had exited with code {code} on its own")
                continue
            n.proc.send_signal(signal.SIGTERM)
            if n.paused:
                n.proc.send_signal(signal.SIGCONT)
                n.paused = False
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT_S
        for n in self.nodes.values():
            if n.proc is None or n.proc.returncode is not None:
                continue
            try:
                code = n.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                n.proc.kill()
                n.proc.wait()
                problems.append(f"node {n.node_id} ignored SIGTERM for {SHUTDOWN_TIMEOUT_S}s; killed")
                continue
            if code != 0 and not n.exit_expected:
                problems.append(f"node {n.node_id} exited with code {code} on SIGTERM")
            n.exit_expected = True
        return problems

    def check_alive(self) -> None:
        """Fails at once if nodes exited that the test did not stop,
        naming every one of them with the end of its output."""
        dead = [n for n in self.nodes.values()
                if n.proc is not None and not n.exit_expected and n.proc.poll() is not None]
        if not dead:
            return
        for n in dead:
            n.exit_expected = True  # reported here, not again at close()
        raise AssertionError("\n".join(
            f"node {n.node_id} ({n.roles}) exited with code {n.proc.returncode}; its last lines:\n"
            + "\n".join(n.output_of_last_start()[-8:]) for n in dead) + "\n(node logs below)")

    # ---- waiting

    def wait_for(self, what: str, probe: Callable[[], tuple[bool, T]], timeout_s: float,
                 interval_s: float = 0.1) -> tuple[T, float]:
        """Calls probe() until it returns (True, value); returns (value,
        seconds waited). A probe that raises OSError (the node does not
        answer) is retried. Fails with `what` and the last observation once
        timeout_s have passed, or at once if a node died."""
        start = time.monotonic()
        deadline = start + timeout_s
        last: object = "nothing observed"
        while True:
            self.check_alive()
            try:
                done, value = probe()
                if done:
                    return value, time.monotonic() - start
                last = value
            except (OSError, kw.Closed) as e:
                last = f"{type(e).__name__}: {e}"
            if time.monotonic() >= deadline:
                raise AssertionError(f"{what}: not within {timeout_s:.0f}s; last observed: {last}")
            time.sleep(interval_s)

    def metadata_from(self, nodes: Iterable[Node], topics: list[str] | None = None) -> dict[int, MetadataView]:
        return {n.node_id: metadata(n.client_port, n.node_id, topics) for n in nodes}

    def wait_ready(self, broker_ids: set[int] | None = None, asked: Iterable[Node] | None = None,
                   timeout_s: float = FORM_TIMEOUT_S) -> dict[int, MetadataView]:
        """Waits until Metadata from every node in `asked` (default: the
        running brokers) lists exactly `broker_ids` (default: their ids),
        each at its own client port, with one cluster id and a controller
        id; returns each node's Metadata."""
        asked = list(asked if asked is not None else self.running_brokers())
        assert asked, "no broker to ask"
        expected = broker_ids if broker_ids is not None else {n.node_id for n in asked}
        endpoints = {i: ("127.0.0.1", self.nodes[i].client_port) for i in expected}

        def probe():
            views = self.metadata_from(asked)
            seen = {i: (sorted(v.brokers), v.cluster_id, v.controller_id) for i, v in views.items()}
            ok = (all(v.brokers == endpoints for v in views.values())
                  and len({v.cluster_id for v in views.values()}) == 1
                  and all(v.cluster_id and v.controller_id >= 0 for v in views.values()))
            return ok, (views if ok else f"(brokers, cluster id, controller id) per node: {seen}")

        views, _ = self.wait_for(f"Metadata from nodes {[n.node_id for n in asked]} listing brokers "
                                 f"{sorted(expected)} with one cluster id", probe, timeout_s)
        return views

    def agreed_controller(self, asked: Iterable[Node], candidates: set[int], timeout_s: float,
                          interval_s: float = 0.1) -> tuple[int, float]:
        """Waits until DescribeCluster from every node in `asked` names the
        same controller, one of `candidates`; returns it and the wait."""
        asked = list(asked)

        def probe():
            said = {n.node_id: describe_cluster(n.client_port, n.node_id) for n in asked}
            ids = {d.controller_id for d in said.values()}
            ok = len(ids) == 1 and ids <= candidates and all(d.error_code == 0 for d in said.values())
            return ok, (ids.pop() if ok else {i: (d.error_code, d.controller_id) for i, d in said.items()})

        return self.wait_for(f"DescribeCluster from nodes {[n.node_id for n in asked]} naming one "
                             f"controller among {sorted(candidates)}", probe, timeout_s, interval_s)

    def log_tails(self) -> str:
        return "\n".join(n.log_tail() for n in self.nodes.values())


def _ephemeral_ports() -> tuple[int, int]:
    """The kernel's range of ports for the local end of outgoing
    connections (Linux default 32768-60999)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def listen_port(taken: set[int]) -> int:
    """A port for a node to listen on that nothing listens on now, outside
    the kernel's ephemeral range where it can: a port from that range, free
    when chosen, can be the local end of some client's connection by the
    time a node restarts on it (the restart then fails with "address in
    use"); one below it cannot. Not one of `taken`."""
    low, _ = _ephemeral_ports()
    rng = random.Random()
    for _ in range(200):
        candidate = rng.randrange(10000, low) if low > 11000 else free_port()
        if candidate in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
        return candidate
    raise AssertionError("no free port to listen on")


def kafka_cluster_id() -> str:
    """A cluster id as `kafka-storage random-uuid` prints it: a random UUID
    in URL-safe base64 without padding (22 characters)."""
    import base64
    import uuid
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def wait_port_closed(port: int, timeout_s: float) -> None:
    """Waits until nothing accepts connections on `port` (a killed node's
    socket is gone) so a restart does not race its predecessor."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                pass
        except OSError:
            return
        time.sleep(0.05)
    raise AssertionError(f"port {port} still accepts connections {timeout_s}s after its node died")
