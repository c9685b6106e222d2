"""Decode any audio upload into float samples, with limits and clear errors.

PyAV (FFmpeg's libraries, bundled in its wheels) reads every common container and codec:
WAV, FLAC, MP3, OGG (Vorbis, Opus), M4A/AAC, WebM... and resamples to the rate and
channel layout a model wants. Every way an upload can be bad becomes an error a client
can act on: empty, too large, too long, not audio, corrupt or truncated. Silence is not
an error: :meth:`DecodedAudio.is_silent` lets a model skip it.

numpy and PyAV are imported inside :func:`decode_audio`, so importing this module stays
light; audio plugins depend on ``altlas-sdk[audio]``.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from altlas_sdk.errors import (
    BackendUnavailable,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from altlas_sdk.limits import media_limits

if TYPE_CHECKING:
    import numpy as np

#: Where audio arrives in a request body; errors point there.
AUDIO_PARAM = "$.inputs.audio"

#: A clip quieter than this (peak level, dBFS) counts as silence.
SILENCE_DBFS = -60.0

# A decoded stream shorter than this share of the duration its header declares is
# truncated. Headers of VBR files without an index only estimate it, hence the slack.
_TRUNCATED_SHARE = 0.9


def _service_max_seconds() -> float:
    return media_limits().max_audio_seconds


@dataclass(frozen=True)
class AudioLimits:
    """What one upload may be: ``max_bytes`` of file, ``max_duration_s`` of audio (by
    default the service's ``MAX_AUDIO_SECONDS``, measured on the decoded audio)."""

    max_bytes: int = 100 * 1024 * 1024
    max_duration_s: float = field(default_factory=_service_max_seconds)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> AudioLimits:
        """Limits from a catalog entry's ``options`` (``max_audio_bytes``,
        ``max_audio_duration_s``), with the defaults for what they leave out."""
        default = cls()
        return cls(
            max_bytes=int(options.get("max_audio_bytes", default.max_bytes)),
            max_duration_s=float(options.get("max_audio_duration_s", default.max_duration_s)),
        )


@dataclass(frozen=True)
class DecodedAudio:
    """Float32 samples in [-1, 1]: shape ``(n,)`` when mono, ``(channels, n)`` otherwise.

    ``source_*`` describe the upload as it was: container format, codec, sample rate
    and channel count.
    """

    samples: np.ndarray
    sample_rate: int
    source_format: str
    source_codec: str
    source_rate: int
    source_channels: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.samples.shape[-1] / self.sample_rate

    def peak_dbfs(self) -> float:
        """The loudest sample in dB relative to full scale (``-inf`` for all zeros)."""
        peak = float(abs(self.samples).max()) if self.samples.size else 0.0
        return 20 * math.log10(peak) if peak > 0 else -math.inf

    def is_silent(self, threshold_dbfs: float = SILENCE_DBFS) -> bool:
        """Whether no sample reaches ``threshold_dbfs``."""
        return self.peak_dbfs() < threshold_dbfs


def _import_av() -> Any:
    try:
        import av
    except ImportError:
        raise BackendUnavailable(
            "PyAV is not installed, so audio cannot be decoded: pip install 'altlas-sdk[audio]'"
        ) from None
    return av


def decode_audio(
    data: bytes,
    *,
    sample_rate: int | None = 16000,
    mono: bool = True,
    limits: AudioLimits | None = None,
    param: str = AUDIO_PARAM,
) -> DecodedAudio:
    """Decode ``data`` (a whole audio file) to float32 samples.

    ``sample_rate`` resamples (``None`` keeps the file's rate); ``mono`` mixes the
    channels down. Every error has ``param`` (the offending field) and a ``code``:
    ``unsupported_audio`` (415) when the upload is not audio; ``empty_audio``,
    ``corrupt_audio``, ``truncated_audio`` (422); ``audio_too_large`` and
    ``audio_too_long`` (413) beyond ``limits``.
    """
    import numpy as np

    av = _import_av()
    limits = limits or AudioLimits()
    if not data:
        raise ValidationFailed("the audio file is empty (0 bytes)", param=param, code="empty_audio")
    if len(data) > limits.max_bytes:
        raise PayloadTooLarge(
            f"the audio file is {len(data)} bytes; the limit is {limits.max_bytes} bytes",
            param=param,
            code="audio_too_large",
        )
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as error:
        missing = _missing_tail(data)
        if missing:
            raise _truncated(missing, param) from None
        raise UnsupportedMediaType(
            "not a readable audio file: no known container or codec recognises it "
            f"({_reason(error)})",
            param=param,
            code="unsupported_audio",
        ) from None
    with container:
        if not container.streams.audio:
            kinds = sorted({stream.type for stream in container.streams}) or ["no"]
            raise UnsupportedMediaType(
                f"the file has no audio stream (a '{container.format.name}' file with "
                f"{', '.join(kinds)} streams)",
                param=param,
                code="unsupported_audio",
            )
        stream = container.streams.audio[0]
        declared = _declared_duration(container, stream)
        if declared is not None and declared > limits.max_duration_s * 1.01:
            raise _too_long(declared, limits, param)
        source_rate = stream.codec_context.sample_rate or stream.rate or 0
        source_channels = stream.codec_context.channels or 0
        target_rate = sample_rate or source_rate
        if not target_rate:
            raise _corrupt("the audio stream declares no sample rate", param)
        resampler = av.AudioResampler(
            format="fltp", layout="mono" if mono else None, rate=target_rate
        )
        chunks: list[np.ndarray] = []
        decoded = 0
        max_samples = limits.max_duration_s * target_rate
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                    decoded += out.samples
                if decoded > max_samples:
                    raise _too_long(decoded / target_rate, limits, param, at_least=True)
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
                decoded += out.samples
        except av.error.FFmpegError as error:
            raise _corrupt(
                f"the audio is corrupt or truncated after {decoded / target_rate:.2f} s "
                f"of {container.format.name}/{stream.codec_context.name} ({_reason(error)})",
                param,
            ) from None
        format_name = container.format.name
        codec_name = stream.codec_context.name
    missing = _missing_tail(data)
    if missing:
        raise _truncated(missing, param)
    if decoded == 0:
        raise _corrupt(
            f"no audio could be decoded from this {format_name}/{codec_name} file: "
            "it is truncated or holds no samples",
            param,
        )
    samples = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    got = samples.shape[1] / target_rate
    if declared is not None and declared > 0.5 and got < declared * _TRUNCATED_SHARE:
        raise _truncated(
            f"its header declares {declared:.2f} s, only {got:.2f} s are present", param
        )
    if not np.isfinite(samples).all():
        raise _corrupt("the audio holds samples that are not finite numbers", param)
    return DecodedAudio(
        samples=samples[0] if mono else samples,
        sample_rate=target_rate,
        source_format=format_name,
        source_codec=codec_name,
        source_rate=source_rate,
        source_channels=source_channels,
    )


def _corrupt(message: str, param: str) -> ValidationFailed:
    return ValidationFailed(message, param=param, code="corrupt_audio")


def _truncated(missing: str, param: str) -> ValidationFailed:
    return ValidationFailed(
        f"the audio is truncated: {missing}", param=param, code="truncated_audio"
    )


def _reason(error: Exception) -> str:
    # FFmpeg's own words ("Invalid data found when processing input"), without errno.
    return getattr(error, "strerror", None) or str(error)


def _missing_tail(data: bytes) -> str | None:
    """Why a WAV or OGG file is cut short, from what its own structure promises; ``None``
    when it looks whole (or the format makes no promise). FFmpeg decodes what is there
    without complaint, so this is checked separately."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        offset = 12
        while offset + 8 <= len(data):
            chunk, size = (
                data[offset : offset + 4],
                struct.unpack("<I", data[offset + 4 : offset + 8])[0],
            )
            if chunk == b"data":
                present = len(data) - offset - 8
                # 0 and 0xFFFFFFFF are what streaming writers put when the length is unknown.
                if size not in (0, 0xFFFFFFFF) and present < size:
                    return (
                        f"its header declares {size} bytes of samples, only {present} are present"
                    )
                return None
            offset += 8 + size + (size & 1)
        return None
    if data[:4] == b"OggS":
        last = data.rfind(b"OggS")
        # Every complete Ogg stream ends with a page flagged "end of stream" (0x04).
        if last + 5 < len(data) and not data[last + 5] & 0x04:
            return "the Ogg stream ends without its last page"
    return None


def _declared_duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # microseconds (AV_TIME_BASE)
    return None


def _too_long(
    seconds: float, limits: AudioLimits, param: str, *, at_least: bool = False
) -> PayloadTooLarge:
    length = f"more than {limits.max_duration_s:g}" if at_least else f"{seconds:.1f}"
    return PayloadTooLarge(
        f"the audio is {length} s long; the limit is {limits.max_duration_s:g} s "
        "(MAX_AUDIO_SECONDS, or the model's max_audio_duration_s option)",
        param=param,
        code="audio_too_long",
    )
