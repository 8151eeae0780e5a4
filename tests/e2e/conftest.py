"""Fixtures that run the real `skein serve` binary for end-to-end tests.

`broker` starts one broker per test on a free 127.0.0.1 port with a fresh
data directory; `broker_factory` starts brokers with extra `--set` settings
or `--cores`. On teardown each broker gets SIGTERM and must exit with code 0
within SHUTDOWN_TIMEOUT_S. When a test fails, the broker's stdout/stderr log
is attached to the failure report.

Environment:
  SKEIN_BIN         path of the skein binary (default <repo>/target/release/skein)
  SKEIN_E2E_CORES   value for --cores for every broker (default: not passed)
  SKEIN_E2E_BUDGET_S  wall-clock budget of the whole session in seconds
                    (default 1800); tests that would start later fail at
                    once, so a broker that hangs cannot run CI out of time
  SKEIN_E2E_NODES   3 runs every `broker` as a cluster of three combined
                    nodes (tests/e2e/cluster.py) with topics replicated 3
                    times and min.insync.replicas=2: the client suites then
                    run against a cluster (by hand; CI runs one node). A test
                    that needs one broker's files skips itself.
  SKEIN_E2E_CONTROLLERS  with SKEIN_E2E_NODES=3, `dedicated` makes the
                    cluster three controller-only nodes and three
                    broker-only ones (Kafka's production layout) instead of
                    three combined nodes.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKEIN_BIN = Path(os.environ.get("SKEIN_BIN", REPO / "target" / "release" / "skein"))
STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 30.0
LOG_TAIL_BYTES = 64 * 1024
SESSION_BUDGET_S = float(os.environ.get("SKEIN_E2E_BUDGET_S", "1800"))
E2E_NODES = int(os.environ.get("SKEIN_E2E_NODES", "1"))
E2E_LAYOUT = ({"controllers": 3, "brokers": 3}
              if os.environ.get("SKEIN_E2E_CONTROLLERS") == "dedicated" else {"combined": 3})
# What every topic of a SKEIN_E2E_NODES=3 run gets, so that its records are
# really replicated and acks=all waits for a follower.
CLUSTER_MODE_PROPERTIES = {
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
}
_SESSION_START = time.monotonic()


def _die_with_parent() -> None:
    """Runs in the child before exec: PR_SET_PDEATHSIG(SIGKILL), so a broker
    never outlives a pytest that was killed (e.g. by an outer timeout)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Broker:
    """One running `skein serve` process and how to restart it in place."""

    port: int
    data_dir: Path
    log_path: Path
    settings: dict[str, str] = field(default_factory=dict)
    cores: str | None = None
    # A --config file that names the listeners and log.dirs itself: then
    # neither --listen nor --data-dir is passed.
    config_file: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Another skein binary than SKEIN_BIN (an older release, for upgrades).
    binary: Path | None = None
    # The admin HTTP port (/metrics, /health); None: the binary's default.
    admin_port: int | None = None
    proc: subprocess.Popen | None = None
    starts: int = 0
    # Set when the last start() failed; that failure is already reported.
    start_failed: bool = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        binary = str(self.binary or SKEIN_BIN)
        if self.config_file is not None:
            argv = [binary, "serve", "--config", str(self.config_file)]
        else:
            argv = [binary, "serve", "--listen", self.bootstrap, "--data-dir", str(self.data_dir)]
        for key, value in self.settings.items():
            argv += ["--set", f"{key}={value}"]
        if self.cores is not None:
            argv += ["--cores", self.cores]
        if self.admin_port is not None:
            argv += ["--admin-listen", f"127.0.0.1:{self.admin_port}"]
        return argv

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts}: {' '.join(self.argv())}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            self.argv(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "RUST_BACKTRACE": "1", **self.env}, preexec_fn=_die_with_parent,
        )
        log.close()
        self.start_failed = True
        self.wait_listening()
        self.start_failed = False

    def wait_listening(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise AssertionError(
                    f"skein exited with code {code} before accepting connections (broker log below)"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"skein did not accept connections within {STARTUP_TIMEOUT_S}s (broker log below)")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int:
        """Graceful stop: SIGTERM, wait; returns the exit code (and kills
        the process if it ignores SIGTERM, returning None-equivalent -9)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"skein ignored SIGTERM for {SHUTDOWN_TIMEOUT_S}s (broker log below)")
        return self.proc.returncode

    def kill(self) -> None:
        """Crash stop: SIGKILL, nothing flushed that was not already durable."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=SHUTDOWN_TIMEOUT_S)

    def restart(self, kill: bool = False) -> None:
        """Stops the broker (SIGTERM, asserting exit code 0; or SIGKILL when
        kill=True) and starts it again on the same port and data dir."""
        if kill:
            self.kill()
        else:
            code = self.stop()
            assert code == 0, f"skein exited with code {code} on SIGTERM (broker log below)"
        self.start()

    def log_tail(self) -> str:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return "(no broker log)"
        if len(data) > LOG_TAIL_BYTES:
            data = b"...(truncated)...\n" + data[-LOG_TAIL_BYTES:]
        return f"----- broker log {self.log_path} -----\n" + data.decode(errors="replace")


def pytest_runtest_setup(item):
    elapsed = time.monotonic() - _SESSION_START
    if elapsed > SESSION_BUDGET_S:
        pytest.fail(f"e2e session budget of {SESSION_BUDGET_S:.0f}s used up ({elapsed:.0f}s); not started")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for broker in getattr(item, "_skein_brokers", []):
            report.sections.append((f"skein broker log (port {broker.port})", broker.log_tail()))


class ClusterBroker:
    """A cluster of three combined nodes (or three controllers and three
    brokers: SKEIN_E2E_CONTROLLERS=dedicated) behind the `Broker` interface
    (SKEIN_E2E_NODES=3). `port` and `bootstrap` are the first broker's
    client address; restart/kill act on every node. Anything that reads
    one broker's files skips the test."""

    def __init__(self, base_dir: Path, settings: dict[str, str]):
        from cluster import Cluster  # cluster.py imports this module

        self.settings = settings
        self.cluster = Cluster(base_dir, **E2E_LAYOUT,
                               properties={**CLUSTER_MODE_PROPERTIES, **settings})
        self.first = self.cluster.broker_nodes()[0]
        self.port = self.first.client_port
        self.start_failed = False
        self.proc = self  # the fixture's teardown checks proc.poll()
        self.returncode = 0

    @property
    def bootstrap(self) -> str:
        # One address, as the single-broker tests hand it to clients (some
        # harness scripts take exactly one host:port); clients find the
        # other nodes through Metadata.
        return self.first.bootstrap

    @property
    def data_dir(self) -> Path:
        pytest.skip("reads one broker's data dir (SKEIN_E2E_NODES=3)")

    def start(self) -> None:
        self.start_failed = True
        self.cluster.start()
        self.cluster.wait_ready(self.cluster.broker_ids())

        # The active controller creates __consumer_offsets once every broker
        # is unfenced: a single broker has it from its first answer, and the
        # group tests assume so.
        def offsets_topic_led():
            views = self.cluster.metadata_from(self.cluster.broker_nodes(), ["__consumer_offsets"])
            topics = [v.topics.get("__consumer_offsets") for v in views.values()]
            ok = all(t is not None and t.error_code == 0 and t.partitions
                     and all(p.leader >= 0 for p in t.partitions.values()) for t in topics)
            return ok, topics

        self.cluster.wait_for("__consumer_offsets led on every node", offsets_topic_led, 60)
        self.start_failed = False

    def poll(self) -> int | None:
        return None if self.alive() else self.returncode

    def alive(self) -> bool:
        return all(n.alive() for n in self.cluster.nodes.values())

    def stop(self) -> int:
        problems = self.cluster.close()
        assert not problems, "; ".join(problems)
        return 0

    def kill(self) -> None:
        for n in self.cluster.nodes.values():
            n.kill()

    def restart(self, kill: bool = False) -> None:
        if kill:
            self.kill()
        else:
            self.stop()
        self.start()

    def log_tail(self) -> str:
        return "\n".join(n.log_tail() for n in self.cluster.nodes.values())


@pytest.fixture
def broker_factory(request, tmp_path):
    """Returns start(settings=None, cores=None, config_file=None, env=None,
    port=None, binary=None, admin_port=None) -> Broker. A config_file must name the listeners
    (on `port`) and log.dirs itself; `binary` runs another skein than
    SKEIN_BIN (set `broker.binary = None` to restart it with SKEIN_BIN). Every broker it starts is stopped with SIGTERM at
    teardown and must exit 0."""
    if not SKEIN_BIN.exists():
        pytest.fail(f"skein binary not found at {SKEIN_BIN} (build it or set SKEIN_BIN)")
    brokers: list[Broker] = []
    request.node._skein_brokers = brokers

    def start(settings: dict[str, str] | None = None, cores: str | None = None,
              config_file=None, env: dict[str, str] | None = None, port: int | None = None,
              binary: Path | None = None, admin_port: int | None = None) -> Broker:
        n = len(brokers)
        if E2E_NODES == 3:
            if (config_file is not None or binary is not None or port is not None or cores
                    or admin_port is not None):
                pytest.skip("starts a broker with its own config file, binary, port, cores or "
                            "admin port (SKEIN_E2E_NODES=3)")
            c = ClusterBroker(tmp_path / f"cluster{n}", dict(settings or {}))
            brokers.append(c)
            c.start()
            return c
        assert E2E_NODES == 1, f"SKEIN_E2E_NODES={E2E_NODES}: only 1 or 3"
        # Nested so that hostile relative names ("../../x") resolved against
        # the data dir still land inside tmp_path, where tests can look.
        data_dir = tmp_path / f"broker{n}" / "a" / "b" / "data"
        data_dir.mkdir(parents=True)
        b = Broker(
            port=port or free_port(), data_dir=data_dir, log_path=tmp_path / f"broker{n}.log",
            settings=dict(settings or {}), cores=cores or os.environ.get("SKEIN_E2E_CORES"),
            config_file=config_file, env=dict(env or {}), binary=binary, admin_port=admin_port,
        )
        brokers.append(b)
        b.start()
        return b

    yield start

    errors = []
    for b in brokers:
        if b.proc is None or b.start_failed:
            if b.proc is not None and b.proc.poll() is None:
                b.proc.kill()
                b.proc.wait()
            continue
        if b.proc.poll() is not None and b.proc.returncode != 0:
            errors.append(f"broker on port {b.port} had already exited with code {b.proc.returncode}")
            continue
        try:
            code = b.stop()
        except AssertionError as e:
            errors.append(str(e))
            continue
        if code != 0:
            errors.append(f"broker on port {b.port} exited with code {code} on SIGTERM")
    if errors:
        pytest.fail("\n".join(errors) + " (broker log below)")


@pytest.fixture
def broker(broker_factory) -> Broker:
    """One broker with default settings."""
    return broker_factory()


def pytest_report_header(config):
    return f"skein binary: {SKEIN_BIN} (exists: {SKEIN_BIN.exists()})"


def which_or_fail(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not on PATH (tests/run.sh installs it)")
    return path
