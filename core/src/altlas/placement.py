"""Memory budgets per node, for model hosts that run models on several nodes.

``RAM_MEMORY_LIMIT`` and ``GPU_MEMORY_LIMIT`` apply to each node: a load is planned
onto a node where it fits beside the models already there (:func:`plan_placement`),
with :func:`altlas.budget.plan_room` deciding for each node. A host with one node (the
``thread`` host) plans exactly as before, with no node at all.

Only the nodes that have every resource a catalog entry's ``placement`` asks for
(``{"GPU": 1}``, a custom resource such as ``{"node-a": 0.01}``) are candidates, and a
``node:<name>`` key keeps only that node. The order of preference: a node where the
model fits as it is (the one with the most RAM left); else evicting the least recently
used idle model of any node; else waiting for the node that frees soonest. When no node
could ever hold it, the 507 names each node and what holds its memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from altlas.budget import Budget, Evict, Fits, Holder, Insufficient, Plan, Wait, plan_room
from altlas_sdk import MemoryEstimate, NodeInfo
from altlas_sdk.errors import Conflict

#: The share of a node's RAM that is its budget when ``RAM_MEMORY_LIMIT`` is not set
#: (the same default as for the machine the API server runs on).
DEFAULT_RAM_SHARE = 0.75


@dataclass(frozen=True)
class NodeBudget:
    """One node a model may be placed on, and the limits a load there must fit."""

    node: str
    budget: Budget
    #: The node's resources (``NodeInfo.resources``): what a ``placement`` may ask for.
    resources: Mapping[str, float] = field(default_factory=dict)


def node_budgets(
    nodes: Iterable[NodeInfo], base: Budget, *, ram_limit_set: bool
) -> list[NodeBudget]:
    """The budget of each live node: ``base`` (from the settings), except that without
    ``RAM_MEMORY_LIMIT`` a node whose RAM is known gets its own default share."""
    budgets = []
    for info in nodes:
        if not info.alive:
            continue
        budget = base
        if not ram_limit_set and info.ram_total_bytes:
            budget = replace(base, ram_bytes=int(info.ram_total_bytes * DEFAULT_RAM_SHARE))
        budgets.append(NodeBudget(info.node, budget, dict(info.resources)))
    return budgets


def wanted_node(placement: Mapping[str, float]) -> str | None:
    """The node a catalog entry's ``placement`` pins it to (``{"node:<name>": 1}``)."""
    for key, amount in placement.items():
        if key.startswith("node:") and amount > 0:
            return key.removeprefix("node:")
    return None


def plan_placement(
    model_id: str,
    need: MemoryEstimate,
    holders: Sequence[Holder],
    node_of: Mapping[str, str | None],
    nodes: Sequence[NodeBudget],
    now: float,
    *,
    single: Budget,
    placement: Mapping[str, float] | None = None,
) -> tuple[str | None, Plan]:
    """The node to load ``model_id`` on and what must happen first: one
    :func:`~altlas.budget.plan_room` per candidate node over the models there
    (``node_of``: each model's node), the best of them chosen as the module says.
    ``placement`` is the catalog entry's: it narrows the candidates (409
    ``placement_unsatisfiable`` when no live node has its resources). Without
    ``nodes`` (a host with one node), the one plan against ``single``."""
    if not nodes:
        return None, plan_room(model_id, need, holders, single, now)
    placement = placement or {}
    wanted = wanted_node(placement)
    candidates = [n for n in nodes if wanted is None or n.node == wanted]
    if not candidates:
        known = ", ".join(n.node for n in nodes) or "none"
        return None, Insufficient(
            f"model '{model_id}' is placed on node '{wanted}', which the model host does "
            f"not have (live nodes: {known})"
        )
    candidates = [n for n in candidates if _has_resources(n, placement)]
    if not candidates:
        asked = ", ".join(f"{key}: {amount:g}" for key, amount in _resources(placement).items())
        raise Conflict(
            f"model '{model_id}' needs {{{asked}}} per replica (its placement), which no "
            f"live node has ({_describe(nodes, placement)})",
            code="placement_unsatisfiable",
        )
    plans = [
        (n.node, plan_room(model_id, need, _on(n.node, holders, node_of), n.budget, now))
        for n in candidates
    ]
    fits = [node for node, plan in plans if isinstance(plan, Fits)]
    if fits:
        return max(fits, key=lambda node: _room_left(node, candidates, holders, node_of)), Fits()
    evictions = [(node, plan) for node, plan in plans if isinstance(plan, Evict)]
    if evictions:
        last_used = {holder.model_id: holder.last_used_at for holder in holders}
        return min(evictions, key=lambda item: last_used.get(item[1].model_id, 0.0))
    waits = [(node, plan) for node, plan in plans if isinstance(plan, Wait)]
    if waits:
        return min(waits, key=lambda item: item[1].seconds)
    reasons = "; ".join(
        f"node '{node}': {plan.message}" for node, plan in plans if isinstance(plan, Insufficient)
    )
    return None, Insufficient(f"model '{model_id}' fits no node. {reasons}")


def _resources(placement: Mapping[str, float]) -> dict[str, float]:
    """The resources ``placement`` asks for, without the ``node:<name>`` pin."""
    return {key: amount for key, amount in placement.items() if not key.startswith("node:")}


def _has_resources(node: NodeBudget, placement: Mapping[str, float]) -> bool:
    return all(
        node.resources.get(key, 0.0) >= amount for key, amount in _resources(placement).items()
    )


def _describe(nodes: Sequence[NodeBudget], placement: Mapping[str, float]) -> str:
    """What each node has of the resources ``placement`` asks for."""
    asked = _resources(placement)
    return "; ".join(
        f"node '{n.node}' has "
        + ", ".join(f"{key}: {n.resources.get(key, 0.0):g}" for key in asked)
        for n in nodes
    )


def _on(node: str, holders: Sequence[Holder], node_of: Mapping[str, str | None]) -> list[Holder]:
    return [holder for holder in holders if node_of.get(holder.model_id) == node]


def _room_left(
    node: str,
    nodes: Sequence[NodeBudget],
    holders: Sequence[Holder],
    node_of: Mapping[str, str | None],
) -> int:
    budget = next(n.budget for n in nodes if n.node == node)
    return budget.ram_bytes - sum(h.charge.ram_bytes for h in _on(node, holders, node_of))
