"""The inference pipeline: a prepared request is looked up in the cache, run on its
model, checked and wrapped in the response.

    prepare.py (select.py, decode.py) -> cache.py -> manager.use (load on demand)
    -> scheduler.py (coalesce.py for dynamic batching) -> LoadedModel -> encode.py

:meth:`InferenceService.run` runs one prepared request, :meth:`InferenceService.stream`
streams one (``stream.py``), and ``batch.py`` runs many; each uses the steps here. The
cache is read before the model is acquired: its key needs only the model's files, so
a hit never loads, never queues, and is served even with ``LOAD_ON_DEMAND=false``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import msgspec

from altlas import tracing
from altlas.inference.cache import CacheStep
from altlas.inference.caps import RequestCaps
from altlas.inference.coalesce import Coalescer
from altlas.inference.encode import build_response, check_output
from altlas.inference.latency import LatencyBook
from altlas.inference.prepare import PreparedRequest, Preparer
from altlas.inference.select import ModelSelector
from altlas.inference.stream import InferenceStream, open_stream
from altlas.manager import ModelManager
from altlas.metrics import Metrics
from altlas.registry import Registry
from altlas.scheduler import Scheduler, Timed
from altlas_sdk import CancellationToken, InferenceRequest, InferenceResponse, ModelSpec
from altlas_sdk.limits import set_media_limits

T = TypeVar("T")


class InferenceService:
    """Prepares and runs inference requests on the models of the catalog."""

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
        #: Step 1: select the model, decode the call.
        self.preparer = Preparer(selector, registry, RequestCaps.from_settings(manager.settings))
        # The plugins' audio decoders read MAX_AUDIO_SECONDS from the SDK when they load.
        set_media_limits(max_audio_seconds=manager.settings.max_audio_seconds)
        #: Measured per-model latency, read by selection strategies.
        self.latency: LatencyBook = selector.latency
        # Selection weighs how busy each model is.
        selector.lanes = scheduler.lanes

    # --- the ways in -------------------------------------------------------------------

    async def run_inference(
        self,
        request: InferenceRequest,
        *,
        task: str | None = None,
        request_id: str | None = None,
    ) -> InferenceResponse:
        """Prepare and run one raw request. ``task`` is the task a route names (lets
        ``model_id`` be omitted). Raises :class:`altlas_sdk.errors.AltlasError`
        subclasses."""
        started = time.perf_counter()
        prepared = self.preparer.prepare(request, task=task, request_id=request_id, started=started)
        return await self.run(prepared)

    async def stream_inference(
        self,
        request: InferenceRequest,
        *,
        task: str | None = None,
        request_id: str | None = None,
    ) -> InferenceStream:
        """Prepare and start streaming one raw request (see :meth:`stream`)."""
        return await self.stream(self.preparer.prepare(request, task=task, request_id=request_id))

    # --- running a prepared request ---------------------------------------------------

    async def run(self, prepared: PreparedRequest) -> InferenceResponse:
        """Run one prepared request: from the cache if it has the answer, else on the
        model (loaded on demand, within its queue limits)."""
        spec, call = prepared.spec, prepared.call
        key, cached = await self.lookup(prepared)
        if cached is not None:
            return cached
        acquiring = time.time_ns()
        async with self.manager.use(spec.id) as model:
            tracing.record("altlas.load", acquiring, **{"altlas.model": spec.id})
            if key is None and self.cache.keeps(call, prepared.cache):
                # The files were fetched by this load: the version is known only now.
                key, cached = await self.lookup(prepared)
                if cached is not None:
                    return cached
            limits = self.coalescer.limits(spec) if self.coalescer is not None else None
            if self.coalescer is not None and limits is not None:
                timed = await self.coalescer.run(spec, model, call, limits)
                self.record(spec, timed)
            else:
                timed = await self.schedule(
                    spec,
                    lambda cancel: model.infer(call.spec.id, call.inputs, call.parameters, cancel),
                )
        return await self.finish(prepared, key, timed.value, timed)

    async def stream(self, prepared: PreparedRequest) -> InferenceStream:
        """Start streaming one prepared request's output chunks (never cached).
        Failures after this returns (a failed load, a full queue, a backend error)
        raise from the iteration, in order with the chunks."""
        return open_stream(self, prepared)

    # --- the steps, shared by run, stream and batch -----------------------------------

    async def lookup(
        self, prepared: PreparedRequest
    ) -> tuple[str | None, InferenceResponse | None]:
        """The request's cache key (``None`` when no cache keeps it, or while its
        model's files are still to be fetched) and the cached response, if any."""
        if not self.cache.keeps(prepared.call, prepared.cache):
            # Not even the version (a stat of the files of a model not loaded) is needed.
            return None, None
        version = self.manager.version_of(prepared.spec.id)
        if version is None:
            return None, None
        with tracing.span("altlas.cache") as span:
            key, cached = await self.cache.find(
                prepared.spec.id, version, prepared.call, prepared.cache
            )
            if span is not None:
                span.set_attribute("altlas.cache.hit", cached is not None)
        if cached is None:
            return key, None
        return key, self.respond(prepared, cached, None)

    async def finish(
        self,
        prepared: PreparedRequest,
        key: str | None,
        output: object,
        timed: Timed[object],
    ) -> InferenceResponse:
        """Check a backend's ``output``, keep it in the cache under ``key``, and wrap
        it in the response with its wait and run times."""
        with tracing.span("altlas.encode"):
            checked = check_output(prepared.call, output, prepared.spec.backend)
            if key is not None:
                await self.cache.store(key, checked)
            return self.respond(prepared, checked, timed)

    def respond(
        self,
        prepared: PreparedRequest,
        output: msgspec.Struct,
        timed: Timed[object] | None,
    ) -> InferenceResponse:
        """The response envelope; ``timed`` ``None`` for an answer from the cache."""
        return build_response(
            model_id=prepared.spec.id,
            call=prepared.call,
            output=output,
            queue_ms=timed.queue_ms if timed is not None else 0.0,
            inference_ms=timed.inference_ms if timed is not None else 0.0,
            total_ms=(time.perf_counter() - prepared.started) * 1000,
            from_cache=timed is None,
            request_id=prepared.request_id,
        )

    async def schedule(self, spec: ModelSpec, call: Callable[[CancellationToken], T]) -> Timed[T]:
        """Run ``call`` on a slot of the model ``spec`` describes, within its queue
        limits, recording the wait and run times. The caller holds
        ``manager.use(spec.id)``."""
        timed = await self.scheduler.run(
            spec.id,
            self.registry.concurrency(spec),
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
        tracing.record_run(spec.id, timed.queue_ms, timed.inference_ms)
        if self.metrics is not None:
            self.metrics.queue_seconds.observe(timed.queue_ms / 1000, spec.id)
            self.metrics.inference_seconds.observe(timed.inference_ms / 1000, spec.id)
