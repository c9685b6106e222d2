"""How a call's values cross between the API server and a model's actor.

A task's Structs cross as their msgpack encoding (msgspec) with the import path of their
class (the installed module that defines it): a few microseconds, and the bytes of an
image or an audio clip travel as one binary field. Anything msgpack
cannot hold (a numpy array a backend returns) crosses as itself, through Ray's own
serializer, which hands large arrays over through the object store without a copy.

Errors cross as their class and attributes rather than by pickling the exception:
``AltlasError`` subclasses take keyword-only or differently named constructor
arguments that ``Exception.__reduce__`` would lose, and the server must raise the
backend's very error (its status, code and ``param``) for the response to be right.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

import msgspec

_STRUCT = "s"
_VALUE = "v"
_ERROR = "e"

_encoder = msgspec.msgpack.Encoder()


def pack(value: object) -> tuple[Any, ...]:
    """``value`` ready to cross: a Struct as the import path of its class and its
    msgpack bytes, anything else as itself."""
    if isinstance(value, msgspec.Struct):
        path = class_path(type(value))
        if path is not None:
            try:
                return (_STRUCT, path, _encoder.encode(value))
            except (TypeError, ValueError, OverflowError):
                pass  # e.g. a numpy array inside: Ray's serializer takes it as it is
    return (_VALUE, value)


@functools.lru_cache(maxsize=512)
def class_path(cls: type) -> str | None:
    """``module:qualname`` of a class importable by that name, else ``None``. A path
    rather than the class itself: Ray pickles a class by reference on every call, which
    cost a fifth of a millisecond per Struct."""
    path = f"{cls.__module__}:{cls.__qualname__}"
    try:
        return path if resolve(path) is cls else None
    except (ImportError, AttributeError):
        return None


@functools.lru_cache(maxsize=512)
def resolve(path: str) -> type:
    """The class at ``module:qualname``."""
    module, _, qualname = path.partition(":")
    found: Any = importlib.import_module(module)
    for name in qualname.split("."):
        found = getattr(found, name)
    return found


def pack_error(error: BaseException) -> tuple[Any, ...]:
    """An exception ready to cross: its class, arguments and attributes."""
    return (_ERROR, type(error), error.args, dict(vars(error)))


def unpack(packed: tuple[Any, ...]) -> Any:
    """The value :func:`pack` packed; raises the error :func:`pack_error` packed."""
    kind = packed[0]
    if kind == _STRUCT:
        return msgspec.msgpack.decode(packed[2], type=resolve(packed[1]))
    if kind == _ERROR:
        raise rebuild_error(packed)
    return packed[1]


def unpack_result(packed: tuple[Any, ...]) -> Any:
    """Like :func:`unpack`, but an error packed in a batch's slot is returned, not
    raised: one bad input fails only itself."""
    if packed[0] == _ERROR:
        return rebuild_error(packed)
    return unpack(packed)


def rebuild_error(packed: tuple[Any, ...]) -> BaseException:
    """The exception :func:`pack_error` packed, of its own class, without calling its
    constructor (whose signature is the subclass's own)."""
    _, cls, args, state = packed
    error = cls.__new__(cls, *args)
    BaseException.__init__(error, *args)
    error.__dict__.update(state)
    return error
