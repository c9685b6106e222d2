"""The vendored libraries: each with its licence, each file what the lock file's version
distributed (scripts/build-console.sh copies them and writes versions.json)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from altlas_console import STATIC_DIR

VENDOR = STATIC_DIR / "vendor"
LOCK = Path(__file__).parents[1] / "frontend" / "package-lock.json"


def test_every_vendored_file_is_the_locked_version_with_its_licence_beside_it():
    manifest = json.loads((VENDOR / "versions.json").read_text())
    locked = json.loads(LOCK.read_text())["packages"]
    packages = {entry["package"] for entry in manifest.values()}
    assert packages == {"preact", "htm", "uplot"}
    for package in packages:
        licence = VENDOR / f"LICENSE.{package}"
        # Preact and uPlot are MIT-licensed, htm Apache-2.0.
        assert licence.name in manifest
        assert re.search(r"Permission is hereby granted|Apache License", licence.read_text())
    for name, entry in manifest.items():
        assert entry["version"] == locked[f"node_modules/{entry['package']}"]["version"], name
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert digest == entry["sha256"], f"{name} is not what scripts/build-console.sh copied"
    # Nothing in the folder that the manifest does not account for.
    assert {p.name for p in VENDOR.iterdir()} == {*manifest, "versions.json"}


def test_the_page_loads_nothing_from_elsewhere():
    for path in STATIC_DIR.rglob("*"):
        if path.suffix not in {".html", ".js", ".css"} or path.parent == VENDOR:
            continue
        text = path.read_text()
        # No script, style or fetch from another origin: the console works offline.
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), path
        assert not re.search(r"""(import|fetch\(|from)\s*["'`]https?:""", text), path
