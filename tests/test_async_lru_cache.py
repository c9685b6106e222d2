"""The SDK's ``async_lru_cache``: LRU order, TTL, single flight, failures, info/clear."""

from __future__ import annotations

import asyncio
import time

import pytest

from altlas_sdk import async_lru_cache


def test_caches_by_argument_and_reports_like_functools() -> None:
    calls: list[tuple[str, int]] = []

    @async_lru_cache(maxsize=10)
    async def double(text: str, times: int = 2) -> str:
        calls.append((text, times))
        return text * times

    async def main() -> None:
        assert await double("a") == "aa"
        assert await double("a") == "aa"
        assert await double("a", times=3) == "aaa"
        assert await double("a", times=3) == "aaa"

    asyncio.run(main())
    assert calls == [("a", 2), ("a", 3)]
    info = double.cache_info()
    assert (info.hits, info.misses, info.maxsize, info.currsize) == (2, 2, 10, 2)
    assert double.__name__ == "double" and double.__wrapped__ is not None
    double.cache_clear()
    assert double.cache_info() == (0, 0, 10, 0)


def test_evicts_the_least_recently_used() -> None:
    calls: list[int] = []

    @async_lru_cache(maxsize=2)
    async def square(n: int) -> int:
        calls.append(n)
        return n * n

    async def main() -> None:
        for n in (1, 2, 1, 3, 1, 2):
            await square(n)

    asyncio.run(main())
    # 3 pushed out 2 (1 had just been used), so 2 is computed again, 1 is not.
    assert calls == [1, 2, 3, 2]
    assert square.cache_info().currsize == 2


def test_entries_expire_after_ttl() -> None:
    calls: list[str] = []

    # A TTL of seconds: the second call comes well within it, however busy the machine;
    # the wait past it is a lower bound, which load only lengthens.
    @async_lru_cache(maxsize=None, ttl=1.0)
    async def fetch(key: str) -> str:
        calls.append(key)
        return key.upper()

    async def main() -> None:
        await fetch("k")
        await fetch("k")
        await asyncio.sleep(1.1)
        await fetch("k")

    asyncio.run(main())
    assert calls == ["k", "k"]


def test_concurrent_callers_share_one_computation() -> None:
    started: list[str] = []

    @async_lru_cache(maxsize=10)
    async def slow(key: str) -> str:
        started.append(key)
        await asyncio.sleep(0.1)
        return f"value of {key}"

    async def main() -> list[str]:
        return await asyncio.gather(*(slow("k") for _ in range(20)), slow("other"))

    results = asyncio.run(main())
    assert results == ["value of k"] * 20 + ["value of other"]
    assert sorted(started) == ["k", "other"]
    assert slow.cache_info().hits == 19 and slow.cache_info().misses == 2


def test_a_failure_is_shared_by_the_waiters_and_not_cached() -> None:
    attempts: list[int] = []

    @async_lru_cache(maxsize=10)
    async def flaky(n: int) -> int:
        attempts.append(n)
        await asyncio.sleep(0.05)
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        return n

    async def main() -> None:
        outcomes = await asyncio.gather(flaky(1), flaky(1), return_exceptions=True)
        assert [type(outcome) for outcome in outcomes] == [RuntimeError, RuntimeError]
        assert await flaky(1) == 1
        assert await flaky(1) == 1

    asyncio.run(main())
    assert attempts == [1, 1]


def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    @async_lru_cache(maxsize=10)
    async def slow(n: int) -> int:
        await asyncio.sleep(0.1)
        return n + 1

    async def main() -> int:
        first = asyncio.ensure_future(slow(1))
        second = asyncio.ensure_future(slow(1))
        await asyncio.sleep(0.01)
        first.cancel()
        return await second

    assert asyncio.run(main()) == 2
    assert slow.cache_info().currsize == 1


def test_clear_during_a_computation_keeps_the_old_result_out() -> None:
    @async_lru_cache(maxsize=10)
    async def slow(n: int) -> float:
        await asyncio.sleep(0.05)
        return time.monotonic()

    async def main() -> None:
        flight = asyncio.ensure_future(slow(1))
        await asyncio.sleep(0.01)
        slow.cache_clear()
        await flight
        assert slow.cache_info().currsize == 0

    asyncio.run(main())


def test_decorates_methods() -> None:
    class Store:
        def __init__(self, prefix: str) -> None:
            self.prefix = prefix
            self.calls = 0

        def __hash__(self) -> int:
            return hash(self.prefix)

        @async_lru_cache(maxsize=4)
        async def read(self, key: str) -> str:
            self.calls += 1
            return self.prefix + key

    store, other = Store("a:"), Store("b:")

    async def main() -> None:
        assert await store.read("x") == "a:x"
        assert await store.read("x") == "a:x"
        assert await other.read("x") == "b:x"

    asyncio.run(main())
    assert (store.calls, other.calls) == (1, 1)
    assert store.read.cache_info().currsize == 2


def test_rejects_what_it_cannot_cache() -> None:
    with pytest.raises(TypeError, match="coroutine functions"):
        async_lru_cache()(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="maxsize"):
        async_lru_cache(maxsize=-1)
    with pytest.raises(ValueError, match="ttl"):
        async_lru_cache(ttl=-5)
