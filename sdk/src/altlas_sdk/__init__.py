"""What a plugin author imports to extend altlas.

``hookimpl`` marks hook implementations; :class:`Backend` and :class:`LoadedModel` are
the backend interface; :mod:`altlas_sdk.tasks` holds task ids and their typed inputs
and outputs; :mod:`altlas_sdk.errors` the errors a plugin raises.
"""

from __future__ import annotations

import pluggy

from altlas_sdk.backend import (
    Backend,
    BatchedModel,
    CancellationToken,
    Device,
    DevicePolicy,
    LoadedModel,
    MemoryEstimate,
    ModelFiles,
)
from altlas_sdk.cache import CacheContext, ResponseCache
from altlas_sdk.catalog import ModelSource, ModelSpec, SourceContext
from altlas_sdk.ensemble import Combiner, Member
from altlas_sdk.lru import async_lru_cache
from altlas_sdk.selection import Candidate, ModelStats, SelectionStrategy
from altlas_sdk.tasks import TaskSpec
from altlas_sdk.wire import InferenceRequest, InferenceResponse

__version__ = "0.1.0"

#: The plugin project name: hook implementations are matched to specs by it.
PROJECT_NAME = "altlas"

#: Marks a function as an implementation of an altlas hook.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = [
    "PROJECT_NAME",
    "Backend",
    "BatchedModel",
    "CacheContext",
    "Candidate",
    "CancellationToken",
    "Combiner",
    "Device",
    "DevicePolicy",
    "InferenceRequest",
    "InferenceResponse",
    "LoadedModel",
    "Member",
    "MemoryEstimate",
    "ModelFiles",
    "ModelSource",
    "ModelSpec",
    "ModelStats",
    "ResponseCache",
    "SelectionStrategy",
    "SourceContext",
    "TaskSpec",
    "async_lru_cache",
    "hookimpl",
]
