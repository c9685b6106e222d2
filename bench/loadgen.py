"""Load generators: ``wrk`` when it is installed, else an httpx (async) generator.

Both send one JSON body as ``POST`` for a fixed time with a fixed number of connections
and report requests per second and latency percentiles. Every server of one run is
driven by the same generator.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Load:
    """What one load run measured."""

    requests_per_s: float
    requests: int
    p50_ms: float
    p99_ms: float
    errors: int


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class WrkGenerator:
    """``wrk`` with one thread: a C load generator, far cheaper than the servers."""

    name = "wrk"

    def __init__(self) -> None:
        self.path = shutil.which("wrk")
        if self.path is None:
            raise RuntimeError("wrk is not installed")

    def run(self, url: str, body: bytes, connections: int, seconds: float) -> Load:
        with tempfile.TemporaryDirectory() as folder:
            script = Path(folder) / "post.lua"
            # A Lua long string takes the body verbatim.
            script.write_text(
                'wrk.method = "POST"\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = [==[{body.decode()}]==]\n"
            )
            result = subprocess.run(
                [
                    self.path,
                    "-t1",
                    f"-c{connections}",
                    f"-d{max(1, round(seconds))}s",
                    "--latency",
                    "-s",
                    str(script),
                    url,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
        return _parse_wrk(result.stdout)


def _parse_wrk(output: str) -> Load:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in ", output)
    if rate is None or total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    latencies = {
        match[1]: _ms(match[2], match[3])
        for match in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    }
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    count = int(errors[1]) if errors else 0
    if socket_errors:
        count += sum(int(socket_errors[i]) for i in range(1, 5))
    return Load(float(rate[1]), int(total[1]), latencies["50"], latencies["99"], count)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


class HttpxGenerator:
    """Async httpx clients on one event loop: slower than ``wrk``, so it can cap a fast
    server's figure; the report says which generator ran."""

    name = "httpx"

    def run(self, url: str, body: bytes, connections: int, seconds: float) -> Load:
        return asyncio.run(self._run(url, body, connections, seconds))

    async def _run(self, url: str, body: bytes, connections: int, seconds: float) -> Load:
        latencies: list[float] = []
        errors = 0
        headers = {"content-type": "application/json"}
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            deadline = time.perf_counter() + seconds

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    sent = time.perf_counter()
                    response = await client.post(url, content=body, headers=headers)
                    latencies.append((time.perf_counter() - sent) * 1000)
                    errors += response.status_code != 200

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(connections)))
            elapsed = time.perf_counter() - started
        return Load(
            len(latencies) / elapsed,
            len(latencies),
            statistics.median(latencies),
            percentile(latencies, 0.99),
            errors,
        )


def make_generator(choice: str) -> WrkGenerator | HttpxGenerator:
    """``wrk``, ``httpx``, or ``auto`` (wrk when installed)."""
    if choice == "wrk" or (choice == "auto" and shutil.which("wrk")):
        return WrkGenerator()
    return HttpxGenerator()
