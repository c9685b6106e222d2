"""What a pyannote pipeline folder may make the process do before it is trusted.

pyannote.audio has no safe way to load a pipeline: ``config.yaml`` names the classes it
instantiates (``pipeline.name``, ``preprocessors``), and every model checkpoint is
unpickled with ``weights_only=False``, from the folder or downloaded from the hub. So,
unless the entry has ``trust_pickled_weights = true``:

- ``config.yaml`` is read with ``yaml.safe_load`` and its pipeline must be one of
  pyannote.audio's own pipeline classes; ``preprocessors`` (more class names) are
  refused;
- the load is then refused, naming the pickled files it would unpickle.

Both refusals come before pyannote reads the folder.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from altlas_sdk import ModelSpec
from altlas_sdk.errors import InvalidModelFile
from altlas_sdk.pickles import PickledWeightsRefused, pickled_files, trust_hint

#: Where pyannote.audio's own pipelines live; a config naming a class elsewhere could
#: call anything importable.
OWN_PIPELINES = "pyannote.audio.pipelines"

_WHY = (
    "pyannote.audio unpickles every checkpoint of a pipeline with weights_only=False "
    "(from this folder or downloaded from the hub), and has no safe way to load them"
)


def check_pipeline(spec: ModelSpec, folder: Path, config_file: Path) -> None:
    """Raise unless ``spec`` trusts pickled weights or the pipeline is safe to load:
    :class:`InvalidModelFile` for a config naming classes outside pyannote's own
    pipelines, :class:`PickledWeightsRefused` for the checkpoints."""
    if spec.trust_pickled_weights:
        return
    config = _read_config(config_file)
    _check_class(spec, config)
    found = pickled_files([folder])
    names = ", ".join(f"'{path.relative_to(folder)}'" for path in found[:3]) or "its checkpoints"
    raise PickledWeightsRefused(f"refused to load {names}: {_WHY}; {trust_hint(spec)}")


def _read_config(config_file: Path) -> dict[str, Any]:
    import yaml

    try:
        config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InvalidModelFile(f"cannot read the pipeline's config.yaml: {error}") from None
    if not isinstance(config, dict) or not isinstance(config.get("pipeline"), dict):
        raise InvalidModelFile("the pipeline's config.yaml has no 'pipeline' table")
    return config


def _check_class(spec: ModelSpec, config: dict[str, Any]) -> None:
    name = config["pipeline"].get("name")
    if not _is_own_pipeline(name):
        raise InvalidModelFile(
            f"config.yaml names the pipeline class {name!r}, which is not one of "
            f"{OWN_PIPELINES}'s pipelines; a config can name any class to call: "
            f"{trust_hint(spec)}"
        )
    if config.get("preprocessors"):
        raise InvalidModelFile(
            f"config.yaml declares preprocessors, which name classes to call: {trust_hint(spec)}"
        )


def _is_own_pipeline(name: object) -> bool:
    """Whether ``name`` is a pipeline class defined in pyannote.audio's pipelines (only
    pyannote's own modules are imported to find out)."""
    if not isinstance(name, str) or not name.startswith(f"{OWN_PIPELINES}."):
        return False
    module_name, _, class_name = name.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), class_name, None)
    except ImportError:
        return False
    from pyannote.pipeline import Pipeline

    return (
        isinstance(found, type)
        and issubclass(found, Pipeline)
        and found.__module__.startswith(OWN_PIPELINES)
    )
