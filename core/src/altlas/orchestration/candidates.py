"""Which models an orchestrated request may use: the task's models (or the request's
list), minus those that cannot run and those that break a constraint."""

from __future__ import annotations

from collections.abc import Sequence

from altlas.inference.select import UNUSABLE_STATES, ModelSelector
from altlas.orchestration.estimates import (
    accuracy,
    call_latency,
    cost,
    expected_latency,
)
from altlas.orchestration.wire import Constraints, ExcludedModel
from altlas_sdk import Candidate
from altlas_sdk.errors import ValidationFailed


def listed_candidates(
    selector: ModelSelector, model_ids: Sequence[str], task: str
) -> tuple[list[Candidate], list[ExcludedModel]]:
    """The request's own list, in its order. An unknown model is a 404 and a model that
    does not serve ``task`` a 422, as for ``/api/inference/``; one whose files are
    missing is excluded and reported."""
    seen: set[str] = set()
    usable: list[Candidate] = []
    excluded: list[ExcludedModel] = []
    for position, model_id in enumerate(model_ids):
        if model_id in seen:
            raise ValidationFailed(
                f"model '{model_id}' is named twice", param=f"$.model_id[{position}]"
            )
        seen.add(model_id)
        spec = selector.catalog.get(model_id).spec
        if task not in spec.tasks:
            raise ValidationFailed(
                f"model '{model_id}' serves {', '.join(spec.tasks)}, not '{task}'",
                param=f"$.model_id[{position}]",
                code="task_mismatch",
            )
        state = selector.manager.status(model_id).state
        if state in UNUSABLE_STATES:
            excluded.append(ExcludedModel(model_id=model_id, reason=f"cannot run: {state}"))
            continue
        usable.append(selector.candidate(model_id))
    return usable, excluded


def task_candidates(
    selector: ModelSelector, task: str
) -> tuple[list[Candidate], list[ExcludedModel]]:
    """Every model serving ``task`` that can run, and those that cannot."""
    usable, states = selector.candidates(task)
    excluded = [
        ExcludedModel(model_id=model_id, reason=f"cannot run: {state}")
        for model_id, state in states.items()
        if state in UNUSABLE_STATES
    ]
    return usable, excluded


def admit(
    candidates: Sequence[Candidate], constraints: Constraints | None
) -> tuple[list[Candidate], list[ExcludedModel]]:
    """The candidates that meet ``constraints``, and why each other one does not."""
    if constraints is None:
        return list(candidates), []
    kept: list[Candidate] = []
    excluded: list[ExcludedModel] = []
    for candidate in candidates:
        reason = _violation(candidate, constraints)
        if reason is None:
            kept.append(candidate)
        else:
            excluded.append(ExcludedModel(model_id=candidate.spec.id, reason=reason))
    return kept, excluded


def _violation(candidate: Candidate, constraints: Constraints) -> str | None:
    tags = candidate.spec.tags
    if constraints.max_latency_ms is not None:
        latency = expected_latency(candidate)
        # A model nobody has measured or described is given the benefit of the doubt.
        if call_latency(candidate).known and latency.value > constraints.max_latency_ms:
            return (
                f"expected {latency.value:.1f} ms > max_latency_ms "
                f"{constraints.max_latency_ms:g} ({latency.source})"
            )
    if constraints.max_cost is not None:
        price = cost(candidate)
        if price.value > constraints.max_cost:
            return f"cost {price.value:g} > max_cost {constraints.max_cost:g} ({price.source})"
    if constraints.min_accuracy is not None:
        score = accuracy(candidate)
        if score is None:
            return "no accuracy figure (min_accuracy asks for one)"
        if score.value < constraints.min_accuracy:
            return f"accuracy {score.value:g} < min_accuracy {constraints.min_accuracy:g}"
    if constraints.language is not None:
        languages = tags.get("languages")
        if not isinstance(languages, list) or constraints.language not in languages:
            return f"language '{constraints.language}' not in its languages tag ({languages})"
    if constraints.labels:
        labels = tags.get("labels")
        missing = (
            constraints.labels
            if not isinstance(labels, list)
            else [label for label in constraints.labels if label not in labels]
        )
        if missing:
            return f"labels {missing} not in its labels tag"
    return None
