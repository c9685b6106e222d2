"""The ``similarity`` backend: a sentence encoder on ONNX Runtime, compared by cosine.

Every method runs in the core's thread pool, so blocking is fine. The heavy libraries
are imported inside ``load()`` and the model's methods, never at module import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from altlas_sdk import (
    Backend,
    CancellationToken,
    Device,
    DevicePolicy,
    LoadedModel,
    MemoryEstimate,
    ModelFiles,
    ModelSpec,
)
from altlas_sdk.errors import InvalidInput, InvalidModelFile, WeightsMissing
from altlas_similarity.task import SimilarityInput, SimilarityOutput

if TYPE_CHECKING:
    import numpy as np
    from msgspec import Struct

#: Longer texts are cut to this many tokens, as the model was trained.
MAX_TOKENS = 256


class SimilarityBackend(Backend):
    """Loads sentence encoders for the ``sentence-similarity`` task."""

    name = "similarity"
    tasks = ("sentence-similarity",)

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        # Weights plus ONNX Runtime's optimized copy: about twice the file.
        return MemoryEstimate(ram_bytes=2 * files.size_bytes())

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        import onnxruntime
        from tokenizers import Tokenizer

        tokenizer_path = files.extra.get("tokenizer")
        if tokenizer_path is None:
            raise WeightsMissing(f"model '{spec.id}' needs a 'tokenizer' entry in its files")
        providers = ["CPUExecutionProvider"]
        if policy.use_gpu and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            session = onnxruntime.InferenceSession(str(files.path), providers=providers)
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own types
            raise InvalidModelFile(f"cannot load '{files.path}': {error}") from None
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.enable_padding()
        tokenizer.enable_truncation(MAX_TOKENS)
        return SimilarityModel(session, tokenizer)


class SimilarityModel(LoadedModel):
    """One loaded encoder."""

    def __init__(self, session: Any, tokenizer: Any) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.input_names = {i.name for i in session.get_inputs()}
        # Read back where the session really runs, rather than assume.
        on_gpu = session.get_providers()[0] == "CUDAExecutionProvider"
        self.device = Device("cuda") if on_gpu else Device("cpu")

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        assert isinstance(inputs, SimilarityInput)
        if not inputs.query.strip():
            raise InvalidInput("query must not be empty", param="$.inputs.query")
        cancel.raise_if_cancelled()
        vectors = self._embed([inputs.query, *inputs.candidates])
        scores = vectors[1:] @ vectors[0]
        return SimilarityOutput(
            scores=[round(float(score), 6) for score in scores], best=int(scores.argmax())
        )

    def _embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feed)[0]
        # Mean of the token vectors (padding excluded), then unit length.
        weights = mask[..., None].astype(hidden.dtype)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
