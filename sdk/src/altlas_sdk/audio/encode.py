"""Audio out: WAV and raw PCM with the standard library, compressed formats with PyAV.

Text-to-speech backends produce 16-bit PCM; :func:`encode_pcm16` wraps it in the format
a client asked for. A WAV header for a stream of unknown length
(:func:`streaming_wav_header`) lets speech play while it is still being synthesized.
"""

from __future__ import annotations

import io
import struct
import wave
from typing import TYPE_CHECKING, Any

from altlas_sdk.audio.decode import _import_av

if TYPE_CHECKING:
    import numpy as np

#: Container formats :func:`encode_pcm16` writes, and their media types.
MEDIA_TYPES: dict[str, str] = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "ogg": "audio/ogg",
    "aac": "audio/aac",
    "m4a": "audio/mp4",
}

# format -> (PyAV container format, codec, sample format, rate the codec requires or None)
_COMPRESSED: dict[str, tuple[str, str, str, int | None]] = {
    "flac": ("flac", "flac", "s16", None),
    "mp3": ("mp3", "libmp3lame", "s16p", None),
    "opus": ("ogg", "libopus", "s16", 48000),
    "ogg": ("ogg", "libopus", "s16", 48000),
    "aac": ("adts", "aac", "fltp", None),
    "m4a": ("ipod", "aac", "fltp", None),
}


def wav_bytes(pcm: bytes, sample_rate: int, channels: int = 1) -> bytes:
    """A WAV file of 16-bit little-endian ``pcm``."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm)
    return buffer.getvalue()


def streaming_wav_header(sample_rate: int, channels: int = 1) -> bytes:
    """A 16-bit WAV header whose sizes say "unknown length" (0xFFFFFFFF), as streaming
    servers send; players read the samples that follow until the stream ends."""
    unknown = 0xFFFFFFFF
    byte_rate = sample_rate * channels * 2
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, byte_rate, channels * 2, 16)
        + b"data"
        + struct.pack("<I", unknown)
    )


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as 16-bit little-endian PCM (clipped)."""
    import numpy as np

    clipped = np.clip(samples, -1.0, 1.0)
    return (clipped * 32767.0).astype("<i2").tobytes()


def encode_pcm16(pcm: bytes, sample_rate: int, audio_format: str, channels: int = 1) -> bytes:
    """``pcm`` (16-bit little-endian, interleaved) as a file of ``audio_format``: one of
    :data:`MEDIA_TYPES`. ``pcm`` returns the samples as they are."""
    if audio_format == "pcm":
        return pcm
    if audio_format == "wav":
        return wav_bytes(pcm, sample_rate, channels)
    if audio_format not in _COMPRESSED:
        raise ValueError(f"unknown audio format {audio_format!r}; one of {sorted(MEDIA_TYPES)}")
    return _encode_compressed(pcm, sample_rate, channels, *_COMPRESSED[audio_format])


def _encode_compressed(
    pcm: bytes,
    sample_rate: int,
    channels: int,
    container_format: str,
    codec: str,
    sample_format: str,
    codec_rate: int | None,
) -> bytes:
    import numpy as np

    av: Any = _import_av()
    layout = "mono" if channels == 1 else "stereo"
    rate = codec_rate or sample_rate
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
        # Packed s16: one row of interleaved samples, as ``pcm`` already is.
        samples = np.frombuffer(pcm, dtype="<i2").reshape(1, -1)
        source = av.AudioFrame.from_ndarray(samples, format="s16", layout=layout)
        source.sample_rate = sample_rate
        for frame in [*resampler.resample(source), *resampler.resample(None)]:
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


class Pcm16Resampler:
    """Resamples a stream of 16-bit mono PCM chunks, keeping the filter's state between
    them so that chunk boundaries leave no clicks. ``flush()`` returns the tail."""

    def __init__(self, source_rate: int, target_rate: int) -> None:
        av: Any = _import_av()
        self.source_rate = source_rate
        self._av = av
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=target_rate)

    def feed(self, pcm: bytes) -> bytes:
        """Resampled PCM for ``pcm`` (some samples may wait for the next chunk)."""
        import numpy as np

        if not pcm:
            return b""
        frame = self._av.AudioFrame.from_ndarray(
            np.frombuffer(pcm, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = self.source_rate
        return b"".join(
            bytes(out.planes[0])[: out.samples * 2] for out in self._resampler.resample(frame)
        )

    def flush(self) -> bytes:
        """The samples still held by the filter."""
        return b"".join(
            bytes(out.planes[0])[: out.samples * 2] for out in self._resampler.resample(None)
        )
