"""Fault scenarios: a SIGKILL while the disk response cache writes, then a restart on the
same CACHE_DIR; and a SIGTERM during a long request."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from soak_report import Tally, is_error_body, rss_summary
from soak_server import (
    AltlasProcess,
    Options,
    RssSampler,
    altlas_serve,
    base_env,
    gauges,
    leaked_after,
)

MINILM = "all-minilm-l6-v2"
SMOLLM2 = "smollm2-135m-instruct"
#: Seconds of cache writes before the SIGKILL, at most.
WRITE_SECONDS = 20.0
#: Deadline of one request of the cache scenario.
DEADLINE_S = 60.0
#: The shutdown grace of the sigterm scenario (``altlas serve --graceful-timeout``).
SIGTERM_GRACE_S = 3.0


def _text(n: int) -> str:
    return f"Cache entry {n}: the weather in town number {n} is mild and dry today."


def _embed(client: httpx.AsyncClient, n: int, cache: bool | None) -> Any:
    body = {"model_id": MINILM, "inputs": [_text(n)], "cache": cache}
    return client.post("/api/inference/", json=body)


def integrity(cache_dir: Path) -> dict[str, str]:
    """``PRAGMA integrity_check`` of every SQLite file under ``cache_dir``."""
    results = {}
    for path in sorted(cache_dir.rglob("*.db")):
        with sqlite3.connect(path) as db:
            rows = db.execute("PRAGMA integrity_check").fetchall()
        results[str(path.relative_to(cache_dir))] = ", ".join(row[0] for row in rows)
    return results


async def _write_then_kill(
    server: AltlasProcess, clients: int, seconds: float, tally: Tally
) -> tuple[int, Counter]:
    """Clients write distinct cacheable answers; SIGKILL the server while they do.
    Returns how many requests were sent and how the ones cut by the kill ended."""
    sent = iter(range(10**9))
    highest = -1
    cut: Counter[str] = Counter()
    killed = asyncio.Event()

    async def writer() -> None:
        nonlocal highest
        async with httpx.AsyncClient(base_url=server.url, timeout=DEADLINE_S) as client:
            while not killed.is_set():
                n = next(sent)
                highest = max(highest, n)
                try:
                    response = await _embed(client, n, None)
                except httpx.HTTPError as error:
                    if not killed.is_set():
                        tally.failure(f"write {n}", error)
                    else:  # in flight when the server died: the point of the scenario
                        cut[type(error).__name__] += 1
                    continue
                tally.response(f"write {n}", response)

    async def killer() -> None:
        await asyncio.sleep(seconds)
        server.process.send_signal(signal.SIGKILL)
        killed.set()

    await asyncio.gather(killer(), *(writer() for _ in range(clients)))
    return highest + 1, cut


async def _replay(url: str, count: int, clients: int, tally: Tally) -> dict[str, Any]:
    """Each request again: the answer the restarted server's cache gives, against a
    fresh uncached one."""
    found: Counter[str] = Counter()
    worst = 0.0
    numbers = iter(range(count))

    async def reader() -> None:
        nonlocal worst
        async with httpx.AsyncClient(base_url=url, timeout=DEADLINE_S) as client:
            for n in numbers:
                try:
                    cached = await _embed(client, n, None)
                    fresh = await _embed(client, n, False)
                except httpx.HTTPError as error:
                    tally.failure(f"replay {n}", error)
                    continue
                tally.response(f"replay {n}", cached)
                tally.response(f"replay {n} uncached", fresh)
                if cached.status_code != 200 or fresh.status_code != 200:
                    continue
                if not cached.json()["from_cache"]:
                    found["not_in_cache"] += 1
                    continue
                found["hits"] += 1
                one, other = (r.json()["outputs"]["embeddings"][0] for r in (cached, fresh))
                difference = max(abs(a - b) for a, b in zip(one, other, strict=True))
                worst = max(worst, difference)
                found["wrong"] += difference != 0.0

    await asyncio.gather(*(reader() for _ in range(clients)))
    return {
        "hits": found["hits"],
        "not_in_cache": found["not_in_cache"],
        "wrong": found["wrong"],
        "max_abs_difference": worst,
    }


def cache_kill(options: Options) -> dict[str, Any]:
    """Distinct cacheable answers written to the ``disk`` cache, a SIGKILL mid-writes,
    a restart on the same CACHE_DIR, and every answer read back against a fresh one."""
    # Batching off: a text's vector then comes from the same computation every time, so
    # a cached answer must equal a fresh one bit for bit.
    env = base_env(
        options, "cache-kill", "onnx,diskcache", RESPONSE_CACHE="disk", MAX_BATCH_SIZE="1"
    )
    cache_dir = Path(env["CACHE_DIR"])
    tally = Tally()
    seconds = min(WRITE_SECONDS, options.minutes * 60 / 3)
    server = AltlasProcess(env, 30, options.root / "cache-kill" / "serve-1.log")
    try:
        server.wait_ready()
        httpx.post(f"{server.url}/api/models/{MINILM}/load", timeout=120).raise_for_status()
        sent, cut = asyncio.run(_write_then_kill(server, options.clients, seconds, tally))
        exit_status = server.process.wait(timeout=30)
    finally:
        server.stop()
    after_kill = integrity(cache_dir)
    with altlas_serve(env, root=options.root / "cache-kill") as restarted:
        found = asyncio.run(_replay(restarted.url, sent, options.clients, tally))
        slots = leaked_after(restarted.url)
    return {
        "tally": tally.as_dict(),
        "slots": slots,
        "cache": found,
        "figures": {
            "written_s": seconds,
            "requests_sent_before_kill": sent,
            "cut_by_kill": dict(cut),
            "exit_status": _exit(exit_status),
            "integrity_after_kill": after_kill,
            "integrity_at_end": integrity(cache_dir),
        },
    }


# --- SIGTERM during a long request ----------------------------------------------------


def _long_request(options: Options) -> tuple[str, str, dict[str, Any]]:
    """(plugins, route, body) of a request that runs far longer than the grace: a
    greedy chat that repeats itself up to its token limit, or the echo fixture asleep."""
    if options.echo_dir is not None:
        body = {"model_id": "echo-1", "inputs": {"text": f"sleep:{SIGTERM_GRACE_S + 3}"}}
        return "", "/api/inference/", {**body, "cache": False}
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    body = {"model": SMOLLM2, "messages": messages, "max_tokens": 1500, "temperature": 0}
    return "llama-cpp", "/v1/chat/completions", body


def _post(url: str, body: dict[str, Any], timeout: float) -> httpx.Response | Exception:
    try:
        return httpx.post(url, json=body, timeout=timeout)
    except httpx.HTTPError as error:
        return error


def _wait_running(url: str, model_id: str, timeout: float = 120) -> None:
    """Until ``model_id`` has a request in flight."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/api/models/{model_id}/status", timeout=30).json()
        if status.get("in_flight"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"no request of {model_id} started within {timeout} s")


