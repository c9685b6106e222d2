"""A fixture plugin for the core's orchestration tests: models that serve the
``embedding``, ``tensor`` and ``text-generation`` tasks but fail (``flaky-broken``),
hang until cancelled (``flaky-hanging``) or fail after their first streamed chunk
(``flaky-midstream``), with catalog tags that make every strategy rank them first, so
that fallback and circuit breakers have something to step over; and a third-party
ensemble combiner. It stands in for no capability: it never answers."""

from __future__ import annotations

import threading
import time

from altlas_sdk import Backend, Combiner, LoadedModel, ModelSpec, hookimpl
from altlas_sdk.tasks import TextGenerationOutput

#: Calls per model id, read by the tests.
CALLS: dict[str, int] = {}
_lock = threading.Lock()

#: How long a hanging call waits for its cancellation before giving up on its own.
HANG_LIMIT_S = 30.0


class FlakyModel(LoadedModel):
    def __init__(self, model_id: str) -> None:
        self.model_id = model_id

    def infer(self, task, inputs, parameters, cancel):
        with _lock:
            CALLS[self.model_id] = CALLS.get(self.model_id, 0) + 1
        if self.model_id.endswith("hanging"):
            deadline = time.monotonic() + HANG_LIMIT_S
            while not cancel.cancelled and time.monotonic() < deadline:
                time.sleep(0.01)
        raise RuntimeError(f"{self.model_id} fails on purpose")

    def stream(self, task, inputs, parameters, cancel):
        with _lock:
            CALLS[self.model_id] = CALLS.get(self.model_id, 0) + 1
        if self.model_id.endswith("midstream"):
            yield TextGenerationOutput(text="partial")
        raise RuntimeError(f"{self.model_id} fails on purpose while streaming")


class FlakyBackend(Backend):
    name = "flaky"
    tasks = ("embedding", "tensor", "text-generation")
    max_concurrency = 4

    def load(self, spec, files, policy):
        return FlakyModel(spec.id)


class FirstMember(Combiner):
    """Answers the first member's output: proves a plugin's combiner is used."""

    name = "fixture-first"
    tasks = ("embedding",)

    def combine(self, task, members, parameters):
        return members[0].output


@hookimpl
def register_backends(register):
    register(FlakyBackend())


@hookimpl
def register_catalog_entries(register):
    for model_id in ("flaky-broken", "flaky-hanging", "flaky-midstream"):
        tasks = ["text-generation"]
        if model_id != "flaky-midstream":
            tasks = ["embedding", "tensor", "text-generation"]
        register(
            ModelSpec(
                id=model_id,
                backend="flaky",
                tasks=tasks,
                source="package:altlas_fixture_flaky/weights.txt",
                # Better than any real model on every axis: strategies rank it first.
                tags={"latency_ms": 0.1, "load_ms": 0.1, "accuracy": 0.99, "cost": 0.01,
                      "size_mb": 0.01, "languages": ["en"]},
            )
        )


@hookimpl
def register_combiners(register):
    register(FirstMember())
