"""What vision plugins share: the four vision tasks' types (:mod:`.tasks`), image
decoding with limits and EXIF orientation (:mod:`.images`), masks on the wire
(:mod:`.masks`), OCR layout (:mod:`.layout`) and result drawing (:mod:`.annotate`).

Importing this package imports neither Pillow nor numpy: the helpers import them on
first use, and the plugins that call them depend on ``pillow`` and ``numpy``.
"""

from __future__ import annotations

from altlas_sdk.vision.tasks import VISION_TASKS

__all__ = ["VISION_TASKS"]
