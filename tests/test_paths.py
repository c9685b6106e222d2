"""Paths: every file a catalog entry or a request names stays inside MODEL_DIR or
CACHE_DIR once symbolic links are resolved, or is refused; answers and listings never
show where those folders are on disk."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest

from altlas.model_files import ModelFilesResolver
from altlas_sdk import SourceContext
from altlas_sdk.paths import UnsafePath, check_inside, display_path, relative_parts

SECRET = "the secret outside MODEL_DIR"


@pytest.mark.parametrize(
    "ref",
    [
        "../x.bin",
        "org/repo/../../x.bin",
        "/etc/passwd",
        "~/x.bin",
        "org/repo/%2e%2e/%2E%2E/x.bin",
        "%2Fetc/passwd",
        "org\\repo\\x.bin",
        "org//x.bin",
        "org/./x.bin",
    ],
)
def test_relative_references_refuse_every_escape(ref):
    with pytest.raises(UnsafePath) as raised:
        relative_parts(ref, what=f"hf:{ref}")
    assert raised.value.status == 409 and raised.value.code == "unsafe_path"
    assert f"hf:{ref}" in raised.value.message


def test_relative_references_keep_their_parts():
    assert relative_parts("org/repo/onnx/model.onnx", what="x") == [
        "org",
        "repo",
        "onnx",
        "model.onnx",
    ]


def test_containment_follows_symbolic_links(tmp_path):
    root, outside = tmp_path / "models", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.bin").write_text(SECRET)
    (root / "real.bin").write_text("weights")
    (root / "inner.bin").symlink_to(root / "real.bin")
    (root / "out.bin").symlink_to(outside / "secret.bin")
    (root / "outdir").symlink_to(outside)
    folder = root / "folder"
    folder.mkdir()
    (folder / "ok.bin").write_text("weights")

    def check(path: Path) -> Path:
        return check_inside(path, [root], what="'x'", shown="MODEL_DIR")

    assert check(root / "real.bin") == root / "real.bin"
    assert check(root / "inner.bin") == root / "inner.bin"  # a link that stays inside
    assert check(folder) == folder
    for escaping in (root / "out.bin", root / "outdir", root / "outdir" / "secret.bin"):
        with pytest.raises(UnsafePath, match="resolves outside MODEL_DIR"):
            check(escaping)
    with pytest.raises(UnsafePath, match="resolves outside MODEL_DIR"):
        check(root / ".." / "outside" / "not-yet-there.bin")
    # A folder inside whose member points out is refused, naming the member.
    (folder / "sneaky.bin").symlink_to(outside / "secret.bin")
    with pytest.raises(UnsafePath, match=r"its member 'sneaky\.bin'"):
        check(folder)


def test_paths_are_shown_relative_to_the_settings(tmp_path):
    model_dir, cache_dir = tmp_path / "models", tmp_path / "cache"
    assert display_path(model_dir / "a" / "b.gguf", model_dir, cache_dir) == "MODEL_DIR/a/b.gguf"
    assert display_path(cache_dir / "hf" / "x", model_dir, cache_dir) == "CACHE_DIR/hf/x"
    assert display_path(Path("/elsewhere/c.onnx"), model_dir, cache_dir) == ".../c.onnx"


def test_error_messages_lose_the_folders_locations(tmp_path):
    context = SourceContext(model_dir=tmp_path / "models", cache_dir=tmp_path / "cache")
    resolver = ModelFilesResolver({}, context)
    text = f"No such file: '{tmp_path / 'models' / 'x.pt'}' nor '{tmp_path / 'cache' / 'y'}'"
    assert resolver.redact(text) == "No such file: 'MODEL_DIR/x.pt' nor 'CACHE_DIR/y'"
    assert str(tmp_path) not in resolver.redact(text)


@pytest.fixture
def hub(tmp_path):
    """A real HTTP server on 127.0.0.1 standing in for the hub: it serves any path
    with a file's bytes and records every path it was asked for."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = b"downloaded weights"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()


