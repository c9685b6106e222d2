"""Keeping the files a catalog entry names inside the operator's folders.

A relative reference (``yolov8n.pt``, ``hf:org/repo/model.onnx``) names a file under
MODEL_DIR or CACHE_DIR. Neither ``..``, an absolute part, nor a symbolic link may take
it elsewhere: :func:`relative_parts` refuses the first two as written (also
percent-encoded, as a hub URL would decode them) and :func:`check_inside` the resolved
path, symbolic links followed, for a folder every file in it too. Both raise
:class:`UnsafePath`, a ``409`` whose message says what to do instead.

:func:`display_path` writes a path as the operator configured it (``MODEL_DIR/x``,
``CACHE_DIR/x``) so that messages and listings never show where the service's folders
are on disk.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from altlas_sdk.errors import Conflict

MODEL_DIR_NAME = "MODEL_DIR"
CACHE_DIR_NAME = "CACHE_DIR"


class UnsafePath(Conflict):
    """A file reference that leaves MODEL_DIR or CACHE_DIR (``..``, an absolute part,
    a symbolic link pointing out): refused, never read, fetched or written."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="unsafe_path")


def relative_parts(ref: str, *, what: str) -> list[str]:
    """The ``/``-separated parts of the relative reference ``ref``; raises
    :class:`UnsafePath` when any part, as written or percent-decoded, is ``..``, ``.``
    or empty, holds a backslash or a NUL, or when ``ref`` is absolute. ``what`` names
    the reference in the message (``"hf:org/repo/x"``)."""
    for text in (ref, urllib.parse.unquote(ref)):
        if text.startswith(("/", "~")) or PurePosixPath(text).is_absolute():
            raise UnsafePath(f"{what}: an absolute path is not allowed here")
        if "\\" in text or "\0" in text:
            raise UnsafePath(f"{what}: backslashes and NUL characters are not allowed")
        parts = text.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise UnsafePath(
                f"{what}: '..', '.' and empty parts are not allowed; name the file by "
                "its path inside the folder or repository"
            )
    return ref.split("/")


def is_inside(path: Path, root: Path) -> bool:
    """Whether ``path``, with every symbolic link resolved, is ``root`` (resolved too)
    or inside it. A path that does not exist yet is resolved as far as it exists."""
    return path.resolve().is_relative_to(root.resolve())


def check_inside(path: Path, roots: Sequence[Path], *, what: str, shown: str) -> Path:
    """``path`` when it, and for a folder every file and link in it, resolves inside
    one of ``roots``; raises :class:`UnsafePath` otherwise. ``what`` names the
    reference and ``shown`` the folders in the message (``"MODEL_DIR"``)."""
    for member in _members(path):
        if not any(is_inside(member, root) for root in roots):
            escaped = "" if member == path else f" (its member '{member.relative_to(path)}')"
            raise UnsafePath(
                f"{what}{escaped} resolves outside {shown}: a symbolic link or '..' may "
                f"not take a model's files out of {shown}; to use a file elsewhere, "
                "name its absolute path as the entry's source in the config file"
            )
    return path


def _members(path: Path) -> Iterable[Path]:
    yield path
    # A link to a folder outside is caught at the link itself; rglob does not follow
    # symbolic links to folders, so nothing outside is ever listed.
    if path.is_dir() and not path.is_symlink():
        yield from path.rglob("*")


def display_path(path: Path, model_dir: Path, cache_dir: Path) -> str:
    """``path`` as ``MODEL_DIR/<rest>`` or ``CACHE_DIR/<rest>`` when it is under one
    of them (as written, before following links), otherwise its name alone."""
    for root, name in ((model_dir, MODEL_DIR_NAME), (cache_dir, CACHE_DIR_NAME)):
        for base in (root, root.resolve()):
            if path.is_relative_to(base):
                rest = path.relative_to(base).as_posix()
                return name if rest == "." else f"{name}/{rest}"
    return f".../{path.name}" if path.is_absolute() else str(path)
