"""Load scenarios: a mixed soak over several real models under a RAM budget that holds
two of them, and streamed chats whose clients leave after the first chunk."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from soak_report import Tally, rss_summary
from soak_server import (
    MB,
    AltlasProcess,
    Options,
    RssSampler,
    altlas_serve,
    base_env,
    counter_total,
    leaked_after,
)

#: How long any one request of a load scenario may take before it counts as unanswered:
#: a queue wait (QUEUE_TIMEOUT, 30 s) and a model load fit in it with room to spare.
DEADLINE_S = 120.0
#: Keep-alive of the mixed scenario's models, so that an idle server unloads them and
#: its memory after the load shows what stays once no model is held.
IDLE_KEEP_ALIVE_S = 10
SMOLLM2 = "smollm2-135m-instruct"


@dataclass(frozen=True)
class Job:
    """One kind of request of the mixed load: the model and how to send it."""

    model_id: str
    plugin: str
    send: Callable[[httpx.AsyncClient, int], Any]


def _embed(model_id: str) -> Callable[[httpx.AsyncClient, int], Any]:
    def send(client: httpx.AsyncClient, n: int) -> Any:
        text = f"Request {n}: a cat sits on the mat and watches the birds."
        return client.post("/v1/embeddings", json={"model": model_id, "input": [text]})

    return send


def _vision(route: str, model_id: str, image: Callable[[], bytes]) -> Callable[..., Any]:
    def send(client: httpx.AsyncClient, n: int) -> Any:
        files = {"image": ("image", image(), "application/octet-stream")}
        return client.post(f"/api/vision/{route}", files=files, data={"model_id": model_id})

    return send


def _chat(client: httpx.AsyncClient, n: int) -> Any:
    messages = [{"role": "user", "content": f"Say one word about the number {n}."}]
    return client.post(
        "/v1/chat/completions", json={"model": SMOLLM2, "messages": messages, "max_tokens": 16}
    )


def mixed_jobs() -> list[Job]:
    """Six default-catalog models, each sent its own kind of request."""
    from vision import bus, page  # Pillow and the images of the vision benchmark

    images = {"bus": bus(), "page": page()}
    return [
        Job("all-minilm-l6-v2", "onnx", _embed("all-minilm-l6-v2")),
        Job("paraphrase-minilm-l3-v2", "onnx", _embed("paraphrase-minilm-l3-v2")),
        Job(
            "efficientnet-lite0",
            "imagenet",
            _vision("image-classification", "efficientnet-lite0", lambda: images["bus"]),
        ),
        Job(
            "yolo11n-pose",
            "yolo",
            _vision("object-detection", "yolo11n-pose", lambda: images["bus"]),
        ),
        Job("pp-ocrv6", "rapidocr", _vision("ocr", "pp-ocrv6", lambda: images["page"])),
        Job(SMOLLM2, "llama-cpp", _chat),
    ]


def _ram_charges(server: AltlasProcess, model_ids: list[str]) -> dict[str, float]:
    """Load each model alone and read what the server charges it (MB), unloading it after."""
    charges = {}
    for model_id in model_ids:
        httpx.post(f"{server.url}/api/models/{model_id}/load", timeout=300).raise_for_status()
        usage = httpx.get(f"{server.url}/api/system/resources", timeout=30).json()
        held = {row["model_id"]: row["ram_bytes"] for row in usage["models"]}
        charges[model_id] = round(held[model_id] / MB, 1)
        httpx.post(f"{server.url}/api/models/{model_id}/unload", timeout=120).raise_for_status()
    return charges


def two_model_budget(options: Options, jobs: list[Job]) -> tuple[int, dict[str, Any]]:
    """RAM_MEMORY_LIMIT (MB) under which no three of the models fit together and as many
    pairs as can fit do (every pair, when the sizes allow it), from what a server
    charges each model; and the figures it came from."""
    plugins = ",".join(sorted({job.plugin for job in jobs}))
    env = base_env(options, "mixed-probe", plugins, RESPONSE_CACHE="none")
    with altlas_serve(env, root=options.root) as server:
        charges = _ram_charges(server, [job.model_id for job in jobs])
    ordered = sorted(charges.values())
    pair_max, triple_min = sum(ordered[-2:]), sum(ordered[:3])
    limit = options.ram_limit_mb or min(int(pair_max * 1.05) + 1, int(triple_min) - 1)
    pairs = list(itertools.combinations(ordered, 2))
    return limit, {
        "charges_mb": charges,
        "largest_pair_mb": round(pair_max, 1),
        "smallest_triple_mb": round(triple_min, 1),
        "pairs_that_fit": f"{sum(a + b <= limit for a, b in pairs)} of {len(pairs)}",
        "no_three_fit": limit < triple_min,
    }


async def _drive(url: str, jobs: list[Job], clients: int, seconds: float, tally: Tally) -> Counter:
    """``clients`` clients send random jobs for ``seconds``; returns 200s per model."""
    answered: Counter[str] = Counter()
    counter = iter(range(10**9))
    deadline = time.monotonic() + seconds

    async def client_loop(seed: int) -> None:
        rng = random.Random(seed)
        async with httpx.AsyncClient(base_url=url, timeout=DEADLINE_S) as client:
            while time.monotonic() < deadline:
                job = rng.choice(jobs)
                try:
                    response = await job.send(client, next(counter))
                except httpx.HTTPError as error:
                    tally.failure(job.model_id, error)
                    continue
                tally.response(job.model_id, response)
                answered[job.model_id] += response.status_code == 200

    await asyncio.gather(*(client_loop(seed) for seed in range(clients)))
    return answered


def _wait_idle(url: str, timeout: float) -> float:
    """Until the server holds no model (keep-alive ran out), at most ``timeout`` s."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not httpx.get(f"{url}/api/system/resources", timeout=30).json()["models"]:
            break
        time.sleep(1)
    return round(time.monotonic() - started, 1)


