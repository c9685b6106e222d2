"""Read a GGUF file's metadata without llama.cpp, to estimate memory before loading.

Only the header and the key/value section are read (the tensors are not): enough to
know the architecture, layer count, embedding width, context length and chat template.
Standard library only, so the estimate costs no heavy import.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from altlas_sdk.errors import InvalidModelFile

_MAGIC = b"GGUF"
# GGUF value types: (struct format, size) for the fixed-size ones.
_FIXED = {
    0: ("<B", 1),
    1: ("<b", 1),
    2: ("<H", 2),
    3: ("<h", 2),
    4: ("<I", 4),
    5: ("<i", 4),
    6: ("<f", 4),
    7: ("<?", 1),
    10: ("<Q", 8),
    11: ("<q", 8),
    12: ("<d", 8),
}
_STRING = 8
# Numeric arrays up to this length are kept (per-layer head counts); longer ones counted.
_SMALL_ARRAY = 1024
_ARRAY = 9


@dataclass(frozen=True)
class GGUFInfo:
    """What the metadata says about a model, as far as memory and chat are concerned."""

    architecture: str
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    key_length: int
    value_length: int
    context_length: int
    n_vocab: int
    pooling_type: int | None
    chat_template: str | None


def read_gguf_info(path: Path) -> GGUFInfo:
    """Parse ``path``'s metadata; raises ``InvalidModelFile`` for a file that is not GGUF."""
    try:
        with path.open("rb") as stream:
            metadata = _read_metadata(stream)
    except (OSError, struct.error, UnicodeDecodeError, ValueError) as error:
        raise InvalidModelFile(f"'{path}' is not a readable GGUF file: {error}") from None
    arch = str(metadata.get("general.architecture", "llama"))

    def number(key: str, default: int = 0) -> int:
        value = metadata.get(f"{arch}.{key}", default)
        # Some models give per-layer head counts as an array: take the largest.
        return int(max(value) if isinstance(value, list) else value)

    n_embd = number("embedding_length")
    n_head = number("attention.head_count", 1) or 1
    head_dim = n_embd // n_head if n_head else 0
    pooling = metadata.get(f"{arch}.pooling_type")
    template = metadata.get("tokenizer.chat_template")
    return GGUFInfo(
        architecture=arch,
        n_layer=number("block_count"),
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=number("attention.head_count_kv", n_head) or n_head,
        key_length=number("attention.key_length", head_dim) or head_dim,
        value_length=number("attention.value_length", head_dim) or head_dim,
        context_length=number("context_length", 2048),
        n_vocab=int(metadata.get("tokenizer.ggml.tokens", 0)),
        pooling_type=int(pooling) if pooling is not None else None,
        chat_template=template if isinstance(template, str) else None,
    )


def _read_metadata(stream: BinaryIO) -> dict[str, Any]:
    if stream.read(4) != _MAGIC:
        raise ValueError("no GGUF magic number")
    (version,) = struct.unpack("<I", stream.read(4))
    if version < 2:
        raise ValueError(f"GGUF version {version} is too old")
    _n_tensors, n_kv = struct.unpack("<QQ", stream.read(16))
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = _read_string(stream)
        (kind,) = struct.unpack("<I", stream.read(4))
        metadata[key] = _read_value(stream, kind, key)
    return metadata


def _read_string(stream: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", stream.read(8))
    return stream.read(length).decode("utf-8")


def _read_value(stream: BinaryIO, kind: int, key: str) -> Any:
    if kind in _FIXED:
        fmt, size = _FIXED[kind]
        return struct.unpack(fmt, stream.read(size))[0]
    if kind == _STRING:
        return _read_string(stream)
    if kind == _ARRAY:
        item_kind, count = struct.unpack("<IQ", stream.read(12))
        if item_kind in _FIXED and count <= _SMALL_ARRAY:
            fmt, size = _FIXED[item_kind]
            return list(struct.unpack(f"<{count}{fmt[1]}", stream.read(size * count)))
        # The vocabulary, merges and token scores are only counted: skipped, not kept.
        _skip_array(stream, item_kind, count)
        return count
    raise ValueError(f"unknown GGUF value type {kind} for key '{key}'")


def _skip_array(stream: BinaryIO, item_kind: int, count: int) -> None:
    if item_kind in _FIXED:
        stream.seek(_FIXED[item_kind][1] * count, 1)
    elif item_kind == _STRING:
        for _ in range(count):
            (length,) = struct.unpack("<Q", stream.read(8))
            stream.seek(length, 1)
    elif item_kind == _ARRAY:
        for _ in range(count):
            inner, inner_count = struct.unpack("<IQ", stream.read(12))
            _skip_array(stream, inner, inner_count)
    else:
        raise ValueError(f"unknown GGUF array item type {item_kind}")
