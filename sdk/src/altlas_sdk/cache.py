"""Response caches: where the core keeps encoded outputs of deterministic requests."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


@dataclass(frozen=True)
class CacheContext:
    """The settings a response cache receives from the core (see
    :meth:`ResponseCache.configure`), so that a cache never imports the core.

    ``cache_dir`` is ``CACHE_DIR``, shared with downloaded model files: a cache that
    writes files keeps them in a subfolder of its own. ``size_limit_mb`` is
    ``CACHE_SIZE_LIMIT`` (a bound for caches on disk), ``memory_mb`` is
    ``RESPONSE_CACHE_MEMORY_MB`` (a bound for caches in memory), ``ttl`` is
    ``RESPONSE_CACHE_TTL`` in seconds (``0``: entries never expire).
    """

    cache_dir: Path
    size_limit_mb: int = 1024
    memory_mb: int = 256
    ttl: float = 3600.0


class ResponseCache(ABC):
    """A key-value store of encoded task outputs.

    Keys are computed by the core from the model id, the model's version, the task,
    the canonical inputs and the parameters, so a cache never has to understand them.
    Methods are async so that a cache may do I/O without blocking the event loop.
    """

    name: ClassVar[str]

    #: Entries removed before their time to stay within the cache's size bound. The
    #: core reads it at every ``/metrics`` scrape; a cache that never evicts leaves it 0.
    evictions: int = 0

    def configure(self, context: CacheContext) -> None:  # noqa: B027 - optional
        """Receive the service's settings. The core calls it once, on the cache that
        ``RESPONSE_CACHE`` chose, before the first request; a cache opens its storage
        here rather than in ``__init__`` (every installed cache is constructed, only
        one is used)."""

    @abstractmethod
    async def get(self, key: str) -> bytes | None:
        """The stored value, or ``None`` on a miss (or when the entry has expired)."""

    @abstractmethod
    async def set(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key``."""

    async def close(self) -> None:  # noqa: B027 - optional, most caches hold nothing
        """Release resources at shutdown."""
