"""The ``onnx`` backend: an ONNX Runtime session per model.

A model whose entry lists the ``embedding`` task is a sentence encoder (tokenizer +
transformer + pooling), which also serves ``rerank`` by cosine when its entry lists
it; one that lists ``rerank`` without ``embedding`` is a cross-encoder
(:mod:`altlas_onnx.rerank`); any other ``.onnx`` file runs as the ``tensor`` task,
named tensors in and out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from altlas_onnx.providers import choose_providers, device_of
from altlas_onnx.rerank import CrossEncoderModel, cosine_scores
from altlas_sdk import (
    Backend,
    BatchedModel,
    CancellationToken,
    DevicePolicy,
    LoadedModel,
    MemoryEstimate,
    ModelFiles,
    ModelSpec,
)
from altlas_sdk.errors import (
    AltlasError,
    BackendUnavailable,
    InvalidInput,
    InvalidModelFile,
    WeightsMissing,
)
from altlas_sdk.tasks import (
    EMBEDDING,
    RERANK,
    TENSOR,
    EmbeddingInput,
    EmbeddingOutput,
    EmbeddingParameters,
    TensorInput,
    TensorOutput,
    TensorParameters,
    Usage,
)
from altlas_sdk.tensors import from_numpy, to_numpy
from altlas_sdk.text.tasks import RerankInput, RerankOutput, RerankParameters

if TYPE_CHECKING:
    import numpy as np
    from msgspec import Struct

logger = logging.getLogger(__name__)

# ONNX type strings (``tensor(float)``) to numpy dtype names.
_ONNX_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
}

#: Texts per session run when embedding a large batch: bounds peak memory.
EMBEDDING_CHUNK = 64


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise BackendUnavailable(
            "onnxruntime is not installed: pip install 'altlas-onnx[cpu]' "
            "(or 'altlas-onnx[gpu]' for CUDA; never both)"
        ) from None
    return onnxruntime


class OnnxBackend(Backend):
    """ONNX Runtime. Sessions are thread-safe; two calls at once keep both cores busy
    without oversubscribing them."""

    name = "onnx"
    tasks = (TENSOR, EMBEDDING, RERANK)
    native_batching = True
    max_concurrency = 2
    file_suffixes = (".onnx",)

    def estimate_memory(self, spec: ModelSpec, files: ModelFiles) -> MemoryEstimate:
        # Weights plus ONNX Runtime's arena and optimized graph copy: about twice the
        # file on disk, measured for the MiniLM models (23 MB file, ~45 MB RSS).
        return MemoryEstimate(ram_bytes=2 * files.size_bytes())

    def load(self, spec: ModelSpec, files: ModelFiles, policy: DevicePolicy) -> LoadedModel:
        ort = _import_onnxruntime()
        options = ort.SessionOptions()
        threads = spec.options.get("intra_op_num_threads")
        if threads is not None:
            options.intra_op_num_threads = int(threads)
        providers = choose_providers(
            policy, ort.get_available_providers(), spec.options.get("providers")
        )
        if files.path.is_dir():
            raise WeightsMissing(f"'{files.path}' is a folder; the onnx backend needs a .onnx file")
        try:
            session = ort.InferenceSession(str(files.path), options, providers=providers)
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own types
            raise InvalidModelFile(
                f"cannot load '{files.path}' with onnxruntime: {error}"
            ) from None
        if EMBEDDING not in spec.tasks and RERANK not in spec.tasks:
            return TensorModel(session)
        tokenizer_path = files.extra.get("tokenizer")
        if tokenizer_path is None:
            raise WeightsMissing(
                f"model '{spec.id}' reads text and needs a 'tokenizer' file "
                "(tokenizer.json) in its catalog entry's files"
            )
        if EMBEDDING in spec.tasks:
            return EmbeddingModel(session, tokenizer_path, spec.options)
        return CrossEncoderModel(session, tokenizer_path, spec.options)


class TensorModel(LoadedModel):
    """Any ONNX model: named tensors in, named tensors out."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.device = device_of(session.get_providers())
        self.input_types = {i.name: _ONNX_DTYPES.get(i.type) for i in session.get_inputs()}
        self.output_names = [o.name for o in session.get_outputs()]

    def infer(
        self, task: str, inputs: Struct, parameters: Struct, cancel: CancellationToken
    ) -> Struct:
        if task == EMBEDDING:
            raise InvalidInput("this model has no tokenizer; it serves only 'tensor'")
        assert isinstance(inputs, TensorInput) and isinstance(parameters, TensorParameters)
        feed = self._feed(inputs)
        wanted = parameters.outputs or self.output_names
        unknown = sorted(set(wanted) - set(self.output_names))
        if unknown:
            raise InvalidInput(
                f"unknown output(s) {unknown}; the model has {self.output_names}",
                param="$.parameters.outputs",
            )
        cancel.raise_if_cancelled()
        try:
            results = self.session.run(wanted, feed)
        except Exception as error:  # noqa: BLE001 - onnxruntime's errors name the bad input
            raise InvalidInput(f"onnxruntime rejected the inputs: {error}") from None
        return TensorOutput(
            tensors={
                name: from_numpy(value, encoding=parameters.encoding)
                for name, value in zip(wanted, results, strict=False)
            }
        )

    def _feed(self, inputs: TensorInput) -> dict[str, np.ndarray]:
        expected = set(self.input_types)
        given = set(inputs.tensors)
        if given != expected:
            raise InvalidInput(
                f"the model takes inputs {sorted(expected)}; got {sorted(given)}",
                param="$.inputs.tensors",
            )
        feed = {}
        for name, tensor in inputs.tensors.items():
            array = to_numpy(tensor, name=name)
            dtype = self.input_types[name]
            if dtype is not None and array.dtype.name != dtype:
                if not _safe_cast(array.dtype.name, dtype):
                    raise InvalidInput(
                        f"input '{name}' must be {dtype}, got {array.dtype.name}",
                        param=f"$.inputs.tensors.{name}",
                    )
                array = array.astype(dtype)
            feed[name] = array
        return feed


