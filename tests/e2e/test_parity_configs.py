"""Kafka parity found by real clients' own tests: the Fetch response bound,
list configs, configs Kafka accepts without effect, and the broker's
DescribeConfigs. Each test names the client behaviour it stands for."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
from kafka.admin import ConfigResource as KpConfigResource
from kafka.admin import ConfigResourceType as KpConfigResourceType
from kafka.admin import KafkaAdminClient

from clients import TIMEOUT_S, admin, consumer, create_topic, kafka_error_code, produce, unique_topic


def describe(a, resource_type, name: str) -> dict:
    res = ConfigResource(resource_type, name)
    return a.describe_configs([res], request_timeout=TIMEOUT_S)[res].result(TIMEOUT_S)


def incremental(a, topic: str, *entries: ConfigEntry) -> None:
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=list(entries))
    a.incremental_alter_configs([res])[res].result(TIMEOUT_S)


def test_fetch_max_bytes_bounds_the_response_as_librdkafka_test_0082_expects(broker):
    """librdkafka's 0082_fetch_max_bytes: a partition limit (20 MB) far above
    the response limit (1 MB). Kafka bounds the whole response by fetch.max.bytes,
    so every ~900 KiB message arrives; a broker that answers with the partition
    limit makes librdkafka loop on "Invalid response size" and read nothing."""
    topic = unique_topic()
    partitions, per_partition, size = 3, 10, 900 * 1024
    create_topic(broker.bootstrap, topic, partitions)
    messages = [
        {"partition": p, "key": f"{p}-{i}".encode(), "value": bytes([65 + i]) * size}
        for p in range(partitions) for i in range(per_partition)
    ]
    produce(broker.bootstrap, topic, messages, **{"linger.ms": 0})
    c = consumer(
        broker.bootstrap,
        **{
            "max.partition.fetch.bytes": 20_000_000,
            "fetch.max.bytes": 1_000_000,
            "receive.message.max.bytes": 1_000_512,
            "enable.partition.eof": False,
        },
    )
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        got: dict[tuple[int, int], bytes] = {}
        deadline = time.monotonic() + 60
        while len(got) < len(messages) and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, f"consumer error: {m.error()}"
            got[(m.partition(), m.offset())] = m.value()
    finally:
        c.close()
    assert len(got) == len(messages), f"read {len(got)} of {len(messages)} messages"
    for p in range(partitions):
        for i in range(per_partition):
            assert got[(p, i)] == bytes([65 + i]) * size


def test_cleanup_policy_is_a_list_for_incremental_append_and_subtract(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    incremental(a, topic, ConfigEntry("cleanup.policy", "compact",
                                      incremental_operation=AlterConfigOpType.APPEND))
    assert describe(a, ResourceType.TOPIC, topic)["cleanup.policy"].value == "compact,delete"
    incremental(a, topic, ConfigEntry("cleanup.policy", "delete",
                                      incremental_operation=AlterConfigOpType.SUBTRACT))
    assert describe(a, ResourceType.TOPIC, topic)["cleanup.policy"].value == "compact"
    # APPEND of what is there already changes nothing.
    incremental(a, topic, ConfigEntry("cleanup.policy", "compact",
                                      incremental_operation=AlterConfigOpType.APPEND))
    assert describe(a, ResourceType.TOPIC, topic)["cleanup.policy"].value == "compact"
    # Not a list: refused with INVALID_CONFIG, the topic unchanged.
    with pytest.raises(KafkaException) as e:
        incremental(a, topic, ConfigEntry("retention.ms", "5",
                                          incremental_operation=AlterConfigOpType.APPEND))
    assert kafka_error_code(e.value) == KafkaError.INVALID_CONFIG
    # Subtracting the last item leaves no valid policy: refused.
    with pytest.raises(KafkaException) as e:
        incremental(a, topic, ConfigEntry("cleanup.policy", "compact",
                                          incremental_operation=AlterConfigOpType.SUBTRACT))
    assert kafka_error_code(e.value) == KafkaError.INVALID_CONFIG
    assert describe(a, ResourceType.TOPIC, topic)["cleanup.policy"].value == "compact"


def test_alter_configs_with_configs_kafka_3_accepts_without_effect(broker):
    """kafka-python's AlterConfigs (the non-incremental API) with
    message.format.version and message.downconversion.enable, as tools written
    for Kafka 2.x/3.x send them: answered, stored and described."""
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    kp = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:
        resource = KpConfigResource(KpConfigResourceType.TOPIC, topic, configs={
            "message.format.version": "2.8-IV1",
            "message.downconversion.enable": "false",
            "retention.ms": "3600000",
        })
        result = kp.alter_configs([resource], raise_on_unknown=False, incremental=False)
        assert {k: {n: str(v) for n, v in r.items()} for k, r in result.items()} == \
            {"topic": {topic: "OK"}}, result
    finally:
        kp.close()
    configs = describe(admin(broker.bootstrap), ResourceType.TOPIC, topic)
    assert configs["message.format.version"].value == "2.8-IV1"
    assert configs["message.downconversion.enable"].value == "false"
    assert configs["retention.ms"].value == "3600000"
    # A value of the wrong type is still refused.
    a = admin(broker.bootstrap)
    with pytest.raises(KafkaException) as e:
        incremental(a, topic, ConfigEntry("message.downconversion.enable", "maybe",
                                          incremental_operation=AlterConfigOpType.SET))
    assert kafka_error_code(e.value) == KafkaError.INVALID_CONFIG


def test_describe_broker_configs_lists_listeners_and_log_dirs(broker):
    a = admin(broker.bootstrap)
    configs = describe(a, ResourceType.BROKER, "0")
    assert configs["listeners"].value == f"PLAINTEXT://{broker.bootstrap}"
    assert configs["log.dirs"].value == str(broker.data_dir)
    assert configs["fetch.max.bytes"].value == "57671680"
    assert "advertised.listeners" in configs
    assert configs["message.max.bytes"].value == "1048588"


def test_a_property_without_effect_starts_the_broker_with_one_warning(broker_factory):
    b = broker_factory({"log.preallocate": "true", "log.flush.interval.messages": "1",
                        "replica.socket.timeout.ms": "10000"})
    a = admin(b.bootstrap)
    configs = describe(a, ResourceType.BROKER, "0")
    assert configs["log.preallocate"].value == "true"
    log = b.log_path.read_text()
    assert log.count("log.preallocate is accepted but has no effect") == 1, log[-4000:]
    assert log.count("log.flush.interval.messages is accepted but has no effect") == 1
    # A Kafka property outside Skein's own table: described as set.
    assert log.count("replica.socket.timeout.ms is accepted but has no effect") == 1
    assert configs["replica.socket.timeout.ms"].value == "10000"
    assert configs["num.replica.fetchers"].value == "1"  # Kafka's default


def test_describe_log_dirs_and_alter_replica_log_dirs_with_kafka_python(broker):
    """kafka-python's describe_log_dirs / alter_replica_log_dirs, the calls
    behind Kafka's kafka-log-dirs.sh and reassignment tools."""
    from kafka import TopicPartitionReplica

    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 2)
    produce(broker.bootstrap, topic, [{"partition": 0, "value": b"x" * 1000} for _ in range(10)])
    kp = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
    try:
        described = kp.describe_log_dirs({topic: [0, 1, 7]})
        assert [d["broker"] for d in described] == [0]
        (log_dir,) = described[0]["log_dirs"]
        assert log_dir["error_code"] == 0
        assert log_dir["log_dir"] == str(broker.data_dir.resolve())
        assert log_dir["total_bytes"] > 0 and 0 < log_dir["usable_bytes"] <= log_dir["total_bytes"]
        (t,) = log_dir["topics"]
        assert t["name"] == topic
        sizes = {p["partition_index"]: p["partition_size"] for p in t["partitions"]}
        # Partition 7 does not exist: left out. Ten 1000-byte records are in 0.
        assert sorted(sizes) == [0, 1]
        assert sizes[0] > 10_000 and sizes[1] == 0

        moved = kp.alter_replica_log_dirs({
            TopicPartitionReplica(topic, 0, 0): str(broker.data_dir.resolve()),
            TopicPartitionReplica(topic, 1, 0): "/no/such/dir",
        })
        codes = {tpr.partition: err.errno for tpr, err in moved.items()}
        assert codes == {0: 0, 1: 57}  # NONE, LOG_DIR_NOT_FOUND
    finally:
        kp.close()


