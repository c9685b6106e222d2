"""What the core hands a plugin at run time: the service's catalog, models and inference.

The ``startup`` and ``shutdown`` hooks and every facade factory registered through
``register_facades`` receive an object satisfying :class:`Services`. It is described
here, in the SDK, so that a plugin needs nothing from the core to use it: the core's
runtime satisfies these protocols structurally (a test of the core checks it).

Everything here is a :class:`typing.Protocol`: a plugin annotates with these types and
never imports the core's classes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Protocol, runtime_checkable

from msgspec import Struct

from altlas_sdk.catalog import ModelSpec
from altlas_sdk.wire import InferenceRequest, InferenceResponse, ModelInfo, ModelStatus


@runtime_checkable
class CatalogEntry(Protocol):
    """One model of the catalog and who provided it."""

    @property
    def spec(self) -> ModelSpec:
        """The model's catalog entry, with the operator's overrides applied."""

    @property
    def provided_by(self) -> str:
        """The plugin that registered the entry, ``config`` or ``model_dir``."""


@runtime_checkable
class ModelCatalog(Protocol):
    """Every model the service knows, by id, in a stable order."""

    def get(self, model_id: str) -> CatalogEntry:
        """The entry of ``model_id``; raises :class:`altlas_sdk.errors.ModelNotFound`."""

    def __iter__(self) -> Iterator[CatalogEntry]:
        """Every entry, in catalog order."""

    def __len__(self) -> int:
        """How many models the catalog holds."""

    def __contains__(self, model_id: object) -> bool:
        """Whether ``model_id`` is in the catalog."""

    def replace(self, spec: ModelSpec) -> None:
        """Swap the entry of ``spec.id`` for ``spec`` (new load options, say); takes
        effect at the model's next load."""


@runtime_checkable
class ModelControl(Protocol):
    """Loading, unloading and the state of the catalog's models."""

    async def load_model(self, model_id: str) -> ModelStatus:
        """Load ``model_id`` (waiting for memory if needed); returns once it is loaded."""

    async def unload_model(self, model_id: str) -> ModelStatus:
        """Unload ``model_id`` once its running calls finish."""

    def is_loaded(self, model_id: str) -> bool:
        """Whether ``model_id`` is loaded now."""

    def list_models(self) -> list[ModelInfo]:
        """Every catalog model with its status, in catalog order."""

    def status(self, model_id: str) -> ModelStatus:
        """The state of ``model_id``: loaded, loading, available, weights missing..."""


@runtime_checkable
class InferenceStream(Protocol):
    """The chunks of one streamed request, in order: iterate it with ``async for``.

    Each chunk is the task's chunk :class:`msgspec.Struct` (a text piece, say; the last
    one may carry ``finish_reason`` and ``usage``). Call :meth:`aclose` to stop early:
    the backend sees the request cancelled at its next step.
    """

    @property
    def model_id(self) -> str:
        """The model that runs the request."""

    @property
    def task(self) -> str:
        """The task it runs."""

    @property
    def request_id(self) -> str:
        """The id of the request, as logged and reported in errors."""

    def __aiter__(self) -> AsyncIterator[Struct]:
        """The chunks, as the model produces them."""

    async def aclose(self) -> None:
        """Stop generating and release the model's slot."""


@runtime_checkable
class InferenceRunner(Protocol):
    """Running requests through the same pipeline as the HTTP API: selection, the cache,
    queueing, memory accounting and errors included."""

    async def run_inference(
        self, request: InferenceRequest, *, task: str | None = None
    ) -> InferenceResponse:
        """Run ``request``. ``task`` names the task when the request's ``model_id`` is
        omitted. Raises :class:`altlas_sdk.errors.AltlasError` subclasses."""

    async def stream_inference(
        self, request: InferenceRequest, *, task: str | None = None
    ) -> InferenceStream:
        """Start streaming ``request``; returns once its model has a slot. Errors after
        that raise from the iteration, in order with the chunks."""


@runtime_checkable
class Services(Protocol):
    """What ``startup``, ``shutdown`` and facade factories receive (the core's runtime)."""

    @property
    def catalog(self) -> ModelCatalog:
        """The service's catalog."""

    @property
    def models(self) -> ModelControl:
        """Loading and unloading models."""

    @property
    def inference(self) -> InferenceRunner:
        """Running and streaming requests."""
