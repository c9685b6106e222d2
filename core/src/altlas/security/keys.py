"""API keys: ``ALTLAS_API_KEY`` (one key, every scope) and the named keys of
``AUTH_KEYS_FILE``, a TOML file that holds only a hash of each key::

    [keys.ci]
    hash = "sha256:9f86d0..."
    scopes = ["inference"]
    rate_limit = "120/minute"    # optional: a `limits` rate, per key
    max_concurrency = 4          # optional: requests of this key running at once
    models = ["qwen*", "echo-1"] # optional: glob patterns of the model ids it may use

The service re-reads the file when it changes (its modification time, size or inode), so
``altlas keys create`` and ``altlas keys revoke`` take effect without a restart. A file
that stops parsing disables its keys (fail closed) until it is fixed, and says why in the
log. Keys are compared as SHA-256 digests in constant time; a key is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from altlas.config import ConfigError, Settings
from altlas.security.principal import Principal
from altlas.security.scopes import SCOPES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

logger = logging.getLogger(__name__)

#: The name the ``ALTLAS_API_KEY`` key goes by in logs and the audit log.
ENV_KEY_NAME = "ALTLAS_API_KEY"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


class KeysFileError(ConfigError):
    """``AUTH_KEYS_FILE`` cannot be read, or an entry in it is invalid."""


def digest(key: str) -> bytes:
    """The SHA-256 digest of ``key``: what the keys file stores and what is compared."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def new_key() -> str:
    """A new random key (256 bits)."""
    return "altlas-" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class KeyEntry:
    """One named key of the keys file: its digest and what it allows."""

    principal: Principal
    digest: bytes


def parse_entry(name: str, table: Mapping[str, Any], origin: str) -> KeyEntry:
    """A ``[keys.<name>]`` table as a :class:`KeyEntry`; raises :class:`KeysFileError`
    naming the key and the field."""

    def fail(message: str) -> KeysFileError:
        return KeysFileError(f"{origin}: [keys.{name}] {message}")

    if not _NAME.match(name):
        raise fail("key names are 1-64 letters, digits, '-' or '_'")
    unknown = set(table) - {"hash", "scopes", "rate_limit", "max_concurrency", "models"}
    if unknown:
        raise fail(f"unknown field(s) {', '.join(sorted(unknown))}")
    hashed = table.get("hash")
    if not isinstance(hashed, str) or not _HASH.match(hashed):
        raise fail('hash must be "sha256:<64 hex digits>"')
    scopes = table.get("scopes")
    if not isinstance(scopes, list) or not scopes or not set(scopes) <= set(SCOPES):
        raise fail(f"scopes must be a non-empty list of {', '.join(SCOPES)}")
    rate = table.get("rate_limit")
    if rate is not None:
        check_rate(rate, fail)
    concurrency = table.get("max_concurrency")
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise fail("max_concurrency must be a whole number, 1 or more")
    models = table.get("models")
    if models is not None and (
        not isinstance(models, list) or not all(isinstance(m, str) and m for m in models)
    ):
        raise fail("models must be a list of glob patterns of model ids")
    principal = Principal(
        name=name,
        scopes=frozenset(scopes),
        models=tuple(models) if models is not None else None,
        rate_limit=rate,
        max_concurrency=concurrency,
    )
    return KeyEntry(principal, bytes.fromhex(hashed.removeprefix("sha256:")))


def check_rate(rate: object, fail: Any = ValueError) -> str:
    """``rate`` if the ``limits`` library parses it (``"120/minute"``, ``"10/second"``)."""
    from limits import parse_many

    if not isinstance(rate, str):
        raise fail('rate_limit must be a string such as "120/minute"')
    try:
        parse_many(rate)
    except ValueError:
        raise fail(f'rate_limit {rate!r} is not a rate such as "120/minute"') from None
    return rate


