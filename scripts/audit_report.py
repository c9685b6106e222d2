"""Judge a pip-audit JSON report for scripts/audit.

Fails (exit 1) when a package has a known vulnerability with a fixed release, or when a
package could not be audited at all (pip-audit's ``skip_reason``: not found, service
unreachable); prints vulnerabilities that no release fixes yet without failing on them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def judge(report: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """The findings of ``report`` as lines: (fixable, unfixed, not audited)."""
    fixable, unfixed, skipped = [], [], []
    for dependency in report.get("dependencies", []):
        # A skipped dependency has no version field; its skip_reason names it.
        name = " ".join(filter(None, (dependency["name"], dependency.get("version"))))
        if dependency.get("skip_reason"):
            skipped.append(f"{name}: {dependency['skip_reason']}")
            continue
        for vuln in dependency.get("vulns", []):
            fixes = vuln.get("fix_versions") or []
            line = f"{name}: {vuln['id']}"
            if fixes:
                fixable.append(f"{line} (fixed in {', '.join(fixes)})")
            else:
                unfixed.append(f"{line} (no fixed release yet)")
    return fixable, unfixed, skipped


def main(path: str) -> int:
    report_file = Path(path)
    if not report_file.is_file():
        print("pip-audit wrote no report: it failed before auditing", file=sys.stderr)
        return 1
    report = json.loads(report_file.read_text())
    fixable, unfixed, skipped = judge(report)
    audited = len(report.get("dependencies", [])) - len(skipped)
    for title, lines in (
        ("known vulnerabilities with a fixed release (failing)", fixable),
        ("known vulnerabilities without a fixed release", unfixed),
        ("not audited (failing: an audit must see every package)", skipped),
    ):
        if lines:
            print(f"{title}:")
            print("\n".join(f"  {line}" for line in lines))
    print(f"audited {audited} packages")
    return 1 if fixable or skipped else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
