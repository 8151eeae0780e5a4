"""SASL authentication (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with real clients.

Each test starts the real broker from a server.properties file written in
Kafka's property names: a PLAINTEXT listener next to a SASL_PLAINTEXT (or
SASL_SSL) one, `sasl.enabled.mechanisms`, and the PLAIN users in Kafka's JAAS
syntax (`listener.name.sasl_plaintext.plain.sasl.jaas.config`). SCRAM users
are created through AlterUserScramCredentials — confluent-kafka's
AdminClient.alter_user_scram_credentials or `skein user add` — which the
controller stores salted in the metadata log.

What users rely on: confluent-kafka, kcat, kafka-python and kafkajs produce
and consume exact records over SASL with each mechanism; a wrong password or
an unknown user is reported by the client as an authentication failure
(SASL_AUTHENTICATION_FAILED, 58, with Kafka's message); a deleted SCRAM user
can no longer log in; nothing but ApiVersions and the SASL exchange is
served before authentication; garbage tokens, oversize frames and unknown
mechanisms close that connection only.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

import kafka_wire as kw
from clients import create_topic, keyed_messages, produce, unique_topic
from conftest import SKEIN_BIN, free_port, which_or_fail

TIMEOUT_S = 30
NODE_DIR = Path(__file__).resolve().parent / "node"

ADMIN_PASSWORD = "admin-secret"
ALICE_PASSWORD = "alice-secret"
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              f'username="admin" password="{ADMIN_PASSWORD}" '
              f'user_admin="{ADMIN_PASSWORD}" user_alice="{ALICE_PASSWORD}";')

SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36
METADATA = 3


class SaslBroker:
    def __init__(self, broker, sasl_port: int, listener: str):
        self.broker = broker
        self.sasl_port = sasl_port
        self.listener = listener

    @property
    def plaintext(self) -> str:
        return self.broker.bootstrap

    @property
    def sasl(self) -> str:
        return f"127.0.0.1:{self.sasl_port}"


def wait_port(port: int) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def start_sasl_broker(broker_factory, tmp_path: Path, extra: str = "",
                      protocol: str = "SASL_PLAINTEXT") -> SaslBroker:
    """A broker with a PLAINTEXT listener and a `protocol` listener (named
    as the protocol) serving PLAIN and both SCRAM mechanisms."""
    port, sasl_port = free_port(), free_port()
    name = protocol.lower()
    path = tmp_path / "server.properties"
    path.write_text(
        f"listeners=PLAINTEXT://127.0.0.1:{port},{protocol}://127.0.0.1:{sasl_port}\n"
        f"log.dirs={tmp_path / 'data'}\n"
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n"
        f"listener.name.{name}.plain.sasl.jaas.config={PLAIN_JAAS}\n"
        "connection.failed.authentication.delay.ms=50\n" + extra
    )
    broker = broker_factory(config_file=path, port=port)
    wait_port(sasl_port)
    return SaslBroker(broker, sasl_port, protocol)


def sasl_conf(b: SaslBroker, mechanism: str, user: str, password: str, **extra) -> dict:
    return {"bootstrap.servers": b.sasl, "security.protocol": b.listener.lower(),
            "sasl.mechanisms": mechanism, "sasl.username": user, "sasl.password": password,
            **extra}


def add_scram_user(bootstrap_conf: dict, user: str, password: str,
                   mechanism: str = "SCRAM-SHA-256", iterations: int = 8192) -> None:
    from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                       UserScramCredentialUpsertion)
    m = getattr(ScramMechanism, mechanism.replace("-", "_"))
    upsertion = UserScramCredentialUpsertion(user, ScramCredentialInfo(m, iterations),
                                             password.encode(), os.urandom(16))
    admin = AdminClient(bootstrap_conf)  # kept alive until the result is in
    futures = admin.alter_user_scram_credentials([upsertion])
    for future in futures.values():
        future.result(timeout=TIMEOUT_S)


def read_partition(conf: dict, topic: str, count: int) -> list[tuple[int, bytes | None, bytes | None]]:
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    c = Consumer({**conf, "group.id": unique_topic("sasl-grp"), "enable.auto.commit": False,
                  "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        out = []
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF and len(out) >= count:
                    return out
                assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                continue
            out.append((m.offset(), m.key(), m.value()))
        raise AssertionError(f"got {len(out)} of {count} messages")
    finally:
        c.close()


def authentication_error(conf: dict):
    """The error librdkafka reports when `conf` cannot log in."""
    from confluent_kafka.admin import AdminClient
    errors = []
    admin = AdminClient({**conf, "error_cb": errors.append})
    with pytest.raises(Exception):
        admin.list_topics(timeout=5)
    deadline = time.monotonic() + TIMEOUT_S
    while not errors and time.monotonic() < deadline:
        admin.poll(0.2)
    assert errors, "no error reported"
    return errors[0]


# --------------------------------------------------------------------------


def test_confluent_produces_and_consumes_with_plain_and_both_scram_mechanisms(
        broker_factory, tmp_path):
    b = start_sasl_broker(broker_factory, tmp_path)
    admin_conf = sasl_conf(b, "PLAIN", "admin", ADMIN_PASSWORD)
    add_scram_user(admin_conf, "bob", "bob-256", "SCRAM-SHA-256")
    add_scram_user(admin_conf, "carol", "carol-512", "SCRAM-SHA-512", iterations=4096)

    topic = unique_topic("sasl")
    create_topic(b.plaintext, topic, partitions=1)
    sent = []
    for mechanism, user, password in [("PLAIN", "alice", ALICE_PASSWORD),
                                      ("SCRAM-SHA-256", "bob", "bob-256"),
                                      ("SCRAM-SHA-512", "carol", "carol-512")]:
        messages = keyed_messages(10, partition=0)
        for i, m in enumerate(messages):
            m["value"] = f"{mechanism}-{i}".encode()
        delivered = produce(b.sasl, topic, messages,
                            **{k: v for k, v in sasl_conf(b, mechanism, user, password).items()
                               if k != "bootstrap.servers"})
        assert [m.offset() for m in delivered] == list(range(len(sent), len(sent) + 10))
        sent += messages
    want = [(i, m.get("key"), m["value"]) for i, m in enumerate(sent)]
    for mechanism, user, password in [("SCRAM-SHA-512", "carol", "carol-512"),
                                      ("PLAIN", "admin", ADMIN_PASSWORD)]:
        assert read_partition(sasl_conf(b, mechanism, user, password), topic, 30) == want
    assert read_partition({"bootstrap.servers": b.plaintext}, topic, 30) == want


def test_wrong_password_and_unknown_user_fail_authentication(broker_factory, tmp_path):
    from confluent_kafka import KafkaError
    b = start_sasl_broker(broker_factory, tmp_path)
    add_scram_user({"bootstrap.servers": b.plaintext}, "bob", "right")
    for mechanism, user, password in [("PLAIN", "alice", "wrong"), ("PLAIN", "mallory", "x"),
                                      ("SCRAM-SHA-256", "bob", "wrong"),
                                      ("SCRAM-SHA-512", "bob", "right")]:
        error = authentication_error(sasl_conf(b, mechanism, user, password))
        assert error.code() == KafkaError._AUTHENTICATION, (mechanism, user, error)
        assert "Authentication failed" in error.str(), error.str()
    # Others are still served.
    add_scram_user({"bootstrap.servers": b.plaintext}, "dave", "dave-pw")
    from confluent_kafka.admin import AdminClient
    md = AdminClient(sasl_conf(b, "SCRAM-SHA-256", "dave", "dave-pw")).list_topics(timeout=TIMEOUT_S)
    assert [(x.host, x.port) for x in md.brokers.values()] == [("127.0.0.1", b.sasl_port)]


def test_scram_users_are_created_described_and_deleted_through_the_admin_api(
        broker_factory, tmp_path):
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import (AdminClient, ScramMechanism, UserScramCredentialDeletion)
    b = start_sasl_broker(broker_factory, tmp_path)
    admin_conf = sasl_conf(b, "PLAIN", "admin", ADMIN_PASSWORD)
    add_scram_user(admin_conf, "erin", "erin-pw", "SCRAM-SHA-256", iterations=4096)
    add_scram_user(admin_conf, "erin", "erin-pw-512", "SCRAM-SHA-512", iterations=10000)
    admin = AdminClient(admin_conf)
    described = admin.describe_user_scram_credentials(["erin"])["erin"].result(timeout=TIMEOUT_S)
    infos = sorted((i.mechanism, i.iterations) for i in described.scram_credential_infos)
    assert infos == [(ScramMechanism.SCRAM_SHA_256, 4096), (ScramMechanism.SCRAM_SHA_512, 10000)]
    everyone = admin.describe_user_scram_credentials().result(timeout=TIMEOUT_S)
    assert list(everyone) == ["erin"]
    # Unknown user: RESOURCE_NOT_FOUND (91).
    with pytest.raises(Exception) as raised:
        admin.describe_user_scram_credentials(["nobody"])["nobody"].result(timeout=TIMEOUT_S)
    assert raised.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
    # Too few iterations: UNACCEPTABLE_CREDENTIAL (93).
    with pytest.raises(Exception) as raised:
        add_scram_user(admin_conf, "frank", "pw", iterations=1000)
    assert raised.value.args[0].code() == KafkaError.UNACCEPTABLE_CREDENTIAL

    from confluent_kafka.admin import AdminClient as Admin
    Admin(sasl_conf(b, "SCRAM-SHA-256", "erin", "erin-pw")).list_topics(timeout=TIMEOUT_S)
    futures = admin.alter_user_scram_credentials(
        [UserScramCredentialDeletion("erin", ScramMechanism.SCRAM_SHA_256)])
    futures["erin"].result(timeout=TIMEOUT_S)
    error = authentication_error(sasl_conf(b, "SCRAM-SHA-256", "erin", "erin-pw"))
    assert error.code() == KafkaError._AUTHENTICATION
    # The other mechanism still logs in; deleting a missing one is refused.
    Admin(sasl_conf(b, "SCRAM-SHA-512", "erin", "erin-pw-512")).list_topics(timeout=TIMEOUT_S)
    futures = admin.alter_user_scram_credentials(
        [UserScramCredentialDeletion("erin", ScramMechanism.SCRAM_SHA_256)])
    with pytest.raises(Exception) as raised:
        futures["erin"].result(timeout=TIMEOUT_S)
    assert raised.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
    # Credentials survive a restart (they are in the metadata log).
    b.broker.restart()
    wait_port(b.sasl_port)
    Admin(sasl_conf(b, "SCRAM-SHA-512", "erin", "erin-pw-512")).list_topics(timeout=TIMEOUT_S)
