"""Every row of the error table in docs/api.md, produced by a request and checked for its
status, type, code and the one error body; the request body size limit."""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from altlas.config import ConfigError, Settings
from altlas_sdk.errors import Overloaded, RateLimited

API_DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"
ROW = re.compile(r"^\| `(?P<status>\d{3})` \| `(?P<type>\w+)` \| (?P<code>`\w+`|null|[^|]+?) \|")
ERROR_KEYS = {"type", "message", "param", "code", "request_id"}
MEGABYTE = 1024 * 1024


def error_table() -> list[tuple[int, str, str | None]]:
    """(status, type, code) of each row; ``code`` is None for null, '<id>' for the 500."""
    section = API_DOC.read_text().split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        match = ROW.match(line)
        # A 499 reaches no client (it went away): tests/test_scheduling.py finds it in
        # /metrics after a real disconnect.
        if match and match["status"] != "499":
            code = match["code"]
            code = code.strip("`") if code.startswith("`") else (None if code == "null" else "<id>")
            rows.append((int(match["status"]), match["type"], code))
    return rows


def _rate_limited(request):
    raise RateLimited("slow down: 10 requests a minute", retry_after=7)


def _overloaded(request):
    raise Overloaded("the queue of 'echo-1' is full", retry_after=2)


@pytest.fixture
def client(fixture_plugins, base_env, make_runtime, serve, tmp_path) -> Iterator:
    (Path(base_env["MODEL_DIR"]) / "garbage.onnx").write_bytes(b"this is not an onnx model")
    (Path(base_env["MODEL_DIR"]) / "pickled.echo").write_bytes(pickle.dumps("weights"))
    config = tmp_path / "altlas.toml"
    config.write_text(
        '[models.no-backend]\nbackend = "nope"\ntasks = ["reverse-text"]\n'
        'source = "package:altlas_fixture_echo/weights.txt"\n'
        '[models.escapes]\nbackend = "echo"\ntasks = ["reverse-text"]\n'
        'source = "../outside.echo"\n'
        '[models.pickled]\nbackend = "echo"\ntasks = ["reverse-text"]\n'
        'source = "pickled.echo"\noptions = { no_safe_loader = true }\n'
        '[models.replicated]\nbackend = "echo"\ntasks = ["reverse-text"]\n'
        'source = "package:altlas_fixture_echo/weights.txt"\nreplicas = 2\n'
    )
    # A 1 MB memory budget: the echo models fit, MiniLM does not.
    runtime = make_runtime(
        config_path=config, LOAD_ON_DEMAND="false", MAX_REQUEST_BODY_MB="1", RAM_MEMORY_LIMIT="1"
    )
    with serve(runtime) as client:
        # Plugin routes are where 429 (and, without queue bounds, 503) come from.
        client.app.router.routes.append(Route("/api/plugins/fixture/limited", _rate_limited))
        client.app.router.routes.append(Route("/api/plugins/fixture/busy", _overloaded))
        yield client


def _orchestrated(client, **body) -> httpx.Response:
    body = {"task_type": "reverse-text", "inputs": "x", **body}
    return client.post("/api/inference/orchestrated", json=body)


def _broken_until_open(client) -> httpx.Response:
    assert client.post("/api/models/echo-1/load").status_code == 200
    for _ in range(5):  # BREAKER_FAILURES
        failed = _orchestrated(client, model_id=["echo-1"], inputs="explode")
        assert failed.json()["error"]["code"] == "all_candidates_failed"
    return _orchestrated(client, model_id=["echo-1"], inputs="explode")


#: Keys of the service :func:`_keyed` starts: name -> (key, what it allows).
_KEYS = {
    "reader": ("reader-key-0123456789abcdef", {"scopes": ["inference"]}),
    "echo1": ("echo1-key-0123456789abcdef", {"scopes": ["inference"], "models": ["echo-1"]}),
    "once": ("once-key-0123456789abcdef", {"scopes": ["inference"], "rate_limit": "1/hour"}),
    "busy": ("busy-key-0123456789abcdef", {"scopes": ["inference"], "max_concurrency": 1}),
}