def sigterm(options: Options) -> dict[str, Any]:
    """A long request, SIGTERM while it runs, and a new request after the signal: the
    long one must get an answer (complete, or the JSON error body) and the process must
    exit about when the grace runs out."""
    plugins, route, body = _long_request(options)
    model_id = body.get("model_id") or body["model"]
    env = base_env(options, "sigterm", plugins, RESPONSE_CACHE="none")
    tally, deadline = Tally(), SIGTERM_GRACE_S + 60
    server = AltlasProcess(env, SIGTERM_GRACE_S, options.root / "sigterm-serve.log")
    try:
        server.wait_ready()
        httpx.post(f"{server.url}/api/models/{model_id}/load", timeout=120).raise_for_status()
        rss = RssSampler(server.pid)
        rss.mark("baseline_mb")
        with ThreadPoolExecutor(2) as pool:
            long = pool.submit(_post, server.url + route, body, deadline)
            _wait_running(server.url, model_id)
            time.sleep(0.5)  # well inside the generation, which takes far longer
            rss.mark("at_signal_mb")
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            late = pool.submit(_post, server.url + route, body, deadline).result()
            answer = long.result()
            answered_s = time.monotonic() - signalled
            try:
                exit_status: int | None = server.process.wait(timeout=deadline)
            except subprocess.TimeoutExpired:
                exit_status = None  # still running: killed on the way out
            exit_s = time.monotonic() - signalled
        rss.stop()
    finally:
        server.stop()
    for what, outcome in (("long request", answer), ("request after the signal", late)):
        if isinstance(outcome, Exception):
            tally.failure(what, outcome)
        else:
            tally.response(what, outcome)
    return {
        "tally": tally.as_dict(),
        "rss": rss_summary(rss.samples, rss.marks),
        "figures": {
            "model": model_id,
            "grace_s": SIGTERM_GRACE_S,
            "long_request": _outcome(answer),
            "long_answered_after_signal_s": round(answered_s, 2),
            "request_after_signal": _outcome(late),
            "exit_status": _exit(exit_status),
            "exit_after_signal_s": round(exit_s, 2),
        },
    }


