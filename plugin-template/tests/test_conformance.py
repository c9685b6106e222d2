"""The plugin passes altlas's conformance suite on its real model."""

from __future__ import annotations

from typing import Any, ClassVar

from altlas_sdk.errors import InvalidInput
from altlas_sdk.testing import BackendConformance
from altlas_similarity.task import SimilarityOutput


class TestMiniLMSimilarity(BackendConformance):
    plugin = "similarity"
    model_id = "minilm-similarity"
    valid_inputs: ClassVar[dict[str, Any]] = {
        "query": "A cat sits on the mat.",
        "candidates": ["A kitten rests on a rug.", "Bond yields rose sharply."],
    }
    bad_inputs: ClassVar[dict[str, Any]] = {"query": " ", "candidates": ["anything"]}
    bad_input_error = InvalidInput
    heavy_modules = ("onnxruntime", "tokenizers", "numpy")

    def check_output(self, output: SimilarityOutput) -> None:
        kitten, bonds = output.scores
        assert output.best == 0 and kitten > bonds + 0.2
