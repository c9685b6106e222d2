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


THREAT_ROW = re.compile(r"^\| (?P<threat>[^|]+) \| (?P<defence>[^|]+) \| (?P<tests>[^|]+) \|$")
TEST_REF = re.compile(r"`(?P<path>[\w/.-]+\.py)::(?P<name>\w+)`")


def test_every_threat_model_row_points_at_a_test_that_exists():
    repo = DOCS.parent
    rows = [
        match
        for line in (DOCS / "security.md").read_text().splitlines()
        if (match := THREAT_ROW.match(line)) and not match["threat"].startswith(("Threat", "---"))
    ]
    assert len(rows) >= 20, "docs/security.md lost its threat table"
    for row in rows:
        references = TEST_REF.findall(row["tests"])
        assert references, f"threat '{row['threat'].strip()}' names no test"
        for path, name in references:
            source = repo / path
            assert source.is_file(), f"{path} (threat '{row['threat'].strip()}') does not exist"
            assert re.search(rf"^(async )?def {name}\(", source.read_text(), re.MULTILINE), (
                f"{path} has no test {name} (threat '{row['threat'].strip()}')"
            )
