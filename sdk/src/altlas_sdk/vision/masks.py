"""Binary masks on the wire: COCO run-length counts or PNG, and optional outlines.

Segmentation backends produce boolean ``(height, width)`` arrays and turn them into
:class:`~altlas_sdk.vision.tasks.Mask` with :func:`encode_mask`; clients and tests read
them back with :func:`decode_mask`. numpy is imported on first use.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Literal

from altlas_sdk.errors import BackendUnavailable
from altlas_sdk.vision.tasks import Mask

if TYPE_CHECKING:
    import numpy as np


def encode_mask(mask: np.ndarray, mask_format: Literal["rle", "png"]) -> Mask:
    """A boolean ``(height, width)`` array as a :class:`Mask` of ``mask_format``."""
    height, width = (int(side) for side in mask.shape)
    if mask_format == "png":
        return Mask(format="png", size=[height, width], png=_png(mask))
    return Mask(format="rle", size=[height, width], counts=rle_counts(mask))


def rle_counts(mask: np.ndarray) -> list[int]:
    """COCO uncompressed RLE: run lengths in column-major order, zeros first."""
    import numpy as np

    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return []
    # Positions where the value changes, bracketed by the start and the end.
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(bounds).tolist()
    return [0, *runs] if flat[0] else runs


def decode_mask(mask: Mask) -> np.ndarray:
    """The boolean ``(height, width)`` array a :class:`Mask` holds."""
    import numpy as np

    height, width = mask.size
    if mask.format == "png":
        from PIL import Image

        assert mask.png is not None
        return np.asarray(Image.open(io.BytesIO(mask.png)).convert("L")) > 127
    assert mask.counts is not None
    values = np.zeros(len(mask.counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, mask.counts)
    return flat.reshape((height, width), order="F")


def mask_polygons(mask: np.ndarray, *, min_area: float = 4.0) -> list[list[list[float]]]:
    """Outer outlines of ``mask``'s regions, each a list of ``[x, y]`` points.

    Tracing needs OpenCV (``opencv-python-headless``), which every vision plugin that
    offers polygons depends on.
    """
    import numpy as np

    try:
        import cv2
    except ImportError:
        raise BackendUnavailable(
            "mask polygons need OpenCV: pip install opencv-python-headless"
        ) from None
    contours, _ = cv2.findContours(
        np.ascontiguousarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    polygons = []
    for contour in contours:
        if len(contour) < 3 or cv2.contourArea(contour) < min_area:
            continue
        polygons.append([[float(x), float(y)] for x, y in contour.reshape(-1, 2)])
    return polygons


def _png(mask: np.ndarray) -> bytes:
    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255).save(buffer, format="PNG")
    return buffer.getvalue()
