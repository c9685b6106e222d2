"""``altlas keys create|list|revoke``: named API keys in ``AUTH_KEYS_FILE``.

``create`` prints the new key once; only its hash is written. Every change is recorded
in the audit log, by the operating-system user who ran the command. A running service
re-reads the file, so a change takes effect without a restart.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from altlas.config import ConfigError, Settings
from altlas.security.audit import AuditLog
from altlas.security.keys import (
    KeyEntry,
    check_rate,
    digest,
    new_key,
    parse_entry,
    read_keys_file,
    write_keys_file,
)
from altlas.security.principal import Principal
from altlas.security.scopes import SCOPES


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``keys`` and its subcommands to the ``altlas`` command line."""
    keys = commands.add_parser("keys", help="create, list and revoke API keys (AUTH_KEYS_FILE)")
    keys.add_argument("--file", help="the keys file (default: $AUTH_KEYS_FILE)")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="create a key; prints it once")
    create.add_argument("name", help="the key's name (letters, digits, '-', '_')")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=SCOPES,
        help="a scope it holds (repeat for several): inference, admin (implies inference), metrics",
    )
    create.add_argument("--rate-limit", help='requests allowed per period, e.g. "120/minute"')
    create.add_argument("--max-concurrency", type=int, help="requests it may run at once")
    create.add_argument(
        "--models", action="append", help="glob of the model ids it may use (repeat for several)"
    )
    actions.add_parser("list", help="list the keys (names and scopes, never the keys)")
    revoke = actions.add_parser("revoke", help="delete a key")
    revoke.add_argument("name")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``altlas keys ...``; returns the exit status."""
    path = Path(args.file).expanduser() if args.file else settings.auth_keys_file
    if path is None:
        print(
            "altlas: set AUTH_KEYS_FILE (or pass --file) to the keys file, e.g. "
            "export AUTH_KEYS_FILE=/etc/altlas/keys.toml",
            file=sys.stderr,
        )
        return 2
    audit = AuditLog(settings.audit_log_path())
    who = f"cli:{getpass.getuser()}"
    if args.keys_command == "list":
        return _list(path)
    entries = read_keys_file(path)
    if args.keys_command == "create":
        if args.name in entries:
            print(f"altlas: a key named '{args.name}' exists; revoke it first", file=sys.stderr)
            return 1
        key = new_key()
        entry = _entry(args, key, path)
        write_keys_file(path, {**entries, args.name: entry})
        audit.record(who=who, action="keys.create", status=0, detail={"key": args.name})
        print(key)
        print(
            f"Created key '{args.name}' ({', '.join(sorted(entry.principal.scopes))}) in "
            f"{path}. Save it now: it is not stored and cannot be shown again.",
            file=sys.stderr,
        )
        return 0
    if args.name not in entries:
        print(f"altlas: no key named '{args.name}' in {path}", file=sys.stderr)
        return 1
    del entries[args.name]
    write_keys_file(path, entries)
    audit.record(who=who, action="keys.revoke", status=0, detail={"key": args.name})
    print(f"Revoked key '{args.name}'.", file=sys.stderr)
    return 0


def _entry(args: argparse.Namespace, key: str, path: Path) -> KeyEntry:
    if args.rate_limit is not None:
        check_rate(args.rate_limit, ConfigError)
    table: dict[str, object] = {
        "hash": f"sha256:{digest(key).hex()}",
        "scopes": sorted(set(args.scope)),
    }
    for name, value in (
        ("rate_limit", args.rate_limit),
        ("max_concurrency", args.max_concurrency),
        ("models", args.models),
    ):
        if value is not None:
            table[name] = value
    # The same validation as the service's, so the file never holds what it refuses.
    return parse_entry(args.name, table, f"altlas keys create ({path})")


def _list(path: Path) -> int:
    for name, entry in read_keys_file(path).items():
        print(_describe(name, entry.principal, entry.digest))
    return 0


def _describe(name: str, principal: Principal, key_digest: bytes) -> str:
    parts = [f"{name:<20}", f"scopes={','.join(sorted(principal.scopes))}"]
    if principal.rate_limit:
        parts.append(f"rate_limit={principal.rate_limit}")
    if principal.max_concurrency:
        parts.append(f"max_concurrency={principal.max_concurrency}")
    if principal.models is not None:
        parts.append(f"models={','.join(principal.models)}")
    # A prefix of the hash tells keys apart; the full hash is never printed.
    parts.append(f"hash=sha256:{key_digest.hex()[:8]}...")
    return "  ".join(parts)
