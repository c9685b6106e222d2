"""``altlas serve --workers 2`` and SIGHUP: uvicorn's supervisor replaces the workers one
at a time, each new one starting from the config file as it is then; a file that does
not load stops the new worker before it serves, and the old ones go on serving."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from conftest import altlas_command, free_port

DEADLINE_S = 120


def entry(model_id: str) -> str:
    """A config table for an echo fixture model."""
    return (
        f'[models.{model_id}]\nbackend = "echo"\ntasks = ["reverse-text"]\n'
        'source = "package:altlas_fixture_echo/weights.txt"\n'
    )


def model_ids(base: str) -> set[str]:
    # A new connection each time: any worker may answer.
    answer = httpx.get(f"{base}/api/models", headers={"connection": "close"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return {model["id"] for model in answer.json()["models"]}


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


def every_worker_lists(base: str, model_id: str) -> bool:
    """Twenty answers in a row (from either worker) list ``model_id``."""
    return all(model_id in model_ids(base) for _ in range(20))


@contextmanager
def two_workers(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """``altlas serve --workers 2`` writing its log to ``log`` (read while it runs)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*altlas_command(port), "--workers", "2"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:

            def up() -> bool:
                assert process.poll() is None, log.read_text()
                try:
                    return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(up, "the server answers")
            yield base, process
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    assert process.returncode == 0, log.read_text()


def test_sighup_restarts_the_workers_with_the_file_as_it_is(
    base_env, installed_fixture_plugins, tmp_path: Path
) -> None:
    config = tmp_path / "altlas.toml"
    config.write_text(entry("first"))
    env = {
        **base_env,
        "PYTHONPATH": str(installed_fixture_plugins),
        "ALTLAS_LOAD_PLUGINS": "fixture-echo",
        "ALTLAS_CONFIG": str(config),
    }
    log = tmp_path / "server.log"
    with two_workers(env, log) as (base, process):
        assert "first" in model_ids(base)
        config.write_text(entry("first") + entry("second"))
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: every_worker_lists(base, "second"), "both workers list 'second'")

        # A file that does not load: the new worker stops before it serves, the
        # supervisor keeps the old ones, which go on serving their catalog.
        config.write_text("[models.broken\n")
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: "aborting the restart" in log.read_text(), "the restart is aborted")
        assert "does not start" in log.read_text()
        assert every_worker_lists(base, "second")

        config.write_text(entry("first") + entry("second") + entry("third"))
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: every_worker_lists(base, "third"), "both workers list 'third'")
