"""Building the ``image-segmentation`` output from per-class masks, shared by both
backends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from altlas_sdk.vision.masks import encode_mask, mask_polygons
from altlas_sdk.vision.tasks import Segment, SegmentationOutput, SegmentationParameters

if TYPE_CHECKING:
    import numpy as np


def segmentation_output(
    masks: list[tuple[int, str, np.ndarray, float | None]],
    width: int,
    height: int,
    parameters: SegmentationParameters,
) -> SegmentationOutput:
    """One segment per ``(class_id, label, boolean mask, score)`` with a non-empty mask,
    largest first. Every mask has the image's ``(height, width)``."""
    segments = []
    for class_id, label, mask, score in masks:
        area = int(mask.sum())
        if area == 0:
            continue
        segments.append(
            Segment(
                label=label,
                class_id=class_id,
                area=area,
                mask=encode_mask(mask, parameters.mask_format),
                score=None if score is None else round(float(score), 4),
                polygons=mask_polygons(mask) if parameters.polygons else None,
            )
        )
    segments.sort(key=lambda segment: segment.area, reverse=True)
    return SegmentationOutput(segments=segments, width=width, height=height)
