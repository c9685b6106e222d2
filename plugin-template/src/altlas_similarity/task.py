"""The ``sentence-similarity`` task: its id and its typed input and output."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from altlas_sdk import TaskSpec


class SimilarityInput(Struct, kw_only=True, forbid_unknown_fields=True):
    """A query and the sentences to compare it with."""

    query: str
    candidates: Annotated[list[str], Meta(min_length=1)]


class SimilarityOutput(Struct, kw_only=True):
    """Cosine similarity of each candidate to the query, in input order, and the index
    of the closest candidate."""

    scores: list[float]
    best: int


SIMILARITY_TASK = TaskSpec(
    id="sentence-similarity",
    input_type=SimilarityInput,
    output_type=SimilarityOutput,
    description="Score candidate sentences by how close their meaning is to a query.",
)
