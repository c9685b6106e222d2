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


async def until_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """Await ``work`` unless the client disconnects first; then cancel it and raise
    :class:`Cancelled`. Call it after the request body has been read."""
    # The work runs in the handler's own task and one watcher task cancels it: a task
    # per request is the whole cost on the hot path (an extra task for the work and an
    # ``asyncio.wait`` cost twice as much).
    current = asyncio.current_task()
    assert current is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        await _disconnected(request)
        gone = True
        current.cancel()

    watcher = asyncio.ensure_future(watch())
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
        watcher.cancel()


async def _disconnected(request: Request) -> None:
    # With the body read, the next ASGI message can only be the disconnect.
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
