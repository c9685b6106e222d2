"""Per-key quotas: a request rate (the ``limits`` library's moving window, in memory)
and the number of requests running at once. Over either, ``429 rate_limit_error`` with
``Retry-After``."""

from __future__ import annotations

import math
import time
from collections import Counter

from altlas.security.principal import Principal
from altlas_sdk.errors import RateLimited


class Quotas:
    """The rate windows and running counts of every key, in this process."""

    def __init__(self) -> None:
        from limits import storage, strategies

        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._running: Counter[str] = Counter()

    def acquire(self, principal: Principal) -> None:
        """Count one request of ``principal`` against its rate and its concurrency;
        raises :class:`RateLimited` when it is over either. A request that got through
        must call :meth:`release` when it ends."""
        limit = principal.max_concurrency
        if limit is not None and self._running[principal.name] >= limit:
            raise RateLimited(
                f"API key '{principal.name}' has {limit} request(s) running, its "
                "max_concurrency; retry when one ends",
                retry_after=1,
                code="concurrency_limit",
            )
        if principal.rate_limit is not None:
            self._hit(principal)
        self._running[principal.name] += 1

    def release(self, principal: Principal) -> None:
        """A request counted by :meth:`acquire` has ended."""
        self._running[principal.name] -= 1
        if self._running[principal.name] <= 0:
            del self._running[principal.name]

    def running(self, name: str) -> int:
        """Requests of the key ``name`` running now."""
        return self._running[name]

    def _hit(self, principal: Principal) -> None:
        from limits import parse_many

        assert principal.rate_limit is not None
        for item in parse_many(principal.rate_limit):
            if not self._limiter.hit(item, principal.name):
                reset_at, _ = self._limiter.get_window_stats(item, principal.name)
                raise RateLimited(
                    f"API key '{principal.name}' is over its rate limit of {item}",
                    retry_after=max(1, math.ceil(reset_at - time.time())),
                    code="rate_limit",
                )