KRAFT_SERVER_PROPERTIES = """\
############################# Server Basics #############################
# The role of this server. Setting this puts us in KRaft mode
process.roles=broker,controller
# The node id associated with this instance's roles
node.id=1
# List of controller endpoints used connect to the controller cluster
controller.quorum.bootstrap.servers=localhost:{controller_port}
############################# Socket Server Settings #############################
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
############################# Log Basics #############################
log.dirs={log_dirs}
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
"""


def test_starts_from_kafkas_kraft_server_properties_and_docker_style_environment(
        broker_factory, tmp_path):
    """Kafka 4's config/server.properties (a combined KRaft node) as it is,
    with the settings a docker deployment passes as environment variables."""
    from conftest import free_port

    port, controller_port = free_port(), free_port()
    log_dirs = tmp_path / "kraft-combined-logs"
    path = tmp_path / "server.properties"
    path.write_text(KRAFT_SERVER_PROPERTIES.format(
        port=port, controller_port=controller_port, log_dirs=log_dirs))
    b = broker_factory(config_file=path, port=port, env={
        "SKEIN_NUM_PARTITIONS": "3",
        "SKEIN_LOG_RETENTION_MINUTES": "90",
        "SKEIN_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    })
    a = admin(b.bootstrap)
    configs = describe(a, ResourceType.BROKER, "1")
    assert configs["node.id"].value == "1"
    assert configs["num.partitions"].value == "3"
    # minutes beat hours (both set), as in Kafka.
    assert configs["log.retention.ms"].value == str(90 * 60_000)
    assert configs["log.dirs"].value == str(log_dirs)
    assert configs["listeners"].value == \
        f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"
    # A topic auto-created through the client listener gets num.partitions
    # from the environment and is stored under the file's log.dirs.
    topic = unique_topic()
    produce(b.bootstrap, topic, [{"value": b"v"}])
    md = a.list_topics(topic, timeout=TIMEOUT_S)
    assert len(md.topics[topic].partitions) == 3
    assert md.brokers[1].port == port
    assert (log_dirs / f"{topic}-0").is_dir()
    log = b.log_path.read_text()
    for name in ["num.network.threads", "num.io.threads"]:
        assert f"{name} is accepted but has no effect" in log, name
    # Implemented now that a cluster places __consumer_offsets' replicas and
    # the transaction coordinator creates __transaction_state.
    for name in ["offsets.topic.replication.factor", "transaction.state.log.replication.factor"]:
        assert f"{name} is accepted but has no effect" not in log, name
    assert "controller listener not opened" in log


@pytest.mark.parametrize("setting, message", [
    # A controller (node.id 0) that is not one of the voters.
    ({"controller.quorum.voters": "1@localhost:9093,2@localhost:9094,3@localhost:9095"},
     "controller.quorum.voters"),
    ({"process.roles": "broker"}, "process.roles"),
    ({"zookeeper.connect": "localhost:2181"}, "Skein has no ZooKeeper"),
    ({"delegation.token.secret.key": "secret"}, "Skein does not implement this security setting"),
    ({"num.partition": "3"}, "did you mean num.partitions"),
])
def test_a_configuration_skein_cannot_run_is_refused_at_start_naming_the_property(
        broker_factory, tmp_path, setting, message):
    with pytest.raises(AssertionError, match="exited with code 1"):
        broker_factory(setting)
    assert message in (tmp_path / "broker0.log").read_text()


def test_create_time_timestamps_are_bounded_as_kafka_4_bounds_them(broker):
    """message.timestamp.after.max.ms (Kafka 4's default, one hour) and a
    topic's message.timestamp.before.max.ms: a record outside them is refused
    with INVALID_TIMESTAMP and nothing of it is stored."""
    from confluent_kafka import Producer

    from clients import common_conf, consume_partition

    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1, {"message.timestamp.before.max.ms": "60000"})
    now_ms = int(time.time() * 1000)
    p = Producer({**common_conf(broker.bootstrap), "acks": "all", "linger.ms": 0,
                  "enable.idempotence": False, "retries": 0, "message.timeout.ms": 10000})
    outcomes: dict[bytes, int] = {}

    def report(err, msg):
        outcomes[msg.value()] = 0 if err is None else err.code()

    for value, timestamp in [(b"now", now_ms), (b"future", now_ms + 2 * 3600_000),
                             (b"past", now_ms - 120_000), (b"recent", now_ms - 30_000)]:
        p.produce(topic, value=value, timestamp=timestamp, on_delivery=report)
        p.flush(TIMEOUT_S)
    assert outcomes == {b"now": 0, b"future": KafkaError.INVALID_TIMESTAMP,
                        b"past": KafkaError.INVALID_TIMESTAMP, b"recent": 0}
    got = consume_partition(broker.bootstrap, topic, 0)
    assert [(m.offset, m.value) for m in got] == [(0, b"now"), (1, b"recent")]


def _api_versions_on(s, correlation_id: int) -> bytes:
    import kafka_wire as w

    w.send_all(s, w.frame(w.header_v1(w.API_VERSIONS, 0, correlation_id)))
    return w.read_frame(s)


def _served_connection(port: int, correlation_id: int):
    """A connection the broker answers, retried while an address slot is
    still held by a connection that closed a moment ago (the start-up probe,
    or one the test closed): the broker frees it when it sees the close."""
    import kafka_wire as w

    deadline = time.monotonic() + 10
    while True:
        s = w.connect(port)
        try:
            assert _api_versions_on(s, correlation_id)[:4] == w.i32(correlation_id)
            return s
        except w.Closed:
            s.close()
            assert time.monotonic() < deadline, "no connection slot came free"
            time.sleep(0.05)


def test_max_connections_per_ip_closes_the_connection_past_the_limit(broker_factory):
    import kafka_wire as w

    b = broker_factory({"max.connections.per.ip": "2"})
    first = _served_connection(b.port, 1)
    second = _served_connection(b.port, 2)
    third = w.connect(b.port)
    w.expect_closed(third)
    first.close()
    fourth = _served_connection(b.port, 4)
    for s in (second, third, fourth):
        s.close()


def test_max_connections_holds_new_connections_until_one_closes(broker_factory):
    import socket

    import kafka_wire as w

    b = broker_factory({"max.connections": "2"})
    first = _served_connection(b.port, 1)
    second = _served_connection(b.port, 2)
    # Kafka does not accept past max.connections: the third connection
    # waits in the backlog, unanswered, until a slot frees.
    third = w.connect(b.port, timeout=1.0)
    w.send_all(third, w.frame(w.header_v1(w.API_VERSIONS, 0, 3)))
    with pytest.raises(socket.timeout):
        w.read_frame(third)
    first.close()
    third.settimeout(10)
    assert w.read_frame(third)[:4] == w.i32(3)
    for s in (second, third):
        s.close()


def test_describe_configs_of_another_broker_is_refused_with_kafkas_messages(broker):
    """A BROKER resource names the broker answering it: Kafka's ConfigHelper
    refuses another id, and a name that is no id, with INVALID_REQUEST and
    its own sentences (clients route a broker resource to that broker, so a
    raw DescribeConfigs v1 asks the wrong one here)."""
    import struct

    import kafka_wire as w

    describe_configs = 32
    broker_resource = 4

    def describe_broker(name: str) -> tuple[int, str | None]:
        # resources: [type, name, config names (null: all)], include_synonyms
        body = w.i32(1) + w.i8(broker_resource) + w.string(name) + w.i32(-1) + w.i8(0)
        response = w.request(broker.port, w.header_v1(describe_configs, 1, 7, "parity") + body)
        # correlation id, throttle_time_ms, one result: error_code, error_message
        correlation, _throttle, count, code = struct.unpack(">iiih", response[:14])
        assert (correlation, count) == (7, 1)
        (length,) = struct.unpack(">h", response[14:16])
        message = None if length < 0 else response[16:16 + length].decode()
        return code, message

    invalid_request = 42
    assert describe_broker("7") == (
        invalid_request, "Unexpected broker id, expected 0 or empty string, but received 7")
    assert describe_broker("x") == (invalid_request, "Broker id must be an integer, but it is: x")
    assert describe_broker("0")[0] == 0
    assert describe_broker("")[0] == 0
