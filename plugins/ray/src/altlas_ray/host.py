"""The ``ray`` model host: every loaded model runs in Ray actors of its own.

``RAY_ADDRESS`` unset starts a local Ray instance (crash isolation on one machine);
``auto`` or ``ray://host:port`` joins an existing cluster. A model's replicas are
named, detached actors in the host's namespace (``altlas/<model>/<replica>``), owned
by the cluster rather than by this API server, so a second server that joins the same
cluster finds the same actors instead of loading the model again. Each server counts
itself as a holder: :meth:`RayLoadedModel.unload` kills the actors for every server,
:meth:`RayLoadedModel.release` lets go on this server only (the actors go with the last
holder). A watcher thread marks a model whose actors another server removed within a
second (:meth:`RayLoadedModel.alive`); a call on it answers ``model_crashed``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from altlas_sdk import (
    Backend,
    Device,
    DevicePolicy,
    LoadedModel,
    MemoryEstimate,
    ModelFiles,
    ModelSpec,
)
from altlas_sdk.errors import ModelCrashed, Overloaded
from altlas_sdk.hosts import HostOptions, ModelHost, NodeInfo

if TYPE_CHECKING:
    from altlas_ray.proxy import RayLoadedModel

logger = logging.getLogger(__name__)

#: How long a replica may wait for a node with room before the load gives up (503).
PLACEMENT_TIMEOUT_S = 60.0
#: How often the watcher looks for models another API server unloaded.
WATCH_INTERVAL_S = 1.0
#: How long the nodes' memory figures are reused, and how long a node may take to answer.
NODE_MEMORY_TTL_S = 5.0
NODE_PROBE_TIMEOUT_S = 2.0


def _node_memory() -> tuple[int, int]:
    """This node's RAM: total and used bytes (runs as a Ray task on each node)."""
    import psutil

    memory = psutil.virtual_memory()
    return memory.total, memory.total - memory.available


