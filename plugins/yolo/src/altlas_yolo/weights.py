"""Loading Ultralytics weights without letting a ``.pt`` file run code.

Ultralytics' safe mode (``ULTRALYTICS_SAFE_LOAD``, on from the import, see
:mod:`altlas_yolo.offline`) unpickles ``.pt`` checkpoints with
``torch.load(weights_only=True)`` and an allow-list of its own model classes: the
official weights load, a crafted file is refused. Only an entry with
``trust_pickled_weights = true`` is loaded the unrestricted way. Ultralytics reads the
mode from a module global of ``ultralytics.nn.tasks`` at each load, so a trusted load
switches it off for its own duration, under a lock that every load of this plugin
holds: no other load sees it off.

Where the safe mode does not exist (an older Ultralytics, or a torch before 2.6 whose
``weights_only`` loader cannot check a checkpoint's types), pickle-based files are
refused unless the entry trusts them.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import Any

from altlas_sdk import ModelSpec
from altlas_sdk.errors import InvalidModelFile
from altlas_sdk.pickles import (
    PickledWeightsRefused,
    refuse_untrusted,
    refused_by_safe_loader,
    trust_hint,
)

# Flipping the module global is only safe if no other load reads it meanwhile.
_LOAD_LOCK = threading.Lock()


def load_yolo(ultralytics: Any, spec: ModelSpec, path: Path) -> Any:
    """An ``ultralytics.YOLO`` for the weights at ``path``, loaded safely unless
    ``spec`` trusts pickled weights; raises :class:`PickledWeightsRefused` for a file
    the safe loader refuses, :class:`InvalidModelFile` for one it cannot read."""
    tasks = importlib.import_module("ultralytics.nn.tasks")
    if not _has_safe_mode(tasks):
        refuse_untrusted(
            spec, [path], why="this Ultralytics or torch release has no safe loading mode"
        )
    with _LOAD_LOCK:
        safe = getattr(tasks, "SAFE_LOAD", None)
        if safe is not None:
            tasks.SAFE_LOAD = not spec.trust_pickled_weights
        try:
            return ultralytics.YOLO(str(path), task=spec.options.get("task"))
        except Exception as error:  # noqa: BLE001 - torch and ultralytics raise many types
            if refused_by_safe_loader(error):
                raise PickledWeightsRefused(
                    f"refused to load '{path.name}': it holds objects beyond Ultralytics' "
                    f"own model classes, which only an unrestricted unpickling would "
                    f"rebuild; {trust_hint(spec)}"
                ) from None
            raise InvalidModelFile(f"cannot load '{path.name}' with ultralytics: {error}") from None
        finally:
            if safe is not None:
                tasks.SAFE_LOAD = True


def _has_safe_mode(tasks: Any) -> bool:
    import torch

    return hasattr(tasks, "SAFE_LOAD") and hasattr(
        torch.serialization, "get_unsafe_globals_in_checkpoint"
    )
