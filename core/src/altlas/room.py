"""Room for a load: the model manager's memory budgets, carried out one load at a time.

Before a load takes memory, :mod:`altlas.budget` decides whether it fits, which idle
model to evict for it, or how long to wait (up to ``QUEUE_TIMEOUT``); on hosts with
several nodes, each node has its own budget (:mod:`altlas.placement`). :class:`Room`
carries out that plan under one lock, and wakes the loads that wait for memory
whenever a model becomes idle or leaves memory (:meth:`Room.changed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from altlas.budget import (
    Budget,
    Evict,
    Fits,
    Holder,
    Insufficient,
    describe_holders,
    plan_room,
)
from altlas.config import Settings
from altlas.executor import Executor
from altlas.model_state import ModelSlot
from altlas.placement import NodeBudget, node_budgets, plan_placement
from altlas_sdk import MemoryEstimate, ModelHost, ModelSpec
from altlas_sdk.errors import InsufficientMemory, Overloaded

logger = logging.getLogger(__name__)


class Room:
    """The memory budgets of the models in ``slots``.

    ``spec_of`` gives a model's catalog entry; ``evict`` unloads an idle model to make
    room (the manager's unload, reason ``"evicted"``).
    """

    def __init__(
        self,
        slots: Mapping[str, ModelSlot],
        settings: Settings,
        host: ModelHost,
        executor: Executor,
        spec_of: Callable[[str], ModelSpec],
        evict: Callable[[str], Awaitable[None]],
    ) -> None:
        self._slots = slots
        self._settings = settings
        self._host = host
        self._executor = executor
        self._spec_of = spec_of
        self._evict = evict
        self.budget = Budget(
            ram_bytes=settings.ram_budget_bytes(),
            gpu_bytes=settings.gpu_budget_bytes(),
            min_residency=settings.min_residency,
        )
        #: Budget decisions (check, evict, reserve) are made under it, one at a time.
        self.lock = asyncio.Lock()
        # Set (and replaced) on each change, so that a waiter looks again at once
        # instead of polling.
        self._changed = asyncio.Event()

    def changed(self) -> None:
        """Wake whoever waits for a model to become idle or leave memory."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        """Until the next :meth:`changed`, or ``seconds`` pass."""
        await _wait(self._changed, seconds)

    async def make(self, model_id: str, slot: ModelSlot, need: MemoryEstimate) -> None:
        """Carry out the budget's plan until ``need`` fits, then reserve it: evict,
        or wait for a model to become idle or leave memory (up to ``QUEUE_TIMEOUT``:
        then 503); 507 when it can never fit."""
        deadline = time.monotonic() + self._settings.queue_timeout
        nodes = await self.node_budgets()
        placement = self._spec_of(model_id).placement
        while True:
            async with self.lock:
                node, plan = plan_placement(
                    model_id,
                    need,
                    self.holders(),
                    {mid: other.node for mid, other in self._slots.items()},
                    nodes,
                    time.monotonic(),
                    single=self.budget,
                    placement=placement,
                )
                if isinstance(plan, Fits):
                    # Reserved under the lock: the next load's plan counts this one.
                    slot.reserved, slot.node = True, node
                    return
                if isinstance(plan, Insufficient):
                    raise InsufficientMemory(plan.message)
                if isinstance(plan, Evict):
                    logger.info("evicting model %s to make room for %s", plan.model_id, model_id)
                    await self._evict(plan.model_id)
                    continue
                wait_s, changed = plan.seconds, self._changed
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                holders = describe_holders(
                    model_id, self.holders(), self.budget.min_residency, time.monotonic()
                )
                raise Overloaded(
                    f"model '{model_id}' waited {self._settings.queue_timeout:g}s for "
                    f"memory: {holders}",
                    retry_after=max(1.0, wait_s),
                )
            await _wait(changed, min(wait_s, remaining))

    async def settle(self, model_id: str, slot: ModelSlot) -> None:
        """After a load that measured more than it reserved: evict idle models, least
        recently used first, until the charges fit ``RAM_MEMORY_LIMIT`` again. Nothing
        waits here (the model is in memory already); a host with several nodes planned
        the load onto its node instead."""
        if await self.node_budgets():
            return
        async with self.lock:
            while True:
                plan = plan_room(
                    model_id, slot.charge(), self.holders(), self.budget, time.monotonic()
                )
                if not isinstance(plan, Evict):
                    return
                logger.info(
                    "evicting model %s: %s holds more than it asked", plan.model_id, model_id
                )
                await self._evict(plan.model_id)

    def holders(self) -> list[Holder]:
        """What each model holds or has reserved, for the budget's plans."""
        return [slot.holder(model_id) for model_id, slot in self._slots.items()]

    async def node_budgets(self) -> list[NodeBudget]:
        """Each node's budget where the host runs models on several nodes; none (one
        budget, no node) where it has one."""
        nodes = await self._executor.run(self._host.nodes)
        if len(nodes) < 2:
            return []
        limit_set = self._settings.ram_memory_limit is not None
        return node_budgets(nodes, self.budget, ram_limit_set=limit_set)


async def _wait(changed: asyncio.Event, seconds: float) -> None:
    """Until ``changed`` is set (a model became idle or left memory) or ``seconds`` pass."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(changed.wait(), seconds)
