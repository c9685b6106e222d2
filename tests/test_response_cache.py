"""The response cache's core logic: the default ``memory`` cache (LRU, byte bound, TTL,
evictions), turning it off, the per-request ``cache`` choice, and model versions that
change with the weights on disk. Real models are in test_cache_api.py."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from altlas.default_plugins.memory_cache import ENTRY_OVERHEAD, MemoryCache
from altlas.model_files import fingerprint
from altlas_sdk import CacheContext, ResponseCache
from altlas_sdk.testing import CacheConformance


@pytest.fixture
def echo(fixture_plugins):
    import altlas_fixture_echo

    altlas_fixture_echo.CALLS.clear()
    return altlas_fixture_echo


def run(coroutine):
    return asyncio.run(coroutine)


# --- the memory cache on its own ------------------------------------------------------


def test_memory_cache_takes_its_bound_and_ttl_from_the_settings(tmp_path: Path) -> None:
    cache = MemoryCache()
    cache.configure(CacheContext(cache_dir=tmp_path, memory_mb=3, ttl=12.5))
    assert (cache.max_bytes, cache.ttl) == (3 * 1024 * 1024, 12.5)


def test_memory_cache_evicts_least_recently_used_within_its_byte_bound() -> None:
    value = b"x" * 1000
    cost = len("k0") + len(value) + ENTRY_OVERHEAD
    cache = MemoryCache(max_bytes=3 * cost)

    async def main() -> None:
        for key in ("k0", "k1", "k2"):
            await cache.set(key, value)
        assert await cache.get("k0") == value  # k0 is now the most recently used
        await cache.set("k3", value)
        assert await cache.get("k1") is None
        assert [await cache.get(key) for key in ("k0", "k2", "k3")] == [value] * 3

    run(main())
    assert (len(cache), cache.size, cache.evictions) == (3, 3 * cost, 1)


def test_memory_cache_replaces_a_key_and_refuses_a_value_over_its_bound() -> None:
    cache = MemoryCache(max_bytes=10_000)

    async def main() -> None:
        await cache.set("k", b"old")
        await cache.set("k", b"new")
        assert await cache.get("k") == b"new"
        await cache.set("huge", b"x" * 20_000)
        assert await cache.get("huge") is None

    run(main())
    assert (len(cache), cache.size, cache.evictions) == (1, 1 + 3 + ENTRY_OVERHEAD, 0)


def test_memory_cache_entries_expire() -> None:
    # A TTL of seconds: read at once, the entry is fresh however busy the machine.
    cache = MemoryCache(ttl=1.0)
    forever = MemoryCache(ttl=0)

    async def main() -> None:
        await cache.set("k", b"v")
        await forever.set("k", b"v")
        assert await cache.get("k") == b"v"
        await asyncio.sleep(1.1)
        assert await cache.get("k") is None
        assert await forever.get("k") == b"v"

    run(main())
    # An expired entry is dropped, not counted as an eviction.
    assert (len(cache), cache.size, cache.evictions, cache.expirations) == (0, 0, 0, 1)


class TestMemoryCacheConformance(CacheConformance):
    cache_name = "memory"

    def make_cache(self, cache_dir: Path, ttl: float = 3600.0) -> ResponseCache:
        # A built-in: registered by the core's default plugin, not an entry point.
        from altlas.default_plugins import memory_cache

        found: list[ResponseCache] = []
        memory_cache.register_caches(found.append)
        found[0].configure(CacheContext(cache_dir=cache_dir, memory_mb=64, ttl=ttl))
        return found[0]


# --- the service ------------------------------------------------------------------------


def test_memory_is_the_default_cache_and_none_turns_caching_off(echo, make_runtime) -> None:
    runtime = make_runtime(RESPONSE_CACHE_MEMORY_MB="2", RESPONSE_CACHE_TTL="60")
    cache = runtime.inference.cache.cache
    assert isinstance(cache, MemoryCache)
    assert (cache.max_bytes, cache.ttl) == (2 * 1024 * 1024, 60.0)
    for off in ("none", ""):
        assert make_runtime(RESPONSE_CACHE=off).inference.cache.cache is None


def test_default_cache_answers_repeats_and_counts_in_metrics(echo, make_runtime, serve) -> None:
    with serve(make_runtime()) as client:
        body = {"model_id": "echo-1", "inputs": "abc"}
        first = client.post("/api/inference/", json=body).json()
        second = client.post("/api/inference/", json=body).json()
        metrics = client.get("/metrics").text
    assert (first["from_cache"], second["from_cache"]) == (False, True)
    assert first["outputs"] == second["outputs"] == {"text": "cba"}
    assert second["timing"]["inference_ms"] == 0 and echo.CALLS == {"echo-1": 1}
    assert 'altlas_response_cache_total{result="hit"} 1' in metrics
    assert 'altlas_response_cache_evictions_total{cache="memory"} 0' in metrics


def test_cache_off_serves_every_request_and_exports_no_evictions(echo, make_runtime, serve) -> None:
    with serve(make_runtime(RESPONSE_CACHE="none")) as client:
        body = {"model_id": "echo-1", "inputs": "abc"}
        answers = [client.post("/api/inference/", json=body).json() for _ in range(2)]
        metrics = client.get("/metrics").text
    assert [answer["from_cache"] for answer in answers] == [False, False]
    assert echo.CALLS == {"echo-1": 2}
    assert "altlas_response_cache_evictions_total" not in metrics
    assert "altlas_response_cache_total{" not in metrics


def test_request_cache_false_neither_reads_nor_writes(echo, make_runtime, serve) -> None:
    with serve(make_runtime()) as client:
        body = {"model_id": "echo-1", "inputs": "abc"}
        bypass = {**body, "cache": False}
        assert client.post("/api/inference/", json=bypass).json()["from_cache"] is False
        # Nothing was written: the next cached request is a miss, then a hit...
        assert client.post("/api/inference/", json=body).json()["from_cache"] is False
        assert client.post("/api/inference/", json=body).json()["from_cache"] is True
        # ...and a bypass does not read the entry that is there now.
        assert client.post("/api/inference/", json=bypass).json()["from_cache"] is False
        batch = client.post(
            "/api/inference/batch",
            json={"requests": [body, bypass]},
        ).json()["results"]
        metrics = client.get("/metrics").text
    assert [result["from_cache"] for result in batch] == [True, False]
    assert echo.CALLS == {"echo-1": 4}
    # Bypassed requests are neither hits nor misses.
    assert 'altlas_response_cache_total{result="hit"} 2' in metrics
    assert 'altlas_response_cache_total{result="miss"} 1' in metrics


def test_a_small_bound_evicts_and_metrics_count_it(echo, make_runtime, serve) -> None:
    with serve(make_runtime(RESPONSE_CACHE_MEMORY_MB="1")) as client:
        # Three answers of ~400 kB each: the third pushes the first out of 1 MB.
        bodies = [{"model_id": "echo-1", "inputs": letter * 400_000} for letter in "abc"]
        for body in bodies:
            assert client.post("/api/inference/", json=body).json()["from_cache"] is False
        again = [client.post("/api/inference/", json=body).json() for body in bodies[1:]]
        metrics = client.get("/metrics").text
    assert [answer["from_cache"] for answer in again] == [True, True]
    assert 'altlas_response_cache_evictions_total{cache="memory"} 1' in metrics


def test_entries_expire_after_the_ttl(echo, make_runtime, serve) -> None:
    # A TTL of seconds: the second request comes well within it on a busy machine too.
    with serve(make_runtime(RESPONSE_CACHE_TTL="2")) as client:
        body = {"model_id": "echo-1", "inputs": "abc"}
        client.post("/api/inference/", json=body)
        assert client.post("/api/inference/", json=body).json()["from_cache"] is True
        time.sleep(2.1)
        assert client.post("/api/inference/", json=body).json()["from_cache"] is False
    assert echo.CALLS == {"echo-1": 2}


# --- model versions -------------------------------------------------------------------


def test_fingerprint_changes_with_content_even_when_size_and_mtime_are_kept(
    tmp_path: Path,
) -> None:
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"A" * 64)
    before = fingerprint([weights])
    assert fingerprint([weights]) == before
    kept = weights.stat()
    # New weights of the same size, with the old mtime put back (as cp -p would).
    weights.write_bytes(b"B" * 64)
    os.utime(weights, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    assert weights.stat().st_mtime_ns == kept.st_mtime_ns
    assert fingerprint([weights]) != before
    # Replaced by a rename (how most tools write a file atomically).
    fresh = tmp_path / "fresh.bin"
    fresh.write_bytes(b"C" * 64)
    middle = fingerprint([weights])
    fresh.replace(weights)
    assert fingerprint([weights]) != middle


def test_a_reload_with_new_weights_never_serves_old_entries(
    echo, make_runtime, serve, base_env, tmp_path: Path
) -> None:
    weights = Path(base_env["MODEL_DIR"]) / "swap.echo"
    weights.write_text("first weights")
    config = tmp_path / "altlas.toml"
    config.write_text(
        '[models.swap]\nbackend = "echo"\ntasks = ["reverse-text"]\nsource = "swap.echo"\n'
    )
    with serve(make_runtime(config_path=config)) as client:
        body = {"model_id": "swap", "inputs": "abc"}
        client.post("/api/inference/", json=body)
        assert client.post("/api/inference/", json=body).json()["from_cache"] is True
        version = client.app.state.runtime.models.version_of("swap")
        assert client.post("/api/models/swap/unload").status_code == 200
        kept = weights.stat()
        weights.write_text("other weights")  # same size
        os.utime(weights, ns=(kept.st_atime_ns, kept.st_mtime_ns))
        assert client.post("/api/inference/", json=body).json()["from_cache"] is False
        assert client.app.state.runtime.models.version_of("swap") != version
        assert client.post("/api/inference/", json=body).json()["from_cache"] is True
    assert echo.CALLS == {"swap": 2}
