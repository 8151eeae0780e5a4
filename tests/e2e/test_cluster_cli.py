"""The cluster's admin surface on one node: `skein cluster` (brokers,
controller and the metadata quorum from DescribeCluster and DescribeQuorum),
`skein topic describe` in kafka-topics' layout, and ElectLeaders from
librdkafka's admin client.

A single node is its own controller and the quorum's only voter: the
quorum leader is the node, its high watermark is past the records of its
own registration, and it lags nothing behind itself. Every partition has
one replica, its preferred leader, so a preferred election is never needed.
"""

from __future__ import annotations

import json
import re
import subprocess

from confluent_kafka import ElectionType, KafkaError, TopicPartition

from clients import TIMEOUT_S, admin, create_topic, produce, unique_topic
from conftest import SKEIN_BIN

NODE_ID = 0


def cli(broker, *args: str) -> str:
    """Runs `skein ARGS -b BOOTSTRAP` and returns its stdout; fails on a
    non-zero exit."""
    run = subprocess.run(
        [str(SKEIN_BIN), *args, "--bootstrap-servers", broker.bootstrap],
        capture_output=True, text=True, timeout=TIMEOUT_S,
    )
    assert run.returncode == 0, f"skein {' '.join(args)} exited {run.returncode}: {run.stderr}"
    return run.stdout


def test_cluster_shows_the_node_as_broker_controller_and_quorum_leader(broker):
    status = json.loads(cli(broker, "cluster", "--format", "json"))
    assert len(status["cluster_id"]) == 22
    assert status["controller_id"] == NODE_ID
    assert [(b["id"], b["host"], b["port"]) for b in status["brokers"]] == [
        (NODE_ID, "127.0.0.1", broker.port)
    ]
    quorum = status["quorum"]
    assert quorum["leader_id"] == NODE_ID
    assert quorum["leader_epoch"] >= 1
    # The registration and unfencing of the broker are committed records.
    assert quorum["high_watermark"] >= 2
    [voter] = quorum["voters"]
    assert voter["id"] == NODE_ID
    assert voter["log_end_offset"] == quorum["high_watermark"]
    assert quorum["observers"] == []

    table = cli(broker, "cluster")
    assert f"Cluster id:  {status['cluster_id']}\n" in table
    assert f"Controller:  {NODE_ID}\n" in table
    assert re.search(rf"^{NODE_ID}\s+127\.0\.0\.1\s+{broker.port}$", table, re.M), table
    assert f"Quorum leader:   {NODE_ID}\n" in table
    # NODE ROLE LOG-END-OFFSET LAG: the leader, at its own log end, lag 0.
    row = re.search(rf"^{NODE_ID}\s+leader\s+(\d+)\s+(\d+)$", table, re.M)
    assert row, table
    assert int(row.group(1)) >= quorum["high_watermark"]
    assert row.group(2) == "0"


def test_topic_describe_shows_leader_epoch_replicas_and_isr_per_partition(broker):
    topic = unique_topic("describe")
    create_topic(broker.bootstrap, topic, partitions=2, config={"retention.ms": "60000"})
    produce(broker.bootstrap, topic, [{"value": b"a", "partition": 1}, {"value": b"b", "partition": 1}])
    out = cli(broker, "topic", "describe", topic)
    lines = out.splitlines()
    assert lines[0] == (
        f"Topic: {topic}\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: retention.ms=60000"
    ), out
    for partition, high_watermark in [(0, 0), (1, 2)]:
        fields = dict(f.split(": ", 1) for f in lines[1 + partition].strip("\t").split("\t"))
        assert fields["Topic"] == topic
        assert fields["Partition"] == str(partition)
        assert fields["Leader"] == str(NODE_ID)
        assert int(fields["LeaderEpoch"]) >= 0
        assert fields["Replicas"] == str(NODE_ID)
        assert fields["Isr"] == str(NODE_ID)
        assert fields["HighWatermark"] == str(high_watermark)


def test_preferred_election_of_a_partition_led_by_its_preferred_replica_is_not_needed(broker):
    topic = unique_topic("elect")
    create_topic(broker.bootstrap, topic, partitions=2)
    a = admin(broker.bootstrap)
    asked = [TopicPartition(topic, 0), TopicPartition(topic, 1), TopicPartition(topic, 7)]
    # (No keyword arguments: confluent-kafka 2.16's binding refuses them.)
    results = a.elect_leaders(ElectionType.PREFERRED, asked).result(TIMEOUT_S)
    # Each partition maps to its KafkaError (None for success).
    codes = {tp.partition: (err.code() if err is not None else 0) for tp, err in results.items()}
    assert codes == {
        0: KafkaError.ELECTION_NOT_NEEDED,
        1: KafkaError.ELECTION_NOT_NEEDED,
        7: KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
    # A partition with a live leader needs no unclean election either.
    results = a.elect_leaders(ElectionType.UNCLEAN, [TopicPartition(topic, 0)]).result(TIMEOUT_S)
    [(tp, err)] = results.items()
    assert (tp.topic, tp.partition) == (topic, 0)
    assert err is not None and err.code() == KafkaError.ELECTION_NOT_NEEDED
    # Every partition (null): none needed an election, so none is listed.
    assert a.elect_leaders(ElectionType.PREFERRED, None).result(TIMEOUT_S) == {}
    # Nothing moved: the node still leads every partition.
    md = a.list_topics(topic=topic, timeout=TIMEOUT_S)
    assert all(p.leader == NODE_ID for p in md.topics[topic].partitions.values())
