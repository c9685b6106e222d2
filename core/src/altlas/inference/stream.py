"""Streaming inference: a model's output chunks (tokens) as they are produced.

A prepared request (see :mod:`altlas.inference.prepare`) goes through the same steps
as :meth:`InferenceService.run` (acquire the model, wait for a scheduler slot) except
the cache. The
backend's blocking ``LoadedModel.stream`` iterator runs in the executor thread that
holds the slot; a queue carries its chunks to the event loop, so a slow model never
blocks the loop. Closing the stream early (the client went away) sets the
request's :class:`CancellationToken`: the backend stops at its next step, and the slot
is freed only once the thread has really stopped, so the next request never shares a
context that is not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from altlas import tracing
from altlas.inference.decode import TaskCall
from altlas.inference.encode import check_output
from altlas.inference.prepare import PreparedRequest
from altlas_sdk import CancellationToken, LoadedModel
from altlas_sdk.errors import AltlasError, InternalError

if TYPE_CHECKING:
    from altlas.inference.service import InferenceService

logger = logging.getLogger(__name__)

_END = object()


@dataclass
class _Failure:
    error: BaseException


@dataclass
class InferenceStream:
    """The chunks of one streamed request, in order, as an async iterator.

    ``model_id`` and ``task`` say what runs; ``request_id`` identifies the request.
    Iterate it, or call :meth:`aclose` to stop early.
    """

    model_id: str
    task: str
    request_id: str
    call: TaskCall
    cancel: CancellationToken
    _queue: asyncio.Queue[Any] = field(repr=False)
    _worker: asyncio.Task[Any] = field(repr=False)
    _backend: str = field(repr=False)
    _done: bool = field(default=False, repr=False)

    def __aiter__(self) -> AsyncIterator[msgspec.Struct]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[msgspec.Struct]:
        try:
            while True:
                item = await self._queue.get()
                if item is _END:
                    self._done = True
                    return
                if isinstance(item, _Failure):
                    self._done = True
                    raise item.error
                yield check_output(self.call, item, self._backend)
        finally:
            if not self._done:
                await self.aclose()

    async def aclose(self) -> None:
        """Stop generating: the backend sees the token at its next step and the model's
        slot frees when its thread returns (this does not wait for that)."""
        self._done = True
        self.cancel.cancel()


def open_stream(service: InferenceService, prepared: PreparedRequest) -> InferenceStream:
    """Start streaming ``prepared``: acquire its model (loading it on demand), wait for
    a slot, and run the backend's ``stream`` in that slot's thread. What goes wrong
    from here on raises from the iteration, in order with the chunks."""
    spec, call = prepared.spec, prepared.call
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    cancel = CancellationToken()

    def put(item: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def produce(model: LoadedModel) -> None:
        chunks: Iterator[msgspec.Struct] = model.stream(
            call.spec.id, call.inputs, call.parameters, cancel
        )
        try:
            for chunk in chunks:
                put(chunk)
                if cancel.cancelled:
                    break
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    async def run() -> None:
        try:
            # The model stays in use (never evicted) until the stream ends.
            acquiring = time.time_ns()
            async with service.manager.use(spec.id) as model:
                tracing.record("altlas.load", acquiring, **{"altlas.model": spec.id})
                await service.schedule(spec, lambda _: produce(model))
        except asyncio.CancelledError:
            cancel.cancel()
            raise
        except AltlasError as error:
            queue.put_nowait(_Failure(error))
        except Exception as error:  # noqa: BLE001 - a backend bug ends the stream as a 500
            queue.put_nowait(
                _Failure(
                    InternalError.logged(
                        logger, "streaming from model %s failed", spec.id, exc_info=error
                    )
                )
            )
        else:
            queue.put_nowait(_END)

    worker = asyncio.ensure_future(run())
    return InferenceStream(
        model_id=spec.id,
        task=prepared.task,
        request_id=prepared.request_id,
        call=call,
        cancel=cancel,
        _queue=queue,
        _worker=worker,
        _backend=spec.backend,
    )


async def first_chunk(
    stream: InferenceStream,
) -> tuple[msgspec.Struct | None, AsyncIterator[msgspec.Struct]]:
    """The stream's first chunk (``None`` if it has none) and an iterator over the rest.

    Awaiting the first chunk before answering lets an HTTP route turn an early failure
    (a full queue, a rejected input) into an ordinary error response instead of a
    broken stream.
    """
    chunks = aiter(stream)
    with contextlib.suppress(StopAsyncIteration):
        return await anext(chunks), chunks
    return None, chunks
