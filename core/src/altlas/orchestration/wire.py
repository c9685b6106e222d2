"""The wire shapes of ``POST /api/inference/orchestrated``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from altlas_sdk.catalog import ModelId
from altlas_sdk.wire import ErrorDetail, Timing


class Constraints(Struct, kw_only=True, forbid_unknown_fields=True):
    """Limits a model must meet to be considered.

    - ``max_latency_ms``: expected milliseconds until the answer (measured per-call
      latency, or the catalog's ``latency_ms`` before any traffic, plus the load time
      when the model is not loaded). A model with no figure at all is kept.
    - ``max_cost``: the model's cost (``cost`` tag, price per call, or its memory in MB).
    - ``min_accuracy``: the model's ``accuracy`` tag; a model without one is excluded.
    - ``language``: a language code the model's ``languages`` tag must list.
    - ``labels``: labels the model's ``labels`` tag must all list.
    """

    max_latency_ms: Annotated[float, Meta(gt=0)] | None = None
    max_cost: Annotated[float, Meta(ge=0)] | None = None
    min_accuracy: float | None = None
    language: Annotated[str, Meta(min_length=1)] | None = None
    labels: list[str] = []


class OrchestratedRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/inference/orchestrated``.

    - ``model_id``: ``"auto"`` (every model serving the task) or a list of candidates.
    - ``task_type``: the task; optional when ``model_id`` lists models (their first
      model's default task).
    - ``strategy``: a registered selection strategy (``performance``, ``accuracy``,
      ``cost``, ``default``...); default: the ``SELECTION_STRATEGY`` setting.
    - ``ensemble``: ``true`` runs the best ``max_members`` candidates at once, or a list
      names the members; ``combiner`` picks how outputs merge (default: the task's).
    - ``fallback``: on an error, a timeout or a full queue, try the next candidate.
    - ``timeout_ms``: how long one model may take (default ``ORCHESTRATION_TIMEOUT``).
    - ``cache``: as in ``/api/inference/``.
    - ``stream``: answer server-sent events as the model produces output (tasks whose
      models stream, such as ``text-generation``); fallback happens only before the
      first chunk.
    """

    inputs: Any
    model_id: str | list[ModelId] = "auto"
    task_type: str | None = None
    parameters: dict[str, Any] = {}
    strategy: str | None = None
    constraints: Constraints | None = None
    ensemble: bool | list[ModelId] = False
    max_members: Annotated[int, Meta(ge=1, le=16)] = 3
    combiner: str | None = None
    fallback: bool = True
    timeout_ms: Annotated[float, Meta(gt=0)] | None = None
    cache: bool | None = None
    stream: bool = False


class RankedModel(Struct, kw_only=True):
    """A candidate in the strategy's order, and why it ranks there."""

    model_id: str
    reason: str


class ExcludedModel(Struct, kw_only=True):
    """A model that serves the task but was not considered, and why."""

    model_id: str
    reason: str


AttemptOutcome = Literal["ok", "error", "timeout", "overloaded", "skipped"]


class Attempt(Struct, kw_only=True, omit_defaults=True):
    """One model tried (or skipped: circuit open): what happened and how long it took."""

    model_id: str
    outcome: AttemptOutcome
    ms: float
    from_cache: bool = False
    error: ErrorDetail | None = None


class EnsembleReport(Struct, kw_only=True):
    """How an ensemble's answer was made: the combiner and the members that answered."""

    combiner: str
    members: list[str]


class OrchestrationReport(Struct, kw_only=True, omit_defaults=True):
    """Which model(s) ran and why."""

    strategy: str
    reason: str
    ranking: list[RankedModel]
    attempts: list[Attempt]
    excluded: list[ExcludedModel] = []
    ensemble: EnsembleReport | None = None


class StreamOpening(Struct, kw_only=True):
    """The first event of a streamed orchestrated response (``event: orchestration``):
    the model that streams and how it was chosen."""

    model_id: str
    task: str
    request_id: str
    orchestration: OrchestrationReport


class OrchestratedResponse(Struct, kw_only=True):
    """The answer, the model that gave it (``"ensemble"`` for an ensemble; ``models``
    lists every model whose output is in it) and the orchestration report."""

    model_id: str
    models: list[str]
    task: str
    outputs: Any
    timing: Timing
    from_cache: bool
    request_id: str
    orchestration: OrchestrationReport
