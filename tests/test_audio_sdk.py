"""The SDK's shared audio handling on its own: decoding, encoding, speaker attribution."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from altlas_sdk.audio.attribution import attribute_speakers, speaker_of
from altlas_sdk.audio.decode import AudioLimits, decode_audio
from altlas_sdk.audio.encode import (
    Pcm16Resampler,
    encode_pcm16,
    float_to_pcm16,
    streaming_wav_header,
    wav_bytes,
)
from altlas_sdk.audio.tasks import SpeakerTurn, SpeechToTextOutput, TranscriptSegment
from altlas_sdk.errors import AltlasError

RATE = 22050


def tone(seconds: float = 1.0, rate: int = RATE, frequency: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.mark.parametrize("audio_format", ["wav", "flac", "mp3", "opus", "aac", "m4a"])
def test_every_format_round_trips_to_16_khz_mono(audio_format: str) -> None:
    stereo = np.stack([tone(), tone(frequency=660.0)], axis=1).reshape(-1)
    data = encode_pcm16(float_to_pcm16(stereo), RATE, audio_format, channels=2)
    clip = decode_audio(data)
    assert clip.sample_rate == 16000 and clip.samples.ndim == 1
    assert clip.source_channels == 2
    assert clip.duration == pytest.approx(1.0, abs=0.1)
    assert not clip.is_silent() and clip.samples.dtype == np.float32


def test_channels_and_rate_can_be_kept() -> None:
    stereo = np.stack([tone(), -tone()], axis=1).reshape(-1)
    clip = decode_audio(wav_bytes(float_to_pcm16(stereo), RATE, 2), sample_rate=None, mono=False)
    assert clip.sample_rate == RATE and clip.samples.shape == (2, RATE)
    # The two channels are each other's negation, exactly as written.
    assert np.allclose(clip.samples[0], -clip.samples[1], atol=1e-4)


def test_silence_is_audio_not_an_error() -> None:
    clip = decode_audio(wav_bytes(b"\0\0" * RATE, RATE))
    assert clip.is_silent() and clip.peak_dbfs() == float("-inf")


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"", 422, "empty_audio"),
        (b"\x00\x01\x02" * 50, 415, "unsupported_audio"),
        (wav_bytes(float_to_pcm16(tone()), RATE)[:2000], 422, "truncated_audio"),
    ],
    ids=["empty", "random bytes", "truncated"],
)
def test_bad_uploads_are_4xx_with_a_code(data: bytes, status: int, code: str) -> None:
    with pytest.raises(AltlasError) as raised:
        decode_audio(data, param="$.inputs.clip")
    assert (raised.value.status, raised.value.code) == (status, code)
    assert raised.value.param == "$.inputs.clip"


def test_limits_come_from_catalog_options() -> None:
    limits = AudioLimits.from_options({"max_audio_duration_s": 0.5, "max_audio_bytes": 10**6})
    data = wav_bytes(float_to_pcm16(tone()), RATE)
    with pytest.raises(AltlasError) as raised:
        decode_audio(data, limits=limits)
    assert (raised.value.status, raised.value.code) == (413, "audio_too_long")
    with pytest.raises(AltlasError) as too_big:
        decode_audio(data, limits=AudioLimits(max_bytes=100))
    assert too_big.value.code == "audio_too_large"


def test_a_streamed_wav_with_an_open_length_decodes() -> None:
    data = streaming_wav_header(RATE) + float_to_pcm16(tone())
    assert decode_audio(data, sample_rate=None).duration == pytest.approx(1.0, abs=0.01)


def test_the_resampler_keeps_state_across_chunks() -> None:
    pcm = float_to_pcm16(tone(2.0))
    resampler = Pcm16Resampler(RATE, 24000)
    pieces = [resampler.feed(pcm[i : i + 4410]) for i in range(0, len(pcm), 4410)]
    out = b"".join(pieces) + resampler.flush()
    assert len(out) // 2 == pytest.approx(48000, abs=50)
    with wave.open(io.BytesIO(wav_bytes(out, 24000))) as reader:
        assert reader.getframerate() == 24000


def test_segments_get_the_speaker_who_overlaps_them_most() -> None:
    turns = [
        SpeakerTurn(speaker="SPEAKER_00", start=0.0, end=2.0),
        SpeakerTurn(speaker="SPEAKER_01", start=2.2, end=5.0),
    ]
    transcript = SpeechToTextOutput(
        text="a b c",
        language="en",
        language_probability=1.0,
        duration=6.0,
        segments=[
            TranscriptSegment(id=0, start=0.1, end=1.9, text="a"),
            TranscriptSegment(id=1, start=1.5, end=4.0, text="b"),
            TranscriptSegment(id=2, start=5.3, end=5.8, text="c"),
        ],
    )
    attributed = attribute_speakers(transcript, turns)
    assert [s.speaker for s in attributed.segments] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_01"]
    assert attributed.text == "a b c"
    # Nothing within a second: no speaker rather than a guess.
    assert speaker_of(8.0, 9.0, turns) is None
