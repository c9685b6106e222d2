"""The rest of the playground in a real browser: speech to text with timestamps and
speaker turns, audio classification over time, OCR lines and segmentation masks drawn
over bus.jpg, classification bars, and an orchestrated request's ranking and attempts."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from .test_console import WAIT_MS, bus_jpg, open_view

SENTENCE = "The quick brown fox jumps over the lazy dog. It was a sunny day."


@pytest.fixture(scope="module")
def speech(console_server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WAV of a known sentence, spoken by the service's own Piper voice."""
    answer = httpx.post(
        f"{console_server}/api/audio/text-to-speech",
        json={"model_id": "piper-en-us-joe-medium", "inputs": SENTENCE},
        timeout=WAIT_MS / 1000,
    )
    assert answer.headers["content-type"].startswith("audio/wav")
    path = tmp_path_factory.mktemp("speech") / "fox.wav"
    path.write_bytes(answer.content)
    return path


def test_speech_to_text_shows_timestamps_and_speaker_turns(
    page, console_server, speech, screenshots
):
    open_view(page, console_server, "playground/stt")
    page.locator("select[name=model]").first.select_option("whisper-base")
    page.locator("select[name=model]").nth(1).select_option("resemblyzer-diarization")
    page.locator("input[name=audio]").set_input_files(speech)
    page.get_by_role("button", name="Transcribe").click()
    rows = page.locator("table.segments tbody tr")
    expect(rows.first).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("table.segments")).to_contain_text("fox", ignore_case=True)
    expect(rows.first.locator("td").first).to_have_text("0:00.00")
    expect(page.locator("table.segments thead")).to_contain_text("Speaker")
    expect(rows.first).to_contain_text("SPEAKER_00")
    page.screenshot(path=screenshots / "speech-to-text.png", full_page=True)


def test_audio_classification_shows_labels_and_events(page, console_server, speech, screenshots):
    open_view(page, console_server, "playground/audio-classification")
    page.locator("select[name=model]").select_option("yamnet")
    page.locator("input[name=audio]").set_input_files(speech)
    page.get_by_role("button", name="Classify").click()
    expect(page.locator(".bars li").first).to_contain_text("Speech", timeout=WAIT_MS)
    expect(page.locator("svg.timeline rect").first).to_be_attached()
    page.screenshot(path=screenshots / "audio-classification.png", full_page=True)


@pytest.mark.parametrize(
    ("task", "model", "expected"),
    [
        ("ocr", "pp-ocrv6", "li"),
        ("image-segmentation", "u2netp", "li"),
        ("image-classification", "efficientnet-lite0", ".bars li"),
    ],
)
def test_other_vision_tasks_are_drawn(page, console_server, screenshots, task, model, expected):
    open_view(page, console_server, "playground/vision")
    page.locator("select[name=task]").select_option(task)
    page.locator("select[name=model]").select_option(model)
    page.locator("input[name=image]").set_input_files(bus_jpg())
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_test_id("timing")).to_contain_text(model, timeout=WAIT_MS)
    expect(page.locator(f"main {expected}").first).to_be_visible()
    if task != "image-classification":
        expect(page.get_by_test_id("drawing")).to_have_attribute("data-drawn", "answer")
    page.screenshot(path=screenshots / f"vision-{task}.png", full_page=True)


def test_an_orchestrated_request_shows_ranking_and_attempts(page, console_server, screenshots):
    open_view(page, console_server, "playground/orchestrated")
    page.locator("main select").first.select_option("embedding")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("heading", name="Attempts")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("main ol").last).to_contain_text("ok")
    expect(page.get_by_test_id("timing")).to_be_visible()
    page.screenshot(path=screenshots / "orchestrated.png", full_page=True)
