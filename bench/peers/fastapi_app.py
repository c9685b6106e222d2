"""The second peer: FastAPI + pydantic answering ``POST /api/inference/`` with the same
request and response shapes, computing nothing. ``uvicorn fastapi_app:app``."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

VECTOR = [0.5, 0.5, 0.5, 0.5]


class InferenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: str | list[str]
    model_id: str | None = None
    parameters: dict[str, Any] = {}
    task: str | None = None
    # altlas's switch for the response cache: the benchmark sends "cache": false.
    cache: bool | None = None


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class EmbeddingOutput(BaseModel):
    embeddings: list[list[float]]
    dimensions: int
    usage: Usage | None = None


class Timing(BaseModel):
    queue_ms: float
    inference_ms: float
    total_ms: float


class InferenceResponse(BaseModel):
    model_id: str
    task: str
    outputs: EmbeddingOutput
    timing: Timing
    from_cache: bool
    request_id: str


app = FastAPI()


@app.post("/api/inference/", response_model=InferenceResponse)
async def infer(body: InferenceRequest) -> InferenceResponse:
    started = time.perf_counter()
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    output = EmbeddingOutput(
        embeddings=[VECTOR] * len(texts),
        dimensions=len(VECTOR),
        usage=Usage(prompt_tokens=len(texts), total_tokens=len(texts)),
    )
    total_ms = (time.perf_counter() - started) * 1000
    return InferenceResponse(
        model_id=body.model_id or "zero",
        task="embedding",
        outputs=output,
        timing=Timing(queue_ms=0.0, inference_ms=0.0, total_ms=round(total_ms, 3)),
        from_cache=False,
        request_id=uuid.uuid4().hex,
    )


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
