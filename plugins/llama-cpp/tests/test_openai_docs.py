"""Every typed JSON example of docs/openai.md decodes as the type it names."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import msgspec
import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "openai.md"
EXAMPLE = re.compile(r"<!-- example: (?P<type>[\w.]+) -->\s*```json\n(?P<body>.*?)```", re.DOTALL)


def _examples() -> list[tuple[str, str]]:
    return [(match["type"], match["body"]) for match in EXAMPLE.finditer(DOC.read_text())]


def test_the_doc_has_typed_examples():
    kinds = {kind for kind, _ in _examples()}
    assert "altlas.openai.types.ChatCompletionRequest" in kinds
    assert "altlas.openai.types.ChatCompletion" in kinds
    assert "altlas_sdk.wire.ErrorBody" in kinds


@pytest.mark.parametrize(("kind", "body"), _examples())
def test_example_decodes(kind, body):
    module, _, name = kind.rpartition(".")
    msgspec.json.decode(body.encode(), type=getattr(importlib.import_module(module), name))
