"""Scheduling: how many calls a loaded model takes at once, how many may wait, and for
how long.

Each model has a *lane*: up to ``concurrency`` calls run at once (the backend's
``max_concurrency``, 1 for libraries that are not thread-safe, or the catalog's
override), up to ``max_queue`` more wait in arrival order, and a wait longer than
``QUEUE_TIMEOUT`` gives up. Both refusals are a fast 503 with ``Retry-After``, and a
refused call never runs later. A call whose awaiting task is cancelled (its client went
away) leaves the queue at once, or, when already running, has its cancellation token
set; its slot is freed only when the backend has really returned, so that a
non-thread-safe backend never runs two calls at once.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from altlas.executor import Executor
from altlas_sdk import CancellationToken
from altlas_sdk.errors import Overloaded

T = TypeVar("T")


@dataclass(frozen=True)
class Timed(Generic[T]):
    """A result with the milliseconds spent waiting and running."""

    value: T
    queue_ms: float
    inference_ms: float


class _QueueTimeout(Exception):
    """A queued call's wait ran out."""


class Lane:
    """One model's slots and queue."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = max(1, concurrency)
        self.running = 0
        self.queued = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        #: Smoothed seconds per call, for ``Retry-After``.
        self.seconds_per_call = 0.1

    def retry_after(self) -> float:
        """Seconds until a new call would likely get a slot."""
        return (self.queued + 1) * self.seconds_per_call / self.concurrency

    async def acquire(self, model_id: str, max_queue: int, timeout: float) -> None:
        """Take a slot, waiting in line when all are busy."""
        if self.running < self.concurrency and not self.queued:
            self.running += 1
            return
        if self.queued >= max_queue:
            raise Overloaded(
                f"model '{model_id}' is busy: {self.queued} request(s) already queued "
                f"(max_queue {max_queue})",
                retry_after=self.retry_after(),
            )
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        self.queued += 1
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        except _QueueTimeout:
            raise Overloaded(
                f"model '{model_id}' is busy: waited {timeout:g}s for a slot (QUEUE_TIMEOUT)",
                retry_after=self.retry_after(),
            ) from None
        except asyncio.CancelledError:
            # Granted in the same instant the caller went away: pass the slot on.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()
            raise
        finally:
            timer.cancel()
            self.queued -= 1

    def release(self) -> None:
        """Hand the slot to the next live waiter, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: ``running`` is unchanged
                return
        self.running -= 1


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(_QueueTimeout())


class Scheduler:
    """Runs backend calls in the executor under per-model concurrency and queue limits."""

    def __init__(
        self,
        executor: Executor,
        *,
        max_queue: int = 64,
        timeout: float = 30.0,
        on_abandoned: Callable[[str, asyncio.Future[Any]], None] | None = None,
    ) -> None:
        self.executor = executor
        self.max_queue = max_queue
        self.timeout = timeout
        self.lanes: dict[str, Lane] = {}
        #: Told (model id, the running call) when a call's awaiting task is cancelled
        #: while the call still runs in its thread: the model manager keeps the model
        #: in use until it returns (:meth:`ModelManager.hold_while_running`).
        self.on_abandoned = on_abandoned

    def lane(self, model_id: str, concurrency: int) -> Lane:
        """The lane of ``model_id``, created with ``concurrency`` slots on first use."""
        lane = self.lanes.get(model_id)
        if lane is None:
            lane = self.lanes[model_id] = Lane(concurrency)
        return lane

    async def run(
        self,
        model_id: str,
        concurrency: int,
        call: Callable[[CancellationToken], T],
        cancel: CancellationToken,
        *,
        max_queue: int | None = None,
        timeout: float | None = None,
        on_slot: Callable[[], object] | None = None,
    ) -> Timed[T]:
        """Wait for a slot of ``model_id``, then run ``call(cancel)`` in the executor.

        Raises :class:`Overloaded` when the queue is full or the wait runs out. If the
        awaiting task is cancelled, ``cancel`` is set so that the backend can stop
        early. ``on_slot`` runs on the event loop once the slot is granted, just before
        ``call`` starts (dynamic batching closes its batch there).
        """
        lane = self.lane(model_id, concurrency)
        queued = time.perf_counter()
        await lane.acquire(
            model_id,
            self.max_queue if max_queue is None else max_queue,
            self.timeout if timeout is None else timeout,
        )
        if on_slot is not None:
            on_slot()
        started = time.perf_counter()
        # The executor's own future, not a task around it: one task less per call.
        running = self.executor.submit(call, cancel)
        try:
            value = await asyncio.shield(running)
        except asyncio.CancelledError:
            cancel.cancel()
            # The call is still running in its thread: its slot stays taken until it
            # returns, and its outcome is collected so that nothing is left unread.
            running.add_done_callback(lambda done: _finish(lane, done))
            if self.on_abandoned is not None:
                self.on_abandoned(model_id, running)
            raise
        except BaseException:
            lane.release()
            raise
        finished = time.perf_counter()
        lane.release()
        lane.seconds_per_call = 0.8 * lane.seconds_per_call + 0.2 * (finished - started)
        return Timed(value, (started - queued) * 1000, (finished - started) * 1000)


def _finish(lane: Lane, done: asyncio.Future[object]) -> None:
    if not done.cancelled():
        done.exception()
    lane.release()
