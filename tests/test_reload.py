"""Config reload: ``POST /api/admin/reload`` and ``SIGHUP`` re-read a real config file on
a real server: an added model appears, a removed one leaves once its request in flight
has finished, a changed one is unloaded when idle and loads its new entry on next use,
and an invalid file is refused with the reason while the running config stays."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from altlas_sdk.testing.server import serving
from altlas_sdk.testing.service import asgi_app

DEADLINE_S = 60


def entry(model_id: str, **fields: str) -> str:
    """A config table for an echo fixture model (weights in the fixture package)."""
    lines = [
        f"[models.{model_id}]",
        'backend = "echo"',
        'tasks = ["reverse-text"]',
        'source = "package:altlas_fixture_echo/weights.txt"',
        *(f"{key} = {value}" for key, value in fields.items()),
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def echo(fixture_plugins: Path) -> Iterator[object]:
    import altlas_fixture_echo

    altlas_fixture_echo.HELD.clear()
    altlas_fixture_echo.RELEASE.clear()
    yield altlas_fixture_echo
    altlas_fixture_echo.RELEASE.set()  # never leave a held call waiting


def wait_for(condition: Callable[[], object], what: str) -> object:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def model_ids(client: httpx.Client) -> set[str]:
    return {model["id"] for model in client.get("/api/models").json()["models"]}


def infer(client: httpx.Client, model_id: str, text: str) -> httpx.Response:
    return client.post("/api/inference/", json={"model_id": model_id, "inputs": {"text": text}})


def test_reload_adds_removes_and_changes_models(echo, make_runtime, tmp_path):
    config = tmp_path / "altlas.toml"
    config.write_text(entry("stays") + entry("leaves") + entry("changes", description='"v1"'))
    runtime = make_runtime(config_path=config)
    with serving(asgi_app(runtime)) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert {"stays", "leaves", "changes"} <= model_ids(client)
        assert client.post("/api/models/changes/load").status_code == 200
        first_load = client.get("/api/models/changes/status").json()["loaded_at"]
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(infer, client, "leaves", "hold")
            assert echo.HELD.wait(DEADLINE_S)
            config.write_text(
                entry("stays") + entry("changes", description='"v2"') + entry("arrives")
            )
            answer = client.post("/api/admin/reload")
            assert answer.status_code == 200, answer.text
            assert answer.json() == {
                "added": ["arrives"],
                "removed": ["leaves"],
                "changed": ["changes"],
                "restart_required": [],
            }
            assert "arrives" in model_ids(client)
            assert client.get("/api/models/changes").json()["description"] == "v2"
            # The request in flight on the removed model is still being served.
            status = client.get("/api/models/leaves/status").json()
            assert status["in_flight"] == 1
            echo.RELEASE.set()
            assert held.result().status_code == 200
        wait_for(lambda: "leaves" not in model_ids(client), "the removed model to leave")
        gone = client.get("/api/models/leaves/status")
        assert gone.status_code == 404
        assert infer(client, "leaves", "abc").status_code == 404
        assert not runtime.models.is_loaded("leaves")
        # The changed model was idle: unloaded, and its next use loads the new entry.
        wait_for(
            lambda: client.get("/api/models/changes/status").json()["state"] == "available",
            "the changed model to be unloaded",
        )
        assert infer(client, "changes", "abc").json()["outputs"] == {"text": "cba"}
        second_load = client.get("/api/models/changes/status").json()["loaded_at"]
        assert second_load > first_load
        assert runtime.catalog.get("changes").spec.description == "v2"
        assert infer(client, "arrives", "xyz").json()["outputs"] == {"text": "zyx"}
        assert infer(client, "stays", "ab").status_code == 200


def test_an_invalid_file_is_refused_with_the_reason_and_nothing_changes(
    echo, make_runtime, tmp_path
):
    config = tmp_path / "altlas.toml"
    config.write_text(entry("kept"))
    runtime = make_runtime(config_path=config)
    with serving(asgi_app(runtime)) as url, httpx.Client(base_url=url, timeout=60) as client:
        before = model_ids(client)
        for text, reason in (
            ("[models.broken\n", "is not valid TOML"),
            (entry("kept") + '[models.half]\nbackend = "echo"\n', "[models.half]"),
            ("keep_alive = 'soon'\n" + entry("kept"), "KEEP_ALIVE"),
            (entry("kept") + "keep_alive = 'soon'\n", "[models.kept]"),
            (entry("kept") + '[tasks]\nreverse-text = "nowhere"\n', "no such model"),
        ):
            config.write_text(text)
            answer = client.post("/api/admin/reload")
            assert answer.status_code == 422, text
            error = answer.json()["error"]
            assert error["code"] == "invalid_config"
            assert reason in error["message"]
            assert model_ids(client) == before
        assert infer(client, "kept", "ab").status_code == 200
        # A setting other than the catalog's is reported, not applied.
        config.write_text("keep_alive = 7\n" + entry("kept"))
        answer = client.post("/api/admin/reload").json()
        assert answer["restart_required"] == ["KEEP_ALIVE"]
        assert runtime.settings.keep_alive == 300


def test_reload_without_a_config_file_is_a_409(echo, make_runtime):
    runtime = make_runtime()
    with serving(asgi_app(runtime)) as url:
        answer = httpx.post(f"{url}/api/admin/reload")
        assert answer.status_code == 409
        assert answer.json()["error"]["code"] == "no_config_file"


def test_sighup_reloads_altlas_serve_and_the_audit_log_names_the_reload(
    installed_fixture_plugins, run_server, base_env, tmp_path
):
    config = tmp_path / "altlas.toml"
    config.write_text(entry("first"))
    env = {**base_env, "PYTHONPATH": str(installed_fixture_plugins), "ALTLAS_CONFIG": str(config)}

    def command(port: int) -> list[str]:
        import sys

        return [str(Path(sys.executable).parent / "altlas"), "serve", "--port", str(port)]

    audit_log = tmp_path / "cache" / "audit.log"

    def audit() -> list[dict]:
        lines = audit_log.read_text().splitlines() if audit_log.exists() else []
        return [json.loads(line) for line in lines]

    with run_server(command, env) as server, httpx.Client(base_url=server.base) as client:
        assert "second" not in model_ids(client)
        config.write_text(entry("first") + entry("second"))
        os.kill(server.process.pid, signal.SIGHUP)
        wait_for(lambda: "second" in model_ids(client), "SIGHUP to add the model")
        config.write_text("[models.first\n")  # invalid: refused, the server goes on
        os.kill(server.process.pid, signal.SIGHUP)
        wait_for(lambda: len(audit()) == 2, "the refused SIGHUP reload")
        config.write_text(entry("second"))
        assert client.post("/api/admin/reload").json()["removed"] == ["first"]
        assert infer(client, "second", "ab").status_code == 200
    assert "SIGHUP: config file not reloaded" in server.output
    records = [(r["who"].split("@")[0], r["action"], r["status"]) for r in audit()]
    assert records == [
        ("SIGHUP", "reload", 200),
        ("SIGHUP", "reload", 422),
        ("anonymous", "reload", 200),
    ]
    assert audit()[0]["added"] == ["second"]


def test_pull_and_reload_need_the_admin_scope_and_are_audited(
    echo, make_runtime, tmp_path, base_env
):
    from altlas.security.keys import KeyEntry, digest, write_keys_file
    from altlas.security.principal import Principal

    keys = {"boss": "boss-key-0123456789abcdef", "user": "user-key-0123456789abcdef"}
    scopes = {"boss": "admin", "user": "inference"}
    keys_file = tmp_path / "keys.toml"
    write_keys_file(
        keys_file,
        {
            name: KeyEntry(Principal(name=name, scopes=frozenset({scopes[name]})), digest(key))
            for name, key in keys.items()
        },
    )
    config = tmp_path / "altlas.toml"
    config.write_text(entry("kept"))
    runtime = make_runtime(config_path=config, AUTH_KEYS_FILE=str(keys_file))
    with serving(asgi_app(runtime)) as url, httpx.Client(base_url=url, timeout=60) as client:
        for name, status in (("user", 403), ("boss", 200)):
            headers = {"Authorization": f"Bearer {keys[name]}"}
            reload = client.post("/api/admin/reload", headers=headers)
            assert reload.status_code == status, reload.text
            pull = client.post(
                "/api/models/pull", json={"model": "kept", "stream": False}, headers=headers
            )
            assert pull.status_code == status, pull.text
        assert pull.json() == {"status": "success", "model": "kept", "files": 1}
    lines = (Path(base_env["CACHE_DIR"]) / "audit.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["who"], r["action"], r["model"], r["status"]) for r in records] == [
        ("user", "POST /api/admin/reload", None, 403),
        ("user", "POST /api/models/pull", None, 403),
        ("boss", "reload", None, 200),
        ("boss", "pull", "kept", 200),
    ]


def test_a_reload_that_changes_a_models_options_gives_it_a_new_version(
    echo, make_runtime, tmp_path
):
    config = tmp_path / "altlas.toml"
    config.write_text(entry("tuned", options="{ load_delay_s = 0 }"))
    runtime = make_runtime(config_path=config)
    with serving(asgi_app(runtime)) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert infer(client, "tuned", "abc").json()["from_cache"] is False
        assert infer(client, "tuned", "abc").json()["from_cache"] is True
        before = client.get("/api/models/tuned/status").json()["version"]
        config.write_text(entry("tuned", options="{ load_delay_s = 0.01 }"))
        assert client.post("/api/admin/reload").json()["changed"] == ["tuned"]
        wait_for(
            lambda: client.get("/api/models/tuned/status").json()["state"] == "available",
            "the old entry's model to be unloaded",
        )
        # Answers cached for the old entry are not answers of the new one.
        assert infer(client, "tuned", "abc").json()["from_cache"] is False
        after = client.get("/api/models/tuned/status").json()["version"]
        assert after != before
        assert runtime.catalog.get("tuned").spec.options == {"load_delay_s": 0.01}
