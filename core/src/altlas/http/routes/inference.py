"""Inference API and the task routes of the Vision and Audio APIs.

The core owns these routes for every backend: a task route dispatches to whichever
model serves its task, so two plugins serving one task never fight over a path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.routing import Route

from altlas.http.bodies import decode_json
from altlas.http.errors import request_id_of
from altlas.http.responses import MsgspecResponse
from altlas_sdk import tasks
from altlas_sdk.wire import InferenceRequest

#: The design document's task routes and the task each serves.
TASK_ROUTES: dict[str, str] = {
    "/api/vision/object-detection": tasks.OBJECT_DETECTION,
    "/api/vision/ocr": tasks.OCR,
    "/api/vision/image-classification": tasks.IMAGE_CLASSIFICATION,
    "/api/vision/image-segmentation": tasks.IMAGE_SEGMENTATION,
    "/api/audio/transcribe": tasks.SPEECH_TO_TEXT,
    "/api/audio/text-to-speech": tasks.TEXT_TO_SPEECH,
    "/api/audio/audio-classification": tasks.AUDIO_CLASSIFICATION,
    "/api/audio/speaker-diarization": tasks.SPEAKER_DIARIZATION,
}


async def _infer(request: Request, task: str | None) -> MsgspecResponse:
    body = await decode_json(request, InferenceRequest)
    assert body is not None
    service = request.app.state.runtime.inference
    response = await service.run_inference(body, task=task, request_id=request_id_of(request.scope))
    return MsgspecResponse(response)


async def run_inference(request: Request) -> MsgspecResponse:
    """``POST /api/inference/``: ``model_id``, or ``task`` for the task's default model."""
    return await _infer(request, None)


async def run_task(request: Request) -> MsgspecResponse:
    """``POST /api/tasks/{task}``: any registered task, ``model_id`` optional."""
    return await _infer(request, request.path_params["task"])


def _task_endpoint(task: str) -> Callable[[Request], Awaitable[MsgspecResponse]]:
    async def endpoint(request: Request) -> MsgspecResponse:
        return await _infer(request, task)

    endpoint.__name__ = f"run_{task.replace('-', '_')}"
    endpoint.__doc__ = f"Task route for '{task}': ``model_id`` optional."
    return endpoint


routes = [
    Route("/api/inference", run_inference, methods=["POST"]),
    Route("/api/inference/", run_inference, methods=["POST"]),
    Route("/api/tasks/{task}", run_task, methods=["POST"]),
    *(Route(path, _task_endpoint(task), methods=["POST"]) for path, task in TASK_ROUTES.items()),
]
