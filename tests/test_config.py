"""Settings from the environment and a TOML file; bad values fail naming the setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from altlas.config import ConfigError, Settings


def test_defaults_follow_the_design_document():
    settings = Settings.load(environ={})
    assert settings.model_dir == Path("models").absolute()
    assert settings.cache_dir == Path("cache").absolute()
    assert settings.use_gpu is True
    assert settings.gpu_memory_limit is None
    assert settings.cache_size_limit == 1024
    assert settings.log_level == "INFO"
    assert settings.load_on_demand is True


def test_environment_values_are_parsed(tmp_path):
    settings = Settings.load(
        environ={
            "MODEL_DIR": str(tmp_path),
            "USE_GPU": "false",
            "GPU_MEMORY_LIMIT": "2048",
            "CACHE_SIZE_LIMIT": "10",
            "LOG_LEVEL": "debug",
            "ALTLAS_LOAD_PLUGINS": "onnx, other",
        }
    )
    assert settings.model_dir == tmp_path
    assert settings.use_gpu is False
    assert settings.gpu_memory_limit == 2048
    assert settings.cache_size_limit == 10
    assert settings.log_level == "DEBUG"
    assert settings.load_plugins == ("onnx", "other")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("USE_GPU", "maybe"),
        ("GPU_MEMORY_LIMIT", "lots"),
        ("GPU_MEMORY_LIMIT", "-5"),
        ("CACHE_SIZE_LIMIT", "none"),
        ("LOG_LEVEL", "LOUD"),
        ("LOAD_ON_DEMAND", "2"),
    ],
)
def test_bad_value_names_the_setting(name, value):
    with pytest.raises(ConfigError, match=f"^{name}: "):
        Settings.load(environ={name: value})


def test_config_file_with_environment_precedence(tmp_path):
    config = tmp_path / "altlas.toml"
    config.write_text(
        'model_dir = "/srv/models"\nuse_gpu = false\nlog_level = "WARNING"\n'
        '[tasks]\nembedding = "my-encoder"\n'
        '[models.my-encoder]\nbackend = "onnx"\ntasks = ["embedding"]\nsource = "enc.onnx"\n'
    )
    settings = Settings.load(environ={"LOG_LEVEL": "ERROR"}, config_path=config)
    assert settings.model_dir == Path("/srv/models")
    assert settings.use_gpu is False
    assert settings.log_level == "ERROR"
    assert settings.task_defaults == {"embedding": "my-encoder"}
    assert settings.models["my-encoder"]["source"] == "enc.onnx"
    via_env = Settings.load(environ={"ALTLAS_CONFIG": str(config)})
    assert via_env.config_path == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("use_gpu = 3\n", "USE_GPU (config file key 'use_gpu'): expected true or false"),
        ("colour = 'blue'\n", "unknown setting(s) colour"),
        ("model_dir = \n", "is not valid TOML"),
        ("[tasks]\nembedding = 3\n", "[tasks] maps task ids"),
    ],
)
def test_bad_config_file(tmp_path, text, message):
    config = tmp_path / "altlas.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as raised:
        Settings.load(environ={}, config_path=config)
    assert message in str(raised.value)


def test_missing_config_file():
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(environ={"ALTLAS_CONFIG": "/no/such/file.toml"})


def test_cli_exits_2_naming_the_bad_setting(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "altlas.cli", "models"],
        env={"USE_GPU": "perhaps", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "USE_GPU: expected true or false, got 'perhaps'" in result.stderr
