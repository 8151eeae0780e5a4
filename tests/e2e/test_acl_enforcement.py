"""ACL enforcement with real clients over SASL_PLAINTEXT, against a broker
whose `authorizer.class.name` is Kafka's StandardAuthorizer and whose super
users are `User:admin` and `User:ANONYMOUS` (the PLAINTEXT listener, which
the test uses to manage topics and ACLs, as an operator would in Kafka).

What users rely on, with Kafka's exact error codes: `User:alice` without
ACLs cannot produce (TOPIC_AUTHORIZATION_FAILED, 29) and can once WRITE is
granted; revoking READ stops her consumer with TOPIC_AUTHORIZATION_FAILED;
Metadata leaves out the topics she may not DESCRIBE and answers 29 for one
she names; a consumer group she may not READ answers
GROUP_AUTHORIZATION_FAILED (30); a transactional producer without WRITE on
its transactional id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53), and
works once granted; an idempotent producer with no WRITE anywhere gets
CLUSTER_AUTHORIZATION_FAILED (31); the super user keeps working throughout.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation,
                                   AclPermissionType, AdminClient, ResourcePatternType,
                                   ResourceType)

from clients import create_topic, unique_topic
from test_sasl import ADMIN_PASSWORD, ALICE_PASSWORD, sasl_conf, start_sasl_broker

TIMEOUT_S = 30
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
AUTHORIZER = (f"authorizer.class.name={STANDARD_AUTHORIZER}\n"
              "super.users=User:admin;User:ANONYMOUS\n")


@pytest.fixture
def acl_broker(broker_factory, tmp_path):
    return start_sasl_broker(broker_factory, tmp_path, extra=AUTHORIZER)


def alice(b) -> dict:
    return sasl_conf(b, "PLAIN", "alice", ALICE_PASSWORD)


def admin_over_sasl(b) -> dict:
    return sasl_conf(b, "PLAIN", "admin", ADMIN_PASSWORD)


def acl(resource_type, name, operation, principal="User:alice"):
    return AclBinding(resource_type, name, ResourcePatternType.LITERAL, principal, "*",
                      operation, AclPermissionType.ALLOW)


def grant(b, *bindings) -> None:
    client = AdminClient({"bootstrap.servers": b.plaintext})
    for future in client.create_acls(list(bindings)).values():
        future.result(timeout=TIMEOUT_S)


def revoke(b, binding) -> None:
    client = AdminClient({"bootstrap.servers": b.plaintext})
    flt = AclBindingFilter(binding.restype, binding.name, binding.resource_pattern_type,
                           binding.principal, binding.host, binding.operation,
                           binding.permission_type)
    (future,) = client.delete_acls([flt]).values()
    assert len(future.result(timeout=TIMEOUT_S)) == 1


def produce_codes(conf: dict, topic: str, count: int, **extra) -> list[tuple[int, int]]:
    """(error code, offset) of each of `count` records, in order; 0 is
    delivered."""
    p = Producer({**conf, "message.timeout.ms": 10000, **extra})
    results = []

    def delivered(err, msg):
        results.append((err.code() if err else 0, msg.offset()))

    for i in range(count):
        p.produce(topic, value=f"v{i}".encode(), partition=0, on_delivery=delivered)
    p.flush(TIMEOUT_S)
    assert len(results) == count
    return results


def eventually(attempt, ok, what: str):
    """`attempt()` until `ok(result)` (an ACL change reaches the data shards
    shortly after CreateAcls answers); the last result otherwise."""
    deadline = time.monotonic() + TIMEOUT_S
    result = attempt()
    while not ok(result) and time.monotonic() < deadline:
        time.sleep(0.2)
        result = attempt()
    assert ok(result), (what, result)
    return result


def poll_until(c: Consumer, want: int):
    """Records (offset, value) until `want` are in, failing on any error."""
    out = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(out) < want and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        assert m.error() is None, m.error()
        out.append((m.offset(), m.value()))
    return out


def first_error(c: Consumer) -> KafkaError:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is not None:
            return m.error()
    raise AssertionError("no error reported")


def test_write_lets_a_user_produce_and_revoking_read_stops_her_consumer(acl_broker):
    b = acl_broker
    topic = unique_topic("acl-rw")
    create_topic(b.plaintext, topic, partitions=1)

    # No ACL: every record is refused.
    codes = produce_codes(alice(b), topic, 2)
    assert [code for code, _ in codes] == [KafkaError.TOPIC_AUTHORIZATION_FAILED] * 2

    grant(b, acl(ResourceType.TOPIC, topic, AclOperation.WRITE))
    codes = eventually(lambda: produce_codes(alice(b), topic, 3),
                       lambda r: all(code == 0 for code, _ in r), "produce after WRITE")
    first = codes[0][1]
    assert [offset for _, offset in codes] == [first, first + 1, first + 2]

    # READ on the topic (and the group, which the consumer commits to).
    read = acl(ResourceType.TOPIC, topic, AclOperation.READ)
    group = unique_topic("acl-grp")
    grant(b, read, acl(ResourceType.GROUP, group, AclOperation.READ))
    c = Consumer({**alice(b), "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    try:
        c.assign([TopicPartition(topic, 0, first)])
        got = poll_until(c, 3)
        assert got == [(first + i, f"v{i}".encode()) for i in range(3)]

        revoke(b, read)
        # New records for the consumer to fetch, from the super user.
        assert [code for code, _ in produce_codes({"bootstrap.servers": b.plaintext},
                                                  topic, 1)] == [0]
        error = first_error(c)
        assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    finally:
        c.close()

    # The super user still reads everything, over SASL too.
    c = Consumer({**admin_over_sasl(b), "group.id": unique_topic("admin-grp"),
                  "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, first)])
        assert [offset for offset, _ in poll_until(c, 4)] == [first + i for i in range(4)]
    finally:
        c.close()


def test_metadata_leaves_out_topics_the_user_may_not_describe(acl_broker):
    b = acl_broker
    visible, hidden = unique_topic("acl-visible"), unique_topic("acl-hidden")
    create_topic(b.plaintext, visible, partitions=2)
    create_topic(b.plaintext, hidden, partitions=1)
    grant(b, acl(ResourceType.TOPIC, visible, AclOperation.DESCRIBE))

    client = AdminClient(alice(b))
    listed = eventually(lambda: client.list_topics(timeout=TIMEOUT_S).topics,
                        lambda t: visible in t, "the described topic is listed")
    assert hidden not in listed
    assert len(listed[visible].partitions) == 2
    # Named, it is refused without saying whether it exists.
    named = client.list_topics(topic=hidden, timeout=TIMEOUT_S).topics[hidden]
    assert named.error is not None
    assert named.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    missing = unique_topic("acl-missing")
    named = client.list_topics(topic=missing, timeout=TIMEOUT_S).topics[missing]
    assert named.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    # The super user sees both.
    topics = AdminClient(admin_over_sasl(b)).list_topics(timeout=TIMEOUT_S).topics
    assert visible in topics and hidden in topics


def test_a_group_without_read_is_refused_with_group_authorization_failed(acl_broker):
    b = acl_broker
    topic = unique_topic("acl-group")
    create_topic(b.plaintext, topic, partitions=1)
    grant(b, acl(ResourceType.TOPIC, topic, AclOperation.READ))
    c = Consumer({**alice(b), "group.id": unique_topic("acl-denied-grp"),
                  "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        error = first_error(c)
        assert error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, error
    finally:
        c.close()


def test_a_transactional_id_without_write_is_refused(acl_broker):
    b = acl_broker
    topic = unique_topic("acl-txn")
    create_topic(b.plaintext, topic, partitions=1)
    txn_id = unique_topic("acl-txn-id")
    grant(b, acl(ResourceType.TOPIC, topic, AclOperation.WRITE))

    p = Producer({**alice(b), "transactional.id": txn_id})
    with pytest.raises(KafkaException) as refused:
        p.init_transactions(TIMEOUT_S)
    assert refused.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED

    grant(b, acl(ResourceType.TRANSACTIONAL_ID, txn_id, AclOperation.WRITE))

    def transaction():
        p = Producer({**alice(b), "transactional.id": txn_id})
        try:
            p.init_transactions(TIMEOUT_S)
        except KafkaException as e:
            return e.args[0].code()
        p.begin_transaction()
        p.produce(topic, value=b"in-txn", partition=0)
        p.commit_transaction(TIMEOUT_S)
        return 0

    eventually(transaction, lambda code: code == 0, "a transaction after WRITE")
    c = Consumer({"bootstrap.servers": b.plaintext, "group.id": unique_topic("txn-read"),
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        assert [value for _, value in poll_until(c, 1)] == [b"in-txn"]
    finally:
        c.close()


def test_an_idempotent_producer_needs_write_somewhere(acl_broker):
    b = acl_broker
    topic = unique_topic("acl-idem")
    create_topic(b.plaintext, topic, partitions=1)
    # Allowed to DESCRIBE (so Metadata answers) but to WRITE nowhere:
    # InitProducerId is refused with CLUSTER_AUTHORIZATION_FAILED.
    grant(b, acl(ResourceType.TOPIC, topic, AclOperation.DESCRIBE))
    errors = []
    p = Producer({**alice(b), "enable.idempotence": True, "error_cb": errors.append})
    deadline = time.monotonic() + TIMEOUT_S
    try:
        p.produce(topic, value=b"refused", partition=0)
        while not errors and time.monotonic() < deadline:
            p.poll(0.2)
    except KafkaException as e:  # produce() raises once the error is fatal
        errors.append(e.args[0])
    assert errors, "no error reported"
    # librdkafka makes it a fatal error carrying the broker's code.
    assert errors[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED, errors[0]
    assert errors[0].fatal()

    grant(b, acl(ResourceType.TOPIC, topic, AclOperation.WRITE))
    eventually(lambda: produce_codes(alice(b), topic, 2, **{"enable.idempotence": True}),
               lambda r: all(code == 0 for code, _ in r), "idempotent produce after WRITE")