def _exit(status: int | None) -> str:
    """An exit status as words: ``0``, ``1``, ``SIGTERM`` (uvicorn ends by re-raising the
    signal it stopped on), ``SIGSEGV``, or that it did not exit."""
    if status is None:
        return "did not exit (killed)"
    return signal.Signals(-status).name if status < 0 else str(status)


def _outcome(answer: httpx.Response | Exception) -> str:
    if isinstance(answer, Exception):
        return f"no response ({type(answer).__name__})"
    shape = "JSON error body" if is_error_body(answer) else answer.headers.get("content-type")
    return f"{answer.status_code} ({shape})"


# --- a client leaves mid-generation, and the model is unloaded ------------------------

#: Rounds of the leave-unload scenario; it stops at the first crash.
LEAVE_ROUNDS = 5
#: Seconds a leaving client waits for its answer: well inside the generation.
LEAVE_AFTER_S = 1.5


def leave_unload(options: Options) -> dict[str, Any]:
    """A long chat whose client leaves mid-generation, then an unload of the model at
    once (what an eviction or an idle keep-alive also does): the server must stay up,
    the backend never torn down under the call it is still running."""
    plugins, route, body = _long_request(options)
    model_id = body.get("model_id") or body["model"]
    env = base_env(options, "leave-unload", plugins, RESPONSE_CACHE="none")
    env["PYTHONFAULTHANDLER"] = "1"  # a crash leaves its stacks in the server's log
    tally, rounds, under_call, crashed = Tally(), 0, 0, None
    with altlas_serve(env, root=options.root) as server:
        while rounds < LEAVE_ROUNDS and crashed is None:
            rounds += 1
            httpx.post(f"{server.url}/api/models/{model_id}/load", timeout=120).raise_for_status()
            try:
                httpx.post(server.url + route, json=body, timeout=LEAVE_AFTER_S)
            except httpx.TimeoutException:
                pass  # the client left, as meant; anything else is counted below
            try:
                unload = httpx.post(f"{server.url}/api/models/{model_id}/unload", timeout=60)
                tally.response("unload", unload)
                # The abandoned call still in the backend once the unload has answered:
                # the model was torn down under it.
                under_call += bool(gauges(server.url, "altlas_in_flight"))
            except httpx.HTTPError as error:
                tally.failure("unload", error)
            try:
                crashed = _exit(server.process.wait(timeout=2))
            except subprocess.TimeoutExpired:
                pass  # still serving
        slots = leaked_after(server.url) if crashed is None else {}
    return {
        "tally": tally.as_dict(),
        "slots": slots,
        "figures": {
            "model": model_id,
            "rounds": rounds,
            "unloaded_under_a_running_call": under_call,
            "server_died": crashed or "no",
        },
    }
