"""Dynamic batching on against off, in one run, on the same model.

    .venv/bin/python bench/batching.py [--seconds 3] [--rounds 2] [--window-ms 2]

The real ``all-minilm-l6-v2`` (one short text per request, response cache bypassed with
``"cache": false`` so that every request reaches the model) behind ``POST
/api/inference/`` on four ``uvicorn altlas.main:app`` servers, each a process of its
own: batching off (``MAX_BATCH_SIZE=1``); on (the defaults: no added wait); on with a
fixed window (``BATCH_MAX_WAIT_MS``, as Triton's ``max_queue_delay``); and on with one
call at a time (``max_concurrency = 1``: one batch takes both cores). ``wrk`` drives each
at concurrency 1, 8 and 32, alternating them in short rounds (the median of the rounds
is reported), and prints requests/s, p50 and p95 latency, and the ratios to batching
off.

Aim (Triton's ratio): at concurrency 8, 3x the requests/s of batching off with a p95 no
worse. Where the time goes, to read the figures by:

1. The model alone, in-process: ``infer_batch`` (tokenize, run, pool, normalize) at
   batch sizes 1, 8 and 32, ms per call and per input, and CPU ms per input: the most
   batching can save.
2. Per load run, from the servers' own ``/metrics`` and CPU time: the mean batch
   size, the mean wait for a slot and time in the backend per request, and the
   server's CPU milliseconds per request (on two shared cores, CPU per request bounds
   requests/s: whatever batching saves in the model, the HTTP and JSON work per
   request stays).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from model_path import fail
from servers import Server, running, uvicorn_command

MINILM = "all-minilm-l6-v2"
TEXT = "A cat sits on the mat and watches the birds in the garden."
CONCURRENCY = (1, 8, 32)
BATCH_SIZES = (1, 8, 32)
OFF, ON, WINDOW, ONE_SLOT = "off", "on", "window", "1-slot"
MODES = (OFF, ON, WINDOW, ONE_SLOT)
#: Aims at concurrency 8: requests/s on/off, and p95 on/off at most 1.
AIM_THROUGHPUT = 3.0
AIM_P95 = 1.0

#: wrk reports its own percentiles from Lua: p50, p95 and p99 in microseconds.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    errors.status + errors.connect + errors.read + errors.write + errors.timeout))
end
"""


@dataclass(frozen=True)
class Run:
    """One load run on one server: the client's view and the server's."""

    requests_per_s: float
    p50_ms: float
    p95_ms: float
    errors: int
    mean_batch: float
    queue_ms: float
    backend_ms: float
    cpu_ms: float


