"""Ollama's ``name:tag`` model names and the catalog's model ids.

A request's name resolves, after dropping a ``:latest`` tag and ignoring case, to the
catalog entry whose id it is, or whose ``aliases`` tag lists it (the default catalog
gives SmolLM2 ``smollm2:135m`` and MiniLM ``all-minilm``, Ollama's own names for
them). A model is listed under its first alias, else its id, with ``:latest`` when
the name has no tag, so every listed name resolves back to its model.
"""

from __future__ import annotations

from altlas.catalog import Catalog
from altlas_sdk import ModelSpec
from altlas_sdk.errors import NotFound

#: The catalog tag that lists a model's other names.
ALIASES_TAG = "aliases"
_LATEST = ":latest"


def _plain(name: str) -> str:
    name = name.strip().casefold()
    return name[: -len(_LATEST)] if name.endswith(_LATEST) else name


def aliases_of(spec: ModelSpec) -> list[str]:
    """The ``aliases`` tag of ``spec`` (a list of names; a single string counts too)."""
    value = spec.tags.get(ALIASES_TAG)
    if isinstance(value, str):
        return [value]
    return [str(alias) for alias in value] if isinstance(value, list) else []


def resolve(catalog: Catalog, name: str) -> str:
    """The model id ``name`` stands for; a 404 when no entry answers to it."""
    wanted = _plain(name)
    for entry in catalog:
        if _plain(entry.spec.id) == wanted:
            return entry.spec.id
    for entry in catalog:
        if any(_plain(alias) == wanted for alias in aliases_of(entry.spec)):
            return entry.spec.id
    raise NotFound(f"model '{name}' not found", param="$.model", code="model_not_found")


def listed_name(spec: ModelSpec) -> str:
    """The name ``/api/tags`` and ``/api/ps`` give ``spec``: its first alias, else its
    id, tagged ``:latest`` when it has no tag."""
    aliases = aliases_of(spec)
    name = aliases[0] if aliases else spec.id
    return name if ":" in name else name + _LATEST
