"""What a soak or fault scenario counts, and the table the harness prints.

Every request a scenario sends ends in exactly one of: a response (counted by status
code), a connection refused before anything was sent (a clean error: the client knows at
once, e.g. after a shutdown closed the listening socket), or no answer (its deadline
passed, or the server closed the connection without a response). A 5xx is expected only
as the designed refusal: a ``503`` with the JSON error body (overload, queue timeout, a
request cut off by shutdown); every other 5xx is unexpected.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

#: Examples of unexpected answers kept per scenario (the count is always whole).
KEEP_EXAMPLES = 5


def is_error_body(response: httpx.Response) -> bool:
    """The one JSON error shape: ``{"error": {"type", "message", ...}}``."""
    try:
        body = response.json()
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and "type" in error and "message" in error


@dataclass
class Tally:
    """Outcomes of a scenario's requests."""

    statuses: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    unanswered: Counter[str] = field(default_factory=Counter)
    unexpected_5xx: int = 0
    examples: list[str] = field(default_factory=list)
    #: The first body seen per status other than 200 (what a refusal said).
    first_bodies: dict[str, str] = field(default_factory=dict)

    def response(self, what: str, response: httpx.Response) -> None:
        """Count an answer; ``what`` names the request in examples."""
        self.statuses[str(response.status_code)] += 1
        if response.status_code != 200:
            self.first_bodies.setdefault(str(response.status_code), response.text[:160])
        if response.status_code >= 500 and not (
            response.status_code == 503 and is_error_body(response)
        ):
            self.unexpected_5xx += 1
            self._example(f"{what}: {response.status_code} {response.text[:200]!r}")

    def failure(self, what: str, error: Exception) -> None:
        """Count a request that got no response: refused, or never answered."""
        if isinstance(error, httpx.ConnectError):
            self.refused += 1
            return
        self.unanswered[type(error).__name__] += 1
        self._example(f"{what}: no answer ({type(error).__name__}: {error})")

    def _example(self, line: str) -> None:
        if len(self.examples) < KEEP_EXAMPLES:
            self.examples.append(line)

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + self.refused + sum(self.unanswered.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.total,
            "by_status": dict(sorted(self.statuses.items())),
            "refused": self.refused,
            "unanswered": sum(self.unanswered.values()),
            "unanswered_by_error": dict(self.unanswered),
            "unexpected_5xx": self.unexpected_5xx,
            "examples": self.examples,
            "first_bodies": self.first_bodies,
        }


def rss_summary(samples: list[tuple[float, float]], marks: dict[str, float]) -> dict[str, Any]:
    """Baseline, peak and the named moments of a memory series, in MB."""
    return {
        **marks,
        "peak_mb": max((mb for _, mb in samples), default=None),
        "samples": len(samples),
    }


# --- the table ------------------------------------------------------------------------

#: (heading, how to read it from a scenario's result) for the printed table.
COLUMNS: tuple[tuple[str, Any], ...] = (
    ("requests", lambda r: r["tally"]["requests"]),
    ("by status", lambda r: " ".join(f"{k}:{v}" for k, v in r["tally"]["by_status"].items())),
    ("refused", lambda r: r["tally"]["refused"]),
    ("unanswered", lambda r: r["tally"]["unanswered"]),
    ("unexp. 5xx", lambda r: r["tally"]["unexpected_5xx"]),
    ("leaked", lambda r: r.get("slots", {}).get("leaked", "-")),
    ("cache wrong", lambda r: r.get("cache", {}).get("wrong", "-")),
    ("RSS MB base/warm/peak/idle", lambda r: _rss(r.get("rss"))),
)


def _rss(rss: dict[str, Any] | None) -> str:
    if not rss:
        return "-"
    keys = ("baseline_mb", "warm_no_model_mb", "peak_mb", "after_idle_mb")
    parts = [rss.get(key) for key in keys]
    return "/".join("-" if part is None else f"{part:.0f}" for part in parts)


def table(results: dict[str, dict[str, Any]]) -> str:
    """A Markdown table, one row per scenario, then each scenario's own figures."""
    head = ["scenario", *(name for name, _ in COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name, result in results.items():
        cells = [name, *(str(read(result)) for _, read in COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    for name, result in results.items():
        lines.append(f"\n{name}: {json.dumps(result.get('figures', {}), sort_keys=True)}")
        if "error" in result:
            lines.append(f"  the scenario failed: {result['error']}")
        for example in result["tally"]["examples"]:
            lines.append(f"  e.g. {example}")
    return "\n".join(lines)
