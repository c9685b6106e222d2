"""Every hook altlas calls, grouped by the phase in which the core calls it.

A plugin implements any subset with ``@altlas_sdk.hookimpl``. Registration hooks take a
``register`` callback rather than returning values, so the core knows which plugin
registered what and can name both plugins when two register the same id. They are
called once, at start-up, after every plugin has been loaded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pluggy

from altlas_sdk import PROJECT_NAME

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from altlas.runtime import Runtime
    from altlas_sdk import (
        Backend,
        Combiner,
        ModelSource,
        ModelSpec,
        ResponseCache,
        SelectionStrategy,
        TaskSpec,
    )

hookspec = pluggy.HookspecMarker(PROJECT_NAME)

# --- registration: called once at start-up, in plugin order --------------------------


@hookspec
def register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register task ids with their input, parameters and output types.

    Call ``register(TaskSpec(...))`` once per task. The core registers the built-in
    tasks (``text-generation``, ``chat``, ``embedding``, ``tensor``); a capability
    plugin registers the reserved media task it serves (``ocr``...) or a new task id.
    Registering an id another plugin registered fails start-up, naming both.
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

    Call ``register(ModelSpec(...))`` per model. Entries may name weights the operator
    supplies later; until the files exist they are listed as ``weights_missing``. A
    model id registered by two plugins fails start-up, naming both distributions; the
    operator's config file may override any field of an entry (``[models.<id>]``).
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
def register_routes(register: Callable[[BaseRoute], None]) -> None:
    """Register extra HTTP routes.

    Call ``register(route)`` with a Starlette ``Route`` (or ``Mount``) whose path starts
    with ``/api/plugins/<plugin-name>/``: the core owns every other path, and serves the
    design document's routes for every backend itself. Two plugins registering the same
    path and method fail start-up, naming both.
    """


@hookspec
def register_facades(register: Callable[[str, Callable[[Runtime], object]], None]) -> None:
    """Register in-process entry points: ``register(name, factory)``.

    The design document's ``get_llama_cpp_adapter()``, ``get_vision_model_manager()``,
    ``get_audio_model_manager()``, ``get_model_orchestrator()`` and
    ``get_resource_monitor()`` return the facade registered under ``llama_cpp_adapter``,
    ``vision_model_manager``... ``factory`` is called with the runtime once, on first
    use. A facade is a thin object over the runtime's services, not a second code path.
    """


# --- lifecycle ------------------------------------------------------------------------


@hookspec
def startup(runtime: Runtime) -> Awaitable[None] | None:
    """Called once when the service starts, after registration and before the first
    request. May return an awaitable, which the core awaits."""


@hookspec
def shutdown(runtime: Runtime) -> Awaitable[None] | None:
    """Called once when the service stops, before models are unloaded. May return an
    awaitable, which the core awaits."""


# --- decisions ------------------------------------------------------------------------


@hookspec(firstresult=True)
def render_error(error: Exception, request_id: str) -> dict[str, Any] | None:
    """Turn an error into the JSON error body. Stops at the first non-``None`` result.

    ``error`` is an :class:`altlas_sdk.errors.AltlasError` (unexpected exceptions have
    already been turned into an ``InternalError`` carrying an error id and logged).
    Return ``{"error": {...}}`` or ``None`` to let the next plugin decide; the core's
    default renderer is a ``trylast`` implementation.
    """
