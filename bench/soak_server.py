"""The server under a soak or fault scenario: a real ``altlas serve`` process on
127.0.0.1 that the scenario may kill or stop by signal, its resident memory sampled every
second, and what its status routes and ``/metrics`` say about slots still held."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from servers import free_port

MB = 1024 * 1024


def altlas_executable() -> str:
    """The ``altlas`` console script of this interpreter's environment."""
    return str(Path(sys.executable).parent / "altlas")


@dataclass
class RssSampler:
    """Samples a process's resident memory every ``interval`` seconds in a thread.

    ``samples`` holds ``(seconds since start, MB)``; ``marks`` names moments (the load
    started, the load ended) so that the report can say what the memory was then.
    """

    pid: int
    interval: float = 1.0
    samples: list[tuple[float, float]] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        process = psutil.Process(self.pid)
        while not self._stop.is_set():
            try:
                rss = process.memory_info().rss / MB
            except psutil.Error:  # the process is gone (killed on purpose, or crashed)
                return
            self.samples.append((round(time.monotonic() - self._started, 1), round(rss, 1)))
            self._stop.wait(self.interval)

    def now_mb(self) -> float:
        """The resident memory now, sampled on the spot."""
        rss = psutil.Process(self.pid).memory_info().rss / MB
        self.samples.append((round(time.monotonic() - self._started, 1), round(rss, 1)))
        return rss

    def mark(self, name: str) -> float:
        """Remember the resident memory now under ``name``; returns it in MB."""
        self.marks[name] = round(self.now_mb(), 1)
        return self.marks[name]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def peak_mb(self) -> float:
        return max((mb for _, mb in self.samples), default=0.0)


class AltlasProcess:
    """One ``altlas serve`` process: its URL, the ``Popen`` (so that a scenario can
    SIGKILL or SIGTERM it) and everything it printed."""

    def __init__(self, env: dict[str, str], graceful_timeout: float, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        command = [altlas_executable(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--graceful-timeout", str(graceful_timeout)]
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
            )
        self.pid = self.process.pid

    def wait_ready(self, timeout: float = 120) -> None:
        """Until ``/healthz`` answers 200; a process that exits or takes longer fails
        with its output."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"altlas serve did not start:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int | None:
        """SIGINT, then SIGKILL after ``timeout`` seconds; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextmanager
def altlas_serve(
    env: dict[str, str], *, graceful_timeout: float = 30, root: Path | None = None
) -> Iterator[AltlasProcess]:
    """Run ``altlas serve`` with ``env`` added to the environment until the block ends;
    the process is always stopped (killed if it does not stop), whatever happens."""
    with tempfile.TemporaryDirectory(prefix="altlas-soak-log-") as folder:
        log_path = (root or Path(folder)) / f"serve-{time.monotonic_ns()}.log"
        server = AltlasProcess(env, graceful_timeout, log_path)
        try:
            server.wait_ready()
            yield server
        finally:
            server.stop()


@dataclass(frozen=True)
class Options:
    """What the command line chose, shared by every scenario."""

    #: Folder for the scenarios' MODEL_DIR, CACHE_DIR, config files and server logs.
    root: Path
    minutes: float = 3.0
    clients: int = 4
    streams: int = 100
    slow_sockets: int = 500
    #: Where the echo fixture plugin is installed (``pip install --target``): when set,
    #: the streams and sigterm scenarios run on it instead of a real model.
    echo_dir: Path | None = None
    #: RAM_MEMORY_LIMIT of the mixed scenario; ``None``: measured to hold two models.
    ram_limit_mb: int | None = None


#: A catalog entry giving the echo fixture the chat task (it streams a character at a time).
ECHO_CHAT_CONFIG = """
[models.echo-chat]
backend = "echo"
tasks = ["chat"]
source = "package:altlas_fixture_echo/weights.txt"
"""


def base_env(options: Options, name: str, plugins: str, **settings: str) -> dict[str, str]:
    """Settings of a fresh service in ``options.root / name``: its own MODEL_DIR and
    CACHE_DIR, only ``plugins`` loaded (and the echo fixture, with a chat entry, when the
    options ask for it), the CPU only, warnings and worse logged."""
    root = options.root / name
    (root / "models").mkdir(parents=True, exist_ok=True)
    env = {
        "MODEL_DIR": str(root / "models"),
        "CACHE_DIR": str(root / "cache"),
        "ALTLAS_LOAD_PLUGINS": plugins,
        "USE_GPU": "false",
        "LOG_LEVEL": "WARNING",
    }
    if options.echo_dir is not None:
        config = root / "altlas.toml"
        config.write_text(ECHO_CHAT_CONFIG)
        path = os.environ.get("PYTHONPATH")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(options.echo_dir), path]))
        env["ALTLAS_LOAD_PLUGINS"] = ",".join(filter(None, [plugins, "fixture-echo"]))
        env["ALTLAS_CONFIG"] = str(config)
    return {**env, **settings}


# --- what the server says about slots -------------------------------------------------


def in_flight(url: str) -> dict[str, int]:
    """``in_flight`` of every model the server lists, by model id (nonzero only)."""
    rows = httpx.get(f"{url}/api/models/", timeout=30).json()["models"]
    held = {row["id"]: row["status"].get("in_flight", 0) for row in rows}
    return {model_id: count for model_id, count in held.items() if count}


def gauges(url: str, name: str) -> dict[str, float]:
    """A gauge of ``/metrics`` by its label set (nonzero only), e.g. ``altlas_queue_depth``."""
    values = {}
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, value = line.rsplit(" ", 1)
            if float(value):
                values[labels[len(name) :] or "-"] = float(value)
    return values


def counter_total(url: str, name: str, contains: str = "") -> float:
    """The sum of a ``/metrics`` counter's series whose labels contain ``contains``."""
    total = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith(name + "{") and contains in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def leaked_after(url: str, settle_s: float = 60) -> dict[str, object]:
    """Wait up to ``settle_s`` for every slot to be free again; then what is still held:
    ``in_flight`` per model and the queue and in-flight gauges, and how long it took."""
    started = time.monotonic()
    while True:
        held = in_flight(url)
        queued = gauges(url, "altlas_queue_depth")
        running = gauges(url, "altlas_in_flight")
        if not (held or queued or running) or time.monotonic() - started > settle_s:
            break
        time.sleep(0.25)
    return {
        "in_flight": held,
        "queue_depth": queued,
        "running": running,
        "leaked": sum(held.values()) + int(sum(queued.values())) + int(sum(running.values())),
        "settled_s": round(time.monotonic() - started, 2),
    }
