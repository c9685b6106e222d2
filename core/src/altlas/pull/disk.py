"""The disk budget of downloads: ``DOWNLOAD_DISK_LIMIT``, and the free space itself.

Downloaded model files live under ``CACHE_DIR/models`` (``https:`` sources) and
``CACHE_DIR/hf`` (``hf:``). Before a download writes, the budget checks that what is
there already, plus what downloads in progress still have to write, plus this one's
rest, stays under the limit and fits on the disk; otherwise the pull is refused with a
507 that names what holds the space, so the operator knows what to delete.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from altlas_sdk.errors import AltlasError
from altlas_sdk.paths import CACHE_DIR_NAME

#: The folders of CACHE_DIR that downloads write to.
DOWNLOAD_FOLDERS = ("models", "hf")
#: How many holders a 507 names.
_SHOWN = 5


class InsufficientStorage(AltlasError):
    """A download does not fit in ``DOWNLOAD_DISK_LIMIT`` or on the disk; the message
    names what holds the space."""

    status = 507
    type = "insufficient_storage_error"

    def __init__(self, message: str) -> None:
        super().__init__(message, code="disk_budget_exceeded")


def megabytes(count: int) -> str:
    """``count`` bytes in MB for a message."""
    return f"{count / 1024 / 1024:.1f} MB"


class DiskBudget:
    """``limit_bytes`` (``None``: only the disk's free space) for the downloads in
    ``cache_dir``."""

    def __init__(self, cache_dir: Path, limit_bytes: int | None) -> None:
        self.cache_dir = cache_dir
        self.limit_bytes = limit_bytes

    def check(self, target: Path, need: int, pending: int = 0) -> None:
        """Raise :class:`InsufficientStorage` unless ``need`` more bytes for ``target``
        fit, beside ``pending`` bytes other downloads in progress still have to write."""
        free = _free_bytes(self.cache_dir)
        if free is not None and need + pending > free:
            raise InsufficientStorage(
                f"downloading {self._show(target)} needs {megabytes(need)} more, and the "
                f"disk holding {CACHE_DIR_NAME} has {megabytes(free)} free"
                + (
                    f" ({megabytes(pending)} of it promised to downloads in progress)"
                    if pending
                    else ""
                )
            )
        if self.limit_bytes is None:
            return
        holders = self.holders(exclude=target)
        used = sum(size for _, size in holders)
        if used + pending + need <= self.limit_bytes:
            return
        shown = ", ".join(f"{name} {megabytes(size)}" for name, size in holders[:_SHOWN])
        more = f" and {len(holders) - _SHOWN} more" if len(holders) > _SHOWN else ""
        in_progress = f", downloads in progress {megabytes(pending)}" if pending else ""
        raise InsufficientStorage(
            f"downloading {self._show(target)} needs {megabytes(need)} more, over "
            f"DOWNLOAD_DISK_LIMIT ({megabytes(self.limit_bytes)}): downloads hold "
            f"{megabytes(used)} ({shown or 'nothing yet'}{more}{in_progress}); delete "
            "models you no longer need (DELETE /api/delete, or their folders) or raise "
            "DOWNLOAD_DISK_LIMIT"
        )

    def holders(self, exclude: Path | None = None) -> list[tuple[str, int]]:
        """The downloaded folders (one per URL, or per hub repository and revision) and
        the bytes each holds, largest first; ``exclude``'s own part file not counted."""
        sizes: dict[str, int] = {}
        skip = {exclude, exclude.with_name(exclude.name + ".part")} if exclude else set()
        for folder in DOWNLOAD_FOLDERS:
            root = self.cache_dir / folder
            for path in _files(root):
                if path in skip:
                    continue
                key = self._holder(root, path)
                sizes[key] = sizes.get(key, 0) + path.stat().st_size
        return sorted(sizes.items(), key=lambda item: item[1], reverse=True)

    def _holder(self, root: Path, path: Path) -> str:
        parts = path.relative_to(root).parts
        # hf/<org>/<repo>/<revision>/...: the repository at a revision; models/<digest>/<name>.
        depth = 3 if root.name == "hf" else 1
        return f"{CACHE_DIR_NAME}/{root.name}/{'/'.join(parts[: min(depth, len(parts) - 1)])}"

    def _show(self, target: Path) -> str:
        try:
            return f"{CACHE_DIR_NAME}/{target.relative_to(self.cache_dir)}"
        except ValueError:
            return target.name


def _files(root: Path) -> Iterable[Path]:
    if not root.is_dir():
        return ()
    return (path for path in root.rglob("*") if path.is_file())


def _free_bytes(folder: Path) -> int | None:
    """Free bytes on the disk that holds ``folder`` (its nearest existing parent)."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return None
