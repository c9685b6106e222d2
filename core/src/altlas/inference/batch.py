"""Several requests in one call (batch) and one input on several models (parallel).

A batch groups its requests by model, task and parameters. A group whose backend
batches natively (``Backend.native_batching``) runs as one ``LoadedModel.infer_batch``
call through the scheduler. Every other request runs on its own, concurrently with the
rest, but never more of them per model than the model takes at once: one large batch
must not fill the model's queue and get its own requests refused. A parallel call runs
one input on each model concurrently. Either way, one request's failure fills only its
own slot: results hold an :class:`~altlas_sdk.wire.InferenceResponse` or the
:class:`~altlas_sdk.errors.AltlasError` that request raised.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, cast

import msgspec
from msgspec import Meta, Struct

from altlas.inference.decode import TaskCall, decode_call
from altlas.inference.encode import build_response, check_output
from altlas.inference.service import InferenceService
from altlas_sdk.catalog import ModelSpec
from altlas_sdk.errors import AltlasError, InternalError, ValidationFailed
from altlas_sdk.wire import InferenceRequest, InferenceResponse

logger = logging.getLogger(__name__)

#: One slot of a batch or parallel answer: an inference response or the error body.
#: msgspec cannot describe a union of two untagged Structs, so the schema names both
#: (as OpenAPI components; the HTTP layer always publishes them).
SlotResult = Annotated[
    Any,
    Meta(
        extra_json_schema={
            "anyOf": [
                {"$ref": "#/components/schemas/InferenceResponse"},
                {"$ref": "#/components/schemas/ErrorBody"},
            ]
        }
    ),
]


class BatchRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/inference/batch``: independent inference requests, answered in order."""

    requests: Annotated[list[InferenceRequest], Meta(min_length=1)]


class BatchResponse(Struct, kw_only=True):
    """One result per request, in request order."""

    results: list[SlotResult]


class ParallelRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/inference/parallel``: one input run on each of ``model_ids``."""

    model_ids: Annotated[list[str], Meta(min_length=1, extra_json_schema={"uniqueItems": True})]
    inputs: Any
    parameters: dict[str, Any] = {}


class ParallelResponse(Struct, kw_only=True):
    """One result per requested model, keyed by model id."""

    results: dict[str, SlotResult]


Outcome = InferenceResponse | AltlasError


@dataclass
class _Group:
    """Requests for one model, task and parameters: one native batch call."""

    spec: ModelSpec
    calls: list[tuple[int, TaskCall]]
    #: Each request's ``cache`` choice, by its index.
    caching: dict[int, bool | None] = field(default_factory=dict)


class BatchRunner:
    """Runs batch and parallel calls on an :class:`InferenceService`'s parts."""

    def __init__(self, service: InferenceService) -> None:
        self.service = service

    async def run_batch(
        self, requests: Sequence[InferenceRequest], *, request_id: str | None = None
    ) -> list[Outcome]:
        """One outcome per request, in order. Never raises for one request's failure."""
        started = time.perf_counter()
        request_id = request_id or uuid.uuid4().hex
        results: list[Outcome | None] = [None] * len(requests)
        groups: dict[tuple[str, str, bytes], _Group] = {}
        limits: dict[str, asyncio.Semaphore] = {}
        work: list[Awaitable[None]] = []
        for index, request in enumerate(requests):
            try:
                spec, call = self._plan(request)
            except AltlasError as error:
                results[index] = error
                continue
            if call is None:
                limit = limits.get(spec.id)
                if limit is None:
                    limit = limits[spec.id] = asyncio.Semaphore(self._concurrency(spec))
                work.append(self._run_single(results, index, request, request_id, limit))
                continue
            # infer_batch takes one parameters value: only equal parameters share a call.
            key = (spec.id, call.spec.id, msgspec.json.encode(call.parameters))
            group = groups.setdefault(key, _Group(spec, []))
            group.calls.append((index, call))
            group.caching[index] = request.cache
        work.extend(
            self._run_group(results, group, request_id, started) for group in groups.values()
        )
        await asyncio.gather(*work)
        # Every path above fills the slots it owns.
        return cast(list[Outcome], results)

    async def run_parallel(
        self, request: ParallelRequest, *, request_id: str | None = None
    ) -> dict[str, Outcome]:
        """One outcome per model of ``request.model_ids``, run concurrently. A model named
        twice is a 422: the answer has one key per model."""
        seen: set[str] = set()
        for position, model_id in enumerate(request.model_ids):
            if model_id in seen:
                raise ValidationFailed(
                    f"model '{model_id}' is named twice", param=f"$.model_ids[{position}]"
                )
            seen.add(model_id)
        request_id = request_id or uuid.uuid4().hex
        requests = [
            InferenceRequest(
                model_id=model_id, inputs=request.inputs, parameters=request.parameters
            )
            for model_id in request.model_ids
        ]
        results: list[Outcome | None] = [None] * len(requests)
        await asyncio.gather(
            *(
                self._run_single(results, index, item, request_id)
                for index, item in enumerate(requests)
            )
        )
        return dict(zip(request.model_ids, cast(list[Outcome], results), strict=True))

    def _plan(self, request: InferenceRequest) -> tuple[ModelSpec, TaskCall | None]:
        """The model of a request, and its decoded call when the model's backend batches
        natively (``None``: the request runs on its own)."""
        service = self.service
        selection = service.selector.select(request, None)
        spec = selection.entry.spec
        owned = service.registry.backends.get(spec.backend)
        if owned is None or not owned.item.native_batching:
            return spec, None
        task = service.registry.tasks[selection.task].item
        return spec, decode_call(task, request.inputs, request.parameters)

    def _concurrency(self, spec: ModelSpec) -> int:
        owned = self.service.registry.backends.get(spec.backend)
        return spec.max_concurrency or (owned.item.max_concurrency if owned else 1)

    async def _run_single(
        self,
        results: list[Outcome | None],
        index: int,
        request: InferenceRequest,
        request_id: str,
        limit: asyncio.Semaphore | None = None,
    ) -> None:
        try:
            if limit is None:
                results[index] = await self.service.run_inference(request, request_id=request_id)
            else:
                async with limit:
                    results[index] = await self.service.run_inference(
                        request, request_id=request_id
                    )
        except AltlasError as error:
            results[index] = error
        except Exception:  # noqa: BLE001 - one request's bug must not fail the others
            results[index] = _internal(request_id, "a request failed", traceback=True)

    async def _run_group(
        self,
        results: list[Outcome | None],
        group: _Group,
        request_id: str,
        started: float,
    ) -> None:
        try:
            await self._run_group_unguarded(results, group, request_id, started)
        except AltlasError as error:
            for index, _ in group.calls:
                if results[index] is None:
                    results[index] = error
        except Exception:  # noqa: BLE001 - one group's bug must not fail the others
            error = _internal(request_id, "a batch call failed", traceback=True)
            for index, _ in group.calls:
                if results[index] is None:
                    results[index] = error

    async def _run_group_unguarded(
        self,
        results: list[Outcome | None],
        group: _Group,
        request_id: str,
        started: float,
    ) -> None:
        service = self.service
        spec = group.spec
        async with service.manager.use(spec.id) as model:
            pending = await self._from_cache(results, group, request_id, started)
            if not pending:
                return
            first = pending[0][1]
            inputs = [call.inputs for _, call, _ in pending]
            timed = await service.schedule(
                spec,
                lambda cancel: model.infer_batch(first.spec.id, inputs, first.parameters, cancel),
            )
        outputs = timed.value
        if len(outputs) != len(pending):
            raise _internal(
                request_id,
                f"backend {spec.backend} returned {len(outputs)} results for {len(pending)} inputs",
                traceback=False,
            )
        for (index, call, key), output in zip(pending, outputs, strict=True):
            if isinstance(output, AltlasError):
                results[index] = output
                continue
            try:
                checked = check_output(call, output, spec.backend)
            except AltlasError as error:
                results[index] = error
                continue
            if key is not None:
                await service.cache.store(key, checked)
            results[index] = build_response(
                model_id=spec.id,
                call=call,
                output=checked,
                queue_ms=timed.queue_ms,
                inference_ms=timed.inference_ms,
                total_ms=(time.perf_counter() - started) * 1000,
                from_cache=False,
                request_id=request_id,
            )

    async def _from_cache(
        self,
        results: list[Outcome | None],
        group: _Group,
        request_id: str,
        started: float,
    ) -> list[tuple[int, TaskCall, str | None]]:
        """Fill the slots the response cache answers; the rest, with their cache keys."""
        service = self.service
        spec = group.spec
        cache = service.cache
        pending: list[tuple[int, TaskCall, str | None]] = []
        for index, call in group.calls:
            key, cached = await cache.find(
                spec.id, service.manager.version_of(spec.id), call, group.caching.get(index)
            )
            if cached is None:
                pending.append((index, call, key))
                continue
            results[index] = build_response(
                model_id=spec.id,
                call=call,
                output=cached,
                queue_ms=0.0,
                inference_ms=0.0,
                total_ms=(time.perf_counter() - started) * 1000,
                from_cache=True,
                request_id=request_id,
            )
        return pending


def _internal(request_id: str, what: str, *, traceback: bool) -> InternalError:
    """An unexpected failure of one slot, logged under an error id (as the catch-all of a
    single request logs it)."""
    error_id = uuid.uuid4().hex[:12]
    logger.error("request %s: %s (error id %s)", request_id, what, error_id, exc_info=traceback)
    return InternalError(error_id)
