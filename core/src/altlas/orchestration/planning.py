"""Planning an orchestrated request: which task, which strategy, which models in which
order, which combiner. Nothing runs here; :mod:`altlas.orchestration.orchestrator`
executes the plan.

The inputs are decoded once, into the plan's call: a bad input is one 422 before any
model runs, and every attempt and ensemble member reuses the decoded call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from altlas.config import Settings
from altlas.inference.decode import TaskCall
from altlas.inference.prepare import PreparedRequest, Preparer
from altlas.orchestration.candidates import admit, listed_candidates, task_candidates
from altlas.orchestration.wire import Attempt, ExcludedModel, OrchestratedRequest, RankedModel
from altlas.registry import Registry
from altlas.security.principal import current_principal
from altlas_sdk import Candidate, Combiner, InferenceRequest, SelectionStrategy
from altlas_sdk.errors import PermissionDenied, TaskNotServed, ValidationFailed


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
class Plan:
    """A request's task, decoded call, strategy and ranked candidates."""

    task: str
    call: TaskCall
    strategy: SelectionStrategy
    ranked: list[Candidate]
    ranking: list[RankedModel]
    excluded: list[ExcludedModel]
    request_id: str
    cache: bool | None
    #: ``time.perf_counter()`` when the request arrived (``total_ms`` counts from it).
    started: float

    def prepared(self, candidate: Candidate) -> PreparedRequest:
        """The plan's call, ready to run on ``candidate``."""
        return PreparedRequest(
            spec=candidate.spec,
            call=self.call,
            request_id=self.request_id,
            cache=self.cache,
            started=self.started,
        )

    def reason(self, attempts: list[Attempt], chosen: str) -> str:
        """Why ``chosen`` answered: ranked first, or the fallback after failures."""
        explained = next((r.reason for r in self.ranking if r.model_id == chosen), "")
        position = [c.spec.id for c in self.ranked].index(chosen)
        if position == 0:
            return f"'{chosen}' ranked first by strategy '{self.strategy.name}': {explained}"
        failed = ", ".join(f"{a.model_id} ({a.outcome})" for a in attempts[:-1])
        return f"fell back to '{chosen}' (rank {position + 1}) after {failed}: {explained}"


def _allowed_to_caller(
    candidates: list[Candidate],
) -> tuple[list[Candidate], list[ExcludedModel]]:
    """The candidates the request's API key may use, and the others as excluded."""
    principal = current_principal()
    kept = [c for c in candidates if principal.may_use(c.spec.id)]
    dropped = [
        ExcludedModel(model_id=c.spec.id, reason=f"API key '{principal.name}' may not use it")
        for c in candidates
        if not principal.may_use(c.spec.id)
    ]
    return kept, dropped


class Planner:
    """Builds the :class:`Plan` of an orchestrated request."""

    def __init__(self, preparer: Preparer, registry: Registry, settings: Settings) -> None:
        self.preparer = preparer
        self.registry = registry
        self.settings = settings

    def plan(self, request: OrchestratedRequest, request_id: str, started: float) -> Plan:
        """Decode the inputs, list, filter and rank the candidates of a request that
        arrived at ``started``. Raises a 4xx :class:`~altlas_sdk.errors.AltlasError` for
        a request no model can serve."""
        selector = self.preparer.selector
        task = self._task(request)
        call = self.preparer.call_for(task, request.inputs, request.parameters)
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
        admitted, forbidden = _allowed_to_caller(admitted)
        excluded += forbidden
        if forbidden and not admitted:
            raise PermissionDenied(
                f"API key '{current_principal().name}' may not use any model that can serve "
                f"this request ({', '.join(e.model_id for e in forbidden)})",
                param="$.model_id",
                code="model_not_allowed",
            )
        if not admitted:
            why = "; ".join(f"{e.model_id}: {e.reason}" for e in excluded) or "none installed"
            raise TaskNotServed(task, f"no model for task '{task}' can serve this request: {why}")
        if isinstance(request.ensemble, list) or (
            isinstance(request.model_id, list) and request.strategy is None
        ):
            # The client's own list, in its order: a fallback chain, or the members.
            strategy = ListedOrder()
            ranked = admitted
        else:
            as_request = InferenceRequest(
                inputs=request.inputs, parameters=request.parameters, task=task, cache=request.cache
            )
            ranked = strategy.rank(task, admitted, as_request)
            if not ranked:
                raise TaskNotServed(
                    task, f"strategy '{strategy.name}' found no model for task '{task}'"
                )
        ranking = [
            RankedModel(model_id=c.spec.id, reason=strategy.explain(task, c)) for c in ranked
        ]
        return Plan(
            task, call, strategy, ranked, ranking, excluded, request_id, request.cache, started
        )

    def combiner(self, task: str, name: str | None) -> Combiner:
        """The combiner an ensemble of ``task`` uses: the one named, else the first
        registered for the task."""
        combiners = self.registry.combiners
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

    def _task(self, request: OrchestratedRequest) -> str:
        tasks = self.registry.tasks
        task = request.task_type
        if task is None:
            named = request.ensemble if isinstance(request.ensemble, list) else request.model_id
            if isinstance(named, list) and named:
                return self.preparer.selector.catalog.get(named[0]).spec.task
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
        strategies = self.registry.strategies
        name = name or self.settings.selection_strategy
        owned = strategies.get(name)
        if owned is None:
            raise ValidationFailed(
                f"unknown strategy '{name}'; registered: {', '.join(sorted(strategies))}",
                param="$.strategy",
            )
        return owned.item


def member_weight(candidate: Candidate) -> float:
    """An ensemble member's vote: its ``accuracy`` tag, else 1."""
    value = candidate.spec.tags.get("accuracy")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return 1.0
