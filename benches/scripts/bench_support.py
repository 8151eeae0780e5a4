"""What the benchmark scripts in this folder share: a free loopback port, the
CPU time of a process from /proc, and one `skein serve` on 127.0.0.1 (with
its open file descriptors and memory from /proc).

The scripts run as `python benches/scripts/NAME.py`, so this folder is on
`sys.path` and `from bench_support import ...` finds this module.
"""
from __future__ import annotations

import os
import resource
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of process `pid` so far (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        # Fields 14 and 15 (utime, stime) are the 12th and 13th after the name.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def own_cpu_seconds() -> float:
    """utime + stime of this Python process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu_seconds() -> float:
    """utime + stime of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_listening(port: int, timeout_s: float, proc: subprocess.Popen | None = None,
                   poll_s: float = 0.2) -> None:
    """Returns once 127.0.0.1:`port` accepts a connection, trying every
    `poll_s` seconds; raises if `proc` exits first or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"skein serve exited with {proc.returncode}")
            time.sleep(poll_s)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout_s:.0f} s")


class Broker:
    """One `skein serve` on 127.0.0.1 with its data in `data_dir`, its admin
    endpoint (for /metrics) on a port of its own unless `admin` is false
    (`--admin-listen off`), and its stderr appended to `log_path` (default:
    broker.log beside the data dir)."""

    def __init__(self, bin_path: str, data_dir: Path, extra_args: list[str] | None = None,
                 log_path: Path | None = None, env: dict[str, str] | None = None,
                 admin: bool = True):
        self.bin_path = bin_path
        self.data_dir = data_dir
        self.extra_args = list(extra_args or [])
        self.log_path = log_path or data_dir.parent / "broker.log"
        self.env = env
        self.port = free_port()
        self.admin_port: int | None = free_port() if admin else None
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the broker was not started"
        return self.proc.pid

    def start(self, timeout_s: float = 120.0, poll_s: float = 0.2) -> None:
        """Starts the broker and returns once its Kafka port listens (tried
        every `poll_s` seconds); one that exits or does not listen in time
        is killed and the error raised."""
        admin = f"127.0.0.1:{self.admin_port}" if self.admin_port is not None else "off"
        command = [self.bin_path, "serve", "--listen", self.bootstrap,
                   "--data-dir", str(self.data_dir),
                   "--admin-listen", admin, *self.extra_args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=log, env=self.env)
        try:
            wait_listening(self.port, timeout_s, self.proc, poll_s)
        except RuntimeError as e:
            self.kill()
            raise RuntimeError(f"{e}; see {self.log_path}") from e
        except TimeoutError:
            self.kill()
            raise

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def open_fds(self) -> int:
        """How many file descriptors the broker has open, from /proc."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def memory_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM (the peak RSS so far), in KiB, and the thread
        count (`Threads`), from /proc/PID/status."""
        out = {}
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "Threads"):
                    out[key] = int(value.split()[0])
        return out

    def metrics_text(self) -> str:
        """The admin endpoint's /metrics page."""
        assert self.admin_port is not None, "the broker runs with --admin-listen off"
        request = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}/metrics",
                                         headers={"Connection": "close"})
        return urllib.request.urlopen(request, timeout=10).read().decode()

    def stop(self, timeout_s: float = 120.0) -> float:
        """SIGTERM, then waits for the broker's clean exit; returns the
        seconds until it exited (0 if it was not running). Its exit code is
        `self.proc.returncode`."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        t0 = time.monotonic()
        self.proc.terminate()
        self.proc.wait(timeout_s)
        return time.monotonic() - t0

    def kill(self) -> None:
        """SIGKILL (a crash), then reaps the process."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
