"""``POST /api/models/pull``: download a model's files ahead of time, with progress."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from altlas.http import sse
from altlas.http.bodies import decode_json
from altlas.http.disconnect import until_disconnected
from altlas.http.errors import error_body, request_id_of
from altlas.http.openapi import REF_TEMPLATE, describe
from altlas.http.responses import MsgspecResponse
from altlas.pull.service import PullEvent, PullRequest, pull
from altlas.runtime import Runtime
from altlas.security.audit import ACTION_STATE
from altlas.security.principal import require_model


class _Pull:
    """A pull's events as a stream the SSE response closes when it ends. Closing
    stops reporting; the download itself goes on for anyone else waiting on it."""

    def __init__(self, events: AsyncIterator[PullEvent], request_id: str) -> None:
        self.events = events
        self.request_id = request_id

    def __aiter__(self) -> AsyncIterator[PullEvent]:
        return self.events

    async def aclose(self) -> None:
        await self.events.aclose()  # type: ignore[attr-defined]


@describe(
    request=PullRequest,
    response_content={
        sse.EVENT_STREAM: {
            "schema": {"type": "string", "description": "<PullEvent> server-sent events"}
        },
        "application/json": {"schema": {"$ref": REF_TEMPLATE.format(name="PullEvent")}},
    },
    components=[PullEvent],
    errors=[404, 409, 422, 507],
    summary="Download a model's files without loading it",
    tags=["models"],
)
async def pull_model(request: Request) -> Response:
    """``POST /api/models/pull``: makes the files of a catalog model (or of one source
    reference) local. Streams ``text/event-stream``: one ``data:`` JSON
    :class:`PullEvent` per event, an ``event: error`` with the one error body if a
    download fails; ``"stream": false`` answers the last event once done."""
    body = await decode_json(request, PullRequest)
    assert body is not None
    if ":" not in body.model:
        require_model(body.model, param="$.model")
    # The audit log names the pulled model, as it does for a load.
    request.scope["state"][ACTION_STATE] = "pull"
    request.path_params["model_id"] = body.model
    runtime: Runtime = request.app.state.runtime
    stream = _Pull(
        pull(runtime.catalog, runtime.resolver, body.model), request_id_of(request.scope)
    )
    if not body.stream:
        return MsgspecResponse(await until_disconnected(request, _last(stream)))
    first, rest = await sse.first_chunk(request, stream)

    async def frames() -> AsyncIterator[bytes]:
        async for event in sse.chunks(first, rest):
            yield sse.event(event)

    return sse.stream_response(
        stream,
        frames(),
        error_event=lambda error: sse.event(error_body(error, request.scope), name="error"),
    )


async def _last(stream: _Pull) -> PullEvent:
    last = None
    try:
        async for event in stream:
            last = event
    finally:
        await stream.aclose()
    assert last is not None
    return last


routes = [Route("/api/models/pull", pull_model, methods=["POST"])]
