"""Circuit breakers: a model that keeps failing stops costing every request its timeout.

Each model's breaker is *closed* while it works. After ``failures`` consecutive failures
(errors or timeouts, not client mistakes and not a full queue) it *opens*: orchestrated
requests skip the model for ``cooldown`` seconds. Then it is *half-open*: one trial
request goes through; success closes the breaker, failure opens it for another
cool-down. ``failures = 0`` disables breaking.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from altlas_sdk.selection import CircuitState


@dataclass
class _Circuit:
    consecutive_failures: int = 0
    opened_at: float | None = None
    trial_running: bool = False


class CircuitBreakers:
    """One breaker per model id."""

    def __init__(
        self,
        failures: int,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def _circuit(self, model_id: str) -> _Circuit:
        circuit = self._circuits.get(model_id)
        if circuit is None:
            circuit = self._circuits[model_id] = _Circuit()
        return circuit

    def state(self, model_id: str) -> CircuitState:
        """The breaker's state now."""
        circuit = self._circuits.get(model_id)
        if circuit is None or circuit.opened_at is None:
            return "closed"
        if self._clock() - circuit.opened_at < self.cooldown:
            return "open"
        return "half-open"

    def tripped(self) -> list[str]:
        """The models whose breaker is open or half-open, sorted."""
        return sorted(m for m in self._circuits if self.state(m) != "closed")

    def consecutive_failures(self, model_id: str) -> int:
        """Failures since the model's last success."""
        circuit = self._circuits.get(model_id)
        return circuit.consecutive_failures if circuit is not None else 0

    def retry_in(self, model_id: str) -> float:
        """Seconds until an open breaker lets a trial through (0 when not open)."""
        circuit = self._circuits.get(model_id)
        if circuit is None or circuit.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown - (self._clock() - circuit.opened_at))

    def allow(self, model_id: str) -> bool:
        """Whether a request may try the model now. In the half-open state only one
        trial runs at a time; calling this claims it."""
        state = self.state(model_id)
        if state == "closed":
            return True
        if state == "open":
            return False
        circuit = self._circuit(model_id)
        if circuit.trial_running:
            return False
        circuit.trial_running = True
        return True

    def succeeded(self, model_id: str) -> None:
        """The model answered: close its breaker."""
        circuit = self._circuits.get(model_id)
        if circuit is not None:
            circuit.consecutive_failures = 0
            circuit.opened_at = None
            circuit.trial_running = False

    def failed(self, model_id: str) -> None:
        """The model failed or timed out: count it, and open the breaker at the
        threshold (at once when a half-open trial failed)."""
        if self.failures <= 0:
            return
        circuit = self._circuit(model_id)
        circuit.consecutive_failures += 1
        if circuit.trial_running or circuit.consecutive_failures >= self.failures:
            circuit.opened_at = self._clock()
        circuit.trial_running = False

    def released(self, model_id: str) -> None:
        """A claimed half-open trial ended without a verdict (the client left, or the
        request was the client's own mistake): let another trial through."""
        circuit = self._circuits.get(model_id)
        if circuit is not None:
            circuit.trial_running = False
