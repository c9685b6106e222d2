"""scripts/audit's judgment of a pip-audit report: a known vulnerability with a fixed
release fails, one without a fix is shown, and a package that could not be audited
fails (an audit that saw nothing must not pass). The reports are pip-audit's JSON
format; the audit itself needs PyPI's per-release API or OSV, so it is not run here."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "scripts" / "audit_report.py"


def run(tmp_path: Path, report: dict) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, check=False
    )


CLEAN = {"name": "msgspec", "version": "0.22.0", "vulns": []}
FIXABLE = {
    "name": "requests",
    "version": "2.25.0",
    "vulns": [{"id": "GHSA-j8r2-6x86-q33q", "fix_versions": ["2.31.0"], "aliases": []}],
}
UNFIXED = {
    "name": "somepkg",
    "version": "1.0",
    "vulns": [{"id": "PYSEC-0000-1", "fix_versions": [], "aliases": []}],
}
SKIPPED = {
    "name": "uvicorn",
    "skip_reason": "Dependency not found on PyPI and could not be audited: uvicorn (0.54.0)",
}


def test_a_vulnerability_with_a_fixed_release_fails(tmp_path):
    result = run(tmp_path, {"dependencies": [CLEAN, FIXABLE], "fixes": []})
    assert result.returncode == 1
    assert "requests 2.25.0: GHSA-j8r2-6x86-q33q (fixed in 2.31.0)" in result.stdout


def test_a_vulnerability_without_a_fix_is_shown_not_failed(tmp_path):
    result = run(tmp_path, {"dependencies": [CLEAN, UNFIXED], "fixes": []})
    assert result.returncode == 0
    assert "somepkg 1.0: PYSEC-0000-1 (no fixed release yet)" in result.stdout
    assert "audited 2 packages" in result.stdout


def test_a_package_not_audited_fails(tmp_path):
    result = run(tmp_path, {"dependencies": [CLEAN, SKIPPED], "fixes": []})
    assert result.returncode == 1
    assert "uvicorn: Dependency not found on PyPI" in result.stdout
    assert "audited 1 packages" in result.stdout


def test_no_report_fails(tmp_path):
    missing = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "absent.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1 and "wrote no report" in missing.stderr


def test_judge_sorts_findings():
    spec = importlib.util.spec_from_file_location("audit_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fixable, unfixed, skipped = module.judge({"dependencies": [CLEAN, FIXABLE, UNFIXED, SKIPPED]})
    assert (len(fixable), len(unfixed), len(skipped)) == (1, 1, 1)
