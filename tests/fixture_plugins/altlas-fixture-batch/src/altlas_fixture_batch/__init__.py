"""A fixture plugin that tests the core's dynamic batching: a backend that declares
native batching and records every batch it is given. It stands in for no capability.

Inputs steer it: ``"hold"`` blocks its batch until the test sets :data:`RELEASE`
(:data:`HOLDING` is set meanwhile), ``"bad"`` fails its own slot, ``"wrong-type"``
returns a value of the wrong type for its slot, ``"explode"`` raises for the whole
batch.
"""

from __future__ import annotations

import threading

from msgspec import Struct

from altlas_sdk import Backend, BatchedModel, ModelSpec, TaskSpec, hookimpl
from altlas_sdk.errors import InvalidInput

TASK = "upper-text"
MODEL = "batcher-1"


class UpperInput(Struct, kw_only=True, forbid_unknown_fields=True):
    text: str


class UpperParameters(Struct, kw_only=True, forbid_unknown_fields=True):
    suffix: str = ""


class UpperOutput(Struct, kw_only=True):
    text: str


#: The texts of every batch the backend ran, in order.
BATCHES: list[list[str]] = []
#: Set while a batch holding "hold" waits for RELEASE.
HOLDING = threading.Event()
RELEASE = threading.Event()
_lock = threading.Lock()


class UpperModel(BatchedModel):
    def infer_batch(self, task, inputs, parameters, cancel):
        texts = [item.text for item in inputs]
        with _lock:
            BATCHES.append(texts)
        if "hold" in texts:
            HOLDING.set()
            RELEASE.wait(timeout=60)
        if "explode" in texts:
            raise RuntimeError("the batch fixture exploded on purpose")
        results = []
        for text in texts:
            if text == "bad":
                results.append(InvalidInput("'bad' is refused", param="$.inputs.text"))
            elif text == "wrong-type":
                results.append({"text": "not a struct"})
            else:
                results.append(UpperOutput(text=text.upper() + parameters.suffix))
        return results


class UpperBackend(Backend):
    name = "batch-upper"
    tasks = (TASK,)
    native_batching = True

    def load(self, spec, files, policy):
        return UpperModel()


@hookimpl
def register_tasks(register):
    register(TaskSpec(TASK, UpperInput, UpperOutput, UpperParameters, "Upper-case text."))


@hookimpl
def register_backends(register):
    register(UpperBackend())


@hookimpl
def register_catalog_entries(register):
    register(
        ModelSpec(
            id=MODEL,
            backend="batch-upper",
            tasks=[TASK],
            source="package:altlas_fixture_batch/weights.txt",
        )
    )
