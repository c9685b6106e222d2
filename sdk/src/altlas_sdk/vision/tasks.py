"""The vision tasks: object detection, OCR, image classification and segmentation.

Every vision task takes one image (:class:`ImageInput`): raw bytes from a multipart
``image`` file part, or a base64 string in JSON (``"inputs": {"image": "..."}`` or
just ``"inputs": "..."``). Coordinates are pixels of the image as the client sees it,
EXIF orientation applied, origin at the top-left corner.

Each parameters Struct has ``annotate``: with ``annotate=true`` the model also draws
its result on the image, and the task routes answer with that PNG instead of JSON
(``/api/inference/`` too, since the rendering belongs to the task).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from altlas_sdk.tasks import (
    IMAGE_CLASSIFICATION,
    IMAGE_SEGMENTATION,
    OBJECT_DETECTION,
    OCR,
    TaskSpec,
)

Fraction = Annotated[float, Meta(ge=0, le=1)]

#: The media field of every vision task's input: the multipart file part's name.
IMAGE_FIELD = "image"


class ImageInput(Struct, kw_only=True, forbid_unknown_fields=True):
    """One image: JPEG, PNG, WebP or BMP bytes (base64 in JSON, or a ``data:`` URL)."""

    image: bytes


class VisionParameters(Struct, kw_only=True, forbid_unknown_fields=True):
    """Parameters every vision task takes. ``annotate``: answer with the image and the
    result drawn on it (PNG) instead of JSON."""

    annotate: bool = False


# --- object-detection -----------------------------------------------------------------


class DetectionParameters(VisionParameters, kw_only=True, forbid_unknown_fields=True):
    """``confidence``: lowest score kept; ``iou``: overlap above which non-maximum
    suppression drops the weaker box; ``classes``: keep only these labels or class ids
    (a list, or a comma-separated string); ``max_detections``: most boxes returned;
    ``image_size``: the side the model resizes the image to (its default when omitted).
    """

    confidence: Fraction = 0.25
    iou: Fraction = 0.7
    classes: list[str | int] | str | None = None
    max_detections: Annotated[int, Meta(ge=1, le=10000)] = 300
    image_size: Annotated[int, Meta(ge=32, le=4096)] | None = None


class Box(Struct, kw_only=True):
    """An axis-aligned box: top-left ``(x1, y1)``, bottom-right ``(x2, y2)``, in pixels."""

    x1: float
    y1: float
    x2: float
    y2: float


class Keypoint(Struct, kw_only=True, omit_defaults=True):
    """One keypoint of a pose (``name`` such as ``left_wrist`` where the model has names)."""

    x: float
    y: float
    confidence: float | None = None
    name: str | None = None


class Detection(Struct, kw_only=True, omit_defaults=True):
    """One detected object; ``keypoints`` for pose models."""

    label: str
    class_id: int
    confidence: float
    box: Box
    keypoints: list[Keypoint] | None = None


class DetectionOutput(Struct, kw_only=True, omit_defaults=True):
    """Detections, best first, and the image's size."""

    detections: list[Detection]
    width: int
    height: int
    annotated_image: bytes | None = None


# --- ocr ------------------------------------------------------------------------------


class OcrParameters(VisionParameters, kw_only=True, forbid_unknown_fields=True):
    """``min_confidence``: drop lines scored below it; ``paragraphs``: also merge the
    lines into paragraphs (lines close together in reading order)."""

    min_confidence: Fraction = 0.0
    paragraphs: bool = False


Point = Annotated[list[float], Meta(min_length=2, max_length=2)]


class OcrLine(Struct, kw_only=True):
    """One line of text; ``polygon`` its corners clockwise from the top-left."""

    text: str
    confidence: float
    polygon: list[Point]


class OcrParagraph(Struct, kw_only=True):
    """Lines merged into a paragraph: the text joined with spaces, the polygon of their
    bounding box, ``lines`` the indices of its lines in the output's ``lines``."""

    text: str
    polygon: list[Point]
    lines: list[int]


class OcrOutput(Struct, kw_only=True, omit_defaults=True):
    """Lines in reading order (top to bottom, then left to right) and all the text,
    one line per line."""

    text: str
    lines: list[OcrLine]
    width: int
    height: int
    paragraphs: list[OcrParagraph] | None = None
    annotated_image: bytes | None = None


# --- image-classification -------------------------------------------------------------


class ClassificationParameters(VisionParameters, kw_only=True, forbid_unknown_fields=True):
    """``top_k``: how many labels to return, best first."""

    top_k: Annotated[int, Meta(ge=1, le=1000)] = 5


class ClassScore(Struct, kw_only=True):
    """One label and its probability."""

    label: str
    class_id: int
    score: float


