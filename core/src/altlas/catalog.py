"""The model catalog: plugins' entries, the config file's, and files found in MODEL_DIR."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from altlas.config import ConfigError, Settings
from altlas.model_files import ModelFilesResolver
from altlas.registry import Registry
from altlas_sdk import ModelSpec
from altlas_sdk.catalog import is_valid_model_id
from altlas_sdk.errors import AltlasError, ModelNotFound
from altlas_sdk.paths import is_inside

logger = logging.getLogger(__name__)

CONFIG_PROVIDER = "config"
MODEL_DIR_PROVIDER = "model_dir"

#: The fields a config table must give when it overrides no other entry.
_REQUIRED = frozenset({"backend", "tasks", "source"})


@dataclass(frozen=True)
class CatalogEntry:
    """A model spec and who provided it: a plugin name, ``config`` or ``model_dir``."""

    spec: ModelSpec
    provided_by: str


class Catalog:
    """Every model the service knows, by id, in a stable order."""

    def __init__(self, entries: dict[str, CatalogEntry]) -> None:
        self._entries = entries

    def __iter__(self) -> Iterator[CatalogEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._entries

    def get(self, model_id: str) -> CatalogEntry:
        """The entry of ``model_id``; raises :class:`ModelNotFound`."""
        try:
            return self._entries[model_id]
        except KeyError:
            raise ModelNotFound(model_id) from None

    def serving(self, task: str) -> list[CatalogEntry]:
        """Entries whose model serves ``task``, in catalog order."""
        return [entry for entry in self if task in entry.spec.tasks]

    def put(self, entry: CatalogEntry) -> None:
        """Add ``entry``, or swap it for the entry of the same id (a config reload)."""
        self._entries[entry.spec.id] = entry

    def remove(self, model_id: str) -> None:
        """Forget ``model_id`` (a config reload removed it); requests for it get 404."""
        self._entries.pop(model_id, None)

    def replace(self, spec: ModelSpec) -> None:
        """Swap the entry of ``spec.id`` for ``spec`` (new load options, say), keeping
        who provided it. Takes effect at the model's next load."""
        self._entries[spec.id] = CatalogEntry(spec, self.get(spec.id).provided_by)


def build_catalog(registry: Registry, settings: Settings, resolver: ModelFilesResolver) -> Catalog:
    """Merge plugin entries, config-file entries and MODEL_DIR discoveries."""
    entries = {
        model_id: CatalogEntry(owned.item, owned.plugin)
        for model_id, owned in registry.catalog.items()
    }
    # A table that is neither a whole entry nor an override of a plugin's may override
    # a file found in MODEL_DIR (``trust_pickled_weights = true`` for a dropped-in file).
    for_discovered = {}
    for model_id, table in settings.models.items():
        if model_id in entries or _REQUIRED <= table.keys():
            entries[model_id] = _config_entry(model_id, table, entries.get(model_id))
        else:
            for_discovered[model_id] = table
    for entry in _discover(registry, settings, resolver, entries):
        table = for_discovered.pop(entry.spec.id, None)
        entries[entry.spec.id] = (
            entry if table is None else _config_entry(entry.spec.id, table, entry)
        )
    for model_id, table in for_discovered.items():
        _config_entry(model_id, table, None)  # raises, naming the missing fields
    return Catalog(entries)


def _config_entry(model_id: str, table: dict, base: CatalogEntry | None) -> CatalogEntry:
    fields = msgspec.structs.asdict(base.spec) if base else {}
    fields.update(table, id=model_id)
    try:
        spec = msgspec.convert(fields, ModelSpec)
    except msgspec.ValidationError as error:
        raise ConfigError(f"config file [models.{model_id}]: {error}") from None
    return CatalogEntry(spec, base.provided_by if base else CONFIG_PROVIDER)


def _discover(
    registry: Registry,
    settings: Settings,
    resolver: ModelFilesResolver,
    entries: dict[str, CatalogEntry],
) -> list[CatalogEntry]:
    """Entries for files in MODEL_DIR that no entry references and a backend claims."""
    if not settings.model_dir.is_dir():
        return []
    referenced = _referenced(resolver, entries)
    found = []
    for path in sorted(settings.model_dir.iterdir()):
        if path.name.startswith(".") or path.resolve() in referenced:
            continue
        if not is_inside(path, settings.model_dir):
            # Not even shown to a backend's discover(), which may read the file.
            logger.warning(
                "MODEL_DIR/%s is a symbolic link to outside MODEL_DIR: not listing it; "
                "name its target's absolute path as an entry's source in the config file",
                path.name,
            )
            continue
        for name in sorted(registry.backends):
            task = registry.backends[name].item.discover(path)
            if task is None:
                continue
            model_id = _model_id_for(path)
            if model_id in entries or any(e.spec.id == model_id for e in found):
                logger.warning("%s: model id '%s' is taken; not listing this file", path, model_id)
                break
            found.append(
                CatalogEntry(
                    ModelSpec(
                        id=model_id,
                        backend=name,
                        tasks=[task],
                        source=path.name,
                        description=f"found in MODEL_DIR: {path.name}",
                    ),
                    MODEL_DIR_PROVIDER,
                )
            )
            break
    return found


def _referenced(resolver: ModelFilesResolver, entries: dict[str, CatalogEntry]) -> set[Path]:
    """Where the entries' references point; a reference that cannot be located (a
    refused path, a malformed ``hf:``) points nowhere here: its model's status says why."""
    paths = set()
    for entry in entries.values():
        for ref in resolver.references(entry.spec).values():
            try:
                paths.add(resolver.locate(ref).resolve())
            except AltlasError:
                continue
    return paths


def _model_id_for(path: Path) -> str:
    stem = path.name if path.is_dir() else path.name.rsplit(".", 1)[0]
    model_id = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._") or "model"
    return model_id if is_valid_model_id(model_id) else model_id[:128]
