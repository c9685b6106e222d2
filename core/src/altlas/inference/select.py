"""Step 1: which model and which task serve a request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from altlas.catalog import Catalog, CatalogEntry
from altlas.config import Settings
from altlas.inference.latency import LatencyBook
from altlas.manager import ModelManager
from altlas.registry import Registry
from altlas_sdk import Candidate, InferenceRequest, ModelStats
from altlas_sdk.errors import TaskNotServed, ValidationFailed
from altlas_sdk.tasks import TASK_IDS

if TYPE_CHECKING:
    from altlas.orchestration.breaker import CircuitBreakers
    from altlas.scheduler import Lane

#: The ``model_id`` that asks the selection strategy to choose.
AUTO = "auto"

#: Model states in which a model cannot run until the operator acts.
UNUSABLE_STATES = frozenset({"unavailable", "weights_missing"})


@dataclass(frozen=True)
class Selection:
    """The model entry that will run and the task it runs."""

    entry: CatalogEntry
    task: str


class ModelSelector:
    """Resolves ``model_id`` (or the route's task and its default model) to an entry."""

    def __init__(
        self, catalog: Catalog, registry: Registry, manager: ModelManager, settings: Settings
    ) -> None:
        self.catalog = catalog
        self.registry = registry
        self.manager = manager
        self.settings = settings
        #: Measured per-model latency (the inference service records into it).
        self.latency = LatencyBook()
        #: Per-model circuit breakers, when orchestration is set up.
        self.breakers: CircuitBreakers | None = None
        #: The scheduler's lanes (calls running and queued per model), when wired.
        self.lanes: Mapping[str, Lane] = {}

    def stats(self, model_id: str) -> ModelStats:
        """What the service measured of ``model_id``."""
        breakers = self.breakers
        lane = self.lanes.get(model_id)
        return ModelStats(
            requests=self.latency.requests(model_id),
            latency_ms=self.latency.latency_ms(model_id),
            load_ms=self.manager.last_load_ms(model_id),
            consecutive_failures=breakers.consecutive_failures(model_id) if breakers else 0,
            circuit=breakers.state(model_id) if breakers else "closed",
            running=lane.running if lane is not None else 0,
            queued=lane.queued if lane is not None else 0,
            slots=lane.concurrency if lane is not None else 1,
        )

    def candidate(self, model_id: str) -> Candidate:
        """``model_id`` as a candidate: its entry, whether it is loaded, its stats."""
        return Candidate(
            self.catalog.get(model_id).spec,
            self.manager.is_loaded(model_id),
            self.stats(model_id),
        )

    def candidates(self, task: str) -> tuple[list[Candidate], dict[str, str]]:
        """The models that can serve ``task`` now, in catalog order, and the state of
        every model that serves it (to explain an empty list)."""
        # One status per entry: each checks the model's files on disk.
        states = {
            e.spec.id: self.manager.status(e.spec.id).state for e in self.catalog.serving(task)
        }
        usable = [
            self.candidate(model_id)
            for model_id, state in states.items()
            if state not in UNUSABLE_STATES
        ]
        return usable, states

    def select(self, request: InferenceRequest, route_task: str | None) -> Selection:
        """The model and task for ``request``; ``route_task`` is the task a route names."""
        # An empty "task" is not the route's task either: the schema's enum refuses it.
        if route_task and request.task is not None and request.task != route_task:
            raise ValidationFailed(
                f"this route runs task '{route_task}', the body asks for '{request.task}'",
                param="$.task",
                code="task_mismatch",
            )
        wanted_task = route_task or request.task
        if wanted_task in TASK_IDS and wanted_task not in self.registry.tasks:
            raise TaskNotServed(
                wanted_task,
                f"no installed plugin serves task '{wanted_task}'; install one that does "
                "(GET /api/plugins lists the plugins and their errors)",
            )
        if wanted_task is not None and wanted_task not in self.registry.tasks:
            raise TaskNotServed(
                wanted_task,
                f"unknown task '{wanted_task}'; known tasks: "
                + ", ".join(sorted(self.registry.tasks)),
            )
        # "auto" (the orchestrated API's word) lets the strategy choose, as no model_id.
        if request.model_id is not None and request.model_id != AUTO:
            entry = self.catalog.get(request.model_id)
            task = wanted_task or entry.spec.task
            if task not in entry.spec.tasks:
                raise ValidationFailed(
                    f"model '{entry.spec.id}' serves {', '.join(entry.spec.tasks)}, not '{task}'",
                    param="$.task" if request.task else "$.model_id",
                    code="task_mismatch",
                )
            return Selection(entry, task)
        if wanted_task is None:
            raise ValidationFailed(
                "give model_id (or task, to use the task's default model)",
                param="$.model_id",
                code="missing_model_id",
            )
        return Selection(self._default_for(wanted_task, request), wanted_task)

    def _default_for(self, task: str, request: InferenceRequest) -> CatalogEntry:
        configured = self.settings.task_defaults.get(task)
        if configured is not None:
            return self.catalog.get(configured)
        candidates, states = self.candidates(task)
        if not candidates:
            waiting = [f"{model_id} ({state})" for model_id, state in states.items()]
            reason = (
                f"no model for task '{task}' can run: {', '.join(waiting)}; "
                "GET /api/models/ says what each needs"
                if waiting
                else f"no installed model serves task '{task}'; install a plugin that does"
            )
            raise TaskNotServed(task, reason)
        # The runtime checked at start-up that the configured strategy is registered.
        name = self.settings.selection_strategy
        ranked = self.registry.strategies[name].item.rank(task, candidates, request)
        if not ranked:
            raise TaskNotServed(task, f"strategy '{name}' found no model for task '{task}'")
        return self.catalog.get(ranked[0].spec.id)
