"""The ``disk`` cache never unpickles: a pickle planted in ``cache.db`` (or a row that
names a file outside the cache) reads as a miss, and the server still answers."""

from __future__ import annotations

import asyncio
import os
import pickle
import sqlite3
from pathlib import Path

import pytest

from altlas_diskcache import DiskCache
from altlas_diskcache.disk import BytesDisk
from altlas_sdk import CacheContext

MODEL = "all-minilm-l6-v2"
PLUGINS = {"ALTLAS_LOAD_PLUGINS": "onnx,diskcache", "RESPONSE_CACHE": "disk"}
#: diskcache's row modes (diskcache.core): raw, binary file, text file, pickle.
MODE_RAW, MODE_BINARY, MODE_PICKLE = 1, 2, 4


class Exploit:
    """Unpickling it creates the folder ``marker``: proof that a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def disk_cache(cache_dir: Path) -> DiskCache:
    cache = DiskCache()
    cache.configure(CacheContext(cache_dir=cache_dir, size_limit_mb=64, ttl=3600))
    return cache


def tamper(cache_dir: Path, mode: int, value: bytes | None, filename: str | None) -> int:
    """Rewrite every row of the cache's database as an attacker with write access to
    CACHE_DIR would; returns how many rows were rewritten."""
    with sqlite3.connect(cache_dir / "responses" / "cache.db") as db:
        cursor = db.execute(
            "UPDATE Cache SET mode = ?, value = ?, filename = ?", (mode, value, filename)
        )
        return cursor.rowcount


def read(cache_dir: Path, key: str) -> bytes | None:
    async def main() -> bytes | None:
        cache = disk_cache(cache_dir)
        try:
            return await cache.get(key)
        finally:
            await cache.close()

    return asyncio.run(main())


def write(cache_dir: Path, key: str, value: bytes) -> None:
    async def main() -> None:
        cache = disk_cache(cache_dir)
        await cache.set(key, value)
        assert await cache.get(key) == value
        await cache.close()

    asyncio.run(main())


@pytest.mark.parametrize("in_file", [False, True], ids=["in-row", "in-file"])
def test_a_planted_pickle_is_a_miss_and_never_runs(tmp_path: Path, in_file: bool) -> None:
    marker = tmp_path / "pwned"
    write(tmp_path, "k", b'{"answer": 1}')
    payload = pickle.dumps(Exploit(marker))
    pickle.loads(payload)  # the payload really runs when unpickled
    assert marker.exists()
    marker.rmdir()
    if in_file:
        # A pickle in a value file of diskcache's own naming scheme.
        name = "ab/cd/" + "e" * 28 + ".val"
        (tmp_path / "responses" / name).parent.mkdir(parents=True)
        (tmp_path / "responses" / name).write_bytes(payload)
        assert tamper(tmp_path, MODE_PICKLE, None, name) == 1
    else:
        assert tamper(tmp_path, MODE_PICKLE, payload, None) == 1
    assert read(tmp_path, "k") is None
    assert not marker.exists()


def test_a_row_naming_a_file_outside_the_cache_is_a_miss(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not the cache's to answer")
    write(tmp_path, "k", b"x" * 100_000)  # large: stored in a value file
    assert tamper(tmp_path, MODE_BINARY, None, "../secret.txt") == 1
    assert read(tmp_path, "k") is None


def test_only_bytes_are_stored_and_nothing_is_pickled(tmp_path: Path) -> None:
    disk = BytesDisk(str(tmp_path))
    with pytest.raises(TypeError, match="bytes"):
        disk.store({"a": 1}, False)
    with pytest.raises(TypeError, match="strings"):
        disk.put(("tuple", "key"))
    write(tmp_path, "small", b"v")
    write(tmp_path, "large", b"y" * 100_000)
    with sqlite3.connect(tmp_path / "responses" / "cache.db") as db:
        modes = {mode for (mode,) in db.execute("SELECT mode FROM Cache")}
    assert modes <= {MODE_RAW, MODE_BINARY}


def embed(client, texts: list[str]) -> dict:
    response = client.post("/api/inference/", json={"model_id": MODEL, "inputs": texts})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_server_answers_past_tampered_entries(altlas_server, base_env) -> None:
    cache_dir = Path(base_env["CACHE_DIR"])
    marker = cache_dir.parent / "pwned"
    texts = ["A cached sentence, soon tampered with."]
    with altlas_server(PLUGINS) as client:
        first = embed(client, texts)
    # Undecodable bytes in a raw row: the core's decoding misses, no 500.
    assert tamper(cache_dir, MODE_RAW, b"\x00 not json", None) >= 1
    with altlas_server(PLUGINS) as client:
        garbled = embed(client, texts)
    assert tamper(cache_dir, MODE_PICKLE, pickle.dumps(Exploit(marker)), None) >= 1
    with altlas_server(PLUGINS) as client:
        planted = embed(client, texts)
        again = embed(client, texts)  # stored afresh, as bytes
    assert not marker.exists()
    assert (first["from_cache"], garbled["from_cache"], planted["from_cache"]) == (
        False,
        False,
        False,
    )
    assert again["from_cache"] is True
    assert garbled["outputs"] == planted["outputs"] == again["outputs"] == first["outputs"]
