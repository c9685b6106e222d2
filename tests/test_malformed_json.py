"""Malformed JSON is a 400 ``invalid_json`` on every JSON route, through a real server:
nesting deeper than the interpreter's recursion limit, invalid UTF-8 inside a string,
and plain syntax errors. None of them is a 500."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

#: Every route that reads a JSON body, with a body whose first string value (where
#: the route has a string field) holds invalid UTF-8.
JSON_ROUTES = {
    "/api/inference/": b'{"model_id": "caf\xc3\xa9 \xff"}',
    "/api/tasks/reverse-text": b'{"model_id": "\xff"}',
    "/api/inference/batch": b'{"requests": [{"model_id": "\xff"}]}',
    "/api/inference/parallel": b'{"model_ids": ["\xff"]}',
    "/api/inference/orchestrated": b'{"task_type": "\xff"}',
    "/api/models/echo-1/load": b'{"\xff": true}',
    "/v1/chat/completions": b'{"model": "\xff"}',
    "/v1/completions": b'{"model": "\xff"}',
    "/v1/embeddings": b'{"model": "\xff"}',
    "/v1/audio/speech": b'{"model": "\xff"}',
}

NEST = b"[" * 100_000 + b"]" * 100_000

#: Bodies nested 100,000 deep inside a field that takes any JSON, per route (the load
#: route and the speech route have no such field: see the test below).
DEEP = {
    "/api/inference/": b'{"inputs": ' + NEST + b"}",
    "/api/tasks/reverse-text": b'{"inputs": ' + NEST + b"}",
    "/api/inference/batch": b'{"requests": [{"inputs": ' + NEST + b"}]}",
    "/api/inference/parallel": b'{"model_ids": ["echo-1"], "inputs": ' + NEST + b"}",
    "/api/inference/orchestrated": b'{"inputs": ' + NEST + b"}",
    "/v1/chat/completions": b'{"function_call": ' + NEST + b"}",
    "/v1/completions": b'{"prompt": [' + NEST + b"]}",
    "/v1/embeddings": b'{"input": [' + NEST + b"]}",
}
BODIES = {"bad-utf8-key": b'{"\xff": 1}', "truncated": b'{"model', "syntax": b"{,}"}


def body_of(route: str, kind: str) -> bytes:
    if kind == "bad-utf8":
        return JSON_ROUTES[route]
    return DEEP[route] if kind == "deep" else BODIES[kind]


CASES = [
    (route, kind)
    for route in JSON_ROUTES
    for kind in ("bad-utf8", "deep", *BODIES)
    if kind != "deep" or route in DEEP
]


def altlas_serve(port: int) -> list[str]:
    return [str(Path(sys.executable).parent / "altlas"), "serve", "--port", str(port)]


@pytest.fixture(scope="module")
def client(
    installed_fixture_plugins: Path,
    tmp_path_factory: pytest.TempPathFactory,
    run_server: Callable[..., AbstractContextManager[Any]],
) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("malformed")
    (root / "models").mkdir()
    env = {
        "MODEL_DIR": str(root / "models"),
        "CACHE_DIR": str(root / "cache"),
        "ALTLAS_DISABLE_PLUGINS": "fixture-clash,fixture-future,fixture-flaky",
        "PYTHONPATH": str(installed_fixture_plugins),
    }
    with run_server(altlas_serve, env) as server:
        with httpx.Client(base_url=server.base, timeout=60) as http:
            yield http


@pytest.mark.parametrize(("route", "kind"), CASES)
def test_malformed_json_is_a_400_in_the_error_body(
    client: httpx.Client, route: str, kind: str
) -> None:
    response = client.post(
        route, content=body_of(route, kind), headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_json"
    assert error["message"].startswith("request body is not valid JSON")


def test_the_message_says_what_is_wrong(client: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    deep = client.post("/api/inference/", content=DEEP["/api/inference/"], headers=headers)
    assert "nested too deeply" in deep.json()["error"]["message"]
    bad = JSON_ROUTES["/api/inference/"]
    utf8 = client.post("/api/inference/", content=bad, headers=headers).json()["error"]
    assert "not valid UTF-8" in utf8["message"]


@pytest.mark.parametrize("route", ["/api/models/echo-1/load", "/v1/audio/speech"])
def test_deep_json_where_no_field_takes_it_is_a_client_error(
    client: httpx.Client, route: str
) -> None:
    """Routes whose every field has a fixed type refuse the first nested value as the
    wrong type, before going deeper: a 4xx in the error body all the same."""
    for body in (NEST, b'{"pin": ' + NEST + b"}", b'{"model": ' + NEST + b"}"):
        response = client.post(route, content=body, headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["error"]["type"] in {"validation_error", "invalid_request_error"}


def test_deep_json_in_a_form_field_stays_a_string_parameter(client: httpx.Client) -> None:
    """A form field that looks like JSON but is nested too deeply is not decoded: the
    task's parameters then refuse the string (422), never a 500."""
    response = client.post(
        "/api/tasks/blob-stats",
        files={"blob": ("b.bin", b"abc")},
        data={"tags": "[" * 100_000 + "]" * 100_000},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["type"] == "validation_error"


def test_the_server_still_answers_after_them(client: httpx.Client) -> None:
    response = client.post("/api/tasks/reverse-text", json={"inputs": {"text": "abc"}})
    assert response.status_code == 200, response.text
    assert response.json()["outputs"]["text"] == "cba"
