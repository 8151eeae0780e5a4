"""What security costs: SASL_SSL (SCRAM-SHA-256) against PLAINTEXT on one broker, same run.

Starts `skein serve` with three listeners (PLAINTEXT, SSL, SASL_SSL) on a
test CA and server certificate made with openssl in a temporary directory,
adds one SCRAM-SHA-256 user with `skein user add`, then in each of --runs
runs measures:

  throughput   for PLAINTEXT and SASL_SSL (order alternating between runs):
               `skein bench produce` into a fresh topic (rate-capped so the
               data stays bounded), then --consume-passes catch-up reads of
               the whole topic with `skein bench consume --until-end`, then
               the topic is deleted (log.segment.delete.delay.ms=0, so its
               files go at once). Broker CPU (utime + stime of the broker
               process, /proc/<pid>/stat) is read around each phase and
               divided by the topic's record-batch bytes (as fetched).
  handshakes   --workers processes open connections for --handshake-seconds
               and close each one (RST, so no TIME_WAIT piles up):
                 plaintext  TCP connect + ApiVersions v0
                 tls        + a full TLS handshake (no session resumption)
                 tls+scram  + SaslHandshake v1 + two SaslAuthenticate v2
                            (SCRAM-SHA-256, the server signature checked)
               and reports completed connections/s and broker CPU per
               connection. The client computes PBKDF2 once per worker (the
               salt and iteration count do not change), so the client's
               Python does not hide the broker's cost; real clients pay
               PBKDF2 on every login, on their side.

Every run's numbers go to stderr as they come, then the medians and the
SASL_SSL/PLAINTEXT ratios of each run (the machine is shared: compare
within a run). /proc counts CPU in clock ticks (10 ms).

Usage (from the repository root, after `cargo build --release -p skein`):
  tests/e2e/.deps/venv/bin/python benches/scripts/security_bench.py \
      --bin target/release/skein --runs 3 --json security.json
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import multiprocessing
import os
import shutil
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from bench_support import free_port, process_cpu_seconds, wait_listening

USER, PASSWORD = "bench", "bench-secret"
API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36


# --- broker -----------------------------------------------------------------

def make_pki(directory: str) -> tuple[str, str]:
    """A test CA and a server certificate for 127.0.0.1/localhost made with
    openssl; returns (ca.pem, server.pem holding key + certificate)."""
    def run(*argv: str) -> None:
        subprocess.run(["openssl", *argv], cwd=directory, check=True, capture_output=True)
    run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key")
    run("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=skein bench CA", "-days", "1",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.pem")
    run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "server.key")
    run("req", "-new", "-key", "server.key", "-subj", "/CN=localhost", "-out", "server.csr")
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n"
                "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "1", "-extfile", "server.ext", "-out", "server.crt")
    server_pem = os.path.join(directory, "server.pem")
    with open(server_pem, "w") as out:
        for name in ("server.key", "server.crt"):
            with open(os.path.join(directory, name)) as f:
                out.write(f.read())
    return os.path.join(directory, "ca.pem"), server_pem


# --- raw Kafka requests -------------------------------------------------------

def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)


def string(s: str) -> bytes:
    b = s.encode()
    return i16(len(b)) + b


def recv_exact(sock, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        out += chunk
    return bytes(out)


def exchange(sock, request: bytes) -> bytes:
    sock.sendall(i32(len(request)) + request)
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    return recv_exact(sock, size)


def header_v1(api_key: int, version: int, correlation_id: int) -> bytes:
    return i16(api_key) + i16(version) + i32(correlation_id) + string("security-bench")


def api_versions(sock) -> None:
    body = exchange(sock, header_v1(API_VERSIONS, 0, 1))
    (error,) = struct.unpack(">h", body[4:6])
    if error:
        raise RuntimeError(f"ApiVersions error {error}")


def sasl_authenticate_v2(sock, correlation_id: int, token: bytes) -> bytes:
    """SaslAuthenticate v2 (flexible: header v2, compact bytes); returns the
    server's token, raising on an error code."""
    request = header_v1(SASL_AUTHENTICATE, 2, correlation_id) + b"\x00"  # header tags
    request += varint_u(len(token) + 1) + token + b"\x00"
    body = exchange(sock, request)
    pos = 5  # correlation_id, response header tags (empty)
    (error,) = struct.unpack(">h", body[pos:pos + 2])
    pos += 2
    n, pos = read_uvarint(body, pos)  # error_message, compact nullable string
    message = body[pos:pos + n - 1].decode() if n else None
    pos += max(n - 1, 0)
    if error:
        raise RuntimeError(f"SaslAuthenticate error {error}: {message}")
    n, pos = read_uvarint(body, pos)
    return body[pos:pos + n - 1]


