"""OCR layout shared by every OCR backend: reading order and paragraph merging.

Engines return lines in their own order. :func:`reading_order` sorts them top to
bottom, then left to right within a row; :func:`merge_paragraphs` groups lines that sit
close together, one under the other, into paragraphs; :func:`ocr_output` does both and
applies the request's parameters, so every OCR backend answers alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from altlas_sdk.vision.tasks import OcrLine, OcrOutput, OcrParagraph, OcrParameters


@dataclass(frozen=True)
class _Bounds:
    left: float
    top: float
    right: float
    bottom: float

    @classmethod
    def of(cls, line: OcrLine) -> _Bounds:
        xs = [point[0] for point in line.polygon]
        ys = [point[1] for point in line.polygon]
        return cls(min(xs), min(ys), max(xs), max(ys))

    @property
    def height(self) -> float:
        return max(self.bottom - self.top, 1.0)

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2

    def union(self, other: _Bounds) -> _Bounds:
        return _Bounds(
            min(self.left, other.left),
            min(self.top, other.top),
            max(self.right, other.right),
            max(self.bottom, other.bottom),
        )

    def polygon(self) -> list[list[float]]:
        return [
            [self.left, self.top],
            [self.right, self.top],
            [self.right, self.bottom],
            [self.left, self.bottom],
        ]


def ocr_output(
    lines: list[OcrLine], width: int, height: int, parameters: OcrParameters
) -> OcrOutput:
    """The task's output from an engine's lines: those under ``min_confidence``
    dropped, the rest in reading order, paragraphs when asked for."""
    kept = reading_order(
        [line for line in lines if line.text and line.confidence >= parameters.min_confidence]
    )
    return OcrOutput(
        text="\n".join(line.text for line in kept),
        lines=kept,
        width=width,
        height=height,
        paragraphs=merge_paragraphs(kept) if parameters.paragraphs else None,
    )


def reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """``lines`` top to bottom; lines whose middles are within half a line height of
    each other form a row, read left to right."""
    bounds = {id(line): _Bounds.of(line) for line in lines}
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda item: bounds[id(item)].middle):
        box = bounds[id(line)]
        if rows:
            last = bounds[id(rows[-1][-1])]
            if abs(box.middle - last.middle) <= 0.5 * min(box.height, last.height):
                rows[-1].append(line)
                continue
        rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda item: bounds[id(item)].left)]


def merge_paragraphs(lines: list[OcrLine]) -> list[OcrParagraph]:
    """Paragraphs of ``lines`` (already in reading order): a line joins the paragraph
    above it when the gap is under one line height, its height is similar and the two
    overlap horizontally; a line beside the previous one (same row, a gap under two
    line heights) joins it too."""
    paragraphs: list[tuple[_Bounds, list[int]]] = []
    for index, line in enumerate(lines):
        box = _Bounds.of(line)
        if paragraphs:
            area, members = paragraphs[-1]
            previous = _Bounds.of(lines[members[-1]])
            if _continues(previous, area, box):
                paragraphs[-1] = (area.union(box), [*members, index])
                continue
        paragraphs.append((box, [index]))
    return [
        OcrParagraph(
            text=" ".join(lines[i].text for i in members), polygon=area.polygon(), lines=members
        )
        for area, members in paragraphs
    ]


def _continues(previous: _Bounds, area: _Bounds, box: _Bounds) -> bool:
    similar = max(previous.height, box.height) <= 1.6 * min(previous.height, box.height)
    if not similar:
        return False
    same_row = abs(box.middle - previous.middle) <= 0.5 * min(box.height, previous.height)
    if same_row:
        return 0 <= box.left - previous.right <= 2 * previous.height
    gap = box.top - previous.bottom
    overlaps = box.left < area.right and box.right > area.left
    return -0.3 * previous.height <= gap <= previous.height and overlaps
