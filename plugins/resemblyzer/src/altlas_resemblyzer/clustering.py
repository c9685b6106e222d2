"""Grouping speaker embeddings into speakers: average-linkage clustering on cosine
distance, cut at the hinted count or, without one, where merging would join voices
further apart than a threshold."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: Average cosine distance beyond which two groups of windows are different voices.
#: Windows of one synthetic voice stay within ~0.25; two voices were ~0.55 apart.
DEFAULT_THRESHOLD = 0.4


def cluster(
    embeddings: np.ndarray,
    *,
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> np.ndarray:
    """A speaker index per embedding, numbered in order of first appearance."""
    import numpy as np
    from scipy.cluster.hierarchy import fcluster, linkage

    count = len(embeddings)
    if count == 0:
        return np.zeros(0, dtype=int)
    if count == 1:
        return np.zeros(1, dtype=int)
    tree = linkage(embeddings.astype(np.float64), method="average", metric="cosine")
    if num_speakers is not None:
        wanted = num_speakers
    else:
        wanted = len(set(fcluster(tree, threshold, criterion="distance")))
        wanted = max(wanted, min_speakers or 1)
        wanted = min(wanted, max_speakers or wanted)
    labels = fcluster(tree, min(wanted, count), criterion="maxclust")
    order: dict[int, int] = {}
    for label in labels:
        order.setdefault(int(label), len(order))
    return np.array([order[int(label)] for label in labels])
