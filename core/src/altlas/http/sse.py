"""Every streamed response: server-sent events (and raw streamed audio) in one place.

A streamed route does three things, always in this order, and this module does each
once for all of them:

1. :func:`first_chunk` awaits the stream's first chunk *before* the 200, so that an
   early failure (unknown model, full queue, bad input) is an ordinary error response;
   the wait is watched for the client's disconnect, so a client that leaves while its
   request is still queued frees its place at once, not when the first token comes.
2. The route turns chunks into frames (:func:`event` frames one server-sent event).
3. :func:`stream_response` sends the frames: a failure after the 200 becomes one
   error event (or, for raw audio, ends the body), an unexpected one is logged under an
   error id, and the stream is always closed, which stops the model and frees its slot.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import msgspec
from starlette.requests import Request
from starlette.responses import StreamingResponse

from altlas.http.disconnect import until_disconnected
from altlas.inference.stream import first_chunk as _first_chunk
from altlas_sdk.errors import AltlasError, InternalError

logger = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"
#: No caching, and no buffering by a proxy (nginx honours ``X-Accel-Buffering``).
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class Closable(Protocol):
    """A stream the response closes when it ends: it stops the model."""

    request_id: str

    async def aclose(self) -> None: ...


def event(data: bytes | msgspec.Struct | dict[str, Any], *, name: str | None = None) -> bytes:
    """One server-sent event: ``data`` (bytes as they are, else its JSON) and an
    optional event ``name``."""
    payload = data if isinstance(data, bytes) else msgspec.json.encode(data)
    head = b"event: " + name.encode() + b"\n" if name is not None else b""
    return head + b"data: " + payload + b"\n\n"


async def first_chunk(
    request: Request, stream: Any
) -> tuple[msgspec.Struct | None, AsyncIterator[msgspec.Struct]]:
    """The first chunk of ``stream`` (``None`` if it has none) and the rest, awaited
    under the disconnect watch; the stream is closed if this fails or is cancelled."""
    try:
        return await until_disconnected(request, _first_chunk(stream))
    except BaseException:
        await stream.aclose()
        raise


async def chunks(
    first: msgspec.Struct | None, rest: AsyncIterator[msgspec.Struct]
) -> AsyncIterator[msgspec.Struct]:
    """``first`` (when there is one), then ``rest``."""
    if first is not None:
        yield first
    async for chunk in rest:
        yield chunk


def stream_response(
    stream: Closable,
    frames: AsyncIterator[bytes],
    *,
    error_event: Callable[[AltlasError], bytes] | None,
    media_type: str = EVENT_STREAM,
) -> StreamingResponse:
    """Send ``frames``; a failure while sending is ``error_event(error)`` (``None``:
    the body just ends, as raw audio has no place for an error); ``stream`` is closed
    at the end whatever happens."""

    async def body() -> AsyncIterator[bytes]:
        try:
            async for frame in frames:
                yield frame
        except AltlasError as error:
            # Output has started: the failure is reported in the stream, never retried.
            if error_event is not None:
                yield error_event(error)
        except Exception as error:  # noqa: BLE001 - a bug ends the stream with its error id
            internal = InternalError.logged(
                logger, "stream %s failed", stream.request_id, exc_info=error
            )
            if error_event is not None:
                yield error_event(internal)
        finally:
            # Client gone or stream over: stop generating and free the model's slot.
            await stream.aclose()

    headers = SSE_HEADERS if media_type == EVENT_STREAM else None
    return StreamingResponse(body(), media_type=media_type, headers=headers)
