"""Pickle-based weights: loading them without letting them run code.

PyTorch's ``.pt``/``.pth``/``.bin``/``.ckpt`` files (and ``.pkl``) are pickles, and
unpickling can call any function the file names. A backend loads them through a
loader that rebuilds tensors and an allow-list of types only
(``torch.load(weights_only=True)``, a library's own safe mode), or, where its library
has none, refuses them (:func:`refuse_untrusted`) unless the operator vouches for the
entry with ``trust_pickled_weights = true``. Either way a refusal is
:class:`PickledWeightsRefused`, a ``409`` that says how to allow the file.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from altlas_sdk.errors import Conflict

if TYPE_CHECKING:
    from altlas_sdk.catalog import ModelSpec

#: How ``torch.load(weights_only=True)`` starts the message of any failure...
_WEIGHTS_ONLY = "Weights only load failed"
#: ...and what its message says when the file names a type or callable outside the
#: allow-list, rather than being corrupt ("Unsupported operand 110").
_OUTSIDE_ALLOW_LIST = (
    "unsupported global",
    "unsupported class",
    "unrecognized function",
    "allowlisted via",
)

#: The first byte of a pickle of protocol 2 or later (PyTorch's legacy format too).
_PICKLE_PROTO = 0x80


class PickledWeightsRefused(Conflict):
    """A pickle-based weights file that cannot be loaded safely, in an entry without
    ``trust_pickled_weights = true``."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="pickled_weights_refused")


def trust_hint(spec: ModelSpec) -> str:
    """How the operator allows ``spec``'s pickled files, for a refusal's message."""
    return (
        "pickled weights can run code when loaded; if you trust these files, set "
        f"trust_pickled_weights = true in [models.{spec.id}] of the config file"
    )


def is_pickle(path: Path) -> bool:
    """Whether the file at ``path`` is pickle-based: a PyTorch zip archive (it holds a
    ``data.pkl``) or a bare pickle stream. Read from its first bytes, not its name."""
    try:
        with path.open("rb") as file:
            head = file.read(4)
    except OSError:
        return False
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                return any(name.endswith(".pkl") for name in archive.namelist())
        except (zipfile.BadZipFile, OSError):
            return False
    return bool(head) and head[0] == _PICKLE_PROTO


def pickled_files(paths: Iterable[Path]) -> list[Path]:
    """The pickle-based files among ``paths``, folders searched recursively."""
    return [path for path in _files(paths) if is_pickle(path)]


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(member for member in path.rglob("*") if member.is_file())
        elif path.is_file():
            yield path


def refuse_untrusted(spec: ModelSpec, paths: Iterable[Path], *, why: str) -> None:
    """Raise :class:`PickledWeightsRefused` when any of ``paths`` is pickle-based and
    ``spec`` does not trust pickled weights. ``why`` says why no safe loader exists
    (``"pyannote.audio unpickles its checkpoints with weights_only=False"``)."""
    if spec.trust_pickled_weights:
        return
    found = pickled_files(paths)
    if found:
        names = ", ".join(f"'{path.name}'" for path in found[:3])
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        raise PickledWeightsRefused(f"refused to load {names}{more}: {why}; {trust_hint(spec)}")


def refused_by_safe_loader(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) is a safe loader refusing a
    pickle that names code: ``torch.load(weights_only=True)`` raises
    ``pickle.UnpicklingError`` for a type or callable outside its allow-list (and,
    with another message, for a corrupt file, which is not a refusal)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:  # a chain can loop
        chain.append(current)
        current = current.__cause__ or current.__context__
    return any(
        isinstance(each, pickle.UnpicklingError) and _names_code(str(each)) for each in chain
    )


def _names_code(message: str) -> bool:
    lowered = message.lower()
    return _WEIGHTS_ONLY in message and any(sign in lowered for sign in _OUTSIDE_ALLOW_LIST)
