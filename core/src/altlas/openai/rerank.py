"""The rerank API that Jina, Cohere, vLLM, llama-server and LocalAI share.

``POST /v1/rerank`` (and ``/rerank``) takes ``model``, ``query``, ``documents``
(strings, or objects with a ``text``), ``top_n`` and ``return_documents``, and answers
``results`` (``index``, ``relevance_score``, with ``return_documents`` the
``document`` as ``{"text": ...}``), best first, and ``usage``. It runs the ``rerank``
task; translation is here, the route is :mod:`altlas.http.routes.rerank`.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from altlas_sdk.errors import BadRequest
from altlas_sdk.tasks import Usage
from altlas_sdk.text.tasks import RerankInput, RerankOutput, RerankParameters


class TextDocument(Struct, kw_only=True, forbid_unknown_fields=True):
    """A document as an object (Cohere's and Jina's form)."""

    text: str


class RerankRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/rerank``. ``model`` omitted: the ``rerank`` task's default model."""

    query: str
    documents: Annotated[list[str | TextDocument], Meta(min_length=1)]
    model: str | None = None
    top_n: Annotated[int, Meta(ge=1)] | None = None
    return_documents: bool = False
    #: Accepted for Cohere's clients; documents longer than the model reads are cut.
    max_chunks_per_doc: int | None = None


class RerankDocument(Struct, kw_only=True):
    """A document repeated in its result."""

    text: str


class RerankResultItem(Struct, kw_only=True, omit_defaults=True):
    """One document's relevance."""

    index: int
    relevance_score: float
    document: RerankDocument | None = None


class RerankUsage(Struct, kw_only=True):
    """The tokens the model read."""

    prompt_tokens: int
    total_tokens: int


class RerankResponse(Struct, kw_only=True):
    """The answer: results best first, at most ``top_n``."""

    id: str
    model: str
    results: list[RerankResultItem]
    usage: RerankUsage


def rerank_request(body: RerankRequest) -> tuple[RerankInput, RerankParameters]:
    """The ``rerank`` task's inputs and parameters."""
    texts = [doc if isinstance(doc, str) else doc.text for doc in body.documents]
    if not body.query:
        raise BadRequest("query must not be empty", param="$.query")
    return (
        RerankInput(query=body.query, documents=texts),
        RerankParameters(top_n=body.top_n, return_documents=body.return_documents),
    )


def rerank_response(output: RerankOutput, *, id: str, model: str) -> RerankResponse:
    """The response for a ``rerank`` output."""
    usage = output.usage or Usage()
    return RerankResponse(
        id=id,
        model=model,
        results=[
            RerankResultItem(
                index=result.index,
                relevance_score=result.relevance_score,
                document=RerankDocument(text=result.document)
                if result.document is not None
                else None,
            )
            for result in output.results
        ],
        usage=RerankUsage(prompt_tokens=usage.prompt_tokens, total_tokens=usage.total_tokens),
    )
