"""Pulls: files downloaded ahead of time from a loopback HTTP server and a local
hub-compatible endpoint (``HF_ENDPOINT``), through ``POST /api/models/pull`` on a real
uvicorn server: progress as server-sent events, a dropped connection resumed with
``Range``, a checksum mismatch refused, one download shared by two pulls, the disk
budget's 507, and the ``downloading`` status."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from altlas_sdk.testing.server import serving
from altlas_sdk.testing.service import asgi_app

DEADLINE_S = 60


class FileServer:
    """A loopback HTTP server of in-memory files that honours ``Range``, counts every
    GET, and can drop a connection mid-file or hold a file half sent."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        #: Extra response headers per path (a hub's X-Linked-Etag).
        self.headers: dict[str, dict[str, str]] = {}
        #: path -> location: answered 302 (the hub's resolve URL to its CDN).
        self.redirects: dict[str, str] = {}
        #: path -> bytes after which the next GET of it closes the connection.
        self.drop_after: dict[str, int] = {}
        #: path -> an event the GET waits for once half the file is sent.
        self.gates: dict[str, threading.Event] = {}
        self.gets: Counter[str] = Counter()
        self.ranges: list[tuple[str, str | None]] = []
        self.half_sent = threading.Event()
        self.base = ""

    def add(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``path``; returns its URL."""
        self.files[path] = data
        return self.base + path

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, *, body: bool) -> None:
                path = self.path
                extra = server.headers.get(path, {})
                if path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[path])
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = server.files.get(path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                asked = self.headers.get("Range")
                if body:
                    server.gets[path] += 1
                    server.ranges.append((path, asked))
                if asked and asked.startswith("bytes="):
                    start = int(asked[6:].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                if not body:
                    return
                rest = data[start:]
                drop = server.drop_after.pop(path, None)
                if drop is not None:
                    self.wfile.write(rest[:drop])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                gate = server.gates.get(path)
                if gate is not None:
                    half = len(rest) // 2
                    self.wfile.write(rest[:half])
                    self.wfile.flush()
                    server.half_sent.set()
                    gate.wait(DEADLINE_S)
                    rest = rest[half:]
                self.wfile.write(rest)

        return Handler


@pytest.fixture
def files() -> Iterator[FileServer]:
    server = FileServer()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), server.handler())
    server.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    for gate in server.gates.values():
        gate.set()
    httpd.shutdown()
    httpd.server_close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def echo_entry(model_id: str, source: str, digest: str | None = None) -> str:
    """A config table for an echo fixture model whose weights are downloaded."""
    table = (
        f'[models.{model_id}]\nbackend = "echo"\ntasks = ["reverse-text"]\nsource = "{source}"\n'
    )
    return table + (f'sha256 = {{ source = "{digest}" }}\n' if digest else "")


@pytest.fixture
def served(
    fixture_plugins: Path, make_runtime: Callable[..., object], tmp_path: Path
) -> Callable[..., object]:
    """``with served(config_text, **settings) as (url, runtime):`` a real uvicorn server
    over the echo fixture plugin and ``config_text`` as its config file."""

    @contextmanager
    def run(config_text: str, **settings: str) -> Iterator[tuple[str, object]]:
        config = tmp_path / "altlas.toml"
        config.write_text(config_text)
        runtime = make_runtime(config_path=config, **settings)
        with serving(asgi_app(runtime)) as url:
            yield url, runtime

    return run


def pull_events(
    url: str, model: str, seen: Callable[[dict], None] = lambda data: None
) -> list[tuple[str, dict]]:
    """The server-sent events of one pull, as (event name, data); ``seen`` is called
    with each event's data as it arrives."""
    events = []
    with httpx.stream(
        "POST", f"{url}/api/models/pull", json={"model": model}, timeout=DEADLINE_S
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        name = "message"
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
                seen(events[-1][1])
                name = "message"
    return events


def wait_for(condition: Callable[[], object], what: str) -> object:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_pull_streams_progress_and_lands_the_file_without_loading(files, served, tmp_path):
    weights = b"olleh" * 100_000  # 500 kB
    url = files.add("/w/weights.echo", weights)
    config = echo_entry("remote-echo", url, sha256(weights))
    with served(config) as (base, runtime):
        before = httpx.get(f"{base}/api/models/remote-echo/status").json()
        assert before["state"] == "available"
        assert files.gets["/w/weights.echo"] == 0  # offline until asked
        events = pull_events(base, "remote-echo")
        statuses = [data["status"] for _, data in events]
        assert statuses[0] == "pulling" and statuses[-1] == "success"
        downloading = [data for _, data in events if data["status"] == "downloading"]
        assert downloading[-1]["completed"] == downloading[-1]["total"] == len(weights)
        assert [data["file"] for _, data in events if data["status"] == "downloaded"] == ["source"]
        target = runtime.resolver.locate(url)
        assert target.read_bytes() == weights
        assert not target.with_name(target.name + ".part").exists()
        status = httpx.get(f"{base}/api/models/remote-echo/status").json()
        assert status["state"] == "available"  # pulled, not loaded
        # A second pull finds the file there; a load reads it without another GET.
        again = pull_events(base, "remote-echo")
        assert [data["status"] for _, data in again] == ["pulling", "present", "success"]
        answer = httpx.post(
            f"{base}/api/inference/",
            json={"model_id": "remote-echo", "inputs": {"text": "abc"}},
            timeout=DEADLINE_S,
        )
        assert answer.status_code == 200, answer.text
        assert files.gets["/w/weights.echo"] == 1


def test_a_dropped_connection_resumes_with_a_range_request(files, served):
    weights = bytes(range(256)) * 4096  # 1 MiB
    url = files.add("/w/drop.echo", weights)
    files.drop_after["/w/drop.echo"] = 300_000
    with served(echo_entry("drop-echo", url, sha256(weights))) as (base, runtime):
        events = pull_events(base, "drop-echo")
        assert events[-1][1]["status"] == "success"
        assert runtime.resolver.locate(url).read_bytes() == weights
    assert files.gets["/w/drop.echo"] == 2
    first, second = (asked for path, asked in files.ranges if path == "/w/drop.echo")
    assert first is None
    assert second is not None and int(second[6:].rstrip("-")) >= 300_000 - 65_536


def test_a_part_file_left_by_a_stopped_process_is_resumed(files, served):
    weights = bytes(range(256)) * 2048
    url = files.add("/w/left.echo", weights)
    with served(echo_entry("left-echo", url, sha256(weights))) as (base, runtime):
        target = runtime.resolver.locate(url)
        target.parent.mkdir(parents=True)
        target.with_name(target.name + ".part").write_bytes(weights[:200_000])
        assert pull_events(base, "left-echo")[-1][1]["status"] == "success"
        assert target.read_bytes() == weights
    assert files.ranges == [("/w/left.echo", "bytes=200000-")]


def test_a_checksum_mismatch_is_refused_and_nothing_is_kept(files, served):
    url = files.add("/w/bad.echo", b"tampered bytes")
    with served(echo_entry("bad-echo", url, sha256(b"the real bytes"))) as (base, runtime):
        events = pull_events(base, "bad-echo")
        name, error = events[-1]
        assert name == "error"
        assert error["error"]["code"] == "checksum_mismatch"
        assert sha256(b"the real bytes") in error["error"]["message"]
        answer = httpx.post(
            f"{base}/api/models/pull",
            json={"model": "bad-echo", "stream": False},
            timeout=DEADLINE_S,
        )
        assert answer.status_code == 409
        assert answer.json()["error"]["code"] == "checksum_mismatch"
        target = runtime.resolver.locate(url)
        assert not target.exists()
        assert not target.with_name(target.name + ".part").exists()
        # A load of the model meets the same refusal, and the model stays loadable.
        load = httpx.post(f"{base}/api/models/bad-echo/load", timeout=DEADLINE_S)
        assert load.status_code == 409
        assert load.json()["error"]["code"] == "checksum_mismatch"


def hub_file(files: FileServer, repo: str, path: str, data: bytes, etag: str) -> None:
    """Serve ``data`` as the hub does: ``resolve`` answers 302 to the CDN with the
    file's SHA-256 in ``X-Linked-Etag`` and its size in ``X-Linked-Size``."""
    cdn = f"/cdn/{sha256(data)}"
    files.add(cdn, data)
    resolve = f"/{repo}/resolve/main/{path}"
    files.redirects[resolve] = files.base + cdn
    files.headers[resolve] = {"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))}


def test_a_hub_file_is_verified_against_the_hubs_sha256(files, served, monkeypatch):
    good, bad = b"hub weights" * 1000, b"hub weights, altered on the way"
    hub_file(files, "org/repo", "good.echo", good, sha256(good))
    hub_file(files, "org/repo", "bad.echo", bad, sha256(b"something else"))
    monkeypatch.setenv("HF_ENDPOINT", files.base)  # read by the hf: source
    with served(echo_entry("hub-echo", "hf:org/repo/good.echo")) as (base, runtime):
        assert pull_events(base, "hub-echo")[-1][1]["status"] == "success"
        assert runtime.resolver.locate("hf:org/repo/good.echo").read_bytes() == good
        assert files.gets[f"/cdn/{sha256(good)}"] == 1
        # A reference no entry names yet: pulled where an entry would find it.
        events = pull_events(base, "hf:org/repo/bad.echo")
        assert events[-1][0] == "error"
        assert events[-1][1]["error"]["code"] == "checksum_mismatch"
        assert not runtime.resolver.locate("hf:org/repo/bad.echo").exists()


def test_two_pulls_of_one_file_share_one_download(files, served):
    weights = b"x" * 2_000_000
    url = files.add("/w/shared.echo", weights)
    files.gates["/w/shared.echo"] = threading.Event()
    with served(echo_entry("shared-echo", url)) as (base, runtime):
        results: dict[str, list] = {}
        first = threading.Thread(
            target=lambda: results.__setitem__("first", pull_events(base, "shared-echo"))
        )
        first.start()
        assert files.half_sent.wait(DEADLINE_S)
        status = wait_for(
            lambda: (
                (s := httpx.get(f"{base}/api/models/shared-echo/status").json())["state"]
                == "downloading"
                and s["downloaded_bytes"]
                and s
            ),
            "the downloading state",
        )
        assert status["download_total_bytes"] == len(weights)
        assert 0 < status["downloaded_bytes"] < len(weights)
        joined = threading.Event()
        midway: list[dict] = []

        def on_event(data: dict) -> None:
            if data["status"] == "downloading" and not joined.is_set():
                midway.append(data)
                joined.set()

        second = threading.Thread(
            target=lambda: results.__setitem__("second", pull_events(base, "shared-echo", on_event))
        )
        second.start()
        # The second pull reports the download in progress, held half way.
        assert joined.wait(DEADLINE_S)
        assert 0 < midway[0]["completed"] < len(weights) == midway[0]["total"]
        files.gates["/w/shared.echo"].set()
        first.join(DEADLINE_S)
        second.join(DEADLINE_S)
    for name in ("first", "second"):
        events = results[name]
        assert events[-1][1]["status"] == "success", events
        progress = [data for _, data in events if data["status"] == "downloading"]
        assert progress[-1]["completed"] == len(weights)
    assert files.gets["/w/shared.echo"] == 1
    assert runtime.resolver.downloads.started == 1


def test_a_pull_over_the_disk_budget_is_a_507_naming_what_holds_the_space(files, served):
    first = files.add("/w/first.echo", b"a" * 3 * 1024 * 1024)
    second = files.add("/w/second.echo", b"b" * 3 * 1024 * 1024)
    config = echo_entry("first-echo", first) + echo_entry("second-echo", second)
    with served(config, DOWNLOAD_DISK_LIMIT="5") as (base, runtime):
        assert pull_events(base, "first-echo")[-1][1]["status"] == "success"
        answer = httpx.post(
            f"{base}/api/models/pull",
            json={"model": "second-echo", "stream": False},
            timeout=DEADLINE_S,
        )
        assert answer.status_code == 507
        error = answer.json()["error"]
        assert error["code"] == "disk_budget_exceeded"
        holder = runtime.resolver.locate(first).parent.name
        assert f"CACHE_DIR/models/{holder} 3.0 MB" in error["message"]
        assert "DOWNLOAD_DISK_LIMIT (5.0 MB)" in error["message"]
        assert str(runtime.settings.cache_dir) not in error["message"]
        assert files.gets["/w/second.echo"] == 0  # refused before the GET
        assert not runtime.resolver.locate(second).exists()


def test_a_load_downloads_through_the_same_machinery(files, served):
    weights = b"y" * 1_000_000
    url = files.add("/w/load.echo", weights)
    files.gates["/w/load.echo"] = threading.Event()
    with served(echo_entry("load-echo", url, sha256(weights))) as (base, _):
        loading = threading.Thread(
            target=lambda: httpx.post(f"{base}/api/models/load-echo/load", timeout=DEADLINE_S)
        )
        loading.start()
        assert files.half_sent.wait(DEADLINE_S)
        status = wait_for(
            lambda: (
                (s := httpx.get(f"{base}/api/models/load-echo/status").json())["state"]
                == "downloading"
                and s
            ),
            "the downloading state",
        )
        assert status["download_total_bytes"] == len(weights)
        files.gates["/w/load.echo"].set()
        loading.join(DEADLINE_S)
        state = httpx.get(f"{base}/api/models/load-echo/status").json()["state"]
        assert state == "loaded"


def test_pulling_an_unknown_name_is_a_404_and_a_bad_body_a_422(files, served):
    with served(echo_entry("some-echo", files.base + "/w/x.echo")) as (base, _):
        answer = httpx.post(f"{base}/api/models/pull", json={"model": "no-such-model"})
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "model_not_found"
        answer = httpx.post(f"{base}/api/models/pull", json={"model": "x", "bogus": 1})
        assert answer.status_code == 422
        # A hub reference that would write outside CACHE_DIR: refused before any request.
        answer = httpx.post(f"{base}/api/models/pull", json={"model": "hf:org/../../x/y.echo"})
        assert answer.status_code == 409
        assert answer.json()["error"]["code"] == "unsafe_path"
        assert not files.gets
        # A file of the entry that is missing upstream: the pull fails in the stream.
        events = pull_events(base, "some-echo")
        assert events[-1][0] == "error"
        assert events[-1][1]["error"]["code"] == "weights_missing"


def altlas_pull(
    what: str, env: dict[str, str], plugins: Path, config: Path
) -> subprocess.CompletedProcess[str]:
    """``altlas pull what`` as a real subprocess."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "altlas"), "--config", str(config), "pull", what],
        env={**os.environ, **env, "PYTHONPATH": str(plugins)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_altlas_pull_shows_a_progress_bar_per_file(
    files, installed_fixture_plugins, base_env, tmp_path
):
    weights = b"z" * 1_500_000
    url = files.add("/w/cli.echo", weights)
    hub_file(files, "org/repo", "hub.echo", b"hub bytes", sha256(b"hub bytes"))
    config = tmp_path / "altlas.toml"
    config.write_text(
        echo_entry("cli-echo", url, sha256(weights))
        + echo_entry("cli-bad", files.add("/w/bad.echo", b"wrong"), sha256(b"right"))
    )
    env = {**base_env, "HF_ENDPOINT": files.base}
    result = altlas_pull("cli-echo", env, installed_fixture_plugins, config)
    assert result.returncode == 0, result.stderr
    assert "cli.echo: 100%" in result.stderr  # tqdm's bar, named after the file
    assert "1.43M/1.43M" in result.stderr
    assert "pulled cli-echo" in result.stdout
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    assert (Path(base_env["CACHE_DIR"]) / "models" / digest / "cli.echo").read_bytes() == weights
    again = altlas_pull("cli-echo", env, installed_fixture_plugins, config)
    assert again.returncode == 0
    assert "already here" in again.stdout
    assert files.gets["/w/cli.echo"] == 1
    # A hub reference that no entry names.
    hub = altlas_pull("hf:org/repo/hub.echo", env, installed_fixture_plugins, config)
    assert hub.returncode == 0, hub.stderr
    hub_path = Path(base_env["CACHE_DIR"]) / "hf" / "org" / "repo" / "main" / "hub.echo"
    assert hub_path.read_bytes() == b"hub bytes"
    # A refused checksum: exit status 1 and the reason, nothing kept.
    bad = altlas_pull("cli-bad", env, installed_fixture_plugins, config)
    assert bad.returncode == 1
    assert "altlas: " in bad.stderr and sha256(b"right") in bad.stderr
    missing = altlas_pull("no-such-model", env, installed_fixture_plugins, config)
    assert missing.returncode == 1
    assert "no-such-model" in missing.stderr


def test_ollamas_api_pull_reports_the_same_downloads_bytes(files, served):
    weights = b"o" * 800_000
    url = files.add("/w/ollama.echo", weights)
    with served(echo_entry("ollama-echo", url, sha256(weights))) as (base, runtime):
        with httpx.stream(
            "POST", f"{base}/api/pull", json={"model": "ollama-echo"}, timeout=DEADLINE_S
        ) as response:
            assert response.status_code == 200
            lines = [json.loads(line) for line in response.iter_lines() if line]
        assert lines[0]["status"] == "pulling manifest"
        assert lines[-1]["status"] == "success"
        progress = [line for line in lines if line["status"] == "pulling source"]
        assert progress[-1]["completed"] == progress[-1]["total"] == len(weights)
        layer = next(line for line in lines if line.get("digest"))
        assert layer["digest"] == f"sha256:{sha256(weights)}"
        assert runtime.resolver.locate(url).read_bytes() == weights
    assert files.gets["/w/ollama.echo"] == 1
