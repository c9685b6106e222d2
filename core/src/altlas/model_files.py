"""From a catalog entry's file references to local paths, through the model sources.

A reference is ``scheme:rest`` where ``scheme`` is a registered source (``package``,
``https``, ``hf``...), or else a plain path (the ``file`` source: relative paths are
under MODEL_DIR).

Every path is checked against its source's roots (MODEL_DIR and CACHE_DIR, symbolic
links resolved) before anything is read, fetched or written: a reference that leaves
them is refused with :class:`~altlas_sdk.paths.UnsafePath`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import msgspec

from altlas.pull.disk import DiskBudget
from altlas.pull.downloads import Downloads, Transfer
from altlas_sdk import ModelFiles, ModelSource, ModelSpec, SourceContext
from altlas_sdk.errors import AltlasError, WeightsMissing
from altlas_sdk.paths import CACHE_DIR_NAME, MODEL_DIR_NAME, UnsafePath, check_inside

FILE_SCHEME = "file"


class ModelFilesResolver:
    """Resolves every file reference of a catalog entry; files of downloading sources
    are downloaded through :attr:`downloads` (shared, resumed, verified, budgeted)."""

    def __init__(
        self,
        sources: Mapping[str, ModelSource],
        context: SourceContext,
        downloads: Downloads | None = None,
    ) -> None:
        self.sources = sources
        self.context = context
        self.downloads = downloads or Downloads(DiskBudget(context.cache_dir, None))

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

    def check(self, ref: str, path: Path | None = None) -> Path:
        """``ref``'s local path (``path`` when given: what a fetch returned) once it is
        known to stay inside its source's roots; raises :class:`UnsafePath`."""
        source, rest = self.split(ref)
        if path is None:
            path = source.locate(rest, self.context)
        roots = source.roots(rest, self.context)
        if roots is None:
            return path
        shown = " or ".join(self._root_name(root) for root in roots)
        return check_inside(path, roots, what=f"'{ref}'", shown=shown)

    def refused(self, spec: ModelSpec) -> str | None:
        """Why ``spec``'s files may not be used (a path that leaves MODEL_DIR or
        CACHE_DIR), or ``None``."""
        for ref in self.references(spec).values():
            try:
                self.check(ref)
            except UnsafePath as error:
                return error.message
            except AltlasError:
                continue  # a malformed reference: missing() says how to write it
        return None

    def refuse_unsafe(self, spec: ModelSpec) -> None:
        """Raise :class:`UnsafePath` (409 ``unsafe_path``) when :meth:`refused` says why."""
        reason = self.refused(spec)
        if reason is not None:
            raise UnsafePath(f"model '{spec.id}' cannot load: {reason}")

    def missing(self, spec: ModelSpec) -> str | None:
        """What the operator must provide before ``spec`` can load, or ``None``."""
        problems = []
        for ref in self.references(spec).values():
            source, rest = self.split(ref)
            try:
                if not source.is_available(rest, self.context):
                    problems.append(source.missing_message(rest, self.context))
            except AltlasError as error:  # a malformed reference: its message says how
                problems.append(error.message)
        return "; ".join(problems) if problems else None

    def version(self, spec: ModelSpec) -> str | None:
        """The fingerprint of ``spec``'s files where they are on local disk now, without
        fetching or loading anything; ``None`` while any is still to be fetched (or is
        refused). Equal to the :attr:`ModelFiles.fingerprint` a load of the same files
        gets, so a response cache keyed on it answers before (and without) a load."""
        try:
            paths = [self.check(ref) for ref in self.references(spec).values()]
        except AltlasError:
            return None
        if not all(path.exists() for path in paths):
            return None
        return fingerprint(paths, _load_fields(spec))

    def fetch(self, spec: ModelSpec) -> ModelFiles:
        """Make every file of ``spec`` local and return them; raises ``WeightsMissing``,
        or ``UnsafePath`` for a reference that leaves its roots, before any download and
        again on what the download left."""
        paths: dict[str, Path] = {}
        for role, ref in self.references(spec).items():
            source, rest = self.split(ref)
            self.check(ref)
            transfer = self.download(ref, spec.sha256.get(role))
            fetched = transfer.result() if transfer else source.fetch(rest, self.context)
            paths[role] = self.check(ref, fetched)
            if not paths[role].exists():
                raise WeightsMissing(source.missing_message(rest, self.context))
        main = paths.pop("source")
        return ModelFiles(
            path=main,
            extra=paths,
            fingerprint=fingerprint([main, *paths.values()], _load_fields(spec)),
        )

    def download(self, ref: str, sha256: str | None = None) -> Transfer | None:
        """The download of ``ref``'s file, started or joined; ``None`` when the file is
        local already or its source does not download. Checks the path first."""
        source, rest = self.split(ref)
        target = self.check(ref)
        remote = source.remote(rest, self.context)
        if remote is None or target.exists():
            return None
        return self.downloads.start(remote, target, sha256)

    def downloading(self, spec: ModelSpec) -> tuple[int, int | None] | None:
        """Bytes done and in all of ``spec``'s files while any is downloading (the
        total ``None`` until every such file's size is known); ``None`` otherwise."""
        if not self.downloads.active():
            return None  # the common case, on every status read
        transfers = []
        for ref in self.references(spec).values():
            try:
                transfer = self.downloads.running(self.locate(ref))
            except AltlasError:
                continue
            if transfer is not None:
                transfers.append(transfer.snapshot())
        if not transfers:
            return None
        totals = [t.total for t in transfers]
        total = None if None in totals else sum(t or 0 for t in totals)
        return sum(t.done for t in transfers), total

    def redact(self, text: str) -> str:
        """``text`` with MODEL_DIR's and CACHE_DIR's locations on disk written as
        ``MODEL_DIR`` and ``CACHE_DIR``: a library's error message about a model file
        (a status detail, a 409) then says which file without saying where the
        service keeps its folders."""
        for root, name in (
            (self.context.model_dir, MODEL_DIR_NAME),
            (self.context.cache_dir, CACHE_DIR_NAME),
        ):
            # Longest spelling first: the resolved one may extend the configured one.
            for spelling in sorted({str(root.resolve()), str(root)}, key=len, reverse=True):
                if spelling not in ("", ".", "/"):
                    text = text.replace(spelling, name)
        return text

    def _root_name(self, root: Path) -> str:
        if root == self.context.model_dir:
            return MODEL_DIR_NAME
        if root == self.context.cache_dir:
            return CACHE_DIR_NAME
        return f"its folder '{root.name}'"


def _load_fields(spec: ModelSpec) -> bytes:
    """What of a catalog entry, beside its files, changes a loaded model's outputs: a
    config reload that changes them makes a new version (and new cache keys)."""
    return msgspec.json.encode([spec.backend, spec.options])


def fingerprint(paths: list[Path], extra: bytes = b"") -> str:
    """A digest of file names, inodes, sizes, and modification and change times, and of
    ``extra`` (the entry's backend and options): it changes when the weights change,
    without reading gigabytes of them. The mtime alone is not enough: a copy that keeps
    it (``cp -p``, ``rsync -a``, an unpacked archive) can bring new weights of the same
    size; the inode changes when a file is replaced, and the change time (ctime) moves
    on every write and cannot be set back."""
    digest = hashlib.sha256(extra)
    for path in paths:
        members = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for member in members:
            stat = member.stat()
            digest.update(
                f"{member}\0{stat.st_ino}\0{stat.st_size}\0{stat.st_mtime_ns}\0"
                f"{stat.st_ctime_ns}\n".encode()
            )
    return digest.hexdigest()[:16]
