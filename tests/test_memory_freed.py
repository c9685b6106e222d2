"""Unloading really frees memory: a real model loaded, used and unloaded over and over
in a fresh process, whose RSS must not grow cycle over cycle."""

from __future__ import annotations

import json
import os
import subprocess
import sys

CYCLES = 12

SCRIPT = """
import asyncio, json, sys
from altlas.config import Settings
from altlas.memory import process_rss
from altlas.runtime import Runtime
from altlas_sdk.wire import InferenceRequest

runtime = Runtime(Settings.load())
texts = [f"Sentence {i} about a cat that sleeps on a warm mat." for i in range(64)]

async def main():
    after_unload = []
    for _ in range(int(sys.argv[1])):
        await runtime.models.load_model("all-minilm-l6-v2")
        await runtime.inference.run_inference(
            InferenceRequest(model_id="all-minilm-l6-v2", inputs=texts)
        )
        loaded = process_rss()
        await runtime.models.unload_model("all-minilm-l6-v2")
        after_unload.append((loaded, process_rss()))
    await runtime.stop()
    print(json.dumps(after_unload))

asyncio.run(main())
"""


def test_rss_does_not_grow_over_load_unload_cycles(base_env):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(CYCLES)],
        env={**os.environ, **base_env, "ALTLAS_LOAD_PLUGINS": "onnx", "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        check=True,
    )
    cycles = json.loads(result.stdout.strip().splitlines()[-1])
    mb = [(loaded / 2**20, unloaded / 2**20) for loaded, unloaded in cycles]
    # The first cycles pay one-time costs (library imports, arenas); after that an
    # unload gives back what the load took, so RSS after unloading stays flat.
    # Allocator noise moves single readings by 10-20 MB, so compare averages, against
    # what a leak would look like: each load takes ~180 MB, so nine cycles that kept
    # even a fifth of it would add over 300 MB.
    settled = [unloaded for _, unloaded in mb[3:]]
    early, late = sum(settled[:3]) / 3, sum(settled[-3:]) / 3
    assert late - early < 40, mb
    # And unloading gives memory back: RSS drops from loaded to unloaded every cycle.
    assert all(loaded - unloaded > 5 for loaded, unloaded in mb[3:]), mb
