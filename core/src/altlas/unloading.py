"""Taking models out of the model manager's memory: for whom, and when a host says one
is gone.

Only an explicit unload (``POST /api/models/{id}/unload``, reason ``"requested"``) calls
:meth:`~altlas_sdk.LoadedModel.unload`: on a host whose models are shared by several API
servers (the ``ray`` host) it removes the model for every server. Every other unload
(its keep-alive ran out: ``"idle"``; ``"evicted"``; a config reload: ``"reloaded"``;
``"shutdown"``) calls :meth:`~altlas_sdk.LoadedModel.release`, which lets go on this
server only. A model whose host says it is gone (:meth:`~altlas_sdk.LoadedModel.alive`
is false: another server unloaded it) is dropped quietly: state ``available``, no crash
counted, loaded again on the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections import Counter
from collections.abc import Mapping

from altlas.catalog import Catalog
from altlas.crash_watch import CrashWatch
from altlas.executor import Executor
from altlas.memory import release_freed_memory
from altlas.model_state import ModelSlot
from altlas.room import Room
from altlas_sdk.errors import ModelCrashed

logger = logging.getLogger(__name__)

#: The one unload reason that removes a shared model for every API server.
REQUESTED = "requested"


class Unloader:
    """Unloads the models in ``slots``; ``counts`` is the manager's event counter (an
    unload adds ``(reason, model_id)``, a model found gone ``("unloaded_elsewhere",
    model_id)``)."""

    def __init__(
        self,
        slots: Mapping[str, ModelSlot],
        executor: Executor,
        counts: Counter[tuple[str, str]],
        room: Room,
        crashes: CrashWatch,
        catalog: Catalog,
    ) -> None:
        self._slots = slots
        self._catalog = catalog
        self._executor = executor
        self._counts = counts
        self._room = room
        self._crashes = crashes

    async def unload(self, model_id: str, *, reason: str) -> None:
        """Take ``model_id`` out of memory now (nothing is waited for)."""
        slot = self._slots[model_id]
        model = slot.model
        if model is None:
            return
        # Detach first: a request arriving now loads the model again rather than
        # running on one being torn down.
        slot.model = None
        slot.state = "unloading"
        try:
            await self._executor.run(model.unload if reason == REQUESTED else model.release)
        except ModelCrashed as crash:
            # It died before it could be unloaded: gone all the same, so an eviction
            # still makes its room; the crash is counted.
            self._crashes.record(model_id, crash)
        finally:
            _forget(slot)
            del model
            gc.collect()
            release_freed_memory()
            self._room.changed()
        self._counts[reason, model_id] += 1
        logger.info("unloaded model %s (%s)", model_id, reason)

    async def retire(self, model_id: str, remove_from: Catalog | None) -> None:
        """Unload ``model_id`` (reason ``"reloaded"``) once no request runs or waits on
        it; with ``remove_from``, take it out of that catalog at that moment."""
        slot = self._slots[model_id]
        while True:
            if slot.load is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(slot.load)
                continue
            if slot.in_flight:
                await self._room.wait(1.0)
                continue
            if remove_from is not None and model_id in remove_from:
                # Nothing awaited since the check: no request can start in between.
                remove_from.remove(model_id)
                slot.pinned = False
            async with self._room.lock:
                if slot.in_flight or slot.load is not None:
                    continue  # a request came for the changed entry meanwhile
                await self.unload(model_id, reason="reloaded")
                return

    def drop_if_gone(self, model_id: str) -> None:
        """Drop ``model_id`` quietly when its host says it is gone (another API server
        unloaded it): the next request loads it again."""
        slot = self._slots[model_id]
        model = slot.model
        if model is None or model.alive():
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # a read from another thread (the resource monitor): the loop's to do
        slot.model = None
        _forget(slot)
        self._counts["unloaded_elsewhere", model_id] += 1
        logger.info("model %s was unloaded by another API server", model_id)
        # Let the host forget its handles too (this server only; errors do not matter).
        cleanup = self._executor.submit(model.release)
        cleanup.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._room.changed()

    def drop_gone(self) -> None:
        """:meth:`drop_if_gone` for every model."""
        for model_id in self._slots:
            self.drop_if_gone(model_id)


def _forget(slot: ModelSlot) -> None:
    """Reset what a loaded model's slot says about it: it is loadable again."""
    slot.version = slot.loaded_at = slot.expires_at = None
    slot.measured = None
    slot.reserved = False
    slot.state, slot.detail = "available", None