def wrk(url: str, body: bytes, connections: int, seconds: float) -> tuple[float, ...]:
    """requests/s, p50 ms, p95 ms, errors of one ``wrk`` run."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("bench/batching.py needs wrk (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        script.write_text(WRK_SCRIPT.format(body=body.decode()))
        duration = f"-d{max(1, round(seconds))}s"
        output = subprocess.run(
            [path, "-t1", f"-c{connections}", duration, "--timeout", "60s", "-s", str(script), url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    found = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", output)
    if found is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    requests, duration_us, p50, p95, _, errors = (int(value) for value in found.groups())
    return requests / (duration_us / 1e6), p50 / 1000, p95 / 1000, errors


def scrape(server: Server) -> dict[str, float]:
    """The sums and counts this benchmark reads from ``/metrics``."""
    text = httpx.get(server.url + "/metrics", timeout=30).text
    wanted = {
        "altlas_batch_size_sum": "batch_sum",
        "altlas_batch_size_count": "batch_count",
        "altlas_queue_wait_seconds_sum": "queue_s",
        "altlas_inference_duration_seconds_sum": "backend_s",
        "altlas_inference_duration_seconds_count": "requests",
    }
    figures = dict.fromkeys([*wanted.values(), "cache_hits"], 0.0)
    for line in text.splitlines():
        name, _, rest = line.partition("{")
        if name in wanted and f'model="{MINILM}"' in rest:
            figures[wanted[name]] = float(line.rsplit(" ", 1)[1])
        if name == "altlas_response_cache_total" and rest.startswith('result="hit"'):
            figures["cache_hits"] = float(line.rsplit(" ", 1)[1])
    figures["cpu_s"] = server.cpu_seconds()
    return figures


def load_run(server: Server, body: bytes, connections: int, seconds: float) -> Run:
    before = scrape(server)
    rate, p50, p95, errors = wrk(server.url + "/api/inference/", body, connections, seconds)
    after = scrape(server)
    delta = {key: after[key] - before[key] for key in before}
    # Every figure of this benchmark is meant to include the model's run.
    figure = f"MiniLM at concurrency {connections}"
    if delta["cache_hits"] > 0:
        fail(figure, f"the server answered {delta['cache_hits']:.0f} requests from its cache")
    if delta["requests"] < 1 or delta["backend_s"] <= 0:
        fail(figure, "the server counted no model run (altlas_inference_duration_seconds)")
    requests = delta["requests"]
    return Run(
        requests_per_s=rate,
        p50_ms=p50,
        p95_ms=p95,
        errors=int(errors),
        mean_batch=delta["batch_sum"] / delta["batch_count"] if delta["batch_count"] else 1.0,
        queue_ms=delta["queue_s"] / requests * 1000,
        backend_ms=delta["backend_s"] / requests * 1000,
        cpu_ms=delta["cpu_s"] / requests * 1000,
    )


def env_for(root: Path, batching: str, window_ms: float = 0.0) -> dict[str, str]:
    (root / "models").mkdir(parents=True, exist_ok=True)
    env = {
        "MODEL_DIR": str(root / "models"),
        "CACHE_DIR": str(root / "cache"),
        "ALTLAS_LOAD_PLUGINS": "onnx",
        "USE_GPU": "false",
        "LOG_LEVEL": "WARNING",
    }
    if batching == OFF:
        env["MAX_BATCH_SIZE"] = "1"
    if batching == WINDOW:
        env["BATCH_MAX_WAIT_MS"] = str(window_ms)
    if batching == ONE_SLOT:
        # One call at a time: a batch takes both cores (ONNX Runtime's own threads).
        config = root / "altlas.toml"
        config.write_text(f"[models.{MINILM}]\nmax_concurrency = 1\n")
        env["ALTLAS_CONFIG"] = str(config)
    return env


# --- the model alone ------------------------------------------------------------------


async def model_alone(root: Path, seconds: float) -> dict[int, tuple[float, float]]:
    """At each batch size, the loaded model called directly: wall ms per ``infer_batch``
    call, and CPU ms (every thread of this process) per input."""
    from altlas.config import Settings
    from altlas.runtime import Runtime
    from altlas_sdk import CancellationToken
    from altlas_sdk.tasks import EMBEDDING, EmbeddingInput, EmbeddingParameters

    runtime = Runtime(Settings.load(environ=env_for(root, ON)))
    await runtime.start()
    try:
        await runtime.models.load_model(MINILM)
        model = runtime.models.loaded_model(MINILM)
        assert model is not None
        parameters, cancel = EmbeddingParameters(), CancellationToken()
        figures: dict[int, tuple[float, float]] = {}
        for size in BATCH_SIZES:
            inputs = [EmbeddingInput(texts=[TEXT]) for _ in range(size)]
            model.infer_batch(EMBEDDING, inputs, parameters, cancel)  # warm up
            times: list[float] = []
            cpu_started = time.process_time()
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline or len(times) < 5:
                started = time.perf_counter()
                model.infer_batch(EMBEDDING, inputs, parameters, cancel)
                times.append((time.perf_counter() - started) * 1000)
            cpu_per_input = (time.process_time() - cpu_started) * 1000 / (len(times) * size)
            figures[size] = (statistics.median(times), cpu_per_input)
        return figures
    finally:
        await runtime.stop()


# --- report ---------------------------------------------------------------------------


def median_run(runs: list[Run]) -> Run:
    fields = Run.__dataclass_fields__
    return Run(**{name: statistics.median(getattr(r, name) for r in runs) for name in fields})


def report(alone: dict[int, tuple[float, float]], runs: dict[tuple[str, int], Run]) -> list[str]:
    lines = [f"Dynamic batching on {MINILM}, one text per request, POST /api/inference/", ""]
    lines.append("The model alone (in-process infer_batch):")
    lines.append(
        f"{'batch size':>12}{'ms/call':>10}{'ms/input':>10}{'vs size 1':>11}{'CPU ms/input':>14}"
    )
    single = alone[1][0]
    for size, (ms, cpu) in alone.items():
        per_input = ms / size
        lines.append(
            f"{size:>12}{ms:>10.2f}{per_input:>10.3f}{single / per_input:>10.2f}x{cpu:>14.2f}"
        )
    lines += ["", "Over HTTP (wrk; median of the rounds):"]
    header = (
        f"{'':<10}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'errors':>7}{'batch':>7}"
        f"{'queue ms':>10}{'model ms':>10}{'CPU ms/req':>11}"
    )
    for connections in CONCURRENCY:
        lines.append(f"concurrency {connections}")
        lines.append(header)
        for mode in MODES:
            r = runs[(mode, connections)]
            lines.append(
                f"{'  ' + mode:<10}{r.requests_per_s:>8.1f}{r.p50_ms:>9.2f}{r.p95_ms:>9.2f}"
                f"{r.errors:>7}{r.mean_batch:>7.2f}{r.queue_ms:>10.2f}{r.backend_ms:>10.2f}"
                f"{r.cpu_ms:>11.2f}"
            )
    for mode in MODES[1:]:
        lines += ["", f"{mode} / off:"]
        lines.append(f"{'':<16}{'req/s':>8}{'p50':>8}{'p95':>8}{'CPU/req':>9}")
        for connections in CONCURRENCY:
            on, off = runs[(mode, connections)], runs[(OFF, connections)]
            lines.append(
                f"{'concurrency ' + str(connections):<16}"
                f"{on.requests_per_s / off.requests_per_s:>7.2f}x"
                f"{on.p50_ms / off.p50_ms:>7.2f}x{on.p95_ms / off.p95_ms:>7.2f}x"
                f"{on.cpu_ms / off.cpu_ms:>8.2f}x"
            )
    on8, off8 = runs[(ON, 8)], runs[(OFF, 8)]
    throughput = on8.requests_per_s / off8.requests_per_s
    p95 = on8.p95_ms / off8.p95_ms
    lines.append("")
    lines.append(
        f"aim: >= {AIM_THROUGHPUT:g}x requests/s at concurrency 8 (on): {throughput:.2f}x, "
        + ("met" if throughput >= AIM_THROUGHPUT else "NOT met")
    )
    lines.append(
        f"aim: p95 at concurrency 8 no worse than unbatched (on): {p95:.2f}x, "
        + ("met" if p95 <= AIM_P95 else "NOT met")
    )
    # On a CPU-bound server, batching saves at most what the model saves per input; the
    # rest of each request's CPU (HTTP, JSON, the event loop, thread hops) stays.
    gain = {size: single / (alone[size][0] / size) for size in BATCH_SIZES}
    outside_off = off8.cpu_ms - alone[1][1]
    outside_on = on8.cpu_ms - alone[8][1]
    lines.append(
        f"ceiling: the model alone is {gain[8]:.2f}x cheaper per input at batch 8 and "
        f"{gain[32]:.2f}x at batch 32 (CPU {alone[1][1]:.2f} -> {alone[8][1]:.2f} ms/input)"
    )
    lines.append(
        f"concurrency 8: server CPU {off8.cpu_ms:.2f} ms/request off, {on8.cpu_ms:.2f} on "
        f"(batches of {on8.mean_batch:.1f}); outside the model about {outside_off:.2f} ms "
        f"off and {outside_on:.2f} ms on, which batching does not shrink"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per load run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds")
    parser.add_argument(
        "--window-ms", type=float, default=2.0, help="BATCH_MAX_WAIT_MS of the window server"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    body = json.dumps({"model_id": MINILM, "inputs": [TEXT], "cache": False}).encode()
    collected: dict[tuple[str, int], list[Run]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        print("the model alone ...", flush=True)
        alone = asyncio.run(model_alone(Path(tmp) / "alone", args.seconds))
        command = uvicorn_command("altlas.main:app")
        with ExitStack() as stack:
            servers = {
                mode: stack.enter_context(
                    running(command, env_for(Path(tmp) / mode, mode, args.window_ms))
                )
                for mode in MODES
            }
            for server in servers.values():
                # Load the model and warm both paths before measuring.
                wrk(server.url + "/api/inference/", body, 8, 1)
            for round_number in range(args.rounds):
                print(f"round {round_number + 1}/{args.rounds} ...", flush=True)
                for connections in CONCURRENCY:
                    for mode, server in servers.items():
                        run = load_run(server, body, connections, args.seconds)
                        collected.setdefault((mode, connections), []).append(run)
    runs = {key: median_run(values) for key, values in collected.items()}
    print()
    print(
        f"(on: the defaults; window: BATCH_MAX_WAIT_MS={args.window_ms:g}, a fixed window; "
        "1-slot: on, with max_concurrency 1)"
    )
    print("\n".join(report(alone, runs)))
    if args.json:
        figures = {f"{mode} c={c}": vars(run) for (mode, c), run in runs.items()}
        args.json.write_text(json.dumps({"model_alone": alone, **figures}, indent=2))


if __name__ == "__main__":
    main()