class ClassificationOutput(Struct, kw_only=True, omit_defaults=True):
    """The ``top_k`` labels, best first."""

    labels: list[ClassScore]
    annotated_image: bytes | None = None


# --- image-segmentation ---------------------------------------------------------------


class SegmentationParameters(VisionParameters, kw_only=True, forbid_unknown_fields=True):
    """``mask_format``: ``rle`` (COCO run-length counts) or ``png`` (a base64 PNG, 0 and
    255); ``polygons``: also trace each mask's outlines; ``threshold``: per-pixel
    probability above which a pixel belongs to the mask (foreground models);
    ``confidence``: lowest score of an instance kept (instance models);
    ``instances``: also return each instance with its own mask (instance models)."""

    mask_format: Literal["rle", "png"] = "rle"
    polygons: bool = False
    threshold: Fraction = 0.5
    confidence: Fraction = 0.25
    instances: bool = False


class Mask(Struct, kw_only=True, omit_defaults=True):
    """A binary mask of ``size`` = ``[height, width]``.

    ``rle``: ``counts`` are run lengths over the pixels in column-major order, starting
    with a run of zeros (COCO's uncompressed RLE: ``pycocotools.mask.frPyObjects``
    reads it). ``png``: ``png`` is a grey PNG, 255 inside the mask.
    """

    format: Literal["rle", "png"]
    size: list[int]
    counts: list[int] | None = None
    png: bytes | None = None


class Segment(Struct, kw_only=True, omit_defaults=True):
    """Every pixel of one class: the semantic view. ``area`` is its pixel count;
    ``polygons`` its outlines, each a list of ``[x, y]`` points."""

    label: str
    class_id: int
    area: int
    mask: Mask
    score: float | None = None
    polygons: list[list[Point]] | None = None


class Instance(Struct, kw_only=True, omit_defaults=True):
    """One object with its own mask, from an instance-segmentation model."""

    label: str
    class_id: int
    confidence: float
    box: Box
    mask: Mask
    polygons: list[list[Point]] | None = None


class SegmentationOutput(Struct, kw_only=True, omit_defaults=True):
    """One segment per class present, largest first, and the image's size."""

    segments: list[Segment]
    width: int
    height: int
    instances: list[Instance] | None = None
    annotated_image: bytes | None = None


# --- the specs ------------------------------------------------------------------------

VisionOutput = DetectionOutput | OcrOutput | ClassificationOutput | SegmentationOutput


def _image_shorthand(raw: Any) -> Any:
    if isinstance(raw, (str, bytes)):
        raw = {IMAGE_FIELD: raw}
    if isinstance(raw, dict) and isinstance(raw.get(IMAGE_FIELD), str):
        raw = {**raw, IMAGE_FIELD: _without_data_url_prefix(raw[IMAGE_FIELD])}
    return raw


def _without_data_url_prefix(value: str) -> str:
    # Browsers' FileReader and canvas.toDataURL() give "data:image/png;base64,...".
    if value.startswith("data:"):
        header, _, body = value.partition(",")
        if header.endswith(";base64"):
            return body
    return value


def render_annotated(output: Any, parameters: Any) -> tuple[bytes, str] | None:
    """The annotated PNG when the request asked for one, else ``None`` (JSON)."""
    image = getattr(output, "annotated_image", None)
    if getattr(parameters, "annotate", False) and image is not None:
        return image, "image/png"
    return None


def input_pixels(inputs: Any) -> int:
    """Pixels the input's image decodes to, from its header (0 when unreadable)."""
    from altlas_sdk.vision.images import image_pixels

    return image_pixels(inputs.image)


def _spec(task: str, output: type[Struct], parameters: type[Struct], text: str) -> TaskSpec:
    return TaskSpec(
        task,
        ImageInput,
        output,
        parameters,
        text,
        _image_shorthand,
        media_field=IMAGE_FIELD,
        render=render_annotated,
        decoded_pixels=input_pixels,
    )


#: The vision task specs; the core registers them.
VISION_TASKS: tuple[TaskSpec, ...] = (
    _spec(
        OBJECT_DETECTION,
        DetectionOutput,
        DetectionParameters,
        "Find objects in an image: labelled boxes (and keypoints for pose models).",
    ),
    _spec(OCR, OcrOutput, OcrParameters, "Read the text in an image, line by line."),
    _spec(
        IMAGE_CLASSIFICATION,
        ClassificationOutput,
        ClassificationParameters,
        "Label an image: the top-k classes with their probabilities.",
    ),
    _spec(
        IMAGE_SEGMENTATION,
        SegmentationOutput,
        SegmentationParameters,
        "Segment an image: one mask per class present.",
    ),
)
