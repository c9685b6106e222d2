"""From a catalog entry's file references to local paths, through the model sources.

A reference is ``scheme:rest`` where ``scheme`` is a registered source (``package``,
``https``, ``hf``...), or else a plain path (the ``file`` source: relative paths are
under MODEL_DIR).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from altlas_sdk import ModelFiles, ModelSource, ModelSpec, SourceContext
from altlas_sdk.errors import WeightsMissing

FILE_SCHEME = "file"


class ModelFilesResolver:
    """Resolves every file reference of a catalog entry."""

    def __init__(self, sources: Mapping[str, ModelSource], context: SourceContext) -> None:
        self.sources = sources
        self.context = context

    def split(self, ref: str) -> tuple[ModelSource, str]:
        """The source that handles ``ref`` and the part of ``ref`` it receives."""
        scheme, sep, rest = ref.partition(":")
        if sep and scheme in self.sources:
            return self.sources[scheme], rest
        return self.sources[FILE_SCHEME], ref

    def references(self, spec: ModelSpec) -> dict[str, str]:
        """The entry's references by role: ``source`` first, then its named ``files``."""
        return {"source": spec.source, **spec.files}

    def locate(self, ref: str) -> Path:
        """Where ``ref`` is (or will be) on local disk, without fetching."""
        source, rest = self.split(ref)
        return source.locate(rest, self.context)

    def missing(self, spec: ModelSpec) -> str | None:
        """What the operator must provide before ``spec`` can load, or ``None``."""
        problems = []
        for ref in self.references(spec).values():
            source, rest = self.split(ref)
            if not source.is_available(rest, self.context):
                problems.append(source.missing_message(rest, self.context))
        return "; ".join(problems) if problems else None

    def version(self, spec: ModelSpec) -> str | None:
        """The fingerprint of ``spec``'s files where they are on local disk now, without
        fetching or loading anything; ``None`` while any is still to be fetched. Equal
        to the :attr:`ModelFiles.fingerprint` a load of the same files gets, so a
        response cache keyed on it answers before (and without) a load."""
        paths = [self.locate(ref) for ref in self.references(spec).values()]
        if not all(path.exists() for path in paths):
            return None
        return fingerprint(paths)

    def fetch(self, spec: ModelSpec) -> ModelFiles:
        """Make every file of ``spec`` local and return them; raises ``WeightsMissing``."""
        paths: dict[str, Path] = {}
        for role, ref in self.references(spec).items():
            source, rest = self.split(ref)
            paths[role] = source.fetch(rest, self.context)
            if not paths[role].exists():
                raise WeightsMissing(source.missing_message(rest, self.context))
        main = paths.pop("source")
        return ModelFiles(path=main, extra=paths, fingerprint=fingerprint([main, *paths.values()]))


def fingerprint(paths: list[Path]) -> str:
    """A digest of file names, inodes, sizes, and modification and change times: it
    changes when the weights change, without reading gigabytes of them. The mtime alone
    is not enough: a copy that keeps it (``cp -p``, ``rsync -a``, an unpacked archive)
    can bring new weights of the same size; the inode changes when a file is replaced,
    and the change time (ctime) moves on every write and cannot be set back."""
    digest = hashlib.sha256()
    for path in paths:
        members = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for member in members:
            stat = member.stat()
            digest.update(
                f"{member}\0{stat.st_ino}\0{stat.st_size}\0{stat.st_mtime_ns}\0"
                f"{stat.st_ctime_ns}\n".encode()
            )
    return digest.hexdigest()[:16]