def _safe_cast(source: str, target: str) -> bool:
    import numpy as np

    # JSON numbers arrive as int64/float64: let them narrow to the model's type of the
    # same kind (float64 -> float32), as every client expects.
    return np.can_cast(source, target, casting="same_kind")


def _token_embeddings_output(session: Any, named: str | None) -> str:
    """The output to pool: ``options.output`` when given, else the first output of
    rank 3 (per-token embeddings, as exported encoders name it variously:
    ``last_hidden_state``, ``token_embeddings``...), else the first output."""
    outputs = session.get_outputs()
    if named is not None:
        if named not in {o.name for o in outputs}:
            raise InvalidModelFile(
                f"options.output '{named}' is not an output of the model "
                f"({', '.join(o.name for o in outputs)})"
            )
        return named
    for output in outputs:
        if len(output.shape or ()) == 3:
            return output.name
    return outputs[0].name


class EmbeddingModel(BatchedModel):
    """A sentence encoder: tokenizer, transformer, pooling, optional L2 normalization."""

    def __init__(self, session: Any, tokenizer_path: Any, options: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        self.session = session
        self.device = device_of(session.get_providers())
        self.max_length = int(options.get("max_length", 256))
        self.pooling = options.get("pooling", "mean")
        if self.pooling not in {"mean", "cls"}:
            raise InvalidModelFile(f"pooling must be 'mean' or 'cls', got {self.pooling!r}")
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # Pad to the longest text of each batch, not to a fixed length: far less work.
        self.tokenizer.enable_padding()
        self.tokenizer.enable_truncation(self.max_length)
        self.input_names = {i.name for i in session.get_inputs()}
        self.output_name = _token_embeddings_output(session, options.get("output"))

    def infer_batch(
        self,
        task: str,
        inputs: Sequence[Struct],
        parameters: Struct,
        cancel: CancellationToken,
    ) -> list[Struct | AltlasError]:
        if task == RERANK:
            return self._rerank(inputs, parameters, cancel)
        if task != EMBEDDING:
            raise InvalidInput(f"this model serves 'embedding' and 'rerank', not '{task}'")
        assert isinstance(parameters, EmbeddingParameters)
        results: list[Struct | AltlasError | None] = [None] * len(inputs)
        texts: list[str] = []
        spans: dict[int, range] = {}  # input index -> its rows among ``texts``
        for index, item in enumerate(inputs):
            assert isinstance(item, EmbeddingInput)
            error = self._check_lengths(item, parameters)
            if error is not None:
                results[index] = error
                continue
            spans[index] = range(len(texts), len(texts) + len(item.texts))
            texts.extend(item.texts)
        if not texts:  # every input was rejected
            return results  # type: ignore[return-value]
        vectors, tokens = self._embed(texts, parameters.normalize, cancel)
        for index, rows in spans.items():
            used = sum(tokens[row] for row in rows)
            results[index] = EmbeddingOutput(
                embeddings=vectors[rows.start : rows.stop].tolist(),
                dimensions=int(vectors.shape[1]),
                usage=Usage(prompt_tokens=used, total_tokens=used),
            )
        return results  # type: ignore[return-value]

    def _rerank(
        self, inputs: Sequence[Struct], parameters: Struct, cancel: CancellationToken
    ) -> list[Struct | AltlasError]:
        """``rerank`` by the cosine of the query's and the documents' embeddings."""
        assert isinstance(parameters, RerankParameters)
        results: list[Struct | AltlasError] = []
        for item in inputs:
            assert isinstance(item, RerankInput)
            vectors, tokens = self._embed([item.query, *item.documents], True, cancel)
            usage = Usage(prompt_tokens=sum(tokens), total_tokens=sum(tokens))
            results.append(RerankOutput.ranked(cosine_scores(vectors), item, parameters, usage))
        return results

    def _check_lengths(
        self, item: EmbeddingInput, parameters: EmbeddingParameters
    ) -> InvalidInput | None:
        if parameters.truncate:
            return None
        for position, encoding in enumerate(self.tokenizer.encode_batch(item.texts)):
            if encoding.overflowing:
                return InvalidInput(
                    f"text is longer than {self.max_length} tokens and truncate is false",
                    param=f"$.inputs.texts[{position}]",
                )
        return None

    def _embed(
        self, texts: list[str], normalize: bool, cancel: CancellationToken
    ) -> tuple[np.ndarray, list[int]]:
        import numpy as np

        chunks, tokens = [], []
        for start in range(0, len(texts), EMBEDDING_CHUNK):
            cancel.raise_if_cancelled()
            encodings = self.tokenizer.encode_batch(texts[start : start + EMBEDDING_CHUNK])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.input_names:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run([self.output_name], feed)[0]
            if hidden.ndim == 2:
                pooled = hidden  # the graph pools itself
            elif self.pooling == "cls":
                pooled = hidden[:, 0, :]
            else:
                weights = mask[..., None].astype(hidden.dtype)
                pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            if normalize:
                pooled = pooled / np.clip(
                    np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None
                )
            chunks.append(pooled.astype(np.float32))
            tokens.extend(int(m.sum()) for m in mask)
        return np.concatenate(chunks), tokens
