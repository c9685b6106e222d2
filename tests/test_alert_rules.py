"""The Prometheus alert rules shipped in deploy/prometheus: valid (``promtool check
rules``), and each alert fires on synthetic series in the unit tests (``promtool test
rules``). promtool comes with Debian's ``prometheus`` package; CI (``.ci/run``)
installs it, and these tests fail, never skip, where it is missing."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

RULES_DIR = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
RULES = RULES_DIR / "altlas-rules.yml"
RULE_TESTS = RULES_DIR / "altlas-rules.test.yml"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, (
        "promtool is not installed: it checks the shipped alert rules "
        "(apt-get install prometheus, or a Prometheus release's promtool on PATH)"
    )
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, check=False, cwd=RULES_DIR
    )


def _alert_names() -> list[str]:
    return re.findall(r"^\s*- alert: (\w+)$", RULES.read_text(), re.MULTILINE)


def test_the_rules_are_valid() -> None:
    checked = _promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(_alert_names())} rules found" in checked.stdout


def test_every_alert_fires_in_the_unit_tests() -> None:
    tested = _promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
    # Each alert has a case where it fires and one where it is quiet.
    cases = re.findall(
        r"alertname: (\w+)\n\s+exp_alerts:( \[\])?", RULE_TESTS.read_text(), re.MULTILINE
    )
    firing = {name for name, empty in cases if not empty}
    quiet = {name for name, empty in cases if empty}
    expected = {
        "AltlasServerErrors",
        "AltlasOverloaded",
        "AltlasQueueSaturated",
        "AltlasCircuitOpen",
        "AltlasModelCrashLoop",
        "AltlasModelLoadFailing",
        "AltlasMemoryNearBudget",
        "AltlasLatencyHigh",
    }
    assert set(_alert_names()) == expected
    assert firing == expected
    assert quiet == expected


def test_a_broken_rule_fails_its_unit_test(tmp_path: Path) -> None:
    """The unit tests really evaluate the rules: an alert whose threshold cannot be
    reached fails them."""
    for path in (RULES, RULE_TESTS):
        shutil.copy(path, tmp_path / path.name)
    rules = tmp_path / RULES.name
    rules.write_text(rules.read_text().replace("> 0.05", "> 0.5"))
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed"
    tested = subprocess.run(
        [promtool, "test", "rules", RULE_TESTS.name],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert tested.returncode != 0
    assert "alertname: AltlasServerErrors" in tested.stdout + tested.stderr
