"""Brokers and controllers that talk to each other only over SASL and TLS.

A three-node cluster (every node broker and controller) whose only
listeners are a SASL_PLAINTEXT broker listener, which is also the
inter-broker listener, and an SSL controller listener with
`ssl.client.auth=required` — written in Kafka's property names:

    listeners=BROKER://127.0.0.1:P,CONTROLLER://127.0.0.1:C
    listener.security.protocol.map=BROKER:SASL_PLAINTEXT,CONTROLLER:SSL
    inter.broker.listener.name=BROKER
    sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256
    sasl.mechanism.inter.broker.protocol=PLAIN
    listener.name.broker.plain.sasl.jaas.config=...PlainLoginModule required
        username="broker" password="..." user_broker="..." user_alice="...";
    listener.name.controller.ssl.keystore.location=<node key + certificate>
    listener.name.controller.ssl.truststore.location=<CA>

A second cluster has only SASL_SSL listeners: brokers log in to each other
with SCRAM-SHA-256 over TLS, every node to the controllers with PLAIN over
TLS (`sasl.mechanism.controller.protocol=PLAIN`).

The replica fetchers (and WriteTxnMarkers) log in to the other brokers as
`broker` with PLAIN, since their listener serves nothing before a SASL
login; the raft transport, registrations, heartbeats, AlterPartition and
forwarding reach the controllers over TLS, presenting the node's
certificate. SCRAM for inter-broker traffic needs the user in the metadata
log before the brokers log in to each other (Kafka creates it at format
time with `kafka-storage format --add-scram`, which Skein has no equivalent
of): the second test creates it through a PLAIN client login first (the
followers' fetches are refused until then), then replicates with it.

What users rely on: with acks=all every acknowledged record is on every
replica, so after kill -9 of the leader the new leader serves all of them,
exactly once, in order; a broker whose inter-broker mechanism is Kafka's
default (GSSAPI) refuses to start and says why.
"""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from cluster import Cluster
from conftest import SKEIN_BIN, free_port
from test_cluster import cluster_factory  # noqa: F401 (the fixture)
from test_sasl import add_scram_user
from test_tls import Pki, _name, _pem_cert, _pem_key

TIMEOUT_S = 60
MESSAGES = 3000
BROKER_PASSWORD = "broker-secret"
ALICE_PASSWORD = "alice-secret"
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              f'username="broker" password="{BROKER_PASSWORD}" '
              f'user_broker="{BROKER_PASSWORD}" user_alice="{ALICE_PASSWORD}";')
SCRAM_JAAS = ('org.apache.kafka.common.security.scram.ScramLoginModule required '
              f'username="replicator" password="replicator-secret";')


