"""The slow-header scenario: many connections that send part of a request's headers and
never finish, beside normal traffic on fresh connections."""

from __future__ import annotations

import asyncio
import resource
import selectors
import socket
import statistics
import threading
import time
from collections import Counter
from typing import Any

import httpx
from soak_report import Tally, rss_summary
from soak_server import Options, RssSampler, altlas_serve, base_env, leaked_after

MINILM = "all-minilm-l6-v2"
#: Seconds of normal traffic beside the slow connections, at most.
TRAFFIC_SECONDS = 60.0
#: Deadline of one normal request: far more than an embedding takes on a busy machine.
DEADLINE_S = 30.0
#: File descriptors this process keeps for itself beyond the slow sockets.
SPARE_FDS = 256
#: What each slow connection sends: a request line and one header, never the blank line.
PARTIAL = b"POST /api/inference/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


def slow_socket_budget(wanted: int) -> int:
    """As many slow sockets as asked, within this process's open-file limit (raised to
    its hard limit first)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return max(0, min(wanted, soft - SPARE_FDS))


class SlowClients:
    """Opens slow connections and watches, in a thread, which the server closes: when
    (seconds after it was opened) and with what (its first response line, or nothing)."""

    def __init__(self, port: int, count: int) -> None:
        self.opened: dict[socket.socket, float] = {}
        self.closed: list[float] = []
        self.endings: Counter[str] = Counter()
        self.refused = 0
        self._selector = selectors.DefaultSelector()
        for _ in range(count):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(PARTIAL)
            except OSError:
                self.refused += 1
                continue
            sock.setblocking(False)
            self.opened[sock] = time.monotonic()
            self._selector.register(sock, selectors.EVENT_READ)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set() and self._selector.get_map():
            for key, _ in self._selector.select(timeout=0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(256)
                except OSError as error:
                    data, ending = b"", type(error).__name__
                else:
                    ending = data.split(b"\r\n", 1)[0].decode(errors="replace") or "closed"
                self._selector.unregister(sock)
                self.closed.append(time.monotonic() - self.opened[sock])
                self.endings[ending] += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self.opened:
            sock.close()
        self._selector.close()

    def figures(self) -> dict[str, Any]:
        closed = sorted(self.closed)
        return {
            "slow_opened": len(self.opened),
            "slow_refused_at_connect": self.refused,
            "slow_closed_by_server": len(closed),
            "slow_still_open": len(self.opened) - len(closed),
            "slow_endings": dict(self.endings),
            "slow_closed_after_s_median": round(statistics.median(closed), 2) if closed else None,
            "slow_closed_after_s_max": round(closed[-1], 2) if closed else None,
        }


async def _normal_traffic(
    url: str, clients: int, seconds: float, tally: Tally
) -> tuple[list[float], list[float]]:
    """``clients`` clients, each request on a new connection (what a new user does);
    returns the latencies of the 200s in ms, and when (seconds into the traffic) every
    other answer came."""
    latencies: list[float] = []
    refusals: list[float] = []
    started = time.monotonic()
    deadline = started + seconds
    limits = httpx.Limits(max_keepalive_connections=0)

    async def client_loop(c: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=DEADLINE_S, limits=limits) as client:
            n = 0
            while time.monotonic() < deadline:
                body = {"model_id": MINILM, "inputs": [f"client {c} text {n}"], "cache": False}
                n += 1
                sent = time.monotonic()
                try:
                    response = await client.post("/api/inference/", json=body)
                except httpx.HTTPError as error:
                    tally.failure("normal request", error)
                    continue
                tally.response("normal request", response)
                if response.status_code == 200:
                    latencies.append((time.monotonic() - sent) * 1000)
                else:
                    refusals.append(time.monotonic() - started)

    await asyncio.gather(*(client_loop(c) for c in range(clients)))
    return latencies, refusals


def slow_headers(options: Options) -> dict[str, Any]:
    """``options.slow_sockets`` connections stuck in their headers, and normal traffic
    beside them: are normal requests answered, and are the slow connections closed?"""
    env = base_env(options, "slow-headers", "onnx", RESPONSE_CACHE="none")
    count = slow_socket_budget(options.slow_sockets)
    seconds = min(TRAFFIC_SECONDS, options.minutes * 60 / 3)
    tally = Tally()
    with altlas_serve(env, root=options.root) as server:
        httpx.post(f"{server.url}/api/models/{MINILM}/load", timeout=120).raise_for_status()
        rss = RssSampler(server.pid)
        rss.mark("baseline_mb")
        slow = SlowClients(server.port, count)
        try:
            rss.mark("slow_open_mb")
            latencies, refusals = asyncio.run(_normal_traffic(server.url, 2, seconds, tally))
            rss.mark("after_load_mb")
            slots = leaked_after(server.url)
        finally:
            slow.close()
            rss.stop()
    return {
        "tally": tally.as_dict(),
        "slots": slots,
        "rss": rss_summary(rss.samples, rss.marks),
        "figures": {
            "traffic_s": seconds,
            "normal_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
            "normal_max_ms": round(max(latencies), 1) if latencies else None,
            # While the slow connections hold the server's connection limit, a new one
            # is refused (503): from when to when, in seconds into the traffic.
            "normal_not_200_from_s": round(min(refusals), 2) if refusals else None,
            "normal_not_200_until_s": round(max(refusals), 2) if refusals else None,
            **slow.figures(),
        },
    }
