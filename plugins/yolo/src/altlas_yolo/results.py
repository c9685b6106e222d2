"""Turning Ultralytics ``Results`` into the vision tasks' output Structs."""

from __future__ import annotations

from typing import Any

from altlas_sdk.errors import InvalidInput
from altlas_sdk.vision.masks import encode_mask, mask_polygons
from altlas_sdk.vision.tasks import (
    Box,
    ClassificationOutput,
    ClassificationParameters,
    ClassScore,
    Detection,
    DetectionOutput,
    Instance,
    Keypoint,
    Segment,
    SegmentationOutput,
    SegmentationParameters,
)

#: The 17 COCO keypoints, in the order COCO-trained pose models output them.
COCO_KEYPOINTS: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)


def classes_filter(parameters: Any, names: dict[int, str]) -> list[int] | None:
    """The class ids that ``parameters.classes`` names (labels or ids, a list or a
    comma-separated string), or ``None`` for every class."""
    wanted = getattr(parameters, "classes", None)
    if wanted is None:
        return None
    if isinstance(wanted, str):
        wanted = [part.strip() for part in wanted.split(",") if part.strip()]
    by_label = {label.lower(): class_id for class_id, label in names.items()}
    ids = []
    for item in wanted:
        if isinstance(item, int) or (isinstance(item, str) and item.isdigit()):
            class_id = int(item)
            if class_id not in names:
                raise _unknown_class(item, names)
        else:
            if item.lower() not in by_label:
                raise _unknown_class(item, names)
            class_id = by_label[item.lower()]
        ids.append(class_id)
    return ids


def _unknown_class(item: object, names: dict[int, str]) -> InvalidInput:
    known = ", ".join(f"{class_id}={label}" for class_id, label in list(names.items())[:20])
    more = " ..." if len(names) > 20 else ""
    return InvalidInput(
        f"unknown class {item!r}; this model has {known}{more}", param="$.parameters.classes"
    )


def _size(prediction: Any) -> tuple[int, int]:
    height, width = prediction.orig_shape
    return int(width), int(height)


def _box(values: Any) -> Box:
    x1, y1, x2, y2 = (round(float(v), 2) for v in values)
    return Box(x1=x1, y1=y1, x2=x2, y2=y2)


def to_detection(prediction: Any, kind: str) -> DetectionOutput:
    """Boxes (axis-aligned hulls for oriented ones), with keypoints for pose models."""
    width, height = _size(prediction)
    boxes = prediction.obb if kind == "obb" else prediction.boxes
    detections: list[Detection] = []
    if boxes is not None and len(boxes):
        coordinates = boxes.xyxy.cpu().numpy()
        scores = boxes.conf.cpu().numpy()
        classes = boxes.cls.cpu().numpy().astype(int)
        keypoints = _keypoints(prediction)
        for index, (xyxy, score, class_id) in enumerate(
            zip(coordinates, scores, classes, strict=True)
        ):
            detections.append(
                Detection(
                    label=prediction.names[int(class_id)],
                    class_id=int(class_id),
                    confidence=round(float(score), 4),
                    box=_box(xyxy),
                    keypoints=keypoints[index] if keypoints is not None else None,
                )
            )
    detections.sort(key=lambda item: item.confidence, reverse=True)
    return DetectionOutput(detections=detections, width=width, height=height)


def _keypoints(prediction: Any) -> list[list[Keypoint]] | None:
    if prediction.keypoints is None:
        return None
    data = prediction.keypoints.data.cpu().numpy()  # (objects, points, 2 or 3)
    names = COCO_KEYPOINTS if data.shape[1] == len(COCO_KEYPOINTS) else None
    people = []
    for points in data:
        people.append(
            [
                Keypoint(
                    x=round(float(point[0]), 2),
                    y=round(float(point[1]), 2),
                    confidence=round(float(point[2]), 4) if len(point) > 2 else None,
                    name=names[index] if names else None,
                )
                for index, point in enumerate(points)
            ]
        )
    return people


def to_classification(
    prediction: Any, parameters: ClassificationParameters
) -> ClassificationOutput:
    """The ``top_k`` classes of a classification model, best first."""
    probabilities = prediction.probs.data.cpu().numpy()
    order = probabilities.argsort()[::-1][: parameters.top_k]
    return ClassificationOutput(
        labels=[
            ClassScore(
                label=prediction.names[int(i)],
                class_id=int(i),
                score=round(float(probabilities[i]), 5),
            )
            for i in order
        ]
    )


def to_segmentation(prediction: Any, parameters: SegmentationParameters) -> SegmentationOutput:
    """Instance masks merged per class (the semantic view), largest class first; each
    instance too when ``parameters.instances`` asks."""
    import numpy as np

    width, height = _size(prediction)
    if prediction.masks is None or not len(prediction.boxes):
        return SegmentationOutput(
            segments=[], width=width, height=height, instances=[] if parameters.instances else None
        )
    masks = prediction.masks.data.cpu().numpy() > 0.5  # (objects, height, width)
    if masks.shape[1:] != (height, width):
        raise InvalidInput(
            f"the model's masks are {masks.shape[2]}x{masks.shape[1]}, not the image's "
            f"{width}x{height}",
            param="$.inputs.image",
        )
    classes = prediction.boxes.cls.cpu().numpy().astype(int)
    scores = prediction.boxes.conf.cpu().numpy()
    segments = []
    for class_id in sorted(set(classes.tolist())):
        members = classes == class_id
        merged = np.any(masks[members], axis=0)
        segments.append(
            Segment(
                label=prediction.names[class_id],
                class_id=class_id,
                area=int(merged.sum()),
                mask=encode_mask(merged, parameters.mask_format),
                score=round(float(scores[members].max()), 4),
                polygons=mask_polygons(merged) if parameters.polygons else None,
            )
        )
    segments.sort(key=lambda segment: segment.area, reverse=True)
    instances = None
    if parameters.instances:
        boxes = prediction.boxes.xyxy.cpu().numpy()
        instances = [
            Instance(
                label=prediction.names[int(class_id)],
                class_id=int(class_id),
                confidence=round(float(score), 4),
                box=_box(box),
                mask=encode_mask(mask, parameters.mask_format),
                polygons=mask_polygons(mask) if parameters.polygons else None,
            )
            for class_id, score, box, mask in zip(classes, scores, boxes, masks, strict=True)
        ]
    return SegmentationOutput(segments=segments, width=width, height=height, instances=instances)