def write_node_keystore(pki: Pki, path: Path) -> None:
    """A node's PEM key store: its key and a certificate for 127.0.0.1 that
    serves (controller listener) and authenticates (as a client of the
    other controllers) alike."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("skein-node")).issuer_name(pki.ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .sign(pki.ca_key, hashes.SHA256())
    )
    path.write_bytes(_pem_key(key) + _pem_cert(cert))


def secured_properties(pki: Pki, keystore: Path, mechanism: str,
                       broker_protocol: str = "SASL_PLAINTEXT",
                       controller_protocol: str = "SSL") -> dict[str, str]:
    """Every listener's key store is the node's, trusted by the test CA;
    the controller listener wants client certificates (mutual TLS) when it
    is SSL, a PLAIN login as `broker` when it is SASL."""
    props = {
        "listener.security.protocol.map":
            f"BROKER:{broker_protocol},CONTROLLER:{controller_protocol}",
        "inter.broker.listener.name": "BROKER",
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256",
        "sasl.mechanism.inter.broker.protocol": mechanism,
        "listener.name.broker.plain.sasl.jaas.config": PLAIN_JAAS,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki.ca),
        "connection.failed.authentication.delay.ms": "50",
        "offsets.topic.replication.factor": "3",
    }
    if controller_protocol == "SSL":
        props["listener.name.controller.ssl.client.auth"] = "required"
    else:
        props["sasl.mechanism.controller.protocol"] = "PLAIN"
        props["listener.name.controller.plain.sasl.jaas.config"] = PLAIN_JAAS
    if mechanism.startswith("SCRAM"):
        props["listener.name.broker.scram-sha-256.sasl.jaas.config"] = SCRAM_JAAS
    return props


# The clients' security protocol and CA, set by start_secured_cluster.
CLIENT_SECURITY: dict[str, str] = {}


def client_conf(bootstrap: str, **extra) -> dict:
    return {"bootstrap.servers": bootstrap, **CLIENT_SECURITY,
            "sasl.mechanisms": "PLAIN", "sasl.username": "alice",
            "sasl.password": ALICE_PASSWORD, **extra}


def start_secured_cluster(cluster_factory, tmp_path: Path, mechanism: str,
                          broker_protocol: str = "SASL_PLAINTEXT",
                          controller_protocol: str = "SSL") -> Cluster:
    pki = Pki(tmp_path)
    keystore = tmp_path / "node.pem"
    write_node_keystore(pki, keystore)
    CLIENT_SECURITY.clear()
    CLIENT_SECURITY["security.protocol"] = broker_protocol.lower()
    if broker_protocol == "SASL_SSL":
        CLIENT_SECURITY["ssl.ca.location"] = str(pki.ca)
    properties = secured_properties(pki, keystore, mechanism, broker_protocol,
                                    controller_protocol)
    cluster = cluster_factory(combined=3, client_listener="BROKER", properties=properties)
    cluster.start()
    wait_brokers(cluster, {1, 2, 3})
    return cluster


def wait_brokers(cluster: Cluster, expected: set[int]) -> None:
    """Until Metadata over SASL from every running broker lists exactly
    `expected` (the harness's own probes speak plaintext only)."""
    from confluent_kafka.admin import AdminClient

    def probe():
        seen = {}
        for node in cluster.running_brokers():
            admin = AdminClient(client_conf(node.bootstrap))
            try:
                seen[node.node_id] = set(admin.list_topics(timeout=5).brokers)
            except Exception as error:  # noqa: BLE001 (not up yet)
                seen[node.node_id] = repr(error)
        ok = all(v == expected for v in seen.values())
        return ok, seen

    cluster.wait_for(f"every broker listing {sorted(expected)} over SASL", probe, TIMEOUT_S)


def partition_view(bootstrap: str, topic: str):
    """Partition 0 of `topic` as Metadata over SASL shows it; None while
    the answering broker does not know the topic's partition yet (right
    after its creation)."""
    from confluent_kafka.admin import AdminClient
    admin = AdminClient(client_conf(bootstrap))
    topic_view = admin.list_topics(topic, timeout=10).topics.get(topic)
    return None if topic_view is None else topic_view.partitions.get(0)


def create_replicated_topic(bootstrap: str, topic: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient(client_conf(bootstrap))
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3,
                                            config={"min.insync.replicas": "2"})])
    futures[topic].result(timeout=TIMEOUT_S)


