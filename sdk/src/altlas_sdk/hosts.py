"""Model hosts: where backends run.

A :class:`ModelHost` loads a model through its backend and hands back a
:class:`~altlas_sdk.LoadedModel` the core calls as usual. The core ships the ``thread``
host (the backend runs inside the API server's process, on its executor threads); a
plugin may register others through ``register_model_hosts`` (e.g. ``ray``, where each
model runs in an actor of its own, so a native crash takes down that model only). The
setting ``MODEL_HOST`` chooses one by :attr:`ModelHost.name`.

A call on a model whose host process died raises
:class:`~altlas_sdk.errors.ModelCrashed`; the core then drops the model and loads it
again on the next request.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import msgspec

if TYPE_CHECKING:
    from altlas_sdk.backend import Backend, DevicePolicy, LoadedModel, ModelFiles
    from altlas_sdk.catalog import ModelSpec


class HostInfo(msgspec.Struct, kw_only=True):
    """Where one loaded model runs, as its status reports it.

    ``kind`` is the host's name (``"thread"``, ``"ray"``...); ``node`` the node it runs
    on (``None`` for the thread host: this machine); ``pid`` the process that runs the
    backend; ``replicas`` how many copies of the model serve it.
    """

    kind: str
    node: str | None = None
    pid: int | None = None
    replicas: int = 1


class NodeInfo(msgspec.Struct, kw_only=True):
    """One node a host can place models on, for ``GET /api/system/resources``.

    ``resources`` are the node's schedulable resources (e.g. Ray's ``{"CPU": 4.0}``);
    ``models`` the ids of the models loaded there (the core fills them in from its own
    loaded models when a host leaves them empty).
    """

    node: str
    address: str | None = None
    alive: bool = True
    ram_total_bytes: int | None = None
    ram_used_bytes: int | None = None
    gpus: int = 0
    resources: dict[str, float] = {}
    models: list[str] = []


class HostOptions(msgspec.Struct, kw_only=True, frozen=True):
    """What the core tells a host at start, from the operator's settings.

    - ``ram_limit_bytes`` / ``gpu_limit_bytes``: the memory budget of each node
      (``RAM_MEMORY_LIMIT`` / ``GPU_MEMORY_LIMIT``; ``None``: no limit).
    - ``namespace``: a name that keeps this service's shared objects (e.g. named
      actors) apart from other services on the same cluster.
    - ``model_dir`` / ``cache_dir``: the operator's folders, where model files live.
    - ``use_gpu``: whether models may use a GPU (``USE_GPU``).
    """

    ram_limit_bytes: int | None = None
    gpu_limit_bytes: int | None = None
    namespace: str = "altlas"
    model_dir: str = ""
    cache_dir: str = ""
    use_gpu: bool = True


class ModelHost(ABC):
    """Where backends run. The core picks one by the setting ``MODEL_HOST``.

    The core calls :meth:`start` once at start-up, before any model loads, and
    :meth:`stop` once at shutdown, after every model was unloaded. :meth:`load` and
    :meth:`nodes` may block: the core calls them from its executor, never on the event
    loop. Import heavy libraries (``ray``...) in :meth:`start`, not at module import.
    """

    #: The id the setting ``MODEL_HOST`` names.
    name: ClassVar[str]

    def start(self, options: HostOptions) -> None:  # noqa: B027 - optional hook
        """Connect to or start what runs the models (a cluster...)."""

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`start` took."""

    @abstractmethod
    def load(
        self,
        backend: Backend,
        spec: ModelSpec,
        files: ModelFiles,
        policy: DevicePolicy,
        *,
        node: str | None = None,
    ) -> LoadedModel:
        """Load ``spec`` with ``backend`` and return the model, ready to run.

        ``node`` is the node the core planned the model onto (one of :meth:`nodes`),
        or ``None`` to let the host choose. The returned model's
        :meth:`~altlas_sdk.LoadedModel.host` says where it runs; its calls raise
        :class:`~altlas_sdk.errors.ModelCrashed` once that process died.
        """

    @abstractmethod
    def nodes(self) -> list[NodeInfo]:
        """The nodes models may run on, with their memory and the models on them."""
