"""The model orchestrator: selection by strategy, fallback down the ranking, ensembles.

One orchestrated request is planned first (:mod:`altlas.orchestration.planning`: the
inputs decoded once, the candidates listed, filtered by the constraints and ranked by
the strategy); this module executes the plan: the best model with fallback down the
ranking, or several at once merged by a combiner. Each attempt is the plan's prepared
call on one model, run through the ordinary inference pipeline, so queues, memory
budgets, the response cache and metrics apply as for any request.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import msgspec

from altlas.config import Settings
from altlas.inference.encode import check_output
from altlas.inference.service import InferenceService
from altlas.inference.stream import InferenceStream, first_chunk
from altlas.orchestration.breaker import CircuitBreakers
from altlas.orchestration.planning import Plan, Planner, member_weight
from altlas.orchestration.wire import (
    Attempt,
    AttemptOutcome,
    EnsembleReport,
    OrchestratedRequest,
    OrchestratedResponse,
    OrchestrationReport,
)
from altlas_sdk import Candidate, InferenceRequest, Member
from altlas_sdk.errors import (
    AltlasError,
    InternalError,
    ModelsUnavailable,
    Overloaded,
    ValidationFailed,
)
from altlas_sdk.wire import ErrorDetail, InferenceResponse, Timing

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Failures that say nothing about the model: the same request would fail on any model
#: (a bad input), so neither fallback nor the breaker applies.
_CLIENT_ERROR_STATUSES = range(400, 500)


@dataclass
class OrchestratedStream:
    """A streamed orchestrated request whose first chunk has arrived: the model that
    streams, the report of how it was chosen, the first chunk and the rest.

    From here on nothing is retried: a failure is raised from ``rest`` (the client has
    already seen output from this model). ``aclose()`` stops the model.
    """

    model_id: str
    task: str
    request_id: str
    orchestration: OrchestrationReport
    first: msgspec.Struct | None
    rest: AsyncIterator[msgspec.Struct]
    stream: InferenceStream

    async def aclose(self) -> None:
        """Stop generating and free the model's slot."""
        await self.stream.aclose()


@dataclass
class _Outcome(Generic[T]):
    """One model's try: what it answered or the error, and the report line."""

    model_id: str
    value: T | None
    error: AltlasError | None
    attempt: Attempt


