"""Service-wide limits on what one request's media may decode to.

The service sets them once at start from its settings (``MAX_AUDIO_SECONDS``); the
SDK's decoders take them as their defaults, so every plugin that builds its limits with
:meth:`altlas_sdk.audio.decode.AudioLimits.from_options` follows the operator's
setting. A catalog entry's options (``max_audio_duration_s``) still set a model's own.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

#: Default of ``MAX_AUDIO_SECONDS``: half an hour of audio per request.
DEFAULT_MAX_AUDIO_SECONDS = 1800.0


@dataclass(frozen=True)
class MediaLimits:
    """The service's limits; ``max_audio_seconds`` may be ``math.inf`` (no limit)."""

    max_audio_seconds: float = DEFAULT_MAX_AUDIO_SECONDS


_lock = threading.Lock()
_current = MediaLimits()


def media_limits() -> MediaLimits:
    """The limits the service set (the defaults until it sets them)."""
    return _current


def set_media_limits(*, max_audio_seconds: float) -> None:
    """Set the service's limits; ``0`` turns a limit off."""
    global _current
    with _lock:
        _current = MediaLimits(max_audio_seconds=max_audio_seconds or math.inf)
