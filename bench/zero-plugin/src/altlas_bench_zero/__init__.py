"""A zero-cost backend for the overhead benchmark: it answers the ``embedding`` task at
once with a fixed 4-value vector per text, so that a request's time is the service's
own. It stands in for no capability."""

from __future__ import annotations

from collections.abc import Callable

from msgspec import Struct

from altlas_sdk import Backend, LoadedModel, ModelFiles, ModelSpec, hookimpl
from altlas_sdk.backend import CancellationToken, DevicePolicy
from altlas_sdk.tasks import EMBEDDING, EmbeddingInput, EmbeddingOutput, Usage

MODEL_ID = "zero"
VECTOR = [0.5, 0.5, 0.5, 0.5]


class ZeroModel(LoadedModel):
    """Returns a fixed vector per text, computing nothing."""

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        assert isinstance(inputs, EmbeddingInput)
        count = len(inputs.texts)
        return EmbeddingOutput(
            embeddings=[VECTOR] * count,
            dimensions=len(VECTOR),
            usage=Usage(prompt_tokens=count, total_tokens=count),
        )


class ZeroBackend(Backend):
    """Serves ``embedding`` with :class:`ZeroModel`; thread-safe, so no call waits."""

    name = "bench-zero"
    tasks = (EMBEDDING,)
    max_concurrency = 64

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        return ZeroModel()


@hookimpl
def register_backends(register: Callable[[Backend], None]) -> None:
    register(ZeroBackend())


@hookimpl
def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            id=MODEL_ID,
            backend=ZeroBackend.name,
            tasks=[EMBEDDING],
            source="package:altlas_bench_zero/weights.txt",
            description="Zero-cost embedding backend of the overhead benchmark.",
        )
    )