def read_keys_file(path: Path) -> dict[str, KeyEntry]:
    """The entries of the keys file at ``path`` (none when it does not exist)."""
    origin = f"AUTH_KEYS_FILE {path}"
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise KeysFileError(f"{origin}: cannot be read: {error}") from None
    keys = document.pop("keys", {})
    if document or not isinstance(keys, dict):
        raise KeysFileError(f"{origin}: expected only [keys.<name>] tables")
    entries = {}
    for name, table in keys.items():
        if not isinstance(table, dict):
            raise KeysFileError(f"{origin}: [keys.{name}] must be a table")
        entries[name] = parse_entry(name, table, origin)
    return entries


def write_keys_file(path: Path, entries: Mapping[str, KeyEntry]) -> None:
    """Write ``entries`` to ``path`` atomically, readable by its owner only (0600)."""
    lines = ["# altlas API keys: `altlas keys create|list|revoke` edit this file.", ""]
    for name, entry in entries.items():
        principal = entry.principal
        lines.append(f"[keys.{name}]")
        lines.append(f'hash = "sha256:{entry.digest.hex()}"')
        lines.append(f"scopes = {json.dumps(sorted(principal.scopes))}")
        if principal.rate_limit is not None:
            lines.append(f"rate_limit = {json.dumps(principal.rate_limit)}")
        if principal.max_concurrency is not None:
            lines.append(f"max_concurrency = {principal.max_concurrency}")
        if principal.models is not None:
            lines.append(f"models = {json.dumps(list(principal.models))}")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    os.replace(temporary, path)


class KeyStore:
    """The keys the service accepts, re-read from ``AUTH_KEYS_FILE`` when it changes.

    Authentication is on when ``ALTLAS_API_KEY`` (or ``ALTLAS_API_KEY_FILE``) or
    ``AUTH_KEYS_FILE`` is set, even while the file is missing or has no key: the
    operator asked for keys, so nothing is open by accident.
    """

    def __init__(self, settings: Settings) -> None:
        self._env_digest = _env_key_digest(settings)
        self._path = settings.auth_keys_file
        self._signature: tuple[int, int, int] | None = None
        self._entries: dict[str, KeyEntry] = {}
        self.enabled = self._env_digest is not None or self._path is not None
        if self._path is not None:
            # At start-up a bad file is a configuration error, not a silent lock-out.
            self._entries = read_keys_file(self._path)
            self._signature = _signature(self._path)
            if self._signature is None:
                logger.warning(
                    "AUTH_KEYS_FILE %s does not exist yet: no named key is accepted until "
                    "'altlas keys create' writes it",
                    self._path,
                )

    def authenticate(self, key: str) -> Principal | None:
        """The principal of ``key``, or ``None`` for a key the service does not know.
        Every digest is compared, in constant time, whatever matches first."""
        offered = digest(key)
        found: Principal | None = None
        if self._env_digest is not None and hmac.compare_digest(offered, self._env_digest):
            found = Principal(name=ENV_KEY_NAME, scopes=frozenset(SCOPES))
        for entry in self._current().values():
            if hmac.compare_digest(offered, entry.digest) and found is None:
                found = entry.principal
        return found

    def _current(self) -> dict[str, KeyEntry]:
        if self._path is None:
            return self._entries
        signature = _signature(self._path)
        if signature != self._signature:
            self._signature = signature
            try:
                self._entries = read_keys_file(self._path)
                logger.info("re-read %s: %d key(s)", self._path, len(self._entries))
            except KeysFileError as error:
                self._entries = {}
                logger.error("%s; its keys are refused until it is fixed", error)
        return self._entries


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _env_key_digest(settings: Settings) -> bytes | None:
    key = settings.api_key
    if key is None and settings.api_key_file is not None:
        try:
            key = settings.api_key_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(
                f"ALTLAS_API_KEY_FILE: cannot read {settings.api_key_file}: {error}"
            ) from None
        if len(key) < 16:
            raise ConfigError("ALTLAS_API_KEY_FILE: the key must be at least 16 characters")
    return digest(key) if key else None
