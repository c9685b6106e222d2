"""Where blocking work (loading, inference) runs, behind one interface.

Callers only ``await executor.run(fn, *args)``: a process-isolated or distributed
executor can replace the thread pool without changing them.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Executor(ABC):
    """Runs blocking callables off the event loop."""

    @abstractmethod
    def submit(self, fn: Callable[..., T], /, *args: object) -> asyncio.Future[T]:
        """Start ``fn(*args)``; the future completes with its result or exception.

        Cancelling the future does not stop work already running: callers that need to
        know when it really ends keep the future (``asyncio.shield``).
        """

    async def run(self, fn: Callable[..., T], /, *args: object) -> T:
        """Run ``fn(*args)`` and return its result (or raise its exception)."""
        return await self.submit(fn, *args)

    @abstractmethod
    def shutdown(self) -> None:
        """Stop accepting work and release the workers."""


class ThreadExecutor(Executor):
    """A thread pool: the libraries we call release the GIL while they compute."""

    def __init__(self, max_workers: int | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="altlas")

    def submit(self, fn: Callable[..., T], /, *args: object) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        # Copy the context so logging and tracing context follow the work.
        call = functools.partial(contextvars.copy_context().run, fn, *args)
        return loop.run_in_executor(self._pool, call)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
