"""From per-frame class scores to the task's output: top labels, frames and events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from altlas_sdk.audio.tasks import (
    AudioClassificationOutput,
    AudioClassificationParameters,
    AudioEvent,
    AudioFrame,
    AudioLabel,
)

if TYPE_CHECKING:
    import numpy as np


def top_labels(scores: np.ndarray, labels: Sequence[str], k: int) -> list[AudioLabel]:
    """The ``k`` best-scoring labels of one score vector, best first."""
    import numpy as np

    order = np.argsort(-scores, kind="stable")[:k]
    return [AudioLabel(label=labels[i], score=round(float(scores[i]), 4)) for i in order]


def events(
    scores: np.ndarray,
    labels: Sequence[str],
    starts: Sequence[float],
    frame_s: float,
    duration: float,
    threshold: float,
) -> list[AudioEvent]:
    """Runs of consecutive frames where a label scores at least ``threshold``, in time
    order; each run's score is its best frame's."""
    found = []
    for column in sorted(set(int(c) for c in (scores >= threshold).nonzero()[1])):
        run_start = None
        for row in range(len(scores) + 1):
            active = row < len(scores) and scores[row, column] >= threshold
            if active and run_start is None:
                run_start = row
            elif not active and run_start is not None:
                found.append(
                    AudioEvent(
                        label=labels[column],
                        start=round(starts[run_start], 3),
                        end=round(min(starts[row - 1] + frame_s, duration), 3),
                        score=round(float(scores[run_start:row, column].max()), 4),
                    )
                )
                run_start = None
    return sorted(found, key=lambda event: (event.start, -event.score))


def clip_result(
    scores: np.ndarray,
    labels: Sequence[str],
    starts: Sequence[float],
    frame_s: float,
    duration: float,
    parameters: AudioClassificationParameters,
    *,
    clip_scores: np.ndarray,
) -> AudioClassificationOutput:
    """The output for a clip: ``clip_scores`` ranks its labels; ``scores`` (one row per
    frame starting at ``starts``, each ``frame_s`` long) give frames and events."""
    frames = None
    if parameters.frames:
        frames = [
            AudioFrame(
                start=round(start, 3),
                end=round(min(start + frame_s, duration), 3),
                labels=top_labels(row, labels, parameters.top_k),
            )
            for start, row in zip(starts, scores, strict=True)
        ]
    return AudioClassificationOutput(
        labels=top_labels(clip_scores, labels, parameters.top_k),
        duration=round(duration, 3),
        frames=frames,
        events=events(scores, labels, starts, frame_s, duration, parameters.threshold),
    )
