"""A loopback TCP proxy that can cut connections, for network-partition tests.

`TcpProxy(target_port)` listens on a free 127.0.0.1 port and forwards every
connection it accepts to 127.0.0.1:target_port, bytes as they come, one
thread per direction. A test points one process at `proxy.port` instead of
the real port and can then partition the two:

    proxy.block()                 drop every connection (RST) and refuse new ones
    proxy.block(lambda pid: ...)  only those whose connecting process matches
    proxy.heal()                  accept and forward everything again

The connecting process of an accepted connection is found on loopback from
/proc (`socket_owner`: the socket bound to the peer's port, then the process
holding it), so one proxy in front of a broker can cut off one of its peers
and keep the others, as a partition between two machines would. A refused
connection is accepted and reset at once, as a host behind a firewall
rejecting with a TCP reset would do: the connecting side sees the
connection fail fast, not a timeout.

Nothing here knows Kafka: it forwards bytes.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from typing import Callable

BUFFER_BYTES = 64 * 1024
LOOPBACK = "127.0.0.1"
# How long connecting to the target may take before the client's connection
# is reset: the target is a local process, running or not.
CONNECT_TIMEOUT_S = 2.0

# Whether a connection from the process with this pid (None: unknown) is cut.
Blocked = Callable[[int | None], bool]


def _reset(sock: socket.socket) -> None:
    """Closes `sock` with a TCP reset (SO_LINGER 0) rather than a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    _close(sock)


def _close(sock: socket.socket) -> None:
    """Closes `sock` with a FIN after what was sent (the end of a
    connection one side closed)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _socket_inode(local_port: int, remote_port: int) -> int | None:
    """The inode of the IPv4 TCP socket 127.0.0.1:local_port ->
    127.0.0.1:remote_port, from /proc/net/tcp (hex `ADDR:PORT` columns, the
    inode is the tenth)."""
    want_local = f"0100007F:{local_port:04X}"
    want_remote = f"0100007F:{remote_port:04X}"
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if len(fields) > 9 and fields[1] == want_local and fields[2] == want_remote:
                    return int(fields[9])
    except OSError:
        return None
    return None


def socket_owner(local_port: int, remote_port: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the loopback socket local_port -> remote_port
    (a connection's client end seen from its server), or None."""
    inode = _socket_inode(local_port, remote_port)
    if inode is None:
        return None
    link = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == link:
                    return pid
            except OSError:
                continue
    return None


class _Connection:
    """One accepted connection and its upstream twin."""

    def __init__(self, client: socket.socket, upstream: socket.socket, source_pid: int | None):
        self.client = client
        self.upstream = upstream
        self.source_pid = source_pid
        self._closed = threading.Lock()
        self.closed = False

    def close(self, reset: bool) -> None:
        """Closes both ends: with a reset when the proxy cuts the
        connection, with a FIN when one end closed it."""
        with self._closed:
            if self.closed:
                return
            self.closed = True
        for sock in (self.client, self.upstream):
            (_reset if reset else _close)(sock)


class TcpProxy:
    """Forwards 127.0.0.1:`port` (default: a free one) to
    127.0.0.1:`target_port` (see the module doc). `source_pids()` lists the
    processes a connection may come from (for `block` predicates); without
    it every source is None."""

    def __init__(self, target_port: int, name: str = "",
                 source_pids: Callable[[], list[int]] | None = None, port: int = 0):
        self.target_port = target_port
        self.name = name or f"proxy->{target_port}"
        self._source_pids = source_pids or (lambda: [])
        self._lock = threading.Lock()
        self._connections: set[_Connection] = set()
        self._blocked: Blocked | None = None
        self._closing = False
        self.accepted = 0
        self.refused = 0
        self.dropped = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LOOPBACK, port))
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"{self.name} accept",
                                          daemon=True)
        self._acceptor.start()

    # ---- control

    def block(self, blocked: Blocked | None = None) -> None:
        """Drops the connections from sources `blocked` matches (default:
        all) and refuses new ones from them until `heal`."""
        blocked = blocked or (lambda _pid: True)
        with self._lock:
            self._blocked = blocked
            victims = [c for c in self._connections if blocked(c.source_pid)]
            for c in victims:
                self._connections.discard(c)
            self.dropped += len(victims)
        for c in victims:
            c.close(reset=True)

    def heal(self) -> None:
        """Accepts and forwards every connection again."""
        with self._lock:
            self._blocked = None

    @property
    def blocking(self) -> bool:
        return self._blocked is not None

    def close(self) -> None:
        """Stops listening and drops every connection."""
        with self._lock:
            self._closing = True
            connections = list(self._connections)
            self._connections.clear()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for c in connections:
            c.close(reset=True)
        self._acceptor.join(timeout=5)

    # ---- forwarding

    def _accept_loop(self) -> None:
        while True:
            try:
                client, (_, peer_port) = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._open, args=(client, peer_port),
                             name=f"{self.name} open", daemon=True).start()

    def _admits(self, pid: int | None) -> bool:
        """Under the lock: whether a connection from `pid` may be open now."""
        return not self._closing and (self._blocked is None or not self._blocked(pid))

    def _open(self, client: socket.socket, peer_port: int) -> None:
        # Who connected is looked up once, at accept: a later `block` needs
        # it for connections open by then.
        pid = socket_owner(peer_port, self.port, self._source_pids())
        with self._lock:
            admitted = self._admits(pid)
            if not admitted:
                self.refused += 1
        if not admitted:
            _reset(client)
            return
        try:
            upstream = socket.create_connection((LOOPBACK, self.target_port), timeout=CONNECT_TIMEOUT_S)
            upstream.settimeout(None)
        except OSError:
            _reset(client)
            return
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = _Connection(client, upstream, pid)
        with self._lock:
            admitted = self._admits(pid)
            if admitted:
                self._connections.add(connection)
                self.accepted += 1
            else:
                self.refused += 1
        if not admitted:
            connection.close(reset=True)
            return
        for source, sink, direction in ((client, upstream, "up"), (upstream, client, "down")):
            threading.Thread(target=self._pump, args=(connection, source, sink),
                             name=f"{self.name} {direction}", daemon=True).start()

    def _pump(self, connection: _Connection, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(BUFFER_BYTES)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        # One end closed it, or the proxy cut it (then this is a no-op).
        with self._lock:
            self._connections.discard(connection)
        connection.close(reset=False)
