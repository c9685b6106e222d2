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
from typing import Annotated, Any, cast

import msgspec
from msgspec import Meta, Struct

from altlas.inference.coalesce import RELEASE_AFTER_PIXELS
from altlas.inference.decode import TaskCall
from altlas.inference.prepare import PreparedRequest
from altlas.inference.service import InferenceService
from altlas.memory import release_freed_memory
from altlas_sdk import CancellationToken, LoadedModel, ModelSpec
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

#: One request of a native batch group: its slot, the prepared request, its cache key.
_Pending = tuple[int, PreparedRequest, "str | None"]


class BatchRunner:
    """Runs batch and parallel calls as prepared requests of an
    :class:`InferenceService`."""

    def __init__(self, service: InferenceService) -> None:
        self.service = service

    async def run_batch(
        self, requests: Sequence[InferenceRequest], *, request_id: str | None = None
    ) -> list[Outcome]:
        """One outcome per request, in order. Never raises for one request's failure."""
        started = time.perf_counter()
        request_id = request_id or uuid.uuid4().hex
        service = self.service
        results: list[Outcome | None] = [None] * len(requests)
        groups: dict[tuple[str, str, bytes], list[tuple[int, PreparedRequest]]] = {}
        limits: dict[str, asyncio.Semaphore] = {}
        work: list[Awaitable[None]] = []
        for index, request in enumerate(requests):
            try:
                prepared = service.preparer.prepare(request, request_id=request_id, started=started)
            except AltlasError as error:
                results[index] = error
                continue
            spec, call = prepared.spec, prepared.call
            if not service.registry.batches_natively(spec):
                limit = limits.get(spec.id)
                if limit is None:
                    limit = limits[spec.id] = asyncio.Semaphore(service.registry.concurrency(spec))
                work.append(self._run_single(results, index, prepared, limit))
                continue
            # infer_batch takes one parameters value: only equal parameters share a call.
            key = (spec.id, call.spec.id, msgspec.json.encode(call.parameters))
            groups.setdefault(key, []).append((index, prepared))
        work.extend(self._run_group(results, members) for members in groups.values())
        await asyncio.gather(*work)
        # Every path above fills the slots it owns.
        return cast(list[Outcome], results)

    async def run_parallel(
        self, request: ParallelRequest, *, request_id: str | None = None
    ) -> dict[str, Outcome]:
        """One outcome per model of ``request.model_ids``, run concurrently. The inputs
        are decoded once per task. A model named twice is a 422: the answer has one
        key per model."""
        seen: set[str] = set()
        for position, model_id in enumerate(request.model_ids):
            if model_id in seen:
                raise ValidationFailed(
                    f"model '{model_id}' is named twice", param=f"$.model_ids[{position}]"
                )
            seen.add(model_id)
        started = time.perf_counter()
        request_id = request_id or uuid.uuid4().hex
        calls: dict[str, TaskCall | AltlasError] = {}
        results: list[Outcome | None] = [None] * len(request.model_ids)
        work: list[Awaitable[None]] = []
        for index, model_id in enumerate(request.model_ids):
            try:
                prepared = self._prepare_parallel(calls, model_id, request, request_id, started)
            except AltlasError as error:
                results[index] = error
                continue
            work.append(self._run_single(results, index, prepared))
        await asyncio.gather(*work)
        return dict(zip(request.model_ids, cast(list[Outcome], results), strict=True))

    def _prepare_parallel(
        self,
        calls: dict[str, TaskCall | AltlasError],
        model_id: str,
        request: ParallelRequest,
        request_id: str,
        started: float,
    ) -> PreparedRequest:
        preparer = self.service.preparer
        task = preparer.selector.catalog.get(model_id).spec.task
        if task not in calls:
            try:
                calls[task] = preparer.call_for(task, request.inputs, request.parameters)
            except AltlasError as error:
                calls[task] = error
        call = calls[task]
        if isinstance(call, AltlasError):
            raise call
        return preparer.prepare_call(model_id, call, request_id=request_id, started=started)

    async def _run_single(
        self,
        results: list[Outcome | None],
        index: int,
        prepared: PreparedRequest,
        limit: asyncio.Semaphore | None = None,
    ) -> None:
        try:
            if limit is None:
                results[index] = await self.service.run(prepared)
            else:
                async with limit:
                    results[index] = await self.service.run(prepared)
        except AltlasError as error:
            results[index] = error
        except Exception as error:  # noqa: BLE001 - one request's bug must not fail the others
            results[index] = InternalError.logged(
                logger, "request %s: a request failed", prepared.request_id, exc_info=error
            )

    async def _run_group(
        self, results: list[Outcome | None], members: list[tuple[int, PreparedRequest]]
    ) -> None:
        try:
            await self._run_group_unguarded(results, members)
        except Exception as error:  # noqa: BLE001 - one group's failure fills only its slots
            if not isinstance(error, AltlasError):
                error = InternalError.logged(
                    logger,
                    "request %s: a batch call failed",
                    members[0][1].request_id,
                    exc_info=error,
                )
            for index, _ in members:
                if results[index] is None:
                    results[index] = error

    async def _run_group_unguarded(
        self, results: list[Outcome | None], members: list[tuple[int, PreparedRequest]]
    ) -> None:
        """One ``infer_batch`` call for the members the cache does not answer."""
        service = self.service
        spec = members[0][1].spec
        pending = await self._uncached(results, members)
        if not pending:
            return
        async with service.manager.use(spec.id) as model:
            unkeyed = [
                (index, prepared)
                for index, prepared, key in pending
                if key is None and service.cache.keeps(prepared.call, prepared.cache)
            ]
            if unkeyed:
                # The load fetched the files: their keys (and perhaps answers) exist now.
                looked_up = {index for index, _ in unkeyed}
                pending = [item for item in pending if item[0] not in looked_up]
                pending += await self._uncached(results, unkeyed)
                if not pending:
                    return
            budget = service.manager.settings.max_batch_pixels
            for chunk in _within_pixels(pending, budget):
                await self._run_chunk(results, model, spec, chunk)

    async def _run_chunk(
        self,
        results: list[Outcome | None],
        model: LoadedModel,
        spec: ModelSpec,
        chunk: list[_Pending],
    ) -> None:
        """One ``infer_batch`` call for ``chunk``; fills its members' slots."""
        service = self.service
        call = chunk[0][1].call
        inputs = [prepared.call.inputs for _, prepared, _ in chunk]
        pixels = sum(_pixels(prepared) for _, prepared, _ in chunk)

        def infer(cancel: CancellationToken) -> Sequence[object]:
            try:
                return model.infer_batch(call.spec.id, inputs, call.parameters, cancel)
            finally:
                if pixels > RELEASE_AFTER_PIXELS:
                    release_freed_memory()

        timed = await service.schedule(spec, infer)
        outputs = timed.value
        if len(outputs) != len(chunk):
            raise InternalError.logged(
                logger,
                "backend %s returned %d results for %d inputs",
                spec.backend,
                len(outputs),
                len(chunk),
            )
        for (index, prepared, key), output in zip(chunk, outputs, strict=True):
            if isinstance(output, AltlasError):
                results[index] = output
                continue
            try:
                results[index] = await service.finish(prepared, key, output, timed)
            except AltlasError as error:
                results[index] = error

    async def _uncached(
        self, results: list[Outcome | None], members: list[tuple[int, PreparedRequest]]
    ) -> list[_Pending]:
        """Fill the slots the response cache answers; the rest, with their cache keys."""
        pending: list[_Pending] = []
        for index, prepared in members:
            key, cached = await self.service.lookup(prepared)
            if cached is None:
                pending.append((index, prepared, key))
            else:
                results[index] = cached
        return pending


def _pixels(prepared: PreparedRequest) -> int:
    measure = prepared.call.spec.decoded_pixels
    return measure(prepared.call.inputs) if measure is not None else 0


def _within_pixels(pending: list[_Pending], budget: int) -> list[list[_Pending]]:
    """``pending`` cut, in order, into runs whose images decode to at most ``budget``
    pixels together (``MAX_BATCH_PIXELS``; 0: one run). A run takes at least one
    input: the per-image limit bounds that one."""
    if not budget:
        return [pending]
    chunks: list[list[_Pending]] = []
    total = budget + 1  # the first input opens a run
    for item in pending:
        pixels = _pixels(item[1])
        if chunks and total + pixels <= budget:
            chunks[-1].append(item)
            total += pixels
        else:
            chunks.append([item])
            total = pixels
    return chunks