class RayHost(ModelHost):
    """Runs each model in Ray actors, on a local Ray instance or a cluster."""

    name = "ray"

    def __init__(self) -> None:
        self._options = HostOptions()
        #: This server's id among the holders of shared actors.
        self.holder = uuid.uuid4().hex
        self._models: weakref.WeakSet[Any] = weakref.WeakSet()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._remote_actor: Any = None
        self._probe: Any = None
        self._memory_cache: tuple[float, dict[str, tuple[int, int]]] = (0.0, {})

    # --- lifecycle -------------------------------------------------------------------

    def start(self, options: HostOptions) -> None:
        """Join the cluster ``RAY_ADDRESS`` names, or start a local Ray instance."""
        import ray

        from altlas_ray.actor import CONTROL, CONTROL_THREADS, ModelActor

        self._options = options
        address = os.environ.get("RAY_ADDRESS") or None
        if not ray.is_initialized():
            if address is None:
                # A local instance for this server alone: no dashboard, no usage report.
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                ray.init(namespace=options.namespace, include_dashboard=False)
            else:
                ray.init(address=address, namespace=options.namespace)
        self._remote_actor = ray.remote(concurrency_groups={CONTROL: CONTROL_THREADS})(ModelActor)
        self._probe = ray.remote(num_cpus=0)(_node_memory)
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="altlas-ray-watch", daemon=True)
        self._watcher.start()
        logger.info("ray host: joined %s", address or "a local Ray instance")

    def stop(self) -> None:
        """Stop watching and disconnect (a local instance stops with it)."""
        import ray

        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        ray.shutdown()

    # --- loading ---------------------------------------------------------------------

    def load(
        self,
        backend: Backend,
        spec: ModelSpec,
        files: ModelFiles,
        policy: DevicePolicy,
        *,
        node: str | None = None,
    ) -> LoadedModel:
        """Create (or find) the model's replicas and load the backend in each."""
        import ray
        from ray.exceptions import RayActorError

        from altlas_ray.codec import unpack
        from altlas_ray.proxy import death_reason

        handles = self._create_replicas(spec, backend, node)
        try:
            self._wait_placed(spec, handles)
            loads = [
                handle.load.remote(backend, spec, files, policy, self.holder) for handle in handles
            ]
            described = [unpack(packed) for packed in ray.get(loads)]
        except RayActorError as error:
            _kill_all(handles)
            raise ModelCrashed(
                spec.id, f"its Ray actor died while loading: {death_reason(error)}"
            ) from None
        except BaseException:
            _kill_all(handles)
            raise
        model = self._proxy(spec, handles, described)
        self._models.add(model)
        return model

    def _create_replicas(self, spec: ModelSpec, backend: Backend, node: str | None) -> list[Any]:
        """The handles of the model's replicas, created or, when another API server
        created them, found by name."""
        import ray

        from altlas_ray.placement import actor_options, check_placeable, has_room_for, spread

        nodes = ray.nodes()
        if node is not None and not any(
            n["NodeID"] == node and has_room_for(n, spec) for n in nodes
        ):
            # The core planned by memory alone onto a node without the placement's
            # resources: Ray places by them, and host().node tells the core where.
            node = None
        check_placeable(spec, nodes, node if spec.replicas == 1 else None)
        concurrency = spec.max_concurrency or backend.max_concurrency
        return [
            self._remote_actor.options(
                **actor_options(
                    spec,
                    index,
                    concurrency=concurrency,
                    namespace=self._options.namespace,
                    node=replica_node,
                )
            ).remote(spec.placement.get("CPU"))
            for index, replica_node in enumerate(spread(spec, nodes, node))
        ]

    def _proxy(
        self, spec: ModelSpec, handles: list[Any], described: list[dict[str, Any]]
    ) -> RayLoadedModel:
        """The model as the core holds it, from what each replica said of itself."""
        from altlas_ray.placement import actor_name
        from altlas_ray.proxy import RayLoadedModel, Replica

        replicas = [
            Replica(
                handle=handle,
                name=actor_name(spec.id, index),
                actor_id=handle._actor_id.hex(),
                pid=info["pid"],
                node=info["node"],
            )
            for index, (handle, info) in enumerate(zip(handles, described, strict=True))
        ]
        return RayLoadedModel(
            spec.id,
            replicas,
            device=Device(*described[0]["device"]),
            version=described[0]["version"],
            memory=MemoryEstimate(
                ram_bytes=sum(info["ram_bytes"] for info in described),
                gpu_bytes=sum(info["gpu_bytes"] for info in described),
            ),
            holder=self.holder,
            namespace=self._options.namespace,
        )

    def _wait_placed(self, spec: ModelSpec, handles: list[Any]) -> None:
        """Wait until every replica runs on a node; 503 when none had room in time
        (Ray would keep them pending for as long as resources stay taken)."""
        import ray

        from altlas_ray.actor import CONTROL

        pings = [h.rss.options(concurrency_group=CONTROL).remote() for h in handles]
        ready, pending = ray.wait(pings, num_returns=len(pings), timeout=PLACEMENT_TIMEOUT_S)
        if pending:
            raise Overloaded(
                f"model '{spec.id}': {len(pending)} of {len(pings)} replica(s) found no "
                f"node with room for {dict(spec.placement) or 'them'} within "
                f"{PLACEMENT_TIMEOUT_S:g}s",
                retry_after=PLACEMENT_TIMEOUT_S,
            )
        ray.get(ready)  # an actor that died while starting raises here

    # --- nodes -----------------------------------------------------------------------

    def nodes(self) -> list[NodeInfo]:
        """Every node of the cluster with its resources, RAM and this server's models."""
        import ray

        from altlas_ray.placement import node_info

        nodes = ray.nodes()
        memory = self._nodes_memory([n["NodeID"] for n in nodes if n.get("Alive")])
        models: dict[str, list[str]] = {}
        for model in list(self._models):
            if model.alive():
                for replica in model.replicas:
                    models.setdefault(replica.node, []).append(model.model_id)
        return [
            node_info(n, memory.get(n["NodeID"]), sorted(set(models.get(n["NodeID"], []))))
            for n in nodes
        ]

    def _nodes_memory(self, node_ids: list[str]) -> dict[str, tuple[int, int]]:
        """Each node's (total, used) RAM, from a tiny task on each, cached a few seconds."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        taken_at, cached = self._memory_cache
        if time.monotonic() - taken_at < NODE_MEMORY_TTL_S and set(node_ids) <= set(cached):
            return cached
        refs = {
            self._probe.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)
            ).remote(): node_id
            for node_id in node_ids
        }
        ready, pending = ray.wait(list(refs), num_returns=len(refs), timeout=NODE_PROBE_TIMEOUT_S)
        for ref in pending:
            ray.cancel(ref, force=True)
        # A node that did not answer in time keeps its last figures.
        found: dict[str, tuple[int, int]] = {n: cached[n] for n in node_ids if n in cached}
        for ref in ready:
            try:
                found[refs[ref]] = tuple(ray.get(ref))  # type: ignore[assignment]
            except ray.exceptions.RayError:
                continue
        self._memory_cache = (time.monotonic(), found)
        return found

    # --- watching for unloads elsewhere ----------------------------------------------

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL_S):
            for model in list(self._models):
                try:
                    model.check_still_there()
                except Exception:  # the watcher must outlive one bad check
                    logger.debug("checking model %s failed", model.model_id, exc_info=True)


def _kill_all(handles: list[Any]) -> None:
    import ray

    for handle in handles:
        try:
            ray.kill(handle, no_restart=True)
        except (ray.exceptions.RayError, ValueError):
            continue
