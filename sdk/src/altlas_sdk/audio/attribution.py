"""Who said what: a transcript's segments attributed to diarization's speaker turns."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from altlas_sdk.audio.tasks import SpeakerTurn, SpeechToTextOutput


def speaker_of(start: float, end: float, turns: Sequence[SpeakerTurn]) -> str | None:
    """The speaker whose turns overlap ``start``-``end`` the most; ``None`` when no turn
    overlaps it (then the turn nearest in time, within 1 s, is taken)."""
    overlap: dict[str, float] = {}
    for turn in turns:
        shared = min(end, turn.end) - max(start, turn.start)
        if shared > 0:
            overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
    if overlap:
        return max(overlap, key=lambda speaker: overlap[speaker])
    gaps = [(max(turn.start - end, start - turn.end), turn.speaker) for turn in turns]
    near = [gap for gap in gaps if gap[0] <= 1.0]
    return min(near)[1] if near else None


def attribute_speakers(
    transcript: SpeechToTextOutput, turns: Sequence[SpeakerTurn]
) -> SpeechToTextOutput:
    """``transcript`` with each segment's ``speaker`` set from ``turns``."""
    segments = [
        msgspec.structs.replace(segment, speaker=speaker_of(segment.start, segment.end, turns))
        for segment in transcript.segments
    ]
    return msgspec.structs.replace(transcript, segments=segments)
