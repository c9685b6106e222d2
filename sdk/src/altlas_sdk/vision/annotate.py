"""Drawing a vision result on its image, with Pillow only (no font download, no OpenCV).

A backend calls :func:`attach_annotation` after building its output: when the request
asked for ``annotate=true`` the output carries the PNG, which the task routes send
instead of JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from altlas_sdk.vision.images import encode_png
from altlas_sdk.vision.masks import decode_mask
from altlas_sdk.vision.tasks import (
    ClassificationOutput,
    DetectionOutput,
    OcrOutput,
    SegmentationOutput,
    VisionOutput,
)

if TYPE_CHECKING:
    from PIL.Image import Image
    from PIL.ImageDraw import ImageDraw
    from PIL.ImageFont import FreeTypeFont, ImageFont

# A fixed palette, so that a class keeps its colour from one image to the next.
_PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (170, 110, 40),
    (128, 0, 0),
)


def colour(class_id: int) -> tuple[int, int, int]:
    """The colour a class is drawn in."""
    return _PALETTE[class_id % len(_PALETTE)]


def attach_annotation(image: Image, output: VisionOutput, parameters: Any) -> VisionOutput:
    """Set ``output.annotated_image`` when ``parameters.annotate`` asks for it."""
    if getattr(parameters, "annotate", False):
        output.annotated_image = annotate(image, output)
    return output


def annotate(image: Image, output: VisionOutput) -> bytes:
    """PNG bytes of ``image`` with ``output`` drawn on it."""
    from PIL import ImageDraw

    canvas = image.convert("RGB")
    if isinstance(output, SegmentationOutput):
        canvas = _overlay_masks(canvas, output)
    draw = ImageDraw.Draw(canvas)
    font = _font(canvas)
    if isinstance(output, DetectionOutput):
        _draw_detections(draw, font, output)
    elif isinstance(output, OcrOutput):
        for line in output.lines:
            points = [tuple(point) for point in line.polygon]
            draw.polygon(points, outline=(0, 130, 200), width=2)
            _label(draw, font, points[0], line.text, (0, 130, 200))
    elif isinstance(output, ClassificationOutput):
        text = "\n".join(f"{entry.label} {entry.score:.2f}" for entry in output.labels)
        _label(draw, font, (4.0, 4.0), text, (0, 0, 0))
    elif isinstance(output, SegmentationOutput):
        for segment in output.segments:
            mask = decode_mask(segment.mask)
            ys, xs = mask.nonzero()
            if len(xs):
                position = (float(xs.min()), float(ys.min()))
                _label(draw, font, position, segment.label, colour(segment.class_id))
    return encode_png(canvas)


def _draw_detections(
    draw: ImageDraw, font: FreeTypeFont | ImageFont, output: DetectionOutput
) -> None:
    width = max(2, round(max(output.width, output.height) / 400))
    for detection in output.detections:
        rgb = colour(detection.class_id)
        box = detection.box
        draw.rectangle((box.x1, box.y1, box.x2, box.y2), outline=rgb, width=width)
        for point in detection.keypoints or ():
            if point.confidence is None or point.confidence >= 0.5:
                radius = width + 1
                draw.ellipse(
                    (point.x - radius, point.y - radius, point.x + radius, point.y + radius),
                    fill=rgb,
                )
        _label(draw, font, (box.x1, box.y1), f"{detection.label} {detection.confidence:.2f}", rgb)


def _overlay_masks(canvas: Image, output: SegmentationOutput) -> Image:
    from PIL import Image as PILImage

    layer = PILImage.new("RGB", canvas.size)
    alpha = PILImage.new("L", canvas.size, 0)
    for segment in output.segments:
        mask = PILImage.fromarray(decode_mask(segment.mask))
        layer.paste(colour(segment.class_id), mask=mask)
        alpha.paste(110, mask=mask)
    return PILImage.composite(layer, canvas, alpha)


def _font(canvas: Image) -> FreeTypeFont | ImageFont:
    from PIL import ImageFont

    # Pillow's built-in font scales without any font file on disk.
    return ImageFont.load_default(size=max(12, min(canvas.size) // 40))


def _label(
    draw: ImageDraw,
    font: FreeTypeFont | ImageFont,
    position: tuple[float, float],
    text: str,
    rgb: tuple[int, int, int],
) -> None:
    x, y = position
    left, top, right, bottom = draw.multiline_textbbox((x, y), text, font=font)
    # Above the box when there is room, inside it otherwise.
    shift = bottom - top + 2 if y - (bottom - top) - 2 >= 0 else 0
    draw.rectangle((left - 1, top - shift - 1, right + 1, bottom - shift + 1), fill=rgb)
    draw.multiline_text((x, y - shift), text, fill=(255, 255, 255), font=font)
