"""Servers under test: each one a process of its own on a free port, started the same
way for altlas and for every peer so that they are measured alike."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Server:
    """A running server: its base URL and process id."""

    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time the server process has used, every thread counted."""
        import psutil

        times = psutil.Process(self.pid).cpu_times()
        return times.user + times.system


def uvicorn_command(app: str, app_dir: Path | None = None) -> Callable[[int], list[str]]:
    """``python -m uvicorn APP`` on a port, quiet (no access log)."""

    def command(port: int) -> list[str]:
        line = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
        line += ["--no-access-log", "--log-level", "warning"]
        if app_dir is not None:
            line += ["--app-dir", str(app_dir)]
        return line

    return command


@contextmanager
def running(
    command: Callable[[int], list[str]],
    env: dict[str, str],
    *,
    ready: str = "/healthz",
    timeout: float = 120,
) -> Iterator[Server]:
    """Run ``command(port)`` until the block ends; ``ready`` is a path that answers 200
    once the server is up. Its output is kept and shown if it fails to start."""
    port = free_port()
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command(port), env={**os.environ, **env}, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(url + ready, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                output = log.read().decode(errors="replace")[-3000:]
                raise RuntimeError(f"{command(port)[0]} did not start:\n{output}")
            time.sleep(0.1)
        yield Server(url, process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
