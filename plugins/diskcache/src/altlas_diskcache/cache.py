"""``DiskCache``: response entries in a ``diskcache.Cache`` (SQLite plus files).

Persistent across restarts, and shared by every worker process that points at the same
``CACHE_DIR``: SQLite's locking makes concurrent readers and writers safe. Entries expire
after ``RESPONSE_CACHE_TTL``; the folder is kept under ``CACHE_SIZE_LIMIT`` MB by evicting
the least recently stored entries. It lives in ``CACHE_DIR/responses``, so the model
files that other parts of the service keep under ``CACHE_DIR`` (downloads, joined
weights) are neither counted in that limit nor ever evicted by it.

diskcache blocks (SQLite, file I/O, and a write may wait for another process's lock), so
every call runs on one thread of the cache's own: the event loop never waits on disk, and
diskcache's per-thread SQLite connection is one connection, closed at shutdown.

Entries are the msgspec-encoded bytes the core hands over, stored as bytes, never as
pickles; reading never unpickles a row either (:class:`~altlas_diskcache.disk.BytesDisk`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from altlas_sdk import CacheContext, ResponseCache

if TYPE_CHECKING:
    import diskcache

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The subfolder of CACHE_DIR that holds the entries.
SUBFOLDER = "responses"

#: Seconds a call waits for another process's SQLite lock before the cache gives up on
#: it (a miss, or an entry not stored): a slow cache must not stall inference.
LOCK_TIMEOUT = 5.0


class DiskCache(ResponseCache):
    """The ``disk`` response cache."""

    name = "disk"

    def __init__(self) -> None:
        self.directory: Path | None = None
        self.size_limit = 1024 * 1024 * 1024
        self.ttl = 3600.0
        self.evictions = 0
        self.expirations = 0
        self._cache: diskcache.Cache | None = None
        self._thread: ThreadPoolExecutor | None = None

    def configure(self, context: CacheContext) -> None:
        """Take the folder, the size limit and the TTL from the settings."""
        self.directory = context.cache_dir / SUBFOLDER
        self.size_limit = context.size_limit_mb * 1024 * 1024
        self.ttl = context.ttl

    async def get(self, key: str) -> bytes | None:
        """The stored value; ``None`` when absent, expired, or the disk is locked."""
        return await self._run(self._get, key)

    async def set(self, key: str, value: bytes) -> None:
        """Store ``value``, then evict what the size limit no longer holds."""
        await self._run(self._set, key, value)

    async def close(self) -> None:
        """Close the SQLite connection (on the thread that opened it) and the thread."""
        if self._thread is None:
            return
        await self._run(self._close)
        self._thread.shutdown(wait=True)
        self._thread = None

    # --- on the cache's thread ----------------------------------------------------------

    async def _run(self, call: Callable[..., T], *args: object) -> T:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="altlas-diskcache")
        return await asyncio.get_running_loop().run_in_executor(self._thread, call, *args)

    def _open(self) -> diskcache.Cache:
        if self._cache is None:
            import diskcache

            from altlas_diskcache.disk import BytesDisk

            if self.directory is None:
                raise RuntimeError("DiskCache.configure was not called")
            self._cache = diskcache.Cache(
                str(self.directory),
                disk=BytesDisk,
                size_limit=self.size_limit,
                timeout=LOCK_TIMEOUT,
                # No culling inside set(): _set culls itself, to count what it evicts.
                cull_limit=0,
                # Reads stay reads: "least-recently-used" writes on every hit.
                eviction_policy="least-recently-stored",
            )
        return self._cache

    def _get(self, key: str) -> bytes | None:
        import diskcache

        try:
            value = self._open().get(key)
        except diskcache.Timeout:
            logger.warning("response cache %s is locked: answering without it", self.directory)
            return None
        return value if isinstance(value, bytes) else None

    def _set(self, key: str, value: bytes) -> None:
        import diskcache

        cache = self._open()
        try:
            cache.set(key, value, expire=self.ttl or None)
            self.expirations += cache.expire()
            # expire() just ran: what cull() removes now, it removes for room.
            self.evictions += cache.cull()
        except diskcache.Timeout:
            logger.warning("response cache %s is locked: entry not stored", self.directory)

    def _close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None
