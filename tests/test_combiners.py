"""The built-in ensemble combiners' arithmetic, on hand-made outputs (the
orchestration, vision and audio tests run them on real models' outputs)."""

from __future__ import annotations

import pytest

from altlas.default_plugins.combiners import LabelVote, MeanEmbedding, TextVote
from altlas_sdk import Member
from altlas_sdk.errors import ValidationFailed
from altlas_sdk.tasks import (
    ChatMessage,
    ChatOutput,
    EmbeddingOutput,
    TextGenerationOutput,
)
from altlas_sdk.vision.combine import BoxFusion, OcrLineVote
from altlas_sdk.vision.tasks import (
    Box,
    ClassificationOutput,
    ClassificationParameters,
    ClassScore,
    Detection,
    DetectionOutput,
    OcrLine,
    OcrOutput,
)


def test_mean_embedding_refuses_different_dimensions():
    members = [
        Member("a", 1.0, EmbeddingOutput(embeddings=[[1.0, 0.0]], dimensions=2)),
        Member("b", 1.0, EmbeddingOutput(embeddings=[[1.0, 0.0, 0.0]], dimensions=3)),
    ]
    with pytest.raises(ValidationFailed, match="a: 2, b: 3"):
        MeanEmbedding().combine("embedding", members, None)


def test_mean_embedding_weights_and_renormalizes():
    members = [
        Member("a", 3.0, EmbeddingOutput(embeddings=[[1.0, 0.0]], dimensions=2)),
        Member("b", 1.0, EmbeddingOutput(embeddings=[[0.0, 1.0]], dimensions=2)),
    ]
    merged = MeanEmbedding().combine("embedding", members, None)
    assert merged.embeddings[0] == pytest.approx([0.9486833, 0.3162278])


def _labels(*pairs: tuple[str, float]) -> ClassificationOutput:
    return ClassificationOutput(
        labels=[ClassScore(label=label, class_id=i, score=s) for i, (label, s) in enumerate(pairs)]
    )


def test_label_vote_is_a_weighted_mean_over_top_labels():
    members = [
        Member("a", 1.0, _labels(("cat", 0.6), ("dog", 0.3))),
        Member("b", 3.0, _labels(("dog", 0.5), ("fox", 0.4))),
    ]
    merged = LabelVote().combine("image-classification", members, ClassificationParameters(top_k=2))
    # dog: (1*0.3 + 3*0.5)/4 = 0.45; fox: 3*0.4/4 = 0.3; cat: 0.6/4 = 0.15
    assert [(x.label, x.score) for x in merged.labels] == [("dog", 0.45), ("fox", 0.3)]


def test_text_vote_takes_the_weighted_majority():
    outputs = ["Paris.", "paris", "Lyon"]
    members = [
        Member(str(i), w, TextGenerationOutput(text=t))
        for i, (t, w) in enumerate(zip(outputs, [1.0, 1.0, 1.5], strict=True))
    ]
    assert TextVote().combine("text-generation", members, None).text == "Paris."
    chat = [
        Member("a", 1.0, ChatOutput(message=ChatMessage(role="assistant", content="No"))),
        Member("b", 2.0, ChatOutput(message=ChatMessage(role="assistant", content="Yes"))),
    ]
    assert TextVote().combine("chat", chat, None).message.content == "Yes"


def _detection(label: str, confidence: float, box: tuple[float, ...]) -> Detection:
    x1, y1, x2, y2 = box
    return Detection(
        label=label, class_id=0, confidence=confidence, box=Box(x1=x1, y1=y1, x2=x2, y2=y2)
    )


def test_box_fusion_merges_overlapping_boxes_of_one_label():
    a = DetectionOutput(
        detections=[
            _detection("person", 0.9, (10, 10, 110, 210)),
            _detection("dog", 0.8, (300, 300, 400, 380)),
        ],
        width=640,
        height=480,
    )
    b = DetectionOutput(
        detections=[_detection("person", 0.7, (14, 12, 114, 214))], width=640, height=480
    )
    merged = BoxFusion().combine("object-detection", [Member("a", 1, a), Member("b", 1, b)], None)
    person, dog = merged.detections
    assert person.label == "person" and person.confidence == pytest.approx(0.8)
    # Confidence-weighted: (0.9*10 + 0.7*14) / 1.6
    assert person.box.x1 == pytest.approx(11.75)
    # Seen by one member of two: its confidence is halved.
    assert dog.label == "dog" and dog.confidence == pytest.approx(0.4)


def _line(text: str, y: float, confidence: float = 0.9) -> OcrLine:
    return OcrLine(
        text=text,
        confidence=confidence,
        polygon=[[10, y], [200, y], [200, y + 30], [10, y + 30]],
    )


def test_ocr_line_vote_keeps_majority_lines_and_texts():
    one = OcrOutput(text="", lines=[_line("Hello", 10), _line("W0rld", 60)], width=300, height=100)
    two = OcrOutput(text="", lines=[_line("hello", 12), _line("World", 61)], width=300, height=100)
    three = OcrOutput(
        text="",
        lines=[_line("Hello", 11), _line("World", 59), _line("noise", 200, 0.2)],
        width=300,
        height=300,
    )
    members = [Member("a", 1, one), Member("b", 1, two), Member("c", 1, three)]
    merged = OcrLineVote().combine("ocr", members, None)
    assert [line.text for line in merged.lines] == ["Hello", "World"]
    assert merged.text == "Hello\nWorld"