def varint_u(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def read_uvarint(b: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = b[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


SALTED: dict[tuple[bytes, int], bytes] = {}


def scram_sha256_login(sock) -> None:
    """SaslHandshake v1 + SCRAM-SHA-256 (RFC 5802) over SaslAuthenticate v2."""
    body = exchange(sock, header_v1(SASL_HANDSHAKE, 1, 2) + string("SCRAM-SHA-256"))
    (error,) = struct.unpack(">h", body[4:6])
    if error:
        raise RuntimeError(f"SaslHandshake error {error}")
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={USER},r={nonce}"
    server_first = sasl_authenticate_v2(sock, 3, ("n,," + first_bare).encode()).decode()
    attrs = dict(part.split("=", 1) for part in server_first.split(","))
    if not attrs["r"].startswith(nonce):
        raise RuntimeError("server nonce does not extend the client's")
    salt, iterations = base64.b64decode(attrs["s"]), int(attrs["i"])
    salted = SALTED.get((salt, iterations))
    if salted is None:
        salted = SALTED[(salt, iterations)] = hashlib.pbkdf2_hmac(
            "sha256", PASSWORD.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.digest(stored_key, auth_message, "sha256")
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    final = f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
    server_final = sasl_authenticate_v2(sock, 4, final).decode()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    expected = base64.b64encode(hmac.digest(server_key, auth_message, "sha256")).decode()
    if server_final != f"v={expected}":
        raise RuntimeError(f"bad server signature: {server_final}")


# --- handshake workers ----------------------------------------------------------

def handshake_worker(mode: str, port: int, ca: str, start_at: float, end_at: float, out) -> None:
    context = None
    if mode != "plaintext":
        context = ssl.create_default_context(cafile=ca)
    done = errors = 0
    last_error = None
    linger = struct.pack("ii", 1, 0)
    while time.monotonic() < start_at:
        time.sleep(0.001)
    while time.monotonic() < end_at:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        raw.settimeout(10)
        sock = raw
        try:
            raw.connect(("127.0.0.1", port))
            if context is not None:
                sock = context.wrap_socket(raw, server_hostname="localhost")
            api_versions(sock)
            if mode == "tls+scram":
                scram_sha256_login(sock)
            if time.monotonic() < end_at:
                done += 1
        except Exception as e:  # counted and reported, never hidden
            errors += 1
            last_error = repr(e)
        finally:
            raw.close()
    out.put((done, errors, last_error))


def handshakes(mode: str, port: int, ca: str, workers: int, seconds: float, pid: int) -> dict:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    start_at = time.monotonic() + 1.0
    end_at = start_at + seconds
    procs = [multiprocessing.Process(target=handshake_worker,
                                     args=(mode, port, ca, start_at, end_at, queue))
             for _ in range(workers)]
    for p in procs:
        p.start()
    while time.monotonic() < start_at:
        time.sleep(0.0005)
    cpu_before = process_cpu_seconds(pid)
    while time.monotonic() < end_at:
        time.sleep(0.001)
    cpu = process_cpu_seconds(pid) - cpu_before
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join()
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    last_error = next((r[2] for r in results if r[2]), None)
    return {"connections": done, "errors": errors, "last_error": last_error,
            "per_s": done / seconds, "broker_cpu_s": cpu,
            "broker_cpu_us_per_conn": cpu / done * 1e6 if done else None}


# --- throughput ---------------------------------------------------------------

def bench(skein: str, argv: list[str], json_path: str) -> dict:
    r = subprocess.run([skein, "bench", *argv, "--json", json_path], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"skein bench {' '.join(argv)} failed: {r.stdout}{r.stderr}")
    with open(json_path) as f:
        report = json.load(f)
    series = report["series"][0]
    if series["failed_records"] or series["transport_errors"] or series["timeouts"] or not report["valid"]:
        raise RuntimeError(f"skein bench {' '.join(argv)} reported errors: {series['errors']} "
                           f"{series['last_error']} {report['problems']}")
    return series


def throughput(args, proto: str, bootstrap: str, client_props: list[str], topic: str,
               pid: int, work: str) -> dict:
    common = ["-b", bootstrap, "--topic", topic, *client_props]
    cpu_before = process_cpu_seconds(pid)
    produced = bench(args.skein, ["produce", *common, "--partitions", "1", "--record-size",
                                  str(args.record_size), "--batch-size", "64KiB", "--linger-ms", "5",
                                  "--acks", "1", "--rate", f"{args.produce_cap_mbps}MB/s",
                                  "--warmup", "1", "--duration", str(args.produce_seconds)],
                     os.path.join(work, "produce.json"))
    produce_cpu = process_cpu_seconds(pid) - cpu_before
    consumed_bytes = consumed_seconds = 0.0
    topic_bytes = None
    cpu_before = process_cpu_seconds(pid)
    for _ in range(args.consume_passes):
        c = bench(args.skein, ["consume", *common, "--from", "earliest", "--until-end",
                               "--warmup", "0", "--duration", "120"],
                  os.path.join(work, "consume.json"))
        if c["records"] != produced["records_total"]:
            raise RuntimeError(f"{proto}: consumed {c['records']} of {produced['records_total']} records")
        topic_bytes = topic_bytes or c["bytes"]
        consumed_bytes += c["bytes"]
        consumed_seconds += c["measured_seconds"]
    consume_cpu = process_cpu_seconds(pid) - cpu_before
    return {
        "produce_MBps": produced["bytes_per_s"] / 1e6,
        "produce_capped": produced["bytes_per_s"] / 1e6 > 0.95 * args.produce_cap_mbps,
        "produce_records": produced["records_total"],
        "topic_GB": topic_bytes / 1e9,
        "produce_cpu_s_per_GB": produce_cpu / (topic_bytes / 1e9),
        "consume_MBps": consumed_bytes / consumed_seconds / 1e6,
        "consume_cpu_s_per_GB": consume_cpu / (consumed_bytes / 1e9),
    }


def delete_topic(skein: str, bootstrap: str, topic: str) -> None:
    subprocess.run([skein, "topic", "delete", topic, "-b", bootstrap], check=True, capture_output=True)


# --- main ---------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", "--skein", dest="skein",
                        default=os.environ.get("SKEIN_BIN", "target/release/skein"))
    parser.add_argument("--json", help="write every run's figures to this file")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--record-size", type=int, default=1024)
    parser.add_argument("--produce-seconds", type=int, default=2,
                        help="measured seconds of produce (after 1 s of warm-up)")
    parser.add_argument("--produce-cap-mbps", type=int, default=400,
                        help="produce rate cap in MB/s; bounds the data: a topic (one at a time) "
                             "holds at most (1 + produce-seconds) x this. Runs that reach it are flagged")
    parser.add_argument("--consume-passes", type=int, default=3,
                        help="catch-up reads of the topic per protocol (enough CPU ticks to count)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--handshake-seconds", type=float, default=10)
    parser.add_argument("--cores", default=None, help="the broker's --cores (default: every core)")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="skein-security-bench-")
    broker = None
    try:
        free = shutil.disk_usage(work).free
        if free < 4e9:
            raise SystemExit(f"only {free / 1e9:.1f} GB free under {work}: need 4 GB")
        ca, server_pem = make_pki(work)
        plain_port, ssl_port, sasl_port = free_port(), free_port(), free_port()
        config = os.path.join(work, "server.properties")
        with open(config, "w") as f:
            f.write(f"listeners=PLAINTEXT://127.0.0.1:{plain_port},SSL://127.0.0.1:{ssl_port},"
                    f"SASL_SSL://127.0.0.1:{sasl_port}\n"
                    f"log.dirs={os.path.join(work, 'data')}\n"
                    "log.segment.delete.delay.ms=0\n"
                    "sasl.enabled.mechanisms=SCRAM-SHA-256\n"
                    f"ssl.keystore.type=PEM\nssl.keystore.location={server_pem}\n")
        argv = [args.skein, "serve", "--config", config, "--admin-listen", "off"]
        if args.cores:
            argv += ["--cores", args.cores]
        log = open(os.path.join(work, "broker.log"), "wb")
        broker = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        for port in (plain_port, ssl_port, sasl_port):
            wait_listening(port, 30)
        plain = f"127.0.0.1:{plain_port}"
        subprocess.run([args.skein, "user", "add", USER, "--mechanism", "SCRAM-SHA-256",
                        "--password", PASSWORD, "-b", plain], check=True, capture_output=True)
        protocols = {
            "PLAINTEXT": (plain, []),
            "SASL_SSL": (f"127.0.0.1:{sasl_port}",
                         ["-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanism=SCRAM-SHA-256",
                          "-X", f"sasl.username={USER}", "-X", f"sasl.password={PASSWORD}",
                          "-X", f"ssl.ca.location={ca}"]),
        }
        modes = {"plaintext": plain_port, "tls": ssl_port, "tls+scram": sasl_port}
        time.sleep(1)
        idle_before = process_cpu_seconds(broker.pid)
        time.sleep(3)
        idle = (process_cpu_seconds(broker.pid) - idle_before) / 3
        print(f"broker idle CPU: {idle * 1e3:.1f} ms/s", file=sys.stderr)

        tp: dict[str, list[dict]] = {p: [] for p in protocols}
        hs: dict[str, list[dict]] = {m: [] for m in modes}
        for run in range(args.runs):
            order = list(protocols) if run % 2 == 0 else list(reversed(protocols))
            for proto in order:
                bootstrap, props = protocols[proto]
                topic = f"security-bench-{proto.lower()}-{run}"
                r = throughput(args, proto, bootstrap, props, topic, broker.pid, work)
                delete_topic(args.skein, plain, topic)
                tp[proto].append(r)
                print(f"run {run} {proto:9s} produce {r['produce_MBps']:7.1f} MB/s "
                      f"{r['produce_cpu_s_per_GB']:6.2f} CPU-s/GB | catch-up consume "
                      f"{r['consume_MBps']:7.1f} MB/s {r['consume_cpu_s_per_GB']:6.2f} CPU-s/GB "
                      f"({r['topic_GB']:.2f} GB topic, {args.consume_passes} passes)"
                      + (" PRODUCE REACHED THE RATE CAP" if r["produce_capped"] else ""), file=sys.stderr)
            mode_order = list(modes)[run % 3:] + list(modes)[:run % 3]
            for mode in mode_order:
                h = handshakes(mode, modes[mode], ca, args.workers, args.handshake_seconds, broker.pid)
                hs[mode].append(h)
                print(f"run {run} {mode:10s} {h['per_s']:8.1f} connections/s, broker CPU "
                      f"{h['broker_cpu_us_per_conn'] or 0:8.1f} µs/connection, errors {h['errors']}"
                      + (f" (last: {h['last_error']})" if h["errors"] else ""), file=sys.stderr)
            time.sleep(0.5)

        def med(rows, key):
            return statistics.median(r[key] for r in rows)

        print(f"\n{args.runs} runs, {args.record_size} B records, --workers {args.workers}, "
              f"--handshake-seconds {args.handshake_seconds}, broker --cores {args.cores or 'all'}; "
              f"broker idle CPU {idle * 1e3:.1f} ms/s (not subtracted). Medians:")
        print(f"{'':10s} {'produce MB/s':>13s} {'CPU-s/GB':>9s} {'consume MB/s':>13s} {'CPU-s/GB':>9s}")
        for proto, rows in tp.items():
            print(f"{proto:10s} {med(rows, 'produce_MBps'):13.1f} {med(rows, 'produce_cpu_s_per_GB'):9.2f} "
                  f"{med(rows, 'consume_MBps'):13.1f} {med(rows, 'consume_cpu_s_per_GB'):9.2f}")
        print("SASL_SSL / PLAINTEXT within each run:")
        for key in ("produce_MBps", "produce_cpu_s_per_GB", "consume_MBps", "consume_cpu_s_per_GB"):
            ratios = [s[key] / p[key] for s, p in zip(tp["SASL_SSL"], tp["PLAINTEXT"])]
            print(f"  {key:22s} " + " ".join(f"{x:5.2f}" for x in ratios)
                  + f"   median {statistics.median(ratios):5.2f}")
        print(f"{'':10s} {'connections/s':>14s} {'broker µs/conn':>15s}")
        for mode, rows in hs.items():
            print(f"{mode:10s} {med(rows, 'per_s'):14.1f} {med(rows, 'broker_cpu_us_per_conn'):15.1f}")
        print("against plaintext within each run (connections/s, broker µs/conn):")
        for mode in ("tls", "tls+scram"):
            rate = [m["per_s"] / p["per_s"] for m, p in zip(hs[mode], hs["plaintext"])]
            cost = [m["broker_cpu_us_per_conn"] / p["broker_cpu_us_per_conn"]
                    for m, p in zip(hs[mode], hs["plaintext"])]
            print(f"  {mode:10s} rate " + " ".join(f"{x:5.2f}" for x in rate)
                  + f"  cost " + " ".join(f"{x:5.1f}" for x in cost))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"throughput": tp, "handshakes": hs, "idle_cpu_s_per_s": idle,
                           "arguments": vars(args)}, f, indent=1)
    finally:
        if broker is not None:
            broker.terminate()
            try:
                broker.wait(30)
            except subprocess.TimeoutExpired:
                broker.kill()
                broker.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
