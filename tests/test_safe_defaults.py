"""Safe defaults with no keys configured, through a real uvicorn server: the Host check
(DNS rebinding), cross-site requests refused while curl-style ones pass, CORS only for
the origins configured, the audit log of anonymous admin actions, and ``altlas serve``
refusing a non-loopback address without keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from altlas.http.app import create_app
from altlas_sdk.testing.server import serving

ALTLAS = str(Path(sys.executable).parent / "altlas")


@pytest.fixture
def open_server(fixture_plugins, make_runtime) -> Iterator[tuple[httpx.Client, object]]:
    runtime = make_runtime(RESPONSE_CACHE="none")
    with serving(create_app(runtime)) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client, runtime


def state_of(client: httpx.Client, model_id: str) -> str:
    return client.get(f"/api/models/{model_id}/status").json()["state"]


# --- Host ---------------------------------------------------------------------------


def test_a_rebound_host_name_is_refused_and_loopback_names_pass(open_server):
    client, _ = open_server
    port = client.base_url.port
    rebound = client.get("/api/models/", headers={"Host": f"evil.example:{port}"})
    assert rebound.status_code == 400
    assert rebound.json()["error"]["code"] == "host_not_allowed"
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
        assert client.get("/api/models/", headers={"Host": host}).status_code == 200, host
    # An address is never rebound: a client on the network reaching the bind address.
    assert client.get("/api/models/", headers={"Host": "192.168.1.20:8000"}).status_code == 200


def test_allowed_hosts_names_more_hosts_or_all(fixture_plugins, make_runtime):
    for setting, host, status in (
        ("altlas.lan", "altlas.lan:8000", 200),
        ("altlas.lan", "localhost", 400),
        ("*", "evil.example", 200),
    ):
        runtime = make_runtime(ALLOWED_HOSTS=setting)
        with serving(create_app(runtime)) as url:
            response = httpx.get(f"{url}/api/models/", headers={"Host": host})
        assert response.status_code == status, (setting, host)


# --- cross-site requests ------------------------------------------------------------


def test_simple_cross_site_requests_from_a_page_are_refused(open_server):
    client, _ = open_server
    page = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    text = client.post(
        "/api/models/echo-1/load",
        content=b'{"pin": true}',
        headers={**page, "Content-Type": "text/plain"},
    )
    assert text.status_code == 403 and text.json()["error"]["code"] == "cross_origin"
    form = client.post("/api/tasks/reverse-text", data={"inputs": "abc"}, headers=page)
    assert form.status_code == 403
    multipart = client.post("/api/tasks/blob-stats", files={"blob": b"abc"}, headers=page)
    assert multipart.status_code == 403
    # Origin: null (a sandboxed frame, a file:// page) is another origin too.
    null = client.post("/api/models/echo-1/load", headers={"Origin": "null"})
    assert null.status_code == 403
    # A browser that sends no Origin still says where the request came from.
    fetch = client.post("/api/models/echo-1/load", headers={"Sec-Fetch-Site": "cross-site"})
    assert fetch.status_code == 403
    assert state_of(client, "echo-1") != "loaded"
    # Reading is not acting: a cross-site GET is answered (the browser hides the body).
    assert client.get("/api/models/", headers=page).status_code == 200


def test_curl_style_requests_without_browser_headers_pass(open_server):
    client, _ = open_server
    # curl -F blob=@file: multipart, no Origin, no Sec-Fetch-Site.
    upload = client.post("/api/tasks/blob-stats", files={"blob": b"abcd"}, data={"label": "x"})
    assert upload.status_code == 200, upload.text
    assert upload.json()["outputs"]["size"] == 4
    assert client.post("/api/models/echo-1/load").json()["state"] == "loaded"


def test_the_services_own_pages_may_post(open_server):
    client, _ = open_server
    own = {"Origin": str(client.base_url).rstrip("/"), "Sec-Fetch-Site": "same-origin"}
    response = client.post("/api/tasks/blob-stats", files={"blob": b"ab"}, headers=own)
    assert response.status_code == 200, response.text


# --- CORS ---------------------------------------------------------------------------


def test_no_cors_headers_by_default(open_server):
    client, _ = open_server
    response = client.get("/api/models/", headers={"Origin": "http://app.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/api/models/echo-1/load",
        headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_origins_get_preflight_and_headers_and_must_send_json(fixture_plugins, make_runtime):
    runtime = make_runtime(CORS_ORIGINS="http://app.example")
    app_origin = {"Origin": "http://app.example"}
    with serving(create_app(runtime)) as url, httpx.Client(base_url=url, timeout=60) as client:
        preflight = client.options(
            "/api/tasks/reverse-text",
            headers={
                **app_origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://app.example"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        other = client.options(
            "/api/tasks/reverse-text",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert other.status_code == 400
        assert other.json()["error"]["code"] == "cors_preflight_refused"
        assert "access-control-allow-origin" not in other.headers
        ran = client.post("/api/tasks/reverse-text", json={"inputs": "abc"}, headers=app_origin)
        assert ran.status_code == 200
        assert ran.headers["access-control-allow-origin"] == "http://app.example"
        # From an allowed origin, a body a page could send without a preflight: 415.
        form = client.post("/api/tasks/reverse-text", data={"inputs": "abc"}, headers=app_origin)
        assert form.status_code == 415
        assert form.json()["error"]["code"] == "json_required"
        # ... unless it carries a key header (which needs the preflight).
        keyed = client.post(
            "/api/tasks/blob-stats",
            files={"blob": b"ab"},
            headers={**app_origin, "X-API-Key": "anything-while-no-keys-are-set"},
        )
        assert keyed.status_code == 200, keyed.text


# --- the audit log without keys -----------------------------------------------------


def test_anonymous_admin_actions_are_audited_with_the_client_address(open_server, base_env):
    client, _ = open_server
    assert client.post("/api/models/echo-1/load").status_code == 200
    assert client.post("/api/models/nope/unload").status_code == 404
    lines = (Path(base_env["CACHE_DIR"]) / "audit.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [(e["who"], e["action"], e["model"], e["status"]) for e in entries] == [
        ("anonymous@127.0.0.1", "load", "echo-1", 200),
        ("anonymous@127.0.0.1", "unload", "nope", 404),
    ]


# --- altlas serve on a non-loopback address -----------------------------------------


def test_serve_refuses_a_non_loopback_address_without_keys(base_env):
    env = {**os.environ, **base_env}
    env.pop("ALTLAS_API_KEY", None)
    env.pop("AUTH_KEYS_FILE", None)
    result = subprocess.run(
        [ALTLAS, "serve", "--host", "0.0.0.0", "--port", "9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "refusing to serve on 0.0.0.0 without API keys" in result.stderr
    assert "ALTLAS_API_KEY" in result.stderr and "--allow-unauthenticated" in result.stderr


def test_serve_on_all_addresses_with_allow_unauthenticated_or_a_key(run_server, base_env):
    def command(*extra: str):
        return lambda port: [ALTLAS, "serve", "--host", "0.0.0.0", "--port", str(port), *extra]

    with run_server(command("--allow-unauthenticated"), base_env) as server:
        assert httpx.get(f"{server.base}/api/models/").status_code == 200
    assert "without API keys (--allow-unauthenticated)" in server.output
    keyed = {**base_env, "ALTLAS_API_KEY": "a-key-of-enough-length-0123"}
    with run_server(command(), keyed) as server:
        assert httpx.get(f"{server.base}/healthz").status_code == 200
        assert httpx.get(f"{server.base}/api/models/").status_code == 401
        headers = {"Authorization": "Bearer a-key-of-enough-length-0123"}
        assert httpx.get(f"{server.base}/api/models/", headers=headers).status_code == 200
