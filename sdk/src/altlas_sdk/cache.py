"""Response caches: where the core keeps encoded outputs of deterministic requests."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar


class ResponseCache(ABC):
    """A key-value store of encoded task outputs.

    Keys are computed by the core from the model id, the model's version, the task,
    the canonical inputs and the parameters, so a cache never has to understand them.
    Methods are async so that a cache may do I/O without blocking the event loop.
    """

    name: ClassVar[str]

    @abstractmethod
    async def get(self, key: str) -> bytes | None:
        """The stored value, or ``None`` on a miss."""

    @abstractmethod
    async def set(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key``."""

    async def close(self) -> None:  # noqa: B027 - optional, most caches hold nothing
        """Release resources at shutdown."""
