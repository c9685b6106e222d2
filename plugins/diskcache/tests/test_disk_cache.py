"""The ``disk`` response cache: the real diskcache in a temporary CACHE_DIR, on its own
and behind real ``altlas serve`` processes running the real all-MiniLM-L6-v2."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from altlas_diskcache import DiskCache
from altlas_sdk import CacheContext
from altlas_sdk.testing import CacheConformance

MODEL = "all-minilm-l6-v2"
PLUGINS = {"ALTLAS_LOAD_PLUGINS": "onnx,diskcache", "RESPONSE_CACHE": "disk"}


def disk_cache(cache_dir: Path, *, size_limit_mb: int = 1024, ttl: float = 3600) -> DiskCache:
    cache = DiskCache()
    cache.configure(CacheContext(cache_dir=cache_dir, size_limit_mb=size_limit_mb, ttl=ttl))
    return cache


def test_import_leaves_diskcache_out() -> None:
    code = "import sys, altlas_diskcache; print('diskcache' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_stores_in_its_subfolder_and_persists_across_instances(tmp_path: Path) -> None:
    async def write() -> None:
        cache = disk_cache(tmp_path)
        assert await cache.get("k") is None
        await cache.set("k", b"\x00value")
        assert await cache.get("k") == b"\x00value"
        await cache.close()

    async def read() -> bytes | None:
        cache = disk_cache(tmp_path)
        try:
            return await cache.get("k")
        finally:
            await cache.close()

    asyncio.run(write())
    assert (tmp_path / "responses" / "cache.db").is_file()
    assert asyncio.run(read()) == b"\x00value"


def test_entries_expire(tmp_path: Path) -> None:
    async def main() -> tuple[bytes | None, bytes | None]:
        # A TTL of seconds: read at once, the entry is fresh however busy the machine.
        cache = disk_cache(tmp_path, ttl=1.0)
        await cache.set("k", b"v")
        fresh = await cache.get("k")
        await asyncio.sleep(1.1)
        stale = await cache.get("k")
        await cache.close()
        return fresh, stale

    assert asyncio.run(main()) == (b"v", None)


def test_size_limit_evicts_entries_but_never_model_files(tmp_path: Path) -> None:
    # A 2 MB model file under CACHE_DIR, over the whole 1 MB limit on its own.
    weights = tmp_path / "models" / "joined.bin"
    weights.parent.mkdir()
    weights.write_bytes(b"w" * 2 * 1024 * 1024)
    value = b"x" * 400_000

    async def main() -> tuple[list[bytes | None], int]:
        cache = disk_cache(tmp_path, size_limit_mb=1)
        for key in ("a", "b", "c", "d"):
            await cache.set(key, value)
        found = [await cache.get(key) for key in ("a", "b", "c", "d")]
        await cache.close()
        return found, cache.evictions

    found, evictions = asyncio.run(main())
    # The oldest went to keep the folder under 1 MB; the newest are still served.
    assert found[0] is None and found[-1] == value
    assert evictions == sum(item is None for item in found) >= 1
    assert weights.stat().st_size == 2 * 1024 * 1024


def test_a_write_locked_by_another_process_does_not_block_the_event_loop(
    tmp_path: Path,
) -> None:
    import diskcache

    other = diskcache.Cache(str(tmp_path / "responses"))
    locked = threading.Event()
    release = threading.Event()

    def hold_the_lock() -> None:
        # A second connection, as another worker process has: it holds SQLite's write
        # lock while our cache tries to store an entry.
        with other.transact():
            locked.set()
            release.wait(60)

    cache = disk_cache(tmp_path)
    asyncio.run(cache.set("warm", b"up"))  # opens the database before the lock is taken

    async def main() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        store = asyncio.ensure_future(cache.set("k", b"v"))
        # Counted, not timed: the loop ticks while the write waits for the lock, which
        # is held until released below, on a busy machine too.
        while ticks < 20:
            await asyncio.sleep(0.01)
        assert not store.done()  # waiting for the lock, on the cache's thread
        release.set()
        await store
        ticker.cancel()
        value = await cache.get("k")
        await cache.close()
        assert value == b"v"
        return ticks

    with ThreadPoolExecutor(1) as pool:
        holder = pool.submit(hold_the_lock)
        assert locked.wait(60)
        ticks = asyncio.run(main())
        holder.result()
    other.close()
    assert ticks >= 20


def test_the_plugin_registers_disk_and_the_core_configures_it(make_runtime, base_env) -> None:
    runtime = make_runtime(**PLUGINS, CACHE_SIZE_LIMIT="64", RESPONSE_CACHE_TTL="90")
    cache = runtime.inference.cache.cache
    assert isinstance(cache, DiskCache)
    assert cache.directory == Path(base_env["CACHE_DIR"]) / "responses"
    assert (cache.size_limit, cache.ttl) == (64 * 1024 * 1024, 90.0)


def embed(client, texts: list[str]) -> dict:
    response = client.post("/api/inference/", json={"model_id": MODEL, "inputs": texts})
    assert response.status_code == 200, response.text
    return response.json()


def test_entries_survive_a_restart_of_the_server(altlas_server) -> None:
    texts = ["The cache outlives the process.", "A second sentence."]
    with altlas_server(PLUGINS) as client:
        first = embed(client, texts)
    with altlas_server(PLUGINS) as client:
        again = embed(client, texts)
        metrics = client.get("/metrics").text
    assert (first["from_cache"], again["from_cache"]) == (False, True)
    assert again["outputs"] == first["outputs"]
    assert len(again["outputs"]["embeddings"][0]) == 384
    assert 'altlas_response_cache_total{result="hit"} 1' in metrics
    assert 'altlas_response_cache_evictions_total{cache="disk"} 0' in metrics


def test_two_server_processes_share_one_cache_concurrently(altlas_server) -> None:
    sentences = [[f"Sentence number {n} about shared caches."] for n in range(24)]
    with altlas_server(PLUGINS) as one, altlas_server(PLUGINS) as two:
        # Both processes compute and store at the same time: half the texts each.
        with ThreadPoolExecutor(8) as pool:
            jobs = [
                pool.submit(embed, one if n % 2 else two, texts)
                for n, texts in enumerate(sentences)
            ]
            stored = [job.result() for job in jobs]
        # Each process now answers the other's entries from the shared cache.
        with ThreadPoolExecutor(8) as pool:
            jobs = [
                pool.submit(embed, two if n % 2 else one, texts)
                for n, texts in enumerate(sentences)
            ]
            swapped = [job.result() for job in jobs]
    assert not any(answer["from_cache"] for answer in stored)
    assert all(answer["from_cache"] for answer in swapped)
    assert [a["outputs"] for a in swapped] == [a["outputs"] for a in stored]


def test_ttl_zero_keeps_entries(tmp_path: Path) -> None:
    async def main() -> bytes | None:
        cache = disk_cache(tmp_path, ttl=0)
        await cache.set("k", b"v")
        await asyncio.sleep(0.05)
        value = await cache.get("k")
        await cache.close()
        return value

    assert asyncio.run(main()) == b"v"


class TestDiskCacheConformance(CacheConformance):
    plugin = "diskcache"
    cache_name = "disk"
    persistent = True
    heavy_modules = ("diskcache",)
