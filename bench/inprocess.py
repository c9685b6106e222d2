"""Where a request's time goes, without sockets or HTTP parsing.

    .venv/bin/python bench/inprocess.py [--requests 5000]

Calls each ASGI app directly with the zero-cost request and prints wall and CPU time
per request: altlas as served, altlas with an executor that calls the backend inline
instead of in a worker thread (what the thread hop costs), and the two peers of
``overhead.py``. CPU time counts every thread of the process.

The request carries ``"cache": false``, as ``overhead.py``'s do: the same request again
would otherwise be a response-cache hit, which never reaches the backend. altlas's
answers are checked to have run the backend (``from_cache`` false,
``timing.inference_ms`` above 0) before and after the timed calls; the benchmark stops
with an error otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

from model_path import check_response
from overhead import TEXT, ZERO, install_zero_plugin

T = TypeVar("T")
BODY = json.dumps({"model_id": ZERO, "inputs": TEXT, "cache": False}).encode()


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/inference/",
        "raw_path": b"/api/inference/",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def call(app: Any) -> bytes:
    """One request, as a server would make it; the connection stays open afterwards.
    Returns the response body."""
    delivered = False
    status = 0
    body = b""

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await asyncio.Event().wait()  # no disconnect: the client stays
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")

    await app(_scope(), receive, send)
    if status != 200:
        raise RuntimeError(f"the app answered {status}")
    return body


async def started(app: Any) -> asyncio.Future[None]:
    """Run the app's lifespan startup; the returned task runs it until the end."""
    messages: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    await messages.put({"type": "lifespan.startup"})
    ready = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            ready.set()
        elif message["type"] == "lifespan.startup.failed":
            raise RuntimeError(message.get("message"))

    lifespan = asyncio.ensure_future(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, messages.get, send)
    )
    await ready.wait()
    return lifespan


async def per_request(app: Any, requests: int, concurrency: int) -> tuple[float, float]:
    """Microseconds of wall and CPU time per request."""
    for _ in range(300):
        await call(app)
    wall, cpu = time.perf_counter(), time.process_time()

    async def worker() -> None:
        for _ in range(requests // concurrency):
            await call(app)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    done = requests // concurrency * concurrency
    return (
        (time.perf_counter() - wall) / done * 1e6,
        (time.process_time() - cpu) / done * 1e6,
    )


async def main(requests: int) -> None:
    from altlas.config import Settings
    from altlas.executor import Executor
    from altlas.http.app import create_app
    from altlas.runtime import Runtime

    class InlineExecutor(Executor):
        """Calls the backend on the event loop: right only for a backend that does not
        block, as the zero-cost one does not."""

        def submit(self, fn: Callable[..., T], /, *args: object) -> asyncio.Future[T]:
            future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
            try:
                future.set_result(fn(*args))
            except Exception as error:  # noqa: BLE001 - handed to the awaiting caller
                future.set_exception(error)
            return future

        def shutdown(self) -> None:
            pass

    lifespans: list[asyncio.Future[None]] = []

    async def altlas(executor: Executor | None) -> Any:
        runtime = Runtime(Settings.load(), executor=executor)
        app = create_app(runtime)
        lifespans.append(await started(app))
        await runtime.models.load_model(ZERO)
        return app

    import bare_app
    import fastapi_app

    apps = {
        "altlas": await altlas(None),
        "altlas, backend called inline": await altlas(InlineExecutor()),
        "bare starlette+msgspec": bare_app.app,
        "fastapi+pydantic": fastapi_app.app,
    }
    print(f"{'':34}{'wall us':>10}{'cpu us':>10}{'wall us':>10}{'cpu us':>10}")
    print(f"{'':34}{'c=1':>20}{'c=16':>20}")
    for name, app in apps.items():
        if name.startswith("altlas"):
            check_response(name, json.loads(await call(app)))
        one = await per_request(app, requests, 1)
        many = await per_request(app, requests, 16)
        if name.startswith("altlas"):
            check_response(name, json.loads(await call(app)))
        print(f"{name:34}{one[0]:10.1f}{one[1]:10.1f}{many[0]:10.1f}{many[1]:10.1f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        install_zero_plugin(root / "plugins")
        sys.path.insert(0, str(root / "plugins"))
        os.environ.update(
            {
                "MODEL_DIR": str(root / "models"),
                "CACHE_DIR": str(root / "cache"),
                "ALTLAS_LOAD_PLUGINS": "bench-zero",
                "LOG_LEVEL": "WARNING",
            }
        )
        asyncio.run(main(args.requests))