def produce_all_acks(bootstrap: str, topic: str, count: int) -> list[int]:
    from confluent_kafka import Producer
    producer = Producer(client_conf(bootstrap, acks="all", **{"enable.idempotence": True,
                                                               "linger.ms": 5}))
    offsets: list[int] = []
    errors: list = []

    def delivered(error, message):
        if error is not None:
            errors.append(error)
        else:
            offsets.append(message.offset())

    for i in range(count):
        producer.produce(topic, key=str(i).encode(), value=f"value-{i}".encode(),
                         partition=0, on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(TIMEOUT_S) == 0
    assert errors == []
    return offsets


def consume_all(bootstrap: str, topic: str, count: int) -> list[tuple[int, bytes, bytes]]:
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer(client_conf(bootstrap, **{"group.id": f"check-{topic}",
                                                  "enable.auto.commit": False,
                                                  "auto.offset.reset": "earliest"}))
    consumer.assign([TopicPartition(topic, 0, 0)])
    records = []
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while len(records) < count and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            records.append((m.offset(), m.key(), m.value()))
        # Nothing beyond what was acknowledged.
        m = consumer.poll(1.0)
        assert m is None or m.error() is not None, (m.offset(), m.value())
    finally:
        consumer.close()
    return records


def replicate_and_fail_over(cluster: Cluster, topic: str) -> None:
    bootstrap = cluster.bootstrap()
    create_replicated_topic(bootstrap, topic)

    def full_isr():
        p = partition_view(bootstrap, topic)
        if p is None:
            return False, "partition 0 not known yet"
        return (p.leader >= 0 and sorted(p.isrs) == [1, 2, 3]), (p.leader, p.isrs)

    cluster.wait_for(f"{topic} led with ISR [1, 2, 3]", full_isr, TIMEOUT_S)
    offsets = produce_all_acks(bootstrap, topic, MESSAGES)
    assert sorted(offsets) == list(range(MESSAGES))
    leader = partition_view(bootstrap, topic).leader
    cluster.node(leader).kill()
    survivors = [n for n in cluster.broker_nodes() if n.node_id != leader]

    def new_leader():
        p = partition_view(cluster.bootstrap(survivors), topic)
        if p is None:
            return False, "partition 0 not known"
        ok = p.leader in {n.node_id for n in survivors}
        return ok, (p.leader if ok else (p.leader, p.isrs))

    elected, _ = cluster.wait_for(f"{topic} led by a survivor of node {leader}", new_leader,
                                  TIMEOUT_S)
    records = consume_all(cluster.node(elected).bootstrap, topic, MESSAGES)
    assert len(records) == MESSAGES
    assert records == [(i, str(i).encode(), f"value-{i}".encode()) for i in range(MESSAGES)]


@pytest.mark.timeout(240)
def test_brokers_replicate_over_sasl_plain_and_controllers_over_mutual_tls(
        cluster_factory, tmp_path):
    cluster = start_secured_cluster(cluster_factory, tmp_path, "PLAIN")
    replicate_and_fail_over(cluster, "secured-plain")
    # Nothing was refused: every inter-node login succeeded.
    for node in cluster.nodes.values():
        log = node.log_text()
        assert "SASL authentication failed" not in log, node.node_id
        assert "TLS handshake failed" not in log, node.node_id
        assert "SASL login failed" not in log, node.node_id


@pytest.mark.timeout(240)
def test_brokers_replicate_with_scram_over_sasl_ssl_once_the_inter_broker_user_exists(
        cluster_factory, tmp_path):
    """Every listener SASL_SSL: brokers log in to each other with
    SCRAM-SHA-256 over TLS, nodes to the controllers with PLAIN over TLS."""
    cluster = start_secured_cluster(cluster_factory, tmp_path, "SCRAM-SHA-256",
                                    broker_protocol="SASL_SSL", controller_protocol="SASL_SSL")
    # The SCRAM user lives in the metadata log: created through a PLAIN
    # login, it reaches every broker before the topic's followers fetch.
    add_scram_user(client_conf(cluster.bootstrap()), "replicator", "replicator-secret",
                   "SCRAM-SHA-256", iterations=4096)
    replicate_and_fail_over(cluster, "secured-scram")


def test_a_sasl_inter_broker_listener_with_kafkas_gssapi_default_refuses_to_start(tmp_path):
    pki = Pki(tmp_path)
    keystore = tmp_path / "node.pem"
    write_node_keystore(pki, keystore)
    props = secured_properties(pki, keystore, "PLAIN")
    del props["sasl.mechanism.inter.broker.protocol"]
    port, controller_port, other = free_port(), free_port(), free_port()
    props.update({
        "node.id": "1", "process.roles": "broker,controller",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port},2@127.0.0.1:{other}",
        "controller.listener.names": "CONTROLLER",
        "listeners": f"BROKER://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "log.dirs": str(tmp_path / "data"),
    })
    path = tmp_path / "node1.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    r = subprocess.run([str(SKEIN_BIN), "serve", "--config", str(path)], capture_output=True,
                       text=True, timeout=TIMEOUT_S)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "sasl.mechanism.inter.broker.protocol: GSSAPI" in out, out
