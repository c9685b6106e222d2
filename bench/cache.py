"""What a response-cache hit costs, against a miss on the same model, in one run.

    .venv/bin/python bench/cache.py [--requests 200] [--seconds 3]

The real ``all-minilm-l6-v2`` (one text per request), with the default ``memory`` cache
and with ``disk`` (altlas-diskcache):

1. In-process: ``InferenceService.run_inference`` awaited one call after another: a
   miss (a new text each time: key, lookup, model, store) against a hit (the same text).
   Figures: p50 of the call's wall time and of the response's ``timing.total_ms``.
2. Over HTTP: ``POST /api/inference/`` on ``uvicorn altlas.main:app`` (a process of its
   own per cache): p50 of the server-side ``timing.total_ms`` and of the client's wall
   time, miss against hit; then requests/s at concurrency 8, hits against
   ``"cache": false`` (the same request, the model run every time).

Aim: a hit under 1 ms p50 server-side (``timing.total_ms``). Ratios are hit / miss.

Every miss (and every ``"cache": false`` request) is checked to have run the model
(``from_cache`` false, ``timing.inference_ms`` above 0; under load, the server's
``/metrics``: no cache hit, a model run per request) and every hit to be one
(``from_cache`` true; under load, a cache hit per request): the benchmark stops with an
error when a figure does not measure what its label says.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import make_generator
from model_path import check_cache_hit, check_counters, check_response, counters
from servers import running, uvicorn_command

MINILM = "all-minilm-l6-v2"
TEXT = "A cat sits on the mat and watches the birds in the garden."
CACHES = ("memory", "disk")
AIM_HIT_MS = 1.0


def p50(values: list[float]) -> float:
    return statistics.median(values)


def env_for(cache: str, root: Path) -> dict[str, str]:
    (root / "models").mkdir(parents=True, exist_ok=True)
    return {
        "MODEL_DIR": str(root / "models"),
        "CACHE_DIR": str(root / "cache"),
        "ALTLAS_LOAD_PLUGINS": "onnx,diskcache",
        "RESPONSE_CACHE": cache,
        "USE_GPU": "false",
        "LOG_LEVEL": "WARNING",
    }


# --- in-process -----------------------------------------------------------------------


async def in_process(cache: str, root: Path, count: int) -> dict[str, float]:
    from altlas.config import Settings
    from altlas.runtime import Runtime
    from altlas_sdk import InferenceRequest

    runtime = Runtime(Settings.load(environ=env_for(cache, root)))
    await runtime.start()
    try:
        await runtime.models.load_model(MINILM)
        service = runtime.inference

        async def series(
            make: Callable[[int], InferenceRequest], figure: str, hit: bool
        ) -> tuple[list, list]:
            wall, total = [], []
            for n in range(count):
                started = time.perf_counter()
                response = await service.run_inference(make(n))
                wall.append((time.perf_counter() - started) * 1000)
                total.append(response.timing.total_ms)
                answer = {
                    "from_cache": response.from_cache,
                    "timing": {"inference_ms": response.timing.inference_ms},
                }
                (check_cache_hit if hit else check_response)(figure, answer)
            return wall, total

        def miss(n: int) -> InferenceRequest:
            return InferenceRequest(model_id=MINILM, inputs=f"{TEXT} ({n})")

        def hit(n: int) -> InferenceRequest:
            return InferenceRequest(model_id=MINILM, inputs=TEXT)

        figure = f"in-process {cache}"
        await series(miss, f"{figure}, miss", hit=False)  # warm-up
        miss_wall, miss_total = await series(
            lambda n: miss(n + count), f"{figure}, miss", hit=False
        )
        await service.run_inference(hit(0))  # stores the entry the hits read
        hit_wall, hit_total = await series(hit, f"{figure}, hit", hit=True)
    finally:
        await runtime.stop()
    return {
        "miss_wall_ms": p50(miss_wall),
        "hit_wall_ms": p50(hit_wall),
        "miss_total_ms": p50(miss_total),
        "hit_total_ms": p50(hit_total),
    }


# --- over HTTP ------------------------------------------------------------------------


def over_http(cache: str, root: Path, count: int, seconds: float) -> dict[str, float]:
    env = env_for(cache, root)
    figures: dict[str, float] = {}
    with running(uvicorn_command("altlas.main:app"), env, timeout=120) as server:
        url = f"{server.url}/api/inference/"
        with httpx.Client(timeout=60) as client:
            client.post(f"{server.url}/api/models/{MINILM}/load").raise_for_status()

            def series(
                bodies: list[bytes], figure: str, hit: bool
            ) -> tuple[list[float], list[float]]:
                wall, total = [], []
                for body in bodies:
                    sent = time.perf_counter()
                    response = client.post(
                        url, content=body, headers={"content-type": "application/json"}
                    )
                    wall.append((time.perf_counter() - sent) * 1000)
                    response.raise_for_status()
                    answer = response.json()
                    (check_cache_hit if hit else check_response)(figure, answer)
                    total.append(answer["timing"]["total_ms"])
                return wall, total

            def body(text: str, **extra: Any) -> bytes:
                return json.dumps({"model_id": MINILM, "inputs": text, **extra}).encode()

            figure = f"http {cache}"
            misses = [body(f"{TEXT} ({n})") for n in range(count)]
            series([body(f"{TEXT} warm-up {n}") for n in range(20)], f"{figure}, miss", False)
            miss_wall, miss_total = series(misses, f"{figure}, miss", hit=False)
            series([body(TEXT)], f"{figure}, miss", hit=False)  # stores the entry
            hit_wall, hit_total = series([body(TEXT)] * (count + 1), f"{figure}, hit", True)
        figures.update(
            miss_wall_ms=p50(miss_wall),
            hit_wall_ms=p50(hit_wall[1:]),
            miss_total_ms=p50(miss_total),
            hit_total_ms=p50(hit_total[1:]),
        )
        generator = make_generator("auto")
        before = counters(server.url, MINILM)
        uncached = generator.run(url, body(TEXT, cache=False), 8, seconds)
        after = counters(server.url, MINILM)
        check_counters(f"{figure}, cache: false", before, after, uncached.requests)
        hits = generator.run(url, body(TEXT), 8, seconds)
        if counters(server.url, MINILM).cache_hits - after.cache_hits < hits.requests:
            sys.exit(f"cache.py: '{figure}, hits' under load were not all cache hits")
        figures.update(
            uncached_rps=uncached.requests_per_s,
            hit_rps=hits.requests_per_s,
            errors=uncached.errors + hits.errors,
        )
        figures["generator"] = generator.name  # type: ignore[assignment]
    return figures


# --- the report -----------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per series")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per load run")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for cache in CACHES:
            root = Path(tmp) / cache
            results[f"in-process {cache}"] = asyncio.run(in_process(cache, root, args.requests))
            # A fresh folder: the HTTP misses must not find the in-process entries.
            results[f"http {cache}"] = over_http(
                cache, Path(tmp) / f"{cache}-http", args.requests, args.seconds
            )

    print(f"Response cache on {MINILM}, one text per request, p50 of {args.requests} calls")
    header = f"{'':<20}{'miss ms':>10}{'hit ms':>10}{'hit/miss':>10}"
    for label, key in (("server-side total", "total_ms"), ("wall", "wall_ms")):
        print(f"\n{label} (timing.total_ms)" if key == "total_ms" else f"\n{label}")
        print(header)
        for name, figures in results.items():
            miss, hit = figures[f"miss_{key}"], figures[f"hit_{key}"]
            print(f"{name:<20}{miss:>10.3f}{hit:>10.3f}{hit / miss:>10.3f}")
    print("\nrequests/s at concurrency 8, hits against cache: false")
    print(f"{'':<20}{'uncached':>10}{'hits':>10}{'hits/unc.':>10}")
    for cache in CACHES:
        figures = results[f"http {cache}"]
        unc, hit = figures["uncached_rps"], figures["hit_rps"]
        print(f"{'http ' + cache:<20}{unc:>10.1f}{hit:>10.1f}{hit / unc:>10.2f}")
    print(f"(load generator: {results['http memory']['generator']})")
    memory = results["http memory"]["hit_total_ms"]
    disk = results["http disk"]["hit_total_ms"]
    print(f"\ndisk hit / memory hit, server-side: {disk / memory:.2f}")
    for cache in CACHES:
        hit = results[f"http {cache}"]["hit_total_ms"]
        verdict = "met" if hit < AIM_HIT_MS else "NOT met"
        print(f"aim: {cache} hit p50 server-side < {AIM_HIT_MS} ms: {hit:.3f} ms, {verdict}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
