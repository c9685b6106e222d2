"""The model orchestrator: selection by strategy, fallback down the ranking, ensembles.

One orchestrated request: decode the inputs once (a bad input is one 422, not one per
model), list the candidates and drop those that break a constraint, rank them with
the strategy, then either run the best with fallback, or run several at once and merge
their outputs with a combiner. Each model runs through the ordinary inference service,
so queues, memory budgets, the response cache and metrics apply as for any request.
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
from altlas.inference.decode import TaskCall, decode_call
from altlas.inference.encode import check_output
from altlas.inference.service import InferenceService
from altlas.inference.stream import InferenceStream, first_chunk, stream_inference
from altlas.orchestration.breaker import CircuitBreakers
from altlas.orchestration.candidates import admit, listed_candidates, task_candidates
from altlas.orchestration.wire import (
    Attempt,
    AttemptOutcome,
    Constraints,
    EnsembleReport,
    ExcludedModel,
    OrchestratedRequest,
    OrchestratedResponse,
    OrchestrationReport,
    RankedModel,
)
from altlas_sdk import Candidate, Combiner, InferenceRequest, Member, SelectionStrategy
from altlas_sdk.errors import (
    AltlasError,
    InternalError,
    ModelsUnavailable,
    Overloaded,
    TaskNotServed,
    ValidationFailed,
)
from altlas_sdk.wire import ErrorDetail, InferenceResponse, Timing

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Failures that say nothing about the model: the same request would fail on any model
#: (a bad input), so neither fallback nor the breaker applies.
_CLIENT_ERROR_STATUSES = range(400, 500)


class ListedOrder(SelectionStrategy):
    """The order of the request's own list (``model_id`` as a list and no strategy, or
    the ensemble's members): the client wrote its fallback chain."""

    name = "listed"

    def rank(
        self, task: str, candidates: Sequence[Candidate], request: InferenceRequest
    ) -> list[Candidate]:
        return list(candidates)

    def explain(self, task: str, candidate: Candidate) -> str:
        return "in the order the request lists"


