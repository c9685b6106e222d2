"""Where replicas go: the actor options each replica gets, the refusal of a placement no
node can ever satisfy, and the nodes as the resources route shows them (no cluster
needed: ``ray.nodes()`` rows are plain data)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from altlas_ray.placement import (
    actor_name,
    actor_options,
    check_placeable,
    needs,
    node_info,
    spread,
)
from altlas_sdk import ModelSpec
from altlas_sdk.errors import Conflict

NODE_A = "a" * 56
NODE_B = "b" * 56


def spec(**fields) -> ModelSpec:
    return ModelSpec(id="m", backend="echo", tasks=["reverse-text"], source="x", **fields)


def ray_node(node_id: str, alive: bool = True, **resources: float) -> dict:
    return {
        "NodeID": node_id,
        "Alive": alive,
        "NodeManagerAddress": "127.0.0.1",
        "Resources": {"CPU": 1.0, "memory": 1e9, "object_store_memory": 1e8, **resources},
    }


def test_a_replica_is_a_named_detached_actor_shared_through_its_name():
    options = actor_options(spec(), 0, concurrency=2, namespace="altlas", node=None)
    assert options["name"] == actor_name("m", 0) == "altlas/m/0"
    assert options["namespace"] == "altlas"
    assert options["lifetime"] == "detached" and options["get_if_exists"] is True
    assert options["max_restarts"] == 0 and options["max_concurrency"] == 2
    # No placement: no CPU slot taken, no GPU, no custom resource, Ray chooses the node.
    assert (options["num_cpus"], options["num_gpus"], options["resources"]) == (0, 0, {})
    assert "scheduling_strategy" not in options


def test_placement_becomes_the_actor_resources():
    options = actor_options(
        spec(placement={"CPU": 2, "GPU": 1, "node-a": 0.01, "memory": 1e9}),
        0,
        concurrency=1,
        namespace="altlas",
        node=None,
    )
    assert (options["num_cpus"], options["num_gpus"]) == (2, 1)
    assert options["resources"] == {"node-a": 0.01} and options["memory"] == 1e9


def test_one_replica_goes_to_the_node_the_core_planned_and_replicas_spread():
    pinned = actor_options(spec(), 0, concurrency=1, namespace="altlas", node=NODE_A)
    assert pinned["scheduling_strategy"].node_id == NODE_A
    assert pinned["scheduling_strategy"].soft is False
    assert spread(spec(), [ray_node(NODE_A), ray_node(NODE_B)], NODE_B) == [NODE_B]

    nodes = [ray_node(NODE_A), ray_node(NODE_B), ray_node("c" * 56, alive=False)]
    three = spec(replicas=3)
    assert spread(three, nodes, None) == [NODE_A, NODE_B, NODE_A]
    assert spread(three, nodes, NODE_B) == [NODE_B, NODE_A, NODE_B]
    # Only the nodes with the placement's resources.
    placed = spec(replicas=2, placement={"node-a": 0.01})
    assert spread(placed, [ray_node(NODE_A, **{"node-a": 1}), ray_node(NODE_B)], None) == [
        NODE_A,
        NODE_A,
    ]
    options = actor_options(three, 2, concurrency=1, namespace="altlas", node=NODE_A)
    assert options["name"] == "altlas/m/2" and options["scheduling_strategy"].node_id == NODE_A


def test_a_node_id_key_is_the_cores_to_plan_and_no_ray_resource():
    placed = spec(placement={f"node:{NODE_A}": 1, "node:127.0.0.1": 0.5, "GPU": 0})
    assert needs(placed) == {"node:127.0.0.1": 0.5}


def test_a_placement_no_live_node_has_fails_at_once_naming_every_node():
    nodes = [ray_node(NODE_A, **{"node-a": 1}), ray_node(NODE_B, alive=False, **{"node-c": 1})]
    check_placeable(spec(placement={"node-a": 0.01}), nodes, None)
    with pytest.raises(Conflict) as raised:
        check_placeable(spec(placement={"node-c": 0.01}), nodes, None)
    assert raised.value.code == "placement_unsatisfiable" and raised.value.status == 409
    assert (
        "node-c" in raised.value.message and "aaaaaaaaaaaa: CPU=1, node-a=1" in raised.value.message
    )
    with pytest.raises(Conflict):
        check_placeable(spec(placement={"GPU": 1}), nodes, None)
    # On the node the core planned, only that node counts.
    with pytest.raises(Conflict):
        check_placeable(spec(placement={"node-a": 0.01}), [*nodes, ray_node(NODE_B)], NODE_B)


def test_a_node_as_the_resources_route_shows_it():
    info = node_info(ray_node(NODE_A, GPU=2.0, **{"node-a": 1}), (8_000, 3_000), ["m2", "m1"])
    assert info.node == NODE_A and info.address == "127.0.0.1" and info.alive
    assert (info.ram_total_bytes, info.ram_used_bytes, info.gpus) == (8_000, 3_000, 2)
    assert info.resources == {"CPU": 1.0, "GPU": 2.0, "node-a": 1.0}
    assert info.models == ["m1", "m2"]
    assert node_info(ray_node(NODE_B, alive=False), None, []).ram_total_bytes is None


def test_importing_the_plugin_does_not_import_ray():
    # A server that has the plugin installed but runs MODEL_HOST=thread never pays for Ray.
    code = "import sys, altlas_ray; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
