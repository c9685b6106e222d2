"""``rerank`` on ONNX Runtime: a cross-encoder, or a sentence encoder's cosine.

A cross-encoder reads the query and one document together (``[CLS] query [SEP]
document [SEP]``, the second segment marked by ``token_type_ids``) and answers one
relevance logit per pair: the export of a sentence-transformers ``CrossEncoder``
(``ms-marco-MiniLM``, ``bge-reranker``...) with its ``tokenizer.json``. Scores go
through a sigmoid by default (``options.activation = "none"`` keeps the logits), so
they read as Cohere's and Jina's relevance scores, between 0 and 1.

A sentence encoder serves ``rerank`` too: the cosine of the query's and each
document's embeddings (:func:`cosine_scores`), the bi-encoder ranking that a
cross-encoder usually refines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from altlas_onnx.providers import device_of
from altlas_sdk import BatchedModel, CancellationToken
from altlas_sdk.errors import AltlasError, InvalidInput, InvalidModelFile
from altlas_sdk.tasks import RERANK, Usage
from altlas_sdk.text.tasks import RerankInput, RerankOutput, RerankParameters

if TYPE_CHECKING:
    import numpy as np
    from msgspec import Struct

#: Query-document pairs per session run: bounds peak memory on long document lists.
PAIR_CHUNK = 32
_ACTIVATIONS = ("sigmoid", "none")


def cosine_scores(vectors: np.ndarray) -> list[float]:
    """The cosine of row 0 (the query) with every other row (the documents), for
    rows already normalized to unit length."""
    return [float(value) for value in vectors[1:] @ vectors[0]]


class CrossEncoderModel(BatchedModel):
    """A cross-encoder: one relevance score per (query, document) pair."""

    def __init__(self, session: Any, tokenizer_path: Any, options: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        self.session = session
        self.device = device_of(session.get_providers())
        self.activation = options.get("activation", "sigmoid")
        if self.activation not in _ACTIVATIONS:
            raise InvalidModelFile(
                f"activation must be one of {', '.join(_ACTIVATIONS)}, got {self.activation!r}"
            )
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_padding()
        # Long documents are cut, never the query: "only_second" keeps the question whole.
        self.tokenizer.enable_truncation(
            int(options.get("max_length", 512)), strategy="only_second"
        )
        self.input_names = {i.name for i in session.get_inputs()}
        self.output_name = session.get_outputs()[0].name

    def infer_batch(
        self,
        task: str,
        inputs: Sequence[Struct],
        parameters: Struct,
        cancel: CancellationToken,
    ) -> list[Struct | AltlasError]:
        if task != RERANK:
            raise InvalidInput(f"this model serves 'rerank', not '{task}'")
        assert isinstance(parameters, RerankParameters)
        results: list[Struct | AltlasError] = []
        for item in inputs:
            assert isinstance(item, RerankInput)
            scores, tokens = self.scores(item.query, item.documents, cancel)
            usage = Usage(prompt_tokens=tokens, total_tokens=tokens)
            results.append(RerankOutput.ranked(scores, item, parameters, usage))
        return results

    def scores(
        self, query: str, documents: list[str], cancel: CancellationToken
    ) -> tuple[list[float], int]:
        """The relevance of each document to ``query``, in the documents' order, and
        the tokens read."""
        import numpy as np

        scores: list[float] = []
        tokens = 0
        for start in range(0, len(documents), PAIR_CHUNK):
            cancel.raise_if_cancelled()
            pairs = [(query, document) for document in documents[start : start + PAIR_CHUNK]]
            encodings = self.tokenizer.encode_batch(pairs)
            feed = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            }
            tokens += int(feed["attention_mask"].sum())
            if "token_type_ids" in self.input_names:
                feed["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
            logits = np.asarray(self.session.run([self.output_name], feed)[0], dtype=np.float64)
            # [n, 1] (one relevance logit) or [n, 2] (not relevant, relevant): the last.
            column = logits.reshape(len(pairs), -1)[:, -1]
            if self.activation == "sigmoid":
                column = 1.0 / (1.0 + np.exp(-column))
            scores.extend(float(value) for value in column)
        return scores, tokens
