"""ACLs through the admin API (CreateAcls, DescribeAcls, DeleteAcls) with
confluent-kafka's AdminClient against a broker whose `authorizer.class.name`
is Kafka's StandardAuthorizer: the exact bindings created come back from
describe (by ANY and MATCH filters) and from delete, and are gone after it;
invalid bindings are refused with INVALID_REQUEST; a principal without ALTER
(DESCRIBE) on the cluster gets CLUSTER_AUTHORIZATION_FAILED (31); without an authorizer every
ACL API answers SECURITY_DISABLED (54), as Kafka does; an authorizer class
Skein does not implement stops the start with the reason.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation,
                                   AclPermissionType, AdminClient, ResourcePatternType,
                                   ResourceType)

from conftest import E2E_NODES, SKEIN_BIN, free_port

TIMEOUT_S = 30
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
# (confluent-kafka calls the CLUSTER resource type BROKER, code 4.)
# PLAINTEXT clients are User:ANONYMOUS: managing ACLs needs ALTER (DESCRIBE to
# list) on the cluster, which a super user has, as in Kafka.
WITH_AUTHORIZER = {"authorizer.class.name": STANDARD_AUTHORIZER,
                   "super.users": "User:admin;User:ANONYMOUS"}


def admin(broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def key(b: AclBinding):
    return (b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation,
            b.permission_type)


BINDINGS = [
    AclBinding(ResourceType.TOPIC, "orders", ResourcePatternType.LITERAL, "User:alice", "*",
               AclOperation.READ, AclPermissionType.ALLOW),
    AclBinding(ResourceType.TOPIC, "orders-", ResourcePatternType.PREFIXED, "User:bob",
               "10.0.0.1", AclOperation.WRITE, AclPermissionType.DENY),
    AclBinding(ResourceType.TOPIC, "*", ResourcePatternType.LITERAL, "User:*", "*",
               AclOperation.DESCRIBE, AclPermissionType.ALLOW),
    AclBinding(ResourceType.GROUP, "billing", ResourcePatternType.LITERAL, "User:alice", "*",
               AclOperation.READ, AclPermissionType.ALLOW),
    AclBinding(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL,
               "User:ops", "*", AclOperation.ALTER_CONFIGS, AclPermissionType.ALLOW),
]

ANY = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                       AclOperation.ANY, AclPermissionType.ANY)


def describe(client, flt):
    return sorted(key(b) for b in client.describe_acls(flt).result(timeout=TIMEOUT_S))


def eventually(read, want):
    """`read()` once it equals `want` (a change made through a node that is
    not the active controller reaches that node's image shortly after the
    answer, as in Kafka), else the last value read."""
    deadline = time.monotonic() + TIMEOUT_S
    got = read()
    while got != want and time.monotonic() < deadline:
        time.sleep(0.1)
        got = read()
    return got


def describe_error(broker) -> str:
    """The error DescribeAcls answers, through kafka-python (confluent-kafka
    2.x returns an empty list for a DescribeAcls error)."""
    from kafka.admin import (ACLFilter, ACLOperation, ACLPermissionType,
                             ACLResourcePatternType, KafkaAdminClient, ResourcePatternFilter)
    from kafka.admin import ResourceType as KResourceType
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        flt = ACLFilter(principal=None, host=None, operation=ACLOperation.ANY,
                        permission_type=ACLPermissionType.ANY,
                        resource_pattern=ResourcePatternFilter(KResourceType.ANY, None,
                                                               ACLResourcePatternType.ANY))
        try:
            _acls, error = client.describe_acls(flt)
        except Exception as e:  # kafka-python raises some errors
            return type(e).__name__
        return type(error).__name__ if not isinstance(error, type) else error.__name__
    finally:
        client.close()


def keys(*bindings):
    return sorted(key(b) for b in bindings)


def settled(client, flt, want):
    return eventually(lambda: describe(client, flt), want)


def test_acls_round_trip_through_the_admin_client(broker_factory):
    broker = broker_factory(WITH_AUTHORIZER)
    client = admin(broker)
    for binding, future in client.create_acls(BINDINGS).items():
        assert future.result(timeout=TIMEOUT_S) is None, binding
    # Creating the same binding again is accepted and stores it once.
    for future in client.create_acls([BINDINGS[0]]).values():
        future.result(timeout=TIMEOUT_S)

    assert settled(client, ANY, keys(*BINDINGS)) == keys(*BINDINGS)
    topics = AclBindingFilter(ResourceType.TOPIC, None, ResourcePatternType.ANY, None, None,
                              AclOperation.ANY, AclPermissionType.ANY)
    assert describe(client, topics) == keys(*BINDINGS[:3])
    # MATCH: every pattern that applies to the topic orders-eu.
    match = AclBindingFilter(ResourceType.TOPIC, "orders-eu", ResourcePatternType.MATCH, None,
                             None, AclOperation.ANY, AclPermissionType.ANY)
    assert describe(client, match) == keys(BINDINGS[1], BINDINGS[2])
    alice = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, "User:alice",
                             None, AclOperation.ANY, AclPermissionType.ANY)
    assert describe(client, alice) == keys(BINDINGS[0], BINDINGS[3])

    # Delete alice's bindings: exactly those come back, and are gone.
    (future,) = client.delete_acls([alice]).values()
    assert keys(*future.result(timeout=TIMEOUT_S)) == keys(BINDINGS[0], BINDINGS[3])
    left = keys(BINDINGS[1], BINDINGS[2], BINDINGS[4])
    assert settled(client, ANY, left) == left
    # A filter that matches nothing removes nothing.
    (future,) = client.delete_acls([alice]).values()
    assert future.result(timeout=TIMEOUT_S) == []

    # They survive a restart (metadata log replay).
    broker.restart()
    client = admin(broker)
    assert settled(client, ANY, left) == left
    (future,) = client.delete_acls([ANY]).values()
    assert len(future.result(timeout=TIMEOUT_S)) == 3
    assert settled(client, ANY, []) == []


def test_a_cluster_binding_on_another_name_is_an_invalid_request(broker_factory):
    broker = broker_factory(WITH_AUTHORIZER)
    client = admin(broker)
    bad = AclBinding(ResourceType.BROKER, "not-the-cluster", ResourcePatternType.LITERAL,
                     "User:alice", "*", AclOperation.ALTER, AclPermissionType.ALLOW)
    (future,) = client.create_acls([bad]).values()
    with pytest.raises(KafkaException) as error:
        future.result(timeout=TIMEOUT_S)
    assert error.value.args[0].code() == KafkaError.INVALID_REQUEST
    assert describe(client, ANY) == []


@pytest.mark.skipif(E2E_NODES == 3, reason=(
    "brokers of a cluster fetch from each other as User:ANONYMOUS on the PLAINTEXT "
    "inter-broker listener, which needs CLUSTER_ACTION (a super user, as in Kafka); "
    "this test needs User:ANONYMOUS without any permission"))
def test_managing_acls_needs_the_cluster_permission(broker_factory):
    broker = broker_factory({"authorizer.class.name": STANDARD_AUTHORIZER})
    client = admin(broker)
    (future,) = client.create_acls([BINDINGS[0]]).values()
    with pytest.raises(KafkaException) as error:
        future.result(timeout=TIMEOUT_S)
    assert error.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    assert describe_error(broker) == "ClusterAuthorizationFailedError"
    (future,) = client.delete_acls([ANY]).values()
    with pytest.raises(KafkaException) as error:
        future.result(timeout=TIMEOUT_S)
    assert error.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED


def test_without_an_authorizer_acl_apis_answer_security_disabled(broker):
    client = admin(broker)
    (future,) = client.create_acls([BINDINGS[0]]).values()
    with pytest.raises(KafkaException) as error:
        future.result(timeout=TIMEOUT_S)
    assert error.value.args[0].code() == KafkaError.SECURITY_DISABLED
    assert describe_error(broker) == "SecurityDisabledError"
    (future,) = client.delete_acls([ANY]).values()
    with pytest.raises(KafkaException) as error:
        future.result(timeout=TIMEOUT_S)
    assert error.value.args[0].code() == KafkaError.SECURITY_DISABLED


def test_an_unknown_authorizer_class_stops_the_start_with_the_reason(tmp_path):
    path = tmp_path / "server.properties"
    path.write_text(f"listeners=PLAINTEXT://127.0.0.1:{free_port()}\n"
                    f"log.dirs={tmp_path / 'data'}\n"
                    "authorizer.class.name=com.example.MyAuthorizer\n")
    r = subprocess.run([str(SKEIN_BIN), "serve", "--config", str(path)], capture_output=True,
                       text=True, timeout=TIMEOUT_S)
    assert r.returncode != 0
    assert "com.example.MyAuthorizer" in r.stderr + r.stdout
    assert "StandardAuthorizer" in r.stderr + r.stdout


def skein(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([str(SKEIN_BIN), *args], capture_output=True, text=True,
                       timeout=TIMEOUT_S)
    if check:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def cli_list(bootstrap: str, count: int) -> list:
    """`skein acl list` once it shows `count` bindings (or the last listing)."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        listed = json.loads(skein("acl", "list", "--format", "json", "-b", bootstrap).stdout)
        if len(listed) == count or time.monotonic() > deadline:
            return listed
        time.sleep(0.1)


