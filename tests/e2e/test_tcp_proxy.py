"""The loopback TCP proxy of the fault test (tcp_proxy.py): it forwards
bytes both ways, cuts open connections and refuses new ones while
blocked, picks connections by the process that opened them, and heals.
No broker: an echo server on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from tcp_proxy import TcpProxy, socket_owner

TIMEOUT_S = 5.0


@pytest.fixture
def echo_port():
    """An echo server: every connection gets back what it sends."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def serve(conn):
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    def accept():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


@pytest.fixture
def proxy(echo_port):
    p = TcpProxy(echo_port, name="test", source_pids=lambda: [os.getpid()])
    yield p
    p.close()


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    s.settimeout(TIMEOUT_S)
    return s


def round_trip(s: socket.socket, payload: bytes) -> bytes:
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def is_cut(s: socket.socket) -> bool:
    """Whether the connection was reset or closed by the far side."""
    try:
        s.sendall(b"x")
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def is_refused(port: int) -> bool:
    """Whether a new connection is reset: the handshake completes (the
    proxy accepts), then the reset comes, before or after connect returns."""
    try:
        s = connect(port)
    except (ConnectionResetError, BrokenPipeError):
        return True
    with s:
        return is_cut(s)


def test_bytes_go_through_both_ways_unchanged(proxy):
    with connect(proxy.port) as s:
        payload = os.urandom(300_000)
        assert round_trip(s, payload) == payload
    assert proxy.accepted == 1


def test_block_cuts_open_connections_and_refuses_new_ones_until_heal(proxy):
    before = connect(proxy.port)
    assert round_trip(before, b"hello") == b"hello"
    proxy.block()
    assert is_cut(before)
    assert is_refused(proxy.port)
    assert (proxy.dropped, proxy.refused) == (1, 1)
    proxy.heal()
    with connect(proxy.port) as after:
        assert round_trip(after, b"again") == b"again"
    before.close()


def test_block_picks_connections_by_the_process_that_opened_them(proxy):
    me = os.getpid()
    with connect(proxy.port) as s:
        assert round_trip(s, b"a") == b"a"
        proxy.block(lambda pid: pid != me)  # someone else: this one stays
        assert round_trip(s, b"b") == b"b"
        with connect(proxy.port) as t:
            assert round_trip(t, b"c") == b"c"
        proxy.block(lambda pid: pid == me)
        assert is_cut(s)


def test_socket_owner_names_the_process_holding_the_client_end(echo_port):
    with connect(echo_port) as s:
        local = s.getsockname()[1]
        assert socket_owner(local, echo_port, [os.getpid()]) == os.getpid()
        assert socket_owner(local, echo_port, []) is None
