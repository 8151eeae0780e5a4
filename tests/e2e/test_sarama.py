"""sarama (Go client, Debian's golang-github-shopify-sarama-dev) against a
real broker. The Go program sarama/sarama_e2e.go asserts exact read-back
itself; tests/run.sh builds it, and this test builds it too when missing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from clients import Msg, consume_partition, create_topic, unique_topic

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "sarama" / "sarama_e2e.go"
BINARY = Path(os.environ.get("SARAMA_E2E_BIN", HERE / ".deps" / "bin" / "sarama_e2e"))
BASE_TS = 1_700_000_000_000


def ensure_binary() -> Path:
    if BINARY.exists() and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return BINARY
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode",
           "GOCACHE": str(HERE / ".deps" / "gocache")}
    try:
        r = subprocess.run(["go", "build", "-o", str(BINARY), str(SOURCE)], env=env,
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
