"""The Vision API end to end: real models behind a real uvicorn server, real HTTP.

YOLO11n-pose finds the people on Ultralytics' bus photo, PP-OCRv6 reads text rendered
with Pillow, EfficientNet-Lite0 labels scikit-image's coffee photo, u2netp separates a
synthetic shape from its background; multipart forms (the design document's curl
example) and JSON with base64 images both work, on the task routes and on
``/api/inference/``; every kind of bad upload gets a 4xx that names the problem.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import numpy as np
import pytest
from PIL import Image, ImageDraw
from skimage import data as samples

from altlas_sdk.errors import AltlasError
from altlas_sdk.vision.masks import decode_mask
from altlas_sdk.vision.tasks import Mask

# EasyOCR's recognizer builds a DataLoader with pin_memory=True; torch warns on a CPU.
pytestmark = pytest.mark.filterwarnings(
    "ignore:'pin_memory' argument is set as true but no accelerator:UserWarning"
)

ASSETS = Path(importlib.util.find_spec("ultralytics").submodule_search_locations[0]) / "assets"
BUS = (ASSETS / "bus.jpg").read_bytes()
ERROR_KEYS = {"type", "message", "param", "code", "request_id"}

# Small limits on one model, so the limit tests need no large uploads.
MAX_PIXELS = 1_000_000
MAX_BYTES = 400_000
CONFIG = f"""
[models.u2netp]
options = {{ max_image_pixels = {MAX_PIXELS}, max_image_bytes = {MAX_BYTES} }}
"""


@pytest.fixture(scope="module")
def base_url(serve_with_config) -> Iterator[str]:
    """A real uvicorn server on a free port, serving the installed vision plugins."""
    with serve_with_config(CONFIG) as url:
        yield url


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=120) as client:
        yield client


def encode(image: Image.Image, kind: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


def rendered_text(lines: list[str]) -> bytes:
    image = Image.new("RGB", (560, 60 + 52 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((24, 30 + 52 * row), line, fill="black", font_size=34)
    return encode(image)


def disc() -> tuple[bytes, np.ndarray]:
    image = Image.new("RGB", (360, 270), (230, 232, 225))
    ImageDraw.Draw(image).ellipse((100, 60, 260, 220), fill=(30, 90, 200))
    truth = Image.new("L", image.size)
    ImageDraw.Draw(truth).ellipse((100, 60, 260, 220), fill=255)
    return encode(image), np.asarray(truth) > 127


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == ERROR_KEYS and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def people(outputs: dict, confidence: float = 0.5) -> list[dict]:
    return [
        d for d in outputs["detections"] if d["label"] == "person" and d["confidence"] >= confidence
    ]


# --- object detection -----------------------------------------------------------------


def test_detection_multipart_as_in_the_design_document(http: httpx.Client) -> None:
    response = http.post(
        "/api/vision/object-detection",
        files={"image": ("bus.jpg", BUS, "image/jpeg")},
        data={"confidence": "0.5", "model_id": "yolo11n-pose"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_id"] == "yolo11n-pose" and body["task"] == "object-detection"
    outputs = body["outputs"]
    assert (outputs["width"], outputs["height"]) == (810, 1080)
    assert len(outputs["detections"]) == 3 == len(people(outputs))
    for detection in outputs["detections"]:
        assert len(detection["keypoints"]) == 17
        assert set(detection["box"]) == {"x1", "y1", "x2", "y2"}


def test_detection_json_base64_and_the_default_model(http: httpx.Client) -> None:
    image = base64.b64encode(BUS).decode()
    response = http.post(
        "/api/vision/object-detection",
        json={"inputs": {"image": image}, "parameters": {"confidence": 0.5}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["model_id"] == "yolo11n-pose"
    assert len(people(response.json()["outputs"])) == 3
    shorthand = http.post("/api/vision/object-detection", json={"inputs": image})
    assert len(people(shorthand.json()["outputs"])) == 3
    data_url = http.post(
        "/api/vision/object-detection",
        json={
            "inputs": {"image": f"data:image/jpeg;base64,{image}"},
            "parameters": {"confidence": 0.5},
        },
    )
    assert len(people(data_url.json()["outputs"])) == 3


def test_detection_through_the_inference_route(http: httpx.Client) -> None:
    response = http.post(
        "/api/inference/",
        json={
            "model_id": "yolo11n-pose",
            "inputs": {"image": base64.b64encode(BUS).decode()},
            "parameters": {"confidence": 0.5, "classes": ["person"], "max_detections": 2},
        },
    )
    assert response.status_code == 200, response.text
    assert len(people(response.json()["outputs"])) == 2
    form = http.post(
        "/api/inference/",
        files={"image": ("bus.jpg", BUS)},
        data={"model_id": "yolo11n-pose", "confidence": "0.5"},
    )
    assert form.status_code == 200, form.text
    assert len(people(form.json()["outputs"])) == 3


@pytest.mark.parametrize("kind", ["PNG", "WEBP", "BMP"])
def test_other_formats(http: httpx.Client, kind: str) -> None:
    # Lossless WebP: the fourth, half-visible person scores right at 0.5.
    options = {"lossless": True} if kind == "WEBP" else {}
    converted = encode(Image.open(io.BytesIO(BUS)).convert("RGB"), kind, **options)
    response = http.post(
        "/api/vision/object-detection",
        files={"image": (f"bus.{kind.lower()}", converted)},
        data={"confidence": "0.5"},
    )
    assert response.status_code == 200, response.text
    assert len(people(response.json()["outputs"])) == 3


def test_exif_orientation_over_http(http: httpx.Client) -> None:
    # Stored sideways with the EXIF tag that says "rotate 90 degrees clockwise".
    sideways = Image.open(io.BytesIO(BUS)).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    response = http.post(
        "/api/vision/object-detection",
        files={"image": ("bus.jpg", encode(sideways, "JPEG", exif=exif, quality=95))},
        data={"confidence": "0.5"},
    )
    outputs = response.json()["outputs"]
    assert (outputs["width"], outputs["height"]) == (810, 1080)
    assert len(people(outputs)) == 3


def test_annotate_answers_a_png(http: httpx.Client) -> None:
    response = http.post(
        "/api/vision/object-detection",
        files={"image": ("bus.jpg", BUS)},
        data={"annotate": "true"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-model-id"] == "yolo11n-pose"
    assert Image.open(io.BytesIO(response.content)).size == (810, 1080)


# --- ocr ------------------------------------------------------------------------------


def test_ocr_reads_rendered_text(http: httpx.Client) -> None:
    lines = ["Meeting at 10:30", "Room 42B, floor 3"]
    response = http.post(
        "/api/vision/ocr",
        files={"image": ("note.png", rendered_text(lines), "image/png")},
        data={"paragraphs": "true"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_id"] == "pp-ocrv6"
    outputs = body["outputs"]
    assert [line["text"] for line in outputs["lines"]] == lines
    assert outputs["text"] == "\n".join(lines)
    assert [p["text"] for p in outputs["paragraphs"]] == [" ".join(lines)]
    for line in outputs["lines"]:
        assert line["confidence"] > 0.8 and len(line["polygon"]) == 4


def test_ocr_with_easyocr(http: httpx.Client) -> None:
    lines = ["HELLO WORLD 2026"]
    response = http.post(
        "/api/vision/ocr",
        files={"image": ("hello.png", rendered_text(lines))},
        data={"model_id": "easyocr-en"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"]["text"] == "HELLO WORLD 2026"


def test_ocr_ensemble_of_two_engines_votes_per_line(http: httpx.Client) -> None:
    lines = ["HELLO WORLD 2026", "Room 42B, floor 3"]
    image = base64.b64encode(rendered_text(lines)).decode()
    response = http.post(
        "/api/inference/orchestrated",
        json={"task_type": "ocr", "inputs": {"image": image}, "ensemble": True},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(body["models"]) == ["easyocr-en", "pp-ocrv6"]
    assert body["orchestration"]["ensemble"]["combiner"] == "ocr-line-vote"
    outputs = body["outputs"]
    # Both engines find both lines; each line's text is one engine's reading of it.
    assert len(outputs["lines"]) == 2
    assert outputs["lines"][0]["text"] == "HELLO WORLD 2026"
    assert outputs["text"] == "\n".join(line["text"] for line in outputs["lines"])


# --- image classification -------------------------------------------------------------


def test_classification_of_a_real_photo(http: httpx.Client) -> None:
    coffee = encode(Image.fromarray(samples.coffee()), "JPEG", quality=92)
    response = http.post(
        "/api/vision/image-classification",
        files={"image": ("coffee.jpg", coffee, "image/jpeg")},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_id"] == "efficientnet-lite0"
    labels = body["outputs"]["labels"]
    assert len(labels) == 5
    assert labels[0]["label"] == "espresso" and labels[0]["score"] > 0.8
    assert {entry["label"] for entry in labels} & {"cup", "coffee mug"}


def test_classification_top_k_from_a_form_field(http: httpx.Client) -> None:
    cat = encode(Image.fromarray(samples.chelsea()), "JPEG")
    response = http.post(
        "/api/vision/image-classification", files={"image": ("cat.jpg", cat)}, data={"top_k": "2"}
    )
    labels = response.json()["outputs"]["labels"]
    assert len(labels) == 2 and {labels[0]["label"], labels[1]["label"]} & {
        "tiger cat",
        "Egyptian cat",
        "tabby",
    }


# --- image segmentation ---------------------------------------------------------------


def test_foreground_mask_of_a_synthetic_shape(http: httpx.Client) -> None:
    image, truth = disc()
    response = http.post("/api/vision/image-segmentation", files={"image": ("disc.png", image)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_id"] == "u2netp"
    segments = {s["label"]: s for s in body["outputs"]["segments"]}
    mask = decode_mask(Mask(**segments["foreground"]["mask"]))
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.9, iou


def test_segmentation_png_masks_over_json(http: httpx.Client) -> None:
    image, truth = disc()
    response = http.post(
        "/api/vision/image-segmentation",
        json={
            "inputs": {"image": base64.b64encode(image).decode()},
            "parameters": {"mask_format": "png", "polygons": True},
        },
    )
    assert response.status_code == 200, response.text
    foreground = next(
        s for s in response.json()["outputs"]["segments"] if s["label"] == "foreground"
    )
    png = base64.b64decode(foreground["mask"]["png"])
    mask = np.asarray(Image.open(io.BytesIO(png))) > 127
    assert (mask & truth).sum() / (mask | truth).sum() > 0.9
    assert foreground["polygons"] and len(foreground["polygons"][0]) >= 4


def test_segmentation_annotated(http: httpx.Client) -> None:
    image, _ = disc()
    response = http.post(
        "/api/vision/image-segmentation",
        files={"image": ("disc.png", image)},
        data={"annotate": "true"},
    )
    assert response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (360, 270)


# --- bad uploads ----------------------------------------------------------------------


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, with one tiny data chunk:
    a decompression bomb's signature."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


BAD_UPLOADS = [
    pytest.param(b"", 422, "empty_image", id="zero-bytes"),
    pytest.param(BUS[: len(BUS) // 3], 422, "corrupt_image", id="truncated-jpeg"),
    pytest.param(BUS[:200] + bytes(range(256)) * 8, 422, "corrupt_image", id="corrupt-jpeg"),
    pytest.param(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20, 422, "corrupt_image", id="corrupt-png"),
    pytest.param(b"hello, this is a text file\n" * 20, 415, "unsupported_image", id="text"),
    pytest.param(b'{"image": "not really"}', 415, "unsupported_image", id="json-as-file"),
    pytest.param(encode(Image.new("RGB", (8, 8)), "GIF"), 415, "unsupported_image", id="gif"),
    pytest.param(encode(Image.new("RGB", (8, 8)), "TIFF"), 415, "unsupported_image", id="tiff"),
    pytest.param(_png_header_only(60_000, 60_000), 413, "image_too_large", id="decompression-bomb"),
]


@pytest.mark.parametrize(("upload", "status", "code"), BAD_UPLOADS)
@pytest.mark.parametrize(
    "route",
    ["object-detection", "ocr", "image-classification", "image-segmentation"],
)
def test_bad_uploads_are_client_errors(
    http: httpx.Client, route: str, upload: bytes, status: int, code: str
) -> None:
    response = http.post(f"/api/vision/{route}", files={"image": ("upload.bin", upload)})
    error = assert_error(response, status, code)
    assert error["param"] == "$.inputs.image"


def test_the_error_names_what_was_sent(http: httpx.Client) -> None:
    gif = encode(Image.new("RGB", (8, 8)), "GIF")
    error = assert_error(
        http.post("/api/vision/ocr", files={"image": ("a.gif", gif)}), 415, "unsupported_image"
    )
    assert "GIF" in error["message"] and "JPEG, PNG, WebP or BMP" in error["message"]
    error = assert_error(
        http.post("/api/vision/ocr", files={"image": ("a.jpg", BUS[:5000])}), 422, "corrupt_image"
    )
    assert "truncated" in error["message"]


def test_pixel_and_byte_limits(http: httpx.Client) -> None:
    big = encode(Image.new("RGB", (1200, 1000), "white"))  # 1.2 MP, a few KB
    error = assert_error(
        http.post("/api/vision/image-segmentation", files={"image": ("big.png", big)}),
        413,
        "image_too_large",
    )
    assert "1200x1000" in error["message"] and str(MAX_PIXELS) in error["message"]
    noise = np.random.default_rng(0).integers(0, 255, (400, 400, 3), dtype=np.uint8)
    heavy = encode(Image.fromarray(noise))  # about 480 KB: over the byte limit
    error = assert_error(
        http.post("/api/vision/image-segmentation", files={"image": ("noise.png", heavy)}),
        413,
        "image_too_large",
    )
    assert str(MAX_BYTES) in error["message"]


def test_bad_base64_and_bad_fields(http: httpx.Client) -> None:
    response = http.post("/api/vision/ocr", json={"inputs": {"image": "not base64!"}})
    assert_error(response, 422)
    response = http.post(
        "/api/vision/object-detection",
        files={"image": ("bus.jpg", BUS)},
        data={"confidence": "very"},
    )
    assert assert_error(response, 422)["param"].endswith("confidence")
    response = http.post(
        "/api/vision/object-detection",
        files={"image": ("bus.jpg", BUS)},
        data={"confidence": "1.5"},
    )
    assert assert_error(response, 422)["param"].endswith("confidence")
    response = http.post("/api/vision/object-detection", files={"photo": ("bus.jpg", BUS)})
    assert_error(response, 422)
    response = http.post(
        "/api/vision/object-detection", files={"image": ("bus.jpg", BUS)}, data={"classes": "car"}
    )
    assert assert_error(response, 422)["param"] == "$.parameters.classes"


def test_a_model_of_another_task_is_refused(http: httpx.Client) -> None:
    response = http.post(
        "/api/vision/image-classification",
        files={"image": ("bus.jpg", BUS)},
        data={"model_id": "yolo11n-pose"},
    )
    assert 400 <= response.status_code < 500
    assert_error(response, response.status_code)


def test_the_vision_tasks_are_listed(http: httpx.Client) -> None:
    response = http.get("/api/tasks")
    assert response.status_code == 200
    text = response.text
    for task in ("object-detection", "ocr", "image-classification", "image-segmentation"):
        assert task in text


# --- in-process -----------------------------------------------------------------------


def test_the_in_process_vision_manager(make_runtime, tmp_path: Path) -> None:
    from altlas import get_vision_model_manager
    from altlas.runtime import set_runtime
    from altlas_sdk.errors import BadRequest, ModelNotFound, WeightsMissing

    runtime = make_runtime(USE_GPU="false")
    set_runtime(runtime)
    note = tmp_path / "note.png"
    note.write_bytes(rendered_text(["Deliver by Friday"]))

    async def scenario() -> dict:
        vision = get_vision_model_manager()
        results: dict = {"models": {spec.id for spec in vision.list_models()}}
        results["status"] = await vision.load_model("yolo11n-pose", "yolo", {"image_size": 640})
        results["detected"] = await vision.detect_objects(
            image_data=BUS, model_id="yolo11n-pose", confidence=0.5
        )
        results["text"] = await vision.recognize_text(image_data=note)
        results["labels"] = await vision.classify_image(
            encode(Image.fromarray(samples.coffee()), "JPEG"), top_k=1
        )
        results["segments"] = await vision.segment_image(disc()[0])
        for call in (
            vision.load_model("yolo11n-pose", "rapidocr"),
            vision.load_model("yolo-v8", "yolo"),
            vision.load_model("no-such-model"),
            vision.detect_objects(image_data=b"", model_id="yolo11n-pose"),
        ):
            try:
                await call
            except AltlasError as error:
                results.setdefault("errors", []).append(error)
        await runtime.stop()
        return results

    try:
        results = asyncio.run(scenario())
    finally:
        set_runtime(None)
    assert {"yolo11n-pose", "pp-ocrv6", "efficientnet-lite0", "u2netp"} <= results["models"]
    assert results["status"].state == "loaded"
    assert len(people(msgspec.to_builtins(results["detected"]))) == 3
    assert results["text"].text == "Deliver by Friday"
    assert results["labels"].labels[0].label == "espresso"
    assert {s.label for s in results["segments"].segments} == {"foreground", "background"}
    wrong_kind, no_weights, unknown, empty = results["errors"]
    assert isinstance(wrong_kind, BadRequest) and "'yolo' backend" in wrong_kind.message
    # The design document's own example id: its weights are the user's to supply.
    assert isinstance(no_weights, WeightsMissing) and "yolov8n.pt" in no_weights.message
    assert isinstance(unknown, ModelNotFound)
    assert empty.code == "empty_image"


# --- the SDK's shared image handling, without a server ---------------------------------


def test_rle_is_coco_column_major_and_round_trips() -> None:
    from altlas_sdk.vision.masks import encode_mask, rle_counts

    mask = np.array([[0, 1, 1], [0, 1, 0]], dtype=bool)
    # Column-major: column 0 (0, 0), column 1 (1, 1), column 2 (1, 0).
    assert rle_counts(mask) == [2, 3, 1]
    assert rle_counts(np.ones((2, 2), dtype=bool)) == [0, 4]
    rng = np.random.default_rng(1)
    for shape in ((1, 1), (7, 5), (64, 48)):
        random = rng.random(shape) > 0.6
        for kind in ("rle", "png"):
            assert np.array_equal(decode_mask(encode_mask(random, kind)), random)


def test_decoding_flattens_alpha_onto_white_and_scales_16_bit() -> None:
    from altlas_sdk.vision.images import decode_image

    clear = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert decode_image(encode(clear)).getpixel((0, 0)) == (255, 255, 255)
    deep = Image.fromarray(np.full((4, 4), 4000, dtype=np.uint16))
    assert decode_image(encode(deep)).getpixel((0, 0)) == (255, 255, 255)


def test_reading_order_and_paragraphs() -> None:
    from altlas_sdk.vision.layout import merge_paragraphs, reading_order
    from altlas_sdk.vision.tasks import OcrLine

    def line(text: str, x: float, y: float, width: float = 100) -> OcrLine:
        return OcrLine(
            text=text,
            confidence=1.0,
            polygon=[[x, y], [x + width, y], [x + width, y + 20], [x, y + 20]],
        )

    shuffled = [
        line("world", 120, 2),
        line("second", 0, 26),
        line("hello", 0, 0),
        line("far", 0, 200),
    ]
    ordered = reading_order(shuffled)
    assert [item.text for item in ordered] == ["hello", "world", "second", "far"]
    assert [p.text for p in merge_paragraphs(ordered)] == ["hello world second", "far"]
