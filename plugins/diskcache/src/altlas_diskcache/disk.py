"""``BytesDisk``: diskcache's serializer, restricted to bytes and string keys.

``diskcache.Disk`` pickles any value (and key) that is not a string, a number or
bytes, and unpickles whatever row says it holds a pickle: a row planted in
``cache.db`` by anyone who can write ``CACHE_DIR`` would run code on the next read.
The response cache stores only the bytes the core encodes with msgspec (JSON) under
string keys, so this disk stores nothing else and reads nothing else: a row in pickle
or text mode, a non-string key, or a value file named outside the cache's folder reads
as a miss (diskcache turns the ``OSError`` raised here into its default, ``None``);
it is never unpickled or followed.
"""

from __future__ import annotations

import re
from typing import Any

import diskcache
from diskcache.core import MODE_BINARY, MODE_RAW, UNKNOWN

#: diskcache's own value file names: two levels of hex folders, then ``<hex>.val``.
_VALUE_FILE = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{28}\.val$")


class RefusedEntry(OSError):
    """A cache row this disk will not read (pickled, or naming a file elsewhere)."""


class BytesDisk(diskcache.Disk):
    """Stores bytes under string keys; never pickles, never unpickles."""

    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) is not str:
            raise TypeError(f"response cache keys are strings, not {type(key).__name__}")
        return super().put(key)

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise RefusedEntry("a pickled key in the response cache: not read")
        return super().get(key, raw)

    def store(self, value: Any, read: bool, key: Any = UNKNOWN) -> tuple[int, int, Any, Any]:
        if type(value) is not bytes:
            raise TypeError(f"response cache values are bytes, not {type(value).__name__}")
        return super().store(value, read, key=key)

    def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
        if mode == MODE_RAW:
            return super().fetch(mode, filename, value, read)
        if mode == MODE_BINARY and filename is not None and _VALUE_FILE.match(filename):
            return super().fetch(mode, filename, value, read)
        raise RefusedEntry(f"a response cache row in mode {mode} ({filename!r}): not read")
