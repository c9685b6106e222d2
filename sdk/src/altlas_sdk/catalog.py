"""Catalog entries and model sources.

A :class:`ModelSpec` is one entry of the model catalog: which backend runs the model,
which tasks it serves, and where its files are. Plugins register entries through
``register_catalog_entries``; the operator's config file adds entries or overrides
fields of a plugin's entry (``[models.<id>]``).

A file reference (``source`` and the values of ``files``) is ``scheme:rest`` or a plain
path. A :class:`ModelSource` resolves one scheme to a local path; the core ships
``file:`` (a plain path: relative paths are under MODEL_DIR), ``package:`` (a file
inside an installed Python package), ``https:``/``http:`` (downloaded once into
CACHE_DIR) and ``hf:`` (a Hugging Face hub file, for online users).

A source keeps what it resolves inside its :meth:`ModelSource.roots` (MODEL_DIR and
CACHE_DIR unless it says otherwise), symbolic links followed: the core refuses a
reference that leaves them (:class:`altlas_sdk.paths.UnsafePath`) before anything is
read, fetched or written.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from msgspec import Meta, Struct

from altlas_sdk.paths import display_path

#: Model ids are URL path segments: letters, digits, ``.``, ``_`` and ``-``.
MODEL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_MODEL_ID = re.compile(MODEL_ID_PATTERN)

ModelId = Annotated[str, Meta(pattern=MODEL_ID_PATTERN)]

#: A SHA-256 digest in hexadecimal, as ``sha256sum`` prints it.
SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"


class ModelSpec(Struct, kw_only=True, forbid_unknown_fields=True):
    """One catalog entry.

    - ``id``: the model id clients use.
    - ``backend``: the registered backend name that runs it.
    - ``tasks``: task ids it serves; the first is its default task.
    - ``source``: reference to the main weights file or folder.
    - ``files``: other named files the backend needs (e.g. ``tokenizer``).
    - ``options``: backend-specific load options (``n_ctx``, ``providers``...).
    - ``default_for``: tasks for which this is the default model when a request names
      the task but no model.
    - ``tags``: free-form facts for selection strategies (latency, accuracy, cost...).
    - ``pin``: never evicted to make room for another model, never unloaded when idle;
      loaded at start-up.
    - ``keep_alive``: seconds the model stays loaded after its last request (``-1``
      forever, ``0`` unloaded right after each request); ``None``: the ``KEEP_ALIVE``
      setting.
    - ``max_concurrency``: calls run at once (``None``: the backend's
      ``max_concurrency``); ``max_queue``: calls that may wait beyond those (``None``:
      the ``MAX_QUEUE`` setting).
    - ``memory_mb``: what the model takes in RAM, declared by the operator; when set
      it replaces the backend's estimate and the measurement in budget decisions
      (useful where RSS misleads, e.g. memory-mapped weights).
    - ``max_batch_size``: dynamic batching; requests for this model that wait
      together are coalesced into one ``infer_batch`` call of at most this many inputs
      (``None``: the ``MAX_BATCH_SIZE`` setting; ``1`` turns batching off). Only for
      backends with ``native_batching``.
    - ``max_wait_ms``: how long a batch may wait for more requests before it runs
      (``None``: the ``BATCH_MAX_WAIT_MS`` setting).
    - ``replicas``: copies of the model that serve it, on hosts that run several (a
      request goes to the least busy); the ``thread`` host runs one and refuses more.
    - ``placement``: resources each replica needs on hosts that place models on nodes
      (e.g. Ray resources ``{"GPU": 1}`` or ``{"node:gpu-a": 1}``); the ``thread`` host
      ignores it.
    - ``sha256``: the expected SHA-256 of downloaded files, by role (``source`` or a
      key of ``files``); a download whose bytes differ is refused.
    """

    id: ModelId
    backend: str
    tasks: Annotated[list[str], Meta(min_length=1)]
    source: str
    files: dict[str, str] = {}
    description: str = ""
    license: str | None = None
    options: dict[str, Any] = {}
    default_for: list[str] = []
    tags: dict[str, Any] = {}
    pin: bool = False
    keep_alive: Annotated[float, Meta(ge=-1)] | None = None
    max_concurrency: Annotated[int, Meta(ge=1)] | None = None
    max_queue: Annotated[int, Meta(ge=0)] | None = None
    memory_mb: Annotated[int, Meta(ge=1)] | None = None
    max_batch_size: Annotated[int, Meta(ge=1)] | None = None
    max_wait_ms: Annotated[float, Meta(ge=0)] | None = None
    trust_pickled_weights: bool = False
    replicas: Annotated[int, Meta(ge=1)] = 1
    placement: dict[str, Annotated[float, Meta(ge=0)]] = {}
    sha256: dict[str, Annotated[str, Meta(pattern=SHA256_PATTERN)]] = {}

    @property
    def task(self) -> str:
        """The model's default task."""
        return self.tasks[0]


