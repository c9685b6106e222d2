"""What the manager remembers of a model's crashes, and the back-off after repeated ones.

A model whose host process died (a native crash, a kill, out of memory) is dropped and
loads again on the next request. A model that keeps crashing would otherwise be loaded
again and again, each load taking memory and time from the others; so from the
``CRASH_BURST``-th crash within ``CRASH_WINDOW_S`` on, loads are refused for a back-off
that doubles with every further crash in the window (up to ``MAX_BACKOFF_S``).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

from altlas_sdk.errors import ModelCrashed

#: Crashes within :data:`CRASH_WINDOW_S` seconds that start the back-off.
CRASH_BURST = 3
CRASH_WINDOW_S = 60.0
#: The first back-off, doubled for every further crash in the window.
FIRST_BACKOFF_S = 5.0
MAX_BACKOFF_S = 300.0


@dataclass
class CrashRecord:
    """One model's crashes: how many, the last exit reason, and the back-off now."""

    count: int = 0
    last_exit: str | None = None
    #: Monotonic times of the crashes within the window.
    recent: deque[float] = field(default_factory=deque)
    #: Monotonic time until which loads are refused (0: none).
    backoff_until: float = 0.0

    def record(self, reason: str, now: float | None = None) -> float:
        """Count one crash; the seconds loads are refused from now on (0: none)."""
        now = time.monotonic() if now is None else now
        self.count += 1
        self.last_exit = reason
        self.recent.append(now)
        while self.recent and self.recent[0] < now - CRASH_WINDOW_S:
            self.recent.popleft()
        beyond = len(self.recent) - CRASH_BURST
        if beyond < 0:
            return 0.0
        backoff = min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2**beyond)
        self.backoff_until = now + backoff
        return backoff

    def refusal(self, model_id: str, now: float | None = None) -> ModelCrashed | None:
        """The error a load gets while the back-off lasts, naming it; else ``None``."""
        now = time.monotonic() if now is None else now
        remaining = self.backoff_until - now
        if remaining <= 0:
            return None
        return ModelCrashed(
            model_id,
            f"{len(self.recent)} times within {CRASH_WINDOW_S:g}s "
            f"(last exit: {self.last_exit}); loading it again is refused for "
            f"another {math.ceil(remaining)}s",
            retry_after=remaining,
        )
