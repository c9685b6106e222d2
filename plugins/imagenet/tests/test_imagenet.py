"""The real EfficientNet-Lite0 ImageNet weights on scikit-image's sample photos."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from skimage import data

from altlas_imagenet.backend import EfficientNetLiteBackend, imagenet_labels
from altlas_imagenet.catalog import EFFICIENTNET_LITE0
from altlas_sdk import CancellationToken, DevicePolicy, ModelFiles, ModelSpec
from altlas_sdk.errors import AltlasError, Cancelled, InvalidModelFile
from altlas_sdk.tasks import IMAGE_CLASSIFICATION
from altlas_sdk.testing.service import loaded_model
from altlas_sdk.vision.tasks import ClassificationOutput, ClassificationParameters, ImageInput


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    with loaded_model(
        EfficientNetLiteBackend(), EFFICIENTNET_LITE0, tmp_path_factory.mktemp("imagenet")
    ) as loaded:
        yield loaded


def jpeg(name: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(getattr(data, name)()).convert("RGB").save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def classify(model, image: bytes, **parameters) -> ClassificationOutput:
    output = model.infer(
        IMAGE_CLASSIFICATION,
        ImageInput(image=image),
        ClassificationParameters(**parameters),
        CancellationToken(),
    )
    assert isinstance(output, ClassificationOutput)
    return output


def test_labels_are_imagenet_in_class_order():
    labels = imagenet_labels()
    assert len(labels) == 1000 and labels[0] == "tench" and labels[967] == "espresso"


def test_coffee_is_espresso(model):
    output = classify(model, jpeg("coffee"))
    assert len(output.labels) == 5
    assert output.labels[0].label == "espresso" and output.labels[0].score > 0.8
    assert output.labels[0].class_id == 967
    scores = [entry.score for entry in output.labels]
    assert scores == sorted(scores, reverse=True) and sum(scores) <= 1.0001


def test_the_cat_is_a_cat(model):
    top = [entry.label for entry in classify(model, jpeg("chelsea"), top_k=3).labels]
    assert set(top) <= {"tiger cat", "Egyptian cat", "tabby", "lynx", "Persian cat"}


def test_batch_matches_one_by_one_and_a_bad_image_fails_alone(model):
    images = [jpeg("coffee"), b"GIF89a\x01\x00\x01\x00", jpeg("chelsea")]
    results = model.infer_batch(
        IMAGE_CLASSIFICATION,
        [ImageInput(image=image) for image in images],
        ClassificationParameters(top_k=2),
        CancellationToken(),
    )
    assert isinstance(results[1], AltlasError) and results[1].status == 415
    assert "GIF" in results[1].message
    for index in (0, 2):
        alone = classify(model, images[index], top_k=2)
        assert [e.label for e in results[index].labels] == [e.label for e in alone.labels]
        assert abs(results[index].labels[0].score - alone.labels[0].score) < 1e-4


def test_annotation(model):
    output = classify(model, jpeg("coffee"), annotate=True)
    assert Image.open(io.BytesIO(output.annotated_image)).size == (600, 400)


def test_cancellation(model):
    token = CancellationToken()
    token.cancel()
    with pytest.raises(Cancelled):
        model.infer(
            IMAGE_CLASSIFICATION,
            ImageInput(image=jpeg("coffee")),
            ClassificationParameters(),
            token,
        )


def test_bad_weights_and_architecture(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not torch")
    for options in ({"architecture": "efficientnet-lite9"}, {}):
        spec = ModelSpec(
            id="broken",
            backend="efficientnet-lite",
            tasks=[IMAGE_CLASSIFICATION],
            source=str(path),
            options=options,
        )
        with pytest.raises(InvalidModelFile):
            EfficientNetLiteBackend().load(spec, ModelFiles(path), DevicePolicy(use_gpu=False))
