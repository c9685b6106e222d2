"""Step 3: the response cache (``RESPONSE_CACHE``: ``memory`` unless set otherwise).

The key covers everything that changes the output: model id, model version (its
files' fingerprint, so new weights never meet old entries), task, the canonical
(sorted-key) encoding of inputs and parameters. Sampling without a seed is
nondeterministic (and a backend's default temperature usually samples), so a
generation request is cached only with ``temperature: 0`` or a ``seed``, unless the
request says ``"cache": true``; ``"cache": false`` skips the cache both ways.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

import msgspec

from altlas.inference.decode import TaskCall
from altlas_sdk import ResponseCache

if TYPE_CHECKING:
    from altlas.metrics import Metrics

logger = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder(order="sorted")


def cache_key(model_id: str, version: str, call: TaskCall) -> str:
    """The cache key of one call."""
    digest = hashlib.sha256()
    digest.update(_encoder.encode([model_id, version, call.spec.id, call.inputs, call.parameters]))
    return f"{model_id}:{digest.hexdigest()}"


def is_cacheable(call: TaskCall) -> bool:
    """False for generation that may sample without a seed."""
    if not hasattr(call.parameters, "temperature"):
        return True
    return call.parameters.temperature == 0 or getattr(call.parameters, "seed", None) is not None


class CacheStep:
    """Looks outputs up in, and stores them into, the configured cache."""

    def __init__(self, cache: ResponseCache | None, metrics: Metrics | None = None) -> None:
        self.cache = cache
        self.metrics = metrics

    def keeps(self, call: TaskCall, use: bool | None = None) -> bool:
        """Whether a cache keeps ``call``'s output: there is one, the request's
        ``cache`` (``use``) does not say no, and the call is deterministic or the
        request says ``True``."""
        return self.cache is not None and use is not False and (use is True or is_cacheable(call))

    async def find(
        self, model_id: str, version: str, call: TaskCall, use: bool | None = None
    ) -> tuple[str | None, msgspec.Struct | None]:
        """The cache key of ``call`` (``None`` when no cache will keep it) and its cached
        output, if any; counts the hit or miss. ``use`` is the request's ``cache``:
        ``False`` skips the cache, ``True`` caches even a sampling call."""
        # Keys hash the whole input: compute one only when a cache will use it.
        if not self.keeps(call, use):
            return None, None
        key = cache_key(model_id, version, call)
        cached = await self.lookup(key, call)
        if self.metrics is not None:
            self.metrics.cache.inc("hit" if cached is not None else "miss")
        return key, cached

    async def lookup(self, key: str, call: TaskCall) -> msgspec.Struct | None:
        """The cached output of ``call``, or ``None``."""
        if self.cache is None:
            return None
        raw = await self.cache.get(key)
        if raw is None:
            return None
        try:
            return msgspec.json.decode(raw, type=call.spec.output_type)
        except msgspec.DecodeError:  # ValidationError too: a damaged or foreign entry
            logger.warning("response cache entry %s does not decode: answering without it", key)
            return None

    async def store(self, key: str, output: msgspec.Struct) -> None:
        """Keep ``output`` under ``key``."""
        if self.cache is not None:
            await self.cache.set(key, msgspec.json.encode(output))
