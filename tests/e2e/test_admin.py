"""librdkafka AdminClient against a real broker: topics, configs, records."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from clients import (
    TIMEOUT_S,
    admin,
    consume_partition,
    consumer,
    create_topic,
    expected,
    kafka_error_code,
    keyed_messages,
    produce,
    unique_topic,
    wait_for_topic,
    wait_until,
)
from conftest import E2E_NODES

DEFAULT_RETENTION_MS = "604800000"  # 7 days, Kafka's log.retention.hours=168
DEFAULT_RETENTION_BYTES = "-1"


def describe_topic_configs(a, topic: str) -> dict:
    res = ConfigResource(ResourceType.TOPIC, topic)
    return a.describe_configs([res], request_timeout=TIMEOUT_S)[res].result(TIMEOUT_S)


def source(entry) -> int:
    """A ConfigEntry's source as an int (the C layer may hand back either
    the enum or its value)."""
    return int(getattr(entry.source, "value", entry.source))


def test_create_topics_validate_only_creates_nothing(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic()
    fs = a.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)],
                         validate_only=True, request_timeout=TIMEOUT_S)
    assert fs[topic].result(TIMEOUT_S) is None
    assert topic not in a.list_topics(timeout=TIMEOUT_S).topics
    # A validate-only request for an invalid topic still reports the error.
    fs = a.create_topics([NewTopic("a/b", num_partitions=1, replication_factor=1)],
                         validate_only=True, request_timeout=TIMEOUT_S)
    with pytest.raises(KafkaException) as e:
        fs["a/b"].result(TIMEOUT_S)
    assert kafka_error_code(e.value) == KafkaError.TOPIC_EXCEPTION


def test_create_topic_with_configs_then_describe(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic()
    fs = a.create_topics(
        [NewTopic(topic, num_partitions=3, replication_factor=1,
                  config={"retention.ms": "3600000", "retention.bytes": "1073741824"})],
        request_timeout=TIMEOUT_S,
    )
    assert fs[topic].result(TIMEOUT_S) is None
    wait_for_topic(broker.bootstrap, topic, 3)
    configs = describe_topic_configs(a, topic)
    assert configs["retention.ms"].value == "3600000"
    assert source(configs["retention.ms"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["retention.bytes"].value == "1073741824"
    # A config the topic did not set reports the broker default.
    assert configs["cleanup.policy"].value == "delete"
    assert source(configs["cleanup.policy"]) != ConfigSource.DYNAMIC_TOPIC_CONFIG.value


def test_alter_configs_replaces_the_whole_topic_config_set(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1, {"retention.ms": "3600000", "retention.bytes": "1073741824"})
    res = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "7200000"})
    assert a.alter_configs([res], request_timeout=TIMEOUT_S)[res].result(TIMEOUT_S) is None
    configs = describe_topic_configs(a, topic)
    assert configs["retention.ms"].value == "7200000"
    # Non-incremental AlterConfigs: anything not named reverts to default.
    assert configs["retention.bytes"].value == DEFAULT_RETENTION_BYTES
    assert source(configs["retention.bytes"]) != ConfigSource.DYNAMIC_TOPIC_CONFIG.value


def test_incremental_alter_configs_set_and_delete(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1, {"retention.bytes": "1073741824"})

    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)])
    assert a.incremental_alter_configs([res])[res].result(TIMEOUT_S) is None
    configs = describe_topic_configs(a, topic)
    assert configs["retention.ms"].value == "1000"
    # Incremental: the other override is untouched.
    assert configs["retention.bytes"].value == "1073741824"

    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
    assert a.incremental_alter_configs([res])[res].result(TIMEOUT_S) is None
    configs = describe_topic_configs(a, topic)
    assert configs["retention.ms"].value == DEFAULT_RETENTION_MS
    assert source(configs["retention.ms"]) != ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["retention.bytes"].value == "1073741824"


def test_create_partitions_grows_the_topic(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 2)
    before = keyed_messages(3, partition=1, tag="before")
    produce(broker.bootstrap, topic, before)
    fs = a.create_partitions([NewPartitions(topic, 5)], request_timeout=TIMEOUT_S)
    assert fs[topic].result(TIMEOUT_S) is None
    wait_for_topic(broker.bootstrap, topic, 5)
    after = keyed_messages(4, partition=4, tag="after")
    produce(broker.bootstrap, topic, after)
    assert consume_partition(broker.bootstrap, topic, 4, 0, expect_count=4) == expected(after, 4)
    # Existing partitions keep their data.
    assert consume_partition(broker.bootstrap, topic, 1, 0, expect_count=3) == expected(before, 1)
    # Shrinking is invalid.
    fs = a.create_partitions([NewPartitions(topic, 3)], request_timeout=TIMEOUT_S)
    with pytest.raises(KafkaException) as e:
        fs[topic].result(TIMEOUT_S)
    assert kafka_error_code(e.value) == KafkaError.INVALID_PARTITIONS


def test_delete_topics_removes_topic_and_data(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 2)
    produce(broker.bootstrap, topic, keyed_messages(5, partition=0, tag="old"))
    fs = a.delete_topics([topic], operation_timeout=10, request_timeout=TIMEOUT_S)
    assert fs[topic].result(TIMEOUT_S) is None
    wait_until(lambda: topic not in a.list_topics(timeout=TIMEOUT_S).topics, f"{topic} to disappear")
    # Deleting it again: it does not exist.
    fs = a.delete_topics([topic], operation_timeout=10, request_timeout=TIMEOUT_S)
    with pytest.raises(KafkaException) as e:
        fs[topic].result(TIMEOUT_S)
    assert kafka_error_code(e.value) == KafkaError.UNKNOWN_TOPIC_OR_PART
    # Re-created under the same name it starts empty at offset 0.
    create_topic(broker.bootstrap, topic, 1)
    new = keyed_messages(2, partition=0, tag="new")
    delivered = produce(broker.bootstrap, topic, new)
    assert [d.offset() for d in delivered] == [0, 1]
    assert consume_partition(broker.bootstrap, topic, 0, 0, expect_count=2) == expected(new, 0)


def test_delete_records_moves_log_start_offset(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 1)
    msgs = keyed_messages(10, partition=0)
    produce(broker.bootstrap, topic, msgs)
    fs = a.delete_records([TopicPartition(topic, 0, 4)], request_timeout=TIMEOUT_S)
    [(tp, fut)] = fs.items()
    deleted = fut.result(TIMEOUT_S)
    assert deleted.low_watermark == 4
    c = consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False) == (4, 10)
    finally:
        c.close()
    # Reading from the beginning now starts at offset 4.
    from clients import OFFSET_BEGINNING
    assert consume_partition(broker.bootstrap, topic, 0, OFFSET_BEGINNING, expect_count=6) == expected(msgs, 0)[4:]
    # Beyond the high watermark is OFFSET_OUT_OF_RANGE.
    fs = a.delete_records([TopicPartition(topic, 0, 11)], request_timeout=TIMEOUT_S)
    [(tp, fut)] = fs.items()
    with pytest.raises(KafkaException) as e:
        fut.result(TIMEOUT_S)
    assert kafka_error_code(e.value) == KafkaError.OFFSET_OUT_OF_RANGE


def test_list_topics_reports_broker_and_partitions(broker):
    a = admin(broker.bootstrap)
    topics = {unique_topic(): n for n in (1, 4, 7)}
    for t, n in topics.items():
        create_topic(broker.bootstrap, t, n)
    md = a.list_topics(timeout=TIMEOUT_S)
    # One broker, or three with SKEIN_E2E_NODES=3 (create_topic asks for
    # one replica: each partition on one of them).
    assert len(md.brokers) == E2E_NODES
    assert ("127.0.0.1", broker.port) in {(b.host, b.port) for b in md.brokers.values()}
    for t, n in topics.items():
        tm = md.topics[t]
        assert tm.error is None
        assert sorted(tm.partitions) == list(range(n))
        for p in tm.partitions.values():
            assert p.error is None
            assert p.leader in md.brokers
            assert p.replicas == [p.leader]
            assert p.isrs == [p.leader]


def test_create_existing_topic_is_topic_already_exists(broker):
    a = admin(broker.bootstrap)
    topic = unique_topic()
    create_topic(broker.bootstrap, topic, 2)
    fs = a.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)], request_timeout=TIMEOUT_S)
    with pytest.raises(KafkaException) as e:
        fs[topic].result(TIMEOUT_S)
    assert kafka_error_code(e.value) == KafkaError.TOPIC_ALREADY_EXISTS
    # The existing topic is unchanged.
    wait_for_topic(broker.bootstrap, topic, 2)


@pytest.mark.parametrize("name", ["a/b", "..", ".", "x" * 250, "bad name", "ünïcode"])
def test_create_invalid_topic_name_is_invalid_topic_exception(broker, name):
    a = admin(broker.bootstrap)
    fs = a.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)], request_timeout=TIMEOUT_S)
    with pytest.raises(KafkaException) as e:
        fs[name].result(TIMEOUT_S)
    assert kafka_error_code(e.value) == KafkaError.TOPIC_EXCEPTION
    assert name not in a.list_topics(timeout=TIMEOUT_S).topics


def test_longest_valid_topic_name_is_accepted(broker):
    # 249 characters is Kafka's limit; the limit itself is valid.
    topic = "t" * 249
    create_topic(broker.bootstrap, topic, 1)
    msgs = keyed_messages(2, partition=0)
    produce(broker.bootstrap, topic, msgs)
    assert consume_partition(broker.bootstrap, topic, 0, 0, expect_count=2) == expected(msgs, 0)


def test_authorized_operations_are_every_supported_operation_without_an_authorizer(broker):
    """KIP-430: asked for, a topic's, the cluster's and a group's authorized
    operations are, with no authorizer, every operation Kafka supports on
    that resource type; not asked for, none are listed."""
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AclOperation

    a = admin(broker.bootstrap)
    topic = unique_topic("authz")
    create_topic(broker.bootstrap, topic, partitions=1)
    described = a.describe_topics(TopicCollection([topic]),
                                  include_authorized_operations=True)[topic].result(30)
    assert set(described.authorized_operations) == {
        AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DELETE,
        AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS}
    plain = a.describe_topics(TopicCollection([topic]))[topic].result(30)
    assert not plain.authorized_operations

    cluster = a.describe_cluster(include_authorized_operations=True).result(30)
    assert set(cluster.authorized_operations) == {
        AclOperation.CREATE, AclOperation.CLUSTER_ACTION, AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE, AclOperation.ALTER,
        AclOperation.DESCRIBE}

    group = unique_topic("authz-group")
    c = consumer(broker.bootstrap, **{"group.id": group})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    finally:
        c.close()
    groups = a.describe_consumer_groups([group], include_authorized_operations=True)
    assert set(groups[group].result(30).authorized_operations) == {
        AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE}