def _model_events(url: str) -> dict[str, float]:
    """Loads, evictions and idle unloads so far, every model together (``/metrics``)."""
    return {
        event: counter_total(url, "altlas_model_events_total", f'event="{event}"')
        for event in ("loaded", "evicted", "idle")
    }


def mixed(options: Options) -> dict[str, Any]:
    """Random requests over six models from ``options.clients`` clients for
    ``options.minutes``, under a budget that holds two of them; then idle."""
    jobs = mixed_jobs()
    limit, budget = two_model_budget(options, jobs)
    plugins = ",".join(sorted({job.plugin for job in jobs}))
    env = base_env(
        options,
        "mixed",
        plugins,
        RESPONSE_CACHE="none",
        RAM_MEMORY_LIMIT=str(limit),
        KEEP_ALIVE=str(IDLE_KEEP_ALIVE_S),
    )
    tally = Tally()
    with altlas_serve(env, root=options.root) as server:
        rss = RssSampler(server.pid)
        try:
            rss.mark("baseline_mb")
            # Each model loaded and unloaded once: its libraries are imported, so the
            # memory with no model held can be told apart from what the load leaves.
            warm_charges = _ram_charges(server, [job.model_id for job in jobs])
            rss.mark("warm_no_model_mb")
            before = _model_events(server.url)
            answered = asyncio.run(
                _drive(server.url, jobs, options.clients, options.minutes * 60, tally)
            )
            rss.mark("after_load_mb")
            slots = leaked_after(server.url)
            idle_s = _wait_idle(server.url, IDLE_KEEP_ALIVE_S + 60)
            rss.mark("after_idle_mb")
            after = _model_events(server.url)
            events = {event: after[event] - before[event] for event in after}
        finally:
            rss.stop()
    return {
        "tally": tally.as_dict(),
        "slots": slots,
        "rss": {**rss_summary(rss.samples, rss.marks), "series": rss.samples},
        "figures": {
            "ram_limit_mb": limit,
            **budget,
            "charges_in_soak_server_mb": warm_charges,
            "answered_200_by_model": dict(answered),
            "model_events": events,
            "idle_wait_s": idle_s,
            "rss_every_10s_mb": [mb for t, mb in rss.samples if t % 10 < 1],
        },
    }


# --- streamed chats whose clients leave ---------------------------------------------


async def _leave_after_first(
    client: httpx.AsyncClient, model: str, n: int, tally: Tally, left: Counter
) -> None:
    """Stream a chat, read up to its first ``data:`` event and hang up."""
    messages = [{"role": "user", "content": f"Tell me a long story about the number {n}."}]
    body = {"model": model, "messages": messages, "stream": True, "max_tokens": 256}
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                await response.aread()
                tally.response(f"stream {n}", response)
                return
            tally.response(f"stream {n}", response)
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    left["after_first_chunk"] += 1
                    return  # leaving the block closes the connection mid-stream
            left["stream_ended_first"] += 1
    except httpx.HTTPError as error:
        tally.failure(f"stream {n}", error)


async def _streams(url: str, model: str, count: int, concurrency: int, tally: Tally) -> Counter:
    left: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            # A client of its own per stream: its hang-up closes its connection.
            async with httpx.AsyncClient(base_url=url, timeout=DEADLINE_S) as client:
                await _leave_after_first(client, model, n, tally, left)

    await asyncio.gather(*(one(n) for n in range(count)))
    return left


def streams(options: Options) -> dict[str, Any]:
    """``options.streams`` streamed chats, 10 at a time (``options.clients`` if more),
    whose clients leave after the first event; then no slot may still be held, and a
    normal chat must answer."""
    echo = options.echo_dir is not None
    model = "echo-chat" if echo else SMOLLM2
    # Streams wait their turn rather than be refused: the scenario is about clients that
    # leave, and on a busy machine ten queued chats can outwait the default 30 s.
    env = base_env(
        options,
        "streams",
        "" if echo else "llama-cpp",
        RESPONSE_CACHE="none",
        QUEUE_TIMEOUT=str(DEADLINE_S - 10),
    )
    tally = Tally()
    with altlas_serve(env, root=options.root) as server:
        rss = RssSampler(server.pid)
        try:
            rss.mark("baseline_mb")
            concurrency = max(options.clients, 10)
            left = asyncio.run(_streams(server.url, model, options.streams, concurrency, tally))
            slots = leaked_after(server.url)
            messages = [{"role": "user", "content": "Say hello."}]
            after = httpx.post(
                f"{server.url}/v1/chat/completions",
                json={"model": model, "messages": messages, "max_tokens": 8},
                timeout=DEADLINE_S,
            )
            tally.response("chat after the streams", after)
            rss.mark("after_idle_mb")
        finally:
            rss.stop()
    return {
        "tally": tally.as_dict(),
        "slots": slots,
        "rss": rss_summary(rss.samples, rss.marks),
        "figures": {
            "model": model,
            "clients_left": dict(left),
            "concurrency": concurrency,
            "normal_chat_after": after.status_code,
        },
    }
