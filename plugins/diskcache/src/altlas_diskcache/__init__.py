"""altlas plugin: the ``disk`` response cache, on ``diskcache`` in ``CACHE_DIR/responses``.

Importing this package does not import diskcache: it loads when the cache is first used.
"""

from __future__ import annotations

from collections.abc import Callable

from altlas_diskcache.cache import DiskCache
from altlas_sdk import ResponseCache, hookimpl

__version__ = "0.1.0"

__all__ = ["DiskCache"]


@hookimpl
def register_caches(register: Callable[[ResponseCache], None]) -> None:
    """The ``disk`` cache (``RESPONSE_CACHE=disk``)."""
    register(DiskCache())