def _keyed(call: Callable, **settings: str) -> httpx.Response:
    """``call(client, headers_of)`` on a service of its own with API keys (and
    ``settings``): the rows that only a service with keys or CORS origins answers."""
    import tempfile

    from altlas.security.keys import KeyEntry, digest, write_keys_file
    from altlas.security.principal import Principal
    from altlas_sdk.testing.service import build_runtime, serve

    def entry(name: str, key: str, allows: dict) -> KeyEntry:
        principal = Principal(
            name=name,
            scopes=frozenset(allows["scopes"]),
            models=tuple(allows["models"]) if "models" in allows else None,
            rate_limit=allows.get("rate_limit"),
            max_concurrency=allows.get("max_concurrency"),
        )
        return KeyEntry(principal, digest(key))

    with tempfile.TemporaryDirectory() as root:
        keys = Path(root) / "keys.toml"
        write_keys_file(keys, {name: entry(name, *value) for name, value in _KEYS.items()})
        environ = {"MODEL_DIR": root, "CACHE_DIR": root, "AUTH_KEYS_FILE": str(keys)}
        runtime = build_runtime({**environ, "ALTLAS_LOAD_PLUGINS": "fixture-echo", **settings})
        with serve(runtime) as client:
            return call(client, lambda name: {"Authorization": f"Bearer {_KEYS[name][0]}"})


def _over_concurrency(client, headers_of) -> httpx.Response:
    from concurrent.futures import ThreadPoolExecutor

    import altlas_fixture_echo as echo

    echo.HELD.clear()
    echo.RELEASE.clear()
    hold = {"model_id": "echo-1", "inputs": "hold"}
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(client.post, "/api/inference/", json=hold, headers=headers_of("busy"))
        try:
            assert echo.HELD.wait(60)
            return client.get("/api/models/", headers=headers_of("busy"))
        finally:
            echo.RELEASE.set()
            held.result()


def _loaded(client, text: str) -> httpx.Response:
    assert client.post("/api/models/echo-1/load").status_code == 200
    return client.post("/api/inference/", json={"model_id": "echo-1", "inputs": text})


TRIGGERS: dict[tuple[int, str | None], Callable] = {
    (400, "invalid_json"): lambda c: c.post(
        "/api/inference/", content=b'{"model_id": ', headers={"content-type": "application/json"}
    ),
    (404, "route_not_found"): lambda c: c.get("/api/nothing-here"),
    (404, "model_not_found"): lambda c: c.post(
        "/api/inference/", json={"model_id": "no-such-model", "inputs": "x"}
    ),
    (404, "task_not_served"): lambda c: c.post("/api/tasks/no-such-task", json={"inputs": "x"}),
    (405, None): lambda c: c.delete("/api/models/echo-1"),
    (409, "weights_missing"): lambda c: c.post("/api/models/llama2-7b-q4/load"),
    (409, "backend_unavailable"): lambda c: c.post("/api/models/no-backend/load"),
    (409, "model_not_loaded"): lambda c: c.post(
        "/api/inference/", json={"model_id": "echo-2", "inputs": "x"}
    ),
    (409, "invalid_model_file"): lambda c: c.post("/api/models/garbage/load"),
    (409, "unsafe_path"): lambda c: c.post("/api/models/escapes/load"),
    (409, "pickled_weights_refused"): lambda c: c.post("/api/models/pickled/load"),
    # The thread host runs one copy of a model in this process.
    (409, "replicas_unsupported"): lambda c: c.post("/api/models/replicated/load"),
    # The echo fixture's "crash" plays a model host whose process died mid-call.
    (503, "model_crashed"): lambda c: _loaded(c, "crash"),
    (413, None): lambda c: c.post(
        "/api/inference/",
        content=b'{"model_id": "echo-1", "inputs": "' + b"a" * MEGABYTE + b'"}',
        headers={"content-type": "application/json"},
    ),
    (415, None): lambda c: c.post(
        "/api/inference/", content=b"hello", headers={"content-type": "text/plain"}
    ),
    (422, None): lambda c: c.post(
        "/api/inference/", json={"model_id": "echo-1", "inputs": "x", "bogus": 1}
    ),
    (422, "missing_model_id"): lambda c: c.post("/api/inference/", json={"inputs": "x"}),
    (422, "task_mismatch"): lambda c: c.post(
        "/api/inference/", json={"model_id": "echo-1", "inputs": "x", "task": "embedding"}
    ),
    (422, "invalid_input"): lambda c: _loaded(c, ""),
    (422, "missing_task"): lambda c: _orchestrated(c, task_type=None),
    # No combiner merges blob-stats outputs (the echo fixture's joins reverse-text).
    (422, "no_combiner"): lambda c: _orchestrated(
        c, task_type="blob-stats", inputs={"blob": "eA=="}, ensemble=True
    ),
    (429, None): lambda c: c.get("/api/plugins/fixture/limited"),
    (400, "host_not_allowed"): lambda c: c.get("/api/models/", headers={"Host": "evil.example"}),
    (403, "cross_origin"): lambda c: c.post(
        "/api/models/echo-1/load", headers={"Origin": "http://evil.example"}
    ),
    (401, "missing_api_key"): lambda c: _keyed(lambda k, _: k.get("/api/models/")),
    (401, "invalid_api_key"): lambda c: _keyed(
        lambda k, _: k.get("/api/models/", headers={"X-API-Key": "not-a-key"})
    ),
    (403, "missing_scope"): lambda c: _keyed(
        lambda k, headers_of: k.post("/api/models/echo-1/load", headers=headers_of("reader"))
    ),
    (403, "model_not_allowed"): lambda c: _keyed(
        lambda k, headers_of: k.post(
            "/api/inference/",
            json={"model_id": "echo-2", "inputs": "x"},
            headers=headers_of("echo1"),
        )
    ),
    (415, "json_required"): lambda c: _keyed(
        lambda k, _: k.post(
            "/api/tasks/reverse-text",
            data={"inputs": "x"},
            headers={"Origin": "http://app.example"},
        ),
        CORS_ORIGINS="http://app.example",
    ),
    (429, "rate_limit"): lambda c: _keyed(
        lambda k, headers_of: [k.get("/api/models/", headers=headers_of("once")) for _ in "ab"][1]
    ),
    (429, "concurrency_limit"): lambda c: _keyed(_over_concurrency),
    (400, "cors_preflight_refused"): lambda c: _keyed(
        lambda k, _: k.options(
            "/api/models/",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
        ),
        CORS_ORIGINS="http://app.example",
    ),
    (503, None): lambda c: c.get("/api/plugins/fixture/busy"),
    (500, "<id>"): lambda c: _loaded(c, "explode"),
    (503, "all_candidates_failed"): lambda c: (
        c.post("/api/models/echo-1/load"),
        _orchestrated(c, model_id=["echo-1"], inputs="explode"),
    )[1],
    (503, "circuit_open"): _broken_until_open,
    (507, "insufficient_memory"): lambda c: c.post("/api/models/all-minilm-l6-v2/load"),
}


