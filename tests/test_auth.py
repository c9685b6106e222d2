"""API keys through a real uvicorn server: 401 without a key, scopes (403), model globs,
per-key rate and concurrency limits (429 with Retry-After), both key headers, the keys
file re-read while the server runs, the audit log, and the official ``openai`` client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from altlas.http.app import create_app
from altlas.security.keys import KeyEntry, digest, read_keys_file, write_keys_file
from altlas.security.principal import Principal
from altlas_sdk.testing.server import serving

#: name -> (key, what the key allows)
KEYS: dict[str, tuple[str, dict]] = {
    "admin": ("admin-key-0123456789abcdef", {"scopes": ["admin"]}),
    "infer": ("infer-key-0123456789abcdef", {"scopes": ["inference"]}),
    "watch": ("watch-key-0123456789abcdef", {"scopes": ["metrics"]}),
    "echo1": ("echo1-key-0123456789abcdef", {"scopes": ["inference"], "models": ["echo-1"]}),
    "echoes": ("echos-key-0123456789abcdef", {"scopes": ["admin"], "models": ["echo-*"]}),
    "slow": ("slow-key-0123456789abcdef", {"scopes": ["inference"], "rate_limit": "2/minute"}),
    "single": ("single-key-0123456789abcde", {"scopes": ["inference"], "max_concurrency": 1}),
}
ENV_KEY = "env-key-0123456789abcdef"


def entry(name: str, key: str, allows: dict) -> KeyEntry:
    principal = Principal(
        name=name,
        scopes=frozenset(allows["scopes"]),
        models=tuple(allows["models"]) if "models" in allows else None,
        rate_limit=allows.get("rate_limit"),
        max_concurrency=allows.get("max_concurrency"),
    )
    return KeyEntry(principal, digest(key))


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.toml"
    write_keys_file(path, {name: entry(name, *value) for name, value in KEYS.items()})
    return path


@pytest.fixture
def server(fixture_plugins, make_runtime, keys_file, base_env) -> Iterator[httpx.Client]:
    runtime = make_runtime(
        AUTH_KEYS_FILE=str(keys_file), ALTLAS_API_KEY=ENV_KEY, RESPONSE_CACHE="none"
    )
    with serving(create_app(runtime)) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def audit_lines(base_env: dict[str, str]) -> list[dict]:
    path = Path(base_env["CACHE_DIR"]) / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()]


def error_of(response: httpx.Response) -> dict:
    return response.json()["error"]


# --- authentication -----------------------------------------------------------------


def test_no_key_or_an_unknown_key_is_a_401_with_www_authenticate(server):
    for headers in ({}, {"Authorization": "Bearer not-a-key-at-all"}, {"X-API-Key": "nope"}):
        response = server.get("/api/models/", headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert error_of(response)["type"] == "authentication_error"
    # The key never comes back in a body.
    assert "not-a-key-at-all" not in server.get("/api/models/", headers=headers).text


def test_health_probes_docs_and_openapi_stay_open(server):
    # "/" is the probe Ollama's clients send ("Ollama is running").
    for path in ("/", "/healthz", "/readyz", "/openapi.json", "/docs"):
        assert server.get(path).status_code == 200, path
    # The root alone: a path that starts with "//" is not under it.
    assert server.get("//api/models/").status_code == 401


def test_bearer_x_api_key_and_the_environment_key_are_accepted(server):
    assert server.get("/api/models/", headers=bearer("infer")).status_code == 200
    assert server.get("/api/models/", headers={"X-API-Key": KEYS["infer"][0]}).status_code == 200
    # ALTLAS_API_KEY holds every scope.
    env = {"Authorization": f"Bearer {ENV_KEY}"}
    assert server.get("/metrics", headers=env).status_code == 200
    assert server.post("/api/models/echo-1/load", headers=env).status_code == 200


def test_a_plugin_route_needs_the_inference_scope(server):
    route = "/api/plugins/fixture-echo/ping"
    assert server.get(route).status_code == 401
    assert server.get(route, headers=bearer("watch")).status_code == 403
    assert server.get(route, headers=bearer("infer")).json() == {"pong": True}


# --- scopes -------------------------------------------------------------------------


def test_each_scope_opens_its_routes_only(server):
    load = "/api/models/echo-1/load"
    refused = server.post(load, headers=bearer("infer"))
    assert refused.status_code == 403
    assert error_of(refused)["type"] == "permission_error"
    assert error_of(refused)["code"] == "missing_scope"
    assert server.get("/api/models/echo-1/status").json()["error"]["type"] == (
        "authentication_error"
    )
    assert server.post(load, headers=bearer("admin")).json()["state"] == "loaded"
    # admin implies inference.
    run = {"model_id": "echo-1", "inputs": "abc"}
    assert server.post("/api/inference/", json=run, headers=bearer("admin")).status_code == 200
    # metrics: /metrics and the resources, nothing else.
    assert server.get("/metrics", headers=bearer("watch")).status_code == 200
    assert server.get("/api/system/resources", headers=bearer("watch")).status_code == 200
    assert server.get("/api/models/", headers=bearer("watch")).status_code == 403
    assert server.get("/metrics", headers=bearer("infer")).status_code == 403


# --- model globs --------------------------------------------------------------------


def test_a_key_with_model_globs_sees_and_runs_only_those_models(server):
    headers = bearer("echo1")
    listed = {m["id"] for m in server.get("/api/models/", headers=headers).json()["models"]}
    assert listed == {"echo-1"}
    run = server.post(
        "/api/inference/", json={"model_id": "echo-2", "inputs": "abc"}, headers=headers
    )
    assert run.status_code == 403 and error_of(run)["code"] == "model_not_allowed"
    task = server.post(
        "/api/tasks/reverse-text", json={"model_id": "echo-1", "inputs": "abc"}, headers=headers
    )
    assert task.json()["outputs"] == {"text": "cba"}
    assert server.get("/api/models/echo-2", headers=headers).status_code == 403
    # The admin key limited to echo-* may load echo-2 but not blob-1.
    assert server.post("/api/models/echo-2/load", headers=bearer("echoes")).status_code == 200
    assert server.post("/api/models/blob-1/load", headers=bearer("echoes")).status_code == 403


def test_orchestration_drops_the_models_a_key_may_not_use(server):
    body = {"task_type": "reverse-text", "inputs": "abc", "model_id": ["echo-2", "echo-1"]}
    answer = server.post("/api/inference/orchestrated", json=body, headers=bearer("echo1"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_id"] == "echo-1"
    excluded = answer.json()["orchestration"]["excluded"]
    assert [e["model_id"] for e in excluded] == ["echo-2"]
    only_forbidden = {"task_type": "reverse-text", "inputs": "abc", "model_id": ["echo-2"]}
    refused = server.post(
        "/api/inference/orchestrated", json=only_forbidden, headers=bearer("echo1")
    )
    assert refused.status_code == 403 and error_of(refused)["type"] == "permission_error"


def test_the_openai_client_with_and_without_a_key(server):
    base = f"{server.base_url}/v1"
    anonymous = openai.OpenAI(base_url=base, api_key="sk-not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        anonymous.models.list()
    limited = openai.OpenAI(base_url=base, api_key=KEYS["echo1"][0], max_retries=0)
    assert [model.id for model in limited.models.list()] == ["echo-1"]
    with pytest.raises(openai.PermissionDeniedError):
        limited.models.retrieve("echo-2")
    full = openai.OpenAI(base_url=base, api_key=KEYS["infer"][0], max_retries=0)
    assert {"echo-1", "echo-2", "blob-1"} <= {model.id for model in full.models.list()}


# --- quotas -------------------------------------------------------------------------


def test_over_its_rate_a_key_gets_429_with_retry_after(server):
    run = {"model_id": "echo-1", "inputs": "abc"}
    for _ in range(2):
        assert server.post("/api/inference/", json=run, headers=bearer("slow")).status_code == 200
    over = server.post("/api/inference/", json=run, headers=bearer("slow"))
    assert over.status_code == 429
    assert error_of(over)["type"] == "rate_limit_error"
    assert 1 <= int(over.headers["retry-after"]) <= 60
    # Another key is not affected.
    assert server.post("/api/inference/", json=run, headers=bearer("infer")).status_code == 200
    # The openai client sees the same 429 as a RateLimitError.
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=KEYS["slow"][0], max_retries=0)
    with pytest.raises(openai.RateLimitError):
        client.models.list()


def test_over_its_concurrency_a_key_gets_429_until_its_request_ends(server):
    import altlas_fixture_echo as echo

    echo.HELD.clear()
    echo.RELEASE.clear()
    run = {"model_id": "echo-1", "inputs": "hold"}
    with ThreadPoolExecutor(1) as pool:
        holding = pool.submit(server.post, "/api/inference/", json=run, headers=bearer("single"))
        try:
            assert echo.HELD.wait(60)
            second = server.post(
                "/api/inference/",
                json={"model_id": "echo-1", "inputs": "x"},
                headers=bearer("single"),
            )
            assert second.status_code == 429
            assert error_of(second)["code"] == "concurrency_limit"
            assert int(second.headers["retry-after"]) >= 1
        finally:
            echo.RELEASE.set()
        assert holding.result().status_code == 200
    after = server.post(
        "/api/inference/", json={"model_id": "echo-1", "inputs": "x"}, headers=bearer("single")
    )
    assert after.status_code == 200


# --- the keys file changes under a running server -----------------------------------


def test_a_key_added_or_revoked_in_the_file_takes_effect_without_a_restart(server, keys_file):
    late = "late-key-0123456789abcdef"
    headers = {"Authorization": f"Bearer {late}"}
    assert server.get("/api/models/", headers=headers).status_code == 401
    entries = read_keys_file(keys_file)
    write_keys_file(keys_file, {**entries, "late": entry("late", late, {"scopes": ["inference"]})})
    assert server.get("/api/models/", headers=headers).status_code == 200
    write_keys_file(keys_file, entries)
    assert server.get("/api/models/", headers=headers).status_code == 401
    # A file that stops parsing refuses its keys until it is fixed (fail closed).
    keys_file.write_text("this is not toml [")
    assert server.get("/api/models/", headers=bearer("infer")).status_code == 401
    write_keys_file(keys_file, entries)
    assert server.get("/api/models/", headers=bearer("infer")).status_code == 200


# --- the audit log ------------------------------------------------------------------


def test_admin_actions_and_refusals_are_in_the_audit_log(server, base_env):
    assert server.post("/api/models/echo-1/load", headers=bearer("admin")).status_code == 200
    pin = server.post("/api/models/echo-2/load", json={"pin": True}, headers=bearer("admin"))
    assert pin.status_code == 200
    assert server.post("/api/models/echo-1/unload", headers=bearer("admin")).status_code == 200
    assert server.post("/api/models/echo-1/load", headers=bearer("infer")).status_code == 403
    assert server.post("/api/models/echo-1/load").status_code == 401
    # Inference is not an admin action.
    server.post(
        "/api/inference/", json={"model_id": "echo-2", "inputs": "a"}, headers=bearer("infer")
    )
    lines = audit_lines(base_env)
    summary = [(e["who"], e["action"], e["model"], e["status"], e["outcome"]) for e in lines]
    assert summary == [
        ("admin", "load", "echo-1", 200, "ok"),
        ("admin", "pin", "echo-2", 200, "ok"),
        ("admin", "unload", "echo-1", 200, "ok"),
        ("infer", "load", "echo-1", 403, "refused"),
        ("unauthenticated@127.0.0.1", "load", "echo-1", 401, "refused"),
    ]
    assert all(e["time"].endswith("+00:00") and e["request_id"] for e in lines)
    # Names only: no key, no hash.
    text = (Path(base_env["CACHE_DIR"]) / "audit.log").read_text()
    assert all(key not in text for key, _ in KEYS.values())


def test_requests_of_one_key_run_in_parallel_up_to_its_limit(server):
    # Without max_concurrency, two requests of one key overlap (the echo rendezvous needs
    # both at once), so the concurrency count is per key and released on completion.
    import altlas_fixture_echo as echo

    echo.RENDEZVOUS.reset()
    body = {"model_id": "echo-1", "inputs": "rendezvous"}
    barrier_body = {"model_id": "echo-2", "inputs": "rendezvous"}
    results: list[int] = []

    def post(payload: dict) -> None:
        results.append(
            server.post("/api/inference/", json=payload, headers=bearer("infer")).status_code
        )

    threads = [threading.Thread(target=post, args=(p,)) for p in (body, barrier_body)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert results == [200, 200]


def test_metrics_count_requests_by_key_name_never_by_key(server):
    assert server.get("/api/models/", headers=bearer("infer")).status_code == 200
    assert server.get("/api/models/").status_code == 401
    assert server.get("/api/models/", headers=bearer("watch")).status_code == 403
    text = server.get("/metrics", headers=bearer("watch")).text
    assert 'altlas_api_key_requests_total{key="infer",status="200"} 1' in text
    assert 'altlas_api_key_requests_total{key="unauthenticated",status="401"} 1' in text
    assert 'altlas_api_key_requests_total{key="watch",status="403"} 1' in text
    assert all(key not in text for key, _ in KEYS.values())


def test_the_key_can_come_from_a_secret_file(fixture_plugins, make_runtime, tmp_path):
    secret = tmp_path / "altlas_api_key"
    secret.write_text("secret-file-key-0123456789\n")
    runtime = make_runtime(ALTLAS_API_KEY_FILE=str(secret))
    with serving(create_app(runtime)) as url:
        assert httpx.get(f"{url}/api/models/").status_code == 401
        headers = {"Authorization": "Bearer secret-file-key-0123456789"}
        assert httpx.get(f"{url}/api/models/", headers=headers).status_code == 200
