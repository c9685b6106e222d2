"""Where a model's replicas go on the cluster: the actor options that place them, a
check that some node can ever take them, and the nodes with their memory.

A replica reserves what its catalog entry's ``placement`` names (``CPU``, ``GPU``,
``memory`` and custom node resources such as ``{"node-a": 0.01}``) and nothing else:
an actor with no ``CPU`` placement takes no CPU slot, so any number of models fit on a
node as far as Ray is concerned; memory is the core's budget to keep.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from altlas_sdk import ModelSpec
from altlas_sdk.errors import Conflict
from altlas_sdk.hosts import NodeInfo

#: The length of a Ray node id in hex.
NODE_ID_LENGTH = 56


def actor_name(model_id: str, replica: int) -> str:
    """The cluster-wide name of a model's replica: a second API server finds it by it."""
    return f"altlas/{model_id}/{replica}"


def needs(spec: ModelSpec) -> dict[str, float]:
    """What one replica of ``spec`` reserves, by Ray resource name. A ``node:<id>`` key
    naming a node by its Ray id is the core's to plan (it passes that node to the load)
    and no Ray resource: left out (Ray's own ``node:<ip>`` resources stay)."""
    return {
        name: amount
        for name, amount in spec.placement.items()
        if amount > 0 and not _is_node_id_key(name)
    }


def _is_node_id_key(name: str) -> bool:
    ident = name.removeprefix("node:")
    return name.startswith("node:") and len(ident) == NODE_ID_LENGTH and _is_hex(ident)


def _is_hex(text: str) -> bool:
    return all(char in "0123456789abcdef" for char in text)


def has_room_for(node: Mapping[str, Any], spec: ModelSpec) -> bool:
    """Whether the node (one of ``ray.nodes()``) has every resource ``spec`` places by."""
    return bool(node.get("Alive")) and _has(node.get("Resources", {}), needs(spec))


def actor_options(
    spec: ModelSpec, replica: int, *, concurrency: int, namespace: str, node: str | None
) -> dict[str, Any]:
    """The ``ray.remote`` options of one replica: named and detached (owned by the
    cluster, shared by every API server that joins it), placed by ``spec.placement``
    and on ``node`` when given (see :func:`spread`)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    resources = needs(spec)
    num_cpus, num_gpus = resources.pop("CPU", 0), resources.pop("GPU", 0)
    memory = resources.pop("memory", None)
    options: dict[str, Any] = {
        "name": actor_name(spec.id, replica),
        "namespace": namespace,
        "lifetime": "detached",
        "get_if_exists": True,
        "max_restarts": 0,
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "resources": resources,
        "max_concurrency": max(1, concurrency),
    }
    if memory is not None:
        options["memory"] = memory
    if node is not None:
        # Hard: Ray's soft affinity, seen with Ray 2.60, leaves a replica on the node the
        # caller runs on even when the node asked for is free.
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=False)
    return options


def spread(spec: ModelSpec, nodes: list[dict[str, Any]], planned: str | None) -> list[str | None]:
    """The node of each replica: round the live nodes that have the placement's
    resources, the planned one first (Ray's own ``SPREAD`` strategy is best effort and
    may put two replicas on one node while another is free)."""
    if spec.replicas == 1:
        return [planned]
    eligible = sorted(n["NodeID"] for n in nodes if has_room_for(n, spec))
    if planned in eligible:
        eligible.remove(planned)
        eligible.insert(0, planned)
    if not eligible:
        return [None] * spec.replicas
    return [eligible[index % len(eligible)] for index in range(spec.replicas)]


def check_placeable(spec: ModelSpec, nodes: list[dict[str, Any]], node: str | None) -> None:
    """Raise :class:`Conflict` when no live node (or not ``node``, when the core
    planned one) has ``spec``'s placement among its resources at all, which Ray would
    otherwise leave pending forever; the message names each node's resources."""
    wanted = needs(spec)
    alive = [n for n in nodes if n.get("Alive")]
    candidates = [n for n in alive if node is None or n["NodeID"] == node]
    if any(_has(n["Resources"], wanted) for n in candidates):
        return
    described = (
        "; ".join(f"{n['NodeID'][:12]}: {_describe(n['Resources'])}" for n in alive)
        or "no live node"
    )
    where = f"node {node[:12]}" if node is not None else "any node"
    raise Conflict(
        f"model '{spec.id}' needs {wanted or 'nothing'} per replica, which {where} of the "
        f"Ray cluster lacks ({described})",
        code="placement_unsatisfiable",
    )


def _has(resources: Mapping[str, float], wanted: Mapping[str, float]) -> bool:
    return all(resources.get(name, 0.0) >= amount for name, amount in wanted.items())


def _describe(resources: Mapping[str, float]) -> str:
    shown = {
        name: amount
        for name, amount in sorted(resources.items())
        if not name.startswith("node:") and name not in ("memory", "object_store_memory")
    }
    return ", ".join(f"{name}={amount:g}" for name, amount in shown.items()) or "none"


def node_info(
    node: Mapping[str, Any], memory: tuple[int, int] | None, models: list[str]
) -> NodeInfo:
    """One of ``ray.nodes()`` as the resources route shows it; ``memory`` is the
    node's (total, used) RAM in bytes when its probe answered."""
    resources = {
        name: float(amount)
        for name, amount in node.get("Resources", {}).items()
        if name not in ("memory", "object_store_memory")
    }
    return NodeInfo(
        node=node["NodeID"],
        address=node.get("NodeManagerAddress"),
        alive=bool(node.get("Alive")),
        ram_total_bytes=memory[0] if memory else None,
        ram_used_bytes=memory[1] if memory else None,
        gpus=math.floor(resources.get("GPU", 0.0)),
        resources=resources,
        models=sorted(models),
    )
