"""``altlas pull SOURCE_OR_MODEL_ID``: a pull from the command line, a progress bar per
file (tqdm, as ``huggingface_hub`` and pip users know it).

It downloads into this machine's ``CACHE_DIR`` directly, without a running server: a
server started on the same folders finds the files there. A server that pulls the same
file at the same time is waited for (the part file is locked), never interleaved with.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from altlas.pull.service import plan, watch
from altlas_sdk.errors import AltlasError

if TYPE_CHECKING:
    from altlas.runtime import Runtime

#: The exit status of a pull that failed (a missing file, a refused checksum, no room).
PULL_FAILED = 1


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``pull`` to the ``altlas`` command's subcommands."""
    pull = commands.add_parser(
        "pull", help="download a model's files (or a source's file) without loading it"
    )
    pull.add_argument(
        "model",
        metavar="SOURCE_OR_MODEL_ID",
        help="a catalog model id, or a reference such as hf:<org>/<repo>/<file> or https://...",
    )
    pull.add_argument("--quiet", action="store_true", help="no progress bars")


def run(runtime: Runtime, args: argparse.Namespace) -> int:
    """Pull ``args.model``; returns the exit status."""
    from tqdm import tqdm

    try:
        files = plan(runtime.catalog, runtime.resolver, args.model)
        for planned in files:
            transfer = runtime.resolver.download(planned.ref, planned.sha256)
            if transfer is None:
                print(f"{planned.role}: {planned.ref} is already here")
                continue
            name = transfer.target.name
            with tqdm(
                desc=name, unit="B", unit_scale=True, unit_divisor=1024, disable=args.quiet
            ) as bar:
                for seen in watch(transfer):
                    bar.total = seen.total
                    bar.n = seen.done
                    bar.refresh()
            transfer.result()
            print(f"{planned.role}: {planned.ref} downloaded")
    except AltlasError as error:
        print(f"altlas: {runtime.resolver.redact(error.message)}", file=sys.stderr)
        return PULL_FAILED
    print(f"pulled {args.model}")
    return 0
