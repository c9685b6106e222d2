"""The peer the inference route is measured against: a bare Starlette + msgspec app that
answers ``POST /api/inference/`` with the same request and response shapes, computing
nothing (like the zero-cost backend). ``uvicorn bare_app:app``."""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

VECTOR = [0.5, 0.5, 0.5, 0.5]


class InferenceRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    inputs: str | list[str]
    model_id: str | None = None
    parameters: dict[str, Any] = {}
    task: str | None = None
    # altlas's switch for the response cache: the benchmark sends "cache": false.
    cache: bool | None = None


class Usage(msgspec.Struct, kw_only=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class EmbeddingOutput(msgspec.Struct, kw_only=True):
    embeddings: list[list[float]]
    dimensions: int
    usage: Usage | None = None


class Timing(msgspec.Struct, kw_only=True):
    queue_ms: float
    inference_ms: float
    total_ms: float


class InferenceResponse(msgspec.Struct, kw_only=True):
    model_id: str
    task: str
    outputs: EmbeddingOutput
    timing: Timing
    from_cache: bool
    request_id: str


_decoder = msgspec.json.Decoder(InferenceRequest)
_encoder = msgspec.json.Encoder()


async def infer(request: Request) -> Response:
    if request.headers.get("content-type", "").split(";")[0] != "application/json":
        return Response(b'{"error": "unsupported media type"}', 415)
    try:
        body = _decoder.decode(await request.body())
    except msgspec.DecodeError as error:
        return Response(_encoder.encode({"error": str(error)}), 422)
    started = time.perf_counter()
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    output = EmbeddingOutput(
        embeddings=[VECTOR] * len(texts),
        dimensions=len(VECTOR),
        usage=Usage(prompt_tokens=len(texts), total_tokens=len(texts)),
    )
    total_ms = (time.perf_counter() - started) * 1000
    response = InferenceResponse(
        model_id=body.model_id or "zero",
        task="embedding",
        outputs=output,
        timing=Timing(queue_ms=0.0, inference_ms=0.0, total_ms=round(total_ms, 3)),
        from_cache=False,
        request_id=uuid.uuid4().hex,
    )
    return Response(_encoder.encode(response), media_type="application/json")


async def healthz(request: Request) -> Response:
    return Response(b'{"status": "ok"}', media_type="application/json")


app = Starlette(
    routes=[
        Route("/api/inference/", infer, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
)
