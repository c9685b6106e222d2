"""Runs ``cluster_scenarios.py`` on a real two-node Ray cluster, inside a network and
PID namespace this test makes (``unshare``, as root): there only ``127.0.0.1`` exists,
so the cluster, the API servers and their clients can talk to nothing else (Ray would
otherwise advertise this machine's network address), and when the scenarios' process
ends the kernel ends every process of the namespace with it, the Ray nodes included.

Every scenario must pass: one skipped, failed or missing fails this test.
"""

from __future__ import annotations

import ast
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).with_name("cluster_scenarios.py")
REPO = Path(__file__).resolve().parents[3]
#: The whole run's bound: the scenarios take 40 s to 2.5 min on a busy 2-core machine.
RUN_LIMIT_S = 600


def _scenario_names() -> set[str]:
    tree = ast.parse(SCENARIOS.read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


def _passed(junit: Path) -> set[str]:
    passed = set()
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        if not any(child.tag in ("failure", "error", "skipped") for child in case):
            passed.add(case.get("name", ""))
    return passed


def _server_errors(folder: Path) -> str:
    """The API servers' log lines about errors, and their tracebacks."""
    lines = []
    for log in sorted(folder.glob("*.log")):
        text = log.read_text()
        start = min((text.find(m) for m in ("ERROR", "Traceback") if m in text), default=-1)
        if start >= 0:
            lines.append(f"--- {log.name} ---\n{text[start:][-4000:]}")
    return "\n".join(lines)


def test_every_scenario_passes_on_a_two_node_cluster_in_a_namespace(tmp_path: Path) -> None:
    assert os.geteuid() == 0 and shutil.which("unshare"), (
        "the Ray cluster tests make a network namespace: they run as root, with unshare "
        "(util-linux) and ip (iproute2)"
    )
    junit, report = tmp_path / "junit.xml", tmp_path / "timings.json"
    command = [
        *("unshare", "--net", "--pid", "--fork", "--mount-proc"),
        # bash stays the namespace's first process (the `exit` keeps it from exec'ing
        # pytest): it reaps the processes orphaned to it, which `ray stop` would otherwise
        # wait on as zombies for some twenty seconds.
        *("bash", "-c", 'ip link set lo up && "$@"; exit $?', "bash"),
        *(sys.executable, "-m", "pytest", str(SCENARIOS), "-p", "no:cacheprovider"),
        *("-q", "--durations=0", f"--junitxml={junit}"),
    ]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env={
            **os.environ,
            "ALTLAS_RAY_REPORT": str(report),
            "ALTLAS_RAY_LOGS": str(tmp_path),
            # Ray's token authentication, with a token of this run's own, for every
            # process in the namespace: the nodes, the API servers and the test driver.
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=RUN_LIMIT_S)
    except subprocess.TimeoutExpired:
        # The namespace's first process ends: the kernel ends the rest of it.
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"the cluster scenarios ran past {RUN_LIMIT_S}s:\n{output[-6000:]}")
    assert process.returncode == 0, output[-12000:] + _server_errors(tmp_path)
    assert _passed(junit) == _scenario_names(), output[-6000:]
    timings = json.loads(report.read_text())
    assert set(timings) == {"sigkill_to_503_s", "sigkill_to_next_success_s"}
    assert 0 < timings["sigkill_to_503_s"] < timings["sigkill_to_next_success_s"]
    print(output[-3000:], timings)
