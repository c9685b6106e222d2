"""Checks that a figure meant to include the model's run did run the model.

The response cache is on by default: a benchmark that repeats one request measures cache
hits unless it asks for the model path, with ``"cache": false`` in the request or
``RESPONSE_CACHE=none`` for the server. Every benchmark measures the model path that way,
reports cache hits (where it measures them) on lines of their own, and checks its model
figures with these functions, which stop the run (exit status 1, a message saying which
figure and why) rather than print a figure that measured no model.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx

HOW = 'send "cache": false in the request or start the server with RESPONSE_CACHE=none'


def fail(figure: str, why: str) -> NoReturn:
    """Stop the benchmark: ``figure`` was meant to include the model's run, and ``why``."""
    sys.exit(
        f"{Path(sys.argv[0]).name}: '{figure}' is meant to include the model's run, but {why}. "
        f"The figure would measure no model: {HOW}."
    )


def check_response(figure: str, body: dict[str, Any]) -> None:
    """``body`` (a JSON response of ``/api/...``, or an in-process response as a dict)
    came from the model: not from the cache, with time spent in the backend."""
    if body.get("from_cache"):
        fail(figure, "a response came from the response cache (from_cache true)")
    if not body["timing"]["inference_ms"] > 0:
        fail(figure, "a response shows no inference time (timing.inference_ms 0)")


def check_server_timing(figure: str, response: httpx.Response) -> None:
    """The same for a raw-body response, whose timing is in its ``Server-Timing`` header."""
    entries = dict(
        part.strip().split(";dur=", 1)
        for part in response.headers.get("server-timing", "").split(",")
        if ";dur=" in part
    )
    if "inference" not in entries:
        fail(figure, "a response carries no Server-Timing inference entry")
    if not float(entries["inference"]) > 0:
        fail(figure, "a response shows no inference time (Server-Timing inference 0)")


def check_cache_hit(figure: str, body: dict[str, Any]) -> None:
    """``body`` is the cache hit ``figure`` says it measures."""
    if not body.get("from_cache"):
        sys.exit(
            f"{Path(sys.argv[0]).name}: '{figure}' is meant to measure cache hits, but a "
            "response ran the model (from_cache false): is the response cache on?"
        )


@dataclass(frozen=True)
class Counters:
    """A server's response-cache hits and model runs so far, from its ``/metrics``."""

    cache_hits: float
    runs: float


def counters(base_url: str, model_id: str) -> Counters:
    """The server's counters for ``model_id`` now."""
    text = httpx.get(f"{base_url}/metrics", timeout=60).text
    hits = runs = 0.0
    for line in text.splitlines():
        if line.startswith('altlas_response_cache_total{result="hit"}'):
            hits = float(line.rsplit(" ", 1)[1])
        elif line.startswith(f'altlas_inference_duration_seconds_count{{model="{model_id}"}}'):
            runs = float(line.rsplit(" ", 1)[1])
    return Counters(hits, runs)


def check_counters(
    figure: str, before: Counters, after: Counters, requests: int | None = None
) -> None:
    """Between ``before`` and ``after`` the server answered no request from its cache, and
    (when ``requests`` is given) ran the model for at least that many."""
    if after.cache_hits > before.cache_hits:
        hits = after.cache_hits - before.cache_hits
        fail(figure, f"the server answered {hits:.0f} of its requests from the response cache")
    if requests is not None and after.runs - before.runs < requests:
        ran = after.runs - before.runs
        fail(
            figure,
            f"the server counted {ran:.0f} model runs for {requests} requests "
            "(altlas_inference_duration_seconds_count)",
        )
