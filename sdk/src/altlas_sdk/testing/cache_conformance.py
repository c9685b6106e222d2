"""The conformance suite of a response cache: one subclass per cache a plugin registers.

::

    from altlas_sdk.testing import CacheConformance


    class TestDiskCache(CacheConformance):
        plugin = "diskcache"
        cache_name = "disk"
        persistent = True

Each test builds the cache the way the core does (the plugin's ``register_caches`` hook,
then ``configure`` with a :class:`~altlas_sdk.CacheContext` on a temporary ``CACHE_DIR``)
and drives it through its async methods, as the inference path does.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import ClassVar, TypeVar

from altlas_sdk.cache import CacheContext, ResponseCache

T = TypeVar("T")


class CacheConformance:
    """Tests every response cache must pass.

    Set in the subclass: ``plugin`` (the entry-point name), ``cache_name`` (the ``name``
    it registers). Optional: ``persistent`` (entries outlive the cache object: a restart),
    ``expires`` (honours ``CacheContext.ttl``; default ``True``), ``heavy_modules``
    (modules that importing the plugin must not import).
    """

    plugin: ClassVar[str]
    cache_name: ClassVar[str]
    persistent: ClassVar[bool] = False
    expires: ClassVar[bool] = True
    heavy_modules: ClassVar[tuple[str, ...]] = ()

    def make_cache(self, cache_dir: Path, ttl: float = 3600.0) -> ResponseCache:
        """The plugin's cache, registered and configured as the core does it."""
        module = next(ep for ep in entry_points(group="altlas") if ep.name == self.plugin).load()
        found: list[ResponseCache] = []
        module.register_caches(found.append)
        cache = next(cache for cache in found if cache.name == self.cache_name)
        cache.configure(CacheContext(cache_dir=cache_dir, size_limit_mb=64, memory_mb=64, ttl=ttl))
        return cache

    def _run(self, cache: ResponseCache, work: Callable[[ResponseCache], Awaitable[T]]) -> T:
        async def main() -> T:
            try:
                return await work(cache)
            finally:
                await cache.close()

        return asyncio.run(main())

    def test_registers_under_its_name(self, tmp_path: Path) -> None:
        cache = self.make_cache(tmp_path)
        assert isinstance(cache, ResponseCache) and cache.name == self.cache_name
        assert isinstance(cache.evictions, int) and cache.evictions == 0

    def test_import_leaves_the_heavy_library_out(self) -> None:
        if not self.heavy_modules:
            return
        entry = next(ep for ep in entry_points(group="altlas") if ep.name == self.plugin)
        code = (
            f"import sys, {entry.value.split(':')[0]}; "
            f"print([m for m in {list(self.heavy_modules)!r} if m in sys.modules])"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert result.stdout.strip() == "[]", result.stdout + result.stderr

    def test_stores_and_returns_bytes(self, tmp_path: Path) -> None:
        large = bytes(range(256)) * 4096  # 1 MiB, every byte value

        async def work(cache: ResponseCache) -> None:
            assert await cache.get("absent") is None
            await cache.set("small", b'{"text":"cba"}')
            await cache.set("large", large)
            assert await cache.get("small") == b'{"text":"cba"}'
            assert await cache.get("large") == large
            await cache.set("small", b"replaced")
            assert await cache.get("small") == b"replaced"

        self._run(self.make_cache(tmp_path), work)

    def test_entries_expire_after_the_ttl(self, tmp_path: Path) -> None:
        if not self.expires:
            return

        ttl = 2.0

        async def work(cache: ResponseCache) -> None:
            stored = time.monotonic()
            await cache.set("k", b"v")
            value = await cache.get("k")
            # Read back within the TTL, it must be there; a machine busy enough to take
            # longer than the TTL proves nothing either way, so that is not checked.
            if time.monotonic() - stored < ttl:
                assert value == b"v"
            await asyncio.sleep(max(0.0, stored + ttl + 0.5 - time.monotonic()))
            assert await cache.get("k") is None

        self._run(self.make_cache(tmp_path, ttl=ttl), work)

    def test_concurrent_calls(self, tmp_path: Path) -> None:
        async def work(cache: ResponseCache) -> None:
            await asyncio.gather(*(cache.set(f"k{n}", b"%d" % n) for n in range(50)))
            values = await asyncio.gather(*(cache.get(f"k{n}") for n in range(50)))
            assert values == [b"%d" % n for n in range(50)]

        self._run(self.make_cache(tmp_path), work)

    def test_persistence_across_instances(self, tmp_path: Path) -> None:
        if not self.persistent:
            return

        async def write(cache: ResponseCache) -> None:
            await cache.set("k", b"kept")

        async def read(cache: ResponseCache) -> bytes | None:
            return await cache.get("k")

        self._run(self.make_cache(tmp_path), write)
        assert self._run(self.make_cache(tmp_path), read) == b"kept"
