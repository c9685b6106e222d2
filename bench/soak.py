"""Soak and fault runs against a real ``altlas serve``, each bounded in time and count.

    .venv/bin/python bench/soak.py [--scenario all] [--minutes 3] [--json FILE]

Scenarios (each starts its own server on 127.0.0.1 with a fresh MODEL_DIR and CACHE_DIR
in a temporary folder, and always stops it):

- ``mixed``: random requests over six default-catalog models (two embedding models, an
  image classifier, YOLO pose, OCR, SmolLM2 chat) from ``--clients`` clients for
  ``--minutes``, under a ``RAM_MEMORY_LIMIT`` that holds two of them (measured first:
  each model loaded alone, what the server charges it); the server's resident memory
  sampled every second, then again once the idle models are unloaded.
- ``streams``: ``--streams`` streamed chats whose clients hang up after the first event;
  then no slot may still be held and a normal chat must answer.
- ``cache-kill``: distinct cacheable answers written to the ``disk`` response cache, a
  SIGKILL mid-writes, a restart on the same CACHE_DIR, every answer read back against a
  fresh uncached one; SQLite's integrity check of the cache files.
- ``slow-headers``: ``--slow-sockets`` connections that send part of their headers and
  never finish, beside normal requests on fresh connections.
- ``sigterm``: SIGTERM during a long request (a greedy SmolLM2 chat of 1,500 tokens):
  the request must get an answer and the process must exit about when the grace ends.
- ``leave-unload``: a long chat whose client leaves mid-generation, then an unload of the
  model at once (as an eviction or an idle keep-alive does), a few rounds: the server
  must stay up.

Per scenario: requests by status code, unexpected 5xx, requests never answered, server
RSS (baseline, peak, after idle), slots still held afterwards, cached answers found
wrong. ``--echo-plugin DIR`` runs ``streams`` and ``sigterm`` on the echo fixture plugin
installed in DIR (``pip install --target DIR tests/fixture_plugins/altlas-fixture-echo``)
instead of a real model: the harness's own test does.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soak_faults import cache_kill, leave_unload, sigterm
from soak_load import mixed, streams
from soak_report import Tally, table
from soak_server import Options
from soak_sockets import slow_headers

SCENARIOS: dict[str, Callable[[Options], dict[str, Any]]] = {
    "mixed": mixed,
    "streams": streams,
    "cache-kill": cache_kill,
    "slow-headers": slow_headers,
    "sigterm": sigterm,
    "leave-unload": leave_unload,
}


def run(names: list[str], options: Options) -> dict[str, dict[str, Any]]:
    """Run the scenarios one after another; each result carries its wall time."""
    results = {}
    for name in names:
        print(f"soak: {name} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            results[name] = SCENARIOS[name](options)
        except Exception as error:  # noqa: BLE001 - one broken scenario spoils no other
            traceback.print_exc()
            results[name] = {
                "error": f"{type(error).__name__}: {error}",
                "tally": Tally().as_dict(),
            }
        results[name]["wall_s"] = round(time.monotonic() - started, 1)
    return results


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenario",
        default="all",
        help=f"comma-separated: {', '.join(SCENARIOS)}, or all (the default)",
    )
    parser.add_argument("--minutes", type=float, default=3.0, help="mixed load length")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--streams", type=int, default=100, help="streamed chats that leave")
    parser.add_argument("--slow-sockets", type=int, default=1000, help="unfinished headers")
    parser.add_argument("--ram-limit-mb", type=int, help="mixed: RAM_MEMORY_LIMIT (measured)")
    parser.add_argument("--echo-plugin", type=Path, help="folder with the echo fixture plugin")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--keep", type=Path, help="work in this folder and keep it (server logs, caches)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    names = list(SCENARIOS) if args.scenario == "all" else args.scenario.split(",")
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        sys.exit(f"soak.py: no scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    with tempfile.TemporaryDirectory(prefix="altlas-soak-") as folder:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
        options = Options(
            root=args.keep or Path(folder),
            minutes=args.minutes,
            clients=args.clients,
            streams=args.streams,
            slow_sockets=args.slow_sockets,
            echo_dir=args.echo_plugin,
            ram_limit_mb=args.ram_limit_mb,
        )
        results = run(names, options)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True))
    return 1 if any("error" in result for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
