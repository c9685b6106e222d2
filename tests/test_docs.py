"""The documentation covers every hook, and every typed JSON example in docs/api.md
decodes as the type it claims to be."""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path

import msgspec
import pytest

from altlas import hookspecs

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLE = re.compile(r"<!-- example: (?P<type>[\w.]+) -->\s*```json\n(?P<body>.*?)```", re.DOTALL)
JSON_BLOCK = re.compile(r"```json\n(?P<body>.*?)```", re.DOTALL)


def _hookspecs() -> list[str]:
    return [
        name
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, "altlas_spec")
    ]


def test_every_hookspec_has_a_docstring_and_a_section():
    names = _hookspecs()
    assert len(names) >= 10
    text = (DOCS / "plugins.md").read_text()
    for name in names:
        assert getattr(hookspecs, name).__doc__, name
        assert f"### {name}\n" in text, f"docs/plugins.md has no '### {name}' section"


def _examples() -> list[tuple[str, str]]:
    text = (DOCS / "api.md").read_text()
    return [(match["type"], match["body"]) for match in EXAMPLE.finditer(text)]


def test_api_doc_has_typed_examples():
    types = {kind for kind, _ in _examples()}
    for required in ("InferenceRequest", "InferenceResponse", "ErrorBody", "ModelStatus"):
        assert f"altlas_sdk.wire.{required}" in types


@pytest.mark.parametrize(("kind", "body"), _examples())
def test_api_doc_example_decodes(kind, body):
    module, _, name = kind.rpartition(".")
    target = getattr(importlib.import_module(module), name)
    msgspec.json.decode(body.encode(), type=target)


def test_every_json_block_in_the_docs_is_valid_json():
    for path in DOCS.glob("*.md"):
        for match in JSON_BLOCK.finditer(path.read_text()):
            json.loads(match["body"])
