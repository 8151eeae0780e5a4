"""SSL listeners next to a PLAINTEXT one, with real clients.

Each test makes a throwaway CA, a server certificate for localhost/127.0.0.1
and a client certificate with the `cryptography` package, then starts the
real broker with `listeners=PLAINTEXT://…,SSL://…` from a server.properties
file (Kafka's property names: ssl.keystore.type=PEM, ssl.keystore.location,
ssl.truststore.location, ssl.client.auth, listener.name.ssl.…).

What users rely on: confluent-kafka, kcat and kafka-python produce and
consume exact messages over SSL; each listener's clients are told that
listener's address; ssl.client.auth=required refuses a client without a
certificate and serves one with; a replaced certificate file is served to
new connections without a restart; garbage or a plaintext Kafka request on
the SSL port, and a TLS client on the PLAINTEXT port, close that connection
only while other clients keep working.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import kafka_wire as kw
from clients import create_topic, keyed_messages, produce, unique_topic
from conftest import free_port, which_or_fail

TIMEOUT_S = 30


# --------------------------------------------------------------------------
# A throwaway PKI.


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class Pki:
    """A CA and the certificates it signs, written under `directory`."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(_name("skein e2e CA")).issuer_name(_name("skein e2e CA"))
            .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca = directory / "ca.pem"
        self.ca.write_bytes(_pem_cert(self.ca_cert))

    def issue(self, cn: str, server: bool, serial: int | None = None):
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn)).issuer_name(self.ca_cert.subject)
            .public_key(key.public_key()).serial_number(serial or x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False)
        )
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
        return key, builder.sign(self.ca_key, hashes.SHA256())

    def write_server(self, path: Path, serial: int | None = None) -> int:
        """Writes key + certificate (Kafka's PEM key store) to `path`
        atomically; returns the certificate's serial number."""
        key, cert = self.issue("localhost", server=True, serial=serial)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(_pem_key(key) + _pem_cert(cert))
        os.replace(tmp, path)
        return cert.serial_number

    def write_client(self, name: str) -> tuple[Path, Path]:
        key, cert = self.issue(name, server=False)
        key_path, cert_path = self.dir / f"{name}.key", self.dir / f"{name}.crt"
        key_path.write_bytes(_pem_key(key))
        cert_path.write_bytes(_pem_cert(cert))
        return cert_path, key_path


@pytest.fixture
def pki(tmp_path) -> Pki:
    return Pki(tmp_path)


def start_tls_broker(broker_factory, tmp_path: Path, pki: Pki, extra: str = ""):
    """A broker with PLAINTEXT and SSL listeners on 127.0.0.1; returns
    (broker, ssl_port, server certificate serial, server.pem path)."""
    port, ssl_port = free_port(), free_port()
    server_pem = tmp_path / "server.pem"
    serial = pki.write_server(server_pem)
    path = tmp_path / "server.properties"
    path.write_text(
        f"listeners=PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port}\n"
        f"log.dirs={tmp_path / 'data'}\n"
        "ssl.keystore.type=PEM\n"
        f"ssl.keystore.location={server_pem}\n" + extra
    )
    broker = broker_factory(config_file=path, port=port)
    wait_port(ssl_port)
    return broker, ssl_port, serial, server_pem


def wait_port(port: int) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def ssl_conf(pki: Pki, ssl_port: int, **extra) -> dict:
    return {"bootstrap.servers": f"127.0.0.1:{ssl_port}", "security.protocol": "ssl",
            "ssl.ca.location": str(pki.ca), **extra}


def tls_socket(pki: Pki, port: int, cert: tuple[Path, Path] | None = None) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(raw, server_hostname="localhost")


def api_versions_over(s) -> tuple[int, dict]:
    """Sends ApiVersions v0 on `s` (plain or TLS) and parses the answer."""
    s.sendall(kw.frame(kw.header_v1(kw.API_VERSIONS, 0, 7)))
    response = kw.read_frame(s)
    assert response[:4] == kw.i32(7)
    return kw.parse_api_versions_v0(response[4:])


def served_serial(pki: Pki, port: int) -> int:
    with tls_socket(pki, port) as s:
        der = s.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


# --------------------------------------------------------------------------


