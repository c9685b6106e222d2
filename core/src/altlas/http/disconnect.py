"""Cancelling work whose client went away.

Starlette does not cancel a handler when its client disconnects: the work would run to
the end and hold its model's slot for nobody. :func:`until_disconnected` runs the work
beside a watcher of the ASGI ``http.disconnect`` message; when the client goes first,
the work is cancelled, which drops a queued call from its queue and sets a running
call's cancellation token (see :mod:`altlas.scheduler`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.requests import Request

from altlas_sdk.errors import Cancelled

T = TypeVar("T")


#: Seconds before a request starts watching for its client's disconnect. A request
#: done sooner never pays for a watcher task (most of the route's own cost on a fast
#: model); a client that leaves is noticed at most this late.
WATCH_AFTER_S = 0.05


async def until_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """Await ``work`` unless the client disconnects first; then cancel it and raise
    :class:`Cancelled`. Call it after the request body has been read."""
    # The work runs in the handler's own task; a watcher task, started only once the
    # work has taken WATCH_AFTER_S, cancels it when the client goes.
    current = asyncio.current_task()
    assert current is not None
    loop = asyncio.get_running_loop()
    gone = False
    watcher: asyncio.Task[None] | None = None

    async def watch() -> None:
        nonlocal gone
        await _disconnected(request)
        gone = True
        current.cancel()

    def start_watching() -> None:
        nonlocal watcher
        watcher = loop.create_task(watch())

    timer = loop.call_later(WATCH_AFTER_S, start_watching)
    try:
        return await work
    except asyncio.CancelledError:
        if not gone:
            raise
        uncancel = getattr(current, "uncancel", None)  # Python 3.11+
        if uncancel is not None:
            uncancel()
        raise Cancelled("the client disconnected; the request was cancelled") from None
    finally:
        timer.cancel()
        if watcher is not None:
            watcher.cancel()


async def _disconnected(request: Request) -> None:
    # With the body read, the next ASGI message can only be the disconnect.
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