class ModelOrchestrator:
    """Runs orchestrated requests on an :class:`InferenceService`. The design document's
    ``get_model_orchestrator()`` returns one."""

    def __init__(
        self, service: InferenceService, breakers: CircuitBreakers, settings: Settings
    ) -> None:
        self.service = service
        self.breakers = breakers
        self.settings = settings
        self.planner = Planner(service.preparer, service.registry, settings)

    # --- the design document's in-process API -----------------------------------------

    async def run_ensemble_inference(
        self,
        request: InferenceRequest,
        task_type: str | None = None,
        *,
        members: Sequence[str] | None = None,
        combiner: str | None = None,
        strategy: str | None = None,
        max_members: int = 3,
    ) -> OrchestratedResponse:
        """Run ``request`` on several models at once and merge their outputs: the
        ``members`` named, else the best ``max_members`` by ``strategy``."""
        return await self.run(
            OrchestratedRequest(
                inputs=request.inputs,
                model_id=[request.model_id] if request.model_id not in (None, "auto") else "auto",
                task_type=task_type or request.task,
                parameters=request.parameters,
                strategy=strategy,
                cache=request.cache,
                ensemble=list(members) if members is not None else True,
                combiner=combiner,
                max_members=max_members,
            )
        )

    # --- one orchestrated request -----------------------------------------------------

    async def run(
        self, request: OrchestratedRequest, *, request_id: str | None = None
    ) -> OrchestratedResponse:
        """Run one orchestrated request. Raises :class:`AltlasError` subclasses:
        :class:`ModelsUnavailable` (503) when every candidate failed."""
        started = time.perf_counter()
        plan = self.planner.plan(request, request_id or uuid.uuid4().hex, started)
        if request.ensemble is not False:
            return await self._ensemble(request, plan)
        return await self._with_fallback(request, plan)

    async def stream(
        self, request: OrchestratedRequest, *, request_id: str | None = None
    ) -> OrchestratedStream:
        """Start streaming the best candidate's output. Fallback happens only before
        the first chunk: a model that fails, times out or is busy before producing
        any output is skipped for the next one; once a chunk has arrived, the stream is
        the client's and is never retried."""
        if request.ensemble is not False:
            raise ValidationFailed(
                "an ensemble cannot stream: its answer exists only once every member has answered",
                param="$.stream",
            )
        plan = self.planner.plan(request, request_id or uuid.uuid4().hex, time.perf_counter())

        async def open_stream(
            candidate: Candidate,
        ) -> tuple[InferenceStream, msgspec.Struct | None, AsyncIterator[msgspec.Struct]]:
            stream = await self.service.stream(plan.prepared(candidate))
            try:
                first, rest = await first_chunk(stream)
            except BaseException:
                # Failed, timed out or abandoned before any output: free the model.
                await stream.aclose()
                raise
            return stream, first, rest

        model_id, (stream, first, rest), attempts = await self._fallback(plan, request, open_stream)
        return OrchestratedStream(
            model_id=model_id,
            task=plan.task,
            request_id=plan.request_id,
            orchestration=self._report(plan, attempts, plan.reason(attempts, model_id)),
            first=first,
            rest=rest,
            stream=stream,
        )

    def _timeout(self, request: OrchestratedRequest) -> float | None:
        if request.timeout_ms is not None:
            return request.timeout_ms / 1000
        return self.settings.orchestration_timeout or None

    # --- running models ---------------------------------------------------------------

    async def _try(
        self,
        candidate: Candidate,
        request: OrchestratedRequest,
        plan: Plan,
        work: Callable[[Candidate], Awaitable[T]],
    ) -> _Outcome[T]:
        """Run ``work(candidate)`` within the request's timeout, unless the model's
        breaker is open; never raises an :class:`AltlasError` (it is in the outcome)
        and keeps the breaker's books."""
        model_id = candidate.spec.id
        if not self.breakers.allow(model_id):
            return _Outcome(model_id, None, None, self._skipped(model_id))
        started = time.perf_counter()
        timeout = self._timeout(request)
        try:
            value = await asyncio.wait_for(work(candidate), timeout)
        except asyncio.TimeoutError:
            self.breakers.failed(model_id)
            error = ModelsUnavailable(
                f"model '{model_id}' took longer than {timeout * 1000 if timeout else 0:.0f} ms",
                code="timeout",
            )
            return _Outcome(model_id, None, error, _attempt(model_id, "timeout", started, error))
        except AltlasError as error:
            outcome = self._judge(model_id, error)
            return _Outcome(model_id, None, error, _attempt(model_id, outcome, started, error))
        except Exception as error:  # noqa: BLE001 - a backend bug is a failed attempt
            internal = InternalError.logged(
                logger, "request %s: model %s failed", plan.request_id, model_id, exc_info=error
            )
            self.breakers.failed(model_id)
            attempt = _attempt(model_id, "error", started, internal)
            return _Outcome(model_id, None, internal, attempt)
        except BaseException:
            self.breakers.released(model_id)
            raise
        self.breakers.succeeded(model_id)
        from_cache = isinstance(value, InferenceResponse) and value.from_cache
        attempt = _attempt(model_id, "ok", started, None, from_cache=from_cache)
        return _Outcome(model_id, value, None, attempt)

    async def _fallback(
        self,
        plan: Plan,
        request: OrchestratedRequest,
        work: Callable[[Candidate], Awaitable[T]],
    ) -> tuple[str, T, list[Attempt]]:
        """``work`` on the ranked models in turn (only the first without ``fallback``)
        until one answers: that model, its answer and every attempt. A client mistake
        is raised at once; when none answers, the error naming each attempt."""
        attempts: list[Attempt] = []
        errors: list[AltlasError] = []
        order = plan.ranked if request.fallback else plan.ranked[:1]
        for candidate in order:
            outcome = await self._try(candidate, request, plan, work)
            attempts.append(self._count(outcome.attempt))
            if outcome.value is not None:
                return candidate.spec.id, outcome.value, attempts
            if outcome.error is not None:
                if outcome.error.status in _CLIENT_ERROR_STATUSES:
                    raise outcome.error  # the same input would fail on every model
                errors.append(outcome.error)
        raise self._all_failed(plan.task, attempts, errors)

    def _answer(self, plan: Plan) -> Callable[[Candidate], Awaitable[InferenceResponse]]:
        """The plan's call run on one model through the inference pipeline."""
        return lambda candidate: self.service.run(plan.prepared(candidate))

    def _count(self, attempt: Attempt) -> Attempt:
        metrics = self.service.metrics
        if metrics is not None:
            metrics.orchestration.inc(attempt.model_id, attempt.outcome)
        return attempt

    def _skipped(self, model_id: str) -> Attempt:
        wait = self.breakers.retry_in(model_id)
        return Attempt(
            model_id=model_id,
            outcome="skipped",
            ms=0.0,
            error=ErrorDetail(
                type="unavailable_error",
                message=f"circuit open after repeated failures; next try in {wait:.0f}s",
                code="circuit_open",
            ),
        )

    def _judge(self, model_id: str, error: AltlasError) -> AttemptOutcome:
        """Book ``error`` with the model's breaker; the attempt's outcome."""
        if error.status in _CLIENT_ERROR_STATUSES:
            self.breakers.released(model_id)
            return "error"
        if isinstance(error, Overloaded):
            # Busy is not broken: fall back, but do not count it against the model.
            self.breakers.released(model_id)
            return "overloaded"
        self.breakers.failed(model_id)
        return "error"

    def _report(
        self,
        plan: Plan,
        attempts: list[Attempt],
        reason: str,
        ensemble: EnsembleReport | None = None,
    ) -> OrchestrationReport:
        return OrchestrationReport(
            strategy=plan.strategy.name,
            reason=reason,
            ranking=plan.ranking,
            attempts=attempts,
            excluded=plan.excluded,
            ensemble=ensemble,
        )

    async def _with_fallback(
        self, request: OrchestratedRequest, plan: Plan
    ) -> OrchestratedResponse:
        model_id, response, attempts = await self._fallback(plan, request, self._answer(plan))
        return OrchestratedResponse(
            model_id=response.model_id,
            models=[response.model_id],
            task=plan.task,
            outputs=response.outputs,
            timing=Timing(
                queue_ms=response.timing.queue_ms,
                inference_ms=response.timing.inference_ms,
                total_ms=round((time.perf_counter() - plan.started) * 1000, 3),
            ),
            from_cache=response.from_cache,
            request_id=plan.request_id,
            orchestration=self._report(plan, attempts, plan.reason(attempts, model_id)),
        )

    async def _ensemble(self, request: OrchestratedRequest, plan: Plan) -> OrchestratedResponse:
        combiner = self.planner.combiner(plan.task, request.combiner)
        if isinstance(request.ensemble, list):
            members = plan.ranked
        else:
            # A model whose breaker is open would only be skipped: the next one serves.
            closed = [c for c in plan.ranked if c.stats.circuit != "open"] or plan.ranked
            members = closed[: request.max_members]
        answer = self._answer(plan)
        outcomes = await asyncio.gather(*(self._try(c, request, plan, answer) for c in members))
        attempts = [self._count(o.attempt) for o in outcomes]
        responses = [o.value for o in outcomes if o.value is not None]
        if not responses:
            errors = [o.error for o in outcomes if o.error is not None]
            client = [e for e in errors if e.status in _CLIENT_ERROR_STATUSES]
            if client and len(client) == len(errors):
                raise client[0]
            raise self._all_failed(plan.task, attempts, errors)
        weights = {c.spec.id: member_weight(c) for c in members}
        merged = combiner.combine(
            plan.task,
            [Member(r.model_id, weights[r.model_id], r.outputs) for r in responses],
            plan.call.parameters,
        )
        output = check_output(plan.call, merged, f"combiner {combiner.name}")
        used = [r.model_id for r in responses]
        dropped = [o.model_id for o in outcomes if o.value is None]
        reason = f"ensemble of {', '.join(used)} merged by '{combiner.name}'"
        if dropped:
            reason += f"; dropped {', '.join(dropped)} (see attempts)"
        return OrchestratedResponse(
            model_id="ensemble",
            models=used,
            task=plan.task,
            outputs=output,
            timing=Timing(
                queue_ms=max(r.timing.queue_ms for r in responses),
                inference_ms=max(r.timing.inference_ms for r in responses),
                total_ms=round((time.perf_counter() - plan.started) * 1000, 3),
            ),
            from_cache=all(r.from_cache for r in responses),
            request_id=plan.request_id,
            orchestration=self._report(
                plan, attempts, reason, EnsembleReport(combiner=combiner.name, members=used)
            ),
        )

    def _all_failed(
        self, task: str, attempts: list[Attempt], errors: list[AltlasError]
    ) -> AltlasError:
        said = "; ".join(
            f"{a.model_id}: {a.outcome}" + (f" ({a.error.message})" if a.error else "")
            for a in attempts
        )
        if errors and all(isinstance(e, Overloaded) for e in errors):
            return Overloaded(f"every model for task '{task}' is busy: {said}")
        skipped = [a.model_id for a in attempts if a.outcome == "skipped"]
        retry = min((self.breakers.retry_in(m) for m in skipped), default=1.0)
        code = "circuit_open" if len(skipped) == len(attempts) else "all_candidates_failed"
        return ModelsUnavailable(
            f"no model for task '{task}' answered: {said}", code=code, retry_after=retry
        )


def _attempt(
    model_id: str,
    outcome: AttemptOutcome,
    started: float,
    error: AltlasError | None,
    *,
    from_cache: bool = False,
) -> Attempt:
    detail = None
    if error is not None:
        detail = ErrorDetail(
            type=error.type, message=error.message, param=error.param, code=error.code
        )
    return Attempt(
        model_id=model_id,
        outcome=outcome,
        ms=round((time.perf_counter() - started) * 1000, 3),
        from_cache=from_cache,
        error=detail,
    )
