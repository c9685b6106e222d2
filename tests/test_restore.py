"""Restore after restart: with ``RESTORE_MODELS=true`` the models loaded when
``altlas serve`` stopped are loaded again when it starts (pinned ones first, then most
recently used first, within ``RAM_MEMORY_LIMIT``), recorded in
``CACHE_DIR/loaded-models.json``; across real restarts of the server process."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

DEADLINE_S = 60


def entry(model_id: str) -> str:
    """An echo fixture model that counts 100 MB against the RAM budget."""
    return (
        f'[models.{model_id}]\nbackend = "echo"\ntasks = ["reverse-text"]\n'
        'source = "package:altlas_fixture_echo/weights.txt"\nmemory_mb = 100\n'
    )


def command(port: int) -> list[str]:
    return [str(Path(sys.executable).parent / "altlas"), "serve", "--port", str(port)]


@pytest.fixture
def env(installed_fixture_plugins: Path, base_env: dict[str, str], tmp_path: Path) -> dict:
    config = tmp_path / "altlas.toml"
    config.write_text(entry("alpha") + entry("beta") + entry("gamma") + entry("delta"))
    return {
        **base_env,
        "PYTHONPATH": str(installed_fixture_plugins),
        "ALTLAS_CONFIG": str(config),
        "RAM_MEMORY_LIMIT": "1000",
        "RESTORE_MODELS": "true",
    }


def status(client: httpx.Client, model_id: str) -> dict:
    return client.get(f"/api/models/{model_id}/status").json()


def wait_loaded(client: httpx.Client, model_ids: list[str]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if all(status(client, model_id)["state"] == "loaded" for model_id in model_ids):
            return
        time.sleep(0.1)
    raise AssertionError(f"{model_ids} were not all restored")


def use(client: httpx.Client, model_id: str) -> None:
    answer = client.post("/api/inference/", json={"model_id": model_id, "inputs": {"text": "a"}})
    assert answer.status_code == 200, answer.text


def test_loaded_models_are_restored_after_a_restart(
    env: dict, run_server: Callable, tmp_path: Path
) -> None:
    record = tmp_path / "cache" / "loaded-models.json"
    with run_server(command, env) as server, httpx.Client(base_url=server.base) as client:
        use(client, "alpha")
        use(client, "beta")  # the most recently used
        pinned = client.post("/api/models/gamma/load", json={"pin": True})
        assert pinned.status_code == 200
        assert status(client, "delta")["state"] == "available"  # never loaded
    recorded = json.loads(record.read_text())["models"]
    assert [model["id"] for model in recorded][1:] == ["beta", "alpha"]
    assert {model["id"]: model["pinned"] for model in recorded}["gamma"] is True
    assert {model["ram_bytes"] for model in recorded} == {100 * 1024 * 1024}
    assert sorted(p.name for p in record.parent.iterdir() if "loaded-models" in p.name) == [
        "loaded-models.json"
    ]  # no temporary file left beside it

    with run_server(command, env) as server, httpx.Client(base_url=server.base) as client:
        wait_loaded(client, ["gamma", "beta", "alpha"])
        restored = {m: status(client, m) for m in ("gamma", "beta", "alpha")}
        assert restored["gamma"]["pinned"] is True
        assert not restored["beta"]["pinned"]
        # Pinned first, then the most recently used.
        order = sorted(restored, key=lambda m: restored[m]["loaded_at"])
        assert order == ["gamma", "beta", "alpha"]
        assert status(client, "delta")["state"] == "available"
        use(client, "alpha")
    assert "restored models loaded before the restart: gamma, beta, alpha" in server.output

    # A smaller budget: the pinned model and the most recent one that fits beside it.
    smaller = {**env, "RAM_MEMORY_LIMIT": "250"}
    with run_server(command, smaller) as server, httpx.Client(base_url=server.base) as client:
        wait_loaded(client, ["gamma", "alpha"])
        assert status(client, "beta")["state"] == "available"
    assert "not restoring model beta: over RAM_MEMORY_LIMIT" in server.output


def test_without_restore_models_nothing_is_recorded(
    env: dict, run_server: Callable, tmp_path: Path
) -> None:
    plain = {key: value for key, value in env.items() if key != "RESTORE_MODELS"}
    with run_server(command, plain) as server, httpx.Client(base_url=server.base) as client:
        use(client, "alpha")
        assert status(client, "alpha")["state"] == "loaded"
    assert not (tmp_path / "cache" / "loaded-models.json").exists()
    assert "restored models" not in server.output
