"""``async_lru_cache``: :func:`functools.lru_cache` for coroutine functions, with a TTL.

::

    @async_lru_cache(maxsize=100, ttl=3600)
    async def lookup(key: str) -> bytes: ...

Concurrent callers of one key share one computation (single flight): the second caller
awaits the first one's result instead of starting its own. A computation that raises is
not cached; every caller waiting on it gets the exception. Arguments must be hashable.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
import types
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, NamedTuple, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_KWARGS_MARK = object()


class CacheInfo(NamedTuple):
    """Counts as :func:`functools.lru_cache` reports them. ``hits`` includes callers that
    joined a computation already in flight."""

    hits: int
    misses: int
    maxsize: int | None
    currsize: int


class AsyncLRUCache(Generic[P, T]):
    """The wrapper :func:`async_lru_cache` returns: call it like the wrapped function."""

    def __init__(
        self, function: Callable[P, Awaitable[T]], maxsize: int | None, ttl: float | None
    ) -> None:
        self.__wrapped__ = function
        self.maxsize = maxsize
        self.ttl = ttl or None
        self._values: OrderedDict[Hashable, tuple[T, float]] = OrderedDict()
        self._flights: dict[Hashable, asyncio.Task[T]] = {}
        self._hits = 0
        self._misses = 0
        # Bumped by cache_clear: a computation started before a clear stores nothing.
        self._generation = 0
        functools.update_wrapper(self, function)

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        # Decorating a method: bind like a function (``self`` becomes part of the key).
        return self if instance is None else types.MethodType(self, instance)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        key: Hashable = (*args, _KWARGS_MARK, *sorted(kwargs.items())) if kwargs else args
        found = self._values.get(key)
        if found is not None:
            value, expires = found
            if expires > time.monotonic():
                self._values.move_to_end(key)
                self._hits += 1
                return value
            del self._values[key]
        flight = self._flights.get(key)
        if flight is not None and flight.get_loop() is asyncio.get_running_loop():
            self._hits += 1
        else:
            self._misses += 1
            flight = asyncio.ensure_future(self._compute(key, args, kwargs))
            # Its callers may all have given up: the failure is theirs, not the loop's.
            flight.add_done_callback(_retrieve)
            self._flights[key] = flight
        # Shielded: one caller giving up (cancelled) must not cancel the others' result.
        return await asyncio.shield(flight)

    async def _compute(self, key: Hashable, args: Any, kwargs: Any) -> T:
        generation = self._generation
        try:
            value = await self.__wrapped__(*args, **kwargs)
        finally:
            if self._flights.get(key) is asyncio.current_task():
                del self._flights[key]
        if generation == self._generation and self.maxsize != 0:
            expires = time.monotonic() + self.ttl if self.ttl else float("inf")
            self._values[key] = (value, expires)
            self._values.move_to_end(key)
            if self.maxsize is not None:
                while len(self._values) > self.maxsize:
                    self._values.popitem(last=False)
        return value

    def cache_info(self) -> CacheInfo:
        """Hits, misses, the size bound and the number of stored results."""
        return CacheInfo(self._hits, self._misses, self.maxsize, len(self._values))

    def cache_clear(self) -> None:
        """Forget every stored result and reset the counts. Computations in flight still
        answer their callers, but store nothing."""
        self._values.clear()
        self._hits = self._misses = 0
        self._generation += 1


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


def async_lru_cache(
    maxsize: int | None = 128, ttl: float | None = None
) -> Callable[[Callable[P, Awaitable[T]]], AsyncLRUCache[P, T]]:
    """Cache a coroutine function's results by argument, least recently used first out.

    ``maxsize``: results kept (``None``: unbounded; ``0``: none, but concurrent callers
    still share one computation). ``ttl``: seconds a result stays valid (``None`` or
    ``0``: until evicted).
    """
    if maxsize is not None and maxsize < 0:
        raise ValueError(f"maxsize must be >= 0 or None, got {maxsize}")
    if ttl is not None and ttl < 0:
        raise ValueError(f"ttl must be >= 0 or None, got {ttl}")

    def decorate(function: Callable[P, Awaitable[T]]) -> AsyncLRUCache[P, T]:
        if not inspect.iscoroutinefunction(function):
            raise TypeError(f"async_lru_cache wraps coroutine functions, not {function!r}")
        return AsyncLRUCache(function, maxsize, ttl)

    return decorate
