"""Every hook altlas calls, grouped by the phase in which the core calls it.

A plugin implements any subset with ``@altlas_sdk.hookimpl``; an implementation names
only the arguments it uses. The usual pluggy markers apply to every hook:
``tryfirst=True`` and ``trylast=True`` move an implementation to the front or the back,
and ``wrapper=True`` (a generator: ``result = yield``) runs code around the others.

Registration hooks take a ``register`` callback rather than returning values, so the
core knows which plugin registered what and can name both plugins when two register the
same id. They are called once, at start-up, after every plugin has been loaded, in
pluggy's call order: ``tryfirst`` implementations first, then the others from the
plugin loaded last back to the first (entry points in reverse name order, then the
built-ins), then ``trylast`` ones; a ``wrapper`` runs around all of them. An
implementation that raises fails its own plugin only: none of that plugin's
registrations are kept, and the others carry on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pluggy

from altlas_sdk import PROJECT_NAME
from altlas_sdk.backend import Backend
from altlas_sdk.cache import ResponseCache
from altlas_sdk.catalog import ModelSource, ModelSpec
from altlas_sdk.ensemble import Combiner
from altlas_sdk.hosts import ModelHost
from altlas_sdk.routes import PluginMount, PluginRoute
from altlas_sdk.selection import SelectionStrategy
from altlas_sdk.services import Services
from altlas_sdk.tasks import TaskSpec

#: Marks a function as the specification of an altlas hook (the core's use only).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: Builds an in-process entry point from the service: see :func:`register_facades`.
FacadeFactory = Callable[[Services], object]

# --- registration: called once at start-up, in pluggy's call order -----------------


@hookspec
def register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register new task ids with their input, parameters and output types.

    Call ``register(TaskSpec(...))`` once per task. The core itself registers every
    reserved task (``text-generation``, ``chat``, ``embedding``, ``ocr``...: the specs
    in :mod:`altlas_sdk.tasks`, :mod:`altlas_sdk.vision.tasks` and
    :mod:`altlas_sdk.audio.tasks`); a capability plugin serves those by listing them in
    its catalog entries' ``tasks``, and registers only task ids of its own. Registering an
    id another plugin (or the core) registered fails start-up, naming both.
    """


@hookspec
def register_backends(register: Callable[[Backend], None]) -> None:
    """Register model backends.

    Call ``register(backend)`` with an instance of an :class:`altlas_sdk.Backend`
    subclass; its ``name`` is what catalog entries put in ``backend``. The instance must
    be cheap to create: import the heavy library in ``load()``. Two plugins
    registering the same name fail start-up, naming both distributions.
    """


@hookspec
def register_model_sources(register: Callable[[ModelSource], None]) -> None:
    """Register resolvers for file references of one scheme (``package:``, ``hf:``...).

    Call ``register(source)`` with an :class:`altlas_sdk.ModelSource`; its ``scheme``
    must be unique across plugins.
    """


@hookspec
def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
    """Register default catalog entries.

    Call ``register(ModelSpec(...))`` per model; the catalog lists them in registration
    order. Entries may name weights the operator supplies later; until the files exist
    they are listed as ``weights_missing``. A model id registered by two plugins fails
    start-up, naming both distributions; the operator's config file may override any
    field of an entry (``[models.<id>]``).
    """


@hookspec
def register_selection_strategies(register: Callable[[SelectionStrategy], None]) -> None:
    """Register strategies that pick a model for a request naming only a task.

    Call ``register(strategy)`` with a :class:`altlas_sdk.SelectionStrategy`; the
    setting ``SELECTION_STRATEGY`` chooses one by ``name``.
    """


@hookspec
def register_combiners(register: Callable[[Combiner], None]) -> None:
    """Register ensemble combiners.

    Call ``register(combiner)`` with an :class:`altlas_sdk.Combiner`; it merges the
    outputs of several models for the tasks in its ``tasks``. The first combiner
    registered for a task is the task's default; a request may name another.
    """


@hookspec
def register_caches(register: Callable[[ResponseCache], None]) -> None:
    """Register response caches.

    Call ``register(cache)`` with an :class:`altlas_sdk.ResponseCache`; the setting
    ``RESPONSE_CACHE`` chooses one by ``name`` (default ``memory``; ``none`` or empty:
    no response cache) and the core calls its ``configure`` with the settings.
    """


@hookspec
def register_model_hosts(register: Callable[[ModelHost], None]) -> None:
    """Register model hosts: where backends run.

    Call ``register(host)`` with an :class:`altlas_sdk.hosts.ModelHost`; the setting
    ``MODEL_HOST`` chooses one by ``name`` (default ``thread``: the core's own host,
    which runs backends inside the API server's process). Two plugins registering the
    same name fail start-up, naming both. The instance must be cheap to create: the
    core calls ``start`` only on the chosen host.
    """


@hookspec
def register_routes(register: Callable[[PluginRoute | PluginMount], None]) -> None:
    """Register extra HTTP endpoints.

    Call ``register(PluginRoute(path, app, methods=("GET",)))`` for one endpoint, or
    ``register(PluginMount(path, app))`` for a sub-application, where ``app`` is an
    ASGI application (:mod:`altlas_sdk.routes`). ``path`` starts with
    ``/api/plugins/<plugin-name>/``: the core owns every other path, and serves the
    design document's routes for every backend itself. Two plugins registering the same
    path and methods fail start-up, naming both.
    """


@hookspec
def register_facades(register: Callable[[str, FacadeFactory], None]) -> None:
    """Register in-process entry points: ``register(name, factory)``.

    The design document's ``get_llama_cpp_adapter()``, ``get_vision_model_manager()``,
    ``get_audio_model_manager()``, ``get_model_orchestrator()`` and
    ``get_resource_monitor()`` return the facade registered under ``llama_cpp_adapter``,
    ``vision_model_manager``... ``factory`` is called once, on first use, with the
    service (:class:`altlas_sdk.Services`). A facade is a thin object over the
    service's catalog, models and inference, not a second code path.
    """


# --- lifecycle ------------------------------------------------------------------------


@hookspec
def startup(runtime: Services) -> Awaitable[None] | None:
    """Called once when the service starts, after registration and before the first
    request, with the service (:class:`altlas_sdk.Services`). May return an awaitable,
    which the core awaits. Nothing is loaded yet; pinned models load after it."""


@hookspec
def shutdown(runtime: Services) -> Awaitable[None] | None:
    """Called once when the service stops, before models are unloaded, with the
    service. May return an awaitable, which the core awaits."""


# --- decisions ------------------------------------------------------------------------


@hookspec(firstresult=True)
def render_error(error: Exception, request_id: str) -> dict[str, Any] | None:
    """Turn an error into the JSON error body; stops at first non-None result.

    ``error`` is an :class:`altlas_sdk.errors.AltlasError` (unexpected exceptions have
    already been turned into an ``InternalError`` carrying an error id and logged).
    Return ``{"error": {...}}``, or ``None`` to let the next plugin decide; the core's
    default renderer is a ``trylast`` implementation, so any plugin answers first.
    """
