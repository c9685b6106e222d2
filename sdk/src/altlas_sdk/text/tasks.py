"""The text scoring tasks: ``text-classification`` and ``rerank``.

Both ids are reserved (:data:`altlas_sdk.tasks.TASK_IDS`): the core registers
:data:`TEXT_TASKS` at start-up, so two plugins never race for the id; a plugin serves
them by naming them in its backend's ``tasks`` and its catalog entries, never by
registering them again.

- ``text-classification``: texts in, the best labels with their scores for each text.
- ``rerank``: a query and documents in, a relevance score per document, best first
  (the shape of Cohere's and Jina's rerank APIs).

:meth:`TextClassificationResult.top` and :meth:`RerankOutput.ranked` build the outputs
from a model's raw scores, so every backend sorts, cuts and numbers them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated

from msgspec import Meta, Struct

from altlas_sdk.tasks import RERANK, TEXT_CLASSIFICATION, TaskSpec, Usage, texts_shorthand

TopK = Annotated[int, Meta(ge=1, le=1000)]

# --- text-classification --------------------------------------------------------------


class TextClassificationInput(Struct, kw_only=True, forbid_unknown_fields=True):
    """Texts to label. On the wire ``inputs`` may be one string or a list of strings."""

    texts: Annotated[list[str], Meta(min_length=1)]


class TextClassificationParameters(Struct, kw_only=True, forbid_unknown_fields=True):
    """``top_k``: how many labels to return per text, best first."""

    top_k: TopK = 1


class LabelScore(Struct, kw_only=True):
    """One label and the model's score for it (a probability for most classifiers)."""

    label: str
    score: float


class TextClassificationResult(Struct, kw_only=True):
    """The labels of one text, best first."""

    labels: list[LabelScore]

    @classmethod
    def top(cls, scores: Mapping[str, float], top_k: int) -> TextClassificationResult:
        """The ``top_k`` best of ``scores`` (label to score), best first; equal scores
        keep the mapping's order."""
        ranked = sorted(scores.items(), key=lambda item: -float(item[1]))[:top_k]
        return cls(labels=[LabelScore(label=label, score=float(score)) for label, score in ranked])


class TextClassificationOutput(Struct, kw_only=True):
    """One result per input text, in input order."""

    results: list[TextClassificationResult]


# --- rerank ---------------------------------------------------------------------------


class RerankInput(Struct, kw_only=True, forbid_unknown_fields=True):
    """A query and the documents to score against it."""

    query: str
    documents: Annotated[list[str], Meta(min_length=1)]


class RerankParameters(Struct, kw_only=True, forbid_unknown_fields=True):
    """``top_n``: return only the best ``top_n`` documents (all when omitted);
    ``return_documents``: repeat each document's text in its result."""

    top_n: Annotated[int, Meta(ge=1)] | None = None
    return_documents: bool = False


class RerankResult(Struct, kw_only=True, omit_defaults=True):
    """One document's relevance: ``index`` into the input's ``documents``, its score
    (higher is more relevant) and, with ``return_documents``, its text."""

    index: int
    relevance_score: float
    document: str | None = None


class RerankOutput(Struct, kw_only=True):
    """The documents' results, most relevant first, at most ``top_n`` of them;
    ``usage``: the tokens the model read, where the backend counts them."""

    results: list[RerankResult]
    usage: Usage | None = None

    @classmethod
    def ranked(
        cls,
        scores: Iterable[float],
        inputs: RerankInput,
        parameters: RerankParameters,
        usage: Usage | None = None,
    ) -> RerankOutput:
        """The output for one relevance score per document, in input order: sorted best
        first (equal scores keep input order), cut to ``top_n``, with each document's
        text when ``return_documents`` is set."""
        values = [float(score) for score in scores]
        if len(values) != len(inputs.documents):
            raise ValueError(f"{len(values)} scores for {len(inputs.documents)} documents")
        order = sorted(range(len(values)), key=lambda index: -values[index])
        if parameters.top_n is not None:
            order = order[: parameters.top_n]
        return cls(
            results=[
                RerankResult(
                    index=index,
                    relevance_score=values[index],
                    document=inputs.documents[index] if parameters.return_documents else None,
                )
                for index in order
            ],
            usage=usage,
        )


#: The text scoring task specs; the core registers them.
TEXT_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        TEXT_CLASSIFICATION,
        TextClassificationInput,
        TextClassificationOutput,
        TextClassificationParameters,
        "Label texts: the top-k labels with their scores, per text.",
        texts_shorthand,
    ),
    TaskSpec(
        RERANK,
        RerankInput,
        RerankOutput,
        RerankParameters,
        "Score documents by relevance to a query, most relevant first.",
    ),
)
