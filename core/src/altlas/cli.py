"""The ``altlas`` command: ``serve``, ``plugins``, ``models``, ``keys``, ``pull``."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import ipaddress
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec

from altlas.config import ConfigError, Settings
from altlas.pull import command as pull_command
from altlas.registry import PluginConflict
from altlas.security import keys_cli

if TYPE_CHECKING:
    from altlas.runtime import Runtime


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``altlas`` console script; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="altlas", description="Local AI models behind one REST API."
    )
    parser.add_argument("--config", help="TOML config file (default: $ALTLAS_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        help="seconds a shutdown waits for requests in flight before cancelling them (default 30)",
    )
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="server processes sharing the port, each with its own models (default 1)",
    )
    serve.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve on a non-loopback address without API keys (anyone who reaches the port "
        "can load, unload and run models)",
    )

    for name, text in (
        ("plugins", "list plugins and plugin errors"),
        ("models", "list the catalog"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--json", action="store_true", help="print JSON")
    keys_cli.add_parser(commands)
    pull_command.add_parser(commands)

    args = parser.parse_args(argv)
    try:
        settings = Settings.load(config_path=args.config)
        if args.command == "keys":
            return keys_cli.run(args, settings)
        from altlas.runtime import Runtime

        if args.command == "serve":
            settings = _serving_settings(settings, args)
            return _serve(Runtime(settings), args, settings)
        runtime = Runtime(settings)
    except (ConfigError, PluginConflict) as error:
        print(f"altlas: {error}", file=sys.stderr)
        return 2
    if args.command == "pull":
        return pull_command.run(runtime, args)
    if args.command == "plugins":
        return _print_plugins(runtime, args.json)
    return _print_models(runtime, args.json)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _serving_settings(settings: Settings, args: argparse.Namespace) -> Settings:
    """The settings ``altlas serve`` runs with: its bind name added to ``ALLOWED_HOSTS``.
    Raises :class:`ConfigError` for a non-loopback address without API keys (unless
    ``--allow-unauthenticated``) and for a keys file that does not parse."""
    from altlas.security.keys import KeyStore

    if not KeyStore(settings).enabled and not _is_loopback(args.host):
        if not args.allow_unauthenticated:
            raise ConfigError(
                f"refusing to serve on {args.host} without API keys: anyone who can reach "
                "the port could load, unload and run models. Set ALTLAS_API_KEY to a secret "
                "of 16 characters or more (or ALTLAS_API_KEY_FILE to a file holding one), or "
                "AUTH_KEYS_FILE with keys from 'altlas keys create NAME --scope admin'; or "
                "pass --allow-unauthenticated to serve without keys"
            )
        print(
            f"altlas: WARNING: serving on {args.host} without API keys "
            "(--allow-unauthenticated): anyone who can reach the port controls the models",
            file=sys.stderr,
        )
    host = args.host.strip("[]").lower()
    try:
        ipaddress.ip_address(host)
    except ValueError:
        # Served under a name: requests for that name are this server's own.
        if host not in settings.allowed_hosts:
            return dataclasses.replace(settings, allowed_hosts=(*settings.allowed_hosts, host))
    return settings


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return number


def _worker_settings(args: argparse.Namespace) -> Settings:
    """The settings of one of ``serve --workers``'s processes, read when it starts."""
    return _serving_settings(Settings.load(config_path=args.config), args)


def _serve(runtime: Runtime, args: argparse.Namespace, settings: Settings) -> int:
    from altlas.http.app import create_app
    from altlas.http.server import serve

    if args.workers > 1:
        from altlas.http.workers import serve_workers

        # Checked here first; each worker reads them again when it starts.
        serve_workers(
            functools.partial(_worker_settings, args),
            host=args.host,
            port=args.port,
            workers=args.workers,
            graceful_timeout=args.graceful_timeout,
        )
        return 0
    serve(
        create_app(runtime),
        host=args.host,
        port=args.port,
        settings=settings,
        graceful_timeout=args.graceful_timeout,
    )
    return 0


#: The exit status of ``altlas plugins`` when a plugin failed to load or register.
PLUGIN_FAILED = 1


def _print_plugins(runtime: Runtime, as_json: bool) -> int:
    """Print the plugins and the failures; a failure makes the exit status
    :data:`PLUGIN_FAILED`, so scripts and CI notice a plugin that did not load."""
    from altlas.http.routes.system import plugin_list

    listing = plugin_list(runtime)
    if as_json:
        print(msgspec.json.encode(listing).decode())
    else:
        for plugin in listing.plugins:
            origin = "built-in" if plugin.builtin else f"{plugin.distribution} {plugin.version}"
            print(f"{plugin.name}  ({origin})  hooks: {', '.join(plugin.hooks)}")
        for failure in listing.failures:
            print(f"FAILED {failure.name}  ({failure.distribution}): {failure.error}")
    return PLUGIN_FAILED if listing.failures else 0


def _print_models(runtime: Runtime, as_json: bool) -> int:
    models = runtime.models.list_models()
    if as_json:
        print(msgspec.json.encode(models).decode())
        return 0
    for info in models:
        line = f"{info.id:<24} {info.status.state:<16} {info.backend:<10} {','.join(info.tasks)}"
        if info.status.detail:
            line += f"  -- {info.status.detail}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
