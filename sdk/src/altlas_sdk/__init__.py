"""What a plugin author imports to extend altlas.

``hookimpl`` marks hook implementations of the hooks in :mod:`altlas_sdk.hookspecs`;
:class:`Backend` and :class:`LoadedModel` are the backend interface;
:mod:`altlas_sdk.tasks` holds task ids and their typed inputs and outputs;
:mod:`altlas_sdk.errors` the errors a plugin raises; :class:`Services` what lifecycle
hooks and facades receive; :class:`PluginRoute` and :class:`PluginMount` the HTTP
endpoints a plugin adds.
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
from altlas_sdk.hosts import HostInfo, HostOptions, ModelHost, NodeInfo
from altlas_sdk.lru import async_lru_cache
from altlas_sdk.routes import PluginMount, PluginRoute
from altlas_sdk.selection import Candidate, ModelStats, SelectionStrategy
from altlas_sdk.services import (
    CatalogEntry,
    InferenceRunner,
    InferenceStream,
    ModelCatalog,
    ModelControl,
    Services,
)
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
    "CatalogEntry",
    "Combiner",
    "Device",
    "DevicePolicy",
    "HostInfo",
    "HostOptions",
    "InferenceRequest",
    "InferenceResponse",
    "InferenceRunner",
    "InferenceStream",
    "LoadedModel",
    "Member",
    "MemoryEstimate",
    "ModelCatalog",
    "ModelControl",
    "ModelFiles",
    "ModelHost",
    "ModelSource",
    "ModelSpec",
    "ModelStats",
    "NodeInfo",
    "PluginMount",
    "PluginRoute",
    "ResponseCache",
    "SelectionStrategy",
    "Services",
    "SourceContext",
    "TaskSpec",
    "async_lru_cache",
    "hookimpl",
]