def test_the_acl_cli_adds_lists_and_removes_bindings(broker_factory):
    broker = broker_factory(WITH_AUTHORIZER)
    b = broker.bootstrap
    skein("acl", "add", "--topic", "orders-", "--resource-pattern-type", "prefixed",
          "--principal", "User:alice", "--operation", "READ", "--operation", "DESCRIBE", "-b", b)
    skein("acl", "add", "--cluster", "--principal", "User:ops", "--operation", "ALTER_CONFIGS",
          "--deny", "-b", b)
    listed = cli_list(b, 3)
    assert sorted((r["resource_type"], r["resource_name"], r["pattern_type"], r["principal"],
                   r["host"], r["operation"], r["permission"]) for r in listed) == [
        ("CLUSTER", "kafka-cluster", "LITERAL", "User:ops", "*", "ALTER_CONFIGS", "DENY"),
        ("TOPIC", "orders-", "PREFIXED", "User:alice", "*", "DESCRIBE", "ALLOW"),
        ("TOPIC", "orders-", "PREFIXED", "User:alice", "*", "READ", "ALLOW"),
    ]
    # The admin client sees what the CLI made.
    assert len(describe(admin(broker), ANY)) == 3
    matched = json.loads(skein("acl", "list", "--topic", "orders-eu", "--resource-pattern-type",
                               "match", "--format", "json", "-b", b).stdout)
    assert len(matched) == 2
    removed = json.loads(skein("acl", "remove", "--principal", "User:alice",
                               "--operation", "READ", "--format", "json", "-b", b).stdout)
    assert [(r["principal"], r["operation"]) for r in removed] == [("User:alice", "READ")]
    assert len(cli_list(b, 2)) == 2
    # Removing without any selection is a usage error.
    assert skein("acl", "remove", "-b", b, check=False).returncode == 2
    skein("acl", "remove", "--all", "-b", b)
    assert cli_list(b, 0) == []


def test_the_acl_cli_names_security_disabled_without_an_authorizer(broker):
    r = skein("acl", "list", "-b", broker.bootstrap, check=False)
    assert r.returncode == 1
    assert "SECURITY_DISABLED" in r.stderr, r.stderr