def test_confluent_produces_and_consumes_over_ssl_and_each_listener_advertises_itself(
        broker_factory, tmp_path, pki):
    broker, ssl_port, _, _ = start_tls_broker(broker_factory, tmp_path, pki)
    from confluent_kafka.admin import AdminClient

    ssl_brokers = AdminClient(ssl_conf(pki, ssl_port)).list_topics(timeout=TIMEOUT_S).brokers
    assert [(b.host, b.port) for b in ssl_brokers.values()] == [("127.0.0.1", ssl_port)]
    plain_brokers = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(
        timeout=TIMEOUT_S).brokers
    assert [(b.host, b.port) for b in plain_brokers.values()] == [("127.0.0.1", broker.port)]

    topic = unique_topic("tls")
    create_topic(broker.bootstrap, topic, partitions=1)
    messages = keyed_messages(50, partition=0)
    bootstrap = f"127.0.0.1:{ssl_port}"
    tls = {"security.protocol": "ssl", "ssl.ca.location": str(pki.ca)}
    delivered = produce(bootstrap, topic, messages, **tls)
    assert [m.offset() for m in delivered] == list(range(50))
    # Read back over TLS (zero-copy fetch bytes go through rustls) and over
    # PLAINTEXT: the same records.
    from confluent_kafka import Consumer, TopicPartition, KafkaError

    def read_all(conf: dict) -> list[tuple[int, bytes, bytes]]:
        c = Consumer({**conf, "group.id": "tls-e2e", "enable.auto.commit": False,
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
                    if m.error().code() == KafkaError._PARTITION_EOF and len(out) >= 50:
                        return out
                    continue
                out.append((m.offset(), m.key(), m.value()))
            raise AssertionError(f"got {len(out)} of 50 messages")
        finally:
            c.close()

    want = [(i, m.get("key"), m.get("value")) for i, m in enumerate(messages)]
    assert read_all(ssl_conf(pki, ssl_port)) == want
    assert read_all({"bootstrap.servers": broker.bootstrap}) == want


def test_kcat_and_kafka_python_round_trip_over_ssl(broker_factory, tmp_path, pki):
    kcat = which_or_fail("kcat")
    broker, ssl_port, _, _ = start_tls_broker(broker_factory, tmp_path, pki)
    topic = unique_topic("tls-kcat")
    create_topic(broker.bootstrap, topic, partitions=1)
    tls_args = ["-b", f"127.0.0.1:{ssl_port}", "-X", "security.protocol=ssl",
                "-X", f"ssl.ca.location={pki.ca}"]
    lines = [f"kcat-{i}" for i in range(20)]
    subprocess.run([kcat, *tls_args, "-P", "-t", topic, "-p", "0"], input="\n".join(lines) + "\n",
                   text=True, check=True, timeout=TIMEOUT_S)

    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    python_ssl = dict(bootstrap_servers=f"127.0.0.1:{ssl_port}", security_protocol="SSL",
                      ssl_cafile=str(pki.ca), ssl_check_hostname=True)
    producer = KafkaProducer(**python_ssl, acks="all")
    for i in range(20):
        producer.send(topic, value=f"python-{i}".encode(), partition=0).get(timeout=TIMEOUT_S)
    producer.close()

    out = subprocess.run([kcat, *tls_args, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e",
                          "-q", "-f", "%o %s\n"], capture_output=True, text=True, check=True,
                         timeout=TIMEOUT_S).stdout.splitlines()
    want = [f"{i} kcat-{i}" for i in range(20)] + [f"{20 + i} python-{i}" for i in range(20)]
    assert out == want

    consumer = KafkaConsumer(**python_ssl, enable_auto_commit=False, consumer_timeout_ms=5000)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek(TopicPartition(topic, 0), 0)
    got = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(got) < 40 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got += [(r.offset, r.value.decode()) for r in records]
    consumer.close()
    assert got == [(int(w.split()[0]), w.split()[1]) for w in want]


def test_required_client_certificates_refuse_a_client_without_one(broker_factory, tmp_path, pki):
    extra = (f"listener.name.ssl.ssl.client.auth=required\n"
             f"listener.name.ssl.ssl.truststore.type=PEM\n"
             f"listener.name.ssl.ssl.truststore.location={pki.ca}\n")
    broker, ssl_port, _, _ = start_tls_broker(broker_factory, tmp_path, pki, extra)
    alice = pki.write_client("alice")

    # Without a certificate: the handshake (or, in TLS 1.3, the first read
    # after it) fails and no Kafka answer comes back.
    with pytest.raises((ssl.SSLError, kw.Closed, ConnectionError, OSError)):
        with tls_socket(pki, ssl_port) as s:
            api_versions_over(s)
    # With one signed by the trusted CA: served.
    with tls_socket(pki, ssl_port, cert=alice) as s:
        error, apis = api_versions_over(s)
    assert error == 0 and kw.PRODUCE in apis

    # librdkafka with a certificate produces; the PLAINTEXT listener does not
    # ask for one.
    topic = unique_topic("mtls")
    create_topic(broker.bootstrap, topic)
    delivered = produce(f"127.0.0.1:{ssl_port}", topic, keyed_messages(3, partition=0),
                        **{"security.protocol": "ssl", "ssl.ca.location": str(pki.ca),
                           "ssl.certificate.location": str(alice[0]),
                           "ssl.key.location": str(alice[1])})
    assert [m.offset() for m in delivered] == [0, 1, 2]


def test_a_replaced_certificate_is_served_to_new_connections_without_restart(
        broker_factory, tmp_path, pki):
    broker, ssl_port, first_serial, server_pem = start_tls_broker(broker_factory, tmp_path, pki)
    assert served_serial(pki, ssl_port) == first_serial
    kept = tls_socket(pki, ssl_port)
    second_serial = pki.write_server(server_pem)
    assert second_serial != first_serial
    deadline = time.monotonic() + 20
    while served_serial(pki, ssl_port) != second_serial:
        assert time.monotonic() < deadline, "the new certificate was not served within 20s"
        time.sleep(0.2)
    # A connection made before the swap keeps working.
    error, _ = api_versions_over(kept)
    assert error == 0
    kept.close()
    assert broker.alive()


def test_garbage_and_plaintext_kafka_on_the_ssl_port_close_only_that_connection(
        broker_factory, tmp_path, pki):
    broker, ssl_port, _, _ = start_tls_broker(broker_factory, tmp_path, pki)
    # A TLS client that stays connected through it all.
    steady = tls_socket(pki, ssl_port)
    assert api_versions_over(steady)[0] == 0

    def closed_without_kafka_answer(s: socket.socket) -> None:
        s.settimeout(10)
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass
        # At most a TLS alert record (content type 21), never a Kafka frame.
        assert data == b"" or data[0] == 0x15, data[:32]

    garbage = bytes((i * 7919) % 256 for i in range(100_000))
    with kw.connect(ssl_port) as s:
        try:
            s.sendall(garbage)
        except (ConnectionResetError, BrokenPipeError):
            pass
        closed_without_kafka_answer(s)
    with kw.connect(ssl_port) as s:
        s.sendall(kw.frame(kw.header_v1(kw.API_VERSIONS, 0, 1)))
        closed_without_kafka_answer(s)
    # A TLS ClientHello on the PLAINTEXT port: a frame size no request may
    # have, so that connection closes.
    raw = socket.create_connection(("127.0.0.1", broker.port), timeout=10)
    context = ssl.create_default_context(cafile=str(pki.ca))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        context.wrap_socket(raw, server_hostname="localhost")
    raw.close()

    assert api_versions_over(steady)[0] == 0
    steady.close()
    with tls_socket(pki, ssl_port) as s:
        assert api_versions_over(s)[0] == 0
    with kw.connect(broker.port) as s:
        assert api_versions_over(s)[0] == 0
    assert broker.alive()


def test_an_unusable_keystore_stops_the_start_with_the_reason(tmp_path, pki):
    from conftest import SKEIN_BIN

    port, ssl_port = free_port(), free_port()
    path = tmp_path / "server.properties"
    path.write_text(
        f"listeners=PLAINTEXT://127.0.0.1:{port},SSL://127.0.0.1:{ssl_port}\n"
        f"log.dirs={tmp_path / 'data'}\n"
        "ssl.keystore.type=PEM\n"
        f"ssl.keystore.location={pki.ca}\n"  # a certificate, no key
    )
    done = subprocess.run([str(SKEIN_BIN), "serve", "--config", str(path), "--admin-listen", "off"],
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode != 0
    assert "private key" in done.stderr and "SSL" in done.stderr, done.stderr[-2000:]
    path.write_text(path.read_text().replace("ssl.keystore.type=PEM", "ssl.keystore.type=JKS"))
    done = subprocess.run([str(SKEIN_BIN), "serve", "--config", str(path), "--admin-listen", "off"],
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode != 0
    assert "ssl.keystore.type" in done.stderr and "PEM" in done.stderr, done.stderr[-2000:]
