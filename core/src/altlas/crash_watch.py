"""What the model manager does when a model's host process died.

A call on such a model raises :class:`~altlas_sdk.errors.ModelCrashed` in every
request that was in flight on it. The first of them drops the model (the others find
it gone), so that the next request loads it again; the crash is counted, with its exit
reason, and repeated crashes back off (:class:`altlas.crashes.CrashRecord`). A pinned
model is loaded again in the background once its back-off ends: a readiness probe that
fails would otherwise keep away the requests that reload it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping

from altlas.executor import Executor
from altlas.model_state import ModelSlot
from altlas_sdk import LoadedModel
from altlas_sdk.errors import AltlasError, ModelCrashed

logger = logging.getLogger(__name__)


class CrashWatch:
    """Handles the crashes of the models in ``slots``.

    ``counts`` is the manager's event counter (``("crashed", model_id)`` is added);
    ``notify`` wakes loads waiting for memory; ``reload`` loads a model again.
    """

    def __init__(
        self,
        slots: Mapping[str, ModelSlot],
        executor: Executor,
        counts: Counter[tuple[str, str]],
        notify: Callable[[], None],
        reload: Callable[[str], Awaitable[LoadedModel]],
    ) -> None:
        self._slots = slots
        self._executor = executor
        self._counts = counts
        self._notify = notify
        self._reload = reload
        #: Reloads of crashed pinned models, pending until their back-off ends.
        self._reloads: set[asyncio.Task[None]] = set()

    def crashed(self, model_id: str, model: LoadedModel, crash: ModelCrashed) -> None:
        """Drop ``model``, whose host process died, so the next request loads it again."""
        slot = self._slots[model_id]
        if slot.model is not model:
            return  # already dropped by another request that saw the same crash
        slot.model = None
        slot.version = slot.loaded_at = slot.expires_at = None
        slot.measured = None
        slot.reserved = False
        self.record(model_id, crash)
        # The host may still hold bookkeeping for the dead model (a dead actor's handle).
        cleanup = asyncio.ensure_future(self._executor.run(model.unload))
        cleanup.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._notify()

    def record(self, model_id: str, crash: ModelCrashed) -> None:
        """Count a crash (also one during a load) and put the model in state ``error``."""
        slot = self._slots[model_id]
        backoff = slot.crashes.record(crash.reason)
        slot.state, slot.detail = "error", crash.message
        if backoff:
            slot.detail += f"; crashed repeatedly: loads refused for {backoff:g}s"
        self._counts["crashed", model_id] += 1
        logger.error("model %s crashed: %s", model_id, crash.reason)
        if slot.pinned:
            reload = asyncio.ensure_future(self._reload_pinned(model_id))
            self._reloads.add(reload)
            reload.add_done_callback(self._reloads.discard)

    async def _reload_pinned(self, model_id: str) -> None:
        slot = self._slots[model_id]
        await asyncio.sleep(max(0.0, slot.crashes.backoff_until - time.monotonic()))
        if slot.pinned and slot.model is None:
            try:
                await self._reload(model_id)
            except AltlasError as error:
                logger.error("reloading pinned model %s failed: %s", model_id, error.message)

    def counts(self) -> dict[str, int]:
        """Crashes per model since start-up, for models that crashed at least once."""
        return {mid: slot.crashes.count for mid, slot in self._slots.items() if slot.crashes.count}

    def stop(self) -> None:
        """Cancel the pending reloads (at shutdown)."""
        for reload in list(self._reloads):
            reload.cancel()