@dataclass
class _Plan:
    """A request's task, decoded call, strategy and ranked candidates."""

    task: str
    call: TaskCall
    strategy: SelectionStrategy
    ranked: list[Candidate]
    ranking: list[RankedModel]
    excluded: list[ExcludedModel]


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

    # --- the design document's in-process API -----------------------------------------

    async def run_orchestrated_inference(
        self,
        request: InferenceRequest,
        task_type: str | None = None,
        *,
        strategy: str | None = None,
        constraints: Constraints | None = None,
        fallback: bool = True,
    ) -> OrchestratedResponse:
        """Run ``request`` on the best model for ``task_type`` (``model_id`` ``"auto"``
        or ``None``), falling back down the ranking on failure."""
        return await self.run(
            self._from_inference_request(
                request, task_type, strategy=strategy, constraints=constraints
            ),
        )

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
        orchestrated = self._from_inference_request(request, task_type, strategy=strategy)
        return await self.run(
            msgspec.structs.replace(
                orchestrated,
                ensemble=list(members) if members is not None else True,
                combiner=combiner,
                max_members=max_members,
            )
        )

    def _from_inference_request(
        self,
        request: InferenceRequest,
        task_type: str | None,
        *,
        strategy: str | None = None,
        constraints: Constraints | None = None,
    ) -> OrchestratedRequest:
        model_id: str | list[str] = "auto"
        if request.model_id not in (None, "auto"):
            model_id = [request.model_id]
        return OrchestratedRequest(
            inputs=request.inputs,
            model_id=model_id,
            task_type=task_type or request.task,
            parameters=request.parameters,
            strategy=strategy,
            constraints=constraints,
            cache=request.cache,
        )

    # --- one orchestrated request -----------------------------------------------------

    async def run(
        self, request: OrchestratedRequest, *, request_id: str | None = None
    ) -> OrchestratedResponse:
        """Run one orchestrated request. Raises :class:`AltlasError` subclasses:
        :class:`ModelsUnavailable` (503) when every candidate failed."""
        started = time.perf_counter()
        request_id = request_id or uuid.uuid4().hex
        plan = self._plan(request)
        if request.ensemble is not False:
            return await self._ensemble(request, plan, request_id, started)
        return await self._with_fallback(request, plan, request_id, started)

    async def stream(
        self, request: OrchestratedRequest, *, request_id: str | None = None
    ) -> OrchestratedStream:
        """Start streaming the best candidate's output. Fallback happens only before
        the first chunk: a model that fails, times out or is busy before producing
        any output is skipped for the next one; once a chunk has arrived, the stream is
        the client's and is never retried."""
        request_id = request_id or uuid.uuid4().hex
        if request.ensemble is not False:
            raise ValidationFailed(
                "an ensemble cannot stream: its answer exists only once every member has answered",
                param="$.stream",
            )
        plan = self._plan(request)

        async def open_stream(
            model_id: str,
        ) -> tuple[InferenceStream, msgspec.Struct | None, AsyncIterator[msgspec.Struct]]:
            single = InferenceRequest(
                inputs=request.inputs,
                model_id=model_id,
                parameters=request.parameters,
                task=plan.task,
            )
            stream = await stream_inference(
                self.service, single, task=plan.task, request_id=request_id
            )
            try:
                first, rest = await first_chunk(stream)
            except BaseException:
                # Failed, timed out or abandoned before any output: free the model.
                await stream.aclose()
                raise
            return stream, first, rest

        model_id, (stream, first, rest), attempts = await self._fallback(
            plan, request, request_id, open_stream
        )
        return OrchestratedStream(
            model_id=model_id,
            task=plan.task,
            request_id=request_id,
            orchestration=OrchestrationReport(
                strategy=plan.strategy.name,
                reason=_reason(plan, attempts, model_id),
                ranking=plan.ranking,
                attempts=attempts,
                excluded=plan.excluded,
            ),
            first=first,
            rest=rest,
            stream=stream,
        )

    def _plan(self, request: OrchestratedRequest) -> _Plan:
        selector = self.service.selector
        task = self._task(request)
        spec = self.service.registry.tasks[task].item
        call = decode_call(spec, request.inputs, request.parameters)
        strategy = self._strategy(request.strategy)
        if isinstance(request.ensemble, list):
            if isinstance(request.model_id, list):
                raise ValidationFailed(
                    "name the members either in 'model_id' or in 'ensemble', not both",
                    param="$.ensemble",
                )
            candidates, excluded = listed_candidates(selector, request.ensemble, task)
        elif isinstance(request.model_id, list):
            candidates, excluded = listed_candidates(selector, request.model_id, task)
        else:
            candidates, excluded = task_candidates(selector, task)
        admitted, refused = admit(candidates, request.constraints)
        excluded += refused
        if not admitted:
            why = "; ".join(f"{e.model_id}: {e.reason}" for e in excluded) or "none installed"
            raise TaskNotServed(task, f"no model for task '{task}' can serve this request: {why}")
        as_request = InferenceRequest(
            inputs=request.inputs, parameters=request.parameters, task=task, cache=request.cache
        )
        if isinstance(request.ensemble, list) or (
            isinstance(request.model_id, list) and request.strategy is None
        ):
            # The client's own list, in its order: a fallback chain, or the members.
            strategy = ListedOrder()
            ranked = admitted
        else:
            ranked = strategy.rank(task, admitted, as_request)
            if not ranked:
                raise TaskNotServed(
                    task, f"strategy '{strategy.name}' found no model for task '{task}'"
                )
        ranking = [
            RankedModel(model_id=c.spec.id, reason=strategy.explain(task, c)) for c in ranked
        ]
        return _Plan(task, call, strategy, ranked, ranking, excluded)

    def _task(self, request: OrchestratedRequest) -> str:
        tasks = self.service.registry.tasks
        task = request.task_type
        if task is None:
            named = request.ensemble if isinstance(request.ensemble, list) else request.model_id
            if isinstance(named, list) and named:
                return self.service.selector.catalog.get(named[0]).spec.task
            raise ValidationFailed(
                "give task_type (or list the candidate models in model_id)",
                param="$.task_type",
                code="missing_task",
            )
        if request.model_id not in ("auto",) and isinstance(request.model_id, str):
            raise ValidationFailed(
                'model_id is "auto" or a list of candidate model ids; to run one model, '
                "use POST /api/inference/",
                param="$.model_id",
            )
        if task not in tasks:
            raise TaskNotServed(
                task, f"unknown task '{task}'; known tasks: {', '.join(sorted(tasks))}"
            )
        return task

    def _strategy(self, name: str | None) -> SelectionStrategy:
        strategies = self.service.registry.strategies
        name = name or self.settings.selection_strategy
        owned = strategies.get(name)
        if owned is None:
            raise ValidationFailed(
                f"unknown strategy '{name}'; registered: {', '.join(sorted(strategies))}",
                param="$.strategy",
            )
        return owned.item

    def _timeout(self, request: OrchestratedRequest) -> float | None:
        if request.timeout_ms is not None:
            return request.timeout_ms / 1000
        return self.settings.orchestration_timeout or None

    # --- running models ---------------------------------------------------------------

    async def _try(
        self,
        model_id: str,
        request: OrchestratedRequest,
        request_id: str,
        work: Callable[[str], Awaitable[T]],
    ) -> _Outcome[T]:
        """Run ``work(model_id)`` within the request's timeout, unless the model's breaker
        is open; never raises an :class:`AltlasError` (it is in the outcome) and keeps
        the breaker's books."""
        if not self.breakers.allow(model_id):
            return _Outcome(model_id, None, None, self._skipped(model_id))
        started = time.perf_counter()
        timeout = self._timeout(request)
        try:
            value = await asyncio.wait_for(work(model_id), timeout)
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
        except Exception:
            # A backend bug: logged under an error id, as the HTTP layer logs one.
            error_id = uuid.uuid4().hex[:12]
            logger.exception(
                "request %s: model %s failed (error id %s)", request_id, model_id, error_id
            )
            self.breakers.failed(model_id)
            internal = InternalError(error_id)
            attempt = _attempt(model_id, "error", started, internal)
            return _Outcome(model_id, None, internal, attempt)
        except BaseException:
            self.breakers.released(model_id)
            raise
        self.breakers.succeeded(model_id)
        from_cache = isinstance(value, InferenceResponse) and value.from_cache
        attempt = _attempt(model_id, "ok", started, None, from_cache=from_cache)
        return _Outcome(model_id, value, None, attempt)

    def _answer(
        self, plan: _Plan, request: OrchestratedRequest, request_id: str
    ) -> Callable[[str], Awaitable[InferenceResponse]]:
        """The request run on one model through the inference service."""

        def answer(model_id: str) -> Awaitable[InferenceResponse]:
            single = InferenceRequest(
                inputs=request.inputs,
                model_id=model_id,
                parameters=request.parameters,
                task=plan.task,
                cache=request.cache,
            )
            return self.service.run_inference(single, request_id=request_id)

        return answer

    async def _fallback(
        self,
        plan: _Plan,
        request: OrchestratedRequest,
        request_id: str,
        work: Callable[[str], Awaitable[T]],
    ) -> tuple[str, T, list[Attempt]]:
        """``work`` on the ranked models in turn (only the first without ``fallback``)
        until one answers: that model, its answer and every attempt. A client mistake
        is raised at once; when none answers, the error naming each attempt."""
        attempts: list[Attempt] = []
        errors: list[AltlasError] = []
        order = plan.ranked if request.fallback else plan.ranked[:1]
        for candidate in order:
            outcome = await self._try(candidate.spec.id, request, request_id, work)
            attempts.append(self._count(outcome.attempt))
            if outcome.value is not None:
                return candidate.spec.id, outcome.value, attempts
            if outcome.error is not None:
                if outcome.error.status in _CLIENT_ERROR_STATUSES:
                    raise outcome.error  # the same input would fail on every model
                errors.append(outcome.error)
        raise self._all_failed(plan.task, attempts, errors)

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

    async def _with_fallback(
        self, request: OrchestratedRequest, plan: _Plan, request_id: str, started: float
    ) -> OrchestratedResponse:
        model_id, response, attempts = await self._fallback(
            plan, request, request_id, self._answer(plan, request, request_id)
        )
        return OrchestratedResponse(
            model_id=response.model_id,
            models=[response.model_id],
            task=plan.task,
            outputs=response.outputs,
            timing=Timing(
                queue_ms=response.timing.queue_ms,
                inference_ms=response.timing.inference_ms,
                total_ms=round((time.perf_counter() - started) * 1000, 3),
            ),
            from_cache=response.from_cache,
            request_id=request_id,
            orchestration=OrchestrationReport(
                strategy=plan.strategy.name,
                reason=_reason(plan, attempts, model_id),
                ranking=plan.ranking,
                attempts=attempts,
                excluded=plan.excluded,
            ),
        )

    async def _ensemble(
        self, request: OrchestratedRequest, plan: _Plan, request_id: str, started: float
    ) -> OrchestratedResponse:
        combiner = self._combiner(plan.task, request.combiner)
        if isinstance(request.ensemble, list):
            members = plan.ranked
        else:
            # A model whose breaker is open would only be skipped: the next one serves.
            closed = [c for c in plan.ranked if c.stats.circuit != "open"] or plan.ranked
            members = closed[: request.max_members]
        answer = self._answer(plan, request, request_id)
        outcomes = await asyncio.gather(
            *(self._try(c.spec.id, request, request_id, answer) for c in members)
        )
        attempts = [self._count(o.attempt) for o in outcomes]
        responses = [o.value for o in outcomes if o.value is not None]
        if not responses:
            errors = [o.error for o in outcomes if o.error is not None]
            client = [e for e in errors if e.status in _CLIENT_ERROR_STATUSES]
            if client and len(client) == len(errors):
                raise client[0]
            raise self._all_failed(plan.task, attempts, errors)
        weights = {c.spec.id: _weight(c) for c in members}
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
                total_ms=round((time.perf_counter() - started) * 1000, 3),
            ),
            from_cache=all(r.from_cache for r in responses),
            request_id=request_id,
            orchestration=OrchestrationReport(
                strategy=plan.strategy.name,
                reason=reason,
                ranking=plan.ranking,
                attempts=attempts,
                excluded=plan.excluded,
                ensemble=EnsembleReport(combiner=combiner.name, members=used),
            ),
        )

    def _combiner(self, task: str, name: str | None) -> Combiner:
        combiners = self.service.registry.combiners
        if name is not None:
            owned = combiners.get(name)
            if owned is None:
                raise ValidationFailed(
                    f"unknown combiner '{name}'; registered: {', '.join(sorted(combiners))}",
                    param="$.combiner",
                )
            if task not in owned.item.tasks:
                raise ValidationFailed(
                    f"combiner '{name}' merges {', '.join(owned.item.tasks)}, not '{task}'",
                    param="$.combiner",
                )
            return owned.item
        for owned in combiners.values():
            if task in owned.item.tasks:
                return owned.item
        raise ValidationFailed(
            f"no installed combiner merges task '{task}', so it cannot run as an ensemble",
            param="$.ensemble",
            code="no_combiner",
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


def _weight(candidate: Candidate) -> float:
    """An ensemble member's vote: its ``accuracy`` tag, else 1."""
    value = candidate.spec.tags.get("accuracy")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return 1.0


def _reason(plan: _Plan, attempts: list[Attempt], chosen: str) -> str:
    explained = next((r.reason for r in plan.ranking if r.model_id == chosen), "")
    position = [c.spec.id for c in plan.ranked].index(chosen)
    if position == 0:
        return f"'{chosen}' ranked first by strategy '{plan.strategy.name}': {explained}"
    failed = ", ".join(f"{a.model_id} ({a.outcome})" for a in attempts[:-1])
    return f"fell back to '{chosen}' (rank {position + 1}) after {failed}: {explained}"
