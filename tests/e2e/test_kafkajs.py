"""kafkajs (pure JavaScript client) against a real broker.

The node script (node/kafkajs_e2e.mjs) asserts what kafkajs itself sees;
this wrapper then reads what kafkajs wrote with librdkafka, byte for byte.
kafkajs has no consumer outside consumer groups; its read-back
(`group-consume`) goes through the broker's group coordinator.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from clients import Msg, consume_partition, unique_topic
from conftest import which_or_fail

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = NODE_DIR / "kafkajs_e2e.mjs"


def run_node(mode: str, broker, topic: str, out: Path) -> None:
    if not (NODE_DIR / "node_modules" / "kafkajs").is_dir():
        pytest.fail(f"kafkajs not installed: run `npm ci` in {NODE_DIR} (tests/run.sh does)")
    argv = [which_or_fail("node"), str(SCRIPT), mode, broker.bootstrap, topic, str(out)]
    r = subprocess.run(argv, cwd=NODE_DIR, capture_output=True, timeout=120)
    assert r.returncode == 0, (
        f"{' '.join(argv)} exited {r.returncode}\nstdout:\n{r.stdout.decode()}\nstderr:\n{r.stderr.decode()}"
    )
    assert r.stdout.decode().strip().endswith(f"kafkajs {mode} ok"), r.stdout


def sent_messages(out: Path) -> dict[int, list[Msg]]:
    by_partition: dict[int, list[Msg]] = {}
    for m in json.loads(out.read_text()):
        p = m["partition"]
        msgs = by_partition.setdefault(p, [])
        msgs.append(Msg(p, len(msgs), m["key"].encode(), bytes.fromhex(m["value_hex"]),
                        tuple((k, v.encode()) for k, v in m["headers"]), m["timestamp"]))
    return by_partition


def test_kafkajs_produce_admin_and_offsets(broker, tmp_path):
    topic = unique_topic("kjs")
    out = tmp_path / "kafkajs-sent.json"
    run_node("produce", broker, topic, out)
    by_partition = sent_messages(out)
    assert sorted(by_partition) == [0, 1, 2]
    for p, want in by_partition.items():
        assert len(want) == 5
        assert consume_partition(broker.bootstrap, topic, p, 0, expect_count=len(want)) == want


def test_kafkajs_group_consumer_reads_back_exactly(broker, tmp_path):
    topic = unique_topic("kjsgrp")
    out = tmp_path / "kafkajs-sent.json"
    run_node("produce", broker, topic, out)
    run_node("group-consume", broker, topic, out)
