"""Importing Ultralytics so that it never reaches the network on its own.

Left alone, Ultralytics installs missing packages with pip, checks whether it is online
and sends usage events, and downloads a font the first time it draws. Its environment
switches are read once, at its import, so they are set before it; an operator's own
values win. Results are drawn with Pillow (:mod:`altlas_sdk.vision.annotate`), never
with Ultralytics' plotting, so no font is fetched.

Ultralytics also replaces ``PIL.Image.open`` for the whole process with a wrapper that,
on any file Pillow cannot identify, tries to pip-install ``pi-heif`` and then fails with
``ModuleNotFoundError``: every plugin's "not an image" answer would become a 500. The
original ``Image.open`` is put back right after the import.

Ultralytics unpickles ``.pt`` weights with ``weights_only=False`` unless
``ULTRALYTICS_SAFE_LOAD`` is on when it is imported: then it loads them with
``torch.load(weights_only=True)`` and an allow-list of its own model classes, so a
crafted file cannot run code. It is always turned on here; an entry with
``trust_pickled_weights = true`` is loaded the old way (:mod:`altlas_yolo.weights`).
"""

from __future__ import annotations

import os
from typing import Any

from altlas_sdk.errors import BackendUnavailable

_OFFLINE_ENVIRONMENT = {
    "YOLO_OFFLINE": "true",
    "YOLO_AUTOINSTALL": "false",
    "YOLO_VERBOSE": "false",
}


#: Read once, at Ultralytics' import; not the operator's to turn off for every model.
SAFE_LOAD_ENV = "ULTRALYTICS_SAFE_LOAD"


def import_ultralytics() -> Any:
    """The ``ultralytics`` module, imported with auto-install and online checks off and
    its safe (``weights_only``) loading on."""
    for name, value in _OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    os.environ[SAFE_LOAD_ENV] = "1"
    try:
        import ultralytics
    except ImportError:
        raise BackendUnavailable(
            "ultralytics is not installed: pip install altlas-yolo "
            "(it brings ultralytics-opencv-headless)"
        ) from None
    _restore_pillow_open()
    return ultralytics


def _restore_pillow_open() -> None:
    from PIL import Image

    try:
        from ultralytics.utils import patches
    except ImportError:  # a release without the patch
        return
    original = getattr(patches, "_image_open", None)
    if original is not None and Image.open is getattr(patches, "image_open", None):
        Image.open = original
