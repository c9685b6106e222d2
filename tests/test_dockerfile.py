"""The Dockerfile, checked without a Docker engine: hadolint passes; every path it copies
exists and survives .dockerignore; it installs with exactly the requirement-file commands
of scripts/install.sh; it serves on port 8000 with MODEL_DIR=/app/models."""

from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        current += " " + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def _ignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and line[0] != "#"]


def _matches(pattern: str, relative: str) -> bool:
    """Whether ``pattern`` matches ``relative`` or a folder above it."""
    parts = relative.split("/")
    for prefix in ("/".join(parts[: i + 1]) for i in range(len(parts))):
        if fnmatch.fnmatchcase(prefix, pattern):
            return True
        bare = pattern.removeprefix("**/")
        if pattern.startswith("**/") and fnmatch.fnmatchcase(prefix.split("/")[-1], bare):
            return True
    return False


def _ignored(relative: str) -> bool:
    """Whether the build context leaves ``relative`` out: the last matching pattern
    decides, and ``!pattern`` lets a path back in, as Docker reads the file."""
    ignored = False
    for pattern in _ignore_patterns():
        if pattern.startswith("!"):
            if _matches(pattern[1:], relative):
                ignored = False
        elif _matches(pattern, relative):
            ignored = True
    return ignored


def test_hadolint_passes():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_copied_path_exists_in_the_build_context():
    copies = [args for name, args in _instructions() if name == "COPY"]
    local = [shlex.split(args) for args in copies if not args.startswith("--from")]
    assert local, "the Dockerfile copies the sources"
    for words in local:
        for source in words[:-1]:
            relative = source.rstrip("/")
            assert (REPO / relative).exists(), f"COPY {source}: no such path"
            assert not _ignored(relative), f"COPY {source}: .dockerignore leaves it out"


def _documented_install_commands() -> list[list[str]]:
    """The pip commands of install_starter in scripts/install.sh, without --quiet."""
    text = (REPO / "scripts" / "install.sh").read_text()
    body = text.split("install_starter() {", 1)[1].split("\n}", 1)[0]
    commands = []
    for line in body.replace("\\\n", " ").splitlines():
        if line.strip().startswith("#"):
            continue
        words = shlex.split(line.strip())
        if words[:2] == ["_pip", "install"] and "-r" in words:
            commands.append([word for word in words[2:] if word != "--quiet"])
    return commands


def test_it_installs_with_the_documented_requirement_files():
    documented = _documented_install_commands()
    assert [command[command.index("-r") + 1] for command in documented] == [
        "requirements/torch.txt",
        "requirements/starter.txt",
        "requirements/no-deps.txt",
    ]
    runs = " && ".join(args for name, args in _instructions() if name == "RUN")
    installs = [
        shlex.split(step.strip())[2:]
        for step in runs.split("&&")
        if step.strip().startswith("pip install") and " -r " in step
    ]
    assert installs == documented


def test_every_distribution_the_starter_set_installs_is_in_the_context():
    copied = [
        shlex.split(args)[0].rstrip("/")
        for name, args in _instructions()
        if name == "COPY" and not args.startswith("--from")
    ]
    for line in (REPO / "requirements" / "starter.txt").read_text().splitlines():
        match = re.match(r"-e \./(?P<path>[^\[\s]+)", line.strip())
        if match is None:
            continue
        path = match["path"]
        assert any(path == c or path.startswith(c + "/") for c in copied), path
        assert not _ignored(path) and (REPO / path / "pyproject.toml").exists(), path


def test_it_serves_models_from_app_models_on_port_8000():
    instructions = _instructions()
    env = " ".join(args for name, args in instructions if name == "ENV")
    assert "MODEL_DIR=/app/models" in env.split()
    assert ("EXPOSE", "8000") in instructions
    assert instructions[-1] == (
        "CMD",
        '["altlas", "serve", "--host", "0.0.0.0", "--port", "8000"]',
    )
    assert ("VOLUME", '["/app/models"]') in instructions


def test_the_image_leaves_out_tests_and_the_plugin_template():
    for path in ("tests", "plugin-template", "docs", ".venv", "plugins/onnx/tests", "scripts"):
        assert _ignored(path), path
    assert not _ignored("plugins/onnx/src/altlas_onnx/backend.py")
    assert not _ignored("scripts/wheelhouse.sh")
