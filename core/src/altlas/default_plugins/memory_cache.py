"""The default response cache, ``memory``: an LRU in this process, bounded in bytes
(``RESPONSE_CACHE_MEMORY_MB``), whose entries expire after ``RESPONSE_CACHE_TTL``.

Every method runs on the event loop's thread without awaiting, so no lock is needed.
Several worker processes each keep their own; ``altlas-diskcache`` shares one on disk.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from altlas_sdk import CacheContext, ResponseCache, hookimpl

#: What one entry costs beyond its key and value: the dict slot, the tuple, the two
#: objects' headers. An estimate, so that a million tiny entries still count.
ENTRY_OVERHEAD = 200


class MemoryCache(ResponseCache):
    """Least recently used entries go first once the byte bound is reached."""

    name = "memory"

    def __init__(self, max_bytes: int = 256 * 1024 * 1024, ttl: float = 3600.0) -> None:
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.size = 0
        self.evictions = 0
        self.expirations = 0
        # key -> (expiry on the monotonic clock, value)
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def configure(self, context: CacheContext) -> None:
        """Take the byte bound and the TTL from the settings."""
        self.max_bytes = context.memory_mb * 1024 * 1024
        self.ttl = context.ttl

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        """The value, refreshed as most recently used; ``None`` if absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._drop(key)
            self.expirations += 1
            return None
        self._entries.move_to_end(key)
        return entry[1]

    async def set(self, key: str, value: bytes) -> None:
        """Store ``value``, evicting the least recently used entries to make room. A
        value larger than the whole bound is not kept."""
        if key in self._entries:
            self._drop(key)
        cost = _cost(key, value)
        if cost > self.max_bytes:
            return
        expires = time.monotonic() + self.ttl if self.ttl else float("inf")
        self._entries[key] = (expires, value)
        self.size += cost
        now = time.monotonic()
        while self.size > self.max_bytes:
            oldest, (oldest_expiry, _) = next(iter(self._entries.items()))
            self._drop(oldest)
            # An entry past its TTL was dead already: making room did not cost a hit.
            if oldest_expiry <= now:
                self.expirations += 1
            else:
                self.evictions += 1

    async def close(self) -> None:
        """Drop every entry."""
        self._entries.clear()
        self.size = 0

    def _drop(self, key: str) -> None:
        _, value = self._entries.pop(key)
        self.size -= _cost(key, value)


def _cost(key: str, value: bytes) -> int:
    return len(key) + len(value) + ENTRY_OVERHEAD


@hookimpl
def register_caches(register: Callable[[ResponseCache], None]) -> None:
    """The ``memory`` cache, the default ``RESPONSE_CACHE``."""
    register(MemoryCache())