def _entry(model_id: str, source: str) -> str:
    return (
        f'[models.{model_id}]\nbackend = "echo"\ntasks = ["reverse-text"]\n'
        f"source = {json.dumps(source)}\n"
    )


ESCAPES = {
    "dotdot": "../outside/secret.echo",
    "linked": "link.echo",
    "linked-folder": "folder",
    "hub-dotdot": "hf:org/repo/../../../../../escaped.echo",
    "hub-encoded": "hf:org/repo/%2e%2e/%2e%2e/%2e%2e/escaped.echo",
    "hub-revision": "hf:org/repo/model.echo@../../../../escaped",
    "package-dotdot": "package:altlas_fixture_echo/../../../../../../../../etc/hostname",
}


def test_escaping_entries_are_refused_through_a_real_server(
    altlas_server, base_env, installed_fixture_plugins, tmp_path, hub
):
    hub_url, asked = hub
    model_dir = Path(base_env["MODEL_DIR"])
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.echo").write_text(SECRET)
    (model_dir / "link.echo").symlink_to(outside / "secret.echo")
    (model_dir / "folder").mkdir()
    (model_dir / "folder" / "weights.echo").symlink_to(outside / "secret.echo")
    # Dropped in MODEL_DIR for discovery: a link out is not even listed.
    (model_dir / "dropped.echo").symlink_to(outside / "secret.echo")
    config = tmp_path / "altlas.toml"
    config.write_text(
        "".join(_entry(model_id, source) for model_id, source in ESCAPES.items())
        # The operator may name a file anywhere by its absolute path.
        + _entry("operator-absolute", str(outside / "secret.echo"))
        + _entry("absent", "absent.echo")
    )
    env = {
        "PYTHONPATH": str(installed_fixture_plugins),
        "ALTLAS_CONFIG": str(config),
        "HF_ENDPOINT": hub_url,
    }
    with altlas_server(env) as client:
        listing = client.get("/api/models/").json()["models"]
        ids = {model["id"] for model in listing}
        assert "dropped" not in ids and set(ESCAPES) <= ids
        for model_id in ESCAPES:
            status = client.get(f"/api/models/{model_id}/status").json()
            assert status["state"] == "unavailable", (model_id, status)
            assert "resolves outside" in status["detail"] or "not allowed" in status["detail"]
            answer = client.post(f"/api/models/{model_id}/load")
            assert answer.status_code == 409, (model_id, answer.text)
            assert answer.json()["error"]["code"] == "unsafe_path"
            inference = client.post(
                "/api/tasks/reverse-text", json={"model_id": model_id, "inputs": "ab"}
            )
            assert inference.status_code == 409 and SECRET[::-1] not in inference.text
        # Nothing was downloaded, inside CACHE_DIR or out of it.
        assert asked == []
        assert [p for p in tmp_path.rglob("escaped*")] == []

        loaded = client.post("/api/models/operator-absolute/load")
        assert loaded.status_code == 200 and loaded.json()["state"] == "loaded"

        # Path traversal in model ids, plain and percent-encoded: 404, never a file.
        for path in ("/api/models/..%2f..%2fetc%2fpasswd", "/api/models/%2e%2e/status"):
            assert client.get(path).status_code == 404
        assert client.post("/api/models/%2e%2e%2foutside/load").status_code == 404

        missing = client.post("/api/models/absent/load")
        assert missing.status_code == 409
        assert "MODEL_DIR/absent.echo" in missing.json()["error"]["message"]
        # No answer shows where MODEL_DIR or CACHE_DIR are on disk.
        anonymous = [
            client.get("/api/models/").text,
            client.get("/v1/models").text,
            missing.text,
            *(client.get(f"/api/models/{model_id}").text for model_id in ids),
        ]
        for text in anonymous:
            assert base_env["MODEL_DIR"] not in text and base_env["CACHE_DIR"] not in text
