"""Inference API and the task routes of the Vision and Audio APIs.

The core owns these routes for every backend: a task route dispatches to whichever
model serves its task, so two plugins serving one task never fight over a path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from altlas.http.bodies import decode_json
from altlas.http.disconnect import until_disconnected
from altlas.http.errors import request_id_of
from altlas.http.forms import decode_form, is_form
from altlas.http.openapi import TaskBinding, describe
from altlas.http.responses import MsgspecResponse
from altlas.inference.service import InferenceService
from altlas_sdk import TaskSpec, tasks
from altlas_sdk.errors import TaskNotServed, ValidationFailed
from altlas_sdk.wire import InferenceRequest, InferenceResponse

E = TypeVar("E")

if TYPE_CHECKING:
    from altlas.runtime import Runtime

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

#: Statuses an inference route answers besides the common ones.
_ERRORS = (404, 409, 503, 507)


def _documented(task: str | TaskBinding) -> Callable[[E], E]:
    """How an inference route is described in ``/openapi.json``: the request, form and
    response schemas of the task it runs (``TaskBinding``: the path's task, or any)."""
    return describe(task=task, errors=_ERRORS, tags=["inference"])


async def _infer(request: Request, task: str | None) -> Response:
    runtime = request.app.state.runtime
    service: InferenceService = runtime.inference
    request_id = request_id_of(request.scope)
    if is_form(request):
        form = await decode_form(
            request, lambda model_id, named: _spec_of(runtime, task, named, model_id)
        )
        prepared = service.preparer.prepare_call(form.model_id, form.call, request_id=request_id)
    else:
        body = await decode_json(request, InferenceRequest)
        assert body is not None
        prepared = service.preparer.prepare(body, task=task, request_id=request_id)
    response = await until_disconnected(request, service.run(prepared))
    request.scope.setdefault("state", {})["model_id"] = response.model_id
    spec = prepared.call.spec
    if spec.render is not None:
        rendered = spec.render(response.outputs, prepared.call.parameters)
        if rendered is not None:
            content, media_type = rendered
            return Response(content, media_type=media_type, headers=_timing_headers(response))
    return MsgspecResponse(response)


def _spec_of(
    runtime: Runtime, route_task: str | None, named: str | None, model_id: str | None
) -> TaskSpec:
    """The task spec a form request is for: the route's or form's task, else the
    named model's first task."""
    if route_task and named and named != route_task:
        raise ValidationFailed(
            f"this route runs task '{route_task}', the form asks for '{named}'",
            param="task",
            code="task_mismatch",
        )
    task = route_task or named
    if task is None:
        if model_id is None:
            raise ValidationFailed("a form request needs 'model_id' or 'task'", param="model_id")
        task = runtime.catalog.get(model_id).spec.tasks[0]
    owned = runtime.registry.tasks.get(task)
    if owned is None:
        raise TaskNotServed(task, f"no task '{task}' is registered")
    return owned.item


def _timing_headers(response: InferenceResponse) -> dict[str, str]:
    # Raw bodies cannot carry the JSON envelope: the model and timing go in headers.
    timing = response.timing
    return {
        "X-Model-Id": response.model_id,
        "Server-Timing": (
            f"queue;dur={timing.queue_ms:.3f}, inference;dur={timing.inference_ms:.3f}, "
            f"total;dur={timing.total_ms:.3f}"
        ),
    }


@_documented(TaskBinding.ANY)
async def run_inference(request: Request) -> Response:
    """``POST /api/inference/``: ``model_id``, or ``task`` for the task's default model."""
    return await _infer(request, None)


@_documented(TaskBinding.FROM_PATH)
async def run_task(request: Request) -> Response:
    """``POST /api/tasks/{task}``: any registered task, ``model_id`` optional."""
    return await _infer(request, request.path_params["task"])


def _task_endpoint(task: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await _infer(request, task)

    endpoint.__name__ = f"run_{task.replace('-', '_')}"
    endpoint.__doc__ = f"Task route for '{task}': ``model_id`` optional."
    return _documented(task)(endpoint)


routes = [
    Route("/api/inference", run_inference, methods=["POST"]),
    Route("/api/inference/", run_inference, methods=["POST"]),
    Route("/api/tasks/{task}", run_task, methods=["POST"]),
    *(Route(path, _task_endpoint(task), methods=["POST"]) for path, task in TASK_ROUTES.items()),
]
