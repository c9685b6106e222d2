"""Ensemble combiners for vision tasks: weighted box fusion for detections, line
voting for OCR. Pure Python: outputs hold tens of boxes or lines, not pixels."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from altlas_sdk.ensemble import Combiner, Member
from altlas_sdk.tasks import OBJECT_DETECTION, OCR
from altlas_sdk.vision.tasks import Box, Detection, DetectionOutput, OcrLine, OcrOutput

#: Boxes of one label overlapping at least this much are one object.
FUSION_IOU = 0.55
#: OCR lines whose bounding boxes overlap at least this much are one line.
LINE_IOU = 0.5


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    width = min(a.x2, b.x2) - max(a.x1, b.x1)
    height = min(a.y2, b.y2) - max(a.y1, b.y1)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Cluster:
    label: str
    members: list[tuple[Detection, float]] = field(default_factory=list)

    def box(self) -> Box:
        total = sum(d.confidence * w for d, w in self.members) or 1.0
        return Box(
            x1=sum(d.box.x1 * d.confidence * w for d, w in self.members) / total,
            y1=sum(d.box.y1 * d.confidence * w for d, w in self.members) / total,
            x2=sum(d.box.x2 * d.confidence * w for d, w in self.members) / total,
            y2=sum(d.box.y2 * d.confidence * w for d, w in self.members) / total,
        )


class BoxFusion(Combiner):
    """Weighted box fusion: detections of one label from different members that
    overlap (IoU >= 0.55) become one, its box the confidence-and-weight-weighted mean
    of theirs, its confidence their weighted confidences summed over the total weight
    of all members (an object only some members see scores lower). Keypoints come
    from the most confident detection of the cluster."""

    name = "box-fusion"
    tasks = (OBJECT_DETECTION,)

    def combine(
        self, task: str, members: Sequence[Member], parameters: msgspec.Struct
    ) -> msgspec.Struct:
        total = sum(m.weight for m in members)
        scored = [
            (detection, member.weight)
            for member in members
            for detection in member.output.detections  # type: ignore[attr-defined]
        ]
        scored.sort(key=lambda pair: -pair[0].confidence * pair[1])
        clusters: list[_Cluster] = []
        for detection, weight in scored:
            home = next(
                (
                    c
                    for c in clusters
                    if c.label == detection.label and iou(c.box(), detection.box) >= FUSION_IOU
                ),
                None,
            )
            if home is None:
                home = _Cluster(detection.label)
                clusters.append(home)
            home.members.append((detection, weight))
        fused = []
        for cluster in clusters:
            best = max(cluster.members, key=lambda pair: pair[0].confidence)[0]
            confidence = sum(d.confidence * w for d, w in cluster.members) / total
            fused.append(
                msgspec.structs.replace(
                    best, box=cluster.box(), confidence=round(min(1.0, confidence), 6)
                )
            )
        fused.sort(key=lambda d: -d.confidence)
        first: DetectionOutput = members[0].output  # type: ignore[assignment]
        return DetectionOutput(detections=fused, width=first.width, height=first.height)


def _bounds(line: OcrLine) -> Box:
    xs = [p[0] for p in line.polygon]
    ys = [p[1] for p in line.polygon]
    return Box(x1=min(xs), y1=min(ys), x2=max(xs), y2=max(ys))


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


class OcrLineVote(Combiner):
    """Line voting: lines from different members whose boxes overlap (IoU >= 0.5)
    are one line; its text is the weighted majority of their texts (case and spacing
    ignored; ties to the more confident reading). A line is kept when members holding
    at least half the total weight read one there. Lines come back in reading order."""

    name = "ocr-line-vote"
    tasks = (OCR,)

    def combine(
        self, task: str, members: Sequence[Member], parameters: msgspec.Struct
    ) -> msgspec.Struct:
        total = sum(m.weight for m in members)
        groups: list[list[tuple[OcrLine, float, Box]]] = []
        for member in members:
            for line in member.output.lines:  # type: ignore[attr-defined]
                bounds = _bounds(line)
                home = next(
                    (g for g in groups if iou(g[0][2], bounds) >= LINE_IOU),
                    None,
                )
                if home is None:
                    groups.append([(line, member.weight, bounds)])
                else:
                    home.append((line, member.weight, bounds))
        lines: list[tuple[Box, OcrLine]] = []
        for group in groups:
            if sum(weight for _, weight, _ in group) < total / 2:
                continue
            votes: dict[str, float] = defaultdict(float)
            for line, weight, _ in group:
                votes[_key(line.text)] += weight
            winner = max(group, key=lambda item: (votes[_key(item[0].text)], item[0].confidence))
            lines.append((winner[2], winner[0]))
        lines.sort(key=lambda pair: (round(pair[0].y1 / 10), pair[0].x1))
        kept = [line for _, line in lines]
        first: OcrOutput = members[0].output  # type: ignore[assignment]
        return OcrOutput(
            text="\n".join(line.text for line in kept),
            lines=kept,
            width=first.width,
            height=first.height,
        )
