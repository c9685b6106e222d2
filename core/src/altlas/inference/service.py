"""The inference service: one request through select -> decode -> cache -> schedule ->
backend -> encode. The HTTP routes and in-process callers both use it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from altlas.inference.cache import CacheStep
from altlas.inference.coalesce import Coalescer
from altlas.inference.decode import decode_call
from altlas.inference.encode import build_response, check_output
from altlas.inference.latency import LatencyBook
from altlas.inference.select import ModelSelector
from altlas.manager import ModelManager
from altlas.metrics import Metrics
from altlas.registry import Registry
from altlas.scheduler import Scheduler, Timed
from altlas_sdk import CancellationToken, InferenceRequest, InferenceResponse, ModelSpec

T = TypeVar("T")


class InferenceService:
    """Runs inference requests on the models of the catalog."""

    def __init__(
        self,
        selector: ModelSelector,
        manager: ModelManager,
        registry: Registry,
        scheduler: Scheduler,
        cache: CacheStep,
        metrics: Metrics | None = None,
        coalescer: Coalescer | None = None,
    ) -> None:
        self.selector = selector
        self.manager = manager
        self.registry = registry
        self.scheduler = scheduler
        self.cache = cache
        self.metrics = metrics
        #: Dynamic batching; ``None``: every request runs on its own.
        self.coalescer = coalescer
        #: Measured per-model latency, read by selection strategies.
        self.latency: LatencyBook = selector.latency
        # Selection weighs how busy each model is.
        selector.lanes = scheduler.lanes

    async def run_inference(
        self,
        request: InferenceRequest,
        *,
        task: str | None = None,
        request_id: str | None = None,
    ) -> InferenceResponse:
        """Run one request. ``task`` is the task a route names (lets ``model_id`` be
        omitted). Raises :class:`altlas_sdk.errors.AltlasError` subclasses."""
        started = time.perf_counter()
        request_id = request_id or uuid.uuid4().hex
        selection = self.selector.select(request, task)
        spec = selection.entry.spec
        call = decode_call(
            self.registry.tasks[selection.task].item, request.inputs, request.parameters
        )

        async with self.manager.use(spec.id) as model:
            key, cached = await self.cache.find(
                spec.id, self.manager.version_of(spec.id), call, request.cache
            )
            if cached is not None:
                return build_response(
                    model_id=spec.id,
                    call=call,
                    output=cached,
                    queue_ms=0.0,
                    inference_ms=0.0,
                    total_ms=(time.perf_counter() - started) * 1000,
                    from_cache=True,
                    request_id=request_id,
                )
            limits = self.coalescer.limits(spec) if self.coalescer is not None else None
            if self.coalescer is not None and limits is not None:
                timed = await self.coalescer.run(spec, model, call, limits)
                self.record(spec, timed)
            else:
                timed = await self.schedule(
                    spec,
                    lambda cancel: model.infer(call.spec.id, call.inputs, call.parameters, cancel),
                )
        output = check_output(call, timed.value, spec.backend)
        if key is not None:
            await self.cache.store(key, output)
        return build_response(
            model_id=spec.id,
            call=call,
            output=output,
            queue_ms=timed.queue_ms,
            inference_ms=timed.inference_ms,
            total_ms=(time.perf_counter() - started) * 1000,
            from_cache=False,
            request_id=request_id,
        )

    async def schedule(self, spec: ModelSpec, call: Callable[[CancellationToken], T]) -> Timed[T]:
        """Run ``call`` on a slot of the model ``spec`` describes, within its queue
        limits, recording the wait and run times. The caller holds
        ``manager.use(spec.id)``."""
        backend = self.registry.backends[spec.backend].item
        timed = await self.scheduler.run(
            spec.id,
            spec.max_concurrency or backend.max_concurrency,
            call,
            CancellationToken(),
            max_queue=spec.max_queue,
        )
        self.record(spec, timed)
        return timed

    def record(self, spec: ModelSpec, timed: Timed[object]) -> None:
        """Count one request's wait and run times (a coalesced request's run time is
        its batch's)."""
        self.latency.observe(spec.id, timed.inference_ms)
        if self.metrics is not None:
            self.metrics.queue_seconds.observe(timed.queue_ms / 1000, spec.id)
            self.metrics.inference_seconds.observe(timed.inference_ms / 1000, spec.id)
