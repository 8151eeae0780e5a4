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
from test_cluster import cluster_factory  # noqa: F401 (the fixture)
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
                      protocol: str = "SASL_PLAINTEXT", admin_port: int | None = None) -> SaslBroker:
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
    broker = broker_factory(config_file=path, port=port, admin_port=admin_port)
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


def test_kcat_and_kafka_python_round_trip_with_scram_and_plain(broker_factory, tmp_path):
    kcat = which_or_fail("kcat")
    b = start_sasl_broker(broker_factory, tmp_path)
    add_scram_user({"bootstrap.servers": b.plaintext}, "kc", "kc-pw", "SCRAM-SHA-512")
    add_scram_user({"bootstrap.servers": b.plaintext}, "py", "py-pw", "SCRAM-SHA-256")
    topic = unique_topic("sasl-kcat")
    create_topic(b.plaintext, topic, partitions=1)

    def kcat_args(mechanism: str, user: str, password: str) -> list[str]:
        return ["-b", b.sasl, "-X", "security.protocol=sasl_plaintext",
                "-X", f"sasl.mechanisms={mechanism}", "-X", f"sasl.username={user}",
                "-X", f"sasl.password={password}"]

    lines = [f"kcat-{i}" for i in range(20)]
    subprocess.run([kcat, *kcat_args("SCRAM-SHA-512", "kc", "kc-pw"), "-P", "-t", topic, "-p", "0"],
                   input="\n".join(lines) + "\n", text=True, check=True, timeout=TIMEOUT_S)

    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    python_sasl = dict(bootstrap_servers=b.sasl, security_protocol="SASL_PLAINTEXT",
                       sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="py",
                       sasl_plain_password="py-pw")
    producer = KafkaProducer(**python_sasl, acks="all")
    for i in range(20):
        producer.send(topic, value=f"python-{i}".encode(), partition=0).get(timeout=TIMEOUT_S)
    producer.close()

    want = [f"{i} kcat-{i}" for i in range(20)] + [f"{20 + i} python-{i}" for i in range(20)]
    out = subprocess.run([kcat, *kcat_args("PLAIN", "alice", ALICE_PASSWORD), "-C", "-t", topic,
                          "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o %s\n"],
                         capture_output=True, text=True, check=True,
                         timeout=TIMEOUT_S).stdout.splitlines()
    assert out == want

    consumer = KafkaConsumer(**python_sasl, enable_auto_commit=False, consumer_timeout_ms=5000)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek(TopicPartition(topic, 0), 0)
    got = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(got) < 40 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got += [(r.offset, r.value.decode()) for r in records]
    consumer.close()
    assert got == [(int(w.split()[0]), w.split()[1]) for w in want]

    # kcat with a wrong password fails with librdkafka's authentication error.
    failed = subprocess.run([kcat, *kcat_args("SCRAM-SHA-512", "kc", "nope"), "-L"],
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert failed.returncode != 0
    assert "Authentication failed" in failed.stderr, failed.stderr


def run_kafkajs(b: SaslBroker, mechanism: str, user: str, password: str, topic: str,
                expect: str) -> str:
    if not (NODE_DIR / "node_modules" / "kafkajs").is_dir():
        pytest.fail(f"kafkajs not installed: run `npm ci` in {NODE_DIR}")
    argv = [which_or_fail("node"), str(NODE_DIR / "kafkajs_sasl.mjs"), mechanism.lower(), b.sasl,
            topic, user, password, expect]
    r = subprocess.run(argv, cwd=NODE_DIR, capture_output=True, timeout=120)
    assert r.returncode == 0, (
        f"{' '.join(argv)} exited {r.returncode}\nstdout:\n{r.stdout.decode()}\n"
        f"stderr:\n{r.stderr.decode()}")
    return r.stdout.decode()


def test_kafkajs_logs_in_with_plain_and_scram(broker_factory, tmp_path):
    b = start_sasl_broker(broker_factory, tmp_path)
    add_scram_user({"bootstrap.servers": b.plaintext}, "js", "js-pw", "SCRAM-SHA-256")
    add_scram_user({"bootstrap.servers": b.plaintext}, "js", "js-pw-512", "SCRAM-SHA-512")
    topic = unique_topic("sasl-kjs")
    create_topic(b.plaintext, topic, partitions=1)
    run_kafkajs(b, "PLAIN", "alice", ALICE_PASSWORD, topic, "ok")
    run_kafkajs(b, "SCRAM-SHA-256", "js", "js-pw", topic, "ok")
    run_kafkajs(b, "SCRAM-SHA-512", "js", "js-pw-512", topic, "ok")
    out = run_kafkajs(b, "SCRAM-SHA-256", "js", "wrong", topic, "fail")
    assert "SASL_AUTHENTICATION_FAILED" in out or "Authentication failed" in out, out
    values = [v for _, _, v in read_partition({"bootstrap.servers": b.plaintext}, topic, 15)]
    assert values == [f"kafkajs-{m}-{i}".encode() for m in ("plain", "scram-sha-256", "scram-sha-512")
                      for i in range(5)]


# --------------------------------------------------------------------------
# The wire, by hand.


def raw_frame(s: socket.socket) -> bytes:
    (size,) = struct.unpack(">i", kw.recv_exact(s, 4))
    return kw.recv_exact(s, size)


def handshake(s: socket.socket, mechanism: str, version: int = 1, correlation_id: int = 1):
    s.sendall(kw.frame(kw.header_v1(SASL_HANDSHAKE, version, correlation_id) + kw.string(mechanism)))
    body = kw.read_frame(s)
    assert body[:4] == kw.i32(correlation_id)
    error, count = struct.unpack(">hi", body[4:10])
    rest, mechanisms = body[10:], []
    for _ in range(count):
        (n,) = struct.unpack(">h", rest[:2])
        mechanisms.append(rest[2:2 + n].decode())
        rest = rest[2 + n:]
    return error, mechanisms


def authenticate(s: socket.socket, token: bytes, version: int = 1, correlation_id: int = 2):
    s.sendall(kw.frame(kw.header_v1(SASL_AUTHENTICATE, version, correlation_id)
                       + kw.i32(len(token)) + token))
    body = kw.read_frame(s)
    assert body[:4] == kw.i32(correlation_id)
    (error,) = struct.unpack(">h", body[4:6])
    (n,) = struct.unpack(">h", body[6:8])
    message = None if n < 0 else body[8:8 + n].decode()
    rest = body[8 + max(n, 0):]
    (token_len,) = struct.unpack(">i", rest[:4])
    server_token = rest[4:4 + token_len]
    lifetime = struct.unpack(">q", rest[4 + token_len:12 + token_len])[0] if version >= 1 else None
    return error, message, server_token, lifetime


def metadata(s: socket.socket, correlation_id: int = 9) -> bytes:
    s.sendall(kw.frame(kw.header_v1(METADATA, 1, correlation_id) + kw.metadata_v1_body(None)))
    body = kw.read_frame(s)
    assert body[:4] == kw.i32(correlation_id)
    return body


def assert_closed(s: socket.socket) -> None:
    s.settimeout(10)
    with pytest.raises((kw.Closed, ConnectionError)):
        while True:
            if not s.recv(65536):
                raise kw.Closed()


def test_nothing_but_the_sasl_exchange_is_served_before_authentication(broker_factory, tmp_path):
    b = start_sasl_broker(broker_factory, tmp_path)
    # Metadata before authenticating: closed without an answer.
    with kw.connect(b.sasl_port) as s:
        s.sendall(kw.frame(kw.header_v1(METADATA, 1, 5) + kw.metadata_v1_body(None)))
        assert_closed(s)
    # ApiVersions is served, then PLAIN over SaslAuthenticate v1.
    with kw.connect(b.sasl_port) as s:
        s.sendall(kw.frame(kw.header_v1(kw.API_VERSIONS, 0, 7)))
        error, apis = kw.parse_api_versions_v0(kw.read_frame(s)[4:])
        assert error == 0 and apis[SASL_HANDSHAKE] == (0, 1) and apis[SASL_AUTHENTICATE] == (0, 2)
        assert handshake(s, "PLAIN") == (0, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
        assert authenticate(s, f"\0alice\0{ALICE_PASSWORD}".encode()) == (0, None, b"", 0)
        metadata(s)
    # A v0 handshake, then the raw token: an empty raw answer, then requests.
    with kw.connect(b.sasl_port) as s:
        assert handshake(s, "PLAIN", version=0)[0] == 0
        token = f"alice\0alice\0{ALICE_PASSWORD}".encode()
        s.sendall(struct.pack(">i", len(token)) + token)
        assert raw_frame(s) == b""
        metadata(s)


def test_bad_sasl_input_closes_only_that_connection(broker_factory, tmp_path):
    b = start_sasl_broker(broker_factory, tmp_path)
    # An unknown mechanism: UNSUPPORTED_SASL_MECHANISM (33) with the list, then closed.
    with kw.connect(b.sasl_port) as s:
        assert handshake(s, "GSSAPI") == (33, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
        assert_closed(s)
    # A token before any handshake: ILLEGAL_SASL_STATE (34), then closed.
    with kw.connect(b.sasl_port) as s:
        assert authenticate(s, b"\0alice\0x")[0] == 34
        assert_closed(s)
    # Garbage tokens: SASL_AUTHENTICATION_FAILED (58) with Kafka's message.
    for mechanism, token, message in [
            ("PLAIN", b"garbage", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"),
            ("PLAIN", b"\0alice\0wrong", "Authentication failed: Invalid username or password"),
            ("SCRAM-SHA-256", b"\xff\x00garbage", None),
            ("SCRAM-SHA-512", b"n,,n=nobody,r=abc", None)]:
        with kw.connect(b.sasl_port) as s:
            assert handshake(s, mechanism)[0] == 0
            error, text, _, _ = authenticate(s, token)
            assert error == 58, (mechanism, token, error, text)
            assert text.startswith("Authentication failed") or text.startswith("Invalid"), text
            if message is not None:
                assert text == message
            assert_closed(s)
    # Garbage raw token after a v0 SCRAM handshake: closed.
    with kw.connect(b.sasl_port) as s:
        assert handshake(s, "SCRAM-SHA-256", version=0)[0] == 0
        s.sendall(struct.pack(">i", 3) + b"\x00\x01\x02")
        assert_closed(s)
    # An oversize frame before authentication (Kafka's 512 KiB limit): closed
    # without the broker waiting for (or allocating) the claimed bytes.
    for size in (524_289, 100 * 1024 * 1024, 2**31 - 1):
        with kw.connect(b.sasl_port) as s:
            s.sendall(struct.pack(">i", size) + b"\x00" * 64)
            assert_closed(s)
    with kw.connect(b.sasl_port) as s:
        assert handshake(s, "PLAIN", version=0)[0] == 0
        s.sendall(struct.pack(">i", 600_000) + b"x" * 1000)
        assert_closed(s)
    # Everyone else is still served, on both listeners.
    from confluent_kafka.admin import AdminClient
    AdminClient(sasl_conf(b, "PLAIN", "alice", ALICE_PASSWORD)).list_topics(timeout=TIMEOUT_S)
    AdminClient({"bootstrap.servers": b.plaintext}).list_topics(timeout=TIMEOUT_S)


def test_sessions_expire_after_connections_max_reauth_ms_and_clients_reauthenticate(
        broker_factory, tmp_path):
    b = start_sasl_broker(broker_factory, tmp_path, "connections.max.reauth.ms=3000\n")
    with kw.connect(b.sasl_port) as s:
        assert handshake(s, "PLAIN")[0] == 0
        error, _, _, lifetime = authenticate(s, f"\0alice\0{ALICE_PASSWORD}".encode())
        assert (error, lifetime) == (0, 3000)
        metadata(s)
        time.sleep(3.5)
        # Expired: a new handshake is served (re-authentication)...
        assert handshake(s, "PLAIN", correlation_id=11)[0] == 0
        assert authenticate(s, f"\0alice\0{ALICE_PASSWORD}".encode(), correlation_id=12)[0] == 0
        metadata(s, correlation_id=13)
        time.sleep(3.5)
        # ...anything else closes the connection.
        s.sendall(kw.frame(kw.header_v1(METADATA, 1, 14) + kw.metadata_v1_body(None)))
        assert_closed(s)
    # librdkafka re-authenticates on its own (KIP-368): a producer keeps
    # producing across several session lifetimes.
    topic = unique_topic("reauth")
    create_topic(b.plaintext, topic, partitions=1)
    from confluent_kafka import Producer
    p = Producer(sasl_conf(b, "PLAIN", "alice", ALICE_PASSWORD, **{"linger.ms": 0}))
    delivered = []
    for i in range(4):
        p.produce(topic, value=f"r{i}".encode(), partition=0,
                  on_delivery=lambda err, msg: delivered.append((err, msg.offset())))
        p.flush(TIMEOUT_S)
        time.sleep(2)
    assert delivered == [(None, i) for i in range(4)]


def test_skein_user_cli_creates_lists_and_removes_scram_users(broker_factory, tmp_path):
    b = start_sasl_broker(broker_factory, tmp_path)
    skein = str(SKEIN_BIN)

    def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([skein, *args], capture_output=True, text=True, timeout=TIMEOUT_S)
        if check:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    cli("user", "add", "gina", "--mechanism", "SCRAM-SHA-512", "--password", "gina-pw",
        "--iterations", "5000", "-b", b.plaintext)
    # The CLI itself logs in over SASL (PLAIN, then SCRAM as the new user).
    cli("user", "add", "gina", "--mechanism", "SCRAM-SHA-256", "--password", "gina-pw-256",
        "-b", b.sasl, "--sasl-mechanism", "PLAIN", "--sasl-username", "admin",
        "--sasl-password", ADMIN_PASSWORD)
    listed = json.loads(cli("user", "list", "--format", "json", "-b", b.sasl,
                            "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", "gina",
                            "--sasl-password", "gina-pw").stdout)
    assert listed == [{"name": "gina", "credentials": [["SCRAM-SHA-256", 4096],
                                                       ["SCRAM-SHA-512", 5000]]}]
    from confluent_kafka.admin import AdminClient
    AdminClient(sasl_conf(b, "SCRAM-SHA-256", "gina", "gina-pw-256")).list_topics(timeout=TIMEOUT_S)
    # A wrong password: exit 1 naming SASL_AUTHENTICATION_FAILED.
    wrong = cli("user", "list", "-b", b.sasl, "--sasl-mechanism", "SCRAM-SHA-512",
                "--sasl-username", "gina", "--sasl-password", "nope", check=False)
    assert wrong.returncode == 1, wrong
    assert "SASL_AUTHENTICATION_FAILED" in wrong.stderr, wrong.stderr
    cli("user", "remove", "gina", "-b", b.plaintext)
    assert cli("user", "list", "-b", b.plaintext).stdout.splitlines() == ["USER  MECHANISM  ITERATIONS"]
    from confluent_kafka import KafkaError
    assert authentication_error(sasl_conf(b, "SCRAM-SHA-512", "gina", "gina-pw")).code() == \
        KafkaError._AUTHENTICATION
    # Removing a user without credentials, or a bad iteration count, is refused.
    bad = cli("user", "remove", "gina", "--mechanism", "SCRAM-SHA-256", "-b", b.plaintext,
              check=False)
    assert bad.returncode == 1 and "RESOURCE_NOT_FOUND" in bad.stderr, bad.stderr
    bad = cli("user", "add", "hal", "--password", "x", "--iterations", "100", "-b", b.plaintext,
              check=False)
    assert bad.returncode == 1 and "UNACCEPTABLE_CREDENTIAL" in bad.stderr, bad.stderr


def test_a_gssapi_or_unset_mechanism_list_stops_the_start_with_the_reason(tmp_path):
    for extra, reason in [("sasl.enabled.mechanisms=GSSAPI\n", "GSSAPI (Kerberos) is not served"),
                          ("", "Kafka's default GSSAPI"),
                          ("sasl.enabled.mechanisms=PLAIN\n", "PLAIN is enabled but has no users")]:
        path = tmp_path / "server.properties"
        path.write_text(f"listeners=SASL_PLAINTEXT://127.0.0.1:{free_port()}\n"
                        f"log.dirs={tmp_path / 'data'}\n" + extra)
        r = subprocess.run([str(SKEIN_BIN), "serve", "--config", str(path)], capture_output=True,
                           text=True, timeout=TIMEOUT_S)
        assert r.returncode != 0
        assert reason in r.stderr + r.stdout, r.stderr + r.stdout


def test_sasl_ssl_serves_plain_and_scram_over_tls(broker_factory, tmp_path):
    from test_tls import Pki
    pki = Pki(tmp_path)
    server_pem = tmp_path / "server.pem"
    pki.write_server(server_pem)
    b = start_sasl_broker(broker_factory, tmp_path, protocol="SASL_SSL",
                          extra=f"ssl.keystore.type=PEM\nssl.keystore.location={server_pem}\n")
    add_scram_user({"bootstrap.servers": b.plaintext}, "tls-user", "tls-pw", "SCRAM-SHA-256")
    topic = unique_topic("sasl-ssl")
    create_topic(b.plaintext, topic, partitions=1)
    tls = {"ssl.ca.location": str(pki.ca)}
    messages = keyed_messages(20, partition=0)
    delivered = produce(b.sasl, topic, messages,
                        **{k: v for k, v in sasl_conf(b, "SCRAM-SHA-256", "tls-user", "tls-pw",
                                                      **tls).items() if k != "bootstrap.servers"})
    assert [m.offset() for m in delivered] == list(range(20))
    want = [(i, m.get("key"), m.get("value")) for i, m in enumerate(messages)]
    assert read_partition(sasl_conf(b, "PLAIN", "alice", ALICE_PASSWORD, **tls), topic, 20) == want
    kcat = which_or_fail("kcat")
    out = subprocess.run([kcat, "-b", b.sasl, "-X", "security.protocol=sasl_ssl",
                          "-X", f"ssl.ca.location={pki.ca}", "-X", "sasl.mechanisms=SCRAM-SHA-256",
                          "-X", "sasl.username=tls-user", "-X", "sasl.password=tls-pw",
                          "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o\n"],
                         capture_output=True, text=True, check=True, timeout=TIMEOUT_S)
    assert out.stdout.splitlines() == [str(i) for i in range(20)]
    from confluent_kafka import KafkaError
    error = authentication_error(sasl_conf(b, "SCRAM-SHA-256", "tls-user", "wrong", **tls))
    assert error.code() == KafkaError._AUTHENTICATION


def failed_authentications(admin_port: int) -> dict[str, float]:
    """skein_failed_authentication_total by listener, from /metrics."""
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    counts = {}
    for line in text.splitlines():
        if line.startswith("skein_failed_authentication_total{"):
            labels, value = line.rsplit(" ", 1)
            counts[labels.split('listener="', 1)[1].split('"', 1)[0]] = float(value)
    return counts


def test_the_cli_lists_topics_and_manages_acls_over_sasl_ssl_with_scram(broker_factory, tmp_path):
    from test_tls import Pki
    pki = Pki(tmp_path)
    server_pem = tmp_path / "server.pem"
    pki.write_server(server_pem)
    admin_port = free_port()
    b = start_sasl_broker(
        broker_factory, tmp_path, protocol="SASL_SSL", admin_port=admin_port,
        extra=f"ssl.keystore.type=PEM\nssl.keystore.location={server_pem}\n"
              "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n"
              "super.users=User:ANONYMOUS;User:cli-admin\n")
    add_scram_user({"bootstrap.servers": b.plaintext}, "cli-admin", "cli-pw", "SCRAM-SHA-256")
    topic = unique_topic("cli-sasl-ssl")
    create_topic(b.plaintext, topic, partitions=2)

    def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([str(SKEIN_BIN), *args, "-b", b.sasl], capture_output=True, text=True,
                           timeout=TIMEOUT_S)
        if check:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    # librdkafka's property names with -X.
    x = ["-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={pki.ca}",
         "-X", "sasl.mechanism=SCRAM-SHA-256", "-X", "sasl.username=cli-admin",
         "-X", "sasl.password=cli-pw"]
    listed = json.loads(cli("topic", "list", "--format", "json", *x).stdout)
    assert {"name": topic, "partitions": 2} in listed
    cli("acl", "add", "--topic", topic, "--principal", "User:alice", "--operation", "READ", *x)
    # The Java client's names in a --command-config file, as Kafka's tools take them.
    properties = tmp_path / "client.properties"
    properties.write_text(
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism=SCRAM-SHA-256\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="cli-admin" password="cli-pw";\n'
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={pki.ca}\n")
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        acls = json.loads(cli("acl", "list", "--format", "json", "--command-config",
                              str(properties)).stdout)
        if acls or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [(a["resource_name"], a["principal"], a["operation"], a["permission"]) for a in acls] \
        == [(topic, "User:alice", "READ", "ALLOW")]
    assert failed_authentications(admin_port).get("SASL_SSL", 0) == 0

    # A wrong password is Kafka's error, and counted.
    wrong = cli("topic", "list", *x, "-X", "sasl.password=nope", check=False)
    assert wrong.returncode == 1, wrong
    assert "SASL_AUTHENTICATION_FAILED" in wrong.stderr, wrong.stderr
    # A CA that did not sign the broker's certificate fails the handshake.
    (tmp_path / "other").mkdir()
    other_ca = Pki(tmp_path / "other")
    untrusted = cli("topic", "list", *x, "-X", f"ssl.ca.location={other_ca.ca}", check=False)
    assert untrusted.returncode == 1, untrusted
    assert "TLS handshake" in untrusted.stderr, untrusted.stderr
    # Kafka counts both as failed authentications of the listener.
    assert failed_authentications(admin_port) == {"SASL_SSL": 2}


def test_client_certificate_principal_follows_ssl_principal_mapping_rules(broker_factory, tmp_path):
    from test_tls import Pki, tls_socket, api_versions_over
    pki = Pki(tmp_path)
    port, ssl_port = free_port(), free_port()
    server_pem = tmp_path / "server.pem"
    pki.write_server(server_pem)
    path = tmp_path / "server.properties"
    # Only certificates whose subject is exactly CN=admin map to a principal
    # (User:admin): no rule applies to CN=alice, so Kafka fails its
    # authentication and closes the connection.
    path.write_text(
        f"listeners=PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port}\n"
        f"log.dirs={tmp_path / 'data'}\n"
        f"ssl.keystore.type=PEM\nssl.keystore.location={server_pem}\n"
        f"ssl.client.auth=required\nssl.truststore.type=PEM\nssl.truststore.location={pki.ca}\n"
        "ssl.principal.mapping.rules=RULE:^CN=(admin)$/$1/L\n")
    broker_factory(config_file=path, port=port)
    wait_port(ssl_port)
    with tls_socket(pki, ssl_port, cert=pki.write_client("admin")) as s:
        error, apis = api_versions_over(s)
    assert error == 0 and kw.PRODUCE in apis
    with pytest.raises((kw.Closed, ConnectionError, OSError)):
        with tls_socket(pki, ssl_port, cert=pki.write_client("alice")) as s:
            api_versions_over(s)


@pytest.mark.timeout(180)
def test_scram_users_created_on_any_node_reach_every_node(cluster_factory):
    """AlterUserScramCredentials sent to a node that is not the active
    controller is forwarded to it; every node then describes the user."""
    from confluent_kafka.admin import AdminClient
    cluster = cluster_factory(combined=3)
    cluster.start()
    cluster.wait_ready({1, 2, 3})
    controller, _ = cluster.agreed_controller(cluster.broker_nodes(), {1, 2, 3}, TIMEOUT_S)
    follower = next(n for n in cluster.broker_nodes() if n.node_id != controller)
    add_scram_user({"bootstrap.servers": f"127.0.0.1:{follower.client_port}"}, "fwd", "fwd-pw",
                   "SCRAM-SHA-512", iterations=4096)
    for node in cluster.broker_nodes():
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{node.client_port}"})
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            users = admin.describe_user_scram_credentials().result(timeout=TIMEOUT_S)
            if "fwd" in users or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        infos = [(i.mechanism.name, i.iterations) for i in users["fwd"].scram_credential_infos]
        assert infos == [("SCRAM_SHA_512", 4096)], (node.node_id, infos)
