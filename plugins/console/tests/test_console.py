"""The console in a real browser against a real server: the models table, load and
unload, a streamed chat reply, detections drawn over bus.jpg, speech played, the system
charts, a failing plugin, the API reference, phone width and the keyboard. Every test
keeps a screenshot of its view, and no test may leave an error in the browser console."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

# Loads and inference on a shared CPU take seconds; nothing here measures time.
WAIT_MS = 180_000


def open_view(page, base: str, view: str) -> None:
    page.goto(f"{base}/ui/#{view}")
    expect(page.locator("main h2").first).to_be_visible(timeout=WAIT_MS)


def bus_jpg() -> Path:
    # The photo Ultralytics ships with its package (two people by the bus, at least).
    spec = importlib.util.find_spec("ultralytics")
    if spec is None:
        pytest.fail("ultralytics is not installed: the starter set brings it with altlas-yolo")
    return Path(spec.submodule_search_locations[0]) / "assets" / "bus.jpg"


def test_models_table_lists_the_default_catalog(page, console_server, screenshots):
    catalog = httpx.get(f"{console_server}/api/models/", timeout=60).json()["models"]
    open_view(page, console_server, "models")
    rows = page.locator("table.models tbody tr")
    expect(rows).to_have_count(len(catalog), timeout=WAIT_MS)
    shown = rows.evaluate_all("rows => rows.map(r => r.dataset.model)")
    assert shown == [model["id"] for model in catalog]
    for model_id in ("smollm2-135m-instruct", "yolo11n-pose", "piper-en-us-joe-medium"):
        assert model_id in shown
    page.screenshot(path=screenshots / "models.png", full_page=True)


def test_load_and_unload_change_the_state_shown(page, console_server, screenshots):
    open_view(page, console_server, "models")
    row = page.locator('tr[data-model="all-minilm-l6-v2"]')
    state = row.get_by_test_id("state")
    expect(state).to_have_text("available", timeout=WAIT_MS)
    row.get_by_role("button", name="Load").click()
    expect(state).to_have_text("loaded", timeout=WAIT_MS)
    # The memory the model holds is shown once it is loaded.
    expect(row.locator("meter")).to_be_visible(timeout=WAIT_MS)
    page.screenshot(path=screenshots / "models-loaded.png", full_page=True)
    row.get_by_role("button", name="Unload").click()
    expect(state).to_have_text("available", timeout=WAIT_MS)
    status = httpx.get(f"{console_server}/api/models/all-minilm-l6-v2/status", timeout=60)
    assert status.json()["state"] == "available"


def test_a_streamed_chat_reply_appears_token_by_token(page, console_server, screenshots):
    open_view(page, console_server, "playground/chat")
    page.get_by_label("Model").select_option("smollm2-135m-instruct")
    page.get_by_label("max_tokens").fill("40")
    page.get_by_label("temperature").fill("0")
    reply = page.get_by_test_id("reply")
    # Record every text the reply shows, as the browser renders it.
    reply.evaluate(
        """el => {
          window.replySeen = [];
          new MutationObserver(() => window.replySeen.push(el.textContent))
            .observe(el, {childList: true, characterData: true, subtree: true});
        }"""
    )
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("timing")).to_contain_text("smollm2-135m-instruct", timeout=WAIT_MS)
    final = reply.text_content()
    seen = [text for text in page.evaluate("window.replySeen") if text]
    assert final.strip()
    # Several growing prefixes of the final text: it arrived in pieces, not at once.
    distinct = list(dict.fromkeys(seen))
    assert len(distinct) >= 3, distinct
    assert all(final.startswith(text) for text in distinct)
    expect(page.locator("details.curl pre")).to_contain_text("/v1/chat/completions")
    page.screenshot(path=screenshots / "chat.png", full_page=True)


def test_bus_jpg_shows_the_detected_people_drawn(page, console_server, screenshots):
    image = bus_jpg()
    open_view(page, console_server, "playground/vision")
    page.locator("select[name=task]").select_option("object-detection")
    page.get_by_label("Model").select_option("yolo11n-pose")
    page.locator("input[name=image]").set_input_files(image)
    page.get_by_role("button", name="Run").click()
    found = page.get_by_test_id("found").locator("li", has_text="person")
    expect(found.nth(1)).to_be_visible(timeout=WAIT_MS)
    canvas = page.get_by_test_id("drawing")
    expect(canvas).to_have_attribute("data-drawn", "answer", timeout=WAIT_MS)
    # The boxes are drawn on the photo: the middle of each person's top edge has the
    # boxes' colour (the same request through the API says where the boxes are).
    with image.open("rb") as photo:
        answer = httpx.post(
            f"{console_server}/api/vision/object-detection",
            files={"image": photo},
            data={"model_id": "yolo11n-pose"},
            timeout=WAIT_MS / 1000,
        ).json()
    people = [d for d in answer["outputs"]["detections"] if d["label"] == "person"]
    assert len(people) >= 2
    for person in people:
        box = person["box"]
        x, y = round((box["x1"] + box["x2"]) / 2), round(box["y1"])
        pixel = canvas.evaluate(
            "(c, [x, y]) => Array.from(c.getContext('2d').getImageData(x, y, 1, 1).data)", [x, y]
        )
        # The boxes' #ff2d55, give or take the canvas's colour rounding.
        assert all(abs(a - b) <= 8 for a, b in zip(pixel[:3], (255, 45, 85), strict=True)), (
            person,
            pixel,
        )
    page.screenshot(path=screenshots / "vision-bus.png", full_page=True)


def test_a_tts_answer_plays(page, console_server, screenshots):
    open_view(page, console_server, "playground/tts")
    page.get_by_label("Model").select_option("piper-en-us-joe-medium")
    page.get_by_label("Text").fill("The console speaks.")
    page.get_by_role("button", name="Speak").click()
    audio = page.get_by_test_id("speech")
    expect(audio).to_be_attached(timeout=WAIT_MS)
    page.wait_for_function("() => document.querySelector('audio').duration > 0", timeout=WAIT_MS)
    # It played: the playhead moved (or the clip already ended).
    page.wait_for_function(
        "() => { const a = document.querySelector('audio'); return a.currentTime > 0 || a.ended; }",
        timeout=WAIT_MS,
    )
    assert audio.evaluate("a => a.duration") > 0.3
    expect(page.get_by_test_id("timing")).to_contain_text("piper-en-us-joe-medium")
    page.screenshot(path=screenshots / "tts.png", full_page=True)


def test_embeddings_show_a_similarity_matrix(page, console_server, screenshots):
    open_view(page, console_server, "playground/embeddings")
    page.get_by_label("Model").select_option("all-minilm-l6-v2")
    page.get_by_role("button", name="Compare").click()
    cells = page.locator("table.matrix tbody td")
    expect(cells).to_have_count(9, timeout=WAIT_MS)
    values = [float(v) for v in cells.all_text_contents()]
    assert values[0] == pytest.approx(1, abs=1e-3)  # a sentence against itself
    assert values[1] > values[2]  # the cat and the kitten are closer than the market
    page.screenshot(path=screenshots / "embeddings.png", full_page=True)


def test_system_view_charts_the_servers_metrics(page, console_server, screenshots):
    open_view(page, console_server, "system")
    # Four uPlot charts, drawn once two samples have come in.
    expect(page.locator(".chart .uplot")).to_have_count(4, timeout=WAIT_MS)
    expect(page.locator(".chart .u-title").first).to_have_text("CPU, RAM and GPU use")
    page.wait_for_function(
        "() => document.querySelectorAll('.u-legend').length === 4", timeout=WAIT_MS
    )
    expect(page.get_by_test_id("evictions")).to_have_text("0")
    page.wait_for_timeout(5000)  # a few samples on the charts for the screenshot
    page.screenshot(path=screenshots / "system.png", full_page=True)


def test_a_failing_plugin_is_shown_with_its_reason(page, console_server, screenshots):
    failures = httpx.get(f"{console_server}/api/plugins", timeout=60).json()["failures"]
    broken = next(f for f in failures if f["name"] == "fixture-broken")
    open_view(page, console_server, "plugins")
    item = page.locator('.failures li[data-plugin="fixture-broken"]')
    expect(item).to_be_visible(timeout=WAIT_MS)
    expect(item).to_contain_text(broken["error"].splitlines()[0][:60])
    expect(page.locator('tr[data-plugin="console"]')).to_be_visible()
    page.screenshot(path=screenshots / "plugins.png", full_page=True)


def test_api_reference_is_drawn_by_swagger_ui(page, console_server, screenshots):
    page.goto(f"{console_server}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("altlas", timeout=WAIT_MS)
    load = page.locator(".opblock-summary-path", has_text="/api/models/{model_id}/load")
    expect(load).to_be_visible()
    paths = httpx.get(f"{console_server}/openapi.json", timeout=60).json()["paths"]
    operations = sum(len(methods) for methods in paths.values())
    assert page.locator(".opblock").count() == operations
    page.screenshot(path=screenshots / "docs.png")


def test_phone_width_and_the_keyboard(browser, console_server, screenshots):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    open_view(page, console_server, "models")
    expect(page.locator("table.models tbody tr").first).to_be_visible(timeout=WAIT_MS)
    # The page itself never scrolls sideways; the wide table scrolls in its own box.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=screenshots / "models-phone.png", full_page=True)
    # Tab from the top reaches the navigation; Enter follows the link.
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "System"
    page.keyboard.press("Enter")
    expect(page.locator("main h2")).to_have_text("System", timeout=WAIT_MS)
    context.close()
    assert errors == []
