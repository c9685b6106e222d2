"""Scheduling: how many calls a loaded model takes at once, and timing them.

Each model gets a concurrency limit from its backend (``max_concurrency``: 1 for
libraries that are not thread-safe). Calls beyond it wait their turn; the wait is
reported as ``queue_ms``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from altlas.executor import Executor
from altlas_sdk import CancellationToken

T = TypeVar("T")


@dataclass(frozen=True)
class Timed(Generic[T]):
    """A result with the milliseconds spent waiting and running."""

    value: T
    queue_ms: float
    inference_ms: float


class Scheduler:
    """Runs backend calls in the executor under per-model concurrency limits."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self._limits: dict[str, asyncio.Semaphore] = {}

    def _limit(self, model_id: str, concurrency: int) -> asyncio.Semaphore:
        limit = self._limits.get(model_id)
        if limit is None:
            limit = self._limits[model_id] = asyncio.Semaphore(max(1, concurrency))
        return limit

    async def run(
        self,
        model_id: str,
        concurrency: int,
        call: Callable[[CancellationToken], T],
        cancel: CancellationToken,
    ) -> Timed[T]:
        """Wait for a slot of ``model_id``, then run ``call(cancel)`` in the executor.

        If the awaiting task is cancelled (its client went away), ``cancel`` is set so
        that the backend can stop early.
        """
        queued = time.perf_counter()
        async with self._limit(model_id, concurrency):
            started = time.perf_counter()
            try:
                value = await self.executor.run(call, cancel)
            except asyncio.CancelledError:
                cancel.cancel()
                raise
            finished = time.perf_counter()
        return Timed(value, (started - queued) * 1000, (finished - started) * 1000)
