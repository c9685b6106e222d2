"""The HTTP wire shapes of ``/api``: requests, responses and the one error body.

Requests are decoded with ``forbid_unknown_fields`` so a typo is a 422 naming the
field, not a silently ignored option. New fields always get defaults.
"""

from __future__ import annotations

from typing import Any, Literal

from msgspec import Struct

from altlas_sdk.hosts import HostInfo


class InferenceRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/inference/`` and the task routes.

    ``inputs`` is typed by the task (see :mod:`altlas_sdk.tasks`). ``model_id`` may be
    omitted on a route that names the task: the task's default model runs. ``task``
    picks one of the model's tasks when it serves several (default: its first).
    ``cache``: ``false`` neither reads nor writes the response cache for this request;
    ``true`` caches it even when it samples without a seed; ``null`` (the default)
    caches deterministic requests only.
    """

    inputs: Any
    model_id: str | None = None
    parameters: dict[str, Any] = {}
    task: str | None = None
    cache: bool | None = None


class Timing(Struct, kw_only=True):
    """Milliseconds spent waiting for a slot, inside the backend, and in total."""

    queue_ms: float
    inference_ms: float
    total_ms: float


class InferenceResponse(Struct, kw_only=True):
    """The answer to one inference request."""

    model_id: str
    task: str
    outputs: Any
    timing: Timing
    from_cache: bool
    request_id: str


class ErrorDetail(Struct, kw_only=True):
    """What went wrong; a superset of OpenAI's error object."""

    type: str
    message: str
    param: str | None = None
    code: str | None = None
    request_id: str | None = None


class ErrorBody(Struct, kw_only=True):
    """The one error body every route returns: ``{"error": {...}}``."""

    error: ErrorDetail


ModelState = Literal[
    "available",
    "downloading",
    "loading",
    "loaded",
    "unloading",
    "error",
    "weights_missing",
    "unavailable",
]


class MemoryInfo(Struct, kw_only=True):
    """Bytes of RAM and GPU memory: ``estimated`` before loading, ``measured`` after."""

    ram_bytes: int = 0
    gpu_bytes: int = 0


class ModelStatus(Struct, kw_only=True):
    """``GET /api/models/{id}/status``, and the answer to load and unload.

    ``detail`` explains ``weights_missing``, ``unavailable`` and ``error`` states in
    words an operator can act on.
    """

    model_id: str
    state: ModelState
    detail: str | None = None
    device: str | None = None
    version: str | None = None
    loaded_at: float | None = None
    last_used_at: float | None = None
    memory_estimated: MemoryInfo | None = None
    memory_measured: MemoryInfo | None = None
    #: Never evicted or unloaded when idle (``pin`` in the catalog or the load request).
    pinned: bool = False
    #: Requests running or queued on the model now.
    in_flight: int = 0
    #: When the idle model will be unloaded (``keep_alive``); ``None``: not scheduled.
    expires_at: float | None = None
    #: Where the loaded model runs (``None`` when it is not in memory).
    host: HostInfo | None = None
    #: Times the model's host process died since start-up.
    crashes: int = 0
    #: Why it died the last time (``None``: it never crashed).
    last_exit: str | None = None
    #: While ``downloading``: bytes of its files downloaded so far, and in all
    #: (``None`` while a server has not said how large a file is).
    downloaded_bytes: int | None = None
    download_total_bytes: int | None = None


class LoadRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    """The optional body of ``POST /api/models/{id}/load``.

    ``pin: true`` keeps the model loaded (never evicted, never unloaded when idle);
    ``pin: false`` unpins it; omitted leaves it as it is.
    """

    pin: bool | None = None


class ModelInfo(Struct, kw_only=True):
    """``GET /api/models/{id}``: the catalog entry and its status."""

    id: str
    backend: str
    tasks: list[str]
    description: str
    source: str
    files: dict[str, str]
    license: str | None
    default_for: list[str]
    tags: dict[str, Any]
    provided_by: str
    status: ModelStatus


class ModelList(Struct, kw_only=True):
    """``GET /api/models/``."""

    models: list[ModelInfo]


class TaskInfo(Struct, kw_only=True):
    """One registered task: who registered it and which models serve it."""

    id: str
    description: str
    registered_by: str
    models: list[str]


class TaskList(Struct, kw_only=True):
    """``GET /api/tasks``."""

    tasks: list[TaskInfo]


class PluginInfo(Struct, kw_only=True):
    """One registered plugin."""

    name: str
    distribution: str | None
    version: str | None
    builtin: bool
    hooks: list[str]


class PluginFailure(Struct, kw_only=True):
    """A plugin that failed to import or register, and why."""

    name: str
    distribution: str | None
    error: str


class PluginList(Struct, kw_only=True):
    """``GET /api/plugins``."""

    plugins: list[PluginInfo]
    failures: list[PluginFailure]
