"""Fixtures for the scenarios on a real Ray cluster (``cluster_scenarios.py``), which
``test_cluster.py`` runs inside a network namespace of their own: a two-node cluster
started with ``ray start``, the API servers joined to it, and a Ray driver in the test
process to look at the actors. Nothing here starts unless a scenario asks for it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
#: The Ray namespace the host uses by default.
NAMESPACE = "altlas"
#: The custom resource that names each node of the test cluster.
NODE_RESOURCES = ("node-a", "node-b")


@dataclass
class Cluster:
    """A running test cluster: the head's address and each node's Ray id by name."""

    address: str
    nodes: dict[str, str]

    def actor(self, model_id: str, replica: int = 0) -> Any:
        """The handle of a model's replica, found by its cluster-wide name."""
        import ray

        return ray.get_actor(f"altlas/{model_id}/{replica}", namespace=NAMESPACE)

    def describe(self, model_id: str, replica: int = 0) -> dict[str, Any]:
        """What the replica says of itself (pid, node, loads, holders, calls)."""
        import ray

        from altlas_ray.actor import CONTROL

        handle = self.actor(model_id, replica)
        return ray.get(handle.describe.options(concurrency_group=CONTROL).remote())


def _ray(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(BIN / "ray"), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"ray {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ray_env(fixture_site: Path) -> dict[str, str]:
    """The environment of the Ray nodes, and so of every actor: the fixture plugins
    importable, the echo fixture's ``abort`` allowed, no usage report."""
    return {
        **os.environ,
        "PYTHONPATH": str(fixture_site),
        "ALTLAS_FIXTURE_ALLOW_ABORT": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
    }


@pytest.fixture(scope="session")
def cluster(installed_fixture_plugins: Path) -> Iterator[Cluster]:
    """Two Ray nodes on this machine, one CPU each, named by a custom resource; the
    test process joins as a driver. ``ray stop --force`` stops them afterwards: inside
    the scenarios' PID namespace it sees only this cluster's processes."""
    import ray

    env = ray_env(installed_fixture_plugins)
    temp = Path(tempfile.mkdtemp(prefix="altlas-ray-"))
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ("--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats")
    try:
        _ray(
            "start",
            "--head",
            f"--port={port}",
            "--include-dashboard=false",
            f"--temp-dir={temp}",
            "--resources",
            json.dumps({"node-a": 1}),
            *common,
            env=env,
        )
        _ray(
            "start",
            f"--address={address}",
            "--resources",
            json.dumps({"node-b": 1}),
            *common,
            env=env,
        )
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
        nodes: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while len(nodes) < len(NODE_RESOURCES):
            assert time.monotonic() < deadline, f"the nodes never joined: {ray.nodes()}"
            nodes = {
                name: node["NodeID"]
                for node in ray.nodes()
                if node["Alive"]
                for name in NODE_RESOURCES
                if name in node["Resources"]
            }
            time.sleep(0.2)
        yield Cluster(address=address, nodes=nodes)
    finally:
        ray.shutdown()
        subprocess.run([str(BIN / "ray"), "stop", "--force"], env=env, capture_output=True)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="session")
def start_server(
    cluster: Cluster,
    installed_fixture_plugins: Path,
    run_server: Callable[..., AbstractContextManager[Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., AbstractContextManager[Any]]:
    """``with start_server(config_text, **settings) as server:`` runs ``altlas serve``
    with ``MODEL_HOST=ray`` joined to the test cluster, serving the echo fixture and
    altlas-onnx; ``server.base`` is its URL."""

    @contextmanager
    def start(config: str, **settings: str) -> Iterator[Any]:
        root = tmp_path_factory.mktemp("server")
        (root / "models").mkdir()
        (root / "altlas.toml").write_text(config)
        env = {
            "MODEL_DIR": str(root / "models"),
            "CACHE_DIR": str(root / "cache"),
            "ALTLAS_CONFIG": str(root / "altlas.toml"),
            "ALTLAS_LOAD_PLUGINS": "fixture-echo,onnx,ray",
            "MODEL_HOST": "ray",
            "RAY_ADDRESS": cluster.address,
            "USE_GPU": "false",
            "PYTHONPATH": str(installed_fixture_plugins),
            **settings,
        }
        command = lambda port: [str(BIN / "altlas"), "serve", "--port", str(port)]  # noqa: E731
        process = None
        try:
            with run_server(command, env, check=False) as process:
                yield process
        finally:
            # What each server logged, for the report of a failed run (test_cluster.py).
            logs = os.environ.get("ALTLAS_RAY_LOGS")
            if logs and process is not None:
                (Path(logs) / f"{root.name}.log").write_text(process.output)

    return start
