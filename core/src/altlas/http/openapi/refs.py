"""Where component schemas live, and references to them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Where component schemas live; types that reference components by hand use it too.
REF_TEMPLATE = "#/components/schemas/{name}"


def ref(name: str) -> dict[str, str]:
    """A reference to the component schema ``name``."""
    return {"$ref": REF_TEMPLATE.format(name=name)}


def component_name(reference: Mapping[str, Any]) -> str:
    """The component name a ``{"$ref": ...}`` points at."""
    return str(reference["$ref"]).rsplit("/", 1)[1]
