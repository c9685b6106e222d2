"""The console while API keys are on: it asks for a key when a call answers 401, keeps it
for the tab, and hides load, unload and pin from a key without the admin scope."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

WAIT_MS = 120_000
ADMIN_KEY = "console-admin-key-0123456789"
READ_KEY = "console-infer-key-0123456789"


@pytest.fixture(scope="module")
def keyed_server(
    run_server: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    root = tmp_path_factory.mktemp("console-keys")
    keys = root / "keys.toml"
    # The keys file's format (docs/configuration.md): names, SHA-256 digests, scopes.
    keys.write_text(
        "".join(
            f'[keys.{name}]\nhash = "sha256:{hashlib.sha256(key.encode()).hexdigest()}"\n'
            f"scopes = {scopes}\n"
            for name, key, scopes in (
                ("ops", ADMIN_KEY, '["admin", "metrics"]'),
                ("reader", READ_KEY, '["inference"]'),
            )
        )
    )
    env = {
        "MODEL_DIR": str(root),
        "CACHE_DIR": str(root / "cache"),
        "AUTH_KEYS_FILE": str(keys),
        # The catalog without the fixture plugins: the default one is enough here.
        "ALTLAS_DISABLE_PLUGINS": "fixture-clash,fixture-future,fixture-flaky",
    }
    command = [str(Path(sys.executable).parent / "altlas"), "serve", "--port"]
    with run_server(lambda port: [*command, str(port)], env) as server:
        yield server.base


def enter_key(page: Any, base: str, key: str) -> None:
    page.goto(f"{base}/ui/#models")
    form = page.locator("form.keyform")
    expect(form).to_be_visible(timeout=WAIT_MS)
    form.get_by_label("Key").fill(key)
    form.get_by_role("button", name="Use key").click()
    expect(form).to_be_hidden(timeout=WAIT_MS)


def test_an_admin_key_sees_the_actions(browser, keyed_server, screenshots):
    context = browser.new_context()
    page = context.new_page()
    enter_key(page, keyed_server, ADMIN_KEY)
    row = page.locator('tr[data-model="all-minilm-l6-v2"]')
    expect(row.get_by_role("button", name="Load")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("header")).to_contain_text("ops")
    # Kept for the tab: a reload needs no key again.
    page.reload()
    expect(row.get_by_role("button", name="Load")).to_be_visible(timeout=WAIT_MS)
    page.screenshot(path=screenshots / "keys-admin.png")
    context.close()


def test_a_key_without_admin_sees_no_actions(browser, keyed_server, screenshots):
    context = browser.new_context()
    page = context.new_page()
    enter_key(page, keyed_server, READ_KEY)
    row = page.locator('tr[data-model="all-minilm-l6-v2"]')
    expect(row.get_by_test_id("state")).to_have_text("available", timeout=WAIT_MS)
    expect(page.locator("header .badge")).to_have_text("no admin")
    expect(page.locator("table.models button")).to_have_count(0)
    page.screenshot(path=screenshots / "keys-reader.png")
    context.close()


def test_the_console_files_are_open_and_the_api_is_not(keyed_server):
    import httpx

    with httpx.Client(base_url=keyed_server, timeout=60) as client:
        moved = client.get("/ui")
        assert moved.status_code in (307, 308)
        assert moved.headers["location"].endswith("/ui/")
        page = client.get("/ui/")
        assert page.status_code == 200 and "importmap" in page.text
        assert client.get("/ui/vendor/uPlot.esm.js").status_code == 200
        assert client.get("/api/models/").status_code == 401
        # A state change stays refused: /ui is open for reading only.
        assert client.post("/ui/index.html").status_code == 401
