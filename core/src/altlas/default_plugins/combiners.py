"""The built-in ensemble combiners: ``mean-embedding``, ``label-vote``,
``text-vote``, ``reciprocal-rank-fusion``, and the vision SDK's ``box-fusion`` and
``ocr-line-vote`` (registered here once, because several plugins serve those tasks).

Each returns an output of the task's own type, so an ensemble's answer reads like any
model's. They stay in pure Python: outputs are small (a few vectors of a few hundred
numbers, a few labels, a few lines of text), and the core imports nothing heavy.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from altlas_sdk import Combiner, Member, hookimpl
from altlas_sdk.errors import ValidationFailed
from altlas_sdk.tasks import (
    AUDIO_CLASSIFICATION,
    CHAT,
    EMBEDDING,
    IMAGE_CLASSIFICATION,
    RERANK,
    SPEECH_TO_TEXT,
    TEXT_GENERATION,
    EmbeddingOutput,
    Usage,
)
from altlas_sdk.text.tasks import RerankOutput, RerankParameters, RerankResult
from altlas_sdk.vision.combine import BoxFusion, OcrLineVote


class MeanEmbedding(Combiner):
    """The weighted mean of the members' vectors, renormalized to unit length (so
    cosine similarity and dot product stay interchangeable). The members must embed
    into the same number of dimensions."""

    name = "mean-embedding"
    tasks = (EMBEDDING,)

    def combine(
        self, task: str, members: Sequence[Member], parameters: msgspec.Struct
    ) -> msgspec.Struct:
        outputs = [m.output for m in members]
        assert all(isinstance(o, EmbeddingOutput) for o in outputs)
        dimensions = {o.dimensions for o in outputs}  # type: ignore[attr-defined]
        if len(dimensions) > 1:
            said = ", ".join(f"{m.model_id}: {m.output.dimensions}" for m in members)  # type: ignore[attr-defined]
            raise ValidationFailed(
                f"ensemble members embed into different dimensions ({said}); "
                "mean-embedding needs equal ones",
                param="$.ensemble",
                code="incompatible_members",
            )
        total = sum(m.weight for m in members)
        first: EmbeddingOutput = outputs[0]  # type: ignore[assignment]
        merged: list[list[float]] = []
        for index in range(len(first.embeddings)):
            vector = [0.0] * first.dimensions
            for member in members:
                weight = member.weight / total
                for axis, value in enumerate(member.output.embeddings[index]):  # type: ignore[attr-defined]
                    vector[axis] += weight * value
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            merged.append([v / norm for v in vector])
        return EmbeddingOutput(embeddings=merged, dimensions=first.dimensions)


class LabelVote(Combiner):
    """A weighted vote over each member's top labels: a label's score is the
    weight-averaged score the members gave it (0 from a member whose top labels lack
    it), best first, as many as the request's ``top_k``. The other fields come from the
    best-weighted member."""

    name = "label-vote"
    tasks = (IMAGE_CLASSIFICATION, AUDIO_CLASSIFICATION)

    def combine(
        self, task: str, members: Sequence[Member], parameters: msgspec.Struct
    ) -> msgspec.Struct:
        total = sum(m.weight for m in members)
        scores: dict[str, float] = defaultdict(float)
        exemplar: dict[str, Any] = {}
        for member in members:
            for item in member.output.labels:  # type: ignore[attr-defined]
                scores[item.label] += member.weight * item.score / total
                exemplar.setdefault(item.label, item)
        ranked = sorted(scores.items(), key=lambda pair: -pair[1])
        top_k = getattr(parameters, "top_k", None) or len(ranked)
        labels = [
            msgspec.structs.replace(exemplar[label], score=round(score, 6))
            for label, score in ranked[:top_k]
        ]
        best = max(members, key=lambda m: m.weight)
        return msgspec.structs.replace(best.output, labels=labels)


class TextVote(Combiner):
    """Majority vote over short texts, weighted by the members' weights: texts that
    differ only in case, surrounding space or trailing punctuation count as one. The
    winning member's whole output is returned; a tie goes to the better-weighted, then
    the earlier member."""

    name = "text-vote"
    tasks = (TEXT_GENERATION, CHAT, SPEECH_TO_TEXT)

    def combine(
        self, task: str, members: Sequence[Member], parameters: msgspec.Struct
    ) -> msgspec.Struct:
        votes: dict[str, float] = defaultdict(float)
        keys = [_normalized(_text_of(m.output)) for m in members]
        for key, member in zip(keys, members, strict=True):
            votes[key] += member.weight
        order = sorted(
            range(len(members)),
            key=lambda i: (-votes[keys[i]], -members[i].weight, i),
        )
        return members[order[0]].output


class ReciprocalRankFusion(Combiner):
    """Reciprocal rank fusion (Cormack, Clarke and Buettcher, 2009) of the members'
    rankings: a document's score is the weight-averaged ``1 / (k + rank)`` over the
    members that ranked it (rank 1 is the best, ``k`` = 60). Only ranks count, so a
    cross-encoder's probabilities and an embedding model's cosines fuse without
    calibration. Best first, ``top_n`` of them; ``usage`` sums the members' tokens."""

    name = "reciprocal-rank-fusion"
    tasks = (RERANK,)
    #: The constant of the paper: it damps the weight of the very first ranks.
    k = 60

    def combine(
        self, task: str, members: Sequence[Member], parameters: msgspec.Struct
    ) -> msgspec.Struct:
        total = sum(m.weight for m in members)
        scores: dict[int, float] = defaultdict(float)
        documents: dict[int, str] = {}
        for member in members:
            output: RerankOutput = member.output  # type: ignore[assignment]
            for rank, result in enumerate(output.results, start=1):
                scores[result.index] += member.weight / total / (self.k + rank)
                if result.document is not None:
                    documents.setdefault(result.index, result.document)
        order = sorted(scores, key=lambda index: (-scores[index], index))
        top_n = parameters.top_n if isinstance(parameters, RerankParameters) else None
        read = sum((m.output.usage or Usage()).total_tokens for m in members)  # type: ignore[attr-defined]
        return RerankOutput(
            usage=Usage(prompt_tokens=read, total_tokens=read),
            results=[
                RerankResult(
                    index=index,
                    relevance_score=round(scores[index], 8),
                    document=documents.get(index),
                )
                for index in order[:top_n]
            ],
        )


def _text_of(output: msgspec.Struct) -> str:
    message = getattr(output, "message", None)
    if message is not None:
        return str(getattr(message, "content", "") or "")
    return str(getattr(output, "text", ""))


def _normalized(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(".!?,;: ")


# tryfirst: the core's combiners stay each task's default when a plugin adds another
# for the same task (it is still there by name); a plugin's own tryfirst goes first.
@hookimpl(tryfirst=True)
def register_combiners(register: Callable[[Combiner], None]) -> None:
    register(MeanEmbedding())
    register(LabelVote())
    register(TextVote())
    register(ReciprocalRankFusion())
    register(BoxFusion())
    register(OcrLineVote())
