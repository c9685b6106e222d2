"""The server's own bounds, through a real ``altlas serve``: connections whose headers
never finish are closed after ``HTTP_HEADER_TIMEOUT``, idle keep-alive connections
after ``HTTP_KEEP_ALIVE_TIMEOUT``, connections over ``MAX_CONNECTIONS`` get a JSON 503,
and a request cut off by the shutdown grace period gets the JSON error body."""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
DEADLINE_S = 60.0


@pytest.fixture
def start(
    installed_fixture_plugins: Path,
    tmp_path: Path,
    run_server: Callable[..., AbstractContextManager[Any]],
) -> Callable[..., AbstractContextManager[Any]]:
    """``with start(*args, **env) as server:`` runs ``altlas serve *args`` with the
    echo fixture plugin and ``env``; ``check=False`` lets it exit on a signal."""

    @contextmanager
    def run(*args: str, check: bool = True, **env: str) -> Iterator[Any]:
        (tmp_path / "models").mkdir(exist_ok=True)
        base = {
            "MODEL_DIR": str(tmp_path / "models"),
            "CACHE_DIR": str(tmp_path / "cache"),
            "ALTLAS_DISABLE_PLUGINS": "fixture-clash,fixture-future,fixture-flaky",
            "PYTHONPATH": str(installed_fixture_plugins),
        }

        def command(port: int) -> list[str]:
            altlas = str(Path(sys.executable).parent / "altlas")
            return [altlas, "serve", "--port", str(port), *args]

        with run_server(command, {**base, **env}, check=check) as server:
            yield server

    return run


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=DEADLINE_S)
    return sock


def _is_open(sock: socket.socket) -> bool:
    """Whether the server holds ``sock`` open without a word: nothing to read, no EOF."""
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)  # an answer, or b"" at EOF
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def _get_healthz(sock: socket.socket) -> bytes:
    """Send one keep-alive ``GET /healthz`` on ``sock`` and read its whole response."""
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return received


def _wait_closed(sock: socket.socket) -> bytes:
    """Read until the server closes ``sock`` (within the deadline); what it sent."""
    sock.settimeout(DEADLINE_S)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_slow_headers_are_closed_after_the_timeout_while_others_are_served(start) -> None:
    with start(HTTP_HEADER_TIMEOUT="3") as server:
        slow = [_connect(server.base) for _ in range(60)]
        for sock in slow:
            sock.sendall(PARTIAL)
        # The timeout is seconds away: every slow connection is still open now...
        assert all(_is_open(sock) for sock in slow)
        # ...and a normal client is served beside them.
        with httpx.Client(base_url=server.base, timeout=DEADLINE_S) as client:
            for _ in range(5):
                assert client.get("/healthz").status_code == 200
        opened = time.monotonic()
        for sock in slow:
            assert _wait_closed(sock) == b""  # closed without an answer
            sock.close()
        # Closed by the header timeout, well before the deadline the reads allowed.
        assert time.monotonic() - opened < DEADLINE_S
        with httpx.Client(base_url=server.base, timeout=DEADLINE_S) as client:
            assert client.get("/healthz").status_code == 200


def test_headers_after_a_response_have_the_same_timeout(start) -> None:
    with start(HTTP_HEADER_TIMEOUT="2", HTTP_KEEP_ALIVE_TIMEOUT="600") as server:
        sock = _connect(server.base)
        assert _get_healthz(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(PARTIAL)  # the next request never finishes its headers
        assert _wait_closed(sock) == b""
        sock.close()


def test_an_idle_keep_alive_connection_is_closed(start) -> None:
    with start(HTTP_KEEP_ALIVE_TIMEOUT="1", HTTP_HEADER_TIMEOUT="600") as server:
        sock = _connect(server.base)
        assert _get_healthz(sock).startswith(b"HTTP/1.1 200")
        assert _wait_closed(sock) == b""
        sock.close()


def test_connections_over_the_cap_get_a_json_503(start) -> None:
    with start(MAX_CONNECTIONS="20", HTTP_HEADER_TIMEOUT="600") as server:
        # The server's readiness probe may still hold a connection for a moment.
        held: list[socket.socket] = []
        refused = b""
        deadline = time.monotonic() + DEADLINE_S
        while not refused and time.monotonic() < deadline:
            sock = _connect(server.base)
            sock.sendall(PARTIAL)
            time.sleep(0.05)
            if _is_open(sock):
                held.append(sock)
                assert len(held) <= 20
            else:
                refused = _wait_closed(sock)
                sock.close()
        head, _, body = refused.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503"), refused
        assert b"retry-after: 1" in head.lower()
        error = json.loads(body)["error"]
        assert error["type"] == "overloaded_error"
        assert error["code"] == "too_many_connections"
        assert "MAX_CONNECTIONS" in error["message"]
        # An ordinary client over the cap gets the same answer, not a hang.
        with httpx.Client(base_url=server.base, timeout=DEADLINE_S) as client:
            over = client.get("/healthz")
            assert over.status_code == 503
            assert over.json()["error"]["code"] == "too_many_connections"
            for sock in held:
                sock.close()
            # Once they are gone, it is served again.
            while time.monotonic() < deadline:
                if client.get("/healthz").status_code == 200:
                    break
                time.sleep(0.1)
            assert client.get("/healthz").status_code == 200


def test_a_request_cut_off_by_the_shutdown_grace_gets_the_json_503(start) -> None:
    with start("--graceful-timeout", "1", check=False) as server:
        answers: list[httpx.Response] = []

        def held_request() -> None:
            with httpx.Client(base_url=server.base, timeout=DEADLINE_S) as client:
                answers.append(
                    client.post("/api/tasks/reverse-text", json={"inputs": {"text": "sleep:8"}})
                )

        thread = threading.Thread(target=held_request)
        thread.start()
        with httpx.Client(base_url=server.base, timeout=DEADLINE_S) as client:
            deadline = time.monotonic() + DEADLINE_S
            while client.get("/api/models/echo-1/status").json().get("in_flight", 0) < 1:
                assert time.monotonic() < deadline, "the request never started"
                time.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        thread.join(DEADLINE_S)
        assert not thread.is_alive()
        (answer,) = answers
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/json"
        error = answer.json()["error"]
        assert error["type"] == "overloaded_error"
        assert error["code"] == "shutting_down"
        assert answer.headers["retry-after"] == "5"
        # uvicorn exits with the signal that stopped it, once the app has shut down.
        assert server.process.wait(DEADLINE_S) == -signal.SIGTERM
    assert "Application shutdown complete" in server.output
