"""Shortening embeddings to a requested number of dimensions.

Only a Matryoshka model (trained so that every prefix of its vector is itself an
embedding) can be shortened: its catalog entry says so with the tag
``matryoshka = true``. Cutting any other model's vector would answer a worse
embedding without a word, so a request for fewer dimensions is a 400 there, as
OpenAI answers for models that do not support ``dimensions``.
"""

from __future__ import annotations

import math

from altlas_sdk import ModelSpec
from altlas_sdk.errors import BadRequest

#: The catalog tag that marks a Matryoshka embedding model.
MATRYOSHKA_TAG = "matryoshka"


def shorten(
    vectors: list[list[float]], dimensions: int | None, spec: ModelSpec, *, param: str
) -> list[list[float]]:
    """``vectors`` cut to their first ``dimensions`` values and renormalized to unit
    length; unchanged when ``dimensions`` is ``None`` or the model's own."""
    full = len(vectors[0]) if vectors else 0
    if dimensions is None or dimensions == full:
        return vectors
    if dimensions > full:
        raise BadRequest(
            f"model '{spec.id}' gives {full} dimensions; it cannot give {dimensions}",
            param=param,
            code="unsupported_parameter",
        )
    if spec.tags.get(MATRYOSHKA_TAG) is not True:
        raise BadRequest(
            f"model '{spec.id}' gives {full} dimensions and is not a Matryoshka model "
            f"(catalog tag {MATRYOSHKA_TAG} = true), so it cannot shorten them to {dimensions}",
            param=param,
            code="unsupported_parameter",
        )
    shortened = []
    for vector in vectors:
        head = vector[:dimensions]
        norm = math.sqrt(sum(value * value for value in head)) or 1.0
        shortened.append([value / norm for value in head])
    return shortened