def is_valid_model_id(model_id: str) -> bool:
    """Whether ``model_id`` is a valid model id."""
    return bool(_MODEL_ID.match(model_id))


@dataclass(frozen=True)
class SourceContext:
    """What a source needs to resolve a reference: the operator's folders."""

    model_dir: Path
    cache_dir: Path

    def display(self, path: Path) -> str:
        """``path`` for a message or a listing: ``MODEL_DIR/<rest>`` or
        ``CACHE_DIR/<rest>``, never where those folders are on disk."""
        return display_path(path, self.model_dir, self.cache_dir)


@dataclass(frozen=True)
class RemoteFile:
    """Where a downloading source gets a file: the URL and the headers to send (a
    token for a gated repository). The core downloads it to :meth:`ModelSource.locate`'s
    path, resuming, verifying and sharing the transfer (:meth:`ModelSource.remote`)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)


class ModelSource(ABC):
    """Resolves references of one ``scheme`` (the text before the first ``:``)."""

    scheme: str

    @abstractmethod
    def locate(self, ref: str, context: SourceContext) -> Path:
        """The local path ``ref`` (the part after ``scheme:``) names, without fetching.

        The path may not exist yet.
        """

    def is_available(self, ref: str, context: SourceContext) -> bool:
        """Whether :meth:`fetch` can be expected to succeed without the operator's help.

        The default: the file is already local. Downloading sources answer ``True``.
        """
        return self.locate(ref, context).exists()

    def roots(self, ref: str, context: SourceContext) -> tuple[Path, ...] | None:
        """The folders :meth:`locate`'s path must stay inside once symbolic links are
        resolved (for a folder, every file in it too); the core refuses ``ref``
        otherwise. The default: MODEL_DIR and CACHE_DIR. ``None`` lifts the check, for
        a path the operator wrote out in full (an absolute ``file:`` path)."""
        return (context.model_dir, context.cache_dir)

    def remote(self, ref: str, context: SourceContext) -> RemoteFile | None:
        """Where the core downloads ``ref``'s file from when it is not local yet
        (``None``: this source does not download; :meth:`fetch` makes it local).

        The core then does the transfer itself: it resumes after a dropped connection,
        checks the catalog entry's ``sha256`` (or the hub's), writes a temporary file
        and renames it, and lets two pulls of one file share one download.
        """
        return None

    def fetch(self, ref: str, context: SourceContext) -> Path:
        """Make the files local (download them where the source can) and return the path.

        Called when a model loads. The default only checks that :meth:`locate`'s path
        exists and raises :class:`~altlas_sdk.errors.WeightsMissing` otherwise, with a
        message that says what to put where.
        """
        from altlas_sdk.errors import WeightsMissing

        path = self.locate(ref, context)
        if not path.exists():
            raise WeightsMissing(self.missing_message(ref, context))
        return path

    def missing_message(self, ref: str, context: SourceContext) -> str:
        """What the operator must do to provide a missing file."""
        shown = context.display(self.locate(ref, context))
        return f"'{self.scheme}:{ref}' is missing: expected at {shown}"
