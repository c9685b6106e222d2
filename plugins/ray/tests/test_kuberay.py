"""The KubeRay manifest of docs/scaling.md (docs/kuberay/raycluster.yaml) has what the
guide relies on: a ``ray.io/v1`` RayCluster of the pinned Ray version, a head and worker
groups naming themselves by custom resources, the same image and Ray token on every pod,
and an API server that runs ``altlas serve`` with ``MODEL_HOST=ray`` joined to the head."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml

REPO = Path(__file__).resolve().parents[3]
MANIFEST = REPO / "docs" / "kuberay" / "raycluster.yaml"
GUIDE = REPO / "docs" / "scaling.md"


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFEST.read_text())}


def _containers(documents: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    spec = documents["RayCluster"]["spec"]
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    return [c for group in groups for c in group["template"]["spec"]["containers"]]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def test_a_raycluster_of_the_pinned_ray_version(documents):
    cluster = documents["RayCluster"]
    assert cluster["apiVersion"] == "ray.io/v1"
    assert cluster["spec"]["rayVersion"] == ray.__version__
    constraints = (REPO / "constraints.txt").read_text()
    assert f"ray=={ray.__version__}\n" in constraints


def test_each_worker_group_names_itself_by_a_custom_resource(documents):
    spec = documents["RayCluster"]["spec"]
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    names = []
    for group in spec["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        # KubeRay's quoting: a JSON string holding the JSON object `ray start` takes.
        resources = json.loads(json.loads(group["rayStartParams"]["resources"]))
        assert resources and all(amount > 0 for amount in resources.values())
        names.extend(resources)
    # The guide's catalog examples ask for these resources.
    guide = GUIDE.read_text()
    for name in names:
        assert f'"{name}"' in guide, name


def test_every_pod_runs_one_image_with_the_same_ray_token(documents):
    api = documents["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    containers = [*_containers(documents), api]
    assert len({c["image"] for c in containers}) == 1
    for container in containers:
        env = _env(container)
        assert env["RAY_AUTH_MODE"] == "token"
        assert env["RAY_AUTH_TOKEN"] == {
            "secretKeyRef": {"name": "altlas-secrets", "key": "ray-token"}
        }


def test_the_api_server_joins_the_cluster_through_the_head_service(documents):
    cluster_name = documents["RayCluster"]["metadata"]["name"]
    pod = documents["Deployment"]["spec"]["template"]["spec"]
    (api,) = pod["containers"]
    assert api["command"][:2] == ["altlas", "serve"]
    env = _env(api)
    assert env["MODEL_HOST"] == "ray"
    assert env["RAY_ADDRESS"] == f"{cluster_name}-head-svc:6379"
    assert re.fullmatch(r"\d+", env["RAM_MEMORY_LIMIT"])
    # It serves beyond loopback, so it needs an API key (altlas serve refuses otherwise).
    assert "--host" in api["command"] and "ALTLAS_API_KEY" in env
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    service = documents["Service"]
    assert service["spec"]["selector"] == documents["Deployment"]["spec"]["selector"]["matchLabels"]


def test_the_guide_shows_the_manifest_and_the_commands_an_operator_runs():
    guide = GUIDE.read_text()
    assert "docs/kuberay/raycluster.yaml" in guide
    for command in (
        "ray start --head",
        "pip install altlas-ray",
        "MODEL_HOST=ray RAY_ADDRESS=auto altlas serve",
    ):
        assert command in guide, command
