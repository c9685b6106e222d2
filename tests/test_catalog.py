"""The catalog: plugin entries, config overrides, MODEL_DIR discovery, weights state."""

from __future__ import annotations

from pathlib import Path


def test_example_entries_wait_for_their_weights(make_runtime, base_env):
    # Without the llama.cpp plugin, whose absence the second half is about.
    runtime = make_runtime(ALTLAS_DISABLE_PLUGINS=base_env["ALTLAS_DISABLE_PLUGINS"] + ",llama-cpp")
    status = runtime.models.status("llama2-7b-q4")
    assert status.state == "weights_missing"
    expected = Path(base_env["MODEL_DIR"]) / "llama-2-7b-chat.Q4_K_M.gguf"
    # Where to put it, relative to the setting: never where MODEL_DIR is on disk.
    assert "at MODEL_DIR/llama-2-7b-chat.Q4_K_M.gguf" in status.detail
    assert base_env["MODEL_DIR"] not in status.detail
    # Once the file is there, the entry waits for its backend's plugin instead.
    expected.write_bytes(b"GGUF")
    status = runtime.models.status("llama2-7b-q4")
    assert status.state == "unavailable"
    assert "pip install altlas-llama-cpp" in status.detail


def test_config_overrides_a_plugin_entry(fixture_plugins, make_runtime, tmp_path):
    config = tmp_path / "altlas.toml"
    config.write_text('[models.echo-2]\ndescription = "tuned"\ndefault_for = ["reverse-text"]\n')
    runtime = make_runtime(config_path=config)
    info = runtime.models.info("echo-2")
    assert info.description == "tuned" and info.default_for == ["reverse-text"]
    assert info.provided_by == "fixture-echo"
    assert info.source == "package:altlas_fixture_echo/weights.txt"


def test_config_adds_an_entry(fixture_plugins, make_runtime, tmp_path, base_env):
    (Path(base_env["MODEL_DIR"]) / "mine.txt").write_text("my weights")
    config = tmp_path / "altlas.toml"
    config.write_text(
        '[models.mine]\nbackend = "echo"\ntasks = ["reverse-text"]\nsource = "mine.txt"\n'
    )
    runtime = make_runtime(config_path=config)
    assert runtime.models.info("mine").provided_by == "config"
    assert runtime.models.status("mine").state == "available"


def test_bad_config_entry_names_it(fixture_plugins, make_runtime, tmp_path):
    import pytest

    from altlas.config import ConfigError

    config = tmp_path / "altlas.toml"
    config.write_text('[models.mine]\nbackend = "echo"\n')
    with pytest.raises(ConfigError, match=r"\[models.mine\]"):
        make_runtime(config_path=config)


def test_files_in_model_dir_are_listed_by_the_backend_that_claims_them(
    fixture_plugins, make_runtime, base_env, serve
):
    model_dir = Path(base_env["MODEL_DIR"])
    (model_dir / "My Model v2.echo").write_text("dropped in")
    (model_dir / "notes.md").write_text("ignored")
    runtime = make_runtime()
    info = runtime.models.info("My-Model-v2")
    assert (info.backend, info.tasks, info.provided_by) == ("echo", ["reverse-text"], "model_dir")
    assert "notes" not in runtime.catalog
    with serve(runtime) as client:
        response = client.post("/api/inference/", json={"model_id": "My-Model-v2", "inputs": "ab"})
        assert response.json()["outputs"] == {"text": "ba"}
