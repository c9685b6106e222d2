"""tox.ini has an environment for every distribution of the repository (the SDK with the
core, each plugin, the plugin template), which installs that distribution and runs its
tests, and every test file of tests/ runs in one of its environments."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _tox() -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None)
    config.read(REPO / "tox.ini")
    return config


def _environments() -> dict[str, configparser.SectionProxy]:
    config = _tox()
    return {
        name.removeprefix("testenv:"): config[name]
        for name in config.sections()
        if name.startswith("testenv:")
    }


def _distributions() -> dict[str, str]:
    """tox environment name -> the folder of the distribution it must test."""
    folders = {"sdk-core": "tests", "plugin-template": "plugin-template"}
    for pyproject in sorted(REPO.glob("plugins/*/pyproject.toml")):
        folders[pyproject.parent.name] = f"plugins/{pyproject.parent.name}"
    return folders


def test_every_distribution_has_an_environment_that_installs_and_tests_it() -> None:
    environments = _environments()
    missing = sorted(set(_distributions()) - set(environments))
    assert not missing, f"tox.ini has no [testenv:NAME] for: {', '.join(missing)}"
    for name, folder in _distributions().items():
        environment = environments[name]
        commands = environment.get("commands", "")
        assert re.search(rf"(^|\s){re.escape(folder)}(/|\s|$)", commands), (
            f"[testenv:{name}] does not run {folder}'s tests"
        )
        if folder.startswith("plugin"):
            assert f"-e {folder}" in environment.get("commands_pre", ""), (
                f"[testenv:{name}] does not install {folder}"
            )


def test_every_environment_is_in_the_envlist() -> None:
    listed = set(_tox()["tox"]["envlist"].split())
    assert set(_environments()) <= listed, sorted(set(_environments()) - listed)


def test_every_test_file_of_tests_runs_in_an_environment() -> None:
    commands = " ".join(env.get("commands", "") for env in _environments().values())
    orphans = [
        path.name
        for path in sorted((REPO / "tests").glob("test_*.py"))
        if f"tests/{path.name}" not in commands
    ]
    assert not orphans, f"no tox environment runs: {', '.join(orphans)}"
