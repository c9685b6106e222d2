"""Per-model latency measured from served requests, for selection strategies.

The scheduler's step records how long each backend call took; the ``performance``
strategy prefers this evidence to a catalog's ``latency_ms`` prior once a model has
served a request.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Weight of the newest observation: recent calls matter most (a model that got slow
#: because memory is short should lose traffic within a few requests).
_SMOOTHING = 0.2


@dataclass
class _Latency:
    requests: int = 0
    ms: float = 0.0


class LatencyBook:
    """Smoothed milliseconds per backend call, and call counts, by model id."""

    def __init__(self) -> None:
        self._models: dict[str, _Latency] = {}

    def observe(self, model_id: str, inference_ms: float) -> None:
        """Record one successful backend call of ``inference_ms`` milliseconds."""
        entry = self._models.get(model_id)
        if entry is None:
            self._models[model_id] = _Latency(1, inference_ms)
            return
        entry.requests += 1
        entry.ms += _SMOOTHING * (inference_ms - entry.ms)

    def latency_ms(self, model_id: str) -> float | None:
        """The smoothed milliseconds per call, or ``None`` before the first call."""
        entry = self._models.get(model_id)
        return entry.ms if entry is not None else None

    def requests(self, model_id: str) -> int:
        """How many calls were observed."""
        entry = self._models.get(model_id)
        return entry.requests if entry is not None else 0
