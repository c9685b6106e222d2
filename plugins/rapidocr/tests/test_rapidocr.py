"""The real PP-OCRv6 models (shipped in the rapidocr wheel) on text rendered with Pillow."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from altlas_rapidocr.backend import RapidOcrBackend
from altlas_rapidocr.catalog import PP_OCRV6
from altlas_sdk import CancellationToken
from altlas_sdk.errors import AltlasError, InvalidInput
from altlas_sdk.tasks import OCR
from altlas_sdk.testing.service import loaded_model
from altlas_sdk.vision.tasks import ImageInput, OcrOutput, OcrParameters


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    with loaded_model(RapidOcrBackend(), PP_OCRV6, tmp_path_factory.mktemp("rapidocr")) as loaded:
        yield loaded


def render(lines: list[tuple[int, int, str]], size=(640, 320)) -> bytes:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for x, y, text in lines:
        draw.text((x, y), text, fill="black", font_size=32)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def read(model, data: bytes, **parameters) -> OcrOutput:
    output = model.infer(
        OCR, ImageInput(image=data), OcrParameters(**parameters), CancellationToken()
    )
    assert isinstance(output, OcrOutput)
    return output


PAGE = [
    (20, 20, "Invoice 2026-11"),
    (20, 62, "Total due 42.50"),
    (20, 180, "Thank you for"),
    (20, 222, "your order"),
]


def test_reads_rendered_text_in_reading_order(model):
    output = read(model, render(PAGE))
    assert [line.text for line in output.lines] == [text for _, _, text in PAGE]
    assert output.text == "\n".join(text for _, _, text in PAGE)
    assert (output.width, output.height) == (640, 320)
    for line in output.lines:
        assert line.confidence > 0.8 and len(line.polygon) == 4
        xs = [point[0] for point in line.polygon]
        assert 0 <= min(xs) < max(xs) <= 640
    assert output.paragraphs is None


def test_paragraphs_group_close_lines(model):
    output = read(model, render(PAGE), paragraphs=True)
    assert [p.text for p in output.paragraphs] == [
        "Invoice 2026-11 Total due 42.50",
        "Thank you for your order",
    ]
    assert [p.lines for p in output.paragraphs] == [[0, 1], [2, 3]]


def test_min_confidence_drops_lines(model):
    everything = read(model, render(PAGE)).lines
    threshold = sorted(line.confidence for line in everything)[2]
    kept = read(model, render(PAGE), min_confidence=threshold).lines
    assert [line.text for line in kept] == [
        line.text for line in everything if line.confidence >= threshold
    ]
    assert len(kept) < len(everything)


def test_a_blank_image_has_no_text(model):
    output = read(model, render([]))
    assert output.lines == [] and output.text == ""


def test_annotation(model):
    output = read(model, render(PAGE), annotate=True)
    assert Image.open(io.BytesIO(output.annotated_image)).size == (640, 320)


def test_bad_images_are_client_errors(model):
    with pytest.raises(AltlasError) as caught:
        read(model, b"")
    assert caught.value.status == 422 and caught.value.code == "empty_image"
    with pytest.raises(AltlasError) as caught:
        read(model, render(PAGE)[:300])
    assert caught.value.status == 422 and caught.value.code == "corrupt_image"


def test_other_tasks_are_refused(model):
    with pytest.raises(InvalidInput):
        model.infer(
            "object-detection", ImageInput(image=render(PAGE)), OcrParameters(), CancellationToken()
        )


def test_runs_on_cpu_without_gpu_policy(model):
    assert str(model.device) == "cpu"
