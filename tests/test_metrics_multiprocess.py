"""``altlas serve --workers 2``: one coherent ``/metrics`` whichever worker answers it,
counting the requests both workers served (the Prometheus client's multiprocess mode),
parsed by the Prometheus client's own parser."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from conftest import altlas_command, free_port

# Not /healthz: the fixture polls it until the server is up. The label of /api/tasks is
# the spelling with the slash.
ROUTE = "/api/tasks/"


def _route_count(families: list) -> float:
    """``altlas_requests_total`` of ``GET /api/tasks`` in parsed families."""
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == "altlas_requests_total" and sample.labels["route"] == ROUTE
    )


def _per_worker(folder: Path) -> dict[str, float]:
    """Each worker's own count of ``GET /api/tasks``, from its file in the folder."""
    return {
        path.stem.rsplit("_", 1)[1]: _route_count(list(MultiProcessCollector.merge([path])))
        for path in folder.glob("counter_*.db")
    }


def _scrape(base: str) -> list:
    # A new connection each time: any worker may answer.
    response = httpx.get(f"{base}/metrics", headers={"connection": "close"}, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return list(text_string_to_metric_families(response.text))


def test_two_workers_report_one_coherent_set(run_server, base_env, tmp_path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"left by an earlier run")
    env = {
        **base_env,
        "ALTLAS_LOAD_PLUGINS": "",
        "RAM_MEMORY_LIMIT": "512",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
    }
    command = lambda port: [*altlas_command(port), "--workers", "2"]  # noqa: E731
    with run_server(command, env) as server:
        # Fresh connections until both workers have answered some (the kernel picks the
        # worker of each connection).
        sent = 0
        deadline = time.monotonic() + 60
        while len([n for n in _per_worker(folder).values() if n > 0]) < 2:
            assert time.monotonic() < deadline, _per_worker(folder)
            for _ in range(20):
                answer = httpx.get(f"{server.base}/api/tasks", headers={"connection": "close"})
                assert answer.status_code == 200
                sent += 1
        # A worker counts a request once its answer is sent: the client may read the
        # answer first, so wait for the last counts to be written.
        while sum(_per_worker(folder).values()) < sent:
            assert time.monotonic() < deadline, (_per_worker(folder), sent)
            time.sleep(0.05)
        counts = _per_worker(folder)
        assert "1" not in counts  # the earlier run's file was removed at start

        # Every scrape, whichever worker answers it, counts every request of both.
        for _ in range(6):
            families = _scrape(server.base)
            assert _route_count(families) == sent == sum(counts.values())
            budgets = {
                sample.labels["kind"]: sample.value
                for family in families
                for sample in family.samples
                if sample.name == "altlas_memory_budget_bytes"
            }
            # Gauges are summed over the live workers: two budgets of 512 MB.
            assert budgets["ram"] == 2 * 512 * 2**20
    # Both workers stopped cleanly (server_process checks the exit status), each
    # taking its gauges out of the folder; the counts stay.
    assert not list(folder.glob("gauge_live*.db"))
    assert sum(_per_worker(folder).values()) == sent


def test_workers_must_be_one_or_more(base_env) -> None:
    import os
    import subprocess

    done = subprocess.run(
        [*altlas_command(free_port()), "--workers", "0"],
        env={**os.environ, **base_env, "ALTLAS_LOAD_PLUGINS": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--workers: expected a whole number >= 1, got '0'" in done.stderr
