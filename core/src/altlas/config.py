"""Settings: the design document's variables, from the environment or a TOML file.

Precedence: environment variable > config file (``ALTLAS_CONFIG`` or ``--config``) >
default. The config file uses the same names in lower case at its top level, plus
``[models.<id>]`` tables (catalog entries or overrides of a plugin's entry) and a
``[tasks]`` table (default model per task). A bad value fails at start naming the
setting, e.g. ``USE_GPU: expected true or false, got 'maybe'``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

CONFIG_ENV = "ALTLAS_CONFIG"


class ConfigError(ValueError):
    """A setting has a bad value, or the config file cannot be read."""


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _as_megabytes(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in {"", "none"}):
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number of MB, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"expected a whole number of MB, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"expected a positive number of MB, got {value!r}")
    return number


def _as_required_megabytes(value: Any) -> int:
    number = _as_megabytes(value)
    if number is None:
        raise ValueError(f"expected a whole number of MB, got {value!r}")
    return number


def _as_seconds(value: Any) -> float:
    """Seconds as a number or an Ollama-style duration (``30s``, ``5m``, ``1h``)."""
    if isinstance(value, bool):
        raise ValueError(f"expected seconds, got {value!r}")
    text = str(value).strip().lower()
    scale = 1.0
    for suffix, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if (
            text.endswith(suffix)
            and text[: -len(suffix)].strip().lstrip("-").replace(".", "", 1).isdigit()
        ):
            text, scale = text[: -len(suffix)].strip(), factor
            break
    try:
        seconds = float(text) * scale
    except ValueError:
        raise ValueError(f"expected seconds (e.g. 300, 5m, 1h), got {value!r}") from None
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError(f"expected a finite number of seconds, got {value!r}")
    return seconds


def _as_keep_alive(value: Any) -> float:
    seconds = _as_seconds(value)
    if seconds < 0 and seconds != -1:
        raise ValueError(f"expected seconds >= 0, or -1 for never, got {value!r}")
    return seconds


def _as_non_negative_seconds(value: Any) -> float:
    seconds = _as_seconds(value)
    if seconds < 0:
        raise ValueError(f"expected seconds >= 0, got {value!r}")
    return seconds


def _as_milliseconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected milliseconds, got {value!r}")
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"expected milliseconds >= 0, got {value!r}") from None
    if not 0 <= number < float("inf"):
        raise ValueError(f"expected milliseconds >= 0, got {value!r}")
    return number


def _as_count(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number >= 0, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"expected a whole number >= 0, got {value!r}") from None
    if number < 0:
        raise ValueError(f"expected a whole number >= 0, got {value!r}")
    return number


def _as_log_level(value: Any) -> str:
    level = str(value).strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError(f"expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {value!r}")
    return level


def _as_log_format(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in {"text", "json"}:
        raise ValueError(f"expected text or json, got {value!r}")
    return text


def _as_path(value: Any) -> Path:
    text = str(value).strip()
    if not text:
        raise ValueError("expected a path, got an empty value")
    return Path(text).expanduser()


def _as_names(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _as_text(value: Any) -> str:
    return str(value).strip()


def _as_secret(value: Any) -> str | None:
    text = str(value).strip()
    if not text:
        return None
    if len(text) < 16:
        raise ValueError("expected a key of at least 16 characters (altlas keys create makes one)")
    return text


def _as_optional_path(value: Any) -> Path | None:
    text = str(value).strip()
    return Path(text).expanduser() if text else None


def _as_hosts(value: Any) -> tuple[str, ...]:
    # Host names compare in lower case; "[::1]" and "::1" are the same host.
    names = _as_names(value) or ()
    return tuple(name.lower().strip("[]") for name in names)


def _as_origins(value: Any) -> tuple[str, ...]:
    origins = _as_names(value) or ()
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValueError(f"expected origins such as https://app.example, got {origin!r}")
    return tuple(origin.rstrip("/").lower() for origin in origins)


def _as_audit_log(value: Any) -> str | None:
    text = str(value).strip()
    if text.lower() in {"", "none", "off"}:
        return "off"
    return str(Path(text).expanduser())


@dataclass(frozen=True)
class Settings:
    """Every setting of the service. Field metadata gives each one's variable name."""

    model_dir: Path = field(
        default=Path("models"), metadata={"env": "MODEL_DIR", "parse": _as_path}
    )
    use_gpu: bool = field(default=True, metadata={"env": "USE_GPU", "parse": _as_bool})
    gpu_memory_limit: int | None = field(
        default=None, metadata={"env": "GPU_MEMORY_LIMIT", "parse": _as_megabytes}
    )
    ram_memory_limit: int | None = field(
        default=None, metadata={"env": "RAM_MEMORY_LIMIT", "parse": _as_megabytes}
    )
    keep_alive: float = field(
        default=300.0, metadata={"env": "KEEP_ALIVE", "parse": _as_keep_alive}
    )
    min_residency: float = field(
        default=5.0, metadata={"env": "MIN_RESIDENCY", "parse": _as_non_negative_seconds}
    )
    max_queue: int = field(default=64, metadata={"env": "MAX_QUEUE", "parse": _as_count})
    queue_timeout: float = field(
        default=30.0, metadata={"env": "QUEUE_TIMEOUT", "parse": _as_non_negative_seconds}
    )
    cache_dir: Path = field(default=Path("cache"), metadata={"env": "CACHE_DIR", "parse": _as_path})
    cache_size_limit: int = field(
        default=1024, metadata={"env": "CACHE_SIZE_LIMIT", "parse": _as_required_megabytes}
    )
    log_level: str = field(default="INFO", metadata={"env": "LOG_LEVEL", "parse": _as_log_level})
    log_format: str = field(default="text", metadata={"env": "LOG_FORMAT", "parse": _as_log_format})
    load_on_demand: bool = field(
        default=True, metadata={"env": "LOAD_ON_DEMAND", "parse": _as_bool}
    )
    selection_strategy: str = field(
        default="default", metadata={"env": "SELECTION_STRATEGY", "parse": _as_text}
    )
    response_cache: str = field(
        default="memory", metadata={"env": "RESPONSE_CACHE", "parse": _as_text}
    )
    response_cache_ttl: float = field(
        default=3600.0, metadata={"env": "RESPONSE_CACHE_TTL", "parse": _as_non_negative_seconds}
    )
    response_cache_memory_mb: int = field(
        default=256, metadata={"env": "RESPONSE_CACHE_MEMORY_MB", "parse": _as_required_megabytes}
    )
    max_batch_size: int = field(default=32, metadata={"env": "MAX_BATCH_SIZE", "parse": _as_count})
    batch_max_wait_ms: float = field(
        default=0.0, metadata={"env": "BATCH_MAX_WAIT_MS", "parse": _as_milliseconds}
    )
    orchestration_timeout: float = field(
        default=60.0, metadata={"env": "ORCHESTRATION_TIMEOUT", "parse": _as_non_negative_seconds}
    )
    breaker_failures: int = field(
        default=5, metadata={"env": "BREAKER_FAILURES", "parse": _as_count}
    )
    breaker_cooldown: float = field(
        default=30.0, metadata={"env": "BREAKER_COOLDOWN", "parse": _as_non_negative_seconds}
    )
    max_request_body_mb: int = field(
        default=100, metadata={"env": "MAX_REQUEST_BODY_MB", "parse": _as_required_megabytes}
    )
    load_plugins: tuple[str, ...] | None = field(
        default=None, metadata={"env": "ALTLAS_LOAD_PLUGINS", "parse": _as_names}
    )
    disable_plugins: tuple[str, ...] = field(
        default=(),
        metadata={"env": "ALTLAS_DISABLE_PLUGINS", "parse": lambda v: _as_names(v) or ()},
    )
    model_host: str = field(default="thread", metadata={"env": "MODEL_HOST", "parse": _as_text})
    # --- Security: API keys, allowed hosts and origins, the audit log (docs/configuration.md
    # "Security"). The key itself never appears in the settings' repr.
    api_key: str | None = field(
        default=None, repr=False, metadata={"env": "ALTLAS_API_KEY", "parse": _as_secret}
    )
    api_key_file: Path | None = field(
        default=None, metadata={"env": "ALTLAS_API_KEY_FILE", "parse": _as_optional_path}
    )
    auth_keys_file: Path | None = field(
        default=None, metadata={"env": "AUTH_KEYS_FILE", "parse": _as_optional_path}
    )
    allowed_hosts: tuple[str, ...] = field(
        default=("localhost", "127.0.0.1", "::1"),
        metadata={"env": "ALLOWED_HOSTS", "parse": _as_hosts},
    )
    cors_origins: tuple[str, ...] = field(
        default=(), metadata={"env": "CORS_ORIGINS", "parse": _as_origins}
    )
    audit_log: str | None = field(
        default=None, metadata={"env": "AUDIT_LOG", "parse": _as_audit_log}
    )
    # --- Resource limits: what one connection or request may hold (docs/configuration.md
    # "Limits"). 0 turns a limit off.
    http_header_timeout: float = field(
        default=10.0, metadata={"env": "HTTP_HEADER_TIMEOUT", "parse": _as_non_negative_seconds}
    )
    http_keep_alive_timeout: float = field(
        default=5.0,
        metadata={"env": "HTTP_KEEP_ALIVE_TIMEOUT", "parse": _as_non_negative_seconds},
    )
    max_connections: int = field(
        default=1000, metadata={"env": "MAX_CONNECTIONS", "parse": _as_count}
    )
    max_tokens: int = field(default=32768, metadata={"env": "MAX_TOKENS", "parse": _as_count})
    max_embedding_inputs: int = field(
        default=2048, metadata={"env": "MAX_EMBEDDING_INPUTS", "parse": _as_count}
    )
    max_tts_characters: int = field(
        default=4096, metadata={"env": "MAX_TTS_CHARACTERS", "parse": _as_count}
    )
    max_audio_seconds: float = field(
        default=1800.0, metadata={"env": "MAX_AUDIO_SECONDS", "parse": _as_non_negative_seconds}
    )
    max_batch_pixels: int = field(
        default=80_000_000, metadata={"env": "MAX_BATCH_PIXELS", "parse": _as_count}
    )
    # --- Operations: downloads and restarts (docs/operations.md).
    download_disk_limit: int | None = field(
        default=None, metadata={"env": "DOWNLOAD_DISK_LIMIT", "parse": _as_megabytes}
    )
    restore_models: bool = field(
        default=False, metadata={"env": "RESTORE_MODELS", "parse": _as_bool}
    )
    #: ``[models.<id>]`` tables of the config file, by model id.
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: ``[tasks]`` table: task id -> default model id.
    task_defaults: Mapping[str, str] = field(default_factory=dict)
    #: The config file these settings came from, if any.
    config_path: Path | None = None

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        config_path: str | Path | None = None,
    ) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``) and the config file
        (``config_path``, else ``$ALTLAS_CONFIG``). Raises :class:`ConfigError`."""
        environ = os.environ if environ is None else environ
        path_text = config_path if config_path is not None else environ.get(CONFIG_ENV)
        path = Path(path_text).expanduser() if path_text else None
        origin = "--config" if config_path is not None else CONFIG_ENV
        document = _read_toml(path, origin) if path else {}

        values: dict[str, Any] = {}
        for setting in fields(cls):
            env_name = setting.metadata.get("env")
            if env_name is None:
                continue
            parse: Callable[[Any], Any] = setting.metadata["parse"]
            key = setting.name
            in_file = key in document
            from_file = document.pop(key, None)
            if env_name in environ:
                raw, origin = environ[env_name], env_name
            elif in_file:
                raw, origin = from_file, f"{env_name} (config file key '{key}')"
            else:
                continue
            try:
                values[key] = parse(raw)
            except ValueError as error:
                raise ConfigError(f"{origin}: {error}") from None

        models = document.pop("models", {})
        tasks = document.pop("tasks", {})
        if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
            raise ConfigError("config file: [models.<id>] entries must be tables")
        if not isinstance(tasks, dict) or not all(isinstance(v, str) for v in tasks.values()):
            raise ConfigError("config file: [tasks] maps task ids to model ids (strings)")
        if document:
            raise ConfigError(f"config file: unknown setting(s) {', '.join(sorted(document))}")
        return cls(**values, models=models, task_defaults=tasks, config_path=path)

    def __post_init__(self) -> None:
        # Absolute paths, so messages and model sources do not depend on a later chdir.
        object.__setattr__(self, "model_dir", self.model_dir.absolute())
        object.__setattr__(self, "cache_dir", self.cache_dir.absolute())

    def audit_log_path(self) -> Path | None:
        """The audit log's file: ``AUDIT_LOG``, by default ``CACHE_DIR/audit.log``;
        ``None`` when ``AUDIT_LOG`` is ``off`` (the ``altlas.audit`` logger only)."""
        if self.audit_log == "off":
            return None
        return Path(self.audit_log).absolute() if self.audit_log else self.cache_dir / "audit.log"

    def ram_budget_bytes(self) -> int:
        """``RAM_MEMORY_LIMIT`` in bytes; by default 75% of the machine's RAM."""
        if self.ram_memory_limit is not None:
            return self.ram_memory_limit * 1024 * 1024
        import psutil

        return int(psutil.virtual_memory().total * 0.75)

    def download_disk_bytes(self) -> int | None:
        """``DOWNLOAD_DISK_LIMIT`` in bytes, or ``None``: only the disk's free space."""
        return None if self.download_disk_limit is None else self.download_disk_limit << 20

    def gpu_budget_bytes(self) -> int | None:
        """``GPU_MEMORY_LIMIT`` in bytes, or ``None`` for no GPU budget."""
        return None if self.gpu_memory_limit is None else self.gpu_memory_limit * 1024 * 1024

    def log_level_number(self) -> int:
        """The ``logging`` level number of ``log_level``."""
        return logging.getLevelName(self.log_level)


def _read_toml(path: Path, origin: str) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{origin}: config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{origin}: {path} is not valid TOML: {error}") from None