def test_the_error_table_is_read_and_every_row_has_a_trigger():
    rows = error_table()
    assert len(rows) >= 18
    missing = [(status, code) for status, _, code in rows if (status, code) not in TRIGGERS]
    assert not missing, f"rows of docs/api.md's error table with no request here: {missing}"


@pytest.mark.parametrize(("status", "type_", "code"), error_table())
def test_each_documented_error_is_produced(client, status, type_, code):
    response = TRIGGERS[(status, code)](client)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS
    error = body["error"]
    assert error["type"] == type_
    assert error["request_id"] == response.headers["x-request-id"]
    if code == "<id>":
        assert re.fullmatch(r"[0-9a-f]{12}", error["code"]) and error["code"] in error["message"]
    else:
        assert error["code"] == code
    if status in {429, 503}:
        assert int(response.headers["retry-after"]) >= 1
    if status == 405:
        assert "GET" in response.headers["allow"]
    if status == 415:
        assert error["param"] == "Content-Type"


def test_a_body_over_the_limit_is_refused_even_without_content_length(client):
    def chunks() -> Iterator[bytes]:
        yield b'{"model_id": "echo-1", "inputs": "'
        for _ in range(5):
            yield b"a" * (MEGABYTE // 4)
        yield b'"}'

    response = client.post(
        "/api/inference/", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "MAX_REQUEST_BODY_MB" in response.json()["error"]["message"]


def test_a_body_under_the_limit_is_served(client):
    text = "a" * (MEGABYTE - 100)
    response = _loaded(client, text)
    assert response.status_code == 200 and len(response.json()["outputs"]["text"]) == len(text)


def test_the_limit_applies_to_batch_calls(client):
    requests = [{"model_id": "echo-1", "inputs": "a" * 300_000} for _ in range(4)]
    response = client.post("/api/inference/batch", json={"requests": requests})
    assert response.status_code == 413


@pytest.mark.parametrize("value", ["0", "-1", "lots", "1.5", ""])
def test_max_request_body_mb_must_be_a_positive_whole_number(value):
    with pytest.raises(ConfigError, match="MAX_REQUEST_BODY_MB"):
        Settings.load(environ={"MAX_REQUEST_BODY_MB": value})


def test_max_request_body_mb_defaults_to_100_and_reads_the_config_file(tmp_path):
    assert Settings.load(environ={}).max_request_body_mb == 100
    config = tmp_path / "altlas.toml"
    config.write_text("max_request_body_mb = 8\n")
    assert Settings.load(environ={}, config_path=config).max_request_body_mb == 8


def test_an_optional_body_is_checked_when_sent(client):
    load = "/api/models/echo-1/load"
    typed = client.post(load, content=b"pin", headers={"content-type": "text/plain"})
    assert typed.status_code == 415 and typed.json()["error"]["param"] == "Content-Type"
    broken = client.post(load, content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"
    assert client.post(load, json={"pin": "yes"}).json()["error"]["param"] == "$.pin"
    assert client.post(load).json()["state"] == "loaded"
